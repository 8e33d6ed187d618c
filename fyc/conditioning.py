"""The 5 conditioning channels of the FYC input, built the same way for training and inference.

Input layout (channels): `[noisy latent C | region mask 1 | first-frame latent C]`, C = the VAE's latent
channels (4 for SD's VAE, so 9 in all).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def region_prompt_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Pixel masks (B, R, H, W) → soft (B, R, h, w) latent masks where each region's prompt applies: the share of
    every latent cell a region covers. Training and the pipeline both use this, so a prompt reaches the same cells."""
    return F.interpolate(masks.float(), size=size, mode="area")


def region_mask_latent(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Binary (B, 1, H, W) pixel mask → binary (B, 1, h, w) latent mask.

    Area-average then threshold at half coverage, so a latent cell counts when most of it is inside; a
    non-empty mask never vanishes (thin or tiny regions keep their cells with any coverage).
    """
    mask = mask.float()
    if mask.ndim == 3:
        mask = mask[:, None]
    coverage = F.interpolate(mask, size=size, mode="area")
    latent = (coverage >= 0.5).float()
    lost = (latent.flatten(1).sum(1) == 0) & (mask.flatten(1).sum(1) > 0)
    if lost.any():
        latent[lost] = (coverage[lost] > 0).float()
    return latent


def mask_first_frame_latent(
    latent: torch.Tensor,
    ratio: float,
    patch_size: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Zero a random `ratio` of the first-frame latent's positions (training only; paper §4.2).

    Masking makes the model take appearance from the frame it is generating rather than copying the
    conditioning latent. `patch_size` > 1 masks square patches instead of single latent pixels.
    """
    if ratio <= 0:
        return latent
    b, _, h, w = latent.shape
    gh, gw = -(-h // patch_size), -(-w // patch_size)
    keep = torch.rand((b, 1, gh, gw), generator=generator, device="cpu") >= ratio
    keep = keep.repeat_interleave(patch_size, 2).repeat_interleave(patch_size, 3)[:, :, :h, :w]
    return latent * keep.to(device=latent.device, dtype=latent.dtype)


def build_condition(
    first_frame_latent: torch.Tensor,
    mask_latent: torch.Tensor,
    num_frames: int,
    layout: str = "repeat",
) -> torch.Tensor:
    """(B, C, h, w) first-frame latent + (B, 1, h, w) mask → (B, C+1, F, h, w) conditioning channels.

    `layout="repeat"` puts the first-frame latent on every frame (paper text); `"first"` on frame 0 only,
    zeros elsewhere (authors' code). The mask is the same on every frame.
    """
    b, c, h, w = first_frame_latent.shape
    mask = mask_latent.to(first_frame_latent.dtype)[:, :, None].expand(b, 1, num_frames, h, w)
    if layout == "repeat":
        image = first_frame_latent[:, :, None].expand(b, c, num_frames, h, w)
    elif layout == "first":
        image = torch.zeros((b, c, num_frames, h, w), dtype=first_frame_latent.dtype, device=first_frame_latent.device)
        image[:, :, 0] = first_frame_latent
    else:
        raise ValueError(f"first_frame_layout must be 'repeat' or 'first', got {layout!r}")
    return torch.cat([mask, image], dim=1)
