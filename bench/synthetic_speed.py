"""How fast `fyc.data.synthetic` makes clips, and how well the measured OFM follows the requested speed.

    .venv/bin/python bench/synthetic_speed.py [--clips 40] [--size 128] [--frames 16]

Prints milliseconds per clip (with and without the `fyc.flow` labels), the Spearman rank correlation
between the requested speed and the measured OFM, and the measured OFM range per motion class.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fyc.data.synthetic import generate_clip  # noqa: E402


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args(argv)

    generate_clip(0, size=args.size, num_frames=args.frames)  # photo loading and imports are once per process
    for labels in (False, True):
        start = time.perf_counter()
        for seed in range(args.clips):
            generate_clip(seed, size=args.size, num_frames=args.frames, compute_labels=labels)
        per_clip = (time.perf_counter() - start) / args.clips
        print(f"{args.frames} frames, {args.size} px short side, labels={labels}: {per_clip * 1000:.0f} ms per clip")

    speeds, ofms, by_class = [], [], defaultdict(list)
    for seed in range(args.clips):
        clip = generate_clip(1000 + seed, size=args.size, num_frames=args.frames)
        speeds.append(clip.regions[0].speed)
        ofms.append(clip.ofm)
        by_class[clip.motion_class].append(clip.ofm)
    print(
        f"requested speed vs measured OFM over {args.clips} clips: Spearman {_spearman(speeds, ofms):.3f}; "
        f"OFM {min(ofms):.2f} .. {max(ofms):.2f} (median {np.median(ofms):.2f})"
    )
    for name, values in sorted(by_class.items()):
        print(f"  {name:24s} n={len(values):3d} OFM {min(values):5.2f} .. {max(values):5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
