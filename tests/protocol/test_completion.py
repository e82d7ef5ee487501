"""Inline completions, supersede and cancel, next-edit code actions, status and options, over the
protocol with the scripted model: exact ranges in the client's UTF-16 units."""

import asyncio

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp_client import (
    eventually,
    inline_params,
    open_document,
    raw_code_actions,
    replace_document,
)

from .conftest import CACHED_LINE, LINE

SOURCE = (
    "def rectangle_perimeter(width, height):\n"
    '    """Perimeter of a rectangle."""\n'
    "    \n"
)


async def test_ghost_text_replaces_the_blank_cursor_line(client: LanguageClient):
    uri = "file:///workspace/blank.py"
    open_document(client, uri, SOURCE)
    result = await client.text_document_inline_completion_async(inline_params(uri, 2, 4))
    (item,) = result.items
    assert item.insert_text == LINE
    assert item.range == types.Range(start=types.Position(line=2, character=0),
                                     end=types.Position(line=2, character=4))


async def test_ranges_count_utf16_units_after_non_bmp_characters(client: LanguageClient):
    uri = "file:///workspace/emoji.py"
    cursor_line = '    label = "😀😀"'  # 17 code points, 19 UTF-16 units
    open_document(client, uri, SOURCE.replace("    \n", cursor_line + "\n"))
    units = len(cursor_line.encode("utf-16-le")) // 2
    result = await client.text_document_inline_completion_async(inline_params(uri, 2, units))
    (item,) = result.items
    assert item.insert_text == "\n" + LINE
    end_of_line = types.Position(line=2, character=units)
    assert item.range == types.Range(start=end_of_line, end=end_of_line)


async def test_every_suggestion_is_reported_in_editseq_status(client: LanguageClient):
    ready = await eventually(lambda: [s for s in client.statuses if s["state"] == "ready"],
                             what="a ready status")
    assert "SmolLM2" in ready[0]["model"]
    loading = [s for s in client.statuses if s["state"] == "loading"]
    assert loading and client.statuses.index(loading[0]) < client.statuses.index(ready[0])
    uri = "file:///workspace/status.py"
    open_document(client, uri, SOURCE)
    await client.text_document_inline_completion_async(inline_params(uri, 2, 4))
    last = await eventually(lambda: [s for s in client.statuses if s.get("suggestion", {}).get("uri") == uri],
                            what="a suggestion status")
    suggestion = last[-1]["suggestion"]
    assert suggestion["line"] == 2 and suggestion["offered"] is True and suggestion["skip"] is None
    assert suggestion["reason"] == "offered: adds no lint error" and suggestion["latencyMs"] >= 0


async def test_model_loading_is_reported_as_progress(client: LanguageClient):
    reports = await eventually(lambda: [r for r in client.progress_reports.values() if len(r) >= 2],
                               what="a finished progress")
    begin, *_, end = reports[0]
    assert isinstance(begin, types.WorkDoneProgressBegin) and begin.title == "editseq: loading the model"
    assert isinstance(end, types.WorkDoneProgressEnd)


async def test_a_huge_file_is_skipped_with_its_reason(client: LanguageClient):
    uri = "file:///workspace/huge.py"
    open_document(client, uri, "x = 1\n" * 200_000)
    result = await client.text_document_inline_completion_async(inline_params(uri, 100, 0))
    assert not result.items
    status = await eventually(lambda: [s for s in client.statuses if s.get("suggestion", {}).get("uri") == uri],
                              what="a suggestion status")
    assert status[-1]["suggestion"]["skip"] == "fileTooLarge"
    assert any("maxFileBytes" in m.message for m in client.messages)


async def test_invalid_options_are_reported_and_defaults_used(client: LanguageClient):
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"editseq": {"maxTokens": "many", "bogus": 1}}))
    warnings = await eventually(lambda: [m.message for m in client.messages if "maxTokens" in m.message],
                                what="a warning about maxTokens")
    assert "expected a number" in warnings[-1] and "using 48" in warnings[-1]
    assert any("unknown option 'bogus'" in m.message for m in client.messages)
    uri = "file:///workspace/after-options.py"
    open_document(client, uri, SOURCE)
    result = await client.text_document_inline_completion_async(inline_params(uri, 2, 4))
    assert [item.insert_text for item in result.items] == [LINE]


async def test_an_unknown_document_gets_an_empty_answer(client: LanguageClient):
    result = await client.text_document_inline_completion_async(
        inline_params("file:///workspace/never-opened.py", 0, 0))
    assert result is None


async def test_a_newer_request_supersedes_the_older_one(slow_client: LanguageClient):
    uri = "file:///workspace/supersede.py"
    open_document(slow_client, uri, SOURCE)
    older = asyncio.ensure_future(slow_client.text_document_inline_completion_async(inline_params(uri, 2, 4)))
    await asyncio.sleep(0.3)  # the older request is decoding
    newer = await slow_client.text_document_inline_completion_async(inline_params(uri, 2, 4))
    assert not (await older).items  # answered, with nothing: it was cancelled
    assert [item.insert_text for item in newer.items] == [LINE]
    skips = [s["suggestion"]["skip"] for s in slow_client.statuses if "suggestion" in s]
    assert skips[-2:] == ["cancelled", None]


async def test_cancel_request_stops_the_work_and_the_next_request_is_answered(slow_client: LanguageClient):
    uri = "file:///workspace/cancel.py"
    open_document(slow_client, uri, SOURCE)
    request = asyncio.ensure_future(slow_client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 2, 4), msg_id="to-cancel"))
    await asyncio.sleep(0.3)
    slow_client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="to-cancel"))
    with pytest.raises(Exception, match="cancel"):
        await request
    # the cancelled job stopped at its next token, so the model thread is free for this one
    result = await slow_client.text_document_inline_completion_async(inline_params(uri, 2, 4))
    assert [item.insert_text for item in result.items] == [LINE]


async def test_an_edit_elsewhere_is_a_code_action_while_the_document_is_unchanged(
        next_edit_client: LanguageClient):
    uri = "file:///workspace/root.py"
    text = "def root(x):\n    return math.sqrt(x)\n"
    open_document(next_edit_client, uri, text)
    result = await next_edit_client.text_document_inline_completion_async(
        inline_params(uri, 1, len("    return math.sqrt(x)")))
    assert not result.items  # not at the cursor: no ghost text
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[]))
    actions = [a for a in await raw_code_actions(next_edit_client, params)
               if a["title"] == "Apply suggested edit (editseq)"]
    (action,) = actions
    assert action["tags"] == [types.CodeActionTag.LlmGenerated]
    assert action["edit"]["documentChanges"] == [{  # versioned: applied to version 1 only
        "textDocument": {"uri": uri, "version": 1},
        "edits": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                   "newText": "import math\n"}]}]
    replace_document(next_edit_client, uri, text + "\n", version=2)
    titles = [a["title"] for a in await raw_code_actions(next_edit_client, params)]
    assert "Apply suggested edit (editseq)" not in titles  # computed on version 1


async def test_the_first_line_comes_first_and_the_rest_is_served_once_accepted(
        multiline_client: LanguageClient):
    client, uri = multiline_client, "file:///workspace/first-line.py"
    open_document(client, uri, SOURCE)
    first = await client.text_document_inline_completion_async(inline_params(uri, 2, 4))
    assert [item.insert_text for item in first.items] == ["    total = width + height"]
    statuses = lambda: [s["suggestion"] for s in client.statuses if s.get("suggestion", {}).get("uri") == uri]  # noqa: E731
    whole = await eventually(lambda: [s for s in statuses() if not s["partial"]], what="the whole edit")
    assert statuses()[0]["partial"] and whole[0]["offered"]
    # the user accepts the ghost text: the rest comes from the decoded edit, with no model call
    accepted = SOURCE.replace("    \n", "    total = width + height\n")
    replace_document(client, uri, accepted, version=2)
    rest = await client.text_document_inline_completion_async(inline_params(uri, 2, 26))
    assert [item.insert_text for item in rest.items] == ["\n    total = 2 * total\n    return total"]
    end = types.Position(line=2, character=26)
    assert rest.items[0].range == types.Range(start=end, end=end)
    assert statuses()[-1]["cached"] and statuses()[-1]["offered"]


async def test_a_request_that_does_not_follow_the_ghost_text_decodes_anew(multiline_client: LanguageClient):
    client, uri = multiline_client, "file:///workspace/elsewhere.py"
    open_document(client, uri, SOURCE)
    await client.text_document_inline_completion_async(inline_params(uri, 2, 4))
    changed = SOURCE.replace("    \n", "    size = 0\n")  # typed something else
    replace_document(client, uri, changed, version=2)
    again = await client.text_document_inline_completion_async(inline_params(uri, 2, 12))
    statuses = [s["suggestion"] for s in client.statuses if s.get("suggestion", {}).get("uri") == uri]
    assert not statuses[-1]["cached"]
    assert [item.insert_text for item in again.items] in ([], ["\n    total = width + height"])


async def test_a_cold_long_file_is_answered_at_once_and_read_whole_behind(caching_client: LanguageClient):
    client = caching_client
    uri = "file:///workspace/long.py"
    source = "".join(f"value_{i} = {i}\n" for i in range(400))  # past the scripted 2048 "tokens"
    open_document(client, uri, source)

    async def ask() -> dict:
        seen = len(client.statuses)
        result = await client.text_document_inline_completion_async(inline_params(uri, 399, 15))
        assert result.items[0].insert_text == "\n" + CACHED_LINE  # after the last line
        reports = await eventually(
            lambda: [s["suggestion"] for s in client.statuses[seen:]
                     if s.get("suggestion", {}).get("uri") == uri], what="a suggestion status")
        return reports[-1]

    first = await ask()
    assert first["quick"] and first["offered"]
    for _ in range(50):  # the server reads the whole window while the model thread is idle
        await asyncio.sleep(0.05)
        later = await ask()
        if not later["quick"]:
            break
    assert not later["quick"] and later["offered"]
