"""Fixtures shared by the unit tests that run the real base model."""

import pytest
from editseq.runtime import ModelRuntime, ModelSpec, base_model_path


@pytest.fixture(scope="module")
def base_runtime():
    """SmolLM2-135M-Instruct without an adapter, 1,024 tokens of context, one thread."""
    runtime = ModelRuntime(ModelSpec(base_model_path(), n_ctx=1024, n_threads=1))
    runtime.load()
    yield runtime
    runtime.close()
