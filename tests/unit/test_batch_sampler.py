"""The runtime's batched sampler (the teacher's), on the real base model (SmolLM2-135M, short
generations)."""

import pytest

PROMPTS = [
    "Write a Python function that adds two numbers.\n<|diff|>",
    "Write a Python function that reverses a string.\n<|diff|>",
    "Write a Python function that counts vowels.\n<|diff|>",
]


def test_one_sequence_writes_what_the_runtime_writes(base_runtime):
    sampler = base_runtime.batch_sampler(1, 1024, 1)
    try:
        for prompt in PROMPTS[:2]:  # the second call keeps the first call's shared prefix cached
            expected = base_runtime.generate(prompt, max_tokens=24, temperature=0.0)
            [reply] = sampler.generate([prompt], max_tokens=24, seeds=[0], temperature=0.0)
            assert (reply.text, reply.generated_tokens, reply.finish) == (
                expected.text, expected.generated_tokens, expected.finish)
            assert expected.generated_tokens > 0
    finally:
        sampler.close()


def test_side_by_side_replies_are_reproducible_and_end_as_asked(base_runtime):
    sampler = base_runtime.batch_sampler(3, 1024, 1)
    try:
        first = sampler.generate(PROMPTS, max_tokens=[12, 20, 30], seeds=[1, 2, 3], temperature=0.8)
        again = sampler.generate(PROMPTS, max_tokens=[12, 20, 30], seeds=[1, 2, 3], temperature=0.8)
        assert [r.text for r in first] == [r.text for r in again]
        assert [r.generated_tokens for r in first if r.finish == "length"] == [
            n for r, n in zip(first, (12, 20, 30)) if r.finish == "length"]
        stopped = sampler.generate(PROMPTS, max_tokens=40, seeds=[1, 2, 3], temperature=0.0, stop=("(",))
        for reply in stopped:
            assert "(" not in reply.text
            assert reply.finish in ("stop", "eos", "length")
        assert any(r.finish == "stop" for r in stopped)
        done = sampler.generate(PROMPTS[:2], max_tokens=40, seeds=[0, 0], temperature=0.0,
                                done=lambda text: "def " in text)
        assert any("def " in r.text for r in done)
        assert all(r.finish == "done" and r.text.count("def ") == 1 for r in done if "def " in r.text)
        with pytest.raises(ValueError, match="exceed"):
            sampler.generate(PROMPTS, max_tokens=400, seeds=[0, 0, 0])
        with pytest.raises(ValueError, match="one seed each"):
            sampler.generate(PROMPTS, max_tokens=4, seeds=[0])
    finally:
        sampler.close()
