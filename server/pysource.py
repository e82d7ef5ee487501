"""Python source analysis, no model: the function around a cursor, its doctests, its tests.

Uses ``ast`` when the buffer parses and falls back to indentation when it does not (a buffer
being repaired often has a syntax error). Lines are 0-based; ``end`` is exclusive.
"""

from __future__ import annotations

import ast
import doctest
import re
from dataclasses import dataclass

from .editformat import indent_width

_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)\s*\(")


@dataclass(frozen=True)
class FunctionSpan:
    name: str
    start: int  # the ``def`` line (decorators excluded)
    end: int  # one past the last line of the body
    indent: str  # the ``def`` line's indentation
    docstring: str | None
    body_start: int  # first line after the signature (where a docstring would go)

    def source(self, lines: list[str]) -> str:
        return "\n".join(lines[self.start : self.end])


def enclosing_function(text: str, line: int, name: str | None = None) -> FunctionSpan | None:
    """The innermost function containing ``line`` (or the first one called ``name``)."""
    lines = text.split("\n")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return _by_indentation(lines, line, name)
    best = None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        start, end = node.lineno - 1, node.end_lineno
        if name is not None:
            if node.name == name and (best is None or start < best.start):
                best = _span(node, lines)
        elif start <= line < _trailing_end(lines, end) and (best is None or start >= best.start):
            best = _span(node, lines)
    return best


def _trailing_end(lines: list[str], end: int) -> int:
    """Blank lines right after a body still count as inside it (the cursor often sits there)."""
    while end < len(lines) and not lines[end].strip():
        end += 1
    return end


def _span(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> FunctionSpan:
    start = node.lineno - 1
    docstring = ast.get_docstring(node)
    body_start = node.body[0].lineno - 1
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    return FunctionSpan(node.name, start, node.end_lineno, indent, docstring, body_start)


def _by_indentation(lines: list[str], line: int, name: str | None) -> FunctionSpan | None:
    candidates = []
    for row, text in enumerate(lines):
        match = _DEF.match(text)
        if match and (name is None or match.group(2) == name):
            candidates.append((row, match))
    if name is None:
        candidates = [(r, m) for r, m in candidates if r <= line]
        candidates.reverse()  # innermost (nearest above) first
    for row, match in candidates:
        indent = match.group(1)
        end = row + 1
        while end < len(lines) and (not lines[end].strip() or indent_width(lines[end]) > len(indent)):
            end += 1
        while end > row + 1 and not lines[end - 1].strip():
            end -= 1
        if name is not None or line < _trailing_end(lines, end):
            body_start = row + 1
            while body_start < end and not lines[body_start - 1].rstrip().endswith(":"):
                body_start += 1
            return FunctionSpan(match.group(2), row, end, indent, None, body_start)
    return None


def doctest_count(span: FunctionSpan) -> int:
    """Examples in the function's docstring."""
    if not span.docstring:
        return 0
    return len(doctest.DocTestParser().get_examples(span.docstring))


def test_functions_for(text: str, name: str) -> list[str]:
    """Names of ``test_*`` functions in the same file that call ``name``."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            calls = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            if name in calls:
                found.append(node.name)
    return found
