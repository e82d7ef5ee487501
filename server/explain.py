"""Explain a function, HumanEvalExplain-style: a concise description written by the base model.

No LSP types. The explanation is plain text; ``as_docstring`` turns it into lines to insert.
"""

from __future__ import annotations

import textwrap
import threading
import time
from dataclasses import dataclass

from .chat import ChatFormat, chat_format
from .pysource import FunctionSpan
from .runtime import ModelRuntime

MAX_CHARS = 400  # HumanEvalExplain cuts at len(docstring); a function without one gets this bound
MIN_CHARS = 160  # a one-line docstring ("Area of a circle.") is too short a bound for a reader


@dataclass(frozen=True)
class Explanation:
    function: str
    text: str
    latency_ms: float

    def markdown(self) -> str:
        return f"**`{self.function}`** (editseq, on-device model)\n\n{self.text}"


def explain_prompt(chat: ChatFormat, code: str, max_chars: int) -> str:
    return chat.prompt(
        f"```python\n{code}\n```\n\nProvide a concise natural language description of the code "
        f"using at most {max_chars} characters."
    )


def char_limit(span: FunctionSpan) -> int:
    """The explanation's bound: the docstring's length (HumanEvalExplain's rule), within reason."""
    return max(MIN_CHARS, len(span.docstring)) if span.docstring else MAX_CHARS


def explain(runtime: ModelRuntime, lines: list[str], span: FunctionSpan, *, max_tokens: int = 160,
            temperature: float = 0.0, seed: int = 0, max_chars: int | None = None,
            cancel: threading.Event | None = None) -> Explanation:
    """Explain ``span`` in at most ``max_chars`` characters (default ``char_limit``)."""
    started = time.perf_counter()
    limit = max_chars or char_limit(span)
    chat = chat_format(runtime)
    generation = runtime.generate(explain_prompt(chat, span.source(lines), limit), max_tokens=max_tokens,
                                  temperature=temperature, seed=seed, stop=chat.stop, cancel=cancel)
    text = shorten(" ".join(generation.text.split()), limit)
    return Explanation(span.name, text, (time.perf_counter() - started) * 1000)


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut after its last whole sentence that fits, else
    after its last whole word (with an ellipsis): never mid-word, unlike the benchmark's cut."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    sentence_end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    if sentence_end >= limit // 2:
        return head[: sentence_end + 1]
    word_end = head[:limit].rstrip().rfind(" ")
    return (head[:word_end] if word_end > 0 else head[: limit - 1]).rstrip(" ,;:") + "…"


def as_docstring(explanation: Explanation, span: FunctionSpan, indent_unit: str = "    ") -> list[str]:
    """Docstring lines for ``span``'s body, wrapped at 88 columns."""
    inner = span.indent + indent_unit
    text = explanation.text.replace('"""', "'''").rstrip("\\")
    wrapped = textwrap.wrap(text, width=max(40, 88 - len(inner) - 6)) or ["(no explanation)"]
    if len(wrapped) == 1:
        return [f'{inner}"""{wrapped[0]}"""']
    return [f'{inner}"""{wrapped[0]}', *(inner + row for row in wrapped[1:]), f'{inner}"""']
