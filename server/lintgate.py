"""pylint with LintSeq's rules: the one place that knows which messages count as lint errors.

``Linter`` runs pylint in-process and stays warm (the data pipeline uses it directly).
``LintGate`` serves the editor: it keeps a ``Linter`` warm in a child process, so that a check
that runs too long is killed (bounded time) and pylint can never take the server down, and it
caches results by content hash. A suggestion passes the gate when the edited buffer has no lint
error the current buffer lacks, compared by (message id, symbol) counts rather than lines.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import multiprocessing
import os
import tempfile
import threading
import time
import tokenize
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# LintSeq's linter: E and F messages, plus two warnings that behave like errors.
# Enabling exactly these is equivalent to the paper's `--disable=C,R` with the other warnings ignored.
LINT_ARGS = ("--disable=all", "--enable=E,F,W0311,W0231", "--reports=n", "--score=n", "--persistent=n")
_MODULE = "editseq_buffer"

ErrorKey = tuple[str, str]  # (message id, symbol), e.g. ("E0602", "undefined-variable")


@dataclass(frozen=True)
class LintMessage:
    line: int  # 1-based, as pylint reports it
    column: int
    msg_id: str
    symbol: str
    message: str

    @property
    def key(self) -> ErrorKey:
        return (self.msg_id, self.symbol)


class Linter:
    """pylint in this process, warm across calls. Not thread-safe: use one per thread/process."""

    def __init__(self) -> None:
        from pylint.lint import Run
        from pylint.reporters import CollectingReporter

        self._reporter_type = CollectingReporter
        self._dir = tempfile.mkdtemp(prefix="editseq-lint-")
        self._path = os.path.join(self._dir, _MODULE + ".py")
        with open(self._path, "w", encoding="utf-8") as f:
            f.write("")
        self._linter = Run([self._path, *LINT_ARGS], reporter=CollectingReporter(), exit=False).linter

    def messages(self, text: str, indent: str = "    ") -> list[LintMessage]:
        """LintSeq errors in ``text``; ``indent`` is the indentation unit W0311 checks against."""
        import astroid

        self._linter.config.indent_string = indent

        with open(self._path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(text)
        # Forget the previous buffer's AST, but keep the (expensive) stdlib and builtins ones.
        astroid.MANAGER.astroid_cache.pop(_MODULE, None)
        reporter = self._reporter_type()
        self._linter.set_reporter(reporter)
        self._linter.check([self._path])
        return [
            LintMessage(m.line, m.column, m.msg_id, m.symbol, m.msg)
            for m in reporter.messages
            if m.msg_id[0] in "EF" or m.msg_id in ("W0311", "W0231")
        ]


@functools.lru_cache(maxsize=8)  # one buffer is asked about per check and per judgement
def detect_indent(text: str) -> str:
    """The buffer's indentation unit: the first INDENT Python's tokenizer finds, so that a line
    ending in ':' inside a docstring (``Usage:`` above an indented example) cannot pass for a
    block; where the buffer cannot be tokenized that far, the first indented line after a line
    ending in ':'. The tokenizer stops at the first INDENT (microseconds for code); only a file
    without any indented block is tokenized to its end (about 0.2 s for 1 MB)."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.INDENT:  # the first one is indented from column 0
                if set(token.string) in ({" "}, {"\t"}):
                    return token.string
                break
    except (tokenize.TokenError, SyntaxError):  # an unclosed string or bracket, a bad dedent
        pass
    return _indent_after_colon(text)


def _indent_after_colon(text: str) -> str:
    previous = ""
    for line in text.split("\n"):
        if line.strip():
            if previous.rstrip().endswith(":"):
                unit = line[: len(line) - len(line.lstrip())][len(previous) - len(previous.lstrip()):]
                if unit.strip() == "" and unit and (set(unit) == {" "} or set(unit) == {"\t"}):
                    return unit
            previous = line
    return "    "


def error_counts(messages: list[LintMessage]) -> Counter[ErrorKey]:
    return Counter(m.key for m in messages)


def new_errors(before: list[LintMessage], after: list[LintMessage]) -> Counter[ErrorKey]:
    """Errors ``after`` has beyond those ``before`` had (by id and symbol, not by line)."""
    return error_counts(after) - error_counts(before)


@dataclass(frozen=True)
class LintResult:
    messages: list[LintMessage] = field(default_factory=list)
    elapsed_s: float = 0.0
    failure: str | None = None  # "timed out after 2.0 s", or pylint's crash message

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class Verdict:
    """Whether an edit may be offered, and why."""

    offered: bool
    errors_before: list[LintMessage]
    errors_after: list[LintMessage]
    added: Counter[ErrorKey]
    reason: str
    elapsed_s: float
    checked: bool = True  # False when the user turned the gate off


def verdict_of(before: list[LintMessage], after: list[LintMessage], elapsed_s: float = 0.0) -> Verdict:
    """The gate's rule: an edit passes when it adds no lint error."""
    added = new_errors(before, after)
    if added:
        names = ", ".join(f"{symbol} ({msg_id})" for msg_id, symbol in sorted(added))
        return Verdict(False, before, after, added, f"adds lint errors: {names}", elapsed_s)
    return Verdict(True, before, after, added, "adds no lint error", elapsed_s)


def unchecked_verdict() -> Verdict:
    """What an edit gets when the user turned the lint gate off: offered, nothing checked."""
    return Verdict(True, [], [], Counter(), "lint gate off", 0.0, checked=False)


def _worker(conn) -> None:  # runs in the child process
    linter = Linter()
    conn.send("ready")
    while True:
        request = conn.recv()
        if request is None:
            return
        text, indent = request
        try:
            conn.send(("ok", linter.messages(text, indent)))
        except Exception as exc:  # pylint itself crashed on this text: report, keep serving
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class LintGate:
    """Warm pylint in a child process with a per-check time limit and a content-hash cache."""

    def __init__(self, timeout_s: float = 3.0, cache_size: int = 256) -> None:
        self.timeout_s = timeout_s
        self._cache: OrderedDict[str, LintResult] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._process = None
        self._conn = None

    def start(self) -> None:
        """Start (or restart) the worker; waits until pylint is imported and warm."""
        with self._lock:
            self._ensure_worker()

    def close(self) -> None:
        with self._lock:
            self._stop_worker()

    def check(self, text: str, indent: str | None = None) -> LintResult:
        """Lint ``text`` (W0311 against ``indent``, by default the text's own indentation unit)."""
        indent = indent or detect_indent(text)
        key = hashlib.sha256((indent + "\0" + text).encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            result = self._check_in_worker(text, indent)
            if result.ok:
                self._cache[key] = result
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return result

    def judge(self, before: str, after: str) -> Verdict:
        """May ``after`` replace ``before``? Only if it adds no lint error."""
        started = time.perf_counter()
        indent = detect_indent(before)  # judge both by the buffer's own style
        first, second = self.check(before, indent), self.check(after, indent)
        elapsed = time.perf_counter() - started
        if not first.ok or not second.ok:
            failure = first.failure or second.failure
            return Verdict(False, first.messages, second.messages, Counter(), f"lint failed: {failure}", elapsed)
        return verdict_of(first.messages, second.messages, elapsed)

    def _check_in_worker(self, text: str, indent: str) -> LintResult:
        started = time.perf_counter()
        try:
            self._ensure_worker()
            self._conn.send((text, indent))
            if not self._conn.poll(self.timeout_s):
                self._stop_worker()  # pylint cannot be interrupted in-process; end the worker
                return LintResult(failure=f"timed out after {self.timeout_s:g} s")
            status, payload = self._conn.recv()
        except (EOFError, OSError, RuntimeError) as exc:  # died, or could not start
            self._stop_worker()
            return LintResult(failure=f"lint worker failed: {exc}")
        elapsed = time.perf_counter() - started
        if status != "ok":
            return LintResult(elapsed_s=elapsed, failure=payload)
        return LintResult(payload, elapsed)

    def _ensure_worker(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_worker, args=(child,), daemon=True, name="editseq-lint")
        self._process.start()
        self._conn = parent
        if not parent.poll(60) or parent.recv() != "ready":
            raise RuntimeError("the pylint worker did not start")
        log.info("pylint worker started (pid %s)", self._process.pid)

    def _stop_worker(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
        self._process = None
        self._conn = None
