"""Metrics over per-problem samples: pass@k, valid-Python share, lint shares.

A problem's samples are dicts with at least ``passed`` (bool); ``valid_python`` and
``lint_errors`` (a list of message ids, or None when linting failed) feed the other metrics.
Every metric is a mean over problems (pass@k) or over samples (shares), as a fraction in [0, 1].
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

DEFAULT_KS = (1, 5, 10, 20, 50, 100)
PICK_KS = (1, 5, 10, 20)  # the implement task's sweep of candidates per request


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator of pass@k from ``n`` samples of which ``c`` passed (Chen et al., 2021):
    1 - C(n-c, k) / C(n, k), computed as a stable product."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def mean_pass_at_k(problems: Sequence[Sequence[dict]], k: int) -> float | None:
    """pass@k averaged over problems; None when some problem has fewer than k samples."""
    if not problems or any(len(samples) < k for samples in problems):
        return None
    scores = [pass_at_k(len(s), sum(bool(x["passed"]) for x in s), k) for s in problems]
    return sum(scores) / len(scores)


def first_sample_pass(problems: Sequence[Sequence[dict]]) -> float | None:
    """Share of problems whose first sample passed: greedy pass@1 when decoding is greedy."""
    if not problems or any(not s for s in problems):
        return None
    return sum(bool(s[0]["passed"]) for s in problems) / len(problems)


def is_lint_clean(sample: dict) -> bool:
    return sample.get("lint_errors") == []


def first_lint_clean_pass(problems: Sequence[Sequence[dict]], k: int | None = None) -> float | None:
    """pass@1 when, of the first ``k`` samples, the first lint-clean one is submitted (the first
    sample when none is clean). A selection that needs no tests, only the linter."""
    if not problems or any(not s for s in problems):
        return None
    passed = 0
    for samples in problems:
        pool = list(samples[:k] if k else samples)
        chosen = next((x for x in pool if is_lint_clean(x)), pool[0])
        passed += bool(chosen["passed"])
    return passed / len(problems)


def has_pick(problems: Sequence[Sequence[dict]]) -> bool:
    """Samples of the implement task carry what the feature's choice reads (but for problems
    the feature refuses, ``refused``: it offers nothing for them)."""
    return (bool(problems) and all(s and ("pick" in s[0].get("extra", {}) or refused(s)) for s in problems)
            and not all(refused(s) for s in problems))


def refused(samples: Sequence[dict]) -> bool:
    """The implement feature turned the problem's stub down (HumanEval/115's body starts with an
    import before its docstring: not a stub to fill in)."""
    return bool(samples) and samples[0].get("finish") == "no_stub"


def picked(samples: Sequence[dict], k: int) -> dict | None:
    """The sample the implement feature offers when it writes the first ``k`` of ``samples``
    (``editseq.implement.pick``: examples passed, then mean log-probability; the first lint-clean
    one when the prompt has no examples; nothing when all fail every example), or None."""
    from editseq.implement import Ranked, pick

    pool = list(samples[:k])
    if not pool or refused(pool):
        return None
    items = [Ranked(x["extra"]["pick"]["key"], bool(x["extra"]["pick"]["lint_ok"]),
                    x["extra"]["pick"]["checks_passed"], x["extra"]["pick"]["mean_logprob"]) for x in pool]
    has_checks = bool(pool) and pool[0]["extra"]["pick"]["checks_total"] > 0
    index = pick(items, has_checks)
    return None if index is None else pool[index]


def pick_pass(problems: Sequence[Sequence[dict]], k: int) -> float | None:
    """pass@1 of the implement feature's choice among the first ``k`` samples of each problem (a
    problem where it offers nothing counts as failed); None when some problem has fewer."""
    if not has_pick(problems) or any(len(samples) < k for samples in problems):
        return None
    return sum(bool((chosen := picked(s, k)) and chosen["passed"]) for s in problems) / len(problems)


def share(problems: Sequence[Sequence[dict]], predicate) -> float | None:
    samples = [x for s in problems for x in s]
    return sum(bool(predicate(x)) for x in samples) / len(samples) if samples else None


def valid_python(code: str) -> bool:
    """Non-empty code that parses."""
    if not code.strip():
        return False
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def summarize(problems: Sequence[Sequence[dict]], ks: Sequence[int] = DEFAULT_KS) -> dict:
    """The summary stored with every task of a result file."""
    n = min((len(s) for s in problems), default=0)
    summary: dict = {
        "problems": len(problems),
        "samples": sum(len(s) for s in problems),
        "n": n,
        "pass_at_k": {str(k): mean_pass_at_k(problems, k) for k in ks if 1 <= k <= n},
        "first_sample_pass": first_sample_pass(problems),
        "valid_python_share": share(problems, lambda x: x.get("valid_python")),
        "lint_error_share": share(problems, lambda x: bool(x.get("lint_errors"))),
        "lint_clean_share": share(problems, is_lint_clean),
        "first_lint_clean_pass_at_1": first_lint_clean_pass(problems),
        "timeout_share": share(problems, lambda x: x.get("status") == "timeout"),
    }
    if has_pick(problems):
        summary["pick_pass_at_k"] = {str(k): pick_pass(problems, k) for k in PICK_KS if k <= n}
        summary["problems_without_examples"] = sum(not refused(s) and s[0]["extra"]["pick"]["checks_total"] == 0
                                                   for s in problems)
        summary["problems_refused"] = sum(refused(s) for s in problems)
        summary["pick_offered_at_k"] = {str(k): sum(picked(s, k) is not None for s in problems) / len(problems)
                                        for k in PICK_KS if k <= n}
    return summary
