"""The language server: pygls feature registration and lsprotocol conversion, nothing else.

Model and lint work runs on one worker thread, never on the event loop. A newer request on a
document supersedes (cancels) the older one; ``$/cancelRequest`` stops generation within a token.
Next-edit suggestions (insertions away from the cursor) computed for an inline request are kept
per document version and offered as code actions.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from . import __version__, lsp_functions
from .lintgate import LintGate
from .options import Options, parse_options
from .runtime import ModelError
from .suggest import Offer, Suggester, SuggestResult, TextEdit

log = logging.getLogger(__name__)

APPLY_EDIT_TITLE = "Apply suggested edit (editseq)"
CONFIG_SECTION = "editseq"


@dataclass
class _Pending:
    version: int | None
    cancel: threading.Event


class EditseqServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("editseq", __version__)
        self.options = Options()
        self.suggester = Suggester(self.options, LintGate(timeout_s=self.options.lint_timeout))
        self.model_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editseq-model")
        self.lint_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editseq-lint")
        self.diagnostics_tasks: dict[str, asyncio.Future] = {}
        self.pending: dict[str, _Pending] = {}
        self.next_edits: dict[str, tuple[int | None, list[Offer]]] = {}
        self.warned: set[str] = set()

    async def run_model(self, uri: str, version: int | None, fn, *args):
        """Run ``fn(*args, cancel)`` on the model thread; supersede older work on ``uri``."""
        previous = self.pending.get(uri)
        if previous is not None:
            previous.cancel.set()
        pending = _Pending(version, threading.Event())
        self.pending[uri] = pending
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.model_executor, fn, *args, pending.cancel)
        except asyncio.CancelledError:
            pending.cancel.set()  # $/cancelRequest: stop generating at the next token
            raise
        finally:
            if self.pending.get(uri) is pending:
                del self.pending[uri]

    def apply_options(self, raw, origin: str) -> None:
        options, errors = parse_options(raw, Options())
        for error in errors:
            self.tell(types.MessageType.Warning, f"editseq {origin}: {error}")
        self.options = options
        self.suggester.configure(options)

    def tell(self, kind: types.MessageType, message: str, once_key: str | None = None) -> None:
        """Show ``message`` to the user (once per ``once_key``) and log it."""
        log.log(logging.WARNING if kind <= types.MessageType.Warning else logging.INFO, "%s", message)
        if once_key is not None:
            if once_key in self.warned:
                return
            self.warned.add(once_key)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))


server = EditseqServer()
lsp_functions.register(server)


@server.feature(types.INITIALIZE)
def initialize(ls: EditseqServer, params: types.InitializeParams) -> None:
    ls.apply_options(params.initialization_options, "initializationOptions")


@server.feature(types.INITIALIZED)
async def initialized(ls: EditseqServer, params: types.InitializedParams) -> None:
    """Warm pylint and load the model in the background, so the first suggestion is fast."""
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(ls.model_executor, ls.suggester.gate.start)
        runtime = await loop.run_in_executor(ls.model_executor, ls.suggester.runtime)
        ls.window_log_message(types.LogMessageParams(
            type=types.MessageType.Info,
            message=f"editseq: model {runtime.spec.path.name}"
            + (f" + adapter {runtime.spec.adapter.name}" if runtime.spec.adapter else " (no adapter)")
            + f" loaded in {runtime.load_s:.2f} s",
        ))
    except ModelError as exc:
        ls.tell(types.MessageType.Error, f"editseq: {exc}", once_key=f"model:{exc}")
    except Exception as exc:  # keep serving; each request reports its own failure
        log.exception("warm-up failed")
        ls.tell(types.MessageType.Error, f"editseq: warm-up failed: {exc}", once_key="warmup")


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: EditseqServer, params: types.DidChangeConfigurationParams) -> None:
    settings = params.settings
    if isinstance(settings, dict) and CONFIG_SECTION in settings:
        settings = settings[CONFIG_SECTION]
    elif not settings:
        try:  # the client sent no values: pull them (VS Code's modern behaviour)
            pulled = await ls.workspace_configuration_async(types.ConfigurationParams(
                items=[types.ConfigurationItem(section=CONFIG_SECTION)]))
            settings = pulled[0] if pulled else None
        except Exception:  # the client does not support workspace/configuration
            return
    ls.apply_options(settings, "settings")


def _document(ls: EditseqServer, uri: str) -> TextDocument | None:
    """An open document, or None (requests for unknown documents get an empty answer)."""
    document = ls.workspace.text_documents.get(uri)
    if document is None:
        log.info("request for a document that is not open: %s", uri)
    return document


def lsp_range(document: TextDocument, line: int, start: int, end: int) -> types.Range:
    from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

    return document.range_to_client_units(
        ServerTextRange(ServerTextPosition(line, start), ServerTextPosition(line, end))
    )


def lsp_text_edit(document: TextDocument, edit: TextEdit) -> types.TextEdit:
    return types.TextEdit(range=lsp_range(document, edit.line, edit.start, edit.end), new_text=edit.text)


async def _suggest(ls: EditseqServer, document: TextDocument, position: types.Position) -> SuggestResult | None:
    if not ls.options.enabled:
        return None
    server_position = document.position_from_client_units(position)
    try:
        result = await ls.run_model(
            document.uri, document.version, ls.suggester.suggest,
            document.source, server_position.line, server_position.character,
        )
    except ModelError as exc:
        ls.tell(types.MessageType.Error, f"editseq: {exc}", once_key=f"model:{exc}")
        return None
    if "maxFileBytes" in result.reason:
        ls.tell(types.MessageType.Warning, f"editseq: {document.uri}: {result.reason}", once_key=document.uri)
    start, end = result.window
    if start > 0:
        ls.tell(types.MessageType.Info, f"editseq: {document.uri} is longer than the model's context; "
                f"suggestions see the lines just above the cursor (now {start + 1}-{end}).",
                once_key="window:" + document.uri)
    summary = (f"editseq suggest {document.uri}:{position.line + 1}: {result.reason} (window={start + 1}-{end}, "
               + ", ".join(f"{k}={v:.0f}" for k, v in result.timings.items()) + ")")
    log.info("%s", summary)
    ls.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=summary))
    ls.next_edits[document.uri] = (document.version, [o for o in result.offers if not o.at_cursor])
    return result


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(
    ls: EditseqServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    document = _document(ls, params.text_document.uri)
    if document is None:
        return None
    result = await _suggest(ls, document, params.position)
    if result is None:
        return None
    items = []
    for offer in result.offers:
        if offer.at_cursor:
            (edit,) = offer.edits
            items.append(types.InlineCompletionItem(
                insert_text=edit.text, range=lsp_range(document, edit.line, edit.start, edit.end)))
    return types.InlineCompletionList(items=items)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite, types.CodeActionKind.QuickFix]),
)
def code_action(ls: EditseqServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    """Next edits the model proposed away from the cursor (while the document is unchanged), and
    explain / repair / docstring actions for the function under the cursor."""
    document = _document(ls, params.text_document.uri)
    if document is None:
        return None
    actions = []
    version, offers = ls.next_edits.get(document.uri, (None, []))
    if version == document.version:
        actions += [
            types.CodeAction(
                title=APPLY_EDIT_TITLE,
                kind=types.CodeActionKind.RefactorRewrite,
                tags=[types.CodeActionTag.LlmGenerated],
                edit=types.WorkspaceEdit(changes={document.uri: [lsp_text_edit(document, e) for e in offer.edits]}),
            )
            for offer in offers
        ]
    actions += lsp_functions.function_actions(ls, document.uri, document.source, params)
    return actions or None


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: EditseqServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.next_edits.pop(uri, None)
    task = ls.diagnostics_tasks.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    pending = ls.pending.pop(uri, None)
    if pending is not None:
        pending.cancel.set()


@server.feature(types.SHUTDOWN)
def shutdown(ls: EditseqServer, params: None) -> None:
    for pending in ls.pending.values():
        pending.cancel.set()
    ls.suggester.gate.close()
