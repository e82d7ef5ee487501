"""The README's storm table is rendered from the committed bench/results/storm.json."""

import json

from bench.storm import README, RESULTS, readme_block, render


def test_the_readme_storm_table_matches_the_committed_results():
    report = json.loads(RESULTS.read_text())
    assert readme_block(README.read_text()) == render(report), "run: python bench/storm.py --render"


def test_every_request_of_the_committed_storm_got_a_reply():
    report = json.loads(RESULTS.read_text())
    assert {run["lines"] // 100 * 100 for run in report["runs"]} >= {300, 3000}
    for run in report["runs"]:
        assert run["answered"] == run["requests"] == run["keystrokes"] == report["keystrokes"]
        assert run["errors"] == 0
