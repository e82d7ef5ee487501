"""Completions and next-edit suggestions for a buffer and cursor: the completion pipeline.

    request -> cursor -> window (the state already written, as much as the context holds)
            -> prompt -> candidates (checked decoding, the first anchored at the cursor)
            -> verdicts (the lint gate) -> offers

Each step is a function with typed inputs and outputs; ``Completer.complete`` calls them in
order. No LSP types and no llama calls: positions are 0-based lines and Python string indices
(the LSP layer converts them), and the text format is editformat's.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from . import editformat
from .decoding import EditOutcome, SamplingSettings, drop_repeats, next_edit, trim_repeats
from .editformat import Insertion, StateTokens
from .lintgate import LintGate, LintMessage, Verdict, detect_indent, unchecked_verdict
from .models import Models
from .options import Options
from .runtime import ContextOverflow, ModelRuntime

log = logging.getLogger(__name__)

WINDOW_ALIGN = 32  # the window's first line moves in steps of this many lines, to keep the KV cache
# A request goes to the quick runtime's short window (``Models.quick_edits``) when the main
# runtime would prefill more than this many tokens first (~0.45 s on 2 cores) and the short
# window costs less; the main window is then warmed (``Completer.warm``) while the user reads.
# Lower, it would also take the short window when the window's first line moves on (~100
# tokens to re-read), where the whole window's suggestion is worth the wait.
QUICK_SWITCH_TOKENS = 320
QUICK_WINDOW_ALIGN = 8  # a short window holds ~40 lines: it moves on in smaller steps
INSTRUCTION_SHARE = 8  # the instruction takes at most 1/8 of the context


class Skip(enum.StrEnum):
    """Why a request got no offer (the values travel in ``editseq/status``)."""

    FILE_TOO_LARGE = "fileTooLarge"
    CURSOR_OUTSIDE_FILE = "cursorOutsideFile"
    CONTEXT_FULL = "contextFull"  # the instruction alone fills the context
    CANCELLED = "cancelled"
    MODEL_ENDED = "modelEnded"  # the model closed the sequence: nothing to add here
    REJECTED = "rejected"  # every sample was malformed, a repeat, or added a lint error


@dataclass(frozen=True)
class Cursor:
    line: int
    character: int  # clamped to the line
    blank: bool  # the cursor's line holds only whitespace
    at_end: bool  # nothing but whitespace follows the cursor: an insertion there is ghost text


@dataclass(frozen=True)
class Window:
    """The document lines [start, end) the model sees, and the prompt made of them."""

    start: int
    end: int
    prompt: str
    anchor: str  # the forced start of the first sample's hunk ('' when the cursor is mid-line)


@dataclass(frozen=True)
class DocumentEdit:
    """Replace ``line``'s characters [start, end) with ``text`` (which may hold newlines)."""

    line: int
    start: int
    end: int
    text: str


@dataclass
class Offer:
    edits: list[DocumentEdit]  # in document positions, for a WorkspaceEdit
    new_text: str  # the whole document after the edits
    at_cursor: bool  # a single insertion at the cursor: can be shown as ghost text
    verdict: Verdict


@dataclass
class Completion:
    offers: list[Offer] = field(default_factory=list)
    skip: Skip | None = None  # None when something was offered
    reason: str = ""  # what was offered, or why nothing was, in words
    errors_before: list[LintMessage] = field(default_factory=list)
    errors_after: list[LintMessage] = field(default_factory=list)
    window: tuple[int, int] = (0, 0)  # document lines the model saw: [start, end)
    timings: dict[str, float] = field(default_factory=dict)
    outcome: EditOutcome | None = None
    partial: bool = False  # the first lines of the edit at the cursor; the rest is decoding
    cached: bool = False  # the rest of an earlier edit, served without a model call
    quick: bool = False  # decoded on the quick runtime's short window (the main one was cold)

    @property
    def offered(self) -> bool:
        return bool(self.offers)


# ----------------------------------------------------------------------------- the steps


def cursor_at(lines: list[str], line: int, character: int) -> Cursor:
    current = lines[line]
    character = max(0, min(character, len(current)))
    blank = not current.strip()
    return Cursor(line, character, blank, blank or not current[character:].strip())


def choose_window(runtime: ModelRuntime, tokens: StateTokens, lines: list[str], cursor: Cursor,
                  max_tokens: int, align: int = WINDOW_ALIGN) -> Window:
    """The lines above and at the cursor that fit the context with ``max_tokens`` to generate;
    the first line is aligned to ``align`` when trimmed, so it stays put while the user types
    and the KV cache is reused."""
    end = cursor.line if cursor.blank else cursor.line + 1
    instruction = capped_instruction(runtime, editformat.instruction_for(lines, cursor.line))
    budget = (runtime.spec.n_ctx - max_tokens - runtime.count_tokens(instruction)
              - editformat.PROMPT_EXTRA_TOKENS)
    start, total = end, 0
    while start > 0 and total + (cost := tokens.line(lines[start - 1])) <= budget:
        total += cost
        start -= 1
    if start > 0:
        start = min(end, -(-start // align) * align)

    def window(first: int) -> Window:
        anchor = editformat.cursor_anchor(end - first) if cursor.at_end else ""
        return Window(first, end, editformat.build_prompt(instruction, lines[first:end]), anchor)

    chosen = window(start)
    # the estimate leaves out block headers: check the real count, and trim further if needed
    while chosen.start < end and (runtime.count_tokens(chosen.prompt + chosen.anchor) + max_tokens
                                  > runtime.spec.n_ctx):
        chosen = window(min(end, (chosen.start // align + 1) * align))
    return chosen


def capped_instruction(runtime: ModelRuntime, instruction: str) -> str:
    """``instruction``'s first lines, as many as fit in an eighth of the context (a long module
    docstring would otherwise crowd out the code above the cursor; its summary comes first)."""
    cap = runtime.spec.n_ctx // INSTRUCTION_SHARE
    if runtime.count_tokens(instruction) <= cap:
        return instruction
    kept: list[str] = []
    for row in instruction.split("\n"):
        if kept and runtime.count_tokens("\n".join(kept + [row])) > cap:
            break
        kept.append(row)
    text = "\n".join(kept).rstrip()
    if runtime.count_tokens(text) > cap:  # one very long first line
        text = runtime.detokenize(runtime.tokenize(text)[:cap])
    return text


def document_edits(lines: list[str], window: Window, cursor: Cursor,
                   insertions: list[Insertion]) -> tuple[list[DocumentEdit], bool]:
    """Insertions into the window's state as document edits, and whether they are one insertion
    at the cursor (ghost text)."""
    edits: list[DocumentEdit] = []
    at_cursor = False
    for insertion in insertions:
        doc_line = window.start + insertion.before_line
        body = "\n".join(insertion.lines)
        if doc_line == window.end and cursor.at_end:
            at_cursor = len(insertions) == 1
            current = lines[cursor.line]
            if cursor.blank:  # the new lines take the place of the blank line the cursor is on
                edits.append(DocumentEdit(cursor.line, 0, len(current), body))
            else:
                edits.append(DocumentEdit(cursor.line, cursor.character, len(current), "\n" + body))
        elif doc_line < len(lines):
            edits.append(DocumentEdit(doc_line, 0, 0, body + "\n"))
        else:  # after the last line of a file without a final newline
            edits.append(DocumentEdit(len(lines) - 1, len(lines[-1]), len(lines[-1]), "\n" + body))
    return edits, at_cursor


def apply_document_edits(lines: list[str], edits: list[DocumentEdit]) -> str:
    """The document (given as lines) after the non-overlapping ``edits``."""
    result = list(lines)
    for edit in sorted(edits, key=lambda e: (e.line, e.start), reverse=True):
        row = result[edit.line]
        result[edit.line] = row[: edit.start] + edit.text + row[edit.end :]
    return "\n".join(result)


def lint_judge(gate: LintGate | None, text: str, new_text: Callable[[list[Insertion]], str]):
    """A decoding judge: the lint gate's verdict on the buffer after a candidate (or an
    unchecked pass when the gate is off)."""
    if gate is None:
        return lambda insertions: unchecked_verdict()
    return lambda insertions: gate.judge(text, new_text(insertions))


def offers_of(outcome: EditOutcome, lines: list[str], window: Window, cursor: Cursor) -> list[Offer]:
    offers = []
    for candidate in outcome.candidates:
        if candidate.accepted:
            edits, at_cursor = document_edits(lines, window, cursor, candidate.insertions)
            offers.append(Offer(edits, apply_document_edits(lines, edits), at_cursor,
                                candidate.verdict))
    return offers


# FIRST_LINES_NOTE: where the first lines are judged. bench/first_line.py (the pipeline
# in-process on bench/latency.py's typing), 2 idle cores (AMD EPYC), 2026-12-01, median ms to
# the first line offered, judged beside decoding / in the decoding loop: 1,000-line file 767 /
# 602, 300-line file 430 / 441 (bench/results/first-line-*-2026-12-01.json). Where the model's
# threads take every core, a pylint run beside them gets a fraction of one and slows the
# decoding too; so decoding waits for the judgement there, and goes on beside it otherwise.
def judge_beside_decoding(runtime) -> bool:
    """Whether the first lines are judged on a thread of their own while ``runtime`` decodes:
    only where its threads (those of its last request) leave a core free. A runtime without
    local threads (the remote backend) leaves them all."""
    cores = os.cpu_count() or 1
    return cores - getattr(runtime, "last_threads", 0) >= 1


class FirstLines:
    """Watches the anchored sample as it grows and hands ``on_partial`` its first complete lines
    at the cursor as soon as they pass the lint gate (one line, or more where one alone does
    not pass: ``for x in xs:`` needs its body). Called from decoding after every token. With
    ``judging``, the gate judges on its thread, one prefix after another, so decoding goes on
    meanwhile; without, in the decoding loop, which waits (FIRST_LINES_NOTE). ``settle`` after
    decoding finishes the prefixes seen, so what is offered is what judging in the decoding loop
    would offer."""

    def __init__(self, lines: list[str], window: Window, cursor: Cursor, judge,
                 on_partial: Callable[[Completion], None], started: float,
                 judging: Executor | None) -> None:
        self.lines, self.window, self.cursor, self.judge = lines, window, cursor, judge
        self.state = lines[window.start : window.end]
        self.on_partial, self.started, self.judging = on_partial, started, judging
        self.judged_rows = 0  # body rows judged so far (on the judging thread)
        self.done = False
        self._rows: list[str] = []  # the newest complete rows, header first
        self._lock = threading.Lock()
        self._pending: Future | None = None

    def __call__(self, generated: str) -> None:
        if self.done:
            return
        with self._lock:
            self._rows = (self.window.anchor + generated).split("\n")[:-1]  # the complete ones
            ready = len(self._rows) - 1 > self.judged_rows
            if ready and self.judging is not None and (self._pending is None or self._pending.done()):
                self._pending = self.judging.submit(self._judge_prefixes)
        if ready and self.judging is None:
            self._judge_prefixes()

    def settle(self, cancelled: bool = False) -> None:
        """Decoding ended: judge the prefixes not judged yet (on this thread, once the pending
        judgement is over); nothing more for a cancelled request."""
        if cancelled:
            self.done = True
            return
        if self._pending is not None:
            self._pending.result()
        self._judge_prefixes()

    def _judge_prefixes(self) -> None:
        try:
            while not self.done:
                with self._lock:
                    rows = self._rows[: self.judged_rows + 2]  # the header and one more body row
                if len(rows) - 1 <= self.judged_rows:
                    return  # judged all seen; the next token brings more
                self.judged_rows = len(rows) - 1
                self._judge(rows)
        except Exception:  # the whole edit is still judged when decoding ends
            self.done = True
            log.exception("judging the first lines failed")

    def _judge(self, rows: list[str]) -> None:
        body = rows[1:]
        if not all(row.startswith("+") for row in body):
            self.done = True  # not one plain insertion at the cursor: wait for the whole edit
            return
        placed, _ = editformat.place_hunks(self.state, editformat.parse_edit("\n".join(rows)).hunks)
        trimmed, _ = trim_repeats(self.state, placed)
        if placed and not trimmed:
            return  # so far only lines that stand above the cursor: perhaps with the next line
        kept, _ = drop_repeats(self.state, trimmed)
        if len(kept) != 1 or kept[0].before_line != len(self.state):
            self.done = True
            return
        verdict = self.judge(kept)
        if not verdict.offered:
            return  # perhaps with the next line
        self.done = True
        edits, at_cursor = document_edits(self.lines, self.window, self.cursor, kept)
        offer = Offer(edits, apply_document_edits(self.lines, edits), at_cursor, verdict)
        self.on_partial(Completion(
            [offer], None, f"offered: the first {len(body)} line(s), {verdict.reason}",
            verdict.errors_before, verdict.errors_after, (self.window.start, self.window.end),
            {"latency_ms": (time.perf_counter() - self.started) * 1000}, partial=True))


def typed_in_place(base: str, edit: DocumentEdit, text: str, line: int, character: int) -> str | None:
    """What stands in ``edit``'s place now, if ``text`` is ``base`` with something typed there
    and the cursor at (line, character) right after it; else None."""
    start, end = _offset(base, edit.line, edit.start), _offset(base, edit.line, edit.end)
    head, tail = base[:start], base[end:]
    if len(text) < len(head) + len(tail) or not text.startswith(head) or not text.endswith(tail):
        return None
    typed = text[len(head) : len(text) - len(tail)]
    return typed if _offset(text, line, character) == len(head) + len(typed) else None


def continuation(base: str, edit: DocumentEdit, text: str, line: int, character: int) -> str | None:
    """What is left of ``edit``'s text (computed on ``base``) once the user accepted or typed a
    prefix of it; None when ``text`` is anything else."""
    typed = typed_in_place(base, edit, text, line, character)
    if typed is None or not edit.text.startswith(typed):
        return None
    return edit.text[len(typed) :]


def cached_completion(final: Completion, base: str, text: str, line: int, character: int) -> Completion | None:
    """The rest of ``final``'s ghost text for the document as it is now, or None."""
    at_cursor = next((o for o in final.offers if o.at_cursor), None)
    if at_cursor is None:
        return None
    rest = continuation(base, at_cursor.edits[0], text, line, character)
    if not rest:
        return None
    edit = DocumentEdit(line, character, character, rest)
    offer = Offer([edit], apply_document_edits(text.split("\n"), [edit]), True, at_cursor.verdict)
    return Completion([offer], None, "offered: the rest of the previous suggestion (no model call)",
                      final.errors_before, final.errors_after, final.window, {"latency_ms": 0.0},
                      cached=True)


def _offset(text: str, line: int, character: int) -> int:
    """The string index of (line, character) in ``text``; -1 when outside it."""
    rows = text.split("\n")
    if not 0 <= line < len(rows) or not 0 <= character <= len(rows[line]):
        return -1
    return sum(len(row) + 1 for row in rows[:line]) + character


def summary(outcome: EditOutcome, offers: list[Offer]) -> tuple[Skip | None, str]:
    if offers:
        return None, "offered: " + offers[0].verdict.reason
    if outcome.cancelled:
        return Skip.CANCELLED, "cancelled"
    if outcome.closed and not outcome.candidates:
        return Skip.MODEL_ENDED, "the model ended the program here: nothing to add"
    reasons = "; ".join(dict.fromkeys(c.reason for c in outcome.candidates))
    return Skip.REJECTED, "nothing offered" + (f": {reasons}" if reasons else "")


def timings(started: float, outcome: EditOutcome) -> dict[str, float]:
    gens = outcome.generations
    return {
        "latency_ms": (time.perf_counter() - started) * 1000,
        "prefill_ms": sum(g.prefill_s for g in gens) * 1000,
        "decode_ms": sum(g.decode_s for g in gens) * 1000,
        "lint_ms": sum(c.verdict.elapsed_s for c in outcome.candidates if c.verdict) * 1000,
        "prompt_tokens": gens[0].prompt_tokens if gens else 0,
        "reused_tokens": gens[0].reused_tokens if gens else 0,
        "generated_tokens": sum(g.generated_tokens for g in gens),
        "samples": len(gens),
    }


# ----------------------------------------------------------------------------- the pipeline


class Completer:
    """Runs the pipeline with the server's models; keeps per-tokenizer line costs and lints the
    current buffer while the model decodes. Blocking: call it off the event loop."""

    def __init__(self, models: Models) -> None:
        self.models = models
        self._tokens: tuple[ModelRuntime, StateTokens] | None = None
        self._prelint = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editseq-prelint")
        self._prelinting: Future | None = None  # only the newest buffer is worth linting ahead
        self._first_lines = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editseq-first-lines")
        self._to_warm: tuple[ModelRuntime, str] | None = None  # the main prompt a quick request skipped

    def close(self) -> None:
        self._prelint.shutdown(wait=True)
        self._first_lines.shutdown(wait=True)

    def complete(self, options: Options, text: str, line: int, character: int,
                 cancel: threading.Event | None = None,
                 on_partial: Callable[[Completion], None] | None = None) -> Completion:
        """The completion at (line, character). With ``on_partial`` and the ``firstLinesFirst``
        option, the edit's first lines at the cursor are handed to it as soon as they pass the
        gate, while decoding goes on to the whole edit, which is returned."""
        started = time.perf_counter()
        if cancel is not None and cancel.is_set():  # superseded while it waited for the model
            return Completion(skip=Skip.CANCELLED, reason="cancelled")
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > options.max_file_bytes:
            return Completion(skip=Skip.FILE_TOO_LARGE, reason=(
                f"file is {size:,} bytes, over maxFileBytes ({options.max_file_bytes:,}); "
                "no suggestions for it"))
        lines = text.split("\n")
        if not 0 <= line < len(lines):
            return Completion(skip=Skip.CURSOR_OUTSIDE_FILE,
                              reason=f"cursor line {line + 1} is outside the file ({len(lines)} lines)")
        gate = self.models.gate if options.lint_gate else None
        if gate is not None:  # lint the current buffer in the pylint process while the model runs
            if self._prelinting is not None:
                self._prelinting.cancel()  # not started yet: a newer buffer replaces it
            self._prelinting = self._prelint.submit(gate.check, text, detect_indent(text))
        cursor = cursor_at(lines, line, character)
        runtime, window, quick = self._runtime_and_window(options, lines, cursor)
        settings = SamplingSettings(options.max_tokens, options.temperature, options.top_p,
                                    options.samples)

        def after(insertions: list[Insertion]) -> str:
            return apply_document_edits(lines, document_edits(lines, window, cursor, insertions)[0])

        # The first sample is anchored at the cursor (its hunk header is written for the model), so
        # a miscounted line number cannot move the completion elsewhere; later samples are free
        # and may propose a next edit elsewhere (a code action).
        judge = lint_judge(gate, text, after)
        watch = None
        if on_partial is not None and options.first_lines_first and window.anchor:
            def partial(first: Completion) -> None:
                first.quick = quick
                on_partial(first)

            judging = self._first_lines if judge_beside_decoding(runtime) else None
            watch = FirstLines(lines, window, cursor, judge, partial, started, judging)
        try:
            outcome = next_edit(runtime, window.prompt, lines[window.start : window.end], settings,
                                judge, cancel, window.anchor, watch)
        except ContextOverflow as exc:  # only an instruction longer than the context gets here
            return Completion(skip=Skip.CONTEXT_FULL, reason=f"nothing offered: {exc}",
                              window=(window.start, window.end))
        finally:
            if watch is not None:
                watch.settle(cancelled=cancel is not None and cancel.is_set())
        offers = offers_of(outcome, lines, window, cursor)
        skip, reason = summary(outcome, offers)
        judged = [c.verdict for c in outcome.candidates if c.verdict is not None]
        chosen = next((v for v in judged if v.offered), judged[-1] if judged else None)
        return Completion(
            offers, skip, reason,
            errors_before=chosen.errors_before if chosen else [],
            errors_after=chosen.errors_after if chosen else [],
            window=(window.start, window.end), timings=timings(started, outcome), outcome=outcome,
            quick=quick)

    def warm(self, cancel: threading.Event | None = None) -> bool:
        """Prefill the main window the last request skipped for a quick one, until done or
        ``cancel`` (new work for the model) is set; True when nothing is left to warm. Call it
        on the model thread when it is idle."""
        if self._to_warm is None:
            return True
        runtime, prompt = self._to_warm
        if runtime is not self.models.edits():  # the options changed since
            self._to_warm = None
            return True
        if runtime.prefill(prompt, cancel):
            self._to_warm = None
        return self._to_warm is None

    def _runtime_and_window(self, options: Options, lines: list[str],
                            cursor: Cursor) -> tuple[ModelRuntime, Window, bool]:
        """The main runtime and the largest window, or, when the main KV cache does not hold
        that window and a short one on the quick runtime costs less to prefill, those (True);
        the main window is then left for ``warm``."""
        runtime = self.models.edits()
        tokens = self._state_tokens(runtime)
        window = choose_window(runtime, tokens, lines, cursor, options.max_tokens)
        self._to_warm = None
        quick = self.models.quick_edits() if options.quick_window else None
        if quick is None:
            return runtime, window, False
        cost = runtime.uncached_tokens(window.prompt + window.anchor)
        if cost <= QUICK_SWITCH_TOKENS:
            return runtime, window, False
        short = choose_window(quick, tokens, lines, cursor, options.max_tokens,  # same tokenizer
                              align=QUICK_WINDOW_ALIGN)
        if quick.uncached_tokens(short.prompt + short.anchor) >= cost:
            return runtime, window, False
        self._to_warm = (runtime, window.prompt + window.anchor)
        return quick, short, True

    def _state_tokens(self, runtime: ModelRuntime) -> StateTokens:
        if self._tokens is None or self._tokens[0] is not runtime:
            self._tokens = (runtime, StateTokens(runtime.count_tokens))
        return self._tokens[1]
