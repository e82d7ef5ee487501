"""editseq.implementFunction over the protocol, on the scripted model: the code action on a stub,
progress while candidates run, the verified title, the edit applied only when the user picks it,
and a cancel from the progress notification."""

import asyncio
import json

import pytest_lsp
from editseq.repair import ISOLATION_WORDS
from editseq.sandbox import resolve_isolation
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp_client import eventually, open_document, raw_code_actions

from .conftest import config, start

# Every candidate of the scripted model writes this program (one edit, then it closes).
PROGRAM = "@@ -0,0 +1,2 @@\n+def add(a, b):\n+    return a + b"
STUB = '''def add(a, b):
    """Add two numbers.

    >>> add(2, 3)
    5
    >>> add(0, 0)
    0
    """
    pass
'''
# How the server's checks are isolated on this machine (the strongest mode), as titles say it.
SANDBOX = ISOLATION_WORDS[resolve_isolation()]
IMPLEMENTED = STUB.replace("    pass\n", "    return a + b\n")


def accept_and_record(client: LanguageClient) -> None:
    client.asked, client.applied = [], []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(params: types.ShowMessageRequestParams):
        client.asked.append(params.message)
        return types.MessageActionItem("Apply")

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply(params: types.ApplyWorkspaceEditParams):
        client.applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)


@pytest_lsp.fixture(config=config(EDITSEQ_SCRIPTED_REPLIES=json.dumps([PROGRAM, ""])), scope="module")
async def client(lsp_client: LanguageClient):
    accept_and_record(lsp_client)
    await start(lsp_client, {"implementCandidates": 3})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=config(EDITSEQ_SCRIPTED_REPLIES=json.dumps([PROGRAM, ""]),
                                  EDITSEQ_SCRIPTED_TOKEN_S="0.25"), scope="module")
async def slow_client(lsp_client: LanguageClient):
    """Each reply takes 2 s, checking the cancel flag every 0.25 s."""
    accept_and_record(lsp_client)
    await start(lsp_client, {"implementCandidates": 5})
    yield
    await lsp_client.shutdown_session()


def implement_at(client: LanguageClient, uri: str, line: int):
    return client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="editseq.implementFunction", arguments=[uri, {"line": line, "character": 4}]))


def titles(actions: list[dict]) -> list[str]:
    return [a["title"] for a in actions]


async def test_a_stub_gets_the_implement_action_and_a_function_with_a_body_does_not(client: LanguageClient):
    uri = "file:///workspace/stub_actions.py"
    open_document(client, uri, STUB + "\n\n" + IMPLEMENTED.replace("add", "plus"))
    position = types.Position(line=8, character=4)
    actions = await raw_code_actions(client, types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=types.Range(start=position, end=position),
        context=types.CodeActionContext(diagnostics=[])))
    assert actions[0]["title"] == "Implement this function (editseq)"
    assert actions[0]["kind"] == "refactor.rewrite"
    assert actions[0]["command"] == {"title": "Implement this function (editseq)",
                                     "command": "editseq.implementFunction",
                                     "arguments": [uri, {"line": 8, "character": 4}]}
    below = types.Position(line=19, character=4)
    with_body = await raw_code_actions(client, types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=types.Range(start=below, end=below),
        context=types.CodeActionContext(diagnostics=[])))
    assert "Implement this function (editseq)" not in titles(with_body)
    refused = await implement_at(client, uri, 19)
    assert refused["ok"] is False and refused["message"].startswith("plus already has a body")


async def test_implement_reports_progress_and_applies_the_verified_candidate(client: LanguageClient):
    uri = "file:///workspace/implement.py"
    open_document(client, uri, STUB)
    before = set(client.progress_reports)
    reply = await implement_at(client, uri, 8)
    await eventually(lambda: client.applied, what="the applied edit")
    assert reply["ok"] is True, reply
    assert reply["message"] == f"Implement add: passes 2/2 docstring examples, {SANDBOX} (editseq)"
    assert reply["verification"] == f"passes 2/2 docstring examples, {SANDBOX}"
    assert reply["checks"] == "2 docstring examples"
    assert reply["candidates"] == 3 and reply["applied"] is True
    assert [t["verdict"] for t in reply["tried"]] == [
        f"passes 2/2 docstring examples, {SANDBOX}", "the same program as candidate 1",
        "the same program as candidate 1"]
    assert client.asked[-1] == f"Implement add: passes 2/2 docstring examples, {SANDBOX} (editseq). Apply it?"
    (change,) = client.applied[-1].edit.document_changes  # versioned: the version it was computed on
    assert change.text_document.uri == uri and change.text_document.version is not None
    (edit,) = change.edits
    assert edit.new_text == IMPLEMENTED and client.applied[-1].label == reply["message"]
    (token,) = [t for t in set(client.progress_reports) - before
                if client.progress_reports[t][0].title == "editseq: implementing add"]
    begin, *reports, end = client.progress_reports[token]
    assert begin.title == "editseq: implementing add" and begin.cancellable is True
    assert [r.message for r in reports][:3] == ["writing candidate 1/3", "writing candidate 2/3",
                                                "writing candidate 3/3"]
    assert isinstance(end, types.WorkDoneProgressEnd)


async def test_nothing_is_applied_when_every_candidate_fails_the_examples(client: LanguageClient):
    uri = "file:///workspace/wrong_examples.py"
    open_document(client, uri, STUB.replace("    5\n", "    6\n").replace("add(0, 0)\n    0", "add(1, 1)\n    3"))
    applied = len(client.applied)
    reply = await implement_at(client, uri, 8)
    assert reply["ok"] is False and reply["applied"] is False and len(client.applied) == applied
    assert reply["message"] == ("no implementation of add: no candidate passes any of its 2 docstring "
                                f"examples (3 tried, 2 duplicates: fails all 2 docstring examples, {SANDBOX})")


async def test_cancel_from_the_progress_stops_the_work(slow_client: LanguageClient):
    uri = "file:///workspace/slow.py"
    open_document(slow_client, uri, STUB)
    started = asyncio.get_running_loop().time()
    request = asyncio.ensure_future(implement_at(slow_client, uri, 8))

    def implementing():
        return [token for token, values in slow_client.progress_reports.items()
                if values and getattr(values[0], "title", "") == "editseq: implementing add"]

    (token,) = await eventually(implementing, what="the implement progress")
    await eventually(lambda: len(slow_client.progress_reports[token]) >= 2, what="the first report")
    slow_client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    reply = await asyncio.wait_for(request, 10)
    assert reply == {"ok": False, "message": "implementing add was cancelled", "function": "add",
                     "applied": False}
    assert asyncio.get_running_loop().time() - started < 5  # 5 candidates would take 20 s
    assert isinstance(slow_client.progress_reports[token][-1], types.WorkDoneProgressEnd)
    assert not slow_client.applied


async def test_a_newer_request_on_the_document_stops_the_work(slow_client: LanguageClient):
    uri = "file:///workspace/superseded.py"
    open_document(slow_client, uri, STUB)
    started = asyncio.get_running_loop().time()
    first = asyncio.ensure_future(implement_at(slow_client, uri, 8))
    await asyncio.sleep(0.5)
    second = asyncio.ensure_future(implement_at(slow_client, uri, 8))
    reply = await asyncio.wait_for(first, 10)
    assert reply["ok"] is False and reply["applied"] is False
    assert reply["message"] == ("implementing add was cancelled (a newer request, or the document closed)")
    assert asyncio.get_running_loop().time() - started < 5
    slow_client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))  # closing the document stops it too
    closed = await asyncio.wait_for(second, 10)
    assert closed["ok"] is False and "was cancelled" in closed["message"]


async def test_a_document_changed_while_candidates_are_written_is_not_asked_about(slow_client: LanguageClient):
    """The edit would be computed on an old version: refused before the user is asked."""
    from tests.lsp_client import replace_document

    uri = "file:///workspace/edited_meanwhile.py"
    open_document(slow_client, uri, STUB)
    asked = len(slow_client.asked)
    request = asyncio.ensure_future(implement_at(slow_client, uri, 8))
    await asyncio.sleep(0.5)
    replace_document(slow_client, uri, "# typed meanwhile\n" + STUB, version=2)
    reply = await asyncio.wait_for(request, 30)
    assert reply["ok"] is False and reply["applied"] is False and reply["stale"] is True
    assert reply["message"] == f"{uri} changed while add was being implemented; ask again"
    assert len(slow_client.asked) == asked and not slow_client.applied
