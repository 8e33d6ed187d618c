"""Keypoint tracks (a pose sequence, hand-made or from a detector) as trajectory hints for the motion-field model.

    tracks = load_keypoints("arm_raise.json")          # {"frames": [{"right_wrist": [x, y], ...}, ...]}
    trajectories = keypoint_trajectories(tracks, [region.mask for region in regions], num_frames=16)
    pipe(photo, regions, trajectories=trajectories)     # what `fyc.animate.animate(..., keypoints=tracks)` does

The JSON holds one entry per frame of the pose sequence, each a mapping from a keypoint's name to its `[x, y]` in the
photo's pixels; frame 0 is the pose as it is in the photo. A keypoint may be missing from some frames (it is
interpolated between the frames that have it) but not from frame 0 (there is nothing to move). The sequence may have
any number of frames: it is stretched or squeezed in time to the video's. A keypoint whose frame-0 position is inside a
clicked region becomes a trajectory of that region (the later region where regions overlap, as for the masks); the
others are dropped, since everything outside the regions stays still.

This is what issue 20 calls "keypoints directly"; pose *images* need a keypoint detector first (controlnet_aux's
OpenPose, whose weights are not part of this project).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .motion_field import Trajectory

MAX_KEYPOINT_FRAMES = 1000
MAX_KEYPOINTS = 200


@dataclass(frozen=True)
class KeypointTracks:
    """Named keypoints over a pose sequence: `positions[name]` is float (K, 2), NaN where a frame lacks it."""

    positions: dict[str, np.ndarray]
    num_frames: int

    def scaled(self, sx: float, sy: float) -> KeypointTracks:
        """The same tracks in an image scaled by (sx, sy) (e.g. a downscaled working copy)."""
        return KeypointTracks({n: p * np.array([sx, sy]) for n, p in self.positions.items()}, self.num_frames)

    def resampled(self, num_frames: int) -> dict[str, np.ndarray]:
        """Each keypoint's (num_frames, 2) path: the sequence stretched to `num_frames` in time (its first and last
        frames kept), gaps interpolated; NaN after a keypoint's last known frame."""
        source_t = np.linspace(0.0, 1.0, self.num_frames) if self.num_frames > 1 else np.zeros(1)
        target_t = np.linspace(0.0, 1.0, num_frames)
        out = {}
        for name, path in self.positions.items():
            known = np.flatnonzero(np.isfinite(path).all(axis=1))
            resampled = np.full((num_frames, 2), np.nan)
            if len(known) == 1:
                resampled[0] = path[known[0]]
            else:
                inside = target_t <= source_t[known[-1]] + 1e-9
                for axis in range(2):
                    resampled[inside, axis] = np.interp(target_t[inside], source_t[known], path[known, axis])
            out[name] = resampled
        return out


def parse_keypoints(data) -> KeypointTracks:
    """`KeypointTracks` from JSON data: `{"frames": [...]}` or the list of frames itself, each frame a mapping of
    keypoint names to `[x, y]` (or null where the keypoint is not seen). Raises ValueError saying what is wrong."""
    frames = data.get("frames") if isinstance(data, dict) else data
    if not isinstance(frames, list) or not frames:
        raise ValueError('keypoints: give {"frames": [{"name": [x, y], ...}, ...]}, one mapping per frame')
    if len(frames) > MAX_KEYPOINT_FRAMES:
        raise ValueError(f"keypoints: {len(frames)} frames; at most {MAX_KEYPOINT_FRAMES}")
    if not all(isinstance(frame, dict) for frame in frames):
        raise ValueError('keypoints: each frame must be a mapping {"name": [x, y], ...}')
    first = frames[0]
    if not first:
        raise ValueError("keypoints: frame 0 names no keypoint; it must give each keypoint's place in the photo")
    if len(first) > MAX_KEYPOINTS:
        raise ValueError(f"keypoints: {len(first)} keypoints; at most {MAX_KEYPOINTS}")
    positions = {str(name): np.full((len(frames), 2), np.nan) for name in first}
    for index, frame in enumerate(frames):
        for name, point in frame.items():
            if str(name) not in positions:
                raise ValueError(f"keypoints: frame {index} names {name!r}, which frame 0 does not place")
            if point is None:
                continue
            try:
                x, y = (float(v) for v in point)
            except (TypeError, ValueError):
                raise ValueError(f"keypoints: frame {index}, {name!r} must be [x, y], got {point!r}") from None
            if not (np.isfinite(x) and np.isfinite(y)):
                raise ValueError(f"keypoints: frame {index}, {name!r} is not a finite point")
            positions[str(name)][index] = (x, y)
    missing = [name for name, path in positions.items() if not np.isfinite(path[0]).all()]
    if missing:
        raise ValueError(f"keypoints: frame 0 gives no place for {', '.join(missing)}")
    return KeypointTracks(positions, len(frames))


def keypoints_from_json(text: str) -> KeypointTracks:
    """`parse_keypoints` of a JSON text (never a path: what a web request sends)."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"keypoints: not valid JSON ({error})") from None
    return parse_keypoints(data)


def load_keypoints(source) -> KeypointTracks:
    """`KeypointTracks` from a JSON file (a `Path`, or a string that does not start like JSON), a JSON string, or
    already parsed data."""
    if isinstance(source, KeypointTracks):
        return source
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
        path = Path(source)
        try:
            return keypoints_from_json(path.read_text())
        except OSError as error:
            raise ValueError(f"keypoints: cannot read {path}: {error.strerror or error}") from None
    if isinstance(source, str):
        return keypoints_from_json(source)
    return parse_keypoints(source)


def keypoint_trajectories(
    tracks: KeypointTracks, masks, num_frames: int, width: int | None = None, height: int | None = None
) -> list[list[Trajectory]]:
    """Per region (`masks`: bool (H, W) each, the photo's size), the trajectories of the keypoints whose frame-0
    place is inside it (the later region where masks overlap); keypoints on no region are dropped. A keypoint
    outside the photo at frame 0 is refused (ValueError)."""
    masks = [np.asarray(mask, bool) for mask in masks]
    height, width = masks[0].shape if masks else (height, width)
    out: list[list[Trajectory]] = [[] for _ in masks]
    for name, path in tracks.resampled(num_frames).items():
        x0, y0 = path[0]
        if not (0 <= x0 < width and 0 <= y0 < height):
            raise ValueError(
                f"keypoints: {name!r} is at ({x0:g}, {y0:g}) in frame 0, outside the {width}x{height} photo "
                "(keypoints are in the photo's pixels)"
            )
        owner = next((i for i in reversed(range(len(masks))) if masks[i][int(y0), int(x0)]), None)
        if owner is None:
            continue
        targets = {t: (float(x), float(y)) for t, (x, y) in enumerate(path) if t > 0 and np.isfinite(x)}
        if targets:
            out[owner].append(Trajectory(float(x0), float(y0), targets))
    return out
