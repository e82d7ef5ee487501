"""Shared helpers for end-to-end tests: the real server over stdio with the real model."""

import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
SERVER_COMMAND = [sys.executable, "-m", "editseq.cli", "serve"]
# Short generations keep the suite fast on 2 cores; the real model and real pylint still run.
E2E_OPTIONS = {"maxTokens": 32, "samples": 2, "temperature": 0.2}


def apply_inline(text: str, item) -> str:
    """The document after accepting an inline completion item (its range lies on one line)."""
    lines = text.split("\n")
    r = item.range
    assert r.start.line == r.end.line, "inline completion ranges must be single-line"
    row = lines[r.start.line]
    lines[r.start.line] = row[: r.start.character] + item.insert_text + row[r.end.character :]
    return "\n".join(lines)
