"""Inline completions and next-edit code actions.

A request is handled in three steps: read the document and cursor, run the completion pipeline
(``editseq.complete``) on the model thread, convert its offers. The insertion at the cursor is
ghost text; insertions elsewhere are kept per document version and offered as code actions while
the document is unchanged. A newer request on a document supersedes the older one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.workspace import TextDocument

from ..complete import Completion, Offer, Skip
from ..runtime import ModelError
from . import convert

if TYPE_CHECKING:
    from .server import EditseqServer

APPLY_EDIT_TITLE = "Apply suggested edit (editseq)"


class Completions:
    """State: the next edits (offers away from the cursor) of each document's latest request."""

    def __init__(self, server: EditseqServer) -> None:
        self.server = server
        self.next_edits: dict[str, tuple[int | None, list[Offer]]] = {}

    async def complete(self, document: TextDocument, position: types.Position) -> Completion | None:
        ls = self.server
        line, character = convert.server_position(document, position)
        try:
            result = await ls.run_model(document.uri, document.version, ls.completer.complete,
                                        ls.options, document.source, line, character)
        except ModelError as exc:
            ls.model_failed(exc)
            return None
        self._report(document, line, result)
        self.next_edits[document.uri] = (document.version, [o for o in result.offers if not o.at_cursor])
        return result

    def _report(self, document: TextDocument, line: int, result: Completion) -> None:
        ls = self.server
        if result.skip is Skip.FILE_TOO_LARGE:
            ls.tell(types.MessageType.Warning, f"editseq: {document.uri}: {result.reason}",
                    once_key=document.uri)
        start, end = result.window
        if start > 0:
            ls.tell(types.MessageType.Info, f"editseq: {document.uri} is longer than the model's "
                    f"context; suggestions see the lines just above the cursor (now {start + 1}-{end}).",
                    once_key="window:" + document.uri)
        ls.log_to_client(
            f"editseq suggest {document.uri}:{line + 1}: {result.reason} (window={start + 1}-{end}, "
            + ", ".join(f"{k}={v:.0f}" for k, v in result.timings.items()) + ")")
        ls.send_status("ready", suggestion=convert.suggestion_status(document.uri, line, result))

    def code_actions(self, document: TextDocument) -> list[types.CodeAction]:
        version, offers = self.next_edits.get(document.uri, (None, []))
        if version != document.version:
            return []
        return [
            types.CodeAction(
                title=APPLY_EDIT_TITLE,
                kind=types.CodeActionKind.RefactorRewrite,
                tags=[types.CodeActionTag.LlmGenerated],
                edit=convert.workspace_edit(document, offer.edits),
            )
            for offer in offers
        ]

    def forget(self, uri: str) -> None:
        self.next_edits.pop(uri, None)


def register(server: EditseqServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: EditseqServer, params: types.InlineCompletionParams
                                ) -> types.InlineCompletionList | None:
        document = ls.document(params.text_document.uri)
        if document is None or not ls.options.enabled:
            return None
        result = await ls.completion.complete(document, params.position)
        if result is None:
            return None
        return types.InlineCompletionList(
            items=[convert.inline_item(document, offer) for offer in result.offers if offer.at_cursor])
