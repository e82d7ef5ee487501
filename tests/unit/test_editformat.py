"""The LintSeq text format: rendering, parsing, applying, and the instruction a buffer implies."""

from editseq import editformat as ef
from hypothesis import given, settings
from hypothesis import strategies as st

PROGRAM = ["import math", "", "def f(x):", "    y = math.sqrt(x)", "    return y"]


def test_render_then_decode_rebuilds_the_program():
    states = [["def f(x):", "    return y"], ["import math", "", "def f(x):", "    return y"], PROGRAM]
    text = ef.render_states("Compute a root.", states)
    assert text.startswith("Compute a root.\n<|diff|>@@ -0,0 +1,2 @@\n+def f(x):")
    assert text.endswith("\n<|diff|>\n<|diff|>")
    generated = text[len("Compute a root.") + len(ef.DIFF_SEP):]
    lines, skipped = ef.decode_sequence(generated)
    assert lines == PROGRAM and skipped == 0


@given(st.lists(st.lists(st.sampled_from(["a = 1", "b = a", "", "    pass", "# c"]), max_size=4), max_size=5))
@settings(max_examples=60, deadline=None)
def test_any_insertion_sequence_round_trips(chunks):
    """Growing a program by insertions at varied places, the rendered edits rebuild each state."""
    states, current = [], []
    for i, chunk in enumerate(chunks):
        at = (i * 7) % (len(current) + 1)
        current = current[:at] + chunk + current[at:]
        states.append(list(current))
    text = ef.render_states("x", states)
    lines, skipped = ef.decode_sequence(text[len("x") + len(ef.DIFF_SEP):])
    assert lines == current and skipped == 0


def test_malformed_hunks_are_skipped_and_counted():
    edit = "\n".join([
        "@@ -0,0 +1,2 @@", "+a = 1", "+b = 2",  # good
        "@@ -2,0 +3,2 @@", "+c = 3",  # declares 2 lines, has 1: a miscount
        "@@ -2,0 +4 @@", " context line",  # not an insertion
        "garbage",
    ])
    strict = ef.parse_edit(edit, strict=True)
    assert [h.lines for h in strict.hunks] == [("a = 1", "b = 2")]
    assert strict.malformed == 2
    lenient = ef.parse_edit(edit)  # model output: the + rows count, not the declared number
    assert [h.lines for h in lenient.hunks] == [("a = 1", "b = 2"), ("c = 3",)]
    assert lenient.malformed == 1


def test_hunks_outside_the_state_are_dropped():
    new_state, skipped = ef.apply_edit(["x = 1"], "@@ -5,0 +6 @@\n+y = 2")
    assert new_state == ["x = 1"] and skipped == 1


def test_place_hunks_maps_later_hunks_to_original_positions():
    state = ["a", "b"]
    edit = ef.edit_text(state, ["x", "a", "b", "y"])
    placed, skipped = ef.place_hunks(state, ef.parse_edit(edit).hunks)
    assert skipped == 0
    assert [(p.before_line, p.lines) for p in placed] == [(0, ("x",)), (2, ("y",))]
    assert ef.apply_insertions(state, placed) == ["x", "a", "b", "y"]


def test_prompt_states_enter_as_fixed_blocks_so_growing_keeps_the_prefix():
    long_state = [f"v{i} = {i}" for i in range(20)]
    short = ef.build_prompt("Do it.", long_state[:17])
    long = ef.build_prompt("Do it.", long_state)
    assert long.startswith(short)  # lines after the last full block are one edit each
    for typed in range(9, 20):  # typing one more line only appends, but where a block fills up
        before, after = ef.build_prompt("Do it.", long_state[:typed - 1]), ef.build_prompt("Do it.", long_state[:typed])
        assert after.startswith(before) == (typed % ef.STATE_BLOCK != 0), typed
    assert long.startswith(short[: short.index("@@ -16,0")])  # a full block stays when it fills
    assert len(ef.state_edits(long_state)) == 2 + 4 and len(ef.state_edits(long_state[:8])) == 1
    assert ef.state_edits(long_state[:5]) == [ef.edit_text([], long_state[:5])]  # short: one edit
    assert ef.decode_sequence(long[len("Do it.") + len(ef.DIFF_SEP):])[0] == long_state
    assert ef.build_prompt("Do it.", []) == "Do it.\n<|diff|>"


def test_repeated_lines_still_give_insertion_only_edits():
    before, after = ["b = a"], ["a = 1", "b = a", "b = a", "a = 1", "b = a"]
    text = ef.edit_text(before, after)
    assert not any(row.startswith("-") for row in text.split("\n"))
    assert ef.apply_edit(before, text) == (after, 0)


def test_split_edits_stops_at_the_closing_empty_edit():
    edits, closed = ef.split_edits("@@ -0,0 +1 @@\n+a = 1\n<|diff|>\n<|diff|>junk")
    assert edits == ["@@ -0,0 +1 @@\n+a = 1"] and closed


def test_instruction_comes_from_the_enclosing_docstring_then_comment_then_module():
    lines = [
        '"""Module tools."""',
        "# Add two numbers.",
        "def add(a, b):",
        "    return a + b",
        "x = 1",
        "def mul(a, b):",
        '    """Multiply a and b',
        '    exactly."""',
        "    ",
    ]
    assert ef.instruction_for(lines, 8) == "Multiply a and b\nexactly."
    assert ef.instruction_for(lines, 3) == "Add two numbers."
    assert ef.instruction_for(lines, 4) == "Module tools."
    assert ef.instruction_for(["x = 1"], 0) == ef.GENERIC_INSTRUCTION


def test_unterminated_docstring_does_not_count():
    assert ef.instruction_for(["def f():", '    """Still typing'], 1) == ef.GENERIC_INSTRUCTION


BUGGY = ["def add(a, b):", "    total = a - b", "    return total"]
FIXED = ["def add(a, b):", "    total = a + b", "    return total"]


def test_a_replacement_hunk_fixes_a_line_when_replacements_are_allowed():
    edit = ef.replacement_text(BUGGY, FIXED)
    assert edit == "@@ -2 +2 @@\n-    total = a - b\n+    total = a + b"
    assert ef.apply_edit(BUGGY, edit, replacements=True) == (FIXED, 0)
    assert ef.apply_edit(BUGGY, edit, strict=True, replacements=True) == (FIXED, 0)


def test_replacements_are_dropped_unless_asked_for():
    """A completion can only insert: a hunk that removes lines is skipped and counted."""
    edit = ef.replacement_text(BUGGY, FIXED)
    assert ef.apply_edit(BUGGY, edit) == (BUGGY, 1)


def test_a_replacement_whose_minus_rows_do_not_match_the_state_is_dropped():
    edit = "@@ -2 +2 @@\n-    total = a * b\n+    total = a + b"
    assert ef.apply_edit(BUGGY, edit, replacements=True) == (BUGGY, 1)
    off_the_end = "@@ -9 +9 @@\n-    total = a - b\n+    total = a + b"
    assert ef.apply_edit(BUGGY, off_the_end, replacements=True) == (BUGGY, 1)


def test_deletions_and_insertions_mix_in_one_edit():
    before = ["def f(x):", "    if x:", "        x = -x", "    y = x", "    return x"]
    after = ["def f(x):", "    if x < 0:", "        x = -x", "    return x", "# done"]
    edit = ef.replacement_text(before, after)
    placed, skipped = ef.place_hunks(before, ef.parse_edit(edit).hunks, replacements=True)
    assert skipped == 0 and [p.removed for p in placed] == [("    if x:",), ("    y = x",), ()]
    assert ef.apply_insertions(before, placed) == after


@given(st.lists(st.sampled_from(["a = 1", "b = a", "", "    pass", "x += 1"]), max_size=8),
       st.lists(st.sampled_from(["a = 1", "b = a", "", "    pass", "y = 2"]), max_size=8))
@settings(max_examples=100, deadline=None)
def test_any_replacement_edit_round_trips(before, after):
    edit = ef.replacement_text(before, after)
    assert ef.apply_edit(before, edit, strict=True, replacements=True) == (after, 0)
