"""A segment-anything SAM small enough to embed an image in milliseconds, built from the package's own
classes (`fyc.segment.build_sam`): 2 encoder blocks (one windowed, one global), 128-px input."""

from __future__ import annotations

from pathlib import Path

import torch

from fyc.segment import SamConfig, build_sam

TINY_SAM = SamConfig(
    encoder_embed_dim=32,
    encoder_depth=2,
    encoder_num_heads=2,
    encoder_global_attn_indexes=(1,),
    image_size=128,
    window_size=4,
    prompt_embed_dim=32,
    mask_in_chans=8,
    decoder_depth=2,
    decoder_mlp_dim=64,
    iou_head_hidden_dim=32,
)


def tiny_sam(seed: int = 0):
    """A randomly initialised tiny `segment_anything.modeling.Sam` (same seed, same weights)."""
    torch.manual_seed(seed)
    return build_sam(TINY_SAM)


def save_tiny_sam(path: str | Path, seed: int = 0) -> Path:
    """Save `tiny_sam(seed)` as a plain state dict, as the official .pth files are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_sam(seed).state_dict(), path)
    return path
