"""Client-side helpers shared by the protocol and end-to-end suites (pytest-lsp)."""

from __future__ import annotations

import asyncio

from lsprotocol import types
from pygls.protocol.json_rpc import JsonRPCResponseMessage
from pytest_lsp import LanguageClient


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked))


async def raw_code_actions(client: LanguageClient, params: types.CodeActionParams) -> list[dict]:
    """Code actions as the JSON the server sent: the test client's converter reads a CodeAction
    that carries a command as a bare Command, losing its kind and diagnostics."""
    msg_id = f"actions-{id(params)}"
    # send_request registers the reply's type and sends without yielding to the event loop, so
    # the type is replaced before any reply can be read (polling for the registration raced with
    # a fast reply, which pops it, and then waited forever)
    future = client.protocol.send_request(types.TEXT_DOCUMENT_CODE_ACTION, params, msg_id=msg_id)
    client.protocol._result_types[msg_id] = JsonRPCResponseMessage
    return await asyncio.wrap_future(future) or []


def open_document(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))


def replace_document(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


async def eventually(check, timeout_s: float = 20.0, what: str = "condition"):
    """Poll ``check()`` until it returns something truthy (the server works asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
