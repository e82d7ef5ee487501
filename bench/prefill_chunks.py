"""Prefill speed of the server's runtime by chunk size: what a warm-up's chunking costs.

    python bench/prefill_chunks.py [--tokens 1536] [--chunks 32 64 128 256 512] [--repeats 2]

A warm-up (``ModelRuntime.prefill``) brings a window into the KV cache a chunk at a time and
looks at its cancel flag between chunks, so a request that arrives waits for at most one chunk.
Small chunks answer sooner and prefill slower: this prints both, for the default model on real
code (the standard library's heapq.py), best of ``--repeats``. Stop other jobs first.
"""

from __future__ import annotations

import argparse
import sysconfig
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=1536)
    p.add_argument("--chunks", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()

    from editseq.models import edit_spec
    from editseq.options import Options
    from editseq.runtime import ModelRuntime

    runtime = ModelRuntime(edit_spec(Options(), build=True))
    text = (Path(sysconfig.get_paths()["stdlib"]) / "heapq.py").read_text()
    prompt = runtime.detokenize(runtime.tokenize(text)[: args.tokens])
    tokens = runtime.count_tokens(prompt)
    print(f"{tokens} prompt tokens, {runtime.last_threads} threads")
    for chunk in args.chunks:
        best = float("inf")
        for _ in range(args.repeats):
            runtime.close()  # an empty KV cache
            runtime.load()
            started = time.perf_counter()
            runtime.prefill(prompt, chunk=chunk)
            best = min(best, time.perf_counter() - started)
        print(f"chunk {chunk:4d}: {tokens / best:6.0f} tok/s, {best * 1000 * chunk / tokens:5.0f} ms a chunk")


if __name__ == "__main__":
    main()
