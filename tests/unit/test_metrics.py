"""pass@k and the lint/validity shares."""

import itertools
from math import comb

import pytest
from editseq.model.eval import metrics


def brute_force_pass_at_k(n, c, k):
    """Probability that a random k-subset of n samples (c passing) contains a passing one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(("n", "c", "k"), [(1, 0, 1), (1, 1, 1), (5, 2, 1), (5, 2, 3), (10, 3, 5), (6, 6, 2)])
def test_pass_at_k_matches_its_definition(n, c, k):
    assert metrics.pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k))
    assert metrics.pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_pass_at_1_is_the_share_passed():
    assert metrics.pass_at_k(10, 3, 1) == pytest.approx(0.3)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        metrics.pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        metrics.pass_at_k(3, 1, 4)


def s(passed, lint=(), valid=True):
    return {"passed": passed, "lint_errors": list(lint) if lint is not None else None, "valid_python": valid}


def test_mean_pass_at_k_and_greedy():
    problems = [[s(True), s(False)], [s(False), s(False)]]
    assert metrics.mean_pass_at_k(problems, 1) == pytest.approx(0.25)
    assert metrics.mean_pass_at_k(problems, 2) == pytest.approx(0.5)
    assert metrics.mean_pass_at_k(problems, 3) is None
    assert metrics.first_sample_pass(problems) == pytest.approx(0.5)


def test_first_lint_clean_sample_is_submitted():
    problems = [
        [s(False, ["E0602"]), s(True)],  # first clean sample passes
        [s(True, ["E0001"]), s(False, ["E0602"])],  # none clean: the first sample counts
        [s(False), s(True)],  # the first is clean already
    ]
    assert metrics.first_lint_clean_pass(problems) == pytest.approx(2 / 3)
    assert metrics.first_lint_clean_pass(problems, k=1) == pytest.approx(1 / 3)


def test_shares_and_summary():
    problems = [[s(True), s(False, ["E0602"], valid=False)], [s(False, None), s(True)]]
    summary = metrics.summarize(problems)
    assert summary["problems"] == 2 and summary["samples"] == 4 and summary["n"] == 2
    assert summary["pass_at_k"] == {"1": pytest.approx(0.5)}
    assert summary["valid_python_share"] == pytest.approx(0.75)
    assert summary["lint_error_share"] == pytest.approx(0.25)
    assert summary["lint_clean_share"] == pytest.approx(0.5)  # a failed lint (None) is not clean


def test_valid_python():
    assert metrics.valid_python("def f():\n    return 1\n")
    assert not metrics.valid_python("def f(:\n")
    assert not metrics.valid_python("   \n")
