"""Training speed of the choices train.py offers, measured on real packed rows.

    python -m editseq.model.train_bench --seconds 90 > bench.md

Loads the base once; for each variant wraps a fresh copy in LoRA and runs optimizer steps
(forward, backward, AdamW) for ``--seconds`` after one warm-up step, then prints a markdown table
of tokens/s (tokens of samples, padding excluded). The machine's load average is printed with each
row: on a shared CPU the numbers are only comparable within one run.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import random
import sys
import time

import torch
from editseq.model.train import (
    BASE_DTYPES,
    TrainConfig,
    add_lora,
    batch_loss,
    collate,
    find_shards,
    load_base,
    load_samples,
    pack,
)

# Each variant changes TrainConfig from the defaults (2 threads, seq 512, r 16, all layers).
VARIANTS: dict[str, dict] = {
    "f32, logits at every position (v1's recipe)": {"trained_logits_only": False},
    "f32, logits at trained positions": {},
    "bf16 autocast, f32 base": {"bf16": True},
    "bf16 base": {"base_dtype": "bf16"},
    "bf16 base, seq 256": {"base_dtype": "bf16", "seq_len": 256},
    "bf16 base, top 10 layers only": {"base_dtype": "bf16", "top_layers": 10},
    "bf16 base, rank 64": {"base_dtype": "bf16", "rank": 64, "alpha": 128.0},
    "bf16 base, 1 thread": {"base_dtype": "bf16", "threads": 1},
}


def measure(base_model, tokenizer, cfg: TrainConfig, seconds: float) -> tuple[float, int]:
    torch.set_num_threads(cfg.threads)
    model = add_lora(copy.deepcopy(base_model).to(BASE_DTYPES[cfg.base_dtype]), cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr)
    train_set, _, _ = load_samples(cfg, tokenizer)
    rows = pack(train_set, cfg.seq_len, random.Random(0))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    tokens, started, steps, i = 0, None, 0, 0
    while started is None or time.perf_counter() - started < seconds:
        batch = collate(train_set, rows[i : i + cfg.micro_batch], cfg.seq_len, pad)
        i += cfg.micro_batch
        loss, n = batch_loss(model, batch, cfg.autocast, cfg.trained_logits_only)
        (loss / max(n, 1)).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if started is None:  # the first step warms up allocators and caches
            started = time.perf_counter()
            continue
        tokens += batch["tokens"]
        steps += 1
    return tokens / (time.perf_counter() - started), steps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="model/data")
    p.add_argument("--seconds", type=float, default=90.0)
    p.add_argument("--only", default="", help="variant name prefixes, separated by '|'")
    p.add_argument("--base", default="", help="base GGUF (default: SmolLM2-135M-Instruct)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    cfg = TrainConfig(data=args.data, shards=find_shards(args.data), max_val_rows=1,
                      base=args.base, threads=args.threads)
    base_model, tokenizer = load_base(cfg)
    base_model.config.use_cache = False
    print("| variant | tok/s | steps | load avg |\n|---|---|---|---|", flush=True)
    for name, change in VARIANTS.items():
        if args.only and not any(name.startswith(o) for o in args.only.split("|")):
            continue
        variant = dataclasses.replace(cfg, **change)
        tok_s, steps = measure(base_model, tokenizer, variant, args.seconds)
        print(f"| {name} | {tok_s:.1f} | {steps} | {os.getloadavg()[0]:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
