"""The sandbox: pass/fail, wall-clock and memory limits, isolation from the caller's directory."""

import os

from editseq.sandbox import Job, Limits, run_many, run_program

FAST = Limits(timeout_s=5.0, memory_mb=512)


def test_a_passing_program_passes_and_its_output_is_captured():
    result = run_program("print('hello')\n", FAST)
    assert result.passed and result.status == "passed"
    assert result.returncode == 0
    assert result.stdout.strip() == "hello"
    assert not result.timed_out and not result.memory_exceeded


def test_a_failing_assert_fails_with_its_traceback():
    result = run_program("def f():\n    return 1\n\nassert f() == 2\n", FAST)
    assert not result.passed and result.status == "failed"
    assert result.returncode == 1
    assert "AssertionError" in result.stderr
    assert 'main.py", line 4' in result.stderr


def test_an_infinite_loop_is_stopped_by_the_timeout():
    result = run_program("while True:\n    pass\n", Limits(timeout_s=1.0, memory_mb=512))
    assert result.timed_out and not result.passed
    assert result.elapsed_s < 4


def test_an_allocation_without_bound_is_stopped_by_the_memory_limit():
    source = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n"
    result = run_program(source, Limits(timeout_s=20.0, memory_mb=256))
    assert result.memory_exceeded and not result.passed
    assert "MemoryError" in result.stderr


def test_the_program_runs_in_a_fresh_directory_and_the_callers_cwd_is_untouched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    source = (
        "import os\n"
        "print(os.getcwd())\n"
        "print(sorted(os.listdir('.')))\n"
        "open('written.txt', 'w').write('x')\n"
        "os.remove('keep.txt') if os.path.exists('keep.txt') else None\n"
    )
    result = run_program(source, FAST)
    assert result.passed, result.output
    cwd, listing = result.stdout.splitlines()[:2]
    assert cwd != str(tmp_path) and "editseq-sandbox-" in cwd
    assert listing == "['main.py']"
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]
    assert not os.path.exists(cwd), "the temporary directory is removed after the run"


def test_environment_is_stripped(monkeypatch):
    monkeypatch.setenv("EDITSEQ_SECRET", "do-not-leak")
    result = run_program("import os\nprint(sorted(os.environ))\n", FAST)
    assert "EDITSEQ_SECRET" not in result.stdout
    assert "HOME" in result.stdout


def test_extra_files_and_file_name():
    result = run_program("import helper\nprint(helper.VALUE)\n", FAST, filename="solution.py",
                         files={"helper.py": "VALUE = 42\n"})
    assert result.passed, result.output
    assert result.stdout.strip() == "42"


def test_output_is_truncated():
    result = run_program("print('x' * 100000)\n", Limits(timeout_s=5.0, max_output_chars=1000))
    assert result.passed
    assert len(result.stdout) < 1200 and "bytes cut" in result.stdout


def test_guard_disables_spawning_processes():
    result = run_program("import subprocess\nsubprocess.run(['true'])\n", FAST)
    assert not result.passed and "PermissionError" in result.stderr


def test_run_many_keeps_order():
    jobs = [Job(f"import sys\nsys.exit({i % 2})\n") for i in range(4)]
    results = run_many(jobs, FAST, workers=2)
    assert [r.passed for r in results] == [True, False, True, False]
