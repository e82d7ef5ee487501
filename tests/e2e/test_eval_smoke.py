"""`editseq eval` end to end: the real CLI, the real base model, the real sandbox and pylint.

Two problems, one sample each, 64 tokens: checks the result file's structure and that every
sample was executed in the sandbox, not whether the tiny base model solves anything.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from editseq.options import Options

pytestmark = pytest.mark.e2e
DATA = Path(__file__).resolve().parent.parent / "data" / "eval" / "humanevalpack-python-first2.jsonl"
TASKS = ("synthesize", "fix", "explain")


def run_eval(tmp_path: Path, *options: str) -> dict:
    command = [sys.executable, "-m", "editseq.cli", "eval", "--task", "all", "--limit", "2", "-n", "1",
               "--max-tokens", "64", "--model", "base", "--data", str(DATA), "--threads", "1",
               "--results-dir", str(tmp_path), *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.parent == tmp_path and path.suffix == ".json"
    return json.loads(path.read_text())


def check_structure(result: dict, fmt: str) -> None:
    assert result["schema"] == 1 and result["finished"]
    assert len(result["model"]["sha256"]) == 64 and result["model"]["label"] == "base"
    assert result["settings"]["format"] == fmt and result["settings"]["max_tokens"] == 64
    assert result["environment"]["llama_cpp_python"]
    assert result["timing"]["load_s"] > 0
    assert set(result["tasks"]) == set(TASKS)
    for task in TASKS:
        record = result["tasks"][task]
        assert list(record["problems"]) == ["Python/0", "Python/1"], task
        assert record["prompt_example"]
        summary = record["summary"]
        assert summary["problems"] == 2 and summary["samples"] == 2
        assert 0.0 <= summary["pass_at_k"]["1"] <= 1.0
        for problem in record["problems"].values():
            (sample,) = problem["samples"]
            execution = sample["execution"]
            assert execution["sandbox"] == "editseq.sandbox"
            assert execution["status"] in ("passed", "failed", "timeout", "memory", "output_limit")
            assert execution["returncode"] is not None and execution["elapsed_s"] > 0
            assert sample["passed"] == (execution["status"] == "passed")
            # per answer: explain answers twice (describe, regenerate), fix once per repair candidate
            answers = {"explain": 2, "fix": Options().repair_candidates}.get(task, 1)
            assert sample["generated_tokens"] <= 64 * answers
            assert isinstance(sample["valid_python"], bool)
            assert sample["lint_errors"] is None or isinstance(sample["lint_errors"], list)
            if task == "explain":
                assert "description" in sample


def test_eval_all_tasks_lintseq_checked(tmp_path):
    result = run_eval(tmp_path)
    check_structure(result, "lintseq")
    sample = result["tasks"]["synthesize"]["problems"]["Python/0"]["samples"][0]
    assert sample["decoding"]["mode"] == "checked"
    assert result["tasks"]["synthesize"]["prompt_example"].endswith("\n<|diff|>")


def test_eval_all_tasks_chat(tmp_path):
    result = run_eval(tmp_path, "--format", "chat")
    check_structure(result, "chat")
    assert "<|im_start|>" in result["tasks"]["synthesize"]["prompt_example"]
    assert result["template_source"] == "gguf"
