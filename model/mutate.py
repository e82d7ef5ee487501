"""Realistic one-line bugs in a correct function: the mutations repair training data is made of.

Each mutation changes one line of the function's body and leaves every other character alone, so
the fix is a small replacement edit. The kinds follow what HumanEvalFix's bugs look like (operator
misuse, value misuse, variable misuse, missing logic, function misuse):

- ``operator``: ``+``/``-``, ``*``/``//``, ``/``/``//`` and ``%``/``//`` swapped
- ``comparison``: ``<``/``<=``, ``>``/``>=``, ``==``/``!=``, ``<``/``>`` swapped
- ``boolean``: ``and``/``or`` swapped, ``True``/``False`` swapped
- ``off_by_one``: an integer literal one more or one less; ``range(n)`` as ``range(n + 1)``
- ``negation``: a ``not`` dropped
- ``condition``: ``a and b`` (or ``or``) in an ``if``/``while``/``elif`` test cut to one operand
- ``variable``: a name read in the body replaced by another local name of the function
- ``return``: the returned value replaced by a local name
- ``arguments``: the first two positional arguments of a call swapped

Pure text in, text out: nothing here runs the code (``editseq.model.repairdata`` does, to keep
only mutants that fail a test).
"""

from __future__ import annotations

import ast
import io
import random
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass

OPERATOR_SWAPS = {"+": "-", "-": "+", "*": "//", "//": "*", "/": "//", "%": "//"}
COMPARISON_SWAPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
KEYWORD_SWAPS = {"and": "or", "or": "and", "True": "False", "False": "True"}
KINDS = ("operator", "comparison", "boolean", "off_by_one", "negation", "condition", "variable",
         "return", "arguments")


@dataclass(frozen=True)
class Mutant:
    kind: str
    line: int  # 0-based, in the program
    before: str  # the line as written
    after: str  # the line with the bug

    def apply(self, lines: list[str]) -> list[str]:
        return lines[: self.line] + [self.after] + lines[self.line + 1 :]


def function_node(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def mutants(program: str, name: str) -> list[Mutant]:
    """Every mutation of function ``name``'s body in ``program`` that still parses, deduplicated,
    in source order."""
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return []
    node = function_node(tree, name)
    if node is None:
        return []
    lines = program.split("\n")
    body_rows = range(node.body[0].lineno - 1, node.end_lineno)
    docstring_rows = _docstring_rows(node)
    found: dict[tuple[int, str], Mutant] = {}
    for mutant in [*_token_mutants(lines, body_rows), *_ast_mutants(node, lines)]:
        if (mutant.line not in body_rows or mutant.line in docstring_rows or mutant.after == mutant.before
                or (mutant.line, mutant.after) in found):
            continue
        if _parses(mutant.apply(lines)):
            found[(mutant.line, mutant.after)] = mutant
    return sorted(found.values(), key=lambda m: (m.line, KINDS.index(m.kind), m.after))


def pick(candidates: list[Mutant], count: int, rng: random.Random) -> list[Mutant]:
    """Up to ``count`` of ``candidates``, spread over kinds (round robin over shuffled kinds)."""
    by_kind: dict[str, list[Mutant]] = {}
    for mutant in candidates:
        by_kind.setdefault(mutant.kind, []).append(mutant)
    for group in by_kind.values():
        rng.shuffle(group)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    chosen: list[Mutant] = []
    while len(chosen) < count and any(by_kind.values()):
        for kind in kinds:
            if by_kind[kind] and len(chosen) < count:
                chosen.append(by_kind[kind].pop())
    return chosen


def _parses(lines: list[str]) -> bool:
    try:
        ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    return True


def _docstring_rows(node: ast.FunctionDef) -> set[int]:
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return set(range(first.lineno - 1, first.end_lineno))
    return set()


def _replace(line: str, start: int, end: int, text: str) -> str:
    return line[:start] + text + line[end:]


def _token_mutants(lines: list[str], rows: range) -> Iterator[Mutant]:
    """Mutations of single tokens: operators, comparisons, keywords, integers, ``not``."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return
    for index, token in enumerate(tokens):
        (row, col), (end_row, end_col) = token.start, token.end
        row -= 1
        if row != end_row - 1 or row not in rows:
            continue
        line = lines[row]
        if token.type == tokenize.OP and token.string in OPERATOR_SWAPS:
            yield Mutant("operator", row, line, _replace(line, col, end_col, OPERATOR_SWAPS[token.string]))
        elif token.type == tokenize.OP and token.string in COMPARISON_SWAPS:
            yield Mutant("comparison", row, line, _replace(line, col, end_col, COMPARISON_SWAPS[token.string]))
            if token.string in ("<", ">"):
                yield Mutant("comparison", row, line, _replace(line, col, end_col, "><"["<>".index(token.string)]))
        elif token.type == tokenize.NAME and token.string in KEYWORD_SWAPS:
            yield Mutant("boolean", row, line, _replace(line, col, end_col, KEYWORD_SWAPS[token.string]))
        elif token.type == tokenize.NAME and token.string == "not":
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is not None and following.start[0] == token.start[0]:
                yield Mutant("negation", row, line, line[:col] + line[following.start[1]:])
        elif token.type == tokenize.NUMBER and token.string.isdigit():
            value = int(token.string)
            for changed in {value + 1, max(value - 1, 0)} - {value}:
                yield Mutant("off_by_one", row, line, _replace(line, col, end_col, str(changed)))


def _segment(lines: list[str], node: ast.AST) -> tuple[int, int, int] | None:
    """(row, start column, end column) of a node written on one line, else None."""
    if getattr(node, "lineno", None) is None or node.lineno != node.end_lineno:
        return None
    return node.lineno - 1, node.col_offset, node.end_col_offset


def _ast_mutants(function: ast.FunctionDef, lines: list[str]) -> Iterator[Mutant]:
    """Mutations of expressions: conditions, names, returns, arguments, ``range`` bounds."""
    local_names = sorted(_local_names(function))
    for node in ast.walk(function):
        if isinstance(node, (ast.If, ast.While)) and isinstance(node.test, ast.BoolOp):
            where = _segment(lines, node.test)
            for operand in (node.test.values[0], node.test.values[-1]):
                part = _segment(lines, operand)
                if where and part and part[0] == where[0]:
                    row, start, end = where
                    kept = lines[row][part[1] : part[2]]
                    yield Mutant("condition", row, lines[row], _replace(lines[row], start, end, kept))
        elif isinstance(node, ast.Return) and node.value is not None:
            where = _segment(lines, node.value)
            if where:
                row, start, end = where
                for other in local_names:
                    if other != lines[row][start:end]:
                        yield Mutant("return", row, lines[row], _replace(lines[row], start, end, other))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in local_names:
            where = _segment(lines, node)
            if where:
                row, start, end = where
                for other in local_names:
                    if other != node.id:
                        yield Mutant("variable", row, lines[row], _replace(lines[row], start, end, other))
        elif isinstance(node, ast.Call):
            yield from _call_mutants(node, lines)


def _call_mutants(node: ast.Call, lines: list[str]) -> Iterator[Mutant]:
    args = [a for a in node.args if not isinstance(a, ast.Starred)]
    if len(args) >= 2 and len(args) == len(node.args):
        first, second = _segment(lines, args[0]), _segment(lines, args[1])
        if first and second and first[0] == second[0]:
            row, line = first[0], lines[first[0]]
            a, b = line[first[1] : first[2]], line[second[1] : second[2]]
            if a != b:
                swapped = line[: first[1]] + b + line[first[2] : second[1]] + a + line[second[2] :]
                yield Mutant("arguments", row, line, swapped)
    if isinstance(node.func, ast.Name) and node.func.id == "range" and args:
        bound = _segment(lines, args[-1] if len(args) <= 2 else args[1])
        if bound:
            row, start, end = bound
            text = lines[row][start:end]
            for changed in (f"{text} + 1", f"{text} - 1"):
                yield Mutant("off_by_one", row, lines[row], _replace(lines[row], start, end, changed))


def _local_names(function: ast.FunctionDef) -> set[str]:
    """The function's parameters and the names it assigns (its locals, roughly)."""
    names = {a.arg for a in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names
