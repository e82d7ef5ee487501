"""The language server class and ``create_server``, which registers every feature on it.

The server holds what features share: the options, the models, the worker threads, the
supersede-and-cancel bookkeeping for model work, and the ways to tell the user something (a
message, the ``editseq/status`` notification). Features live in completion.py, functions.py and
diagnostics.py; each owns its state and registers its own handlers. Model and lint work never
runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from .. import __version__
from ..complete import Completer
from ..models import Models, RuntimeFactory, describe
from ..options import Options, parse_options
from ..runtime import ModelError, ModelRuntime
from . import completion, diagnostics, functions
from .protocol import EditseqProtocol

log = logging.getLogger(__name__)

CONFIG_SECTION = "editseq"
STATUS = "editseq/status"
TEST_DOCUMENT_TEXT = "editseq/test/documentText"  # only with create_server(test_queries=True)


@dataclass
class _Pending:
    version: int | None
    cancel: threading.Event


class EditseqServer(LanguageServer):
    def __init__(self, runtime_factory: RuntimeFactory = ModelRuntime) -> None:
        super().__init__("editseq", __version__, protocol_cls=EditseqProtocol)
        self.options = Options()
        self.models = Models(self.options, runtime_factory)
        self.completer = Completer(self.models)
        self.model_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editseq-model")
        self.lint_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editseq-lint")
        self.pending: dict[str, _Pending] = {}
        self.warming: threading.Event | None = None  # set it to stop the completer's warm-up
        self.warned: set[str] = set()
        self.completion = completion.Completions(self)
        self.functions = functions.Functions(self)
        self.diagnostics = diagnostics.Diagnostics(self)

    def report_server_error(self, error: Exception, source) -> None:
        """A frame that is not JSON gets its Parse error reply (protocol.py), not a message."""
        if not self.protocol.reply_to_unreadable(error):
            super().report_server_error(error, source)

    async def run_model(self, uri: str, version: int | None, fn, *args):
        """Run ``fn(*args, cancel)`` on the model thread; supersede older work on ``uri``."""
        if self.warming is not None:
            self.warming.set()  # the warm-up gives the model thread back within one chunk
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

    def warm_when_idle(self) -> None:
        """Let the completer prefill the window a quick suggestion skipped, on the model thread,
        until it is done or other model work arrives (which stops it and asks again after)."""
        if self.warming is not None and not self.warming.is_set():
            return  # one is queued or running
        cancel = self.warming = threading.Event()

        def finished(job: asyncio.Future) -> None:
            if job.exception() is not None:
                log.warning("warming the completion window failed: %s", job.exception())

        job = asyncio.get_running_loop().run_in_executor(self.model_executor, self.completer.warm, cancel)
        job.add_done_callback(finished)

    async def run_lint(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.lint_executor, fn, *args)

    def document(self, uri: str) -> TextDocument | None:
        """An open document, or None (requests for unknown documents get an empty answer)."""
        document = self.workspace.text_documents.get(uri)
        if document is None:
            log.info("request for a document that is not open: %s", uri)
        return document

    def apply_options(self, raw, origin: str) -> None:
        options, errors = parse_options(raw, Options())
        for error in errors:
            self.tell(types.MessageType.Warning, f"editseq {origin}: {error}")
        self.options = options
        self.models.configure(options)
        self.completion.behind.clear()  # edits decoded under the old options are not served

    def tell(self, kind: types.MessageType, message: str, once_key: str | None = None) -> None:
        """Show ``message`` to the user (once per ``once_key``) and log it."""
        log.log(logging.WARNING if kind <= types.MessageType.Warning else logging.INFO, "%s", message)
        if once_key is not None:
            if once_key in self.warned:
                return
            self.warned.add(once_key)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def log_to_client(self, message: str) -> None:
        """A line for the client's log (and ours); not a protocol: clients read editseq/status."""
        log.info("%s", message)
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=message))

    def model_failed(self, exc: ModelError) -> None:
        self.tell(types.MessageType.Error, f"editseq: {exc}", once_key=f"model:{exc}")
        self.send_status("error", message=str(exc))

    def send_status(self, state: str, **fields: Any) -> None:
        """An ``editseq/status`` notification (docs/protocol.md)."""
        params = {"state": state, **{k: v for k, v in fields.items() if v is not None}}
        try:
            params.setdefault("model", describe(self.models.spec()))
        except ModelError:
            pass
        self.protocol.notify(STATUS, params)

    async def load_models(self) -> None:
        """Warm pylint and load the model off the loop, with progress for clients that show it."""
        token = await self.begin_progress("editseq: loading the model")
        self.send_status("loading")
        loop = asyncio.get_running_loop()  # a remote model falling back says so, from any thread
        self.models.warn = lambda message: loop.call_soon_threadsafe(
            self.tell, types.MessageType.Warning, message, message)
        if token is not None:  # building a merged model takes a few seconds the first time
            loop = asyncio.get_running_loop()

            def report(message: str, fraction: float) -> None:
                loop.call_soon_threadsafe(self.work_done_progress.report, token,
                                          types.WorkDoneProgressReport(message=message,
                                                                       percentage=int(100 * fraction)))

            self.models.progress = report
        try:
            runtime = await asyncio.get_running_loop().run_in_executor(self.model_executor, self._load)
            loaded = f"editseq: model {describe(runtime.spec)} loaded in {runtime.load_s:.2f} s"
            self.log_to_client(loaded)
            self.send_status("ready", model=describe(runtime.spec), load_seconds=round(runtime.load_s, 2))
        except ModelError as exc:
            self.model_failed(exc)
        except Exception as exc:  # keep serving; each request reports its own failure
            log.exception("warm-up failed")
            self.tell(types.MessageType.Error, f"editseq: warm-up failed: {exc}", once_key="warmup")
            self.send_status("error", message=f"warm-up failed: {exc}")
        finally:
            self.models.progress = None
            if token is not None:
                self.work_done_progress.end(token, types.WorkDoneProgressEnd())

    def _load(self):
        """The model thread's first job, in one piece (a request that comes meanwhile waits
        behind all of it): the pylint worker, the edit model, its short-context twin."""
        self.models.gate.start()
        runtime = self.models.edits()
        if self.options.quick_window:  # the short-context twin, for a file's first suggestion
            self.models.quick_edits()
        return runtime

    async def begin_progress(self, title: str, cancellable: bool = False) -> str | None:
        """A ``$/progress`` token, begun; None when the client shows no progress."""
        capabilities = self.client_capabilities.window
        if capabilities is None or not capabilities.work_done_progress:
            return None
        token = f"editseq-{uuid.uuid4()}"
        try:
            await self.work_done_progress.create_async(token)
        except Exception:  # the client refused the token: go on without progress
            return None
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title=title, cancellable=cancellable, percentage=0 if cancellable else None))
        return token

    def forget(self, uri: str) -> None:
        """A document closed: drop every feature's state for it and stop its model work."""
        self.completion.forget(uri)
        self.diagnostics.forget(uri)
        pending = self.pending.pop(uri, None)
        if pending is not None:
            pending.cancel.set()

    def close(self) -> None:
        for pending in self.pending.values():
            pending.cancel.set()
        self.completer.close()
        self.models.close()


def create_server(runtime_factory: RuntimeFactory = ModelRuntime, *,
                  test_queries: bool = False) -> EditseqServer:
    """A server with every feature registered; tests pass a fake ``runtime_factory``, and
    ``test_queries`` adds requests that only tests may use (never `editseq serve`)."""
    server = EditseqServer(runtime_factory)
    if test_queries:
        @server.feature(TEST_DOCUMENT_TEXT)
        def document_text(ls: EditseqServer, params) -> dict | None:
            """The server's copy of an open document ({uri}), to compare with the client's."""
            uri = params["uri"] if isinstance(params, dict) else params.uri
            document = ls.workspace.text_documents.get(uri)
            return None if document is None else {"text": document.source, "version": document.version}

    @server.feature(types.INITIALIZE)
    def initialize(ls: EditseqServer, params: types.InitializeParams) -> None:
        ls.apply_options(params.initialization_options, "initializationOptions")

    @server.feature(types.INITIALIZED)
    async def initialized(ls: EditseqServer, params: types.InitializedParams) -> None:
        await ls.load_models()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: EditseqServer,
                                       params: types.DidChangeConfigurationParams) -> None:
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

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite,
                                                   types.CodeActionKind.QuickFix]),
    )
    def code_action(ls: EditseqServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        """Next edits the model proposed away from the cursor, and the function actions."""
        document = ls.document(params.text_document.uri)
        if document is None:
            return None
        actions = ls.completion.code_actions(document) + ls.functions.code_actions(document, params)
        return actions or None

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: EditseqServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: EditseqServer, params: None) -> None:
        ls.close()

    completion.register(server)
    functions.register(server)
    diagnostics.register(server)
    return server
