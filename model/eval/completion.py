"""The completion task: what the editor offers, on held-out real code being typed.

    python -m editseq.model.eval.completion --model default --cases 200
    python -m editseq.model.eval.completion --model coder --cases 200 --plain   # beside plain use

Programs from the validation split (2% of programs by id, never trained on: ``editseq.model.split``)
are cut at body lines the way an editor sees a file being typed: the lines above, then the
target line's indentation with the cursor after it, nothing below. Each case asks the server's
own completion pipeline (``editseq.complete.Completer``: the window, the prompt, checked decoding,
the lint gate) for the suggestion at the cursor, and scores its first line against the line the
author wrote (whitespace-stripped): exact match, edit similarity (difflib's ratio; 0 when nothing
is offered), and whether the gate offered anything. ``--plain`` also scores the same model used
as plain code completion (the file's text as the prompt, greedy, up to the end of the line, no
adapter, no gate), measured in the same run. Results: ``model/results/completion/<name>.json``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import sys
import time
from pathlib import Path

from editseq.model.split import VAL_FRACTION, is_validation
from editseq.model.train import find_shards, read_rows

RESULTS = Path(__file__).resolve().parents[1] / "results" / "completion"
CUTS_PER_PROGRAM = 2


def cases(data: str, limit: int) -> list[dict]:
    """Up to ``limit`` (file text, cursor, the author's line) cases, deterministic."""
    found, seen = [], set()
    for row in read_rows(find_shards(data)):
        if len(found) >= limit:
            break
        program = row.get("program", "")
        if row["id"] in seen or not program or not is_validation(row["id"], VAL_FRACTION):
            continue
        seen.add(row["id"])
        lines = program.rstrip("\n").split("\n")
        body = [i for i, line in enumerate(lines)
                if i > 0 and line.startswith((" ", "\t")) and line.strip()
                and not line.strip().startswith(("#", '"""', "'''"))]
        for i in body[:: max(1, len(body) // CUTS_PER_PROGRAM)][:CUTS_PER_PROGRAM]:
            line = lines[i]
            indent = line[: len(line) - len(line.lstrip())]
            found.append({"id": row["id"], "text": "\n".join(lines[:i] + [indent]),
                          "line": i, "character": len(indent), "target": line.strip()})
    return found[:limit]


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def offered_line(completion) -> str | None:
    at_cursor = next((o for o in completion.offers if o.at_cursor), None)
    if at_cursor is None:
        return None
    rows = [row for row in at_cursor.edits[0].text.split("\n") if row.strip()]
    return rows[0].strip() if rows else None


def plain_line(runtime, text: str, max_tokens: int) -> str:
    """The same model as plain completion: the file so far, greedy, to the end of the line."""
    generation = runtime.generate(text, max_tokens=max_tokens, temperature=0.0, stop=("\n",))
    return generation.text.strip()


def run(model: str, n: int, data: str, plain: bool, options: dict) -> dict:
    from editseq.complete import Completer
    from editseq.models import Models, describe
    from editseq.options import Options, parse_options

    # the whole window, as the editor has it once the file is read (a file's first request may
    # be answered from the quick short window: editseq.complete)
    opts, errors = parse_options({"model": model, "temperature": 0.0, "firstLinesFirst": False,
                                  "quickWindow": False, **options}, Options())
    if errors:
        raise SystemExit("; ".join(errors))
    models = Models(opts)
    completer = Completer(models)
    rows = []
    started = time.perf_counter()
    try:
        for i, case in enumerate(cases(data, n)):
            t0 = time.perf_counter()
            completion = completer.complete(opts, case["text"], case["line"], case["character"])
            line = offered_line(completion)
            row = {"id": case["id"], "line": case["line"], "target": case["target"], "offered": line,
                   "skip": completion.skip.value if completion.skip else None,
                   "exact": line == case["target"],
                   "similarity": similarity(line, case["target"]) if line is not None else 0.0,
                   "latency_ms": round((time.perf_counter() - t0) * 1000)}
            if plain:
                raw = plain_line(models.chat(), case["text"], opts.max_tokens)
                row.update(plain=raw, plain_exact=raw == case["target"],
                           plain_similarity=similarity(raw, case["target"]))
            rows.append(row)
            print(f"{i + 1}: {'=' if row['exact'] else ' '} {case['target'][:50]!r} <- {line!r}",
                  file=sys.stderr)
        spec = models.spec()
        name = describe(spec)
        # a merged model's adapter is the second file it was built from; a remote model has none
        merged = getattr(spec, "merged_from", None)
        adapter = merged[1] if merged else getattr(spec, "adapter", None)
    finally:
        completer.close()
        models.close()
    summary = {"cases": len(rows), "exact": statistics.fmean(r["exact"] for r in rows),
               "similarity": statistics.fmean(r["similarity"] for r in rows),
               "offered": statistics.fmean(r["offered"] is not None for r in rows),
               "latency_ms_p50": statistics.median(r["latency_ms"] for r in rows)}
    if plain:
        summary.update(plain_exact=statistics.fmean(r["plain_exact"] for r in rows),
                       plain_similarity=statistics.fmean(r["plain_similarity"] for r in rows))
    from editseq.files import sha256_file

    return {"model": name, "option_model": model, "options": options,
            "adapter_sha256": sha256_file(adapter) if adapter else None, "summary": summary,
            "elapsed_s": round(time.perf_counter() - started, 1), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default", help="the model option: default, base, coder, a path")
    p.add_argument("--adapter", default="", help="the adapter option (a GGUF path)")
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--plain", action="store_true", help="also score the model as plain completion")
    p.add_argument("--data", default="model/data")
    p.add_argument("--name", default=None, help="result file name (default: from the model)")
    args = p.parse_args(argv)
    options = {"adapter": args.adapter} if args.adapter else {}
    result = run(args.model, args.cases, args.data, args.plain, options)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.name or args.model}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"model": result["model"], **result["summary"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
