"""LintSeq backward sampling (editseq.model.lintseq): the properties the training data relies on.

Every state of a sampled sequence is lint-clean, the rendered text rebuilds the program through the
server's own decoder, every hunk only inserts, and a seed fixes the sequence. Programs are tiny, so
that the real pylint stays fast.
"""

from __future__ import annotations

import pytest
from editseq.editformat import (
    DIFF_SEP,
    apply_edit,
    build_prompt,
    decode_sequence,
    edit_text,
    parse_edit,
    render_sequence,
)
from editseq.model.lintseq import LintSeq, Unreducible, continuation, insertion_edit
from editseq.model.sources import normalise_program
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIXTURES = {
    "comments_and_blanks": """\
import math
# a helper


def area(radius):
    # the formula
    return math.pi * radius ** 2


total = area(2)""",
    "class_with_super": """\
class Counter(dict):
    def __init__(self, start):
        super().__init__()
        self.start = start

    def bump(self, key):
        self[key] = self.get(key, self.start) + 1
        return self[key]""",
    "multiline_string_and_literal": '''\
TEMPLATE = """
# not a comment
name: {name}
"""
LIMITS = {
    "low": 1,
    "high": 9,
}


def render(name):
    return TEMPLATE.format(name=name) + str(LIMITS["low"])''',
    "repeated_lines": """\
def first(x):
    if x:
        return x
    return None


def second(x):
    if x:
        return x
    return None


def third(x):
    if x:
        return x
    return None""",
    "control_flow": """\
def classify(values):
    seen = set()
    for value in values:
        try:
            number = int(value)
        except ValueError:
            continue
        if number in seen:
            break
        seen.add(number)
    else:
        return sorted(seen)
    return []""",
}


@pytest.fixture(scope="module")
def sampler() -> LintSeq:
    return LintSeq()


_SAMPLER: LintSeq | None = None


def shared_sampler() -> LintSeq:
    """One warm linter for the hypothesis tests (function-scoped fixtures do not mix with them)."""
    global _SAMPLER
    if _SAMPLER is None:
        _SAMPLER = LintSeq()
    return _SAMPLER


def check_sample(sampler: LintSeq, program: str, seed: int) -> None:
    lines = program.split("\n")
    sample = sampler.sample(program, seed)
    assert sample.edits and len(sample.edits) == len(sample.states)
    assert list(sample.states[-1]) == lines
    for state in sample.states:
        assert sampler.lint("\n".join(state)) == [], "\n".join(state)
    previous: list[str] = []
    for text, state in zip(sample.edits, sample.states):
        parsed = parse_edit(text)
        assert parsed.malformed == 0 and parsed.hunks
        for row in text.split("\n"):
            assert row.startswith("+") or (row.startswith("@@ -") and ",0 +" in row), row
        assert apply_edit(previous, text) == (list(state), 0)
        previous = list(state)
    rendered = render_sequence("Write it.", list(sample.edits))
    rebuilt, skipped = decode_sequence(rendered[len("Write it." + DIFF_SEP) :])
    assert skipped == 0
    assert [line.rstrip() for line in rebuilt] == [line.rstrip() for line in lines]
    for k in range(1, len(sample.edits)):
        edits = continuation(sample, k)
        rebuilt, _ = decode_sequence(DIFF_SEP.join([*edits, "", ""]))
        assert rebuilt == lines
        # an editor-shaped example starts with exactly the prompt the server builds mid-file
        prompt = build_prompt("Write it.", list(sample.states[k - 1]))
        assert render_sequence("Write it.", edits).startswith(prompt)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_programs(sampler: LintSeq, name: str) -> None:
    program = FIXTURES[name]
    assert sampler.lint(program) == []
    for seed in range(3):
        check_sample(sampler, program, seed)


def test_comments_and_blanks_arrive_in_the_first_insertion(sampler: LintSeq) -> None:
    sample = sampler.sample(FIXTURES["comments_and_blanks"], 0)
    first = sample.states[0]
    assert "# a helper" in first
    assert first.count("") == 4  # blank lines outside blocks are never deleted


def test_seed_fixes_the_sequence(sampler: LintSeq) -> None:
    program = FIXTURES["control_flow"]
    assert sampler.sample(program, 7) == LintSeq(sampler.linter).sample(program, 7)
    sequences = {sampler.sample(program, seed).edits for seed in range(6)}
    assert len(sequences) > 1


def test_samples_are_distinct(sampler: LintSeq) -> None:
    samples = sampler.samples("x = 1", 5, list(range(10)))
    assert len(samples) == 1  # one line: one possible sequence


def test_program_that_is_not_reducible_raises(sampler: LintSeq) -> None:
    tight = LintSeq(sampler.linter, max_lint_calls=1)
    with pytest.raises(Unreducible):
        tight.sample(FIXTURES["control_flow"], 0)


def test_diffs_that_delete_are_rewritten_as_insertions(sampler, monkeypatch) -> None:
    """difflib may align repeated lines so that its diff deletes and re-inserts; never keep that."""
    from editseq.model import lintseq

    def deleting_diff(before, after):
        text = edit_text(before, after)
        return text.replace("@@ -0,0", "@@ -1,1", 1) + "\n-" + before[0] if before else text

    program = FIXTURES["repeated_lines"]
    fresh = LintSeq(sampler.linter)
    expected = fresh.sample(program, 3)
    monkeypatch.setattr(lintseq, "edit_text", deleting_diff)
    assert fresh.sample(program, 3) == expected
    assert fresh.stats.exact_fallbacks > 0


def test_insertion_edit_writes_difflib_headers() -> None:
    lines = ["a", "b", "c", "d", "e"]
    for before in ([], [1], [0, 4], [1, 2, 3]):
        after = list(range(5))
        expected = edit_text([lines[i] for i in before], lines)
        assert insertion_edit(before, after, lines) == expected


def test_normalise_reindents_tabs_and_crlf() -> None:
    text = "def f(x):\r\n\tif x:  \r\n\t\treturn [1,\r\n\t\t        2]\r\n\treturn 0\r\n"
    out, problem = normalise_program(text)
    assert problem is None
    assert out == "def f(x):\n    if x:\n        return [1,\n                2]\n    return 0"
    two = "def g():\n  s = '''a  \n  b'''\n  return s"
    out, _ = normalise_program(two)
    assert out == "def g():\n    s = '''a  \n  b'''\n    return s"


# -- generated programs ------------------------------------------------------------------------

_TEMPLATES = [
    "{new} = {old} + {lit}",
    "{new} = [{old}, {lit}]",
    "# note {lit}",
    "",
    "def {new}(value):\n    result = value * {lit}\n    return result + {old}",
    "if {old}:\n    {new} = {old}\nelse:\n    {new} = {lit}",
    "{new} = 0\nfor item in range({lit}):\n    {new} += item",
    "import math\n{new} = math.sqrt({lit})",
    "{new} = {{\n    'k': {old},\n    'j': {lit},\n}}",
    "try:\n    {new} = int({old})\nexcept ValueError:\n    {new} = 0",
    "class {cls}(dict):\n    def __init__(self):\n        super().__init__()\n        self.v = {old}",
]


@st.composite
def programs(draw) -> str:
    names = ["start"]
    parts = [f"start = {draw(st.integers(0, 9))}"]
    for index in range(draw(st.integers(1, 3))):
        template = draw(st.sampled_from(_TEMPLATES))
        new = f"v{index}"
        parts.append(template.format(
            new=new, old=draw(st.sampled_from(names)), lit=draw(st.integers(1, 9)), cls=f"C{index}"
        ))
        if "{new}" in template:
            names.append(new)
    return "\n".join(parts).strip("\n")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs(), seed=st.integers(0, 2**32))
def test_generated_programs(program: str, seed: int) -> None:
    sampler = shared_sampler()
    assert sampler.lint(program) == [], program
    check_sample(sampler, program, seed)


@settings(max_examples=8, deadline=None)
@given(program=programs(), seed=st.integers(0, 2**32))
def test_generated_programs_are_deterministic(program: str, seed: int) -> None:
    sampler = shared_sampler()
    assert sampler.sample(program, seed) == sampler.sample(program, seed)


@settings(max_examples=40, deadline=None)
@given(kept=st.lists(st.booleans(), min_size=1, max_size=12))
def test_insertion_edit_applies(kept: list[bool]) -> None:
    lines = [f"line {i}" if i % 3 else "" for i in range(len(kept))]
    before = [i for i, keep in enumerate(kept) if keep]
    after = list(range(len(kept)))
    text = insertion_edit(before, after, lines)
    if len(before) == len(after):
        assert text == ""
        return
    state, skipped = apply_edit([lines[i] for i in before], text)
    assert skipped == 0 and state == lines
