"""A HumanEvalPack-shaped problem file from the training run's held-out MBPP programs.

    python -m editseq.model.eval.heldout                # -> model/results/heldout/mbpp-heldout.jsonl
    editseq eval --task synthesize --data model/results/heldout/mbpp-heldout.jsonl \
        --results-dir model/results/heldout -n 10 --temperature 0.5

Sampling settings (the temperature) are chosen here, on programs the model never trained on, and
not on HumanEval. The held-out programs are the MBPP rows that ``train.is_validation`` puts on the
validation side (the same 2% split by program id that training leaves out). Each becomes a
problem in HumanEvalPack's shape: the instruction in HumanEval's wording with the reference
solution's signature (the MBPP text alone does not name the function its tests call), the
reference code as ``canonical_solution``, and its asserts as the test.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

from editseq.model.sources import normalise_program
from editseq.model.split import VAL_FRACTION, is_validation

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results" / "heldout" / "mbpp-heldout.jsonl"
DEFAULT_MBPP = Path(__file__).resolve().parents[3] / "shared" / "data" / "mbpp-train.jsonl"


def entry_point(code: str, tests: list[str]) -> ast.FunctionDef | None:
    """The top-level function the tests call."""
    try:
        functions = [n for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)]
    except SyntaxError:
        return None
    called = " ".join(tests)
    return next((f for f in functions if f"{f.name}(" in called), None)


def problem_for(row: dict) -> dict | None:
    code, _ = normalise_program(row["code"])  # as the training data writes the program
    function = entry_point(code, row["test_list"]) if code else None
    if function is None:
        return None
    signature = f"{function.name}({ast.unparse(function.args)})"
    instruction = f"Write a Python function `{signature}` to solve the following problem:\n{row['text']}"
    setup = row.get("test_setup_code") or ""
    test = "\n".join([setup, *row["test_list"], "", "", "def check(candidate):", "    pass", ""]).lstrip("\n")
    return {
        "task_id": f"MBPP/{row['task_id']}", "prompt": "", "declaration": "", "canonical_solution": code,
        "buggy_solution": code, "test": test, "entry_point": function.name, "docstring": row["text"],
        "instruction": instruction,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbpp", type=Path, default=DEFAULT_MBPP)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION)
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.mbpp.read_text(encoding="utf-8").splitlines() if line.strip()]
    held = [r for r in rows if is_validation(f"mbpp/{r['task_id']}", args.val_fraction)]
    problems = [p for p in map(problem_for, held) if p]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(p) + "\n" for p in problems), encoding="utf-8")
    print(f"{len(problems)} held-out MBPP problems (of {len(held)} held out, {len(rows)} rows) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
