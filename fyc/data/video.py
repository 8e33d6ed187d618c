"""Decode training clips from video files: frame sampling at a stride, resize and center crop.

OpenCV's FFmpeg backend decodes in-process (no subprocess per video). Bytes (from tar shards) are
written to a temporary file first because OpenCV reads only from paths.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import cv2
import numpy as np

# FFmpeg's own messages ("moov atom not found") for every corrupt file would flood the logs of a long
# run; the datasets count and report skipped videos themselves.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


class VideoError(Exception):
    """A video that cannot give a training clip. `reason` is the counter it is skipped under."""

    reason = "error"


class CorruptVideoError(VideoError):
    reason = "corrupt"


class TooShortVideoError(VideoError):
    reason = "too_short"


class MissingVideoError(VideoError):
    reason = "missing"


@dataclass
class ClipSpec:
    """How a clip is cut from a video.

    Attributes:
        num_frames: frames per clip (paper: 16).
        stride: take every `stride`-th frame of the source video (paper: 4).
        height, width: training size; frames are resized to cover it, then center-cropped.
        start: where the clip starts: "random" (training), "center" or "first" (evaluation, caching).
    """

    num_frames: int = 16
    stride: int = 4
    height: int = 256
    width: int = 256
    start: str = "random"

    def __post_init__(self):
        if self.num_frames < 2 or self.stride < 1 or self.height < 8 or self.width < 8:
            raise ValueError(f"Invalid clip spec {self}: need num_frames >= 2, stride >= 1 and a size of at least 8x8.")
        if self.start not in ("random", "center", "first"):
            raise ValueError(f"ClipSpec.start must be 'random', 'center' or 'first', got {self.start!r}.")

    @property
    def span(self) -> int:
        """Source frames covered by one clip."""
        return (self.num_frames - 1) * self.stride + 1

    def as_dict(self) -> dict:
        return {"num_frames": self.num_frames, "stride": self.stride, "height": self.height, "width": self.width}


def resize_center_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 frames (F, H, W, 3) so they cover (height, width), keeping aspect, then center-crop."""
    h, w = frames.shape[1:3]
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR  # area averaging avoids aliasing on shrink
    top, left = (new_h - height) // 2, (new_w - width) // 2
    out = np.empty((len(frames), height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        resized = frame if (new_h, new_w) == (h, w) else cv2.resize(frame, (new_w, new_h), interpolation=interp)
        out[i] = resized[top : top + height, left : left + width]
    return out


def _open(path) -> cv2.VideoCapture:
    if not os.path.exists(path):
        raise MissingVideoError(f"video file not found: {path}")
    cap = cv2.VideoCapture(os.fspath(path))
    if not cap.isOpened():
        cap.release()
        raise CorruptVideoError(f"cannot open video (corrupt or unsupported format): {path}")
    return cap


def count_frames(path) -> int:
    """Number of frames, from the container when it says, else by decoding."""
    cap = _open(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if n > 0:
            return n
        n = 0
        while cap.grab():
            n += 1
        return n
    finally:
        cap.release()


def choose_start(total_frames: int, spec: ClipSpec, rng: np.random.Generator | None = None) -> int:
    """First source frame of the clip for a video of `total_frames` frames."""
    room = total_frames - spec.span
    if room < 0:
        raise TooShortVideoError(
            f"video has {total_frames} frames, a clip of {spec.num_frames} frames at stride {spec.stride} needs {spec.span}"
        )
    if spec.start == "first":
        return 0
    if spec.start == "center":
        return room // 2
    return int((rng or np.random.default_rng()).integers(0, room + 1))


def read_clip(path, spec: ClipSpec, start: int | None = None, rng: np.random.Generator | None = None):
    """Read one clip from a video file.

    Args:
        path: video file.
        spec: frames, stride, size and start rule.
        start: first source frame; None chooses it by `spec.start` (random draws from `rng`).

    Returns:
        (frames uint8 (num_frames, height, width, 3) RGB, start frame index).

    Raises:
        MissingVideoError, CorruptVideoError, TooShortVideoError (all `VideoError`).
    """
    cap = _open(path)
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if start is None:
            # containers can lie about the frame count; a wrong count is caught below as "too short"
            start = choose_start(total, spec, rng) if total > 0 else 0
        wanted = set(range(start, start + spec.span, spec.stride))
        frames, index = [], 0
        while len(frames) < spec.num_frames:
            if index in wanted:
                ok, frame = cap.read()
                if ok and frame is not None:
                    frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            else:
                ok = cap.grab()
            if not ok:
                break
            index += 1
    except cv2.error as exc:
        raise CorruptVideoError(f"decoding failed in {path}: {exc}") from exc
    finally:
        cap.release()
    if len(frames) < spec.num_frames:
        if index == 0:
            raise CorruptVideoError(f"no frame could be decoded from {path}")
        raise TooShortVideoError(
            f"{path}: decoded {index} frames, a clip of {spec.num_frames} frames at stride {spec.stride} "
            f"from frame {start} needs {start + spec.span}"
        )
    if len({f.shape for f in frames}) != 1:
        raise CorruptVideoError(f"frames of {path} change size mid-stream")
    return resize_center_crop(np.stack(frames), spec.height, spec.width), start


def read_clip_bytes(data: bytes, spec: ClipSpec, start: int | None = None, rng=None, suffix: str = ".mp4"):
    """`read_clip` for a video held in memory (e.g. a tar shard member)."""
    if not data:
        raise CorruptVideoError("empty video bytes")
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="fyc-clip-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return read_clip(tmp, spec, start=start, rng=rng)
    finally:
        os.unlink(tmp)


def to_pixel_values(frames: np.ndarray):
    """uint8 (F, H, W, 3) -> float32 torch tensor (F, 3, H, W) in [-1, 1], the VAE's input range."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
