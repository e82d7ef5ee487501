"""teacher_stats counts each raw folder's requests, kept pairs and the unique pairs it adds."""

from __future__ import annotations

from editseq.model.sources.teacher_gen import RawShards
from editseq.model.sources.teacher_stats import run_stats


def record(seed: int, index: int, program: str | None, instruction: str = "", drop: str | None = None) -> dict:
    row = {"id": f"teacher/{seed}-{index:06d}", "index": index, "drop": drop, "finish": "tests_closed",
           "generated_tokens": 10, "timing": {"generate_s": 1.0, "check_s": 0.5}}
    if program is not None:
        row.update(program=program, instruction=instruction)
    return row


def test_new_unique_counts_duplicates_of_earlier_runs(tmp_path) -> None:
    first, second = tmp_path / "teacher-raw-v1", tmp_path / "teacher-raw-v2"
    RawShards(first, 100).append([
        record(1, 0, "def add(a, b):\n    return a + b", "Add two numbers."),
        record(1, 1, None, drop="tests failed: 2 of 3 asserts"),
    ])
    RawShards(second, 100).append([
        record(2, 0, "def plus(x, y):\n    return x + y", "Sum x and y."),  # add, renamed
        record(2, 1, "def neg(x):\n    return -x", "Negate x."),
        record(2, 2, None, drop="contaminated: entry point"),
    ])
    rows = {row["folder"]: row for row in run_stats([first, second])}
    assert rows["teacher-raw-v1"] | {"drops": None} == {
        "folder": "teacher-raw-v1", "requests": 2, "kept": 1, "new_unique": 1, "duplicates": 0,
        "worker_seconds_per_request": 1.5, "tokens_per_reply": 10, "drops": None}
    assert rows["teacher-raw-v1"]["drops"] == {"tests failed": 1}
    assert (rows["teacher-raw-v2"]["kept"], rows["teacher-raw-v2"]["new_unique"]) == (2, 1)
    assert rows["teacher-raw-v2"]["drops"] == {"contaminated": 1}
