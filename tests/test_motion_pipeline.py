"""`FollowYourClickMotionFieldPipeline` on a tiny real model: outputs, rendering, conditioning, round-trip, errors."""

import numpy as np
import pytest
import torch
from tiny import make_tiny_field_pipeline

from fyc.motion_field import Trajectory, field_speed, region_coverage
from fyc.region import Region


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return make_tiny_field_pipeline(tokenizer_dir=tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, (12, 18, 3)).astype(np.uint8)
    import cv2

    return cv2.resize(base, (180, 120), interpolation=cv2.INTER_CUBIC)


def _mask(photo, box=(30, 80, 40, 100)):
    mask = np.zeros(photo.shape[:2], bool)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def _run(pipe, photo, regions, seed=0, **kw):
    kw = {"num_frames": 8, "num_inference_steps": 2, **kw}
    return pipe(photo, regions, generator=torch.Generator().manual_seed(seed), **kw)


def test_video_at_the_photos_resolution_with_frame_zero_the_photo(pipe, photo):
    out = _run(pipe, photo, [Region(_mask(photo), "move left")], ofm=4.0, output_type="np")
    assert out.frames.shape == (1, 8, 120, 180, 3)
    assert out.fields.shape == (1, 8, 2, 16, 24)
    np.testing.assert_array_equal(np.round(out.frames[0, 0] * 255).astype(np.uint8), photo)
    assert np.all(out.fields[:, 0] == 0)
    # outside the region's reach the photo's pixels, exactly, on every frame
    far = np.ones(photo.shape[:2], bool)
    far[10:100, 0:130] = False
    still = np.round(out.frames[0][:, far] * 255).astype(np.uint8)
    np.testing.assert_array_equal(still, np.broadcast_to(photo[far], still.shape))


def test_strength_is_what_was_asked_per_region(pipe, photo):
    left, right = _mask(photo, (20, 60, 10, 60)), _mask(photo, (60, 110, 110, 170))
    out = _run(pipe, photo, [Region(left, "move left"), Region(right, "nod")], ofm=[2.0, 6.0], output_type="fields")
    assert out.frames is None
    coverage = region_coverage(np.stack([left, right]), (16, 24))
    assert field_speed(out.fields[0], coverage[0] >= 0.5) == pytest.approx(2.0, rel=1e-3)
    assert field_speed(out.fields[0], coverage[1] >= 0.5) == pytest.approx(6.0, rel=1e-3)
    raw = _run(pipe, photo, [Region(left, "move left")], ofm=2.0, output_type="fields", calibrate_strength=False)
    assert field_speed(raw.fields[0], coverage[0] >= 0.5) != pytest.approx(2.0, rel=1e-3)


def test_prompt_ofm_and_hints_change_the_fields(pipe, photo):
    mask = _mask(photo)
    base = _run(pipe, photo, [Region(mask, "move left")], output_type="fields", calibrate_strength=False).fields
    other = _run(pipe, photo, [Region(mask, "nod")], output_type="fields", calibrate_strength=False).fields
    stronger = _run(
        pipe, photo, [Region(mask, "move left")], ofm=9.0, output_type="fields", calibrate_strength=False
    ).fields
    dragged = _run(
        pipe,
        photo,
        [Region(mask, "move left")],
        output_type="fields",
        calibrate_strength=False,
        trajectories=[[Trajectory.drag(60, 50, 20, 50, 8)]],
    ).fields
    for changed in (other, stronger, dragged):
        assert np.abs(changed - base).max() > 1e-4
    again = _run(pipe, photo, [Region(mask, "move left")], output_type="fields", calibrate_strength=False).fields
    np.testing.assert_array_equal(base, again)


def test_save_and_load_round_trip(pipe, photo, tmp_path):
    from fyc.motion_pipeline import FollowYourClickMotionFieldPipeline

    pipe.save_pretrained(tmp_path)
    loaded = FollowYourClickMotionFieldPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.config.motion_vocabulary == ["move left", "nod"]
    regions = [Region(_mask(photo), "move left")]
    a = _run(pipe, photo, regions, output_type="fields").fields
    b = _run(loaded, photo, regions, output_type="fields").fields
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_scheduler_swap_callback_and_interrupt(pipe, photo):
    from diffusers import DPMSolverMultistepScheduler

    original = pipe.scheduler
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(original.config)
    seen = []

    def stop(p, i, t, kwargs):
        seen.append(i)
        p._interrupt = True
        return kwargs

    try:
        out = _run(pipe, photo, [Region(_mask(photo), "nod")], callback_on_step_end=stop, output_type="pil")
    finally:
        pipe.scheduler = original
    assert seen == [0] and out.frames is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ofm": [1.0, 2.0, 3.0]}, "one per region"),
        ({"max_side": 4096}, "max_side"),
        ({"output_type": "latent"}, "output_type"),
        ({"trajectories": [[], []]}, "one list per region"),
        ({"trajectories": [[Trajectory.drag(500, 10, 0, 0, 8)]]}, "outside the 180x120 image"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(pipe, photo, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _run(pipe, photo, [Region(_mask(photo), "nod")], **kwargs)


def test_a_region_over_the_whole_photo_is_refused(pipe, photo):
    with pytest.raises(ValueError, match="cover the whole photo"):
        _run(pipe, photo, [Region(np.ones(photo.shape[:2], bool), "nod")])


def test_a_flow_prompt_streams_its_texture_inside_a_region_that_stays_put(pipe, photo):
    wordings = {"flow": ["flow like water", "pour down"], "move_left": ["move left", "slide left"]}
    pipe.register_to_config(motion_wordings=wordings)
    try:
        assert pipe.region_modes(["pour down", "move left", "slide left"]) == ["stream", "layer", "layer"]
        pipe.register_to_config(motion_wordings={"move_down": ["pour down"], "flow": ["flow like water"]})
        assert pipe.region_modes(["pour down"]) == ["layer"]  # the wordings' cached embeddings follow the config
        pipe.register_to_config(motion_wordings=wordings)
        mask = _mask(photo)
        moved = _run(pipe, photo, [Region(mask, "move left")], ofm=6.0, output_type="np")
        streamed = _run(pipe, photo, [Region(mask, "pour down")], ofm=6.0, output_type="np")
    finally:
        pipe.register_to_config(motion_wordings={})
    assert pipe.region_modes(["pour down"]) == ["layer"]  # a model that lists no wordings moves every region
    import cv2

    beyond = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) == 0  # past the soft edge
    outside = np.round(streamed.frames[0][:, beyond] * 255).astype(np.uint8)
    np.testing.assert_array_equal(outside, np.broadcast_to(photo[beyond], outside.shape))
    inside = streamed.frames[0][:, mask]
    assert np.abs(inside[-1] - inside[0]).mean() > 0.01  # the texture flows
    # a moving layer carries its pixels past its region's edge
    assert np.abs(moved.frames[0][-1][beyond] - moved.frames[0][0][beyond]).mean() > 0.001
