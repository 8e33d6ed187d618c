"""The motion-field representation, its training clips and its vocabulary."""

import numpy as np
import pytest
import torch

from fyc.data.field_clips import FieldClipDataset, appearance, generate_field_clip
from fyc.data.field_motions import FIELD_MOTION_CLASS_NAMES, FIELD_PROMPT_TO_CLASS, displacement, draw_params, geometry
from fyc.motion_field import (
    VELOCITY_SCALE,
    Trajectory,
    build_field_condition,
    cell_centres,
    denormalise,
    field_ofm,
    fields_from_affine,
    fields_from_flow,
    grid_size,
    hint_channels,
    normalise,
    region_coverage,
    sample_hints,
    upsample_fields,
)


def test_grid_follows_the_image_aspect():
    assert grid_size(128, 128) == (16, 16)
    assert grid_size(800, 1280) == (16, 24)
    assert grid_size(1280, 800) == (24, 16)
    assert grid_size(100, 800) == (16, 128)
    with pytest.raises(ValueError, match="positive"):
        grid_size(0, 10)


def test_vocabulary_has_the_new_motions_and_distinct_prompts():
    for name in ("wave", "ripple", "sway", "nod", "wag", "bob", "breathe", "move_left", "zoom_out"):
        assert name in FIELD_MOTION_CLASS_NAMES
    assert len(FIELD_MOTION_CLASS_NAMES) == 19
    assert FIELD_PROMPT_TO_CLASS["flutter"] == "wave" and FIELD_PROMPT_TO_CLASS["shift left"] == "move_left"


@pytest.mark.parametrize("name", FIELD_MOTION_CLASS_NAMES)
def test_clip_speed_is_calibrated_and_the_rest_is_still(name):
    clip = generate_field_clip(5, motion_class=name, speed=3.0)
    assert clip.fields.shape == (16, 2, 16, 16)
    assert np.all(clip.fields[0] == 0)
    reach = np.abs(clip.fields).sum((0, 1)) > 0
    coverage = region_coverage(clip.region_masks, (16, 16))[0]
    assert reach[coverage >= 0.5].all()  # every cell of the region moves
    far = np.ones_like(reach)
    far[np.nonzero(coverage > 0)] = False
    import cv2

    far &= cv2.dilate((coverage > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
    assert not reach[far].any()  # nothing beyond one cell of the region moves
    expected = min(3.0, clip.speeds[0])  # zoom out and ripple are capped below 3 on some shapes
    assert clip.speeds[0] == pytest.approx(3.0, rel=1e-3) or name in ("zoom_out", "ripple")  # capped classes
    assert clip.ofm == pytest.approx(expected, rel=0.35)


def test_clips_are_deterministic_and_splits_differ():
    a, b = generate_field_clip(9), generate_field_clip(9)
    np.testing.assert_array_equal(a.fields, b.fields)
    np.testing.assert_array_equal(a.photo, b.photo)
    assert not np.array_equal(generate_field_clip(9, split="eval").photo, a.photo)


def test_directions_of_the_directional_motions():
    for name, sign_x, sign_y in (("move_left", -1, 0), ("move_right", 1, 0), ("move_up", 0, -1), ("move_down", 0, 1)):
        clip = generate_field_clip(2, motion_class=name, speed=4.0)
        cells = region_coverage(clip.region_masks, (16, 16))[0] >= 0.5
        dx, dy = clip.fields[-1, 0][cells].mean(), clip.fields[-1, 1][cells].mean()
        main, other = (dx, dy) if sign_x else (dy, dx)
        assert np.sign(main) == sign_x + sign_y and abs(main) > 4 * abs(other), name  # within 8 degrees


def test_periodic_motions_loop():
    points = np.random.default_rng(0).uniform(0, 100, (50, 2))
    for name in ("shake", "sway", "bounce", "pulse", "wave", "ripple", "nod", "wag", "bob", "breathe"):
        params = draw_params(np.random.default_rng(1), name)
        params["cycles"] = 2
        moved = displacement(name, 0.2, params, points, geometry(name, params, points), 16)
        np.testing.assert_allclose(moved[8], 0, atol=1e-6, err_msg=name)  # one whole period later: back home
        assert np.abs(moved[3]).max() > 0.01, name


def test_rotation_turns_clockwise_on_screen():
    points = np.array([[10.0, 0.0], [-10.0, 0.0], [0.0, 10.0], [0.0, -10.0]])
    params = draw_params(np.random.default_rng(0), "rotate_clockwise")
    moved = displacement("rotate_clockwise", np.pi / 2 / 15, params, points, (np.zeros(2), np.ones(2) * 20), 16)
    # a quarter turn clockwise on screen (y down): right → down
    np.testing.assert_allclose(points[0] + moved[-1, 0], [0, 10], atol=1e-6)


def test_hints_paint_a_drag_at_its_cell():
    hints = hint_channels([Trajectory.drag(100, 50, 164, 50, 16)], (16, 16), 256, 256, 16)
    assert hints.shape == (3, 16, 16, 16)
    assert hints[2].sum() == 1 and hints[2, 15, 3, 6] == 1
    assert hints[0, 15, 3, 6] == pytest.approx(64 / 15 / VELOCITY_SCALE)  # the mean increment over frames 1..15
    with pytest.raises(ValueError, match="outside the 256x256 image"):
        hint_channels([Trajectory.drag(300, 50, 10, 10, 16)], (16, 16), 256, 256, 16)
    with pytest.raises(ValueError, match="frames 1..15"):
        hint_channels([Trajectory(10, 10, {16: (0, 0)})], (16, 16), 256, 256, 16)


def test_sampled_hints_come_from_the_true_fields():
    clip = generate_field_clip(4, motion_class="move_right", speed=5.0)
    cells = region_coverage(clip.region_masks, (16, 16))[0] >= 0.5
    hints = sample_hints(clip.fields, cells, np.random.default_rng(0))
    given = hints[2] > 0
    assert given.any() and cells[given.any(0)].all()
    frames = np.maximum(np.arange(len(clip.fields)), 1)[:, None, None, None]
    wanted = (clip.fields / (frames * VELOCITY_SCALE)).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(hints[:2][:, given], wanted[:, given], rtol=1e-5)
    # A steady move: each hint is the increment the model should write on every frame at that cell.
    increments = normalise(clip.fields).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(hints[:2][:, given], increments[:, given], rtol=0.02, atol=1e-4)


def test_the_model_denoises_increments_and_their_running_sum_is_the_field():
    clip = generate_field_clip(5, motion_class="move_right", speed=4.0)
    values = normalise(clip.fields)
    # A steady move is one value on every frame after frame 0 (nothing to multiply by the frame index).
    cells = region_coverage(clip.region_masks, (16, 16))[0] >= 0.5
    steady = values[1:, 0][:, cells]
    np.testing.assert_allclose(steady, steady[:1].repeat(len(steady), 0), atol=1e-4)
    assert steady.mean() == pytest.approx(4.0 / VELOCITY_SCALE, rel=0.1)
    assert np.all(values[0] == 0)
    np.testing.assert_allclose(denormalise(values), clip.fields, atol=1e-4)
    # Batched, frames on axis -4 as the pipeline holds them.
    batch = np.stack([clip.fields, -clip.fields])
    np.testing.assert_allclose(denormalise(normalise(batch)), batch, atol=1e-4)


def test_fields_from_flow_track_a_moving_square():
    rng = np.random.default_rng(0)
    texture = (rng.uniform(0, 255, (24, 24, 3))).astype(np.uint8)
    background = rng.uniform(0, 255, (96, 128, 3)).astype(np.uint8)
    frames = np.repeat(background[None], 6, axis=0)
    for t in range(6):
        frames[t, 30:54, 20 + 3 * t : 44 + 3 * t] = texture
    fields = fields_from_flow(frames, (12, 16))
    inside = fields[:, :, 4:6, 3:5]  # cells well inside the square's frame-0 position
    np.testing.assert_allclose(inside[-1, 0].mean(), 15 * 256 / 128, rtol=0.25)
    assert abs(inside[-1, 1].mean()) < 2
    assert np.abs(fields[-1, :, 10:, :]).max() < 1.0  # the textured background stays put


def test_affine_fields_are_exact_at_the_cell_centres():
    shift = np.array([[1.0, 0, 6], [0, 1, -2]])
    fields = fields_from_affine([np.eye(2, 3), shift], (4, 8), 64, 128)
    np.testing.assert_allclose(fields[1, 0], 12.0) and np.testing.assert_allclose(fields[1, 1], -4.0)
    assert np.all(fields[0] == 0)


def test_ofm_is_a_function_of_the_fields():
    fields = np.zeros((5, 2, 4, 4), np.float32)
    fields[:, 0, 1, 1] = np.arange(5) * 2.0  # one cell at 2 px/frame
    assert field_ofm(fields) == pytest.approx(2.0)
    up = upsample_fields(fields, 64, 512)
    assert up.shape == (5, 2, 64, 512)
    assert up[1, 0, 24, 191:193].mean() == pytest.approx(
        4.0, rel=0.05
    )  # 2 ref px at the cell's centre → 4 px at 512 wide


def test_condition_and_dataset_shapes():
    ds = FieldClipDataset(10, two_region_ratio=1.0, hint_ratio=1.0)
    item = ds[3]
    assert item["fields"].shape == (2, 16, 16, 16) and item["region_masks"].shape == (2, 128, 128)
    assert item["hints"][2].sum() > 0 and all(item["prompts"])
    mask = item["region_masks"].any(0).float()[None, None]
    condition = build_field_condition(mask[:, :, ::8, ::8], item["appearance"][None], item["hints"][None], 16)
    assert condition.shape == (1, 7, 16, 16, 16)
    assert torch.equal(condition[:, 1:4, 0], condition[:, 1:4, 9])
    look = appearance(np.full((32, 32, 3), 255, np.uint8), (4, 4))
    np.testing.assert_allclose(look, 1.0)
    assert cell_centres((2, 4), 20, 40)[1, 3].tolist() == [34.5, 14.5]


@pytest.mark.parametrize(
    "prompt, direction",
    [("flow left", (-1, 0)), ("flow up", (0, -1)), ("cascade", (0, 1)), ("flow to the left", (-1, 0))],
)
def test_a_flow_moves_the_way_its_wording_names_and_down_when_it_names_none(prompt, direction):
    clip = generate_field_clip(2, motion_class="flow", prompt=prompt, speed=4.0)
    last = clip.fields[-1].reshape(2, -1)
    mean = last[:, np.abs(last).sum(0) > 0].mean(1)
    assert np.dot(mean / np.linalg.norm(mean), direction) > np.cos(np.deg2rad(10))
