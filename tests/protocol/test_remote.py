"""``backend: openai`` over the protocol: the real server (scripted tokenizer and local model)
against a stub model server that misbehaves on purpose (tests/openai_stub.py).

Each fault gives the user one message that names the endpoint and the fix, and no suggestion;
the server keeps serving, never blocks its event loop on the model server, and a cancel closes
the stream (the stub sees it closed within 100 ms); ``remoteFallback: local`` falls back.
"""

import asyncio
import socket
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp_client import eventually, inline_params, open_document
from tests.openai_stub import LINE, Stub

from .conftest import config, start

SOURCE = (
    "def rectangle_perimeter(width, height):\n"
    '    """Perimeter of a rectangle."""\n'
    "    \n"
)
URI = "file:///workspace/remote.py"
CANCEL_CLOSE_BOUND_S = 0.1  # the bound


@pytest.fixture(scope="module")
def stub():
    server = Stub()
    yield server
    server.close()


def remote(stub: Stub, **options) -> dict:
    return {"backend": "openai", "endpoint": stub.endpoint, "remoteModel": "ok", "samples": 1,
            "temperature": 0.0, **options}


def configure(client: LanguageClient, options: dict) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"editseq": options}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_lsp.fixture(config=config(), scope="module")
async def client(lsp_client: LanguageClient, stub: Stub):
    await start(lsp_client, remote(stub))
    open_document(lsp_client, URI, SOURCE)
    yield
    await lsp_client.shutdown_session()


def errors(client: LanguageClient, text: str) -> list[str]:
    return [m.message for m in client.messages
            if m.type == types.MessageType.Error and text in m.message]


async def test_a_completion_comes_from_the_model_server(client: LanguageClient, stub: Stub):
    configure(client, remote(stub))
    result = await client.text_document_inline_completion_async(inline_params(URI, 2, 4))
    (item,) = result.items
    assert item.insert_text == LINE
    body = stub.completions()[-1]["body"]
    assert body["model"] == "ok" and body["stream"] is True and body["stop"] == ["\n<|diff|>"]
    assert "Perimeter of a rectangle." in body["prompt"] and body["prompt"].endswith("@@ -2,0 +3")
    ready = await eventually(lambda: [s for s in client.statuses if s.get("suggestion")], what="a status")
    assert ready[-1]["model"] == f"ok at {stub.endpoint}"


FAULTS = {
    "http-500": "failed: HTTP 500 (stub says 500); fix: see the server's log",
    "garbage": "sent a malformed stream",
    "cut": "closed the connection before the answer ended",
    "short": "closed the stream before the answer ended",
    "ignore-stop": "ignored the stop strings",
    "http-401": "refused the API key",
}


@pytest.mark.parametrize("mode", list(FAULTS))
async def test_a_fault_is_one_message_and_no_suggestion_and_the_server_keeps_serving(
        client: LanguageClient, stub: Stub, mode: str):
    configure(client, remote(stub, remoteModel=mode))
    for _ in range(2):
        result = await client.text_document_inline_completion_async(inline_params(URI, 2, 4))
        assert result is None or not result.items
    (message,) = await eventually(lambda: errors(client, FAULTS[mode]), what="the fault's message")
    assert message.startswith(f"editseq: the model server at {stub.endpoint}") and "; fix: " in message
    status = await eventually(lambda: [s for s in client.statuses if s["state"] == "error"
                                       and FAULTS[mode] in s.get("message", "")], what="an error status")
    assert status
    configure(client, remote(stub))  # the server answers again: so does editseq
    result = await client.text_document_inline_completion_async(inline_params(URI, 2, 4))
    assert [item.insert_text for item in result.items] == [LINE]


async def test_refused_and_timed_out_servers_are_reported(client: LanguageClient, stub: Stub):
    port = free_port()
    configure(client, remote(stub, endpoint=f"http://127.0.0.1:{port}/v1"))
    result = await client.text_document_inline_completion_async(inline_params(URI, 2, 4))
    assert result is None or not result.items
    await eventually(lambda: errors(client, f"127.0.0.1:{port}/v1 refused the connection"),
                     what="the refusal's message")
    configure(client, remote(stub, remoteModel="silent", remoteTokenTimeout=0.5))
    result = await client.text_document_inline_completion_async(inline_params(URI, 2, 4))
    assert result is None or not result.items
    await eventually(lambda: errors(client, "sent nothing for 0.5 s; fix: "), what="the timeout's message")


async def test_explain_reports_the_fault_in_its_reply(client: LanguageClient, stub: Stub):
    configure(client, remote(stub, remoteChatModel="http-404"))
    reply = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="editseq.explainFunction", arguments=[URI, {"line": 1, "character": 4}]))
    assert reply["ok"] is False and reply["function"] == "rectangle_perimeter"
    assert reply["message"].startswith(f"the model server at {stub.endpoint} has no /v1/completions or "
                                       "no model 'http-404'")
    assert stub.completions()[-1]["body"]["model"] == "http-404"


async def test_the_event_loop_serves_while_the_model_server_stalls(client: LanguageClient, stub: Stub):
    configure(client, remote(stub, remoteModel="stall"))
    stub.streaming.clear()
    stalled = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(URI, 2, 4)))
    await asyncio.get_running_loop().run_in_executor(None, stub.streaming.wait, 10)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        range=types.Range(start=types.Position(line=1, character=4), end=types.Position(line=1, character=4)),
        context=types.CodeActionContext(diagnostics=[])))
    assert actions and not stalled.done()  # answered while the model request still waits
    configure(client, remote(stub))  # a newer request supersedes the stalled one
    result = await client.text_document_inline_completion_async(inline_params(URI, 2, 4))
    assert [item.insert_text for item in result.items] == [LINE]
    assert (await stalled) is None or not (await stalled).items


async def test_cancel_closes_the_remote_stream_within_100_ms(client: LanguageClient, stub: Stub):
    configure(client, remote(stub, remoteModel="stall"))
    stub.streaming.clear()
    request = asyncio.ensure_future(client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(URI, 2, 4), msg_id="remote-cancel"))
    await asyncio.get_running_loop().run_in_executor(None, stub.streaming.wait, 10)
    (record,) = [r for r in stub.completions() if r["body"]["model"] == "stall" and r["closed_at"] is None]
    cancelled_at = time.monotonic()
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="remote-cancel"))
    with pytest.raises(Exception, match="cancel"):
        await request
    closed_at = await asyncio.get_running_loop().run_in_executor(None, stub.closed_at, record)
    assert closed_at is not None, "the stub never saw the stream closed"
    assert closed_at - cancelled_at < CANCEL_CLOSE_BOUND_S, f"closed {closed_at - cancelled_at:.3f} s after the cancel"
    configure(client, remote(stub))


async def test_remote_fallback_local_uses_the_local_model_and_says_so(client: LanguageClient, stub: Stub):
    port = free_port()
    configure(client, remote(stub, endpoint=f"http://127.0.0.1:{port}/v1", remoteFallback="local"))
    result = await client.text_document_inline_completion_async(inline_params(URI, 2, 4))
    assert [item.insert_text for item in result.items] == [LINE]  # the scripted local model's
    (warning,) = await eventually(lambda: [m.message for m in client.messages
                                           if m.type == types.MessageType.Warning and f"{port}" in m.message],
                                  what="the fallback's warning")
    assert "refused the connection" in warning and "Using the local model instead" in warning
    configure(client, remote(stub))
