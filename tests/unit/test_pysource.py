"""pysource: Python source analysis without a model."""

from editseq import pysource


def test_unreachable_lines_are_the_statements_after_a_return_raise_continue_or_break():
    text = ("def f(xs):\n    total = 0\n    return total\n    for x in xs:\n        total += x\n"
            "def g(xs):\n    for x in xs:\n        if x:\n            continue\n        break\n"
            "    else:\n        raise ValueError\n    return 1\n")
    assert pysource.unreachable_lines(text) == [4]
    assert pysource.unreachable_lines("def f(:\n") is None
    assert pysource.unreachable_lines("while True:\n    break\n    x = 1\nx = 2\n") == [3]
