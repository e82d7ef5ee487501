"""Prefill and decode speed of llama.cpp builds and model files side by side (AVX2 against AVX-512, Q8_0 against Q4_0).

    python bench/cpu_build.py --build avx2= --build avx512=/work/llama512 [--out bench/results/cpu-build.json]
    python bench/cpu_build.py --model q8=DEFAULT --model q4_0=/tmp/merged-Q4_0.gguf

A build is a name and a folder that holds a ``llama_cpp`` package (``pip install --no-deps
--target FOLDER WHEEL``); an empty folder means the one installed in this environment. Every
measurement runs in a fresh process with that folder first on ``PYTHONPATH``: it loads the
default model (merged, as the server runs it; or each ``--model``), prefills a ~1,600-token prompt of real code from
scratch (a cold suggestion on a 300-line file) and decodes ``--tokens`` tokens greedily through
``editseq.runtime.ModelRuntime``; the best of ``--repeats`` is kept. Each build runs with 2
threads idle and 1 thread with one core kept busy (what the runtime chooses in each case).
Other jobs on the machine skew every number: stop them first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from decode import run_worker  # bench/decode.py: one setup in a fresh process


def prompt_text(tokens_wanted: int) -> str:
    source = (Path(sysconfig.get_paths()["stdlib"]) / "argparse.py").read_text()
    return source[: tokens_wanted * 3]  # about 3 characters a token for Python source


def worker(setup: dict) -> dict:
    """Runs in the child process: one build, one thread count."""
    import llama_cpp
    from editseq.runtime import ModelRuntime, ModelSpec

    spec = ModelSpec(Path(setup["model"]), n_ctx=2048, n_threads=setup["threads"])
    runtime = ModelRuntime(spec)
    runtime.load()
    prompt = runtime.detokenize(runtime.tokenize(prompt_text(setup["prompt_tokens"]))[: setup["prompt_tokens"]])
    best_prefill = best_decode = 0.0
    for _ in range(setup["repeats"]):
        runtime.close()  # a cold KV cache each time
        generation = runtime.generate(prompt, max_tokens=setup["tokens"], temperature=0.0)
        best_prefill = max(best_prefill, generation.prompt_tokens / max(generation.prefill_s, 1e-9))
        best_decode = max(best_decode, generation.generated_tokens / max(generation.decode_s, 1e-9))
    return {"prefill_tok_s": round(best_prefill, 1), "decode_tok_s": round(best_decode, 1),
            "prompt_tokens": generation.prompt_tokens,
            "llama_cpp": str(Path(llama_cpp.__file__).parent),
            "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip()}


def measure(folder: str, setup: dict) -> dict:
    env = dict(os.environ)
    if folder:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [folder, env.get("PYTHONPATH", "")]))
    return run_worker(__file__, setup, env, label=folder or "installed")


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return sorted(flag for flag in line.split(":", 1)[-1].split() if flag.startswith(("avx", "amx")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--build", action="append", default=[], metavar="NAME=FOLDER",
                        help="a build to measure (FOLDER empty: this environment's)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=GGUF",
                        help="a model file to measure (GGUF DEFAULT: the server's merged default model)")
    parser.add_argument("--prompt-tokens", type=int, default=1600)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    from editseq.runtime import base_model_path, shipped_adapter_path
    from editseq.runtime.merge import merged_model

    load_before = os.getloadavg()
    builds = [item.partition("=")[::2] for item in (args.build or ["installed="])]
    default = merged_model(base_model_path(), shipped_adapter_path())
    models = [(name, default if path == "DEFAULT" else Path(path))
              for name, path in (item.partition("=")[::2] for item in (args.model or ["default=DEFAULT"]))]
    rows = []
    print("| build | model | load | threads | prefill tok/s | decode tok/s |")
    print("|---|---|---|---|---|---|")
    for load, threads in (("idle", 2), ("one core busy", 1)):
        spinner = None if load == "idle" else subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            for name, folder in builds:
                for model_name, model in models:
                    setup = {"model": str(model), "threads": threads, "tokens": args.tokens,
                             "repeats": args.repeats, "prompt_tokens": args.prompt_tokens}
                    row = {"build": name, "model": model_name, "file": model.name, "load": load,
                           "threads": threads, **measure(folder, setup)}
                    rows.append(row)
                    print(f"| {name} | {model_name} | {load} | {threads} | {row['prefill_tok_s']} "
                          f"| {row['decode_tok_s']} |", flush=True)
        finally:
            if spinner is not None:
                spinner.kill()
    for name, _ in builds:  # the kernels each build ran with
        info = next(row["system_info"] for row in rows if row["build"] == name)
        print(f"{name}: {info}")
    if args.out:
        report = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu": platform.processor() or platform.machine(),
                  "cpu_flags": cpu_flags(), "cores": os.cpu_count(),
                  "load_average_before": load_before,
                  "prompt_tokens": args.prompt_tokens, "tokens": args.tokens, "rows": rows}
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
