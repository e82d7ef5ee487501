"""Inline completions and next-edit code actions.

A request is handled in three steps: read the document and cursor, run the completion pipeline
(``editseq.complete``) on the model thread, convert its offers. The insertion at the cursor is
ghost text; insertions elsewhere are kept per document version and offered as code actions while
the document is unchanged. A newer request on a document supersedes the older one.

First lines first: the request is answered as soon as the edit's first lines at the cursor pass
the lint gate, and the pipeline goes on decoding the whole edit behind that answer. The next
request on the document, if the user has accepted or typed a prefix of the ghost text, is served
the rest from that edit without a model call (waiting for it if it is still decoding); any
other request supersedes it.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.workspace import TextDocument

from ..complete import Completion, Offer, Skip, cached_completion, typed_in_place
from ..runtime import ModelError
from . import convert

if TYPE_CHECKING:
    from .server import EditseqServer

APPLY_EDIT_TITLE = "Apply suggested edit (editseq)"


@dataclass
class _Behind:
    """An edit still decoding (or decoded) behind the first lines a request was answered with."""

    base: str  # the document text it was computed on
    line: int  # the request's cursor line
    first: Completion  # what the request was answered with
    job: asyncio.Future  # the whole edit's Completion


class Completions:
    """State: per document, the next edits (offers away from the cursor) of its latest request,
    and the whole edit behind a first-lines answer."""

    def __init__(self, server: EditseqServer) -> None:
        self.server = server
        self.next_edits: dict[str, tuple[int | None, list[Offer]]] = {}
        self.behind: dict[str, _Behind] = {}

    async def complete(self, document: TextDocument, position: types.Position) -> Completion | None:
        line, character = convert.server_position(document, position)
        text = document.source
        cached = await self._from_behind(document.uri, text, line, character)
        if cached is not None:
            self._report(document.uri, line, cached)
            return cached
        return await self._decode(document, text, line, character)

    async def _from_behind(self, uri: str, text: str, line: int, character: int) -> Completion | None:
        """The rest of the edit behind the last answer, if the user took a prefix of it."""
        behind = self.behind.pop(uri, None)
        if behind is None:
            return None
        if not behind.job.done():
            first = behind.first.offers[0].edits[0]
            typed = typed_in_place(behind.base, first, text, line, character)
            if typed is None or not (first.text.startswith(typed) or typed.startswith(first.text)):
                return None  # the user did something else: this request supersedes the edit
            try:  # shielded: a cancel of this request must not stop the edit others may use
                await asyncio.shield(behind.job)
            except (asyncio.CancelledError, ModelError):
                if not behind.job.done():
                    self.behind[uri] = behind
                    raise
                return None
        if behind.job.cancelled() or behind.job.exception() is not None:
            return None
        return cached_completion(behind.job.result(), behind.base, text, line, character)

    async def _decode(self, document: TextDocument, text: str, line: int,
                      character: int) -> Completion | None:
        ls = self.server
        loop = asyncio.get_running_loop()
        first: asyncio.Future = loop.create_future()

        def on_partial(partial: Completion) -> None:  # on the model thread
            loop.call_soon_threadsafe(lambda: first.done() or first.set_result(partial))

        complete = functools.partial(ls.completer.complete, on_partial=on_partial)
        job = asyncio.ensure_future(ls.run_model(document.uri, document.version, complete,
                                                 ls.options, text, line, character))
        job.add_done_callback(functools.partial(self._finished, document, line))
        try:
            await asyncio.wait({first, job}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            job.cancel()  # $/cancelRequest: stop generating at the next token
            raise
        if not job.done():
            partial = first.result()
            self.behind[document.uri] = _Behind(text, line, partial, job)
            self._report(document.uri, line, partial)
            return partial
        if job.cancelled() or isinstance(job.exception(), ModelError):
            return None
        return job.result()

    def _finished(self, document: TextDocument, line: int, job: asyncio.Future) -> None:
        """Runs when a whole edit is decoded, whether its request is answered yet or not."""
        if job.cancelled():
            return
        exc = job.exception()
        if isinstance(exc, ModelError):
            self.server.model_failed(exc)
            return
        if exc is not None:
            raise exc
        result = job.result()
        self._report(document.uri, line, result)
        self.next_edits[document.uri] = (document.version, [o for o in result.offers if not o.at_cursor])
        if result.quick:  # read the whole window while the user reads the suggestion
            self.server.warm_when_idle()

    def _report(self, uri: str, line: int, result: Completion) -> None:
        ls = self.server
        if result.skip is Skip.FILE_TOO_LARGE:
            ls.tell(types.MessageType.Warning, f"editseq: {uri}: {result.reason}", once_key=uri)
        start, end = result.window
        if start > 0 and not result.quick:  # a quick window is short for speed, not for the file
            ls.tell(types.MessageType.Info, f"editseq: {uri} is longer than the model's "
                    f"context; suggestions see the lines just above the cursor (now {start + 1}-{end}).",
                    once_key="window:" + uri)
        ls.log_to_client(
            f"editseq suggest {uri}:{line + 1}: {result.reason} (window={start + 1}-{end}"
            + (" from the short context, the whole window read behind it" if result.quick else "") + ", "
            + ", ".join(f"{k}={v:.0f}" for k, v in result.timings.items()) + ")")
        ls.send_status("ready", suggestion=convert.suggestion_status(uri, line, result))

    def code_actions(self, document: TextDocument) -> list[types.CodeAction]:
        version, offers = self.next_edits.get(document.uri, (None, []))
        if version != document.version:
            return []
        return [
            types.CodeAction(
                title=APPLY_EDIT_TITLE,
                kind=types.CodeActionKind.RefactorRewrite,
                tags=[types.CodeActionTag.LlmGenerated],
                edit=convert.workspace_edit(document, version, offer.edits),
            )
            for offer in offers
        ]

    def forget(self, uri: str) -> None:
        self.next_edits.pop(uri, None)
        self.behind.pop(uri, None)


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
