"""Repair verification with a scripted model: what is offered, and what its title claims."""

import pytest
from editseq.lintgate import LintGate
from editseq.pysource import enclosing_function
from editseq.repair import CheckReport, repair, run_checks
from editseq.runtime import Generation
from editseq.sandbox import resolve_isolation

BUGGY = '''def add(a, b):
    """Add two numbers.

    >>> add(2, 3)
    5
    >>> add(0, 0)
    0
    """
    return a - b


def test_add():
    assert add(1, 1) == 2
'''


class Scripted:
    chat_template = None  # ChatML
    bos_text = ""
    eos_text = "<|im_end|>"

    def __init__(self, replies):
        self.replies = list(replies)
        self.prompts = []

    def generate(self, prompt, *, max_tokens, temperature=0.0, stop=(), seed=0, cancel=None, **_):
        self.prompts.append(prompt)
        text = self.replies.pop(0) if self.replies else "```"
        return Generation(text, "stop", 10, 0, 5, 0.0, 0.0)


def fence(body: str) -> str:
    return body + "\n"  # the prompt opened the ```python block; generation stops at the closing fence


@pytest.fixture(scope="module")
def gate():
    gate = LintGate(timeout_s=20)
    yield gate
    gate.close()


def test_checks_count_doctests_and_tests_and_run_them_in_the_sandbox():
    span = enclosing_function(BUGGY, 8)
    report = run_checks(BUGGY, span)
    assert (report.passed, report.total) == (1, 3)  # add(0, 0) == 0 passes even when buggy
    assert "add(2, 3)" in report.output
    assert report.isolation == resolve_isolation()  # the strongest this machine allows


def test_a_fix_that_passes_every_check_is_offered_with_that_claim(gate):
    fixed = BUGGY.split("\n\n\n")[0].replace("a - b", "a + b")
    model = Scripted([fence(fixed)])
    result = repair(model, gate, BUGGY, 8)
    assert result.offered is not None
    where = {"bubblewrap": "bubblewrap", "namespaces": "namespaces", "rlimits": "rlimits only"}
    isolation = result.offered.checks.isolation
    assert result.verification == f"passes 3/3 doctests and tests (was 1/3), sandbox: {where[isolation]}"
    assert "return a + b" in result.offered.new_text and "def test_add" in result.offered.new_text
    assert "Fix bugs in add." in model.prompts[0] and "1/3 pass" in model.prompts[0]


def test_a_candidate_that_loops_forever_is_stopped_and_not_offered(gate):
    looping = BUGGY.split("\n\n\n")[0].replace("return a - b", "while True:\n        pass")
    result = repair(Scripted([fence(looping)]), gate, BUGGY, 8, candidates=1)
    assert result.offered is None
    assert "passes fewer" in result.reason
    assert result.candidates[0].checks.status == "timeout"


def test_a_candidate_that_allocates_without_bound_is_stopped(gate):
    hungry = BUGGY.split("\n\n\n")[0].replace("return a - b", "return len([0] * (10 ** 10))")
    result = repair(Scripted([fence(hungry)]), gate, BUGGY, 8, candidates=1)
    assert result.offered is None
    assert result.candidates[0].checks.status == "memory"


def test_a_candidate_adding_lint_errors_is_never_offered(gate):
    bad = BUGGY.split("\n\n\n")[0].replace("return a - b", "return a + c")
    result = repair(Scripted([fence(bad)]), gate, BUGGY, 8, candidates=1)
    assert result.offered is None and "adds lint errors" in result.reason


def test_untested_function_is_offered_only_when_it_fixes_lint_errors(gate):
    source = "def area(w, h):\n    return w * height\n"
    result = repair(Scripted([fence("def area(w, h):\n    return w * h")]), gate, source, 1, run_code=False)
    assert result.offered is not None and result.verification == "lint-clean, untested"
    nothing = repair(Scripted([fence("def area(w, h):\n    return h * w")]), gate,
                     "def area(w, h):\n    return w * h\n", 1)
    assert nothing.offered is None and "nothing to test it with" in nothing.reason


def test_no_function_at_the_cursor_is_reported(gate):
    assert repair(Scripted([]), gate, "x = 1\n", 0).reason == "no function at line 1"


def test_report_all_pass_needs_checks():
    assert not CheckReport(0, 0, "", "passed").all_pass


def test_a_candidate_cannot_pass_by_dropping_its_doctests(gate):
    no_examples = 'def add(a, b):\n    """Add two numbers."""\n    return a - b'
    result = repair(Scripted([fence(no_examples)]), gate, BUGGY, 8, candidates=1)
    assert result.offered is None and result.candidates[0].verdict == "changes the function's docstring"
    # were it judged, it would be by the original checks (2 doctests + 1 test), not its own
    span, new = enclosing_function(BUGGY, 8), BUGGY.replace(BUGGY.split("\n\n\n")[0], no_examples)
    assert run_checks(new, enclosing_function(new, 0, "add"), checks_from=(span, BUGGY)).total == 3


def test_an_edit_model_repairs_with_a_replacement_edit(gate):
    """With ``edits``, the prompt is the instruction then the function as the state written, and
    a replacement hunk fixing the line is offered once the checks pass."""
    model = Scripted(["@@ -9 +9 @@\n-    return a - b\n+    return a + b"])
    result = repair(model, gate, BUGGY, 8, edits=True, candidates=1)
    prompt = model.prompts[0]
    assert prompt.startswith("Its checks fail (1/3 pass):") and "Fix bugs in add.\n<|diff|>@@ -0,0 +1,8 @@" in prompt
    assert result.offered is not None and "a + b" in result.offered.new_text
    assert result.verification.startswith("passes 3/3 doctests and tests (was 1/3)")


def test_an_edit_whose_minus_rows_do_not_match_is_not_applied(gate):
    model = Scripted(["@@ -9 +9 @@\n-    return a * b\n+    return a + b"])
    result = repair(model, gate, BUGGY, 8, edits=True, candidates=1)
    assert result.offered is None and not result.candidates  # the edit changed nothing
    assert result.reason == "the model wrote no usable rewrite of the function"


def test_writers_take_turns_each_greedy_first(gate):
    """An edit model and a chat model alternate; the chat model's greedy rewrite fixes it."""
    edit_model = Scripted(["@@ -9 +9 @@\n-    return a - b\n+    return b - a"])  # still wrong
    fixed = BUGGY.split("\n\n\n")[0].replace("a - b", "a + b")
    chat_model = Scripted([fence(fixed)])
    calls = []
    for model in (edit_model, chat_model):
        original = model.generate

        def generate(prompt, *, _original=original, _model=model, **kwargs):
            calls.append((_model, kwargs["temperature"], kwargs["seed"]))
            return _original(prompt, **kwargs)

        model.generate = generate
    result = repair(edit_model, gate, BUGGY, 8, edits=True, also=[(chat_model, False)], candidates=4)
    assert calls == [(edit_model, 0.0, 0), (chat_model, 0.0, 0)]  # it stopped once all checks passed
    assert result.offered is not None and result.offered.attempt == 1 and "a + b" in result.offered.new_text
    assert [c.attempt for c in result.candidates] == [0, 1]


def test_a_candidate_that_changes_the_docstring_is_not_offered(gate):
    """Lines written into the docstring (or code put before it) would pass the original checks
    with the spec gone: not a repair."""
    model = Scripted(["@@ -1,0 +2 @@\n+    return a + b"])  # before the docstring: it is no longer one
    result = repair(model, gate, BUGGY, 8, edits=True, candidates=1)
    assert result.offered is None
    assert [c.verdict for c in result.candidates] == ["changes the function's docstring"]
