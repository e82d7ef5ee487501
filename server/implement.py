"""Implement a function from its signature and docstring, verified against its own examples.
No LSP types.

The LintSeq paper's central finding is that edit-sequence models gain most from repeated
sampling (pass@k grows faster than for plain models). So, for a function whose body is empty (a
docstring only), ``pass``, ``...`` or ``raise NotImplementedError``:

1. up to k candidates are written with checked, edit-by-edit decoding (``decode_program``) after
   the instruction HumanEvalPack's synthesize task gives, built from the function: "Write a
   Python function `{signature}` to solve the following problem:" and its docstring; each
   candidate carries the model's mean log-probability of the tokens it was written with;
2. the candidate's function body (with the imports and helpers its program needs) takes the
   stub's place in the file; a candidate with the same normalised AST as an earlier one, or that
   adds a lint error to the file, is dropped;
3. the rest run in the sandbox (``repair.run_checks``: a subprocess with time and memory limits,
   in a temporary directory) against the function's docstring examples (doctest or informal,
   ``pysource.docstring_examples``) and the file's ``test_*`` functions that call it;
4. ``pick`` chooses: most checks passed, then the highest mean log-probability. Nothing is
   offered when every candidate fails every check; when there is nothing to run, the first
   lint-clean candidate is the answer (and decoding stops there).

The result's ``verification`` says exactly what was verified and, as repair's titles do, how the
checks were isolated ("passes 3/3 docstring examples, sandbox: bubblewrap", "lint-clean,
untested: no examples found"). User code runs only when ``run_code`` (the user's explicit
request). The evaluation harness (``editseq.model.eval``, task ``implement``) calls the same
functions on HumanEval prompts and scores the pick with the hidden tests.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import math
import re
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from . import editformat, sandbox
from .decoding import ProgramJudge, ProgramResult, SamplingSettings, decode_program
from .lintgate import LintMessage, Verdict, detect_indent, verdict_of
from .pysource import (
    FunctionSpan,
    Stub,
    docstring_examples,
    enclosing_function,
    function_stub,
    signature_text,
    test_functions_for,
    top_level_imports,
    top_level_names,
)
from .repair import CheckReport, isolation_words, run_checks
from .runtime import ModelRuntime

# A HumanEval-sized example runs in milliseconds; a candidate that loops is stopped this soon.
CHECK_LIMITS = sandbox.Limits(timeout_s=3.0, memory_mb=512)
INSTRUCTION = "Write a Python function `{signature}` to solve the following problem:\n{problem}"
EXAMPLES_WORD = "docstring examples"

TextJudge = Callable[[str, str], Verdict]  # (file before, file after) -> may it replace it?
Progress = Callable[[str, float], None]  # (what is happening, fraction done)


@dataclass(frozen=True)
class ImplementSettings:
    candidates: int = 10  # the server's ``implementCandidates``
    # The pick among k needs candidates that differ: on all of HumanEval (the harness, n 20, T
    # 0.8; model/results/default-lintseq-checked-implement-n20-t0.8.json) the pick at k 10 passes
    # 9.8%, where at T 0.2 even pass@10, any of ten passing, is 9.8% (v1-lintseq-synthesize-n10-
    # t0.2.json), the most a pick could reach; plain pass@1 is lower at 0.8 (2.5 against 4.3),
    # but the feature offers the pick, not the first sample.
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 384  # per candidate, all edits and attempts (the harness's default)
    edit_tokens: int = 96
    edit_samples: int = 2
    max_edits: int = 24
    seed: int = 0  # candidate i uses seed + i
    limits: sandbox.Limits = CHECK_LIMITS


@dataclass(frozen=True)
class Target:
    """A stub to implement: the function, its stub, what can be run against it, the prompt."""

    span: FunctionSpan
    stub: Stub
    examples: int  # docstring examples
    examples_doctest: str  # as doctest text
    tests: tuple[str, ...]  # test_* functions in the file that call it
    instruction: str

    @property
    def checks_total(self) -> int:
        return self.examples + len(self.tests)

    @property
    def kinds(self) -> str:
        if self.examples and self.tests:
            return f"{EXAMPLES_WORD} and tests"
        return EXAMPLES_WORD if self.examples else "tests"

    def describe_checks(self) -> str:
        parts = []
        if self.examples:
            parts.append(f"{self.examples} docstring example" + ("s" if self.examples > 1 else ""))
        if self.tests:
            parts.append(f"{len(self.tests)} test" + ("s" if len(self.tests) > 1 else ""))
        return " and ".join(parts) if parts else "no examples found"


@dataclass
class ImplementCandidate:
    index: int
    seed: int
    program: ProgramResult | None = None
    new_text: str = ""  # the file with this candidate in place ("" when unusable)
    code: str = ""  # what it adds: helpers and the function
    key: str | None = None  # hash of the new file's normalised AST (None when unusable)
    duplicate_of: int | None = None
    lint: Verdict | None = None
    checks: CheckReport | None = None
    verdict: str = ""  # what happened to it, in words
    timings: dict[str, float] = field(default_factory=dict)  # write_s, lint_s, check_s

    @property
    def mean_logprob(self) -> float | None:
        return self.program.mean_logprob if self.program is not None else None

    @property
    def lint_ok(self) -> bool:
        return self.lint is not None and self.lint.offered

    def ranked(self) -> Ranked:
        return Ranked(self.key, self.lint_ok, self.checks.passed if self.checks else None, self.mean_logprob)


@dataclass
class ImplementResult:
    function: str
    offered: ImplementCandidate | None = None
    verification: str = ""  # what was verified: the same words as the edit's title
    reason: str = ""  # why nothing was offered
    checks: str = ""  # what there is to run: "3 docstring examples", "no examples found"
    stub: str = ""  # what stood in for the body
    candidates: list[ImplementCandidate] = field(default_factory=list)
    latency_ms: float = 0.0
    cancelled: bool = False

    def timings(self) -> dict[str, float]:
        """Seconds spent writing (decoding with its per-edit lint), linting the file and running
        checks (in a worker thread, overlapping the writing), summed over candidates."""
        totals = {"write_s": 0.0, "lint_s": 0.0, "check_s": 0.0}
        for candidate in self.candidates:
            for key, value in candidate.timings.items():
                totals[key] += value
        return {key: round(value, 3) for key, value in totals.items()}

    def generated_tokens(self) -> int:
        return sum(c.program.generated_tokens for c in self.candidates if c.program is not None)


# ------------------------------------------------------------------------- choosing


@dataclass(frozen=True)
class Ranked:
    """What ``pick`` reads of a candidate (the harness rebuilds these from its result files)."""

    key: str | None  # None: no usable function
    lint_ok: bool
    passed: int | None  # checks passed; None when none ran
    mean_logprob: float | None


def pick(items: Sequence[Ranked], has_checks: bool) -> int | None:
    """The index of the candidate to offer, or None.

    Candidates without a usable function, duplicates of an earlier one (same key, whatever that
    one's fate) and candidates that add a lint error drop out. With checks: the most passed,
    then the highest mean log-probability, then the earliest; None when the best passes none.
    Without checks: the first that is left.
    """
    seen: set[str] = set()
    pool = []
    for index, item in enumerate(items):
        if item.key is None or item.key in seen:
            continue
        seen.add(item.key)
        if item.lint_ok:
            pool.append(index)
    if not pool:
        return None
    if not has_checks:
        return pool[0]

    def rank(index: int) -> tuple:
        item = items[index]
        logprob = item.mean_logprob if item.mean_logprob is not None else -math.inf
        return (item.passed or 0, logprob, -index)

    best = max(pool, key=rank)
    return best if (items[best].passed or 0) > 0 else None


# ------------------------------------------------------------------------- the steps


def find_target(text: str, line: int, name: str | None = None) -> Target | str:
    """The stub at ``line`` (or called ``name``), or why there is none."""
    span = enclosing_function(text, line, name)
    if span is None:
        return f"no function named {name}" if name else f"no function at line {line + 1}"
    stub = function_stub(text, span)
    if stub is None:
        try:
            ast.parse(text)
        except (SyntaxError, ValueError) as exc:
            return f"the file does not parse (line {getattr(exc, 'lineno', '?')}): fix that first"
        return (f"{span.name} already has a body (implement fills in one that is empty, pass, ... "
                "or raise NotImplementedError)")
    examples, doctest_text = docstring_examples(span.docstring, span.name)
    tests = tuple(test_functions_for(text, span.name))
    return Target(span, stub, examples, doctest_text, tests, instruction_for_function(text, span))


def instruction_for_function(text: str, span: FunctionSpan) -> str:
    """HumanEvalPack's synthesize instruction for the function: its signature and its docstring
    (each line stripped, blank lines dropped), else the comment above it, else the name alone."""
    lines = text.split("\n")
    signature = signature_text(lines, span)
    problem = span.docstring or editformat.instruction_for(lines, span.start)
    if problem == editformat.GENERIC_INSTRUCTION:
        return f"Write a Python function `{signature}`."
    return INSTRUCTION.format(signature=signature,
                              problem="\n".join(row.strip() for row in problem.split("\n") if row.strip()))


def program_judge(lint: TextJudge, text: str) -> ProgramJudge:
    """The judge of each edit while a candidate is written alone (from an empty state): it adds
    no lint error, linted after the file's imports; a name the file defines elsewhere (a helper,
    a constant) is no undefined variable. The file with the candidate in place is judged again."""
    imports, _ = top_level_imports(text)
    prelude = "\n".join(imports) + "\n" if imports else ""
    known = top_level_names(text)

    def judge(before: list[str], after: list[str]) -> Verdict:
        verdict = lint(prelude + "\n".join(before), prelude + "\n".join(after))
        if not verdict.offered and not verdict.added:  # the linter failed: keep its verdict
            return verdict
        return verdict_of(_unknown(verdict.errors_before, known), _unknown(verdict.errors_after, known),
                          verdict.elapsed_s)

    return judge


def _unknown(messages: list[LintMessage], known: set[str]) -> list[LintMessage]:
    def defined_elsewhere(message: LintMessage) -> bool:
        found = re.search(r"'([^']+)'", message.message)
        return message.symbol == "undefined-variable" and found is not None and found.group(1) in known

    return [m for m in messages if not defined_elsewhere(m)]


def write_candidate(runtime: ModelRuntime, target: Target, text: str, settings: ImplementSettings,
                    index: int, judge: ProgramJudge, cancel: threading.Event | None = None
                    ) -> ImplementCandidate:
    """Candidate ``index``: a program decoded edit by edit, put in the stub's place."""
    seed = settings.seed + index
    sampling = SamplingSettings(max_tokens=settings.edit_tokens, temperature=settings.temperature,
                                top_p=settings.top_p, samples=settings.edit_samples, seed=seed)
    program = decode_program(runtime, target.instruction, sampling, judge=judge, max_edits=settings.max_edits,
                             cancel=cancel, max_tokens=settings.max_tokens, logprobs=True)
    candidate = ImplementCandidate(index, seed, program)
    if program.finish == "cancelled":
        candidate.verdict = "cancelled"
        return candidate
    if not program.lines:
        candidate.verdict = ("every edit the model wrote was turned down (malformed, a repeat, or a lint "
                             "error)" if program.finish == "rejected" else "the model wrote nothing")
        return candidate
    placed = assemble(text, target, program.text)
    if isinstance(placed, str):
        candidate.verdict = placed
    else:
        candidate.new_text, candidate.code, candidate.key = placed
    return candidate


def assemble(text: str, target: Target, program: str) -> tuple[str, str, str] | str:
    """(the file with ``program``'s function body in the stub's place, what was added, its key),
    or why the program is no usable candidate. The program's imports the file lacks go after
    the file's imports; its helper definitions the file lacks go above the function (into its
    body for a nested function); the user's signature and docstring stay as they are."""
    span, stub = target.span, target.stub
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return "the model's program does not parse"
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    written = next((n for n in tree.body if n in functions and n.name == span.name), None) \
        or next((n for n in functions if n.name == span.name), None)
    if written is None:
        return f"the model wrote no function named {span.name}"
    body = list(written.body)
    if body and _docstring(body[0]):
        body.pop(0)
    if not body or _is_stub(body):
        return "the model wrote no body"
    rows = _reindented(program.split("\n"), detect_indent(program), detect_indent(text))
    body_rows = _statements(rows, body, written)
    known = top_level_names(text)
    file_imports, import_at = top_level_imports(text)
    have = {_normalised(source) for source in file_imports}
    imports, helpers = [], []
    for node in tree.body:
        if node is written:
            continue
        source = "\n".join(rows[_first_line(node) : node.end_lineno])
        if isinstance(node, ast.Import | ast.ImportFrom):
            if _normalised(source) not in have:
                have.add(_normalised(source))
                imports.append(textwrap.dedent(source))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name not in known:
                helpers.append(textwrap.dedent(source))
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.lineno < written.lineno:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if names and not names & known:
                helpers.append(textwrap.dedent(source))
    lines = text.split("\n")
    nested = bool(span.indent)
    inside = [row for helper in helpers for row in helper.split("\n") + [""]] if nested else []
    new_body = [stub.indent + row if row.strip() else "" for row in inside + body_rows]
    replacement = ([stub.head] if stub.head is not None else []) + new_body
    out = lines[: stub.start] + replacement + lines[stub.end :]
    if helpers and not nested:
        above = [row for helper in helpers for row in helper.split("\n") + ["", ""]]
        out = out[: stub.above] + above + out[stub.above :]
    if imports:
        block = [row for source in imports for row in source.split("\n")]
        if not file_imports:
            block = ([""] if import_at else []) + block + [""]
        out = out[:import_at] + block + out[import_at:]
    new_text = "\n".join(out)
    try:
        key = hashlib.sha256(ast.dump(ast.parse(new_text)).encode("utf-8")).hexdigest()[:16]
    except (SyntaxError, ValueError):
        return "the function does not parse in the file"
    code = "\n".join([*imports, *(h for h in helpers if not nested), *_function_rows(new_text, span.name)])
    return new_text, code, key


def _reindented(rows: list[str], unit: str, wanted: str) -> list[str]:
    """``rows`` indented with ``unit`` re-indented with ``wanted`` (say 2 spaces to 4), so that the
    candidate's blocks match the file's (pylint's bad-indentation)."""
    if unit == wanted or set(unit) != {" "} or set(wanted) != {" "}:
        return rows
    out = []
    for row in rows:
        width = len(row) - len(row.lstrip(" "))
        levels, rest = divmod(width, len(unit))
        out.append(wanted * levels + " " * rest + row[width:])
    return out


def _docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_stub(body: list[ast.stmt]) -> bool:
    if len(body) != 1:
        return False
    node = body[0]
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node.value.value is Ellipsis:
        return True
    return isinstance(node, ast.Raise) and "NotImplementedError" in ast.unparse(node)


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1


def _statements(rows: list[str], body: list[ast.stmt], function: ast.AST) -> list[str]:
    """The source of ``body`` (statements of ``function``), dedented to column 0."""
    first = body[0]
    if first.lineno == function.lineno:  # def f(x): return x
        return [rows[first.lineno - 1][first.col_offset :].rstrip()]
    return textwrap.dedent("\n".join(rows[first.lineno - 1 : body[-1].end_lineno])).split("\n")


def _normalised(source: str) -> str:
    try:
        return ast.dump(ast.parse(textwrap.dedent(source)))
    except (SyntaxError, ValueError):
        return source


def _function_rows(text: str, name: str) -> list[str]:
    span = enclosing_function(text, 0, name)
    return text.split("\n")[span.start : span.end] if span else []


def check_candidate(target: Target, text: str, candidate: ImplementCandidate, limits: sandbox.Limits
                    ) -> CheckReport | None:
    """Run the user's examples and tests (as the user wrote them, not the candidate's) on it."""
    span = enclosing_function(candidate.new_text, target.span.start, target.span.name) or target.span
    origin = dataclasses.replace(target.span, docstring=target.examples_doctest)
    started = time.perf_counter()
    try:
        return run_checks(candidate.new_text, span, limits, checks_from=(origin, text))
    finally:
        candidate.timings["check_s"] = time.perf_counter() - started


def describe_checks(report: CheckReport, target: Target, limits: sandbox.Limits) -> str:
    """What a candidate's checks showed, and how they were isolated (as repair's titles say it):
    "passes 2/2 docstring examples, sandbox: bubblewrap"."""
    if report.status == "timeout":
        verdict = f"stopped after {limits.timeout_s:g} s (a loop that does not end?)"
    elif report.status == "memory":
        verdict = f"stopped at {limits.memory_mb} MB"
    elif report.passed == 0:
        verdict = f"fails all {report.total} {target.kinds}"
    else:
        verdict = f"passes {report.passed}/{report.total} {target.kinds}"
    where = isolation_words(report)
    return f"{verdict}, {where}" if where else verdict


# ------------------------------------------------------------------------- the feature


def implement(runtime: ModelRuntime, lint: TextJudge, text: str, line: int, *, name: str | None = None,
              settings: ImplementSettings = ImplementSettings(), run_code: bool = True,
              cancel: threading.Event | None = None, progress: Progress | None = None) -> ImplementResult:
    """Implement the stub at ``line`` (or called ``name``): up to ``settings.candidates``
    candidates, checked, and the best of them offered with what was verified."""
    started = time.perf_counter()
    cancel = cancel or threading.Event()
    target = find_target(text, line, name)
    if isinstance(target, str):
        return ImplementResult(name or "", reason=target)
    result = ImplementResult(target.span.name, checks=target.describe_checks(), stub=target.stub.kind)
    will_check = run_code and target.checks_total > 0
    judge = program_judge(lint, text)
    k = settings.candidates
    report = progress or (lambda message, fraction: None)
    keys: dict[str, int] = {}
    checking: list[tuple[ImplementCandidate, Future]] = []
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editseq-checks") if will_check else None
    try:
        for index in range(k):
            if cancel.is_set():
                break
            report(f"writing candidate {index + 1}/{k}", 0.9 * index / k)
            writing = time.perf_counter()
            candidate = write_candidate(runtime, target, text, settings, index, judge, cancel)
            candidate.timings["write_s"] = time.perf_counter() - writing
            result.candidates.append(candidate)
            if cancel.is_set():
                break
            if candidate.key is None:
                continue
            if candidate.key in keys:
                candidate.duplicate_of = keys[candidate.key]
                candidate.verdict = f"the same program as candidate {keys[candidate.key] + 1}"
                continue
            keys[candidate.key] = index
            linting = time.perf_counter()
            candidate.lint = lint(text, candidate.new_text)
            candidate.timings["lint_s"] = time.perf_counter() - linting
            if not candidate.lint.offered:
                candidate.verdict = candidate.lint.reason
                continue
            if not will_check:
                candidate.verdict = _unchecked_title(candidate, target, run_code)
                break  # nothing to run: the first lint-clean candidate is the answer
            checking.append((candidate, pool.submit(check_candidate, target, text, candidate, settings.limits)))
        for done, (candidate, future) in enumerate(checking):
            report(f"checking candidate {candidate.index + 1} ({done + 1}/{len(checking)})",
                   0.9 + 0.1 * done / len(checking))
            while not cancel.is_set():
                try:
                    candidate.checks = future.result(timeout=0.1)
                    break
                except TimeoutError:
                    continue
            if cancel.is_set():
                break
            candidate.verdict = describe_checks(candidate.checks, target, settings.limits)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    if cancel.is_set():
        result.cancelled = True
        result.reason = "cancelled"
        result.latency_ms = (time.perf_counter() - started) * 1000
        return result
    chosen = pick([c.ranked() for c in result.candidates], will_check)
    if chosen is not None:
        result.offered = result.candidates[chosen]
        result.verification = result.offered.verdict
    else:
        result.reason = _nothing_offered(result, target, will_check)
    result.latency_ms = (time.perf_counter() - started) * 1000
    return result


def _unchecked_title(candidate: ImplementCandidate, target: Target, run_code: bool) -> str:
    clean = "lint-clean" if candidate.lint is not None and not candidate.lint.errors_after else "adds no lint error"
    why = "checks not run" if target.checks_total and not run_code else "no examples found"
    return f"{clean}, untested: {why}"


def _nothing_offered(result: ImplementResult, target: Target, checked: bool) -> str:
    tried = len(result.candidates)
    reasons = "; ".join(reason + (f" (x{count})" if count > 1 else "") for reason, count in
                        _counts(c.verdict for c in result.candidates if c.duplicate_of is None).items())
    duplicates = sum(c.duplicate_of is not None for c in result.candidates)
    detail = f"{tried} tried" + (f", {duplicates} duplicates" if duplicates else "") + (f": {reasons}" if reasons else "")
    if checked and any(c.checks is not None for c in result.candidates):
        return f"no candidate passes any of its {target.checks_total} {target.kinds} ({detail})"
    return f"no usable candidate ({detail})"


def _counts(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
