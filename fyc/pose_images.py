"""Keypoints read back from pose images: the skeleton drawings that ControlNet's openpose model takes.

    tracks = keypoints_from_pose_frames("dance_pose.mp4", size=(width, height))   # a `fyc.keypoints.KeypointTracks`
    animate(pipe, photo, regions, keypoints=tracks)                                 # the motion-field model's hints

OpenPose draws a body's 18 keypoints as small discs, each in its own fully saturated colour (nose red, neck orange,
..., `OPENPOSE_COLOURS`), and the limbs between them darker (60 % of the colour) or blended underneath. So the discs
can be found without any network: the bright pixels nearest to a keypoint's colour, the centroid of their largest
blob. This reads what annotators and pose editors export (a folder of PNGs or a video); a photograph of a person
needs a real detector first (controlnet_aux's OpenPose, whose weights are not part of this project), passed as
`detector=` (any callable image → {name: (x, y)}).

The pose frames are in the pose images' pixels; `size` maps them to the photo's (a pose video drawn at 512×512 for a
768×512 photo is stretched). Frame 0 must show the pose as it is in the photo.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .keypoints import KeypointTracks

# OpenPose's COCO-18 body keypoints in its drawing order, and the colour of each keypoint's disc (RGB).
OPENPOSE_BODY = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
OPENPOSE_COLOURS = np.array(
    [
        [255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0], [0, 255, 0],
        [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255],
        [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85],
    ],
    np.float32,
)  # fmt: skip

# A disc pixel: brightest channel at least this (limbs are drawn at 60 %, 153) and within this distance of its
# keypoint's colour (neighbouring colours are 85 apart in one channel; video compression shifts colours by tens).
BRIGHT = 200
COLOUR_TOLERANCE = 42.0


def read_pose_frame(image: np.ndarray) -> dict[str, tuple[float, float]]:
    """{keypoint: (x, y)} of the OpenPose discs in one uint8 RGB pose image (the keypoints it shows)."""
    rgb = np.asarray(image)[..., :3].astype(np.float32)
    bright = rgb.max(axis=-1) >= BRIGHT
    found = {}
    if not bright.any():
        return found
    pixels = rgb[bright]
    distance = np.linalg.norm(pixels[:, None, :] - OPENPOSE_COLOURS[None], axis=-1)
    nearest = distance.argmin(axis=1)
    close = distance[np.arange(len(pixels)), nearest] <= COLOUR_TOLERANCE
    label = np.full(bright.shape, -1, np.int16)
    label[bright] = np.where(close, nearest, -1)
    for index, name in enumerate(OPENPOSE_BODY):
        mask = (label == index).astype(np.uint8)
        if not mask.any():
            continue
        count, blobs, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        found[name] = (float(centroids[largest][0]), float(centroids[largest][1]))
    return found


def keypoints_from_pose_frames(
    source,
    size: tuple[int, int] | None = None,
    detector: Callable[[np.ndarray], dict] | None = None,
) -> KeypointTracks:
    """`KeypointTracks` of a pose sequence given as images.

    Args:
        source: pose images: a video file, a folder of images (sorted by name), or a list of images / arrays / paths
            (`fyc.controlnet.read_control_frames`).
        size: the photo's (width, height); the keypoints are scaled from the pose images' size to it. None keeps the
            pose images' pixels.
        detector: reads one uint8 RGB frame into {keypoint: (x, y)}; `read_pose_frame` (OpenPose drawings) by default.

    Raises ValueError when frame 0 shows no keypoint (nothing to move) or the images cannot be read.
    """
    from .controlnet import read_control_frames

    frames = read_control_frames(source)
    read = detector or read_pose_frame
    poses = [read(frame) for frame in frames]
    if not poses[0]:
        raise ValueError(
            "pose images: the first frame shows no keypoint. Give OpenPose skeleton drawings (what ControlNet's "
            "openpose model takes), keypoint JSON, or a detector for photographs of people."
        )
    height, width = frames[0].shape[:2]
    scale = np.array([size[0] / width, size[1] / height]) if size is not None else np.ones(2)
    positions = {name: np.full((len(frames), 2), np.nan) for name in poses[0]}
    for index, (frame, pose) in enumerate(zip(frames, poses)):
        h, w = frame.shape[:2]
        frame_scale = scale * np.array(
            [width / w, height / h]
        )  # frames of another size: to frame 0's, then the photo's
        for name, point in pose.items():
            if name in positions:
                positions[name][index] = np.asarray(point, np.float64) * frame_scale
    return KeypointTracks(positions, len(frames))
