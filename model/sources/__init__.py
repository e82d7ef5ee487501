"""Instruction+program pairs for the LintSeq pipeline: the record type and source normalisation.

Each source module (``mbpp``, ``mined``) yields ``Program`` records; ``decontaminate`` decides which
of them may be used for training. Programs are normalised here, once, so that every later stage
(linting, LintSeq, the edit format) sees the same text: LF line ends, 4-space indentation, no
trailing whitespace outside string literals, no leading or trailing blank lines.
"""

from __future__ import annotations

import ast
import io
import os
import tokenize
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

INDENT = "    "  # what pylint's bad-indentation (W0311) expects
# The project's shared data folder (../shared/data beside the repository), overridable.
SHARED_DATA = Path(
    os.environ.get("EDITSEQ_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)


@dataclass(frozen=True)
class Program:
    id: str  # unique within and across sources, e.g. "mbpp/12", "mined/json.decoder.py_scanstring"
    source: str  # "mbpp" or "mined"
    licence: str  # SPDX-like identifier of the code's licence
    instruction: str
    program: str  # normalised text, no trailing newline
    origin: str = ""  # where it came from: a task id, a module and distribution
    drop: str | None = None  # set by a loader when the record cannot be used (normalisation failed)
    meta: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "source": self.source,
            "licence": self.licence,
            "instruction": self.instruction,
            "program": self.program,
            "origin": self.origin,
            "drop": self.drop,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, row: dict) -> Program:
        return cls(**row)


def imported_modules(tree: ast.Module) -> set[str]:
    """Top-level names of the modules ``tree`` imports (absolute imports only)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def imported_modules_of(program: str) -> set[str]:
    """``imported_modules`` of a program's text; ``{"?"}`` when it does not parse."""
    try:
        return imported_modules(ast.parse(program))
    except (SyntaxError, ValueError):
        return {"?"}


def normalise_program(text: str) -> tuple[str | None, str | None]:
    """The normalised program, or ``(None, reason)`` when it cannot be normalised faithfully.

    CRLF/CR become LF; indentation is rewritten to 4 spaces per block level (tabs included, as
    Python's tokenizer reads them); continuation lines move with the line they continue; lines
    inside multi-line strings are left alone. The result must parse to the same AST as the input.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.strip("\n")
    if not text.strip():
        return None, "empty program"
    bad = _odd_character(text)
    if bad:
        return None, f"contains control character {bad}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            before = ast.dump(ast.parse(text))
    except (SyntaxError, ValueError) as exc:
        return None, f"does not parse: {type(exc).__name__}"
    try:
        out = _reindent(text)
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        return None, f"does not tokenize: {type(exc).__name__}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            after = ast.dump(ast.parse(out))
    except (SyntaxError, ValueError):
        return None, "reindenting broke the program"
    if after != before:
        return None, "reindenting changed the program"
    return out, None


def _odd_character(text: str) -> str | None:
    for ch in text:
        if ch in "\n\t":
            continue
        if ch == "\x0c" or unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            return repr(ch)
    return None


def string_rows(text: str) -> list[tuple[int, int]]:
    """(first, last) 0-based rows of every string literal spanning more than one line."""
    spans = []
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    opened: list[int] = []
    for tok in tokenize.generate_tokens(io.StringIO(text + "\n").readline):
        if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            spans.append((tok.start[0] - 1, tok.end[0] - 1))
        elif fstring_start is not None and tok.type == fstring_start:
            opened.append(tok.start[0] - 1)
        elif fstring_end is not None and tok.type == fstring_end and opened:
            first = opened.pop()
            if tok.end[0] - 1 > first and not opened:
                spans.append((first, tok.end[0] - 1))
    return spans


def _reindent(text: str) -> str:
    lines = text.split("\n")
    tokens = list(tokenize.generate_tokens(io.StringIO(text + "\n").readline))
    inside_string = set()  # rows whose start (indentation) lies inside a string literal
    keep_trailing = set()  # rows whose end lies inside a string literal
    for first, last in string_rows(text):
        inside_string.update(range(first + 1, last + 1))
        keep_trailing.update(range(first, last))

    new_indent: dict[int, int] = {}  # row -> new indentation width, for rows we re-indent
    depth = 0
    widths = [(0, 0)]  # stack of (old width, new width) for open blocks
    line_start = True
    logical_first: int | None = None
    delta = 0
    pending_comments: list[tuple[int, int]] = []  # (row, old width) of comment-only lines
    for tok in tokens:
        row = tok.start[0] - 1
        if tok.type == tokenize.INDENT:
            depth += 1
            continue
        if tok.type == tokenize.DEDENT:
            depth -= 1
            continue
        if tok.type in (tokenize.NL, tokenize.ENDMARKER):
            continue
        if tok.type == tokenize.COMMENT and line_start:
            pending_comments.append((row, _width(lines[row])))
            continue
        if line_start:
            old = _width(lines[row])
            new = depth * len(INDENT)
            widths = [w for w in widths if w[0] < old] + [(old, new)]
            for crow, cold in pending_comments:
                match = [n for o, n in widths if o == cold]
                new_indent[crow] = match[-1] if match else cold
            pending_comments = []
            new_indent[row] = new
            logical_first = row
            delta = new - old
            line_start = False
        if tok.type == tokenize.NEWLINE:
            for crow in range(logical_first + 1, tok.start[0]):
                if crow not in inside_string and lines[crow].strip():
                    new_indent[crow] = max(0, _width(lines[crow]) + delta)
            line_start = True
    for crow, cold in pending_comments:  # comments after the last statement
        match = [n for o, n in widths if o == cold]
        new_indent[crow] = match[-1] if match else cold

    out = []
    for row, line in enumerate(lines):
        if row in inside_string:
            pass
        elif row in new_indent:
            line = " " * new_indent[row] + line.lstrip(" \t\x0c")
        elif not line.strip():
            line = ""
        if row not in keep_trailing:
            line = line.rstrip()
        out.append(line)
    return "\n".join(out).strip("\n")


def _width(line: str) -> int:
    """Indentation width of ``line`` with tabs expanded to multiples of 8, as Python reads it."""
    stripped = line.lstrip(" \t\x0c")
    return len(line[: len(line) - len(stripped)].replace("\x0c", "").expandtabs(8))
