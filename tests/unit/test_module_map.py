"""The README's module map lists every module of the server, the model tools and the benches."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAPPED_FOLDERS = ("server", "model", "bench")
FOLDERS_AS_ONE_ROW = ("model/sources/", "model/eval/", "tests/unit/", "tests/protocol/", "tests/e2e/")


def listed() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- module-map:begin -->")[1].split("<!-- module-map:end -->")[0]
    return {path for row in table.splitlines()[2:] for path in re.findall(r"`([\w/.]+)`", row.split("|")[1])}


def modules() -> set[str]:
    found = set()
    for folder in MAPPED_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if path.name == "__init__.py" and relative.count("/") < 2 and folder != "server":
                continue  # a package marker, not a module of its own
            if relative in ("server/__init__.py", "model/__init__.py", "server/lsp/__init__.py"):
                continue
            group = next((g for g in FOLDERS_AS_ONE_ROW if relative.startswith(g)), None)
            found.add(group or relative)
    return found


def test_the_module_map_matches_the_tree():
    rows = listed()
    missing, stale = modules() - rows, {r for r in rows - modules() if not (ROOT / r).exists()}
    assert not missing, f"modules missing from the README's map: {sorted(missing)}"
    assert not stale, f"the README's map lists what is not in the tree: {sorted(stale)}"
