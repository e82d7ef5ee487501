"""The LintSeq text format: the one place that knows how edit sequences are written as text.

Used by the data pipeline (editseq.model), the evaluation harness and the server alike.
A sequence reads (see ../shared/notes/lintseq.md)::

    {instruction}
    <|diff|>@@ -0,0 +1,2 @@
    +def f(x):
    +    return x
    <|diff|>@@ -1,0 +2 @@
    +    # done
    <|diff|>
    <|diff|>{eos}

``"\\n<|diff|>"`` precedes every edit; two empty edits close the sequence. An edit is one or more
zero-context hunks ``@@ -a,b +c,d @@``: LintSeq's insertions (``+line`` rows only), and for repair
replacements (``-line`` rows that must match the state, then ``+line`` rows)::

    <|diff|>@@ -3 +3 @@
    -    return a - b
    +    return a + b

Line numbers in hunk headers are 1-based, as in any unified diff; everything else in this module
is 0-based. Placing a hunk (``place_hunks``) accepts replacements only when asked: a completion
can only insert, a repair may replace.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

DIFF_SEP = "\n<|diff|>"
CLOSE = DIFF_SEP + DIFF_SEP  # two empty edits end a sequence
GENERIC_INSTRUCTION = "Write the next part of this Python program."

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Hunk:
    """One hunk: ``lines`` become lines ``new_start``.. (1-based) of the state after it; a
    replacement first removes ``removed``, lines ``old_start``.. (1-based) of the state before it."""

    new_start: int
    lines: tuple[str, ...]
    removed: tuple[str, ...] = ()
    old_start: int = 0


@dataclass(frozen=True)
class Insertion:
    """A hunk placed in the state it edits: ``lines`` go before line ``before_line`` (0-based),
    in place of the ``removed`` lines that start there (none for an insertion).

    ``before_line == len(state)`` means appending at the end.
    """

    before_line: int
    lines: tuple[str, ...]
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedEdit:
    hunks: tuple[Hunk, ...]
    malformed: int  # hunks skipped because they were not well-formed insertions


def edit_text(before: list[str], after: list[str]) -> str:
    """The edit (zero-context unified diff without file headers) turning ``before`` into ``after``.

    ``before`` must be a subsequence of ``after``. difflib's diff is used, as in the paper, unless
    repeated lines lead it to a delete-and-insert; then the leftmost alignment gives pure insertions.
    """
    rows = [r for r in difflib.unified_diff(before, after, n=0, lineterm="") if not r.startswith(("---", "+++"))]
    if any(r.startswith("-") for r in rows):
        rows = _insertion_rows(before, after)
    return "\n".join(rows)


def _insertion_rows(before: list[str], after: list[str]) -> list[str]:
    """Insertion-only hunks from the leftmost alignment of ``before`` inside ``after``."""
    rows: list[str] = []
    matched = 0
    run: list[int] = []

    def flush() -> None:
        if run:
            length = len(run)
            new = f"{run[0] + 1}" if length == 1 else f"{run[0] + 1},{length}"
            rows.append(f"@@ -{matched},0 +{new} @@")
            rows.extend("+" + after[j] for j in run)
            run.clear()

    for j, line in enumerate(after):
        if matched < len(before) and line == before[matched]:
            flush()
            matched += 1
        else:
            run.append(j)
    flush()
    if matched != len(before):
        raise ValueError("edit_text: the earlier state is not a subsequence of the later one")
    return rows


def replacement_text(before: list[str], after: list[str]) -> str:
    """The edit turning ``before`` into ``after`` with zero-context hunks that may remove lines
    (difflib's, as ``edit_text``'s); "" when they are equal."""
    rows = difflib.unified_diff(before, after, n=0, lineterm="")
    return "\n".join(r for r in rows if not r.startswith(("---", "+++")))


def render_sequence(instruction: str, edits: list[str], eos: str = "") -> str:
    """The training text for ``instruction`` followed by ``edits``, closed by two empty edits."""
    return instruction + "".join(DIFF_SEP + e for e in edits) + DIFF_SEP + DIFF_SEP + eos


def render_states(instruction: str, states: list[list[str]], eos: str = "") -> str:
    """Like render_sequence, from successive program states (the first edit starts from empty)."""
    edits, previous = [], []
    for state in states:
        text = edit_text(previous, state)
        if text:
            edits.append(text)
        previous = state
    return render_sequence(instruction, edits, eos)


STATE_BLOCK = 8  # lines per edit when a buffer enters a prompt as the state written so far


def state_edits(state: list[str], block: int = STATE_BLOCK) -> list[str]:
    """The state as edits that append lines top to bottom: ``block`` lines each, then the lines
    after the last full block one edit each (a state shorter than a block is one edit).

    A single hunk would carry the line count in its header, which changes whenever the buffer
    grows and so would invalidate the KV cache from the top; fixed blocks keep all but the end
    fixed, and one-line edits at the end mean that typing a line re-prefills that line only, not
    the lines typed before it in the same block (bench/latency.py, re-prefilled tokens).
    """
    if len(state) <= block:
        return [edit_text([], state)] if state else []
    full = len(state) - len(state) % block
    starts = [*range(0, full, block), *range(full, len(state))]
    return [edit_text(state[:start], state[:end]) for start, end in zip(starts, [*starts[1:], len(state)])]


def build_prompt(instruction: str, state: list[str]) -> str:
    """Prompt asking for the next edit after ``state`` (the buffer written so far).

    The state enters as insertions already made (``state_edits``), so the model continues with
    the next diff. Growing the buffer at its end changes only the last block of the prompt.
    """
    return instruction.rstrip("\n") + "".join(DIFF_SEP + e for e in state_edits(state)) + DIFF_SEP


def cursor_anchor(before_line: int) -> str:
    """The start of a hunk header inserting before ``before_line`` (0-based) of the state; the
    line count (``,3 @@`` or `` @@``) is left to the model."""
    return f"@@ -{before_line},0 +{before_line + 1}"


# Estimates of what a state costs in a prompt, used to choose a window before the exact count.
LINE_EXTRA_TOKENS = 3  # per state line: merges at line boundaries and a share of its block header
PROMPT_EXTRA_TOKENS = 24  # separators after the instruction and the cursor anchor


class StateTokens:
    """Estimated prompt tokens of state lines for one tokenizer, cached by line text."""

    def __init__(self, count_tokens: Callable[[str], int], cache_size: int = 50_000) -> None:
        self._count = count_tokens
        self._cache: dict[str, int] = {}
        self._cache_size = cache_size

    def line(self, line: str) -> int:
        cached = self._cache.get(line)
        if cached is None:
            cached = self._count("\n+" + line) + LINE_EXTRA_TOKENS  # as the line stands in a hunk
            if len(self._cache) > self._cache_size:
                self._cache.clear()
            self._cache[line] = cached
        return cached


def split_edits(generated: str) -> tuple[list[str], bool]:
    """Split generated text (following a prompt that ends with DIFF_SEP) into edits.

    Returns the non-empty edits before the sequence closes, and whether it closed (an empty edit).
    """
    edits = []
    for chunk in generated.split(DIFF_SEP):
        if not chunk.strip():
            return edits, True
        edits.append(chunk.strip("\n"))
    return edits, False


def parse_edit(text: str, strict: bool = False) -> ParsedEdit:
    """Parse one edit into hunks, skipping (and counting) malformed ones.

    Model output is read leniently: a header's ``+c`` places the hunk and its ``+`` rows are the
    lines, whatever count the header declares (small models miscount). ``strict`` (for data we
    render ourselves) also requires the counts to agree, as validated by unidiff.
    """
    hunks: list[Hunk] = []
    malformed = 0
    for chunk in _hunk_chunks(text):
        hunk = _parse_hunk_strict(chunk) if strict else _parse_hunk_lenient(chunk)
        if hunk is None:
            malformed += 1
        else:
            hunks.append(hunk)
    return ParsedEdit(tuple(hunks), malformed)


def _hunk_chunks(text: str) -> list[str]:
    chunks: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith("@@") or not chunks:
            chunks.append([line])
        else:
            chunks[-1].append(line)
    return ["\n".join(c) for c in chunks if any(s.strip() for s in c)]


def _body(chunk: str) -> tuple[re.Match | None, list[str]]:
    lines = chunk.split("\n")
    while lines and lines[-1] == "":  # a trailing newline is not an inserted empty line
        lines.pop()
    return _HUNK_HEADER.match(lines[0]), lines[1:]


def _parse_hunk_lenient(chunk: str) -> Hunk | None:
    header, body = _body(chunk)
    if header is None or not body:
        return None
    removed = [row[1:] for row in body if row.startswith("-")]
    added = [row[1:] for row in body[len(removed):]]
    if any(not row.startswith("+") for row in body[len(removed):]):
        return None  # a hunk is its - rows, then its + rows; nothing else
    return Hunk(int(header.group(2)), tuple(added), tuple(removed), int(header.group(1)))


def _parse_hunk_strict(chunk: str) -> Hunk | None:
    """A well-formed hunk (- rows, then + rows), validated by unidiff, or None."""
    header, body = _body(chunk)
    if header is None or not body:
        return None
    try:
        patch = PatchSet("--- a\n+++ b\n" + chunk.rstrip("\n") + "\n")
    except UnidiffParseError:
        return None
    if len(patch) != 1 or len(patch[0]) != 1:
        return None
    parsed = patch[0][0]
    rows = list(parsed)
    removed = [row.value.rstrip("\n") for row in rows if row.is_removed]
    if any(row.is_context for row in rows) or any(not row.is_removed for row in rows[: len(removed)]):
        return None
    added = tuple(row.value.rstrip("\n") for row in rows[len(removed):])
    return Hunk(parsed.target_start, added, tuple(removed), parsed.source_start)


def place_hunks(state: list[str], hunks: tuple[Hunk, ...] | list[Hunk],
                replacements: bool = False) -> tuple[list[Insertion], int]:
    """Map an edit's hunks to positions in ``state``; hunks pointing outside it, overlapping an
    earlier hunk, or (``replacements``) whose ``-`` rows are not the state's lines there are
    dropped; without ``replacements`` every hunk that removes lines is.

    An insertion's header is read by its ``+c`` (small models miscount ``-a``): hunks of one edit
    are numbered in the coordinates of the state after it, so its index in the original state is
    ``new_start - 1`` minus the lines the hunks before it added (net of what they removed). A
    replacement is read by its ``-a``, which names the lines it removes in the original state.
    """
    placed: list[Insertion] = []
    shift = 0  # lines added minus lines removed by the hunks placed so far
    skipped = 0
    for hunk in hunks:
        if hunk.removed:
            before_line = hunk.old_start - 1
            fits = replacements and state[before_line : before_line + len(hunk.removed)] == list(hunk.removed)
        else:
            before_line = hunk.new_start - 1 - shift
            fits = True
        last = placed[-1].before_line + len(placed[-1].removed) if placed else 0
        if not fits or not last <= before_line <= len(state):
            skipped += 1
            continue
        placed.append(Insertion(before_line, hunk.lines, hunk.removed))
        shift += len(hunk.lines) - len(hunk.removed)
    return placed, skipped


def apply_insertions(state: list[str], insertions: list[Insertion]) -> list[str]:
    """The state after every insertion (and replacement; positions refer to ``state``)."""
    result = list(state)
    for insertion in sorted(insertions, key=lambda i: i.before_line, reverse=True):
        start = insertion.before_line
        result[start : start + len(insertion.removed)] = insertion.lines
    return result


def apply_edit(state: list[str], text: str, strict: bool = False,
               replacements: bool = False) -> tuple[list[str], int]:
    """Apply one edit; returns the new state and the number of hunks skipped."""
    parsed = parse_edit(text, strict)
    placed, skipped = place_hunks(state, parsed.hunks, replacements)
    return apply_insertions(state, placed), parsed.malformed + skipped


def decode_sequence(generated: str, state: list[str] | None = None, strict: bool = False,
                    replacements: bool = False) -> tuple[list[str], int]:
    """Rebuild a program from a generated sequence; returns its lines and hunks skipped."""
    lines = list(state or [])
    skipped_total = 0
    edits, _ = split_edits(generated)
    for edit in edits:
        lines, skipped = apply_edit(lines, edit, strict, replacements)
        skipped_total += skipped
    return lines, skipped_total


def instruction_for(lines: list[str], cursor_line: int) -> str:
    """The instruction a buffer implies at ``cursor_line`` (0-based).

    In order: the docstring of the innermost ``def``/``class`` enclosing the cursor, else the
    comment block right above that definition, else the module docstring, else a generic one.
    Works on text that does not parse (the buffer is mid-edit), by indentation alone.
    """
    cursor_line = min(cursor_line, len(lines) - 1)
    cursor_indent = _indent_at(lines, cursor_line)
    for row in range(cursor_line, -1, -1):
        stripped = lines[row].lstrip()
        if stripped.startswith(("def ", "async def ", "class ")) and (
            row == cursor_line or indent_width(lines[row]) < cursor_indent
        ):
            found = _docstring_at(lines, row + 1) or _comment_above(lines, row)
            if found:
                return found
            cursor_indent = indent_width(lines[row])
    return _docstring_at(lines, _first_code_row(lines)) or GENERIC_INSTRUCTION


def indent_width(line: str) -> int:
    """Columns of leading whitespace (a tab counts as one)."""
    return len(line) - len(line.lstrip())


def _indent_at(lines: list[str], row: int) -> int:
    """Indentation at ``row``; a blank cursor line counts as indented past its last code line."""
    for r in range(row, -1, -1):
        if lines[r].strip():
            return indent_width(lines[r]) + (1 if r != row else 0)
    return 0


def _first_code_row(lines: list[str]) -> int:
    for row, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            return row
    return len(lines)


def _docstring_at(lines: list[str], row: int) -> str | None:
    """The triple-quoted string starting at ``row`` (skipping blanks), cleaned, or None."""
    while row < len(lines) and not lines[row].strip():
        row += 1
    if row >= len(lines):
        return None
    first = lines[row].strip()
    match = re.match(r'^[rRuU]?("""|\'\'\')', first)
    if not match:
        return None
    quote = match.group(1)
    body = first[match.end() :]
    collected = []
    while quote not in body:
        collected.append(body)
        row += 1
        if row >= len(lines):
            return None  # unterminated: the user is still typing it
        body = lines[row].strip()
    collected.append(body[: body.index(quote)])
    text = "\n".join(collected).strip()
    return text or None


def _comment_above(lines: list[str], row: int) -> str | None:
    comments = []
    for r in range(row - 1, -1, -1):
        stripped = lines[r].strip()
        if not stripped.startswith("#"):
            break
        comments.append(stripped.lstrip("#").strip())
    text = "\n".join(reversed(comments)).strip()
    return text or None
