"""Inline-completion latency of the real server over stdio, with scripted typing.

    python bench/latency.py [--sizes 50 300 1000] [--steps 12] [--max-tokens 48] [--out bench/latency.json]

For each fixture size the benchmark opens a file of about that many lines (cut from the Python
standard library at a top-level definition, so it is real code), deletes the body of the last
function, then types the body back one line at a time (incremental didChange), asking for an
inline completion after each line, as an editor does after a pause. It prints p50/p95 latency
(the first request is "cold": nothing of the prompt is in the KV cache; the rest are "warm"),
the time in prefill, decode and the lint gate, prompt tokens reused from the KV cache, and the
server's resident memory. Numbers come from the server's own per-request report (the
``editseq/status`` notification, docs/protocol.md) and from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import sysconfig
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

STDLIB_SOURCES = ["bisect.py", "colorsys.py", "heapq.py", "textwrap.py", "shlex.py", "calendar.py", "difflib.py", "argparse.py", "statistics.py", "fractions.py"]


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


def rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")


async def run_size(size: int, steps: int, options: dict) -> dict:
    text, body = fixture(size)
    client = LanguageClient("editseq-bench", "0")
    reports: list[dict] = []  # the suggestion field of each editseq/status, as sent

    @client.feature("editseq/status")
    def on_status(params):
        if getattr(params, "suggestion", None) is not None:
            suggestion = params.suggestion
            reports.append({"offered": suggestion.offered, **suggestion.timings._asdict()})

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_show(params: types.ShowMessageParams):
        print(f"  server says: {params.message}", file=sys.stderr)

    await client.start_io(sys.executable, "-m", "editseq.cli", "--log-level", "WARNING", "serve")
    pid = client._server.pid
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options=options))
    started = time.perf_counter()
    client.initialized(types.InitializedParams())
    uri = "file:///bench/fixture.py"
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    lines = text.split("\n")
    line = len(lines) - 1  # the empty last line, right below the def
    latencies: list[float] = []
    version = 1
    for step in range(steps + 1):
        t0 = time.perf_counter()
        await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=0),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        latencies.append((time.perf_counter() - t0) * 1000)
        if step == 0:
            first_ready_s = time.perf_counter() - started
        if step == steps or step >= len(body):
            break
        version += 1  # type the next line of the original body, then a newline
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=line, character=0),
                                  end=types.Position(line=line, character=0)),
                text=body[step] + "\n")]))
        line += 1
    rss = rss_mb(pid)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    warm = reports[1:]

    def p(values, q):
        return statistics.quantiles(values, n=20, method="inclusive")[q] if len(values) > 1 else values[0]

    return {
        "lines": len(lines), "requests": len(latencies),
        "cold_ms": latencies[0], "first_answer_after_start_s": first_ready_s,
        "warm_p50_ms": statistics.median(latencies[1:]), "warm_p95_ms": p(latencies[1:], 18),
        "prefill_ms_p50": statistics.median(r["prefillMs"] for r in warm),
        "decode_ms_p50": statistics.median(r["decodeMs"] for r in warm),
        "lint_ms_p50": statistics.median(r["lintMs"] for r in warm if r["lintMs"] > 0) if any(
            r["lintMs"] > 0 for r in warm) else 0.0,
        "prompt_tokens_p50": statistics.median(r["promptTokens"] for r in warm),
        "reused_tokens_p50": statistics.median(r["reusedTokens"] for r in warm),
        "generated_tokens_p50": statistics.median(r["generatedTokens"] for r in warm),
        "offered": sum(r["offered"] for r in reports), "server_rss_mb": rss,
    }


def table(rows: list[dict]) -> str:
    head = ("| lines | cold ms | warm p50 ms | warm p95 ms | prefill p50 ms | decode p50 ms | lint p50 ms "
            "| prompt tok | reused tok | gen tok | offered | RSS MB |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        out.append(f"| {r['lines']} | {r['cold_ms']:.0f} | {r['warm_p50_ms']:.0f} | {r['warm_p95_ms']:.0f} "
                   f"| {r['prefill_ms_p50']:.0f} | {r['decode_ms_p50']:.0f} | {r['lint_ms_p50']:.0f} "
                   f"| {r['prompt_tokens_p50']:.0f} | {r['reused_tokens_p50']:.0f} | {r['generated_tokens_p50']:.0f} "
                   f"| {r['offered']}/{r['requests']} | {r['server_rss_mb']:.0f} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 300, 1000])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    options = {"maxTokens": args.max_tokens, "samples": args.samples, "temperature": 0.0}
    rows = []
    for size in args.sizes:
        print(f"fixture of ~{size} lines ...", file=sys.stderr)
        rows.append(asyncio.run(run_size(size, args.steps, options)))
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps({"options": options, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
