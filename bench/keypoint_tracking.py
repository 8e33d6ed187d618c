"""Pose sequences on the motion-field model (issue 20 part 2): are the requested keypoints where the video puts them?

    python bench/keypoint_tracking.py --weights weights/demo_motion [--photos 8] [--out runs/keypoints.json]

On held-out photographs (bench/heldout_photos.py, their hand-chosen regions), a hand-made pose sequence of two
keypoints on the clicked object: a "wrist" that rises in an arc to the upper right (an arm raised) and an "elbow"
that rises half as far. The sequence goes to the pipeline as keypoint JSON would (`fyc.keypoints`), the video is
rendered at its default size (long side up to 1024 px), and each keypoint is tracked through the video by chaining
DIS flow from its frame-0 position. Printed and written: per photo and pooled, the median distance between tracked and
requested positions over frames 1..F-1, in px at the output resolution, and at the last frame; the same for a run
without the keypoints (how far the prompt alone lands from the pose) for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heldout_photos as H  # noqa: E402

from fyc.flow import optical_flow  # noqa: E402
from fyc.keypoints import keypoint_trajectories, parse_keypoints  # noqa: E402
from fyc.region import Region  # noqa: E402
from fyc.weights import load_pipeline  # noqa: E402

FRAMES = 16


def arm_raise(photo_name: str, shape: tuple[int, int], frames: int = FRAMES) -> dict:
    """Keypoint JSON: wrist and elbow inside the photo's region, the wrist rising 0.9 of the region's half-height in
    an arc to the right, the elbow half as far."""
    h, w = shape
    cx, cy, rx, ry = H.BY_NAME[photo_name].ellipse
    x0, y0 = cx * w, cy * h
    wrist0 = np.array([x0 + 0.3 * rx * w, y0 + 0.2 * ry * h])
    elbow0 = np.array([x0 - 0.2 * rx * w, y0 + 0.3 * ry * h])
    reach = 0.9 * ry * h
    out = []
    for t in np.linspace(0, 1, frames):
        angle = t * np.pi / 2
        wrist = wrist0 + reach * np.array([0.5 * np.sin(angle), -np.sin(angle)])
        elbow = elbow0 + 0.5 * reach * np.array([0.3 * t, -t])
        out.append({"wrist": wrist.round(1).tolist(), "elbow": elbow.round(1).tolist()})
    return {"frames": out}


def track(video: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(F, K, 2): where frame-0 `points` (K, 2) are in each frame, chaining DIS flow (bilinear at each position)."""
    flow = optical_flow(video, "dis")
    h, w = video.shape[1:3]
    path = [points.astype(np.float64)]
    for pair in flow:
        p = path[-1]
        x, y = np.clip(p[:, 0], 0, w - 1), np.clip(p[:, 1], 0, h - 1)
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        f = (
            pair[y0, x0] * (1 - fx) * (1 - fy)
            + pair[y0, x1] * fx * (1 - fy)
            + pair[y1, x0] * (1 - fx) * fy
            + pair[y1, x1] * fx * fy
        )
        path.append(p + f)
    return np.stack(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights/demo_motion")
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument("--prompt", default="raise the arm")
    parser.add_argument("--max-side", type=int, default=1024, help="long side of the videos (px)")
    parser.add_argument("--out", default=None, help="JSON of the figures")
    args = parser.parse_args()

    pipe = load_pipeline(args.weights)
    pipe.set_progress_bar_config(disable=True)
    steps = args.steps or 12
    rows = []
    for photo in H.PHOTOS[: args.photos]:
        image, mask = H.load(photo.name), H.region(photo.name)
        tracks = parse_keypoints(arm_raise(photo.name, image.shape[:2]))
        requested = np.stack([tracks.resampled(FRAMES)[n] for n in ("wrist", "elbow")], 1)  # (F, K, 2) photo px
        row = {"photo": photo.name}
        for label, trajectories in (
            ("keypoints", keypoint_trajectories(tracks, [mask], FRAMES)),
            ("prompt_only", None),
        ):
            started = time.perf_counter()
            out = pipe(
                image,
                [Region(mask, args.prompt)],
                ofm=4.0,
                num_frames=FRAMES,
                num_inference_steps=steps,
                trajectories=trajectories,
                max_side=args.max_side,
                generator=torch.Generator().manual_seed(0),
                output_type="np",
            )
            video = (np.asarray(out.frames[0]) * 255).round().clip(0, 255).astype(np.uint8)
            scale = video.shape[2] / image.shape[1]
            want = requested * scale
            got = track(video, want[0])
            error = np.linalg.norm(got - want, axis=-1)[1:]  # (F-1, K) px at output resolution
            row[label] = {
                "median_px": float(np.median(error)),
                "last_frame_median_px": float(np.median(error[-1])),
                "path_px": float(np.median(np.linalg.norm(want[-1] - want[0], axis=-1))),
                "seconds": round(time.perf_counter() - started, 1),
                "size": list(video.shape[1:3]),
            }
        rows.append(row)
        k, p = row["keypoints"], row["prompt_only"]
        print(
            f"{photo.name:14s} {k['size'][1]}x{k['size'][0]}: keypoints median {k['median_px']:.1f} px "
            f"(last frame {k['last_frame_median_px']:.1f}, path {k['path_px']:.0f} px); "
            f"prompt only {p['median_px']:.1f} px",
            flush=True,
        )
    pooled = {label: float(np.median([r[label]["median_px"] for r in rows])) for label in ("keypoints", "prompt_only")}
    print(f"median over photos: keypoints {pooled['keypoints']:.1f} px, prompt only {pooled['prompt_only']:.1f} px")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"weights": args.weights, "rows": rows, "median": pooled}, indent=1))


if __name__ == "__main__":
    main()
