"""Checked decoding: the model writes one edit at a time and each edit is checked before it counts.

A small model's typical failure is repeating an insertion after a correct first edit, so every
generated edit is parsed, hunks that only repeat existing lines are dropped, and the resulting
state is judged (by the lint gate, in the server); an edit that fails is resampled, a bounded
number of times. One implementation serves the server, the CLI and the evaluation harness.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from . import editformat
from .editformat import Insertion
from .runtime import Generation, ModelRuntime


@dataclass(frozen=True)
class SamplingSettings:
    max_tokens: int = 48
    temperature: float = 0.2
    top_p: float = 0.95
    samples: int = 2  # attempts per edit; the first that passes the check wins
    seed: int = 0


@dataclass
class Candidate:
    """One sampled edit, placed in the state it edits, with the check's verdict."""

    text: str
    insertions: list[Insertion]
    skipped_hunks: int  # malformed or misplaced
    repeated_hunks: int  # dropped because they only repeated existing lines
    accepted: bool = False
    reason: str = ""
    verdict: object = None


@dataclass
class EditOutcome:
    candidates: list[Candidate] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)
    closed: bool = False  # the model ended the sequence instead of writing an edit
    cancelled: bool = False

    @property
    def accepted(self) -> Candidate | None:
        return next((c for c in self.candidates if c.accepted), None)


# judge(candidate insertions) -> (accepted, reason, verdict object for the caller)
Judge = Callable[[list[Insertion]], tuple[bool, str, object]]


def drop_repeats(state: list[str], insertions: list[Insertion]) -> tuple[list[Insertion], int]:
    """Drop insertions whose non-blank lines all already stand, verbatim, in the state."""
    existing = {line for line in state if line.strip()}
    kept = [i for i in insertions if not all(line in existing for line in i.lines if line.strip())]
    return kept, len(insertions) - len(kept)


def next_edit(
    runtime: ModelRuntime,
    prompt: str,
    state: list[str],
    settings: SamplingSettings,
    judge: Judge,
    cancel: threading.Event | None = None,
) -> EditOutcome:
    """Sample the edit that follows ``prompt`` until one passes ``judge`` or attempts run out."""
    outcome = EditOutcome()
    for attempt in range(settings.samples):
        generation = runtime.generate(
            prompt,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature if attempt == 0 else max(settings.temperature, 0.7),
            top_p=settings.top_p,
            stop=(editformat.DIFF_SEP,),
            seed=settings.seed + attempt,
            cancel=cancel,
        )
        outcome.generations.append(generation)
        if generation.finish == "cancelled":
            outcome.cancelled = True
            return outcome
        text = generation.text.strip("\n")
        if not text.strip():
            outcome.closed = True
            return outcome
        candidate = _candidate(state, text)
        outcome.candidates.append(candidate)
        if not candidate.insertions:
            candidate.reason = _nothing_reason(candidate)
            continue
        candidate.accepted, candidate.reason, candidate.verdict = judge(candidate.insertions)
        if candidate.accepted:
            return outcome
    return outcome


def _candidate(state: list[str], text: str) -> Candidate:
    parsed = editformat.parse_edit(text)
    placed, misplaced = editformat.place_hunks(state, parsed.hunks)
    kept, repeated = drop_repeats(state, placed)
    return Candidate(text, kept, parsed.malformed + misplaced, repeated)


def _nothing_reason(candidate: Candidate) -> str:
    if candidate.repeated_hunks:
        return "the model only repeated existing lines"
    return "the model's edit was not a well-formed insertion"
