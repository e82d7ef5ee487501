"""LintSeq backward sampling: a program becomes a sequence of lint-clean, insertion-only edits.

Our implementation of the algorithm in ../shared/notes/lintseq.md (Piterbarg et al. 2024):

1. Pick a random candidate line: code lines only (never comments, blank lines or the inside of a
   multi-line string), with weight 1 at indent 0 and ``indent / unit`` deeper in (``unit`` is the
   program's indentation width, 4 after normalisation).
2. Delete it with its indented block, lint what remains with ``editseq.lintgate.Linter`` (pylint
   with LintSeq's rules), add every line that now has an error, with its block, to the deletion,
   and lint again until clean. For E0001 (syntax error) the line is the one the message names
   ("... on line N"), as in the reference code. What was deleted is one edit.
3. Repeat on what remains until no candidate is left. Comments and blank lines never deleted
   appear in the first insertion.
4. Reverse the states (empty -> full program) and write each step with
   ``editseq.editformat.edit_text``.

A line of a multi-line string literal goes with the line that opens it. Everything is
deterministic given the seed (``random.Random(seed)``). Lint results are cached per program, so
sampling several sequences of one program re-lints only states not seen before.

Indices: ``rows`` are 0-based positions in the original program; pylint's lines are 1-based
positions in the state being linted.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field

from editseq.editformat import apply_edit, edit_text, state_edits
from editseq.lintgate import Linter, LintMessage
from editseq.model.sources import string_rows

_ON_LINE = re.compile(r"on line (\d+)")


class Unreducible(Exception):
    """The program cannot be taken apart into lint-clean states (the reason is the message)."""


@dataclass(frozen=True)
class Sample:
    """One edit sequence: ``states[i]`` is the program after ``edits[i]`` (from the empty file)."""

    seed: int
    states: tuple[tuple[str, ...], ...]
    edits: tuple[str, ...]


@dataclass
class Stats:
    lint_calls: int = 0
    cache_hits: int = 0
    exact_fallbacks: int = 0  # edits difflib wrote with deletions, rewritten as pure insertions


@dataclass
class _Parsed:
    lines: list[str]
    code: list[bool]  # candidate: a non-blank, non-comment line that starts outside a string
    owner: list[int]  # the row opening the multi-line string a row continues, else the row itself
    indent: list[int]
    weight: list[float]
    attached: dict[int, list[int]] = field(default_factory=dict)  # owner -> rows it carries


def parse(program: str) -> _Parsed:
    """Rows, candidates, string ownership and sampling weights of a normalised program."""
    lines = program.split("\n")
    owner = list(range(len(lines)))
    attached: dict[int, list[int]] = {}
    for first, last in string_rows(program):
        for row in range(first + 1, last + 1):
            if owner[row] == row:
                owner[row] = first
                attached.setdefault(first, []).append(row)
    indent = [len(line) - len(line.lstrip(" ")) for line in lines]
    code = [
        owner[i] == i and bool(line.strip()) and not line.lstrip().startswith("#")
        for i, line in enumerate(lines)
    ]
    unit = next((w for w, c in zip(indent, code) if c and w > 0), 4)
    weight = [(1.0 if w == 0 else w / unit) if c else 0.0 for w, c in zip(indent, code)]
    return _Parsed(lines, code, owner, indent, weight, attached)


class LintSeq:
    """Backward sampler with a warm linter and a per-program lint cache."""

    def __init__(
        self,
        linter: Linter | None = None,
        max_lint_calls: int | None = None,
        time_budget_s: float = 300.0,
    ) -> None:
        self.linter = linter or Linter()
        self.max_lint_calls = max_lint_calls  # per sample; default 4 * lines + 20
        self.time_budget_s = time_budget_s  # per call of samples()
        self.stats = Stats()
        self._cache: dict[tuple[int, ...], list[LintMessage]] = {}
        self._cache_program: str | None = None
        self._deadline = float("inf")

    # -- public -------------------------------------------------------------------------------

    def lint(self, program: str) -> list[LintMessage]:
        self.stats.lint_calls += 1
        return self.linter.messages(program + "\n")

    def samples(self, program: str, n: int, seeds: list[int]) -> list[Sample]:
        """Up to ``n`` distinct sequences, trying ``seeds`` in order (duplicates are skipped)."""
        self._deadline = time.monotonic() + self.time_budget_s
        out: list[Sample] = []
        seen: set[tuple[str, ...]] = set()
        for seed in seeds:
            if len(out) >= n:
                break
            sample = self.sample(program, seed, _keep_deadline=True)
            if sample.edits not in seen:
                seen.add(sample.edits)
                out.append(sample)
        return out

    def sample(self, program: str, seed: int, _keep_deadline: bool = False) -> Sample:
        """One edit sequence for ``program`` (normalised, lint-clean), reproducible from ``seed``."""
        if not _keep_deadline:
            self._deadline = time.monotonic() + self.time_budget_s
        parsed = self._parsed(program)
        rng = random.Random(seed)
        alive = list(range(len(parsed.lines)))
        backward = [alive]
        budget = self.max_lint_calls or 4 * len(parsed.lines) + 20
        calls = 0
        while True:
            candidates = [row for row in alive if parsed.code[row]]
            if not candidates:
                break
            pick = rng.choices(candidates, weights=[parsed.weight[r] for r in candidates])[0]
            deleted: set[int] = set()
            targets = [pick]
            while True:
                for target in targets:
                    if target not in deleted:  # an earlier target's block may hold it
                        deleted |= _block(parsed, [r for r in alive if r not in deleted], target)
                remaining = [r for r in alive if r not in deleted]
                if not any(parsed.code[r] for r in remaining):
                    break  # only comments and blank lines left: clean by construction
                calls += 1
                if calls > budget:
                    raise Unreducible(f"more than {budget} lint calls")
                if time.monotonic() > self._deadline:
                    raise Unreducible(f"over the time budget of {self.time_budget_s:g} s")
                messages = self._lint_state(parsed, remaining)
                if not messages:
                    break
                targets = sorted({_error_row(parsed, remaining, m) for m in messages})
            alive = remaining
            backward.append(alive)
        if len(backward) < 2:
            raise Unreducible("no code lines")
        forward = [tuple(parsed.lines[r] for r in state) for state in reversed(backward[:-1])]
        edits = []
        previous: tuple[str, ...] = ()
        previous_rows: list[int] = []
        for rows, state in zip(reversed(backward[:-1]), forward):
            edits.append(self._insertion(previous, state, previous_rows, list(rows), parsed))
            previous, previous_rows = state, list(rows)
        return Sample(seed, tuple(forward), tuple(edits))

    # -- internals ----------------------------------------------------------------------------

    def _parsed(self, program: str) -> _Parsed:
        if program != self._cache_program:
            self._cache = {}
            self._cache_program = program
            self._parsed_program = parse(program)
        return self._parsed_program

    def _lint_state(self, parsed: _Parsed, rows: list[int]) -> list[LintMessage]:
        key = tuple(rows)
        if key in self._cache:
            self.stats.cache_hits += 1
            return self._cache[key]
        messages = self.lint("\n".join(parsed.lines[r] for r in rows))
        self._cache[key] = messages
        return messages

    def _insertion(
        self,
        before: tuple[str, ...],
        after: tuple[str, ...],
        before_rows: list[int],
        after_rows: list[int],
        parsed: _Parsed,
    ) -> str:
        """The edit ``before`` -> ``after`` as editformat writes it, insertion-only for certain.

        A diff that is not purely insertions rebuilding ``after`` (difflib can align repeated
        lines so that it deletes and re-inserts) is written from the known row sets instead.
        """
        text = edit_text(list(before), list(after))
        rows = text.split("\n")
        insert_only = all(
            row.startswith("+") or (row.startswith("@@ -") and ",0 +" in row) for row in rows
        )
        if insert_only and apply_edit(list(before), text, strict=True) == (list(after), 0):
            return text
        self.stats.exact_fallbacks += 1
        return insertion_edit(before_rows, after_rows, parsed.lines)


def insertion_edit(before_rows: list[int], after_rows: list[int], lines: list[str]) -> str:
    """Zero-context insertion hunks turning rows ``before_rows`` into ``after_rows`` (a superset),
    with the headers ``difflib.unified_diff(n=0)`` would write."""
    kept = set(before_rows)
    hunks = []
    seen_before = 0
    position = 0
    while position < len(after_rows):
        if after_rows[position] in kept:
            seen_before += 1
            position += 1
            continue
        start = position
        while position < len(after_rows) and after_rows[position] not in kept:
            position += 1
        length = position - start
        new = f"{start + 1}" if length == 1 else f"{start + 1},{length}"
        hunks.append(f"@@ -{seen_before},0 +{new} @@")
        hunks.extend("+" + lines[r] for r in after_rows[start:position])
    return "\n".join(hunks)


def _block(parsed: _Parsed, state: list[int], target: int) -> set[int]:
    """``target`` with its indented block within ``state``, and the string rows they carry.

    The block runs over the following rows that are indented deeper than ``target``; blank and
    comment rows inside it belong to it, those after its last deeper row do not.
    """
    block = {target}
    base = parsed.indent[target]
    pending: list[int] = []
    for row in state[state.index(target) + 1 :]:
        if parsed.owner[row] != row:  # inside a string: goes with the row that opened it
            if parsed.owner[row] in block:
                block.add(row)
            continue
        line = parsed.lines[row]
        blank_or_comment = not line.strip() or line.lstrip().startswith("#")
        if parsed.indent[row] > base and line.strip():
            block.update(pending)
            pending = []
            block.add(row)
        elif blank_or_comment:
            pending.append(row)
        else:
            break
    for row in sorted(block):
        block.update(parsed.attached.get(row, ()))
    return block


def _error_row(parsed: _Parsed, state: list[int], message: LintMessage) -> int:
    """The row of ``state`` a lint message blames: a code row, found from the message's line."""
    line = message.line
    if message.msg_id == "E0001":
        named = _ON_LINE.search(message.message)
        if named:
            line = int(named.group(1))
    position = min(max(line - 1, 0), len(state) - 1)
    row = parsed.owner[state[position]]
    if parsed.code[row]:
        return row
    for candidate in reversed(state[:position]):  # past the end of a block: the header above
        if parsed.code[candidate]:
            return candidate
    for candidate in state[position:]:
        if parsed.code[candidate]:
            return candidate
    raise Unreducible(f"{message.msg_id} on a state without code")


def continuation(sample: Sample, k: int) -> list[str]:
    """Edits of an editor-shaped example: the state after ``k`` edits written the way the server's
    prompt writes a buffer (``editformat.state_edits``: insertions of 8 lines, top to bottom, then
    one per line; one insertion for short states), then the remaining edits."""
    if not 1 <= k < len(sample.edits):
        raise ValueError(f"k must be in 1..{len(sample.edits) - 1}, got {k}")
    return [*state_edits(list(sample.states[k - 1])), *sample.edits[k:]]
