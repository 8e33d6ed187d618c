"""Checks of a diffusers-layout folder before it is loaded, so that a missing or damaged file is named (with the
command that restores it) instead of surfacing as a loader's traceback."""

from __future__ import annotations

import json
from pathlib import Path

from .checkpoint_io import CorruptWeightsError, UnsafeCheckpointError, check_weights_file, weights_files


def restore_hint(hint: str | None) -> str:
    """The end of an error message that names the command restoring the file; empty when there is none."""
    return f" Restore it with `{hint}`." if hint else ""


def read_json(path: Path, hint: str | None) -> dict:
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise CorruptWeightsError(f"{path} is not valid JSON ({e}).{restore_hint(hint)}") from e


def require_config(folder: Path, hint: str | None) -> None:
    """A config-only component (scheduler, tokenizer): the folder exists, is not empty, its JSON parses."""
    if not folder.is_dir() or not any(folder.iterdir()):
        raise FileNotFoundError(f"{folder} is missing.{restore_hint(hint)}")
    for file in folder.glob("*.json"):
        read_json(file, hint)


def require_model_weights(folder: Path, hint: str | None) -> None:
    """A model folder needs its config.json and weights; every safetensors file is checked for truncation."""
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder / 'config.json'} not found.{restore_hint(hint)}")
    read_json(folder / "config.json", hint)
    files = [p for p in weights_files(folder) if p.parent == folder]
    if not files:
        expected = folder / "diffusion_pytorch_model.safetensors"
        raise FileNotFoundError(f"no weights file in {folder} (expected e.g. {expected}).{restore_hint(hint)}")
    for file in files:
        check_weights_file(file, hint)


class naming_errors:
    """Re-raise loader errors (diffusers/transformers/safetensors) with the folder named and the cause kept."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None or isinstance(error, (FileNotFoundError, CorruptWeightsError, UnsafeCheckpointError)):
            return False
        if isinstance(error, (OSError, ValueError, RuntimeError, KeyError)):
            raise CorruptWeightsError(f"could not load the weights in {self.folder}: {error}") from error
        return False
