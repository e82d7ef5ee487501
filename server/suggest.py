"""Completions and next-edit suggestions for a buffer and cursor (no LSP types, no llama calls).

Flow: buffer + cursor -> the state already written (a token-bounded window of lines above and at
the cursor) -> prompt (editformat) -> checked decoding of the next edit (decoding; the first
sample's hunk is anchored at the cursor) -> lint gate -> offers. Positions are 0-based lines and Python string indices; the LSP layer converts them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import editformat
from .decoding import EditOutcome, SamplingSettings, next_edit
from .editformat import Insertion
from .lintgate import LintGate, LintMessage, Verdict, detect_indent
from .options import Options
from .runtime import (
    ContextOverflow,
    ModelError,
    ModelRuntime,
    ModelSpec,
    base_model_path,
    shipped_adapter_path,
)

log = logging.getLogger(__name__)

WINDOW_ALIGN = 32  # the window's first line moves in steps of this many lines, to keep the KV cache


def model_spec(options: Options) -> ModelSpec:
    """The model files ``options`` select; raises ModelError when they cannot be found."""
    if options.model in ("default", "base"):
        path = base_model_path()
        adapter = shipped_adapter_path() if options.model == "default" else None
    else:
        path = Path(options.model).expanduser()
        adapter = None
    if options.adapter:
        adapter = Path(options.adapter).expanduser()
    return ModelSpec(path, adapter, options.context_size, options.threads, options.gpu_layers)


@dataclass(frozen=True)
class TextEdit:
    """Replace ``line``'s characters [start, end) with ``text`` (which may hold newlines)."""

    line: int
    start: int
    end: int
    text: str


@dataclass
class Offer:
    edits: list[TextEdit]  # in document positions, for a WorkspaceEdit
    new_text: str  # the whole document after the edits
    at_cursor: bool  # a single insertion at the cursor: can be shown as ghost text
    verdict: Verdict | None  # None when the lint gate is off


@dataclass
class SuggestResult:
    offers: list[Offer] = field(default_factory=list)
    reason: str = ""  # why nothing was offered, or what was offered
    errors_before: list[LintMessage] = field(default_factory=list)
    errors_after: list[LintMessage] = field(default_factory=list)
    window: tuple[int, int] = (0, 0)  # document lines the model saw: [start, end)
    timings: dict[str, float] = field(default_factory=dict)
    outcome: EditOutcome | None = None

    @property
    def offered(self) -> bool:
        return bool(self.offers)


class Suggester:
    """Owns the model runtime and the lint gate; thread-safe, blocking (call it off the event loop)."""

    def __init__(
        self,
        options: Options,
        gate: LintGate | None = None,
        runtime_factory: Callable[[ModelSpec], ModelRuntime] = ModelRuntime,
    ) -> None:
        self.options = options
        self.gate = gate or LintGate(timeout_s=options.lint_timeout)
        self._runtime_factory = runtime_factory
        self._runtime: ModelRuntime | None = None
        self._chat_runtime: ModelRuntime | None = None
        self._runtime_lock = threading.Lock()
        self._line_tokens: dict[str, int] = {}
        self._prelint = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editseq-prelint")

    def configure(self, options: Options) -> None:
        """Apply new options; the model reloads on next use only if its files or settings changed."""
        self.options = options
        self.gate.timeout_s = options.lint_timeout
        with self._runtime_lock:
            if self._runtime is not None:
                try:
                    same = self._runtime.spec == model_spec(options)
                except ModelError:
                    same = False
                if not same:
                    self._runtime.close()
                    self._runtime = None

    def runtime(self) -> ModelRuntime:
        """The loaded runtime; raises ModelError (with the path and the fix) if it cannot load."""
        with self._runtime_lock:
            if self._runtime is None:
                self._runtime = self._runtime_factory(model_spec(self.options))
                self._line_tokens.clear()
            runtime = self._runtime
        runtime.load()
        return runtime

    def chat_runtime(self) -> ModelRuntime:
        """The instruct model without the edit-sequence adapter, for explain and repair.

        The adapter teaches diffs, not prose; when no adapter is in use this is the same runtime.
        """
        runtime = self.runtime()
        if runtime.spec.adapter is None:
            return runtime
        with self._runtime_lock:
            spec = dataclasses.replace(runtime.spec, adapter=None)
            if self._chat_runtime is None or self._chat_runtime.spec != spec:
                if self._chat_runtime is not None:
                    self._chat_runtime.close()
                self._chat_runtime = self._runtime_factory(spec)
            chat = self._chat_runtime
        chat.load()
        return chat

    def close(self) -> None:
        with self._runtime_lock:
            if self._chat_runtime is not None:
                self._chat_runtime.close()
                self._chat_runtime = None
            if self._runtime is not None:
                self._runtime.close()
                self._runtime = None
        self._prelint.shutdown(wait=True)
        self.gate.close()

    def suggest(self, text: str, line: int, character: int, cancel: threading.Event | None = None) -> SuggestResult:
        started = time.perf_counter()
        opts = self.options
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > opts.max_file_bytes:
            return SuggestResult(reason=f"file is {size:,} bytes, over maxFileBytes ({opts.max_file_bytes:,}); "
                                        "no suggestions for it")
        lines = text.split("\n")
        if not 0 <= line < len(lines):
            return SuggestResult(reason=f"cursor line {line + 1} is outside the file ({len(lines)} lines)")
        character = max(0, min(character, len(lines[line])))
        runtime = self.runtime()
        if opts.lint_gate:  # lint the current buffer in the pylint process while the model runs
            self._prelint.submit(self.gate.check, text, detect_indent(text))
        current = lines[line]
        blank = not current.strip()
        end = line if blank else line + 1
        cursor_ok = blank or not current[character:].strip()
        instruction = editformat.instruction_for(lines, line)
        start = self._window_start(runtime, instruction, lines, end)
        prompt = editformat.build_prompt(instruction, lines[start:end])
        # the per-line estimate leaves out block headers: check the real count, trim if needed
        while (
            start < end
            and runtime.count_tokens(prompt + cursor_anchor(end - start)) + opts.max_tokens
            > runtime.spec.n_ctx
        ):
            start = min(end, (start // WINDOW_ALIGN + 1) * WINDOW_ALIGN)
            prompt = editformat.build_prompt(instruction, lines[start:end])
        state = lines[start:end]
        settings = SamplingSettings(opts.max_tokens, opts.temperature, opts.top_p, opts.samples)
        lint_s = 0.0
        offers: list[Offer] = []

        def judge(insertions: list[Insertion]):
            nonlocal lint_s
            offer = _offer(lines, start, end, line, character, blank, cursor_ok, insertions)
            if not opts.lint_gate:
                offers.append(offer)
                return True, "lint gate off", None
            verdict = self.gate.judge(text, offer.new_text)
            lint_s += verdict.elapsed_s
            offer.verdict = verdict
            if verdict.offered:
                offers.append(offer)
            return verdict.offered, verdict.reason, verdict

        # The first sample is anchored at the cursor (its hunk header is written for the model), so
        # a miscounted line number cannot move the completion elsewhere; later samples are free
        # and may propose a next edit elsewhere (a code action).
        anchor = cursor_anchor(len(state)) if cursor_ok else ""
        try:
            outcome = next_edit(runtime, prompt, state, settings, judge, cancel, anchor)
        except ContextOverflow as exc:  # only an instruction longer than the context gets here
            return SuggestResult(reason=f"nothing offered: {exc}", window=(start, end))
        result = SuggestResult(offers=offers, window=(start, end), outcome=outcome)
        result.reason = _reason(outcome, offers)
        verdicts = [c.verdict for c in outcome.candidates if isinstance(c.verdict, Verdict)]
        if verdicts:
            chosen = next((v for v in verdicts if v.offered), verdicts[-1])
            result.errors_before, result.errors_after = chosen.errors_before, chosen.errors_after
        gens = outcome.generations
        result.timings = {
            "latency_ms": (time.perf_counter() - started) * 1000,
            "prefill_ms": sum(g.prefill_s for g in gens) * 1000,
            "decode_ms": sum(g.decode_s for g in gens) * 1000,
            "lint_ms": lint_s * 1000,
            "prompt_tokens": gens[0].prompt_tokens if gens else 0,
            "reused_tokens": gens[0].reused_tokens if gens else 0,
            "generated_tokens": sum(g.generated_tokens for g in gens),
            "samples": len(gens),
        }
        return result

    def _window_start(self, runtime: ModelRuntime, instruction: str, lines: list[str], end: int) -> int:
        """First line of the window: as far up as the context allows, aligned for cache reuse."""
        budget = runtime.spec.n_ctx - self.options.max_tokens - runtime.count_tokens(instruction) - 24
        total, start = 0, end
        while start > 0:
            cost = self._tokens_of_line(runtime, lines[start - 1])
            if total + cost > budget:
                break
            total += cost
            start -= 1
        if start > 0:  # trimmed: round the first line up so it stays put while the user types
            start = min(end, -(-start // WINDOW_ALIGN) * WINDOW_ALIGN)
        return start

    def _tokens_of_line(self, runtime: ModelRuntime, line: str) -> int:
        cached = self._line_tokens.get(line)
        if cached is None:
            # +3: merges at line boundaries and a share of the 8-line block's header
            cached = runtime.count_tokens("\n+" + line) + 3
            if len(self._line_tokens) > 50_000:
                self._line_tokens.clear()
            self._line_tokens[line] = cached
        return cached


def cursor_anchor(before_line: int) -> str:
    """The start of a hunk header inserting before ``before_line`` (0-based) of the state; the
    line count (``,3 @@`` or `` @@``) is left to the model."""
    return f"@@ -{before_line},0 +{before_line + 1}"


def _offer(lines, start, end, line, character, blank, cursor_ok, insertions: list[Insertion]) -> Offer:
    """Turn insertions into the state (window) into document edits, and the document after them."""
    edits: list[TextEdit] = []
    at_cursor = False
    for insertion in insertions:
        doc_line = start + insertion.before_line
        body = "\n".join(insertion.lines)
        if doc_line == end and cursor_ok:
            at_cursor = len(insertions) == 1
            if blank:  # the new lines take the place of the blank line the cursor is on
                edits.append(TextEdit(line, 0, len(lines[line]), body))
            else:
                edits.append(TextEdit(line, character, len(lines[line]), "\n" + body))
        elif doc_line < len(lines):
            edits.append(TextEdit(doc_line, 0, 0, body + "\n"))
        else:  # after the last line of a file without a final newline
            edits.append(TextEdit(len(lines) - 1, len(lines[-1]), len(lines[-1]), "\n" + body))
    return Offer(edits, apply_text_edits(lines, edits), at_cursor, None)


def apply_text_edits(lines: list[str], edits: list[TextEdit]) -> str:
    """The document (given as lines) after the non-overlapping ``edits``."""
    result = list(lines)
    for edit in sorted(edits, key=lambda e: (e.line, e.start), reverse=True):
        row = result[edit.line]
        result[edit.line] = row[: edit.start] + edit.text + row[edit.end :]
    return "\n".join(result)


def _reason(outcome: EditOutcome, offers: list[Offer]) -> str:
    if offers:
        return "offered: " + ("adds no lint error" if offers[0].verdict else "lint gate off")
    if outcome.cancelled:
        return "cancelled"
    if outcome.closed and not outcome.candidates:
        return "the model ended the program here: nothing to add"
    if outcome.candidates:
        return "nothing offered: " + "; ".join(dict.fromkeys(c.reason for c in outcome.candidates))
    return "nothing offered"
