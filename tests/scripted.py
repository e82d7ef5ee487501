"""A scripted model runtime, and editseq's real server running on it.

Everything but the model is real when it serves: the LSP layer, the prompt and diff format, the
placement of the edit, the pylint gate. ``ScriptedRuntime`` answers from a list of replies (unit
tests), or else with one well-formed insertion hunk adding ``line`` right after the state in the
prompt, i.e. at the cursor, so a client test can check that ghost text appears and is accepted
exactly. Like a model, it continues whatever part of its reply the prompt already holds (the
server writes the hunk header's position at the cursor for the first sample).

As a server (``python tests/nvim/scripted_server.py``, or ``main()``), it reads:
- ``EDITSEQ_SCRIPTED_LINE``: the line offered at the cursor (default below);
- ``EDITSEQ_SCRIPTED_REPLIES``: a JSON list of replies, given in turn and then again from the
  start (instead of the line);
- ``EDITSEQ_SCRIPTED_TOKEN_S``: seconds each of its 8 "tokens" takes, checking the cancel flag
  between them like the real runtime (default 0: instant), for cancel and supersede tests;
- ``EDITSEQ_SCRIPTED_CACHE=1``: keep a KV cache of words (``CachingRuntime``), so a long cold
  window is answered from the quick runtime's short one and warmed behind it;
- ``EDITSEQ_TEST_QUERIES=1``: also answer the test-only requests (``editseq/test/documentText``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

from editseq.runtime import Generation, ModelSpec

LINE = "    return 2 * (width + height)"
TOKENS = 8  # what one reply "costs"


class ScriptedRuntime:
    """Stands in for ModelRuntime (the methods the server and pipeline use); records prompts."""

    def __init__(self, spec: ModelSpec, replies: list[str] | None = None, line: str = LINE,
                 token_s: float = 0.0, cycle: bool = False) -> None:
        self.spec = spec
        self.replies = None if replies is None else list(replies)
        self.cycle = cycle
        self.line = line
        self.token_s = token_s
        self.prompts: list[str] = []
        self.load_s = 0.0

    # no template of its own: chat prompts fall back to plain ChatML
    chat_template = None
    bos_text = ""
    eos_text = "<|im_end|>"

    def load(self) -> None:
        pass

    def close(self) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def generate(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, top_p: float = 0.95,
                 stop: tuple[str, ...] = (), seed: int = 0, cancel: threading.Event | None = None,
                 on_text=None, logprobs: bool = False) -> Generation:
        self.prompts.append(prompt)
        text = self._reply(prompt)
        started = prompt.rsplit("<|diff|>", 1)[-1]
        if started and text.startswith(started):
            text = text[len(started) :]
        # streamed as a model would: TOKENS pieces, token_s apart, checking the cancel flag
        pieces = [text[i * len(text) // TOKENS : (i + 1) * len(text) // TOKENS] for i in range(TOKENS)]
        streamed = ""
        for piece in pieces:
            if cancel is not None and cancel.is_set():
                return Generation(streamed, "cancelled", 10, 0, 0, 0.0, 0.0)
            time.sleep(self.token_s)
            for character in piece:  # the text so far after every character: the finest grain
                streamed += character
                if on_text is not None:
                    on_text(streamed)
        # with logprobs: every "token" has probability 1/2
        return Generation(text, "stop", 10, 0, TOKENS, 0.001, 0.001, (-0.693,) * TOKENS if logprobs else None)

    def _reply(self, prompt: str) -> str:
        if self.replies is not None:
            if not self.replies:
                return ""
            reply = self.replies.pop(0)
            if self.cycle:
                self.replies.append(reply)
            return reply
        # The prompt holds the state as insertion hunks: every "+" line is one line of the state.
        state_lines = sum(1 for row in prompt.split("\n") if row.startswith("+"))
        return f"@@ -{state_lines},0 +{state_lines + 1} @@\n+{self.line}"


class CachingRuntime(ScriptedRuntime):
    """A scripted model with a KV cache of words (its tokens): the prompt last prefilled or
    generated after, as ``ModelRuntime``'s ``uncached_tokens`` and ``prefill`` see it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cache: list[str] = []
        self.prefilled: list[str] = []

    def uncached_tokens(self, prompt: str) -> int:
        words = prompt.split()
        shared = 0
        while shared < min(len(words), len(self.cache)) and words[shared] == self.cache[shared]:
            shared += 1
        return len(words) + 1 - shared

    def prefill(self, prompt: str, cancel: threading.Event | None = None) -> bool:
        if cancel is not None and cancel.is_set():
            return False
        self.prefilled.append(prompt)
        self.cache = prompt.split()
        return True

    def generate(self, prompt: str, **kwargs) -> Generation:
        self.cache = prompt.split()
        return super().generate(prompt, **kwargs)


def factory_from_environment():
    line = os.environ.get("EDITSEQ_SCRIPTED_LINE", LINE)
    token_s = float(os.environ.get("EDITSEQ_SCRIPTED_TOKEN_S", "0"))
    replies = os.environ.get("EDITSEQ_SCRIPTED_REPLIES")
    listed = None if replies is None else json.loads(replies)
    runtime = CachingRuntime if os.environ.get("EDITSEQ_SCRIPTED_CACHE") == "1" else ScriptedRuntime
    return lambda spec: runtime(spec, listed, line, token_s, cycle=True)


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from editseq.lsp import create_server

    test_queries = os.environ.get("EDITSEQ_TEST_QUERIES") == "1"
    create_server(runtime_factory=factory_from_environment(), test_queries=test_queries).start_io()
    return 0
