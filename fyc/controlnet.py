"""ControlNet on the latent path (paper §5.4): a pose (or edge, depth, ...) sequence steers the clicked regions.

The FYC pipeline takes an optional diffusers `ControlNetModel` (or several, as a `MultiControlNetModel`). At every
denoising step each frame's noisy latent and its control image go through the ControlNet, as diffusers'
AnimateDiff ControlNet pipeline does, and the residuals it returns are added to the FYC UNet's skip connections
**inside the clicked regions only** (multiplied by the union of the region masks at each residual's resolution):
outside them the UNet runs as without ControlNet, so the background it keeps still stays still.

The ControlNet reads only the noisy latent (its `conv_in` takes the VAE's channels, SD 1.5's 4), not the FYC
conditioning channels, and the text of the UNet's base cross-attention (the empty prompt: the regions' prompts
act inside the UNet), which is how SD 1.5 ControlNets run in "guess mode".

Weights: a diffusers ControlNet folder (`lllyasviel/control_v11p_sd15_openpose`, fetched by
`python -m fyc download controlnet-openpose`), or one file (`.safetensors`, or `.pth` / `.ckpt` read with
`weights_only=True`) in the diffusers layout (with a config) or in the original ControlNet layout
(`control_model.*`, converted by diffusers' single-file loader).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
_BLOCKS_2D = {
    "CrossAttnDownBlockMotion": "CrossAttnDownBlock2D",
    "DownBlockMotion": "DownBlock2D",
    "CrossAttnDownBlock2D": "CrossAttnDownBlock2D",
    "DownBlock2D": "DownBlock2D",
}


def controlnet_like(unet, vae_scale_factor: int = 8, seed: int | None = None, **overrides):
    """A new `ControlNetModel` whose residuals fit `unet` (an `FYCUNetMotionModel`): the same down blocks, widths,
    heads and text width, `conv_in` on the noisy latent only, and a conditioning embedding that brings a control
    image down by `vae_scale_factor` to the latent grid. Its zero convolutions start at zero (it changes nothing until
    trained), as ControlNet training starts."""
    from diffusers import ControlNetModel

    c = unet.config
    downsamples = int(round(np.log2(vae_scale_factor)))
    if 2**downsamples != vae_scale_factor:
        raise ValueError(f"vae_scale_factor must be a power of 2, got {vae_scale_factor}")
    widths = (16, 32, 96, 256)[: downsamples + 1] if downsamples <= 3 else (16,) * (downsamples - 3) + (16, 32, 96, 256)
    kwargs = dict(
        in_channels=c.out_channels,
        down_block_types=tuple(_BLOCKS_2D[t] for t in c.down_block_types),
        block_out_channels=tuple(c.block_out_channels),
        layers_per_block=c.layers_per_block,
        norm_num_groups=c.norm_num_groups,
        cross_attention_dim=c.cross_attention_dim,
        attention_head_dim=c.num_attention_heads or c.attention_head_dim,
        conditioning_embedding_out_channels=widths,
    )
    kwargs.update(overrides)
    if seed is not None:
        torch.manual_seed(seed)
    return ControlNetModel(**kwargs)


def as_controlnet(controlnet):
    """A list or tuple of ControlNets becomes diffusers' `MultiControlNetModel` (their residuals add up)."""
    if isinstance(controlnet, (list, tuple)):
        from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

        return MultiControlNetModel(list(controlnet))
    return controlnet


def nets(controlnet) -> list:
    return list(getattr(controlnet, "nets", [controlnet]))


def load_controlnet(
    path: str | Path | None = None,
    config: str | Path | dict | None = None,
    torch_dtype=None,
    weights_dir: str | Path | None = None,
):
    """A diffusers `ControlNetModel` from local files (nothing is downloaded here).

    Args:
        path: a ControlNet folder (`config.json` + weights), or one weights file: diffusers layout (needs `config`, or a
            `config.json` beside it) or the original ControlNet layout (`control_model.*` keys; its config is read
            from `config` or from the openpose folder of `python -m fyc download controlnet-openpose`). Default:
            `weights/controlnet/openpose`.
        config: a ControlNet config: a folder, a `config.json` path, or a dict.
    """
    from diffusers import ControlNetModel

    from .checkpoint_io import load_checkpoint
    from .weight_sources import SOURCES, download_command, fetch_hint, weights_root

    root = weights_root(weights_dir)
    default = root / SOURCES["controlnet-openpose"].local_path
    path = Path(path) if path is not None else default
    if not path.exists():
        raise FileNotFoundError(
            f"no ControlNet at {path}. Fetch the SD 1.5 openpose ControlNet with "
            f"`{download_command('controlnet-openpose', root)}`, or pass a ControlNet folder or weights file."
        )
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json: a diffusers ControlNet folder holds one")
        return ControlNetModel.from_pretrained(path, torch_dtype=torch_dtype, local_files_only=True).eval()

    state = load_checkpoint(path, fetch_hint(path, root))
    # The original layout, with the "control_model." prefix or without it (some ControlNets ship that way).
    if any(k.startswith("control_model.") or k.startswith("input_hint_block.") for k in state):
        location = _config_folder(config) or (default if (default / "config.json").is_file() else None)
        if location is None:
            raise FileNotFoundError(
                f"{path} is a ControlNet in the original layout; reading it needs a diffusers ControlNet config. "
                f"Fetch one with `{download_command('controlnet-openpose', root)}` or pass config= a ControlNet folder."
            )
        model = ControlNetModel.from_single_file(state, config=str(location), local_files_only=True)
    else:
        settings = _config_dict(config, path)
        model = ControlNetModel.from_config(settings)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{path} does not fit the ControlNet config: {len(missing)} weights missing (e.g. {missing[:2]}), "
                f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})"
            )
    return model.to(dtype=torch_dtype).eval() if torch_dtype is not None else model.eval()


def _config_folder(config) -> Path | None:
    if config is None or isinstance(config, dict):
        return None
    config = Path(config)
    return config if config.is_dir() else config.parent


def _config_dict(config, path: Path) -> dict:
    if isinstance(config, dict):
        return config
    candidates = [Path(config)] if config is not None else [path.parent / "config.json"]
    for candidate in candidates:
        candidate = candidate / "config.json" if candidate.is_dir() else candidate
        if candidate.is_file():
            return json.loads(candidate.read_text())
    raise FileNotFoundError(
        f"{path} holds ControlNet weights in the diffusers layout but no config was given and there is no config.json "
        "beside it: pass config= the ControlNet's config.json or folder"
    )


def read_control_frames(source) -> list[np.ndarray]:
    """Control images as uint8 RGB arrays: a list of images (PIL / arrays / paths), a folder of images (sorted by
    name), or a video file."""
    if isinstance(source, (str, Path)):
        source = Path(source)
        if source.is_dir():
            files = sorted(p for p in source.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
            if not files:
                raise ValueError(f"{source} holds no images ({', '.join(sorted(_IMAGE_SUFFIXES))})")
            return [_rgb(PIL.Image.open(p)) for p in files]
        if not source.is_file():
            raise FileNotFoundError(f"no control frames at {source}")
        if source.suffix.lower() in _IMAGE_SUFFIXES:
            return [_rgb(PIL.Image.open(source))]
        import imageio.v3 as iio

        try:
            return [_rgb(frame) for frame in iio.imiter(source)]
        except Exception as e:  # imageio raises many kinds for a file it cannot decode
            raise ValueError(f"could not read {source} as a video: {e}") from e
    frames = [_rgb(PIL.Image.open(f) if isinstance(f, (str, Path)) else f) for f in source]
    if not frames:
        raise ValueError("control_frames is empty")
    return frames


def _rgb(image) -> np.ndarray:
    if isinstance(image, PIL.Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"a control frame must be (H, W, 3) RGB, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8) if array.max() <= 1.0 else array.astype(np.uint8)
    return array[..., :3]


def control_tensor(source, num_frames: int, height: int, width: int) -> torch.Tensor:
    """(num_frames, 3, height, width) float in [0, 1]: the control frames stretched or thinned evenly in time to
    `num_frames` (as keypoint sequences are) and resized to the video's size, as the input image is."""
    frames = read_control_frames(source)
    picks = np.linspace(0, len(frames) - 1, num_frames).round().astype(int)
    out = [np.asarray(PIL.Image.fromarray(frames[i]).resize((width, height), PIL.Image.BILINEAR)) for i in picks]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255.0


def guidance_keep(num_steps: int, start: Sequence[float], end: Sequence[float]) -> list[list[float]]:
    """Per step, per ControlNet: 1 where the step lies in [start, end] of the schedule, else 0 (diffusers' rule)."""
    return [
        [1.0 - float(i / num_steps < s or (i + 1) / num_steps > e) for s, e in zip(start, end)]
        for i in range(num_steps)
    ]


def region_residuals(down: Sequence[torch.Tensor], mid: torch.Tensor, region_mask: torch.Tensor):
    """The residuals inside the regions only: each multiplied by `region_mask` ((1, 1, h, w) at latent size, in
    [0, 1]) area-resampled to its own grid."""

    def masked(residual):
        return residual * F.interpolate(region_mask.to(residual.dtype), size=residual.shape[-2:], mode="area")

    return [masked(r) for r in down], masked(mid)


def controlnet_residuals(
    controlnet,
    latents: torch.Tensor,
    timestep,
    text: torch.Tensor,
    images: list[torch.Tensor],
    scales: list[float],
    region_mask: torch.Tensor,
):
    """The ControlNet(s)' residuals for the FYC UNet, per frame, inside the regions.

    Args:
        latents: (B, C, F, h, w) the noisy latents as the UNet gets them (scaled, guidance halves included).
        text: (B, L, D) the text of the UNet's base cross-attention.
        images: per ControlNet, (F, 3, H, W) control frames in [0, 1].
        scales: per ControlNet, its conditioning scale at this step.
    Returns: (down residuals, mid residual), each (B·F, ...), as `UNetMotionModel.forward` adds them.
    """
    batch, channels, num_frames = latents.shape[:3]
    sample = latents.transpose(1, 2).reshape(batch * num_frames, channels, *latents.shape[-2:])
    text = text.repeat_interleave(num_frames, dim=0)
    down, mid = None, None
    for net, frames, scale in zip(nets(controlnet), images, scales):
        cond = frames.to(sample.device, sample.dtype).repeat(batch, 1, 1, 1)
        d, m = net(
            sample,
            timestep,
            encoder_hidden_states=text,
            controlnet_cond=cond,
            conditioning_scale=scale,
            return_dict=False,
        )
        down = d if down is None else [a + b for a, b in zip(down, d)]
        mid = m if mid is None else mid + m
    return region_residuals(down, mid, region_mask)
