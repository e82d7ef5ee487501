"""The remote runtime's generation contract and its faults, against a stub server (tests/openai_stub.py).

The tokenizer is the scripted runtime's (no model file is read); everything else is real: the
HTTP client, the event-stream reader, the cancel watcher.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from editseq.runtime import ContextOverflow, ModelSpec
from editseq.runtime.fallback import FallbackRuntime
from editseq.runtime.remote import RemoteError, RemoteRuntime, RemoteSpec

from tests.openai_stub import REPLY, Stub
from tests.scripted import ScriptedRuntime

STOP = ("\n<|diff|>",)
CANCEL_CLOSE_BOUND_S = 0.1  # the bound: the server sees the stream closed within 100 ms


@pytest.fixture(scope="module")
def stub():
    server = Stub()
    yield server
    server.close()


def runtime(endpoint: str, model: str = "ok", **spec) -> RemoteRuntime:
    tokenizer = ModelSpec(path=__import__("pathlib").Path("unused.gguf"), vocab_only=True)
    return RemoteRuntime(RemoteSpec(endpoint, model, tokenizer, **spec), ScriptedRuntime)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streams_the_text_up_to_the_stop_string_and_sends_the_sampling_settings(stub):
    seen = []
    generation = runtime(stub.endpoint).generate("prompt", max_tokens=20, temperature=0.3, top_p=0.9,
                                                 stop=STOP, seed=7, on_text=seen.append)
    assert generation.text == REPLY.split(STOP[0])[0]
    assert generation.finish == "stop"
    assert seen[-1] == generation.text and len(seen) > 3  # streamed, piece by piece
    assert all(b.startswith(a) for a, b in zip(seen, seen[1:], strict=False))
    body = stub.completions()[-1]["body"]
    assert body == {"model": "ok", "prompt": "prompt", "max_tokens": 20, "temperature": 0.3, "top_p": 0.9,
                    "seed": 7, "stream": True, "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0,
                    "stop": list(STOP)}
    assert generation.prompt_tokens == ScriptedRuntime(None).count_tokens("prompt")
    assert generation.generated_tokens > 0


def test_a_server_that_refuses_top_k_0_is_asked_again_without_it(stub):
    remote = runtime(stub.endpoint, "no-top-k-0")
    assert remote.generate("p", max_tokens=40, stop=STOP).text == REPLY.split(STOP[0])[0]
    first, second = stub.completions()[-2:]
    assert first["body"]["top_k"] == 0 and "top_k" not in second["body"]
    remote.generate("p", max_tokens=40, stop=STOP)
    assert "top_k" not in stub.completions()[-1]["body"]  # remembered


def test_the_api_key_comes_from_the_named_environment_variable(stub, monkeypatch):
    monkeypatch.setenv("EDITSEQ_TEST_KEY", "sk-secret")
    runtime(stub.endpoint, api_key_env="EDITSEQ_TEST_KEY").generate("p", max_tokens=4)
    assert stub.completions()[-1]["headers"]["Authorization"] == "Bearer sk-secret"
    monkeypatch.delenv("EDITSEQ_TEST_KEY")
    with pytest.raises(RemoteError, match="EDITSEQ_TEST_KEY .* is not set") as error:
        runtime(stub.endpoint, api_key_env="EDITSEQ_TEST_KEY").generate("p", max_tokens=4)
    assert "sk-secret" not in str(error.value)


def test_a_prompt_that_does_not_fit_the_context_is_refused_locally(stub):
    before = len(stub.completions())
    with pytest.raises(ContextOverflow):
        runtime(stub.endpoint).generate("word " * 3000, max_tokens=10)
    assert len(stub.completions()) == before


@pytest.mark.parametrize("mode", ["slow", "stall"])
def test_cancel_closes_the_stream_within_the_bound(stub, mode):
    stub.streaming.clear()
    cancel = threading.Event()
    cancelled_at = []

    def cancel_when_streaming():
        stub.streaming.wait(10)
        time.sleep(0.05)
        cancelled_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=cancel_when_streaming).start()
    generation = runtime(stub.endpoint, mode).generate("p", max_tokens=1000, cancel=cancel)
    assert generation.finish == "cancelled"
    closed_at = stub.closed_at(stub.completions()[-1])
    assert closed_at is not None, "the stub never saw the connection closed"
    assert closed_at - cancelled_at[0] < CANCEL_CLOSE_BOUND_S


FAULTS = [
    ("http-401", "refused the API key: HTTP 401 \\(stub says 401\\); fix: set option 'apiKeyEnv'"),
    ("http-404", "has no /v1/completions or no model 'http-404': HTTP 404 .*fix: make 'endpoint'"),
    ("http-500", "failed: HTTP 500 \\(stub says 500\\); fix: see the server's log"),
    ("json", "did not stream its answer \\(Content-Type application/json\\); fix: point 'endpoint'"),
    ("garbage", "sent a malformed stream \\(not JSON: '\\{this is not json'\\); fix"),
    ("nochoices", "sent a malformed stream \\(no choices"),
    ("cut", "closed the connection before the answer ended \\(IncompleteRead.*fix: see the server's log"),
    ("short", "closed the stream before the answer ended; fix: see the server's log"),
    ("ignore-stop", "ignored the stop strings \\(its answer went on past '\\\\n<\\|diff\\|>'\\); fix: serve"),
]


@pytest.mark.parametrize(("mode", "message"), FAULTS, ids=[m for m, _ in FAULTS])
def test_each_fault_is_one_message_naming_the_endpoint_and_the_fix(stub, mode, message):
    with pytest.raises(RemoteError, match=message) as error:
        runtime(stub.endpoint, mode).generate("p", max_tokens=40, stop=STOP)
    assert str(error.value).startswith(f"the model server at {stub.endpoint}")
    assert "\n" not in str(error.value)


def test_a_silent_server_times_out_per_token(stub):
    started = time.monotonic()
    with pytest.raises(RemoteError, match="sent nothing for 0.3 s; fix: .* raise 'remoteTokenTimeout'"):
        runtime(stub.endpoint, "silent", token_timeout=0.3).generate("p", max_tokens=4)
    assert time.monotonic() - started < 5
    with pytest.raises(RemoteError, match="sent nothing for 0.3 s"):
        runtime(stub.endpoint, "stall", token_timeout=0.3).generate("p", max_tokens=4)


def test_refused_connection_and_unknown_host():
    port = free_port()
    with pytest.raises(RemoteError, match=f"refused the connection \\(nothing listens on 127.0.0.1:{port}\\); "
                                          "fix: start the server"):
        runtime(f"http://127.0.0.1:{port}/v1").generate("p", max_tokens=4)
    with pytest.raises(RemoteError, match="its host 'editseq-test.invalid' was not found .*; fix: correct the host"):
        runtime("http://editseq-test.invalid:8080/v1").generate("p", max_tokens=4)


def test_a_connect_timeout_says_which_option_to_raise():
    # a listener that never accepts, its backlog filled: the next connection attempt hangs
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    try:
        with pytest.raises(RemoteError, match="did not accept a connection within 0.3 s; fix: .*'remoteConnectTimeout'"):
            runtime(f"http://127.0.0.1:{port}/v1", connect_timeout=0.3).generate("p", max_tokens=4)
    finally:
        for s in fillers:
            s.close()
        listener.close()


@pytest.mark.parametrize(("endpoint", "message"), [
    ("", "needs the 'endpoint' option"),
    ("127.0.0.1:8080/v1", "is not an http:// or https:// URL"),
])
def test_a_missing_or_odd_endpoint_is_reported(endpoint, message):
    with pytest.raises(RemoteError, match=message):
        runtime(endpoint).load()


def test_fallback_generates_locally_and_says_so_once_per_fault():
    port = free_port()
    warnings: list[str] = []
    local = ScriptedRuntime(None, replies=["@@ -0,0 +1 @@\n+x = 1"] * 3)
    made = []
    fallback = FallbackRuntime(runtime(f"http://127.0.0.1:{port}/v1"), lambda: made.append(1) or local,
                               warnings.append)
    fallback.load()
    assert made == [1] and len(warnings) == 1 and "refused the connection" in warnings[0]
    assert "remoteFallback: local" in warnings[0]
    assert fallback.generate("p", max_tokens=8).text == "@@ -0,0 +1 @@\n+x = 1"
    assert fallback.generate("p", max_tokens=8).text == "@@ -0,0 +1 @@\n+x = 1"
    assert len(warnings) == 1 and made == [1]  # the local model serves until the retry time


def test_fallback_uses_the_server_while_it_answers(stub):
    warnings: list[str] = []
    fallback = FallbackRuntime(runtime(stub.endpoint), lambda: pytest.fail("went local"), warnings.append)
    fallback.load()
    assert fallback.generate("p", max_tokens=40, stop=STOP).text == REPLY.split(STOP[0])[0]
    assert not warnings
