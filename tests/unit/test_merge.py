"""Merging a LoRA adapter into its base GGUF (gguf-py), and the runtime's per-request threads."""

import gguf
import numpy as np
import pytest
from editseq.runtime import load as load_module
from editseq.runtime.merge import main, merge, merged_model

RANK, ALPHA = 4, 8.0


def write_base(path, weight):
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny")
    writer.add_block_count(1)
    writer.add_tensor("blk.0.attn_norm.weight", np.linspace(0.5, 1.5, 64, dtype=np.float32))
    q4 = gguf.GGMLQuantizationType.Q4_1
    writer.add_tensor("blk.0.attn_q.weight", gguf.quants.quantize(weight, q4), raw_dtype=q4)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_adapter(path, lora_a, lora_b):
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", ALPHA)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", lora_a)
    writer.add_tensor("blk.0.attn_q.weight.lora_b", lora_b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.05, (64, 64)).astype(np.float32)  # out x in
    lora_a = rng.normal(0, 0.1, (RANK, 64)).astype(np.float32)
    lora_b = rng.normal(0, 0.1, (64, RANK)).astype(np.float32)
    write_base(tmp_path / "base.gguf", weight)
    write_adapter(tmp_path / "lora.gguf", lora_a, lora_b)
    return tmp_path, lora_a, lora_b


def test_the_merged_weight_is_the_base_plus_the_scaled_delta_and_the_rest_is_copied(files):
    folder, lora_a, lora_b = files
    merge(folder / "base.gguf", folder / "lora.gguf", folder / "merged.gguf")
    base, merged = gguf.GGUFReader(folder / "base.gguf"), gguf.GGUFReader(folder / "merged.gguf")
    assert merged.fields["general.name"].contents() == "tiny"
    tensors = {t.name: t for t in merged.tensors}
    norm = next(t for t in base.tensors if t.name == "blk.0.attn_norm.weight")
    assert bytes(tensors["blk.0.attn_norm.weight"].data) == bytes(norm.data)
    q = tensors["blk.0.attn_q.weight"]
    assert q.tensor_type == gguf.GGMLQuantizationType.Q8_0  # a Q4 step would round the delta away
    base_q = next(t for t in base.tensors if t.name == "blk.0.attn_q.weight")
    expected = gguf.quants.dequantize(base_q.data, base_q.tensor_type) + ALPHA / RANK * lora_b @ lora_a
    np.testing.assert_allclose(gguf.quants.dequantize(q.data, q.tensor_type), expected, atol=2e-3)


def test_a_merge_is_built_once_and_a_new_adapter_gets_its_own_file(files, tmp_path):
    folder, lora_a, lora_b = files
    cache = tmp_path / "cache"
    first = merged_model(folder / "base.gguf", folder / "lora.gguf", cache)
    stamp = first.stat().st_mtime_ns
    assert merged_model(folder / "base.gguf", folder / "lora.gguf", cache) == first
    assert first.stat().st_mtime_ns == stamp
    write_adapter(folder / "lora.gguf", lora_a * 2, lora_b)  # retrained: new bytes, same name
    second = merged_model(folder / "base.gguf", folder / "lora.gguf", cache)
    assert second != first and second.is_file()
    assert not list(cache.glob("*.partial"))


def test_the_command_writes_a_merge_of_another_type_where_asked_and_nowhere_else(files, capsys):
    folder, _, _ = files
    out = folder / "q4_0.gguf"
    assert main([str(folder / "base.gguf"), str(folder / "lora.gguf"), "--type", "Q4_0", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    q = next(t for t in gguf.GGUFReader(out).tensors if t.name == "blk.0.attn_q.weight")
    assert q.tensor_type == gguf.GGMLQuantizationType.Q4_0
    with pytest.raises(SystemExit):  # the user cache holds only the server's own merges
        main([str(folder / "base.gguf"), str(folder / "lora.gguf"), "--type", "Q4_0"])
    assert "--type needs --out" in capsys.readouterr().err


def test_a_file_that_is_not_an_adapter_is_refused(files):
    folder, _, _ = files
    with pytest.raises(ValueError, match="not a LoRA adapter"):
        merge(folder / "base.gguf", folder / "base.gguf", folder / "out.gguf")


def test_threads_follow_what_other_processes_use(monkeypatch):
    clock = {"t": 0.0, "total": 0.0, "own": 0.0}
    monkeypatch.setattr(load_module.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(load_module, "_total_busy_and_cores", lambda: (clock["total"], 2))
    monkeypatch.setattr(load_module, "_own_busy", lambda: clock["own"])
    load = load_module.OtherLoad()

    def after(seconds, total, own):
        clock["t"] += seconds
        clock["total"] += total
        clock["own"] += own

    after(1.0, total=1.9, own=1.9)  # we decoded on both cores; nobody else ran
    assert load.threads(2) == 2
    after(1.0, total=2.0, own=1.0)  # a build holds a core
    assert load.busy_cores() == pytest.approx(1.0) and load.threads(2) == 1
    after(0.05, total=0.0, own=0.0)  # too short a window to judge: keep the last reading
    assert load.threads(2) == 1
    after(1.0, total=0.1, own=0.0)  # the build ended
    assert load.threads(2) == 2
