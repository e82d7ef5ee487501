"""``remoteFallback: local``: a remote model that hands its work to the local one while the
server fails.

When the server fails (``RemoteError``), the request is generated locally instead, ``warn`` is
told what failed (once per distinct fault; the caller shows it), and the local model serves
every request for ``RETRY_S`` before the server is tried again. The local runtime is built on
first need. Tokens and prompt metadata are the remote runtime's (its local tokenizer), which
are the local model's own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from . import Generation, ModelRuntime
from .remote import RemoteError, RemoteRuntime

log = logging.getLogger(__name__)

RETRY_S = 30.0  # after a fault, the local model serves this long before the server is tried again


class FallbackRuntime:
    def __init__(self, remote: RemoteRuntime, local: Callable[[], ModelRuntime],
                 warn: Callable[[str], None]) -> None:
        self.remote = remote
        self.spec = remote.spec
        self._make_local = local
        self._local: ModelRuntime | None = None
        self._warn = warn
        self._retry_at = 0.0  # monotonic time before which the local model serves
        self._lock = threading.Lock()

    @property
    def load_s(self) -> float:
        return self.remote.load_s

    def load(self) -> None:
        if self._remote_down():
            self.local().load()
            return
        try:
            self.remote.load()
        except RemoteError as exc:
            self._failed(exc)
            self.local().load()

    def generate(self, prompt: str, **kwargs) -> Generation:
        if not self._remote_down():
            try:
                return self.remote.generate(prompt, **kwargs)
            except RemoteError as exc:
                self._failed(exc)
        return self.local().generate(prompt, **kwargs)

    def local(self) -> ModelRuntime:
        with self._lock:
            if self._local is None:
                self._local = self._make_local()
            local = self._local
        local.load()
        return local

    def _remote_down(self) -> bool:
        return time.monotonic() < self._retry_at

    def _failed(self, exc: RemoteError) -> None:
        self._retry_at = time.monotonic() + RETRY_S
        log.warning("%s; using the local model", exc)
        self._warn(f"editseq: {exc}. Using the local model instead (remoteFallback: local); the "
                   f"server is tried again in {RETRY_S:.0f} s")

    def close(self) -> None:
        self.remote.close()
        with self._lock:
            if self._local is not None:
                self._local.close()
                self._local = None

    # the prompt side: the remote runtime's tokenizer (the same model's vocabulary)
    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        return self.remote.tokenize(text, special=special)

    def count_tokens(self, text: str) -> int:
        return self.remote.count_tokens(text)

    def detokenize(self, tokens: list[int]) -> str:
        return self.remote.detokenize(tokens)

    @property
    def metadata(self) -> dict[str, str]:
        return self.remote.metadata

    @property
    def chat_template(self) -> str | None:
        return self.remote.chat_template

    @property
    def bos_text(self) -> str:
        return self.remote.bos_text

    @property
    def eos_text(self) -> str:
        return self.remote.eos_text
