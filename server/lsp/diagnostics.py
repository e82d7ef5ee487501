"""pylint errors (LintSeq's rules) published as diagnostics once typing pauses.

State: one pending task per document; a newer change restarts the wait. Linting runs on the
lint thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from . import convert

if TYPE_CHECKING:
    from .server import EditseqServer

log = logging.getLogger(__name__)

DELAY_S = 0.6  # debounce: lint once typing pauses


class Diagnostics:
    def __init__(self, server: EditseqServer) -> None:
        self.server = server
        self.tasks: dict[str, asyncio.Future] = {}

    def schedule(self, uri: str) -> None:
        if not self.server.options.diagnostics:
            return
        self._cancel(uri)
        self.tasks[uri] = asyncio.ensure_future(self._publish(uri))

    def forget(self, uri: str) -> None:
        self._cancel(uri)
        self.server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def _cancel(self, uri: str) -> None:
        previous = self.tasks.pop(uri, None)
        if previous is not None:
            previous.cancel()

    async def _publish(self, uri: str) -> None:
        ls = self.server
        await asyncio.sleep(DELAY_S)
        document = ls.workspace.text_documents.get(uri)
        if document is None or not uri.endswith(".py") and document.language_id != "python":
            return
        text, version = document.source, document.version
        if len(text.encode("utf-8", "surrogatepass")) > ls.options.max_file_bytes:
            return
        result = await ls.run_lint(ls.models.gate.check, text)
        if not result.ok:
            log.warning("diagnostics for %s skipped: %s", uri, result.failure)
            return
        if document.version != version:  # changed while linting: the next run publishes
            return
        lines = text.split("\n")
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=version,
            diagnostics=[convert.diagnostic(document, m, lines) for m in result.messages]))


def register(server: EditseqServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: EditseqServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.diagnostics.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: EditseqServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.diagnostics.schedule(params.text_document.uri)
