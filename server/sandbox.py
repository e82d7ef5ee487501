"""Sandboxed execution of untrusted Python: one fresh interpreter per program, bounded in time,
memory, CPU, file size and output, and isolated from the system as far as the machine allows.
No LSP, no prompts: the evaluation harness and the repair feature both call it.

Each run gets a new temporary directory: the program file (and any extra files: for a repair,
a copy of the file under test) go into ``<tmp>/work``, which is the child's working directory,
``HOME`` and ``TMPDIR``; stdout and stderr go to files beside it. The child runs
``sandbox_child.py``'s text with ``python -I -c``, in a new session (its own process group) with
a stripped environment; that code isolates itself (``namespaces`` mode), applies the limits and
then runs the file with ``runpy`` as ``__main__``. Limits are set in the child rather than in a
``preexec_fn``, because ``preexec_fn`` is unsafe when the parent has threads (worker threads,
llama.cpp, the lint worker) and rlimits are inherited by anything the program starts.

Isolation, the strongest the machine allows (``Limits.isolation`` or ``EDITSEQ_SANDBOX`` picks
one; each result says which applied, in ``isolation``):

- ``bubblewrap`` (the ``bwrap`` program, Debian package bubblewrap) and ``namespaces`` (the same
  done by hand with unshare, mount and chroot, where bwrap is missing but the kernel allows mount
  namespaces: as root, or through an unprivileged user namespace) enforce the same view: the
  system folders (/usr, /bin, /lib*, /etc and the Python installation) read-only, a minimal /dev,
  a fresh /proc, a private size-limited /tmp, the run's own folder as the only writable place on
  disk; no home folder (/home, /root, $HOME do not exist inside), no project folder (nor anything
  outside that view: /work, /mnt, /srv, /opt ...), no network (a new network namespace with only
  loopback), new PID, IPC and UTS namespaces (the program sees and signals only its own
  processes, and everything it started dies with it). Root runs the program as ``nobody``, with
  no capabilities (so RLIMIT_NPROC binds a fork bomb); a user keeps their uid without
  capabilities. ``no_new_privs`` is set: set-user-ID programs gain nothing.
- ``rlimits``, where neither is possible: the limits below and the guard only. The program runs
  as the calling user (possibly root) and can read and write whatever that user can; the network
  is cut only where the kernel grants a network namespace (``network_isolated``).

Enforced in every mode:
- wall-clock timeout: the whole process group is killed (SIGKILL) when it runs out, and after
  every run (in the two isolating modes the PID namespace goes with it);
- memory: ``RLIMIT_AS`` (address space), so an allocation without bound ends in MemoryError;
- CPU time: ``RLIMIT_CPU`` (SIGXCPU, then SIGKILL one second later);
- file size: ``RLIMIT_FSIZE`` bounds every file the program writes, its captured stdout and
  stderr included (Python ignores SIGXFSZ, so a write past it fails with "File too large");
  ``RLIMIT_CORE`` = 0;
- processes: ``RLIMIT_NPROC`` = the running user's current tasks + ``max_processes``, where the
  program does not run as root (Linux does not apply the limit to root: in ``rlimits`` mode as
  root it is not set);
- environment: only ``PATH``, ``HOME``, ``TMPDIR`` and a UTF-8 locale; ``-I`` ignores
  ``PYTHON*`` variables, the user site directory and the script's directory on ``sys.path``.

The ``guard`` (on by default, as in OpenAI's human-eval) replaces destructive and
process-spawning functions of ``os``, ``shutil`` and ``subprocess`` with ones that raise
PermissionError: it stops accidents, not an adversary (ctypes gets around it). Not enforced in
any mode: the number of files written to the run's folder (each is bounded, their count is not),
CPU and memory shares beyond the rlimits (no cgroups), and the kernel's own attack surface (no
seccomp filter): for truly hostile code use a VM.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATUS_PASSED = "passed"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"
STATUS_MEMORY = "memory"
STATUS_OUTPUT_LIMIT = "output_limit"

BUBBLEWRAP = "bubblewrap"
NAMESPACES = "namespaces"
RLIMITS = "rlimits"
MODES = (BUBBLEWRAP, NAMESPACES, RLIMITS)  # strongest first: what "auto" tries in turn
ENVIRONMENT = "EDITSEQ_SANDBOX"  # auto | bubblewrap | namespaces | rlimits

# The read-only view in the two isolating modes: these folders (or symlinks) and the Python
# installation; nothing else of the file system exists inside.
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock, for the whole process group
    memory_mb: int = 1024  # RLIMIT_AS of the interpreter (and of anything it starts)
    cpu_s: float | None = None  # RLIMIT_CPU; None: the wall timeout rounded up, plus one second
    file_size_mb: int = 16  # RLIMIT_FSIZE: any file written, captured stdout/stderr included
    max_processes: int | None = 64  # extra tasks (processes + threads) allowed; not as root
    max_output_chars: int = 4000  # per stream, kept as head + tail
    isolate_network: bool = True  # rlimits mode: try a network namespace (the others always do)
    guard: bool = True  # disable destructive os/shutil/subprocess functions (not a boundary)
    isolation: str = "auto"  # auto (EDITSEQ_SANDBOX, else the strongest available) or a mode
    tmp_mb: int = 64  # size of the private /tmp (and /dev/shm) in the isolating modes


@dataclass(frozen=True)
class SandboxResult:
    status: str  # passed | failed | timeout | memory | output_limit
    returncode: int | None  # negative: killed by that signal
    stdout: str
    stderr: str
    elapsed_s: float
    network_isolated: bool = False
    isolation: str = RLIMITS  # bubblewrap | namespaces | rlimits: what this run had

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


class SandboxUnavailable(RuntimeError):
    """The isolation asked for (by ``Limits.isolation`` or EDITSEQ_SANDBOX) is not possible here."""


@dataclass(frozen=True)
class Job:
    """One program to run: its text, the file name it gets, and extra files beside it."""

    source: str
    filename: str = "main.py"
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    stdin: str | None = None


# The child's first code (stdlib only), copied into each run's folder and started by LAUNCH as
# `python -I -c LAUNCH CHILD_PATH CONFIG_JSON FILE [ARGS...]`.
CHILD = (Path(__file__).parent / "sandbox_child.py").read_text(encoding="utf-8")
LAUNCH = "import sys; p = sys.argv.pop(1); exec(compile(open(p, encoding='utf-8').read(), p, 'exec'))"
SETUP_FAILED = 125  # sandbox_child.SETUP_FAILED: the isolation could not be set up

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
    is never touched; the temporary directory is removed afterwards. Raises SandboxUnavailable
    when a mode that is not available here was asked for.
    """
    mode = resolve_isolation(limits.isolation)
    return _run(mode, source, limits, filename, files or {}, tuple(args), stdin)


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


# --- which isolation ------------------------------------------------------------------------

_probed: dict[str, str | None] = {}  # mode -> None (works) or why not
_probe_lock = threading.Lock()


def availability(mode: str) -> str | None:
    """None if ``mode`` works on this machine, else why not (probed once per process by running
    a trivial program in it)."""
    if mode not in MODES:
        raise ValueError(f"unknown sandbox isolation {mode!r}: one of auto, {', '.join(MODES)}")
    with _probe_lock:
        if mode not in _probed:
            _probed[mode] = _probe(mode)
        return _probed[mode]


def resolve_isolation(requested: str = "auto") -> str:
    """The mode a run gets: the one asked for (else EDITSEQ_SANDBOX, else the strongest that works)."""
    if requested == "auto":
        requested = os.environ.get(ENVIRONMENT, "auto").strip() or "auto"
    if requested == "auto":
        return next(mode for mode in MODES if availability(mode) is None)
    why = availability(requested)
    if why is not None:
        raise SandboxUnavailable(f"sandbox isolation {requested!r} is not available here: {why}")
    return requested


def _probe(mode: str) -> str | None:
    if mode == RLIMITS:
        return None
    if mode == BUBBLEWRAP and shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        result = _run(mode, "print('ok')\n", Limits(timeout_s=20.0), "probe.py", {}, (), None, True)
    except (_SetupFailed, OSError) as exc:
        return str(exc)
    if result.stdout.strip() != "ok":
        return f"a trivial program failed in it: {result.output.strip()[-300:]}"
    return None


class _SetupFailed(Exception):
    pass


def _interpreter() -> str:
    """The real interpreter (a virtual environment's python is a link into the project)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _view() -> list[tuple[str, ...]]:
    """("ro", path) and ("symlink", path, target) entries: the system folders and Python."""
    entries: list[tuple[str, ...]] = []
    exposed: list[str] = []
    for folder in SYSTEM_FOLDERS:
        if os.path.islink(folder):
            entries.append(("symlink", folder, os.readlink(folder)))
        elif os.path.isdir(folder):
            entries.append(("ro", folder))
            exposed.append(os.path.realpath(folder))
    python = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    python.add(os.path.dirname(_interpreter()))
    for path in sorted(python):
        if not any(_inside(path, seen) for seen in exposed):
            entries.append(("ro", path))
            exposed.append(path)
    return entries


def _parents(path: str) -> list[str]:
    """/a/b/c -> [/a, /a/b]"""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _hidden(view: list[tuple[str, ...]]) -> list[str]:
    """The home and the working (project) folder, where they lie inside the exposed view."""
    exposed = [entry[1] for entry in view if entry[0] == "ro"]
    candidates = {os.path.realpath(os.path.expanduser("~")), os.path.realpath(os.getcwd())}
    return sorted(c for c in candidates if c != "/" and any(_inside(c, e) and c != e for e in exposed))


def _nobody() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def _bwrap_command(view, hidden, root: str, work: str, status: str, child: str, limits: Limits,
                   as_root: bool) -> list[str]:
    command = ["bwrap", "--die-with-parent", "--new-session", "--as-pid-1", "--unshare-ipc", "--unshare-pid",
               "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if as_root:  # bwrap runs privileged; the child becomes nobody itself, then has no capability
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        command += ["--unshare-user"]
    made: set[str] = set()
    for entry in view:
        if entry[0] == "symlink":
            command += ["--symlink", entry[2], entry[1]]
            continue
        # bwrap would copy the modes of the parents (0700 for /root): make them traversable
        for parent in _parents(entry[1]):
            if parent not in made:
                made.add(parent)
                command += ["--perms", "0755", "--dir", parent]
        command += ["--ro-bind", entry[1], entry[1]]
    for path in hidden:
        command += ["--perms", "0555", "--tmpfs", path]
    tmp_bytes = str(limits.tmp_mb * 1024 * 1024)
    command += ["--dev", "/dev", "--proc", "/proc",
                "--perms", "1777", "--size", tmp_bytes, "--tmpfs", "/tmp",
                "--perms", "1777", "--size", tmp_bytes, "--tmpfs", "/dev/shm",
                "--perms", "0711", "--dir", root, "--bind", work, work, "--bind", status, status,
                "--ro-bind", child, child,
                "--remount-ro", "/", "--chdir", work, "--"]
    return command


# --- one run --------------------------------------------------------------------------------

def _rlimits(limits: Limits, uid: int) -> dict[str, tuple[int, int]]:
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
    if limits.max_processes is not None and uid != 0:
        tasks = _user_tasks(uid) + limits.max_processes
        chosen["RLIMIT_NPROC"] = (tasks, tasks)
    return chosen


def _user_tasks(uid: int) -> int:
    """Tasks (processes and threads) of ``uid``: what RLIMIT_NPROC counts."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(os.path.join(entry.path, "task")))
    return count


def _run(mode: str, source: str, limits: Limits, filename: str, files: Mapping[str, str | bytes],
         args: tuple[str, ...], stdin: str | None, probing: bool = False) -> SandboxResult:
    root = tempfile.mkdtemp(prefix="editseq-sandbox-")
    try:
        return _run_in(root, mode, source, limits, filename, files, args, stdin, probing)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_in(root: str, mode: str, source: str, limits: Limits, filename: str,
            files: Mapping[str, str | bytes], args: tuple[str, ...], stdin: str | None,
            probing: bool) -> SandboxResult:
    root = os.path.realpath(root)
    work = os.path.join(root, "work")
    os.mkdir(work)
    for name, content in {**files, filename: source}.items():
        target = os.path.join(work, _safe_relative(name))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        mode_, encoding = ("wb", None) if isinstance(content, bytes) else ("w", "utf-8")
        with open(target, mode_, encoding=encoding) as f:
            f.write(content)
    status_path = os.path.join(root, "status")
    open(status_path, "w").close()
    child_path = os.path.join(root, "child.py")
    with open(child_path, "w", encoding="utf-8") as f:
        f.write(CHILD)
    os.chmod(child_path, 0o644)
    as_root = os.geteuid() == 0
    runs_as = os.geteuid()
    config: dict = {"status_path": status_path, "isolation": mode, "isolate_network": limits.isolate_network,
                    "guard": limits.guard, "guarded_os": GUARDED_OS}
    python = sys.executable
    prefix: list[str] = []
    if mode != RLIMITS:
        python = _interpreter()
        view = _view()
        hidden = _hidden(view)
        if as_root:
            uid, gid = _nobody()
            runs_as = uid
            for path in (work, *_tree(work)):  # the status file stays the caller's
                os.chown(path, uid, gid)
        if mode == BUBBLEWRAP:
            prefix = _bwrap_command(view, hidden, root, work, status_path, child_path, limits, as_root)
            if as_root:
                config["drop_to"] = [uid, gid]
        else:
            newroot = os.path.join(root, "root")
            os.mkdir(newroot)
            config["namespaces"] = {
                "root": newroot, "view": view, "hidden": hidden, "work": work,
                "tmp_bytes": limits.tmp_mb * 1024 * 1024, "uid": os.getuid(), "gid": os.getgid(),
                "drop_to": [uid, gid] if as_root else None,
            }
    config["limits"] = _rlimits(limits, runs_as)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "TMPDIR": work,
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    command = [*prefix, python, "-I", "-c", LAUNCH, child_path, json.dumps(config),
               _safe_relative(filename), *args]
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
            # the PID namespace's init (the child of bwrap or of the waiting process) ends only
            # once every process in the namespace has: wait for that after the kill
            inits = _children(process.pid) if mode != RLIMITS and process.poll() is None else []
            _kill_group(process.pid)  # the program's children too, timed out or not
            for pid, _ in inits:  # bwrap's monitor may lack the right to pass its death on
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            process.wait()
            _wait_ended(inits)
    elapsed = time.perf_counter() - started
    stdout = _read_truncated(out_path, limits.max_output_chars)
    stderr = _read_truncated(err_path, limits.max_output_chars)
    notes = _read_status(status_path)
    code = process.returncode
    if code is not None and code > 128 and f"signal {code - 128}" in notes:
        code = -(code - 128)  # passed on by PID 1 of the sandbox, which cannot re-raise it
    if mode != RLIMITS and not timed_out:
        why = _setup_failure(mode, notes, stderr, code)
        if why is not None:
            if probing:
                raise _SetupFailed(why)
            # never a weaker mode at run time: the program may have written these notes itself
            return SandboxResult(STATUS_FAILED, code, stdout, f"{stderr}\neditseq sandbox: {why}",
                                 round(elapsed, 4), True, mode)
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
    isolated = mode != RLIMITS or "network_isolated" in notes
    return SandboxResult(status, code, stdout, stderr, round(elapsed, 4), isolated, mode)


def _setup_failure(mode: str, notes: set[str], stderr: str, code: int | None) -> str | None:
    failed = next((n for n in notes if n.startswith("setup-failed")), None)
    if failed is not None:
        return "setup failed: " + failed[len("setup-failed "):]
    if "started" not in notes:
        return stderr.strip()[-300:] or f"the sandbox exited with {code} before the program ran"
    if mode == NAMESPACES and "isolation namespaces" not in notes:
        return "the namespaces were not entered"
    return None


def _tree(folder: str) -> list[str]:
    found = []
    for base, dirs, names in os.walk(folder):
        found += [os.path.join(base, n) for n in dirs + names]
    return found


def _safe_relative(name: str) -> str:
    normalized = os.path.normpath(name)
    if os.path.isabs(normalized) or normalized.startswith(".."):
        raise ValueError(f"sandbox file names must be relative and stay inside the directory: {name!r}")
    return normalized


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of the children of ``pid``, from /proc."""
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(child) for child in f.read().split()]
    return [(child, start) for child in found if (start := _stat(child)[1])]


def _stat(pid: int) -> tuple[str, str]:
    """(state, start time) of a process, ("", "") when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], fields[19]
    except (OSError, IndexError):
        return "", ""


def _wait_ended(processes: list[tuple[int, str]], limit_s: float = 5.0) -> None:
    """Wait until each process has exited (a zombie, reaped, or another with its pid)."""
    deadline = time.monotonic() + limit_s
    for pid, start in processes:
        while time.monotonic() < deadline:
            state, started = _stat(pid)
            if started != start or state in ("Z", "X"):
                break
            time.sleep(0.005)


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
