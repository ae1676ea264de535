"""The Whisper base model joined from its two PyPI packages into a faster-whisper directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vestnik.speech.model import PARTS, SIDE_FILES, ModelMissingError, ensure_model, package_data


def _part_sizes() -> int:
    return sum((package_data(package) / name).stat().st_size for package, name in PARTS)


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_model(tmp_path_factory.mktemp("speech") / "model")


def test_the_parts_are_joined_with_the_side_files(joined: Path) -> None:
    assert (joined / "model.bin").stat().st_size == _part_sizes()
    side = package_data(PARTS[1][0])
    for name in SIDE_FILES:
        assert (joined / name).read_bytes() == (side / name).read_bytes()
    # The head of model.bin is the first part's, byte for byte.
    first = package_data(PARTS[0][0]) / PARTS[0][1]
    with (joined / "model.bin").open("rb") as fh, first.open("rb") as src:
        assert fh.read(1 << 16) == src.read(1 << 16)
    assert not list(joined.glob("*.tmp"))


def test_a_whole_model_is_reused_as_it_is(joined: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in joined.iterdir()}
    os.utime(joined / "model.bin", ns=(1, 1))  # a rewrite would change it
    assert ensure_model(joined) == joined
    assert (joined / "model.bin").stat().st_mtime_ns == 1
    assert {p.name for p in joined.iterdir()} == set(before)


def test_a_partial_model_or_side_file_is_joined_again(joined: Path) -> None:
    with (joined / "model.bin").open("r+b") as fh:
        fh.truncate(1000)  # a copy cut short (disk full, a crash of an older version)
    (joined / "tokenizer.json").write_text("{")
    ensure_model(joined)
    assert (joined / "model.bin").stat().st_size == _part_sizes()
    side = package_data(PARTS[1][0])
    assert (joined / "tokenizer.json").read_bytes() == (side / "tokenizer.json").read_bytes()


def test_a_missing_package_is_a_clear_error() -> None:
    with pytest.raises(ModelMissingError, match="no_such_model_package is not installed"):
        package_data("no_such_model_package")
