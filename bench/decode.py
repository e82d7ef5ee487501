"""Decode speed of the server's runtime beside raw llama-cpp-python, by model, threads and load.

    python bench/decode.py [--tokens 64] [--repeats 3] [--out bench/results/decode.json]

Every setup runs in a fresh process (OpenMP reads its wait policy when it loads): it loads the
model, prefills the same ~600-token prompt (real code), and decodes ``--tokens`` tokens greedily,
once through ``editseq.runtime.ModelRuntime.generate`` (what the server does per token:
detokenize, stop strings, the cancel flag) and once through llama-cpp-python's own
``Llama.generate`` loop on the same prompt (the raw speed); the best of ``--repeats`` is kept.
Each setup is measured idle and with one core kept busy by a spinning process, as a user's build
or test run would. Other jobs on the machine skew every number: stop them first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

# (name, environment): how llama.cpp's OpenMP threads wait for each other. libgomp spins
# 300,000 times before sleeping when neither variable is set; each setup sets one, so the
# runtime's own default does not apply.
WAITING = {
    "spin 300k (OpenMP default)": {"GOMP_SPINCOUNT": "300000"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin 10k then sleep": {"GOMP_SPINCOUNT": "10000"},
    "spin 30k then sleep": {"GOMP_SPINCOUNT": "30000"},
}


def prompt_text(tokens_wanted: int = 600) -> str:
    source = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text()
    return source[: tokens_wanted * 3]  # about 3 characters a token for Python source


def worker(setup: dict) -> dict:
    """Runs in the child process: the measurement of one setup."""
    from editseq.runtime import ModelRuntime, ModelSpec

    spec = ModelSpec(Path(setup["model"]), Path(setup["adapter"]) if setup["adapter"] else None,
                     n_ctx=2048, n_threads=setup["threads"])
    runtime = ModelRuntime(spec)
    runtime.load()
    prompt = setup.get("prompt") or prompt_text()
    if setup.get("prompt_tokens"):  # as long a context as the server's prompt had
        prompt = runtime.detokenize(runtime.tokenize(prompt)[-setup["prompt_tokens"]:])
    best_server = best_raw = 0.0
    for _ in range(setup["repeats"]):
        runtime.close()  # a cold KV cache each time: prefill, then decode
        generation = runtime.generate(prompt, max_tokens=setup["tokens"], temperature=0.0)
        best_server = max(best_server, generation.generated_tokens / max(generation.decode_s, 1e-9))
        best_raw = max(best_raw, raw_rate(spec, prompt, setup["tokens"]))
    return {"server_tok_s": round(best_server, 1), "raw_tok_s": round(best_raw, 1),
            "prompt_tokens": generation.prompt_tokens}


def raw_rate(spec, prompt: str, tokens: int) -> float:
    """Greedy decode tok/s of llama-cpp-python's own loop after ``prompt``."""
    from llama_cpp import Llama

    threads = spec.n_threads or os.cpu_count()
    llama = Llama(model_path=str(spec.path), lora_path=str(spec.adapter) if spec.adapter else None,
                  n_ctx=spec.n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512,
                  verbose=False)
    ids = llama.tokenize(prompt.encode(), add_bos=False, special=True)
    count, first = 0, None
    for _ in llama.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0):
        count += 1
        if first is None:
            first = time.perf_counter()  # the first token ends the prefill
        if count > tokens:
            break
    rate = (count - 1) / (time.perf_counter() - first)
    llama.close()
    return rate


def run_worker(script: str, setup: dict, env: dict[str, str] | None = None, timeout: float = 900,
               label: str = "") -> dict:
    """``script --worker SETUP`` in a fresh process (the benches' way to measure one setup): the
    JSON of its last line of output; SystemExit with its stderr when it fails."""
    out = subprocess.run([sys.executable, script, "--worker", json.dumps(setup)], env=env,
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise SystemExit(f"worker failed for {label + ' ' if label else ''}{setup}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(setup: dict, env: dict[str, str]) -> dict:
    child_env = {key: value for key, value in os.environ.items()
                 if key not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    child_env.update(env)
    return run_worker(__file__, setup, child_env, timeout=600)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="base,adapter,merged", help="which of base, adapter, merged")
    parser.add_argument("--waiting", default="|".join(WAITING), help="'|'-separated names of WAITING")
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    from editseq.runtime import base_model_path, shipped_adapter_path
    from editseq.runtime.merge import merged_model

    base, adapter = base_model_path(), shipped_adapter_path()
    models = {"base": (base, None), "adapter": (base, adapter), "merged": (merged_model(base, adapter), None)}
    rows = []
    print("| load | model | threads | waiting | server tok/s | raw tok/s | server/raw |")
    print("|---|---|---|---|---|---|---|")
    for load in ("idle", "one core busy"):
        spinner = None
        if load != "idle":
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            for name in args.models.split(","):
                model, lora = models[name]
                for threads in (int(t) for t in args.threads.split(",")):
                    for waiting in args.waiting.split("|"):
                        if threads == 1 and waiting != "passive":
                            continue  # one thread never waits for another
                        setup = {"model": str(model), "adapter": str(lora) if lora else "",
                                 "threads": threads, "tokens": args.tokens, "repeats": args.repeats}
                        result = measure(setup, WAITING[waiting])
                        row = {"load": load, "model": name, "threads": threads, "waiting": waiting,
                               **result}
                        rows.append(row)
                        print(f"| {load} | {name} | {threads} | {waiting} | {row['server_tok_s']} "
                              f"| {row['raw_tok_s']} | {row['server_tok_s'] / row['raw_tok_s']:.2f} |",
                              flush=True)
        finally:
            if spinner is not None:
                spinner.kill()
    if args.out:
        args.out.write_text(json.dumps({"tokens": args.tokens, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
