"""Motion fields: what the motion-field model generates, in one representation shared by data, model and renderer.

A clip's motion is a stack of per-frame **forward displacement fields** on a coarse grid over frame 0:
`fields[t, :, i, j] = (dx, dy)` is where the frame-0 point at the centre of grid cell (i, j) is at frame t,
relative to where it was. Frame 0's field is zero. The grid tiles the image (cell (i, j) covers
x in [j·W/w, (j+1)·W/w), y in [i·H/h, (i+1)·H/h)), the convention of `cv2.resize` and bilinear `F.interpolate`.

Why forward and on frame 0's grid: the region mask, the appearance condition and a drag all live on frame 0,
so the model reads and writes one grid; the field of an object that moves away is still where its mask is; and
outside the clicked regions the true field is zero, so leakage is measured on the raw fields. The renderer
(`fyc.render`) inverts it.

Units: pixels at the 256-px-wide reference of `fyc.flow` (`REFERENCE_WIDTH`), so the OFM of a clip is a function
of its fields (`field_ofm`) in the unit the slider, the training labels and `fyc.flow.measure_ofm` use.

What is denoised (`normalise` / `denormalise`): each frame's increment over the frame before (the velocity
`fields[t] - fields[t - 1]`), divided by `VELOCITY_SCALE`; the displacement is their running sum. A steady motion
(a move, a turn, a zoom) is then the same value on every frame. Denoised as displacements, the network had to multiply
a speed read from the prompt by the frame index, which convolutions shared across frames do poorly: at 1 400 steps
its trajectories were squeezed towards their mean (frame 1 overshot, the last frame fell short) and jittered, on the
generator's own clips as on held-out photos. A hint (`hint_channels`) is given in the same unit: a point that should
be displaced by d at frame t is painted as d / t / `VELOCITY_SCALE`, its mean increment over frames 1..t, which for a
steady motion is exactly the value the model should write on every frame (a drag names only the last frame; a
keypoint track names every frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .flow import REFERENCE_WIDTH

# Reference px/frame a unit of the denoised velocity stands for: the vocabulary's fastest steady motion (12 px/frame)
# lands at 2, the rim of a wide wag at about 6.
VELOCITY_SCALE = 6.0
GRID_SHORT_SIDE = 16  # cells along the image's short side
GRID_MULTIPLE = 4  # the UNet halves the grid twice
HINT_CHANNELS = 3  # per frame: mean increment so far dx, dy (normalised) and a 0/1 "given" flag, at the point's cell


def grid_size(
    height: int, width: int, short_side: int = GRID_SHORT_SIDE, multiple: int = GRID_MULTIPLE
) -> tuple[int, int]:
    """(h, w) of the field grid for an image: `short_side` cells along its short side, aspect kept, multiples of
    `multiple`."""
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    scale = short_side / min(height, width)
    return (
        max(multiple, round(height * scale / multiple) * multiple),
        max(multiple, round(width * scale / multiple) * multiple),
    )


def cell_centres(grid: tuple[int, int], height: float, width: float) -> np.ndarray:
    """(h, w, 2) pixel (x, y) coordinates of the grid cells' centres on an image of `height` x `width`, in pixel-index
    coordinates (pixel (0, 0)'s centre is (0, 0), as for `np.nonzero`, `cv2.remap` and the renderer)."""
    h, w = grid
    xs = (np.arange(w) + 0.5) * width / w - 0.5
    ys = (np.arange(h) + 0.5) * height / h - 0.5
    return np.stack(np.meshgrid(xs, ys), axis=-1)


def fields_from_affine(matrices, grid: tuple[int, int], height: int, width: int) -> np.ndarray:
    """Per-frame 2x3 affine maps of frame-0 pixel coordinates (a rigid or affine motion, as the synthetic generators
    use) → (F, 2, h, w) forward fields in reference px: exact at the cell centres."""
    points = cell_centres(grid, height, width)
    out = np.zeros((len(matrices), 2, *grid), np.float32)
    for t, matrix in enumerate(matrices):
        matrix = np.asarray(matrix, dtype=np.float64)
        moved = points @ matrix[:, :2].T + matrix[:, 2]
        out[t] = to_reference(moved - points, width).transpose(2, 0, 1)
    return out


def region_coverage(masks: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Bool (R, H, W) pixel masks → float32 (R, h, w): the share of each cell each region covers."""
    masks = np.asarray(masks, dtype=np.float32)
    if masks.ndim == 2:
        masks = masks[None]
    return np.stack([cv2.resize(m, grid[::-1], interpolation=cv2.INTER_AREA) for m in masks]).astype(np.float32)


def to_reference(displacement_px: np.ndarray | float, width: float):
    """Displacements in pixels of a `width`-px-wide image → reference px."""
    return displacement_px * (REFERENCE_WIDTH / width)


def field_speed(fields: np.ndarray, cells: np.ndarray) -> float:
    """Mean displacement per frame (reference px/frame) of the points at `cells` (bool (h, w)): the mean over
    consecutive frames and cells of |d_t - d_{t-1}|. 0 where no cell is selected."""
    if not cells.any() or len(fields) < 2:
        return 0.0
    steps = np.linalg.norm(np.diff(fields, axis=0), axis=1)  # (F-1, h, w)
    return float(steps[:, cells].mean())


def field_ofm(fields: np.ndarray, cells: np.ndarray | None = None, threshold: float = 0.25) -> float:
    """OFM of a clip from its fields: the mean per-frame speed of the cells that move (speed above `threshold`,
    `fyc.flow`'s noise floor), i.e. `fyc.flow`'s "average speed of what moves" measured on the motion itself; only
    among `cells` (bool (h, w), e.g. the regions' cells) when given."""
    speed = np.linalg.norm(np.diff(fields, axis=0), axis=1).mean(0)
    moving = speed > threshold
    return field_speed(fields, moving if cells is None else moving & cells)


def normalise(fields: np.ndarray) -> np.ndarray:
    """Displacements (..., F, 2, h, w) in reference px → what the model denoises: per-frame increments over the
    previous frame divided by `VELOCITY_SCALE` (frame 0's increment is its own displacement, zero in every clip)."""
    fields = np.asarray(fields, np.float32)
    return np.concatenate([fields[..., :1, :, :, :], np.diff(fields, axis=-4)], axis=-4) / VELOCITY_SCALE


def denormalise(values: np.ndarray) -> np.ndarray:
    """The inverse of `normalise`: the running sum of the increments over frames, in reference px."""
    return np.cumsum(np.asarray(values, np.float32) * VELOCITY_SCALE, axis=-4)


def upsample_fields(fields: np.ndarray, height: int, width: int) -> np.ndarray:
    """(F, 2, h, w) reference-px fields → (F, 2, height, width) in pixels of a `width`-px-wide image."""
    scale = width / REFERENCE_WIDTH
    out = np.empty((len(fields), 2, height, width), np.float32)
    for t, field in enumerate(fields):
        for c in range(2):
            out[t, c] = cv2.resize(field[c].astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) * scale
    return out


# -- fields of real videos ---------------------------------------------------------------------------------------


def fields_from_flow(frames, grid: tuple[int, int], method: str | None = None, **flow_kwargs) -> np.ndarray:
    """(F, H, W, 3) video → (F, 2, h, w) forward fields in reference px, by chaining `fyc.flow` optical flow:
    d_t(x) = d_{t-1}(x) + flow_{t-1→t}(x + d_{t-1}(x)), tracked from every pixel of frame 0 and averaged per cell.
    Real videos train the same model kind as the synthetic clips through this."""
    from .flow import optical_flow

    frames = np.asarray(frames)
    num_frames, height, width = frames.shape[:3]
    flow = optical_flow(frames, method, **flow_kwargs)  # (F-1, H, W, 2) pixels, frame t-1 → t, on frame t-1's grid
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    position = np.stack([xs, ys], axis=-1)
    fields = np.zeros((num_frames, 2, *grid), np.float32)
    for t in range(1, num_frames):
        step = np.stack(
            [
                cv2.remap(
                    np.ascontiguousarray(flow[t - 1][..., c]),
                    position[..., 0],
                    position[..., 1],
                    cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE,
                )
                for c in range(2)
            ],
            axis=-1,
        )
        position = position + step
        displacement = to_reference(position - np.stack([xs, ys], axis=-1), width)
        fields[t] = np.stack(
            [cv2.resize(displacement[..., c], grid[::-1], interpolation=cv2.INTER_AREA) for c in range(2)]
        )
    return fields


# -- trajectory hints --------------------------------------------------------------------------------------------


@dataclass
class Trajectory:
    """A point of frame 0 and where it should be later: `(x, y)` in image px, `targets` {frame: (x, y)}.

    A drag is the simplest trajectory: its end point at the last frame (`Trajectory.drag`)."""

    x: float
    y: float
    targets: dict[int, tuple[float, float]]

    @classmethod
    def drag(cls, x0: float, y0: float, x1: float, y1: float, num_frames: int) -> Trajectory:
        return cls(float(x0), float(y0), {num_frames - 1: (float(x1), float(y1))})


def hint_channels(
    trajectories: list[Trajectory], grid: tuple[int, int], height: int, width: int, num_frames: int
) -> np.ndarray:
    """Trajectories in image px → float32 (HINT_CHANNELS, F, h, w): at each trajectory's frame-0 cell, for each frame
    it names, its normalised target displacement and a 1 in the "given" channel; zero elsewhere (no hint)."""
    h, w = grid
    out = np.zeros((HINT_CHANNELS, num_frames, h, w), np.float32)
    for i, trajectory in enumerate(trajectories):
        if not (0 <= trajectory.x < width and 0 <= trajectory.y < height):
            raise ValueError(
                f"trajectory {i} starts at ({trajectory.x:g}, {trajectory.y:g}), outside the {width}x{height} image"
            )
        col, row = min(int(trajectory.x * w / width), w - 1), min(int(trajectory.y * h / height), h - 1)
        for frame, (x, y) in trajectory.targets.items():
            if not 0 < frame < num_frames:
                raise ValueError(f"trajectory {i} names frame {frame}; frames 1..{num_frames - 1} can be given")
            if not (np.isfinite(x) and np.isfinite(y)):
                raise ValueError(f"trajectory {i}'s target at frame {frame} is not a finite point")
            out[:2, frame, row, col] = hint_value(
                to_reference(np.array([x - trajectory.x, y - trajectory.y]), width), frame
            )
            out[2, frame, row, col] = 1.0
    return out


def hint_value(displacement, frame: int):
    """A hint's painted value: the displacement (reference px) wanted at `frame` as the mean increment over frames
    1..`frame`, normalised as the model's output (`normalise`)."""
    return np.asarray(displacement, np.float32) / (frame * VELOCITY_SCALE)


def sample_hints(fields: np.ndarray, cells: np.ndarray, rng: np.random.Generator, max_points: int = 3) -> np.ndarray:
    """Training hints drawn from true `fields` (F, 2, h, w reference px): 1..`max_points` cells of `cells`, each with
    its true displacement at the last frame only (a drag) or at every frame (a keypoint track)."""
    num_frames, _, h, w = fields.shape
    out = np.zeros((HINT_CHANNELS, num_frames, h, w), np.float32)
    rows, cols = np.nonzero(cells)
    if len(rows) == 0:
        return out
    for index in rng.choice(len(rows), size=min(len(rows), int(rng.integers(1, max_points + 1))), replace=False):
        r, c = rows[index], cols[index]
        frames = [num_frames - 1] if rng.random() < 0.6 else list(range(1, num_frames))
        for t in frames:
            out[:2, t, r, c] = hint_value(fields[t, :, r, c], t)
            out[2, t, r, c] = 1.0
    return out


def as_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def grid_masks(masks: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, R, H, W) pixel masks → (B, R, h, w) cell coverage, as `region_coverage` for tensors."""
    return F.interpolate(masks.float(), size=grid, mode="area")


def grid_region_mask(masks: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, R, H, W) pixel masks → (B, 1, h, w) binary mask channel: the union of the regions, a cell counting when at
    least half of it is inside (`fyc.conditioning.region_mask_latent`, the latent model's rule)."""
    from .conditioning import region_mask_latent

    return region_mask_latent(masks.float().amax(1, keepdim=True), grid)


def build_field_condition(
    mask: torch.Tensor, appearance: torch.Tensor, hints: torch.Tensor, num_frames: int
) -> torch.Tensor:
    """The conditioning channels of the motion-field UNet, after the 2 noisy field channels:
    `[region mask 1 | appearance 3 | hints 3]` → (B, 7, F, h, w). The mask and the appearance (the first frame, area-
    averaged to the grid) are the same on every frame; the hints differ per frame."""
    b, _, h, w = mask.shape
    still = torch.cat([mask.to(appearance.dtype), appearance], 1)[:, :, None].expand(
        b, 1 + appearance.shape[1], num_frames, h, w
    )
    return torch.cat([still, hints.to(appearance.dtype)], 1)
