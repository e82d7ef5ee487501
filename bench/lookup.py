"""Prompt-lookup (n-gram) speculative decoding against plain decoding, on 2 cores.

    python bench/lookup.py [--drafts 0,2,4,10] [--tokens 64] [--out bench/results/lookup.json]

llama-cpp-python's ``LlamaPromptLookupDecoding`` drafts the tokens that followed the last n-gram
where it last occurred in the prompt, and llama.cpp verifies the draft in one batch. Two prompts
of real code (the standard library's ``textwrap.py``): one where the model writes new code (the
common case for a completion), one where it copies a function that is already in the prompt (the
best case for lookup: a rewrite). Each setup loads the default model (merged, as the server runs
it) in a fresh process, prefills the prompt from scratch and decodes ``--tokens`` tokens greedily
through llama-cpp-python's own loop; the best of ``--repeats`` is kept, and the generated tokens
are checked to be the same with and without the draft (greedy verification changes nothing).
Other jobs on the machine skew every number: stop them first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import sysconfig
import time
from pathlib import Path

from decode import run_worker  # bench/decode.py: one setup in a fresh process


def prompts() -> dict[str, str]:
    source = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text()
    start = source.index("def dedent")
    return {
        "new code": source[:1800],
        "copying": source[:3000] + "\n\n# a copy of dedent\n" + source[start:start + 120],
    }


def worker(setup: dict) -> dict:
    """Runs in the child process: one prompt, one draft length (0: no draft)."""
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    draft = setup["draft"]
    prompt = prompts()[setup["prompt"]]
    best_prefill, best_decode, generated = float("inf"), 0.0, []
    for _ in range(setup["repeats"]):
        # llama-cpp-python 0.3.36 sizes its logits array from the logits_all argument, not from
        # the draft model that forces it on: without logits_all=True a draft crashes in eval.
        llama = Llama(model_path=setup["model"], n_ctx=2048, n_threads=setup["threads"],
                      n_threads_batch=setup["threads"], n_batch=512, verbose=False, logits_all=bool(draft),
                      draft_model=LlamaPromptLookupDecoding(num_pred_tokens=draft) if draft else None)
        ids = llama.tokenize(prompt.encode(), add_bos=False, special=True)
        started, first, generated = time.perf_counter(), None, []
        for token in llama.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0):
            if first is None:
                first = time.perf_counter()  # the first token ends the prefill
            generated.append(token)
            if len(generated) > setup["tokens"]:
                break
        ended = time.perf_counter()
        llama.close()
        best_prefill = min(best_prefill, first - started)
        best_decode = max(best_decode, (len(generated) - 1) / (ended - first))
    return {"prompt_tokens": len(ids), "prefill_ms": round(1000 * best_prefill), "decode_tok_s": round(best_decode, 1),
            "tokens_sha": hashlib.sha256(json.dumps(generated).encode()).hexdigest()[:12]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--drafts", default="0,2,4,10", help="draft lengths (0: plain decoding)")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    from editseq.runtime import base_model_path, shipped_adapter_path
    from editseq.runtime.merge import merged_model

    model = merged_model(base_model_path(), shipped_adapter_path())
    rows = []
    print("| prompt | draft tokens | prefill ms | decode tok/s | vs plain | same tokens |")
    print("|---|---|---|---|---|---|")
    for name in prompts():
        plain = None
        for draft in (int(d) for d in args.drafts.split(",")):
            setup = {"model": str(model), "prompt": name, "draft": draft, "tokens": args.tokens,
                     "threads": args.threads, "repeats": args.repeats}
            row = {"prompt": name, "draft": draft, **run_worker(__file__, setup)}
            plain = plain or (row if draft == 0 else None)
            row["vs_plain"] = round(row["decode_tok_s"] / plain["decode_tok_s"], 2) if plain else None
            row["same_tokens"] = plain is not None and row["tokens_sha"] == plain["tokens_sha"]
            rows.append(row)
            print(f"| {name} | {draft} | {row['prefill_ms']} | {row['decode_tok_s']} | {row['vs_plain']} "
                  f"| {row['same_tokens']} |", flush=True)
    if args.out:
        report = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cores": os.cpu_count(), "threads": args.threads,
                  "model": model.name, "tokens": args.tokens, "rows": rows}
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
