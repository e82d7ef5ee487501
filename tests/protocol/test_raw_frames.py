"""Every request gets a reply: raw frames, written byte by byte to the real server's stdin.

The server is tests/nvim/scripted_server.py (create_server on a scripted model). Each test sends
frames a well-behaved client never sends (a body that is not JSON, params of the wrong shape, no
"jsonrpc", requests before initialize and after shutdown) and checks the JSON-RPC error that
comes back, with the request's id, or null where the request has none that can be read. At the
end every id sent has exactly one reply.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[1] / "nvim" / "scripted_server.py"
REPLY_S = 20.0


class RawClient:
    """Frames in and out of a server process, with no client library in between."""

    def __init__(self) -> None:
        env = {**os.environ, "EDITSEQ_TEST_QUERIES": "1"}
        self.process = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.replies: queue.Queue[dict] = queue.Queue()
        self.sent_ids: list = []
        self.received: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                header = stream.readline()
                if not header:
                    return
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
                elif header in (b"\r\n", b"\n"):
                    break
            message = json.loads(stream.read(length))
            if "method" not in message:  # a reply (notifications and server requests aside)
                self.received.append(message)
                self.replies.put(message)

    def frame(self, body: bytes) -> None:
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def send(self, message) -> None:
        if isinstance(message, dict) and "id" in message and "method" in message:
            self.sent_ids.append(message["id"])
        self.frame(json.dumps(message).encode())

    def request(self, request_id, method: str, params=None) -> dict:
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return self.reply()

    def notify(self, method: str, params=None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def reply(self) -> dict:
        try:
            return self.replies.get(timeout=REPLY_S)
        except queue.Empty:
            raise AssertionError(f"no reply within {REPLY_S} s") from None


def error_of(reply: dict, request_id, code: int) -> str:
    assert reply.get("id", "missing") == request_id, reply
    assert "result" not in reply and reply["error"]["code"] == code, reply
    return reply["error"]["message"]


@pytest.fixture(scope="module")
def raw():
    client = RawClient()
    yield client
    if client.process.poll() is None:
        client.process.kill()
    client.process.wait(10)


def test_a_request_before_initialize_is_refused_as_not_initialized(raw):
    params = {"textDocument": {"uri": "file:///x.py"}, "position": {"line": 0, "character": 0},
              "context": {"triggerKind": 1}}
    message = error_of(raw.request(1, "textDocument/inlineCompletion", params), 1, -32002)
    assert "initialize" in message
    reply = raw.request(2, "initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert reply["id"] == 2 and "capabilities" in reply["result"]
    raw.notify("initialized", {})


def test_a_body_that_is_not_json_gets_a_parse_error(raw):
    raw.frame(b'{"jsonrpc": "2.0", "id": 10, "method": ')
    assert error_of(raw.reply(), None, -32700).startswith("parse error")
    raw.frame(b'{"jsonrpc": "2.0", "id": 11, "method": "shutdown", "x": "\xff\xfe"}')  # not UTF-8
    error_of(raw.reply(), None, -32700)


@pytest.mark.parametrize(("body", "request_id"), [
    ([], None),
    ("a string", None),
    (None, None),
    ({"id": 20, "method": "shutdown"}, 20),  # no "jsonrpc"
    ({"jsonrpc": "1.0", "id": 21, "method": "shutdown"}, 21),
    ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "editseq/unknown"}, None),
    ({"jsonrpc": "2.0", "id": True, "method": "shutdown"}, None),
    ({"jsonrpc": "2.0"}, None),
])
def test_what_is_not_a_request_gets_invalid_request(raw, body, request_id):
    if request_id is not None:
        raw.sent_ids.append(request_id)
    raw.frame(json.dumps(body).encode())
    error_of(raw.reply(), request_id, -32600)


@pytest.mark.parametrize(("method", "params", "words"), [
    ("textDocument/inlineCompletion", {"textDocument": {"uri": "file:///x.py"}, "context": {"triggerKind": 1}},
     "required field missing @ params.position"),
    ("textDocument/inlineCompletion", {"textDocument": {"uri": "file:///x.py"}, "position": {"line": "one", "character": 0},
                                       "context": {"triggerKind": 1}}, "params.position.line"),
    ("textDocument/codeAction", None, "params"),
    ("textDocument/codeAction", [1, 2], "params"),
    ("workspace/executeCommand", {"command": "editseq.noSuchCommand"}, "not defined"),
    ("workspace/executeCommand", {"command": "editseq.explainFunction", "arguments": [1, 2, 3, 4]}, "arguments"),
])
def test_params_of_the_wrong_shape_get_invalid_params_with_a_readable_message(raw, method, params, words):
    request_id = f"bad-{len(raw.sent_ids)}"
    message = error_of(raw.request(request_id, method, params), request_id, -32602)
    assert words in message, message


def test_an_unknown_method_gets_method_not_found(raw):
    error_of(raw.request(30, "editseq/noSuchMethod", {}), 30, -32601)


def test_a_notification_with_bad_params_gets_no_reply_and_the_server_goes_on(raw):
    raw.notify("textDocument/didOpen", {"textDocument": {"uri": 5}})
    raw.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///ok.py", "languageId": "python",
                                                          "version": 1, "text": "x = 1\n"}})
    reply = raw.request(31, "editseq/test/documentText", {"uri": "file:///ok.py"})
    assert reply == {"jsonrpc": "2.0", "id": 31, "result": {"text": "x = 1\n", "version": 1}}


def test_after_shutdown_requests_are_refused_and_exit_ends_the_server(raw):
    assert raw.request(40, "shutdown") == {"jsonrpc": "2.0", "id": 40, "result": None}
    error_of(raw.request(41, "editseq/test/documentText", {"uri": "file:///ok.py"}), 41, -32600)
    raw.notify("exit")
    assert raw.process.wait(20) == 0


def test_every_request_sent_got_exactly_one_reply(raw):
    answered = [reply.get("id") for reply in raw.received]
    identified = [i for i in raw.sent_ids if isinstance(i, (int, str)) and not isinstance(i, bool)]
    assert sorted(map(str, (i for i in answered if i is not None))) == sorted(map(str, identified))
