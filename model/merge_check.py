"""Does the merged model predict what the base with its adapter predicts? Parity and speed.

    python -m editseq.model.merge_check --positions 200 [--base B.gguf --adapter A.gguf] [--merged M.gguf]

Compares llama.cpp's top-1 next token with the adapter applied at run time and on the merged
GGUF (``editseq.runtime.merge``) at completion positions (after the instruction) of validation
rows, up to 25 a row, and prints the agreement. Exits non-zero below ``--min-agreement``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from editseq.editformat import DIFF_SEP
from editseq.model.split import VAL_FRACTION, is_validation
from editseq.model.train import find_shards, read_rows
from editseq.runtime import ModelRuntime, ModelSpec, base_model_path, shipped_adapter_path
from editseq.runtime.merge import merged_model


def agreement(base: Path, adapter: Path, positions: int, data: str, threads: int,
              per_row: int = 25, merged: Path | None = None) -> dict:
    merged = merged or merged_model(base, adapter)
    applied = ModelRuntime(ModelSpec(base, adapter, n_ctx=1024, n_threads=threads, all_logits=True))
    folded = ModelRuntime(ModelSpec(merged, None, n_ctx=1024, n_threads=threads, all_logits=True))
    agree = compared = rows = 0
    for row in read_rows(find_shards(data)):
        if compared >= positions:
            break
        if not is_validation(row["id"], VAL_FRACTION):
            continue
        ids = applied.tokenize(row["text"])[:1000]
        start = len(applied.tokenize(row["text"][: row["text"].find(DIFF_SEP)]))
        at = list(range(start, len(ids)))
        take = min(per_row, positions - compared, len(at))
        if not take:
            continue
        at = [at[i * len(at) // take] for i in range(take)]
        a, b = applied.top1_tokens(ids), folded.top1_tokens(ids)
        agree += sum(a[t] == b[t] for t in at)
        compared += take
        rows += 1
    applied.close()
    folded.close()
    return {"positions": compared, "rows": rows, "agreement": agree / max(compared, 1),
            "merged": str(merged)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, default=None, help="default: SmolLM2-135M-Instruct")
    p.add_argument("--adapter", type=Path, default=None, help="default: the shipped adapter")
    p.add_argument("--positions", type=int, default=200)
    p.add_argument("--data", default="model/data")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-agreement", type=float, default=0.98)
    p.add_argument("--merged", type=Path, default=None,
                   help="a merge to check (default: the server's, built on first use); e.g. "
                        "`python -m editseq.runtime.merge --type Q4_0 --out M.gguf`")
    args = p.parse_args(argv)
    result = agreement(args.base or base_model_path(), args.adapter or shipped_adapter_path(),
                       args.positions, args.data, args.threads, merged=args.merged)
    print(json.dumps(result, indent=1))
    return 0 if result["agreement"] >= args.min_agreement else 1


if __name__ == "__main__":
    sys.exit(main())
