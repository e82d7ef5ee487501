"""Repair training data: one-line mutations, and rows kept only for mutants that fail a test."""

import random
from collections import Counter

import pytest
from editseq import editformat
from editseq.lintgate import LintGate
from editseq.model import mutate, repairdata
from editseq.model.sources import Program
from editseq.repair import repair_edit_prompt

PROGRAM = '''def count_above(xs, n):
    """How many items exceed n."""
    total = 0
    for i in range(len(xs)):
        if xs[i] > n and not xs[i] == 3:
            total = total + 1
    return min(total, len(xs)) if True else total'''


def test_every_kind_of_mutation_changes_one_body_line_and_still_parses():
    found = mutate.mutants(PROGRAM, "count_above")
    assert {m.kind for m in found} == set(mutate.KINDS)
    lines = PROGRAM.split("\n")
    for mutant in found:
        changed = mutant.apply(lines)
        assert [i for i, (a, b) in enumerate(zip(lines, changed)) if a != b] == [mutant.line]
        assert mutant.line not in (0, 1)  # never the signature or the docstring
        compile("\n".join(changed), "m", "exec")
    afters = {m.after.strip() for m in found}
    assert "if xs[i] > n and xs[i] == 3:" in afters  # negation dropped
    assert "if xs[i] > n:" in afters  # condition cut
    assert "for i in range(len(xs) + 1):" in afters  # off by one in a range
    assert "if xs[i] >= n and not xs[i] == 3:" in afters  # comparison


def test_pick_spreads_over_kinds():
    chosen = mutate.pick(mutate.mutants(PROGRAM, "count_above"), 5, random.Random(0))
    assert len(chosen) == 5 and len({m.kind for m in chosen}) == 5


@pytest.fixture(scope="module")
def gate():
    gate = LintGate(timeout_s=20)
    yield gate
    gate.close()


def test_rows_are_the_features_prompt_then_the_fix_for_mutants_that_fail(gate):
    program = Program("mbpp/x", "mbpp", "CC-BY-4.0", "Count items above n.", PROGRAM,
                      meta={"tests": ["assert count_above([1, 5, 7], 4) == 2", "assert count_above([3, 9], 1) == 1"]})
    counts = Counter()
    rows = repairdata.program_rows(program, 3, random.Random(0), gate, counts)
    assert len(rows) == 3 and sum(v for k, v in counts.items() if k.startswith("kept")) == 3
    fixed = PROGRAM.split("\n")
    for row in rows:
        prompt = row["text"][: row["train_from"]]
        assert prompt.startswith("Its checks fail (") and prompt.rstrip().endswith("<|diff|>")
        assert "Fix bugs in count_above." in prompt
        buggy = [line if line != row["mutant_line"] else None for line in fixed]
        assert None not in buggy  # the mutant line is not the correct one
        state, _ = editformat.decode_sequence(prompt[prompt.index(editformat.DIFF_SEP) + len(editformat.DIFF_SEP):])
        assert row["mutant_line"] in state and prompt == repair_edit_prompt("\n".join(state), row["instruction"])
        assert editformat.apply_edit(state, row["edits"][0], replacements=True) == (fixed, 0)
        assert row["text"].endswith(editformat.CLOSE)


def test_a_program_that_fails_its_own_tests_gives_no_rows(gate):
    program = Program("mbpp/y", "mbpp", "CC-BY-4.0", "x", PROGRAM, meta={"tests": ["assert count_above([9], 1) == 0"]})
    counts = Counter()
    assert repairdata.program_rows(program, 3, random.Random(0), gate, counts) == []
    assert counts == {"the program fails its own tests": 1}
