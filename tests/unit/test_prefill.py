"""The runtime's warm-up prefill, on the real base model (SmolLM2-135M, short generations)."""

import sysconfig
import threading
from pathlib import Path

CODE = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text()[:1500]


def test_a_prefilled_prompt_is_cached_and_decodes_as_without(base_runtime):
    base_runtime.close()
    expected = base_runtime.generate(CODE, max_tokens=16, temperature=0.0)
    base_runtime.close()  # an empty cache
    assert base_runtime.uncached_tokens(CODE) == base_runtime.count_tokens(CODE)
    assert base_runtime.prefill(CODE, chunk=32)
    assert base_runtime.uncached_tokens(CODE) == 0
    generation = base_runtime.generate(CODE, max_tokens=16, temperature=0.0)
    assert generation.reused_tokens >= generation.prompt_tokens - 1
    assert (generation.text, generation.generated_tokens) == (expected.text, expected.generated_tokens)


def test_a_cancelled_prefill_keeps_what_it_did_and_the_next_one_goes_on(base_runtime):
    base_runtime.close()
    cancel = threading.Event()
    cancel.set()
    assert not base_runtime.prefill(CODE, cancel, chunk=32)  # stopped before the first chunk
    assert base_runtime.uncached_tokens(CODE) == base_runtime.count_tokens(CODE)

    stop_after_one = threading.Event()
    original = base_runtime._llama.eval

    def eval_then_stop(tokens):
        original(tokens)
        stop_after_one.set()

    base_runtime._llama.eval = eval_then_stop
    try:
        assert not base_runtime.prefill(CODE, stop_after_one, chunk=32)
    finally:
        base_runtime._llama.eval = original
    assert base_runtime.uncached_tokens(CODE) == base_runtime.count_tokens(CODE) - 32
    assert base_runtime.prefill(CODE, chunk=32)
    assert base_runtime.uncached_tokens(CODE) == 0


def test_prefill_replaces_another_prompts_cache_after_the_shared_prefix(base_runtime):
    base_runtime.close()
    assert base_runtime.prefill(CODE)
    other = CODE[:600] + "\n# something else entirely\n"
    shared = base_runtime.count_tokens(CODE[:500])
    assert base_runtime.uncached_tokens(other) < base_runtime.count_tokens(other) - shared + 8
    assert base_runtime.prefill(other)
    assert base_runtime.uncached_tokens(other) == 0
    assert base_runtime.uncached_tokens(CODE) > 0


def test_the_kept_tokenization_is_not_shared_with_callers(base_runtime):
    first = base_runtime.tokenize(CODE)
    expected = list(first)
    first.append(0)  # a caller's change to its list
    assert base_runtime.tokenize(CODE) == expected
    assert base_runtime.tokenize(CODE, special=False) == expected  # no special tokens in CODE
    assert base_runtime.count_tokens(CODE[:100]) < len(expected)
