"""Evaluation on HumanEvalPack (Python): Synthesize, Fix and Explain, sandboxed, pass@k.

    editseq eval --task all --model base --format chat -n 1 --temperature 0
    editseq eval-report

``tasks`` builds prompts and turns model output into programs, ``metrics`` computes pass@k and
the lint shares, ``run`` drives a model through the tasks and writes ``model/results/*.json``,
``report`` renders ``model/results/README.md`` and ``passk.png`` from them.
"""
