"""Yield of each teacher run: requests, kept, new unique pairs and drops, per raw folder.

    python -m editseq.model.sources.teacher_stats     # every model/data/teacher-raw* folder

"New unique" counts the kept pairs that are not duplicates of a pair with an earlier id in any
folder (``teacher.unique_kept``), i.e. what each run adds to the teacher source; the datasheet's
"Prompt versions" table is this output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from editseq.model.sources.teacher import unique_kept
from editseq.model.sources.teacher_gen import DATA_DIR, RawShards, summarise


def run_stats(folders: list[Path]) -> list[dict]:
    """One row per folder (``teacher_gen.summarise`` of its records), with new-unique counts taken
    over all folders in id order."""
    records_by_folder = {folder: list(RawShards(folder, shard_size=1).records()) for folder in folders}
    unique, _ = unique_kept([r for records in records_by_folder.values() for r in records])
    unique_ids = {r["id"] for r in unique}
    rows = []
    for folder, records in records_by_folder.items():
        if not records:
            continue
        summary = summarise(records, run={})
        new = sum(r["id"] in unique_ids for r in records)
        rows.append({
            "folder": folder.name,
            "requests": summary["requests"],
            "kept": summary["kept"],
            "new_unique": new,
            "duplicates": summary["kept"] - new,
            "worker_seconds_per_request": summary["worker_seconds_per_request"],
            "tokens_per_reply": summary["generated_tokens"]["mean"],
            "drops": summary["drop_reasons"],
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m editseq.model.sources.teacher_stats",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help="raw folders (default: every teacher-raw*)")
    args = parser.parse_args(argv)
    folders = args.folders or sorted(p for p in DATA_DIR.glob("teacher-raw*") if p.is_dir())
    rows = run_stats(folders)
    for row in rows:
        n = row["requests"]
        print(f"{row['folder']}: {n} requests, {row['kept']} kept ({row['kept'] / n:.1%}), "
              f"{row['new_unique']} new unique ({row['new_unique'] / n:.1%}), {row['duplicates']} duplicates, "
              f"{row['worker_seconds_per_request']} worker-s/request, {row['tokens_per_reply']:.0f} tokens/reply")
        print(f"  drops: {row['drops']}")
    print(f"all: {sum(r['requests'] for r in rows)} requests, {sum(r['kept'] for r in rows)} kept, "
          f"{sum(r['new_unique'] for r in rows)} unique")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
