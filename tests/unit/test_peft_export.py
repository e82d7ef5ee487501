"""The adapter's PEFT form (for vLLM's --lora-modules), written by editseq.model.export.

The shipped GGUF adapter goes to PEFT and back to GGUF unchanged (the q/k permutation is undone
exactly); where torch, transformers and peft are installed, transformers with the PEFT folder
predicts the same next tokens as llama.cpp with the GGUF adapter.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from editseq.model import export as ex
from editseq.runtime import base_model_path, shipped_adapter_path

gguf = pytest.importorskip("gguf")
ADAPTER = shipped_adapter_path()
pytestmark = pytest.mark.skipif(ADAPTER is None, reason="this checkout ships no adapter")


def gguf_arrays(path) -> dict[str, np.ndarray]:
    reader = gguf.GGUFReader(str(path))
    return {t.name: np.asarray(t.data, dtype=np.float32).reshape(tuple(reversed(t.shape.tolist())))
            for t in reader.tensors}


@pytest.fixture(scope="module")
def peft(tmp_path_factory):
    folder = tmp_path_factory.mktemp("peft") / "editseq-lintseq-lora-peft"
    assert ex.main(["--from-gguf", str(ADAPTER), "--peft-out", str(folder)]) == 0
    return folder


def test_unpermute_undoes_permute():
    w = np.arange(64 * 3, dtype=np.float32).reshape(64, 3)
    assert np.array_equal(ex.unpermute_rows(ex.permute_rows(w, 4), 4), w)
    assert not np.array_equal(ex.permute_rows(w, 4), w)


def test_the_peft_folder_round_trips_to_the_same_gguf_tensors(peft):
    from safetensors.numpy import load_file

    config = json.loads((peft / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 16 and config["lora_alpha"] == 32.0
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert sorted(config["target_modules"]) == sorted(ex.GGUF_NAMES)
    state = load_file(str(peft / "adapter_model.safetensors"))
    assert all(k.startswith("base_model.model.model.layers.") for k in state)
    layout = ex.base_layout(base_model_path())
    back = ex.gguf_tensors({k: v.astype(np.float32) for k, v in state.items()}, layout.n_head,
                           layout.n_head_kv, layout.permuted_qk)
    original = gguf_arrays(ADAPTER)
    assert sorted(back) == sorted(original)
    for name, value in original.items():
        assert np.array_equal(back[name], value), name
    q_b = next(k for k in state if k.endswith("layers.0.self_attn.q_proj.lora_B.weight"))
    assert not np.array_equal(state[q_b].astype(np.float32), original["blk.0.attn_q.weight.lora_b"])


def test_transformers_with_the_peft_folder_predicts_as_llama_cpp_with_the_gguf(peft, tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peft_lib = pytest.importorskip("peft")
    from editseq.editformat import build_prompt
    from editseq.runtime import ModelRuntime, ModelSpec

    base = base_model_path()
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base.parent), gguf_file=base.name)
    model = peft_lib.PeftModel.from_pretrained(model, str(peft)).eval()
    text = build_prompt("Return the perimeter of a rectangle.",
                        ["def rectangle_perimeter(width, height):", '    """Perimeter."""'])
    llama = ModelRuntime(ModelSpec(base, ADAPTER, n_ctx=512, n_threads=2, all_logits=True))
    plain = ModelRuntime(ModelSpec(base, None, n_ctx=512, n_threads=2, all_logits=True))
    ids = llama.tokenize(text)
    with torch.no_grad():
        hf = model(input_ids=torch.tensor([ids])).logits[0].argmax(-1).numpy()
    ours, without = np.asarray(llama.top1_tokens(ids)), np.asarray(plain.top1_tokens(ids))
    llama.close()
    plain.close()
    assert (hf == ours).mean() >= 0.95
    assert (hf != without).mean() > 0.05  # the adapter matters at these positions: a real check
