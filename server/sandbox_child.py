"""The first code a sandboxed program's interpreter runs: editseq.sandbox copies this file into
the run's folder and starts ``python -I -c LAUNCH COPY CONFIG_JSON FILE [ARGS...]``, LAUNCH
executing the copy. Stdlib only, and never imported by the server (the server's own packages
are not visible inside the sandbox).

In order: it enters the namespaces and builds the read-only view of the system (``namespaces``
mode; bubblewrap has done that already in ``bubblewrap`` mode), drops privileges, sets the
rlimits, installs the guard and runs FILE as ``__main__``. Each step is noted, one line each, in
the status file the parent reads afterwards (``started``, ``isolation namespaces``, ``unset
RLIMIT_NPROC``, ``memory`` ...). A setup step that fails writes ``setup-failed REASON`` and exits
before any of the program runs.

The ``namespaces`` mode, by hand what bubblewrap does: new mount, PID, network, IPC and UTS
namespaces (as root directly; otherwise inside a new user namespace that maps only the caller's
own uid and gid). The PID namespace needs a fork: the process outside waits and passes on the
exit status; the child is PID 1 of the new namespace, so when it ends every process it left
behind is killed by the kernel. The child mounts a tmpfs as the new root, binds the system
folders into it read-only (nosuid, nodev), a minimal /dev (null, zero, full, random, urandom,
tty), a fresh /proc, a private size-limited /tmp and /dev/shm, and the run's own folder
writable, then chroots into it. Root then becomes ``nobody`` (no capabilities, and RLIMIT_NPROC
applies to it); a user keeps their uid and loses every capability of the user namespace.
``no_new_privs`` is set in both cases, so set-user-ID programs gain nothing.
"""

import json
import os
import resource
import sys

SETUP_FAILED = 125

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
# statvfs flag -> mount flag, for the flags a user namespace may not clear on remount
KEPT_FLAGS = ((8, MS_NOEXEC), (1024, 1024), (2048, 2048), (4096, 1 << 21))

MOUNT_ATTR_RDONLY = 1
MOUNT_ATTR_NOSUID = 2
MOUNT_ATTR_NODEV = 4
SYS_MOUNT_SETATTR = 442  # the same number on every architecture but alpha
AT_FDCWD = -100
AT_RECURSIVE = 0x8000

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


class _Setup:
    """The mount and privilege calls (ctypes on libc), each raising OSError with what failed."""

    def __init__(self):
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result, what):
        if result != 0:
            errno = self.ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def unshare(self, flags):
        self._check(self.libc.unshare(self.ctypes.c_int(flags)), "unshare")

    def mount(self, source, target, fstype, flags, data=None):
        def arg(value):
            return None if value is None else os.fsencode(value)

        self._check(self.libc.mount(arg(source), arg(target), arg(fstype),
                                    self.ctypes.c_ulong(flags), arg(data)), f"mount {target}")

    def read_only(self, target, recursive=True):
        """Make a bind mount (and those below it) read-only, nosuid and nodev."""
        ctypes = self.ctypes

        class MountAttr(ctypes.Structure):
            _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                        ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

        attr = MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
        done = self.libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD),
                                 os.fsencode(target), ctypes.c_uint(AT_RECURSIVE if recursive else 0),
                                 ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
        if done != 0:  # before Linux 5.12: the top mount only, keeping the flags it has
            have = os.statvfs(target).f_flag
            flags = sum(ms for st, ms in KEPT_FLAGS if have & st)
            self.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | flags)

    def prctl(self, option, value):
        self._check(self.libc.prctl(self.ctypes.c_int(option), self.ctypes.c_ulong(value), 0, 0, 0),
                    f"prctl {option}")

    def drop_capabilities(self):
        ctypes = self.ctypes

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        header, data = Header(0x20080522, 0), (Data * 2)()
        self._check(self.libc.capset(ctypes.byref(header), data), "capset")


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _wait_and_pass_on(pid, status=None):
    """Wait for ``pid`` and end the same way. PID 1 of a namespace cannot kill itself with a
    signal: it notes the signal in ``status`` and exits with 128 + its number instead."""
    import signal

    while True:
        try:
            _, state = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(state):
        number = os.WTERMSIG(state)
        if status is not None:
            status.write(f"signal {number}\n")
            status.flush()
            os._exit(128 + number)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.WEXITSTATUS(state) if os.WIFEXITED(state) else 1)


def enter_namespaces(ns, status):
    """``namespaces`` mode; returns in PID 1 of the new namespaces, chrooted, unprivileged."""
    setup = _Setup()
    as_root = ns["drop_to"] is not None
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    setup.unshare(flags if as_root else flags | CLONE_NEWUSER)
    if not as_root:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{ns['uid']} {ns['uid']} 1")
        _write("/proc/self/gid_map", f"{ns['gid']} {ns['gid']} 1")
    pid = os.fork()
    if pid:
        _wait_and_pass_on(pid)
    setup.mount(None, "/", None, MS_REC | MS_PRIVATE)
    new = ns["root"]
    setup.mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for entry in ns["view"]:
        target = new + entry[1]
        if entry[0] == "symlink":
            os.symlink(entry[2], target)
            continue
        os.makedirs(target, exist_ok=True)
        setup.mount(entry[1], target, None, MS_BIND | MS_REC)
        setup.read_only(target)
    for hidden in ns["hidden"]:  # a home or project folder inside an exposed system folder
        if os.path.isdir(new + hidden):
            setup.mount("tmpfs", new + hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k")
    dev = new + "/dev"
    os.makedirs(dev, exist_ok=True)
    setup.mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755,size=64k")
    for name in DEVICES:
        if os.path.exists("/dev/" + name):
            _write(f"{dev}/{name}", "")
            setup.mount("/dev/" + name, f"{dev}/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    tmp_options = f"mode=1777,size={ns['tmp_bytes']}"
    os.mkdir(dev + "/shm")
    setup.mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, tmp_options)
    os.makedirs(new + "/tmp", exist_ok=True)
    setup.mount("tmpfs", new + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmp_options)
    os.makedirs(new + ns["work"], exist_ok=True)
    setup.mount(ns["work"], new + ns["work"], None, MS_BIND | MS_REC)
    os.makedirs(new + "/proc", exist_ok=True)
    try:
        setup.mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as exc:  # a container may refuse a new procfs; the host's, read-only
        status.write(f"host-proc {exc}\n")
        setup.mount("/proc", new + "/proc", None, MS_BIND | MS_REC)
        setup.read_only(new + "/proc")
    setup.read_only(dev, recursive=False)
    setup.read_only(new, recursive=False)
    os.chdir(new)
    os.chroot(".")
    os.chdir(ns["work"])
    setup.prctl(PR_SET_NO_NEW_PRIVS, 1)
    if as_root:
        uid, gid = ns["drop_to"]
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    else:
        setup.drop_capabilities()
    setup.prctl(PR_SET_PDEATHSIG, 9)  # after the uid change, which clears it
    with open("/proc/self/status") as f:
        capabilities = [row.split()[1] for row in f if row.startswith("CapEff:")]
    if capabilities != ["0000000000000000"] or (as_root and os.getuid() == 0):
        raise OSError(1, "privileges were not dropped")
    status.write("isolation namespaces\n")


def drop_to(uid, gid, status):
    """``bubblewrap`` mode as root (bwrap kept only CAP_SETUID and CAP_SETGID for this): this
    process stays PID 1 of the sandbox, uid 0 without capabilities, and waits; its child runs
    the program as ``uid``. bwrap's --die-with-parent reaches this process (a root sender may
    signal a root process without CAP_KILL, not nobody's), and when it ends the kernel ends
    every process in the namespace."""
    pid = os.fork()
    if pid:
        setup = _Setup()
        setup.drop_capabilities()
        _wait_and_pass_on(pid, status)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
def isolate_network(status):
    """``rlimits`` mode: a network namespace where the kernel allows one (best effort)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) == 0 or libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            status.write("network_isolated\n")
    except Exception:
        pass


def guard(names):
    """Replace destructive and process-spawning functions (stops accidents, not an adversary)."""
    import _posixsubprocess
    import shutil

    def _disabled(*args, **kwargs):
        raise PermissionError("disabled in the editseq sandbox")

    for name in names:
        if hasattr(os, name):
            setattr(os, name, _disabled)
    for name in ("rmtree", "move", "chown"):
        setattr(shutil, name, _disabled)
    _posixsubprocess.fork_exec = _disabled


def main():
    cfg = json.loads(sys.argv[1])
    path = sys.argv[2]
    sys.argv = sys.argv[2:]
    status = open(cfg["status_path"], "w", buffering=1)  # noqa: SIM115 - kept open for the run
    status.write("started\n")
    if cfg.get("drop_to"):
        drop_to(*cfg["drop_to"], status)
    try:
        if cfg.get("namespaces"):
            enter_namespaces(cfg["namespaces"], status)
    except OSError as exc:
        status.write(f"setup-failed {exc}\n")
        status.flush()
        os._exit(SETUP_FAILED)
    if cfg.get("isolation") == "rlimits" and cfg["isolate_network"]:
        isolate_network(status)
    for name, value in cfg["limits"].items():
        try:
            resource.setrlimit(getattr(resource, name), tuple(value))
        except (ValueError, OSError):
            status.write("unset " + name + "\n")
    status.flush()
    if cfg["guard"]:
        guard(cfg["guarded_os"])
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


if __name__ == "__main__":
    main()
