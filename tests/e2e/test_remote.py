"""``backend: openai`` against a real engine: llama-cpp-python's OpenAI-compatible server with the
base model and the shipped adapter, on 127.0.0.1 at a free port (tests/e2e/llama_server.py).

Two editseq servers run side by side with the same greedy settings, one on the local backend
(the adapter applied at run time, as the engine applies it: ``mergeAdapter: false``) and one
on the engine; inline completions, explain and repair must give the same offers.
"""

import re

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.lsp_client import eventually, inline_params, open_document

from .conftest import DATA, SERVER_COMMAND
from .llama_server import LlamaServer

pytestmark = pytest.mark.e2e
GREEDY = {"maxTokens": 32, "samples": 1, "temperature": 0.0, "mergeAdapter": False, "repairCandidates": 1}
SHAPES_URI, SHAPES = "file:///workspace/shapes.py", (DATA / "completion" / "shapes.py").read_text()
FIX_URI, FIX = "file:///workspace/humanevalfix.py", (DATA / "functions" / "humanevalfix.py").read_text()
STRLEN = next(i for i, row in enumerate(FIX.split("\n")) if "return len(string) - 1" in row)
CURSORS = [(12, 4), (9, 0), (7, 0)]  # in rectangle_perimeter; after circle_area; in its docstring line


@pytest.fixture(scope="module")
def engine():
    with LlamaServer() as server:
        yield server


async def _session(client: LanguageClient, options: dict) -> None:
    client.applied = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def accept(params: types.ShowMessageRequestParams):
        return types.MessageActionItem("Cancel")  # the reply says what was offered; nothing applied

    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), initialization_options=options))
    open_document(client, SHAPES_URI, SHAPES)
    open_document(client, FIX_URI, FIX)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND), scope="module")
async def local(lsp_client: LanguageClient):
    await _session(lsp_client, GREEDY)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND), scope="module")
async def remote(lsp_client: LanguageClient, engine: LlamaServer):
    await _session(lsp_client, {**GREEDY, "backend": "openai", "endpoint": engine.endpoint})
    yield
    await lsp_client.shutdown_session()


def whole_edits(client: LanguageClient) -> list[str]:
    """What each whole edit's report says was offered (its timings left out)."""
    return [re.sub(r" \(window=.*$", "", m.message) for m in client.log_messages
            if m.message.startswith("editseq suggest") and "samples=" in m.message]


async def inline(client: LanguageClient, line: int, character: int) -> tuple[list[str], str]:
    reports = len(whole_edits(client))
    result = await client.text_document_inline_completion_async(inline_params(SHAPES_URI, line, character))
    assert isinstance(result, types.InlineCompletionList)
    whole = await eventually(lambda: whole_edits(client)[reports:], timeout_s=60, what="the whole edit")
    return [item.insert_text for item in result.items], whole[0]


async def test_inline_completions_equal_the_local_backend(local: LanguageClient, remote: LanguageClient,
                                                          engine: LlamaServer):
    offered = 0
    for line, character in CURSORS:
        here = await inline(local, line, character)
        there = await inline(remote, line, character)
        assert there == here, f"at {line + 1}:{character + 1}"
        offered += bool(here[0])
    assert offered, "no cursor got an offer: the comparison proved nothing"
    statuses = [m.message for m in remote.messages if m.type <= types.MessageType.Warning]
    assert not statuses, statuses


def execute(client: LanguageClient, command: str, line: int = STRLEN):
    return client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=command, arguments=[FIX_URI, {"line": line, "character": 4}]))


async def test_explain_equals_the_local_backend(local: LanguageClient, remote: LanguageClient):
    here = await execute(local, "editseq.explainFunction")
    there = await execute(remote, "editseq.explainFunction")
    assert here["ok"] and here["text"].strip()
    assert there["ok"] and there["text"] == here["text"]


async def test_repair_equals_the_local_backend(local: LanguageClient, remote: LanguageClient,
                                               engine: LlamaServer):
    # strlen: the greedy candidate alone; gcd: greedy, then two sampled at the same seeds, the
    # last of which passes its doctests (so an offer is compared, not only refusals)
    gcd = next(i for i, row in enumerate(FIX.split("\n")) if "def greatest_common_divisor" in row) + 1
    keys = ("ok", "message", "verification", "checksBefore", "candidates")
    for line, candidates in ((STRLEN, 1), (gcd, 3)):
        for client, extra in ((local, {}), (remote, {"backend": "openai", "endpoint": engine.endpoint})):
            client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                settings={"editseq": {**GREEDY, **extra, "repairCandidates": candidates}}))
        here = await execute(local, "editseq.repairFunction", line)
        there = await execute(remote, "editseq.repairFunction", line)
        assert here["checksBefore"] == "0/2"
        assert {k: there.get(k) for k in keys} == {k: here.get(k) for k in keys}
    assert here["candidates"], "gcd got no candidate: the comparison proved little"
