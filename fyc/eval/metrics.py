"""Metrics that need no weights: first-frame fidelity and the regional motion metrics.

Videos are uint8 arrays (F, H, W, 3) RGB; float arrays in [0, 1] (the pipeline's `output_type="np"`)
are accepted and quantised the way a saved video would be. Motion is measured with `fyc.flow`, so every
motion figure here is in the project's one OFM unit: pixels per frame at a 256-px-wide reference
resolution (`fyc.flow.REFERENCE_WIDTH`).

Definitions (the JSON keys of `python -m fyc eval`):

first_frame_mse
    The paper's I1-MSE: mean squared error between the input image and frame 0 of the generated video,
    over every pixel and RGB channel, on the **0-255 scale**. The input is first resized to the video's
    size (area interpolation). The paper does not print the scale next to Table 1; its value for FYC,
    21.46, is only plausible on 0-255 (it is 34.8 dB PSNR; on a [0, 1] scale it would mean a first frame
    off by more than the whole intensity range), so 0-255 is the convention here.
first_frame_psnr
    10 * log10(255^2 / first_frame_mse) in dB, capped at `PSNR_CAP_DB` (100 dB) so that a bit-exact first
    frame gives a finite number that can still be averaged and written to JSON.
region_motion
    Mean optical-flow magnitude (reference units) over every consecutive frame pair and every pixel
    inside the union of the region masks: how much the clicked things move. 0 for a static video.
region_leakage
    Mean optical-flow magnitude (reference units) over every consecutive frame pair and every pixel
    *outside* the union of the region masks dilated by `LEAKAGE_MARGIN` reference pixels: how much the
    rest of the picture moves although nobody asked for it. The margin keeps the flow estimator's halo
    around a moving object, and a mask that is a little tight, from counting as leakage. 0 is ideal.
region_leakage_ratio
    region_leakage / region_motion (null when region_motion is 0): leakage relative to the requested
    motion, comparable across motion strengths.
ofm_spearman
    Spearman rank correlation between the requested OFM levels of a sweep (same image, regions, prompt
    and seed; only `ofm` changes) and the OFM measured on each generated video by `fyc.flow.measure_ofm`.
    1 means "a stronger request always gave more motion". Undefined (null) when either side is constant.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

PSNR_CAP_DB = 100.0
LEAKAGE_MARGIN = 8.0  # reference px (at 256-px width) added around the regions before measuring leakage


def as_uint8_video(frames) -> np.ndarray:
    """A video as uint8 (F, H, W, 3); floats are read as [0, 1], torch tensors are moved to numpy."""
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"Expected a video shaped (F, H, W, 3), got {frames.shape}. Take one video out of a batch "
            "(out.frames[0]) and permute channels-first tensors to channels-last."
        )
    if frames.dtype != np.uint8:
        frames = np.clip(np.asarray(frames, dtype=np.float32) * 255.0, 0, 255).round().astype(np.uint8)
    return frames


def as_uint8_image(image) -> np.ndarray:
    """An image (PIL, uint8 array or float array in [0, 1]) as uint8 (H, W, 3)."""
    image = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"Expected an RGB image shaped (H, W, 3), got {image.shape}.")
    image = image[..., :3]
    if image.dtype != np.uint8:
        image = np.clip(image.astype(np.float32) * 255.0, 0, 255).round().astype(np.uint8)
    return image


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) resized to (height, width): area interpolation when shrinking, bicubic otherwise."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def resize_mask(mask, size: tuple[int, int]) -> np.ndarray:
    """Bool mask resized to (height, width) by area averaging then a 0.5 threshold (a pixel is in the
    region when at least half of what it covers was)."""
    mask = np.asarray(mask, dtype=bool)
    height, width = size
    if mask.shape == (height, width):
        return mask
    area = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return area >= 0.5


def first_frame_mse(image, video) -> float:
    """The paper's I1-MSE on the 0-255 scale (see the module docstring)."""
    video = as_uint8_video(video)
    target = resize_image(as_uint8_image(image), video.shape[1:3]).astype(np.float64)
    return float(np.mean((video[0].astype(np.float64) - target) ** 2))


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for 8-bit images from an MSE on the 0-255 scale, capped at `PSNR_CAP_DB`."""
    if mse <= 0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(255.0**2 / mse))


def first_frame_psnr(image, video) -> float:
    """PSNR (dB) of frame 0 against the input image resized to the video's size."""
    return psnr_from_mse(first_frame_mse(image, video))


def union_mask(masks, size: tuple[int, int]) -> np.ndarray:
    """Union of region masks (any sizes) at (height, width)."""
    union = np.zeros(size, dtype=bool)
    for mask in masks:
        union |= resize_mask(mask, size)
    return union


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Bool mask grown by `radius` pixels with a disk."""
    if radius <= 0:
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def leakage_radius(width: int, margin: float = LEAKAGE_MARGIN) -> int:
    """Dilation radius in pixels of a `width`-px-wide video for a margin given in reference pixels."""
    from fyc.flow import REFERENCE_WIDTH

    return int(math.ceil(margin * width / REFERENCE_WIDTH))


def regional_motion(magnitude: np.ndarray, masks, margin: float = LEAKAGE_MARGIN) -> dict:
    """`region_motion`, `region_leakage` and `region_leakage_ratio` from per-pair flow magnitudes.

    Args:
        magnitude: float (F-1, H, W), flow magnitude in reference units (`fyc.flow.motion_stats(...).magnitude`).
        masks: region masks (bool, any size; resized to H x W).
        margin: dilation in reference pixels before measuring leakage.

    Returns:
        dict with the three keys; a value is None when its area is empty (no region, or the dilated
        region covers the whole frame).
    """
    magnitude = np.asarray(magnitude, dtype=np.float64)
    if magnitude.ndim != 3:
        raise ValueError(f"Expected magnitudes shaped (F-1, H, W), got {magnitude.shape}.")
    size = magnitude.shape[1:]
    region = union_mask(masks, size)
    outside = ~dilate(region, leakage_radius(size[1], margin))
    motion = float(magnitude[:, region].mean()) if region.any() else None
    leakage = float(magnitude[:, outside].mean()) if outside.any() else None
    ratio = leakage / motion if motion and leakage is not None else None
    return {"region_motion": motion, "region_leakage": leakage, "region_leakage_ratio": ratio}


def region_metrics(video, masks, margin: float = LEAKAGE_MARGIN, **flow_kw) -> dict:
    """Regional motion metrics of a video plus its measured OFM (key `measured_ofm`).

    The flow is computed once with `fyc.flow.motion_stats`; its `.ofm` is `fyc.flow.measure_ofm(video)`.
    `**flow_kw` goes to `motion_stats` (method, raft_weights, ...).
    """
    from fyc.flow import motion_stats

    stats = motion_stats(as_uint8_video(video), **flow_kw)
    out = regional_motion(stats.magnitude, masks, margin)
    out["measured_ofm"] = float(stats.ofm)
    return out


def region_motion(video, masks, **kw) -> float | None:
    """Mean flow magnitude inside the regions (reference px/frame); see the module docstring."""
    return region_metrics(video, masks, **kw)["region_motion"]


def region_leakage(video, masks, **kw) -> float | None:
    """Mean flow magnitude outside the dilated regions (reference px/frame); see the module docstring."""
    return region_metrics(video, masks, **kw)["region_leakage"]


def ofm_spearman(requested, measured) -> float | None:
    """Spearman rank correlation of requested vs measured OFM over a sweep; None when undefined
    (fewer than 2 levels, or either side constant)."""
    from scipy.stats import spearmanr

    requested = np.asarray(requested, dtype=np.float64)
    measured = np.asarray(measured, dtype=np.float64)
    if requested.shape != measured.shape or requested.ndim != 1:
        raise ValueError(f"requested {requested.shape} and measured {measured.shape} must be equal-length 1-D.")
    if len(requested) < 2 or np.ptp(requested) == 0 or np.ptp(measured) == 0:
        return None
    rho = spearmanr(requested, measured).statistic
    return None if not np.isfinite(rho) else float(rho)


def mean_or_none(values) -> float | None:
    """Mean of the values that are not None; None when there are none (a metric nobody could measure)."""
    values = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None
