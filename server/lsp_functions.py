"""LSP features about whole functions: explain, repair, insert docstring, and pylint diagnostics.

Registration and lsprotocol conversion only; the work is in explain.py and repair.py. User code
runs only inside ``editseq.repairFunction``, which the user invokes, and only in the sandbox.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from .explain import as_docstring, explain
from .functions import FunctionSpan, enclosing_function
from .lintgate import LintMessage, detect_indent
from .repair import repair

if TYPE_CHECKING:
    from .lsp import EditseqServer

log = logging.getLogger(__name__)

EXPLAIN_TITLE = "Explain this function (editseq)"
REPAIR_TITLE = "Repair this function (editseq)"
DOCSTRING_TITLE = "Insert explanation as docstring (editseq)"
DIAGNOSTIC_SOURCE = "editseq (pylint)"
DIAGNOSTICS_DELAY_S = 0.6  # debounce: lint once typing pauses


def lsp_diagnostic(message: LintMessage, lines: list[str]) -> types.Diagnostic:
    row = max(0, min(message.line - 1, len(lines) - 1))
    text = lines[row] if lines else ""
    start = len(text) - len(text.lstrip())
    return types.Diagnostic(
        range=types.Range(start=types.Position(line=row, character=start),
                          end=types.Position(line=row, character=len(text))),
        message=f"{message.symbol}: {message.message}",
        severity=types.DiagnosticSeverity.Error,
        code=message.msg_id,
        source=DIAGNOSTIC_SOURCE,
    )


def function_actions(ls: EditseqServer, uri: str, text: str, params: types.CodeActionParams) -> list[types.CodeAction]:
    """Explain / repair / docstring actions for the function under the cursor (computed on demand)."""
    span = enclosing_function(text, params.range.start.line)
    if span is None:
        return []
    args = [uri, params.range.start]
    ours = [d for d in params.context.diagnostics if d.source == DIAGNOSTIC_SOURCE]
    actions = [
        types.CodeAction(title=EXPLAIN_TITLE, kind=types.CodeActionKind.Empty,
                         command=types.Command(title=EXPLAIN_TITLE, command="editseq.explainFunction", arguments=args)),
        types.CodeAction(title=REPAIR_TITLE,
                         kind=types.CodeActionKind.QuickFix if ours else types.CodeActionKind.RefactorRewrite,
                         diagnostics=ours or None,
                         command=types.Command(title=REPAIR_TITLE, command="editseq.repairFunction", arguments=args)),
    ]
    if span.docstring is None:
        actions.append(types.CodeAction(title=DOCSTRING_TITLE, kind=types.CodeActionKind.RefactorRewrite,
                                        command=types.Command(title=DOCSTRING_TITLE, command="editseq.insertDocstring", arguments=args)))
    return actions


def register(server: EditseqServer) -> None:
    # Command handlers leave ``ls`` unannotated: pygls resolves their annotations at run time.
    @server.command("editseq.explainFunction")
    async def explain_function(ls, uri: str, position: types.Position) -> dict:
        found = _function_at(ls, uri, position)
        if isinstance(found, str):
            return {"error": found}
        text, span = found
        explanation = await ls.run_model(uri, None, _explain_job, ls, text, span)
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info,
                                                       message=f"{span.name}: {explanation.text}"))
        return {"function": span.name, "markdown": explanation.markdown(), "text": explanation.text,
                "latency_ms": round(explanation.latency_ms)}

    @server.command("editseq.insertDocstring")
    async def insert_docstring(ls, uri: str, position: types.Position) -> dict:
        found = _function_at(ls, uri, position)
        if isinstance(found, str):
            return {"error": found}
        text, span = found
        if span.docstring is not None:
            return {"error": f"{span.name} already has a docstring"}
        explanation = await ls.run_model(uri, None, _explain_job, ls, text, span)
        lines = as_docstring(explanation, span, detect_indent(text))
        edit = types.TextEdit(range=types.Range(start=types.Position(line=span.body_start, character=0),
                                                end=types.Position(line=span.body_start, character=0)),
                              new_text="\n".join(lines) + "\n")
        applied = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
            label=f"Docstring for {span.name} (editseq)", edit=types.WorkspaceEdit(changes={uri: [edit]})))
        return {"function": span.name, "docstring": lines, "applied": applied.applied}

    @server.command("editseq.repairFunction")
    async def repair_function(ls, uri: str, position: types.Position) -> dict:
        found = _function_at(ls, uri, position)
        if isinstance(found, str):
            return {"offered": False, "reason": found}
        text, span = found
        ls.window_log_message(types.LogMessageParams(
            type=types.MessageType.Info, message=f"editseq: repairing {span.name}: running its checks in the sandbox"))
        result = await ls.run_model(uri, None, _repair_job, ls, text, position.line)
        reply = {"function": result.function, "offered": result.offered is not None,
                 "verification": result.verification, "reason": result.reason,
                 "latency_ms": round(result.latency_ms), "candidates": len(result.candidates)}
        if result.before_checks is not None:
            reply["checks_before"] = f"{result.before_checks.passed}/{result.before_checks.total}"
        if result.offered is None:
            ls.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Warning, message=f"editseq: no repair for {result.function}: {result.reason}"))
            return reply
        title = f"Repair {result.function}: {result.verification} (editseq)"
        lines = text.split("\n")
        edit = types.TextEdit(range=types.Range(start=types.Position(line=0, character=0),
                                                end=types.Position(line=len(lines), character=0)),
                              new_text=result.offered.new_text)
        choice = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Info, message=f"{title}. Apply it?",
            actions=[types.MessageActionItem("Apply"), types.MessageActionItem("Cancel")]))
        reply["applied"] = False
        if choice is not None and choice.title == "Apply":
            applied = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
                label=title, edit=types.WorkspaceEdit(changes={uri: [edit]})))
            reply["applied"] = applied.applied
        return reply

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: EditseqServer, params: types.DidOpenTextDocumentParams) -> None:
        _schedule_diagnostics(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: EditseqServer, params: types.DidChangeTextDocumentParams) -> None:
        _schedule_diagnostics(ls, params.text_document.uri)


def _function_at(ls: EditseqServer, uri: str, position: types.Position) -> tuple[str, FunctionSpan] | str:
    document = ls.workspace.text_documents.get(uri)
    if document is None:
        return f"document not open: {uri}"
    text = document.source
    span = enclosing_function(text, document.position_from_client_units(position).line)
    if span is None:
        return f"no function at line {position.line + 1}"
    return text, span


def _explain_job(ls: EditseqServer, text: str, span: FunctionSpan, cancel):
    return explain(ls.suggester.chat_runtime(), text.split("\n"), span, cancel=cancel)


def _repair_job(ls: EditseqServer, text: str, line: int, cancel):
    return repair(ls.suggester.chat_runtime(), ls.suggester.gate, text, line,
                  candidates=ls.options.repair_candidates, cancel=cancel)


def _schedule_diagnostics(ls: EditseqServer, uri: str) -> None:
    """Publish pylint errors once typing pauses; a newer change restarts the wait."""
    if not ls.options.diagnostics:
        return
    previous = ls.diagnostics_tasks.pop(uri, None)
    if previous is not None:
        previous.cancel()
    ls.diagnostics_tasks[uri] = asyncio.ensure_future(_publish_diagnostics(ls, uri))


async def _publish_diagnostics(ls: EditseqServer, uri: str) -> None:
    await asyncio.sleep(DIAGNOSTICS_DELAY_S)
    document = ls.workspace.text_documents.get(uri)
    if document is None or not uri.endswith(".py") and document.language_id != "python":
        return
    text, version = document.source, document.version
    if len(text.encode("utf-8", "surrogatepass")) > ls.options.max_file_bytes:
        return
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(ls.lint_executor, ls.suggester.gate.check, text)
    if not result.ok:
        log.warning("diagnostics for %s skipped: %s", uri, result.failure)
        return
    lines = text.split("\n")
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
        uri=uri, version=version, diagnostics=[lsp_diagnostic(m, lines) for m in result.messages]))
