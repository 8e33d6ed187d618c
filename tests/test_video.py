"""fyc.video: browser-playable mp4, GIF, and the "keep background still" composite."""

import numpy as np
import pytest
from PIL import Image

from fyc.video import composite_background, export_gif, export_mp4, frames_to_uint8, pad_to_even, read_video


def moving_square(num_frames=6, height=48, width=64):
    """A white square moving right on a gradient background, uint8 (F, H, W, 3)."""
    background = np.linspace(0, 200, width, dtype=np.float32)[None, :, None].repeat(height, 0).repeat(3, 2)
    frames = np.repeat(background[None], num_frames, 0).astype(np.uint8)
    for i in range(num_frames):
        frames[i, 16:32, 4 + 4 * i : 20 + 4 * i] = 255
    return frames


def test_frames_to_uint8_converts_floats_lists_and_grayscale():
    floats = np.array([[[[0.0, 0.5, 1.0]]]], np.float32)
    assert frames_to_uint8(floats)[0, 0, 0].tolist() == [0, 128, 255]
    out_of_range = np.array([[[[-1.0, 2.0, np.nan]]]], np.float32)
    assert frames_to_uint8(out_of_range)[0, 0, 0].tolist() == [0, 255, 0]
    gray = np.zeros((2, 4, 4), np.uint8)
    assert frames_to_uint8(gray).shape == (2, 4, 4, 3)
    pils = [Image.new("RGB", (5, 3), (10, 20, 30))] * 2
    assert frames_to_uint8(pils).shape == (2, 3, 5, 3)
    with pytest.raises(ValueError, match="empty"):
        frames_to_uint8(np.zeros((0, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        frames_to_uint8(np.zeros((4, 4), np.uint8))


def test_pad_to_even_repeats_last_row_and_column():
    frames = np.arange(2 * 3 * 5 * 3, dtype=np.uint8).reshape(2, 3, 5, 3)
    padded = pad_to_even(frames)
    assert padded.shape == (2, 4, 6, 3)
    np.testing.assert_array_equal(padded[:, :3, :5], frames)
    np.testing.assert_array_equal(padded[:, 3, :5], frames[:, 2])
    np.testing.assert_array_equal(padded[:, :3, 5], frames[:, :, 4])


@pytest.mark.parametrize("height,width", [(48, 64), (33, 45)])
def test_export_mp4_is_h264_yuv420p_and_round_trips(tmp_path, height, width):
    frames = moving_square(num_frames=6, height=height, width=width)
    path = export_mp4(frames, tmp_path / "sub" / "clip.mp4", fps=8)
    decoded, meta = read_video(path)
    assert meta["codec"].startswith("h264")
    assert meta["pix_fmt"].startswith("yuv420p")
    assert tuple(meta["size"]) == (width + width % 2, height + height % 2)
    assert meta["fps"] == pytest.approx(8, abs=0.01)
    assert decoded.shape == (6, height + height % 2, width + width % 2, 3)
    error = np.abs(decoded[:, :height, :width].astype(int) - frames.astype(int)).mean()
    assert error < 4, f"mean abs error {error:.2f} after H.264 round trip"
    # the index is at the front of the file ("faststart"), so browsers can start playing at once
    head = path.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 4096)


def test_export_mp4_accepts_float_frames(tmp_path):
    frames = moving_square().astype(np.float32) / 255.0
    decoded, _ = read_video(export_mp4(frames, tmp_path / "f.mp4", fps=4))
    assert np.abs(decoded.astype(int) - moving_square().astype(int)).mean() < 4


def test_export_gif_loops_with_the_right_timing(tmp_path):
    frames = moving_square(num_frames=5)
    path = export_gif(frames, tmp_path / "clip.gif", fps=10)
    with Image.open(path) as gif:
        assert gif.n_frames == 5
        assert gif.info["loop"] == 0
        assert gif.info["duration"] == 100
        gif.seek(3)
        frame = np.asarray(gif.convert("RGB"))
    assert frame.shape == (48, 64, 3)
    assert np.abs(frame.astype(int) - frames[3].astype(int)).mean() < 6


def test_export_rejects_bad_fps(tmp_path):
    with pytest.raises(ValueError, match="fps"):
        export_mp4(moving_square(), tmp_path / "x.mp4", fps=0)
    with pytest.raises(ValueError, match="fps"):
        export_gif(moving_square(), tmp_path / "x.gif", fps=-1)


def test_composite_background_keeps_original_outside_dilated_mask():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)  # a model whose background drifts
    original = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # the input image, at twice the size
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True  # -> rows/cols 10:20 at the output size
    out = composite_background(frames, original, mask, dilate_px=3, feather_px=2)
    assert out.shape == frames.shape and out.dtype == np.uint8

    small_original = np.asarray(Image.fromarray(original).resize((32, 32), Image.Resampling.BOX))
    outside = np.ones((32, 32), bool)
    outside[10 - 3 : 20 + 3, 10 - 3 : 20 + 3] = False  # square dilation bound ⊇ elliptical dilation
    for frame in out:
        assert np.abs(frame[outside].astype(int) - small_original[outside].astype(int)).max() <= 1
    # inside the region the model's pixels are kept untouched
    np.testing.assert_array_equal(out[:, 10:20, 10:20], frames[:, 10:20, 10:20])
    # the feathered edge blends: one pixel inside the dilated margin is 1/3 model, 2/3 original
    expected = frames[:, 7, 15] / 3.0 + small_original[7, 15] * 2.0 / 3.0
    assert np.abs(out[:, 7, 15] - expected).max() <= 2


def test_composite_background_float_frames_and_zero_dilation():
    frames = np.full((2, 8, 8, 3), 0.25, np.float32)
    original = np.full((8, 8, 3), 255, np.uint8)
    mask = np.zeros((8, 8), bool)
    mask[2:4, 2:4] = True
    out = composite_background(frames, original, mask, dilate_px=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 2:4, 2:4], 0.25)
    expected_outside = np.ones((8, 8), bool)
    expected_outside[2:4, 2:4] = False
    np.testing.assert_allclose(out[:, expected_outside], 1.0)


def test_composite_background_keeps_thin_regions_when_downscaling():
    frames = np.zeros((1, 16, 16, 3), np.uint8)
    original = np.full((64, 64, 3), 200, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[:, 30] = True  # one pixel wide at 64 px: a quarter pixel at 16 px
    out = composite_background(frames, original, mask, dilate_px=0)
    assert (out[0, :, 7] == 0).all()  # the column that touches the region keeps the model's pixels


def test_composite_background_validates_sizes():
    with pytest.raises(ValueError, match="same size"):
        composite_background(np.zeros((1, 8, 8, 3)), np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4), bool), 2)
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        composite_background(np.zeros((8, 8, 3)), np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool), 2)
