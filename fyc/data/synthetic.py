"""Procedural motion clips from real photographs: the training and evaluation data of the demo model.

Each clip is a still photograph in which one region (or a few) moves as a short motion prompt says, at a
chosen speed, while the rest of the frame stays exactly still:

- backgrounds and moving regions come from real photographs that ship inside installed packages under
  free licences (`PHOTOS`); some photographs are held out for the "eval" split;
- a region is an object-like cut-out (ellipse, superellipse, Fourier blob, horse silhouette, or an image
  segment) either cut from another photograph and pasted on the background ("paste") or cut from the
  background itself and animated where it is ("in_place"), in which case the background it uncovers is
  filled with OpenCV inpainting;
- the motion is one of the classes of `fyc.data.motion_vocab` (move left/right/up/down, shake, sway,
  rotate clockwise/counterclockwise, zoom in/out, bounce, pulse), with its speed calibrated so that the
  region's pixels move `speed` pixels per frame on average at the 256-px reference width of `fyc.flow`;
- the motion mask and OFM come from `fyc.flow.motion_stats`, the same code that labels real videos.

Everything is deterministic in `(seed, split)`. `generate_clip` makes one clip; `SyntheticMotionDataset`
wraps it as a torch Dataset with the keys of the real-video datasets.

Photographs (licences as stated by the shipping package):

=====================  ==================  ======================================================  =====
name                   package             licence                                                 split
=====================  ==================  ======================================================  =====
astronaut              scikit-image        public domain (NASA)                                    train
chelsea                scikit-image        CC0 (Stefan van der Walt)                               train
coffee                 scikit-image        CC0 (Rachel Michetti)                                   train
camera                 scikit-image        CC0 (Lav Varshney)                                      train
hubble_deep_field      scikit-image        public domain (NASA)                                    train
immunohistochemistry   scikit-image        no known copyright restrictions (CMMI)                  train
retina                 scikit-image        CC0 1.0 (Häggström)                                     train
brick                  scikit-image        CC0 (CC0Textures)                                       train
grass                  scikit-image        CC0 (CC0Textures)                                       train
cell                   scikit-image        CC0                                                     train
rocket                 scikit-image        public domain (SpaceX)                                  eval
coins                  scikit-image        no known copyright restrictions (Brooklyn Museum)       eval
gravel                 scikit-image        CC0 (CC0Textures)                                       eval
grace_hopper           matplotlib          public domain (U.S. Navy photograph)                    eval
=====================  ==================  ======================================================  =====

The horse silhouette used as a region shape is scikit-image's `horse` (CC0, Andreas Preuss).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from torch.utils.data import Dataset

from fyc.data.motion_vocab import MOTION_CLASS_NAMES, MOTION_CLASSES, prompts_for, third_person
from fyc.flow import REFERENCE_WIDTH, motion_stats

SPLITS = ("train", "eval")
MODES = ("paste", "in_place")
SHAPES = ("ellipse", "superellipse", "blob", "segment", "silhouette")
SHAPE_WEIGHTS = (0.25, 0.2, 0.25, 0.2, 0.1)

DEFAULT_SPEED_RANGE = (0.5, 12.0)  # reference px/frame (the OFM unit of fyc.flow)
DEFAULT_REGION_AREA = (0.06, 0.3)  # share of the frame; small regions starve the model of motion signal
NOISE_SIGMA = 1.5  # grey levels of sensor noise when noise=True
NOISE_JITTER = 0.3  # reference px (std) of whole-frame camera jitter when noise=True
_MAX_PHOTO_SIDE = 640  # photos are stored downscaled to this: clips are small and resizing is per clip


# --------------------------------------------------------------------------------------------- photos


@dataclass(frozen=True)
class Photo:
    """A photograph that ships inside an installed package.

    Args:
        name: key, e.g. "chelsea".
        subject: noun phrase for captions, e.g. "a tabby cat".
        package: the package that ships it.
        licence: licence as the package states it.
        split: "train" or "eval" (held out).
    """

    name: str
    subject: str
    package: str
    licence: str
    split: str


PHOTOS: dict[str, Photo] = {
    p.name: p
    for p in [
        Photo("astronaut", "an astronaut in a spacesuit", "scikit-image", "public domain (NASA)", "train"),
        Photo("chelsea", "a tabby cat", "scikit-image", "CC0 (Stefan van der Walt)", "train"),
        Photo("coffee", "a cup of coffee", "scikit-image", "CC0 (Rachel Michetti)", "train"),
        Photo("camera", "a man with a camera", "scikit-image", "CC0 (Lav Varshney)", "train"),
        Photo("hubble_deep_field", "galaxies in deep space", "scikit-image", "public domain (NASA)", "train"),
        Photo(
            "immunohistochemistry",
            "stained tissue under a microscope",
            "scikit-image",
            "no known copyright restrictions (CMMI)",
            "train",
        ),
        Photo("retina", "the back of an eye", "scikit-image", "CC0 1.0 (Häggström)", "train"),
        Photo("brick", "a brick wall", "scikit-image", "CC0 (CC0Textures)", "train"),
        Photo("grass", "a patch of grass", "scikit-image", "CC0 (CC0Textures)", "train"),
        Photo("cell", "a cell under a microscope", "scikit-image", "CC0", "train"),
        Photo("rocket", "a rocket on a launch pad", "scikit-image", "public domain (SpaceX)", "eval"),
        Photo("coins", "old coins", "scikit-image", "no known copyright restrictions (Brooklyn Museum)", "eval"),
        Photo("gravel", "gravel", "scikit-image", "CC0 (CC0Textures)", "eval"),
        Photo("grace_hopper", "a woman in a naval uniform", "matplotlib", "public domain (U.S. Navy)", "eval"),
    ]
}


def photo_names(split: str) -> tuple[str, ...]:
    """Names of the photographs of `split` ("train" or "eval"); the two sets are disjoint."""
    _check_split(split)
    return tuple(name for name, p in PHOTOS.items() if p.split == split)


@functools.cache
def load_photo(name: str) -> np.ndarray:
    """Photograph `name` as uint8 RGB (H, W, 3), longest side at most 640 px. Read-only array."""
    if name not in PHOTOS:
        raise ValueError(f"Unknown photo {name!r}; choose from {', '.join(PHOTOS)}.")
    if PHOTOS[name].package == "matplotlib":
        from matplotlib import cbook

        image = cv2.imread(str(cbook.get_sample_data(f"{name}.jpg", asfileobj=False)), cv2.IMREAD_COLOR)
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    else:
        import skimage.data

        image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    scale = _MAX_PHOTO_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    image.flags.writeable = False
    return image


@functools.lru_cache(maxsize=1)
def _horse_silhouette() -> np.ndarray:
    import skimage.data

    horse = ~skimage.data.horse()  # the package stores the horse as False on a True background
    ys, xs = np.nonzero(horse)
    return np.ascontiguousarray(horse[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


# --------------------------------------------------------------------------------------------- clips


@dataclass
class RegionMotion:
    """One moving region of a synthetic clip.

    Attributes:
        region_mask: bool (H, W), where the region is visible in frame 0.
        motion_class: a key of `fyc.data.motion_vocab.MOTION_CLASSES`.
        motion_prompt: the short prompt the clip is labelled with (one of that class's paraphrases).
        speed: mean displacement of the region's pixels, reference px/frame, as rendered.
        target_speed: the speed asked for (`speed` is lower where the motion's geometry caps it).
        shape: one of `SHAPES`.
        mode: "paste" (cut from `source_photo`, pasted on the background) or "in_place".
        source_photo: the photograph the region's pixels come from.
        noun: the region's noun phrase in the caption.
        params: the motion's parameters (amplitude, period, ...), for inspection.
        path_mask: bool (H, W), every pixel the region touches in some frame (its soft edge and, in
            place, the filled background it uncovers included): outside the union of the regions'
            path masks the clip is exactly still (without noise).
    """

    region_mask: np.ndarray
    motion_class: str
    motion_prompt: str
    speed: float
    target_speed: float
    shape: str
    mode: str
    source_photo: str
    noun: str
    params: dict = field(default_factory=dict)
    path_mask: np.ndarray | None = None


@dataclass
class SyntheticClip:
    """A generated clip with its labels.

    Attributes:
        frames: uint8 (F, H, W, 3) RGB.
        regions: the moving regions, in compositing order (later ones are drawn on top).
        caption: long scene sentence, e.g. "a photo of a brick wall with an oval cut-out of a tabby cat;
            the cut-out slides to the left".
        background_photo: name of the background photograph.
        split, seed: what the clip was generated from.
        noise: whether sensor noise and camera jitter were added.
        motion_mask: bool (H, W) from `fyc.flow.motion_stats` (None if labels were not computed).
        ofm: OFM from `fyc.flow.motion_stats` in reference px/frame (None if labels were not computed).
    """

    frames: np.ndarray
    regions: list[RegionMotion]
    caption: str
    background_photo: str
    split: str
    seed: int
    noise: bool
    motion_mask: np.ndarray | None = None
    ofm: float | None = None

    @property
    def region_mask(self) -> np.ndarray:
        """Bool (H, W): union of the regions' frame-0 masks."""
        return np.logical_or.reduce([r.region_mask for r in self.regions])

    @property
    def path_mask(self) -> np.ndarray:
        """Bool (H, W): union of the regions' path masks; the clip is still outside it (without noise)."""
        return np.logical_or.reduce([r.path_mask for r in self.regions])

    @property
    def motion_class(self) -> str:
        """The motion class; regions' classes joined with '+' when there are several."""
        return "+".join(r.motion_class for r in self.regions)

    @property
    def motion_prompt(self) -> str:
        """The short motion prompt; regions' prompts joined with '; ' when there are several."""
        return "; ".join(r.motion_prompt for r in self.regions)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; use 'train' or 'eval' (held-out photos and prompts).")


def frame_size(size: int | tuple[int, int] = 128, aspect: float = 1.0) -> tuple[int, int]:
    """(H, W) of the clips: `size` is the short side (or an explicit (H, W)); `aspect` is W / H.

    The long side is rounded to a multiple of 8 so that VAE latents tile exactly.
    """
    if isinstance(size, (tuple, list)):
        height, width = (int(s) for s in size)
    else:
        if aspect <= 0:
            raise ValueError(f"aspect must be positive (W / H), got {aspect}.")
        short, long = int(size), int(round(int(size) * max(aspect, 1 / aspect) / 8) * 8)
        height, width = (short, long) if aspect >= 1 else (long, short)
    if min(height, width) < 32:
        raise ValueError(f"Clips need at least 32 px per side, got {height}x{width}.")
    return height, width


def _crop_resized(rng: np.random.Generator, photo: np.ndarray, height: int, width: int, jitter: bool = True):
    """A random crop of `photo` with the frame's aspect, resized to (height, width), flipped half the time."""
    ph, pw = photo.shape[:2]
    max_h = min(ph, pw * height / width)
    crop_h = max_h * rng.uniform(0.45, 1.0)
    crop_w = crop_h * width / height
    y0, x0 = rng.uniform(0, ph - crop_h), rng.uniform(0, pw - crop_w)
    # an affine crop-and-resize keeps sub-pixel crop positions and is a single OpenCV call
    sx, sy = width / crop_w, height / crop_h
    matrix = np.array([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]], dtype=np.float64)
    if sx < 0.8:  # warpAffine has no area filter: blur first so that downscaling does not alias
        photo = cv2.GaussianBlur(photo, (0, 0), 0.45 / sx)
    out = cv2.warpAffine(
        photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
    ).astype(np.float32)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if jitter:  # mild photometric jitter: more looks per photograph, still a plausible photo
        gray = out.mean(axis=-1, keepdims=True)
        out = gray + (out - gray) * rng.uniform(0.8, 1.2)  # saturation
        mean = out.mean()
        out = (out - mean) * rng.uniform(0.85, 1.15) + mean * rng.uniform(0.9, 1.1)  # contrast, brightness
    return np.clip(out, 0, 255)


# --------------------------------------------------------------------------------------------- shapes


def _polygon_mask(points: np.ndarray, area: float) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise a closed polygon (N, 2) scaled to `area` px; returns (local bool mask, pivot=centroid)."""
    x, y = points[:, 0], points[:, 1]
    poly_area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    points = points * math.sqrt(area / max(poly_area, 1e-9))
    points = points - points.min(axis=0) + 2
    size = np.ceil(points.max(axis=0)).astype(int) + 3
    mask = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _parametric_shape(rng: np.random.Generator, shape: str, area: float) -> np.ndarray:
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    if shape == "ellipse":
        ratio = rng.uniform(0.55, 1.0)
        pts = np.stack([np.cos(theta), ratio * np.sin(theta)], axis=1)
    elif shape == "superellipse":
        n, ratio = rng.uniform(2.5, 6.0), rng.uniform(0.5, 1.0)
        c, s = np.cos(theta), np.sin(theta)
        pts = np.stack([np.sign(c) * np.abs(c) ** (2 / n), ratio * np.sign(s) * np.abs(s) ** (2 / n)], axis=1)
    elif shape == "blob":
        radius = np.ones_like(theta)
        for k in range(2, 6):
            radius += rng.uniform(0, 0.18 / (k - 1)) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        pts = np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1)
    else:
        raise ValueError(shape)
    angle = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return _polygon_mask(pts @ rot.T, area)


def _silhouette_shape(rng: np.random.Generator, area: float) -> np.ndarray:
    horse = _horse_silhouette()
    scale = math.sqrt(area / horse.sum())
    h, w = max(3, round(horse.shape[0] * scale)), max(3, round(horse.shape[1] * scale))
    mask = cv2.resize(horse.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_AREA) >= 128
    if rng.random() < 0.5:
        mask = mask[:, ::-1]
    return np.pad(mask, 2)


def _segment_shapes(rng: np.random.Generator, image: np.ndarray, area_range: tuple[float, float]):
    """Object-like segments of `image` (Felzenszwalb), as (local mask, top-left (x, y)) in random order."""
    from skimage.segmentation import felzenszwalb

    h, w = image.shape[:2]
    lo, hi = area_range
    labels = felzenszwalb(
        image.astype(np.uint8), scale=150.0 * (h * w / 128**2) ** 0.5, sigma=0.8, min_size=max(16, int(lo * 0.5))
    )
    areas = np.bincount(labels.ravel())
    candidates = [int(i) for i in np.flatnonzero((areas >= lo) & (areas <= hi))]
    rng.shuffle(candidates)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for label in candidates[:6]:
        mask = (labels == label).astype(np.uint8)
        mask = cv2.morphologyEx(cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
        count, comp, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        if count < 2:
            continue
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        mask = (comp == biggest).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        contour = max(contours, key=cv2.contourArea)
        area = cv2.contourArea(contour)
        if not lo <= area <= hi or area / max(cv2.contourArea(cv2.convexHull(contour)), 1) < 0.7:
            continue
        filled = np.zeros_like(mask)
        cv2.drawContours(filled, [contour], -1, 1, thickness=-1)  # fills holes: an object, not a ring
        x, y, bw, bh = cv2.boundingRect(contour)
        yield filled[y : y + bh, x : x + bw].astype(bool), (x, y)


# --------------------------------------------------------------------------------------------- motion


@dataclass
class _Motion:
    """Per-frame affine maps about the region's pivot: x_t = linear[t] @ (x - pivot) + pivot + offset[t]."""

    linear: np.ndarray  # (F, 2, 2)
    offset: np.ndarray  # (F, 2) px
    params: dict


def _motion(name: str, amplitude: float, shape_params: dict, num_frames: int) -> _Motion:
    t = np.arange(num_frames, dtype=np.float64)
    eye = np.broadcast_to(np.eye(2), (num_frames, 2, 2)).copy()
    zero = np.zeros((num_frames, 2))
    p = shape_params
    if name.startswith("move_"):
        angle = p["direction"]
        return _Motion(eye, amplitude * t[:, None] * np.array([np.cos(angle), np.sin(angle)]), p)
    if name == "shake":
        w = 2 * np.pi / p["period"]
        dx = p["sign"] * np.sin(w * t)
        dy = p["wobble"] * (np.sin(w * 1.37 * t + p["phase"]) - np.sin(p["phase"]))
        return _Motion(eye, amplitude * np.stack([dx, dy], axis=1), p)
    if name == "sway":  # a horizontal shear about the region's base: the top swings, the base stays put
        k = amplitude * p["sign"] * np.sin(2 * np.pi * t / p["period"])
        linear = eye.copy()
        linear[:, 0, 1] = -k  # local y is negative above the pivot, so the top moves by +k * height
        return _Motion(linear, zero, p)
    if name.startswith("rotate_"):  # image y points down, so a positive angle turns clockwise on screen
        angle = amplitude * t * (1 if name == "rotate_clockwise" else -1)
        c, s = np.cos(angle), np.sin(angle)
        return _Motion(np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], 1), zero, p)
    if name in ("zoom_in", "zoom_out"):
        scale = np.exp(amplitude * t * (1 if name == "zoom_in" else -1))
        return _Motion(eye * scale[:, None, None], zero, p)
    if name == "bounce":
        height = np.abs(np.sin(np.pi * t / p["period"]))
        return _Motion(eye, amplitude * np.stack([np.zeros_like(t), -height], axis=1), p)
    if name == "pulse":
        scale = 1 + amplitude * p["sign"] * np.sin(2 * np.pi * t / p["period"])
        return _Motion(eye * scale[:, None, None], zero, p)
    raise ValueError(f"Unknown motion class {name!r}; choose from {', '.join(MOTION_CLASS_NAMES)}.")


def _motion_params(rng: np.random.Generator, name: str, num_frames: int) -> dict:
    """Random per-clip parameters of a motion other than its amplitude."""
    sign = float(rng.choice([-1.0, 1.0]))
    if name.startswith("move_"):
        base = {"move_left": np.pi, "move_right": 0.0, "move_up": -np.pi / 2, "move_down": np.pi / 2}[name]
        return {"direction": base + rng.uniform(-1, 1) * np.deg2rad(8)}
    if name == "shake":
        return {
            "period": rng.uniform(2.8, 4.5),
            "sign": sign,
            "wobble": rng.uniform(0, 0.3),
            "phase": rng.uniform(0, 2 * np.pi),
        }
    if name == "sway":
        return {"period": rng.uniform(max(6, num_frames / 2), max(8, num_frames)), "sign": sign}
    if name == "bounce":
        return {"period": rng.uniform(4, max(5, min(8, num_frames / 2)))}
    if name == "pulse":
        return {"period": rng.uniform(4, 8), "sign": sign}
    return {}


def max_amplitude(name: str, height: int, width: int, num_frames: int) -> float:
    """The largest amplitude that still looks like the motion it names."""
    steps = max(num_frames - 1, 1)
    return {
        "move_left": width / steps,
        "move_right": width / steps,
        "move_up": height / steps,
        "move_down": height / steps,
        "shake": 0.12 * width,
        "sway": 0.6,  # shear; ~31 degrees of lean
        "rotate_clockwise": 0.5,
        "rotate_counterclockwise": 0.5,  # rad/frame; beyond this rotation aliases
        "zoom_in": math.log(3.5) / steps,
        "zoom_out": math.log(4.0) / steps,
        "bounce": 0.5 * height,
        "pulse": 0.4,
    }[name]


def _mean_speed(motion: _Motion, points: np.ndarray) -> float:
    """Mean displacement per frame (px) of `points` (N, 2, relative to the pivot) under `motion`."""
    moved = np.einsum("fij,nj->fni", motion.linear, points) + motion.offset[:, None, :]
    return float(np.linalg.norm(np.diff(moved, axis=0), axis=-1).mean()) if len(moved) > 1 else 0.0


def _calibrate(name, params, points, target_px, height, width, num_frames) -> tuple[_Motion, float]:
    """The motion whose points move `target_px` px/frame on average (or as fast as its cap allows)."""
    hi = max_amplitude(name, height, width, num_frames)
    fastest = _motion(name, hi, params, num_frames)
    if _mean_speed(fastest, points) <= target_px:
        return fastest, hi
    lo = 0.0
    for _ in range(30):  # mean speed is monotonic in the amplitude below the caps
        mid = 0.5 * (lo + hi)
        if _mean_speed(_motion(name, mid, params, num_frames), points) < target_px:
            lo = mid
        else:
            hi = mid
    amplitude = 0.5 * (lo + hi)
    return _motion(name, amplitude, params, num_frames), amplitude


def _frame_matrix(motion: _Motion, pivot: np.ndarray, t: int) -> np.ndarray:
    linear = motion.linear[t]
    return np.hstack([linear, (pivot + motion.offset[t] - linear @ pivot)[:, None]])


# --------------------------------------------------------------------------------------------- placement


def _path_extent(motion: _Motion, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max (x, y) relative to the pivot that `points` reach over the clip."""
    moved = np.einsum("fij,nj->fni", motion.linear, points) + motion.offset[:, None, :]
    return moved.reshape(-1, 2).min(axis=0), moved.reshape(-1, 2).max(axis=0)


def _boundary_points(mask: np.ndarray, pivot: np.ndarray, limit: int = 256) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    step = max(1, len(xs) // limit)
    return np.stack([xs[::step], ys[::step]], axis=1).astype(np.float64) - pivot


def _pivot(name: str, mask: np.ndarray) -> np.ndarray:
    """Local (x, y) pivot: the base for sway (it bends from there), the centroid otherwise."""
    ys, xs = np.nonzero(mask)
    if name == "sway":
        return np.array([xs.mean(), ys.max()], dtype=np.float64)
    return np.array([xs.mean(), ys.mean()], dtype=np.float64)


def _overlap(mask: np.ndarray, offset, occupied: np.ndarray | None) -> float:
    """Share of `mask` placed at `offset` that covers `occupied` pixels."""
    if occupied is None:
        return 0.0
    x, y = offset
    mh, mw = mask.shape
    return float(occupied[y : y + mh, x : x + mw][mask[: occupied.shape[0] - y, : occupied.shape[1] - x]].mean())


def _choose_offset(rng, mask, pivot, motion, points, height, width, gradient=None, occupied=None, tries=3):
    """Top-left (x, y) for `mask`: fully inside frame 0, with its path inside the frame where it fits.

    Among a few admissible positions the one over the most texture (`gradient`) wins: flat regions give
    the flow estimator, and so the labels, nothing to see. Positions over `occupied` pixels (earlier
    regions) lose to any position that leaves them visible.
    """
    if occupied is not None and not occupied.any():
        occupied = None
    mh, mw = mask.shape
    lo_path, hi_path = _path_extent(motion, points)
    options = []
    for axis, (size, frame) in enumerate([(mw, width), (mh, height)]):
        first_lo, first_hi = 0, frame - size  # frame 0 entirely inside the picture
        path_lo, path_hi = -lo_path[axis] - pivot[axis], frame - 1 - hi_path[axis] - pivot[axis]
        lo, hi = max(first_lo, path_lo), min(first_hi, path_hi)
        if lo > hi:  # the path cannot fit: centre it as well as frame 0 allows
            centre = 0.5 * (path_lo + path_hi)
            lo = hi = float(np.clip(centre, first_lo, max(first_lo, first_hi)))
        options.append((lo, hi))
    best, best_score = None, -np.inf
    if occupied is not None:
        tries *= 4
    elif gradient is None:
        tries = 1  # nothing to choose between
    for _ in range(tries):
        x, y = (int(round(rng.uniform(lo, hi))) for lo, hi in options)
        x, y = int(np.clip(x, 0, max(0, width - mw))), int(np.clip(y, 0, max(0, height - mh)))
        score = (
            0.0 if gradient is None else float(gradient[y : y + mh, x : x + mw][mask[: height - y, : width - x]].mean())
        )
        score -= 1e6 * _overlap(mask, (x, y), occupied)
        if score > best_score:
            best, best_score = (x, y), score
    return best


def _gradient(image: np.ndarray) -> np.ndarray:
    gray = image.mean(axis=-1).astype(np.float32)
    return np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1))


def _paste(mask: np.ndarray, offset: tuple[int, int], height: int, width: int) -> np.ndarray:
    out = np.zeros((height, width), dtype=bool)
    x, y = offset
    mh, mw = mask.shape
    out[y : y + mh, x : x + mw] = mask[: height - y, : width - x]
    return out


# --------------------------------------------------------------------------------------------- captions

_SHAPE_WORDS = {"superellipse": "rounded", "blob": "blob-shaped", "segment": "irregular", "silhouette": "horse-shaped"}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _region_nouns(shape: str, mode: str, source: Photo, ratio: float) -> tuple[str, str]:
    """(full noun phrase for the caption's first mention, short noun for the second)."""
    adjective = ("round" if ratio > 0.85 else "oval") if shape == "ellipse" else _SHAPE_WORDS[shape]
    head = "cut-out" if mode == "paste" else "part"
    full = f"{_article(adjective)} {adjective} {head} of " + (source.subject if mode == "paste" else "the picture")
    return full, f"{adjective} {head}"


def _caption(background: Photo, regions: list[RegionMotion], short_nouns: list[str]) -> str:
    pasted = [r.noun for r in regions if r.mode == "paste"]
    scene = f"a photo of {background.subject}" + (f" with {' and '.join(pasted)}" if pasted else "")
    actions = []
    for region, short in zip(regions, short_nouns):
        subject = region.noun if region.mode == "in_place" else f"the {short}"
        if len(regions) == 1 and region.mode == "paste":
            subject = f"the {short.split()[-1]}"  # "the cut-out": one region needs no adjective
        actions.append(f"{subject} {third_person(region.motion_prompt)}")
    return f"{scene}; {' and '.join(actions)}"


# --------------------------------------------------------------------------------------------- generator


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(hi)


def _draw_prompt(rng, motion_class, split, prompt_set):
    prompt_set = prompt_set or ("train" if split == "train" else "heldout")
    choices = prompts_for(motion_class, prompt_set)
    return choices[int(rng.integers(len(choices)))]


def _build_region(
    scene_rng,
    motion_rng,
    name,
    background,
    background_name,
    names,
    height,
    width,
    num_frames,
    *,
    speed,
    speed_range,
    region_area,
    mode,
    shape,
    occupied,
):
    """One moving region: its `RegionMotion` (prompt still empty), short caption noun, and render layer.

    The layer is (texture float (H, W, 3) aligned with the frame, alpha0 float (H, W), motion, pivot in
    frame coordinates, mode).
    """
    to_ref = REFERENCE_WIDTH / width
    frame_area = height * width
    region_mode = mode or str(scene_rng.choice(MODES))
    region_shape = shape or str(scene_rng.choice(SHAPES, p=SHAPE_WEIGHTS))
    if region_mode == "paste":
        source_name = names[int(scene_rng.integers(len(names)))]
        texture = _crop_resized(scene_rng, load_photo(source_name), height, width)
    else:
        source_name, texture = background_name, background
    area = frame_area * scene_rng.uniform(*region_area)
    if name == "zoom_in":  # start small enough to have room to grow
        area *= 0.6
    params = _motion_params(motion_rng, name, num_frames)

    def calibrated(mask_, pivot_):
        points_ = _boundary_points(mask_, pivot_)
        target_ = None if speed is None else float(speed)
        if target_ is None:  # draw up to what this motion can reach on this shape
            fastest = _motion(name, max_amplitude(name, height, width, num_frames), params, num_frames)
            cap = _mean_speed(fastest, points_) * to_ref
            target_ = _loguniform(motion_rng, speed_range[0], min(speed_range[1], max(cap, speed_range[0])))
        motion_, amplitude_ = _calibrate(name, params, points_, target_ / to_ref, height, width, num_frames)
        return points_, motion_, amplitude_, target_

    mask = offset = texture_offset = None
    if region_shape == "segment":
        lo, hi = region_area[0] * frame_area, region_area[1] * frame_area
        for candidate, top_left in _segment_shapes(scene_rng, texture, (lo, hi)):
            pivot_local = _pivot(name, candidate)
            points, motion, amplitude, target = calibrated(candidate, pivot_local)
            if region_mode == "paste":
                mask, texture_offset = candidate, top_left
                break
            # in place a segment cannot be moved: keep it only if its path stays mostly in the frame
            # and it leaves earlier regions visible
            lo_p, hi_p = _path_extent(motion, points)
            reach_lo = np.array(top_left) + pivot_local + lo_p
            reach_hi = np.array(top_left) + pivot_local + hi_p
            slack = 0.25 * np.array(candidate.shape[::-1])
            fits = (reach_lo >= -slack).all() and (reach_hi <= np.array([width, height]) - 1 + slack).all()
            if fits and _overlap(candidate, top_left, occupied) < 0.1:
                mask, offset = candidate, top_left
                break
        if mask is None:
            region_shape = "blob"
    if mask is None:
        if region_shape == "silhouette":
            mask = _silhouette_shape(scene_rng, area)
        else:
            mask = _parametric_shape(scene_rng, region_shape, area)
        if mask.shape[0] > height or mask.shape[1] > width:  # too big for the frame: shrink to fit
            scale = 0.98 * min(height / mask.shape[0], width / mask.shape[1])
            mask = cv2.resize(mask.astype(np.uint8), None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) > 0
        pivot_local = _pivot(name, mask)
        points, motion, amplitude, target = calibrated(mask, pivot_local)
    if offset is None:
        grad = _gradient(texture) if region_mode == "in_place" else None
        offset = _choose_offset(motion_rng, mask, pivot_local, motion, points, height, width, grad, occupied)
    if region_mode == "paste":
        if texture_offset is None:  # where in the source the cut-out comes from: the most textured spot
            still = _motion(name, 0.0, params, num_frames)
            texture_offset = _choose_offset(
                scene_rng, mask, pivot_local, still, points, height, width, _gradient(texture)
            )
        # move the source so that the cut-out's pixels land where the region is placed
        shift = np.float64([[1, 0, offset[0] - texture_offset[0]], [0, 1, offset[1] - texture_offset[1]]])
        texture = cv2.warpAffine(texture, shift, (width, height), borderMode=cv2.BORDER_REFLECT101)

    frame_mask = _paste(mask, offset, height, width)
    # soft edges: a cut-out with a 1-2 px feathered border looks like an object, not a stencil
    feather = 0.6 + 0.6 * min(height, width) / 128 * scene_rng.uniform(0.5, 1.0)
    alpha0 = cv2.GaussianBlur(frame_mask.astype(np.float32), (0, 0), feather)
    alpha0[frame_mask] = np.maximum(alpha0[frame_mask], 0.5)  # the region keeps its full extent
    pivot = np.array(offset, dtype=np.float64) + pivot_local

    ys, xs = np.nonzero(mask)
    ratio = min(np.ptp(xs) + 1, np.ptp(ys) + 1) / max(np.ptp(xs) + 1, np.ptp(ys) + 1)
    full_noun, short_noun = _region_nouns(region_shape, region_mode, PHOTOS[source_name], ratio)
    region = RegionMotion(
        region_mask=frame_mask,
        motion_class=name,
        motion_prompt="",
        speed=_mean_speed(motion, points) * to_ref,
        target_speed=float(target),
        shape=region_shape,
        mode=region_mode,
        source_photo=source_name,
        noun=full_noun,
        params={"amplitude": amplitude, **params},
    )
    return region, short_noun, (texture, alpha0, motion, pivot, region_mode)


def generate_clip(
    seed: int,
    split: str = "train",
    size: int | tuple[int, int] = 128,
    num_frames: int = 16,
    aspect: float = 1.0,
    *,
    motion_class: str | None = None,
    classes: tuple[str, ...] | None = None,
    speed: float | None = None,
    speed_range: tuple[float, float] = DEFAULT_SPEED_RANGE,
    region_area: tuple[float, float] = DEFAULT_REGION_AREA,
    prompt: str | None = None,
    prompt_set: str | None = None,
    num_regions: int = 1,
    mode: str | None = None,
    shape: str | None = None,
    noise: bool = False,
    compute_labels: bool = True,
) -> SyntheticClip:
    """One synthetic clip: a still photograph in which `num_regions` regions move, the rest stays still.

    Args:
        seed: the clip's seed; `(seed, split)` determines everything.
        split: "train" (training photos and paraphrases) or "eval" (held-out photos and paraphrases).
        size: short side in px, or an explicit (H, W).
        num_frames: frames per clip (>= 2).
        aspect: W / H when `size` is an int (the long side is rounded to a multiple of 8).
        motion_class: force the (first) region's motion class; default random from `classes`.
        classes: motion classes to draw from (default: all of `MOTION_CLASS_NAMES`), e.g. for a curriculum.
        speed: force the (first) region's speed in reference px/frame; default log-uniform in `speed_range`.
        speed_range: (min, max) reference px/frame; a class whose geometry caps its speed (zoom) draws
            up to its cap.
        region_area: (min, max) share of the frame a region covers in frame 0.
        prompt: force the (first) region's motion prompt (the motion class still decides the motion).
        prompt_set: which paraphrases to draw from: "train", "heldout", "canonical" or "all"; default
            "train" for the train split and "heldout" for the eval split.
        num_regions: how many regions move, each with its own class and prompt (drawn without repeats).
        mode: force "paste" or "in_place" for every region; default random.
        shape: force a region shape (one of `SHAPES`); default random.
        noise: add mild sensor noise and camera jitter (then the background is no longer exactly still).
        compute_labels: run `fyc.flow.motion_stats` for the motion mask and OFM (the costly part).

    Returns:
        `SyntheticClip` with frames uint8 (F, H, W, 3), the regions, the caption, motion mask and OFM.
    """
    _check_split(split)
    height, width = frame_size(size, aspect)
    if num_frames < 2:
        raise ValueError(f"num_frames must be at least 2, got {num_frames}.")
    classes = tuple(classes) if classes else MOTION_CLASS_NAMES
    for name in classes + ((motion_class,) if motion_class else ()):
        if name not in MOTION_CLASSES:
            raise ValueError(f"Unknown motion class {name!r}; choose from {', '.join(MOTION_CLASS_NAMES)}.")
    if not 0 < region_area[0] <= region_area[1] < 1:
        raise ValueError(f"region_area must be 0 < min <= max < 1 (shares of the frame), got {region_area}.")
    if not 0 < speed_range[0] <= speed_range[1]:
        raise ValueError(f"speed_range must be 0 < min <= max (reference px/frame), got {speed_range}.")
    if mode is not None and mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; choose from {MODES}.")
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"Unknown shape {shape!r}; choose from {SHAPES}.")
    if num_regions < 1:
        raise ValueError(f"num_regions must be at least 1, got {num_regions}.")

    # independent streams: forcing the motion does not change which photos the clip shows
    scene_rng, motion_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([int(seed), SPLITS.index(split)]).spawn(3)
    )
    names = photo_names(split)
    background_name = names[int(scene_rng.integers(len(names)))]
    background = _crop_resized(scene_rng, load_photo(background_name), height, width)
    regions: list[RegionMotion] = []
    short_nouns: list[str] = []
    layers = []
    occupied = np.zeros((height, width), dtype=bool)
    for index in range(num_regions):
        if index == 0 and motion_class is not None:
            name = motion_class
        else:  # several regions get different motions where the class list allows
            pool = [c for c in classes if c not in {r.motion_class for r in regions}] or list(classes)
            name = pool[int(motion_rng.integers(len(pool)))]
        region, short_noun, layer = _build_region(
            scene_rng,
            motion_rng,
            name,
            background,
            background_name,
            names,
            height,
            width,
            num_frames,
            speed=speed if index == 0 else None,
            speed_range=speed_range,
            region_area=region_area,
            mode=mode,
            shape=shape,
            occupied=occupied,
        )
        if index == 0 and prompt is not None:
            region.motion_prompt = prompt
        else:
            region.motion_prompt = _draw_prompt(motion_rng, name, split, prompt_set)
        for previous in regions:  # later regions are drawn on top of earlier ones
            previous.region_mask &= ~region.region_mask
        occupied |= region.region_mask
        regions.append(region)
        short_nouns.append(short_noun)
        layers.append(layer)

    frames, path_masks = _render(background, layers, num_frames, height, width)
    for region, path_mask in zip(regions, path_masks):
        region.path_mask = path_mask
    if noise:
        frames = _add_noise(noise_rng, frames, NOISE_JITTER * width / REFERENCE_WIDTH, NOISE_SIGMA)
    clip = SyntheticClip(
        frames=frames,
        regions=regions,
        caption=_caption(PHOTOS[background_name], regions, short_nouns),
        background_photo=background_name,
        split=split,
        seed=int(seed),
        noise=bool(noise),
    )
    if compute_labels:
        stats = motion_stats(frames)
        clip.motion_mask, clip.ofm = stats.mask, float(stats.ofm)
    return clip


def _render(background: np.ndarray, layers, num_frames: int, height: int, width: int):
    """Composite each layer's warped texture over the (filled where uncovered) background.

    Returns the frames, uint8 (F, H, W, 3), and each layer's path mask, bool (H, W).
    """
    holes = np.zeros((height, width), dtype=np.uint8)
    paths = []
    for _, alpha0, _, _, region_mode in layers:
        path = np.zeros((height, width), dtype=bool)
        if region_mode == "in_place":
            hole = (alpha0 > 0.01).astype(np.uint8)
            holes |= hole
            path |= cv2.dilate(hole, _HOLE_KERNEL) > 0  # what _fill_holes may repaint
        paths.append(path)
    base = _fill_holes(background, holes) if holes.any() else background
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        frame = base.copy()
        for (texture, alpha0, motion, pivot, _), path in zip(layers, paths):
            matrix = _frame_matrix(motion, pivot, t)
            alpha = cv2.warpAffine(alpha0, matrix, (width, height), flags=cv2.INTER_LINEAR)
            box = alpha > 0  # only touch pixels the layer covers: everything else stays bit-identical
            path |= box
            if not box.any():
                continue
            moved = cv2.warpAffine(
                texture, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
            )
            a = alpha[box][:, None]
            frame[box] = a * moved[box] + (1 - a) * frame[box]
        frames[t] = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    return frames, paths


_HOLE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def _fill_holes(background: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """`background` with `holes` (uint8 H x W, 1 inside) filled: what an in-place region uncovers.

    OpenCV inpainting continues the colours of the surroundings but leaves a smooth smear that is
    obviously fake on texture (grass, gravel, brick). So the fill is the inpainting's colours plus the
    fine detail (image minus its blur) of a neighbouring patch of the same photo, taken from the nearest
    offset at which that patch lies outside the hole.
    """
    height, width = holes.shape
    holes = cv2.dilate(holes, _HOLE_KERNEL)
    smooth = cv2.inpaint(np.clip(background, 0, 255).astype(np.uint8), holes, 5, cv2.INPAINT_TELEA)
    ys, xs = np.nonzero(holes)
    box_w, box_h = xs.max() - xs.min() + 3, ys.max() - ys.min() + 3
    best, best_inside = (0, 0), -1
    for dx, dy in ((box_w, 0), (-box_w, 0), (0, box_h), (0, -box_h)):
        src_x, src_y = xs + dx, ys + dy  # where the hole's pixels copy their detail from
        inside = int(((src_x >= 0) & (src_x < width) & (src_y >= 0) & (src_y < height)).sum())
        if inside > best_inside:
            best, best_inside = (dx, dy), inside
    shift = np.float64([[1, 0, -best[0]], [0, 1, -best[1]]])
    donor = cv2.warpAffine(background, shift, (width, height), borderMode=cv2.BORDER_REFLECT101)
    detail = donor - cv2.GaussianBlur(donor, (0, 0), 2.0)
    weight = cv2.GaussianBlur(holes.astype(np.float32), (0, 0), 1.5)[..., None] * holes[..., None]
    filled = smooth.astype(np.float32) + weight * detail
    return np.where(holes[..., None] > 0, np.clip(filled, 0, 255), background)


def _add_noise(rng: np.random.Generator, frames: np.ndarray, jitter_px: float, sigma: float) -> np.ndarray:
    """Mild camera jitter (sub-pixel whole-frame shifts) and Gaussian sensor noise."""
    out = np.empty_like(frames)
    height, width = frames.shape[1:3]
    for t, frame in enumerate(frames):
        dx, dy = rng.normal(0, jitter_px, size=2) if t else (0.0, 0.0)  # frame 0 stays the input image
        shifted = cv2.warpAffine(
            frame,
            np.float64([[1, 0, dx], [0, 1, dy]]),
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101,
        ).astype(np.float32)
        out[t] = np.clip(shifted + rng.normal(0, sigma, size=shifted.shape) + 0.5, 0, 255).astype(np.uint8)
    return out


# --------------------------------------------------------------------------------------------- dataset


def clip_to_example(clip: SyntheticClip, video_id: str):
    """The dict a real-video dataset yields, from a clip (torch tensors; pixel values in [-1, 1]).

    Keys: "pixel_values" float (F, 3, H, W), "caption", "motion_prompt", "motion_mask" bool (H, W),
    "region_mask" bool (H, W), "ofm" float, "motion_class", "video_id", "clip_start" (0) and "skipped"
    (0) as in `fyc.data.webvid`; with several regions also
    "region_masks" bool (R, H, W), "motion_prompts" and "motion_classes" (lists).
    """
    import torch

    if clip.motion_mask is None:
        raise ValueError("The clip has no motion labels; generate it with compute_labels=True.")
    pixel_values = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    example = {
        "pixel_values": pixel_values,
        "caption": clip.caption,
        "motion_prompt": clip.motion_prompt,
        "motion_mask": torch.from_numpy(np.ascontiguousarray(clip.motion_mask)),
        "region_mask": torch.from_numpy(np.ascontiguousarray(clip.region_mask)),
        "ofm": float(clip.ofm),
        "motion_class": clip.motion_class,
        "video_id": video_id,
        # the real-video datasets' bookkeeping keys, so that batches of both collate alike
        "clip_start": 0,
        "skipped": 0,
    }
    if len(clip.regions) > 1:
        example["region_masks"] = torch.from_numpy(np.stack([r.region_mask for r in clip.regions]))
        example["motion_prompts"] = [r.motion_prompt for r in clip.regions]
        example["motion_classes"] = [r.motion_class for r in clip.regions]
    return example


def _clip_seed(seed: int, index: int) -> int:
    # one integer per (dataset seed, index), so that datasets with different seeds do not share clips
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0] >> 1)


class SyntheticMotionDataset(Dataset):
    """Synthetic motion clips as a torch Dataset with the keys of the real-video datasets.

    Item `i` is `generate_clip(seed=f(seed, i), split=split, ...)` converted by `clip_to_example`;
    the same (length, split, size, num_frames, seed, kwargs) always yields the same items.

    Args:
        length: number of clips.
        split: "train" or "eval" (held-out photos and paraphrases).
        size: short side in px, or (H, W).
        num_frames: frames per clip.
        seed: dataset seed.
        **clip_kwargs: passed to `generate_clip` (aspect, classes, speed_range, region_area, num_regions,
            prompt_set, mode, shape, noise, ...).
    """

    def __init__(self, length: int, split: str = "train", size=128, num_frames: int = 16, seed: int = 0, **clip_kwargs):
        _check_split(split)
        if length < 0:
            raise ValueError(f"length must be non-negative, got {length}.")
        self.length, self.split, self.size, self.num_frames, self.seed = int(length), split, size, num_frames, seed
        self.clip_kwargs = clip_kwargs

    def __len__(self) -> int:
        return self.length

    def clip(self, index: int) -> SyntheticClip:
        """The `SyntheticClip` behind item `index` (with its region details and metadata)."""
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length} clips")
        index %= max(self.length, 1)
        return generate_clip(_clip_seed(self.seed, index), self.split, self.size, self.num_frames, **self.clip_kwargs)

    def __getitem__(self, index: int):
        index = int(index)
        clip = self.clip(index)
        return clip_to_example(clip, f"synthetic-{self.split}-{self.seed}-{index % max(self.length, 1)}")
