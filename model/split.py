"""The train/validation split of the LintSeq data: by program, deterministic, torch-free."""

from __future__ import annotations

import hashlib

VAL_FRACTION = 0.02  # of programs held out from training (TrainConfig.val_fraction's default)


def is_validation(row_id: str, fraction: float) -> bool:
    """All rows of one program fall on the same side: the side is a hash of the program id."""
    bucket = int.from_bytes(hashlib.sha256(row_id.encode("utf-8")).digest()[:8], "big")
    return bucket % 1_000_000 < fraction * 1_000_000
