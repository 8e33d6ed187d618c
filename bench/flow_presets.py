"""Which optical-flow settings read motion correctly: OFM and speed of DIS presets and Farneback.

Prints, for a textured square moving 3 px/frame at 256 px wide (and the same scene at 512 px, 6 px/frame),
the OFM that `fyc.flow`'s rule measures (truth: 3.0), the share of the motion mask outside the square's
path, and milliseconds per frame pair. Run: `.venv/bin/python bench/flow_presets.py`.
"""

import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from test_flow import moving_square  # noqa: E402

from fyc.flow import DIS_PRESETS, stats_from_flow  # noqa: E402


def flows(frames, preset, finest_scale):
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    if preset == "farneback":
        return np.stack(
            [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0) for a, b in zip(gray, gray[1:])]
        )
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    if finest_scale is not None:
        dis.setFinestScale(finest_scale)
    return np.stack([dis.calc(a, b, None) for a, b in zip(gray, gray[1:])])


def main():
    cv2.setNumThreads(1)
    print(f"{'estimator':<36}{'width':>6}{'OFM':>7}{'outside':>9}{'ms/pair':>9}")
    settings = [(p, fs) for p in ("ultrafast", "fast", "medium") for fs in (None, 0)] + [("farneback", None)]
    for preset, fs in settings:
        for width, speed in ((256, 3), (512, 6)):
            frames, path = moving_square(width=width, speed=speed, num_frames=16)
            times = []
            for _ in range(3):  # best of 3: the machine is shared
                start = time.perf_counter()
                f = flows(frames, preset, fs)
                times.append(time.perf_counter() - start)
            ms = min(times) * 1000 / len(f)
            stats = stats_from_flow(f)
            outside = (stats.mask & ~path).sum() / path.sum()
            name = preset if preset == "farneback" else f"dis {preset}, finest scale {'default' if fs is None else fs}"
            print(f"{name:<36}{width:>6}{stats.ofm:>7.2f}{outside:>9.2f}{ms:>9.1f}")


if __name__ == "__main__":
    main()
