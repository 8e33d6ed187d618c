"""Keypoints read back from OpenPose skeleton drawings (`fyc.pose_images`): PNG folders and H.264 videos, scaled to
the photo, and the motion-field model following them like keypoint JSON."""

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from fyc.pose_images import OPENPOSE_BODY, OPENPOSE_COLOURS, keypoints_from_pose_frames, read_pose_frame

LIMBS = [("neck", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
         ("neck", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("neck", "nose")]  # fmt: skip


def draw_pose(points: dict, size=(160, 128)) -> np.ndarray:
    """An OpenPose-style drawing: limbs at 60 % of their colour, then each keypoint a full-colour disc of radius 4."""
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    colour = {name: OPENPOSE_COLOURS[i] for i, name in enumerate(OPENPOSE_BODY)}
    for a, b in LIMBS:
        if a in points and b in points:
            pa, pb = (tuple(int(round(v)) for v in points[n]) for n in (a, b))
            cv2.line(canvas, pa, pb, (colour[a] * 0.6).astype(int).tolist(), 4)
    for name, (x, y) in points.items():
        cv2.circle(canvas, (int(round(x)), int(round(y))), 4, colour[name].astype(int).tolist(), -1)
    return canvas


def arm_raise(frames=8) -> list[dict]:
    """A right arm rising from the hip to above the shoulder; the rest of the body still."""
    out = []
    for t in np.linspace(0, 1, frames):
        angle = np.deg2rad(100 - 170 * t)  # from pointing down-right to up-right
        shoulder, upper, lower = np.array([60.0, 50.0]), 22.0, 20.0
        elbow = shoulder + upper * np.array([-abs(np.cos(angle)) - 0.3, np.sin(angle)])  # out to the left
        wrist = elbow + lower * np.array([-abs(np.cos(angle)) - 0.3, np.sin(angle)])
        out.append(
            {"nose": (80, 22), "neck": (80, 40), "right_shoulder": tuple(shoulder), "right_elbow": tuple(elbow),
             "right_wrist": tuple(wrist), "left_shoulder": (100, 50), "left_elbow": (104, 72), "left_wrist": (106, 92)}
        )  # fmt: skip
    return out


def test_the_drawn_discs_do_not_touch():
    for pose in arm_raise():
        points = np.array(list(pose.values()))
        gaps = np.linalg.norm(points[:, None] - points[None], axis=-1) + 100 * np.eye(len(points))
        assert gaps.min() > 10


def test_a_drawing_gives_back_its_keypoints():
    pose = arm_raise()[3]
    found = read_pose_frame(draw_pose(pose))
    assert set(found) == set(pose)
    for name, point in pose.items():
        assert np.linalg.norm(np.subtract(found[name], point)) < 1.0, name
    assert read_pose_frame(np.zeros((20, 20, 3), np.uint8)) == {}


def test_a_png_folder_and_an_h264_video_give_the_tracks_in_the_photos_pixels(tmp_path):
    poses = arm_raise()
    for i, pose in enumerate(poses):
        Image.fromarray(draw_pose(pose)).save(tmp_path / f"{i:03d}.png")
    video = tmp_path / "pose.mp4"
    iio.imwrite(video, np.stack([draw_pose(p) for p in poses]), fps=8, codec="libx264")
    truth = {n: np.array([p[n] for p in poses]) for n in poses[0]}
    for source, tolerance in ((tmp_path, 1.0), (video, 2.5)):
        tracks = keypoints_from_pose_frames(source, size=(320, 256))  # the photo is twice the pose images' size
        assert tracks.num_frames == len(poses) and set(tracks.positions) == set(truth)
        for name, path in truth.items():
            error = np.linalg.norm(tracks.positions[name] - 2 * path, axis=1)
            assert np.nanmax(error) < 2 * tolerance, (source.name, name, error)


def test_no_pose_in_the_first_frame_is_refused_and_a_detector_can_be_given(tmp_path):
    with pytest.raises(ValueError, match="first frame shows no keypoint"):
        keypoints_from_pose_frames([np.zeros((32, 32, 3), np.uint8)] * 2)
    tracks = keypoints_from_pose_frames(
        [np.zeros((32, 32, 3), np.uint8)] * 3, detector=lambda frame: {"hand": (4.0, 5.0)}
    )
    np.testing.assert_allclose(tracks.positions["hand"], [[4, 5]] * 3)


def test_the_motion_field_model_follows_pose_images_as_it_follows_their_keypoints():
    from tiny import make_tiny_field_pipeline

    from fyc.animate import animate
    from fyc.inputs import InputError
    from fyc.keypoints import KeypointTracks
    from fyc.region import Region

    poses = arm_raise(4)
    photo = np.random.default_rng(0).integers(0, 255, (128, 160, 3), np.uint8)
    arm = np.zeros(photo.shape[:2], bool)
    arm[40:100, 40:90] = True
    regions = [Region(arm, "wave")]
    pipe = make_tiny_field_pipeline(seed=0)
    fast = dict(ofm=4, seed=0, num_frames=4, num_inference_steps=1)
    frames = [draw_pose(p) for p in poses]
    from_images = animate(pipe, photo, regions, control_frames=frames, **fast)
    tracks = keypoints_from_pose_frames(frames)
    from_keypoints = animate(pipe, photo, regions, keypoints=KeypointTracks(tracks.positions, 4), **fast)
    np.testing.assert_array_equal(from_images, from_keypoints)
    assert np.abs(from_images - animate(pipe, photo, regions, **fast)).max() > 0
    with pytest.raises(InputError, match="not both"):
        animate(pipe, photo, regions, control_frames=frames, keypoints=tracks, **fast)
    with pytest.raises(InputError, match="first frame shows no keypoint"):
        animate(pipe, photo, regions, control_frames=[np.zeros((8, 8, 3), np.uint8)], **fast)
