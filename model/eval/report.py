"""Render every result file in ``model/results/`` into ``README.md`` (tables) and ``passk.png``,
and the compact table into the project README (between its ``eval-report`` markers).

    editseq eval-report                      # or: python -m editseq.model.eval.report

Rows come from the ``summary`` of each task of each ``*.json`` result (``editseq eval``). pass@k
is recomputed here from the samples for k = 1..n, for the plot. Runs that cover fewer than all
164 problems are marked "partial". The completion task's results (``completion/*.json``,
``editseq.model.eval.completion``) get a table of their own. matplotlib is only needed for the plot.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

from editseq.model.eval import metrics, tasks

log = logging.getLogger("editseq.eval.report")

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
PROJECT_README = Path(__file__).resolve().parents[2] / "README.md"
TOTAL_PROBLEMS = 164
TASK_ORDER = ("synthesize", "fix", "explain", "implement")

PUBLISHED = """\
Published numbers for orientation (not produced by this harness; see `../shared/notes/lintseq.md`):

| model | size | HumanEval(Synthesize) p@1 | p@10 | Fix p@1 | Explain p@1 | source |
|---|---|---|---|---|---|---|
| TinyCodeLM-Instruct (plain SFT) | 150M | 9.1 | 13.2 | - | - | LintSeq paper |
| TinyCodeLM-LintSeqInstruct | 150M | 12.8 | 20.6 | - | - | LintSeq paper |
| StarCoder | 16B | 33.6 | - | 8.7 | 0.0 | OctoPack |
| OctoCoder | 16B | 46.2 | - | 30.4 | 35.1 | OctoPack |
| GPT-4 | - | 86.6 | - | 47.0 | 64.6 | OctoPack |
"""


def load_results(directory: Path) -> list[dict]:
    results = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("skipping %s: %s", path.name, exc)
            continue
        if isinstance(data, dict) and "tasks" in data and "settings" in data:
            data["_file"] = path.name
            results.append(data)
    return results


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


MODEL_NAMES = {"base": "SmolLM2-135M-Instruct", "default": "SmolLM2-135M-Instruct",
               "teacher": "Qwen2.5-Coder-0.5B-Instruct"}


def _model_name(result: dict) -> str:
    """The base model's name, plus the adapter's file stem and the start of its sha256 (the
    shipped adapter keeps one file name across versions; the hash tells them apart)."""
    model = result["model"]
    base = model["label"].split("+")[0] if model.get("adapter") else model["label"]
    name = MODEL_NAMES.get(base, base)
    if model.get("adapter"):
        name += f" + {Path(model['adapter']).stem} ({(model.get('adapter_sha256') or '')[:8]})"
    return name


def _problems_label(row: dict) -> str:
    return str(row["problems"]) + ("" if row["problems"] >= TOTAL_PROBLEMS else " (partial)")


def _format(result: dict) -> str:
    settings = result["settings"]
    if settings["format"] != "lintseq":
        return settings["format"]
    placed = settings["decoding"] == "checked" and settings.get("placement", False)
    return f"lintseq ({settings['decoding']}{', placed' if placed else ''})"


def rows(results: list[dict]) -> list[dict]:
    table = []
    for result in results:
        settings = result["settings"]
        for task in TASK_ORDER:
            record = result["tasks"].get(task)
            if not record or not record.get("problems"):
                continue
            problems = [p["samples"] for p in record["problems"].values()]
            summary = metrics.summarize(problems)
            samples = sum(len(s) for s in problems)
            protocol = record.get("protocol", "")
            fmt = _format(result)
            if task in tasks.THROUGH_FEATURES and not protocol:
                fmt += ", harness prompt"  # an older run: not the shipped feature's code path
            elif task == "fix":  # the repair feature's writers, whatever --decoding says
                writers = tasks.fix_writers(settings["format"], settings.get("repair_with") or ())
                fmt = " + ".join({"edits": "replacement edits", "chat": "chat rewrite"}[w] for w in writers)
            table.append({
                "run": result["_file"], "model": _model_name(result), "format": fmt, "task": task,
                "protocol": protocol,
                "repair_candidates": tasks.fix_candidates(settings.get("repair_candidates")) if task == "fix" else None,
                "n": summary["n"], "temperature": settings["temperature"], "max_tokens": settings["max_tokens"],
                "problems": summary["problems"], "summary": summary, "samples": problems,
                "elapsed_s": record.get("elapsed_s", 0.0), "s_per_sample": record.get("elapsed_s", 0.0) / max(1, samples),
            })
    table.sort(key=lambda r: (TASK_ORDER.index(r["task"]), r["model"], r["format"], r["n"]))
    _add_common_pass_at_1(results, table)
    return table


def _common(row: dict) -> str:
    if row["common_pass_at_1"] is None:
        return "-"
    return f"{_pct(row['common_pass_at_1'])} ({row['common']})"


# a run with fewer (one still going) would shrink every row's common set; where no run of the
# task has as many (a small problem set), every run joins
COMMON_MIN_PROBLEMS = 40


def _add_common_pass_at_1(results: list[dict], table: list[dict]) -> None:
    """pass@1 of every row on the problems all runs of its task with at least
    ``COMMON_MIN_PROBLEMS`` (or as many as its largest run) cover, so partial runs compare;
    smaller runs get none."""
    by_file = {r["_file"]: r for r in results}
    for task in TASK_ORDER:
        task_rows = [row for row in table if row["task"] == task]
        least = min(COMMON_MIN_PROBLEMS, max((row["problems"] for row in task_rows), default=0))
        joined = [row for row in task_rows if row["problems"] >= least]
        covered = [set(by_file[row["run"]]["tasks"][task]["problems"]) for row in joined]
        common = set.intersection(*covered) if covered else set()
        for row in task_rows:
            problems = by_file[row["run"]]["tasks"][task]["problems"]
            samples = [problems[pid]["samples"] for pid in sorted(common)] if row in joined else []
            row["common"] = len(common)
            row["common_pass_at_1"] = metrics.mean_pass_at_k(samples, 1) if samples else None


def load_completion(directory: Path) -> list[dict]:
    """The completion task's result files (``completion/<name>.json``), by name."""
    found = []
    for path in sorted((directory / "completion").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("skipping %s: %s", path.name, exc)
            continue
        if isinstance(data, dict) and isinstance(data.get("summary"), dict) and "cases" in data["summary"]:
            found.append({**data, "_file": f"completion/{path.name}"})
    return found


def completion_table(results: list[dict]) -> list[str]:
    """What the editor offers on held-out code being typed, beside the same model as plain completion."""
    lines = ["| model | option | cases | first line exact | edit similarity | offered | plain exact "
             "| plain similarity | p50 ms (as run) | file |", "|---|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        s = result["summary"]
        plain = [_pct(s.get("plain_exact")) if "plain_exact" in s else "-",
                 f"{s['plain_similarity']:.3f}" if "plain_similarity" in s else "-"]
        lines.append(f"| {result.get('model', '?')} | {result.get('option_model', '?')} | {s['cases']} "
                     f"| {_pct(s['exact'])} | {s['similarity']:.3f} | {_pct(s['offered'])} | {plain[0]} "
                     f"| {plain[1]} | {s.get('latency_ms_p50', 0):.0f} | `{result['_file']}` |")
    return lines


def markdown(table: list[dict], completion: list[dict] | None = None) -> str:
    lines = [
        "# Evaluation results",
        "",
        "Generated by `editseq eval-report` from the result files in this folder; do not edit by hand.",
        "HumanEvalPack (Python), 164 problems per task. All numbers in %. pass@k is the unbiased",
        "estimator over n samples per problem (greedy when T = 0). valid: share of samples that parse;",
        "lint-err: share with at least one LintSeq lint error (pylint E/F + W0311/W0231, linted as run,",
        "after the import helper);",
        "clean-first p@1: pass@1 when the first lint-clean sample among the n is submitted.",
        "",
        "common p@1: pass@1 on the problems that every row of the task covers (their number in",
        "brackets), so that partial runs compare on the same problems; where a run of the task",
        f"covers {COMMON_MIN_PROBLEMS} or more, runs of fewer are left out of it.",
        "",
        ("| task | model | format | n | T | max tok | problems | pass@1 | pass@10 | common p@1 | valid "
         "| lint-err | clean-first p@1 | s/sample | file |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        s = row["summary"]
        problems = _problems_label(row)
        lines.append(
            f"| {row['task']} | {row['model']} | {row['format']} | {row['n']} | {row['temperature']:g} "
            f"| {row['max_tokens']} | {problems} | {_pct(s['pass_at_k'].get('1'))} "
            f"| {_pct(s['pass_at_k'].get('10'))} | {_common(row)} "
            f"| {_pct(s['valid_python_share'])} "
            f"| {_pct(s['lint_error_share'])} | {_pct(s['first_lint_clean_pass_at_1'])} "
            f"| {row['s_per_sample']:.1f} | `{row['run']}` |")
    picks = [row for row in table if row["task"] == "implement" and "pick_pass_at_k" in row["summary"]]
    if picks:
        lines += ["", "## Implement: the verified pick", "",
                  "HumanEval synthesize the way `editseq implement` does it: each sample is one candidate of",
                  "the feature; the pick among the first k is the feature's choice (most examples from the",
                  "prompt's docstring passed, then mean log-probability; the first lint-clean candidate when",
                  "the prompt has no examples; none when every candidate fails every example), scored by",
                  "HumanEval's hidden tests. pass@k: the unbiased estimator over the same samples.",
                  "s/candidate: writing, linting and checking one candidate (the feature at k takes k times",
                  "that), in the run's process.", "", *pick_table(picks)]
    repairs = [row for row in table if row["task"] == "fix" and row.get("protocol")]
    if repairs:
        lines += ["", "## Repair: fixed within k candidates", "",
                  "HumanEvalFix through the repair feature: its first candidate is greedy, the others",
                  "sampled; it offers the first that passes the problem's tests (run in the sandbox), so",
                  "fix@k is the share of problems fixed by one of its first k candidates (one run at K",
                  "candidates gives every k <= K).", "", *repair_table(repairs)]
    if completion:
        lines += ["", "## Completion on held-out code", "",
                  "`python -m editseq.model.eval.completion`: programs of the validation split (never",
                  "trained on) cut at body lines as an editor sees a file being typed; the first line the",
                  "server's own completion pipeline offers at the cursor against the author's line (exact,",
                  "whitespace-stripped; edit similarity, 0 when nothing is offered), how often the lint gate",
                  "offered anything, and the same model as plain completion (the file as the prompt, no",
                  "adapter, no gate) where the run measured it. Exact and offered in %; latency as the run",
                  "measured it, whatever else the machine ran.", "", *completion_table(completion)]
    lines += ["", "![pass@k vs k](passk.png)", "", PUBLISHED, "",
              "Reproduce a row: the settings are in its file (`settings`), e.g.",
              "`nice -n 10 editseq eval --task all --model base --format chat -n 1 --temperature 0`.", ""]
    return "\n".join(lines)


def fixed_within(samples: list[list[dict]], k: int) -> float:
    """Share of problems whose offered repair passed and came from one of the first k attempts."""
    def fixed(sample: dict) -> bool:
        offered = [c for c in sample.get("extra", {}).get("candidates", []) if c.get("offered")]
        return bool(sample.get("passed")) and bool(offered) and offered[-1].get("attempt", 0) < k
    return sum(fixed(problem[0]) for problem in samples) / max(1, len(samples))


def repair_table(rows_: list[dict]) -> list[str]:
    ks = (1, 2, 3, 5, 10)
    lines = ["| model | format | problems | candidates | " + " | ".join(f"fix@{k}" for k in ks) + " | s/problem |",
             "|---|---|---|---|" + "---|" * len(ks) + "---|"]
    for row in rows_:
        limit = row["repair_candidates"]  # a run with K candidates says nothing of k > K: "-"
        recorded = all("attempt" in c for problem in row["samples"] for sample in problem
                       for c in sample.get("extra", {}).get("candidates", []))  # older runs: only k = K
        cells = [_pct(fixed_within(row["samples"], k)) if k == limit or (k < limit and recorded) else "-"
                 for k in ks]
        lines.append(f"| {row['model']} | {row['format']} | {_problems_label(row)} | {limit} | "
                     + " | ".join(cells) + f" | {row['s_per_sample']:.1f} |")
    return lines


README_BEGIN = "<!-- eval-report:begin -->"
README_END = "<!-- eval-report:end -->"


def readme_block(table: list[dict]) -> str:
    """The compact table the project README shows (between its eval-report markers)."""
    lines = [
        README_BEGIN,
        "<!-- generated by `editseq eval-report` from model/results/*.json; do not edit -->",
        "",
        "| task | model | format | n | T | problems | pass@1 | pass@10 | common p@1 | valid |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        s = row["summary"]
        problems = _problems_label(row)
        lines.append(
            f"| {row['task']} | {row['model']} | {row['format']} | {row['n']} | {row['temperature']:g} "
            f"| {problems} | {_pct(s['pass_at_k'].get('1'))} | {_pct(s['pass_at_k'].get('10'))} "
            f"| {_common(row)} | {_pct(s['valid_python_share'])} |")
    lines += ["", shipped_summary(table), "", README_END]
    return "\n".join(lines)


TINYCODELM = {"1": 12.8, "10": 20.6}  # TinyCodeLM-150M-LintSeqInstruct, HumanEval (LintSeq paper)


def shipped_adapter_sha256(name: str | None = None) -> str | None:
    """The sha256 of the adapter the tree ships (the default tier's, or the one called ``name``)."""
    from editseq.files import sha256_file
    from editseq.runtime import SHIPPED_ADAPTER, shipped_adapter_path

    path = shipped_adapter_path(name or SHIPPED_ADAPTER)
    return sha256_file(path) if path is not None else None


def _with_adapter(row: dict, sha: str | None) -> bool:
    """Whether ``row``'s model is a base with the adapter of this sha256 (``_model_name``)."""
    return bool(sha) and f"({sha[:8]})" in row["model"]


def _best(rows_: list[dict]) -> dict | None:
    """The row to quote: all problems first, then the most samples per problem."""
    return max(rows_, key=lambda r: (r["problems"] >= TOTAL_PROBLEMS, r["n"], r["problems"]), default=None)


def shipped_summary(table: list[dict], adapter_sha256: str | None = None) -> str:
    """One generated sentence: the shipped model's HumanEval pass@1/pass@10 (its checked-decoding
    synthesize run with the most samples), the base model's, and the gap to TinyCodeLM."""
    sha = adapter_sha256 or shipped_adapter_sha256() or ""
    synthesize = [r for r in table if r["task"] == "synthesize"]
    shipped = _best([r for r in synthesize if _with_adapter(r, sha) and r["format"].startswith("lintseq (checked")])
    if shipped is None:
        return "The shipped model has no HumanEval run yet."
    base = _best([r for r in synthesize if r["model"] == MODEL_NAMES["base"]])

    def scores(row: dict) -> str:
        k = row["summary"]["pass_at_k"]
        text = f"pass@1 **{_pct(k.get('1'))}**" + (f", pass@10 **{_pct(k.get('10'))}**" if k.get("10") is not None else "")
        return f"{text} (n {row['n']}, T {row['temperature']:g}, {_problems_label(row)} problems)"

    k = shipped["summary"]["pass_at_k"]
    gaps = [f"{100 * k[key] - TINYCODELM[key]:+.1f} points at pass@{key}" for key in ("1", "10")
            if k.get(key) is not None]
    text = f"The shipped model ({shipped['model']}, {shipped['format']}): {scores(shipped)}"
    if base is not None:
        text += f"; the base model ({base['format']}): {scores(base)}"
    return (text + f". Gap to TinyCodeLM-150M-LintSeqInstruct (12.8 pass@1, 20.6 pass@10, LintSeq "
            f"paper): {', '.join(gaps)}.")


PICK_HEADER = ("| model | problems | n | T | pass@1 | pass@5 | pass@10 | pass@20 | pick@1 | pick@5 | pick@10 "
               "| pick@20 | pick@10 / pass@1 | no examples | s/candidate |")


def pick_table(rows_: list[dict]) -> list[str]:
    """The implement task's k sweep: plain pass@k beside pass@1 of the feature's pick at k."""
    lines = [PICK_HEADER, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows_:
        s = row["summary"]
        plain, picks = s["pass_at_k"], s["pick_pass_at_k"]
        ratio = f"{picks['10'] / plain['1']:.1f}x" if picks.get("10") is not None and plain.get("1") else "-"
        lines.append(
            f"| {row['model']} | {_problems_label(row)} | {row['n']} | {row['temperature']:g} "
            + "".join(f"| {_pct(plain.get(str(k)))} " for k in metrics.PICK_KS)
            + "".join(f"| {_pct(picks.get(str(k)))} " for k in metrics.PICK_KS)
            + f"| {ratio} | {s['problems_without_examples']} | {row['s_per_sample']:.1f} |")
    return lines


IMPLEMENT_BEGIN = "<!-- eval-report:implement:begin -->"
IMPLEMENT_END = "<!-- eval-report:implement:end -->"


def implement_block(table: list[dict]) -> str:
    """The README's implement numbers: the k sweep of every implement run (indented: it sits in
    a list item)."""
    picks = [row for row in table if row["task"] == "implement" and "pick_pass_at_k" in row["summary"]]
    if not picks:
        body = ["Not measured yet: `editseq eval --task implement` (model/eval/README.md)."]
    else:
        body = ["Measured by `editseq eval --task implement` on HumanEval (only the prompt's own examples",
                "are run for the choice; the hidden tests score it), in %; pick@k: the pick among k",
                "candidates, pass@k: at least one of k passes:", "", *pick_table(picks)]
    return "\n".join([IMPLEMENT_BEGIN, *("  " + line if line else "" for line in body), "  " + IMPLEMENT_END])


FUNCTIONS_BEGIN = "<!-- eval-report:functions:begin -->"
FUNCTIONS_END = "<!-- eval-report:functions:end -->"


def functions_block(table: list[dict]) -> str:
    """The README's explain/repair lines: Explain and Fix pass@1 of every run made through the
    features' own code (``protocol`` in the result file), per model and format."""
    parts = []
    for task, name in (("explain", "HumanEvalExplain"), ("fix", "HumanEvalFix")):
        found = [row for row in table if row["task"] == task and row.get("protocol")]
        scores = [f"{row['model']}, {row['format']}: {_pct(row['summary']['pass_at_k'].get('1'))}% "
                  f"({_problems_label(row)} problems, n {row['n']}, T {row['temperature']:g})" for row in found]
        if scores:
            parts.append(f"{name} pass@1 " + "; ".join(scores))
    body = ("Measured by `editseq eval` through the features' own code (`editseq.explain`, "
            "`editseq.repair`, on the problem as a user's file): " + ". ".join(parts) + ".") if parts \
        else "Not measured through the features yet."
    return f"{FUNCTIONS_BEGIN}\n  {body}\n  {FUNCTIONS_END}"  # indented: it sits in a list item


TIERS_BEGIN = "<!-- eval-report:tiers:begin -->"
TIERS_END = "<!-- eval-report:tiers:end -->"
LATENCY_SOURCE = re.compile(r"<!-- latency-bench(?::(\w+))?:begin -->\n<!-- generated by .*? from (\S+\.json);")
TIER_LINES = 300  # the latency bench's file the issues' targets name


def _latency(readme_text: str, root: Path) -> dict[str, dict]:
    """Per tier ("default", "coder"), the idle row nearest TIER_LINES lines of the bench result
    the README's latency table of that tier is generated from."""
    found = {}
    for tier, source in LATENCY_SOURCE.findall(readme_text):
        try:
            loads = json.loads((root / source).read_text(encoding="utf-8"))["loads"]
        except (OSError, ValueError, KeyError):
            continue
        idle = loads.get("idle") or []
        if idle:
            found[tier or "default"] = {**min(idle, key=lambda r: abs(r["lines"] - TIER_LINES)), "_file": source}
    return found


def _tier_adapters() -> dict[str, tuple[str, str | None]]:
    """Per tier, its base model's name and the shipped adapter's sha256 (None: not in the tree)."""
    from editseq.runtime import CODER_ADAPTER, SHIPPED_ADAPTER

    return {"default": (MODEL_NAMES["base"], shipped_adapter_sha256(SHIPPED_ADAPTER)),
            "coder": (MODEL_NAMES["teacher"], shipped_adapter_sha256(CODER_ADAPTER))}


def _download_mb(tier: str) -> float | None:
    """What a user downloads for a tier: the base model's GGUF and the shipped adapter."""
    from editseq import coder
    from editseq.runtime import (
        CODER_ADAPTER,
        SHIPPED_ADAPTER,
        base_model_path,
        shipped_adapter_path,
    )

    try:
        base = coder.CODER_SIZE if tier == "coder" else base_model_path().stat().st_size
    except Exception:  # noqa: BLE001 - the base model's package missing: no size to state
        return None
    adapter = shipped_adapter_path(CODER_ADAPTER if tier == "coder" else SHIPPED_ADAPTER)
    return (base + (adapter.stat().st_size if adapter is not None else 0)) / 1e6


def tiers_block(table: list[dict], completion: list[dict], readme_text: str, root: Path,
                adapters: dict[str, tuple[str, str | None]] | None = None) -> str:
    """The README's two tiers side by side, every cell from a result file: HumanEval synthesize
    in the edit format (the shipped adapter, checked decoding), the completion task, Fix and
    Explain through the features (``functionsModel`` of the tier: the model in chat form), the
    latency bench's idle 300-line row, and the download."""
    adapters = adapters or _tier_adapters()
    latency = _latency(readme_text, root)
    lines = [TIERS_BEGIN, "<!-- generated by `editseq eval-report` from model/results and the README's latency "
             "sources; do not edit -->", "",
             "| tier | HumanEval pass@1 (edit format) | next line exact / similarity / offered | HumanEvalFix "
             "| HumanEvalExplain | first line shown p50, idle | server RSS | download |",
             "|---|---|---|---|---|---|---|---|"]
    for tier, label in (("default", "default (`model: default`)"), ("coder", "coder (`model: coder`)")):
        base, sha = adapters[tier]
        edits = _best([r for r in table if r["task"] == "synthesize" and _with_adapter(r, sha)
                       and r["format"].startswith("lintseq (checked")])
        cases = [c for c in completion if sha and c.get("adapter_sha256") == sha]
        # the features' model: the base in chat form, but the default tier repairs with its adapter
        functions = {}
        for task in ("fix", "explain"):
            with_adapter = task == "fix" and tier == "default"
            functions[task] = _best([r for r in table if r["task"] == task and r.get("protocol") and (
                _with_adapter(r, sha) if with_adapter else r["model"] == base)])
        bench = latency.get(tier)
        download = _download_mb(tier)

        def score(row: dict | None) -> str:
            if row is None:
                return "-"
            return f"{_pct(row['summary']['pass_at_k'].get('1'))} (n {row['n']}, {_problems_label(row)})"

        done = max(cases, key=lambda c: c["summary"]["cases"])["summary"] if cases else None
        lines.append(
            f"| {label}: {base} + {'its adapter' if sha else 'no adapter'} | {score(edits)} "
            + (f"| {_pct(done['exact'])} / {done['similarity']:.2f} / {_pct(done['offered'])} " if done else "| - ")
            + f"| {score(functions['fix'])} | {score(functions['explain'])} "
            + (f"| {bench.get('shown_first_line_p50_ms') or bench['first_line_p50_ms']:.0f} ms "
               f"| {bench['server_rss_mb']:.0f} MB " if bench else "| - | - ")
            + (f"| {download:.0f} MB |" if download else "| - |"))
    lines += ["", "In %; next line: the completion task on held-out code (`model/results/completion/`, the run "
              "of the shipped adapter); Fix and Explain: through the features, with the tier as "
              "`functionsModel`; first line and RSS: the latency table's idle row of the ~300-line file.", "",
              TIERS_END]
    return "\n".join(lines)


def _replace_between(text: str, begin: str, end: str, block: str) -> str | None:
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        return None
    return text[:start] + block + text[stop + len(end):]


def update_readme(path: Path, table: list[dict], completion: list[dict] | None = None) -> bool:
    """Replace the blocks between the markers in ``path``; False when the file has none."""
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    changed = False
    blocks = [(README_BEGIN, README_END, readme_block(table)),
              (FUNCTIONS_BEGIN, FUNCTIONS_END, functions_block(table)),
              (IMPLEMENT_BEGIN, IMPLEMENT_END, implement_block(table))]
    if TIERS_BEGIN in text:
        blocks.append((TIERS_BEGIN, TIERS_END, tiers_block(table, completion or [], text, path.parent)))
    for begin, end, block in blocks:
        replaced = _replace_between(text, begin, end, block)
        if replaced is not None:
            text, changed = replaced, True
    if changed:
        path.write_text(text, encoding="utf-8")
    return changed


def plot(table: list[dict], path: Path) -> bool:
    """pass@k against k, one panel per task, one line per run; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed; no plot (pip install matplotlib)")
        return False
    tasks = [t for t in TASK_ORDER if any(r["task"] == t for r in table)]
    if not tasks:
        return False
    figure, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        for row in (r for r in table if r["task"] == task):
            ks = list(range(1, row["n"] + 1))
            values = [100 * metrics.mean_pass_at_k(row["samples"], k) for k in ks]
            label = f"{row['model']}, {row['format']}, T={row['temperature']:g}"
            axis.plot(ks, values, marker="o", label=label)
        axis.set_title(f"HumanEval{task.capitalize()} (Python)")
        axis.set_xlabel("k")
        axis.set_ylabel("pass@k (%)")
        axis.set_xscale("log")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="editseq eval-report", description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--readme", type=Path, default=PROJECT_README,
                        help=f"also rewrite the table between {README_BEGIN} and {README_END} here")
    args = parser.parse_args(argv)
    results = load_results(args.results_dir)
    table = rows(results)
    completion = load_completion(args.results_dir)
    (args.results_dir / "README.md").write_text(markdown(table, completion), encoding="utf-8")
    plotted = plot(table, args.results_dir / "passk.png")
    in_readme = update_readme(args.readme, table, completion)
    print(f"{len(table)} rows from {len(results)} result files -> {args.results_dir / 'README.md'}"
          + (f", {args.results_dir / 'passk.png'}" if plotted else "")
          + (f", {args.readme}" if in_readme else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
