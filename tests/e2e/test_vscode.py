"""VS Code end to end: the extension's own checks, then the extension in a real VS Code.

``npm run compile``, ``npm run lint`` (eslint + tsc --noEmit) and ``npm test`` (the unit tests) in
client-vscode/, then client-vscode/scripts/e2e.sh: code-server (VS Code 1.139) in Debian's
chromium with the packaged extension, four runs: a scripted model (ghost text accepted with Tab,
exactly the scripted line); a slow scripted model for the function commands (#20: an
implementation refused because the user typed before accepting it, and a docstring refused
because the user typed while it was written, each shown as a warning with the file holding only
what was typed; #18: "Ask Again" on the refusal, the implementation accepted); an interpreter
without editseq (status bar and fix message); and the real default model (its ghost text
accepted with Tab, "editseq: Explain Function", then "editseq: Implement Function" on a stub,
accepted, its title's claim re-checked here).

Always runs when CI=true; elsewhere only with EDITSEQ_E2E_VSCODE=1, since the first run installs
Debian packages, Node 24 and code-server (minutes) and the runs take about a minute each.
Screenshots, logs and result.json land in client-vscode/test-output/<run>/.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from editseq.pysource import enclosing_function
from editseq.repair import ISOLATION_WORDS, run_checks
from editseq.sandbox import resolve_isolation

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client-vscode"
E2E_SCRIPT = CLIENT / "scripts" / "e2e.sh"
OUT = Path(os.environ.get("EDITSEQ_E2E_OUT", CLIENT / "test-output"))
SCRIPTED_LINE = "    return 2 * (width + height)"  # what tests/nvim/scripted_server.py offers
STUB = (ROOT / "tests" / "data" / "functions" / "implement.py").read_text()  # add(a, b): pass
SCALE = "def scale(values, factor):\n    return [value * factor for value in values]\n"  # e2e.sh writes it

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
ENABLED = IN_CI or os.environ.get("EDITSEQ_E2E_VSCODE") == "1"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not ENABLED,
        reason="VS Code e2e (code-server + chromium, installs them on first use) runs in CI "
        "(CI=true) or with EDITSEQ_E2E_VSCODE=1",
    ),
]


def run(command: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=CLIENT,
        env={**os.environ, "EDITSEQ_PYTHON": sys.executable, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tail(result: subprocess.CompletedProcess, chars: int = 6000) -> str:
    return (result.stdout + result.stderr)[-chars:]


@pytest.fixture(scope="module")
def node_path() -> str:
    """PATH with e2e.sh's Node 24 and npm 11 first, after its setup (apt, npm ci, code-server)."""
    setup = run(["bash", str(E2E_SCRIPT), "--setup"], timeout=45 * 60)
    print(setup.stdout)
    if setup.returncode != 0:
        pytest.fail(f"e2e.sh --setup failed ({setup.returncode}):\n{tail(setup)}")
    bin_dir = run(["bash", str(E2E_SCRIPT), "--print-path"], timeout=60).stdout.strip()
    assert Path(bin_dir, "node").exists(), bin_dir
    return bin_dir + os.pathsep + os.environ.get("PATH", "")


@pytest.mark.parametrize("script", ["compile", "lint", "test"])
def test_extension_npm_script(node_path: str, script: str):
    result = run(["npm", "run", script], timeout=15 * 60, PATH=node_path)
    print(result.stdout)
    assert result.returncode == 0, f"npm run {script} failed ({result.returncode}):\n{tail(result)}"


def test_vscode_e2e(node_path: str, capsys):
    result = run(["bash", str(E2E_SCRIPT)], timeout=40 * 60, PATH=node_path)
    print(result.stdout)
    where = f"screenshots and logs: {OUT}/{{scripted,functions,missing,real}}/"
    with capsys.disabled():
        print(f"\n[test_vscode] e2e.sh exited {result.returncode}; {where}")
    assert result.returncode == 0, f"e2e.sh failed ({result.returncode}); {where}\n{tail(result)}"

    # What the script reports, read back: the scripted line in the scripted run, the real model's
    # own text in the real run (inserted into the saved file), and an explanation shown.
    scripted = json.loads((OUT / "scripted" / "result.json").read_text())
    assert SCRIPTED_LINE in scripted["saved"].split("\n")
    real = json.loads((OUT / "real" / "result.json").read_text())
    assert real["inserted"].strip() and real["inserted"] in real["saved"]
    assert SCRIPTED_LINE not in real["saved"].split("\n")
    assert "loaded in" in real["model"], real["model"]
    assert real["explanation"]["function"] == "circle_area" and real["explanation"]["text"]

    # The function commands on the slow scripted model (it implements add as `return a + b`).
    functions = json.loads((OUT / "functions" / "result.json").read_text())
    sandbox = ISOLATION_WORDS[resolve_isolation()]
    refused, implemented, docstring = functions["refused"], functions["implemented"], functions["docstring"]
    edited = "# edited while the question was open\n" + STUB
    assert refused["message"] == "editseq: implement.py changed while add was being implemented; ask again"
    assert refused["saved"] == edited  # only what the user typed
    assert implemented["asked"] == f"Implement add: passes 2/2 docstring examples, {sandbox} (editseq). Apply it?"
    assert any("implementing add" in shown for shown in implemented["progress"]), implemented["progress"]
    assert implemented["saved"] == edited.replace("    pass\n", "    return a + b\n")
    assert docstring["message"] == "editseq: scale.py changed while the docstring of scale was written; ask again"
    assert docstring["saved"] == SCALE + "# typed while the docstring was written"
    assert functions["suggestions"] == 0  # inline suggestions off: the replies went to the commands

    # The real model's implementation of add, accepted: its title's claim holds when re-checked.
    asked = real["implemented"]["asked"]
    claim = re.fullmatch(rf"Implement add: passes (\d+)/(\d+) docstring examples, {sandbox} \(editseq\)\. Apply it\?",
                         asked)
    assert claim, asked
    saved = real["implemented"]["saved"]
    assert "    pass\n" not in saved and STUB.removesuffix("    pass\n") in saved  # signature, docstring kept
    checks = run_checks(saved, enclosing_function(saved, 0, "add"))  # in the sandbox, as the server does
    assert (checks.passed, checks.total) == (int(claim[1]), int(claim[2])), checks.output
    for name in (
        "scripted/vscode-ghost-text.png",
        "functions/vscode-implement-stale-refused.png",
        "functions/vscode-implement.png",
        "functions/vscode-docstring-refused.png",
        "real/vscode-ghost-text.png",
        "real/vscode-explain.png",
        "real/vscode-implement.png",
        "missing/vscode-not-installed.png",
    ):
        assert (OUT / name).stat().st_size > 10_000, name
