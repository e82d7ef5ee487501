"""Greedy samples from the base model with and without a LoRA adapter, through the server runtime.

    python -m editseq.model.sample "Write a function to find the maximum of three numbers."
    python -m editseq.model.sample --adapter model/weights/editseq-lintseq-lora.gguf "..." "..."

Each instruction is prompted as ``{instruction}\\n<|diff|>`` (the LintSeq format) and generation
stops where the sequence closes (two empty edits) or after ``--max-tokens``. Prints the raw edit
sequence and the program it decodes to.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from editseq.editformat import CLOSE, DIFF_SEP, decode_sequence
from editseq.runtime import ModelRuntime, ModelSpec, base_model_path, shipped_adapter_path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("instructions", nargs="+")
    p.add_argument("--adapter", type=Path, default=None,
                   help="LoRA adapter GGUF (default: the shipped one, if any)")
    p.add_argument("--max-tokens", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-base", action="store_true", help="skip the base model without adapter")
    args = p.parse_args(argv)
    adapter = args.adapter or shipped_adapter_path()
    variants = [] if args.no_base else [("base", None)]
    if adapter:
        variants.append((f"base + {adapter.name}", adapter))
    for label, lora in variants:
        runtime = ModelRuntime(ModelSpec(path=base_model_path(), adapter=lora,
                                         n_threads=args.threads))
        for instruction in args.instructions:
            prompt = instruction + DIFF_SEP
            gen = runtime.generate(prompt, max_tokens=args.max_tokens, stop=(CLOSE,))
            lines, skipped = decode_sequence(gen.text)
            print(f"=== {label} | {instruction!r} | {gen.generated_tokens} tokens, {gen.finish}")
            print(prompt + gen.text)
            print(f"--- decoded program ({skipped} hunks skipped):")
            print("\n".join(lines))
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
