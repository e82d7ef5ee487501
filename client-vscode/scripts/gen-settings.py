"""Generate contributes.configuration in client-vscode/package.json from editseq's options.

The server's ``editseq.options.option_docs()`` is the single source of the server settings; the
few client-only settings (interpreter, trace) are declared here. Run with the Python that has
editseq installed:

    /work/venv/bin/python client-vscode/scripts/gen-settings.py          # rewrite package.json
    /work/venv/bin/python client-vscode/scripts/gen-settings.py --check  # exit 1 if out of date

tests/unit/test_vscode_settings.py runs the same comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from editseq.options import option_docs

PACKAGE_JSON = Path(__file__).resolve().parent.parent / "package.json"
SECTION = "editseq"
# The section ids are read back by the extension (src/common/serverOptions.ts): every property of
# the "server" section is sent to the server, nothing of the "client" section is.
CLIENT_SECTION_ID = "editseq.client"
SERVER_SECTION_ID = "editseq.server"

CLIENT_SETTINGS: dict[str, dict[str, Any]] = {
    f"{SECTION}.interpreter": {
        "type": "string",
        "default": "",
        "scope": "resource",
        "markdownDescription": (
            "Python interpreter that runs the editseq server (`<python> -m editseq.cli serve`). "
            "Empty: the interpreter selected in the Python extension, else `python3`. "
            "`${workspaceFolder}` and `~` are expanded."
        ),
        "order": 0,
    },
    f"{SECTION}.serverLogLevel": {
        "type": "string",
        "enum": ["error", "warning", "info", "debug"],
        "default": "warning",
        "scope": "window",
        "markdownDescription": (
            "Level of the server's own log (its stderr) in the editseq output channel; the "
            "per-suggestion lines come through LSP at every level. Changing it restarts the server."
        ),
        "order": 1,
    },
    f"{SECTION}.trace.server": {
        "type": "string",
        "enum": ["off", "messages", "verbose"],
        "default": "off",
        "scope": "window",
        "markdownDescription": "Log the LSP messages between VS Code and the editseq server.",
        "order": 2,
    },
}


def server_property(row: dict[str, Any], order: int) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "type": row["type"],
        "default": row["default"],
        "scope": "window",
        "markdownDescription": row["doc"],
        "order": order,
    }
    if row["minimum"] is not None:
        prop["minimum"] = row["minimum"]
    if row["maximum"] is not None:
        prop["maximum"] = row["maximum"]
    if row.get("choices"):
        prop["enum"] = list(row["choices"])
    return prop


def configuration() -> list[dict[str, Any]]:
    """The expected value of package.json's contributes.configuration."""
    return [
        {
            "id": CLIENT_SECTION_ID,
            "title": "editseq",
            "order": 0,
            "properties": CLIENT_SETTINGS,
        },
        {
            "id": SERVER_SECTION_ID,
            "title": "editseq: model and suggestions (sent to the server)",
            "order": 1,
            "properties": {
                f"{SECTION}.{row['name']}": server_property(row, i)
                for i, row in enumerate(option_docs())
            },
        },
    ]


def render(package: dict[str, Any]) -> str:
    return json.dumps(package, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if package.json is out of date")
    args = parser.parse_args(argv)
    text = PACKAGE_JSON.read_text(encoding="utf-8")
    package = json.loads(text)
    package.setdefault("contributes", {})["configuration"] = configuration()
    expected = render(package)
    if args.check:
        if text != expected:
            print(f"{PACKAGE_JSON} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if text != expected:
        PACKAGE_JSON.write_text(expected, encoding="utf-8")
        print(f"updated {PACKAGE_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
