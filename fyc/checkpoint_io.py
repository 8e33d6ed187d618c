"""Safe reading and checking of weights files (safetensors, and PyTorch pickles only through weights_only).

Every error names the file and says what to do. A `.ckpt`/`.pt`/`.pth`/`.bin` is a pickle: it is read with
`torch.load(..., weights_only=True)`, which refuses any pickled code instead of running it.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import torch

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
WEIGHTS_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES
_LFS_POINTER_PREFIX = b"version https://git-lfs"


class CorruptWeightsError(ValueError):
    """A weights file that cannot be read: truncated, damaged, or not a weights file at all."""


class UnsafeCheckpointError(ValueError):
    """A pickled checkpoint that holds Python objects other than tensors (code that would run on loading)."""


def _refetch(hint: str | None) -> str:
    return f" Fetch it again: `{hint}`." if hint else " Delete it and fetch or export it again."


def check_weights_file(path: str | Path, fetch_hint: str | None = None) -> None:
    """Raise `FileNotFoundError` / `CorruptWeightsError` if `path` is missing or visibly damaged.

    Cheap: reads only the safetensors header (and its declared size), or the first bytes of a pickle.
    `fetch_hint` is the command that fetches the file, quoted in the message.
    """
    path = Path(path)
    if not path.is_file():
        hint = f" Fetch it with `{fetch_hint}`." if fetch_hint else ""
        raise FileNotFoundError(f"weights file not found: {path}.{hint}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(len(_LFS_POINTER_PREFIX))
        if head.startswith(_LFS_POINTER_PREFIX):
            raise CorruptWeightsError(
                f"{path} is a Git LFS pointer, not the weights themselves: run `git lfs pull` in the repository."
            )
        if path.suffix not in SAFETENSORS_SUFFIXES:
            if size == 0:
                raise CorruptWeightsError(f"{path} is empty.{_refetch(fetch_hint)}")
            return
        if size < 8:
            raise CorruptWeightsError(
                f"{path} is truncated ({size} bytes, no safetensors header).{_refetch(fetch_hint)}"
            )
        f.seek(8)
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len > size - 8:
            raise CorruptWeightsError(
                f"{path} is truncated or not a safetensors file (header of {header_len} bytes declared, "
                f"file has {size}).{_refetch(fetch_hint)}"
            )
        try:
            header = json.loads(f.read(header_len))
            data_end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise CorruptWeightsError(f"{path} has a damaged safetensors header ({e}).{_refetch(fetch_hint)}") from e
    expected = 8 + header_len + data_end
    if expected != size:
        state = "truncated" if size < expected else "longer than its header says"
        raise CorruptWeightsError(
            f"{path} is {state}: {size} bytes on disk, {expected} expected.{_refetch(fetch_hint)}"
        )


def load_checkpoint(path: str | Path, fetch_hint: str | None = None) -> dict[str, torch.Tensor]:
    """A flat `{name: tensor}` state dict from a `.safetensors` file or a PyTorch pickle, on the CPU.

    Pickles are read with `weights_only=True`: a file that holds pickled code raises `UnsafeCheckpointError`
    without running it. Training checkpoints that wrap the weights (`{"state_dict": {...}}`, a `module.`
    prefix from DistributedDataParallel) are unwrapped; non-tensor entries (step counters) are dropped.
    """
    path = Path(path)
    check_weights_file(path, fetch_hint)
    if path.suffix in SAFETENSORS_SUFFIXES:
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as e:  # safetensors raises its own error type for damaged data
            raise CorruptWeightsError(f"{path} could not be read as safetensors ({e}).{_refetch(fetch_hint)}") from e
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        message = str(e)
        if "global" in message:
            raise UnsafeCheckpointError(
                f"{path} contains pickled Python objects other than tensors; refusing to load it (loading would run "
                "code from the file). Use a .safetensors version of these weights, or convert this file to safetensors "
                "in an environment where you trust it."
            ) from e
        raise CorruptWeightsError(f"{path} is damaged or not a PyTorch checkpoint.{_refetch(fetch_hint)}") from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CorruptWeightsError(
            f"{path} is damaged or truncated ({str(e).splitlines()[0]}).{_refetch(fetch_hint)}"
        ) from e
    return unwrap_state_dict(state, path)


def unwrap_state_dict(state, path: str | Path = "checkpoint") -> dict[str, torch.Tensor]:
    """Find the tensors in a loaded checkpoint: follow `state_dict` nesting, strip a DDP `module.` prefix."""
    while isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CorruptWeightsError(f"{path} does not hold a state dict (found {type(state).__name__}).")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CorruptWeightsError(f"{path} holds no tensors.")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def weights_files(folder: str | Path) -> list[Path]:
    """Every weights file (by suffix) under `folder`, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix in WEIGHTS_SUFFIXES)
