"""The lint gate: LintSeq's rules, comparison by message id and symbol, cache, time limit."""

from editseq.lintgate import Linter, LintGate, detect_indent, new_errors


def test_linter_reports_only_lintseq_errors():
    linter = Linter()
    assert linter.messages("import os\n") == []  # unused-import is a warning: ignored
    symbols = [m.symbol for m in linter.messages("def f():\n    return y\n")]
    assert symbols == ["undefined-variable"]
    assert [m.msg_id for m in linter.messages("def f(:\n")] == ["E0001"]


def test_bad_indentation_counts_against_the_buffers_own_indent_unit():
    linter = Linter()
    assert [m.msg_id for m in linter.messages("if True:\n     x = 1\n")] == ["W0311"]
    two = "def f():\n  if True:\n    return 1\n"
    assert detect_indent(two) == "  "
    assert linter.messages(two, indent=detect_indent(two)) == []
    assert [m.msg_id for m in linter.messages(two)] == ["W0311", "W0311"]


def test_the_indent_unit_comes_from_code_not_from_a_docstring_that_looks_like_a_block():
    # heapq.py's module docstring: a line ending in ':' above a diagram indented 35 spaces
    text = ('"""Heaps.\n\nThe numbers below are `k\', not a[k]:\n\n' + " " * 35 + '0\n"""\n\n'
            "def push(heap, item):\n    heap.append(item)\n")
    assert detect_indent(text) == "    "
    assert Linter().messages(text + "    return None\n", indent=detect_indent(text)) == []
    assert detect_indent("def f():\n\tpass\n") == "\t"
    assert detect_indent('x = """unclosed:\n  y\n') == "  "  # cannot tokenize: the old rule
    assert detect_indent("x = 1\n") == "    "  # nothing indented: the default


def test_new_errors_compares_counts_not_lines():
    linter = Linter()
    before = linter.messages("print(a)\n")
    moved = linter.messages("\n\nprint(a)\n")
    twice = linter.messages("print(a)\nprint(b)\n")
    assert not new_errors(before, moved)
    assert new_errors(before, twice) == {("E0602", "undefined-variable"): 1}


def test_gate_judges_and_caches():
    gate = LintGate(timeout_s=20)
    try:
        ok = gate.judge("x = 1\n", "x = 1\ny = x\n")
        bad = gate.judge("x = 1\n", "x = 1\ny = z\n")
        assert ok.offered and not bad.offered and "undefined-variable" in bad.reason
        assert gate.check("x = 1\n") is gate.check("x = 1\n")  # cached by content
    finally:
        gate.close()


def test_gate_time_limit_kills_and_recovers():
    gate = LintGate(timeout_s=0.001)
    try:
        gate.start()
        result = gate.check("x = 1\n" * 2000)
        assert not result.ok and "timed out" in result.failure
        # as large as the check above: a tiny file can be linted within the 1 ms limit
        assert not gate.judge("a = 1\n" * 2000, "b = 2\n" * 2000).offered
        gate.timeout_s = 20
        assert gate.check("z = 3\n").ok  # a fresh worker serves the next check
    finally:
        gate.close()


def test_gate_accepts_two_space_code_in_a_two_space_buffer():
    gate = LintGate(timeout_s=20)
    try:
        before = "def f():\n  x = 1\n"
        assert gate.judge(before, before + "  return x\n").offered
    finally:
        gate.close()
