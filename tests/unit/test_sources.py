"""Training-data sources (editseq.model.sources): MBPP, mined functions, decontamination."""

from __future__ import annotations

import ast
import json
import sysconfig
import warnings
from pathlib import Path

import pytest
from editseq.lintgate import Linter
from editseq.model.sources import Program, mbpp, mined
from editseq.model.sources.decontaminate import DEFAULT_HUMANEVALPACK, Decontaminator

needs_data = pytest.mark.skipif(
    not mbpp.DEFAULT_PATH.exists() or not DEFAULT_HUMANEVALPACK.exists(),
    reason="../shared/data is not beside the repository",
)


@pytest.fixture(scope="module")
def linter() -> Linter:
    return Linter()


@pytest.fixture(scope="module")
def decontaminator() -> Decontaminator:
    return Decontaminator()


@needs_data
def test_mbpp_loader_reads_every_training_task() -> None:
    programs = list(mbpp.load())
    assert len(programs) == 474
    assert len({p.id for p in programs}) == 474
    assert {p.licence for p in programs} == {"CC-BY-4.0"}
    for program in programs:
        assert program.drop is None, (program.id, program.drop)
        assert "\r" not in program.program
        assert program.instruction and program.instruction == program.instruction.strip()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in some MBPP regexes
            tree = ast.parse(program.program)
        indents: dict[int, int] = {}  # first statement of each line -> its column
        for node in ast.walk(tree):
            if isinstance(node, ast.stmt):
                indents[node.lineno] = min(indents.get(node.lineno, node.col_offset), node.col_offset)
        assert all(col % 4 == 0 for col in indents.values()), program.id
        lines = program.program.split("\n")
        assert all(not lines[row - 1].startswith("\t") for row in indents), program.id


@needs_data
def test_mbpp_normalisation_keeps_the_code(linter: Linter) -> None:
    first = next(mbpp.load())  # CRLF and tab-indented in the file
    assert first.program.split("\n")[2:4] == [
        "def min_cost(cost, m, n):",
        "    tc = [[0 for x in range(C)] for x in range(R)]",
    ]
    assert linter.messages(first.program + "\n") == []


@needs_data
def test_decontamination_drops_humanevalpack_entry_points(decontaminator: Decontaminator) -> None:
    task = json.loads(DEFAULT_HUMANEVALPACK.read_text().split("\n")[0])
    same_name = Program("t/1", "mined", "MIT", "i", f"def {task['entry_point']}(x):\n    return x")
    assert decontaminator.reason(same_name) == f"HumanEvalPack entry point {task['entry_point']}"

    renamed = (task["prompt"] + task["canonical_solution"]).replace(task["entry_point"], "renamed")
    renamed = renamed.replace("numbers", "values").replace("threshold", "limit")
    solution = Program("t/2", "mined", "MIT", "i", renamed)
    assert decontaminator.reason(solution) == f"HumanEvalPack canonical solution {task['task_id']}"

    test_split = Program("mbpp/11", "mbpp", "CC-BY-4.0", "i", "x = 1", meta={"task_id": 11})
    assert decontaminator.reason(test_split).startswith("MBPP test split")

    unrelated = Program("t/3", "mined", "MIT", "i", "def shout(text):\n    return text.upper() + '!'")
    assert decontaminator.reason(unrelated) is None


@needs_data
def test_decontamination_of_mbpp(decontaminator: Decontaminator) -> None:
    kept, dropped = decontaminator.split(mbpp.load())
    assert len(kept) + len(dropped) == 474
    assert dropped["mbpp/626"] == "HumanEvalPack entry point triangle_area"


def _stdlib_file(name: str) -> mined.ModuleFile:
    path = Path(sysconfig.get_paths()["stdlib"]) / f"{name}.py"
    return mined.ModuleFile(path, name, mined.STDLIB_LICENCE, "stdlib")


def test_mined_functions_are_self_contained_and_lint_clean(linter: Linter) -> None:
    miner = mined.Miner(linter)
    names = ("genericpath", "bisect", "base64")
    programs = [p for name in names for p in miner.from_file(_stdlib_file(name))]
    assert len(programs) >= 5
    for program in programs:
        assert program.licence == "PSF-2.0" and program.source == "mined"
        assert linter.messages(program.program + "\n") == []
        tree = ast.parse(program.program)
        function = tree.body[-1]
        assert isinstance(function, ast.FunctionDef)
        assert all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body[:-1])
        assert ast.get_docstring(function) is None  # the docstring is the instruction
        assert f"`{function.name}(" in program.instruction
        start = min([function.lineno] + [d.lineno for d in function.decorator_list])
        assert 3 <= function.end_lineno - start + 1 <= 60
        namespace: dict = {}
        code = compile(program.program, program.id, "exec")
        exec(code, namespace)  # noqa: S102 - stdlib code we just mined: imports resolve, def runs
        assert callable(namespace[function.name])


def test_mined_skips_private_and_duplicate_functions() -> None:
    miner = mined.Miner()
    file = _stdlib_file("genericpath")
    first = [p.id for p in miner.from_file(file)]
    again = list(miner.from_file(file))
    assert first and not again  # same bodies: all duplicates the second time
    assert miner.skipped["duplicate of an earlier function"] == len(first)
    assert all(not pid.split(".")[-1].startswith("_") for pid in first)
    assert not mined._public(("email", "_parseaddr")) and not mined._public(("tests", "x"))


def test_distribution_licence_prefers_expression() -> None:
    class Meta(dict):
        def get_all(self, key):
            return self.get(key + "s")

    class Dist:
        def __init__(self, meta):
            self.metadata = Meta(meta)

    assert mined.distribution_licence(Dist({"License-Expression": "MIT"})) == "MIT"
    assert mined.distribution_licence(Dist({"License": "BSD"})) == "BSD"
    classifiers = {"Classifiers": ["License :: OSI Approved :: Apache Software License"]}
    assert mined.distribution_licence(Dist(classifiers)) == "Apache-2.0"
    assert mined.distribution_licence(Dist({})) == "UNKNOWN"
    assert mined.is_copyleft("GPL-2.0-or-later") and not mined.is_copyleft("MIT")
