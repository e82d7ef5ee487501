"""editseq's JSON-RPC protocol: pygls' LanguageServerProtocol, changed so that every request gets
a reply, and so that documents count lines as the LSP does.

Why an override (checked against pygls 2.1.1: ``pygls/io_.py``'s read loop and
``pygls/protocol/json_rpc.py``): the read loop runs ``json.loads(body, object_hook=
protocol.structure_message)`` and then ``protocol.handle_message``, and any exception out of
either is logged and handed to ``report_server_error``, which replies nothing. So, in pygls:

- a body that is not JSON (or not UTF-8) gets no reply; JSON-RPC 2.0 asks for a Parse error
  (-32700, id null). The read loop gives it to ``EditseqServer.report_server_error``, which
  calls ``reply_to_unreadable`` here;
- a request whose params do not fit its method's type raises JsonRpcInvalidParams out of
  ``structure_message`` (the message is lost with it): here it becomes an Invalid params reply
  (-32602) that says which fields are wrong ("required field missing @ params.position");
- a message that is not an object, has no ``"jsonrpc": "2.0"``, or has an id that is neither a
  number nor a string is dropped (or fails with AttributeError): here Invalid Request (-32600),
  with the request's id when it has a usable one and null otherwise;
- a request after ``shutdown`` is dropped with a log line; the LSP asks for InvalidRequest;
- a request before ``initialize`` runs and usually fails on the missing workspace; the LSP asks
  for ServerNotInitialized (-32002); notifications before it are dropped (but ``exit``);
- a client's reply to a request of ours that cannot be read leaves our request waiting forever:
  here the request fails with that error instead.

Unknown methods already got MethodNotFound (-32601) and failing handlers InternalError (-32603).

Documents: pygls' TextDocument splits lines with ``str.splitlines``, which also breaks at form
feed, vertical tab, U+001C..U+001E, U+0085, U+2028 and U+2029, where the LSP (and every
client) counts only ``\\n``, ``\\r\\n`` and ``\\r``; and an edit whose character lies past the end
of a line lands after the line break (or, on a last line without one, one character too early)
instead of at the line's end. After such a character the server's text and positions drift
from the client's. ``LspTextDocument`` keeps pygls' code but with the LSP's lines and columns.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import attrs
from cattrs import BaseValidationError, transform_error
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.workspace import TextDocument, Workspace
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
SERVER_NOT_INITIALIZED = -32002

LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # a line and its break, LSP-style


def lsp_lines(text: str) -> list[str]:
    """The lines of ``text`` with their breaks, split only at \\n, \\r\\n and \\r (the LSP's)."""
    return LINE.findall(text)


class LspPositionCodec(PositionCodec):
    """pygls' codec, with a character past a line's end meaning that end (the LSP's rule)."""

    def position_from_client_units(self, lines: Sequence[str], position: types.Position
                                   ) -> ServerTextPosition:
        if not lines:
            return ServerTextPosition(0, 0)
        if position.line >= len(lines):  # past the last line: the end of the document
            return ServerTextPosition(len(lines) - 1, len(lines[-1]))
        line = lines[position.line]
        content = line.rstrip("\r\n")
        column, units = 0, 0
        for character in content:
            if units >= position.character:
                break
            units += self.impl.code_units_for_char(character)
            column += 1
        return ServerTextPosition(position.line, column)


class LspTextDocument(TextDocument):
    """pygls' document with the LSP's lines (see the module docstring)."""

    @property
    def lines(self) -> Sequence[str]:
        return tuple(lsp_lines(self.source))

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        lines = self.lines
        span = self._position_codec.range_from_client_units(lines, change.range)
        start = sum(len(line) for line in lines[: span.start.line]) + span.start.character
        end = sum(len(line) for line in lines[: span.end.line]) + span.end.character
        if end < start:  # a reversed range: the text between the two ends is replaced
            start, end = end, start
        source = self.source
        self._source = source[:start] + change.text + source[end:]


class LspWorkspace(Workspace):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._position_codec = LspPositionCodec(encoding=self._position_encoding)

    def _create_text_document(self, doc_uri: str, source: str | None = None,
                              version: int | None = None, language_id: str | None = None
                              ) -> TextDocument:
        return LspTextDocument(doc_uri, source=source, version=version, language_id=language_id,
                               sync_kind=self._sync_kind, position_codec=self._position_codec)


@attrs.define
class Unreadable:
    """A message that could not be structured: what was read of it, and why."""

    data: Any
    reason: str


class EditseqProtocol(LanguageServerProtocol):
    """Every request gets a reply; documents are LspTextDocuments (module docstring)."""

    def __init__(self, server, converter) -> None:
        super().__init__(server, converter)
        self._initialize_seen = False

    # -- reading -----------------------------------------------------------------------------

    def structure_message(self, data: dict[str, Any]):
        """pygls' structuring (nested objects pass through it first, unchanged), but a message
        that does not fit its type becomes an ``Unreadable`` instead of an exception."""
        if "jsonrpc" not in data:
            return data
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            return Unreadable(data, self._why(data, exc.__cause__ or exc))

    def _why(self, data: dict[str, Any], error: BaseException) -> str:
        if isinstance(error, BaseValidationError):
            details = [_wire_path(row) for row in transform_error(error, path="$")]
            return "; ".join(details)
        return f"{type(error).__name__}: {error}"

    def handle_message(self, message) -> None:
        if isinstance(message, Unreadable):
            return self._handle_unreadable(message)
        if not hasattr(message, "jsonrpc"):  # not an object, or one without "jsonrpc"
            request_id = _usable_id(message.get("id")) if isinstance(message, dict) else None
            if isinstance(message, dict) and "method" not in message and "id" in message:
                log.warning("ignoring a reply without \"jsonrpc\": %.200r", message)
                return None
            return self._reply_error(request_id, INVALID_REQUEST,
                                     'not a JSON-RPC 2.0 message: expected an object with "jsonrpc": "2.0"')
        method = getattr(message, "method", None)
        is_request = method is not None and hasattr(message, "id")
        if message.jsonrpc != self.VERSION:
            if is_request:
                return self._reply_error(_usable_id(message.id), INVALID_REQUEST,
                                         f'unsupported "jsonrpc": {message.jsonrpc!r}; expected "2.0"')
            return super().handle_message(message)  # logs and drops it
        if is_request and _usable_id(message.id) is None:
            return self._reply_error(None, INVALID_REQUEST, "a request id must be a number or a string")
        if method == types.INITIALIZE:
            self._initialize_seen = True
        elif not self._initialize_seen and method is not None and method != types.EXIT:
            if is_request:
                return self._reply_error(message.id, SERVER_NOT_INITIALIZED,
                                         f"{method} before initialize: send initialize first")
            log.warning("dropping %s before initialize", method)
            return None
        if self._shutdown and is_request:
            return self._reply_error(message.id, INVALID_REQUEST,
                                     f"{method} after shutdown: the server is shutting down")
        return super().handle_message(message)

    def _handle_unreadable(self, message: Unreadable) -> None:
        data = message.data
        method, request_id = data.get("method"), data.get("id")
        if method is not None and "id" in data:  # a request
            known = self.get_message_type(method) is not None
            usable = _usable_id(request_id)
            if known and usable is not None:
                return self._reply_error(usable, INVALID_PARAMS,
                                         f"invalid params for {method}: {message.reason}")
            return self._reply_error(usable, INVALID_REQUEST, f"invalid request: {message.reason}")
        if method is not None:  # a notification: no reply is possible
            log.warning("dropping notification %s with invalid params: %s", method, message.reason)
            return None
        if "id" not in data:  # neither a request, a notification nor a reply
            return self._reply_error(None, INVALID_REQUEST, f"invalid request: {message.reason}")
        future = self._request_futures.pop(request_id, None) if _usable_id(request_id) is not None else None
        log.warning("unreadable reply to request %r: %s", request_id, message.reason)
        if future is not None and not future.done():
            future.set_exception(JsonRpcException(f"unreadable reply: {message.reason}"))
        return None

    def reply_to_unreadable(self, error: Exception) -> bool:
        """A frame's body that is not JSON: reply Parse error (True), else False."""
        if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
            self._reply_error(None, PARSE_ERROR, f"parse error: {error}")
            return True
        return False

    def _reply_error(self, request_id, code: int, message: str) -> None:
        log.warning("replying %s to request %r: %s", code, request_id, message)
        if request_id is None:  # lsprotocol's converter would drop a null id, which must be sent
            self._send_data({"jsonrpc": self.VERSION, "id": None,
                             "error": {"code": code, "message": message}})
        else:
            self._send_response(request_id, error=types.ResponseError(code=code, message=message))

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams):
        """pygls' command dispatch, with arguments that do not fit the command's signature
        reported field by field (pygls says "While structuring Position (2 sub-exceptions)")."""
        try:
            return (yield from super().lsp_workspace__execute_command(params))
        except JsonRpcInvalidParams as exc:
            cause = exc.__context__
            if isinstance(cause, BaseValidationError):
                details = "; ".join(_wire_path(row) for row in transform_error(cause, path="$.arguments"))
                raise JsonRpcInvalidParams(f"invalid arguments for {params.command}: {details}") from cause
            raise

    # -- documents ---------------------------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        result = yield from super().lsp_initialize(params)
        old = self._workspace
        self._workspace = LspWorkspace(old._root_uri, old._sync_kind, list(old.folders.values()),
                                       old.position_encoding)
        return result


def _usable_id(value) -> int | str | None:
    return value if isinstance(value, (int, str)) and not isinstance(value, bool) else None


def _wire_path(row: str) -> str:
    """cattrs' "... @ $.params.text_document" in the protocol's names: "... @ params.textDocument"."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), row.replace("@ $.", "@ "))

