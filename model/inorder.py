"""In-order edit sequences: a program written top to bottom, a few statements an edit.

LintSeq (``model/lintseq.py``) inserts lines anywhere: a skeleton first (``def`` and ``return``),
then the lines between. A model that already writes code well top to bottom (the coder tier's
Qwen2.5-Coder-0.5B) loses much of that skill learning the scattered order: with the coder
adapter trained on LintSeq rows it passes 25% of the first 40 HumanEval problems, against 65% in
chat. Here each edit appends the next lines at the end of the program, so the diff format is
learned while the order stays the model's own. Every state is still lint-clean (the same
``Linter`` as LintSeq), so checked decoding's judge passes the model's intermediate states too.

An edit ends at a cut point: a line after which the program so far parses, before a line that is
neither blank nor a comment. Each cut point is kept with probability ``keep`` (so an edit holds
about 1/keep statements); a kept point whose state is not lint-clean (a name defined further
down) is merged into the next edit. Deterministic given the seed.

    python -m editseq.model.inorder --source teacher --source mbpp --sequences 3

reads the programs of ``model/data/<source>/shard-*.jsonl.gz`` (so decontamination and the
validation split are theirs: row ids are the programs' ids) and writes
``model/data-inorder/<source>/shard-00000.jsonl.gz`` with the same row schema (``kind``
``scratch`` and ``continue``, plus ``order: inorder``): train on it with ``--data
model/data-inorder``. It is a folder of its own so that readers of ``model/data`` (training's
default, the completion task's cases) see each program once.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import random
import sys
from pathlib import Path

from editseq.editformat import edit_text, render_sequence
from editseq.lintgate import Linter
from editseq.model.lintseq import Sample, continuation
from editseq.model.prepare import _write_atomic, rebuilds

KEEP = 0.4  # chance that a cut point ends an edit: edits of ~2.5 statements


def cut_points(lines: list[str]) -> list[int]:
    """Line counts ``i`` (0 < i < len) after which ``lines[:i]`` parses and ``lines[i]`` is code."""
    points = []
    for i in range(1, len(lines)):
        head = lines[i].strip()
        if not head or head.startswith("#") or lines[i - 1].rstrip().endswith("\\"):
            continue
        try:
            ast.parse("\n".join(lines[:i]))
        except SyntaxError:
            continue
        points.append(i)
    return points


def sample(program: str, seed: int, linter: Linter, keep: float = KEEP) -> Sample:
    """One in-order sequence of ``program`` (which must itself be lint-clean)."""
    lines = program.split("\n")
    rng = random.Random(seed)
    ends = []
    for point in cut_points(lines):
        if rng.random() < keep and not linter.messages("\n".join(lines[:point]) + "\n"):
            ends.append(point)
    ends.append(len(lines))
    states = tuple(tuple(lines[:end]) for end in ends)
    edits, previous = [], []
    for state in states:
        edits.append(edit_text(previous, list(state)))
        previous = list(state)
    return Sample(seed, states, tuple(edits))


def rows_for(program: dict, sequences: int, seed: int, linter: Linter) -> list[dict]:
    """Scratch rows (distinct sequences) and one continue row per sequence of two or more edits."""
    base = {k: program[k] for k in ("id", "source", "licence", "origin", "instruction", "program")}
    lines = program["program"].split("\n")
    rng = random.Random(f"{seed}/{program['id']}/continue")
    rows, seen = [], set()
    for index in range(sequences):
        one = sample(program["program"], hash_seed(seed, program["id"], index), linter)
        if one.edits in seen:
            continue
        seen.add(one.edits)
        kinds = [("scratch", list(one.edits), None)]
        if len(one.edits) >= 2:
            k = rng.randint(1, len(one.edits) - 1)
            kinds.append(("continue", continuation(one, k), k))
        for kind, edits, k in kinds:
            text = render_sequence(program["instruction"], edits)
            if not rebuilds(program["instruction"], text, lines):
                raise AssertionError(f"{program['id']} {kind} {index}: the text does not rebuild the program")
            row = {**base, "kind": kind, "order": "inorder", "sample": index, "seed": one.seed}
            if k is not None:
                row["k"] = k
            rows.append({**row, "edits": edits, "text": text})
    return rows


def hash_seed(seed: int, program_id: str, index: int) -> int:
    import hashlib

    digest = hashlib.sha256(f"inorder/{seed}/{program_id}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def read_programs(folder: Path) -> list[dict]:
    """The distinct programs of a source's shards, in their order."""
    programs: dict[str, dict] = {}
    for shard in sorted(folder.glob("shard-*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                programs.setdefault(row["id"], row)
    return list(programs.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m editseq.model.inorder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", action="append", required=True, help="a folder of --data (repeatable)")
    parser.add_argument("--data", type=Path, default=Path("model/data"))
    parser.add_argument("--out", type=Path, default=Path("model/data-inorder"))
    parser.add_argument("--sequences", type=int, default=3, help="scratch sequences tried per program")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from tqdm import tqdm

    linter = Linter()
    for source in args.source:
        programs = read_programs(args.data / source)
        out = args.out / source
        out.mkdir(parents=True, exist_ok=True)
        rows, edits = [], []
        for program in tqdm(programs, desc=source, file=sys.stderr):
            made = rows_for(program, args.sequences, args.seed, linter)
            rows.extend(made)
            edits.extend(len(r["edits"]) for r in made if r["kind"] == "scratch")
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
        _write_atomic(out / "shard-00000.jsonl.gz", gzip.compress(data, mtime=0))
        summary = {"source": source, "order": "inorder", "programs": len(programs), "rows": len(rows),
                   "scratch": len(edits), "mean_edits": round(sum(edits) / max(1, len(edits)), 2),
                   "sequences": args.sequences, "keep": KEEP, "seed": args.seed}
        (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
