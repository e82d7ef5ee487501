"""Command line: ``editseq serve | suggest | explain | repair | implement | options | eval | eval-merge | eval-report``.

Everything human-readable goes to stdout only for the one-shot commands; ``serve`` speaks LSP on
stdout and logs to stderr.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import sys
from pathlib import Path

from .options import Options, option_docs, parse_options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="editseq", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", help="stderr log level (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("serve", help="run the language server on stdio")

    suggest = commands.add_parser("suggest", help="print the model's lint-checked next edit as a diff")
    suggest.add_argument("file", type=Path)
    suggest.add_argument("--line", type=int, required=True, help="cursor line, counted from 1")
    suggest.add_argument("--character", type=int, default=None,
                         help="cursor column, counted from 1 (default: end of the line)")
    suggest.add_argument("--json", action="store_true", help="print a JSON object instead of a diff")
    suggest.add_argument("--options", default="{}", help="options as JSON, e.g. '{\"maxTokens\": 64}'")

    for name, what in (("explain", "explain a function (HumanEvalExplain style)"),
                       ("repair", "propose a verified repair of a function; never writes the file")):
        sub = commands.add_parser(name, help=what)
        sub.add_argument("file", type=Path)
        sub.add_argument("--function", required=True, help="the function's name")
        sub.add_argument("--json", action="store_true", help="print a JSON object")
        sub.add_argument("--options", default="{}", help="options as JSON")
    commands.choices["repair"].add_argument(
        "--no-run", action="store_true", help="do not run the function's doctests/tests (lint only)")

    implement = commands.add_parser(
        "implement", help="write the body of a function whose body is empty, pass, ... or raise "
        "NotImplementedError, verified against its docstring examples; never writes the file")
    implement.add_argument("file", type=Path)
    implement.add_argument("--function", required=True, help="the function's name")
    implement.add_argument("-k", type=int, default=None,
                           help="most candidates (default: the implementCandidates option)")
    implement.add_argument("--json", action="store_true", help="print a JSON object")
    implement.add_argument("--no-run", action="store_true",
                           help="do not run the examples and tests: the first lint-clean candidate")
    implement.add_argument("--options", default="{}", help="options as JSON")

    commands.add_parser("options", help="print the options table (markdown)")
    commands.add_parser("prepare-models", help="build the merged models the options can select "
                        "(the default; the coder tier when it is installed) into the user cache")

    from editseq.model.eval.run import add_arguments as add_eval_arguments  # stdlib-only module

    evaluate = commands.add_parser("eval", help="evaluate a model on HumanEvalPack (Synthesize, Fix, Explain)")
    add_eval_arguments(evaluate)
    merge = commands.add_parser("eval-merge", help="merge the result files of a sharded eval run (--shard)")
    merge.add_argument("files", nargs="+", help="TARGET.json SHARD.json [...]")
    report = commands.add_parser("eval-report", help="render model/results/README.md and passk.png")
    report.add_argument("--results-dir", type=Path, default=None, help="default: model/results")
    report.add_argument("--readme", type=Path, default=None,
                        help="rewrite the table between the eval-report markers here (default: README.md)")

    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pygls logs every JSON-RPC message at INFO: far too much for an editor's output channel
    logging.getLogger("pygls").setLevel(max(logging.WARNING, logging.getLogger().level))
    if args.command == "serve":
        from .lsp import create_server

        create_server().start_io()
        return 0
    if args.command == "prepare-models":
        from .models import prepare_models

        for line in prepare_models():
            print(line)
        return 0
    if args.command == "options":
        print(options_table())
        return 0
    if args.command == "eval":
        from editseq.model.eval.run import run_from_args

        return run_from_args(args)
    if args.command == "eval-merge":
        from editseq.model.eval.run import merge_main

        return merge_main(args.files)
    if args.command == "eval-report":
        from editseq.model.eval.report import main as report_main

        forwarded = [] if args.results_dir is None else ["--results-dir", str(args.results_dir)]
        return report_main(forwarded + ([] if args.readme is None else ["--readme", str(args.readme)]))
    if args.command in ("explain", "repair"):
        return run_function_command(args)
    if args.command == "implement":
        return run_implement(args)
    return run_suggest(args)


def options_table() -> str:
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for row in option_docs():
        rows.append(f"| `{row['name']}` | {row['type']} | `{json.dumps(row['default'])}` | {row['doc']} |")
    return "\n".join(rows)


def read_source(path: Path) -> str:
    """The file's text; raises SystemExit with a clear message for unreadable or non-UTF-8 files."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SystemExit(f"editseq: cannot read {path}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SystemExit(f"editseq: {path} is not UTF-8 (byte {exc.start}: {exc.reason}); "
                         "editseq reads Python source as UTF-8") from exc


def run_suggest(args: argparse.Namespace) -> int:
    from .complete import Completer
    from .models import Models
    from .runtime import ModelError

    options = _options(args)
    text = read_source(args.file)
    lines = text.split("\n")
    if not 1 <= args.line <= len(lines):
        raise SystemExit(f"editseq: --line {args.line} is outside {args.file} (1..{len(lines)})")
    line = args.line - 1
    character = len(lines[line]) if args.character is None else args.character - 1
    if not 0 <= character <= len(lines[line]):
        raise SystemExit(f"editseq: --character {args.character} is outside line {args.line} "
                         f"(1..{len(lines[line]) + 1})")
    # one request, nothing after it to warm for: the whole window, not a quick short one
    options = options.replace(quick_window=False)
    models = Models(options)
    completer = Completer(models)
    try:
        result = completer.complete(options, text, line, character)
    except ModelError as exc:
        raise SystemExit(f"editseq: {exc}") from exc
    finally:
        completer.close()
        models.close()
    offer = result.offers[0] if result.offers else None
    new_text = offer.new_text if offer else text
    diff = "".join(difflib.unified_diff(
        text.splitlines(keepends=True), new_text.splitlines(keepends=True),
        fromfile=f"a/{args.file.name}", tofile=f"b/{args.file.name}"))
    if args.json:
        print(json.dumps({
            "offered": offer is not None,
            "reason": result.reason,
            "skip": result.skip.value if result.skip else None,
            "diff": diff,
            "new_text": new_text,
            "at_cursor": bool(offer and offer.at_cursor),
            "errors_before": [_message(m) for m in result.errors_before],
            "errors_after": [_message(m) for m in result.errors_after],
            "window_lines": [result.window[0] + 1, result.window[1]],
            "latency_ms": round(result.timings.get("latency_ms", 0.0), 1),
            "timings": {k: round(v, 1) for k, v in result.timings.items()},
            "candidates": [c.text for c in (result.outcome.candidates if result.outcome else [])],
        }, indent=2))
    else:
        print(diff if diff else f"# nothing offered: {result.reason}")
        print(f"# {result.reason}; {result.timings.get('latency_ms', 0):.0f} ms", file=sys.stderr)
    return 0


def _options(args: argparse.Namespace) -> Options:
    try:
        raw = json.loads(args.options)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"editseq: --options is not JSON: {exc}") from exc
    options, errors = parse_options(raw, Options())
    for error in errors:
        logging.warning("%s", error)
    return options


def run_function_command(args: argparse.Namespace) -> int:
    """``explain`` and ``repair``: print the result; the file itself is never written."""
    from .explain import explain
    from .models import Models
    from .pysource import enclosing_function
    from .repair import repair
    from .runtime import ModelError

    options = _options(args)
    text = read_source(args.file)
    span = enclosing_function(text, 0, args.function)
    if span is None:
        raise SystemExit(f"editseq: no function named {args.function!r} in {args.file}")
    models = Models(options)
    try:
        if args.command == "explain":
            result = explain(models.chat(), text.split("\n"), span)
            reply = {"function": span.name, "explanation": result.text, "latency_ms": round(result.latency_ms)}
            print(json.dumps(reply, indent=2) if args.json else result.text)
            return 0
        (runtime, edits), *also = models.repair_writers()
        fixed = repair(runtime, models.gate, text, span.start, name=span.name, edits=edits, also=also,
                       candidates=options.repair_candidates, run_code=not args.no_run)
    except ModelError as exc:
        raise SystemExit(f"editseq: {exc}") from exc
    finally:
        models.close()
    new_text = fixed.offered.new_text if fixed.offered else text
    if args.json:
        checks = fixed.before_checks
        print(json.dumps({
            "function": fixed.function, "offered": fixed.offered is not None,
            "verification": fixed.verification, "reason": fixed.reason, "new_text": new_text,
            "checks_before": f"{checks.passed}/{checks.total}" if checks else None,
            "candidates": [{"offered": c.offered, "verdict": c.verdict, "code": c.code}
                           for c in fixed.candidates],
            "latency_ms": round(fixed.latency_ms),
        }, indent=2))
    elif fixed.offered:
        print(f"# Repair {fixed.function}: {fixed.verification}", file=sys.stderr)
        print("".join(difflib.unified_diff(text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                           fromfile=f"a/{args.file.name}", tofile=f"b/{args.file.name}")))
    else:
        print(f"# no repair for {fixed.function}: {fixed.reason}")
    return 0


def run_implement(args: argparse.Namespace) -> int:
    """``implement``: print the chosen candidate as a diff (or JSON); the file is never written."""
    from .implement import ImplementSettings, implement
    from .models import Models
    from .runtime import ModelError

    options = _options(args)
    text = read_source(args.file)
    k = args.k if args.k is not None else options.implement_candidates
    if k < 1:
        raise SystemExit("editseq: -k must be at least 1")

    def progress(message: str, fraction: float) -> None:
        if not args.json:
            print(f"# {message}", file=sys.stderr)

    models = Models(options)
    try:
        result = implement(models.function_edits(), models.gate.judge, text, 0, name=args.function,
                           settings=ImplementSettings(candidates=k), run_code=not args.no_run,
                           progress=progress)
    except ModelError as exc:
        raise SystemExit(f"editseq: {exc}") from exc
    finally:
        models.close()
    new_text = result.offered.new_text if result.offered else text
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                        fromfile=f"a/{args.file.name}", tofile=f"b/{args.file.name}"))
    if args.json:
        print(json.dumps({
            "function": result.function, "offered": result.offered is not None,
            "verification": result.verification, "reason": result.reason, "checks": result.checks,
            "stub": result.stub, "new_text": new_text, "diff": diff,
            "candidates": [{"candidate": c.index + 1, "verdict": c.verdict, "code": c.code,
                            "mean_logprob": None if c.mean_logprob is None else round(c.mean_logprob, 4),
                            "duplicate_of": None if c.duplicate_of is None else c.duplicate_of + 1,
                            "checks": f"{c.checks.passed}/{c.checks.total}" if c.checks else None,
                            "tokens": c.program.generated_tokens if c.program else 0}
                           for c in result.candidates],
            "latency_ms": round(result.latency_ms), "timings": result.timings(),
            "generated_tokens": result.generated_tokens(),
        }, indent=2))
    elif result.offered:
        print(f"# Implement {result.function}: {result.verification} "
              f"({len(result.candidates)} candidates, {result.latency_ms / 1000:.1f} s)", file=sys.stderr)
        print(diff)
    else:
        print(f"# no implementation of {result.function or args.function}: {result.reason}")
    return 0


def _message(m) -> dict:
    return {"line": m.line, "id": m.msg_id, "symbol": m.symbol, "message": m.message}


if __name__ == "__main__":
    sys.exit(main())
