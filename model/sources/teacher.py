"""Pairs written by the teacher model, as instruction+program records (stage 2 input).

Reads the records ``teacher_gen`` wrote under ``model/data/teacher-raw*`` (one folder per prompt
version; request ids must not repeat across them, so each run has its own ``--seed``) and yields
the kept ones in id order (request order), keeping the first of any solutions with the same normalised AST
(``decontaminate.dedupe_key``) or the same instruction. The instruction is the teacher's problem
statement (with the function's signature appended when the statement does not name it); the
program is its solution, normalised, without tests. The teacher, Qwen2.5-Coder-0.5B-Instruct, is
Apache-2.0; the generated code is the project's own (MIT).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from editseq.model.sources import Program
from editseq.model.sources.decontaminate import dedupe_key

LICENCE = "MIT"
ORIGIN = "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M (Apache-2.0), seeded with"


def unique_kept(records: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """(kept records without duplicates, in id order; {id: why} of the duplicates)."""
    seen_code: dict[str, str] = {}
    seen_text: dict[str, str] = {}
    unique, duplicates = [], {}
    for record in sorted((r for r in records if not r["drop"]), key=lambda r: r["id"]):
        key = dedupe_key(record["program"])
        text = " ".join(record["instruction"].lower().split())
        first = seen_code.get(key) or seen_text.get(text)
        if first is not None:
            duplicates[record["id"]] = f"duplicate of {first}"
            continue
        seen_code[key] = seen_text[text] = record["id"]
        unique.append(record)
    return unique, duplicates


def load(raw: Path | str | tuple[Path | str, ...], skipped: dict | None = None) -> Iterator[Program]:
    """The unique kept pairs under ``raw`` (a folder, or several); ``skipped`` (when given) gets
    counts of what was not used: the generation drop reasons and duplicates."""
    from editseq.model.sources.teacher_gen import RawShards

    folders = [Path(raw)] if isinstance(raw, (str, Path)) else [Path(f) for f in raw]
    records, origin = [], {}
    for folder in folders:
        for record in RawShards(folder, shard_size=1).records():
            if record["id"] in origin:
                raise ValueError(f"{record['id']} is in both {origin[record['id']]} and {folder}: "
                                 "give each teacher_gen run its own --seed")
            origin[record["id"]] = folder
            records.append(record)
    unique, duplicates = unique_kept(records)
    if skipped is not None:
        for record in records:
            if record["drop"]:
                reason = "generation: " + record["drop"].split(":")[0]
                skipped[reason] = skipped.get(reason, 0) + 1
        if duplicates:
            skipped["duplicate solution or instruction"] = len(duplicates)
    for record in unique:
        yield Program(
            id=record["id"],
            source="teacher",
            licence=LICENCE,
            instruction=record["instruction"],
            program=record["program"],
            origin=f"{ORIGIN} {record['seed_id']}",
            meta={"entry_point": record["entry_point"]},
        )
