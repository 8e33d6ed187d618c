"""Keypoint tracks (a pose sequence) as trajectory hints of the motion-field model: parsing, time resampling, the
region each keypoint belongs to, and the pipeline reading them."""

import json

import numpy as np
import pytest

from fyc.keypoints import keypoint_trajectories, load_keypoints, parse_keypoints

ARM = {
    "frames": [
        {"shoulder": [40, 30], "wrist": [60, 50]},
        {"shoulder": [40, 30], "wrist": [62, 44]},
        {"shoulder": [40, 30]},  # the wrist unseen in this frame: interpolated
        {"shoulder": [40, 30], "wrist": [70, 20]},
    ]
}


def masks(height=80, width=100):
    body = np.zeros((height, width), bool)
    body[20:70, 30:80] = True
    arm = np.zeros_like(body)
    arm[40:60, 50:70] = True  # over the body: the later region gets the wrist
    return [body, arm]


def test_tracks_are_stretched_in_time_and_gaps_interpolated():
    tracks = parse_keypoints(ARM)
    wrist = tracks.resampled(7)["wrist"]  # 4 pose frames over 7 video frames
    assert wrist.shape == (7, 2)
    np.testing.assert_allclose(wrist[0], (60, 50))
    np.testing.assert_allclose(wrist[-1], (70, 20))
    np.testing.assert_allclose(wrist[4], (66, 32))  # pose time 2 of 3: halfway between frames 1 and 3
    np.testing.assert_allclose(tracks.resampled(7)["shoulder"], np.tile([40, 30], (7, 1)))


def test_each_keypoint_goes_to_the_region_under_it_and_the_rest_are_dropped():
    data = {"frames": [{**ARM["frames"][0], "foot": [5, 5]}, {**ARM["frames"][3], "foot": [9, 5]}]}
    body, arm = keypoint_trajectories(parse_keypoints(data), masks(), num_frames=4)
    assert [(t.x, t.y) for t in body] == [(40.0, 30.0)] and [(t.x, t.y) for t in arm] == [(60.0, 50.0)]
    assert sorted(arm[0].targets) == [1, 2, 3] and arm[0].targets[3] == (70.0, 20.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"frames": []}, "one mapping per frame"),
        ([{}], "frame 0 names no keypoint"),
        ([{"a": [1, 2]}, {"b": [3, 4]}], "frame 1 names 'b', which frame 0 does not place"),
        ([{"a": [1, "x"]}], r"'a' must be \[x, y\]"),
        ([{"a": None}], "frame 0 gives no place for a"),
        ([{"a": [float("nan"), 1]}], "not a finite point"),
    ],
)
def test_bad_keypoints_are_refused_with_what_is_wrong(data, message):
    with pytest.raises(ValueError, match=message):
        parse_keypoints(data)


def test_a_keypoint_outside_the_photo_is_refused_and_a_file_is_read(tmp_path):
    path = tmp_path / "pose.json"
    path.write_text(json.dumps([{"hand": [500, 10]}, {"hand": [510, 10]}]))
    with pytest.raises(ValueError, match="outside the 100x80 photo"):
        keypoint_trajectories(load_keypoints(path), masks(), num_frames=4)
    with pytest.raises(ValueError, match="cannot read"):
        load_keypoints(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_keypoints("{nope")


def test_the_pipeline_follows_keypoints_and_the_latent_model_refuses_them():
    from tiny import make_tiny_field_pipeline, make_tiny_pipeline

    from fyc.animate import animate
    from fyc.inputs import InputError
    from fyc.region import Region

    photo = np.random.default_rng(0).integers(0, 255, (80, 100, 3), np.uint8)
    regions = [Region(m, "nod") for m in masks()]
    pipe = make_tiny_field_pipeline(seed=0)
    fast = dict(ofm=4, seed=0, num_frames=4, num_inference_steps=1)
    plain = animate(pipe, photo, regions, **fast)
    posed = animate(pipe, photo, regions, keypoints=ARM, **fast)
    assert posed.shape == plain.shape and np.abs(posed - plain).max() > 0  # the hints reach the model
    with pytest.raises(InputError, match="none of them is inside a clicked region"):
        animate(pipe, photo, regions, keypoints=[{"far": [2, 2]}, {"far": [3, 3]}], **fast)
    with pytest.raises(InputError, match="does not follow keypoints"):
        animate(make_tiny_pipeline(seed=0), photo, regions, keypoints=ARM, **fast)
