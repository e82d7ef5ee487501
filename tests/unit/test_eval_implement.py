"""The harness's implement task without a model: samples carry what the feature's pick reads,
and the report's k sweep scores the pick with the hidden tests."""

import argparse
import json
from pathlib import Path

import pytest
from editseq import editformat
from editseq.model.eval import metrics, report, run, tasks
from editseq.repair import ISOLATION_WORDS
from editseq.runtime import Generation
from editseq.sandbox import resolve_isolation

DATA = Path(__file__).resolve().parent.parent / "data" / "eval" / "humanevalpack-python-first2.jsonl"
PROBLEMS = tasks.load_problems(DATA)


class CandidateModel:
    """Candidate i (decode_program seeds its first edit with i) writes, in one edit, a wrong body
    for i = 0, the reference solution for i = 1 and 2 (the same program twice), then a wrong one;
    it closes the sequence after the edit. Candidate 2 is the most confident."""

    def __init__(self, spec):
        self.spec = spec

    def load(self):
        pass

    def close(self):
        pass

    def count_tokens(self, text):
        return len(text) // 4

    def generate(self, prompt, *, max_tokens, temperature=0.0, top_p=0.95, stop=(), seed=0, cancel=None,
                 on_text=None, logprobs=False):
        problem = next(p for p in PROBLEMS if f"`{p.entry_point}(" in prompt)
        candidate, edit = seed % 1000, seed // 1000
        text = ""
        if edit == 0:
            signature = problem.prompt.split("def ", 1)[1].split("\n", 1)[0]
            right = problem.canonical_solution.rstrip("\n").split("\n")
            body = right if candidate in (1, 2) else ["    return None"]
            text = editformat.edit_text([], ["from typing import List", "", "", f"def {signature}", *body])
        scored = (-0.1 if candidate == 2 else -0.5,) * 5 if logprobs else None
        return Generation(text, "stop", 10, 0, 5, 0.0, 0.0, scored)


@pytest.fixture
def model_file(monkeypatch, tmp_path):
    import editseq.runtime

    monkeypatch.setattr(editseq.runtime, "ModelRuntime", CandidateModel)
    monkeypatch.setattr(run, "environment", lambda: {"test": True})
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF fake")
    return gguf


def args_for(gguf, tmp_path, *extra):
    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    return parser.parse_args(["--model", str(gguf), "--limit", "2", "--results-dir", str(tmp_path / "results"),
                              "--no-lint", "--data", str(DATA), "--task", "implement", *extra])


def test_implement_samples_carry_the_pick_and_the_report_sweeps_k(model_file, tmp_path):
    path = run.run(args_for(model_file, tmp_path, "-n", "5"))
    assert path.name == "fake-lintseq-checked-implement-n5-t0.8-limit2.json"  # the feature's temperature
    result = json.loads(path.read_text())
    record = result["tasks"]["implement"]
    samples = record["problems"]["Python/0"]["samples"]
    picks = [s["extra"]["pick"] for s in samples]
    assert [p["checks_passed"] for p in picks] == [0, 2, 2, 0, 0]  # the prompt's two examples
    assert picks[1]["key"] == picks[2]["key"] != picks[0]["key"] and all(p["lint_ok"] for p in picks)
    # the feature's words, with how the checks were isolated
    assert picks[0]["verdict"] == f"fails all 2 docstring examples, {ISOLATION_WORDS[resolve_isolation()]}"
    assert picks[0]["checks_total"] == 2
    assert [s["passed"] for s in samples] == [False, True, True, False, False]  # the hidden tests
    summary = record["summary"]
    assert summary["pass_at_k"]["1"] == pytest.approx(0.4)
    # k = 1: candidate 0 fails both examples, so nothing is offered; k = 5: candidate 1 (2 is its duplicate)
    assert summary["pick_pass_at_k"] == {"1": 0.0, "5": 1.0}
    assert summary["pick_offered_at_k"] == {"1": 0.0, "5": 1.0}
    assert summary["problems_without_examples"] == 0
    assert record["prompt_example"].startswith("Write a Python function `has_close_elements(")
    table = report.rows(report.load_results(path.parent))
    (row,) = [r for r in table if r["task"] == "implement"]
    lines = report.pick_table([row])
    assert lines[0] == report.PICK_HEADER
    assert lines[2].split(" | ")[4:8] == ["40.0", "100.0", "-", "-"] and "| 0.0 | 100.0 | - | - |" in lines[2]
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n- implement\n  {report.IMPLEMENT_BEGIN}\n  old\n  {report.IMPLEMENT_END}\nafter\n")
    assert report.update_readme(readme, table)
    text = readme.read_text()
    assert "  " + report.PICK_HEADER in text and "old" not in text and text.endswith("after\n")


def test_pick_metrics_read_the_rows():
    def row(key, passed, checks, logprob, lint_ok=True, total=2):
        return {"passed": passed, "extra": {"pick": {"key": key, "lint_ok": lint_ok, "checks_total": total,
                                                      "checks_passed": checks, "mean_logprob": logprob}}}

    problem = [row("a", False, 1, -0.1), row("b", True, 2, -0.9), row("b", True, 2, -0.1)]
    assert metrics.picked(problem, 1) is problem[0] and metrics.picked(problem, 3) is problem[1]
    no_examples = [row("a", False, None, -0.1, lint_ok=False, total=0), row("c", True, None, -0.9, total=0)]
    assert metrics.picked(no_examples, 2) is no_examples[1]  # the first lint-clean one
    assert metrics.pick_pass([problem, no_examples], 1) == 0.0
    assert metrics.pick_pass([problem, no_examples], 2) == 1.0
    assert metrics.pick_pass([problem], 4) is None  # fewer samples than k
    assert not metrics.has_pick([[{"passed": True}]])


def test_a_problem_the_feature_refuses_counts_as_offered_nothing():
    def row(key, passed, checks):
        return {"passed": passed, "extra": {"pick": {"key": key, "lint_ok": True, "checks_total": 2,
                                                      "checks_passed": checks, "mean_logprob": -0.1}}}

    refused = [{"passed": False, "finish": "no_stub", "extra": {"error": "f already has a body"}}] * 2
    problems = [[row("a", True, 2), row("b", False, 0)], refused]
    assert metrics.has_pick(problems) and metrics.picked(refused, 2) is None
    assert metrics.pick_pass(problems, 2) == 0.5
    summary = metrics.summarize(problems, ks=(1, 2))
    assert (summary["problems_refused"], summary["problems_without_examples"]) == (1, 0)
    assert not metrics.has_pick([refused])
