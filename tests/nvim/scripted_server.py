"""editseq's real language server with a scripted model, for the editor clients' end-to-end tests.

Run it as the server command instead of ``python -m editseq.cli serve``:

    python tests/nvim/scripted_server.py

It always offers ``EDITSEQ_SCRIPTED_LINE`` (default ``    return 2 * (width + height)``) at the
cursor; see tests/scripted.py. Used by tests/nvim/test_inline.lua (EDITSEQ_SERVER_SCRIPT),
client-vscode/scripts/e2e.sh (EDITSEQ_E2E_MODEL=scripted) and the protocol tests.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for tests.scripted

from tests.scripted import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
