"""Typed options with their defaults and documentation: the one source for the server, the CLI,
the README's option table and the VS Code extension's settings.

Clients send them camelCase (``maxTokens``) in ``initializationOptions`` or under the ``editseq``
section of ``workspace/didChangeConfiguration``; snake_case is accepted too. An invalid value is
reported and its default used; the other options still apply.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any


def _option(default: Any, doc: str, minimum: float | None = None, maximum: float | None = None,
            choices: tuple[str, ...] | None = None):
    return field(default=default, metadata={"doc": doc, "min": minimum, "max": maximum,
                                            "choices": choices})


@dataclass(frozen=True)
class Options:
    enabled: bool = _option(True, "Offer inline completions and suggested edits.")
    model: str = _option(
        "default",
        "'default' (base SmolLM2-135M-Instruct plus editseq's LintSeq adapter), 'base' (the plain "
        "base model), 'coder' (Qwen2.5-Coder-0.5B-Instruct plus its edit-sequence adapter; install it "
        "with ./install.sh coder), or the path of a GGUF model file.",
    )
    functions_model: str = _option(
        "default",
        "The model behind explain, repair and implement: 'default' (the completion model's base, "
        "without its adapter; for implement, the completion model) or 'coder' (Qwen2.5-Coder-0.5B-Instruct, with its adapter for implement).",
        choices=("default", "coder"),
    )
    adapter: str = _option(
        "", "Path of a LoRA adapter GGUF to apply on top of the model ('' for none, or the default's own)."
    )
    merge_adapter: bool = _option(
        True, "Fold the adapter into the model's weights once (cached in the user cache "
        "directory), so decoding pays nothing for it; off: apply it at run time."
    )
    threads: int = _option(
        0, "CPU threads for llama.cpp (0: chosen per request: every core other processes leave "
        "free).", 0, 256
    )
    gpu_layers: int = _option(
        0, "Layers offloaded to the GPU; needs llama-cpp-python built with CUDA or Metal.", 0, 1000
    )
    context_size: int = _option(2048, "Model context window in tokens.", 256, 32768)
    max_tokens: int = _option(48, "Most tokens generated for one suggestion.", 1, 1024)
    temperature: float = _option(0.2, "Sampling temperature (0: greedy).", 0.0, 2.0)
    top_p: float = _option(0.95, "Nucleus sampling probability mass.", 0.01, 1.0)
    samples: int = _option(
        2, "Most samples per request; the first that passes the lint gate is offered.", 1, 16
    )
    lint_gate: bool = _option(True, "Offer a suggestion only if pylint finds it adds no error.")
    first_lines_first: bool = _option(
        True, "Answer an inline request as soon as the edit's first lines at the cursor pass the "
        "lint gate; the rest is decoded behind them and served without a model call when you "
        "accept or type what the ghost text shows."
    )
    quick_window: bool = _option(
        True, "When the model has not yet read the lines above the cursor (a file just opened, a "
        "jump elsewhere), answer from the nearest lines only, at once, and read the rest in the "
        "background for the next suggestion."
    )
    lint_timeout: float = _option(3.0, "Seconds one pylint check may take before it is abandoned.", 0.1, 60.0)
    diagnostics: bool = _option(True, "Publish pylint errors (LintSeq's rules) as diagnostics.")
    # HumanEvalFix through the feature (model/results/README.md, "fixed within k"): the 135M
    # tiers fix 6.1% within 3 candidates and 7.3-9.1% within 6; a candidate that passes stops it.
    repair_candidates: int = _option(6, "Most rewrites the model proposes for one repair request.", 1, 10)
    implement_candidates: int = _option(
        10, "Most candidates the model writes for one implement request; each is linted and run "
        "against the function's docstring examples and tests, and the best is offered.", 1, 20
    )
    backend: str = _option(
        "local", "Where the model runs: 'local' (llama.cpp in this process) or 'openai' (an "
        "OpenAI-compatible completions server at endpoint: llama.cpp's server, llama-cpp-python's, "
        "vLLM; see docs/teams.md). Prompts, checked decoding, the lint gate and the sandbox stay local.",
        choices=("local", "openai"),
    )
    endpoint: str = _option(
        "", "Base URL of the OpenAI-compatible API for backend 'openai', with its /v1 "
        "(http://gpu-box:8000/v1)."
    )
    remote_model: str = _option(
        "editseq", "The name the server knows editseq's edit-sequence model by (the base with the "
        "LintSeq adapter: a model alias, or the LoRA name given to vLLM's --lora-modules); used for "
        "completions and implement."
    )
    remote_chat_model: str = _option(
        "editseq-chat", "The name the server knows the base instruct model by (without the "
        "adapter), for explain and repair; '' uses remoteModel for them too."
    )
    api_key_env: str = _option(
        "", "Name of the environment variable that holds the server's API key, sent as a Bearer "
        "token ('' for none). The key itself is never read from settings and never logged."
    )
    remote_fallback: str = _option(
        "none", "When the model server fails: 'none' (say what failed; no suggestion) or 'local' "
        "(say so, and use the local model until the server answers again).",
        choices=("none", "local"),
    )
    remote_connect_timeout: float = _option(
        3.0, "Seconds the model server may take to accept a connection.", 0.1, 60.0
    )
    remote_token_timeout: float = _option(
        30.0, "Seconds the model server may take to send the first token (its prefill: the longest "
        "wait, seconds for a long file on a CPU server) and each one after it.", 0.1, 600.0
    )
    max_file_bytes: int = _option(
        1_000_000, "Larger files get no suggestions (the user is told why).", 1_000, 100_000_000
    )

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def parse_options(raw: Any, base: Options | None = None) -> tuple[Options, list[str]]:
    """Options from a client's JSON object; returns them and one message per rejected value."""
    base = base or Options()
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"editseq options must be an object, got {type(raw).__name__}; using defaults"]
    fields = {f.name: f for f in dataclasses.fields(Options)}
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in raw.items():
        name = _snake(key)
        if name not in fields:
            errors.append(f"unknown option '{key}' ignored")
            continue
        ok, converted, why = _convert(fields[name], value)
        if ok:
            changes[name] = converted
        else:
            errors.append(f"option '{camel(name)}': {why}; using {getattr(base, name)!r}")
    return base.replace(**changes), errors


def _convert(f: dataclasses.Field, value: Any) -> tuple[bool, Any, str]:
    kind = type(f.default)
    if kind is bool:
        if isinstance(value, bool):
            return True, value, ""
        return False, None, f"expected true or false, got {value!r}"
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, None, f"expected a number, got {value!r}"
        if kind is int and float(value) != int(value):
            return False, None, f"expected a whole number, got {value!r}"
        lo, hi = f.metadata["min"], f.metadata["max"]
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return False, None, f"{value!r} is outside {lo:g}..{hi:g}"
        return True, kind(value), ""
    if not isinstance(value, str):
        return False, None, f"expected a string, got {value!r}"
    choices = f.metadata["choices"]
    if choices is not None and value not in choices:
        return False, None, f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}"
    return True, value, ""


def option_docs() -> list[dict[str, Any]]:
    """One row per option (wire name, type, default, doc, bounds) for docs and package.json."""
    rows = []
    for f in dataclasses.fields(Options):
        rows.append({
            "name": camel(f.name),
            "type": {bool: "boolean", int: "integer", float: "number", str: "string"}[type(f.default)],
            "default": f.default,
            "doc": f.metadata["doc"],
            "minimum": f.metadata["min"],
            "maximum": f.metadata["max"],
            "choices": f.metadata["choices"],
        })
    return rows
