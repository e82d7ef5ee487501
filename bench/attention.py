"""Flash attention on or off in the server's runtime: prefill, re-prefill and decode speed.

    python bench/attention.py [--models default,coder] [--prompts 600 1500] [--repeats 3]
                              [--out bench/results/attention.json]

For each model and prompt length, in a fresh process per setting, the runtime
(``editseq.runtime.ModelRuntime``, 2 threads) reads a prompt of real code (the standard library's
argparse.py) into an empty KV cache (the cold prefill), decodes 48 tokens greedily (the decode
rate), then reads the same prompt with ~30 tokens more, as after typing a line (the warm
re-prefill). Best of ``--repeats``. Other jobs on the machine skew every number: stop them first.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import sysconfig
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from decode import run_worker  # noqa: E402

TYPED_TOKENS = 30  # about one line of code


def worker(setup: dict) -> dict:
    """Runs in the child process: one model, prompt length and attention setting."""
    from editseq.models import edit_spec
    from editseq.options import Options
    from editseq.runtime import ModelRuntime

    spec = edit_spec(Options(model=setup["model"]), build=True)
    spec = dataclasses.replace(spec, n_threads=2, flash_attention=setup["flash"])
    runtime = ModelRuntime(spec)
    text = (Path(sysconfig.get_paths()["stdlib"]) / "argparse.py").read_text()
    ids = runtime.tokenize(text)
    prompt = runtime.detokenize(ids[: setup["prompt_tokens"]])
    typed = runtime.detokenize(ids[: setup["prompt_tokens"] + TYPED_TOKENS])
    cold = warm = float("inf")
    rate = 0.0
    for _ in range(setup["repeats"]):
        runtime.close()  # an empty KV cache
        first = runtime.generate(prompt, max_tokens=48)
        cold = min(cold, first.prefill_s)
        rate = max(rate, first.generated_tokens / max(first.decode_s, 1e-9))
        again = runtime.generate(typed, max_tokens=1)
        warm = min(warm, again.prefill_s)
    runtime.close()
    return {"model": setup["model"], "flash_attention": setup["flash"],
            "prompt_tokens": first.prompt_tokens, "cold_prefill_ms": round(cold * 1000, 1),
            "reprefilled_tokens": again.prompt_tokens - again.reused_tokens,
            "warm_prefill_ms": round(warm * 1000, 1), "decode_tok_s": round(rate, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models", default="default,coder")
    parser.add_argument("--prompts", type=int, nargs="+", default=[600, 1500])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    rows = []
    print("| model | prompt tok | flash attention | cold prefill ms | re-prefill ms (tok) | decode tok/s |")
    print("|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for tokens in args.prompts:
            for flash in (False, True):
                setup = {"model": model, "prompt_tokens": tokens, "flash": flash, "repeats": args.repeats}
                row = run_worker(__file__, setup, timeout=900, label=model)
                rows.append(row)
                print(f"| {model} | {row['prompt_tokens']} | {'on' if flash else 'off'} | "
                      f"{row['cold_prefill_ms']:.0f} | {row['warm_prefill_ms']:.0f} "
                      f"({row['reprefilled_tokens']}) | {row['decode_tok_s']:.0f} |", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
