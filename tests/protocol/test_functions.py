"""Function code actions, command replies and debounced diagnostics over the protocol, with the
scripted model: the one reply shape, exact UTF-16 diagnostic ranges."""

import asyncio

import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp_client import eventually, open_document, raw_code_actions, replace_document

from .conftest import config, start

AREA = 'def area(width, height):\n    """Area of a rectangle."""\n    return width * height\n'


def execute(client: LanguageClient, command: str, uri: str, line: int):
    return client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=command, arguments=[uri, {"line": line, "character": 4}]))


def actions_at(client: LanguageClient, uri: str, line: int, diagnostics=()):
    position = types.Position(line=line, character=4)
    return raw_code_actions(client, types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=position, end=position),
        context=types.CodeActionContext(diagnostics=list(diagnostics))))


async def test_function_actions_and_their_kinds(client: LanguageClient):
    uri = "file:///workspace/actions.py"
    open_document(client, uri, AREA.replace('    """Area of a rectangle."""\n', ""))
    actions = await actions_at(client, uri, 1)
    assert [(a["title"], a["kind"], a["command"]["command"]) for a in actions] == [
        ("Explain this function (editseq)", "", "editseq.explainFunction"),
        ("Repair this function (editseq)", "refactor.rewrite", "editseq.repairFunction"),
        ("Insert explanation as docstring (editseq)", "refactor.rewrite", "editseq.insertDocstring"),
    ]
    assert await actions_at(client, "file:///workspace/not-open.py", 0) == []


async def test_commands_answer_in_one_shape(client: LanguageClient):
    uri = "file:///workspace/explain.py"
    open_document(client, uri, "x = 1\n\n" + AREA)
    explained = await execute(client, "editseq.explainFunction", uri, 3)
    assert explained["ok"] is True and explained["function"] == "area"
    assert explained["markdown"].startswith("**`area`**") and explained["message"].startswith("area: ")
    assert isinstance(explained["latencyMs"], int)
    nothing = await execute(client, "editseq.explainFunction", uri, 0)
    assert nothing == {"ok": False, "message": "no function at line 1"}
    closed = await execute(client, "editseq.repairFunction", "file:///workspace/closed.py", 0)
    assert closed == {"ok": False, "message": "document not open: file:///workspace/closed.py"}
    has_docstring = await execute(client, "editseq.insertDocstring", uri, 3)
    assert has_docstring["ok"] is False and has_docstring["message"] == "area already has a docstring"


async def test_diagnostics_are_debounced_and_ranges_are_utf16(client: LanguageClient):
    uri = "file:///workspace/diagnostics.py"
    bad = '    return "😀" + missing'
    open_document(client, uri, "def f():\n    return 1\n")
    for version in range(2, 7):  # typing: five changes within the debounce delay
        replace_document(client, uri, f"def f():\n    return {version}\n", version)
        await asyncio.sleep(0.05)
    replace_document(client, uri, f"def f():\n{bad}\n", 7)
    published = await eventually(lambda: [p for p in client.published if p.uri == uri and p.diagnostics],
                                 what="diagnostics")
    assert [p.version for p in client.published if p.uri == uri] == [7]  # only the last version
    (diagnostic,) = published[0].diagnostics
    assert diagnostic.code == "E0602" and diagnostic.source == "editseq (pylint)"
    assert diagnostic.range == types.Range(
        start=types.Position(line=1, character=4),
        end=types.Position(line=1, character=len(bad.encode("utf-16-le")) // 2))
    actions = await actions_at(client, uri, 1, [diagnostic])
    quick_fixes = [a for a in actions if a["kind"] == types.CodeActionKind.QuickFix]
    assert [a["title"] for a in quick_fixes] == ["Repair this function (editseq)"]
    assert quick_fixes[0]["diagnostics"][0]["code"] == "E0602"
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    await eventually(lambda: client.published[-1].uri == uri and not client.published[-1].diagnostics,
                     what="diagnostics cleared on close")


@pytest_lsp.fixture(config=config(EDITSEQ_SCRIPTED_TOKEN_S="0.2"), scope="module")
async def slow_editor(lsp_client: LanguageClient):
    """A scripted model that takes 1.6 s a reply, and an editor that accepts every edit."""
    await start(lsp_client)
    lsp_client.applied = []

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply(params: types.ApplyWorkspaceEditParams):
        lsp_client.applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    yield
    await lsp_client.shutdown_session()


NO_DOCSTRING = "def area(width, height):\n    return width * height\n"


async def test_an_edit_carries_the_version_it_was_computed_on(slow_editor: LanguageClient):
    uri = "file:///workspace/versioned.py"
    open_document(slow_editor, uri, NO_DOCSTRING, version=3)
    reply = await execute(slow_editor, "editseq.insertDocstring", uri, 1)
    assert reply["ok"] and reply["applied"]
    (change,) = slow_editor.applied[-1].edit.document_changes
    assert change.text_document.uri == uri and change.text_document.version == 3
    assert change.edits[0].range.start == types.Position(line=1, character=0)


async def test_an_edit_computed_on_an_older_version_is_refused(slow_editor: LanguageClient):
    uri = "file:///workspace/stale.py"
    open_document(slow_editor, uri, NO_DOCSTRING)
    applied = len(slow_editor.applied)
    request = asyncio.ensure_future(execute(slow_editor, "editseq.insertDocstring", uri, 1))
    await asyncio.sleep(0.4)  # the model is writing the explanation: the user types meanwhile
    replace_document(slow_editor, uri, "# a new first line\n" + NO_DOCSTRING, version=2)
    reply = await request
    assert reply == {"ok": False, "function": "area", "stale": True,
                     "message": f"{uri} changed while the docstring of area was written; ask again"}
    assert len(slow_editor.applied) == applied  # nothing was sent to the editor
