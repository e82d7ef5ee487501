"""Repair training rows without a teacher: correct programs with tests, bugs injected by mutation.

    python -m editseq.model.repairdata --per-program 4      # -> model/data/repair/shard-00000.jsonl.gz

For each MBPP training program (decontaminated against HumanEvalPack as every source is) the
file a user would have is the program followed by its asserts as ``test_N`` functions. The
program must pass them all; then ``editseq.model.mutate`` proposes one-line bugs in the function
the tests use, and a mutant is kept only if at least one test fails on it (in the sandbox, through
``editseq.repair.run_checks``, so its output reads exactly as the repair feature gives it). Each
row is what the repair feature sends an edit-sequence model, then the fix::

    {repair_instruction: the mutant's lint errors, failing output, "Fix bugs in f."}
    <|diff|>{the buggy function as the state written (editformat.state_edits)}
    <|diff|>{the replacement edit that restores the line}
    <|diff|>
    <|diff|>

``train_from`` (characters) marks where the answer starts: training learns the fix, not the copy
of the buggy function before it. Row ids are the program's, so a program's mutants fall in the
same train/validation split as its other rows. Deterministic given ``--seed``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from editseq import editformat
from editseq.lintgate import LintGate
from editseq.model import mutate
from editseq.model.prepare import DATA_DIR, _write_atomic
from editseq.pysource import enclosing_function, test_functions_for
from editseq.repair import (
    CheckReport,
    relative_lint,
    repair_edit_prompt,
    repair_instruction,
    run_checks,
)
from tqdm import tqdm

log = logging.getLogger("editseq.model.repairdata")

SOURCE = "repair"


def test_file(program: str, asserts: list[str]) -> str:
    """The program with each assert as a ``test_N`` function after it, as a user's file."""
    tests = "\n\n\n".join(f"def test_{i}():\n    {row.strip()}" for i, row in enumerate(asserts, 1))
    return f"{program}\n\n\n{tests}\n"


def tested_function(text: str) -> str | None:
    """The function defined in ``text`` that the most ``test_*`` functions use."""
    names = [span_name for span_name in _defined_functions(text) if not span_name.startswith("test")]
    used = {name: len(test_functions_for(text, name)) for name in names}
    best = max(used, key=used.get, default=None)
    return best if best is not None and used[best] else None


def _defined_functions(text: str) -> list[str]:
    import ast

    return [n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)]


def repair_row(program, text: str, buggy_text: str, name: str, mutant: mutate.Mutant, checks: CheckReport,
               gate: LintGate) -> dict:
    """The training row teaching the fix of ``mutant`` (``text``: the correct file, ``buggy_text``:
    with the mutant)."""
    lines = text.split("\n")
    span = enclosing_function(buggy_text, 0, name)
    buggy = textwrap.dedent(span.source(buggy_text.split("\n"))).split("\n")
    fixed = textwrap.dedent(enclosing_function(text, 0, name).source(lines)).split("\n")
    lint = relative_lint(gate.check(buggy_text).messages, span)
    instruction = repair_instruction(name, lint, checks)
    fix = editformat.replacement_text(buggy, fixed)
    row_text = editformat.render_sequence(instruction, [*editformat.state_edits(buggy), fix])
    prompt = repair_edit_prompt("\n".join(buggy), instruction)
    assert row_text.startswith(prompt), "the row must begin with the feature's prompt"
    assert editformat.apply_edit(buggy, fix, strict=True, replacements=True) == (fixed, 0)
    return {
        "id": program.id, "source": SOURCE, "licence": program.licence, "origin": program.origin,
        "instruction": instruction, "program": program.program, "kind": "repair",
        "mutation": mutant.kind, "mutant_line": mutant.after, "checks": f"{checks.passed}/{checks.total}",
        "edits": [fix], "text": row_text, "train_from": len(prompt),
    }


def program_rows(program, per_program: int, rng: random.Random, gate: LintGate, counts: Counter) -> list[dict]:
    asserts = program.meta.get("tests") or []
    if not asserts or program.meta.get("test_setup"):
        counts["no tests (or test setup code)"] += 1
        return []
    text = test_file(program.program, asserts)
    name = tested_function(text)
    if name is None:
        counts["tests use no function"] += 1
        return []
    span = enclosing_function(text, 0, name)
    original = run_checks(text, span)
    if original is None or not original.all_pass:
        counts["the program fails its own tests"] += 1
        return []
    candidates = mutate.pick(mutate.mutants(program.program, name), 3 * per_program, rng)
    rows = []
    for mutant in candidates:
        if len(rows) == per_program:
            break
        buggy_text = "\n".join(mutant.apply(text.split("\n")))
        checks = run_checks(buggy_text, enclosing_function(buggy_text, 0, name) or span, checks_from=(span, text))
        if checks.all_pass or checks.status not in ("passed", "failed"):  # the runner's own exit
            counts["mutant passes its tests" if checks.all_pass else f"mutant stopped: {checks.status}"] += 1
            continue  # a mutant that passes is no bug; one that loops or eats memory is slow to teach
        rows.append(repair_row(program, text, buggy_text, name, mutant, checks, gate))
        counts[f"kept {mutant.kind}"] += 1
    return rows


def load_programs(limit: int | None) -> tuple[list, dict]:
    from editseq.model.sources import mbpp
    from editseq.model.sources.decontaminate import Decontaminator

    programs = [p for p in mbpp.load() if p.drop is None]
    kept, dropped = Decontaminator().split(programs)
    return (kept[:limit] if limit else kept), dropped


def summarise(rows: list[dict], programs: list, dropped: dict, counts: Counter, args) -> dict:
    """What the datasheet states: programs, rows, mutation kinds, why mutants were not kept, and
    SmolLM2 tokens (whole rows, and the answers training learns)."""
    from editseq.model.prepare import token_counter

    count, tokenizer = token_counter()
    return {
        "source": SOURCE, "programs": len(programs), "programs_with_rows": len({r["id"] for r in rows}),
        "rows": len(rows), "per_program": args.per_program, "seed": args.seed, "decontaminated": len(dropped),
        "counts": dict(counts.most_common()),
        "mutations": dict(Counter(row["mutation"] for row in rows).most_common()),
        "tokens": {"total": sum(count(r["text"]) for r in rows),
                   "trained": sum(count(r["text"][r["train_from"]:]) for r in rows), "tokenizer": tokenizer},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-program", type=int, default=4, help="mutants kept per program")
    parser.add_argument("--limit", type=int, help="first K programs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DATA_DIR / SOURCE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    programs, dropped = load_programs(args.limit)
    counts: Counter = Counter()
    rows: list[dict] = []
    gate = LintGate(timeout_s=30)
    started = time.perf_counter()
    try:
        for program in tqdm(programs, desc="repair rows", unit="program"):
            rng = random.Random(f"{args.seed}:{program.id}")
            rows.extend(program_rows(program, args.per_program, rng, gate, counts))
    finally:
        gate.close()
    args.out.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    _write_atomic(args.out / "shard-00000.jsonl.gz", gzip.compress(data, mtime=0))
    summary = summarise(rows, programs, dropped, counts, args)
    summary["elapsed_s"] = round(time.perf_counter() - started, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log.info("%d rows from %d programs in %.0f s: %s", len(rows), len(programs), summary["elapsed_s"],
             summary["mutations"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
