"""Render example clips of `fyc.data.synthetic` to look at: a PNG strip per split and a few GIFs.

    .venv/bin/python docs/synthetic_examples/render.py [--out docs/synthetic_examples]

Each strip row is one clip: frames 0, 3, 6, 9, 12, 15, then the frame-0 region mask (green) and the
motion mask from `fyc.flow` (red) over frame 0; the row's caption, class, speed and OFM are printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from fyc.data.motion_vocab import MOTION_CLASS_NAMES
from fyc.data.synthetic import generate_clip


def _overlay(frame: np.ndarray, mask: np.ndarray, colour) -> np.ndarray:
    out = frame.astype(np.float32)
    out[mask] = 0.45 * out[mask] + 0.55 * np.array(colour, np.float32)
    return out.astype(np.uint8)


def strip(clips, columns=(0, 3, 6, 9, 12, 15), gap=2) -> np.ndarray:
    rows = []
    for clip in clips:
        tiles = [clip.frames[min(c, len(clip.frames) - 1)] for c in columns]
        tiles += [_overlay(clip.frames[0], clip.region_mask, (0, 255, 0)),
                  _overlay(clip.frames[0], clip.motion_mask, (255, 0, 0))]
        h = tiles[0].shape[0]
        sep = np.full((h, gap, 3), 255, np.uint8)
        rows.append(np.concatenate(sum([[t, sep] for t in tiles], [])[:-1], axis=1))
        rows.append(np.full((gap, rows[-1].shape[1], 3), 255, np.uint8))
    return np.concatenate(rows[:-1], axis=0)


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    # a 256-colour palette keeps the folder small; these strips are for looking, not measuring
    Image.fromarray(image).quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "eval"):
        clips = [generate_clip(i, split, motion_class=name) for i, name in enumerate(MOTION_CLASS_NAMES)]
        _save_png(out / f"strip_{split}.png", strip(clips))
        with open(out / f"strip_{split}.txt", "w") as f:
            for clip in clips:
                r = clip.regions[0]
                f.write(f"{r.motion_class:24s} speed {r.speed:5.2f} ofm {clip.ofm:5.2f} {r.shape:12s} {r.mode:8s} "
                        f"| {clip.caption}\n")
    for i, name in enumerate(("move_left", "rotate_clockwise", "sway", "bounce", "zoom_out")):
        clip = generate_clip(100 + i, "train", motion_class=name, speed=6.0)
        iio.imwrite(out / f"{name}.gif", list(clip.frames), duration=100, loop=0)
    two = generate_clip(7, "train", num_regions=2, size=128, aspect=1.5)
    iio.imwrite(out / "two_regions.gif", list(two.frames), duration=100, loop=0)
    _save_png(out / "strip_two_regions.png", strip([two]))
    print(two.caption)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
