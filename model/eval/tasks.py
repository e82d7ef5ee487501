"""HumanEvalPack (Python) tasks: the prompt for each format and the program each answer runs as.

The protocols follow OctoPack's HumanEvalPack (bigcode-evaluation-harness, ``humanevalpack.py``,
"instruct" prompts), in the two formats editseq's models speak:

- ``lintseq``: the instruction, then ``"\\n<|diff|>"``; the model writes edits, decoded (checked
  or plain, ``editseq.decoding.decode_program``) into a program. No chat template.
- ``chat``: the model's own chat template (from the GGUF, rendered by ``editseq.chat``); the
  program is the first ```python fenced block of the answer (the one defining the entry point,
  if any; ``editseq.chat.fenced_blocks``). Generation stops once that block is closed.

Tasks:
- Synthesize: the ``instruction`` field.
- Fix: through the repair feature (``editseq.repair.repair``, the code the server and CLI run)
  on the buggy function as a user's file with its tests (``fix_file``): the feature runs the
  tests in the sandbox, prompts with the function, its lint errors and the failing output ("Fix
  bugs in {entry_point}."), and offers a candidate only if it passes more checks. Its writers
  (``GenSettings.repair_with``, in turn): "edits", the model as loaded, answering with
  replacement edits to the function (lintseq's default), and "chat", the same model without its
  adapter, rewriting it (chat's default). The sample is the offered function, else the buggy one
  (so pass@1 is the share of problems the feature fixes).
- Explain: step 1 through the explain feature (``editseq.explain.explain``, by the model without
  its adapter in its chat format, as the feature does) on declaration + canonical_solution, bound by
  len(docstring) characters ("Provide a concise natural language description of the code using
  at most {n} characters."); the answer is cut at the first code-like line, and lines of the
  solution longer than 20 characters are removed (OctoPack's ``remove_code``). Step 2, from the
  description alone: "Write functional code in Python according to the description.", with the
  declaration as prefix (chat: the answer starts as a ```python block holding the declaration;
  lintseq: the declaration is the state already written).

- Implement: HumanEval synthesize the way editseq's implement feature does it
  (``editseq.implement``): the ``prompt`` (imports, signature, docstring) is the user's file with
  a stub, each sample is one candidate of the feature (written edit by edit after the instruction
  it builds from the stub, put in the stub's place), and each carries what the feature's choice
  reads (``extra["pick"]``): its normalised-AST key, whether it adds a lint error to the file, its
  mean log-probability, and how many of the examples in the prompt's docstring it passes (run in
  the sandbox; HumanEval's hidden ``test`` only scores). lintseq format only.

In every format and task the code is ``sanitize``d (the entry point's definition and the imports
and definitions around it; the model's own example calls and asserts after it are dropped) and
runs as IMPORT_HELPER + code + test (the test ends with ``check(entry_point)``). IMPORT_HELPER is
OctoPack's Python import helper without numpy.
"""

from __future__ import annotations

import ast
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from editseq import editformat
from editseq.chat import ChatFormat, chat_format, fenced_blocks
from editseq.decoding import SamplingSettings, decode_program, lint_judge
from editseq.runtime import ContextOverflow, Generation, ModelRuntime

TASKS = ("synthesize", "fix", "explain")  # --task all
# Tasks run through a shipped feature, recorded in the result file: runs made before, with the
# harness's own prompts, do not describe what users run and are labelled so in the report.
THROUGH_FEATURES = {"fix": "editseq.repair", "explain": "editseq.explain"}
IMPLEMENT = "implement"
FORMATS = ("lintseq", "chat")
DECODINGS = ("checked", "plain")

REGENERATE_INSTRUCTION = "Write functional code in Python according to the description."
IMPORT_HELPER = """import math
import re
import sys
import copy
import datetime
import itertools
import collections
import heapq
import statistics
import functools
import hashlib
import string
from typing import *
from collections import *"""
# OctoPack's Python stop words: a description ends where code starts.
DESCRIPTION_STOPS = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\nassert")
# End-of-turn texts of the common chat formats (ChatML, Phi-3, Llama 3): the same stops for every
# model, chat or lintseq, so that runs stay comparable.
CHAT_STOPS = ("<|im_end|>", "<|endoftext|>", "<|end|>", "<|eot_id|>")


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    declaration: str
    canonical_solution: str
    buggy_solution: str
    test: str
    entry_point: str
    docstring: str
    instruction: str

    @classmethod
    def from_row(cls, row: dict) -> Problem:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def default_data_path() -> Path:
    """``$EDITSEQ_HUMANEVALPACK``, else ``../shared/data/humanevalpack-python.jsonl`` beside the repo."""
    if os.environ.get("EDITSEQ_HUMANEVALPACK"):
        return Path(os.environ["EDITSEQ_HUMANEVALPACK"])
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "humanevalpack-python.jsonl"


def load_problems(path: Path | None = None, limit: int | None = None) -> list[Problem]:
    path = path or default_data_path()
    if not path.is_file():
        raise FileNotFoundError(f"HumanEvalPack not found at {path}; fix: pass --data or set EDITSEQ_HUMANEVALPACK")
    with path.open(encoding="utf-8") as f:
        problems = [Problem.from_row(json.loads(line)) for line in f if line.strip()]
    return problems[:limit] if limit else problems


@dataclass(frozen=True)
class GenSettings:
    max_tokens: int = 384  # per chat answer; per program (all edits and attempts) in lintseq
    temperature: float = 0.0
    top_p: float = 0.95
    decoding: str = "checked"  # lintseq only: checked | plain
    edit_tokens: int = 96  # lintseq checked: per edit
    edit_samples: int = 2  # lintseq checked: attempts per edit
    max_edits: int = 24  # lintseq checked
    repair_candidates: int | None = None  # fix: the repair feature's candidates (None: its option's default)
    # fix: who writes candidates, in turn: "edits" (the model as loaded) and/or "chat" (the same
    # model without its adapter); () : the format's own ("edits" for lintseq, "chat" for chat)
    repair_with: tuple[str, ...] = ()
    placement: bool = True  # lintseq checked: decode_program's placement rule


@dataclass
class Sample:
    """One answer to one problem: the code to test and how it was produced."""

    code: str
    raw: str  # what the model generated (the chat answer, or the edits)
    generated_tokens: int = 0
    gen_s: float = 0.0
    finish: str = ""
    description: str | None = None  # explain: the step-1 description the code was written from
    decoding: dict | None = None  # lintseq: decode_program counters
    extra: dict = field(default_factory=dict)


class Generator:
    """A loaded model that answers in either format."""

    def __init__(self, runtime: ModelRuntime) -> None:
        self.runtime = runtime
        self._chat: ChatFormat | None = None
        self._chat_runtime: ModelRuntime | None = None
        self.template_source = ""  # the chat format's source, once a chat prompt was made

    def chat_runtime(self) -> ModelRuntime:
        """The model without its adapter (the chat model the features use beside an adapter)."""
        if self.runtime.spec.adapter is None:
            return self.runtime
        if self._chat_runtime is None:
            self._chat_runtime = ModelRuntime(replace(self.runtime.spec, adapter=None))
            self._chat_runtime.load()
        return self._chat_runtime

    # -- chat --
    def chat_prompt(self, user: str, assistant_prefix: str = "") -> str:
        """The prompt for one user turn, in the model's chat template, with the answer begun."""
        if self._chat is None:
            self._chat = chat_format(self.runtime)
            self.template_source = self._chat.source
        return self._chat.prompt(user, assistant_prefix)

    def chat(self, user: str, settings: GenSettings, seed: int, *, assistant_prefix: str = "",
             max_tokens: int | None = None, stop: tuple[str, ...] = (), entry_point: str | None = None
             ) -> Generation:
        """Answer ``user``; with ``entry_point``, stop once a closed code block defines it."""
        prompt = self.chat_prompt(user, assistant_prefix)
        cancel = threading.Event()
        on_text = None
        if entry_point is not None:
            def on_text(text: str) -> None:
                if text.count("```") >= 2 and _closed_block_defining(text, entry_point):
                    cancel.set()
        generation = self.complete(prompt, settings, seed, max_tokens=max_tokens, stop=CHAT_STOPS + stop,
                                   cancel=cancel, on_text=on_text)
        if generation.finish == "cancelled" and cancel.is_set():
            generation = replace(generation, finish="code_block")  # we stopped it
        return generation

    def complete(self, prompt: str, settings: GenSettings, seed: int, *, max_tokens: int | None = None,
                 stop: tuple[str, ...] = (), cancel: threading.Event | None = None, on_text=None
                 ) -> Generation:
        """Plain completion, with ``max_tokens`` shrunk to what the context window leaves."""
        budget = max_tokens or settings.max_tokens
        room = self.runtime.spec.n_ctx - self.runtime.count_tokens(prompt)
        if room <= 0:
            raise ContextOverflow(f"prompt fills the context window of {self.runtime.spec.n_ctx} tokens")
        return self.runtime.generate(prompt, max_tokens=min(budget, room), temperature=settings.temperature,
                                     top_p=settings.top_p, stop=stop, seed=seed, cancel=cancel, on_text=on_text)

    # -- lintseq --
    def program(self, instruction: str, settings: GenSettings, seed: int, state: list[str] | None = None):
        sampling = SamplingSettings(max_tokens=settings.edit_tokens, temperature=settings.temperature,
                                    top_p=settings.top_p, samples=settings.edit_samples, seed=seed)
        # Judged with the import helper in front, as the program will run.
        return decode_program(self.runtime, instruction, sampling, judge=lint_judge(IMPORT_HELPER),
                              max_edits=settings.max_edits, mode=settings.decoding, state=state,
                              max_tokens=settings.max_tokens, placement=settings.placement)


def _closed_block_defining(text: str, entry_point: str) -> bool:
    return any(block.closed and f"def {entry_point}" in block.code for block in fenced_blocks(text))


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The code of an answer: its python block defining ``entry_point``, else its first python
    block, else its first block of any language (an unclosed block runs to the end of the
    answer); the whole answer when it has no fence."""
    blocks = [(block.language.lower(), block.code) for block in fenced_blocks(text)]
    if not blocks:
        return text.strip("\n")
    python = [code for language, code in blocks if language in ("", "python", "py", "python3")]
    candidates = python or [code for _, code in blocks]
    if entry_point:
        for code in candidates:
            if f"def {entry_point}" in code:
                return code
    return candidates[0]


def sanitize(code: str, entry_point: str) -> str:
    """The code as a solution: everything up to the end of the entry point's definition, plus later
    top-level imports and definitions (not ``check``/``test*``); later top-level statements
    (example calls, prints, the model's own asserts, a main guard) are dropped. The idea of
    EvalPlus's sanitizer and of OctoPack cutting a completion at its first top-level line. Code
    that does not parse keeps the lines up to the end of the entry point's body; code without
    the entry point at top level is returned unchanged."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return _cut_after_body(code, entry_point)
    lines = code.split("\n")
    kept: list[str] = []
    found = False
    previous_end = 0  # end line of the last kept node, while no node has been dropped since
    for node in tree.body:
        named = getattr(node, "name", "")
        definition = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if found and (not (definition or isinstance(node, (ast.Import, ast.ImportFrom)))
                      or named == "check" or named.startswith("test")):
            previous_end = None
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        if previous_end is None:
            kept.append("")
        # consecutive kept nodes keep the blank lines and comments between them
        kept.extend(lines[(first - 1 if previous_end is None else previous_end) : node.end_lineno])
        previous_end = node.end_lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and named == entry_point:
            found = True
    return "\n".join(kept) if found else code


def _cut_after_body(code: str, entry_point: str) -> str:
    lines = code.split("\n")
    pattern = re.compile(rf"(async\s+)?def\s+{re.escape(entry_point)}\s*\(")
    start = next((i for i, line in enumerate(lines) if pattern.match(line)), None)
    if start is None:
        return code
    for end in range(start + 1, len(lines)):
        line = lines[end]
        if line.strip() and not line[0].isspace() and not line.startswith((")", "]", "}")):
            return "\n".join(lines[:end]).rstrip()
    return code


def program_for(problem: Problem, code: str) -> str:
    """The program executed for ``code``: imports, the code, the tests (which call check)."""
    test = problem.test.rstrip("\n")
    if f"check({problem.entry_point})" not in test:
        test += f"\n\ncheck({problem.entry_point})"
    return f"{IMPORT_HELPER}\n{code.rstrip()}\n\n{test}\n"


def clean_description(text: str, problem: Problem) -> str:
    """OctoPack's post-processing of a description: cut to len(docstring), at the first code-like
    line, and without lines of the solution longer than 20 characters."""
    text = text.strip()[: len(problem.docstring)]
    for stop in DESCRIPTION_STOPS:
        if stop in text:
            text = text[: text.find(stop)]
    for line in problem.canonical_solution.split("\n"):
        line = line.strip()
        if len(line) > 20 and line in text:
            text = text.replace(line, "")
    return text.rstrip()


def lines_of(code: str) -> list[str]:
    return code.rstrip("\n").split("\n") if code.strip() else []


def fix_file(problem: Problem) -> str:
    """The buggy function as a user's file with its tests: the import helper, the declaration and
    buggy body, then the problem's ``check`` and a ``test_check`` that runs it (the file's
    trailing ``check(entry_point)`` call becomes that test)."""
    test = problem.test.rstrip()
    call = f"check({problem.entry_point})"
    if test.endswith(call):
        test = test[: -len(call)].rstrip()
    return (f"{IMPORT_HELPER}\n\n\n{problem.declaration}{problem.buggy_solution.rstrip()}\n\n\n{test}\n\n\n"
            f"def test_check():\n    {call}\n")


def explain_file(problem: Problem) -> str:
    """The canonical solution as a user's file: the declaration (no docstring) and body."""
    return problem.declaration + problem.canonical_solution


def generate(task: str, problem: Problem, fmt: str, generator: Generator, settings: GenSettings,
             seed: int) -> Sample:
    """One sample of ``task`` for ``problem``; never raises for what the model writes."""
    started = time.perf_counter()
    try:
        if task == "synthesize":
            sample = _synthesize(problem, fmt, generator, settings, seed)
        elif task == "fix":
            sample = _fix(problem, fmt, generator, settings, seed)
        elif task == "explain":
            sample = _explain(problem, fmt, generator, settings, seed)
        elif task == IMPLEMENT:
            sample = _implement(problem, fmt, generator, settings, seed)
        else:
            raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS + (IMPLEMENT,))}")
    except ContextOverflow as exc:
        sample = Sample("", "", finish="context", extra={"error": str(exc)})
    cleaned = sanitize(sample.code, problem.entry_point)
    if cleaned != sample.code:
        sample.extra["unsanitized_code"] = sample.code
        sample.code = cleaned
    sample.gen_s = round(time.perf_counter() - started, 3)
    return sample


def _from_program(result, raw_prefix: str = "") -> Sample:
    return Sample(result.text, raw_prefix + result.raw, result.generated_tokens, finish=result.finish,
                  decoding=result.counters())


def _from_chat(generation: Generation, entry_point: str) -> Sample:
    return Sample(extract_code(generation.text, entry_point), generation.text, generation.generated_tokens,
                  finish=generation.finish)


def _synthesize(problem: Problem, fmt: str, generator: Generator, settings: GenSettings, seed: int) -> Sample:
    if fmt == "lintseq":
        return _from_program(generator.program(problem.instruction.strip(), settings, seed))
    generation = generator.chat(problem.instruction.strip(), settings, seed, entry_point=problem.entry_point)
    return _from_chat(generation, problem.entry_point)


_GATE = None


def lint_gate():
    """This process's LintGate for the repair feature (started once, closed at exit)."""
    global _GATE
    if _GATE is None:
        import atexit

        from editseq.lintgate import LintGate

        _GATE = LintGate(timeout_s=20)
        atexit.register(_GATE.close)
    return _GATE


def fix_candidates(repair_candidates: int | None) -> int:
    """The repair feature's candidates for a run: as asked, else its option's default."""
    from editseq.options import Options

    return repair_candidates or Options().repair_candidates


def fix_writers(fmt: str, repair_with: tuple[str, ...] | list[str] = ()) -> tuple[str, ...]:
    """Who writes a run's repair candidates, in turn: as asked, else the format's own."""
    return tuple(repair_with) or (("edits",) if fmt == "lintseq" else ("chat",))


def fix_settings(settings: GenSettings) -> dict:
    """The repair feature's arguments for a harness run's settings: its candidates (the first
    greedy, the rest sampled at the run's temperature, 0.7 when the run is greedy) and budget."""
    return {"candidates": fix_candidates(settings.repair_candidates), "max_tokens": settings.max_tokens,
            "temperature": settings.temperature or 0.7}


def _fix(problem: Problem, fmt: str, generator: Generator, settings: GenSettings, seed: int) -> Sample:
    """HumanEvalFix through ``editseq.repair.repair``, as a user runs it on ``fix_file``: lintseq
    answers with edits, chat with a rewrite; the sample is the function it offers (verified by
    the file's tests), else the buggy one."""
    from editseq.repair import repair

    text = fix_file(problem)
    (runtime, edits), *also = [(generator.runtime, True) if w == "edits" else (generator.chat_runtime(), False)
                               for w in fix_writers(fmt, settings.repair_with)]
    result = repair(runtime, lint_gate(), text, 0, name=problem.entry_point, edits=edits, also=also,
                    **fix_settings(settings))
    code = result.offered.code if result.offered else problem.declaration + problem.buggy_solution
    before = result.before_checks
    extra = {"offered": result.offered is not None, "verification": result.verification, "reason": result.reason,
             "checks_before": f"{before.passed}/{before.total}" if before else None,
             "candidates": [{"attempt": c.attempt, "offered": c.offered, "verdict": c.verdict, "code": c.code}
                            for c in result.candidates]}
    return Sample(code, "\n# ---\n".join(c.code for c in result.candidates), result.generated_tokens,
                  finish="offered" if result.offered else "none", extra=extra)


def _explain(problem: Problem, fmt: str, generator: Generator, settings: GenSettings, seed: int) -> Sample:
    """HumanEvalExplain: step 1 through ``editseq.explain.explain`` on ``explain_file`` (the chat
    format, as the feature), bound by the protocol's len(docstring); step 2 in ``fmt``."""
    from editseq.explain import explain
    from editseq.pysource import enclosing_function

    text = explain_file(problem)
    span = enclosing_function(text, 0, problem.entry_point)
    # The answer is cut to len(docstring) characters: tokens past about half that are never kept.
    describe_tokens = min(settings.max_tokens, len(problem.docstring) // 2 + 16)
    first = explain(generator.chat_runtime(), text.split("\n"), span, max_tokens=describe_tokens,
                    temperature=settings.temperature, seed=seed, max_chars=len(problem.docstring))
    description = clean_description(first.text, problem)
    regenerate = description + "\n" + REGENERATE_INSTRUCTION
    if fmt == "lintseq":
        result = generator.program(regenerate, settings, seed, state=lines_of(problem.declaration))
        sample = _from_program(result)
    else:
        # The declaration without its final newline, as OctoPack strips prompts: the model then
        # writes the newline and indentation as the tokens it would naturally use.
        declaration = problem.declaration.rstrip()
        second = generator.chat(regenerate, settings, seed, assistant_prefix="```python\n" + declaration,
                                stop=("```",))
        sample = Sample(declaration + second.text.split("```")[0], second.text, second.generated_tokens,
                        finish=second.finish)
    sample.description = description
    sample.extra["describe_raw"] = first.text
    return sample


def implement_settings(settings: GenSettings):
    """The implement feature's settings for a harness run's generation settings."""
    from editseq.implement import ImplementSettings

    return ImplementSettings(temperature=settings.temperature, top_p=settings.top_p,
                             max_tokens=settings.max_tokens, edit_tokens=settings.edit_tokens,
                             edit_samples=settings.edit_samples, max_edits=settings.max_edits)


_TEXT_LINT = None


def text_lint():
    """The implement feature's lint judge (file before, file after), with this process's warm
    in-process pylint (as ``decoding.lint_judge``)."""
    global _TEXT_LINT
    if _TEXT_LINT is None:
        judge = lint_judge()
        _TEXT_LINT = lambda before, after: judge(before.split("\n"), after.split("\n"))  # noqa: E731
    return _TEXT_LINT


def _implement(problem: Problem, fmt: str, generator: Generator, settings: GenSettings, seed: int) -> Sample:
    from editseq import implement

    if fmt != "lintseq":
        raise ValueError("the implement task decodes as the feature does: --format lintseq")
    target = implement.find_target(problem.prompt, 0, problem.entry_point)
    if isinstance(target, str):
        return Sample("", "", finish="no_stub", extra={"error": target})
    lint = text_lint()
    feature = implement_settings(settings)
    candidate = implement.write_candidate(generator.runtime, target, problem.prompt, feature, seed,
                                          implement.program_judge(lint, problem.prompt))
    program = candidate.program
    pick = {"key": candidate.key, "lint_ok": False, "checks_total": target.checks_total, "checks_passed": None,
            "mean_logprob": None if candidate.mean_logprob is None else round(candidate.mean_logprob, 5),
            "verdict": candidate.verdict}
    started = time.perf_counter()
    if candidate.key is not None:
        candidate.lint = lint(problem.prompt, candidate.new_text)
        pick["lint_ok"] = candidate.lint.offered
        if candidate.lint.offered and target.checks_total:
            report = implement.check_candidate(target, problem.prompt, candidate, feature.limits)
            pick["checks_passed"], pick["check_status"] = report.passed, report.status
            pick["verdict"] = implement.describe_checks(report, target, feature.limits)
        elif not candidate.lint.offered:
            pick["verdict"] = candidate.lint.reason
    pick["check_s"] = round(time.perf_counter() - started, 3)
    # scored as the feature would write it into the file (as the model wrote it when unusable)
    code = candidate.new_text or program.text
    return Sample(code, program.raw, program.generated_tokens, finish=program.finish,
                  decoding=program.counters(), extra={"pick": pick})


def example_prompt(task: str, problem: Problem, fmt: str, generator: Generator) -> str:
    """The first prompt ``task`` sends for ``problem`` (kept in the result file for the record);
    fix and explain ask the features for theirs."""
    state = None
    if task == IMPLEMENT:
        from editseq.implement import find_target

        target = find_target(problem.prompt, 0, problem.entry_point)
        user = target.instruction if not isinstance(target, str) else problem.instruction.strip()
    elif task == "synthesize":
        user = problem.instruction.strip()
    elif task == "fix":
        return fix_prompt(problem, fmt, generator.runtime if fmt == "lintseq" else generator.chat_runtime())
    else:
        return explain_prompt_for(problem, generator.chat_runtime())
    if fmt == "chat":
        return generator.chat_prompt(user)
    return editformat.build_prompt(user, state) if state else user + editformat.DIFF_SEP


def fix_prompt(problem: Problem, fmt: str, runtime: ModelRuntime) -> str:
    """The repair feature's first prompt for ``fix_file`` (its checks run in the sandbox)."""
    from editseq import repair
    from editseq.pysource import enclosing_function

    text = fix_file(problem)
    span = enclosing_function(text, 0, problem.entry_point)
    source = span.source(text.split("\n"))
    lint = repair.relative_lint(lint_gate().check(text).messages, span)
    instruction = repair.repair_instruction(span.name, lint, repair.run_checks(text, span))
    if fmt == "lintseq":
        return repair.repair_edit_prompt(source, instruction)
    return repair.repair_prompt(chat_format(runtime), source, instruction)


def explain_prompt_for(problem: Problem, runtime: ModelRuntime) -> str:
    """The explain feature's prompt for ``explain_file``, bound by len(docstring)."""
    from editseq.explain import explain_prompt
    from editseq.pysource import enclosing_function

    text = explain_file(problem)
    span = enclosing_function(text, 0, problem.entry_point)
    return explain_prompt(chat_format(runtime), span.source(text.split("\n")), len(problem.docstring))
