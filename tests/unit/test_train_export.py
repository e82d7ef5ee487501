"""Fine-tuning and adapter export on a tiny random llama: masking, packing, resume, GGUF layout.

Needs the ``train`` extra (torch, transformers, peft, gguf); skipped without it.
"""

import gzip
import json
import random

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
gguf = pytest.importorskip("gguf")

from editseq.editformat import (  # noqa: E402
    DIFF_SEP,
    build_prompt,
    render_sequence,
    replacement_text,
    state_edits,
)
from editseq.model import export as ex  # noqa: E402
from editseq.model import train as tr  # noqa: E402

N_HEAD, N_HEAD_KV = 4, 2


def byte_tokenizer():
    """One token per byte (ASCII text: one per character), plus an eos token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab["<eos>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>",
                                                pad_token="<eos>")


TOKENIZER = byte_tokenizer()


def tiny_llama(cfg=None):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(TOKENIZER), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=N_HEAD, num_key_value_heads=N_HEAD_KV, max_position_embeddings=256,
        tie_word_embeddings=True)
    return transformers.LlamaForCausalLM(config), TOKENIZER


def write_shard(folder, n_programs=30, seed=0):
    rng = random.Random(seed)
    rows = []
    for p in range(n_programs):
        edits = [f"@@ -0,0 +1 @@\n+x{p} = {rng.randint(0, 99)}",
                 f"@@ -1,0 +2 @@\n+print(x{p}{' + 1' * rng.randint(0, 6)})"]
        instruction = f"Task {p}: " + "print a number. " * rng.randint(1, 3)
        for k in range(2):
            rows.append({"id": f"toy/{p}", "source": "toy", "instruction": instruction,
                         "edits": edits[k:], "kind": "scratch" if k == 0 else "continue",
                         "text": render_sequence(instruction, edits[k:])})
    folder.mkdir(parents=True)
    with gzip.open(folder / "shard-00000.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def config(tmp_path, **kw):
    data = tmp_path / "data"
    if not data.exists():
        write_shard(data / "toy")
    base = dict(data=str(data), out=str(tmp_path / "run"), rank=4, alpha=8.0, seq_len=96,
                micro_batch=2, grad_accum=2, threads=1, eval_every=3, warmup_steps=2,
                max_tokens_seen=2500, val_fraction=0.1)
    base.update(kw)
    return tr.TrainConfig(**base)


def test_instruction_is_masked_and_eos_trained():
    instruction = "Add one."
    text = render_sequence(instruction, ["@@ -0,0 +1 @@\n+y = 1"])
    sample = tr.encode(TOKENIZER, text, TOKENIZER.eos_token_id)
    trained = [t for t in sample.labels if t != tr.IGNORE]
    assert all(t == tr.IGNORE for t in sample.labels[: len(instruction)])
    assert TOKENIZER.decode(trained[:-1]) == text[len(instruction):]
    assert text[len(instruction):].startswith(DIFF_SEP)
    assert sample.ids[-1] == trained[-1] == TOKENIZER.eos_token_id


def test_a_repair_row_trains_only_its_answer_not_the_buggy_function_before_it():
    buggy, fixed = ["def f(a):", "    return a - 1"], ["def f(a):", "    return a + 1"]
    instruction = "Fix bugs in f."
    prompt = build_prompt(instruction, buggy)
    text = render_sequence(instruction, [*state_edits(buggy), replacement_text(buggy, fixed)])
    sample = tr.encode(TOKENIZER, text, TOKENIZER.eos_token_id, train_from=len(prompt))
    trained = [t for t in sample.labels if t != tr.IGNORE]
    assert TOKENIZER.decode(trained[:-1]).strip("\n") == text[len(prompt):].strip("\n")
    assert "+def f(a)" not in TOKENIZER.decode(trained)  # the state (the buggy function) is context


def test_packing_respects_the_length_and_keeps_samples_apart():
    rng = random.Random(1)
    samples = [tr.Sample(ids=[rng.randrange(200) for _ in range(rng.randint(3, 70))],
                         labels=[]) for _ in range(40)]
    for s in samples:
        s.labels = [tr.IGNORE] + s.ids[1:]
    samples.append(tr.Sample(ids=list(range(150)), labels=list(range(150))))  # longer than a row
    rows = tr.pack(samples, 64, random.Random(0))
    assert sorted(i for row in rows for i in row) == list(range(len(samples)))
    assert all(sum(min(len(samples[i].ids), 64) for i in row) <= 64 for row in rows)
    assert len(rows) <= 1 + sum(min(len(s.ids), 64) for s in samples) // 64 * 1.25

    # a sample packed after another gets the same logits as alone: no attention across samples
    model, _ = tiny_llama()
    model.eval()
    a, b = samples[0], samples[1]
    packed = tr.collate([a, b], [[0, 1]], 96, pad_id=0)
    alone = tr.collate([b], [[0]], 96, pad_id=0)
    assert packed["tokens"] == len(a.ids) + len(b.ids)
    with torch.no_grad():
        out_packed = tr.logits_of(model, packed)[0]
        out_alone = tr.logits_of(model, alone)[0]
    n = len(b.ids)
    torch.testing.assert_close(out_packed[len(a.ids): len(a.ids) + n], out_alone[:n],
                               atol=1e-5, rtol=1e-4)


def test_logits_at_trained_positions_only_give_the_same_loss_and_gradients():
    model, tok = tiny_llama()
    samples = [tr.encode(tok, render_sequence(f"Task {i}: print it.", [f"@@ -0,0 +1 @@\n+x = {i}"]),
                         tok.eos_token_id) for i in range(3)]
    batch = tr.collate(samples, [[0, 1], [2]], 192, pad_id=tok.pad_token_id)
    results = []
    for trained_only in (False, True):
        model.zero_grad()
        loss, count = tr.batch_loss(model, batch, bf16=False, trained_only=trained_only)
        loss.backward()
        results.append((loss.detach(), count, model.lm_head.weight.grad.clone()))
    (full, full_n, full_grad), (kept, kept_n, kept_grad) = results
    assert full_n == kept_n == sum(sum(t != tr.IGNORE for t in s.labels) for s in samples)
    torch.testing.assert_close(kept, full)
    torch.testing.assert_close(kept_grad, full_grad)


def test_a_bf16_base_keeps_the_lora_weights_in_f32():
    model, _ = tiny_llama()
    cfg = tr.TrainConfig(base_dtype="bf16", rank=4, targets=["q_proj", "v_proj"])
    peft_model = tr.add_lora(model.to(tr.BASE_DTYPES[cfg.base_dtype]), cfg)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    frozen = [p for p in peft_model.parameters() if not p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    assert all(p.dtype == torch.bfloat16 for p in frozen) and cfg.autocast


def test_validation_split_is_by_program_and_deterministic():
    ids = [f"mbpp/{i}" for i in range(2000)]
    held = [i for i in ids if tr.is_validation(i, 0.02)]
    assert held == [i for i in ids if tr.is_validation(i, 0.02)]
    assert 20 <= len(held) <= 60


def test_a_stopped_run_resumes_exactly(tmp_path):
    straight = tr.train(config(tmp_path / "a"), load=tiny_llama, progress_bar=False)
    cfg = config(tmp_path / "b")
    stopped = tr.train(cfg, load=tiny_llama, progress_bar=False, stop_at_step=2)
    assert stopped.step == 2
    ckpt = tmp_path / "b" / "run" / "ckpt"
    saved = json.loads((ckpt / "state.json").read_text())
    assert (saved["step"], saved["tokens_seen"]) == (stopped.step, stopped.tokens_seen)
    resumed_cfg, resume = tr.parse_args(["--out", cfg.out, "--resume"])
    assert resume and resumed_cfg.rank == 4 and resumed_cfg.shards == cfg.shards
    resumed = tr.train(resumed_cfg, resume=True, load=tiny_llama, progress_bar=False)
    assert (resumed.step, resumed.tokens_seen, resumed.tokens_trained) == (
        straight.step, straight.tokens_seen, straight.tokens_trained)
    assert resumed.step > 2 and straight.tokens_seen >= 2500

    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "a" / "run" / "ckpt" / "adapter_model.safetensors"))
    b = load_file(str(ckpt / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)
    log = [json.loads(line) for line in (tmp_path / "b" / "run" / "log.jsonl").open()]
    assert [h["step"] for h in log if h["kind"] == "step"] == list(range(1, resumed.step + 1))
    assert any(h["kind"] == "eval" for h in log)
    assert (tmp_path / "b" / "run" / "loss.png").stat().st_size > 0


def test_long_samples_are_dropped_and_a_run_can_start_from_an_adapter(tmp_path):
    cfg = config(tmp_path / "a", max_tokens_seen=600)
    cfg.shards = tr.find_shards(cfg.data)
    lengths = [len(s.ids) for s in tr.load_samples(cfg, TOKENIZER)[0]]
    limit = sorted(lengths)[len(lengths) // 2]
    cfg.max_sample_tokens = limit
    kept, _, counts = tr.load_samples(cfg, TOKENIZER)
    assert all(len(s.ids) <= limit for s in kept)
    assert counts["dropped_longer_than_max_sample_tokens"] == sum(n > limit for n in lengths) > 0

    cfg.max_sample_tokens, cfg.repeat = 0, "toy=3"
    assert len(tr.load_samples(cfg, TOKENIZER)[0]) == 3 * len(lengths)

    first = config(tmp_path / "a", max_tokens_seen=600)
    tr.train(first, load=tiny_llama, progress_bar=False)
    from safetensors.torch import load_file

    trained = load_file(str(tmp_path / "a" / "run" / "ckpt" / "adapter_model.safetensors"))
    warm = config(tmp_path / "a", out=str(tmp_path / "warm"), max_tokens_seen=1,
                  init_adapter=str(tmp_path / "a" / "run" / "ckpt"), lr=1e-12, warmup_steps=0)
    tr.train(warm, load=tiny_llama, progress_bar=False)  # one step at a negligible lr
    started = load_file(str(tmp_path / "warm" / "ckpt" / "adapter_model.safetensors"))
    for key in trained:
        torch.testing.assert_close(started[key], trained[key], atol=1e-6, rtol=1e-5)


def test_a_run_from_an_adapter_packs_its_rows_in_an_order_of_its_own(tmp_path):
    cfg = config(tmp_path / "a")
    cfg.shards = tr.find_shards(cfg.data)
    samples = tr.load_samples(cfg, TOKENIZER)[0]

    def order(c):
        return [row for row in tr.pack(samples, c.seq_len, random.Random(tr.packing_seed(c, 0)))]

    fresh, again = order(cfg), order(config(tmp_path / "a"))
    assert fresh == again  # deterministic: a resumed run reads on where it stopped
    continued = order(config(tmp_path / "a", init_adapter=str(tmp_path / "a" / "run" / "ckpt")))
    assert continued != fresh  # not the rows the adapter was just trained on, first


def test_stdlib_only_training_drops_programs_importing_other_packages(tmp_path):
    data = tmp_path / "data"
    rows = []
    for p in range(40):
        program = ("import numpy as np\n" if p % 2 else "import os.path\n") + f"x{p} = {p}"
        rows.append({"id": f"toy/{p}", "source": "toy", "program": program,
                     "text": render_sequence(f"Task {p}", [f"@@ -0,0 +1 @@\n+x{p} = {p}"])})
    (data / "toy").mkdir(parents=True)
    with gzip.open(data / "toy" / "shard-00000.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    cfg = config(tmp_path, data=str(data), val_fraction=0.2, max_val_rows=0)
    cfg.shards = tr.find_shards(cfg.data)
    train_any, val_any, counts_any = tr.load_samples(cfg, TOKENIZER)
    cfg.imports = "stdlib"
    train_std, val_std, counts = tr.load_samples(cfg, TOKENIZER)
    assert counts_any["dropped_importing_beyond_stdlib"] == 0
    assert counts["dropped_importing_beyond_stdlib"] == len(train_any) - len(train_std) > 0
    assert counts["train_programs"] == counts_any["train_programs"] - counts["dropped_importing_beyond_stdlib"]
    assert [s.ids for s in val_std] == [s.ids for s in val_any]  # validation is the same set
    assert tr._stdlib_only("import os.path\nfrom collections import Counter\nfrom . import x")
    assert not tr._stdlib_only("from torch.autograd import Variable")


def test_export_writes_a_llama_cpp_lora_adapter(tmp_path):
    from peft import LoraConfig, get_peft_model

    model, _ = tiny_llama()
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=list(
        tr.ALL_TARGETS), task_type="CAUSAL_LM"))
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p)
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    out = tmp_path / "adapter.gguf"
    written = ex.export(tmp_path / "adapter", out, ex.Layout("llama", N_HEAD, N_HEAD_KV), "f16")
    assert written["tensors"] == 2 * 7 * 2

    reader = gguf.GGUFReader(str(out))

    def field(key):
        f = reader.fields[key]
        value = f.parts[f.data[0]]
        return bytes(value).decode() if f.types[0] == gguf.GGUFValueType.STRING else value[0]

    assert field("general.architecture") == "llama"
    assert field("general.type") == "adapter"
    assert field("adapter.type") == "lora"
    assert reader.fields["adapter.lora.alpha"].types[0] == gguf.GGUFValueType.FLOAT32
    assert field("adapter.lora.alpha") == 8.0
    tensors = {t.name: t for t in reader.tensors}
    slots = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
    assert set(tensors) == {f"blk.{i}.{s}.weight.lora_{ab}" for i in range(2) for s in slots
                            for ab in "ab"}
    # ggml order (ne0 first): lora_a is [in, r], lora_b is [r, out]
    assert list(tensors["blk.0.attn_q.weight.lora_a"].shape) == [64, 4]
    assert list(tensors["blk.0.attn_k.weight.lora_b"].shape) == [4, 32]
    assert list(tensors["blk.1.ffn_down.weight.lora_a"].shape) == [128, 4]
    assert list(tensors["blk.1.ffn_up.weight.lora_b"].shape) == [4, 128]
    assert all(t.tensor_type == gguf.GGMLQuantizationType.F16 for t in reader.tensors)

    # q/k rows are permuted as in llama.cpp's GGUFs: transformers' un-permutation restores them
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    state = {k: v for k, v in peft_model.state_dict().items() if "lora_B" in k}
    for proj, slot, heads in (("q_proj", "attn_q", N_HEAD), ("k_proj", "attn_k", N_HEAD_KV),
                              ("v_proj", "attn_v", N_HEAD_KV)):
        original = next(v for k, v in state.items() if f"layers.1.self_attn.{proj}" in k).numpy()
        exported = tensors[f"blk.1.{slot}.weight.lora_b"].data.astype("float32")
        if proj == "v_proj":
            restored = exported
        else:
            restored = LlamaTensorProcessor(
                {"num_attention_heads": N_HEAD, "num_key_value_heads": N_HEAD_KV}
            )._reverse_permute_weights(exported, N_HEAD, heads)
        assert abs(restored - original).max() < 1e-2


def test_a_qwen2_adapter_keeps_transformers_row_order(tmp_path):
    from peft import LoraConfig, get_peft_model

    model, _ = tiny_llama()
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj"],
                                                  task_type="CAUSAL_LM"))
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p)
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    out = tmp_path / "qwen.gguf"
    ex.export(tmp_path / "adapter", out, ex.Layout("qwen2", N_HEAD, N_HEAD_KV), "f32")
    reader = gguf.GGUFReader(str(out))
    assert reader.fields["general.architecture"].contents() == "qwen2"
    tensors = {t.name: t for t in reader.tensors}
    state = peft_model.state_dict()
    for proj, slot in (("q_proj", "attn_q"), ("k_proj", "attn_k")):
        original = next(v for k, v in state.items() if f"layers.1.self_attn.{proj}.lora_B" in k).numpy()
        assert (tensors[f"blk.1.{slot}.weight.lora_b"].data == original).all()
