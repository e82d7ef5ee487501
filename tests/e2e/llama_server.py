"""llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``), started for a test
or a bench on 127.0.0.1 at a free port, serving editseq's two remote models:

- ``editseq``: the base GGUF with the shipped LintSeq adapter (``lora_path``), for completions;
- ``editseq-chat``: the base alone, for explain and repair.

These are the names the options default to (``remoteModel``, ``remoteChatModel``), and the
configuration docs/teams.md shows. llama-cpp-python keeps one model loaded and swaps on a
request for the other (about a second for the 135M model).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from editseq.runtime import base_model_path, shipped_adapter_path

READY_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_config(port: int, n_ctx: int = 2048, threads: int = 1) -> dict:
    base, adapter = str(base_model_path()), shipped_adapter_path()
    assert adapter is not None, "this checkout ships no adapter (model/weights/)"
    common = {"model": base, "n_ctx": n_ctx, "n_threads": threads, "n_threads_batch": threads,
              "verbose": False}
    return {"host": "127.0.0.1", "port": port, "models": [
        {**common, "model_alias": "editseq", "lora_path": str(adapter)},
        {**common, "model_alias": "editseq-chat"},
    ]}


class LlamaServer:
    """A running server; ``endpoint`` is its API base URL. Use as a context manager."""

    def __init__(self, n_ctx: int = 2048, threads: int = 1) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/v1"
        self._folder = tempfile.TemporaryDirectory(prefix="editseq-llama-server-")
        folder = Path(self._folder.name)
        (folder / "config.json").write_text(json.dumps(server_config(self.port, n_ctx, threads)))
        self.log_path = folder / "server.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--config_file", str(folder / "config.json")],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log()
                self.close()
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}:\n{log}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        log = self.log()
        self.close()
        raise RuntimeError(f"llama_cpp.server did not answer within {READY_TIMEOUT_S:.0f} s:\n{log}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        self._folder.cleanup()

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
