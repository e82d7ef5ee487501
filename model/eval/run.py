"""Run one model through HumanEvalPack tasks; write ``model/results/<run-name>.json``.

    editseq eval --task all --model base --format chat -n 1 --temperature 0
    nice -n 10 editseq eval --task synthesize --model teacher -n 10 --temperature 0.8 \\
        > /work/logs/eval-teacher-n10.log 2>&1 &
    nice -n 10 editseq eval --task implement --model default -n 20     # the implement feature's pick
    python -m editseq.model.eval.run --help          # the same options

On 2 cores, two processes of one thread each finish a run about twice as fast as one: start the
same command twice, with ``--shard 0/2`` and with ``--shard 1/2 --run-name NAME-shard1``, then
``editseq eval-merge NAME.json NAME-shard1.json`` (samples are seeded by
their index, not their problem, so a sharded run writes exactly what one process would).

Every sample is executed in ``editseq.sandbox`` (one fresh interpreter each, 10 s, 1 GiB) and
linted with LintSeq's rules. The result file is rewritten after every problem, so an interrupted
run loses at most one problem: running the same command again skips the problems already done
(it refuses when the settings that shape the outputs differ; ``--restart`` starts over).

The file holds the model files' sha256, all settings, the environment, one example prompt per
task, every sample (code, raw output, decoding counters, sandbox outcome, lint errors) and a
summary per task (``metrics.summarize``), plus timings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from editseq.files import sha256_file

log = logging.getLogger("editseq.eval")

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
SCHEMA = 1
RAW_CHARS = 3000  # raw model output kept per sample
OUTPUT_CHARS = 600  # sandbox output kept per failing sample
TASK_CHOICES = ("synthesize", "fix", "explain", "implement", "all")
# Settings older result files lack, with the value they were made with.
LEGACY_SETTINGS = {"placement": False}
# Settings that do not change what a run produces: they may differ when a run is resumed.
RESUMABLE_KEYS = {"limit", "shard", "workers", "threads", "run_name", "results_dir", "restart", "lint"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``editseq eval`` (cheap: no heavy imports here)."""
    parser.add_argument("--task", choices=TASK_CHOICES, default="all",
                        help="default: all (synthesize, fix, explain); implement: HumanEval synthesize "
                             "as editseq's implement feature writes and picks it (lintseq format)")
    parser.add_argument("--model", default="default",
                        help="base (SmolLM2), default (base + shipped adapter), teacher (Qwen2.5-Coder-0.5B) "
                             "or a GGUF path (default: default)")
    parser.add_argument("--adapter", default=None, help="LoRA adapter GGUF applied to the model")
    parser.add_argument("--format", choices=("lintseq", "chat"), default=None,
                        help="prompt format (default: chat for the teacher, else lintseq)")
    parser.add_argument("--decoding", choices=("checked", "plain"), default="checked",
                        help="lintseq format: edit by edit with lint checks, or one plain generation")
    parser.add_argument("--no-placement", dest="placement", action="store_false",
                        help="lintseq checked: take each edit where the model put it (no turning down "
                             "edits that leave code unreachable, no moving rejected edits)")
    parser.add_argument("-n", "--samples", dest="n", type=int, default=1, help="samples per problem (default 1)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="0: greedy (the default; for implement: the feature's, ImplementSettings)")
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--max-tokens", type=int, default=384,
                        help="per answer (chat) or per program, all edits and attempts (lintseq); default 384")
    parser.add_argument("--edit-tokens", type=int, default=96, help="lintseq checked: tokens per edit")
    parser.add_argument("--edit-samples", type=int, default=2, help="lintseq checked: attempts per edit")
    parser.add_argument("--max-edits", type=int, default=24, help="lintseq checked: edits per program")
    parser.add_argument("--repair-candidates", type=int, default=None,
                        help="fix: the repair feature's candidates (default: its option's default)")
    parser.add_argument("--repair-with", nargs="+", choices=("edits", "chat"), default=None,
                        help="fix: who writes candidates, in turn (default: the format's own)")
    parser.add_argument("--limit", type=int, default=None, help="only the first K problems")
    parser.add_argument("--shard", type=_shard, default=None, metavar="I/K",
                        help="only problems whose index is I modulo K (run K processes, then merge)")
    parser.add_argument("--seed", type=int, default=0, help="sample i uses seed + i")
    parser.add_argument("--workers", type=int, default=2, help="sandbox processes in parallel")
    parser.add_argument("--timeout", type=float, default=10.0, help="sandbox wall-clock seconds per program")
    parser.add_argument("--memory-mb", type=int, default=1024, help="sandbox address-space limit")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: all cores)")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context window")
    parser.add_argument("--data", type=Path, default=None, help="humanevalpack-python.jsonl")
    parser.add_argument("--run-name", default=None, help="result file name (default: from the settings)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-lint", dest="lint", action="store_false", help="skip lint metrics")
    parser.add_argument("--restart", action="store_true", help="discard this run's earlier results")


def _shard(text: str) -> str:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise argparse.ArgumentTypeError(f"--shard takes I/K with 0 <= I < K, not {text!r}")
    return f"{int(index)}/{int(count)}"


def in_shard(index: int, shard: str | None) -> bool:
    if not shard:
        return True
    part, count = (int(x) for x in shard.split("/"))
    return index % count == part


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="editseq eval", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_from_args(args)


def run_from_args(args: argparse.Namespace) -> int:
    from editseq.runtime import ModelError

    try:
        path = run(args)
    except (ModelError, FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"editseq eval: {exc}") from exc
    print(path)
    return 0


# ------------------------------------------------------------------------------------------------

def resolve_model(args: argparse.Namespace):
    """(ModelSpec, label) for --model/--adapter."""
    from editseq.runtime import ModelSpec, base_model_path, shipped_adapter_path

    adapter = None
    if args.model in ("base", "default"):
        path = base_model_path()
        adapter = shipped_adapter_path() if args.model == "default" else None
        label = "base" if adapter is None else "default"
    elif args.model == "teacher":
        from editseq.coder import CoderModelError, coder_model_path

        try:
            path = coder_model_path()
        except CoderModelError as exc:
            raise ValueError(str(exc)) from exc
        label = "teacher"
    else:
        path = Path(args.model).expanduser()
        label = path.stem
    if args.adapter:
        adapter = Path(args.adapter).expanduser()
        label += "+" + adapter.stem
    return ModelSpec(path, adapter, n_ctx=args.n_ctx, n_threads=args.threads), label


def default_run_name(args: argparse.Namespace, label: str, fmt: str) -> str:
    parts = [label.replace("+", "-"), fmt]
    if fmt == "lintseq":
        parts.append(args.decoding + ("" if args.placement or args.decoding != "checked" else "-unplaced"))
    parts += [args.task, f"n{args.n}", f"t{args.temperature:g}"]
    if args.limit:
        parts.append(f"limit{args.limit}")
    return "-".join(parts)


def environment() -> dict:
    from editseq.runtime import llama_cpp_version

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, check=False,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "python": platform.python_version(), "platform": platform.platform(),
        "llama_cpp_python": llama_cpp_version(), "cpu_count": os.cpu_count(), "git_commit": commit,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _save(path: Path, result: dict) -> None:
    result["updated"] = _now()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> Path:
    from editseq.model.eval import tasks
    from editseq.runtime import ModelRuntime
    from editseq.sandbox import Limits

    invoked = time.perf_counter()
    fmt = args.format or ("chat" if args.model == "teacher" else "lintseq")
    if args.temperature is None:
        from editseq.implement import ImplementSettings

        args.temperature = ImplementSettings().temperature if args.task == tasks.IMPLEMENT else 0.0
    if args.task == tasks.IMPLEMENT and (fmt != "lintseq" or args.decoding != "checked"):
        raise ValueError("--task implement decodes as the feature does: --format lintseq --decoding checked")
    if args.n < 1:
        raise ValueError("-n must be at least 1")
    if args.n > 1 and args.temperature == 0:
        log.warning("-n %d with temperature 0: greedy samples are identical", args.n)
    spec, label = resolve_model(args)
    data_path = args.data or tasks.default_data_path()
    problems = tasks.load_problems(data_path, args.limit)
    run_name = args.run_name or default_run_name(args, label, fmt)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{run_name}.json"
    settings = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()
                if key not in ("command", "log_level", "func")}
    settings.update(format=fmt, run_name=run_name, results_dir=str(args.results_dir))
    model_info = {
        "label": label, "path": str(spec.path), "file": spec.path.name, "sha256": sha256_file(spec.path),
        "adapter": str(spec.adapter) if spec.adapter else None,
        "adapter_sha256": sha256_file(spec.adapter) if spec.adapter else None,
    }
    data_info = {"path": str(data_path), "sha256": sha256_file(data_path)}
    result = _load_or_start(out, args.restart, settings, model_info, data_info)

    gen_settings = tasks.GenSettings(
        max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p, decoding=args.decoding,
        edit_tokens=args.edit_tokens, edit_samples=args.edit_samples, max_edits=args.max_edits,
        repair_candidates=args.repair_candidates, repair_with=tuple(args.repair_with or ()),
        placement=args.placement)
    limits = Limits(timeout_s=args.timeout, memory_mb=args.memory_mb)
    runtime = ModelRuntime(spec)
    load_started = time.perf_counter()
    runtime.load()
    result["timing"]["load_s"] = round(time.perf_counter() - load_started, 2)
    generator = tasks.Generator(runtime)
    selected = tasks.TASKS if args.task == "all" else (args.task,)
    linter = _linter() if args.lint else None
    try:
        for task in selected:
            _run_task(task, problems, fmt, generator, gen_settings, limits, args, result, out, linter)
        if all(p.task_id in result["tasks"][t]["problems"] for t in selected for p in problems):
            result["finished"] = _now()  # not when only this process's shard is done
        result["template_source"] = generator.template_source or None
    finally:
        runtime.close()
        result["timing"]["wall_s"] = round(result["timing"].get("wall_s", 0.0) + time.perf_counter() - invoked, 1)
        _save(out, result)
    for task in selected:
        summary = result["tasks"][task]["summary"]
        log.info("%s %s: pass@1 %s over %d problems (%s)", run_name, task,
                 _pct(summary["pass_at_k"].get("1")), summary["problems"],
                 f"{result['tasks'][task]['elapsed_s']:.0f} s")
    return out


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _load_or_start(out: Path, restart: bool, settings: dict, model_info: dict, data_info: dict) -> dict:
    if out.exists() and not restart:
        previous = json.loads(out.read_text(encoding="utf-8"))
        mismatched = differences(previous, {"settings": settings, "model": model_info, "data": data_info})
        if mismatched:
            raise ValueError(f"{out} was made with other settings ({', '.join(mismatched)}); "
                             "fix: choose another --run-name, or --restart to replace it")
        previous["settings"] = settings
        previous.setdefault("resumed", []).append(_now())
        log.info("resuming %s", out)
        return previous
    return {
        "schema": SCHEMA, "run_name": settings["run_name"], "model": model_info, "data": data_info,
        "settings": settings, "environment": environment(), "started": _now(), "updated": None,
        "finished": None, "timing": {}, "tasks": {},
    }


def differences(one: dict, other: dict) -> list[str]:
    """What makes two result files two different runs: output-shaping settings (all but
    ``RESUMABLE_KEYS``), and the model, adapter and data files' sha256."""
    settings, others = one.get("settings", {}), other.get("settings", {})
    found = sorted(key for key in set(settings) | set(others)
                   if key not in RESUMABLE_KEYS
                   and settings.get(key, LEGACY_SETTINGS.get(key)) != others.get(key, LEGACY_SETTINGS.get(key)))
    for part, key, label in (("model", "sha256", "model sha256"), ("model", "adapter_sha256", "adapter sha256"),
                             ("data", "sha256", "data sha256")):
        if one.get(part, {}).get(key) != other.get(part, {}).get(key):
            found.append(label)
    return found


def _linter():
    from editseq.decoding import shared_linter

    return shared_linter()


def lint_ids(linter, code: str) -> list[str] | None:
    """LintSeq error ids of ``code`` as it is executed, after the import helper (so a ``List``
    the prompt's imports would define is no error), sorted; None when pylint failed on it."""
    from editseq.lintgate import detect_indent
    from editseq.model.eval.tasks import IMPORT_HELPER

    if linter is None:
        return None
    try:
        return sorted(m.msg_id for m in linter.messages(IMPORT_HELPER + "\n" + code, detect_indent(code)))
    except Exception as exc:  # noqa: BLE001 - pylint crashing on model output is data, not a bug here
        log.warning("pylint failed: %s", exc)
        return None


def _run_task(task, problems, fmt, generator, gen_settings, limits, args, result, out, linter) -> None:
    from editseq.model.eval import metrics, tasks
    from editseq.sandbox import Job, run_many

    record = result["tasks"].setdefault(task, {"problems": {}, "elapsed_s": 0.0, "summary": {}})
    if task in tasks.THROUGH_FEATURES:
        record.setdefault("protocol", tasks.THROUGH_FEATURES[task])
    if "prompt_example" not in record and problems:
        record["prompt_example"] = tasks.example_prompt(task, problems[0], fmt, generator)
    done = record["problems"]
    for index, problem in enumerate(problems):
        if problem.task_id in done or not in_shard(index, getattr(args, "shard", None)):
            continue
        started = time.perf_counter()
        samples = [tasks.generate(task, problem, fmt, generator, gen_settings, args.seed + i)
                   for i in range(args.n)]
        gen_s = time.perf_counter() - started
        exec_started = time.perf_counter()
        jobs = [Job(tasks.program_for(problem, s.code)) for s in samples]
        outcomes = run_many(jobs, limits, workers=args.workers)
        exec_s = time.perf_counter() - exec_started
        lint_started = time.perf_counter()
        rows = []
        for i, (sample, outcome) in enumerate(zip(samples, outcomes)):
            row = {
                "seed": args.seed + i,
                "passed": outcome.passed,
                "code": sample.code,
                "raw": sample.raw[:RAW_CHARS],
                "finish": sample.finish,
                "generated_tokens": sample.generated_tokens,
                "gen_s": sample.gen_s,
                "valid_python": metrics.valid_python(sample.code),
                "lint_errors": lint_ids(linter, sample.code) if sample.code.strip() else [],
                "execution": {
                    "sandbox": "editseq.sandbox",
                    "status": outcome.status,
                    "returncode": outcome.returncode,
                    "elapsed_s": outcome.elapsed_s,
                    "network_isolated": outcome.network_isolated,
                    "isolation": outcome.isolation,
                    "output": "" if outcome.passed else outcome.output[-OUTPUT_CHARS:],
                },
            }
            if sample.description is not None:
                row["description"] = sample.description
            if sample.decoding is not None:
                row["decoding"] = sample.decoding
            if sample.extra:
                row["extra"] = {k: (v[:RAW_CHARS] if isinstance(v, str) else v) for k, v in sample.extra.items()}
            rows.append(row)
        lint_s = time.perf_counter() - lint_started
        done[problem.task_id] = {
            "samples": rows, "gen_s": round(gen_s, 2), "exec_s": round(exec_s, 2), "lint_s": round(lint_s, 2),
        }
        record["elapsed_s"] = round(record["elapsed_s"] + time.perf_counter() - started, 2)
        record["summary"] = metrics.summarize([p["samples"] for p in done.values()])
        tokens = sum(s.generated_tokens for s in samples)
        log.info("%s %d/%d %s: %d/%d passed, %d tokens in %.1f s (%.1f tok/s), exec %.1f s, lint %.1f s",
                 task, index + 1, len(problems), problem.task_id, sum(r["passed"] for r in rows), len(rows),
                 tokens, gen_s, tokens / gen_s if gen_s else 0.0, exec_s, lint_s)
        _save(out, result)
    record["summary"] = metrics.summarize([p["samples"] for p in done.values()])
    _save(out, result)


# -- merging shards ---------------------------------------------------------------------------------

def merge(target: Path, others: list[Path]) -> dict:
    """Add the problems of ``others`` (shards of the same run) to ``target``'s file, in HumanEval
    order; refuses files made with other settings, model or data, or that disagree on a problem
    both have (a shard may start as a copy of the target, to skip what the target has done)."""
    from editseq.model.eval import metrics

    result = json.loads(target.read_text(encoding="utf-8"))
    for other_path in others:
        other = json.loads(other_path.read_text(encoding="utf-8"))
        mismatched = differences(result, other)
        if mismatched:
            raise ValueError(f"{other_path} is not a shard of {target} ({', '.join(mismatched)} differ)")
        for task, record in other["tasks"].items():
            mine = result["tasks"].setdefault(task, {"problems": {}, "elapsed_s": 0.0, "summary": {}})
            mine.setdefault("prompt_example", record.get("prompt_example"))
            for task_id in set(mine["problems"]) & set(record["problems"]):
                # seeded sampling is reproducible: a problem both files have must agree
                if _codes(mine["problems"][task_id]) != _codes(record["problems"][task_id]):
                    raise ValueError(f"{other_path} and {target} differ on {task} {task_id}")
            record = {**record, "problems": {k: v for k, v in record["problems"].items()
                                             if k not in mine["problems"]}}
            record["elapsed_s"] = sum(p.get("gen_s", 0) + p.get("exec_s", 0) + p.get("lint_s", 0)
                                      for p in record["problems"].values())
            merged = {**mine["problems"], **record["problems"]}
            mine["problems"] = dict(sorted(merged.items(), key=lambda item: _problem_number(item[0])))
            mine["elapsed_s"] = round(mine["elapsed_s"] + record["elapsed_s"], 2)
            mine["summary"] = metrics.summarize([p["samples"] for p in mine["problems"].values()])
        result.setdefault("merged", []).append({"file": other_path.name, "run_name": other["run_name"],
                                                "timing": other.get("timing", {})})
    expected = _expected_problems(result)
    if expected and all(len(record["problems"]) >= expected for record in result["tasks"].values()):
        result["finished"] = _now()  # the shards together cover the run
    _save(target, result)
    return result


def _expected_problems(result: dict) -> int | None:
    """How many problems the run covers: its --limit, else the data file's rows (if readable)."""
    limit = result["settings"].get("limit")
    try:
        rows = sum(1 for line in Path(result["data"]["path"]).open(encoding="utf-8") if line.strip())
    except OSError:
        return limit
    return min(limit, rows) if limit else rows


def _codes(problem: dict) -> list[str]:
    return [sample["code"] for sample in problem["samples"]]


def _problem_number(task_id: str) -> int:
    tail = task_id.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def merge_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="editseq eval-merge", description=merge.__doc__.split(";")[0])
    parser.add_argument("target", type=Path, help="the result file that receives the problems")
    parser.add_argument("others", type=Path, nargs="+", help="result files of the other shards")
    args = parser.parse_args(argv)
    try:
        result = merge(args.target, args.others)
    except (ValueError, OSError, KeyError) as exc:
        raise SystemExit(f"editseq eval-merge: {exc}") from exc
    for task, record in result["tasks"].items():
        print(f"{task}: {len(record['problems'])} problems, pass@1 "
              f"{_pct(record['summary']['pass_at_k'].get('1'))}", file=sys.stderr)
    print(args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
