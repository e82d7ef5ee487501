"""The one home of conversion between editseq's values and lsprotocol types.

Internal positions are 0-based lines and Python string indices (code points); the client counts
characters in its negotiated encoding (UTF-16 by default), so every position and range passes
through the document's position codec here. Command replies and status notifications become
camelCase JSON here too.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from ..complete import Completion, DocumentEdit, Offer
from ..lintgate import LintMessage
from ..options import camel

DIAGNOSTIC_SOURCE = "editseq (pylint)"


def server_position(document: TextDocument, position: types.Position) -> tuple[int, int]:
    """(line, code point index) of a client position."""
    converted = document.position_from_client_units(position)
    return converted.line, converted.character


def lsp_range(document: TextDocument, line: int, start: int, end: int,
              end_line: int | None = None) -> types.Range:
    """The client range of characters [start, end) of ``line`` (to ``end`` of ``end_line``)."""
    return document.range_to_client_units(ServerTextRange(
        ServerTextPosition(line, start),
        ServerTextPosition(line if end_line is None else end_line, end)))


def text_edit(document: TextDocument, edit: DocumentEdit) -> types.TextEdit:
    return types.TextEdit(range=lsp_range(document, edit.line, edit.start, edit.end),
                          new_text=edit.text)


def versioned_edit(document: TextDocument, version: int | None,
                   edits: list[types.TextEdit]) -> types.WorkspaceEdit:
    """``edits`` of ``document`` as computed on ``version``: a client applies them to that
    version only (documentChanges with a versioned identifier), so a stale edit is refused."""
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=document.uri, version=version),
        edits=edits)])


def workspace_edit(document: TextDocument, version: int | None,
                   edits: list[DocumentEdit]) -> types.WorkspaceEdit:
    return versioned_edit(document, version, [text_edit(document, e) for e in edits])


def whole_document_edit(document: TextDocument, version: int | None, text: str,
                        new_text: str) -> types.WorkspaceEdit:
    """Replace all of ``text`` (the document at ``version``) with ``new_text``."""
    lines = text.split("\n")
    whole = lsp_range(document, 0, 0, len(lines[-1]), end_line=len(lines) - 1)
    return versioned_edit(document, version, [types.TextEdit(range=whole, new_text=new_text)])


def insertion_edit(document: TextDocument, version: int | None, line: int, text: str) -> types.WorkspaceEdit:
    """Insert ``text`` at the start of ``line``."""
    return workspace_edit(document, version, [DocumentEdit(line, 0, 0, text)])


def inline_item(document: TextDocument, offer: Offer) -> types.InlineCompletionItem:
    (edit,) = offer.edits
    return types.InlineCompletionItem(insert_text=edit.text,
                                      range=lsp_range(document, edit.line, edit.start, edit.end))


def diagnostic(document: TextDocument, message: LintMessage, lines: list[str]) -> types.Diagnostic:
    """A pylint message as a diagnostic over its line's code (indentation excluded)."""
    row = max(0, min(message.line - 1, len(lines) - 1))
    text = lines[row] if lines else ""
    start = len(text) - len(text.lstrip())
    return types.Diagnostic(
        range=lsp_range(document, row, start, len(text)),
        message=f"{message.symbol}: {message.message}",
        severity=types.DiagnosticSeverity.Error,
        code=message.msg_id,
        source=DIAGNOSTIC_SOURCE,
    )


def wire(fields: dict[str, Any]) -> dict[str, Any]:
    """Snake_case keys to the camelCase the protocol uses (values unchanged)."""
    return {camel(key): value for key, value in fields.items()}


def suggestion_status(uri: str, line: int, completion: Completion) -> dict[str, Any]:
    """The ``suggestion`` field of an ``editseq/status`` notification."""
    return {
        "uri": uri, "line": line, "offered": completion.offered,
        "partial": completion.partial, "cached": completion.cached, "quick": completion.quick,
        "skip": completion.skip.value if completion.skip else None,
        "reason": completion.reason,
        "latencyMs": round(completion.timings.get("latency_ms", 0.0), 1),
        "timings": {camel(k): round(v, 1) for k, v in completion.timings.items()},
    }


def command_reply(ok: bool, message: str, **fields: Any) -> dict[str, Any]:
    """The one shape of every command's result (docs/protocol.md)."""
    return {"ok": ok, "message": message, **wire(fields)}
