"""How fast `fyc.render.render_video` renders, and why it inverts the fields by splatting.

    .venv/bin/python bench/render_speed.py [--frames 16] [--repeats 3] [--strip DIR]

Part 1, speed: a real photograph (`skimage.data.chelsea`, resized to 1280x800 for `max_side=1024` and to 2560x1600
for `max_side=2048`), 1 or 3 regions, a 16x10 field grid, 16 frames. Prints the median wall time of `--repeats`
renders, the Python-side peak memory of one render (tracemalloc: numpy arrays included, OpenCV's own scratch
buffers not) and the process's peak resident size.

Part 2, inverse: how well three ways of turning the forward field into a backward map reproduce an affine warp of
the photo (`cv2.warpAffine`) at the last frame, at 512 px: the renderer's splat + Newton (`backward_map`, upsampled as it does), a fixed-point iteration
`x <- y - d(x)` started at `x = y`, and Newton started at `x = y`. Prints the PSNR inside the moved region (eroded
3 px) and the share of its pixels each method solves (residual < 0.5 px and landing on the region).

`--strip DIR` also writes a few renders as mp4s there and a contact strip of them (DIR/strip.png).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers/

from helpers.affine import about, rotation

from fyc.motion_field import fields_from_affine
from fyc.render import _Grid, _Layer, backward_map, render_video, sample_field, soft_mask

GRID = (10, 16)


def ellipse(height, width, cx, cy, rx, ry):
    ys, xs = np.mgrid[0:height, 0:width]
    return ((xs - cx * width) / (rx * width)) ** 2 + ((ys - cy * height) / (ry * height)) ** 2 < 1


def affine_fields(matrices, height, width, grid=GRID):
    return fields_from_affine(matrices, grid, height, width)


def motion(kind, height, width, frames, cx, cy):
    """Per-frame affine matrices of a named motion about (cx, cy) (fractions of the photo)."""
    x, y = cx * width, cy * height
    steps = np.linspace(0, 1, frames)
    if kind == "move":
        return [np.array([[1, 0, 0.15 * width * s], [0, 1, -0.05 * height * s]]) for s in steps]
    if kind == "rotate180":
        return [about((x, y), rotation(180 * s)) for s in steps]
    if kind == "zoom2":
        return [about((x, y), np.eye(2) * 2**s) for s in steps]
    if kind == "zoom3.5":
        return [about((x, y), np.eye(2) * 3.5**s) for s in steps]
    if kind == "zoom0.25":
        return [about((x, y), np.eye(2) * 0.25**s) for s in steps]
    if (
        kind in ("sway", "stream")
    ):  # (a stream's field is replaced by a constant velocity in `scene`)  # a shear that grows and comes back, as a sway's lean
        return [about((x, y), np.array([[1, 0.3 * np.sin(2 * np.pi * s)], [0, 1]])) for s in steps]
    raise ValueError(kind)


def scene(max_side, frames, regions, kind):
    """Photo, fields and masks of a timing case: the cat's head does `kind`; with 3 regions, a sway and a move come
    first, so the head is drawn on top and owns the grid cells it shares with them."""
    size = (2560, 1600) if max_side > 1024 else (1280, 800)
    photo = cv2.resize(skimage.data.chelsea(), size, interpolation=cv2.INTER_CUBIC)
    height, width = photo.shape[:2]
    specs = [("sway", 0.15, 0.75, 0.1, 0.15), ("move", 0.85, 0.25, 0.08, 0.12)][: regions - 1] + [
        (kind, 0.52, 0.45, 0.2, 0.3)
    ]
    masks, fields = [], np.zeros((frames, 2, *GRID), np.float32)
    for name, cx, cy, rx, ry in specs:
        mask = ellipse(height, width, cx, cy, rx, ry)
        part = affine_fields(motion(name, height, width, frames, cx, cy), height, width)
        if name == "stream":
            part[:] = 0
            part[:, 0] = 2.5 * np.arange(frames)[:, None, None]
        cells = (
            cv2.dilate(
                (cv2.resize(mask.astype(np.float32), GRID[::-1], interpolation=cv2.INTER_AREA) > 0).astype(np.uint8),
                np.ones((3, 3), np.uint8),
            )
            > 0
        )
        fields[:, :, cells] = part[:, :, cells]
        masks.append(mask)
    modes = ["layer"] * (regions - 1) + ["stream" if kind == "stream" else "layer"]
    return photo, fields, masks, modes


def time_renders(args):
    print(f"Part 1: render time, {args.frames} frames, grid {GRID[1]}x{GRID[0]}, median of {args.repeats}")
    print(
        f"{'max_side':>8} {'photo':>10} {'output':>10} {'regions':>7} {'motion':>9} {'seconds':>8} {'tracemalloc MB':>14}"
    )
    cases = [(1024, 1, k) for k in ("move", "rotate180", "zoom3.5", "zoom0.25", "stream")] + [
        (1024, 3, "rotate180"),
        (1024, 3, "zoom3.5"),
    ]
    cases += [(2048, 1, "rotate180"), (2048, 1, "zoom3.5"), (2048, 3, "rotate180"), (2048, 3, "zoom3.5")]
    for max_side, regions, kind in cases:
        photo, fields, masks, modes = scene(max_side, args.frames, regions, kind)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            video = render_video(photo, fields, masks, max_side=max_side, region_modes=modes)
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        render_video(photo, fields, masks, max_side=max_side, region_modes=modes)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(
            f"{max_side:>8} {photo.shape[1]:>5}x{photo.shape[0]:<4} {video.shape[2]:>5}x{video.shape[1]:<4} {regions:>7} {kind:>9} "
            f"{np.median(times):>8.3f} {peak:>14.0f}"
        )
    print(f"process peak resident size: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def compare_inverses():
    photo = skimage.data.astronaut()  # 512x512
    height, width = photo.shape[:2]
    cx, cy = 0.51, 0.47
    mask = ellipse(height, width, cx, cy, 0.14, 0.14)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    print("\nPart 2: inverting the forward field, last frame vs cv2.warpAffine, 512 px, disk of radius 72 px")
    print(
        f"{'motion':>10} | {'splat+Newton':>16} | {'fixed point x=y':>16} | {'Newton x=y':>16}   (PSNR dB / share solved)"
    )
    for kind in ("move", "rotate90", "rotate180", "zoom2", "zoom3.5", "zoom0.25"):
        if kind.startswith("rotate"):
            matrices = [about((cx * width, cy * height), rotation(float(kind[6:]) * s)) for s in np.linspace(0, 1, 16)]
        elif kind == "move":
            matrices = [np.array([[1, 0, 150 * s], [0, 1, 0]]) for s in np.linspace(0, 1, 16)]
        else:
            matrices = motion(kind, height, width, 16, cx, cy)
        fields = affine_fields(matrices, height, width, (16, 16))
        # As the model (and fyc.data.field_clips) writes them: the region's cells and their neighbours, zero beyond.
        reach = (
            cv2.dilate(
                (cv2.resize(mask.astype(np.float32), (16, 16), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8),
                np.ones((3, 3), np.uint8),
            )
            > 0
        )
        fields[:, :, ~reach] = 0
        matrix = matrices[-1].astype(np.float32)
        expected = cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR)
        target = cv2.warpAffine(mask.astype(np.uint8), matrix, (width, height), flags=cv2.INTER_NEAREST) > 0
        inner = cv2.erode(target.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        field = fields[-1] * (width / 256.0)
        row = []
        for method in ("splat", "fixed", "newton"):
            x, y = xs.copy(), ys.copy()
            if method == "splat":  # the renderer's own map, without its pyramid (which would blur zoom0.25)
                grid = _Grid(height, width)
                layer = _Layer(
                    photo, soft_mask(mask, height, width), grid, np.zeros((grid.rows, grid.cols), np.float32)
                )
                map_x, map_y, _, _ = backward_map(field, layer)
                whole = (slice(0, grid.rows), slice(0, grid.cols))
                x, y = grid.upsample(map_x, whole)[0], grid.upsample(map_y, whole)[0]
            for _ in range({"splat": 0, "fixed": 20, "newton": 6}[method]):
                if method == "fixed":
                    dx, dy = sample_field(field, x, y, height, width)
                    x, y = xs - dx, ys - dy
                else:
                    dx, dy, a, b, c, d = sample_field(field, x, y, height, width, gradient=True)
                    rx, ry = x + dx - xs, y + dy - ys
                    a, d = a + 1, d + 1
                    det = np.where(np.abs(a * d - b * c) > 1e-3, a * d - b * c, 1.0)
                    x, y = x - (d * rx - b * ry) / det, y - (a * ry - c * rx) / det
                x, y = np.clip(x, -1e4, 1e4).astype(np.float32), np.clip(y, -1e4, 1e4).astype(np.float32)
            dx, dy = sample_field(field, x, y, height, width)
            solved = (np.hypot(x + dx - xs, y + dy - ys) < 0.5) & (
                cv2.remap(mask.astype(np.float32), x, y, cv2.INTER_NEAREST) > 0.5
            )
            alpha = cv2.remap(mask.astype(np.float32), x, y, cv2.INTER_LINEAR)[..., None]
            warped = cv2.remap(photo, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            out = np.clip(photo + alpha * (warped.astype(np.float32) - photo), 0, 255).astype(np.uint8)
            row.append((psnr(out[inner], expected[inner]), solved[inner].mean()))
        cells = [f"{min(p, 99):4.0f} dB / {s:4.0%}" for p, s in row]
        print(f"{kind:>10} | " + " | ".join(f"{c:>16}" for c in cells))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def write_strip(folder: Path, frames: int):
    from fyc.video import export_mp4

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for regions, kind in ((1, "rotate180"), (3, "zoom3.5"), (1, "zoom0.25"), (1, "stream")):
        photo, fields, masks, modes = scene(1024, frames, regions, kind)
        path = folder / f"render_{regions}_{kind}.mp4"
        export_mp4(render_video(photo, fields, masks, region_modes=modes), path, fps=8)
        paths.append(str(path))
    import subprocess

    tool = Path(__file__).resolve().parents[2] / "shared" / "tools" / "contact_strip.py"
    subprocess.run([sys.executable, str(tool), str(folder / "strip.png"), *paths], check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-timing", action="store_true", help="only part 2 (and the strip)")
    parser.add_argument("--strip", type=Path, default=None, help="folder for example renders and their contact strip")
    args = parser.parse_args(argv)
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads")
    if not args.skip_timing:
        time_renders(args)
    compare_inverses()
    if args.strip:
        write_strip(args.strip, args.frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
