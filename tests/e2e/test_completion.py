"""Inline completion end to end: VS Code's capabilities, the real model, the real lint gate."""

import asyncio

import pytest
import pytest_lsp
from editseq.lintgate import Linter, new_errors
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.lsp_client import eventually

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
