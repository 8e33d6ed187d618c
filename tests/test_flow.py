"""Optical flow, motion mask and OFM on synthetic videos whose motion is known exactly."""

import cv2
import numpy as np
import pytest
import torch

from fyc import flow
from fyc.flow import REFERENCE_WIDTH, MotionStats, mean_flow, measure_ofm, motion_mask, motion_stats, optical_flow


def _texture(rng, h, w, cell):
    """Smooth random texture in [0, 1]: noise on a `cell`-px grid, bicubically upsampled."""
    coarse = rng.random((h // cell + 3, w // cell + 3)).astype(np.float32)
    return cv2.resize(coarse, ((w // cell + 3) * cell, (h // cell + 3) * cell), interpolation=cv2.INTER_CUBIC)[:h, :w]


def moving_square(width=256, speed=3.0, num_frames=8, direction=(1, 0), seed=0):
    """A textured square moving `speed` px/frame along `direction` over a static textured background.

    Geometry scales with `width` (the 256-px layout times width/256), so the same scene at 512 px moving
    6 px/frame is the 256-px scene at 3 px/frame. Returns (frames uint8 (F, H, W, 3), path mask (H, W)).
    """
    s = width / REFERENCE_WIDTH
    h = width * 3 // 4
    rng = np.random.default_rng(seed)
    bg = _texture(rng, h, width, max(1, round(4 * s)))
    background = np.stack([bg, 0.8 * bg, 1 - bg], axis=-1)
    side = round(48 * s)
    sq = _texture(rng, side, side, max(1, round(4 * s)))
    square = np.stack([1 - sq, sq, 0.5 * sq], axis=-1)
    x0, y0 = round(104 * s), round(72 * s)
    dx, dy = direction
    frames, path = [], np.zeros((h, width), bool)
    for i in range(num_frames):
        x, y = round(x0 + dx * speed * i), round(y0 + dy * speed * i)
        frame = background.copy()
        frame[y : y + side, x : x + side] = square
        path[y : y + side, x : x + side] = True
        frames.append((frame * 255).round().astype(np.uint8))
    return np.stack(frames), path


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_optical_flow_shape_dtype_and_value(method):
    frames, _ = moving_square(speed=3)
    f = optical_flow(frames, method=method)
    assert f.shape == (7, 192, 256, 2) and f.dtype == np.float32
    # the centre of the square moves +3 px in x, 0 in y
    centre = f[0, 72 + 16 : 72 + 32, 104 + 16 : 104 + 32]
    assert np.median(centre[..., 0]) == pytest.approx(3.0, abs=0.3)
    assert abs(np.median(centre[..., 1])) < 0.3


def test_ofm_and_mask_of_square_moving_3px_per_frame_at_256():
    frames, path = moving_square(width=256, speed=3)
    stats = motion_stats(frames)
    assert isinstance(stats, MotionStats)
    assert stats.ofm == pytest.approx(3.0, rel=0.15)
    assert stats.mask.dtype == bool and stats.mask.shape == path.shape
    assert stats.magnitude.shape == (7, 192, 256) and stats.magnitude.dtype == np.float32
    # the mask covers the square's path and little else
    assert (stats.mask & path).sum() / path.sum() > 0.95
    assert (stats.mask & ~path).sum() / path.sum() < 0.10
    assert measure_ofm(frames) == pytest.approx(stats.ofm)
    assert np.array_equal(motion_mask(frames), stats.mask)


def test_ofm_unit_is_resolution_independent():
    small, _ = moving_square(width=256, speed=3)
    large, path = moving_square(width=512, speed=6)
    ofm_small, stats_large = measure_ofm(small), motion_stats(large)
    assert stats_large.ofm == pytest.approx(3.0, rel=0.15)
    assert stats_large.ofm == pytest.approx(ofm_small, rel=0.08)
    assert (stats_large.mask & path).sum() / path.sum() > 0.95


def test_ofm_scales_with_speed():
    slow = measure_ofm(moving_square(speed=1.5)[0])
    fast = measure_ofm(moving_square(speed=6)[0])
    assert slow == pytest.approx(1.5, rel=0.2)
    assert fast == pytest.approx(6.0, rel=0.15)


@pytest.mark.parametrize(
    "direction, sign",
    [((1, 0), (1, 0)), ((-1, 0), (-1, 0)), ((0, -1), (0, -1)), ((0, 1), (0, 1))],
    ids=["right", "left", "up", "down"],
)
def test_mean_flow_sign(direction, sign):
    frames, path = moving_square(speed=3, direction=direction)
    inside = mean_flow(frames, mask=path)
    assert inside.shape == (2,) and inside.dtype == np.float32
    axis = 0 if sign[0] else 1
    assert np.sign(inside[axis]) == sign[axis] and abs(inside[axis]) > 1.0
    assert abs(inside[1 - axis]) < 0.3 * abs(inside[axis])
    whole = mean_flow(frames)  # over the whole frame: same sign, diluted by the static background
    assert np.sign(whole[axis]) == sign[axis] and abs(whole[axis]) < abs(inside[axis])


def test_mean_flow_empty_mask_and_bad_shape():
    frames, _ = moving_square()
    assert np.array_equal(mean_flow(frames, mask=np.zeros((192, 256), bool)), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="does not match"):
        mean_flow(frames, mask=np.ones((10, 10), bool))


def test_static_video_has_zero_ofm_and_empty_mask():
    frames, _ = moving_square(speed=0)
    stats = motion_stats(frames)
    assert stats.ofm == 0.0
    assert not stats.mask.any()


def test_gray_and_float_inputs_match_uint8_rgb():
    frames, _ = moving_square()
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    assert measure_ofm(gray) == pytest.approx(measure_ofm(frames), rel=1e-6)
    assert measure_ofm(frames.astype(np.float32) / 255) == pytest.approx(measure_ofm(frames), rel=1e-6)
    assert measure_ofm(frames.astype(np.float32) / 127.5 - 1) == pytest.approx(measure_ofm(frames), rel=1e-6)
    assert measure_ofm(torch.from_numpy(frames)) == pytest.approx(measure_ofm(frames), rel=1e-6)


def test_fixed_threshold_overrides_rule():
    frames, path = moving_square()
    loose = motion_stats(frames, threshold=0.1)
    strict = motion_stats(frames, threshold=100.0)
    assert loose.mask.sum() >= motion_stats(frames).mask.sum()
    assert not strict.mask.any() and strict.ofm == 0.0


def test_one_frame_and_bad_inputs_raise_clear_errors():
    frames, _ = moving_square()
    with pytest.raises(ValueError, match="at least 2 frames"):
        motion_stats(frames[:1])
    with pytest.raises(ValueError, match="at least 2 frames"):
        optical_flow(frames[0:0])
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        optical_flow(np.zeros((4, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="Unknown optical-flow method"):
        optical_flow(frames, method="lucas")
    with pytest.raises(ValueError, match="raft_weights"):
        optical_flow(frames, method="raft")


def test_raft_runs_from_a_user_supplied_state_dict(tmp_path):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path / "raft_small.pth"
    torch.save(raft_small().state_dict(), path)
    frames, _ = moving_square(width=60, speed=2, num_frames=2)  # 60x45: not a multiple of 8, gets padded
    # one RAFT pass only (random weights, CPU): the values are meaningless, the plumbing is not
    stats = motion_stats(frames, method="raft", raft_weights=str(path), device="cpu")
    assert stats.magnitude.shape == (1, 45, 60) and stats.magnitude.dtype == np.float32
    assert np.isfinite(stats.magnitude).all() and stats.mask.shape == (45, 60)
    # supplying the weights is enough to get RAFT; naming another estimator next to them is refused
    chosen = motion_stats(frames, raft_weights=str(path), device="cpu")
    assert np.array_equal(chosen.magnitude, stats.magnitude)
    assert not np.allclose(chosen.magnitude, motion_stats(frames).magnitude)  # not DIS
    with pytest.raises(ValueError, match="raft_weights were given with method='dis'"):
        optical_flow(frames, method="dis", raft_weights=str(path))
    flow._load_raft.cache_clear()
    with pytest.raises(ValueError, match="not a torchvision RAFT state dict"):
        torch.save({"weight": torch.zeros(1)}, tmp_path / "other.pth")
        optical_flow(frames, method="raft", raft_weights=tmp_path / "other.pth", device="cpu")
