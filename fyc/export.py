"""Write a loadable pipeline from a training checkpoint, while the run goes on: `python -m fyc export`.

Training writes its pipeline only when it reaches `max_steps`; a long run on a CPU is looked at (and shipped)
from its checkpoints long before that. This rebuilds the pipeline the config describes, puts the checkpoint's
UNet weights in it (the EMA weights when the run keeps them) and saves it with `fyc.weights.save_pipeline`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .scheduling import SAMPLERS

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def export_checkpoint(
    config,
    destination,
    checkpoint=None,
    dtype: str = "float32",
    use_ema: bool = True,
    name: str | None = None,
    guidance_scale: float | None = None,
    sampler: str | None = None,
) -> Path:
    """Save the pipeline of `checkpoint` (default: the latest complete one of the run) to `destination`.

    Args:
        config: the run's `fyc.train.Config`.
        checkpoint: a `step-*` folder; None for the latest under `output_dir/checkpoints`.
        dtype: storage dtype of the UNet and VAE ("float16" halves the size; the text encoder stays a package
            reference when it comes from one).
        use_ema: take the EMA weights when the checkpoint has them.
        name: the name `describe()` shows (e.g. "demo model").
        guidance_scale: the pipeline's `default_guidance_scale` (the guidance it was measured best at).
        sampler: the scheduler the pipeline is saved with, "ddim" (the default) or "dpmsolver++"; both on the
            training noise schedule.
    """
    from .train import build_pipeline, write_training_config
    from .train_checkpoints import TRAINER_STATE, latest_checkpoint, trainer_state
    from .weights import save_pipeline

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    root = Path(config.output_dir) / "checkpoints"
    path = Path(checkpoint) if checkpoint else latest_checkpoint(root)
    if path is None or not (path / TRAINER_STATE).exists():
        raise FileNotFoundError(
            f"no complete checkpoint at {checkpoint or root}; train first (python -m fyc train --config ...)"
        )
    pipe = build_pipeline(config)
    ema = load_checkpoint_unet(pipe.unet, path, config, use_ema)
    pipe.unet.to(DTYPES[dtype])
    if getattr(pipe, "vae", None) is not None:  # the motion-field kind renders instead of decoding
        pipe.vae.to(DTYPES[dtype])
    if guidance_scale is not None:
        pipe.register_to_config(default_guidance_scale=float(guidance_scale))
    if sampler is not None:
        from .scheduling import sampler_from_config

        pipe.scheduler = sampler_from_config(pipe.scheduler.config, sampler)
    destination = Path(destination)
    save_pipeline(pipe, destination, name=name)
    write_training_config(destination, config, checkpoint_step=trainer_state(path)["step"], ema=ema)
    return destination


def load_checkpoint_unet(unet, checkpoint, config, use_ema: bool = True) -> bool:
    """Put a training checkpoint's UNet weights into `unet` (the run's EMA weights when `use_ema` and the checkpoint
    keeps them) and leave it frozen in eval mode; returns whether the weights are the EMA's. `config` is the run's:
    its EMA covers its trainable parameters."""
    from .train import select_trainable
    from .train_checkpoints import load_weights

    ema_parameters = select_trainable(unet, config.train.trainable, config.train.stage) if use_ema else None
    ema = load_weights(unet, checkpoint, "unet", ema_parameters)
    unet.requires_grad_(False).eval()
    return ema


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="the run's YAML config")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the pipeline to")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="a step-* folder (default: the latest of the run)"
    )
    parser.add_argument(
        "--output-dir", type=Path, default=None, help="override the config's output_dir (where checkpoints are)"
    )
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--no-ema", action="store_true", help="export the raw weights even when EMA weights exist")
    parser.add_argument("--name", default=None, help='name shown in status lines, e.g. "demo model"')
    parser.add_argument(
        "--guidance-scale",
        type=float,
        default=None,
        help="the guidance the model samples with when a caller names none (stored in model_index.json; default 7.5)",
    )
    parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=None,
        help="the scheduler saved with the model (default: the training config's, DDIM)",
    )
    from .train import add_set_argument

    add_set_argument(parser)  # the run's own --set overrides: they decide the model's shape and inputs


def run(args) -> int:
    from .train import Config

    config = Config.from_yaml(args.config, args.overrides)
    if args.output_dir is not None:
        config.output_dir = str(args.output_dir)
    print(
        export_checkpoint(
            config,
            args.out,
            args.checkpoint,
            args.dtype,
            use_ema=not args.no_ema,
            name=args.name,
            guidance_scale=args.guidance_scale,
            sampler=args.sampler,
        )
    )
    return 0
