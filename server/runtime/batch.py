"""Several prompts decoded together in one llama.cpp context (the teacher's batched sampler).

Made by ``ModelRuntime.batch_sampler``. On this CPU one decode step costs about as much for a
few sequences as for one (each step reads all the weights once), so B replies written side by
side finish sooner than B written one after another: 1.6-1.7x for 2-8 sequences of the 0.5B
coder model on one busy thread (5.5 tok/s alone, 9.0-9.5 side by side, ``python
bench/batch_sampler.py``, 2026-11-22). The prompts' longest common token prefix (the teacher's
rules and worked example) is evaluated once, kept between calls, and shared by every sequence of
the unified KV cache.

Sampling is done here, in numpy, so that each sequence has its own seeded generator: temperature,
then top-p over the ``TOP_CANDIDATES`` most likely tokens (the mass beyond them is negligible at
the temperatures used), or argmax at temperature 0. llama.cpp code only, like the rest of
``editseq.runtime``; the server itself does not use it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

TOP_CANDIDATES = 256
N_BATCH = 512


@dataclass(frozen=True)
class BatchReply:
    text: str
    finish: str  # "eos", "stop" (a stop string, cut off), "done" (``done(text)`` said so), "length"
    prompt_tokens: int
    generated_tokens: int


class BatchSampler:
    """Decodes up to ``slots`` prompts at once with the model of a loaded ``llama_cpp.Llama``
    (its tokenizer too), in a context of its own with ``n_ctx`` cells shared by all sequences."""

    def __init__(self, llama, slots: int, n_ctx: int, threads: int, flash_attention: bool) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._llama = llama
        self.slots = slots
        self.n_ctx = n_ctx
        model = llama._model.model
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = n_ctx, N_BATCH, N_BATCH
        params.n_seq_max, params.kv_unified = slots, True
        params.n_threads = params.n_threads_batch = threads
        # attention as in the runtime's own context, so that logits match its own
        params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attention
                                  else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        self._ctx = llama_cpp.llama_init_from_model(model, params)
        if not self._ctx:
            raise RuntimeError(f"llama.cpp could not create a context of {n_ctx} cells for {slots} sequences")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(N_BATCH, 0, 1)
        self._cached: list[int] = []  # the prefix held by sequence 0 between calls

    def close(self) -> None:
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None

    # -- llama.cpp calls ---------------------------------------------------------------------

    def _decode(self, items: Sequence[tuple[int, int, int, bool]]) -> bool:
        """Decode (token, position, sequence, want logits) items; False when the cache is full."""
        batch = self._batch
        batch.n_tokens = len(items)
        for i, (token, pos, seq, logits) in enumerate(items):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, int(logits)
        return self._lib.llama_decode(self._ctx, batch) == 0

    def _logits(self, index: int) -> np.ndarray:
        pointer = self._lib.llama_get_logits_ith(self._ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def _evaluate(self, tokens: list[int], start: int, seq: int) -> np.ndarray | None:
        """Evaluate ``tokens`` at positions ``start``.. of ``seq``; the last one's logits."""
        for offset in range(0, len(tokens), N_BATCH):
            chunk = tokens[offset : offset + N_BATCH]
            last = offset + len(chunk) == len(tokens)
            items = [(t, start + offset + i, seq, last and i == len(chunk) - 1) for i, t in enumerate(chunk)]
            if not self._decode(items):
                return None
        return self._logits((len(tokens) - 1) % N_BATCH) if tokens else None

    def _piece(self, token: int) -> bytes:
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = self._lib.llama_token_to_piece(self._vocab, token, buffer, size, 0, False)
            if n >= 0:
                return buffer.raw[:n]
            size = -n  # the piece needs this many bytes

    # -- sampling ------------------------------------------------------------------------------

    @staticmethod
    def sample(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
        if temperature <= 0:
            return int(logits.argmax())
        top = np.argpartition(logits, -TOP_CANDIDATES)[-TOP_CANDIDATES:]
        scores = logits[top] / temperature
        order = np.argsort(-scores)
        top, scores = top[order], scores[order]
        probs = np.exp(scores - scores[0])
        probs /= probs.sum()
        keep = min(len(probs), int(np.searchsorted(np.cumsum(probs), top_p)) + 1)  # the smallest set reaching top_p
        probs = probs[:keep] / probs[:keep].sum()
        return int(top[rng.choice(keep, p=probs)])

    # -- generation ----------------------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int | Sequence[int],
        seeds: Sequence[int],
        temperature: float = 0.7,
        top_p: float = 0.95,
        stop: tuple[str, ...] = (),
        done: Callable[[str], bool] | None = None,
    ) -> list[BatchReply]:
        """One reply per prompt (at most ``slots`` prompts), each sampled with its own seed and
        ``max_tokens`` (one for all, or one each)."""
        limits = [max_tokens] * len(prompts) if isinstance(max_tokens, int) else list(max_tokens)
        if not 0 < len(prompts) <= self.slots or len(seeds) != len(prompts) or len(limits) != len(prompts):
            raise ValueError(f"give 1 to {self.slots} prompts, and one seed each")
        lib = self._lib
        tokens = [self._llama.tokenize(p.encode("utf-8"), add_bos=False, special=True) for p in prompts]
        single = len(tokens) == 1
        shared = _common_prefix_length(tokens)
        if not single:
            shared = min(shared, min(len(t) for t in tokens) - 1)  # every sequence evaluates a token of its own
        if sum(len(t) for t in tokens) - (len(tokens) - 1) * shared + sum(limits) > self.n_ctx:
            raise ValueError(f"{len(prompts)} prompts and {sum(limits)} tokens to write exceed {self.n_ctx} cells")
        kept = _common_prefix_length([self._cached, tokens[0][:shared]])
        if single:
            # One prompt is evaluated past the cached prefix in one batch, as the runtime does it,
            # so that its logits are the runtime's: llama.cpp's kernels for a batch and for a lone
            # token need not round alike (they do not with AVX-512).
            kept = min(kept, shared - 1)
        for seq in range(self.slots):
            lib.llama_memory_seq_rm(self._memory, seq, kept if seq == 0 else 0, -1)
        self._cached = []
        prefix_logits = self._evaluate(tokens[0][kept:shared], kept, 0) if shared > kept else None
        if shared > kept and prefix_logits is None:
            raise ValueError(f"the shared prefix of {shared} tokens does not fit in {self.n_ctx} cells")
        self._cached = tokens[0][:shared]
        for seq in range(1, len(prompts)):
            lib.llama_memory_seq_cp(self._memory, 0, seq, -1, -1)

        rngs = [np.random.default_rng(seed) for seed in seeds]
        pieces: list[bytearray] = [bytearray() for _ in prompts]
        finish = ["length"] * len(prompts)
        texts = [""] * len(prompts)
        counts = [0] * len(prompts)
        positions = [len(t) for t in tokens]
        next_token: dict[int, int] = {}
        for seq, prompt_tokens in enumerate(tokens):
            logits = prefix_logits if single else self._evaluate(prompt_tokens[shared:], shared, seq)
            if logits is None:
                finish[seq] = "length"  # no room in the cache
                continue
            next_token[seq] = self.sample(logits, temperature, top_p, rngs[seq])
        while next_token:
            for seq in list(next_token):
                token = next_token[seq]
                if lib.llama_vocab_is_eog(self._vocab, token):
                    finish[seq] = "eos"
                    del next_token[seq]
                    continue
                pieces[seq] += self._piece(token)
                counts[seq] += 1
                texts[seq] = pieces[seq].decode("utf-8", "replace")
                cut = _stop_at(texts[seq], stop)
                if cut is not None:
                    texts[seq], finish[seq] = texts[seq][:cut], "stop"
                elif done is not None and done(texts[seq]):
                    finish[seq] = "done"
                elif counts[seq] >= limits[seq]:
                    finish[seq] = "length"
                else:
                    continue
                del next_token[seq]
            if not next_token:
                break
            active = list(next_token)
            if not self._decode([(next_token[s], positions[s], s, True) for s in active]):
                break  # the cache is full: what was written so far stands, as "length"
            for index, seq in enumerate(active):
                positions[seq] += 1
                next_token[seq] = self.sample(self._logits(index), temperature, top_p, rngs[seq])
        return [BatchReply(texts[i].replace("\ufffd", ""), finish[i], len(tokens[i]), counts[i])
                for i in range(len(prompts))]


def _common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    if not sequences:
        return 0
    length = min(len(s) for s in sequences)
    for i in range(length):
        if any(s[i] != sequences[0][i] for s in sequences[1:]):
            return i
    return length


def _stop_at(text: str, stop: tuple[str, ...]) -> int | None:
    found = [text.find(s) for s in stop if s and s in text]
    return min(found) if found else None
