"""editseq's real language server with a scripted model, for the editor clients' end-to-end tests.

Everything but the model is real: the LSP layer, the prompt and diff format, the placement of the
edit, the pylint gate. The "model" answers every request with one well-formed insertion hunk that
adds ``EDITSEQ_SCRIPTED_LINE`` (default ``    return 2 * (width + height)``) right after the
state in the prompt, i.e. at the cursor, so a client test can check that ghost text appears and
is accepted exactly without depending on what a small model happens to write. Run it as the
server command instead of ``python -m editseq.cli serve``:

    python tests/nvim/scripted_server.py

Used by tests/nvim/test_inline.lua (EDITSEQ_SERVER_SCRIPT) and client-vscode/scripts/e2e.sh
(EDITSEQ_E2E_MODEL=scripted).
"""

from __future__ import annotations

import logging
import os
import sys

from editseq.runtime import Generation, ModelSpec

LINE = os.environ.get("EDITSEQ_SCRIPTED_LINE", "    return 2 * (width + height)")


class ScriptedRuntime:
    """Stands in for ModelRuntime (same methods the suggester uses)."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.load_s = 0.0

    def load(self) -> None:
        pass

    def close(self) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def generate(self, prompt, *, max_tokens, temperature=0.0, top_p=0.95, stop=(), seed=0, cancel=None,
                 on_text=None):
        if cancel is not None and cancel.is_set():
            return Generation("", "cancelled", 10, 0, 0, 0.0, 0.0)
        # The prompt holds the state as insertion hunks: every "+" line is one line of the state.
        state_lines = sum(1 for line in prompt.split("\n") if line.startswith("+"))
        text = f"@@ -{state_lines},0 +{state_lines + 1} @@\n+{LINE}"
        # Like a model, continue what the prompt already started of the edit (the server writes
        # the hunk header's position at the cursor for the first sample).
        started = prompt.rsplit("<|diff|>", 1)[-1]
        if started and text.startswith(started):
            text = text[len(started) :]
        if on_text is not None:
            on_text(text)
        return Generation(text, "stop", 10, 0, 8, 0.001, 0.001)


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from editseq.lsp import server

    server.suggester._runtime_factory = ScriptedRuntime  # test scaffolding: the model is scripted
    server.start_io()
    return 0


if __name__ == "__main__":
    sys.exit(main())
