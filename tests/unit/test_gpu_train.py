"""The GPU script (model/gpu_train.py) smoke-tested on the CPU: a tiny llama, a tiny budget.

What it writes (the float16 adapter folder, the GGUF, the summary), that it trains exactly as
train.py does with the same config, that a time budget stops it and still writes everything, and
that a bare checkout (no editseq install, as on the device machine) reports what is missing.

Needs the ``train`` extra (torch, transformers, peft, gguf); skipped without it.
"""

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
gguf = pytest.importorskip("gguf")

from editseq.model import export as ex  # noqa: E402
from editseq.model import gpu_train as gt  # noqa: E402
from editseq.model import train as tr  # noqa: E402

from tests.unit.test_train_export import N_HEAD, N_HEAD_KV, tiny_llama, write_shard  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ex.Layout("llama", N_HEAD, N_HEAD_KV)
ADAPTER_FILES = {"adapter_model.safetensors", "adapter_config.json", "config.json", "state.json",
                 "log.jsonl"}


def argv(tmp_path, *extra):
    data = tmp_path / "data"
    if not data.exists():
        write_shard(data / "toy")
    return ["--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"), "--device", "cpu",
            "--data", str(data), "--rank", "4", "--alpha", "8", "--seq-len", "96",
            "--micro-batch", "2", "--eval-every", "3", "--warmup-steps", "2",
            "--val-fraction", "0.1", "--threads", "1", *extra]


def test_the_gpu_script_on_cpu_writes_the_f16_adapter_gguf_and_summary_as_train_py_trains(tmp_path):
    assert gt.main(argv(tmp_path, "--max-tokens-seen", "1500"), load=tiny_llama, layout=LAYOUT) == 0
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["device"] == "cpu" and summary["stopped_by"] == "budget"
    assert summary["steps"] > 1 and summary["tokens_seen"] >= 1500 and summary["tok_s"] > 0
    assert summary["val_loss"] and summary["best_val_loss"] > 0
    assert summary["packing_check_max_prob_diff"] < 0.1
    assert summary["config"]["micro_batch"] == 2 and summary["config"]["base_dtype"] == "bf16"
    assert summary["data"]["train_rows"] > 0 and 0 < summary["epochs"]
    assert summary["export_error"] is None and summary["too_big_for_the_device_tool"] == []
    assert {p.name for p in out.iterdir()} == {"adapter", "summary.json", "train.log",
                                               "editseq-gpu-lora.gguf"}
    assert {p.name for p in (out / "adapter").iterdir()} == ADAPTER_FILES
    assert "summary:" in (out / "train.log").read_text()

    from peft import PeftModel
    from safetensors.torch import load_file

    shipped = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert shipped and all(v.dtype == torch.float16 for v in shipped.values())
    PeftModel.from_pretrained(tiny_llama()[0], str(out / "adapter"))  # a usable PEFT folder
    reader = gguf.GGUFReader(str(out / "editseq-gpu-lora.gguf"))
    assert len(reader.tensors) == 2 * 7 * 2

    # the same config through train.py gives the same weights: one training code path
    cfg = tr.read_config(out / "adapter" / "config.json")
    cfg.out = str(tmp_path / "direct")
    tr.train(cfg, load=tiny_llama, progress_bar=False)
    direct = load_file(str(tmp_path / "direct" / "ckpt" / "adapter_model.safetensors"))
    assert direct.keys() == shipped.keys()
    for key, value in direct.items():
        torch.testing.assert_close(shipped[key], value.half(), atol=1e-3, rtol=1e-3)


def test_a_time_budget_stops_the_run_and_still_writes_everything(tmp_path):
    assert gt.main(argv(tmp_path, "--minutes", "0.05", "--reserve-s", "0"), load=tiny_llama,
                   layout=LAYOUT) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stopped_by"] in ("budget", "deadline") and summary["steps"] >= 1
    assert 0 < summary["config"]["minutes"] <= 0.05  # the training time left after loading
    assert summary["config"]["max_tokens_seen"] is None
    assert summary["val_loss"][-1]["step"] == summary["steps"]  # evaluated at the end
    state = json.loads((tmp_path / "out" / "adapter" / "state.json").read_text())
    assert state["step"] == summary["steps"]


def test_missing_prerequisites_are_reported_with_the_steps_that_bring_them(tmp_path):
    found = gt.problems("cpu", str(tmp_path / "base.gguf"), str(tmp_path),
                        modules=("torch", "no_such_package_here"))
    assert len(found) == 3
    assert "no_such_package_here" in found[0] and "pip download" in found[0]
    assert str(tmp_path / "base.gguf") in found[1] and "carry" in found[1]
    assert "no training data" in found[2]
    assert gt.problems("cpu", "", str(ROOT / "model" / "data")) == []  # here: all there


def test_a_bare_checkout_runs_the_script_without_an_editseq_install(tmp_path):
    # -S: no site-packages .pth files, so no editable editseq install: the device machine's case
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(site.getsitepackages())}
    result = subprocess.run(
        [sys.executable, "-S", "model/gpu_train.py", "--check", "--device", "cpu",
         "--out", str(tmp_path / "out"), "--data", str(tmp_path / "no-data")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "no training data" in result.stderr
    # the base GGUF was found through editseq.runtime, which the script mapped from server/
    assert "no base" not in result.stderr and "base GGUF" not in result.stderr
    assert "not ready: 1 problem(s)" in result.stdout


def first_fit_by_scanning(samples, seq_len, rng):
    """train.pack as it was written first: scan the rows in order for room."""
    order = list(range(len(samples)))
    if rng is not None:
        rng.shuffle(order)
    rows, free = [], []
    for i in order:
        n = min(len(samples[i].ids), seq_len)
        for r, space in enumerate(free):
            if n <= space:
                rows[r].append(i)
                free[r] -= n
                break
        else:
            rows.append([i])
            free.append(seq_len - n)
    if rng is not None:
        rng.shuffle(rows)
    return rows


def test_packing_with_the_tree_gives_the_rows_of_a_scan_so_runs_keep_their_data_order():
    # pack() runs once per epoch over all the data: the tree made it fast for the GPU budget,
    # and a run resumed with the new code must see the same rows as before
    import random

    for seed in range(30):
        rng = random.Random(seed)
        seq_len = rng.choice([8, 64, 512])
        samples = [tr.Sample(ids=[0] * rng.randint(1, 2 * seq_len), labels=[])
                   for _ in range(rng.randint(0, 400))]
        for shuffle in (None, seed):
            expected = first_fit_by_scanning(
                samples, seq_len, None if shuffle is None else random.Random(shuffle))
            assert tr.pack(samples, seq_len,
                           None if shuffle is None else random.Random(shuffle)) == expected


def test_a_failed_run_still_writes_a_summary_with_the_error(tmp_path):
    def broken(cfg):
        raise RuntimeError("CUDA out of memory (a stand-in)")

    assert gt.main(argv(tmp_path), load=broken, layout=LAYOUT) == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "out of memory" in summary["error"] and summary["device"] == "cpu"
    assert gt.main(argv(tmp_path, "--max-tokens-seen", "300"), load=tiny_llama, layout=LAYOUT) == 0
    assert gt.main(argv(tmp_path), load=tiny_llama, layout=LAYOUT) == 2  # --work has a checkpoint
