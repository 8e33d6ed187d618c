"""Training checkpoints: the `step-NNNNNNN` folders `fyc train` and `fyc train-vae` write and resume from, and
`fyc export` turns into a pipeline.

A checkpoint folder holds

- `<name>.safetensors`: the weights of the trained model (`unet`, `vae`), whole even when training shards them;
- `optimizer.pt` and `lr_scheduler.pt`, or `accelerate_state/` (`Accelerator.save_state`) when the optimizer is
  sharded (FSDP, DeepSpeed);
- `ema.pt`: the EMA of the trained parameters, when the run keeps one;
- `data_state.json`: where each data stream stands (tar-shard training);
- `trainer_state.json`: the step and the trainer's counts. It is written last: a folder without it is a
  half-written checkpoint, never resumed or exported.

Pickles hold tensors and numbers only, so they load with `weights_only=True`. No RNG state is kept: the trainers
draw every random number from (seed, step), so a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch

TRAINER_STATE = "trainer_state.json"
DATA_STATE = "data_state.json"
ACCELERATE_STATE = "accelerate_state"


def checkpoint_folder(root: str | Path, step: int) -> Path:
    return Path(root) / f"step-{step:07d}"


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint under `root`, or None."""
    done = [p for p in sorted(Path(root).glob("step-*")) if (p / TRAINER_STATE).exists()]
    return done[-1] if done else None


def trainer_state(path: str | Path) -> dict:
    """What the trainer recorded with checkpoint `path`: `step` (the steps done) and its own counts."""
    return json.loads((Path(path) / TRAINER_STATE).read_text())


def data_state(path: str | Path) -> dict | None:
    """Where the data streams of checkpoint `path` stood; None when its data was not a stream."""
    file = Path(path) / DATA_STATE
    return json.loads(file.read_text()) if file.exists() else None


def write_checkpoint(
    root: str | Path,
    step: int,
    keep: int,
    weights: dict[str, dict[str, torch.Tensor]],
    optimizer=None,
    lr_scheduler=None,
    ema=None,
    data_streams: dict | None = None,
    **counts,
) -> Path:
    """Write checkpoint `step` under `root`, then delete all but the `keep` newest (`keep` 0: delete none).

    Args:
        weights: `{name: state dict}`, each written to `<name>.safetensors`.
        optimizer, lr_scheduler: None when `Accelerator.save_state` holds them (sharded runs).
        ema: the run's `EMAModel`, if it keeps one.
        data_streams: the data streams' positions (`data_state`).
        counts: numbers the trainer keeps across a resume (`trainer_state`), e.g. `skipped_videos`.
    """
    from safetensors.torch import save_file

    path = checkpoint_folder(root, step)
    path.mkdir(parents=True, exist_ok=True)
    for name, state in weights.items():
        save_file({k: v.detach().contiguous() for k, v in state.items()}, str(path / f"{name}.safetensors"))
    if optimizer is not None:
        torch.save(optimizer.state_dict(), path / "optimizer.pt")
    if lr_scheduler is not None:
        torch.save(lr_scheduler.state_dict(), path / "lr_scheduler.pt")
    if ema is not None:
        torch.save(ema.state_dict(), path / "ema.pt")
    if data_streams is not None:
        (path / DATA_STATE).write_text(json.dumps(data_streams))
    (path / TRAINER_STATE).write_text(json.dumps({"step": step, **counts}))
    for old in sorted(Path(root).glob("step-*"))[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return path


def save_accelerated_checkpoint(
    accelerator,
    root: str | Path,
    step: int,
    keep: int,
    unet,
    optimizer,
    lr_scheduler,
    ema=None,
    data_streams: dict | None = None,
    **counts,
) -> Path:
    """`write_checkpoint` for a run under Accelerate. Every process calls it: gathering the weights (and, when the
    optimizer is sharded, `Accelerator.save_state`) is a collective; process 0 writes."""
    path = checkpoint_folder(root, step)
    weights = accelerator.get_state_dict(unet)
    sharded = is_sharded(accelerator)
    if sharded:
        accelerator.save_state(str(path / ACCELERATE_STATE))
        accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_checkpoint(
            root,
            step,
            keep,
            {"unet": weights},
            None if sharded else optimizer,
            None if sharded else lr_scheduler,
            ema,
            data_streams,
            **counts,
        )
    accelerator.wait_for_everyone()
    return path


def load_weights(model, path: str | Path, name: str, ema_parameters=None) -> bool:
    """Put the weights `<name>.safetensors` of checkpoint `path` into `model` (unwrapped). With `ema_parameters`, the
    parameters the run's EMA averages (in the order it was built with), and an EMA in the checkpoint, the EMA's
    weights replace them. Returns whether they did."""
    from safetensors.torch import load_file

    path = Path(path)
    model.load_state_dict(load_file(str(path / f"{name}.safetensors")))
    if ema_parameters is None or not (path / "ema.pt").exists():
        return False
    from diffusers.training_utils import EMAModel

    ema_parameters = list(ema_parameters)
    ema = EMAModel(ema_parameters)
    ema.load_state_dict(_load(path / "ema.pt"))
    ema.copy_to(ema_parameters)
    return True


def restore_checkpoint(path: str | Path, optimizer, lr_scheduler, ema=None, accelerator=None) -> int:
    """Restore the optimizer, LR-schedule and EMA states of checkpoint `path` (the weights went into the unwrapped
    model before, with `load_weights`); returns the step to continue from.

    Under Accelerate, a checkpoint written by a sharded run resumes a sharded run (`Accelerator.load_state`), one
    written without sharding a run without it; across the two, the weights and the LR schedule carry over and the
    optimizer's moments start again, with a warning."""
    path = Path(path)
    accelerate_state = path / ACCELERATE_STATE
    sharded = accelerator is not None and is_sharded(accelerator)
    if sharded and accelerate_state.exists():
        accelerator.load_state(str(accelerate_state))
    elif sharded:
        warnings.warn(
            f"{path} was written without FSDP/DeepSpeed: its optimizer state does not fit the sharded "
            "optimizer, so Adam's moments start again (weights and LR schedule resume)",
            stacklevel=2,
        )
        lr_scheduler.load_state_dict(_load(path / "lr_scheduler.pt"))
    elif (path / "optimizer.pt").exists():
        optimizer.load_state_dict(_load(path / "optimizer.pt"))
        lr_scheduler.load_state_dict(_load(path / "lr_scheduler.pt"))
    else:
        warnings.warn(
            f"{path} was written by a sharded (FSDP/DeepSpeed) run: its optimizer state does not fit this "
            "unsharded run, so Adam's moments start again (weights and LR schedule resume)",
            stacklevel=2,
        )
        lr_scheduler.load_state_dict(_load(accelerate_state / "scheduler.bin"))
    if ema is not None:
        ema.load_state_dict(_load(path / "ema.pt"))
    return trainer_state(path)["step"]


def is_sharded(accelerator) -> bool:
    """Whether model or optimizer state is split between processes (FSDP, DeepSpeed): then checkpoints need
    Accelerate's own state files, and weights must be gathered before export."""
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def _load(path: Path):
    return torch.load(path, map_location="cpu", weights_only=True)
