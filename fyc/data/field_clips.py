"""Training and evaluation clips of the motion-field model: a photo, its moving regions, their prompts and the
exact forward displacement fields of their motions (`fyc.motion_field`).

No frames are rendered: the model learns fields, so a clip is a crop of a real photograph (the photographs and
region shapes of `fyc.data.synthetic`, with its train / eval split), one or two region masks, and the fields of
the motions of `fyc.data.field_motions` evaluated at the grid's cell centres. That makes a clip cost milliseconds,
so training draws fresh clips every step instead of caching a fixed set.

Where a cell is only partly inside a region, it takes the region's motion, and so do the cells next to the
region: bilinear upsampling then gives every pixel of the region its own displacement, up to its edge. Every other
cell is zero: the rest of the photo stays still.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..motion_field import GRID_SHORT_SIDE, as_tensor, cell_centres, field_ofm, normalise, region_coverage, sample_hints
from .field_motions import (
    FIELD_MOTION_CLASS_NAMES,
    calibrate,
    displacement,
    draw_params,
    field_prompts,
    flow_direction,
    geometry,
)
from .synthetic import (
    SHAPE_WEIGHTS,
    SHAPES,
    SPLITS,
    _crop_resized,
    _parametric_shape,
    _segment_shapes,
    _silhouette_shape,
    load_photo,
    photo_names,
)

CLIP_SIZE = 128  # px of the crop a clip's masks are drawn at; the grid is what the model sees
SPEED_RANGE = (0.5, 12.0)  # reference px/frame, the OFM range the model learns
REGION_AREA = (0.04, 0.3)


@dataclass
class FieldClip:
    """One clip of the motion-field model.

    Attributes:
        photo: uint8 (H, W, 3), the crop (frame 0).
        region_masks: bool (R, H, W), later regions on top (exclusive).
        fields: float32 (F, 2, h, w) forward displacements, reference px.
        motion_classes, prompts: per region.
        speeds: per region, mean px/frame of its pixels (reference px), as calibrated.
        ofm: `field_ofm(fields)`.
    """

    photo: np.ndarray
    region_masks: np.ndarray
    fields: np.ndarray
    motion_classes: list[str]
    prompts: list[str]
    speeds: list[float]
    ofm: float


def _region_mask(rng, photo, height, width, area_range) -> np.ndarray:
    """A region of the crop: an object-like segment of the photo or a random shape, placed inside the frame."""
    shape = str(rng.choice(SHAPES, p=SHAPE_WEIGHTS))
    area = height * width * rng.uniform(*area_range)
    if shape == "segment":
        for local, (x, y) in _segment_shapes(
            rng, photo, (area_range[0] * height * width, area_range[1] * height * width)
        ):
            out = np.zeros((height, width), bool)
            out[y : y + local.shape[0], x : x + local.shape[1]] = local
            return out
        shape = "blob"
    local = _silhouette_shape(rng, area) if shape == "silhouette" else _parametric_shape(rng, shape, area)
    if local.shape[0] > height or local.shape[1] > width:
        scale = 0.95 * min(height / local.shape[0], width / local.shape[1])
        local = cv2.resize(local.astype(np.uint8), None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) > 0
    y = int(rng.integers(0, height - local.shape[0] + 1))
    x = int(rng.integers(0, width - local.shape[1] + 1))
    out = np.zeros((height, width), bool)
    out[y : y + local.shape[0], x : x + local.shape[1]] = local
    return out


def region_fields(
    name: str, amplitude: float, params: dict, mask: np.ndarray, grid: tuple[int, int], num_frames: int
) -> np.ndarray:
    """(F, 2, h, w) displacements in px of the region's motion at every cell centre (defined everywhere)."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    shape = geometry(name, params, np.stack([xs, ys], 1).astype(np.float64))
    centres = cell_centres(grid, height, width).reshape(-1, 2)
    moved = displacement(name, amplitude, params, centres, shape, num_frames)  # (F, h*w, 2)
    return moved.reshape(num_frames, *grid, 2).transpose(0, 3, 1, 2).astype(np.float32)


def combine_regions(region_fields_px: list[np.ndarray], coverage: np.ndarray, width: int) -> np.ndarray:
    """Each region's fields (px) where it reaches (its cells with any coverage and their neighbours), later regions on
    top; zero elsewhere. Returns reference px."""
    out = np.zeros_like(region_fields_px[0])
    kernel = np.ones((3, 3), np.uint8)
    reach = [cv2.dilate((c > 0).astype(np.uint8), kernel) > 0 for c in coverage]
    # A neighbour cell never takes a region's motion from a cell that another region covers more.
    owner = np.argmax(np.concatenate([np.zeros((1, *coverage.shape[1:])), coverage]), axis=0) - 1
    for index, (fields, cells) in enumerate(zip(region_fields_px, reach)):
        mine = cells & ((owner == index) | (owner < 0))
        out[:, :, mine] = fields[:, :, mine]
    return out * (256.0 / width)


def generate_field_clip(
    seed: int,
    split: str = "train",
    num_frames: int = 16,
    grid: tuple[int, int] | None = None,
    *,
    motion_class: str | None = None,
    classes: tuple[str, ...] | None = None,
    speed: float | None = None,
    num_regions: int = 1,
    prompt_set: str | None = None,
    prompt: str | None = None,
    size: int = CLIP_SIZE,
) -> FieldClip:
    """One clip, deterministic in `(seed, split)`: a crop of a photograph of `split` with `num_regions` moving regions.

    Args:
        seed, split: what the clip is drawn from ("train" or "eval" photographs).
        num_frames: frames.
        grid: (h, w) field grid; default square, `GRID_SHORT_SIDE` cells a side.
        motion_class: force the first region's class; `classes`: the classes drawn from (default all).
        speed: force the first region's mean speed (reference px/frame); default log-uniform in `SPEED_RANGE`.
        num_regions: moving regions, each with its own class (different where the class list allows).
        prompt_set: "train" (default for the train split), "heldout" (default for eval), "canonical" or "all".
        prompt: force the first region's prompt.
        size: the crop's side in px.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    grid = grid or (GRID_SHORT_SIDE, GRID_SHORT_SIDE)
    height = size
    width = int(round(size * grid[1] / grid[0]))
    classes = tuple(classes or FIELD_MOTION_CLASS_NAMES)
    scene_rng, motion_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([int(seed), SPLITS.index(split), 7]).spawn(2)
    )
    names = photo_names(split)
    photo = np.clip(
        _crop_resized(scene_rng, load_photo(names[int(scene_rng.integers(len(names)))]), height, width) + 0.5, 0, 255
    ).astype(np.uint8)
    taken = np.zeros((height, width), bool)
    masks, chosen, prompts, speeds, per_region = [], [], [], [], []
    prompt_set = prompt_set or ("train" if split == "train" else "heldout")
    for index in range(num_regions):
        if index == 0 and motion_class is not None:
            name = motion_class
        else:
            pool = [c for c in classes if c not in chosen] or list(classes)
            name = pool[int(motion_rng.integers(len(pool)))]
        mask = _region_mask(scene_rng, photo, height, width, REGION_AREA)
        for earlier in masks:  # the later region wins an overlap
            earlier &= ~mask
        params = draw_params(motion_rng, name)
        choices = field_prompts(name, prompt_set)

        def pick() -> str:
            return prompt if (index == 0 and prompt is not None) else choices[int(motion_rng.integers(len(choices)))]

        chosen_prompt = None
        if name == "flow":  # the wording names the direction, so it is drawn first
            chosen_prompt = pick()
            params["direction"] += flow_direction(chosen_prompt)
        ys, xs = np.nonzero(mask)
        points = np.stack([xs, ys], 1).astype(np.float64)
        sample = points[:: max(1, len(points) // 256)]
        shape = geometry(name, params, points)
        to_px = width / 256.0
        target = (
            float(speed)
            if (index == 0 and speed is not None)
            else float(np.exp(motion_rng.uniform(*np.log(SPEED_RANGE))))
        )
        amplitude = calibrate(name, params, sample, shape, target * to_px, height, width, num_frames)
        moved = displacement(name, amplitude, params, sample, shape, num_frames)
        speeds.append(float(np.linalg.norm(np.diff(moved, axis=0), axis=-1).mean()) / to_px)
        per_region.append(region_fields(name, amplitude, params, mask, grid, num_frames))
        prompts.append(chosen_prompt or pick())
        masks.append(mask)
        chosen.append(name)
        taken |= mask
    region_masks = np.stack(masks)
    coverage = region_coverage(region_masks, grid)
    fields = combine_regions(per_region, coverage, width)
    # OFM over the regions' own cells: the neighbours that carry their motion to the edge are not the object.
    return FieldClip(photo, region_masks, fields, chosen, prompts, speeds, field_ofm(fields, coverage.max(0) >= 0.5))


def appearance(photo: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The model's appearance condition: the photo area-averaged to the grid, (3, h, w) in [-1, 1]."""
    small = cv2.resize(photo, grid[::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
    return small.transpose(2, 0, 1) / 127.5 - 1.0


class FieldClipDataset(torch.utils.data.Dataset):
    """Fresh `FieldClip`s as training examples: index i is the clip of seed `seed * 1_000_003 + i`.

    Each example: `fields` (2, F, h, w) normalised, `region_masks` (R, H, W) (R = `max_regions`, empty masks pad),
    `appearance` (3, h, w), `hints` (3, F, h, w) (zero unless drawn, `hint_ratio` of the time), `prompts` (R strings,
    "" for padding), `ofm`.
    """

    def __init__(
        self,
        length: int = 100000,
        split: str = "train",
        num_frames: int = 16,
        grid=(GRID_SHORT_SIDE, GRID_SHORT_SIDE),
        seed: int = 0,
        two_region_ratio: float = 0.25,
        hint_ratio: float = 0.2,
        classes=None,
        size: int = CLIP_SIZE,
    ):
        self.length, self.split, self.num_frames, self.grid = length, split, num_frames, tuple(grid)
        self.seed, self.two_region_ratio, self.hint_ratio = seed, two_region_ratio, hint_ratio
        self.classes, self.size = tuple(classes) if classes else None, size

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        seed = self.seed * 1_000_003 + int(index)
        rng = np.random.default_rng([seed, 11])
        regions = 2 if rng.random() < self.two_region_ratio else 1
        clip = generate_field_clip(
            seed, self.split, self.num_frames, self.grid, classes=self.classes, num_regions=regions, size=self.size
        )
        masks = np.zeros((2, *clip.region_masks.shape[1:]), bool)
        masks[: len(clip.region_masks)] = clip.region_masks
        hints = np.zeros((3, self.num_frames, *self.grid), np.float32)
        if rng.random() < self.hint_ratio:
            union = region_coverage(clip.region_masks.any(0), self.grid)[0] >= 0.5
            hints = sample_hints(clip.fields, union, rng)
        return {
            "fields": as_tensor(normalise(clip.fields).transpose(1, 0, 2, 3)),
            "region_masks": torch.from_numpy(masks),
            "appearance": as_tensor(appearance(clip.photo, self.grid)),
            "hints": as_tensor(hints),
            "prompts": clip.prompts + [""] * (2 - len(clip.prompts)),
            "ofm": clip.ofm,
        }
