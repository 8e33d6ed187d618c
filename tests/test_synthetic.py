"""Tests of the synthetic motion dataset (fyc.data.synthetic) and its vocabulary (fyc.data.motion_vocab)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fyc.data.motion_vocab import (
    MOTION_CLASS_NAMES,
    MOTION_CLASSES,
    PROMPT_TO_CLASS,
    prompts_for,
    third_person,
)
from fyc.data.synthetic import (
    PHOTOS,
    SyntheticMotionDataset,
    frame_size,
    generate_clip,
    load_photo,
    photo_names,
)
from fyc.flow import mean_flow, optical_flow

REQUIRED_CLASSES = {
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "shake",
    "sway",
    "rotate_clockwise",
    "rotate_counterclockwise",
    "zoom_in",
    "zoom_out",
    "bounce",
    "pulse",
}


# ------------------------------------------------------------------------------------------ vocabulary


def test_vocabulary_covers_the_required_motions_with_disjoint_paraphrases():
    assert REQUIRED_CLASSES <= set(MOTION_CLASS_NAMES)
    for m in MOTION_CLASSES.values():
        assert m.canonical in m.train_prompts
        assert len(m.train_prompts) >= 4 and len(m.heldout_prompts) >= 2
        assert not set(m.train_prompts) & set(m.heldout_prompts)
    assert {"slide to the left", "drift left", "spin clockwise", "get bigger"} <= set(PROMPT_TO_CLASS)
    assert PROMPT_TO_CLASS["drift left"] == "move_left" and PROMPT_TO_CLASS["get bigger"] == "zoom_in"
    assert prompts_for("move_left", "canonical") == ("move left",)
    with pytest.raises(ValueError, match="Unknown prompt_set"):
        prompts_for("move_left", "test")
    with pytest.raises(ValueError, match="Unknown motion class"):
        prompts_for("moonwalk", "train")


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("slide to the left", "slides to the left"),
        ("go up", "goes up"),
        ("swell and shrink", "swells and shrinks"),
        ("bounce up and down", "bounces up and down"),
        ("fly up", "flies up"),
        ("get bigger", "gets bigger"),
    ],
)
def test_third_person(prompt, expected):
    assert third_person(prompt) == expected


# ------------------------------------------------------------------------------------------ photos


def test_photos_are_split_and_load_offline():
    train, held_out = set(photo_names("train")), set(photo_names("eval"))
    assert not train & held_out and train | held_out == set(PHOTOS)
    assert len(train) >= 8 and len(held_out) >= 3
    for name in PHOTOS:
        image = load_photo(name)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert 100 <= min(image.shape[:2]) and max(image.shape[:2]) <= 640
        assert image.std() > 10, f"{name} is nearly flat"
        assert PHOTOS[name].licence
    with pytest.raises(ValueError, match="Unknown photo"):
        load_photo("lena")


def test_frame_size():
    assert frame_size(128) == (128, 128)
    assert frame_size(128, aspect=16 / 9) == (128, 224)
    assert frame_size(128, aspect=0.75) == (168, 128)
    assert frame_size((64, 96)) == (64, 96)
    with pytest.raises(ValueError, match="at least 32"):
        frame_size(16)


# ------------------------------------------------------------------------------------------ clips


def test_clip_shapes_dtypes_and_labels():
    clip = generate_clip(3, size=64, num_frames=8, aspect=1.5)
    assert clip.frames.shape == (8, 64, 96, 3) and clip.frames.dtype == np.uint8
    assert clip.region_mask.shape == (64, 96) and clip.region_mask.dtype == bool
    assert 0.03 < clip.region_mask.mean() < 0.5
    assert clip.motion_mask.shape == (64, 96) and clip.motion_mask.dtype == bool and clip.motion_mask.any()
    assert isinstance(clip.ofm, float) and clip.ofm > 0
    region = clip.regions[0]
    assert clip.motion_class in MOTION_CLASSES and region.motion_class == clip.motion_class
    assert PROMPT_TO_CLASS[clip.motion_prompt] == clip.motion_class
    assert third_person(clip.motion_prompt) in clip.caption
    assert PHOTOS[clip.background_photo].subject in clip.caption
    # the moving region is where the flow sees motion
    overlap = (clip.motion_mask & clip.path_mask).sum() / clip.motion_mask.sum()
    assert overlap > 0.9


def test_clip_is_deterministic_in_seed_and_split():
    a, b = generate_clip(11), generate_clip(11)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.region_mask, b.region_mask)
    np.testing.assert_array_equal(a.motion_mask, b.motion_mask)
    assert (a.caption, a.motion_prompt, a.ofm) == (b.caption, b.motion_prompt, b.ofm)
    c = generate_clip(12, compute_labels=False)
    assert not np.array_equal(a.frames, c.frames)
    d = generate_clip(11, split="eval", compute_labels=False)
    assert not np.array_equal(a.frames, d.frames)


def test_forcing_the_motion_keeps_the_scene():
    left = generate_clip(5, motion_class="move_left", compute_labels=False)
    right = generate_clip(5, motion_class="move_right", compute_labels=False)
    assert left.background_photo == right.background_photo
    assert left.regions[0].source_photo == right.regions[0].source_photo
    assert left.regions[0].shape == right.regions[0].shape
    assert left.regions[0].region_mask.sum() == pytest.approx(right.regions[0].region_mask.sum(), rel=0.01)


@pytest.mark.parametrize("seed", range(6))
def test_background_is_still_outside_the_region_path(seed):
    clip = generate_clip(seed, num_regions=1 + seed % 2, compute_labels=False)
    changed = (clip.frames != clip.frames[:1]).any(axis=(0, 3))
    assert changed.any()
    assert not (changed & ~clip.path_mask).any()
    # a path mask covering everything would make this test empty
    assert (~clip.path_mask).mean() > 0.1


def test_translation_changes_only_pixels_on_its_way():
    clip = generate_clip(2, motion_class="move_left", speed=6.0, mode="in_place", compute_labels=False)
    changed = (clip.frames != clip.frames[:1]).any(axis=(0, 3))
    ys, xs = np.nonzero(clip.region_mask)
    margin = 5  # soft edge and the dilated, filled hole
    travel = 6.0 * 128 / 256 * 15
    drift = travel * np.tan(np.deg2rad(8)) + margin  # direction jitter is at most 8 degrees
    cys, cxs = np.nonzero(changed)
    assert cxs.max() <= xs.max() + margin and cxs.min() >= xs.min() - travel - margin
    assert cys.min() >= ys.min() - drift and cys.max() <= ys.max() + drift


def test_zoom_out_in_place_stays_inside_its_footprint():
    clip = generate_clip(4, motion_class="zoom_out", mode="in_place", compute_labels=False)
    changed = (clip.frames != clip.frames[:1]).any(axis=(0, 3))
    footprint = cv2.dilate(clip.region_mask.astype(np.uint8), np.ones((11, 11), np.uint8)) > 0
    assert changed.any() and not (changed & ~footprint).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_directions_read_back_from_optical_flow(seed):
    signs = {"move_left": (0, -1), "move_right": (0, 1), "move_up": (1, -1), "move_down": (1, 1)}
    for name, (axis, sign) in signs.items():
        clip = generate_clip(seed, motion_class=name, speed=4.0, compute_labels=False)
        flow = mean_flow(clip.frames, clip.region_mask)
        assert sign * flow[axis] > 1.0, (name, flow)
        assert abs(flow[axis]) > 2 * abs(flow[1 - axis]), (name, flow)


def _curl_and_divergence(clip):
    """Mean of r x v and r . v over the region (r from the region's centroid): rotation and scaling."""
    flow = optical_flow(clip.frames)
    mask = clip.region_mask
    ys, xs = np.nonzero(mask)
    rx, ry = xs - xs.mean(), ys - ys.mean()
    v = flow[:, ys, xs]
    return float((rx * v[..., 1] - ry * v[..., 0]).mean()), float((rx * v[..., 0] + ry * v[..., 1]).mean())


def test_rotation_and_zoom_read_back_from_optical_flow():
    curl_cw, _ = _curl_and_divergence(generate_clip(1, motion_class="rotate_clockwise", speed=4.0))
    curl_ccw, _ = _curl_and_divergence(generate_clip(1, motion_class="rotate_counterclockwise", speed=4.0))
    assert curl_cw > 2 and curl_ccw < -2  # image y points down: clockwise on screen is positive curl
    _, div_in = _curl_and_divergence(generate_clip(2, motion_class="zoom_in", speed=3.0))
    _, div_out = _curl_and_divergence(generate_clip(2, motion_class="zoom_out", speed=3.0))
    assert div_in > 2 and div_out < -2


@pytest.mark.parametrize("motion_class", ["move_right", "rotate_clockwise", "shake", "bounce"])
def test_ofm_rises_with_speed(motion_class):
    speeds = [1.0, 2.0, 4.0, 8.0]
    clips = [generate_clip(6, motion_class=motion_class, speed=s) for s in speeds]
    ofms = [c.ofm for c in clips]
    assert all(a < b for a, b in zip(ofms, ofms[1:])), ofms
    for clip, speed in zip(clips, speeds):
        assert clip.regions[0].speed == pytest.approx(speed, rel=1e-3)
        assert 0.6 * speed < clip.ofm < 1.5 * speed, (speed, clip.ofm)


def test_speed_is_capped_where_the_motion_geometry_ends():
    clip = generate_clip(0, motion_class="zoom_in", speed=60.0, compute_labels=False)
    region = clip.regions[0]
    assert region.target_speed == 60.0 and 0 < region.speed < 60.0
    assert region.params["amplitude"] == pytest.approx(np.log(3.5) / 15)


def test_default_speeds_span_a_wide_range():
    speeds = [generate_clip(s, compute_labels=False).regions[0].speed for s in range(40)]
    assert min(speeds) < 1.0 and max(speeds) > 6.0
    assert all(0.5 - 1e-6 <= s <= 12 + 1e-6 for s in speeds)


def test_eval_split_uses_only_held_out_photos_and_paraphrases():
    held_out_photos = set(photo_names("eval"))
    held_out_prompts = {p for m in MOTION_CLASSES.values() for p in m.heldout_prompts}
    train_prompts = {p for m in MOTION_CLASSES.values() for p in m.train_prompts}
    for seed in range(25):
        clip = generate_clip(seed, split="eval", num_regions=1 + seed % 2, compute_labels=False)
        assert clip.background_photo in held_out_photos
        for region in clip.regions:
            assert region.source_photo in held_out_photos and region.motion_prompt in held_out_prompts
        train_clip = generate_clip(seed, split="train", compute_labels=False)
        assert train_clip.background_photo not in held_out_photos
        assert train_clip.regions[0].source_photo not in held_out_photos
        assert train_clip.regions[0].motion_prompt in train_prompts
    canonical = generate_clip(0, split="eval", motion_class="move_left", prompt_set="canonical", compute_labels=False)
    assert canonical.motion_prompt == "move left"


def test_every_class_shape_and_mode_renders():
    for i, name in enumerate(MOTION_CLASS_NAMES):
        shape = ("ellipse", "superellipse", "blob", "segment", "silhouette")[i % 5]
        for mode in ("paste", "in_place"):
            clip = generate_clip(
                i, motion_class=name, shape=shape, mode=mode, size=64, num_frames=6, compute_labels=False
            )
            assert clip.regions[0].motion_class == name and clip.regions[0].mode == mode
            assert clip.region_mask.sum() > 20
            assert (clip.frames[1:] != clip.frames[:1]).any(), (name, shape, mode)


def test_classes_restrict_the_draw():
    drawn = {
        generate_clip(s, classes=("move_left", "move_right"), compute_labels=False).motion_class for s in range(12)
    }
    assert drawn == {"move_left", "move_right"}


def test_two_regions_move_with_different_prompts():
    clip = generate_clip(7, num_regions=2)
    first, second = clip.regions
    assert first.motion_class != second.motion_class
    assert not (first.region_mask & second.region_mask).any()
    assert first.region_mask.any() and second.region_mask.any()
    np.testing.assert_array_equal(clip.region_mask, first.region_mask | second.region_mask)
    for region in clip.regions:
        assert third_person(region.motion_prompt) in clip.caption
    assert clip.motion_prompt == f"{first.motion_prompt}; {second.motion_prompt}"


def test_noise_moves_the_background_only_mildly():
    still = generate_clip(9, compute_labels=False)
    noisy = generate_clip(9, noise=True, compute_labels=False)
    outside = ~still.path_mask
    diff = np.abs(noisy.frames.astype(np.float32) - still.frames.astype(np.float32))[:, outside]
    assert diff.mean() > 0.3  # sensor noise is there
    assert np.median(diff) < 6  # and mild
    assert noisy.noise and not still.noise


def test_invalid_arguments_say_what_to_use():
    with pytest.raises(ValueError, match="split"):
        generate_clip(0, split="test")
    with pytest.raises(ValueError, match="Unknown motion class"):
        generate_clip(0, motion_class="moonwalk")
    with pytest.raises(ValueError, match="region_area"):
        generate_clip(0, region_area=(0.5, 0.2))
    with pytest.raises(ValueError, match="num_frames"):
        generate_clip(0, num_frames=1)


# ------------------------------------------------------------------------------------------ dataset


def test_dataset_items_have_the_real_dataset_keys():
    ds = SyntheticMotionDataset(4, split="train", size=64, num_frames=8, seed=3)
    assert len(ds) == 4
    item = ds[1]
    assert {
        "pixel_values",
        "caption",
        "motion_prompt",
        "motion_mask",
        "region_mask",
        "ofm",
        "motion_class",
        "video_id",
    } <= set(item)
    pv = item["pixel_values"]
    assert pv.shape == (8, 3, 64, 64) and pv.dtype == torch.float32
    assert -1.0 <= pv.min() and pv.max() <= 1.0
    clip = ds.clip(1)
    np.testing.assert_allclose(pv.permute(0, 2, 3, 1).numpy(), clip.frames / 127.5 - 1, atol=1e-6)
    assert item["motion_mask"].dtype == torch.bool and item["motion_mask"].shape == (64, 64)
    assert item["region_mask"].dtype == torch.bool and item["region_mask"].any()
    assert isinstance(item["ofm"], float) and item["ofm"] == clip.ofm
    assert item["motion_class"] == clip.motion_class and item["caption"] == clip.caption
    assert item["video_id"] == "synthetic-train-3-1"
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    assert batch["pixel_values"].shape == (2, 8, 3, 64, 64)
    with pytest.raises(IndexError):
        ds[4]


def test_dataset_is_deterministic_and_seeds_differ():
    a = SyntheticMotionDataset(2, size=48, num_frames=4, seed=0)
    b = SyntheticMotionDataset(2, size=48, num_frames=4, seed=0)
    c = SyntheticMotionDataset(2, size=48, num_frames=4, seed=1)
    assert torch.equal(a[0]["pixel_values"], b[0]["pixel_values"])
    assert not torch.equal(a[0]["pixel_values"], c[0]["pixel_values"])
    assert not torch.equal(a[0]["pixel_values"], a[1]["pixel_values"])


def test_dataset_with_two_regions_adds_per_region_fields():
    item = SyntheticMotionDataset(1, size=64, num_frames=6, num_regions=2)[0]
    assert item["region_masks"].shape == (2, 64, 64) and len(item["motion_prompts"]) == 2
    assert torch.equal(item["region_mask"], item["region_masks"].any(dim=0))
