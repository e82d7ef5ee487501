"""Turn instruction+program pairs into LintSeq edit-sequence training data.

    python -m editseq.model.prepare --source mbpp --workers 2
    nohup python -m editseq.model.prepare --source mined --workers 1 \\
        > /work/logs/prepare-mined.log 2>&1 &
    python -m editseq.model.prepare --source teacher --workers 2   # after sources.teacher_gen

Reads a source (``editseq.model.sources``), drops evaluation look-alikes (``decontaminate``), and
runs LintSeq (``editseq.model.lintseq``) in a pool of workers, each with its own warm pylint.
Per program it writes ``--sequences`` "scratch" rows (edit sequences from the empty file) and up
to ``--continues`` "continue" rows (editor-shaped: the state after k random edits as one
insertion, then the remaining edits). Everything is deterministic given ``--seed``.

Output: ``<out>/<source>/shard-NNNNN.jsonl.gz`` with ``shard-NNNNN.meta.json`` beside it (the
programs it covers and why any were dropped). A shard appears only when complete (written to a
``.tmp``, then renamed); a run that is stopped (Ctrl-C, SIGTERM) first finishes a shard with the
programs done so far. Running the same command again skips the programs already in finished
shards, so a stopped run resumes where it ended. ``summary.json`` is rewritten at the end of
every run, from all finished shards.

Row fields: id (program id), source, licence, origin, instruction, program, kind
("scratch"/"continue"), sample (index of the sequence within the program), seed (reproduces the
sequence: ``LintSeq().sample(program, seed)``), k (continue rows: edits collapsed), edits (edit
texts), text (``editformat.render_sequence(instruction, edits)``, no eos).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import logging
import multiprocessing
import os
import platform
import random
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from editseq.editformat import DIFF_SEP, decode_sequence, render_sequence
from editseq.model.progress import progress_bar

log = logging.getLogger("editseq.model.prepare")

DATA_DIR = Path(__file__).resolve().parent / "data"
SOURCES = ("mbpp", "mined", "teacher")
FORMAT_VERSION = 1
LONG_SAMPLE_TOKENS = 512  # the trial fine-tune's sequence length; the summary counts rows above it


@dataclass
class Config:
    source: str = "mbpp"
    limit: int | None = None  # first K programs of the source after decontamination
    sequences: int = 5  # scratch sequences per program (distinct ones; fewer if the program is tiny)
    continues: int | None = None  # continue rows per program; None: as many as sequences
    seed: int = 0
    workers: int = 2
    out: Path = DATA_DIR
    shard_size: int = 500  # programs per shard
    include_copyleft: bool = False  # mined: also GPL/LGPL/MPL-licensed distributions
    # teacher: the folders of pairs teacher_gen wrote (one per prompt version); None: every
    # model/data/teacher-raw* folder
    teacher_raw: tuple[Path, ...] | None = None
    time_budget_s: float = 300.0  # per program; then it is dropped
    max_tasks_per_child: int = 200  # recycle workers so astroid's caches cannot grow unbounded

    @property
    def n_continues(self) -> int:
        return self.sequences if self.continues is None else self.continues

    def identity(self) -> dict:
        """What fixes the rows; a resumed run must agree on it."""
        return {
            "format": FORMAT_VERSION,
            "source": self.source,
            "sequences": self.sequences,
            "continues": self.n_continues,
            "seed": self.seed,
            "include_copyleft": self.include_copyleft,
        }


# -- seeds ------------------------------------------------------------------------------------


def sequence_seed(seed: int, program_id: str, index: int) -> int:
    digest = hashlib.sha256(f"{seed}/{program_id}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


# -- worker side ------------------------------------------------------------------------------

_SAMPLER = None


def _init_worker(time_budget_s: float) -> None:
    global _SAMPLER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    from editseq.model.lintseq import LintSeq

    _SAMPLER = LintSeq(time_budget_s=time_budget_s)


def _work(task: tuple[dict, int, int, int]) -> dict:
    from editseq.model.sources import Program

    program, sequences, continues, seed = task
    return process(Program.from_dict(program), _SAMPLER, sequences, continues, seed)


def process(program, sampler, sequences: int, continues: int, seed: int) -> dict:
    """Rows for one program, or the reason it was dropped (``{"id", "rows", "drop", ...}``)."""
    from editseq.model.lintseq import Unreducible, continuation

    started = time.perf_counter()
    calls_before = sampler.stats.lint_calls
    result = {"id": program.id, "rows": [], "drop": None}

    def done(drop: str | None = None) -> dict:
        result["drop"] = drop
        if drop:
            result["rows"] = []
        result["elapsed_s"] = round(time.perf_counter() - started, 3)
        result["lint_calls"] = sampler.stats.lint_calls - calls_before
        return result

    if program.drop:
        return done(program.drop)
    if DIFF_SEP.strip() in program.program or DIFF_SEP.strip() in program.instruction:
        return done("contains the edit separator")
    try:
        messages = sampler.lint(program.program)
    except Exception as exc:  # noqa: BLE001 - pylint crashed on it: drop the program, go on
        return done(f"lint crashed: {type(exc).__name__}")
    if messages:
        symbols = ",".join(sorted({m.symbol for m in messages}))
        return done(f"not lint-clean: {symbols}")
    seeds = [sequence_seed(seed, program.id, j) for j in range(2 * sequences)]
    try:
        samples = sampler.samples(program.program, sequences, seeds)
    except Unreducible as exc:
        return done(f"unreducible: {exc}")
    except Exception as exc:  # noqa: BLE001 - a bug shows as a drop reason, not a dead run
        return done(f"lintseq crashed: {type(exc).__name__}: {exc}")
    lines = program.program.split("\n")
    base = {
        "id": program.id,
        "source": program.source,
        "licence": program.licence,
        "origin": program.origin,
        "instruction": program.instruction,
        "program": program.program,
    }

    def row(kind: str, index: int, sample_seed: int, edits: list[str], k: int | None = None) -> dict:
        text = render_sequence(program.instruction, edits)
        if not rebuilds(program.instruction, text, lines):
            raise AssertionError(f"{program.id} {kind} {index}: the text does not rebuild the program")
        out = {**base, "kind": kind, "sample": index, "seed": sample_seed}
        if k is not None:
            out["k"] = k
        return {**out, "edits": edits, "text": text}

    try:
        for index, sample in enumerate(samples):
            result["rows"].append(row("scratch", index, sample.seed, list(sample.edits)))
        rng = random.Random(f"{seed}/{program.id}/continue")
        eligible = [(i, s) for i, s in enumerate(samples) if len(s.edits) >= 2]
        for index, sample in eligible[:continues]:
            k = rng.randint(1, len(sample.edits) - 1)
            result["rows"].append(row("continue", index, sample.seed, continuation(sample, k), k))
    except AssertionError as exc:
        return done(f"render check failed: {exc}")
    result["sequences"] = len(samples)
    result["edits"] = [len(s.edits) for s in samples]
    return done()


def rebuilds(instruction: str, text: str, lines: list[str]) -> bool:
    """Whether the training ``text`` (``instruction`` and its edits) decodes, strictly, to ``lines``."""
    rebuilt, skipped = decode_sequence(text[len(instruction) + len(DIFF_SEP) :], strict=True)
    return not skipped and rebuilt == lines


# -- shards -----------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Shards:
    """Finished shards of one source: which programs they cover, and writing new ones."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.tmp"):
            stale.unlink()
        self.metas = []
        for meta_path in sorted(folder.glob("shard-*.meta.json")):
            self.metas.append(json.loads(meta_path.read_text()))
        finished = {m["shard"] for m in self.metas}
        for data in folder.glob("shard-*.jsonl.gz"):  # data renamed, meta not: redo those programs
            if self._index(data) not in finished:
                data.unlink()
        self.next_index = max(finished, default=-1) + 1

    @staticmethod
    def _index(path: Path) -> int:
        return int(path.name.split(".")[0].split("-")[1])

    def done_ids(self) -> set[str]:
        return {pid for meta in self.metas for pid in meta["programs"]}

    def program_keys(self) -> set[str]:
        """``dedupe_key`` of every program in the finished shards."""
        from editseq.model.sources.decontaminate import dedupe_key

        return {dedupe_key(program) for program in {row["program"] for row in self.rows()}}

    def data_path(self, index: int) -> Path:
        return self.folder / f"shard-{index:05d}.jsonl.gz"

    def write(self, results: list[dict], elapsed_s: float, workers: int) -> Path:
        index = self.next_index
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
            for result in results:
                for row in result["rows"]:
                    gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
        data_path = self.data_path(index)
        _write_atomic(data_path, buffer.getvalue())
        kinds = Counter(row["kind"] for r in results for row in r["rows"])
        meta = {
            "shard": index,
            "file": data_path.name,
            "programs": [r["id"] for r in results],
            "kept": sum(1 for r in results if not r["drop"]),
            "dropped": {r["id"]: r["drop"] for r in results if r["drop"]},
            "rows": {"scratch": kinds["scratch"], "continue": kinds["continue"]},
            "edits_per_sequence": [n for r in results for n in r.get("edits", [])],
            "lint_calls": sum(r["lint_calls"] for r in results),
            "program_seconds": round(sum(r["elapsed_s"] for r in results), 2),
            "wall_seconds": round(elapsed_s, 2),
            "workers": workers,
        }
        _write_atomic(self.folder / f"shard-{index:05d}.meta.json",
                      (json.dumps(meta, indent=1) + "\n").encode())
        self.metas.append(meta)
        self.next_index += 1
        return data_path

    def rows(self):
        for meta in sorted(self.metas, key=lambda m: m["shard"]):
            with gzip.open(self.folder / meta["file"], "rt", encoding="utf-8") as f:
                for line in f:
                    yield json.loads(line)


# -- sources ----------------------------------------------------------------------------------


@dataclass
class Loaded:
    programs: list = field(default_factory=list)
    decontaminated: dict = field(default_factory=dict)  # id -> reason
    loader_skipped: dict = field(default_factory=dict)  # reason -> count (mined)
    read: int = 0


def load_source(config: Config) -> Loaded:
    from editseq.model.sources.decontaminate import Decontaminator

    loaded = Loaded()
    if config.source == "mbpp":
        from editseq.model.sources import mbpp

        programs = list(mbpp.load())
    elif config.source == "mined":
        from editseq.model.sources import mined

        miner = mined.Miner()
        programs = list(mined.load(include_copyleft=config.include_copyleft, miner=miner))
        loaded.loader_skipped = dict(miner.skipped.most_common())
    elif config.source == "teacher":
        from editseq.model.sources import teacher

        skipped: dict[str, int] = {}
        raw = config.teacher_raw or tuple(sorted(p for p in DATA_DIR.glob("teacher-raw*") if p.is_dir()))
        programs = list(teacher.load(raw, skipped))
        loaded.loader_skipped = dict(sorted(skipped.items(), key=lambda kv: -kv[1]))
    else:
        raise ValueError(f"unknown source {config.source!r}")
    loaded.read = len(programs)
    kept, loaded.decontaminated = Decontaminator().split(programs)
    loaded.programs = kept[: config.limit] if config.limit is not None else kept
    return loaded


# -- tokens and summary -----------------------------------------------------------------------


def token_counter():
    """(count(text) -> int, description): SmolLM2's tokenizer when llama_cpp is importable."""
    from editseq.runtime import ModelError, ModelRuntime, ModelSpec, base_model_path

    try:
        vocab = ModelRuntime(ModelSpec(base_model_path(), vocab_only=True))
        vocab.load()
    except (ImportError, ModelError):
        return (lambda text: len(text.split())), "whitespace-separated words (llama_cpp not importable)"
    return (
        lambda text: len(vocab.tokenize(text, special=False)),
        "SmolLM2-135M-Instruct tokens (llama_cpp vocab_only, no BOS, no eos)",
    )


def _stats(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(ordered), 1),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }


def _reason_class(reason: str) -> str:
    return reason.split(":")[0]


def summarise(config: Config, shards: Shards, loaded: Loaded, run: dict) -> dict:
    count, unit = token_counter()
    tokens, completion, per_kind = [], [], Counter()
    instruction_tokens: dict[str, int] = {}
    for row in shards.rows():
        n = count(row["text"])
        if row["id"] not in instruction_tokens:
            instruction_tokens[row["id"]] = count(row["instruction"])
        tokens.append(n)
        completion.append(n - instruction_tokens[row["id"]])
        per_kind[row["kind"]] += n
    dropped = {pid: why for meta in shards.metas for pid, why in meta["dropped"].items()}
    lint_symbols = Counter()
    for why in dropped.values():
        if why.startswith("not lint-clean: "):
            lint_symbols.update(why.split(": ", 1)[1].split(","))
    wall = sum(m["wall_seconds"] for m in shards.metas)
    processed = sum(len(m["programs"]) for m in shards.metas)
    kept = sum(m["kept"] for m in shards.metas)
    edits = [n for m in shards.metas for n in m["edits_per_sequence"]]
    licences, origins = Counter(), Counter()
    for row in shards.rows():
        if row["kind"] == "scratch" and row["sample"] == 0:
            licences[row["licence"]] += 1
            origins[row["origin"].split(" ")[0]] += 1  # "stdlib", "numpy==2.4.6", "google-research/..."
    return {
        "source": config.source,
        "config": config.identity(),
        "environment": {
            "python": platform.python_version(),
            "pylint": _version("pylint"),
            "astroid": _version("astroid"),
        },
        "programs": {
            "read": loaded.read,
            "decontaminated": len(loaded.decontaminated),
            "limit": config.limit,
            "processed": processed,
            "kept": kept,
            "dropped": len(dropped),
        },
        "drop_reasons": dict(Counter(_reason_class(w) for w in dropped.values()).most_common()),
        "not_lint_clean_symbols": dict(lint_symbols.most_common(15)),
        "decontamination_reasons": dict(
            Counter(w.rsplit(" ", 1)[0] for w in loaded.decontaminated.values()).most_common()
        ),
        "loader_skipped": loaded.loader_skipped,
        "licences_of_kept_programs": dict(licences.most_common()),
        "origins_of_kept_programs": dict(origins.most_common()),
        "rows": {
            "scratch": sum(m["rows"]["scratch"] for m in shards.metas),
            "continue": sum(m["rows"]["continue"] for m in shards.metas),
        },
        "edits_per_sequence": _stats(edits),
        "tokens": {
            "unit": unit,
            "total": sum(tokens),
            "by_kind": dict(per_kind),
            "per_row": _stats(tokens),
            "per_row_after_instruction": _stats(completion),
            f"rows_over_{LONG_SAMPLE_TOKENS}": sum(1 for n in tokens if n > LONG_SAMPLE_TOKENS),
        },
        "throughput": {
            "all_shards_programs_per_s": round(processed / wall, 3) if wall else None,
            "this_run": run,
        },
        "shards": len(shards.metas),
        "bytes_on_disk": sum(shards.data_path(m["shard"]).stat().st_size for m in shards.metas),
    }


def _version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# -- main -------------------------------------------------------------------------------------


def run(config: Config) -> dict:
    folder = config.out / config.source
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    identity = config.identity()
    if manifest_path.exists():
        existing = json.loads(manifest_path.read_text())
        if existing != identity:
            raise SystemExit(
                f"{manifest_path} was made with {existing}, not {identity}: "
                "use the same options to resume, or another --out"
            )
    else:
        _write_atomic(manifest_path, (json.dumps(identity, indent=1) + "\n").encode())

    log.info("reading source %s", config.source)
    loaded = load_source(config)
    log.info(
        "%d programs read, %d dropped by decontamination, %d to consider%s",
        loaded.read, len(loaded.decontaminated), len(loaded.programs),
        f" (limit {config.limit})" if config.limit is not None else "",
    )
    shards = Shards(folder)
    done = shards.done_ids()
    todo = [p for p in loaded.programs if p.id not in done]
    already = len(loaded.programs) - len(todo)
    # A resumed run may see new programs (the mined source grows with the installed distributions)
    # whose code a finished shard already holds under another id: the first one stays.
    known = shards.program_keys() if todo and done else set()
    repeats = {p.id for p in todo if _dedupe_key(p.program) in known}
    if repeats:
        loaded.loader_skipped["same code as a program in a finished shard"] = len(repeats)
        todo = [p for p in todo if p.id not in repeats]
    log.info("%d already in %d finished shards (%d more with their code), %d to do", already,
             len(shards.metas), len(repeats), len(todo))
    _write_atomic(folder / "decontaminated.json",
                  (json.dumps(loaded.decontaminated, indent=1) + "\n").encode())

    stopping = False

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    started = time.perf_counter()
    shard_started = started
    processed = kept = 0
    pending: list[dict] = []
    bar = progress_bar(len(todo), "prog", smoothing=0.05)
    tasks = [(p.to_dict(), config.sequences, config.n_continues, config.seed) for p in todo]
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(
        config.workers, initializer=_init_worker, initargs=(config.time_budget_s,),
        maxtasksperchild=config.max_tasks_per_child,
    )
    try:
        for result in pool.imap(_work, tasks, chunksize=1):
            pending.append(result)
            processed += 1
            kept += not result["drop"]
            if result["drop"]:
                log.debug("dropped %s: %s", result["id"], result["drop"])
            if bar is not None:
                bar.update(1)
                bar.set_postfix(kept=kept, dropped=processed - kept, refresh=False)
            elif processed % 50 == 0:
                log.info("%d/%d programs, %d kept", processed, len(todo), kept)
            if len(pending) >= config.shard_size:
                now = time.perf_counter()
                path = shards.write(pending, now - shard_started, config.workers)
                log.info("wrote %s (%d programs)", path.name, len(pending))
                pending, shard_started = [], now
        pool.close()
    except KeyboardInterrupt:
        stopping = True
        log.warning("stopping: finishing a shard with the %d programs done", len(pending))
        pool.terminate()
    finally:
        pool.join()
        if bar is not None:
            bar.close()
        if pending:
            path = shards.write(pending, time.perf_counter() - shard_started, config.workers)
            log.info("wrote %s (%d programs)", path.name, len(pending))
        signal.signal(signal.SIGTERM, previous)
    elapsed = time.perf_counter() - started
    this_run = {
        "programs": processed,
        "kept": kept,
        "seconds": round(elapsed, 1),
        "programs_per_s": round(processed / elapsed, 3) if processed else None,
        "workers": config.workers,
        "stopped_early": stopping,
    }
    summary_path = folder / "summary.json"
    if not processed and summary_path.exists():  # nothing new: keep the last real measurement
        this_run = json.loads(summary_path.read_text())["throughput"]["this_run"]
    summary = summarise(config, shards, loaded, this_run)
    _write_atomic(summary_path, (json.dumps(summary, indent=1) + "\n").encode())
    return summary


def parse_args(argv: list[str] | None = None) -> Config:
    defaults = Config()
    parser = argparse.ArgumentParser(prog="python -m editseq.model.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=SOURCES, required=True)
    parser.add_argument("--limit", type=int, default=None, help="first K programs after decontamination")
    parser.add_argument("--sequences", type=int, default=defaults.sequences, help="scratch sequences per program")
    parser.add_argument("--continues", type=int, default=None, help="continue rows per program (default: --sequences)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--out", type=Path, default=defaults.out, help="data folder (default model/data)")
    parser.add_argument("--shard-size", type=int, default=defaults.shard_size, help="programs per shard")
    parser.add_argument("--include-copyleft", action="store_true", help="mined: also GPL/LGPL/MPL code")
    parser.add_argument("--teacher-raw", type=Path, nargs="+", default=defaults.teacher_raw,
                        help="teacher: folders of teacher_gen's pairs (default: every model/data/teacher-raw*)")
    parser.add_argument("--time-budget", type=float, default=defaults.time_budget_s, help="seconds per program")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    return Config(
        source=args.source, limit=args.limit, sequences=args.sequences, continues=args.continues,
        seed=args.seed, workers=args.workers, out=args.out, shard_size=args.shard_size,
        include_copyleft=args.include_copyleft, time_budget_s=args.time_budget,
        teacher_raw=tuple(args.teacher_raw) if args.teacher_raw else None,
    )


def _dedupe_key(program: str) -> str | None:
    from editseq.model.sources.decontaminate import dedupe_key

    try:
        return dedupe_key(program)
    except (SyntaxError, ValueError):
        return None


def format_summary(summary: dict) -> str:
    p, rows, tok = summary["programs"], summary["rows"], summary["tokens"]
    run = summary["throughput"]["this_run"]
    lines = [
        (
            f"source {summary['source']}: {p['read']} read, {p['decontaminated']} decontaminated, "
            f"{p['processed']} processed, {p['kept']} kept, {p['dropped']} dropped"
        ),
        f"drop reasons: {summary['drop_reasons']}",
        *([f"not used by the loader: {summary['loader_skipped']}"] if summary["loader_skipped"] else []),
        (
            f"rows: {rows['scratch']} scratch + {rows['continue']} continue in "
            f"{summary['shards']} shards ({summary['bytes_on_disk'] / 1e6:.2f} MB)"
        ),
        f"edits per sequence: {summary['edits_per_sequence']}",
        (
            f"tokens ({tok['unit']}): total {tok['total']}, per row {tok['per_row']}, "
            f"rows over {LONG_SAMPLE_TOKENS}: {tok[f'rows_over_{LONG_SAMPLE_TOKENS}']}"
        ),
        (
            f"this run: {run['programs']} programs in {run['seconds']} s on {run['workers']} "
            f"workers = {run['programs_per_s']} programs/s"
        ),
    ]
    return "\n".join(lines)


def sources_table(out: Path) -> str:
    """Programs, rows and tokens of every source with a summary under ``out``, and the total."""
    lines, totals = [], [0, 0, 0]
    for source in SOURCES:
        path = out / source / "summary.json"
        if not path.exists():
            continue
        summary = json.loads(path.read_text())
        counts = (summary["programs"]["kept"], sum(summary["rows"].values()), summary["tokens"]["total"])
        totals = [a + b for a, b in zip(totals, counts)]
        lines.append(f"{source:<8} {counts[0]:>8} {counts[1]:>8} {counts[2]:>12}")
    header = f"{'source':<8} {'programs':>8} {'rows':>8} {'tokens':>12}"
    return "\n".join([header, *lines, f"{'total':<8} {totals[0]:>8} {totals[1]:>8} {totals[2]:>12}"])


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    summary = run(config)
    print(format_summary(summary))
    print(f"summary: {config.out / config.source / 'summary.json'}")
    print(sources_table(config.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

