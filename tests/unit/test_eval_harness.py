"""The evaluation harness without a model: prompts, code extraction, programs, runner, report."""

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from editseq import editformat
from editseq.model.eval import report, run, tasks
from editseq.runtime import Generation

DATA = Path(__file__).resolve().parent.parent / "data" / "eval" / "humanevalpack-python-first2.jsonl"
PROBLEMS = tasks.load_problems(DATA)


def test_extract_code_prefers_the_block_defining_the_entry_point():
    answer = "Sure:\n```python\nimport os\n```\n```python\ndef f(x):\n    return x\n```\nUse:\n```python\nf(1)\n```"
    assert tasks.extract_code(answer, "f") == "def f(x):\n    return x"
    assert tasks.extract_code("```python\ndef g():\n    pass", "f") == "def g():\n    pass"  # unclosed block
    assert tasks.extract_code("def f(): pass", "f") == "def f(): pass"  # no fence: the whole answer


def test_sanitize_keeps_the_solution_and_drops_the_models_own_tests():
    answer = (
        "import math\n\ndef helper(x):\n    return x\n\n# the answer\ndef f(a):\n    return helper(a)\n\n"
        "print(f(1))\nassert f(2) == 3\ndef check(f):\n    assert f(1) == 1\n\ndef g():\n    pass\n"
        "if __name__ == '__main__':\n    g()\n"
    )
    assert tasks.sanitize(answer, "f") == (
        "import math\n\ndef helper(x):\n    return x\n\n# the answer\ndef f(a):\n    return helper(a)\n"
        "\ndef g():\n    pass"
    )
    truncated = "def f(a):\n    return a\n\n# Check\ndef check(f):\n    assert f([1, 2"
    assert tasks.sanitize(truncated, "f") == "def f(a):\n    return a"
    method = "class S:\n    def f(self):\n        pass\nprint(1)\n"
    assert tasks.sanitize(method, "f") == method  # no top-level entry point: unchanged


def test_program_runs_imports_code_and_tests():
    problem = PROBLEMS[0]
    program = tasks.program_for(problem, problem.prompt + problem.canonical_solution)
    assert program.startswith(tasks.IMPORT_HELPER)
    assert program.rstrip().endswith(f"check({problem.entry_point})")
    from editseq.sandbox import run_program

    assert run_program(program).passed
    assert not run_program(tasks.program_for(problem, problem.declaration + problem.buggy_solution)).passed


def test_description_is_cut_like_octopack():
    problem = PROBLEMS[0]
    long = "Checks closeness. " * 100 + "\ndef x(): pass"
    assert len(tasks.clean_description(long, problem)) <= len(problem.docstring)
    assert tasks.clean_description("Says hi.\nprint(1)", problem) == "Says hi."
    code_line = "distance = abs(elem - elem2)"
    assert code_line not in tasks.clean_description(f"It uses {code_line} inside.", problem)


class FakeRuntime:
    """Answers every chat with the canonical solution of the problem named in the prompt (a
    repair request with the edit or the rewrite that fixes it)."""

    chat_template = None  # ChatML
    bos_text = ""
    eos_text = "<|im_end|>"

    def __init__(self, spec):
        self.spec = spec
        self.closed = False

    def load(self):
        pass

    def close(self):
        self.closed = True

    def count_tokens(self, text):
        return len(text) // 4

    def generate(self, prompt, *, max_tokens, temperature=0.0, top_p=0.95, stop=(), seed=0, cancel=None,
                 on_text=None):
        for problem in PROBLEMS:
            if problem.entry_point in prompt:
                break
        if f"Fix bugs in {problem.entry_point}." in prompt:
            def function(body):
                rows = (problem.declaration + body).rstrip("\n").split("\n")
                return rows[next(i for i, row in enumerate(rows) if row.startswith(f"def {problem.entry_point}")):]

            buggy, fixed = function(problem.buggy_solution), function(problem.canonical_solution)
            if "<|diff|>" in prompt:  # the edit model: one replacement edit, then close
                text = editformat.replacement_text(buggy, fixed) + "\n<|diff|>\n<|diff|>"
                return Generation(text, "stop", 10, 0, 20, 0.0, 0.0)
            return Generation("\n".join(fixed) + "\n```", "stop", 10, 0, 30, 0.0, 0.0)
        if "<|diff|>" in prompt:  # lintseq (plain): one edit writing the solution, then close
            lines = (problem.prompt + problem.canonical_solution).rstrip("\n").split("\n")
            text = editformat.edit_text([], lines) + "\n<|diff|>\n<|diff|>"
            return Generation(text, "stop", 10, 0, 20, 0.0, 0.0)
        if "description" in prompt and "Write functional code" in prompt:
            return Generation("\n" + problem.canonical_solution + "```", "stop", 10, 0, 20, 0.0, 0.0)
        if "concise natural language description" in prompt:
            return Generation("It does what the name says.", "stop", 10, 0, 8, 0.0, 0.0)
        code = problem.prompt + problem.canonical_solution
        return Generation(f"Here it is:\n```python\n{code}```\nDone.", "stop", 10, 0, 30, 0.0, 0.0)


@pytest.fixture
def fake_model(monkeypatch, tmp_path):
    import editseq.runtime

    monkeypatch.setattr(editseq.runtime, "ModelRuntime", FakeRuntime)
    monkeypatch.setattr(tasks.Generator, "chat_prompt", lambda self, user, prefix="": user + "\n" + prefix)
    monkeypatch.setattr(run, "environment", lambda: {"test": True})
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF fake")
    return gguf


def args_for(gguf, tmp_path, **overrides):
    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    argv = ["--model", str(gguf), "--limit", "2", "--results-dir", str(tmp_path / "results"), "--no-lint",
            "--data", str(DATA)]
    for key, value in overrides.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return parser.parse_args(argv)


def test_runner_writes_a_resumable_result_file(fake_model, tmp_path):
    path = run.run(args_for(fake_model, tmp_path, format="chat"))
    result = json.loads(path.read_text())
    assert path.name == "fake-chat-all-n1-t0-limit2.json"
    assert result["model"]["sha256"] and result["settings"]["format"] == "chat"
    for task in tasks.TASKS:
        record = result["tasks"][task]
        assert list(record["problems"]) == [p.task_id for p in PROBLEMS]
        assert record["summary"]["pass_at_k"]["1"] == 1.0, task
        for problem in record["problems"].values():
            for sample in problem["samples"]:
                assert sample["execution"]["sandbox"] == "editseq.sandbox"
                assert sample["execution"]["status"] == "passed"
    assert "description" in result["tasks"]["explain"]["problems"]["Python/0"]["samples"][0]
    # resuming skips finished problems; other settings are refused
    updated = result["updated"]
    run.run(args_for(fake_model, tmp_path, format="chat"))
    again = json.loads(path.read_text())
    assert again["tasks"]["fix"]["problems"] == result["tasks"]["fix"]["problems"] and again["resumed"]
    assert updated is not None
    with pytest.raises(ValueError, match="other settings"):
        run.run(args_for(fake_model, tmp_path, format="chat", max_tokens=99, run_name=path.stem))


def test_runner_lintseq_format_and_report(fake_model, tmp_path, monkeypatch):
    path = run.run(args_for(fake_model, tmp_path, task="synthesize", decoding="plain"))
    result = json.loads(path.read_text())
    sample = result["tasks"]["synthesize"]["problems"]["Python/0"]["samples"][0]
    assert sample["decoding"]["mode"] == "plain" and sample["passed"]
    project = tmp_path / "PROJECT.md"
    project.write_text(f"intro\n{report.README_BEGIN}\nold table\n{report.README_END}\n"
                       f"- explain\n  {report.FUNCTIONS_BEGIN}\n  old\n  {report.FUNCTIONS_END}\noutro\n")
    small = run.run(args_for(fake_model, tmp_path, task="synthesize", decoding="plain", limit=1))
    monkeypatch.setattr(report, "COMMON_MIN_PROBLEMS", 2)
    assert report.main(["--results-dir", str(path.parent), "--readme", str(project)]) == 0
    assert "| 100.0 | - | - |" in project.read_text()  # 1 problem: too few for the common column
    small.unlink()
    assert report.main(["--results-dir", str(path.parent), "--readme", str(project)]) == 0
    readme = (path.parent / "README.md").read_text()
    assert "| synthesize |" in readme and "(partial)" in readme
    block = project.read_text()
    assert block.startswith("intro\n") and block.endswith("outro\n") and "old table" not in block
    assert "| synthesize |" in block and "100.0 (" in block  # the fake model passes: common p@1
    assert "  old\n" not in block and "Not measured through the features yet." in block  # no fix/explain run
    run.run(args_for(fake_model, tmp_path, task="fix", format="chat"))
    assert report.main(["--results-dir", str(path.parent), "--readme", str(project)]) == 0
    assert "HumanEvalFix pass@1 fake, chat rewrite: 100.0% (2 (partial) problems, n 1, T 0)" in project.read_text()
    assert (path.parent / "passk.png").stat().st_size > 1000
    (path.parent / "completion").mkdir()
    (path.parent / "completion" / "tiny.json").write_text(json.dumps({
        "model": "tiny.gguf", "option_model": "default",
        "summary": {"cases": 4, "exact": 0.25, "similarity": 0.5, "offered": 0.75, "latency_ms_p50": 120.0}}))
    (path.parent / "completion" / "broken.json").write_text("{")
    assert report.main(["--results-dir", str(path.parent), "--readme", str(project)]) == 0
    readme = (path.parent / "README.md").read_text()
    assert "| tiny.gguf | default | 4 | 25.0 | 0.500 | 75.0 | - | - | 120 | `completion/tiny.json` |" in readme


def test_heldout_mbpp_problems_run_their_reference_and_reject_a_wrong_answer():
    from editseq.model.eval import heldout
    from editseq.sandbox import run_program

    row = {"task_id": 7, "text": "Write a function to add two numbers.",
           "code": "def add_two(a, b):\r\n\treturn a + b", "test_setup_code": "",
           "test_list": ["assert add_two(1, 2) == 3", "assert add_two(-1, 1) == 0"]}
    problem = tasks.Problem.from_row(heldout.problem_for(row))
    assert problem.entry_point == "add_two"
    assert problem.instruction.startswith("Write a Python function `add_two(a, b)` to solve")
    assert run_program(tasks.program_for(problem, problem.canonical_solution)).passed
    wrong = "def add_two(a, b):\n    return a - b"
    assert not run_program(tasks.program_for(problem, wrong)).passed
    assert heldout.problem_for({**row, "test_list": ["assert other(1) == 1"]}) is None


def test_sharded_runs_merge_into_the_one_process_result(fake_model, tmp_path):
    whole = json.loads(run.run(args_for(fake_model, tmp_path, task="synthesize", decoding="plain",
                                        run_name="whole")).read_text())
    first = run.run(args_for(fake_model, tmp_path, task="synthesize", decoding="plain", run_name="part",
                             shard="0/2"))
    second = run.run(args_for(fake_model, tmp_path, task="synthesize", decoding="plain", run_name="part-1",
                              shard="1/2"))
    assert list(json.loads(first.read_text())["tasks"]["synthesize"]["problems"]) == ["Python/0"]
    assert json.loads(first.read_text())["finished"] is None  # only its shard is done
    merged = run.merge(first, [second])
    assert merged["finished"]  # the two shards cover the run's 2 problems
    problems = merged["tasks"]["synthesize"]["problems"]
    assert list(problems) == list(whole["tasks"]["synthesize"]["problems"]) == ["Python/0", "Python/1"]
    codes = [[s["code"] for s in p["samples"]] for p in problems.values()]
    assert codes == [[s["code"] for s in p["samples"]] for p in whole["tasks"]["synthesize"]["problems"].values()]
    assert merged["tasks"]["synthesize"]["summary"]["problems"] == 2
    assert run.merge(first, [second])["tasks"] == merged["tasks"]  # what both have agrees: added once
    tampered = json.loads(second.read_text())
    tampered["tasks"]["synthesize"]["problems"]["Python/1"]["samples"][0]["code"] = "def other(): pass"
    second.write_text(json.dumps(tampered))
    with pytest.raises(ValueError, match="differ on synthesize Python/1"):
        run.merge(first, [second])
    other = run.run(args_for(fake_model, tmp_path, task="synthesize", decoding="plain", run_name="other",
                             shard="1/2", max_tokens=99))
    with pytest.raises(ValueError, match="max_tokens"):
        run.merge(first, [other])


def test_readme_states_the_shipped_models_numbers_and_the_gap_to_tinycodelm():
    def row(model, fmt, n, problems, p1, p10=None):
        return {"task": "synthesize", "model": model, "format": fmt, "n": n, "temperature": 0.2 if n > 1 else 0.0,
                "problems": problems, "summary": {"pass_at_k": {"1": p1, **({"10": p10} if p10 else {})}}}

    shipped = "SmolLM2-135M-Instruct + editseq-lintseq-lora (abcdef12)"
    table = [row(shipped, "lintseq (checked)", 1, 164, 0.043), row(shipped, "lintseq (checked)", 10, 164, 0.05, 0.12),
             row(shipped, "lintseq (plain)", 10, 164, 0.09, 0.2), row("SmolLM2-135M-Instruct", "chat", 1, 164, 0.037),
             row("SmolLM2-135M-Instruct + other (99999999)", "lintseq (checked)", 20, 164, 0.5, 0.6)]
    text = report.shipped_summary(table, adapter_sha256="abcdef12" + "0" * 56)
    assert "pass@1 **5.0**, pass@10 **12.0** (n 10, T 0.2, 164 problems)" in text
    assert "the base model (chat): pass@1 **3.7** (n 1, T 0, 164 problems)" in text
    assert text.endswith("-7.8 points at pass@1, -8.6 points at pass@10.")
    assert report.shipped_summary(table, adapter_sha256="f" * 64) == "The shipped model has no HumanEval run yet."


class Recorder(FakeRuntime):
    """FakeRuntime that keeps every prompt it is sent."""

    def __init__(self):
        super().__init__(spec=SimpleNamespace(n_ctx=4096, adapter=None))
        self.prompts = []

    def generate(self, prompt, **kwargs):
        self.prompts.append(prompt)
        return super().generate(prompt, **kwargs)


@pytest.mark.parametrize("fmt", tasks.FORMATS)
def test_fix_and_explain_send_the_prompts_the_features_send(fmt):
    """The harness scores the shipped code paths: the prompts it sends for a problem are those the
    repair and explain features send for the same function (and ``example_prompt`` records them)."""
    from editseq.explain import explain
    from editseq.pysource import enclosing_function
    from editseq.repair import repair

    problem = PROBLEMS[0]
    harness = Recorder()
    tasks.generate("fix", problem, fmt, tasks.Generator(harness), tasks.GenSettings(), seed=0)
    feature = Recorder()
    repair(feature, tasks.lint_gate(), tasks.fix_file(problem), 0, name=problem.entry_point,
           edits=fmt == "lintseq")
    assert harness.prompts and harness.prompts == feature.prompts
    assert tasks.example_prompt("fix", problem, fmt, tasks.Generator(Recorder())) == feature.prompts[0]
    assert "Fix bugs in" in feature.prompts[0] and "check(has_close_elements)" in feature.prompts[0]

    harness = Recorder()
    tasks.generate("explain", problem, fmt, tasks.Generator(harness), tasks.GenSettings(), seed=0)
    feature = Recorder()
    text = tasks.explain_file(problem)
    explain(feature, text.split("\n"), enclosing_function(text, 0, problem.entry_point),
            max_chars=len(problem.docstring))
    assert harness.prompts[0] == feature.prompts[0]
    assert tasks.example_prompt("explain", problem, fmt, tasks.Generator(Recorder())) == feature.prompts[0]


def test_fixed_within_k_counts_problems_fixed_by_one_of_the_first_k_attempts():
    def sample(passed, attempts_offered):
        return [{"passed": passed, "extra": {"candidates": [{"attempt": a, "offered": o} for a, o in attempts_offered]}}]

    samples = [sample(True, [(0, True)]), sample(True, [(0, False), (3, True)]), sample(False, [(1, False)]),
               sample(False, [(2, True)])]  # offered by its checks, yet the hidden test fails it
    assert [report.fixed_within(samples, k) for k in (1, 3, 4, 10)] == [0.25, 0.25, 0.5, 0.5]


def test_the_tiers_table_takes_each_cell_from_the_tiers_own_results(tmp_path):
    def row(task, model, fmt, n, problems, p1, protocol=""):
        return {"task": task, "model": model, "format": fmt, "n": n, "temperature": 0.0, "problems": problems,
                "protocol": protocol, "summary": {"pass_at_k": {"1": p1}}}

    small, coder = "a" * 64, "c" * 64
    table = [row("synthesize", f"SmolLM2-135M-Instruct + lora ({small[:8]})", "lintseq (checked)", 10, 164, 0.05),
             row("synthesize", f"Qwen2.5-Coder-0.5B-Instruct + lora ({coder[:8]})", "lintseq (checked)", 1, 40, 0.5),
             row("synthesize", f"Qwen2.5-Coder-0.5B-Instruct + old ({'d' * 8})", "lintseq (checked)", 1, 164, 0.2),
             row("fix", f"SmolLM2-135M-Instruct + lora ({small[:8]})", "replacement edits", 1, 164, 0.1, "feature"),
             row("fix", "Qwen2.5-Coder-0.5B-Instruct", "chat rewrite", 1, 164, 0.34, "feature"),
             row("explain", "SmolLM2-135M-Instruct", "chat", 1, 164, 0.07, "feature"),
             row("explain", "Qwen2.5-Coder-0.5B-Instruct", "chat", 1, 164, 0.35, "feature")]
    completion = [{"adapter_sha256": coder, "summary": {"cases": 100, "exact": 0.2, "similarity": 0.5, "offered": 0.9}}]
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "coder.json").write_text(json.dumps({"loads": {"idle": [
        {"lines": 54, "first_line_p50_ms": 1.0, "server_rss_mb": 1.0},
        {"lines": 296, "shown_first_line_p50_ms": 600.4, "first_line_p50_ms": 700, "server_rss_mb": 1466.2}]}}))
    readme = ("<!-- latency-bench:coder:begin -->\n<!-- generated by `python bench/latency.py --readme` from "
              "bench/coder.json; do not edit -->\n")
    block = report.tiers_block(table, completion, readme, tmp_path,
                               adapters={"default": ("SmolLM2-135M-Instruct", small),
                                         "coder": ("Qwen2.5-Coder-0.5B-Instruct", coder)})
    default_row, coder_row = [line for line in block.splitlines() if line.startswith("| default")
                              or line.startswith("| coder")]
    assert "| 5.0 (n 10, 164) | - | 10.0 (n 1, 164) | 7.0 (n 1, 164) | - | - |" in default_row
    assert "| 50.0 (n 1, 40 (partial)) | 20.0 / 0.50 / 90.0 | 34.0 (n 1, 164) | 35.0 (n 1, 164) | 600 ms | 1466 MB |" \
        in coder_row
