"""The renderer of the motion-field model: a photo, its clicked regions and their displacement fields → video frames.

    from fyc.render import render_video
    frames = render_video(photo, fields, region_masks)            # (F, H', W', 3) uint8
    export_mp4(frames, "out.mp4", fps=8)

The motion-field model (`fyc.motion_field`) generates the motion; the photo supplies every pixel. `fields` are
forward displacements on a coarse grid over frame 0 (`fields[t, :, i, j]` = where the frame-0 point at the centre
of cell (i, j) is at frame t, relative to where it was, in pixels of a `REFERENCE_WIDTH`-px-wide image). A frame is
rendered as:

1. **Background.** The photo at the output resolution. Where a region's object has moved off its frame-0 pixels
   (the regions' union, slightly dilated, weighted by how far its points have moved), the inpainted background
   shows instead; every other pixel is the photo's own, bit for bit, and frame 0 is the photo.
2. **Layers**, earlier regions first so that the later region wins an overlap. A "layer" region is the photo
   inside its mask, with a soft anti-aliased edge, carried along its own region's field (`region_fields`: the
   field on the cells the region fills, continued outwards, so the object moves as a whole). The field is forward
   (frame-0 grid) and the warp needs a backward map (for each output pixel, where in the photo it comes from), so the field is
   inverted per frame: the region's (slightly dilated) pixels are splatted to their targets on a coarse working
   grid (bilinear weights, `np.bincount`), which gives the branch of the inverse and the layer's coverage even
   under rotations of 180 degrees, large zooms, and objects that leave their region or the frame; a few Newton
   steps on `x + d(x) = y` then make the map exact (splatting alone is biased at the coverage edge, which would
   move the object's outline), and it is upsampled bilinearly to the output (exact for affine motion, which is
   what a bilinear field is, cell by cell). The photo and the soft mask are sampled with that map
   (`cv2.remap`); under strong minification from a blurred pyramid level, so shrinking textures do not alias.
3. **Streams**: a "stream" region (water, clouds, smoke) stays put and its texture flows through it. It cannot be
   drawn by warping frame 0 (at the upstream edge there is nothing to pull in), so it is rendered as an
   Eulerian cinemagraph loop (`stream_content`), which repeats seamlessly after `F` frames.

Why not invert the field by fixed-point iteration (`x <- y - d(x)`) alone: it diverges where the motion's
Jacobian has norm >= 1 (a rotation past 60 degrees, a zoom beyond x2) and, started at `y`, it converges to the
background's own solution `x = y` wherever an object has moved farther than the field's support; both are
measured in docs/results/render.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from .flow import REFERENCE_WIDTH

DEFAULT_MAX_SIDE = 1024
MAX_SIDE_LIMIT = 2048
MIN_MAX_SIDE = 32
WORKING_SIDE = 256  # long side (px) of the grid on which the backward maps are solved
MAX_GRID_ASPECT_MISMATCH = 1.5  # the field grid's aspect may differ from the photo's by at most this factor
MAX_REGION_SHARE = 0.9  # of the photo's pixels that the regions may cover: the rest must stay still
MODES = ("layer", "stream")
INPAINT_SIDE = 128  # long side (px) of the smooth part of the inpainted background; finer detail is copied
_NEWTON_STEPS = 4
_MAX_SUPERSAMPLING = 4  # samples per working cell and axis
_GAP_CELLS = 3  # gaps in the splat's coverage closed by filling (cells)


# -- sizes and validation ----------------------------------------------------------------------------------------


def _check_max_side(max_side) -> int:
    if not isinstance(max_side, (int, np.integer)) or isinstance(max_side, bool):
        raise ValueError(f"max_side must be an integer number of pixels, got {max_side!r}.")
    if not MIN_MAX_SIDE <= max_side <= MAX_SIDE_LIMIT:
        raise ValueError(
            f"max_side must be between {MIN_MAX_SIDE} and {MAX_SIDE_LIMIT} px, got {max_side}: pass e.g. "
            f"max_side={DEFAULT_MAX_SIDE} (larger videos take too long to render and to play in a browser)."
        )
    return int(max_side)


def output_size(height: int, width: int, max_side: int = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """The size of the rendered video for a photo of `height` x `width` px.

    The photo keeps its size unless its long side exceeds `max_side`, in which case it is scaled down (aspect
    kept); both sides are then rounded down to even numbers, because H.264 in yuv420p (what browsers play) needs
    them. Videos are never upscaled: that would add pixels, not detail.

    Args:
        height, width: the photo's size in pixels.
        max_side: the largest long side of the video, `MIN_MAX_SIDE`..`MAX_SIDE_LIMIT`.

    Returns:
        `(H', W')`, both even, `max(H', W') <= max_side`.
    """
    max_side = _check_max_side(max_side)
    if height < 2 or width < 2:
        raise ValueError(f"The photo must be at least 2x2 px, got {width}x{height}.")
    scale = min(1.0, max_side / max(height, width))
    out_h = min(round(height * scale), max_side) if scale < 1 else int(height)
    out_w = min(round(width * scale), max_side) if scale < 1 else int(width)
    return max(2, out_h - out_h % 2), max(2, out_w - out_w % 2)


def _as_photo(photo) -> np.ndarray:
    if hasattr(photo, "convert"):  # PIL
        photo = photo.convert("RGB")
    photo = np.asarray(photo)
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=-1)
    if photo.ndim != 3 or photo.shape[-1] not in (3, 4):
        raise ValueError(
            f"The photo must be an RGB image (H, W, 3) or a PIL image, got an array of shape {photo.shape}."
        )
    if photo.dtype != np.uint8:
        raise ValueError(
            f"The photo must be uint8 RGB, got dtype {photo.dtype}: convert it with `(image * 255).round().astype(np.uint8)`."
        )
    return np.ascontiguousarray(photo[..., :3])


def _resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The photo (or a float mask) at the output size: cropped by at most one row / column when only evenness
    changes it (so its pixels stay the photo's own), area-averaged when it shrinks."""
    h, w = image.shape[:2]
    if h - height <= 1 and w - width <= 1:
        return np.ascontiguousarray(image[:height, :width])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _check_fields(fields, height: int, width: int) -> np.ndarray:
    fields = np.asarray(fields)
    if fields.ndim != 4 or fields.shape[1] != 2 or min(fields.shape) < 1:
        raise ValueError(
            f"fields must be an array (F, 2, h, w) of per-frame (dx, dy) displacements on an h x w grid, got shape "
            f"{fields.shape}; a single frame's field needs a leading frame axis (fields[None])."
        )
    if not np.issubdtype(fields.dtype, np.number):
        raise ValueError(f"fields must be numeric, got dtype {fields.dtype}.")
    fields = fields.astype(np.float32)
    if not np.isfinite(fields).all():
        raise ValueError(
            "fields contain NaN or infinite values: check the model's output (e.g. its dtype or guidance)."
        )
    h, w = fields.shape[2:]
    mismatch = (w / h) / (width / height)
    if not 1 / MAX_GRID_ASPECT_MISMATCH <= mismatch <= MAX_GRID_ASPECT_MISMATCH:
        raise ValueError(
            f"The field grid ({w}x{h} cells, aspect {w / h:.2f}) does not match the photo ({width}x{height} px, aspect "
            f"{width / height:.2f}): generate the fields for this photo's aspect (`fyc.motion_field.grid_size`)."
        )
    fields = fields.copy()
    fields[0] = 0.0  # frame 0 is the photo, whatever the model wrote there
    return fields


def _check_masks(region_masks, height: int, width: int) -> list[np.ndarray]:
    if isinstance(region_masks, np.ndarray) and region_masks.ndim == 2:
        region_masks = [region_masks]
    masks = []
    for index, mask in enumerate(region_masks):
        mask = np.asarray(mask)
        if mask.shape != (height, width):
            raise ValueError(
                f"Region mask {index} has shape {mask.shape}, but the photo is {height}x{width}: pass masks at the "
                f"photo's own size (H, W)."
            )
        mask = mask if mask.dtype == bool else mask > 0.5
        if not mask.any():
            raise ValueError(f"Region mask {index} is empty: click inside the object, or drop the region.")
        masks.append(mask)
    if not masks:
        raise ValueError("No region masks: pass at least one (H, W) bool mask of a region to animate.")
    union = np.logical_or.reduce(masks)
    if union.mean() > MAX_REGION_SHARE:
        raise ValueError(
            f"The regions cover {100 * union.mean():.0f}% of the photo, so nothing is left to keep still or to fill "
            f"the uncovered background from: select the objects that should move (at most {100 * MAX_REGION_SHARE:.0f}% "
            f"of the photo)."
        )
    return masks


def _check_modes(region_modes, count: int) -> list[str]:
    if region_modes is None:
        return ["layer"] * count
    if isinstance(region_modes, str):
        region_modes = [region_modes] * count
    region_modes = list(region_modes)
    if len(region_modes) != count:
        raise ValueError(f"region_modes has {len(region_modes)} entries for {count} regions: give one mode per region.")
    for index, mode in enumerate(region_modes):
        if mode not in MODES:
            raise ValueError(f"Region {index}'s mode {mode!r} is unknown: choose from {', '.join(MODES)}.")
    return region_modes


# -- fields ------------------------------------------------------------------------------------------------------


def sample_field(field: np.ndarray, xs: np.ndarray, ys: np.ndarray, height: int, width: int, *, gradient: bool = False):
    """A field at arbitrary points of the output image, with the grid's own interpolation.

    Bilinear between cell centres and constant beyond the outer centres (the convention of `cv2.resize` and of
    `F.interpolate(..., align_corners=False)`), evaluated in float arithmetic: `cv2.remap` quantises coordinates
    to 1/32 of a cell, which on a 16-cell grid is 2 px of position and, under a x3 zoom, 4 px of displacement.

    Args:
        field: float (2, h, w) displacements already in pixels of the output image.
        xs, ys: float arrays of the same shape, pixel coordinates (pixel i's centre at i) in the output image.
        height, width: the output image's size.
        gradient: also return the spatial derivatives.

    Returns:
        `(dx, dy)`, or with `gradient=True` `(dx, dy, ddx_dx, ddx_dy, ddy_dx, ddy_dy)`, arrays shaped like `xs`.
    """
    h, w = field.shape[1:]
    sx, sy = w / width, h / height
    cx = (xs + 0.5) * sx - 0.5
    cy = (ys + 0.5) * sy - 0.5
    inside_x = (cx > 0) & (cx < w - 1)
    inside_y = (cy > 0) & (cy < h - 1)
    cx = np.clip(cx, 0, w - 1)
    cy = np.clip(cy, 0, h - 1)
    j0 = np.minimum(cx.astype(np.int32), max(w - 2, 0))
    i0 = np.minimum(cy.astype(np.int32), max(h - 2, 0))
    fx = (cx - j0).astype(np.float32)
    fy = (cy - i0).astype(np.float32)
    j1 = np.minimum(j0 + 1, w - 1)
    i1 = np.minimum(i0 + 1, h - 1)
    flat = field.reshape(2, -1)
    f00, f01, f10, f11 = flat[:, i0 * w + j0], flat[:, i0 * w + j1], flat[:, i1 * w + j0], flat[:, i1 * w + j1]
    top = f00 + fx * (f01 - f00)
    bottom = f10 + fx * (f11 - f10)
    value = top + fy * (bottom - top)
    if not gradient:
        return value[0], value[1]
    ddx = ((1 - fy) * (f01 - f00) + fy * (f11 - f10)) * (sx * inside_x)
    ddy = (bottom - top) * (sy * inside_y)
    return value[0], value[1], ddx[0], ddy[0], ddx[1], ddy[1]


def upsample_field(field: np.ndarray, height: int, width: int) -> np.ndarray:
    """One frame's field (2, h, w) in reference px → (2, height, width) displacements in px of the output image
    (`cv2.resize` bilinear, then scaled by `width / REFERENCE_WIDTH`)."""
    scale = width / REFERENCE_WIDTH
    return np.stack(
        [
            cv2.resize(np.ascontiguousarray(c, np.float32), (width, height), interpolation=cv2.INTER_LINEAR) * scale
            for c in field
        ]
    )


def region_fields(fields: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """One region's own motion: `fields` (F, 2, h, w) kept on the grid cells the region fills (at least half of the
    cell, or its best-covered cells when it fills none by half) and continued from them to every other cell: the
    affine motion that best fits those cells (exact for a shift, a rotation or a zoom), plus their departure from
    it carried outwards, each new cell the mean of its filled neighbours.

    The bilinear field between an object's cells and the cells around it would blend the object's motion with the
    background's (zero, or the model's small leaks): a small object would stretch and squash instead of moving,
    with its outline left behind. With its own field continued beyond its outline, it moves as a whole.
    """
    num_frames, _, h, w = fields.shape
    coverage = cv2.resize(alpha.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    known = coverage >= min(0.5, 0.5 * float(coverage.max()))
    if not known.any() or known.all():
        return fields
    values = fields.reshape(num_frames * 2, h, w).transpose(1, 2, 0).astype(np.float32)  # (h, w, 2F)
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rows[known].mean(), cols[known].mean()
    design = np.stack([cols - cx, rows - cy, np.ones_like(cols)], -1)  # (h, w, 3), centred on the region
    x = design[known]
    # A little ridge on the slopes: a region of one or two cells (or one row of them) has no determined gradient,
    # and moves rigidly rather than along an invented one.
    ridge = np.diag([1e-3 * len(x), 1e-3 * len(x), 0.0]).astype(np.float32)
    coefficients = np.linalg.solve(x.T @ x + ridge, x.T @ values[known])  # (3, 2F)
    affine = design @ coefficients
    residual = np.where(known[..., None], values - affine, 0.0).astype(np.float32)
    weight = known.astype(np.float32)
    while weight.min() == 0:
        count = cv2.blur(weight, (3, 3), borderType=cv2.BORDER_CONSTANT)
        new = (count > 0) & (weight == 0)
        total = cv2.blur(residual, (3, 3), borderType=cv2.BORDER_CONSTANT).reshape(h, w, -1)
        residual[new] = total[new] / count[new][:, None]
        weight[new] = 1.0
    out = np.where(known[..., None], values, affine + residual)
    return np.ascontiguousarray(out.transpose(2, 0, 1).reshape(fields.shape), np.float32)


def stream_velocity(fields: np.ndarray) -> np.ndarray:
    """The constant per-frame velocity (2, h, w) that best explains `fields` (F, 2, h, w): the least-squares fit of
    `d_t = t * v` over all frames. Unlike `fields[1]`, it uses every frame, so the model's frame-to-frame noise
    averages out; for a truly constant velocity both are the same."""
    t = np.arange(len(fields), dtype=np.float32)
    denominator = float((t**2).sum())
    if denominator == 0:
        return np.zeros(fields.shape[1:], np.float32)
    return (np.tensordot(t, fields, axes=(0, 0)) / denominator).astype(np.float32)


# -- soft masks --------------------------------------------------------------------------------------------------


def soft_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A region's bool mask at the photo's size → float32 alpha (height, width) with an anti-aliased edge about one
    output pixel wide: area-averaged when the photo is scaled down (each pixel's share of the region), then a
    Gaussian of sigma 0.5 px, so that a hard mask at the output size also gets a soft edge."""
    alpha = _resize_to(mask.astype(np.float32), height, width)
    return cv2.GaussianBlur(alpha, (0, 0), 0.5)


def _bbox(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(0))
    return (
        slice(max(0, rows[0] - margin), min(mask.shape[0], rows[-1] + 1 + margin)),
        slice(max(0, cols[0] - margin), min(mask.shape[1], cols[-1] + 1 + margin)),
    )


# -- background --------------------------------------------------------------------------------------------------


def _push_pull(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown pixels of a float (h, w, C) image smoothly from the known ones: average down a pyramid of
    the known pixels (weighted), then interpolate back up where a level knows too little. Unlike `cv2.inpaint`,
    which propagates the boundary's colours along straight lines and leaves a sunburst in a large hole, this
    gives the smooth membrane between them."""
    values = image * known[..., None]
    weight = known.astype(np.float32)
    pyramid = []
    while min(weight.shape) > 2:
        pyramid.append((values, weight))
        values, weight = cv2.pyrDown(values), cv2.pyrDown(weight)
        values = values.reshape(*weight.shape, -1)
    filled = values / np.maximum(weight, 1e-6)[..., None]
    if (weight <= 1e-6).any():  # nothing known in a coarsest cell: the known pixels' mean
        filled[weight <= 1e-6] = image[known].mean(0)
    for values, weight in reversed(pyramid):
        up = cv2.pyrUp(filled, dstsize=(weight.shape[1], weight.shape[0])).reshape(*weight.shape, -1)
        confidence = np.clip(weight * 4.0, 0.0, 1.0)[..., None]  # a quarter known is enough to trust the level
        filled = values / np.maximum(weight, 1e-6)[..., None] * confidence + up * (1.0 - confidence)
    return filled


def inpaint_background(photo: np.ndarray, hole: np.ndarray, method: str = "smooth") -> np.ndarray:
    """Fill `hole` of `photo` with a plausible background, fast.

    The smooth part is computed at a long side of `INPAINT_SIDE` px (at full resolution `cv2.inpaint` costs
    seconds): by default as the smooth membrane between the hole's surroundings (`_push_pull`), or with
    `cv2.inpaint`. The detail that resolution lacks (the photo minus its own down-and-up-sampled copy) is copied
    from nearby: each pixel of the hole takes it from the nearest of a set of shifts (in 8 directions, by a quarter
    to 1.25 times the size of its part of the hole) that lands on a known pixel, so the fill has the surroundings'
    grain instead of a smooth smear. Outside the hole the result is the photo.

    Args:
        photo: uint8 (H, W, 3).
        hole: bool (H, W), the pixels to fill.
        method: "smooth" (the membrane), "telea" (`cv2.INPAINT_TELEA`) or "ns" (`cv2.INPAINT_NS`).

    Returns:
        uint8 (H, W, 3).
    """
    flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
    if method not in ("smooth", *flags):
        raise ValueError(
            f"Unknown inpainting method {method!r}: choose from smooth, {', '.join(flags)}, or pass a callable."
        )
    height, width = hole.shape
    if not hole.any():
        return photo.copy()
    factor = max(1, int(np.ceil(max(height, width) / INPAINT_SIDE)))
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = cv2.resize(photo, small_size, interpolation=cv2.INTER_AREA)
    small_hole = (cv2.resize(hole.astype(np.float32), small_size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))  # no mixed edge pixel seeds the fill
    if method == "smooth":
        filled = _push_pull(small.astype(np.float32), small_hole == 0)
    else:
        filled = cv2.inpaint(small, small_hole, 3, flags[method]).astype(np.float32)
    # int16 and the hole's box only where full-size float arrays are not needed: at 2048 px each costs 31 MB.
    detail = photo.astype(np.int16) - cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    box = _bbox(hole)
    smooth_fill = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)[box]

    known = cv2.dilate(hole.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0  # not the hole's mixed edge either
    count, labels, stats, _ = cv2.connectedComponentsWithStats(small_hole, connectivity=8)
    big = cv2.resize(labels.astype(np.int32), (width, height), interpolation=cv2.INTER_NEAREST)
    detail_fill = np.zeros((int(hole.sum()), 3), np.float32)
    ys, xs = np.nonzero(hole)
    part_of = big[ys, xs]
    for label in range(1, count):
        chosen = np.flatnonzero(part_of == label)
        if len(chosen) == 0:
            continue
        w, h = stats[label, 2] * factor, stats[label, 3] * factor
        shifts = {
            (round(float(np.cos(a) * w * s)), round(float(np.sin(a) * h * s)))
            for s in (0.25, 0.5, 0.75, 1.0, 1.25)
            for a in np.arange(8) * np.pi / 4
        }
        for ox, oy in sorted(shifts, key=lambda o: np.hypot(*o)):
            if len(chosen) == 0:
                break
            sx, sy = xs[chosen] + ox, ys[chosen] + oy
            ok = (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)
            ok[ok] = known[sy[ok], sx[ok]]
            detail_fill[chosen[ok]] = detail[sy[ok], sx[ok]]
            chosen = chosen[~ok]
    out = photo.copy()
    out[ys, xs] = np.clip(smooth_fill[ys - box[0].start, xs - box[1].start] + detail_fill + 0.5, 0, 255).astype(
        np.uint8
    )
    return out


# -- layers ------------------------------------------------------------------------------------------------------


class _Grid:
    """The working grid: output pixels in blocks of `step` x `step`, one row / column of cells beyond the image on
    every side (so the map is extrapolated correctly at the image's border and objects can leave the frame)."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.step = max(1, max(height, width) // WORKING_SIDE)
        self.rows = -(-height // self.step) + 2
        self.cols = -(-width // self.step) + 2
        # Output-pixel coordinates of the cell centres (padded index p is working cell p - 1).
        self.xs = (np.arange(self.cols, dtype=np.float32) - 1 + 0.5) * self.step - 0.5
        self.ys = (np.arange(self.rows, dtype=np.float32) - 1 + 0.5) * self.step - 0.5

    def downsample(self, image: np.ndarray) -> np.ndarray:
        """An output-size float image → its area average on the padded grid (zero outside the image)."""
        s = self.step
        padded = np.zeros(((self.rows - 2) * s, (self.cols - 2) * s), np.float32)
        padded[: image.shape[0], : image.shape[1]] = image
        small = padded.reshape(self.rows - 2, s, self.cols - 2, s).mean((1, 3))
        return np.pad(small, 1)

    def upsample(self, image: np.ndarray, box: tuple[slice, slice]) -> tuple[np.ndarray, tuple[slice, slice]]:
        """Cells `box` (padded indices) of a grid image → the output pixels they cover, bilinearly (pixel-centre
        aligned: exact for an affine image); returns the upsampled part and the output slices it lands on."""
        s = self.step
        part = image[box]
        up = cv2.resize(part, (part.shape[1] * s, part.shape[0] * s), interpolation=cv2.INTER_LINEAR)
        y0, x0 = (box[0].start - 1) * s, (box[1].start - 1) * s
        ys = slice(max(0, y0), min(self.height, y0 + up.shape[0]))
        xs = slice(max(0, x0), min(self.width, x0 + up.shape[1]))
        return up[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0], (ys, xs)


class _Layer:
    """What a "layer" region needs every frame: its soft mask, the photo's pyramid, its source cells."""

    def __init__(self, photo: np.ndarray, alpha: np.ndarray, grid: _Grid, others: np.ndarray):
        self.alpha = alpha
        self.grid = grid
        self._photo_levels = [photo]
        self._alpha_levels = [alpha]
        coverage = grid.downsample(alpha)
        inside = coverage > 0.02
        # Splat the region dilated by two cells, so the map is known a little beyond the object's outline, but not
        # the cells another region owns: they move with that region and would blur this one's inverse.
        source = cv2.dilate(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        source &= ~(others > 0.5) | inside
        rows, cols = np.nonzero(source)
        self.source_x, self.source_y = grid.xs[cols], grid.ys[rows]
        self.inside = inside[rows, cols]

    def level(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Pyramid level `index` (each half the size of the last) of the photo and of the alpha."""
        while len(self._photo_levels) <= index:
            self._photo_levels.append(cv2.pyrDown(self._photo_levels[-1]))
            self._alpha_levels.append(cv2.pyrDown(self._alpha_levels[-1]))
        return self._photo_levels[index], self._alpha_levels[index]


def _singular_values(a, b, c, d):
    """Singular values of 2x2 matrices [[a, b], [c, d]] (arrays), largest first."""
    s1 = (a + d) ** 2 + (c - b) ** 2
    s2 = (a - d) ** 2 + (c + b) ** 2
    big = 0.5 * (np.sqrt(s1) + np.sqrt(s2))
    small = 0.5 * np.abs(np.sqrt(s1) - np.sqrt(s2))
    return big, small


def backward_map(field: np.ndarray, layer: _Layer):
    """Invert one frame's forward field for one layer on the working grid.

    Returns `(map_x, map_y, covered, scale)`: padded-grid images of the frame-0 position (output px) each cell's
    centre comes from, a float 0/1 image of where that is known, and the layer's median linear scale at this frame
    (its motion's smaller singular value: below 1 it shrinks), or None when nothing of the layer is in view.
    """
    grid = layer.grid
    # The Jacobian at the source cells sets how densely they must be sampled for the splat to leave no holes.
    dx, dy, a, b, c, d = sample_field(field, layer.source_x, layer.source_y, grid.height, grid.width, gradient=True)
    big, small = _singular_values(1 + a, b, c, 1 + d)
    inside_big = big[layer.inside] if layer.inside.any() else big
    stretch = float(np.percentile(inside_big, 99)) if len(inside_big) else 1.0
    scale = float(np.median(small[layer.inside])) if layer.inside.any() else 1.0
    # Targets up to ~3 cells apart still leave gaps the fill below closes (Newton makes the filled cells exact), so
    # one sample per cell suffices up to a x3 stretch; more are drawn only beyond it, and never more than 4x4.
    k = int(np.clip(np.ceil(stretch / _GAP_CELLS - 1e-3), 1, _MAX_SUPERSAMPLING))
    orientation = (1 + a) * (1 + d) - b * c > 0  # False where the motion mirrors the layer: a fold's back sheet
    if k == 1:
        sx, sy = layer.source_x, layer.source_y
        tx, ty = sx + dx, sy + dy
    else:
        orientation = np.repeat(orientation, k * k)
        offsets = ((np.arange(k, dtype=np.float32) + 0.5) / k - 0.5) * grid.step
        ox, oy = np.meshgrid(offsets, offsets)
        sx = (layer.source_x[:, None] + ox.ravel()).ravel()
        sy = (layer.source_y[:, None] + oy.ravel()).ravel()
        dx, dy = sample_field(field, sx, sy, grid.height, grid.width)
        tx, ty = sx + dx, sy + dy

    # Bilinear splat of the targets onto the padded grid, carrying their source positions.
    qx = (tx + 0.5) / grid.step - 0.5 + 1
    qy = (ty + 0.5) / grid.step - 0.5 + 1
    x0 = np.floor(qx).astype(np.int64)
    y0 = np.floor(qy).astype(np.int64)
    fx = (qx - x0).astype(np.float32)
    fy = (qy - y0).astype(np.float32)
    size = grid.rows * grid.cols
    weight = np.zeros(size, np.float64)
    acc_x = np.zeros(size, np.float64)
    acc_y = np.zeros(size, np.float64)
    splats = []
    for ix, iy, w in (
        (x0, y0, (1 - fx) * (1 - fy)),
        (x0 + 1, y0, fx * (1 - fy)),
        (x0, y0 + 1, (1 - fx) * fy),
        (x0 + 1, y0 + 1, fx * fy),
    ):
        ok = (ix >= 0) & (ix < grid.cols) & (iy >= 0) & (iy < grid.rows) & (w > 1e-4)
        index = iy[ok] * grid.cols + ix[ok]
        wk = w[ok]
        weight += np.bincount(index, wk, size)
        acc_x += np.bincount(index, wk * sx[ok], size)
        acc_y += np.bincount(index, wk * sy[ok], size)
        splats.append((index, wk, ok))
    covered = (weight > 0).reshape(grid.rows, grid.cols)
    if not covered.any():
        return None
    safe = np.maximum(weight, 1e-12)
    map_x = (acc_x / safe).astype(np.float32).reshape(grid.rows, grid.cols)
    map_y = (acc_y / safe).astype(np.float32).reshape(grid.rows, grid.cols)

    # Extend the estimate into the gaps a stretch leaves between targets and a little beyond the covered cells, so
    # that the upsampled map is meaningful up to the coverage edge; Newton then makes every estimate exact.
    known = _grow(map_x, map_y, covered, _GAP_CELLS)
    rows, cols = np.nonzero(known)
    target_x, target_y = grid.xs[cols], grid.ys[rows]
    start_x, start_y = map_x[rows, cols], map_y[rows, cols]
    x, y, bad = _newton(field, start_x, start_y, target_x, target_y, grid)
    # Where the motion folds the layer over itself, several sources land on one cell and their mean lies between
    # them, where Newton fails: restart from one of them, the nearest target of the fold's front sheets.
    folded = np.flatnonzero(bad & covered[rows, cols])
    if len(folded):
        cells = rows[folded] * grid.cols + cols[folded]
        index = np.concatenate([i for i, _, _ in splats])
        weight_all = np.concatenate([w for _, w, _ in splats])
        front = np.concatenate([orientation[ok] for _, _, ok in splats])
        source = np.concatenate([np.flatnonzero(ok) for _, _, ok in splats])
        mine = np.isin(index, cells)
        index, weight_all, front, source = index[mine], weight_all[mine], front[mine], source[mine]
        order = np.lexsort((weight_all, front, index))
        last = order[np.r_[index[order][1:] != index[order][:-1], True]]  # per cell, its best contribution
        where = np.searchsorted(cells, index[last]) if np.all(np.diff(cells) > 0) else None
        if where is not None:
            at = folded[where]
            fx2, fy2, failed = _newton(field, sx[source[last]], sy[source[last]], target_x[at], target_y[at], grid)
            fixed = at[~failed]
            x[fixed], y[fixed] = fx2[~failed], fy2[~failed]
            bad[fixed] = False
    # Where Newton still did not converge a covered cell keeps the splat's estimate; a filled one is dropped.
    x[bad], y[bad] = start_x[bad], start_y[bad]
    map_x[rows, cols], map_y[rows, cols] = x, y
    valid = covered.copy()
    valid[rows[~bad], cols[~bad]] = True
    # The cells just beyond the valid ones get their neighbours' mean (not the splat's leftovers), so that upsampling
    # near the band's edge mixes in nearby positions, which lie outside the region, rather than arbitrary ones.
    map_x[~valid], map_y[~valid] = 0.0, 0.0
    _grow(map_x, map_y, valid, 2)
    return map_x, map_y, valid.astype(np.float32), scale


def _newton(field, x, y, target_x, target_y, grid):
    """Solve `x + d(x) = target` by Newton's method from `(x, y)`; returns the solution and where it failed."""
    x, y = x.astype(np.float32), y.astype(np.float32)
    for _ in range(_NEWTON_STEPS):
        dx, dy, a, b, c, d = sample_field(field, x, y, grid.height, grid.width, gradient=True)
        rx, ry = x + dx - target_x, y + dy - target_y
        a, d = a + 1, d + 1
        det = a * d - b * c
        ok = np.abs(det) > 1e-3
        det = np.where(ok, det, 1.0)
        x = x - np.where(ok, (d * rx - b * ry) / det, 0)
        y = y - np.where(ok, (a * ry - c * rx) / det, 0)
    dx, dy = sample_field(field, x, y, grid.height, grid.width)
    return x, y, np.hypot(x + dx - target_x, y + dy - target_y) > 0.25 * grid.step


def _grow(map_x: np.ndarray, map_y: np.ndarray, known: np.ndarray, iterations: int) -> np.ndarray:
    """Extend a map into the cells next to its `known` ones, `iterations` times (in place): each new cell gets the
    mean of its known 3x3 neighbours. Returns the grown bool mask."""
    known = known.astype(np.float32)
    for _ in range(iterations):
        grown = cv2.blur(known, (3, 3), borderType=cv2.BORDER_CONSTANT)
        new = (grown > 0) & (known == 0)
        if not new.any():
            break
        for image in (map_x, map_y):
            mean = cv2.blur(image * known, (3, 3), borderType=cv2.BORDER_CONSTANT) / np.maximum(grown, 1e-6)
            image[new] = mean[new]
        known[new] = 1.0
    return known > 0


def _warp_layer(field: np.ndarray, layer: _Layer):
    """One layer at one frame: `(content, alpha, (rows, cols))`, its warped photo pixels (float32) and alpha on the
    output pixels it may touch, or None when it is out of view."""
    solved = backward_map(field, layer)
    if solved is None:
        return None
    map_x, map_y, covered, scale = solved
    grid = layer.grid
    box = _bbox(cv2.dilate(covered, np.ones((3, 3), np.uint8)) > 0)
    up_x, where = grid.upsample(map_x, box)
    up_y, _ = grid.upsample(map_y, box)
    up_covered, _ = grid.upsample(covered, box)
    # Minification: sample a blurred pyramid level (the mean of the two nearest, as trilinear filtering does), so a
    # shrinking texture or outline does not alias. Magnification: sharpen the alpha ramp it stretches.
    lod = float(np.clip(np.log2(1.0 / max(scale, 1e-3)) - 0.3, 0.0, 5.0))
    levels = [(int(np.floor(lod)), 1.0 - (lod - np.floor(lod))), (int(np.floor(lod)) + 1, lod - np.floor(lod))]
    content = 0.0
    alpha = 0.0
    for index, weight in levels:
        if weight < 1e-3:
            continue
        photo, mask = layer.level(index)
        f = 2.0**index
        mx, my = (up_x + 0.5) / f - 0.5, (up_y + 0.5) / f - 0.5
        content = content + weight * cv2.remap(
            photo, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        ).astype(np.float32)
        alpha = alpha + weight * cv2.remap(
            mask, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
    if scale > 1.0:
        alpha = np.clip((alpha - 0.5) * scale + 0.5, 0.0, 1.0)
    alpha = alpha * np.minimum(up_covered, 1.0)
    return content, alpha, where


def stream_content(
    photo: np.ndarray,
    velocity: np.ndarray,
    alpha: np.ndarray,
    t: float,
    period: float,
    box: tuple[slice, slice] | None = None,
) -> np.ndarray:
    """The texture of a "stream" region at frame `t`: an Eulerian cinemagraph loop.

    The region stays put; the field is read as an Eulerian velocity (the motion at each output pixel, which for a
    region that does not move is its frame-0 grid), so sampling the photo backwards along it is exact for a
    constant velocity `v`. Frame t blends the photo pulled forward and backward in time,

        ((N - t) / N) * I0(x - t v) + (t / N) * I0(x - t v + N v),   N = `period`,

    so frame N is frame 0 again and the video loops seamlessly. Each term is weighted by the region's alpha where
    it samples (renormalised), so the stream does not pull in the pixels beyond its edge (a river's bank) while
    the other term has the river's own texture to offer.

    Args:
        photo: uint8 (H, W, 3) at the output size.
        velocity: float32 (2, H, W) displacement per frame in output px (`upsample_field(stream_velocity(...))`).
        alpha: float32 (H, W), the region's soft mask.
        t, period: the frame and the loop's length in frames.
        box: optional output slices to compute (the region's bounding box); default the whole image.

    Returns:
        float32 (h, w, 3): the stream's colours on `box`.
    """
    box = box or (slice(0, photo.shape[0]), slice(0, photo.shape[1]))
    ys, xs = np.mgrid[box[0], box[1]].astype(np.float32)
    vx, vy = velocity[0][box], velocity[1][box]
    back = (xs - t * vx, ys - t * vy)
    ahead = (xs + (period - t) * vx, ys + (period - t) * vy)
    first = cv2.remap(photo, *back, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
    second = cv2.remap(photo, *ahead, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
    w_first = (
        (period - t) / period * cv2.remap(alpha, *back, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    )
    w_second = t / period * cv2.remap(alpha, *ahead, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    total = w_first + w_second
    # Where neither sample lands in the region (a narrow stream, a fast flow), the plain loop blend.
    plain = total < 1e-3
    w_first = np.where(plain, (period - t) / period, w_first / np.maximum(total, 1e-3))
    w_second = np.where(plain, t / period, w_second / np.maximum(total, 1e-3))
    return first * w_first[..., None] + second * w_second[..., None]


def _composite(frame: np.ndarray, content: np.ndarray, alpha: np.ndarray, where: tuple[slice, slice]) -> None:
    """Alpha-blend `content` over `frame[where]` in place. Where alpha is 0 the pixels stay bit-identical."""
    touched = alpha > 0
    if not touched.any():
        return
    rows, cols = _bbox(touched)
    alpha = alpha[rows, cols, None]
    region = (
        slice(where[0].start + rows.start, where[0].start + rows.stop),
        slice(where[1].start + cols.start, where[1].start + cols.stop),
    )
    below = frame[region].astype(np.float32)
    frame[region] = np.clip(below + alpha * (content[rows, cols] - below) + 0.5, 0, 255).astype(np.uint8)


# -- the renderer ------------------------------------------------------------------------------------------------


def render_video(
    photo,
    fields,
    region_masks,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    region_modes: Sequence[str] | None = None,
    inpaint: str | Callable | np.ndarray = "smooth",
) -> np.ndarray:
    """Render the video of a photo whose regions move along the motion-field model's fields.

    Frame 0 is the photo (bit-identical, at the output resolution). In later frames each region's pixels move
    along its upsampled field; the background a region uncovers is inpainted; every other pixel is the photo's
    own, bit for bit. See the module docstring for how.

    Args:
        photo (`np.ndarray` or `PIL.Image.Image`):
            The photo, uint8 RGB (H, W, 3).
        fields (`np.ndarray`):
            float (F, 2, h, w): `fields[t, :, i, j]` is the forward displacement (dx, dy) at frame t of the frame-0
            point at the centre of grid cell (i, j), in pixels of a `REFERENCE_WIDTH` (256)-px-wide image. The grid
            tiles the photo and its aspect must be within a factor 1.5 of the photo's. `fields[0]` is taken as zero.
            Values outside every region (the model's small leaks) are ignored.
        region_masks (`list[np.ndarray]` or `np.ndarray`):
            One bool (H, W) mask per region at the photo's size, or an (R, H, W) array. Later regions are drawn on
            top of earlier ones. A mask selects an object; the object may move out of it, and out of the frame.
        max_side (`int`, defaults to 1024):
            Largest long side of the video (the photo is scaled down to it, never up); at most 2048.
        region_modes (`list[str]`, *optional*):
            Per region, "layer" (default: the object moves as a whole, warped along the field) or "stream" (the
            region stays put and its texture flows through it along the field, as a seamless loop: water, clouds,
            smoke; its velocity is the least-squares constant-velocity fit of its fields, `stream_velocity`).
        inpaint (`str`, `Callable` or `np.ndarray`, defaults to "smooth"):
            How the background that moving layers uncover is filled: "smooth", "telea" or "ns" (`inpaint_background`), a
            callable `(photo uint8 (H', W', 3), hole bool (H', W')) -> uint8 (H', W', 3)` (e.g. a learned
            inpainter), or a clean background plate, uint8 at the photo's or the output's size.

    Returns:
        `np.ndarray`: uint8 (F, H', W', 3) frames, `(H', W') = output_size(H, W, max_side)`.
    """
    photo = _as_photo(photo)
    height, width = photo.shape[:2]
    out_h, out_w = output_size(height, width, max_side)
    fields = _check_fields(fields, height, width)
    masks = _check_masks(region_masks, height, width)
    modes = _check_modes(region_modes, len(masks))
    num_frames = len(fields)

    image = _resize_to(photo, out_h, out_w)
    fields_px = fields * np.float32(out_w / REFERENCE_WIDTH)
    alphas = [soft_mask(mask, out_h, out_w) for mask in masks]
    frames = np.empty((num_frames, out_h, out_w, 3), np.uint8)
    frames[:] = image
    if num_frames == 1:
        return frames

    grid = _Grid(out_h, out_w)
    cells = [grid.downsample(alpha) for alpha in alphas]
    layers = {}
    for index, mode in enumerate(modes):
        if mode == "layer":
            others = (
                np.max([c for j, c in enumerate(cells) if j != index], axis=0)
                if len(cells) > 1
                else np.zeros_like(cells[0])
            )
            layers[index] = _Layer(image, alphas[index], grid, others)
    streams = {}
    for index, mode in enumerate(modes):
        if mode == "stream":
            velocity = upsample_field(stream_velocity(fields), out_h, out_w)
            streams[index] = (velocity, _bbox(alphas[index] > 0))

    # Each layer moves with its own region's field (`region_fields`), not with the field between it and its
    # surroundings.
    own_fields = {index: region_fields(fields_px, alphas[index]) for index in layers}

    # The background under the layers: their union dilated by ~0.6% of the long side (a mask's fringe moves with
    # its object and must not stay behind as a ghost outline), feathered over a few pixels into the photo.
    hole_weight, background, hole_box = None, None, None
    if layers:
        radius = max(2, round(0.006 * max(out_h, out_w)))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
        holes = {i: cv2.dilate((alphas[i] > 0.02).astype(np.uint8), disc) > 0 for i in layers}
        hole = np.any(list(holes.values()), axis=0)
        # Where on the working grid each layer's hole lies: its object's motion uncovers only its own hole.
        hole_cells = {i: grid.downsample(h.astype(np.float32)) > 0 for i, h in holes.items()}
        hole_box = _bbox(hole, margin=2)
        hole_weight = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), 1.0)[hole_box]
        background = _background(image, hole, photo, inpaint)[hole_box].astype(np.float32)
        grid_x, grid_y = np.meshgrid(grid.xs, grid.ys)
        whole_grid = (slice(0, grid.rows), slice(0, grid.cols))

    for t in range(1, num_frames):
        frame = frames[t]
        moving = [i for i in layers if np.abs(own_fields[i][t]).max() > 1e-3]  # a still layer is the photo itself
        if moving:
            # How far the object at each pixel of its hole has moved: the background shows through in proportion
            # (fully from one output pixel on), so a still object leaves the photo untouched.
            # (On the working grid, upsampled: the ramp is smooth and this is 16x fewer evaluations.)
            moved = np.zeros(grid_x.shape, np.float32)
            for i in moving:
                dx, dy = sample_field(own_fields[i][t], grid_x, grid_y, out_h, out_w)
                moved = np.maximum(moved, np.clip(np.hypot(dx, dy), 0.0, 1.0) * hole_cells[i])
            moved, _ = grid.upsample(moved, whole_grid)
            uncovered = hole_weight * moved[hole_box]
            _composite(frame, background, uncovered, hole_box)
        for index in range(len(masks)):
            if index in layers:
                if index not in moving:
                    continue
                warped = _warp_layer(own_fields[index][t], layers[index])
                if warped is not None:
                    _composite(frame, *warped)
            else:
                velocity, box = streams[index]
                content = stream_content(image, velocity, alphas[index], t, num_frames, box)
                _composite(frame, content, alphas[index][box], box)
    return frames


def _background(image: np.ndarray, hole: np.ndarray, photo: np.ndarray, inpaint) -> np.ndarray:
    """The output-size background plate for `render_video`'s `inpaint` argument."""
    out_h, out_w = hole.shape
    if isinstance(inpaint, str):
        return inpaint_background(image, hole, inpaint)
    if callable(inpaint):
        plate = np.asarray(inpaint(image.copy(), hole.copy()))
        if plate.shape != image.shape:
            raise ValueError(
                f"The inpaint callable returned shape {plate.shape}; it must return the photo's shape {image.shape}."
            )
        return plate.astype(np.uint8)
    plate = np.asarray(inpaint)
    if plate.ndim != 3 or plate.shape[-1] != 3 or plate.dtype != np.uint8:
        raise ValueError("inpaint must be 'smooth', 'telea', 'ns', a callable, or a uint8 (H, W, 3) background plate.")
    if plate.shape[:2] == photo.shape[:2]:
        return _resize_to(plate, out_h, out_w)
    if plate.shape[:2] == (out_h, out_w):
        return plate
    raise ValueError(
        f"The background plate is {plate.shape[:2]}; pass it at the photo's size {photo.shape[:2]} or the output's {(out_h, out_w)}."
    )
