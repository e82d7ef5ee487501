"""The runtime's warm-up prefill, on the real base model (SmolLM2-135M, short generations)."""

import sysconfig
import threading
from pathlib import Path

import pytest
from editseq.runtime import ModelRuntime, ModelSpec, base_model_path

CODE = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text()[:1500]


@pytest.fixture(scope="module")
def runtime():
    runtime = ModelRuntime(ModelSpec(base_model_path(), n_ctx=1024, n_threads=1))
    runtime.load()
    yield runtime
    runtime.close()


def test_a_prefilled_prompt_is_cached_and_decodes_as_without(runtime):
    runtime.close()
    expected = runtime.generate(CODE, max_tokens=16, temperature=0.0)
    runtime.close()  # an empty cache
    assert runtime.uncached_tokens(CODE) == runtime.count_tokens(CODE)
    assert runtime.prefill(CODE, chunk=32)
    assert runtime.uncached_tokens(CODE) == 0
    generation = runtime.generate(CODE, max_tokens=16, temperature=0.0)
    assert generation.reused_tokens >= generation.prompt_tokens - 1
    assert (generation.text, generation.generated_tokens) == (expected.text, expected.generated_tokens)


def test_a_cancelled_prefill_keeps_what_it_did_and_the_next_one_goes_on(runtime):
    runtime.close()
    cancel = threading.Event()
    cancel.set()
    assert not runtime.prefill(CODE, cancel, chunk=32)  # stopped before the first chunk
    assert runtime.uncached_tokens(CODE) == runtime.count_tokens(CODE)

    stop_after_one = threading.Event()
    original = runtime._llama.eval

    def eval_then_stop(tokens):
        original(tokens)
        stop_after_one.set()

    runtime._llama.eval = eval_then_stop
    try:
        assert not runtime.prefill(CODE, stop_after_one, chunk=32)
    finally:
        runtime._llama.eval = original
    assert runtime.uncached_tokens(CODE) == runtime.count_tokens(CODE) - 32
    assert runtime.prefill(CODE, chunk=32)
    assert runtime.uncached_tokens(CODE) == 0


def test_prefill_replaces_another_prompts_cache_after_the_shared_prefix(runtime):
    runtime.close()
    assert runtime.prefill(CODE)
    other = CODE[:600] + "\n# something else entirely\n"
    shared = runtime.count_tokens(CODE[:500])
    assert runtime.uncached_tokens(other) < runtime.count_tokens(other) - shared + 8
    assert runtime.prefill(other)
    assert runtime.uncached_tokens(other) == 0
    assert runtime.uncached_tokens(CODE) > 0
