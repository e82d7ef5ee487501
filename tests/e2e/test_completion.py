"""Inline completion end to end: VS Code's capabilities, the real model, the real lint gate."""

import asyncio
import re
import sysconfig
from pathlib import Path

import pytest
import pytest_lsp
from editseq.lintgate import Linter, new_errors
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.lsp_client import eventually, replace_document

from .conftest import DATA, E2E_OPTIONS, SERVER_COMMAND, apply_inline

pytestmark = pytest.mark.e2e
URI = "file:///workspace/shapes.py"
SOURCE = (DATA / "completion" / "shapes.py").read_text()
CURSOR = types.Position(line=12, character=4)  # inside rectangle_perimeter, after its docstring


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND), scope="module")
async def client(lsp_client: LanguageClient):
    result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options=E2E_OPTIONS,
    ))
    assert result.capabilities.inline_completion_provider is not None
    assert result.capabilities.code_action_provider is not None
    lsp_client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1, text=SOURCE)))
    yield
    await lsp_client.shutdown_session()


def inline_params(uri=URI, position=CURSOR):
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position,
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked))


def suggest_logs(client: LanguageClient) -> list[str]:
    return [m.message for m in client.log_messages if m.message.startswith("editseq suggest")]


async def test_every_offered_completion_applies_and_adds_no_lint_error(client: LanguageClient):
    result = await client.text_document_inline_completion_async(inline_params())
    assert isinstance(result, types.InlineCompletionList)
    # reported when computed: the first lines at once, the whole edit when it is decoded
    logs = await eventually(lambda: [line for line in suggest_logs(client) if "samples=" in line],
                            what="the whole edit's report")
    assert "samples=0" not in logs[-1], logs[-1]
    linter = Linter()
    before = linter.messages(SOURCE)
    for item in result.items:
        after_text = apply_inline(SOURCE, item)
        assert after_text != SOURCE
        assert not new_errors(before, linter.messages(after_text)), item.insert_text


async def test_cancelled_request_stops_and_next_request_is_answered(client: LanguageClient):
    # The cancel follows the request at once, so it reaches the server while the model is still
    # in the prefill: deterministic, whatever the machine's speed (the scripted-model protocol
    # suite checks that generation stops at the next token).
    slow = {"maxTokens": 400, "samples": 1, "lintGate": False, "temperature": 1.0, "firstLinesFirst": False}
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"editseq": slow}))
    request = asyncio.ensure_future(client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(), msg_id="to-cancel"))
    await asyncio.sleep(0)  # the request is written first
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="to-cancel"))
    with pytest.raises(Exception, match="cancel"):
        await request
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"editseq": E2E_OPTIONS}))
    result = await client.text_document_inline_completion_async(inline_params())
    assert isinstance(result, types.InlineCompletionList)


async def test_unknown_document_and_broken_buffer_do_not_crash(client: LanguageClient):
    assert await client.text_document_inline_completion_async(
        inline_params(uri="file:///workspace/not-open.py")) is None
    broken_uri = "file:///workspace/broken.py"
    broken = "def f(:\n    return (\n\n"
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=broken_uri, language_id="python", version=1, text=broken)))
    result = await client.text_document_inline_completion_async(
        inline_params(uri=broken_uri, position=types.Position(line=2, character=0)))
    assert isinstance(result, types.InlineCompletionList)
    linter = Linter()
    for item in result.items:
        assert not new_errors(linter.messages(broken), linter.messages(apply_inline(broken, item)))


async def test_invalid_settings_are_reported_and_defaults_used(client: LanguageClient):
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"editseq": {**E2E_OPTIONS, "maxTokens": "many"}}))
    await asyncio.sleep(0.2)
    warnings = [m.message for m in client.messages if "maxTokens" in m.message]
    assert warnings and "using" in warnings[-1]
    result = await client.text_document_inline_completion_async(inline_params())
    assert isinstance(result, types.InlineCompletionList)


async def test_a_long_file_is_answered_at_once_then_from_its_whole_window(client: LanguageClient):
    # 300 lines of real code (about 1,700 tokens): the first request would prefill them all; it
    # is answered from the short context, and the server reads the whole window behind it
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lines = (stdlib / "heapq.py").read_text().split("\n")
    head = lines[: next(i for i in range(300, len(lines)) if lines[i].startswith("def ")) + 1]
    uri = "file:///workspace/long.py"
    typed: list[str] = []

    async def ask() -> str:
        """Type a comment line into the function (a model call, not the last edit's rest), ask."""
        typed.append(f"    # step {len(typed)}")
        text = "\n".join(head + typed) + "\n    \n"
        if len(typed) == 1:
            client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text)))
        else:
            replace_document(client, uri, text, len(typed))
        seen = len(suggest_logs(client))
        cursor = types.Position(line=len(head) + len(typed), character=4)
        await client.text_document_inline_completion_async(inline_params(uri, cursor))
        logs = await eventually(lambda: [line for line in suggest_logs(client)[seen:]
                                         if line.startswith(f"editseq suggest {uri}:") and "samples=" in line],
                                what="the whole edit's report")
        return logs[-1]

    def window_start(log: str) -> int:
        return int(re.search(r"window=(\d+)-", log).group(1))

    first = await ask()
    assert "from the short context" in first, first
    for _ in range(30):  # the whole window takes a few seconds to read on 2 cores
        await asyncio.sleep(1.0)
        last = await ask()
        if "from the short context" not in last:
            break
    assert "from the short context" not in last, last
    assert window_start(last) < window_start(first) - 40  # it sees far more of the file
