"""Inline-completion latency of the real server over stdio, with scripted typing, idle and busy.

    python bench/latency.py [--sizes 50 300 1000] [--steps 12] [--max-tokens 48]
                            [--out bench/results/latency.json] [--readme README.md]
    python bench/latency.py --backend openai --endpoint http://gpu-box:8000/v1 [--loads idle]

With ``--backend openai`` the server under test sends the model's work to that endpoint
(docs/teams.md; ``--remote-model``, ``--api-key-env`` as the options), and the same table shows
what the model server costs per keystroke: the decode column is the rate the editseq server
saw over the network (there is no raw local rate to set beside it), and the busy row's spinner
runs here, beside the editor, not on the model server.

For each fixture size the benchmark opens a file of about that many lines (cut from the Python
standard library at a top-level definition, so it is real code), deletes the body of the last
function, then types the body back one line at a time (incremental didChange), asking for an
inline completion ``--pause`` seconds after each line (as an editor does after a pause; a person
takes longer than the default second to type a line), and the first time right after opening.
When a suggestion is shown, it also accepts it (as Tab would) and asks again, which the server
should answer from the edit it decoded behind the first line, then puts the author's text back.

Reported per size, idle and with one core kept busy by a spinning process (a user's build):
time to the first answer (the request's own latency: the server answers with the first lines
that pass the lint gate, or with nothing), the same over the answers that showed ghost text
(the time to the first line on screen) and over those that showed nothing, time to the full
edit (until the server's ``editseq/status`` for the whole edit), the cold first request after the server starts, the accepted-suggestion requests
served from cache and their latency, prompt tokens re-prefilled per request, the server's decode
rate beside raw llama-cpp-python's on the same model and a prompt of the fixture, measured in
the same run (bench/decode.py), how many requests were answered from the short window of a
cold cache (``quick``, docs/protocol.md), and the server's memory (RSS, and PSS, which counts
the weights the quick runtime maps a second time once). Timings come from the client's
clock and the server's ``editseq/status`` (docs/protocol.md); memory from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

BENCH = Path(__file__).resolve().parent
STDLIB_SOURCES = ["bisect.py", "colorsys.py", "heapq.py", "textwrap.py", "shlex.py", "calendar.py",
                  "difflib.py", "argparse.py", "statistics.py", "fractions.py"]
README_BEGIN, README_END = "<!-- latency-bench:begin -->", "<!-- latency-bench:end -->"


def fixture(lines_wanted: int) -> tuple[str, list[str]]:
    """Real code of about ``lines_wanted`` lines, cut before a top-level def, and a body to type."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in STDLIB_SOURCES:
        lines = (stdlib / name).read_text().split("\n")
        starts = [i for i, line in enumerate(lines) if re.match(r"def \w+\(", line)]
        # the function whose end lies closest to the wanted size, with a body of a few lines
        for start in sorted(starts, key=lambda s: abs(s - lines_wanted)):
            end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()), len(lines))
            body = [line for line in lines[start + 1 : end] if line.strip()]
            if 4 <= len(body) <= 40 and abs(start - lines_wanted) < lines_wanted * 0.2 + 10:
                head = lines[: start + 1]
                return "\n".join(head) + "\n", body
    raise SystemExit(f"no stdlib fixture of about {lines_wanted} lines")


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB: RSS counts the weights once per mapping (the quick runtime maps the
    same file again), PSS counts shared pages once."""
    def field(path: str, name: str) -> float:
        for row in Path(path).read_text().splitlines():
            if row.startswith(name):
                return int(row.split()[1]) / 1024
        return float("nan")

    return field(f"/proc/{pid}/status", "VmRSS:"), field(f"/proc/{pid}/smaps_rollup", "Pss:")


def plain(value):
    """pygls hands a custom notification's params over as named tuples: back to JSON values."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class Session:
    """One server, one document, and what the server reported about each suggestion."""

    def __init__(self) -> None:
        self.client = LanguageClient("editseq-bench", "0")
        self.reports: list[tuple[float, dict]] = []  # (arrival, the suggestion field)
        self.uri, self.version, self.text = "file:///bench/fixture.py", 0, ""

        self.failure = ""  # what the server reported when the model (or its server) failed

        @self.client.feature("editseq/status")
        def on_status(params):
            if plain(params).get("state") == "error":
                self.failure = plain(params).get("message", "")
            suggestion = plain(params).get("suggestion")
            if suggestion is not None:
                self.reports.append((time.perf_counter(), suggestion))

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def on_show(params: types.ShowMessageParams):
            print(f"  server says: {params.message}", file=sys.stderr)

    async def start(self, options: dict, text: str) -> None:
        await self.client.start_io(sys.executable, "-m", "editseq.cli", "--log-level", "WARNING", "serve")
        await self.client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), initialization_options=options))
        self.started = time.perf_counter()
        self.client.initialized(types.InitializedParams())
        self.text, self.version = text, 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=self.uri, language_id="python", version=1, text=text)))

    def replace(self, line: int, start: int, end: int, new: str) -> None:
        """Edit the document (and the bench's copy of it) as typing would."""
        rows = self.text.split("\n")
        head = sum(len(r) + 1 for r in rows[:line])
        self.text = self.text[: head + start] + new + self.text[head + end :]
        self.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=line, character=start),
                                  end=types.Position(line=line, character=end)), text=new)]))

    def set_text(self, text: str) -> None:
        self.text, self.version = text, self.version + 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))

    async def request(self, line: int, character: int) -> tuple[float, list, dict, float]:
        """Ask at the cursor: (ms to the answer, items, the whole edit's report, ms to it)."""
        seen = len(self.reports)
        sent = time.perf_counter()
        result = await self.client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        answered = time.perf_counter()
        while True:  # the report of the whole edit (a cached answer is whole at once)
            whole = [(t, r) for t, r in self.reports[seen:] if not r["partial"]]
            if whole:
                break
            if self.failure:  # no report follows: a benchmark of a failing model means nothing
                raise SystemExit(f"bench: the server failed: {self.failure}")
            await asyncio.sleep(0.005)
        arrival, report = whole[0]
        return (answered - sent) * 1000, list(result.items) if result else [], report, (arrival - sent) * 1000

    async def stop(self) -> tuple[float, float]:
        rss = memory_mb(self.client._server.pid)
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()
        return rss


async def run_size(size: int, steps: int, options: dict, pause_s: float) -> dict:
    text, body = fixture(size)
    session = Session()
    await session.start(options, text)
    line = len(text.split("\n")) - 1  # the empty last line, right below the def
    first_ms, full_ms, cached_ms, whole = [], [], [], []
    shown_ms, none_ms = [], []  # first answers with ghost text in them, and those without
    cold_ms = first_answer_s = None
    accepted = quick = 0
    for step in range(steps + 1):
        ms, items, report, full = await session.request(line, 0)
        quick += bool(report.get("quick"))
        if cold_ms is None:
            cold_ms, first_answer_s = ms, time.perf_counter() - session.started
        else:
            first_ms.append(ms)
            (shown_ms if items else none_ms).append(ms)
            full_ms.append(full)
            whole.append(report)
        if items and step > 0:  # accept the ghost text, ask again, then restore the author's text
            item = items[0]
            r = item.range
            before = session.text
            session.replace(r.start.line, r.start.character, r.end.character, item.insert_text)
            end_line = r.start.line + item.insert_text.count("\n")
            end_char = len(session.text.split("\n")[end_line])
            ms2, _, report2, _ = await session.request(end_line, end_char)
            accepted += 1
            if report2["cached"]:
                cached_ms.append(ms2)
            session.set_text(before)
        if step == steps or step >= len(body):
            break
        session.replace(line, 0, 0, body[step] + "\n")  # type the author's next line
        line += 1
        await asyncio.sleep(pause_s)  # the time it took to type it
    rss, pss = await session.stop()

    def p(values, q):
        return statistics.quantiles(values, n=20, method="inclusive")[q] if len(values) > 1 else values[0]

    timed = [r["timings"] for r in whole]
    # the decode rate on the main runtime's windows, beside raw decoding after as long a prompt
    # (a quick request decodes after a short one, which is faster: not a like-for-like rate)
    main = [r["timings"] for r in whole if not r.get("quick")] or timed
    decoded = [t for t in main if t["generatedTokens"] > 0 and t["decodeMs"] > 0]
    return {
        "lines": len(text.split("\n")), "requests": len(first_ms) + 1,
        "cold_ms": cold_ms, "first_answer_after_start_s": first_answer_s,
        "first_line_p50_ms": statistics.median(first_ms), "first_line_p95_ms": p(first_ms, 18),
        "first_line_ms": [round(ms) for ms in first_ms],  # each warm request, in order
        # the same, of the requests whose first answer had ghost text in it (what "time to the
        # first line on screen" means), and of those answered with nothing
        "shown_first_line_p50_ms": statistics.median(shown_ms) if shown_ms else None,
        "shown_first_line_p95_ms": p(shown_ms, 18) if shown_ms else None,
        "shown": len(shown_ms),
        "nothing_shown_p50_ms": statistics.median(none_ms) if none_ms else None,
        "full_edit_p50_ms": statistics.median(full_ms), "full_edit_p95_ms": p(full_ms, 18),
        "max_ms": max(full_ms + first_ms + [cold_ms]),
        "offered": sum(r["offered"] for r in whole),
        "quick": quick,  # of the requests, the cold one included
        "accepted": accepted, "cache_hits": len(cached_ms),
        "cached_p50_ms": statistics.median(cached_ms) if cached_ms else None,
        "reprefilled_tokens_p50": statistics.median(t["promptTokens"] - t["reusedTokens"] for t in timed),
        "prompt_tokens_p50": statistics.median(t["promptTokens"] for t in timed),
        "main_prompt_tokens_p50": statistics.median(t["promptTokens"] for t in main),
        # where a whole edit's time goes (the server's own clock), to know what to cut next
        "prefill_ms_p50": statistics.median(t["prefillMs"] for t in timed),
        "decode_ms_p50": statistics.median(t["decodeMs"] for t in timed),
        "lint_ms_p50": statistics.median(t["lintMs"] for t in timed),
        "generated_tokens_p50": statistics.median(t["generatedTokens"] for t in timed),
        "server_decode_tok_s": (sum(t["generatedTokens"] for t in decoded)
                                / max(sum(t["decodeMs"] for t in decoded) / 1000, 1e-9)),
        "server_rss_mb": rss, "server_pss_mb": pss,
        "backend": options.get("backend", "local"), "endpoint": options.get("endpoint"),
        "prompt": text,  # the raw measurement decodes after as many tokens of the same code
    }


def raw_decode_rate(prompt: str, prompt_tokens: int, tokens: int, model: str = "default") -> float:
    """Raw llama-cpp-python on the model the server runs (``model``, merged with its adapter),
    after the last ``prompt_tokens`` tokens of ``prompt``, in a fresh process with the server's
    environment."""
    from editseq.models import edit_spec
    from editseq.options import Options

    spec = edit_spec(Options(model=model), build=True)
    setup = {"model": str(spec.path), "adapter": str(spec.adapter or ""), "threads": 0,
             "tokens": tokens, "repeats": 2, "prompt": prompt, "prompt_tokens": prompt_tokens}
    out = subprocess.run([sys.executable, str(BENCH / "decode.py"), "--worker", json.dumps(setup)],
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["raw_tok_s"]


def table(results: dict) -> str:
    head = ("| load | lines | first answer p50 / p95 ms | first line shown p50 / p95 ms (requests) "
            "| nothing shown p50 ms | full edit p50 / p95 ms | cold ms | slowest ms "
            "| accepted, from cache (p50 ms) | quick | re-prefilled tok | decode tok/s server / raw "
            "| RSS / PSS MB |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for load, rows in results["loads"].items():
        for r in rows:
            cache = f"{r['cache_hits']}/{r['accepted']}" + (
                f" ({r['cached_p50_ms']:.0f})" if r["cached_p50_ms"] is not None else "")
            out.append(
                f"| {load} | {r['lines']} | {r['first_line_p50_ms']:.0f} / {r['first_line_p95_ms']:.0f} "
                f"| {shown_cell(r)} | {_ms(r.get('nothing_shown_p50_ms'))} "
                f"| {r['full_edit_p50_ms']:.0f} / {r['full_edit_p95_ms']:.0f} | {r['cold_ms']:.0f} "
                f"| {r['max_ms']:.0f} | {cache} | {r.get('quick', 0)}/{r['requests']} "
                f"| {r['reprefilled_tokens_p50']:.0f} | {decode_cell(r)} "
                f"| {r['server_rss_mb']:.0f} / {r.get('server_pss_mb', float('nan')):.0f} |")
    return "\n".join(out)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def shown_cell(r: dict) -> str:
    if r.get("shown_first_line_p50_ms") is None:  # nothing shown, or a run from before the column
        return "-"
    return (f"{r['shown_first_line_p50_ms']:.0f} / {r['shown_first_line_p95_ms']:.0f} "
            f"({r['shown']}/{r['requests'] - 1})")


def decode_cell(r: dict) -> str:
    raw = r.get("raw_decode_tok_s")
    if raw is None:  # a remote backend: the rate seen over the network, nothing local to compare
        return f"{r['server_decode_tok_s']:.0f} / -"
    return f"{r['server_decode_tok_s']:.0f} / {raw:.0f} ({r['server_decode_tok_s'] / raw:.0%})"


def readme_markers(results: dict) -> tuple[str, str]:
    """The README section of a run: the default model's, or a tier's own (``--model coder``)."""
    model = results["options"].get("model", "default")
    if model == "default":
        return README_BEGIN, README_END
    return f"<!-- latency-bench:{model}:begin -->", f"<!-- latency-bench:{model}:end -->"


def render_readme(readme: Path, results: dict, source: Path) -> None:
    text = readme.read_text()
    begin, end = readme_markers(results)
    if begin not in text:
        raise SystemExit(f"{readme} has no {begin} ... {end} section")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    block = (f"{begin}\n<!-- generated by `python bench/latency.py --readme` from {source}; "
             f"do not edit -->\n\n{results['machine']}\n\n{table(results)}\n{end}")
    readme.write_text(head + block + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 300, 1000])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--model", default="default", help="the model option: default or coder (its tier)")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds between typing a line and asking (a person takes longer)")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--loads", default="idle,one core busy")
    parser.add_argument("--machine", default="", help="what ran it, for the README")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--readme", type=Path, default=None,
                        help="render the table into this README from --out (or run and render)")
    parser.add_argument("--from-json", type=Path, default=None, help="only render this result file")
    parser.add_argument("--backend", choices=("local", "openai"), default="local")
    parser.add_argument("--endpoint", default="", help="the model server's API base URL (--backend openai)")
    parser.add_argument("--remote-model", default="editseq", help="its name for editseq's model")
    parser.add_argument("--api-key-env", default="", help="the variable holding its API key")
    args = parser.parse_args()
    if args.backend == "openai" and not args.endpoint:
        parser.error("--backend openai needs --endpoint URL (e.g. http://127.0.0.1:8080/v1)")
    if args.from_json:
        render_readme(args.readme, json.loads(args.from_json.read_text()), args.from_json)
        return
    options = {"model": args.model, "maxTokens": args.max_tokens, "samples": args.samples,
               "temperature": 0.0}
    if args.backend == "openai":
        options.update(backend="openai", endpoint=args.endpoint, remoteModel=args.remote_model,
                       apiKeyEnv=args.api_key_env)
    results = {"options": options, "machine": args.machine, "pause_s": args.pause, "loads": {}}
    for load in args.loads.split(","):
        spinner = None
        if load != "idle":
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            rows = []
            for size in args.sizes:
                print(f"{load}: fixture of ~{size} lines ...", file=sys.stderr)
                row = asyncio.run(run_size(size, args.steps, options, args.pause))
                prompt = row.pop("prompt")
                row["raw_decode_tok_s"] = None if args.backend == "openai" else raw_decode_rate(
                    prompt, int(row["main_prompt_tokens_p50"]), args.max_tokens, args.model)
                rows.append(row)
            results["loads"][load] = rows
        finally:
            if spinner is not None:
                spinner.kill()
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        if args.readme:
            render_readme(args.readme, results, args.out)


if __name__ == "__main__":
    main()
