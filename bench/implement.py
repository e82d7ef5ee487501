"""Latency of the implement feature (``editseq implement``) on HumanEval prompts, as the server runs it.

    python bench/implement.py [--problems 0 12 24] [-k 10] [--out bench/results/implement.json]

Each HumanEval prompt (imports, signature, docstring with examples) is the user's file with a stub;
the benchmark calls ``editseq.implement.implement`` with the server's models (``Models``: the
default model with its adapter merged, the lint gate in its worker process) and k candidates,
as ``editseq.implementFunction`` does, and reports per problem: the wall time, the seconds spent
writing candidates (decoding with its per-edit lint), linting the file and running the examples
(in a worker thread, overlapping the writing), tokens generated, and what was offered. It also
records what else kept the machine busy: the load average and the busiest other processes before
and after (the feature's latency depends on the cores it gets; the runtime picks its threads per
request from that load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from editseq.implement import ImplementSettings, implement
from editseq.model.eval.tasks import load_problems
from editseq.models import Models, describe
from editseq.options import Options

BENCH = Path(__file__).resolve().parent


def busy_processes(limit: int = 5) -> list[str]:
    """The busiest processes other than this one (ps, by CPU share), as one line each."""
    try:
        out = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True,
                             timeout=10, check=False).stdout.splitlines()[1:]
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [row.strip() for row in out if row.split(None, 1)[0] != str(os.getpid())]
    return [row[:140] for row in rows[:limit]]


def machine() -> dict:
    return {"load_average": os.getloadavg(), "busy": busy_processes(), "cpu_count": os.cpu_count()}


def write_report(report: dict, out: Path | None) -> None:
    """Print the report as JSON, and write it to ``out`` when given."""
    text = json.dumps(report, indent=1)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    print(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, nargs="+", default=[0, 12, 24], help="HumanEval indices")
    parser.add_argument("-k", type=int, default=Options().implement_candidates, help="candidates per request")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: chosen per request)")
    parser.add_argument("--data", type=Path, default=None, help="humanevalpack-python.jsonl")
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default: stdout only)")
    args = parser.parse_args()
    problems = load_problems(args.data)
    options = Options(threads=args.threads)
    models = Models(options)
    before = machine()
    rows = []
    try:
        runtime = models.edits()
        models.gate.start()
        for index in args.problems:
            problem = problems[index]
            started = time.perf_counter()
            result = implement(runtime, models.gate.judge, problem.prompt, 0, name=problem.entry_point,
                               settings=ImplementSettings(candidates=args.k))
            wall = time.perf_counter() - started
            row = {"task_id": problem.task_id, "wall_s": round(wall, 2), **result.timings(),
                   "tokens": result.generated_tokens(), "candidates": len(result.candidates),
                   "checks": result.checks, "offered": result.offered is not None,
                   "verification": result.verification, "reason": result.reason,
                   "threads": getattr(runtime, "last_threads", None)}
            rows.append(row)
            print(f"{problem.task_id}: {wall:.1f} s, {row['tokens']} tokens, write {row['write_s']:.1f} s, "
                  f"lint {row['lint_s']:.1f} s, checks {row['check_s']:.1f} s; "
                  f"{result.verification or result.reason}", file=sys.stderr)
    finally:
        models.close()
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "k": args.k, "model": describe(runtime.spec),
        "machine_before": before, "machine_after": machine(), "problems": rows,
        "wall_s_median": statistics.median(r["wall_s"] for r in rows) if rows else None,
    }
    write_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
