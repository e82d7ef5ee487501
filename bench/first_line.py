"""Where a first line's time goes: the completion pipeline in-process, request by request.

    python bench/first_line.py [--lines 300] [--steps 12] [--judge auto|beside|inline]
                               [--context-size 2048] [--out bench/results/first-line.json]

The same typing as bench/latency.py (its fixture: a stdlib file whose last function's body is
typed back one line at a time, a request after each line), without the LSP layer: each request
goes straight to ``editseq.complete.Completer`` with the real model and lint gate, and the
main window is warmed between requests as the idle server does. Per request: the time to the
first lines offered (``on_partial``), to the whole edit, the last generation's prefill and
decode, the tokens re-read, the threads it ran with. ``--judge`` chooses where the first lines
are judged (``complete.judge_beside_decoding``; auto: the server's rule). Stop other jobs first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from latency import fixture  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--judge", choices=("auto", "beside", "inline"), default="auto")
    parser.add_argument("--context-size", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from editseq import complete
    from editseq.models import Models
    from editseq.options import Options, parse_options
    from editseq.runtime import ModelRuntime

    if args.judge != "auto":
        complete.judge_beside_decoding = lambda runtime: args.judge == "beside"
    options, _ = parse_options({"temperature": 0.0, "contextSize": args.context_size}, Options())
    models = Models(options)
    completer = complete.Completer(models)
    generations = []
    generate = ModelRuntime.generate

    def recorded(self, prompt, **kwargs):
        generation = generate(self, prompt, **kwargs)
        generations.append((generation, self.last_threads))
        return generation

    ModelRuntime.generate = recorded
    text, body = fixture(args.lines)
    lines = text.split("\n")
    line = len(lines) - 1  # the empty last line, right below the def
    rows = []
    for step in range(args.steps + 1):
        generations.clear()
        shown = {}
        started = time.perf_counter()
        result = completer.complete(options, "\n".join(lines), line, 0,
                                    on_partial=lambda first, shown=shown: shown.setdefault("at", time.perf_counter()))
        whole = time.perf_counter() - started
        last, threads = generations[-1] if generations else (None, None)
        rows.append({
            "step": step, "quick": result.quick, "offered": result.offered,
            "first_line_ms": round((shown["at"] - started) * 1000) if shown else None,
            "whole_ms": round(whole * 1000), "attempts": len(generations), "threads": threads,
            "reread_tokens": last.prompt_tokens - last.reused_tokens if last else None,
            "prefill_ms": round(last.prefill_s * 1000) if last else None,
            "decode_ms": round(last.decode_s * 1000) if last else None,
            "generated_tokens": last.generated_tokens if last else None,
        })
        print(json.dumps(rows[-1]), flush=True)
        completer.warm()  # as the server does when the model is idle
        if step >= len(body):
            break
        lines.insert(line, body[step])
        line += 1
    completer.close()
    models.close()
    warm = rows[1:]  # the first request reads a cold cache
    shown_ms = [r["first_line_ms"] for r in warm if r["first_line_ms"] is not None]
    summary = {"lines": len(text.split("\n")), "judge": args.judge, "context_size": args.context_size,
               "requests": len(warm), "shown": len(shown_ms),
               "first_line_p50_ms": statistics.median(shown_ms) if shown_ms else None,
               "whole_p50_ms": statistics.median(r["whole_ms"] for r in warm)}
    print(json.dumps(summary))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "requests": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
