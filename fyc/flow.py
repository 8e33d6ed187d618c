"""Optical flow, motion masks and OFM (optical-flow magnitude), the one motion measure used everywhere.

The same functions label training clips, back the UI's motion-strength slider and evaluate generated
videos, so "asked for OFM 8" and "measured OFM 8" mean the same thing.

Unit
    OFM and all magnitudes returned here are in **pixels per frame at a 256-px-wide reference resolution**
    (`REFERENCE_WIDTH`): a magnitude measured on a W-px-wide video is multiplied by 256 / W. A square that
    moves 3 px/frame in a 256-px-wide video and 6 px/frame in the same video at 512 px both have OFM 3.

Rule (per consecutive pair i, magnitude m_i(p) in reference units)
    1. moving pixels: m_i(p) > `MIN_MAGNITUDE` (0.25), a floor below which flow is estimator noise;
    2. threshold  tau_i = max(MIN_MAGNITUDE, `THRESHOLD_FACTOR` (0.5) * mean of m_i over the moving pixels);
       the pair's binary mask is m_i > tau_i;
    3. motion mask = union over pairs of the binary masks;
    4. OFM = mean of m_i(p) over every (i, p) whose binary mask is set, i.e. the average speed of what moves.
    A static video therefore has an empty mask and OFM 0.

    Why the mean over *moving* pixels rather than over the whole frame (the paper's wording): the
    whole-frame mean shrinks with the moving object's area, so for a small object the threshold falls
    into the estimator's halo around it and OFM under-reads (2.0 instead of 3.0 on the test square);
    the mean over moving pixels tracks speed, not area, and also keeps a full-frame pan in the mask.

Estimators
    "dis" (default): OpenCV DIS, preset "fast" run down to full resolution (finest scale 0). OpenCV's
    default finest scales (quarter/half resolution) under-read a small moving object; at full resolution
    "medium" reads no better than "fast" and costs more (`bench/flow_presets.py`; figures in
    docs/results/README.md).
    "farneback": OpenCV Farneback, dense polynomial expansion; smoother, so it under-reads small objects.
    "raft": torchvision RAFT (raft_large or raft_small, detected from the weights), only with
    `raft_weights=PATH` (a state dict as .pth/.pt, loaded with `weights_only=True`, or .safetensors).
    Supplying `raft_weights` without naming a method selects RAFT (`resolve_method`).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import cv2
import numpy as np

REFERENCE_WIDTH = 256  # OFM unit: pixels per frame at a 256-px-wide reference resolution
MIN_MAGNITUDE = 0.25  # reference px/frame; flow below this is estimator noise, never motion
THRESHOLD_FACTOR = 0.5  # tau_i = THRESHOLD_FACTOR * mean magnitude of pair i's moving pixels

METHODS = ("dis", "farneback", "raft")
DIS_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


@dataclass
class MotionStats:
    """Motion of a clip.

    Attributes:
        mask: bool (H, W), union over pairs of the binarised flow magnitude: the motion mask.
        ofm: mean flow magnitude inside the motion mask, in pixels/frame at `REFERENCE_WIDTH`.
        magnitude: float32 (F-1, H, W), per-pair flow magnitude in the same reference units.
    """

    mask: np.ndarray
    ofm: float
    magnitude: np.ndarray


def _as_frames(frames) -> np.ndarray:
    """Frames as a uint8 (F, H, W, 3) or (F, H, W) array; floats are read as [0, 1], [-1, 1] (when any value
    is negative) or [0, 255] (when any value exceeds 1)."""
    if hasattr(frames, "detach"):  # a torch tensor
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames) if not isinstance(frames, (list, tuple)) else np.stack([np.asarray(f) for f in frames])
    if frames.ndim == 4 and frames.shape[-1] == 1:
        frames = frames[..., 0]
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] not in (3, 4)):
        raise ValueError(
            f"Expected frames shaped (F, H, W, 3) RGB or (F, H, W) gray, got {frames.shape}. "
            "Channels-first tensors (F, 3, H, W) must be permuted to channels-last first."
        )
    if frames.shape[0] < 2:
        raise ValueError(
            f"Optical flow needs at least 2 frames, got {frames.shape[0]}. Pass the whole clip, not one frame."
        )
    if frames.dtype != np.uint8:
        frames = frames.astype(np.float32)
        if frames.size and float(frames.min()) < 0:  # [-1, 1], the range of pipeline/VAE pixel values
            frames = (frames + 1.0) * 0.5
        scale = 255.0 if frames.size and float(frames.max()) <= 1.0 else 1.0
        frames = np.clip(frames * scale, 0, 255).round().astype(np.uint8)
    if frames.ndim == 4 and frames.shape[-1] == 4:
        frames = frames[..., :3]
    return np.ascontiguousarray(frames)


def _gray(frames: np.ndarray) -> list[np.ndarray]:
    if frames.ndim == 3:
        return list(frames)
    return [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]


def _dis_flow(gray: list[np.ndarray], preset: str) -> np.ndarray:
    if preset not in DIS_PRESETS:
        raise ValueError(f"Unknown DIS preset {preset!r}; choose one of {sorted(DIS_PRESETS)}.")
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    dis.setFinestScale(0)  # full resolution: the coarser defaults lose small, slow objects (see module doc)
    return np.stack([dis.calc(a, b, None) for a, b in zip(gray[:-1], gray[1:])])


def _farneback_flow(gray: list[np.ndarray]) -> np.ndarray:
    return np.stack(
        [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0) for a, b in zip(gray[:-1], gray[1:])]
    )


@functools.lru_cache(maxsize=2)
def _load_raft(path: str, device: str):
    import torch
    from torchvision.models.optical_flow import raft_large, raft_small

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    first = state.get("feature_encoder.convnormrelu.0.weight")
    if first is None:
        raise ValueError(
            f"{path} is not a torchvision RAFT state dict (no 'feature_encoder.convnormrelu.0.weight'). "
            "Use the weights of torchvision.models.optical_flow.raft_large / raft_small."
        )
    model = raft_small() if first.shape[0] == 32 else raft_large()
    model.load_state_dict(state)
    return model.eval().to(device)


def _raft_flow(frames: np.ndarray, raft_weights, device=None, num_flow_updates: int = 12) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    device = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = _load_raft(os.fspath(raft_weights), device)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(127.5).sub(1.0).to(device)
    h, w = x.shape[-2:]
    # RAFT works on 1/8-resolution features and its correlation pyramid needs >= 16 of them per side
    pad_h, pad_w = max(128, h + (-h) % 8) - h, max(128, w + (-w) % 8) - w
    x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    flows = []
    with torch.no_grad():
        for a, b in zip(x[:-1], x[1:]):
            flow = model(a[None], b[None], num_flow_updates=num_flow_updates)[-1][0]
            flows.append(flow[:, :h, :w].permute(1, 2, 0).cpu().numpy())
    return np.stack(flows).astype(np.float32)


def resolve_method(method: str | None = None, raft_weights=None) -> str:
    """The flow estimator to run: `method` when named, else "raft" when RAFT weights are supplied, else "dis"."""
    if method is None:
        return "raft" if raft_weights is not None else "dis"
    if method not in METHODS:
        raise ValueError(f"Unknown optical-flow method {method!r}; choose one of {METHODS}.")
    if raft_weights is not None and method != "raft":
        # silently computing DIS flow next to a RAFT path would label a whole data set with the wrong estimator
        raise ValueError(
            f"raft_weights were given with method={method!r}: drop the method (or use 'raft') to run RAFT, "
            "or drop raft_weights to run " + method + "."
        )
    return method


def optical_flow(
    frames, method: str | None = None, *, raft_weights=None, preset: str = "fast", device=None
) -> np.ndarray:
    """Dense optical flow between consecutive frames.

    Args:
        frames: uint8 (F, H, W, 3) RGB or (F, H, W) gray, F >= 2 (floats in [0, 1] or [-1, 1] are accepted).
        method: "dis" (OpenCV DIS), "farneback", or "raft" (needs `raft_weights`). Default: "raft" when
            `raft_weights` is given, else "dis".
        raft_weights: path to torchvision RAFT weights (raft_large or raft_small state dict).
        preset: DIS preset, "fast" (default), "medium" or "ultrafast".
        device: torch device for RAFT (default: CUDA when available).

    Returns:
        float32 (F-1, H, W, 2): flow (dx, dy) from frame i to frame i+1 in pixels of the given resolution;
        dx > 0 is rightwards, dy > 0 downwards.
    """
    frames = _as_frames(frames)
    method = resolve_method(method, raft_weights)
    if method == "dis":
        flow = _dis_flow(_gray(frames), preset)
    elif method == "farneback":
        flow = _farneback_flow(_gray(frames))
    else:  # "raft"
        if raft_weights is None:
            raise ValueError(
                "method='raft' needs raft_weights=PATH (torchvision raft_large/raft_small weights); "
                "nothing is downloaded at run time. Use method='dis' to run without weights."
            )
        flow = _raft_flow(frames, raft_weights, device=device)
    return flow.astype(np.float32, copy=False)


def stats_from_flow(flow: np.ndarray, threshold: float | None = None) -> MotionStats:
    """`MotionStats` from an already computed flow (F-1, H, W, 2) in pixels of its own resolution.

    `threshold` (reference px/frame) replaces the per-pair rule of the module docstring with one fixed
    threshold for every pair.
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"Expected flow shaped (F-1, H, W, 2), got {flow.shape}.")
    magnitude = np.linalg.norm(flow, axis=-1) * np.float32(REFERENCE_WIDTH / flow.shape[2])
    if threshold is not None:
        tau = np.full((len(magnitude), 1, 1), float(threshold), dtype=np.float32)
    else:
        moving = magnitude > MIN_MAGNITUDE
        count = moving.sum(axis=(1, 2))
        mean_moving = np.where(count > 0, (magnitude * moving).sum(axis=(1, 2)) / np.maximum(count, 1), 0.0)
        tau = np.maximum(MIN_MAGNITUDE, THRESHOLD_FACTOR * mean_moving).astype(np.float32)[:, None, None]
    binary = magnitude > tau
    ofm = float(magnitude[binary].mean()) if binary.any() else 0.0
    return MotionStats(mask=binary.any(axis=0), ofm=ofm, magnitude=magnitude.astype(np.float32, copy=False))


def motion_stats(frames, method: str | None = None, threshold: float | None = None, **kw) -> MotionStats:
    """Motion mask, OFM and per-pair magnitudes of a clip (see the module docstring for the rule).

    Args:
        frames: uint8 (F, H, W, 3) RGB or (F, H, W) gray, F >= 2.
        method: flow estimator, see `optical_flow` (default: RAFT when `raft_weights` is given, else DIS).
        threshold: optional fixed threshold in reference px/frame instead of the per-pair rule.
        **kw: passed to `optical_flow` (raft_weights, preset, device).
    """
    return stats_from_flow(optical_flow(frames, method=method, **kw), threshold=threshold)


def measure_ofm(frames, **kw) -> float:
    """OFM of a clip in pixels/frame at the 256-px reference width (== `motion_stats(frames).ofm`)."""
    return motion_stats(frames, **kw).ofm


def motion_mask(frames, **kw) -> np.ndarray:
    """Bool (H, W) motion mask of a clip (== `motion_stats(frames).mask`)."""
    return motion_stats(frames, **kw).mask


def mean_flow(frames, mask=None, **kw) -> np.ndarray:
    """Mean flow (dx, dy) per frame in reference units, inside `mask` (bool H x W) or over the whole frame.

    dx > 0 means rightwards, dy > 0 downwards (image coordinates). An empty mask gives (0, 0).
    `**kw` goes to `optical_flow` (method, raft_weights, preset, device).
    """
    flow = optical_flow(frames, **kw)
    flow = flow * np.float32(REFERENCE_WIDTH / flow.shape[2])
    if mask is None:
        return flow.mean(axis=(0, 1, 2)).astype(np.float32)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != flow.shape[1:3]:
        raise ValueError(f"mask shape {mask.shape} does not match the frames' (H, W) {flow.shape[1:3]}.")
    if not mask.any():
        return np.zeros(2, dtype=np.float32)
    return flow[:, mask].mean(axis=(0, 1)).astype(np.float32)
