"""fyc.render.region_fields: a layer moves with its own region's field, not with the field between it and the
background, so a small clicked object moves as a whole instead of stretching."""

import cv2
import numpy as np
import skimage.data

from fyc.motion_field import fields_from_affine, region_coverage
from fyc.render import region_fields, render_video

HEIGHT, WIDTH, GRID = 240, 320, (12, 16)


def photo():
    return cv2.resize(skimage.data.astronaut(), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def disk(centre, radius):
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 < radius**2


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def only_on_region(fields, mask):
    """What a model gives: the motion on the cells the region fills, (almost) nothing elsewhere."""
    cells = region_coverage(mask, GRID)[0] >= 0.5
    return np.where(cells, fields, 0.0).astype(np.float32)


def test_an_affine_motion_on_the_regions_cells_is_continued_exactly():
    mask = disk((170, 110), 60)
    angle, centre = np.deg2rad(20), np.array([170.0, 110.0])
    c, s = np.cos(angle), np.sin(angle)
    matrices = []
    for t in range(4):
        rotation = np.array([[c, -s], [s, c]]) if t else np.eye(2)
        matrices.append(np.hstack([rotation, (centre - rotation @ centre + [6.0 * t, -3.0 * t])[:, None]]))
    full = fields_from_affine(matrices, GRID, HEIGHT, WIDTH)
    continued = region_fields(only_on_region(full, mask), mask.astype(np.float32))
    np.testing.assert_allclose(continued, full, atol=0.05)  # 0.05 ref px: the slopes' tiny ridge


def test_a_region_that_fills_no_cell_moves_rigidly_with_its_best_cells():
    mask = disk((100, 90), 8)  # smaller than a 20-px cell
    fields = np.zeros((3, 2, *GRID), np.float32)
    coverage = region_coverage(mask, GRID)[0]
    fields[:, 0][:, coverage >= 0.5 * coverage.max()] = np.array([0.0, 5.0, 10.0])[:, None]
    continued = region_fields(fields, mask.astype(np.float32))
    expected = np.broadcast_to(np.array([0.0, 5.0, 10.0], np.float32)[:, None, None], continued[:, 0].shape)
    np.testing.assert_allclose(continued[:, 0], expected, atol=1e-4)
    np.testing.assert_allclose(continued[:, 1], 0.0, atol=1e-4)


def test_a_small_object_moves_as_a_whole_and_keeps_its_look():
    image = photo()
    mask = disk((150.0, 120.0), 22)  # a few cells across: most of its pixels are near its outline
    shift_px = 24.0
    shifted = np.float32([[1, 0, shift_px], [0, 1, 0]])
    matrices = [np.float32([[1, 0, shift_px * t / 3], [0, 1, 0]]) for t in range(4)]
    fields = only_on_region(fields_from_affine(matrices, GRID, HEIGHT, WIDTH), mask)
    video = render_video(image, fields, [mask], max_side=WIDTH)
    expected = cv2.warpAffine(image, shifted, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    inner = cv2.erode(cv2.warpAffine(mask.astype(np.uint8), shifted, (WIDTH, HEIGHT)), np.ones((5, 5), np.uint8)) > 0
    assert psnr(video[-1][inner], expected[inner]) >= 35
    assert np.array_equal(video[0], image)


def test_a_still_second_region_stays_when_the_first_moves():
    image = photo()
    moving, still = disk((90.0, 120.0), 30), disk((240.0, 120.0), 30)
    matrices = [np.float32([[1, 0, 8.0 * t], [0, 1, 0]]) for t in range(4)]
    fields = only_on_region(fields_from_affine(matrices, GRID, HEIGHT, WIDTH), moving)
    video = render_video(image, fields, [moving, still], max_side=WIDTH)
    around_still = cv2.dilate(still.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert np.array_equal(video[-1][around_still], image[around_still])
