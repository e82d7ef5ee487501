"""Teacher pairs, one request at a time: the prompt, the reply's parts, and the filter.

OSS-Instruct style: each request shows the teacher a few lines of a real mined function (the
seed snippet) and asks for one new self-contained exercise in a fixed format (problem, solution,
assert-based tests), after one worked exchange that shows the format. ``build_request`` makes
request ``index`` from ``(seed, index)`` alone, so a run is reproducible and resumable;
``parse_reply`` splits the answer; ``Checker`` keeps a pair only when the solution parses,
normalises, imports nothing outside the standard library, does not copy its seed, is not a
HumanEvalPack look-alike, is lint-clean under LintSeq's rules (``typing`` names and common
standard-library names used without their import are imported first) and passes its own tests in
``editseq.sandbox`` (time and memory limits). Each assert is run on its own: the teacher often
writes a wrong expected value next to a right solution, so failing asserts are dropped from the
kept tests as long as at most ``max_failing_asserts`` fail and at least ``min_asserts`` pass. No model code here: the teacher is any
object with ``complete(user, seed) -> Reply`` (``teacher_gen.LlamaTeacher``, or a fake in tests).
"""

from __future__ import annotations

import ast
import difflib
import json
import random
import re
import sys
import typing
import warnings
from dataclasses import asdict, dataclass, field

from editseq.chat import fenced_blocks
from editseq.model.sources import Program, imported_modules, imported_modules_of, normalise_program
from editseq.model.sources.decontaminate import function_key

PROMPT_VERSION = 8  # 5: the prompt of 4; stdlib seed pool, asserts judged one by one. 6: snippets
# from the function body only (every v5 copy of the seed had its `def` line), replies stopped at
# max_asserts asserts, tests cut back to their longest parsing prefix. 7: a worked example that
# draws its task from its snippet, not one about counting words (v6 wrote `count_words` 92 times
# in 3,300 requests, 85 of them duplicates), and a rule against textbook exercises (a third of
# v6's kept pairs were duplicates; a tenth of its requests were HumanEvalPack look-alikes).
# 8: 7 without that rule: naming the textbook tasks primed them (160 requests of v7 wrote 9
# email validators and 8 string/list reversals), and its pairs were no less often duplicates
# Rules first and the snippet last, after one worked exchange: consecutive prompts share the long
# prefix, so llama.cpp keeps its KV cache for it and only the snippet is new work.
PROMPT = """Invent ONE new, self-contained Python programming exercise. Rules:
- The solution is one Python function (small helpers allowed) using only the standard library.
- No input(), no print(), no files, no network, no randomness, no classes.
- Write 3 to 5 tests as plain `assert` statements that call the function with small literal
  inputs whose results are easy to check by hand.
- Take the idea from what the snippet below does (its data and its operations), but make it a
  different, simpler task: do not copy it. Give the function a specific, descriptive name.

Answer in exactly this format and nothing else:
### Problem
<the task in 1-3 sentences; name the function and its arguments>
### Solution
```python
<the function>
```
### Tests
```python
assert ...
```

Snippet for inspiration:
```python
{snippet}
```"""
ASSISTANT_PREFIX = "### Problem\n"
EXAMPLE_SNIPPET = """    major, minor = version.split(".")[:2]
    if int(major) < 3:
        raise ValueError(f"unsupported version {version}")"""
EXAMPLE_ANSWER = """### Problem
Write a function `parse_version(text)` that turns a version string such as `"1.10.2"` into a
tuple of integers, ignoring a leading `"v"`.
### Solution
```python
def parse_version(text):
    if text.startswith("v"):
        text = text[1:]
    return tuple(int(part) for part in text.split("."))
```
### Tests
```python
assert parse_version("1.10.2") == (1, 10, 2)
assert parse_version("v2.0") == (2, 0)
assert parse_version("7") == (7,)
```"""


def messages(user: str) -> list[dict]:
    """The chat: one worked exchange (the format, by example), then the request."""
    return [
        {"role": "user", "content": PROMPT.replace("{snippet}", EXAMPLE_SNIPPET)},
        {"role": "assistant", "content": EXAMPLE_ANSWER},
        {"role": "user", "content": user},
    ]
TESTS_HEADER = "### Tests"
TESTS_OPENER = "\n### Tests\n```python\n"  # forced when the teacher stops before its tests


@dataclass(frozen=True)
class TeacherSettings:
    """Everything that fixes what the teacher is asked and how its answers are judged."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 400  # per reply; generation also stops once the tests block is closed
    n_ctx: int = 2048
    seed_imports: str = "stdlib"  # seed pool: "any" mined program, or "stdlib" (those importing only stdlib)
    snippet_min_lines: int = 4  # the seed snippet: this many consecutive lines of a mined function
    snippet_max_lines: int = 12
    max_solution_lines: int = 60
    test_timeout_s: float = 10.0  # sandbox limits for solution + tests
    test_memory_mb: int = 512
    copy_ratio: float = 0.8  # difflib ratio to the seed function at or above which it is a copy
    min_asserts: int = 2  # passing asserts a kept pair needs
    max_failing_asserts: int = 1  # dropped from its tests; more suggests a wrong solution
    max_asserts: int = 5  # the prompt asks for 3-5; generation stops when another one begins
    prompt_version: int = PROMPT_VERSION

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    id: str  # "teacher/<seed>-<index:06d>"
    index: int
    seed_id: str  # the mined program the snippet comes from
    snippet: str
    sampling_seed: int
    user: str  # the user message


@dataclass(frozen=True)
class Reply:
    text: str  # the answer, assistant prefix included
    finish: str = "eos"  # eos | stop | length | tests_closed; "+tests": the tests were asked for
    generated_tokens: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    seconds: float = 0.0


def usable_seeds(pool: list[tuple[str, str]], settings: TeacherSettings) -> list[tuple[str, str]]:
    """The pool requests draw from: with ``seed_imports="stdlib"``, the programs whose imports
    are all standard library (snippets of torch or sympy code lure the teacher into importing
    them, or into copying the snippet)."""
    if settings.seed_imports == "any":
        return pool
    if settings.seed_imports != "stdlib":
        raise ValueError(f"seed_imports must be 'stdlib' or 'any', not {settings.seed_imports!r}")
    return [(i, p) for i, p in pool if imported_modules_of(p) <= sys.stdlib_module_names]


def request_id(seed: int, index: int) -> str:
    return f"teacher/{seed}-{index:06d}"


def build_request(seed: int, index: int, pool: list[tuple[str, str]], settings: TeacherSettings) -> Request:
    """Request ``index`` of the run with ``seed``: a snippet drawn from ``pool`` ((id, program)
    pairs in a fixed order) and a sampling seed, both from ``random.Random(f"{seed}/{index}")``."""
    rng = random.Random(f"teacher/{seed}/{index}")
    seed_id, program = pool[rng.randrange(len(pool))]
    lines = body_lines(program)
    size = rng.randint(settings.snippet_min_lines, settings.snippet_max_lines)
    start = rng.randint(0, max(0, len(lines) - size))
    snippet = "\n".join(lines[start : start + size]).rstrip()
    sampling_seed = rng.getrandbits(31)
    return Request(request_id(seed, index), index, seed_id, snippet, sampling_seed,
                   PROMPT.replace("{snippet}", snippet))


def body_lines(program: str) -> list[str]:
    """The lines of the body of ``program``'s first function, without its ``def`` line(s) or
    anything above them: shown a signature, the teacher copies the function (v5: 50 of 200
    requests, every one of them with the ``def`` line in its snippet)."""
    lines = program.split("\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(program)
    function = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    body = lines[function.body[0].lineno - 1 : function.end_lineno]
    while body and not body[0].strip():
        body.pop(0)
    return body


def needs_tests(text: str) -> bool:
    """True when a finished answer has a closed solution block but no tests section: the teacher
    often ends its turn there, and is then asked to go on from ``TESTS_OPENER``."""
    return TESTS_HEADER not in text and "### Solution" in text and text.count("```") >= 2


def answer_complete(text: str, max_asserts: int = TeacherSettings.max_asserts) -> bool:
    """True once the reply's tests block is complete, or once it has begun an assert beyond
    ``max_asserts`` (cut off again by ``parse_prefix``): generation can stop there."""
    _, found, tail = text.partition(TESTS_HEADER)
    return bool(found) and (tail.count("```") >= 2 or too_many_asserts(tail, max_asserts))


def too_many_asserts(tests: str, max_asserts: int) -> bool:
    """True once ``tests`` (reply text) has begun an assert beyond ``max_asserts``."""
    return sum(line.startswith("assert") for line in tests.split("\n")) > max_asserts


# -- parsing ----------------------------------------------------------------------------------

_SECTIONS = re.compile(r"### Problem\s*\n(.*?)\n\s*### Solution\s*\n(.*?)\n\s*### Tests\s*\n(.*)", re.DOTALL)


@dataclass(frozen=True)
class Parsed:
    problem: str
    solution: str
    tests: str


class Drop(Exception):
    """A reply that is not kept; the message is the reason (``class: detail``)."""


def _code(section: str) -> str:
    blocks = fenced_blocks(section)
    return (blocks[0].code if blocks else section).strip("\n")


def parse_reply(text: str) -> Parsed:
    match = _SECTIONS.search(text)
    if match is None:
        raise Drop("format: missing a Problem, Solution or Tests section")
    problem = match.group(1).strip()
    if not problem:
        raise Drop("format: empty problem")
    return Parsed(problem, _code(match.group(2)), _code(match.group(3)))


def _parse(code: str, what: str) -> ast.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except (SyntaxError, ValueError) as exc:
        raise Drop(f"{what}: {type(exc).__name__}") from exc


_SOLUTION_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign)
_TEST_NODES = (ast.Import, ast.ImportFrom, ast.Assert, ast.Assign)


def _keep_nodes(code: str, tree: ast.Module, allowed: tuple) -> tuple[str, int]:
    """``code`` without its top-level statements of other kinds (example calls, prints, a main
    guard, asserts inside the solution), and how many were removed."""
    others = [node for node in tree.body if not isinstance(node, allowed)]
    return _without_nodes(code, others), len(others)


def _without_nodes(code: str, nodes: list[ast.stmt]) -> str:
    """``code`` without the lines of ``nodes`` (top-level statements of its tree, decorators
    included)."""
    drop: set[int] = set()
    for node in nodes:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        drop.update(range(first - 1, node.end_lineno))
    return "\n".join(line for row, line in enumerate(code.split("\n")) if row not in drop)


def parse_prefix(code: str, what: str) -> tuple[str, ast.Module]:
    """``code`` and its tree, or its longest prefix of whole lines that parses: a reply cut off
    mid-assert (by ``max_asserts`` or the token limit) keeps the asserts before the cut."""
    try:
        return code, _parse(code, what)
    except Drop:
        lines = code.split("\n")
        for end in range(len(lines) - 1, 0, -1):
            prefix = "\n".join(lines[:end])
            try:
                return prefix, _parse(prefix, what)
            except Drop:
                continue
        raise


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return f"{node.name}({ast.unparse(node.args)})"


# -- the filter -------------------------------------------------------------------------------


@dataclass
class Kept:
    instruction: str
    program: str  # normalised solution
    tests: str
    entry_point: str
    removed_statements: int = 0
    meta: dict = field(default_factory=dict)


class Checker:
    """Judges parsed replies; ``linter`` (``editseq.lintgate.Linter``) and ``decontaminator``
    (``Decontaminator``) are passed in so that workers keep them warm."""

    def __init__(self, settings: TeacherSettings, linter, decontaminator, run_program=None) -> None:
        from editseq.sandbox import Limits
        from editseq.sandbox import run_program as sandbox_run

        self.settings = settings
        self.linter = linter
        self.decontaminator = decontaminator
        self.run_program = run_program or sandbox_run
        self.limits = Limits(timeout_s=settings.test_timeout_s, memory_mb=settings.test_memory_mb,
                             max_output_chars=1000)

    def check(self, request: Request, reply: Reply, seed_program: str) -> Kept:
        """The kept pair, or raises ``Drop`` with the reason."""
        parsed = parse_reply(reply.text)
        tree = _parse(parsed.solution, "solution does not parse")
        solution, removed = _keep_nodes(parsed.solution, tree, _SOLUTION_NODES)
        program, problem = normalise_program(solution)
        if program is None:
            raise Drop(f"solution normalise: {problem}")
        tree = _parse(program, "solution does not parse")
        functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if not functions:
            raise Drop("solution defines no function")
        if len(program.split("\n")) > self.settings.max_solution_lines:
            raise Drop(f"solution over {self.settings.max_solution_lines} lines")
        for module in imported_modules(tree):
            if module not in sys.stdlib_module_names:
                raise Drop(f"imports outside the standard library: {module}")
        if "<|diff|>" in program or "<|diff|>" in parsed.problem:
            raise Drop("contains the edit separator")

        tests, test_tree = parse_prefix(parsed.tests, "tests do not parse")
        tests, _ = _keep_nodes(tests, test_tree, _TEST_NODES)
        test_tree = _parse(tests, "tests do not parse")
        asserts = [n for n in test_tree.body if isinstance(n, ast.Assert)]
        if len(asserts) > self.settings.max_asserts:  # a reply that was not stopped at the limit
            tests = _without_nodes(tests, asserts[self.settings.max_asserts:])
            test_tree = _parse(tests, "tests do not parse")
            asserts = [n for n in test_tree.body if isinstance(n, ast.Assert)]
        if len(asserts) < self.settings.min_asserts:
            raise Drop(f"fewer than {self.settings.min_asserts} asserts in the tests")
        called = {n.func.id for a in asserts for n in ast.walk(a)
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        entry = next((f for f in functions if f.name in called), None)
        if entry is None:
            raise Drop("no assert calls a solution function")
        for module in imported_modules(test_tree):
            if module not in sys.stdlib_module_names:
                raise Drop(f"imports outside the standard library: {module}")

        instruction = parsed.problem
        if not re.search(rf"\b{re.escape(entry.name)}(\(|`)", instruction):  # named as a function
            instruction += f"\nWrite it as a Python function `{_signature(entry)}`."
        candidate = Program(request.id, "teacher", "", instruction, program)
        why = self.decontaminator.reason(candidate)
        if why is not None:
            raise Drop(f"contaminated: {why}")
        if _copies(program, seed_program, self.settings.copy_ratio):
            raise Drop("copies the seed snippet")
        program, messages = self._lint(program)
        if messages:
            raise Drop("not lint-clean: " + ",".join(sorted({m.symbol for m in messages})))
        result = self.run_program(program + "\n\n\n" + _assert_runner(tests, test_tree) + "\n", self.limits)
        verdicts = _assert_verdicts(result.stdout)
        if not result.passed:
            raise Drop(f"tests {result.status}: {_last_line(result.stderr)}")
        if verdicts is None or len(verdicts) != len(asserts):  # e.g. the tests exit early
            raise Drop("tests gave no verdicts: they ended before every assert was judged")
        passing = sum(verdicts)
        if passing < self.settings.min_asserts or len(asserts) - passing > self.settings.max_failing_asserts:
            raise Drop(f"tests failed: {passing} of {len(asserts)} asserts pass")
        tests = _without_failing_asserts(tests, test_tree, verdicts)
        return Kept(instruction, program, tests, entry.name, removed,
                    {"asserts": len(asserts), "asserts_kept": passing, "test_seconds": result.elapsed_s})

    def _lint(self, program: str) -> tuple[str, list]:
        """Lint messages of ``program``; names from ``typing`` or ``_STDLIB_NAMES`` used without
        their import (the teacher's most common slip) are imported first, and only then is it
        judged."""
        messages = self.linter.messages(program + "\n")
        missing = {m.message.split("'")[1] for m in messages
                   if m.symbol == "undefined-variable" and m.message.count("'") == 2}
        known = _TYPING_NAMES | set(_STDLIB_NAMES)
        if messages and missing and missing <= known and all(m.symbol == "undefined-variable" for m in messages):
            program = _import_names(missing) + "\n\n\n" + program
            messages = self.linter.messages(program + "\n")
        return program, messages


_TYPING_NAMES = frozenset(typing.__all__)
# Standard-library names the teacher uses without importing them: name -> the module it is from
# (a module imports itself).
_STDLIB_NAMES = {
    **{module: module for module in ("math", "re", "collections", "itertools", "functools", "string",
                                     "heapq", "bisect", "operator", "statistics", "datetime", "json")},
    "reduce": "functools", "lru_cache": "functools", "partial": "functools",
    "sqrt": "math", "gcd": "math", "floor": "math", "ceil": "math", "inf": "math", "pi": "math",
    "Counter": "collections", "defaultdict": "collections", "deque": "collections",
    "namedtuple": "collections", "OrderedDict": "collections",
    "permutations": "itertools", "combinations": "itertools", "product": "itertools",
    "accumulate": "itertools", "chain": "itertools", "groupby": "itertools",
    "heappush": "heapq", "heappop": "heapq", "bisect_left": "bisect", "bisect_right": "bisect",
}


def _import_names(names: set[str]) -> str:
    """Import lines for ``names`` (``typing`` names and ``_STDLIB_NAMES``), sorted like isort."""
    modules = sorted(n for n in names if _STDLIB_NAMES.get(n) == n)
    by_module: dict[str, list[str]] = {}
    for name in sorted(names - set(modules)):
        by_module.setdefault("typing" if name in _TYPING_NAMES else _STDLIB_NAMES[name], []).append(name)
    lines = [f"import {m}" for m in modules]
    lines += [f"from {m} import {', '.join(found)}" for m, found in sorted(by_module.items())]
    return "\n".join(lines)


_VERDICTS = "EDITSEQ-ASSERTS "


def _assert_runner(tests: str, tree: ast.Module) -> str:
    """``tests`` with every top-level assert run on its own: an assert that fails (or raises)
    is recorded, not fatal; the verdicts are printed as one JSON line at the end."""
    lines = tests.split("\n")
    out = ["_editseq_verdicts = []"]
    previous = 0
    for node in tree.body:
        out.extend(lines[previous : node.lineno - 1])
        source = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        previous = node.end_lineno
        if not isinstance(node, ast.Assert):
            out.append(source)
            continue
        body = "\n".join("    " + line for line in source.split("\n"))
        out += ["try:", body, "    _editseq_verdicts.append(True)",
                "except Exception:  # noqa: BLE001", "    _editseq_verdicts.append(False)"]
    out += lines[previous:]
    out += ["import json as _editseq_json", f"print({_VERDICTS!r} + _editseq_json.dumps(_editseq_verdicts))"]
    return "\n".join(out)


def _assert_verdicts(stdout: str) -> list[bool] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(_VERDICTS):
            return [bool(v) for v in json.loads(line[len(_VERDICTS):])]
    return None


def _without_failing_asserts(tests: str, tree: ast.Module, verdicts: list[bool]) -> str:
    asserts = [node for node in tree.body if isinstance(node, ast.Assert)]
    return _without_nodes(tests, [node for node, ok in zip(asserts, verdicts) if not ok])


def _copies(program: str, seed_program: str, ratio: float) -> bool:
    """Same normalised function as the seed, or nearly the same text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours, theirs = ast.parse(program), ast.parse(seed_program)
    except (SyntaxError, ValueError):
        return False
    keys = {function_key(n) for n in ast.walk(theirs) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if any(function_key(n) in keys for n in ast.walk(ours)
           if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        return True
    return difflib.SequenceMatcher(None, program, seed_program, autojunk=False).ratio() >= ratio


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:160]
