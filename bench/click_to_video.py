"""Click-to-video time in the app on a 1280-px photo (issue 19's target: at most 6 s on a 2-core CPU).

What a visitor waits for, through the app's own event functions (`fyc.ui.events.AppEvents`): upload (the working
copy and the segmenter's embedding), one click (its mask), then Generate with the model's defaults, which returns
the mp4 and the GIF on disk. The photo is `skimage.data.chelsea` resized to 1280x853. Prints the median of
`--repeats` Generates (after one warm-up), the upload and click times, and the process's peak resident size.
Asserts nothing.

    python bench/click_to_video.py [--weights DIR] [--segmenter sam|classical] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import gradio as gr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from machine import cpu_name  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a saved pipeline folder (default: the best under weights/)")
    parser.add_argument("--segmenter", default=None, choices=["sam", "classical"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--prompt", default="sway")
    args = parser.parse_args(argv)

    import skimage.data
    import torch

    from fyc.ui.engine import Engine
    from fyc.ui.events import AppEvents
    from fyc.ui.outputs import OutputFiles
    from fyc.ui.session import Session

    if args.threads:
        torch.set_num_threads(args.threads)
    photo = cv2.resize(skimage.data.chelsea(), (1280, 853), interpolation=cv2.INTER_CUBIC)
    engine = Engine(weights=args.weights, segmenter=args.segmenter).load()
    events = AppEvents(engine, OutputFiles(Path(tempfile.mkdtemp(prefix="fyc-bench-"))))
    defaults = engine.defaults()

    session = Session()
    started = time.perf_counter()
    events.upload(photo, session)
    events.embed(session)
    upload_s = time.perf_counter() - started
    width, height = session.size
    started = time.perf_counter()
    events.click(session, "Include", gr.SelectData(None, {"index": [width // 2, height // 2], "value": None}))
    click_s = time.perf_counter() - started

    def generate() -> tuple[float, str]:
        started = time.perf_counter()
        _, _, _, hint = events.generate(
            session,
            args.prompt,
            defaults.ofm,
            0,
            defaults.num_inference_steps,
            defaults.num_frames,
            defaults.fps,
            False,
            progress=None,
        )
        return time.perf_counter() - started, hint

    generate()  # warm-up: first-call allocations and kernels
    runs = [generate() for _ in range(args.repeats)]
    seconds = [s for s, _ in runs]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {cpu_name()}, torch threads {torch.get_num_threads()}")
    print(f"model: {engine.status_line()}")
    print(
        f"photo 1280x853 -> working copy {width}x{height}; {defaults.num_frames} frames, "
        f"{defaults.num_inference_steps} steps, OFM {defaults.ofm:g}, prompt '{args.prompt}'"
    )
    print(f"upload + embedding: {upload_s:.2f} s; one click: {click_s:.2f} s")
    print(
        f"Generate to mp4 + GIF on disk: median {statistics.median(seconds):.2f} s "
        f"(runs {', '.join(f'{s:.2f}' for s in seconds)}); target <= 6 s"
    )
    print(f"last hint: {runs[-1][1]}")
    print(f"peak resident size: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
