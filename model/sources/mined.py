"""Functions mined from the Python standard library and installed distributions.

Each module-level function with a docstring becomes a pair: the instruction is the docstring with
the signature, worded like HumanEvalPack's ("Write a Python function `sig` to solve the following
problem:\\n{docstring}"); the program is the function without its docstring, preceded by the
module-level imports it uses, so that it stands alone. Kept when:

- the module is public (no path part starting with ``_``) and not a test module;
- the function is public, not a test, has a docstring of 20-1500 characters;
- the function is 3-60 lines once its docstring is removed;
- every global name it uses is a builtin or comes from a module-level import (relative imports
  are made absolute);
- no earlier function has the same normalised body (``decontaminate.function_key``);
- and, checked by the pipeline's workers (or here when a ``Linter`` is given), it is lint-clean.

Licences: ``PSF-2.0`` for the standard library; for a distribution its ``License-Expression``,
else a short ``License`` field, else its licence classifiers. Distributions under copyleft
licences (GPL family, MPL, EPL) and of unknown licence are skipped unless asked for.
"""

from __future__ import annotations

import ast
import builtins
import importlib.metadata
import platform
import symtable
import sysconfig
import tokenize
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from editseq.model.sources import Program, normalise_program
from editseq.model.sources.decontaminate import function_key

STDLIB_LICENCE = "PSF-2.0"
MIN_DOCSTRING, MAX_DOCSTRING = 20, 1500
MIN_LINES, MAX_LINES = 3, 60
MAX_FILE_BYTES = 400_000  # generated tables, not code anyone writes by hand
COPYLEFT = ("GPL", "LGPL", "AGPL", "MPL", "EPL", "CDDL", "EUPL", "OSL")
SKIP_DISTRIBUTIONS = {"editseq"}  # our own code
SKIP_PARTS = {
    "test", "tests", "testing", "idle_test", "conftest", "setup", "site-packages",
    "dist-packages", "lib2to3", "turtledemo", "vendor", "__main__", "..",
}
_CLASSIFIER_LICENCES = {
    "MIT License": "MIT",
    "BSD License": "BSD",
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "The Unlicense (Unlicense)": "Unlicense",
}
_BUILTINS = set(dir(builtins))


@dataclass(frozen=True)
class ModuleFile:
    path: Path
    module: str  # dotted name
    licence: str
    origin: str  # "stdlib (Python 3.11.7)" or "attrs==26.1.0"


def distribution_licence(dist: importlib.metadata.Distribution) -> str:
    """The licence a distribution declares, as an identifier, or "UNKNOWN"."""
    meta = dist.metadata
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression
    field = (meta.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= 60 and field.upper() != "UNKNOWN":
        return field
    found = []
    for classifier in meta.get_all("Classifier") or []:
        parts = [p.strip() for p in classifier.split("::")]
        if parts[0] == "License" and len(parts) > 1:
            found.append(_CLASSIFIER_LICENCES.get(parts[-1], parts[-1]))
    return " OR ".join(sorted(set(found))) if found else "UNKNOWN"


def is_copyleft(licence: str) -> bool:
    upper = licence.upper()
    return any(word in upper for word in COPYLEFT) or "GENERAL PUBLIC" in upper


def _public(parts: tuple[str, ...]) -> bool:
    for part in parts:
        if part.startswith("_") or part in SKIP_PARTS:
            return False
        if part.startswith("test_") or part.endswith(("_test", "_tests")):
            return False
    return True


def _module_name(relative: Path) -> tuple[str, ...]:
    parts = relative.with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def stdlib_files() -> Iterator[ModuleFile]:
    root = Path(sysconfig.get_paths()["stdlib"])
    origin = f"stdlib (Python {platform.python_version()})"
    for path in sorted(root.rglob("*.py")):
        parts = _module_name(path.relative_to(root))
        if parts and _public(parts):
            yield ModuleFile(path, ".".join(parts), STDLIB_LICENCE, origin)


def distribution_files(include_copyleft: bool = False, skipped: Counter | None = None
                       ) -> Iterator[ModuleFile]:
    """Files of installed distributions, by distribution name, then path."""
    skipped = skipped if skipped is not None else Counter()
    dists = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in dists:
            dists[name.lower()] = dist
    for key in sorted(dists):
        dist = dists[key]
        name, version = dist.metadata["Name"], dist.version
        licence = distribution_licence(dist)
        if key in SKIP_DISTRIBUTIONS:
            continue
        if licence == "UNKNOWN" or (is_copyleft(licence) and not include_copyleft):
            skipped[f"distribution {name} ({licence})"] += 1
            continue
        for relative in sorted(str(f) for f in dist.files or [] if f.suffix == ".py"):
            parts = _module_name(Path(relative))
            if parts and _public(parts):
                path = Path(str(dist.locate_file(relative)))
                yield ModuleFile(path, ".".join(parts), licence, f"{name}=={version}")


def _imports(tree: ast.Module, module: str, is_package: bool) -> dict[str, str]:
    """Names bound by the module's top-level imports -> one import statement binding each."""
    bound = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                stmt = ast.Import(names=[ast.alias(alias.name, alias.asname)])
                bound[name] = ast.unparse(stmt)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                keep = len(package) - (node.level - 1)
                if keep <= 0:
                    continue
                base = ".".join(package[:keep] + ([node.module] if node.module else []))
            for alias in node.names:
                if alias.name == "*":
                    continue
                stmt = ast.ImportFrom(module=base, names=[ast.alias(alias.name, alias.asname)], level=0)
                bound[alias.asname or alias.name] = ast.unparse(stmt)
    return bound


def _global_names(source: str) -> set[str]:
    """Global names a function's code refers to (its own name excluded)."""
    names: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        for symbol in table.get_symbols():
            if symbol.is_global() and (symbol.is_referenced() or symbol.is_assigned()):
                names.add(symbol.get_name())
        for child in table.get_children():
            walk(child)

    top = symtable.symtable(source, "<mined>", "exec")
    for symbol in top.get_symbols():  # decorators, defaults and annotations run at module level
        if symbol.is_referenced():
            names.add(symbol.get_name())
    for child in top.get_children():
        walk(child)
    return names


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{node.name}({ast.unparse(node.args)}){returns}"


def instruction_for(node: ast.FunctionDef | ast.AsyncFunctionDef, docstring: str) -> str:
    kind = "async function" if isinstance(node, ast.AsyncFunctionDef) else "function"
    return f"Write a Python {kind} `{_signature(node)}` to solve the following problem:\n{docstring}"


class Miner:
    """Walks module files and yields programs; ``skipped`` counts why others were not."""

    def __init__(self, linter=None) -> None:
        self.linter = linter  # when given, programs that are not lint-clean are skipped here
        self.skipped: Counter[str] = Counter()
        self._keys: set[str] = set()
        self._ids: set[str] = set()

    def programs(self, files: Iterator[ModuleFile]) -> Iterator[Program]:
        for file in files:
            yield from self.from_file(file)

    def from_file(self, file: ModuleFile) -> Iterator[Program]:
        try:
            if file.path.stat().st_size > MAX_FILE_BYTES:
                self.skipped["file too large"] += 1
                return
            with tokenize.open(file.path) as f:
                text = f.read()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(text)
        except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
            self.skipped["file unreadable or does not parse"] += 1
            return
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        imports = _imports(tree, file.module, file.path.name == "__init__.py")
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                program = self._program(file, node, lines, imports)
                if program is not None:
                    yield program

    def _skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def _program(self, file, node, lines, imports) -> Program | None:
        if node.name.startswith(("_", "test")):
            return self._skip("private or test function")
        docstring = ast.get_docstring(node, clean=True)
        if not docstring or len(docstring.strip()) < MIN_DOCSTRING:
            return self._skip("docstring missing or under 20 characters")
        docstring = docstring.strip()
        if len(docstring) > MAX_DOCSTRING:
            return self._skip("docstring over 1500 characters")
        doc = node.body[0]
        if len(node.body) < 2:
            return self._skip("nothing but a docstring")
        first, last = doc.lineno - 1, doc.end_lineno - 1
        if lines[first][: doc.col_offset].strip() or lines[last][doc.end_col_offset :].strip():
            return self._skip("docstring shares a line with code")
        start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        drop = set(range(first, last + 1))
        if last + 1 < node.end_lineno and not lines[last + 1].strip():
            drop.add(last + 1)  # the blank line that set the docstring apart
        body = [lines[row] for row in range(start, node.end_lineno) if row not in drop]
        function = "\n".join(body)
        if not MIN_LINES <= len(body) <= MAX_LINES:
            return self._skip(f"not {MIN_LINES}-{MAX_LINES} lines")
        if node.col_offset != 0:
            return self._skip("not at module level")
        try:
            names = _global_names(function + "\n")
        except SyntaxError:
            return self._skip("function does not compile alone")
        needed = sorted(names & imports.keys(), key=lambda n: list(imports).index(n))
        missing = names - imports.keys() - _BUILTINS - {node.name}
        if missing:
            return self._skip("uses module-level names that are not imports")
        header = [imports[name] for name in needed]
        text = "\n".join(header) + "\n\n\n" + function if header else function
        program, problem = normalise_program(text)
        if program is None:
            return self._skip(f"normalise: {problem}")
        key = function_key(node)
        if key in self._keys:
            return self._skip("duplicate of an earlier function")
        if "<|diff|>" in program or "<|diff|>" in docstring:
            return self._skip("contains the edit separator")
        if self.linter is not None and self.linter.messages(program + "\n"):
            return self._skip("not lint-clean")
        self._keys.add(key)
        ident = f"mined/{file.module}.{node.name}"
        while ident in self._ids:
            ident += "~"
        self._ids.add(ident)
        return Program(
            id=ident,
            source="mined",
            licence=file.licence,
            instruction=instruction_for(node, docstring),
            program=program,
            origin=f"{file.origin} {file.module}",
        )


def load(include_copyleft: bool = False, stdlib: bool = True, distributions: bool = True,
         linter=None, miner: Miner | None = None) -> Iterator[Program]:
    """Mined programs: the standard library first, then distributions in name order."""
    miner = miner or Miner(linter)
    if stdlib:
        yield from miner.programs(stdlib_files())
    if distributions:
        yield from miner.programs(distribution_files(include_copyleft, miner.skipped))
