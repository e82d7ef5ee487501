"""Repair a function, HumanEvalFix-style, and say exactly what was verified. No LSP types.

Context for the model: the function, its pylint errors and, when the user asked for a repair,
the failing output of its doctests and of ``test_*`` functions in the same file that use it
(``repair_instruction``). An edit-sequence model answers with replacement edits to the function
(``repair_edit_prompt``), a chat model with a rewrite (``repair_prompt``). Each candidate must
add no lint error; when checks exist they run in
the sandbox (a subprocess with time and memory limits, in a temporary directory: the user's file
is never touched). A candidate is offered only if it helps (more checks pass, or fewer lint
errors) and is worse at nothing; its ``verification`` says what was checked, and in which sandbox
isolation the checks ran ("sandbox: bubblewrap", "sandbox: namespaces", "sandbox: rlimits only").
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import editformat, sandbox
from .chat import ChatFormat, chat_format, code_blocks
from .lintgate import LintGate, LintMessage, detect_indent
from .pysource import FunctionSpan, doctest_count, enclosing_function, test_functions_for
from .runtime import Generation, ModelRuntime

CHECK_LIMITS = sandbox.Limits(timeout_s=10.0, memory_mb=512)

# Runs in the sandbox: imports the user's file as a module (its __main__ block does not run),
# then the function's doctests and the file's tests that call it; prints one JSON line.
_RUNNER = '''
import doctest, importlib, io, json, os, sys, traceback
name, tests = sys.argv[1], sys.argv[2:]
report = {"passed": 0, "failed": 0, "output": ""}
out = io.StringIO()
try:
    module = importlib.import_module("target")
    getattr(module, name)
    examples = open("doctests.txt", encoding="utf-8").read()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    test = doctest.DocTestParser().get_doctest(examples, vars(module).copy(), name, "target.py", 0)
    result = runner.run(test, out=out.write)
    report["passed"] += result.attempted - result.failed
    report["failed"] += result.failed
    for test_name in tests:
        try:
            getattr(module, test_name)()
            report["passed"] += 1
        except Exception as exc:  # from the test's frame on: this runner is not the user's code
            report["failed"] += 1
            trace = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next, limit=3)
            out.write(f"{test_name} failed:\\n" + "".join(trace))
except BaseException:
    out.write(traceback.format_exc(limit=3))
# the sandbox's temporary folder changes every run; the file is target.py wherever it runs
report["output"] = out.getvalue().replace(os.getcwd() + os.sep, "")[-1500:]
print("EDITSEQ-REPORT " + json.dumps(report))
'''


@dataclass(frozen=True)
class CheckReport:
    passed: int
    total: int  # doctest examples + test functions, counted from the source
    output: str
    status: str  # the sandbox's: passed | failed | timeout | memory | output_limit
    isolation: str = ""  # the sandbox's: bubblewrap | namespaces | rlimits ("" if nothing ran)

    @property
    def all_pass(self) -> bool:
        return self.total > 0 and self.passed == self.total


@dataclass
class RepairCandidate:
    code: str
    new_text: str
    lint_errors: list[LintMessage]
    lint_ok: bool  # adds no lint error
    checks: CheckReport | None
    offered: bool = False  # it helps and is worse at nothing
    verdict: str = ""  # what was verified (offered), or why it was not offered
    attempt: int = 0  # which generation wrote it (0: the greedy one)


@dataclass
class RepairResult:
    function: str
    offered: RepairCandidate | None = None
    verification: str = ""  # what was verified, the same words as the action's title
    reason: str = ""  # why nothing was offered
    before_checks: CheckReport | None = None
    before_lint: list[LintMessage] = field(default_factory=list)
    candidates: list[RepairCandidate] = field(default_factory=list)
    latency_ms: float = 0.0
    generated_tokens: int = 0  # by the model, over every candidate


def check_kinds(span: FunctionSpan, tests: list[str]) -> str:
    doctests = doctest_count(span)
    if doctests and tests:
        return "doctests and tests"
    return "doctests" if doctests else "tests"


def run_checks(text: str, span: FunctionSpan, limits: sandbox.Limits = CHECK_LIMITS,
               checks_from: tuple[FunctionSpan, str] | None = None) -> CheckReport | None:
    """Run the function's doctests and tests on ``text`` in the sandbox; None if it has none.

    ``checks_from`` (the original function and file) fixes which doctests and tests count, so a
    candidate cannot pass by rewriting or dropping the examples in its own docstring.
    """
    origin_span, origin_text = checks_from or (span, text)
    tests = test_functions_for(origin_text, origin_span.name)
    total = doctest_count(origin_span) + len(tests)
    if total == 0:
        return None
    result = sandbox.run_program(_RUNNER, limits, filename="editseq_checks.py",
                                 files={"target.py": text, "doctests.txt": origin_span.docstring or ""},
                                 args=(span.name, *tests))
    for row in reversed(result.stdout.splitlines()):
        if row.startswith("EDITSEQ-REPORT "):
            report = json.loads(row[len("EDITSEQ-REPORT "):])
            # the runner survives a MemoryError raised inside a check; report it as the limit it is
            status = "memory" if "MemoryError" in report["output"] else result.status
            return CheckReport(min(report["passed"], total), total, report["output"], status,
                               result.isolation)
    why = {"timeout": f"stopped after {limits.timeout_s:g} s", "memory": f"stopped at {limits.memory_mb} MB"}
    output = why.get(result.status, result.output[-1500:])
    return CheckReport(0, total, output, result.status, result.isolation)


ISOLATION_WORDS = {"bubblewrap": "sandbox: bubblewrap", "namespaces": "sandbox: namespaces",
                   "rlimits": "sandbox: rlimits only"}


def isolation_words(checks: CheckReport | None) -> str:
    """How the checks were isolated, for a verification title ("" when nothing ran)."""
    return ISOLATION_WORDS.get(checks.isolation, "") if checks is not None else ""


def repair_instruction(name: str, lint: list[LintMessage], checks: CheckReport | None) -> str:
    """What the model is told besides the code: the function's lint errors (lines counted from
    its ``def``, line 1), the output of its failing checks, and the request."""
    parts = []
    if lint:
        parts.append("pylint reports:\n" + "\n".join(f"line {m.line}: {m.msg_id} {m.message}" for m in lint[:10]))
    if checks is not None and not checks.all_pass:
        parts.append(f"Its checks fail ({checks.passed}/{checks.total} pass):\n{checks.output.strip()[-800:]}")
    parts.append(f"Fix bugs in {name}.")
    return "\n\n".join(parts)


def repair_prompt(chat: ChatFormat, code: str, instruction: str) -> str:
    """The chat model's prompt: the function in a fence, then the instruction; it answers with a
    rewrite."""
    return chat.prompt(f"```python\n{code}\n```\n\n{instruction}", assistant_prefix="```python\n")


def repair_edit_prompt(code: str, instruction: str) -> str:
    """The edit-sequence model's prompt: the instruction, then the function (at column 0) as the
    state written so far; it answers with edits (replacements) to it."""
    return editformat.build_prompt(instruction, textwrap.dedent(code).split("\n"))


def relative_lint(messages: list[LintMessage], span: FunctionSpan) -> list[LintMessage]:
    """``span``'s lint messages, their lines counted from its ``def`` (line 1)."""
    return [dataclasses.replace(m, line=m.line - span.start) for m in messages
            if span.start < m.line <= span.end]


def _replace_function(lines: list[str], span: FunctionSpan, code: str) -> str:
    code_lines = textwrap.dedent(code).strip("\n").split("\n")
    if span.indent:
        code_lines = [span.indent + row if row.strip() else row for row in code_lines]
    return "\n".join(lines[: span.start] + code_lines + lines[span.end :])


def _candidate_code(generated: str, name: str) -> str | None:
    text = "```python\n" + generated
    for block in code_blocks(text):
        if f"def {name}" in block:
            start = block.index(f"def {name}")
            line_start = block.rfind("\n", 0, start) + 1
            return block[line_start:]
    return None


def repair(runtime: ModelRuntime, gate: LintGate, text: str, line: int, *, name: str | None = None,
           candidates: int = 3, max_tokens: int = 320, temperature: float = 0.7, run_code: bool = True,
           edits: bool = False, also: Sequence[tuple[ModelRuntime, bool]] = (),
           cancel: threading.Event | None = None) -> RepairResult:
    """Propose a verified repair of the function at ``line`` (or called ``name``).

    ``edits``: ``runtime`` is an edit-sequence model, which answers with replacement edits to the
    function (``repair_edit_prompt``); else a chat model, which rewrites it (``repair_prompt``).
    ``also``: more (runtime, edits) writers, taking turns with the first: models that fix
    different bugs. Each writer's first candidate is greedy, its others sampled at ``temperature``.
    """
    started = time.perf_counter()
    span = enclosing_function(text, line, name)
    if span is None:
        where = f"named {name}" if name else f"at line {line + 1}"
        return RepairResult(name or "", reason=f"no function {where}")
    lines = text.split("\n")
    result = RepairResult(span.name)
    indent = detect_indent(text)
    before = gate.check(text, indent)
    result.before_lint = before.messages
    result.before_checks = run_checks(text, span) if run_code else None
    tests = test_functions_for(text, span.name)
    source = span.source(lines)
    instruction = repair_instruction(span.name, relative_lint(before.messages, span), result.before_checks)
    writers = [_edit_writer(r, source, instruction) if e else _chat_writer(r, source, instruction, span.name)
               for r, e in [(runtime, edits), *also]]
    for attempt in range(candidates):
        turn = attempt // len(writers)  # this writer's how-manieth candidate
        code, generation = writers[attempt % len(writers)](
            max_tokens=max_tokens, temperature=temperature if turn else 0.0, seed=turn, cancel=cancel)
        result.generated_tokens += generation.generated_tokens
        if generation.finish == "cancelled":
            result.reason = "cancelled"
            break
        if (code is None or textwrap.dedent(code).strip() == textwrap.dedent(source).strip()
                or any(c.code == code for c in result.candidates)):
            continue
        new_text = _replace_function(lines, span, code)
        verdict = gate.judge(text, new_text)
        new_span = enclosing_function(new_text, span.start, span.name)
        # the docstring is the function's spec (its examples are checks): a repair keeps it
        keeps_docstring = not span.docstring or (new_span is not None and new_span.docstring == span.docstring)
        checks = None
        if run_code and verdict.offered and keeps_docstring and result.before_checks is not None:
            checks = run_checks(new_text, new_span or span, checks_from=(span, text))
        candidate = RepairCandidate(code, new_text, verdict.errors_after, verdict.offered, checks, attempt=attempt)
        result.candidates.append(candidate)
        if verdict.offered and not keeps_docstring:
            candidate.verdict = "changes the function's docstring"
        else:
            candidate.offered, candidate.verdict = _judge(result, candidate, len(before.messages),
                                                          check_kinds(span, tests))
        if candidate.offered:
            result.offered = candidate
            result.verification = candidate.verdict
            if checks is None or checks.all_pass:
                break
    if result.offered is None and not result.reason:
        result.reason = _nothing_helped(result)
    result.latency_ms = (time.perf_counter() - started) * 1000
    return result


Writer = Callable[..., tuple[str | None, Generation]]  # (max_tokens, temperature, seed, cancel) -> (code, how)


def _chat_writer(runtime: ModelRuntime, source: str, instruction: str, name: str) -> Writer:
    chat = chat_format(runtime)
    prompt = repair_prompt(chat, source, instruction)

    def write(max_tokens: int, temperature: float, seed: int, cancel) -> tuple[str | None, Generation]:
        generation = runtime.generate(prompt, max_tokens=max_tokens, temperature=temperature,
                                      stop=("```", *chat.stop), seed=seed, cancel=cancel)
        return _candidate_code(generation.text, name), generation

    return write


EDIT_MAX_TOKENS = 192  # a fix is a few replaced lines; a model still writing past this is lost


def _edit_writer(runtime: ModelRuntime, source: str, instruction: str) -> Writer:
    state = textwrap.dedent(source).split("\n")
    prompt = repair_edit_prompt(source, instruction)

    def write(max_tokens: int, temperature: float, seed: int, cancel) -> tuple[str | None, Generation]:
        generation = runtime.generate(prompt, max_tokens=min(max_tokens, EDIT_MAX_TOKENS), temperature=temperature,
                                      stop=(editformat.CLOSE,), seed=seed, cancel=cancel)
        fixed, _ = editformat.decode_sequence(generation.text, state, replacements=True)
        return "\n".join(fixed), generation

    return write


def _judge(result: RepairResult, candidate: RepairCandidate, lint_before: int,
           kinds: str) -> tuple[bool, str]:
    """(offered, what was verified) or (False, why not): a candidate must help and be worse at
    nothing."""
    if not candidate.lint_ok:
        return False, "adds lint errors"
    lint_after = len(candidate.lint_errors)
    before, after = result.before_checks, candidate.checks
    if after is not None and before is not None:
        if after.passed < before.passed:
            return False, f"passes fewer {kinds} ({after.passed}/{after.total}, was {before.passed}/{before.total})"
        better_checks = after.passed > before.passed
        if not better_checks and lint_after >= lint_before:
            return False, f"no better: passes {after.passed}/{after.total} {kinds}, as before"
        current = result.offered.checks if result.offered else None
        if current is not None and after.passed <= current.passed:
            return False, "no better than an earlier candidate"
        was = f" (was {before.passed}/{before.total})" if before.passed else ""
        where = isolation_words(after)
        return True, f"passes {after.passed}/{after.total} {kinds}{was}" + (f", {where}" if where else "")
    if lint_after >= lint_before:
        return False, "no lint error fixed and nothing to test it with" if before is None else "no better"
    if result.offered is not None:
        return False, "no better than an earlier candidate"
    untested = "untested" if before is None and after is None else "tests not run"
    state = "lint-clean" if lint_after == 0 else f"{lint_before - lint_after} lint errors fewer"
    return True, f"{state}, {untested}"


def _nothing_helped(result: RepairResult) -> str:
    if not result.candidates:
        return "the model wrote no usable rewrite of the function"
    reasons = "; ".join(dict.fromkeys(c.verdict for c in result.candidates))
    return f"no candidate helped ({len(result.candidates)} tried: {reasons})"
