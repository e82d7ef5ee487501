"""Tokens per second of the batched sampler (``editseq.runtime.batch``): one sequence against 2, 4
and 8 side by side, after a teacher-like prompt whose shared prefix is already cached (as in a
teacher run).

    python bench/batch_sampler.py [--model GGUF] [--threads 1] [--tokens 64]

The model defaults to the coder model (``editseq.coder``, the teacher of ``teacher_gen``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from editseq.model.sources.teacher_pairs import EXAMPLE_SNIPPET, PROMPT
from editseq.runtime import ModelRuntime, ModelSpec


def bench(path: Path, threads: int, tokens: int) -> None:
    runtime = ModelRuntime(ModelSpec(path, n_ctx=512, n_threads=threads))
    prompt = PROMPT.replace("{snippet}", EXAMPLE_SNIPPET)
    try:
        for slots in (1, 2, 4, 8):
            sampler = runtime.batch_sampler(slots, n_ctx=4096, threads=threads)
            prompts = [prompt + f"\n# {i}\n" for i in range(slots)]
            sampler.generate(prompts, max_tokens=1, seeds=list(range(slots)))  # caches the shared prefix
            started = time.perf_counter()
            replies = sampler.generate(prompts, max_tokens=tokens, seeds=list(range(slots)), temperature=0.7)
            seconds = time.perf_counter() - started
            generated = sum(r.generated_tokens for r in replies)
            print(f"{slots} sequences: {generated} tokens in {seconds:.1f} s = {generated / seconds:.1f} tok/s")
            sampler.close()
    finally:
        runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: the coder model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    if args.model is None:
        from editseq.coder import coder_model_path

        args.model = coder_model_path()
    bench(args.model, args.threads, args.tokens)


if __name__ == "__main__":
    main()
