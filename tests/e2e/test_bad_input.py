"""Bad input end to end: a missing or corrupt model, a huge file; the server keeps serving."""

import asyncio

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from .conftest import E2E_OPTIONS, SERVER_COMMAND

pytestmark = pytest.mark.e2e
URI = "file:///workspace/small.py"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND), scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options={**E2E_OPTIONS, "model": "/nonexistent/model.gguf"}))
    lsp_client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=URI, language_id="python", version=1, text="def double(x):\n    \n")))
    yield
    await lsp_client.shutdown_session()


def request(client: LanguageClient, uri: str = URI, line: int = 1, character: int = 4):
    return client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))


async def wait_for_message(client: LanguageClient, needle: str) -> str:
    for _ in range(100):
        found = [m.message for m in client.messages if needle in m.message]
        if found:
            return found[-1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no message containing {needle!r}: {[m.message for m in client.messages]}")


async def test_missing_model_is_reported_with_path_and_fix_and_the_server_keeps_serving(client, tmp_path):
    assert await request(client) is None
    message = await wait_for_message(client, "/nonexistent/model.gguf")
    assert "not found" in message and "fix:" in message
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"this is not a model")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"editseq": {**E2E_OPTIONS, "model": str(corrupt)}}))
    assert await request(client) is None
    assert "not GGUF" in await wait_for_message(client, str(corrupt))
    # then a good model: the same server answers normally
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"editseq": E2E_OPTIONS}))
    assert isinstance(await request(client), types.InlineCompletionList)


async def test_huge_file_is_refused_with_a_message(client):
    uri = "file:///workspace/huge.py"
    text = "x = 1\n" * 200_000  # 1.2 MB, over maxFileBytes
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=text)))
    result = await request(client, uri, 100, 0)
    assert result is None or not result.items
    assert "maxFileBytes" in await wait_for_message(client, "maxFileBytes")
