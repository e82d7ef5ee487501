"""The real server (create_server) on a scripted model: fast protocol tests, no model file read.

Each fixture starts ``tests/nvim/scripted_server.py`` with the scripted model's behaviour set
through its environment (tests/scripted.py), initializes it as VS Code would, and records every
``editseq/status`` notification and ``textDocument/publishDiagnostics`` it sends.
"""

import json
import os
import sys
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SCRIPTED_SERVER = Path(__file__).resolve().parents[1] / "nvim" / "scripted_server.py"
LINE = "    return 2 * (width + height)"  # what the scripted model offers at the cursor
OPTIONS = {"samples": 2, "temperature": 0.0}


def config(**env: str) -> ClientServerConfig:
    return ClientServerConfig(server_command=[sys.executable, str(SCRIPTED_SERVER)],
                              server_env={**os.environ, **env})


def plain(value):
    """pygls hands a custom notification's params over as named tuples: back to JSON values."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


async def start(client: LanguageClient, options: dict | None = None) -> None:
    client.statuses = []
    client.published = []

    @client.feature("editseq/status")
    def status(params):
        client.statuses.append(plain(params))

    # pytest-lsp keeps only the latest diagnostics per document; keep every publication too
    features = client.protocol.fm.features
    keep_latest = features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

    def publish(params: types.PublishDiagnosticsParams):
        client.published.append(params)
        return keep_latest(params)

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish

    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options={**OPTIONS, **(options or {})}))


@pytest_lsp.fixture(config=config(), scope="module")
async def client(lsp_client: LanguageClient):
    await start(lsp_client)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=config(EDITSEQ_SCRIPTED_TOKEN_S="0.25"), scope="module")
async def slow_client(lsp_client: LanguageClient):
    """A scripted model that takes 2 s a reply, checking the cancel flag every 0.25 s."""
    await start(lsp_client, {"samples": 1})
    yield
    await lsp_client.shutdown_session()


NEXT_EDIT_REPLIES = [" @@\n+    return y", "@@ -0,0 +1 @@\n+import math"]


@pytest_lsp.fixture(config=config(EDITSEQ_SCRIPTED_REPLIES=json.dumps(NEXT_EDIT_REPLIES)),
                    scope="module")
async def next_edit_client(lsp_client: LanguageClient):
    """A scripted model whose anchored sample adds a lint error and whose free sample inserts
    an import at the top of the file."""
    await start(lsp_client)
    yield
    await lsp_client.shutdown_session()


MULTILINE = ["@@ -2,0 +3,3 @@\n+    total = width + height\n+    total = 2 * total\n+    return total"]


@pytest_lsp.fixture(config=config(EDITSEQ_SCRIPTED_REPLIES=json.dumps(MULTILINE),
                                  EDITSEQ_SCRIPTED_TOKEN_S="0.15"), scope="module")
async def multiline_client(lsp_client: LanguageClient):
    """A scripted model that writes a three-line edit at the cursor in 1.2 s."""
    await start(lsp_client, {"samples": 1})
    yield
    await lsp_client.shutdown_session()


CACHED_LINE = "total = value_1 + value_2"


@pytest_lsp.fixture(config=config(EDITSEQ_SCRIPTED_CACHE="1", EDITSEQ_SCRIPTED_LINE=CACHED_LINE),
                    scope="module")
async def caching_client(lsp_client: LanguageClient):
    """A scripted model with a KV cache (tests/scripted.py's CachingRuntime)."""
    await start(lsp_client)
    yield
    await lsp_client.shutdown_session()
