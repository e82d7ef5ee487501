"""Chat-format prompts for the base instruct model (explain, repair): ChatML and code fences.

SmolLM2-Instruct's template is ChatML with a default system turn; rendering it here keeps the
runtime free of prompt knowledge. ``<|im_start|>`` and ``<|im_end|>`` are single special tokens.
"""

from __future__ import annotations

import re

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
END_OF_TURN = "<|im_end|>"
_FENCE = re.compile(r"```(?:python|py)?[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def chat_prompt(user: str, assistant_prefix: str = "", system: str = SYSTEM) -> str:
    """One user turn, with the assistant's answer begun by ``assistant_prefix``."""
    return (f"<|im_start|>system\n{system}{END_OF_TURN}\n<|im_start|>user\n{user}{END_OF_TURN}\n"
            f"<|im_start|>assistant\n{assistant_prefix}")


def code_blocks(text: str) -> list[str]:
    """Python code in ``text``'s fenced blocks (an unclosed last block counts)."""
    return [block.rstrip() for block in _FENCE.findall(text) if block.strip()]
