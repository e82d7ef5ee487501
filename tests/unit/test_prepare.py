"""``prepare`` resumed over a source that has grown: new programs are processed, and a new
program whose code a finished shard already holds (under another id) is skipped."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from editseq.model import prepare
from editseq.model.sources import Program


def program(pid: str, name: str, body: str) -> Program:
    return Program(pid, "mined", "MIT", f"Write a Python function `{name}(xs)`.",
                   f"def {name}(xs):\n    total = 0\n    for x in xs:\n        {body}\n    return total")


def run_with(monkeypatch: pytest.MonkeyPatch, out: Path, programs: list[Program]) -> dict:
    monkeypatch.setattr(prepare, "load_source",
                        lambda config: prepare.Loaded(programs=list(programs), read=len(programs)))
    return prepare.run(prepare.Config(source="mined", out=out, workers=1, sequences=1, continues=0))


def test_a_resumed_run_skips_new_programs_with_the_code_of_finished_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = program("mined/a.add_all", "add_all", "total += x")
    run_with(monkeypatch, tmp_path, [first])
    renamed = program("mined/b.sum_items", "sum_items", "total += x")  # the same code, another name
    new = program("mined/b.square_all", "square_all", "total += x * x")
    summary = run_with(monkeypatch, tmp_path, [first, renamed, new])

    ids = set()
    for path in sorted((tmp_path / "mined").glob("shard-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            ids.update(json.loads(line)["id"] for line in f)
    assert ids == {"mined/a.add_all", "mined/b.square_all"}
    assert summary["loader_skipped"] == {"same code as a program in a finished shard": 1}
