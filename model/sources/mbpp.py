"""MBPP training programs (task ids 1-10 and 511-974) as instruction+program pairs.

Reads ``../shared/data/mbpp-train.jsonl`` (google-research/google-research ``mbpp/mbpp.jsonl``,
CC-BY-4.0). The instruction is the task's ``text``, the program its ``code``, normalised (CRLF,
tabs and 2-space indentation become 4-space blocks; see ``editseq.model.sources``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from editseq.model.sources import SHARED_DATA, Program, normalise_program

DEFAULT_PATH = SHARED_DATA / "mbpp-train.jsonl"
LICENCE = "CC-BY-4.0"
ORIGIN = "google-research/google-research mbpp/mbpp.jsonl"


def load(path: Path | str = DEFAULT_PATH) -> Iterator[Program]:
    """Every row of the file, in file order; rows whose code cannot be normalised carry ``drop``."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            program, problem = normalise_program(row["code"])
            yield Program(
                id=f"mbpp/{row['task_id']}",
                source="mbpp",
                licence=LICENCE,
                instruction=row["text"].strip(),
                program=program if program is not None else row["code"],
                origin=f"{ORIGIN} task_id={row['task_id']}",
                drop=None if program is not None else f"normalise: {problem}",
                meta={"task_id": int(row["task_id"]), "tests": row.get("test_list", []),
                      "test_setup": row.get("test_setup_code", "")},
            )
