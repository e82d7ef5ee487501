"""Python source analysis, no model: the function around a cursor, its doctests, its tests.

Uses ``ast`` when the buffer parses and falls back to indentation when it does not (a buffer
being repaired often has a syntax error). Lines are 0-based; ``end`` is exclusive.
"""

from __future__ import annotations

import ast
import doctest
import re
import textwrap
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
    """Names of ``test_*`` functions in the same file that use ``name``: call it, or hand it to
    a checker (``check(name)``, as HumanEval's tests do)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            if name in used:
                found.append(node.name)
    return found


# --- stubs: functions without a body yet (what ``editseq.implement`` fills in) ---------------

STUB_EMPTY, STUB_PASS, STUB_ELLIPSIS, STUB_RAISE = "docstring only", "pass", "...", "raise NotImplementedError"


@dataclass(frozen=True)
class Stub:
    """What stands in for a function's body, and the lines a body replaces: [start, end).

    ``head`` is set when the stub shares a line with the signature or docstring (``def f(): ...``):
    that line is replaced too, by ``head`` (its text up to the stub) and then the body.
    """

    kind: str  # one of the STUB_* values
    start: int
    end: int
    indent: str  # the body's indentation
    head: str | None
    above: int  # the first line of the function with its decorators (helpers go above it)


def function_stub(text: str, span: FunctionSpan) -> Stub | None:
    """The stub of the function ``span`` when its body is empty (a docstring only), ``pass``,
    ``...`` or ``raise NotImplementedError``; None when it has a body or the file does not parse."""
    node = _function_node(text, span)
    if node is None:
        return None
    lines = text.split("\n")
    body = list(node.body)
    docstring = body.pop(0) if body and _is_docstring(body[0]) else None
    kind = STUB_EMPTY if not body else _stub_kind(body[0]) if len(body) == 1 else None
    if kind is None:
        return None
    above = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    unit = _indent_unit(text)
    if body and (docstring is None or body[0].lineno > docstring.end_lineno) and body[0].lineno > node.lineno \
            and _first_on_line(lines, body[0]):
        row = body[0].lineno - 1
        return Stub(kind, row, node.end_lineno, _indentation(lines[row]), None, above)
    if body:  # on the line of the signature or of the docstring's end
        row = body[0].lineno - 1
        head = lines[row][: body[0].col_offset].rstrip().rstrip(";").rstrip()
        indent = _indentation(lines[docstring.lineno - 1]) if docstring and docstring.lineno != node.lineno \
            else span.indent + unit
        return Stub(kind, row, node.end_lineno, indent, head, above)
    if docstring.lineno == node.lineno:  # def f(): """Doc."""
        return Stub(kind, node.lineno - 1, node.end_lineno, span.indent + unit, lines[node.lineno - 1], above)
    return Stub(kind, docstring.end_lineno, docstring.end_lineno, _indentation(lines[docstring.lineno - 1]),
                None, above)


def _function_node(text: str, span: FunctionSpan):
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno - 1 == span.start \
                and node.name == span.name:
            return node
    return None


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _stub_kind(node: ast.stmt) -> str | None:
    if isinstance(node, ast.Pass):
        return STUB_PASS
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node.value.value is Ellipsis:
        return STUB_ELLIPSIS
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
            return STUB_RAISE
    return None


def _first_on_line(lines: list[str], node: ast.stmt) -> bool:
    return not lines[node.lineno - 1][: node.col_offset].strip()


def _indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _indent_unit(text: str) -> str:
    from .lintgate import detect_indent  # lintgate imports nothing heavy at module level

    return detect_indent(text)


def signature_text(lines: list[str], span: FunctionSpan) -> str:
    """The function's signature on one line, without ``def`` and the final colon:
    ``add(a: int, b: int) -> int`` (HumanEvalPack's ``signature`` field)."""
    node_lines = lines[span.start : max(span.start + 1, span.body_start)]
    joined = " ".join(row.strip() for row in node_lines)
    match = re.match(r"^(?:async\s+)?def\s+(.*)$", joined)
    signature = match.group(1) if match else joined
    depth, cut = 0, len(signature)
    for i, char in enumerate(signature):  # the colon that ends the signature, not one in an annotation
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ":" and depth == 0:
            cut = i
            break
    return re.sub(r"\(\s+", "(", re.sub(r",?\s+\)", ")", signature[:cut].strip()))


# --- docstring examples ----------------------------------------------------------------------

# After the call: the words or arrows docstrings put before the expected value.
_ARROW = re.compile(r"^(?:#\s*)?(?:==>|==|=>|➞|->|→|=|returns|should return|should be|gives)\s*")


def docstring_examples(docstring: str | None, name: str) -> tuple[int, str]:
    """The examples in a docstring, as (count, doctest text to run).

    Doctest examples (``>>> f(1)`` then the output) when there are any; otherwise lines of the
    informal kinds HumanEval docstrings use, ``f(1) == 2``, ``f(1) ➞ 2``, ``f(1) => 2``,
    ``f(1) returns 2``, ``f(1) should return 2``, whose call has literal arguments and whose
    expected value is a literal; each becomes ``>>> f(1) == 2`` expecting ``True``.
    """
    if not docstring:
        return 0, ""
    count, text = _doctest_examples(docstring)
    if count:
        return count, text
    rendered = []
    for row in docstring.split("\n"):
        found = _informal_example(row, name)
        if found is not None:
            rendered.append(f">>> {found[0]} == {found[1]}\nTrue\n")
    return len(rendered), "".join(rendered)


def _doctest_examples(docstring: str) -> tuple[int, str]:
    """The doctest examples, as doctest text: an example whose output is a literal is compared by
    value (``>>> (f(1)) == ("21")`` then ``True``, so ``"21"`` matches ``'21'``), and one written
    as a comparison with no output (``>>> f(1) == 2``) expects ``True``. When doctest refuses the
    docstring as a whole (inconsistent indentation, a ``\\n`` that became a line break), the
    examples that parse one by one."""
    parser = doctest.DocTestParser()
    try:
        examples = parser.get_examples(docstring)
    except ValueError:
        examples = []
        for block in _example_blocks(docstring):
            try:
                examples.extend(parser.get_examples(block))
            except ValueError:
                continue
    rendered = [_render_example(e.source.rstrip("\n"), e.want.rstrip("\n")) for e in examples]
    return len(rendered), "".join(rendered)


def _example_blocks(docstring: str) -> list[str]:
    blocks, current = [], []
    for row in textwrap.dedent(docstring).split("\n"):
        if row.lstrip().startswith(">>>") or not row.strip():
            if current:
                blocks.append("\n".join(current))
            current = [row] if row.strip() else []
        elif current:
            current.append(row)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _render_example(source: str, want: str) -> str:
    try:
        expression = ast.parse(source, mode="eval").body
    except SyntaxError:
        expression = None
    if expression is not None and not want and isinstance(expression, ast.Compare):
        want = "True"
    elif expression is not None and want and _literal_text(want):
        source, want = f"({ast.unparse(expression)}) == ({want})", "True"
    rows = source.split("\n")
    text = ">>> " + rows[0] + "".join("\n... " + row for row in rows[1:]) + "\n"
    return text + (want + "\n" if want else "")


def _literal_text(text: str) -> bool:
    try:
        ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _informal_example(row: str, name: str) -> tuple[str, str] | None:
    match = re.search(rf"(?<![\w.]){re.escape(name)}\(", row)
    if match is None:
        return None
    close = _closing_paren(row, match.end() - 1)
    if close is None:
        return None
    call = row[match.start() : close + 1]
    try:
        parsed = ast.parse(call, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(parsed, ast.Call) or not all(_literal(a) for a in parsed.args) \
            or not all(_literal(k.value) for k in parsed.keywords):
        return None
    rest = row[close + 1 :].strip()
    arrow = _ARROW.match(rest)
    if arrow is None or not arrow.group(0).strip():
        return None
    expected = rest[arrow.end() :].strip()
    if " = " in expected:  # "19 - 5 - 6 = 8": the value is the last one
        expected = expected.rsplit(" = ", 1)[1].strip()
    value = _literal_prefix(expected)
    return None if value is None else (call, value)


def _closing_paren(text: str, start: int) -> int | None:
    depth, quote = 0, None
    for i in range(start, len(text)):
        char = text[i]
        if quote:
            if char == quote and text[i - 1] != "\\":
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


_WORDS = {"true": "True", "false": "False", "none": "None", "null": "None"}


def _literal_prefix(text: str) -> str | None:
    """The longest start of ``text`` that is a Python literal (``[1, 5] # why`` -> ``[1, 5]``)."""
    word = re.match(r"^(\w+)\b", text)
    if word and word.group(1).lower() in _WORDS:
        return _WORDS[word.group(1).lower()]
    for end in range(len(text), 0, -1):
        candidate = text[:end].strip()
        if not candidate or candidate[-1] in ",(":
            continue
        try:
            ast.literal_eval(candidate)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        return candidate
    return None


# --- a file's top level ----------------------------------------------------------------------

def top_level_names(text: str) -> set[str]:
    """Names the file binds at its top level (definitions, assignments, imports)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def top_level_imports(text: str) -> tuple[list[str], int]:
    """The file's top-level import statements (their source) and the line after the last one
    that precedes its first definition (where a new import goes; after the module docstring
    when there is none)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return [], 0
    lines = text.split("\n")
    imports, insert_at, seen_code = [], 0, False
    for index, node in enumerate(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
            if not seen_code:
                insert_at = node.end_lineno
        elif index == 0 and _is_docstring(node):
            insert_at = node.end_lineno
        else:
            seen_code = True
    return imports, insert_at


# --- dead code -------------------------------------------------------------------------------

_ENDS_BLOCK = (ast.Return, ast.Raise, ast.Continue, ast.Break)


def unreachable_lines(text: str) -> list[int] | None:
    """The first line (1-based) of each statement that follows a ``return``, ``raise``,
    ``continue`` or ``break`` in the same block, so never runs; None when ``text`` does not parse.

    A program written as insertions cannot take such a statement back: once a small model puts
    a line after the ``return`` it meant it to precede, the function is wrong for good."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    found: list[int] = []
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if not isinstance(block, list):
                continue
            ends = next((i for i, stmt in enumerate(block) if isinstance(stmt, _ENDS_BLOCK)), None)
            if ends is not None:
                found.extend(stmt.lineno for stmt in block[ends + 1 :])
    return sorted(found)
