"""Hostile candidates in each sandbox mode: each is stopped or confined, the result says which
isolation applied, and nothing outside the sandbox changes (the places each one tried are
hashed before and after).

A mode that this machine cannot provide is skipped with the reason (``bwrap`` missing, the kernel
refusing namespaces); where it is available it really runs. The guard is off here: it stops
accidents, not an adversary, so these tests measure what the isolation itself enforces.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import uuid
from pathlib import Path

import pytest
from editseq.sandbox import (
    BUBBLEWRAP,
    MODES,
    NAMESPACES,
    RLIMITS,
    Limits,
    SandboxUnavailable,
    availability,
    run_program,
)

ROOT = Path(__file__).resolve().parents[2]
ISOLATING = (BUBBLEWRAP, NAMESPACES)


def limits(mode: str, **changes) -> Limits:
    return Limits(**{"timeout_s": 5.0, "memory_mb": 512, "guard": False, "isolation": mode, **changes})


@pytest.fixture(params=ISOLATING)
def isolating(request) -> str:
    why = availability(request.param)
    if why is not None:
        pytest.skip(f"sandbox mode {request.param} is not available here: {why}")
    return request.param


@pytest.fixture(params=MODES)
def any_mode(request) -> str:
    why = availability(request.param)
    if why is not None:
        pytest.skip(f"sandbox mode {request.param} is not available here: {why}")
    return request.param


def digest(*paths: Path) -> str:
    """One hash of these paths: existence, and every file's name, mode and bytes below them."""
    h = hashlib.sha256()
    for path in paths:
        h.update(f"{path}:{path.exists()}:{path.is_dir()}\n".encode())
        files = sorted(p for p in path.rglob("*")) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            info = file.lstat()
            h.update(f"{file}:{info.st_mode:o}\n".encode())
            if file.is_file():
                h.update(file.read_bytes())
    return h.hexdigest()


def attempts(*lines: str) -> str:
    """A candidate that tries each statement and prints 'ok NAME' or 'blocked NAME: error'."""
    body = ["import os, socket, sys"]
    for i, line in enumerate(lines):
        body += [f"try:\n    {line}\n    print('ok {i}', flush=True)",
                 f"except Exception as exc:\n    print('blocked {i}:', type(exc).__name__, exc, flush=True)"]
    return "\n".join(body) + "\n"


def outcomes(stdout: str) -> list[str]:
    return [row.split()[0] for row in stdout.splitlines() if row.startswith(("ok ", "blocked "))]


@pytest.fixture
def places(tmp_path):
    """A project folder (the caller's working directory) and a secret in the real home, made
    for this test and removed afterwards."""
    tag = uuid.uuid4().hex[:12]
    project = ROOT / ".pytest_cache" / f"sandbox-project-{tag}"
    project.mkdir(parents=True)
    (project / "module.py").write_text("VALUE = 1\n")
    secret = Path.home() / f".editseq-sandbox-secret-{tag}"
    secret.write_text(f"content-{uuid.uuid4().hex}\n")
    secret.chmod(0o644)  # readable by anyone the permissions allow: only the isolation hides it
    outside = tmp_path / "outside"  # a folder in /tmp that is not the run's own
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    escapes = [Path(f"/tmp/editseq-escape-{tag}"), Path.home() / f"editseq-escape-{tag}",
               ROOT / f"editseq-escape-{tag}", project / "written.txt", outside / "written.txt"]
    old = os.getcwd()
    os.chdir(project)
    try:
        yield {"tag": tag, "project": project, "secret": secret, "outside": outside, "escapes": escapes}
    finally:
        os.chdir(old)
        for path in [secret, *escapes]:
            if path.is_file():
                path.unlink()
        for file in sorted(project.rglob("*"), reverse=True):
            file.unlink() if file.is_file() else file.rmdir()
        project.rmdir()


def test_writes_to_home_project_and_tmp_are_confined(isolating, places):
    escapes = places["escapes"]
    watched = [*escapes, places["project"], places["outside"], places["secret"]]
    before = digest(*watched)
    source = attempts(*[f"open({str(p)!r}, 'w').write('pwned')" for p in escapes],
                      f"open({str(places['secret'])!r}, 'a').write('pwned')",
                      f"os.remove({str(ROOT / 'README.md')!r})")
    result = run_program(source, limits(isolating))
    assert result.isolation == isolating and result.passed, result.output
    seen = outcomes(result.stdout)
    # the private /tmp takes the first write (and forgets it); every other place is not there
    assert seen == ["ok", "blocked", "blocked", "blocked", "blocked", "blocked", "blocked"], result.stdout
    assert digest(*watched) == before
    assert (ROOT / "README.md").is_file()


def test_a_file_in_the_home_cannot_be_read(isolating, places):
    source = attempts(f"print(open({str(places['secret'])!r}).read())",
                      "print(os.listdir(os.path.expanduser('~root')))",
                      f"print(os.listdir({str(Path.home())!r}))",
                      f"print(os.listdir({str(places['project'])!r}))")
    result = run_program(source, limits(isolating))
    assert result.isolation == isolating, result.output
    assert places["secret"].read_text().strip() not in result.output
    listings = [row for row in result.stdout.splitlines() if row.startswith("[")]
    assert not any(places["secret"].name in row or "module.py" in row for row in listings), listings
    seen = outcomes(result.stdout)
    assert seen[0] == "blocked" and seen[3] == "blocked", result.stdout


@pytest.fixture
def listener():
    """A TCP server on the host's loopback that counts the connections it gets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            accepted.append(connection)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(2)
    server.close()


def test_a_socket_reaches_nothing(isolating, listener):
    port, accepted = listener
    source = attempts(f"socket.create_connection(('127.0.0.1', {port}), timeout=2)",
                      "socket.create_connection(('1.1.1.1', 53), timeout=2)",
                      "socket.getaddrinfo('example.com', 80)",
                      "socket.socket(socket.AF_UNIX).connect('\\0editseq-test')")
    result = run_program(source, limits(isolating))
    assert result.isolation == isolating and result.network_isolated, result.output
    assert outcomes(result.stdout) == ["blocked"] * 4, result.stdout
    assert accepted == []


def test_the_loopback_listener_is_reachable_without_isolation(listener):
    """The control for the test above: the same connection from the rlimits mode reaches the
    host, unless the kernel gave that mode a network namespace too."""
    port, accepted = listener
    result = run_program(attempts(f"socket.create_connection(('127.0.0.1', {port}), timeout=2)"),
                         limits(RLIMITS))
    assert result.isolation == RLIMITS
    assert outcomes(result.stdout) == (["blocked"] if result.network_isolated else ["ok"]), result.stdout


def survivors(marker: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if marker.encode() in Path(entry.path, "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


FORK_BOMB = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""


def test_a_fork_bomb_is_bounded_and_nothing_survives(isolating):
    marker = f"bomb_{uuid.uuid4().hex[:12]}.py"  # in every forked process's command line
    result = run_program(FORK_BOMB, limits(isolating, timeout_s=3.0), filename=marker)
    assert result.isolation == isolating
    assert result.timed_out, result.output
    assert result.elapsed_s < 6
    assert survivors(marker) == []


def test_the_process_limit_holds_in_the_sandbox(isolating):
    source = """
import os, time
made = 0
for _ in range(500):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    made += 1
print(made)
"""
    result = run_program(source, limits(isolating, max_processes=16))
    assert result.passed, result.output
    assert int(result.stdout) < 16 + 64  # the running user's own tasks count towards the limit


def test_a_process_that_leaves_the_session_dies_with_the_sandbox(isolating):
    marker = f"detach_{uuid.uuid4().hex[:12]}.py"
    source = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('parent done')\n"
    result = run_program(source, limits(isolating), filename=marker)
    assert result.passed and "parent done" in result.stdout
    assert survivors(marker) == []


def test_an_endless_loop_is_stopped_in_every_mode(any_mode):
    result = run_program("while True:\n    pass\n", limits(any_mode, timeout_s=1.0))
    assert result.isolation == any_mode
    assert result.timed_out and result.elapsed_s < 4


def test_the_program_runs_unprivileged_in_the_isolating_modes(isolating):
    source = ("import os\nprint(os.getuid())\n"
              "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n")
    result = run_program(source, limits(isolating))
    uid, capabilities = result.stdout.split()
    assert capabilities == "0000000000000000"
    if os.geteuid() == 0:
        assert uid != "0"  # root's programs run as nobody
    else:
        assert uid == str(os.geteuid())


def test_the_system_is_read_only_and_the_own_folder_writable(isolating):
    source = attempts("open('/usr/editseq-x', 'w')", "open('/etc/editseq-x', 'w')",
                      "open('/editseq-x', 'w')", "open('mine.txt', 'w').write('x')",
                      "open('/tmp/mine.txt', 'w').write('x')", "import json")
    result = run_program(source, limits(isolating))
    assert outcomes(result.stdout) == ["blocked", "blocked", "blocked", "ok", "ok", "ok"], result.stdout
    assert not Path("/usr/editseq-x").exists() and not Path("/etc/editseq-x").exists()


def test_a_mode_that_is_not_available_is_refused_not_weakened(monkeypatch):
    import editseq.sandbox as sandbox

    monkeypatch.setitem(sandbox._probed, BUBBLEWRAP, "bwrap is not installed")
    with pytest.raises(SandboxUnavailable, match="bwrap is not installed"):
        run_program("print(1)\n", limits(BUBBLEWRAP))
    monkeypatch.setenv("EDITSEQ_SANDBOX", "bubblewrap")
    with pytest.raises(SandboxUnavailable):
        run_program("print(1)\n", Limits())
    monkeypatch.setenv("EDITSEQ_SANDBOX", "rlimits")
    assert run_program("print(1)\n", Limits()).isolation == RLIMITS


def test_auto_picks_the_strongest_available_mode(monkeypatch):
    monkeypatch.delenv("EDITSEQ_SANDBOX", raising=False)
    expected = next(mode for mode in MODES if availability(mode) is None)
    assert run_program("print(1)\n", Limits()).isolation == expected
