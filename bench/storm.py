"""Reliability under a typing storm: the real server over stdio, 1,000 keystrokes at 30/s.

    python bench/storm.py [--sizes 300 3000] [--keys 1000] [--rate 30] [--cancel-every 2]
                          [--scripted] [--out bench/results/storm.json]
    python bench/storm.py --render [--check]      # the README's table from the JSON

For each file size and each condition (nothing else started by the benchmark; one core kept
busy by a spinning process it starts), a fresh server (``python -m editseq.cli serve``, or the
scripted model of tests/nvim/scripted_server.py with ``--scripted``) opens a standard-library
file cut to about that many lines and the benchmark types the code that follows the cut, one
character per keystroke at ``--rate`` keystrokes a second. Each keystroke is an incremental
didChange and an inline completion request. When the next key comes, every ``--cancel-every``-th
request still unanswered is cancelled (``$/cancelRequest``), as editors do; the others are left
to the server, which supersedes older work on a document by itself, so their latency shows how
fast a superseded request is let go. Reported: requests answered (any reply: result, cancelled
or error; every one should get one), results and their p50/p95 latency (the requests not
cancelled), the server's resident memory (server and its lint worker) before the
storm and after it, and the CPU seconds the server burns in the 5 s of idleness after the last
reply. What else ran on the machine (load average, the busiest other processes) is recorded
with every run: numbers taken while other jobs run are not the server's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import sysconfig
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "storm.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- storm:begin -->", "<!-- storm:end -->"
SOURCES = ["textwrap.py", "difflib.py", "argparse.py", "inspect.py", "typing.py", "_pydecimal.py"]
IDLE_S = 5.0
DRAIN_S = 120.0  # after the last key, how long the replies still missing are waited for
SHUTDOWN_S = 60.0  # how long the reply to shutdown is waited for (null in the results if longer)
CANCELLED = -32800


def fixture(lines_wanted: int, keys: int) -> tuple[str, str]:
    """(the file cut before a ``def`` near ``lines_wanted``, the next ``keys`` characters)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in SOURCES:
        lines = (stdlib / name).read_text().split("\n")
        if len(lines) < lines_wanted + 100:
            continue
        starts = [i for i, line in enumerate(lines) if re.match(r"\s*def \w+\(", line)]
        cut = min(starts, key=lambda i: abs(i - lines_wanted))
        head = "\n".join(lines[:cut]) + "\n"
        rest = "\n".join(lines[cut:])
        if len(rest) >= keys:
            return head, rest[:keys]
    raise SystemExit(f"no stdlib file of {lines_wanted} + 100 lines")


def tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    queue += [int(child) for child in f.read().split()]
        except OSError:
            pass
    return found


def rss_mb(pid: int) -> float:
    total = 0
    for member in tree(pid):
        try:
            for row in Path(f"/proc/{member}/status").read_text().splitlines():
                if row.startswith("VmRSS:"):
                    total += int(row.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_s(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return total / ticks


def machine_load(exclude: set[int]) -> dict:
    """The load average and the five busiest other processes (CPU % since they started)."""
    rows = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu", "--no-headers"],
                          capture_output=True, text=True).stdout.splitlines()
    busy = []
    for row in rows:
        pid, pcpu, *command = row.split()
        if int(pid) not in exclude and float(pcpu) >= 5.0 and command:
            name = " ".join([os.path.basename(command[0]), *command[1:3]])
            busy.append(f"{name} {pcpu}%")
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "busiest_other": busy[:5]}


class Client:
    """A raw JSON-RPC client over the server's stdio (no client library: exact timing)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.replies: dict[object, tuple[float, dict]] = {}
        self.waiters: dict[object, asyncio.Future] = {}
        self.statuses: list[dict] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = 0
            while True:
                header = await stream.readline()
                if not header:
                    return
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
                elif header.strip() == b"":
                    break
            message = json.loads(await stream.readexactly(length))
            now = time.perf_counter()
            if "method" in message:
                if message["method"] == "editseq/status":
                    self.statuses.append(message.get("params") or {})
                if "id" in message:  # a request of the server's: answer it, empty
                    await self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                continue
            self.replies[message.get("id")] = (now, message)
            waiter = self.waiters.pop(message.get("id"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    async def send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.process.stdin.drain()

    async def request(self, request_id, method: str, params, timeout: float = 600.0) -> dict:
        self.waiters[request_id] = asyncio.get_running_loop().create_future()
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return await asyncio.wait_for(self.waiters[request_id], timeout)

    async def notify(self, method: str, params) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})


def inline(uri: str, line: int, character: int) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 2}}


def units(text: str) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


async def storm(size: int, keys: int, rate: float, cancel_every: int, scripted: bool, busy: bool) -> dict:
    head, typed = fixture(size, keys)
    command = ([sys.executable, str(ROOT / "tests" / "nvim" / "scripted_server.py")] if scripted
               else [sys.executable, "-m", "editseq.cli", "serve"])
    process = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.PIPE,
                                                   stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.DEVNULL)
    client = Client(process)
    spinner = None
    try:
        await client.request("init", "initialize", {"processId": os.getpid(), "rootUri": None,
                                                    "capabilities": {}, "initializationOptions": {}})
        await client.notify("initialized", {})
        deadline = time.monotonic() + 600
        while not any(s.get("state") in ("ready", "error") for s in client.statuses):
            if time.monotonic() > deadline:
                raise SystemExit("the server did not get ready in 600 s")
            await asyncio.sleep(0.1)
        uri = f"file:///storm/file{size}.py"
        await client.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": head}})
        line = head.count("\n")
        character = 0
        await client.request("warm", "textDocument/inlineCompletion", inline(uri, line, character))
        rss_before = rss_mb(process.pid)
        load = machine_load(set(tree(process.pid)) | {os.getpid()})
        if busy:
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        sent: dict[int, float] = {}
        cancelled_by_client = 0
        cpu_start = cpu_s(process.pid)
        started = time.perf_counter()
        for k, key in enumerate(typed):
            await asyncio.sleep(max(0.0, started + k / rate - time.perf_counter()))
            previous = k - 1
            if previous in sent and previous not in client.replies and previous % cancel_every == 0:
                await client.notify("$/cancelRequest", {"id": previous})
                cancelled_by_client += 1
            edit = {"range": {"start": {"line": line, "character": character},
                              "end": {"line": line, "character": character}}, "text": key}
            await client.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": k + 2}, "contentChanges": [edit]})
            if key == "\n":
                line, character = line + 1, 0
            else:
                character += units(key)
            sent[k] = time.perf_counter()
            await client.send({"jsonrpc": "2.0", "id": k, "method": "textDocument/inlineCompletion",
                               "params": inline(uri, line, character)})
        typing_s = time.perf_counter() - started
        drain_deadline = time.perf_counter() + DRAIN_S
        while any(k not in client.replies for k in sent) and time.perf_counter() < drain_deadline:
            await asyncio.sleep(0.05)
        storm_cpu = cpu_s(process.pid) - cpu_start
        rss_after = rss_mb(process.pid)
        idle_start = cpu_s(process.pid)
        await asyncio.sleep(IDLE_S)
        idle_cpu = cpu_s(process.pid) - idle_start
        results, cancelled, errors, offered = [], 0, 0, 0
        for k, at in sent.items():
            if k not in client.replies:
                continue
            received, message = client.replies[k]
            if "result" in message:
                results.append((received - at) * 1000)
                items = message["result"] or []
                items = items.get("items", []) if isinstance(items, dict) else items
                offered += bool(items)
            elif message["error"]["code"] == CANCELLED:
                cancelled += 1
            else:
                errors += 1
        asked = time.perf_counter()
        try:
            await client.request("down", "shutdown", None, timeout=SHUTDOWN_S)
            shutdown_s = round(time.perf_counter() - asked, 2)
            await client.notify("exit", None)
        except TimeoutError:
            shutdown_s = None
        return {
            "lines": head.count("\n"), "busy_core": busy, "keystrokes": len(typed), "rate": rate,
            "cancel_every": cancel_every,
            "typing_s": round(typing_s, 1), "requests": len(sent),
            "answered": sum(k in client.replies for k in sent),
            "results": len(results), "cancelled": cancelled, "errors": errors,
            "cancels_sent": cancelled_by_client, "offered": offered,
            "p50_ms": round(statistics.median(results), 1) if results else None,
            "p95_ms": round(statistics.quantiles(results, n=20)[-1], 1) if len(results) >= 20
            else (round(max(results), 1) if results else None),
            "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1),
            "rss_growth_mb": round(rss_after - rss_before, 1),
            "storm_cpu_s": round(storm_cpu, 2), "idle_cpu_s": round(idle_cpu, 3),
            "last_reply_after_typing_s": round(max((client.replies[k][0] for k in sent if k in client.replies),
                                                   default=started) - started - typing_s, 2),
            "shutdown_reply_s": shutdown_s,
            "machine_before": load,
        }
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
        if process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        client.reader.cancel()


def render(report: dict) -> str:
    """The README's block: a sentence on how it was measured, then one row per run."""
    rows = ["| lines | one core busy | answered | results | cancelled | p50 ms | p95 ms "
            "| last reply after the last key s | RSS before MB | RSS growth MB | idle CPU s (5 s) "
            "| shutdown reply s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in report["runs"]:
        def value(key, run=run):
            return "-" if run[key] is None else run[key]
        rows.append(f"| {run['lines']} | {'yes' if run['busy_core'] else 'no'} | "
                    f"{run['answered']}/{run['requests']} | {run['results']} | {run['cancelled']} | "
                    f"{value('p50_ms')} | {value('p95_ms')} | {run['last_reply_after_typing_s']} | "
                    f"{run['rss_before_mb']} | "
                    f"{run['rss_growth_mb']} | {run['idle_cpu_s']} | "
                    f"{value('shutdown_reply_s') if run['shutdown_reply_s'] is not None else f'none in {SHUTDOWN_S:g}'} |")
    loads = sorted({run["machine_before"]["loadavg"][0] for run in report["runs"]})
    others = sorted({p.rsplit(" ", 1)[0] for run in report["runs"] for p in run["machine_before"]["busiest_other"]})
    model = "the scripted model" if report["scripted"] else "the real model (`editseq serve`, default options)"
    sentence = (f"Measured on {report['date']} by `{report['command']}` with {model}, "
                f"{report['keystrokes']} keystrokes at {report['rate']:g}/s, every "
                f"{_nth(report['cancel_every'])} request still unanswered at the next key cancelled, "
                f"on {report['machine']}; "
                f"1-minute load average before the runs {loads[0]:g}-{loads[-1]:g}"
                + (f", other busy processes: {', '.join(f'`{o}`' for o in others)}" if others else "")
                + f". Raw numbers: `{report['path']}`.")
    return "\n".join([BEGIN, sentence, "", *rows, END])


def _nth(n: int) -> str:
    return {1: "", 2: "second", 3: "third"}.get(n, f"{n}th")


def readme_block(text: str) -> str:
    return text[text.index(BEGIN): text.index(END) + len(END)]


def _shown(path: Path) -> str:
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--cancel-every", type=int, default=2,
                        help="cancel every N-th request still unanswered at the next keystroke")
    parser.add_argument("--scripted", action="store_true", help="the scripted model, not the real one")
    parser.add_argument("--no-busy", action="store_true", help="skip the runs with one core busy")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true", help="write the README's table from --out")
    parser.add_argument("--check", action="store_true", help="with --render: fail if the README differs")
    args = parser.parse_args()
    if args.render:
        report = json.loads(args.out.read_text())
        block = render(report)
        text = README.read_text()
        if args.check:
            if readme_block(text) != block:
                print("README.md's storm table is stale: run python bench/storm.py --render", file=sys.stderr)
                return 1
            return 0
        README.write_text(text.replace(readme_block(text), block))
        return 0
    runs = []
    for size in args.sizes:
        for busy in ([False] if args.no_busy else [False, True]):
            run = asyncio.run(storm(size, args.keys, args.rate, args.cancel_every, args.scripted, busy))
            print(json.dumps(run), flush=True)
            runs.append(run)
    command = "python bench/storm.py" + (" --scripted" if args.scripted else "")
    report = {"date": date.today().isoformat(), "command": command, "scripted": args.scripted,
              "keystrokes": args.keys, "rate": args.rate, "cancel_every": args.cancel_every,
              "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
              "path": _shown(args.out), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
