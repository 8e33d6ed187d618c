"""Cost of one training sample from a video: decode + resize/crop, optical flow + motion stats.

Writes a WebVid-sized test video (640x352, 80 frames, a textured square moving over a textured
background), then times `read_clip` and `fyc.flow.motion_stats` for 16 frames at stride 4 at two
training sizes, single-threaded OpenCV. Run: `.venv/bin/python bench/video_data.py`.
"""

import sys
import tempfile
import time
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fyc.data.video import ClipSpec, read_clip  # noqa: E402
from fyc.flow import motion_stats  # noqa: E402


def best_of(fn, n=3):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    w, h = 640, 352
    background = cv2.resize(
        rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC
    )
    square = cv2.resize(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (96, 96), interpolation=cv2.INTER_CUBIC)
    frames = []
    for i in range(80):
        frame = background.copy()
        frame[120:216, 100 + 2 * i : 196 + 2 * i] = square
        frames.append(frame)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        iio.imwrite(path, np.stack(frames), fps=25, codec="libx264", quality=8)
        print(f"source: {w}x{h}, 80 frames, square moving 2 px/frame; clip: 16 frames at stride 4")
        for size in (256, 512):
            spec = ClipSpec(16, 4, size, size, start="first")
            t_read, (clip, _) = best_of(lambda: read_clip(path, spec))
            t_flow, stats = best_of(lambda: motion_stats(clip))
            print(
                f"{size}x{size}: decode+resize {t_read * 1000:.0f} ms, flow+stats {t_flow * 1000:.0f} ms, "
                f"total {(t_read + t_flow) * 1000:.0f} ms/sample; OFM {stats.ofm:.2f} "
                f"(truth {2 * 4 * (size / (h * 1.0)) * 256 / size:.2f})"
            )


if __name__ == "__main__":
    main()
