"""In-order edit sequences: appends at the end, each state a lint-clean prefix, rebuilding the program."""

from editseq.editformat import DIFF_SEP, decode_sequence
from editseq.lintgate import Linter
from editseq.model.inorder import cut_points, rows_for, sample

PROGRAM = """import math


def area(r):
    # the disc's area
    return math.pi * r * r


def ring(outer, inner):
    total = area(outer)
    hole = area(inner)
    if hole > total:
        raise ValueError(
            "inner is larger")
    return total - hole"""


def test_cut_points_end_where_the_prefix_parses_and_code_follows():
    lines = PROGRAM.split("\n")
    points = cut_points(lines)
    assert 3 in points  # after the import and its blank lines, before ``def area``
    assert 4 not in points and 5 not in points  # a def without a body does not parse; a comment follows
    assert 13 not in points  # inside the call spread over two lines
    assert all(lines[i].strip() and not lines[i].strip().startswith("#") for i in points)


def test_a_sequence_appends_lint_clean_prefixes_and_is_deterministic():
    linter = Linter()
    one = sample(PROGRAM, 7, linter, keep=1.0)
    lines = PROGRAM.split("\n")
    assert one.states[-1] == tuple(lines)
    for before, after in zip(((),) + one.states, one.states):
        assert after[: len(before)] == before  # every edit appends at the end
        assert not linter.messages("\n".join(after) + "\n")
    # ``area`` is defined before ``ring`` uses it, so every cut point is kept at keep=1
    assert len(one.edits) == len(cut_points(lines)) + 1
    assert sample(PROGRAM, 7, linter) == sample(PROGRAM, 7, linter)
    assert len(sample(PROGRAM, 7, linter, keep=0.0).edits) == 1


def test_a_name_defined_further_down_keeps_its_use_in_the_same_edit():
    program = "def first():\n    return second()\n\n\ndef second():\n    return 2"
    one = sample(program, 0, Linter(), keep=1.0)
    assert all("def first" not in "\n".join(state) or "def second" in "\n".join(state) for state in one.states)


def test_rows_rebuild_the_program_and_continue_rows_start_from_the_editor_state():
    program = {"id": "mbpp/1", "source": "mbpp", "licence": "CC-BY-4.0", "origin": "1",
               "instruction": "Compute a ring's area.", "program": PROGRAM}
    rows = rows_for(program, 3, 0, Linter())
    assert {r["kind"] for r in rows} == {"scratch", "continue"}
    for row in rows:
        assert row["order"] == "inorder" and row["source"] == "mbpp"
        lines, skipped = decode_sequence(row["text"][len(row["instruction"]) + len(DIFF_SEP):], strict=True)
        assert lines == PROGRAM.split("\n") and not skipped
        assert row["text"].endswith(DIFF_SEP + DIFF_SEP)
    assert len({tuple(r["edits"]) for r in rows if r["kind"] == "scratch"}) == sum(
        r["kind"] == "scratch" for r in rows)
