"""Chat prompts and code fences: the one renderer of a model's chat, the one reader of its code.

A chat (a list of ``{"role", "content"}`` messages) is rendered with the chat template the
model's own GGUF carries (``tokenizer.chat_template``, read by ``ModelRuntime``), in a sandboxed
Jinja2 environment set up as llama-cpp-python's ``Jinja2ChatFormatter`` (and Hugging Face
transformers) set it up; a GGUF without a template gets plain ChatML. The default model's
template (SmolLM2-135M-Instruct) is ChatML with a default system turn, "You are a helpful AI
assistant named SmolLM, trained by Hugging Face"; the coder model's (Qwen2.5-Coder-0.5B-Instruct)
is ChatML with its own; a chat without a system message gets the model's default. The answer may
be begun (``assistant_prefix``, written after the generation prompt), and the model's end of
sequence ends its turn (``ChatFormat.stop``).

Code fences: ``fenced_blocks`` reads every fenced block of an answer (a closing fence starts a
line; an unclosed last block runs to the end), for the server, the evaluation and the teacher.
No llama.cpp here: the runtime gives the template and the special tokens' texts.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

# A GGUF without a chat template gets ChatML without a system turn.
CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

# An opening fence with its info string (the language is its first word), the code, and the
# closing fence at the start of a line, or the end of the text for an unclosed last block.
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(\n[ \t]*```|\Z)", re.DOTALL)


class ChatModel(Protocol):
    """What the renderer needs of a model (``ModelRuntime`` has it)."""

    @property
    def chat_template(self) -> str | None: ...

    @property
    def bos_text(self) -> str: ...

    @property
    def eos_text(self) -> str: ...


@dataclass(frozen=True)
class ChatFormat:
    """A model's chat template and the texts of its begin- and end-of-sequence tokens."""

    template: str
    bos: str = ""
    eos: str = ""
    source: str = "gguf"  # "gguf": the model's own template; "chatml-fallback": CHATML

    def render(self, messages: Sequence[Mapping[str, str]], assistant_prefix: str = "") -> str:
        """The prompt for ``messages``, up to the generation prompt, then ``assistant_prefix``."""
        prompt = _compile(self.template).render(
            messages=[dict(m) for m in messages], bos_token=self.bos, eos_token=self.eos,
            raise_exception=_raise, add_generation_prompt=True, functions=None, function_call=None,
            tools=None, tool_choice=None, strftime_now=_strftime_now,
        )
        return prompt + assistant_prefix

    def prompt(self, user: str, assistant_prefix: str = "") -> str:
        """One user turn (after the template's default system turn, if it has one)."""
        return self.render([{"role": "user", "content": user}], assistant_prefix)

    @property
    def stop(self) -> tuple[str, ...]:
        """Stop strings that end the answer's turn: the end-of-sequence text."""
        return (self.eos,) if self.eos else ()


def chat_format(model: ChatModel) -> ChatFormat:
    """The chat format of ``model`` (a ``ModelRuntime``; loads it): its GGUF's template, else ChatML."""
    template = model.chat_template
    return ChatFormat(template or CHATML, model.bos_text, model.eos_text,
                      "gguf" if template else "chatml-fallback")


@dataclass(frozen=True)
class CodeBlock:
    language: str  # the info string's first word as written ("python", "py", ""), not lower-cased
    code: str  # without the fence lines and without the newline before the closing fence
    closed: bool


def fenced_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block of ``text``, in order; an unclosed last block runs to the end."""
    return [CodeBlock(m.group(1), m.group(2), bool(m.group(3))) for m in _FENCE.finditer(text)]


def code_blocks(text: str) -> list[str]:
    """The code of ``text``'s fenced blocks that hold any, right-stripped."""
    return [block.code.rstrip() for block in fenced_blocks(text) if block.code.strip()]


# -- the Jinja2 environment, as llama-cpp-python's Jinja2ChatFormatter sets it up ---------------


@functools.lru_cache(maxsize=8)
def _compile(template: str):
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class IgnoreGenerationTags(jinja2.ext.Extension):
        """Pass-through for Hugging Face's ``{% generation %}`` chat-template tag."""

        tags = {"generation"}

        def parse(self, parser):
            parser.stream.skip(1)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    environment = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
        extensions=[IgnoreGenerationTags, jinja2.ext.loopcontrols],
    )
    environment.filters["tojson"] = _tojson
    return environment.from_string(template)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise(message: str):
    raise ValueError(message)


def _strftime_now(f: str) -> str:
    return datetime.now().strftime(f)
