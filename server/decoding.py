"""Checked decoding: the model writes one edit at a time and each edit is checked before it counts.

A small model's typical failure is repeating an insertion after a correct first edit, so every
generated edit is parsed, hunks that only repeat existing lines are dropped, and the resulting
state is judged (by the lint gate, in the server); an edit that fails is resampled, a bounded
number of times. One implementation serves the server, the CLI and the evaluation harness.

A judge is a pure function from a candidate to a ``lintgate.Verdict``; decoding stores each
verdict on its candidate and returns them all, so callers read results instead of collecting
them from inside the judge.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from . import editformat
from .editformat import Insertion
from .lintgate import Verdict
from .runtime import Generation, ModelRuntime


@dataclass(frozen=True)
class SamplingSettings:
    max_tokens: int = 48
    temperature: float = 0.2
    top_p: float = 0.95
    samples: int = 2  # attempts per edit; the first that passes the check wins
    seed: int = 0
    # A retry at the first attempt's (often greedy) temperature would repeat the rejected edit.
    retry_temperature: float = 0.7  # at least this for attempts after the first


@dataclass
class Candidate:
    """One sampled edit, placed in the state it edits, with the judge's verdict."""

    text: str
    insertions: list[Insertion]
    skipped_hunks: int  # malformed or misplaced
    repeated_hunks: int  # dropped because they only repeated existing lines
    verdict: Verdict | None = None  # None: nothing well-formed to judge
    unjudged_reason: str = ""  # why, when verdict is None
    moved: bool = False  # placed elsewhere than the model's hunk header said (``next_edit(moves=)``)

    @property
    def accepted(self) -> bool:
        return self.verdict is not None and self.verdict.offered

    @property
    def reason(self) -> str:
        return self.verdict.reason if self.verdict is not None else self.unjudged_reason


@dataclass
class EditOutcome:
    candidates: list[Candidate] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)
    closed: bool = False  # the model ended the sequence instead of writing an edit
    cancelled: bool = False

    @property
    def accepted(self) -> Candidate | None:
        return next((c for c in self.candidates if c.accepted), None)


Judge = Callable[[list[Insertion]], Verdict]  # a candidate's insertions -> may it be offered?
_HEADER = re.compile(r"\s*(async\s+def|def|class)\s")
MOVE_REACH = 2  # lines a rejected one-hunk edit may move in a whole program (``nearby_placements``)


def drop_repeats(state: list[str], insertions: list[Insertion]) -> tuple[list[Insertion], int]:
    """Drop insertions whose non-blank lines all already stand, verbatim, in the state."""
    existing = {line for line in state if line.strip()}
    kept = [i for i in insertions if not all(line in existing for line in i.lines if line.strip())]
    return kept, len(insertions) - len(kept)


def trim_repeats(state: list[str], insertions: list[Insertion]) -> tuple[list[Insertion], int]:
    """Cut from each insertion the lines that only say again what stands around it: a head equal
    to the lines just above it, or one that restarts a ``def`` or ``class`` above from its
    header (a small model often writes the function it is inside anew), and a tail equal to
    the lines just below it. Insertions left blank are dropped; returns them and how many lines
    were cut."""
    kept: list[Insertion] = []
    cut = 0
    for insertion in insertions:
        if insertion.removed:
            kept.append(insertion)
            continue
        lines = list(insertion.lines)
        head = _repeated_head(state[: insertion.before_line], lines)
        lines = lines[head:]
        tail = _repeated_head(state[insertion.before_line :][::-1], lines[::-1])
        lines = lines[: len(lines) - tail]
        cut += head + tail
        if any(line.strip() for line in lines):
            kept.append(dataclasses.replace(insertion, lines=tuple(lines)))
    return kept, cut


def _repeated_head(above: list[str], lines: list[str]) -> int:
    """How many of ``lines``' first lines repeat ``above``: its last lines, or its lines from a
    ``def``/``class`` header on (0 when none of them is more than blank)."""
    if not lines:
        return 0
    best = 0
    for k in range(1, min(len(above), len(lines)) + 1):
        if lines[:k] == above[-k:]:
            best = k
    for start, line in enumerate(above):
        if line == lines[0] and _HEADER.match(line):
            run = 0
            while run < len(lines) and start + run < len(above) and above[start + run] == lines[run]:
                run += 1
            best = max(best, run)
    return best if any(line.strip() for line in lines[:best]) else 0


def next_edit(
    runtime: ModelRuntime,
    prompt: str,
    state: list[str],
    settings: SamplingSettings,
    judge: Judge,
    cancel: threading.Event | None = None,
    anchor: str = "",
    watch: Callable[[str], None] | None = None,
    logprobs: bool = False,
    moves: Callable[[list[Insertion]], Iterable[list[Insertion]]] | None = None,
) -> EditOutcome:
    """Sample the edit that follows ``prompt`` until one passes ``judge`` or attempts run out.

    ``anchor``, if given, is the forced start of the first attempt's edit (the server passes the
    hunk header's position, ``@@ -N,0 +N+1``, so that edit lands at the cursor whatever line
    number a small model would have written); the model writes the rest. Later attempts are free.
    ``logprobs``: the generations carry their tokens' log-probabilities. ``moves``, if given,
    names other placements of a rejected candidate's insertions to judge in turn (the first that
    passes is taken and the candidate marked ``moved``).
    """
    outcome = EditOutcome()
    free_prompt, heal = _healed_prompt(prompt, separator_heal(runtime))
    for attempt in range(settings.samples):
        forced = anchor if attempt == 0 else ""
        on_text = watch if attempt == 0 else None
        if on_text is not None and heal and not forced:
            on_text = lambda text, watch=watch: watch(_unheal(text, heal))  # noqa: E731
        generation = runtime.generate(
            prompt + forced if forced else free_prompt,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature if attempt == 0 else max(settings.temperature,
                                                                      settings.retry_temperature),
            top_p=settings.top_p,
            stop=(editformat.DIFF_SEP,),
            seed=settings.seed + attempt,
            cancel=cancel,
            **({"logprobs": True} if logprobs else {}),
            on_text=on_text,
        )
        outcome.generations.append(generation)
        if generation.finish == "cancelled":
            outcome.cancelled = True
            return outcome
        text = forced + generation.text if forced else _unheal(generation.text, heal)
        if generation.finish == "length" and "\n" in text:
            text = text[: text.rindex("\n")]  # cut off mid-line: keep the complete lines
        text = text.strip("\n")
        if not text.strip() or text == forced:
            if forced:  # the model ended the anchored edit at once: try freely
                continue
            outcome.closed = True
            return outcome
        candidate = _candidate(state, text)
        outcome.candidates.append(candidate)
        if not candidate.insertions:
            candidate.unjudged_reason = _nothing_reason(candidate)
            continue
        candidate.verdict = judge(candidate.insertions)
        if not candidate.accepted and moves is not None:
            _move(candidate, moves(candidate.insertions), judge)
        if candidate.accepted:
            return outcome
    return outcome


def _move(candidate: Candidate, placements: Iterable[list[Insertion]], judge: Judge) -> None:
    """Give ``candidate`` the first of ``placements`` that passes ``judge``, if any."""
    for insertions in placements:
        verdict = judge(insertions)
        if verdict.offered:
            candidate.insertions, candidate.verdict, candidate.moved = insertions, verdict, True
            return


_HEALS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def separator_heal(runtime) -> str:
    """The end of ``DIFF_SEP`` that a prompt leaves for the model to write: "" or its last token.

    Qwen2.5's BPE writes the closing ``<|diff|>\n<|diff|>`` with a token ``>\n`` of its own, so
    after a prompt ending in DIFF_SEP's token ``>`` the close is a tokenization the model never
    saw: the coder adapter put p < 0.001 on it after a complete program, 0.016 after the same
    prompt cut before ``>``, and never closed a HumanEval sequence. Prompts that may be closed stop
    before that token and let the model write it (``>`` and a hunk, or ``>\n`` and the close).
    SmolLM2 writes the close with DIFF_SEP's own tokens: nothing is left out. A runtime without a
    tokenizer (a test's fake) leaves nothing out either.
    """
    heal = _HEALS.get(runtime)
    if heal is None:
        heal = ""
        try:
            edit = runtime.tokenize("pass" + editformat.DIFF_SEP)
            closed = runtime.tokenize("pass" + editformat.CLOSE)
            last = runtime.detokenize(edit[-1:]) if closed[: len(edit)] != edit else ""
            heal = last if last and editformat.DIFF_SEP.endswith(last) else ""
        except AttributeError:  # no tokenizer (a remote runtime's may be missing too)
            pass
        _HEALS[runtime] = heal
    return heal


def _healed_prompt(prompt: str, heal: str) -> tuple[str, str]:
    """``prompt`` without the ``heal`` it ends with, and the heal actually cut ("" if none)."""
    if heal and prompt.endswith(editformat.DIFF_SEP):
        return prompt[: -len(heal)], heal
    return prompt, ""


def _unheal(text: str, heal: str) -> str:
    """Generated text after a healed prompt, without the separator's end the model wrote."""
    return text[len(heal):] if heal and text.startswith(heal) else text


def nearby_placements(state: list[str], insertions: list[Insertion], reach: int = MOVE_REACH
                      ) -> Iterator[list[Insertion]]:
    """A one-hunk edit placed up to ``reach`` lines from where the model put it, nearest first,
    earlier before later (a small model's line numbers are often one off, most often one line
    past the ``return`` the lines belong before)."""
    if len(insertions) != 1 or insertions[0].removed:
        return
    (insertion,) = insertions
    for distance in range(1, reach + 1):
        for line in (insertion.before_line - distance, insertion.before_line + distance):
            if 0 <= line <= len(state):
                yield [dataclasses.replace(insertion, before_line=line)]


def _candidate(state: list[str], text: str) -> Candidate:
    parsed = editformat.parse_edit(text)
    placed, misplaced = editformat.place_hunks(state, parsed.hunks)
    trimmed, _ = trim_repeats(state, placed)
    kept, repeated = drop_repeats(state, trimmed)
    return Candidate(text, kept, parsed.malformed + misplaced, repeated + len(placed) - len(trimmed))


def _nothing_reason(candidate: Candidate) -> str:
    if candidate.repeated_hunks:
        return "the model only repeated existing lines"
    return "the model's edit was not a well-formed insertion"


# --- Whole programs, edit by edit (the evaluation harness; also usable for "write this file") ---

ProgramJudge = Callable[[list[str], list[str]], Verdict]  # (state before, state after) -> verdict

DECODING_CHECKED = "checked"
DECODING_PLAIN = "plain"


@dataclass
class ProgramResult:
    """A program written by the model, with what it took to write it."""

    lines: list[str]
    mode: str  # "checked" or "plain"
    finish: str  # "closed", "max_edits", "budget", "rejected", "cancelled", "context", "length"
    edits: int = 0  # accepted (checked) or decoded (plain) edits
    resamples: int = 0  # generations beyond the first for an edit (checked)
    rejected: int = 0  # sampled edits the judge or the parser turned down (checked)
    skipped_hunks: int = 0  # malformed or misplaced hunks
    repeated_hunks: int = 0  # hunks dropped because they only repeated existing lines
    moved_hunks: int = 0  # accepted edits placed near, not at, the model's line (``placement``)
    generated_tokens: int = 0
    prompt_tokens: int = 0  # of the last request
    reused_tokens: int = 0  # summed over requests: prompt tokens served from the KV cache
    elapsed_s: float = 0.0
    edit_texts: list[str] = field(default_factory=list)  # as applied (checked) or generated (plain)
    raw: str = ""  # the generated text (plain) or the final prompt continuation (checked)
    # with ``logprobs``: the log-probabilities of the tokens the program was written with (the
    # accepted edits' and the closing generation's; rejected attempts do not count)
    token_logprobs: list[float] = field(default_factory=list)

    @property
    def mean_logprob(self) -> float | None:
        return sum(self.token_logprobs) / len(self.token_logprobs) if self.token_logprobs else None

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    def counters(self) -> dict:
        return {
            "mode": self.mode, "finish": self.finish, "edits": self.edits,
            "resamples": self.resamples, "rejected": self.rejected,
            "skipped_hunks": self.skipped_hunks, "repeated_hunks": self.repeated_hunks,
            "moved_hunks": self.moved_hunks,
            "generated_tokens": self.generated_tokens, "reused_tokens": self.reused_tokens,
            "elapsed_s": round(self.elapsed_s, 3),
        } | ({"mean_logprob": round(self.mean_logprob, 4)} if self.token_logprobs else {})


_LINTER = None


def shared_linter():
    """This process's warm in-process pylint (``lintgate.Linter``), created on first use.
    Not thread-safe, like the Linter itself."""
    global _LINTER
    if _LINTER is None:
        from .lintgate import Linter

        _LINTER = Linter()
    return _LINTER


def lint_judge(prelude: str = "") -> ProgramJudge:
    """The default judge: an edit passes when it adds no LintSeq lint error (warm, in-process).

    ``prelude`` is code the program will run after (e.g. the evaluation's import helper): it is
    linted in front of every state, so a name it defines is no error.
    """
    from .lintgate import detect_indent, verdict_of

    linter = shared_linter()
    cache: dict[str, list] = {}
    head = prelude.rstrip("\n") + "\n" if prelude.strip() else ""

    def messages(lines: list[str], indent: str) -> list:
        text = head + "\n".join(lines) + "\n"
        key = indent + "\0" + text
        if key not in cache:
            if len(cache) > 64:
                cache.clear()
            cache[key] = linter.messages(text, indent)
        return cache[key]

    def judge(before: list[str], after: list[str]) -> Verdict:
        indent = detect_indent("\n".join(after))
        return verdict_of(messages(before, indent), messages(after, indent))

    return judge


def _reachable(verdict: Verdict, dead_before: int, after: list[str]) -> Verdict:
    """``verdict``, turned down when ``after`` has more unreachable statements than the
    ``dead_before`` of the state it edits.

    LintSeq's states are subsets of a finished program's lines, so (for a program without dead
    code) no state has any: an edit that adds some is out of the format, and cannot be undone."""
    dead_after = _unreachable(after)
    if len(dead_after) <= dead_before:
        return verdict
    added = Counter({("W0101", "unreachable"): len(dead_after) - dead_before})
    return dataclasses.replace(verdict, offered=False, added=added,
                               reason=f"leaves line {dead_after[-1]} unreachable: unreachable (W0101)")


def _unreachable(lines: list[str]) -> list[int]:
    from .pysource import unreachable_lines

    return unreachable_lines("\n".join(lines)) or []


def decode_program(
    runtime: ModelRuntime,
    instruction: str,
    settings: SamplingSettings,
    judge: ProgramJudge | None = None,
    max_edits: int = 32,
    cancel: threading.Event | None = None,
    *,
    mode: str = DECODING_CHECKED,
    state: list[str] | None = None,
    max_tokens: int = 512,
    logprobs: bool = False,
    placement: bool = True,
) -> ProgramResult:
    """Write a whole program after ``instruction``, starting from ``state`` (default: empty).

    ``checked``: one edit at a time with ``next_edit`` (repeated hunks dropped, each edit judged,
    ``settings.samples`` attempts); an accepted edit is appended to the prompt as it was applied,
    so the next request reuses the KV cache. Stops when the model closes the sequence, after
    ``max_edits`` edits, when ``max_tokens`` generated tokens (all attempts; never exceeded) are
    spent, or when no attempt at an edit passes. ``judge`` defaults to ``lint_judge()``.
    ``plain``: the whole sequence in one generation (``max_tokens``, stopping at two empty edits)
    decoded with ``editformat.decode_sequence``, for comparison. ``logprobs``: the result's
    ``token_logprobs`` (and ``mean_logprob``) are filled in. ``placement`` (checked): an edit
    that leaves a statement unreachable (after a ``return`` in its block) is turned down too,
    and a rejected one-hunk edit is tried up to ``MOVE_REACH`` lines from where the model put it.
    """
    import time

    from .runtime import ContextOverflow

    started = time.perf_counter()
    state = list(state or [])
    prompt = editformat.build_prompt(instruction, state) if state else instruction.rstrip("\n") + editformat.DIFF_SEP
    if mode == DECODING_PLAIN:
        result = ProgramResult(state, DECODING_PLAIN, "length")
        plain_prompt, heal = _healed_prompt(prompt, separator_heal(runtime))
        try:
            generation = runtime.generate(
                plain_prompt, max_tokens=max_tokens, temperature=settings.temperature, top_p=settings.top_p,
                stop=(editformat.CLOSE,), seed=settings.seed, cancel=cancel,
                **({"logprobs": True} if logprobs else {}),
            )
        except ContextOverflow:
            result.finish = "context"
            return result
        text = _unheal(generation.text, heal)
        edits, closed = editformat.split_edits(text)
        result.lines, result.skipped_hunks = editformat.decode_sequence(text, state)
        result.edits, result.edit_texts, result.raw = len(edits), edits, text
        result.finish = "cancelled" if generation.finish == "cancelled" else (
            "closed" if closed or generation.finish in ("stop", "eos") else "length")
        result.generated_tokens, result.prompt_tokens = generation.generated_tokens, generation.prompt_tokens
        result.reused_tokens = generation.reused_tokens
        result.token_logprobs = list(generation.logprobs or [])
        result.elapsed_s = time.perf_counter() - started
        return result
    if mode != DECODING_CHECKED:
        raise ValueError(f"unknown decoding mode {mode!r}; use 'checked' or 'plain'")

    judge = judge or lint_judge()
    result = ProgramResult(state, DECODING_CHECKED, "max_edits")
    continuation = ""
    while result.edits < max_edits:
        remaining = max_tokens - result.generated_tokens
        if remaining <= 0:
            result.finish = "budget"
            break
        # Every attempt fits in what is left of the budget: fewer (or shorter) attempts near its end.
        per_attempt = min(settings.max_tokens, remaining)
        attempts = max(1, min(settings.samples, remaining // per_attempt))
        step = dataclasses.replace(settings, max_tokens=per_attempt, samples=attempts,
                                   seed=settings.seed + 1000 * result.edits)
        current = result.lines
        dead = len(_unreachable(current)) if placement else 0  # once per edit, not per candidate

        def edit_judge(insertions: list[Insertion], current: list[str] = current, dead: int = dead) -> Verdict:
            after = editformat.apply_insertions(current, insertions)
            verdict = judge(current, after)
            return _reachable(verdict, dead, after) if verdict.offered and placement else verdict

        def moves(insertions: list[Insertion], current: list[str] = current) -> Iterator[list[Insertion]]:
            return nearby_placements(current, insertions)

        try:
            outcome = next_edit(runtime, prompt, current, step, edit_judge, cancel, logprobs=logprobs,
                                moves=moves if placement else None)
        except ContextOverflow:
            result.finish = "context"
            break
        for generation in outcome.generations:
            result.generated_tokens += generation.generated_tokens
            result.reused_tokens += generation.reused_tokens
            result.prompt_tokens = generation.prompt_tokens
        result.resamples += max(0, len(outcome.generations) - 1)
        accepted = outcome.accepted
        if (accepted is not None or outcome.closed) and outcome.generations:
            # the generation that wrote the accepted edit (or closed the sequence) is the last one
            result.token_logprobs.extend(outcome.generations[-1].logprobs or ())
        result.rejected += sum(1 for c in outcome.candidates if not c.accepted)
        if outcome.cancelled:
            result.finish = "cancelled"
            break
        if outcome.closed:
            result.finish = "closed"
            break
        if accepted is None:
            result.finish = "rejected"
            break
        result.skipped_hunks += accepted.skipped_hunks
        result.moved_hunks += accepted.moved
        result.repeated_hunks += accepted.repeated_hunks
        after = editformat.apply_insertions(current, accepted.insertions)
        applied = editformat.edit_text(current, after)
        result.lines = after
        result.edits += 1
        result.edit_texts.append(applied)
        prompt += applied + editformat.DIFF_SEP
        continuation += applied + editformat.DIFF_SEP
    result.raw = continuation
    result.elapsed_s = time.perf_counter() - started
    return result
