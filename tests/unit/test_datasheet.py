"""The committed data and its datasheet agree: every source's ``summary.json`` counts what its
shards hold, and the datasheet's "All sources" table (model/data/README.md) states those counts."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from editseq.model import prepare

DATA = prepare.DATA_DIR
SOURCES = [s for s in prepare.SOURCES if (DATA / s / "summary.json").exists()]


def shard_counts(source: str) -> tuple[int, int]:
    """(distinct program ids, rows) in the finished shards of ``source``."""
    ids, rows = set(), 0
    for meta_path in sorted((DATA / source).glob("shard-*.meta.json")):
        meta = json.loads(meta_path.read_text())
        with gzip.open(DATA / source / meta["file"], "rt", encoding="utf-8") as f:
            for line in f:
                ids.add(json.loads(line)["id"])
                rows += 1
    return len(ids), rows


def datasheet_table() -> dict[str, tuple[int, int, int]]:
    text = (DATA / "README.md").read_text()
    section = text[text.index("### All sources"):]
    table = {}
    for name, programs, rows, tokens in re.findall(r"^\| \**(\w+)\** \| \**([\d,]+)\** \| \**([\d,]+)\** \| \**([\d,]+)\** \|$",
                                                   section, re.MULTILINE):
        table[name] = tuple(int(n.replace(",", "")) for n in (programs, rows, tokens))
    return table


@pytest.mark.parametrize("source", SOURCES)
def test_summary_counts_what_the_shards_hold(source: str) -> None:
    summary = json.loads((DATA / source / "summary.json").read_text())
    assert shard_counts(source) == (summary["programs"]["kept"], sum(summary["rows"].values()))


def test_datasheet_states_the_summaries() -> None:
    table = datasheet_table()
    totals = [0, 0, 0]
    for source in SOURCES:
        summary = json.loads((DATA / source / "summary.json").read_text())
        counts = (summary["programs"]["kept"], sum(summary["rows"].values()), summary["tokens"]["total"])
        assert table[source] == counts, source
        totals = [a + b for a, b in zip(totals, counts)]
    assert table["total"] == tuple(totals)


def test_the_repair_source_table_states_its_summary() -> None:
    summary = json.loads((DATA / "repair" / "summary.json").read_text())
    with gzip.open(DATA / "repair" / "shard-00000.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    assert (len({r["id"] for r in rows}), len(rows)) == (summary["programs_with_rows"], summary["rows"])
    text = (DATA / "README.md").read_text()
    table = text[text.index("<!-- repair-summary:begin -->"):text.index("<!-- repair-summary:end -->")]
    stated = [int(n.replace(",", "")) for n in re.findall(r"\| ([\d,]+)", table.split("\n")[3])]
    assert stated == [summary["programs"], summary["programs_with_rows"], summary["rows"],
                      summary["tokens"]["total"], summary["tokens"]["trained"]]
