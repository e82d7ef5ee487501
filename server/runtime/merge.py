"""A LoRA adapter merged into its base GGUF, so that decoding pays nothing per token for it.

    python -m editseq.runtime.merge [BASE.gguf ADAPTER.gguf]   # prints the merged file's path
    python -m editseq.runtime.merge BASE.gguf ADAPTER.gguf --type Q4_0 --out OUT.gguf   # to compare types

(without arguments: the default model, SmolLM2-135M-Instruct with editseq's shipped adapter;
install.sh runs it so that the server's first start does not have to.)

Each weight the adapter targets is dequantized (gguf-py), given the adapter's delta
``alpha / r * lora_b @ lora_a`` (in the GGUF's own row order: the exporter already permuted q and
k), and quantized again to its own type where gguf-py can quantize it (Q4_0, Q4_1, Q5_0, Q5_1,
Q8_0; other types become Q8_0). Every other tensor and all metadata are copied byte for byte.
The result lives in the user cache directory under a name made of the sha256 of the base and
of the adapter, so a new adapter builds a new file and a finished file is never rewritten.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import platformdirs

from ..files import sha256_file

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (tensors done, tensors in all)
# The type of the weights the adapter changed. Q8_0 keeps the merge at the adapter's own
# predictions (model/merge_check.py, 200 positions: 98.5% top-1 agreement; Q5_0 96.0%, Q4_0
# 89.5%); Q4_0 would prefill 1.4x and decode 1.2x faster on 2 idle cores (943 against 667 and
# 126 against 107 tok/s: llama.cpp's repacked Q4_0 kernels; bench/results/cpu-quant-2026-12-01.json),
# but it is another model, so the speed waits for an adapter trained to survive it.
MERGED_TYPE = "Q8_0"


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("editseq")) / "merged"


def merged_path(base: Path, adapter: Path, directory: Path | None = None) -> Path:
    """Where the merge of ``base`` and ``adapter`` lives (it may not exist yet)."""
    directory = directory or cache_dir()
    key = f"{_digest(base, directory)[:12]}-{_digest(adapter, directory)[:12]}"
    return directory / f"{base.stem}+{adapter.stem}-{key}.gguf"


def merged_model(base: Path, adapter: Path, directory: Path | None = None,
                 progress: Progress | None = None) -> Path:
    """The merged GGUF of ``base`` and ``adapter``, built on first use (a few seconds)."""
    target = merged_path(base, adapter, directory)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    try:
        merge(base, adapter, partial, progress)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    log.info("merged %s into %s: %s", adapter.name, base.name, target)
    return target


def merge(base: Path, adapter: Path, out: Path, progress: Progress | None = None,
          merged_type: str = MERGED_TYPE) -> None:
    """Write ``base`` with ``adapter`` merged into it to ``out``, the changed weights as ``merged_type``."""
    import gguf
    import numpy as np

    model, lora = gguf.GGUFReader(base), gguf.GGUFReader(adapter)
    if _string(lora, "general.type") != "adapter" or _string(lora, "adapter.type") != "lora":
        raise ValueError(f"{adapter} is not a LoRA adapter GGUF")
    alpha = float(lora.fields["adapter.lora.alpha"].contents())
    pairs = {t.name: t for t in lora.tensors}
    writer = gguf.GGUFWriter(out, _string(model, "general.architecture"), endianess=model.endianess)
    for field in model.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue  # written by the writer itself
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)
    merged = 0
    for i, tensor in enumerate(model.tensors):
        a, b = pairs.get(tensor.name + ".lora_a"), pairs.get(tensor.name + ".lora_b")
        if a is None or b is None:
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
        else:
            weight = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            lora_a = np.asarray(a.data, dtype=np.float32)  # r x in
            lora_b = np.asarray(b.data, dtype=np.float32)  # out x r
            weight += (alpha / lora_a.shape[0]) * (lora_b @ lora_a)
            kind = gguf.GGMLQuantizationType[merged_type]
            writer.add_tensor(tensor.name, gguf.quants.quantize(weight, kind), raw_dtype=kind)
            merged += 1
        if progress is not None:
            progress(i + 1, len(model.tensors))
    if merged * 2 != len(pairs):
        raise ValueError(f"{adapter}: {len(pairs) // 2} adapted tensors, {merged} found in {base}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _string(reader, key: str) -> str:
    field = reader.fields.get(key)
    return str(field.contents()) if field is not None else ""


def _digest(path: Path, directory: Path) -> str:
    """sha256 of ``path``, remembered by size and modification time (hashing 0.5 GB costs a second)."""
    stamps = directory / "sha256.json"
    try:
        known = json.loads(stamps.read_text())
    except (OSError, ValueError):
        known = {}
    info = path.stat()
    stamp = [info.st_size, info.st_mtime_ns]
    entry = known.get(str(path.resolve()))
    if entry is not None and entry[:2] == stamp:
        return entry[2]
    digest = sha256_file(path)
    known[str(path.resolve())] = [*stamp, digest]
    directory.mkdir(parents=True, exist_ok=True)
    partial = stamps.with_name(f"sha256.json.{os.getpid()}")
    partial.write_text(json.dumps(known, indent=1))
    os.replace(partial, stamps)
    return digest


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, metavar="BASE.gguf ADAPTER.gguf",
                        help="default: the default model and the shipped adapter")
    parser.add_argument("--type", default=MERGED_TYPE, help="the changed weights' type (with --out)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the merge here instead of the user cache (to compare types)")
    args = parser.parse_args(argv)
    if args.models and len(args.models) != 2:
        parser.error("give both BASE.gguf and ADAPTER.gguf, or neither")
    if not args.models:
        from . import base_model_path, shipped_adapter_path

        adapter = shipped_adapter_path()
        if adapter is None:
            print("no adapter ships with this install: nothing to merge", file=sys.stderr)
            return 0
        args.models = [base_model_path(), adapter]
    if args.out is None and args.type != MERGED_TYPE:
        parser.error("--type needs --out: the user cache holds the server's merges only")
    from tqdm import tqdm

    with tqdm(unit="tensor", file=sys.stderr) as bar:
        def report(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        base, adapter = args.models
        if args.out is None:
            print(merged_model(base, adapter, progress=report))
        else:
            merge(base, adapter, args.out, report, args.type)
            print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
