"""Benchmark sets for `python -m fyc eval`: what to animate, where, with which prompt, at which strengths.

`--set` takes one of:

- `photos`: the shipped set `examples/benchmark/benchmark.json`: real photographs held out from the demo
  model's training (`fyc.data.synthetic`'s "eval" photos), each with hand-placed regions, a canonical
  motion prompt and a caption. No reference videos, so no FVD.
- `synthetic`: held-out clips of the demo generator (`fyc.data.synthetic`, split "eval": photos and prompt
  paraphrases never seen in training). Frame 0 is the input, the clip's region masks and motion prompts
  are the regions, its caption is the text, and the clip itself is the reference video (FVD, and the
  regional metrics of a real clip for comparison).
- `default`: `photos` followed by `synthetic`.
- a folder (or its `benchmark.json`) in the format below: a user's own set.

Folder format::

    my_set/
      benchmark.json
      cat.jpg  cat_head.png  cat_real.mp4  ...

    {
      "name": "my set",                      # optional
      "ofm": [2, 4, 8, 16],                  # optional default OFM sweep (fyc.flow units: px/frame at 256 px)
      "items": [
        {
          "id": "cat",                       # optional, default item-N
          "image": "cat.jpg",                # path relative to the folder, or "photo:NAME" for a photograph of
                                             #   fyc.data.synthetic.PHOTOS (shipped inside installed packages)
          "regions": [                       # one entry per object; each gives exactly one of
            {"mask": "cat_head.png", "prompt": "shake"},        # a mask image (non-zero = region, any size)
            {"box": [x0, y0, x1, y1], "prompt": "sway"},        # a box in image pixels (x1, y1 exclusive)
            {"ellipse": [cx, cy, rx, ry], "prompt": "pulse"}    # an ellipse in image pixels
          ],
          "caption": "a cat shaking its head",  # optional text for text_alignment (default: the prompts)
          "ofm": [2, 8, 16],                 # optional sweep for this item
          "seed": 0,                         # optional sampling seed
          "reference": "cat_real.mp4",       # optional real clip for FVD: a video file (.mp4/.webm/.gif...),
                                             #   .npy uint8 (F, H, W, 3), or a folder of frames (sorted)
          "reference_ofm": 6.5               # optional; measured with fyc.flow when a reference is given
        }
      ]
    }
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fyc.region import Region

DEFAULT_OFM_LEVELS = (2.0, 4.0, 8.0, 16.0)
# The repository's set, found from the working directory as ./weights is (never from the installed package's place).
SHIPPED_SET = Path("examples") / "benchmark" / "benchmark.json"
BUILTIN_SETS = ("default", "photos", "synthetic")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class BenchmarkItem:
    """One thing to animate.

    Attributes:
        id: short name, used in the report.
        image: uint8 (H, W, 3) input image.
        regions: `Region`s with masks at the image's size.
        caption: text for text_alignment.
        ofm_levels: requested OFM levels of the sweep (ascending).
        seed: sampling seed (the same for every level, so only the OFM changes).
        reference: optional real clip uint8 (F, H, W, 3) for FVD.
        reference_ofm: OFM of the reference (fyc.flow units), if known.
        source: where the item came from ("photos", "synthetic", or a path).
    """

    id: str
    image: np.ndarray
    regions: list[Region]
    caption: str
    ofm_levels: list[float]
    seed: int = 0
    reference: np.ndarray | None = None
    reference_ofm: float | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)


def load_benchmark(
    spec: str | os.PathLike = "default", *, synthetic_count: int = 8, size: int = 128, num_frames: int = 16
) -> list[BenchmarkItem]:
    """Items of a benchmark set (see the module docstring for `spec`).

    Args:
        spec: "default", "photos", "synthetic", a folder or a benchmark.json path.
        synthetic_count: number of held-out synthetic clips (for "default" and "synthetic").
        size: short side of the synthetic clips in px (use the pipeline's native size).
        num_frames: frames of the synthetic reference clips.
    """
    spec = os.fspath(spec)
    if spec == "default":
        return load_benchmark("photos") + synthetic_items(synthetic_count, size, num_frames)
    if spec == "photos":
        if not SHIPPED_SET.is_file():
            raise FileNotFoundError(
                f"The shipped benchmark photos ({SHIPPED_SET}) are not under {Path.cwd()}: run from the repository's "
                "root, or name the folder or benchmark.json to use."
            )
        return load_folder(SHIPPED_SET, source="photos")
    if spec == "synthetic":
        return synthetic_items(synthetic_count, size, num_frames)
    return load_folder(spec)


def load_folder(path: str | os.PathLike, source: str | None = None) -> list[BenchmarkItem]:
    """Items of a benchmark folder (or its benchmark.json) in the documented format."""
    path = Path(path)
    json_path = path / "benchmark.json" if path.is_dir() else path
    if not json_path.is_file():
        raise FileNotFoundError(
            f"No benchmark at {path}: expected a folder with benchmark.json (format in fyc/eval/benchmark.py) "
            f"or one of {', '.join(BUILTIN_SETS)}."
        )
    root = json_path.parent
    spec = json.loads(json_path.read_text())
    entries = spec.get("items")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{json_path}: needs a non-empty list under 'items'.")
    default_levels = spec.get("ofm", DEFAULT_OFM_LEVELS)
    items = []
    for index, entry in enumerate(entries):
        where = f"{json_path} item {index}"
        image = _read_image(entry.get("image"), root, where)
        regions = [
            _read_region(r, image.shape[:2], root, f"{where} region {k}")
            for k, r in enumerate(entry.get("regions") or [])
        ]
        if not regions:
            raise ValueError(f"{where}: needs at least one region with a prompt.")
        levels = sorted(float(v) for v in np.atleast_1d(entry.get("ofm", default_levels)))
        if any(v < 0 for v in levels):
            raise ValueError(f"{where}: OFM levels must be non-negative, got {levels}.")
        reference = _read_video(entry["reference"], root, where) if entry.get("reference") else None
        items.append(
            BenchmarkItem(
                id=str(entry.get("id", f"item-{index}")),
                image=image,
                regions=regions,
                caption=str(entry.get("caption") or ", ".join(r.prompt for r in regions)),
                ofm_levels=levels,
                seed=int(entry.get("seed", 0)),
                reference=reference,
                reference_ofm=_optional_float(entry.get("reference_ofm")),
                source=source or str(root),
            )
        )
    return items


def synthetic_items(
    count: int, size: int = 128, num_frames: int = 16, seed: int = 0, levels=DEFAULT_OFM_LEVELS
) -> list[BenchmarkItem]:
    """Held-out clips of the demo generator as benchmark items (frame 0 in, the clip as reference)."""
    if count <= 0:
        return []
    from fyc.data.synthetic import SyntheticMotionDataset

    dataset = SyntheticMotionDataset(count, split="eval", size=size, num_frames=num_frames, seed=seed)
    items = []
    for index in range(count):
        clip = dataset.clip(index)
        items.append(
            BenchmarkItem(
                id=f"synthetic-{index}",
                image=np.array(clip.frames[0]),
                regions=[Region(r.region_mask, r.motion_prompt) for r in clip.regions],
                caption=clip.caption,
                ofm_levels=[float(v) for v in levels],
                seed=index,
                reference=np.array(clip.frames),
                reference_ofm=clip.ofm,
                source="synthetic",
                extra={"motion_class": clip.motion_class, "background": clip.background_photo},
            )
        )
    return items


def quick_levels(levels: list[float]) -> list[float]:
    """At most 3 levels for --quick: lowest, middle and highest (a rank correlation needs 3)."""
    if len(levels) <= 3:
        return list(levels)
    return [levels[0], levels[len(levels) // 2], levels[-1]]


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


def _read_image(name, root: Path, where: str) -> np.ndarray:
    if not name:
        raise ValueError(f"{where}: 'image' is missing.")
    if str(name).startswith("photo:"):
        from fyc.data.synthetic import load_photo

        return np.array(load_photo(str(name)[len("photo:") :]))
    path = root / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{where}: cannot read image {path}.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_region(entry: dict, size: tuple[int, int], root: Path, where: str) -> Region:
    height, width = size
    prompt = entry.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}: needs a non-empty 'prompt'.")
    given = [key for key in ("mask", "box", "ellipse") if key in entry]
    if len(given) != 1:
        raise ValueError(f"{where}: give exactly one of 'mask', 'box' or 'ellipse', got {given or 'none'}.")
    mask = np.zeros((height, width), np.uint8)
    if "mask" in entry:
        raw = cv2.imread(str(root / entry["mask"]), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise FileNotFoundError(f"{where}: cannot read mask {root / entry['mask']}.")
        raw = raw[..., -1] if raw.ndim == 3 and raw.shape[-1] == 4 else raw
        raw = raw.max(axis=-1) if raw.ndim == 3 else raw
        mask = cv2.resize((raw > 0).astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    elif "box" in entry:
        x0, y0, x1, y1 = (int(round(v)) for v in entry["box"])
        mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 1
    else:
        cx, cy, rx, ry = (float(v) for v in entry["ellipse"])
        cv2.ellipse(mask, (int(round(cx)), int(round(cy))), (int(round(rx)), int(round(ry))), 0, 0, 360, 1, -1)
    if not mask.any():
        raise ValueError(f"{where}: the region is empty (outside the {width}x{height} image?).")
    return Region(mask.astype(bool), prompt)


def _read_video(name, root: Path, where: str) -> np.ndarray:
    path = root / name
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < 2:
            raise ValueError(f"{where}: reference folder {path} needs at least 2 frames.")
        frames = [cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in files]
        return np.stack(frames)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: reference {path} does not exist.")
    if path.suffix.lower() == ".npy":
        frames = np.load(path, allow_pickle=False)
    elif path.suffix.lower() == ".gif":
        import imageio.v3 as iio

        frames = np.asarray(iio.imread(path, index=None))[..., :3]
    else:
        from fyc.video import read_video

        frames, _ = read_video(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) < 2:
        raise ValueError(
            f"{where}: reference {path} must hold >= 2 uint8 RGB frames, got {frames.shape} {frames.dtype}."
        )
    return frames
