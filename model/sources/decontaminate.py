"""Keeps evaluation problems out of training data.

A program is dropped when
- one of its functions is named like a HumanEvalPack ``entry_point``;
- one of its functions has the normalised body (``function_key``) of a function in a HumanEvalPack
  prompt + canonical solution (helpers included): docstrings removed, the function's own names
  (its name, parameters, locals) renamed by first appearance; builtins, globals and attributes kept;
- it is an MBPP test-split task (task_id 11-510), should one ever appear.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import warnings
from collections.abc import Iterable
from pathlib import Path

from editseq.model.sources import SHARED_DATA, Program

DEFAULT_HUMANEVALPACK = SHARED_DATA / "humanevalpack-python.jsonl"
MBPP_TEST_IDS = range(11, 511)

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def strip_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    body = node.body
    first = body[0] if body else None
    value = first.value if isinstance(first, ast.Expr) else None
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        node.body = body[1:] or [ast.Pass()]


class _Renamer(ast.NodeTransformer):
    """Renames a function's own names (bound inside it) to v0, v1, ... by first appearance."""

    def __init__(self, bound: set[str]) -> None:
        self.bound = bound
        self.names: dict[str, str] = {}

    def _new(self, name: str) -> str:
        if name not in self.bound:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._new(node.arg)
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.name = self._new(node.name)
        node.returns = None
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef


def _bound_names(node: ast.AST) -> set[str]:
    bound = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            bound.add(sub.id)
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, (*_FUNCTIONS, ast.ClassDef)):
            bound.add(sub.name)
        elif isinstance(sub, ast.alias):
            bound.add((sub.asname or sub.name).split(".")[0])
    return bound


def function_key(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A comparison key for a function: its AST without docstring, decorators, annotations and
    with its own names normalised."""
    node = copy.deepcopy(node)
    strip_docstring(node)
    node.decorator_list = []
    for sub in ast.walk(node):
        if isinstance(sub, _FUNCTIONS):
            strip_docstring(sub)
    renamed = _Renamer(_bound_names(node)).visit(node)
    renamed.name = "f"
    return ast.dump(renamed, annotate_fields=False, include_attributes=False)


def functions(tree: ast.AST) -> Iterable[ast.FunctionDef | ast.AsyncFunctionDef]:
    return (node for node in ast.walk(tree) if isinstance(node, _FUNCTIONS))


def _parse(text: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


class Decontaminator:
    """Knows HumanEvalPack's entry points and solution keys; ``reason`` says why to drop."""

    def __init__(self, humanevalpack: Path | str = DEFAULT_HUMANEVALPACK) -> None:
        self.entry_points: set[str] = set()
        self.keys: dict[str, str] = {}  # function_key -> task_id
        with open(humanevalpack, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                task = json.loads(line)
                self.entry_points.add(task["entry_point"])
                tree = _parse(task["prompt"] + task["canonical_solution"])
                if tree is None:
                    raise ValueError(f"{task['task_id']}: prompt + canonical solution do not parse")
                for node in functions(tree):
                    self.keys.setdefault(function_key(node), task["task_id"])

    def reason(self, program: Program) -> str | None:
        """Why ``program`` must not be trained on, or None."""
        task_id = program.meta.get("task_id")
        if program.source == "mbpp" and task_id in MBPP_TEST_IDS:
            return f"MBPP test split (task_id {task_id})"
        tree = _parse(program.program)
        if tree is None:
            return None  # cannot match a parsed solution; the linter will drop it
        for node in functions(tree):
            if node.name in self.entry_points:
                return f"HumanEvalPack entry point {node.name}"
            task = self.keys.get(function_key(node))
            if task is not None:
                return f"HumanEvalPack canonical solution {task}"
        return None

    def split(self, programs: Iterable[Program]) -> tuple[list[Program], dict[str, str]]:
        """(programs kept, {id: reason} of those dropped)."""
        kept, dropped = [], {}
        for program in programs:
            why = self.reason(program)
            if why is None:
                kept.append(program)
            else:
                dropped[program.id] = why
        return kept, dropped


def dedupe_key(program: str) -> str:
    """Normalised AST of a program's top-level functions (names, docstrings, annotations
    normalised): two solutions with the same key are one program."""
    tree = ast.parse(program)
    keys = [function_key(n) for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
