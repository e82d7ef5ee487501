"""A small OpenAI-compatible completions server that misbehaves on purpose, for fault tests.

``Stub()`` listens on 127.0.0.1 (a random port) in a thread of the test process. The model
name of each request picks what it does, so one stub serves every fault (``remoteModel`` in
the options chooses):

- ``ok`` (or any other name): streams ``Stub.reply`` in small events, cut at the request's
  stop strings, then ``[DONE]``, as engines do; a prompt that ends in the server's hunk header
  at the cursor is continued with ``Stub.line`` inserted there (like tests/scripted.py);
- ``slow``: one event every 30 ms, forever; ``stall``: one event, then silence; both until the
  client closes the connection;
- ``silent``: never answers (not even the status line);
- ``cut``: two events, then the connection is dropped mid-stream;
  ``short``: two events, then the stream ends cleanly without a finish or ``[DONE]``;
- ``garbage``: an event whose data is not JSON; ``nochoices``: JSON without choices;
- ``ignore-stop``: streams past the stop string;
- ``json``: a plain JSON reply instead of a stream;
- ``http-401``, ``http-404``, ``http-500``: that status with an OpenAI-style error body;
- ``no-top-k-0``: refuses ``top_k: 0`` with HTTP 400, as vLLM does, else ``ok``.

Each request is recorded (``Stub.requests``: path, headers, body, and for streams the
``time.monotonic()`` when the stub saw the client close the connection), so a test can check
what was sent and when a cancel closed the stream.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LINE = "    return 2 * (width + height)"  # what the stub offers at the cursor
ANCHOR = re.compile(r"@@ -\d+,0 \+\d+$")  # the server's start of the hunk at the cursor
REPLY = "@@ -3,0 +4 @@\n+    return 2 * (width + height)\n<|diff|>@@ -0,0 +1 @@\n+import math"


class Stub:
    def __init__(self, reply: str = REPLY, line: str = LINE) -> None:
        self.reply, self.line = reply, line
        self.requests: list[dict] = []
        self.streaming = threading.Event()  # a slow or stalled stream has sent its first event
        stub = self

        class Handler(_Handler):
            owner = stub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def completions(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/completions")]

    def closed_at(self, record: dict, timeout_s: float = 5.0) -> float | None:
        """When the stub saw the client close ``record``'s connection (waiting for it to notice)."""
        deadline = time.monotonic() + timeout_s
        while record["closed_at"] is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return record["closed_at"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: Stub

    def log_message(self, format, *args) -> None:  # quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # the client went away: that is what several tests do
            pass

    def do_GET(self) -> None:
        self.owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
        self._json(200, {"object": "list", "data": [{"id": "ok", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        record = {"path": self.path, "headers": dict(self.headers), "body": body, "closed_at": None}
        self.owner.requests.append(record)
        mode = str(body.get("model", "ok"))
        if mode.startswith("http-"):
            status = int(mode.removeprefix("http-"))
            self._json(status, {"error": {"message": f"stub says {status}", "type": "stub"}})
            return
        if mode == "no-top-k-0" and body.get("top_k") == 0:  # as vLLM answers (its "off" is -1)
            self._json(400, {"object": "error", "message": "top_k must be -1 (disable), or at least 1, "
                             "got 0.", "type": "BadRequestError", "code": 400})
            return
        if mode == "json":
            self._json(200, {"choices": [{"text": "x", "finish_reason": "stop"}]})
            return
        if mode == "silent":
            self._until_closed(record, 30.0)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stop = body.get("stop") or []
        if mode == "slow":
            self.owner.streaming.set()
            for _ in range(1000):  # 30 s at most
                if not self._event({"choices": [{"text": "+", "finish_reason": None}]}):
                    record["closed_at"] = time.monotonic()
                    return
                if self._until_closed(record, 0.03):
                    return
            return
        if mode == "stall":
            self._event({"choices": [{"text": "@@", "finish_reason": None}]})
            self.owner.streaming.set()
            self._until_closed(record, 30.0)
            return
        if mode in ("cut", "short"):
            self._event({"choices": [{"text": "@@ -3,0", "finish_reason": None}]})
            self._event({"choices": [{"text": " +4 @@", "finish_reason": None}]})
            if mode == "cut":
                self.wfile.write(b"40\r\ndata: {\"choi")  # half an event, and the connection drops
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self._end()
            self.close_connection = True
            return
        if mode == "garbage":
            self._event("{this is not json")
            self._end()
            return
        if mode == "nochoices":
            self._event({"id": "x", "object": "text_completion"})
            self._end()
            return
        text = self.owner.reply
        if ANCHOR.search(str(body.get("prompt", ""))):  # continue the hunk header at the cursor
            text = f" @@\n+{self.owner.line}\n<|diff|>"
        if mode != "ignore-stop":
            hits = [text.find(s) for s in stop if s in text]
            if hits:
                text = text[: min(hits)]
        pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
        for piece in pieces:
            self._event({"choices": [{"text": piece, "finish_reason": None}]})
        self._event({"choices": [{"text": "", "finish_reason": "stop"}]})
        self._event("[DONE]")
        self._end()

    # ------------------------------------------------------------------ helpers

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, payload) -> bool:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        frame = f"data: {data}\r\n\r\n".encode()
        try:
            self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            self.wfile.flush()
            return True
        except OSError:
            return False

    def _end(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass

    def _until_closed(self, record: dict, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the client to close; record when it did."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], left)
            if not readable:
                continue
            try:
                closed = self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                closed = True
            if closed:
                record["closed_at"] = time.monotonic()
                self.close_connection = True
                return True
            time.sleep(0.001)  # the client sent more (it should not): keep watching
        return False
