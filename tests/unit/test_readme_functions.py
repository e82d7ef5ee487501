"""The README's coder-tier costs for explain and repair are bench/functions.py's committed numbers."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_coder_tier_costs_in_the_readme_are_the_benchmarks():
    readme = " ".join((ROOT / "README.md").read_text().split())
    source = re.search(r"`bench/functions.py`, `(bench/results/functions-[\d-]+\.json)`", readme).group(1)
    tiers = {t["tier"]: t for t in json.loads((ROOT / source).read_text())["tiers"]}
    default, coder = tiers["default"], tiers["coder"]
    stated = (f"Qwen2.5-Coder-0.5B-Instruct ({coder['download_mb']:.0f} MB more to download; on 2 busy cores a "
              f"repair took a median {coder['repair_s_median']:.1f} s against {default['repair_s_median']:.1f} s "
              f"for the 135M model and an explanation {coder['explain_s_median']:.1f} s against "
              f"{default['explain_s_median']:.1f} s")
    assert stated in readme, "rewrite the README's coder-tier sentence from " + source
