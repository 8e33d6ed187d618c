"""fyc.render: the motion-field model's renderer, on a real photograph, against OpenCV warps of the same photo."""

import cv2
import numpy as np
import pytest
import skimage.data
from helpers.affine import about, rotation
from PIL import Image

from fyc.motion_field import fields_from_affine
from fyc.render import (
    MAX_SIDE_LIMIT,
    output_size,
    render_video,
    soft_mask,
    stream_content,
    stream_velocity,
    upsample_field,
)

NUM_FRAMES = 8


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(skimage.data.astronaut(), (384, 320), interpolation=cv2.INTER_AREA)  # textured, 6:5


def affine_fields(matrices, height, width, grid=(10, 12)):
    return fields_from_affine(matrices, grid, height, width)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def disk(height, width, centre, radius):
    ys, xs = np.mgrid[0:height, 0:width]
    return (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 < radius**2


def square(height, width, x0, y0, side):
    mask = np.zeros((height, width), bool)
    mask[y0 : y0 + side, x0 : x0 + side] = True
    return mask


def eroded(mask, px):
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


def dilated(mask, px):
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


def test_frame0_is_the_photo_and_a_zero_field_changes_nothing(photo):
    height, width = photo.shape[:2]
    mask = disk(height, width, (190.3, 150.7), 60)
    moving = affine_fields(
        [about(np.array([190.3, 150.7]), rotation(40 * t)) for t in range(NUM_FRAMES)], height, width
    )
    moving[0] = 5.0  # frame 0's field is treated as zero whatever it holds
    video = render_video(photo, moving, [mask])
    assert video.dtype == np.uint8 and video.shape == (NUM_FRAMES, height, width, 3)
    assert np.array_equal(video[0], photo)
    assert not np.array_equal(video[-1], photo)

    still = render_video(photo, np.zeros((NUM_FRAMES, 2, 10, 12), np.float32), [mask])
    assert all(np.array_equal(frame, photo) for frame in still)


def test_frame0_bit_identical_at_a_reduced_and_an_odd_size(photo):
    odd = photo[:319, :383]  # odd sides: cropped by one row and column, not resampled
    video = render_video(
        Image.fromarray(odd),
        affine_fields([about(np.zeros(2), np.eye(2) * (1 + 0.1 * t)) for t in range(3)], 319, 383),
        [square(319, 383, 100, 100, 80)],
    )
    assert video.shape == (3, 318, 382, 3)
    assert np.array_equal(video[0], odd[:318, :382])
    small = render_video(photo, np.zeros((3, 2, 10, 12), np.float32), [square(320, 384, 100, 100, 80)], max_side=192)
    assert small.shape == (3, 160, 192, 3)
    assert np.array_equal(small[0], cv2.resize(photo, (192, 160), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("shift", [(9.3, -4.6), (-30.0, 12.5)])
def test_translation_moves_the_content_and_nothing_else(photo, shift):
    height, width = photo.shape[:2]
    mask = square(height, width, 140, 110, 90)
    steps = np.linspace(0, 1, NUM_FRAMES)
    # A field that is the same everywhere: outside the region that is a "leak" the renderer must ignore.
    fields = np.zeros((NUM_FRAMES, 2, 10, 12), np.float32)
    fields[:, 0] = steps[:, None, None] * shift[0]
    fields[:, 1] = steps[:, None, None] * shift[1]
    video = render_video(photo, fields, [mask])

    dx, dy = (s * width / 256.0 for s in shift)
    expected = cv2.warpAffine(
        photo,
        np.float32([[1, 0, dx], [0, 1, dy]]),
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    moved = (
        cv2.warpAffine(
            mask.astype(np.uint8), np.float32([[1, 0, dx], [0, 1, dy]]), (width, height), flags=cv2.INTER_NEAREST
        )
        > 0
    )
    inner = eroded(moved, 2)
    assert psnr(video[-1][inner], expected[inner]) >= 35

    path = np.zeros_like(mask)
    for step in steps:
        path |= (
            cv2.warpAffine(
                mask.astype(np.uint8),
                np.float32([[1, 0, step * dx], [0, 1, step * dy]]),
                (width, height),
                flags=cv2.INTER_NEAREST,
            )
            > 0
        )
    still = ~dilated(path, 6)
    for frame in video:
        assert np.array_equal(frame[still], photo[still])
    # The uncovered background is filled, not left as a copy of the object.
    uncovered = eroded(mask & ~dilated(moved, 3), 3)
    assert uncovered.sum() > 200
    assert not np.array_equal(video[-1][uncovered], photo[uncovered])


@pytest.mark.parametrize("kind, amount", [("rotate", 90.0), ("rotate", 180.0), ("zoom", 2.0), ("zoom", 0.5)])
def test_rotation_and_zoom_land_where_an_affine_warp_puts_them(photo, kind, amount):
    height, width = photo.shape[:2]
    centre = np.array([185.4, 163.8])
    mask = disk(height, width, centre, 55)
    steps = np.linspace(0, 1, NUM_FRAMES)
    linear = [rotation(amount * s) if kind == "rotate" else np.eye(2) * amount**s for s in steps]
    matrices = [about(centre, a) for a in linear]
    video = render_video(photo, affine_fields(matrices, height, width), [mask])

    expected = cv2.warpAffine(photo, matrices[-1].astype(np.float32), (width, height), flags=cv2.INTER_LINEAR)
    target = (
        cv2.warpAffine(mask.astype(np.uint8), matrices[-1].astype(np.float32), (width, height), flags=cv2.INTER_NEAREST)
        > 0
    )
    inner = eroded(target, 3)
    if amount < 1:  # a shrinking texture is drawn from a pre-filtered level: compare with a filtered warp
        expected = cv2.warpAffine(
            cv2.GaussianBlur(photo, (0, 0), 0.8),
            matrices[-1].astype(np.float32),
            (width, height),
            flags=cv2.INTER_LINEAR,
        )
        assert psnr(video[-1][inner], expected[inner]) >= 28
    else:
        assert psnr(video[-1][inner], expected[inner]) >= 35
    # The edge is soft (anti-aliased) but not smeared: the whole region's outline lies within a few pixels.
    changed = np.abs(video[-1].astype(int) - expected.astype(int)).max(-1) > 40
    assert (changed & eroded(target, 3)).mean() < 0.002


def test_rotation_on_a_coarser_working_grid():
    photo = skimage.data.astronaut()  # 512 px: the backward map is solved on 2x2-px cells and upsampled
    centre = np.array([250.6, 231.3])
    mask = disk(512, 512, centre, 90)
    matrices = [about(centre, rotation(135 * s)) for s in np.linspace(0, 1, NUM_FRAMES)]
    video = render_video(photo, affine_fields(matrices, 512, 512, grid=(16, 16)), [mask])
    expected = cv2.warpAffine(photo, matrices[-1].astype(np.float32), (512, 512), flags=cv2.INTER_LINEAR)
    target = (
        cv2.warpAffine(mask.astype(np.uint8), matrices[-1].astype(np.float32), (512, 512), flags=cv2.INTER_NEAREST) > 0
    )
    inner = eroded(target, 3)
    assert psnr(video[-1][inner], expected[inner]) >= 35


def test_two_regions_move_their_own_way_and_the_later_wins(photo):
    height, width = photo.shape[:2]
    left, right = square(height, width, 60, 120, 80), square(height, width, 230, 120, 80)
    fields = np.zeros((NUM_FRAMES, 2, 10, 12), np.float32)
    steps = np.linspace(0, 1, NUM_FRAMES)[:, None, None]
    fields[:, 0, :, :6] = 110 * 256 / width * steps  # the left half moves right by 110 px ...
    fields[:, 0, :, 6:] = -60 * 256 / width * steps  # ... the right half left by 60 px: they overlap at the end
    video = render_video(photo, fields, [left, right])

    def shifted(dx):
        return cv2.warpAffine(photo, np.float32([[1, 0, dx], [0, 1, 0]]), (width, height), flags=cv2.INTER_LINEAR)

    right_at = square(height, width, 170, 120, 80)  # where both squares end: 60 + 110 = 230 - 60
    # Here both land on the same pixels: the later (right) region wins.
    inner = eroded(right_at, 3)
    assert psnr(video[-1][inner], shifted(-60)[inner]) >= 35
    assert psnr(video[-1][inner], shifted(110)[inner]) < 25
    # Half-way, each is where its own motion puts it.
    mid = NUM_FRAMES // 2
    s = mid / (NUM_FRAMES - 1)
    a = square(height, width, round(60 + 110 * s), 120, 80)
    b = square(height, width, round(230 - 60 * s), 120, 80)
    only_a, only_b = eroded(a & ~dilated(b, 4), 4), eroded(b, 4)
    assert psnr(video[mid][only_a], shifted(110 * s)[only_a]) >= 32
    assert psnr(video[mid][only_b], shifted(-60 * s)[only_b]) >= 32


def test_an_object_may_leave_the_frame(photo):
    height, width = photo.shape[:2]
    mask = square(height, width, 20, 100, 80)
    fields = np.zeros((NUM_FRAMES, 2, 10, 12), np.float32)
    fields[:, 0] = np.linspace(0, -150, NUM_FRAMES)[:, None, None] * 256 / width
    video = render_video(photo, fields, [mask])
    # At the end it is gone: its pixels show the inpainted background, which is not the object.
    gone = eroded(mask, 4)
    assert psnr(video[-1][gone], photo[gone]) < 25
    mid = 2
    dx = -150 * mid / (NUM_FRAMES - 1)
    expected = cv2.warpAffine(photo, np.float32([[1, 0, dx], [0, 1, 0]]), (width, height), flags=cv2.INTER_LINEAR)
    moved = cv2.warpAffine(
        mask.astype(np.uint8), np.float32([[1, 0, dx], [0, 1, 0]]), (width, height), flags=cv2.INTER_NEAREST
    )
    visible = eroded(moved > 0, 3) & (np.arange(width) >= 4)  # half of it is already out of the frame
    assert 1000 < visible.sum() < mask.sum() / 2 + 1000
    assert psnr(video[mid][visible], expected[visible]) >= 35


def test_stream_loops_and_its_alpha_stays_put(photo):
    height, width = photo.shape[:2]
    mask = square(height, width, 40, 200, 300) & (np.mgrid[0:height, 0:width][0] < 290)  # a "river" band
    fields = np.zeros((NUM_FRAMES, 2, 10, 12), np.float32)
    fields[:, 0] = 3.0 * np.arange(NUM_FRAMES)[:, None, None]  # 3 reference px per frame to the right
    video = render_video(photo, fields, [mask], region_modes=["stream"])
    outside = ~dilated(mask, 2)
    for frame in video:
        assert np.array_equal(frame[outside], photo[outside])
    assert not np.array_equal(video[3][mask], photo[mask])

    velocity = upsample_field(stream_velocity(fields), height, width)
    assert np.allclose(velocity[0], 3.0 * width / 256, atol=1e-4)
    alpha = soft_mask(mask, height, width)
    # Frame F (one past the last) is frame 0 again: the video loops.
    after_last = stream_content(photo, velocity, alpha, NUM_FRAMES, NUM_FRAMES)
    assert np.array_equal(np.clip(after_last + 0.5, 0, 255).astype(np.uint8), photo)
    core = eroded(mask, 2)
    for t in (1, NUM_FRAMES - 1):
        content = np.clip(stream_content(photo, velocity, alpha, t, NUM_FRAMES) + 0.5, 0, 255).astype(np.uint8)
        assert np.abs(video[t][core].astype(int) - content[core]).max() <= 1
    # No seam where the video wraps around: the last frame is as close to frame 0 as neighbours are to each other.
    steps = [np.abs(video[t + 1][core].astype(float) - video[t][core]).mean() for t in range(NUM_FRAMES - 1)]
    wrap = np.abs(video[0][core].astype(float) - video[-1][core]).mean()
    assert wrap <= 1.5 * np.median(steps)


def test_output_size_rules():
    assert output_size(800, 1280, 1024) == (640, 1024)
    assert output_size(3000, 2000, 2048) == (2048, 1364)
    assert output_size(321, 479) == (320, 478)  # never upscaled, rounded down to even
    assert output_size(1001, 1001, 999) == (998, 998)
    for h, w, m in [(4000, 3000, 1024), (777, 1333, 640), (50, 3000, 2048)]:
        out_h, out_w = output_size(h, w, m)
        assert max(out_h, out_w) <= m and out_h % 2 == 0 and out_w % 2 == 0
    with pytest.raises(ValueError, match="max_side"):
        output_size(800, 1280, MAX_SIDE_LIMIT + 1)
    with pytest.raises(ValueError, match="max_side"):
        output_size(800, 1280, 0)


def test_render_at_reduced_size(photo):
    fields = np.zeros((3, 2, 10, 12), np.float32)
    fields[:, 0] = np.arange(3)[:, None, None] * 4
    video = render_video(photo, fields, [square(320, 384, 100, 100, 80)], max_side=200)
    assert video.shape == (3, *output_size(320, 384, 200), 3) == (3, 166, 200, 3)


def test_bad_inputs_say_what_to_do(photo):
    height, width = photo.shape[:2]
    mask = square(height, width, 100, 100, 80)
    good = np.zeros((4, 2, 10, 12), np.float32)
    with pytest.raises(ValueError, match=r"\(F, 2, h, w\)"):
        render_video(photo, good[:, 0], [mask])
    with pytest.raises(ValueError, match=r"\(F, 2, h, w\)"):
        render_video(photo, np.zeros((4, 3, 10, 12), np.float32), [mask])
    bad = good.copy()
    bad[2, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        render_video(photo, bad, [mask])
    with pytest.raises(ValueError, match="aspect"):
        render_video(photo, np.zeros((4, 2, 16, 6), np.float32), [mask])
    with pytest.raises(ValueError, match="photo's own size"):
        render_video(photo, good, [mask[:-2]])
    with pytest.raises(ValueError, match="empty"):
        render_video(photo, good, [mask, np.zeros_like(mask)])
    with pytest.raises(ValueError, match="cover"):
        render_video(photo, good, [np.ones_like(mask)])
    with pytest.raises(ValueError, match="max_side"):
        render_video(photo, good, [mask], max_side=4096)
    with pytest.raises(ValueError, match="mode"):
        render_video(photo, good, [mask], region_modes=["fluid"])
    with pytest.raises(ValueError, match="one mode per region"):
        render_video(photo, good, [mask], region_modes=["layer", "stream"])
    with pytest.raises(ValueError, match="uint8"):
        render_video(photo.astype(np.float32) / 255, good, [mask])


def test_custom_inpainting(photo):
    height, width = photo.shape[:2]
    mask = square(height, width, 100, 100, 80)
    fields = np.zeros((4, 2, 10, 12), np.float32)
    fields[:, 1] = np.arange(4)[:, None, None] * 20  # far down: the old place is uncovered
    plate = np.full_like(photo, 7)
    seen = []

    def fill(image, hole):
        seen.append(hole.sum())
        return plate

    video = render_video(photo, fields, [mask], inpaint=fill)
    assert seen and seen[0] >= mask.sum()
    assert (video[-1][eroded(mask, 2)] == 7).all()
    assert np.array_equal(video, render_video(photo, fields, [mask], inpaint=plate))
