"""The completion pipeline with a scripted fake model and the real pylint gate."""

import threading

import pytest
from editseq import complete
from editseq.complete import Completer, DocumentEdit, Skip, cached_completion, continuation
from editseq.lintgate import LintGate
from editseq.models import Models
from editseq.options import Options

from tests.scripted import CachingRuntime, ScriptedRuntime


@pytest.fixture(scope="module")
def gate():
    gate = LintGate(timeout_s=20)
    gate.start()
    yield gate
    gate.close()


class Suggester:
    """The pipeline as the server runs it: options, models, completer."""

    def __init__(self, options: Options, models: Models) -> None:
        self.options, self.gate = options, models.gate
        self.completer = Completer(models)

    def suggest(self, text, line, character, cancel=None, on_partial=None):
        return self.completer.complete(self.options, text, line, character, cancel, on_partial)


def make(gate, replies, **options):
    holder = {}

    def factory(spec):
        holder["runtime"] = ScriptedRuntime(spec, replies)
        return holder["runtime"]

    opts = Options(**options)
    return Suggester(opts, Models(opts, factory, gate)), holder


SOURCE = 'def area(width, height):\n    """Area of a rectangle."""\n    \n'


def test_insertion_at_the_cursor_is_offered_as_ghost_text(gate):
    suggester, holder = make(gate, ["@@ -2,0 +3 @@\n+    return width * height"])
    result = suggester.suggest(SOURCE, 2, 4)
    assert result.offered, result.reason
    offer = result.offers[0]
    assert offer.at_cursor
    assert offer.new_text == 'def area(width, height):\n    """Area of a rectangle."""\n    return width * height\n'
    prompt = holder["runtime"].prompts[0]
    assert prompt.startswith("Area of a rectangle.\n<|diff|>@@ -0,0 +1,2 @@\n+def area(width, height):")


def test_an_edit_that_adds_a_lint_error_is_not_offered(gate):
    suggester, _ = make(gate, ["@@ -2,0 +3 @@\n+    return width * depth"] * 2)
    result = suggester.suggest(SOURCE, 2, 4)
    assert not result.offered and result.skip is Skip.REJECTED
    assert any(m.symbol == "undefined-variable" for m in result.errors_after)


def test_existing_errors_do_not_block_an_edit_that_adds_none(gate):
    broken = "print(missing_name)\n" + SOURCE
    suggester, _ = make(gate, ["@@ -3,0 +4 @@\n+    return width * height"])
    result = suggester.suggest(broken, 3, 4)
    assert result.offered, result.reason
    assert [m.symbol for m in result.errors_before] == ["undefined-variable"]


def test_syntax_error_in_the_buffer_is_not_held_against_the_edit(gate):
    broken = "x = (\n" + SOURCE
    suggester, _ = make(gate, ["@@ -3,0 +4 @@\n+    return width * height"])
    result = suggester.suggest(broken, 3, 4)
    assert result.offered, result.reason


def test_a_second_sample_is_tried_when_the_first_fails(gate):
    suggester, _ = make(gate, ["@@ -2,0 +3 @@\n+    return nope", "@@ -2,0 +3 @@\n+    return width"], samples=2)
    result = suggester.suggest(SOURCE, 2, 4)
    assert result.offered and "return width" in result.offers[0].new_text
    assert result.timings["samples"] == 2


def test_first_sample_is_anchored_at_the_cursor(gate):
    # The model only continues the hunk header the server wrote at the cursor: a small model's
    # miscounted line number cannot move the completion away from it.
    suggester, holder = make(gate, [" @@\n+    return width * height"])
    result = suggester.suggest(SOURCE, 2, 4)
    assert result.offered, result.reason
    assert result.offers[0].at_cursor
    assert holder["runtime"].prompts[0].endswith('"""Area of a rectangle."""\n<|diff|>@@ -2,0 +3')


def test_insertion_elsewhere_is_a_next_edit_not_ghost_text(gate):
    # The anchored first sample adds a lint error at the cursor; the second, free, sample proposes
    # an edit at the top of the file.
    source = "def root(x):\n    return math.sqrt(x)\n"
    suggester, holder = make(gate, [" @@\n+    return y", "@@ -0,0 +1 @@\n+import math"], lint_gate=True)
    result = suggester.suggest(source, 1, len("    return math.sqrt(x)"))
    assert result.offered, result.reason
    assert not result.offers[0].at_cursor
    assert result.offers[0].new_text == "import math\ndef root(x):\n    return math.sqrt(x)\n"
    first, second = holder["runtime"].prompts
    assert first.endswith("<|diff|>@@ -2,0 +3") and second.endswith("<|diff|>")


def test_repeated_lines_are_dropped():
    suggester, _ = make(None, ["@@ -2,0 +3 @@\n+def area(width, height):"], lint_gate=False)
    result = suggester.suggest(SOURCE, 2, 4)
    assert not result.offered and result.skip is Skip.REJECTED
    assert [c.repeated_hunks for c in result.outcome.candidates] == [1]
    suggester.gate.close()


def test_a_suggestion_that_writes_the_function_anew_is_cut_to_what_is_new(gate):
    # a small model often restarts the function it is inside: its def and docstring again
    edit = ('@@ -2,0 +3,4 @@\n+def area(width, height):\n+    """Area of a rectangle."""\n'
            "+    result = width * height\n+    return result")
    suggester, _ = make(gate, [edit])
    partials = []
    result = suggester.suggest(SOURCE, 2, 4, on_partial=partials.append)
    assert result.offered, result.reason
    assert result.offers[0].edits == [DocumentEdit(2, 0, 4, "    result = width * height\n    return result")]
    (first,) = partials  # the first line shown is the first new one, not the def again
    assert first.offers[0].edits == [DocumentEdit(2, 0, 4, "    result = width * height")]


def test_model_closing_the_sequence_means_nothing_to_add():
    suggester, _ = make(None, [""], lint_gate=False)
    result = suggester.suggest(SOURCE, 2, 4)
    assert not result.offered and result.skip is Skip.MODEL_ENDED


def test_cancelled_request_reports_cancelled():
    suggester, _ = make(None, ["@@ -2,0 +3 @@\n+    pass"], lint_gate=False)
    cancel = threading.Event()
    cancel.set()
    result = suggester.suggest(SOURCE, 2, 4, cancel)
    assert result.skip is Skip.CANCELLED and result.reason == "cancelled"


def test_huge_file_is_refused_with_a_reason():
    suggester, _ = make(None, [], max_file_bytes=1000)
    result = suggester.suggest("x = 1\n" * 1000, 10, 0)
    assert not result.offered and result.skip is Skip.FILE_TOO_LARGE
    assert "maxFileBytes" in result.reason  # the user is told which option to change


def test_window_is_bounded_by_the_context_and_aligned():
    suggester, holder = make(None, [""], lint_gate=False, context_size=256, max_tokens=32)
    source = "".join(f"value_{i} = {i}\n" for i in range(400))
    result = suggester.suggest(source, 399, 0)
    start, end = result.window
    assert end == 400 and 0 < start < 399 and start % 32 == 0
    assert holder["runtime"].count_tokens(holder["runtime"].prompts[0]) <= 256 - 32


BLOCK = SOURCE.replace('"""Area of a rectangle."""', '"""Sum of the values."""').replace(
    "area(width, height)", "total(values)")


def test_the_first_lines_that_pass_the_gate_come_first_then_the_whole_edit(gate):
    # "for value in values:" alone is a syntax error (no body): the first answer waits for its body
    edit = "@@ -2,0 +3,3 @@\n+    result = 0\n+    for value in values:\n+        result += value"
    suggester, _ = make(gate, [edit])
    partials = []
    result = suggester.suggest(BLOCK, 2, 4, on_partial=partials.append)
    (first,) = partials
    assert first.partial and first.offers[0].at_cursor
    assert first.offers[0].edits == [DocumentEdit(2, 0, 4, "    result = 0")]
    assert result.offered and not result.partial
    assert result.offers[0].edits[0].text == "    result = 0\n    for value in values:\n        result += value"


def test_a_block_header_is_offered_with_its_first_body_line(gate):
    edit = "@@ -2,0 +3,3 @@\n+    for value in values:\n+        print(value)\n+    return None"
    suggester, _ = make(gate, [edit])
    partials = []
    suggester.suggest(BLOCK, 2, 4, on_partial=partials.append)
    assert partials[0].offers[0].edits[0].text == "    for value in values:\n        print(value)"


class SlowFirstJudgement:
    """The real gate, whose first judgement waits until decoding has streamed the whole reply."""

    def __init__(self, gate, decoded: threading.Event) -> None:
        self.gate, self.decoded, self.waited = gate, decoded, None

    def check(self, *args, **kwargs):
        return self.gate.check(*args, **kwargs)

    def judge(self, before, after):
        if self.waited is None:
            self.waited = self.decoded.wait(10)
        return self.gate.judge(before, after)


def test_decoding_goes_on_while_the_first_lines_are_judged_where_a_core_is_free(gate, monkeypatch):
    monkeypatch.setattr(complete, "judge_beside_decoding", lambda runtime: True)
    edit = "@@ -2,0 +3,2 @@\n+    result = sum(values)\n+    return result"
    decoded = threading.Event()
    slow = SlowFirstJudgement(gate, decoded)

    def factory(spec):
        runtime = ScriptedRuntime(spec, [edit])
        generate = runtime.generate

        def generate_then_tell(*args, **kwargs):
            generation = generate(*args, **kwargs)
            decoded.set()
            return generation

        runtime.generate = generate_then_tell
        return runtime

    options = Options()
    suggester = Suggester(options, Models(options, factory, slow))
    partials = []
    result = suggester.suggest(BLOCK, 2, 4, on_partial=partials.append)
    assert slow.waited  # the first line's judgement did not hold decoding up
    (first,) = partials  # and what it offered is still the first line alone, before the whole edit
    assert first.offers[0].edits == [DocumentEdit(2, 0, 4, "    result = sum(values)")]
    assert result.offered and result.offers[0].edits[0].text == "    result = sum(values)\n    return result"


def test_the_first_lines_are_judged_beside_decoding_only_where_a_core_is_left(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(complete.os, "cpu_count", lambda: 2)
    assert not complete.judge_beside_decoding(SimpleNamespace(last_threads=2))
    assert complete.judge_beside_decoding(SimpleNamespace(last_threads=1))  # another process has a core
    assert complete.judge_beside_decoding(SimpleNamespace())  # remote: no local threads at all


class RecordingGate:
    """The real gate, noting how much of the reply decoding had streamed at each judgement."""

    def __init__(self, gate, streamed: list[str]) -> None:
        self.gate, self.streamed, self.seen = gate, streamed, []

    def check(self, *args, **kwargs):
        return self.gate.check(*args, **kwargs)

    def judge(self, before, after):
        self.seen.append(self.streamed[-1])
        return self.gate.judge(before, after)


def test_where_the_model_takes_every_core_decoding_waits_for_the_first_lines_judgement(gate, monkeypatch):
    monkeypatch.setattr(complete, "judge_beside_decoding", lambda runtime: False)
    edit = "@@ -2,0 +3,2 @@\n+    result = sum(values)\n+    return result"
    streamed: list[str] = []

    def factory(spec):
        runtime = ScriptedRuntime(spec, [edit])
        generate = runtime.generate

        def generate_recording(*args, on_text=None, **kwargs):
            def record(text):
                streamed.append(text)
                on_text(text)
            return generate(*args, on_text=record if on_text else None, **kwargs)

        runtime.generate = generate_recording
        return runtime

    options = Options()
    recording = RecordingGate(gate, streamed)
    suggester = Suggester(options, Models(options, factory, recording))
    partials = []
    result = suggester.suggest(BLOCK, 2, 4, on_partial=partials.append)
    # judged in the decoding loop, the moment the first line was complete, before more came
    assert recording.seen[0].endswith("+    result = sum(values)\n")
    (first,) = partials
    assert first.offers[0].edits == [DocumentEdit(2, 0, 4, "    result = sum(values)")]
    assert result.offered and result.offers[0].edits[0].text == "    result = sum(values)\n    return result"


def test_first_lines_first_can_be_turned_off(gate):
    suggester, _ = make(gate, ["@@ -2,0 +3 @@\n+    return sum(values)"], first_lines_first=False)
    partials = []
    assert suggester.suggest(BLOCK, 2, 4, on_partial=partials.append).offered and partials == []


def test_the_rest_of_an_edit_is_served_once_the_user_takes_a_prefix_of_it():
    base = "def f(x):\n    \n"
    edit = DocumentEdit(1, 0, 4, "    y = x\n    return y")
    accepted = "def f(x):\n    y = x\n"
    assert continuation(base, edit, accepted, 1, 9) == "\n    return y"
    assert continuation(base, edit, "def f(x):\n    y = \n", 1, 8) == "x\n    return y"  # typed
    assert continuation(base, edit, accepted, 1, 4) is None  # the cursor is elsewhere
    assert continuation(base, edit, "def f(x):\n    z = x\n", 1, 9) is None  # typed something else
    assert continuation("# new\n" + base, edit, "# new\n" + accepted, 2, 9) is None  # edited above
    suggester, _ = make(None, ["@@ -1,0 +2,2 @@\n+    y = x\n+    return y"], lint_gate=False)
    final = suggester.suggest(base, 1, 4)
    served = cached_completion(final, base, accepted, 1, 9)
    assert served.cached and served.offers[0].edits == [DocumentEdit(1, 9, 9, "\n    return y")]
    assert served.offers[0].new_text == final.offers[0].new_text
    assert cached_completion(final, base, final.offers[0].new_text, 2, 12) is None  # all taken


LONG_SOURCE = "".join(f"value_{i} = {i}\n" for i in range(400))  # past the fake's 2048 tokens


def make_caching(gate, **options):
    runtimes = {}

    def factory(spec):
        runtimes[spec.n_ctx] = CachingRuntime(spec, None, "total = value_1 + value_2")
        return runtimes[spec.n_ctx]

    opts = Options(**options)
    return Suggester(opts, Models(opts, factory, gate)), runtimes


def test_a_cold_window_is_answered_from_the_short_one_and_warmed_for_the_next(gate):
    suggester, runtimes = make_caching(gate)
    first = suggester.suggest(LONG_SOURCE, 400, 0)
    assert first.offered and first.quick, first.reason
    main, quick = runtimes[2048], runtimes[512]
    assert (len(main.prompts), len(quick.prompts)) == (0, 1)
    assert first.window[0] > 300  # the short window: the lines just above the cursor
    assert first.offers[0].new_text.endswith("value_399 = 399\ntotal = value_1 + value_2")

    assert suggester.completer.warm()  # the server calls it when the model thread is idle
    second = suggester.suggest(LONG_SOURCE, 400, 0)
    assert second.offered and not second.quick
    assert len(main.prompts) == 1 and main.prompts[0].startswith(main.prefilled[0])
    assert second.window[0] < first.window[0]


def test_a_stopped_warm_up_leaves_the_next_request_on_the_short_window(gate):
    suggester, runtimes = make_caching(gate)
    suggester.suggest(LONG_SOURCE, 400, 0)
    stop = threading.Event()
    stop.set()
    assert not suggester.completer.warm(stop)
    assert suggester.suggest(LONG_SOURCE, 400, 0).quick
    assert runtimes[2048].prompts == []


def test_a_file_that_fits_the_short_window_and_the_option_off_use_the_main_one(gate):
    suggester, runtimes = make_caching(gate)
    short = "".join(f"value_{i} = {i}\n" for i in range(20))
    assert not suggester.suggest(short, 20, 0).quick
    assert len(runtimes[2048].prompts) == 1

    suggester, runtimes = make_caching(gate, quick_window=False)
    result = suggester.suggest(LONG_SOURCE, 400, 0)
    assert result.offered and not result.quick
    assert 512 not in runtimes and len(runtimes[2048].prompts) == 1
