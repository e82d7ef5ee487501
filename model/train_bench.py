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
    TrainConfig,
    add_lora,
    batch_loss,
    collate,
    find_shards,
    load_base,
    load_samples,
    pack,
)

VARIANTS: dict[str, dict] = {
    "threads 2, seq 512, r 16, all layers, f32": {"threads": 2},
    "threads 1, seq 512, r 16, all layers, f32": {"threads": 1},
    "threads 1, seq 256": {"threads": 1, "seq_len": 256},
    "threads 1, rank 8": {"threads": 1, "rank": 8},
    "threads 1, rank 32": {"threads": 1, "rank": 32},
    "threads 1, bf16 autocast": {"threads": 1, "bf16": True},
    "threads 1, top 10 layers only": {"threads": 1, "top_layers": 10},
    "threads 1, bf16 + top 10 layers": {"threads": 1, "bf16": True, "top_layers": 10},
    "threads 2, bf16 autocast": {"threads": 2, "bf16": True},
    "threads 2, top 10 layers only": {"threads": 2, "top_layers": 10},
    "threads 2, bf16 + top 10 layers": {"threads": 2, "bf16": True, "top_layers": 10},
}


def measure(base_model, tokenizer, cfg: TrainConfig, seconds: float) -> tuple[float, int]:
    torch.set_num_threads(cfg.threads)
    model = add_lora(copy.deepcopy(base_model), cfg)
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
        loss, n = batch_loss(model, batch, cfg.bf16)
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
    args = p.parse_args(argv)
    cfg = TrainConfig(data=args.data, shards=find_shards(args.data), max_val_rows=1)
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
