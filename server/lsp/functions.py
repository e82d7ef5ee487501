"""Explain, repair, implement and insert-docstring: commands and code actions on the function at
a cursor.

Each command finds the function, runs the feature (``editseq.explain`` / ``editseq.repair`` /
``editseq.implement``) on the model thread, and answers in the one reply shape
(``convert.command_reply``). User code runs only inside ``editseq.repairFunction`` and
``editseq.implementFunction``, which the user invokes, and only in the sandbox; edits reach the
file only through a WorkspaceEdit the user accepts. Implement reports its progress ($/progress,
cancellable) and stops when cancelled or superseded by a newer request on the document.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.workspace import TextDocument

from ..explain import as_docstring, explain
from ..implement import ImplementResult, ImplementSettings, implement
from ..lintgate import detect_indent
from ..pysource import FunctionSpan, enclosing_function, function_stub
from ..repair import repair
from ..runtime import ModelError
from . import convert

if TYPE_CHECKING:
    from .server import EditseqServer

EXPLAIN_TITLE = "Explain this function (editseq)"
REPAIR_TITLE = "Repair this function (editseq)"
DOCSTRING_TITLE = "Insert explanation as docstring (editseq)"
IMPLEMENT_TITLE = "Implement this function (editseq)"


class Functions:
    def __init__(self, server: EditseqServer) -> None:
        self.server = server

    def code_actions(self, document: TextDocument, params: types.CodeActionParams) -> list[types.CodeAction]:
        """Explain / repair / docstring actions for the function under the cursor (computed on
        demand, when the user picks one)."""
        line, _ = convert.server_position(document, params.range.start)
        span = enclosing_function(document.source, line)
        if span is None:
            return []
        args = [document.uri, params.range.start]
        ours = [d for d in params.context.diagnostics if d.source == convert.DIAGNOSTIC_SOURCE]

        def action(title: str, command: str, kind: types.CodeActionKind, **extra) -> types.CodeAction:
            return types.CodeAction(title=title, kind=kind, command=types.Command(
                title=title, command=command, arguments=args), **extra)

        actions = [
            action(EXPLAIN_TITLE, "editseq.explainFunction", types.CodeActionKind.Empty),
            action(REPAIR_TITLE, "editseq.repairFunction",
                   types.CodeActionKind.QuickFix if ours else types.CodeActionKind.RefactorRewrite,
                   diagnostics=ours or None),
        ]
        if span.docstring is None:
            actions.append(action(DOCSTRING_TITLE, "editseq.insertDocstring",
                                  types.CodeActionKind.RefactorRewrite))
        if function_stub(document.source, span) is not None:
            actions.insert(0, action(IMPLEMENT_TITLE, "editseq.implementFunction",
                                     types.CodeActionKind.RefactorRewrite))
        return actions

    def function_at(self, uri: str, position: types.Position) -> tuple[TextDocument, str, FunctionSpan] | str:
        """The document, its text and the function at ``position``, or why there is none."""
        document = self.server.workspace.text_documents.get(uri)
        if document is None:
            return f"document not open: {uri}"
        text = document.source
        line, _ = convert.server_position(document, position)
        span = enclosing_function(text, line)
        if span is None:
            return f"no function at line {position.line + 1}"
        return document, text, span

    def changed(self, uri: str, version: int | None) -> bool:
        """Has the document moved on from ``version`` (or closed)? Then an edit computed on it
        is not handed out: the user is told, and can ask again."""
        current = self.server.workspace.text_documents.get(uri)
        return current is None or current.version != version

    def explain_job(self, text: str, span: FunctionSpan, cancel):
        return explain(self.server.models.chat(), text.split("\n"), span, cancel=cancel)

    def repair_job(self, text: str, span: FunctionSpan, cancel):
        (runtime, edits), *also = self.server.models.repair_writers()
        return repair(runtime, self.server.models.gate, text, span.start, edits=edits, also=also,
                      candidates=self.server.options.repair_candidates, cancel=cancel)

    def implement_job(self, text: str, span: FunctionSpan, progress, cancel) -> ImplementResult:
        models = self.server.models
        settings = ImplementSettings(candidates=self.server.options.implement_candidates)
        return implement(models.function_edits(), models.gate.judge, text, span.start, settings=settings,
                         cancel=cancel, progress=progress)


def implement_fields(result: ImplementResult) -> dict:
    return {
        "function": result.function, "verification": result.verification, "checks": result.checks,
        "candidates": len(result.candidates), "latency_ms": round(result.latency_ms), "applied": False,
        "timings": {key.removesuffix("_s") + "Ms": round(1000 * value) for key, value in result.timings().items()},
        "tried": [{"candidate": c.index + 1, "verdict": c.verdict,
                   "meanLogprob": None if c.mean_logprob is None else round(c.mean_logprob, 3)}
                  for c in result.candidates],
    }


def register(server: EditseqServer) -> None:
    def function_command(name: str):
        """Register ``handler(ls, document, text, span)`` as command ``name(uri, position)``;
        a position outside any function gets the error reply."""
        def decorate(handler):
            # ``ls`` stays unannotated: pygls resolves the annotations at run time
            @server.command(name)
            async def run(ls, uri: str, position: types.Position) -> dict:
                found = ls.functions.function_at(uri, position)
                if isinstance(found, str):
                    return convert.command_reply(False, found)
                try:
                    return await handler(ls, *found)
                except ModelError as exc:  # the model is missing, or its server failed
                    ls.send_status("error", message=str(exc))
                    return convert.command_reply(False, str(exc), function=found[2].name)
            return handler
        return decorate

    @function_command("editseq.explainFunction")
    async def explain_function(ls: EditseqServer, document: TextDocument, text: str,
                               span: FunctionSpan) -> dict:
        explanation = await ls.run_model(document.uri, None, ls.functions.explain_job, text, span)
        message = f"{span.name}: {explanation.text}"
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=message))
        return convert.command_reply(True, message, function=span.name, markdown=explanation.markdown(),
                                     text=explanation.text, latency_ms=round(explanation.latency_ms))

    @function_command("editseq.insertDocstring")
    async def insert_docstring(ls: EditseqServer, document: TextDocument, text: str,
                               span: FunctionSpan) -> dict:
        if span.docstring is not None:
            return convert.command_reply(False, f"{span.name} already has a docstring", function=span.name)
        version = document.version
        explanation = await ls.run_model(document.uri, None, ls.functions.explain_job, text, span)
        lines = as_docstring(explanation, span, detect_indent(text))
        if ls.functions.changed(document.uri, version):
            return convert.command_reply(False, f"{document.uri} changed while the docstring of "
                                         f"{span.name} was written; ask again", stale=True,
                                         function=span.name)
        applied = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
            label=f"Docstring for {span.name} (editseq)",
            edit=convert.insertion_edit(document, version, span.body_start, "\n".join(lines) + "\n")))
        message = "docstring inserted" if applied.applied else "the editor did not apply the docstring"
        return convert.command_reply(applied.applied, message, function=span.name, docstring=lines,
                                     applied=applied.applied)

    @function_command("editseq.repairFunction")
    async def repair_function(ls: EditseqServer, document: TextDocument, text: str,
                              span: FunctionSpan) -> dict:
        ls.window_log_message(types.LogMessageParams(
            type=types.MessageType.Info,
            message=f"editseq: repairing {span.name}: running its checks in the sandbox"))
        version = document.version
        result = await ls.run_model(document.uri, None, ls.functions.repair_job, text, span)
        checks = result.before_checks
        fields = {"function": result.function, "verification": result.verification,
                  "checks_before": f"{checks.passed}/{checks.total}" if checks else None,
                  "candidates": len(result.candidates), "latency_ms": round(result.latency_ms),
                  "applied": False}
        if result.offered is None:  # the client shows the message (ok: false)
            return convert.command_reply(False, f"no repair for {result.function}: {result.reason}",
                                         **fields)
        title = f"Repair {result.function}: {result.verification} (editseq)"
        stale = f"{document.uri} changed while {span.name} was being repaired; ask again"
        if ls.functions.changed(document.uri, version):
            return convert.command_reply(False, stale, stale=True, **fields)
        choice = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Info, message=f"{title}. Apply it?",
            actions=[types.MessageActionItem("Apply"), types.MessageActionItem("Cancel")]))
        if choice is not None and choice.title == "Apply":
            if ls.functions.changed(document.uri, version):  # typed while the question was open
                return convert.command_reply(False, stale, stale=True, **fields)
            applied = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
                label=title, edit=convert.whole_document_edit(document, version, text,
                                                              result.offered.new_text)))
            fields["applied"] = applied.applied
        return convert.command_reply(True, title, **fields)

    @function_command("editseq.implementFunction")
    async def implement_function(ls: EditseqServer, document: TextDocument, text: str,
                                 span: FunctionSpan) -> dict:
        if function_stub(text, span) is None:
            return convert.command_reply(False, f"{span.name} already has a body (implement fills in one "
                                         "that is empty, pass, ... or raise NotImplementedError)",
                                         function=span.name)
        version = document.version
        ls.window_log_message(types.LogMessageParams(
            type=types.MessageType.Info,
            message=f"editseq: implementing {span.name}: up to {ls.options.implement_candidates} "
                    "candidates, run against its docstring examples and tests in the sandbox"))
        token = await ls.begin_progress(f"editseq: implementing {span.name}", cancellable=True)
        loop = asyncio.get_running_loop()

        def progress(message: str, fraction: float) -> None:  # called on the model thread
            if token is not None:
                loop.call_soon_threadsafe(ls.work_done_progress.report, token, types.WorkDoneProgressReport(
                    message=message, percentage=min(100, int(100 * fraction))))

        task = asyncio.ensure_future(ls.run_model(document.uri, None, ls.functions.implement_job, text, span,
                                                  progress))
        stopped_by_user = False
        if token is not None and token in ls.work_done_progress.tokens:
            def on_progress_cancel(future) -> None:
                nonlocal stopped_by_user
                if future.cancelled():
                    stopped_by_user = True
                    loop.call_soon_threadsafe(task.cancel)

            ls.work_done_progress.tokens[token].add_done_callback(on_progress_cancel)
        try:
            result = await task
        except asyncio.CancelledError:
            if not stopped_by_user:
                raise  # $/cancelRequest: pygls answers the request
            return convert.command_reply(False, f"implementing {span.name} was cancelled", function=span.name,
                                         applied=False)
        finally:
            if token is not None:
                ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
                ls.work_done_progress.tokens.pop(token, None)
        fields = implement_fields(result)
        if result.cancelled:
            return convert.command_reply(False, f"implementing {span.name} was cancelled (a newer request, "
                                         "or the document closed)", **fields)
        if result.offered is None:  # the client shows the message (ok: false)
            return convert.command_reply(False, f"no implementation of {span.name}: {result.reason}", **fields)
        title = f"Implement {span.name}: {result.verification} (editseq)"
        stale = f"{document.uri} changed while {span.name} was being implemented; ask again"
        if ls.functions.changed(document.uri, version):  # typed while the candidates were written
            return convert.command_reply(False, stale, stale=True, **fields)
        choice = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Info, message=f"{title}. Apply it?",
            actions=[types.MessageActionItem("Apply"), types.MessageActionItem("Cancel")]))
        if choice is not None and choice.title == "Apply":
            if ls.functions.changed(document.uri, version):  # typed while the question was open
                return convert.command_reply(False, stale, stale=True, **fields)
            applied = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
                label=title, edit=convert.whole_document_edit(document, version, text,
                                                              result.offered.new_text)))
            fields["applied"] = applied.applied
        return convert.command_reply(True, title, **fields)
