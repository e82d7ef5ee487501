"""Sandboxed execution of untrusted Python: one fresh interpreter per program, bounded in time,
memory, CPU, file size and output. No LSP, no prompts: the evaluation harness and the repair
feature both call it.

Each run gets a new temporary directory: the program file (and any extra files) go into
``<tmp>/work``, which is the child's working directory, ``HOME`` and ``TMPDIR``; stdout and
stderr go to files beside it. The child is ``python -I -c BOOTSTRAP`` started in a new session
(its own process group) with a stripped environment; the bootstrap applies the limits inside the
child and then runs the file with ``runpy`` as ``__main__``. Limits are set in the child rather
than in a ``preexec_fn``, because ``preexec_fn`` is unsafe when the parent has threads (worker
threads, llama.cpp, the lint worker) and rlimits are inherited by anything the program starts.

What is enforced:
- wall-clock timeout: the whole process group is killed (SIGKILL) when it runs out, and after
  every run, so nothing the program started survives it;
- memory: ``RLIMIT_AS`` (address space), so an allocation without bound ends in MemoryError;
- CPU time: ``RLIMIT_CPU`` (SIGXCPU, then SIGKILL one second later);
- file size: ``RLIMIT_FSIZE`` bounds every file the program writes, its captured stdout and
  stderr included (Python ignores SIGXFSZ, so a write past it fails with "File too large");
  ``RLIMIT_CORE`` = 0;
- processes: ``RLIMIT_NPROC`` = the user's current tasks + ``max_processes``, for a non-root
  user only (Linux does not apply the limit to root, so it is not set then);
- network, best effort: the child enters a new network namespace (``unshare(CLONE_NEWNET)``,
  as root or through an unprivileged user namespace) that has no interfaces but a down loopback;
  where the kernel refuses, the program runs with the host network and the result says so
  (``network_isolated``);
- environment: only ``PATH``, ``HOME``, ``TMPDIR`` and a UTF-8 locale; ``-I`` ignores
  ``PYTHON*`` variables, the user site directory and the script's directory on ``sys.path``.

What is *not* enforced: the program runs as the calling user (here possibly root) and can read
and write whatever that user can; the ``guard`` (on by default, as in OpenAI's human-eval)
replaces destructive and process-spawning functions of ``os``, ``shutil`` and ``subprocess``
with ones that raise PermissionError, which stops accidents, not an adversary (ctypes gets
around it). Run truly hostile code in a container or VM.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

STATUS_PASSED = "passed"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"
STATUS_MEMORY = "memory"
STATUS_OUTPUT_LIMIT = "output_limit"


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock, for the whole process group
    memory_mb: int = 1024  # RLIMIT_AS of the interpreter (and of anything it starts)
    cpu_s: float | None = None  # RLIMIT_CPU; None: the wall timeout rounded up, plus one second
    file_size_mb: int = 16  # RLIMIT_FSIZE: any file written, captured stdout/stderr included
    max_processes: int | None = 64  # extra tasks (processes + threads) allowed; non-root only
    max_output_chars: int = 4000  # per stream, kept as head + tail
    isolate_network: bool = True
    guard: bool = True  # disable destructive os/shutil/subprocess functions (not a boundary)


@dataclass(frozen=True)
class SandboxResult:
    status: str  # passed | failed | timeout | memory | output_limit
    returncode: int | None  # negative: killed by that signal
    stdout: str
    stderr: str
    elapsed_s: float
    network_isolated: bool = False

    @property
    def passed(self) -> bool:
        return self.status == STATUS_PASSED

    @property
    def timed_out(self) -> bool:
        return self.status == STATUS_TIMEOUT

    @property
    def memory_exceeded(self) -> bool:
        return self.status == STATUS_MEMORY

    @property
    def output(self) -> str:
        """stdout then stderr, for display."""
        return self.stdout + (("\n" if self.stdout and self.stderr else "") + self.stderr)

    def to_dict(self) -> dict:
        row = asdict(self)
        row.update(passed=self.passed, timed_out=self.timed_out, memory_exceeded=self.memory_exceeded)
        return row


@dataclass(frozen=True)
class Job:
    """One program to run: its text, the file name it gets, and extra files beside it."""

    source: str
    filename: str = "main.py"
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    stdin: str | None = None


# Runs inside the child as `python -I -c BOOTSTRAP CONFIG_JSON FILE [ARGS...]`. Stdlib only.
BOOTSTRAP = r"""
import json, os, resource, sys
cfg = json.loads(sys.argv[1])
path = sys.argv[2]
sys.argv = sys.argv[2:]
status = open(cfg["status_path"], "w")
if cfg["isolate_network"]:
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x40000000) == 0 or libc.unshare(0x10000000 | 0x40000000) == 0:
            status.write("network_isolated\n")
    except Exception:
        pass
for name, value in cfg["limits"].items():
    try:
        resource.setrlimit(getattr(resource, name), tuple(value))
    except (ValueError, OSError):
        status.write("unset " + name + "\n")
status.flush()
if cfg["guard"]:
    import shutil, _posixsubprocess
    def _disabled(*args, **kwargs):
        raise PermissionError("disabled in the editseq sandbox")
    for _name in cfg["guarded_os"]:
        if hasattr(os, _name):
            setattr(os, _name, _disabled)
    for _name in ("rmtree", "move", "chown"):
        setattr(shutil, _name, _disabled)
    _posixsubprocess.fork_exec = _disabled
sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
import runpy
try:
    runpy.run_path(path, run_name="__main__")
except MemoryError:
    status.write("memory\n")
    status.flush()
    try:
        import traceback
        traceback.print_exc()
    finally:
        os._exit(1)
"""

GUARDED_OS = (
    "kill", "killpg", "system", "putenv", "unsetenv", "remove", "removedirs", "rmdir", "unlink",
    "rename", "renames", "replace", "truncate", "fchmod", "fchown", "chmod", "chown", "lchown",
    "chroot", "fork", "forkpty", "setuid", "setgid", "execv", "execve", "execl", "execle",
    "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv",
    "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp", "popen",
)

_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")


def run_program(
    source: str,
    limits: Limits = Limits(),
    *,
    filename: str = "main.py",
    files: Mapping[str, str | bytes] | None = None,
    args: Sequence[str] = (),
    stdin: str | None = None,
) -> SandboxResult:
    """Run ``source`` as ``filename`` in a fresh temporary directory under ``limits``.

    ``files`` are written beside it first (relative paths only). The caller's working directory
    is never touched; the temporary directory is removed afterwards.
    """
    root = tempfile.mkdtemp(prefix="editseq-sandbox-")
    try:
        return _run_in(root, source, limits, filename, files or {}, tuple(args), stdin)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_job(job: Job, limits: Limits = Limits()) -> SandboxResult:
    return run_program(job.source, limits, filename=job.filename, files=job.files, args=job.args,
                       stdin=job.stdin)


def run_many(jobs: Sequence[Job | str], limits: Limits = Limits(), workers: int = 2) -> list[SandboxResult]:
    """Run many programs, ``workers`` at a time (threads that wait on child processes); in order."""
    normalized = [j if isinstance(j, Job) else Job(j) for j in jobs]
    if workers <= 1 or len(normalized) <= 1:
        return [run_job(j, limits) for j in normalized]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="editseq-sandbox") as pool:
        return list(pool.map(lambda j: run_job(j, limits), normalized))


def _safe_relative(name: str) -> str:
    normalized = os.path.normpath(name)
    if os.path.isabs(normalized) or normalized.startswith(".."):
        raise ValueError(f"sandbox file names must be relative and stay inside the directory: {name!r}")
    return normalized


def _rlimits(limits: Limits) -> dict[str, tuple[int, int]]:
    cpu = limits.cpu_s if limits.cpu_s is not None else math.ceil(limits.timeout_s) + 1
    cpu = max(1, math.ceil(cpu))
    memory = limits.memory_mb * 1024 * 1024
    fsize = limits.file_size_mb * 1024 * 1024
    chosen = {
        "RLIMIT_AS": (memory, memory),
        "RLIMIT_CPU": (cpu, cpu + 1),
        "RLIMIT_FSIZE": (fsize, fsize),
        "RLIMIT_CORE": (0, 0),
    }
    if limits.max_processes is not None and os.geteuid() != 0:
        tasks = _user_tasks() + limits.max_processes
        chosen["RLIMIT_NPROC"] = (tasks, tasks)
    return chosen


def _user_tasks() -> int:
    """Tasks (processes and threads) of this user: what RLIMIT_NPROC counts."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(os.path.join(entry.path, "task")))
    return count


def _run_in(root: str, source: str, limits: Limits, filename: str, files: Mapping[str, str | bytes],
            args: tuple[str, ...], stdin: str | None) -> SandboxResult:
    work = os.path.join(root, "work")
    os.mkdir(work)
    for name, content in {**files, filename: source}.items():
        target = os.path.join(work, _safe_relative(name))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        mode, encoding = ("wb", None) if isinstance(content, bytes) else ("w", "utf-8")
        with open(target, mode, encoding=encoding) as f:
            f.write(content)
    status_path = os.path.join(root, "status")
    config = {
        "status_path": status_path,
        "isolate_network": limits.isolate_network,
        "limits": _rlimits(limits),
        "guard": limits.guard,
        "guarded_os": GUARDED_OS,
    }
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "TMPDIR": work,
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    command = [sys.executable, "-I", "-c", BOOTSTRAP, json.dumps(config), _safe_relative(filename), *args]
    out_path, err_path = os.path.join(root, "stdout"), os.path.join(root, "stderr")
    started = time.perf_counter()
    timed_out = False
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(
            command, cwd=work, env=env, stdout=out, stderr=err,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )
        try:
            if stdin is not None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    process.stdin.write(stdin.encode("utf-8"))
                    process.stdin.close()
            process.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(process.pid)  # the program's children too, timed out or not
            process.wait()
    elapsed = time.perf_counter() - started
    stdout = _read_truncated(out_path, limits.max_output_chars)
    stderr = _read_truncated(err_path, limits.max_output_chars)
    notes = _read_status(status_path)
    code = process.returncode
    # Python ignores SIGXFSZ, so a full stdout shows up as "File too large" and a full file.
    fsize = limits.file_size_mb * 1024 * 1024
    output_full = max(os.path.getsize(out_path), os.path.getsize(err_path)) >= fsize
    if timed_out or code in (-signal.SIGXCPU, -signal.SIGKILL):
        status = STATUS_TIMEOUT
    elif "memory" in notes or (code != 0 and _memory_failure(stderr)):
        status = STATUS_MEMORY
    elif code == -signal.SIGXFSZ or (code != 0 and output_full):
        status = STATUS_OUTPUT_LIMIT
    elif code == 0:
        status = STATUS_PASSED
    else:
        status = STATUS_FAILED
    return SandboxResult(status, code, stdout, stderr, round(elapsed, 4), "network_isolated" in notes)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _read_status(path: str) -> set[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return {line.strip() for line in f}
    except OSError:
        return set()


def _memory_failure(stderr: str) -> bool:
    tail = stderr.strip().splitlines()[-3:]
    return any(marker in line for line in tail for marker in _MEMORY_MARKERS)


def _read_truncated(path: str, limit: int) -> str:
    """The file's text, or its head and tail around a marker when longer than ``limit``."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size <= limit:
            return f.read().decode("utf-8", "replace")
        half = limit // 2
        head = f.read(half).decode("utf-8", "replace")
        f.seek(size - half)
        tail = f.read(half).decode("utf-8", "replace")
    return f"{head}\n[... {size - 2 * half} bytes cut ...]\n{tail}"
