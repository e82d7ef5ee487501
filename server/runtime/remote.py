"""A model served by an OpenAI-compatible engine (llama.cpp's server, llama-cpp-python's, vLLM),
behind the same generation contract as ``ModelRuntime``.

``RemoteRuntime.generate`` sends the prompt to ``POST {endpoint}/completions`` with
``stream: true`` and reads the answer as server-sent events: stop strings, max tokens,
temperature, top-p and seed travel with the request, together with the llama.cpp sampling
fields that make the engine sample as the local runtime does (``top_k: 0``, ``min_p: 0``,
``repeat_penalty: 1``; engines that do not know them ignore them). Cancel closes the
connection, so the engine stops generating: the cancel flag is checked at every event, and
while the server is silent a watcher thread checks it every ``CANCEL_POLL_S`` and shuts the
socket down. Tokens for the window budget are counted here, with the model's own tokenizer
(``ModelSpec(vocab_only=True)``), and the chat template comes from the same GGUF.

Every fault (no endpoint, DNS, refused, connect or per-token timeout, HTTP error, a stream
that is malformed, cut short, or runs past a stop string) raises ``RemoteError``: one line
that says what failed, at which endpoint, and the fix. The API key is read from the
environment variable the options name, and never logged. Blocking: call it off the event
loop (the server runs it on its model thread). stdlib only (http.client).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import ContextOverflow, Generation, ModelError, ModelRuntime, ModelSpec, _first_stop

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.01  # how often a silent stream looks at the cancel flag
DETAIL_CHARS = 200  # of an error body, quoted in the message


class RemoteError(ModelError):
    """The model server failed; the message names the endpoint and the fix."""

    def __init__(self, message: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status, self.detail = status, detail  # an HTTP error's status and the server's words


@dataclass(frozen=True)
class RemoteSpec:
    endpoint: str  # the API's base URL, with its /v1
    model: str  # the name the server knows the model by
    tokenizer: ModelSpec  # the same model's GGUF, read for its vocabulary only
    api_key_env: str = ""  # the environment variable holding the API key ('' for none)
    connect_timeout: float = 3.0
    token_timeout: float = 30.0  # for the first token (the prefill) and each one after it

    @property
    def n_ctx(self) -> int:
        return self.tokenizer.n_ctx


TokenizerFactory = Callable[[ModelSpec], ModelRuntime]


class RemoteRuntime:
    """One model on a server; tokenizing and prompt metadata are local."""

    def __init__(self, spec: RemoteSpec, tokenizer_factory: TokenizerFactory = ModelRuntime) -> None:
        self.spec = spec
        self._tokenizer = tokenizer_factory(spec.tokenizer)
        self._reached = False  # the server answered GET /models once
        self._top_k = True  # send top_k: 0 (llama.cpp: off); off once a server refuses it (vLLM: -1)
        self.load_s = 0.0
        url = urlsplit(spec.endpoint.strip())
        self._scheme, self._host, self._base = url.scheme, url.hostname or "", url.path.rstrip("/")
        try:
            self._port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            self._port = 0

    # ------------------------------------------------------------------ the local half

    def load(self) -> None:
        """Read the tokenizer, and reach the server once (GET /models); raises RemoteError."""
        started = time.perf_counter()
        self._tokenizer.load()
        if not self._reached:
            self._check_endpoint()
            connection = self._connect()
            try:
                response = self._send(connection, "GET", "/models", None)
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise self._lost(exc) from exc
            finally:
                connection.close()
            self._reached = True
            self.load_s = time.perf_counter() - started
            log.info("model server %s reached in %.2f s", self.spec.endpoint, self.load_s)

    def close(self) -> None:
        self._tokenizer.close()

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        return self._tokenizer.tokenize(text, special=special)

    def count_tokens(self, text: str) -> int:
        return self._tokenizer.count_tokens(text)

    def detokenize(self, tokens: list[int]) -> str:
        return self._tokenizer.detokenize(tokens)

    @property
    def metadata(self) -> dict[str, str]:
        return self._tokenizer.metadata

    @property
    def chat_template(self) -> str | None:
        return self._tokenizer.chat_template

    @property
    def bos_text(self) -> str:
        return self._tokenizer.bos_text

    @property
    def eos_text(self) -> str:
        return self._tokenizer.eos_text

    # ------------------------------------------------------------------ generation

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 0.95,
        stop: tuple[str, ...] = (),
        seed: int = 0,
        cancel: threading.Event | None = None,
        on_text: Callable[[str], None] | None = None,
        logprobs: bool = False,
    ) -> Generation:
        """``ModelRuntime.generate``'s contract, on the server: the text after ``prompt`` until a
        stop string, the end, ``max_tokens`` or ``cancel``; ``on_text`` gets the text so far
        after every event (less an end that could begin a stop string). ``logprobs``: the
        tokens' log-probabilities when the server sends them (else None). ``reused_tokens``
        is 0: the server's cache is its own."""
        self.load()
        prompt_tokens = self.count_tokens(prompt)
        if prompt_tokens + max_tokens > self.spec.n_ctx:
            raise ContextOverflow(
                f"prompt of {prompt_tokens} tokens + {max_tokens} to generate exceeds the context of "
                f"{self.spec.n_ctx} tokens")
        if cancel is not None and cancel.is_set():
            return Generation("", "cancelled", prompt_tokens, 0, 0, 0.0, 0.0)
        body: dict[str, Any] = {
            "model": self.spec.model, "prompt": prompt, "max_tokens": max_tokens,
            "temperature": temperature, "top_p": top_p, "seed": seed, "stream": True,
            "min_p": 0.0, "repeat_penalty": 1.0,  # sample as the local runtime does
        }
        if self._top_k:
            body["top_k"] = 0
        if stop:
            body["stop"] = list(stop)
        if logprobs:
            body["logprobs"] = 1
        started = time.perf_counter()
        stream = _Stream(self, stop, cancel, on_text)
        try:
            stream.run(body)
        except RemoteError as exc:
            if not (exc.status == 400 and "top_k" in exc.detail and body.pop("top_k", None) is not None):
                raise
            self._top_k = False  # its "no top-k" is another value (vLLM's -1), and its default
            log.info("%s refuses top_k 0; sending none", self.spec.endpoint)
            stream = _Stream(self, stop, cancel, on_text)
            stream.run(body)
        ended = time.perf_counter()
        first = stream.first_at or ended
        generated = stream.usage_tokens
        if generated is None:
            generated = self.count_tokens(stream.text) if stream.text else 0
        return Generation(stream.text, stream.finish, prompt_tokens, 0, generated, first - started,
                          ended - first, tuple(stream.logprobs) if logprobs and stream.logprobs else None)

    # ------------------------------------------------------------------ HTTP

    def _check_endpoint(self) -> None:
        endpoint = self.spec.endpoint.strip()
        if not endpoint:
            raise RemoteError("backend 'openai' needs the 'endpoint' option; fix: set it to the model "
                              "server's API base URL, e.g. http://127.0.0.1:8080/v1 (docs/teams.md)")
        if self._scheme not in ("http", "https") or not self._host or not self._port:
            raise RemoteError(f"endpoint {endpoint!r} is not an http:// or https:// URL with a host; "
                              "fix: set 'endpoint' to the server's API base URL, e.g. "
                              "http://127.0.0.1:8080/v1")

    def _headers(self, body: bytes | None) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if body else "application/json",
                   "User-Agent": "editseq"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        name = self.spec.api_key_env
        if name:
            key = os.environ.get(name)
            if not key:
                raise RemoteError(f"the environment variable {name} (option 'apiKeyEnv') is not set, so "
                                  f"there is no API key for the model server at {self.spec.endpoint}; "
                                  f"fix: set {name} in the environment that starts the editor")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _connect(self) -> http.client.HTTPConnection:
        """An open connection, its socket timing out per token; connect faults as RemoteError."""
        self._check_endpoint()
        kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        connection = kind(self._host, self._port, timeout=self.spec.connect_timeout)
        where = f"the model server at {self.spec.endpoint}"
        try:
            connection.connect()
        except socket.gaierror as exc:
            raise RemoteError(f"{where}: its host '{self._host}' was not found ({exc.strerror or exc}); "
                              "fix: correct the host name in the 'endpoint' option, or check DNS") from exc
        except ConnectionRefusedError as exc:
            raise RemoteError(f"{where} refused the connection (nothing listens on {self._host}:"
                              f"{self._port}); fix: start the server (docs/teams.md) or correct the "
                              "'endpoint' option") from exc
        except TimeoutError as exc:
            raise RemoteError(f"{where} did not accept a connection within "
                              f"{self.spec.connect_timeout:g} s; fix: check that {self._host} is up and "
                              "reachable (network, firewall, VPN), or raise 'remoteConnectTimeout'") from exc
        except OSError as exc:
            raise RemoteError(f"{where} could not be reached ({exc.strerror or exc}); fix: check the "
                              "'endpoint' option and the network") from exc
        connection.sock.settimeout(self.spec.token_timeout)
        return connection

    def _send(self, connection: http.client.HTTPConnection, method: str, path: str,
              payload: dict | None) -> http.client.HTTPResponse:
        """The response to one request, if it is a success; else RemoteError with the status."""
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        connection.request(method, self._base + path, body=body, headers=self._headers(body))
        response = connection.getresponse()
        if response.status != 200:
            raise self._http_error(response, path)
        return response

    def _http_error(self, response: http.client.HTTPResponse, path: str) -> RemoteError:
        status = response.status
        try:
            detail = _error_detail(response.read(4096))
        except (OSError, http.client.HTTPException):
            detail = ""
        said = f"HTTP {status}" + (f" ({detail})" if detail else "")
        where = f"the model server at {self.spec.endpoint}"
        if status in (401, 403):
            key = f"the variable {self.spec.api_key_env}" if self.spec.api_key_env else "none is set"
            message = (f"{where} refused the API key: {said}; fix: set option 'apiKeyEnv' to the name "
                       f"of an environment variable holding a key it accepts (now: {key})")
        elif status == 404:
            message = (f"{where} has no {self._base + path} or no model '{self.spec.model}': {said}; fix: "
                       f"make 'endpoint' the API's base URL with its /v1, and 'remoteModel'/"
                       f"'remoteChatModel' names listed at {self.spec.endpoint}/models")
        elif 400 <= status < 500:
            message = (f"{where} rejected the request: {said}; fix: check that it serves an "
                       "OpenAI-compatible /completions API for this model (docs/teams.md)")
        else:
            message = f"{where} failed: {said}; fix: see the server's log, or restart it"
        return RemoteError(message, status, detail)

    def _lost(self, exc: Exception) -> RemoteError:
        """A fault after the connection was made, as RemoteError."""
        where = f"the model server at {self.spec.endpoint}"
        if isinstance(exc, RemoteError):
            return exc
        if isinstance(exc, TimeoutError):
            return RemoteError(f"{where} sent nothing for {self.spec.token_timeout:g} s; fix: check that "
                               "it is not overloaded or stuck, or raise 'remoteTokenTimeout'")
        return RemoteError(f"{where} closed the connection before the answer ended ({_what(exc)}); "
                           "fix: see the server's log (it may have crashed or restarted)")

    def _malformed(self, why: str, data: str) -> RemoteError:
        return RemoteError(f"the model server at {self.spec.endpoint} sent a malformed stream ({why}: "
                           f"{data[:80]!r}); fix: point 'endpoint' at an OpenAI-compatible completions "
                           "API (docs/teams.md)")


class _Stream:
    """One streamed completion: sends the request, reads its events, keeps what they said."""

    def __init__(self, runtime: RemoteRuntime, stop: tuple[str, ...], cancel: threading.Event | None,
                 on_text: Callable[[str], None] | None) -> None:
        self.runtime, self.stop, self.cancel, self.on_text = runtime, stop, cancel, on_text
        self.text = ""
        self.finish = ""
        self.first_at: float | None = None
        self.usage_tokens: int | None = None
        self.logprobs: list[float] = []
        self.shown = 0  # characters handed to on_text

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def run(self, body: dict) -> None:
        runtime = self.runtime
        connection = runtime._connect()
        finished = threading.Event()
        if self.cancel is not None:
            threading.Thread(target=_close_on_cancel, args=(self.cancel, finished, connection.sock),
                             name="editseq-remote-cancel", daemon=True).start()
        try:
            response = runtime._send(connection, "POST", "/completions", body)
            kind = response.getheader("Content-Type", "")
            if not kind.startswith("text/event-stream"):
                raise RemoteError(f"the model server at {runtime.spec.endpoint} did not stream its "
                                  f"answer (Content-Type {kind or 'missing'}); fix: point 'endpoint' at "
                                  "an OpenAI-compatible completions API (docs/teams.md)")
            self._read(response)
        except (OSError, http.client.HTTPException, RemoteError) as exc:
            if not self.cancelled():
                raise runtime._lost(exc) from exc
            self.finish = "cancelled"
        finally:
            finished.set()
            connection.close()

    def _read(self, response: http.client.HTTPResponse) -> None:
        reason = None  # the server's finish_reason
        for raw in response:
            if self.cancelled():
                self.finish = "cancelled"
                return
            data = _sse_data(raw.decode("utf-8", "replace"))
            if data is None:
                continue
            if data.strip() == "[DONE]":
                break
            reason = self._event(data) or reason
        else:  # the stream ended without [DONE]
            if self.cancelled():
                self.finish = "cancelled"
                return
            if reason is None:
                raise RemoteError(f"the model server at {self.runtime.spec.endpoint} closed the stream "
                                  "before the answer ended; fix: see the server's log (it may have "
                                  "crashed or restarted)")
        self.finish = "length" if reason == "length" else "stop"

    def _event(self, data: str) -> str | None:
        """Take in one event's data; returns its finish_reason."""
        runtime = self.runtime
        try:
            event = json.loads(data)
        except ValueError:
            raise runtime._malformed("not JSON", data) from None
        if not isinstance(event, dict):
            raise runtime._malformed("not an object", data)
        if "error" in event:
            error = event["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RemoteError(f"the model server at {runtime.spec.endpoint} reported an error while "
                              f"answering: {_one_line(str(message))}; fix: see the server's log")
        usage = event.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            self.usage_tokens = usage["completion_tokens"]
        choices = event.get("choices")
        if choices == [] and usage is not None:  # the usage-only last event
            return None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise runtime._malformed("no choices", data)
        choice = choices[0]
        piece = choice.get("text", "")
        if not isinstance(piece, str):
            raise runtime._malformed("text is not a string", data)
        reason = choice.get("finish_reason")
        scored = choice.get("logprobs")
        if isinstance(scored, dict) and isinstance(scored.get("token_logprobs"), list):
            self.logprobs += [float(p) for p in scored["token_logprobs"] if isinstance(p, (int, float))]
        if not piece:
            return reason
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.text += piece
        hit = _first_stop(self.text, self.stop)
        if hit is not None:
            passed = next(s for s in self.stop if self.text.find(s) == hit)
            raise RemoteError(
                f"the model server at {runtime.spec.endpoint} ignored the stop strings (its answer went "
                f"on past {passed!r}); fix: serve the model with an engine that honours 'stop' in "
                "/completions: llama.cpp's server, llama-cpp-python's or vLLM (docs/teams.md)")
        if self.on_text is not None:
            shown = self.text[: len(self.text) - _stop_prefix(self.text, self.stop)]
            if len(shown) > self.shown:
                self.shown = len(shown)
                self.on_text(shown)
        return reason


def _close_on_cancel(cancel: threading.Event, finished: threading.Event, sock: socket.socket) -> None:
    """Shut the socket down once ``cancel`` is set (the reader may be blocked in recv)."""
    while not finished.wait(CANCEL_POLL_S):
        if cancel.is_set():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            return


def _stop_prefix(text: str, stop: tuple[str, ...]) -> int:
    """The length of the longest end of ``text`` that could begin a stop string: held back from
    ``on_text`` until the next event shows it is not one (as engines hold it back), so a server
    that ignores stop strings is caught before any of its text is shown."""
    return max((n for s in stop for n in range(min(len(s) - 1, len(text)), 0, -1)
                if text.endswith(s[:n])), default=0)


def _sse_data(line: str) -> str | None:
    """The data of one server-sent-event line; None for blank lines, comments, other fields."""
    line = line.rstrip("\r\n")
    if not line.startswith("data:"):
        return None
    data = line[5:]
    return data[1:] if data.startswith(" ") else data


def _error_detail(body: bytes) -> str:
    """The message of an error reply (OpenAI's {"error": {"message"}}, FastAPI's {"detail"})."""
    text = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return _one_line(text)
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed.get("detail", parsed))
        if isinstance(error, dict):
            error = error.get("message", error)
        return _one_line(error if isinstance(error, str) else json.dumps(error))
    return _one_line(text)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 3] + "..."


def _what(exc: Exception) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
