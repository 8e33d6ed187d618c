"""How long a click takes in the app once the image embedding exists (target: about 100 ms).

Server-side parts of one click, on examples/cat.jpg (451x300) and on a 1024-px photo: the segmenter's
prediction, drawing the overlay, and Gradio encoding the overlay for the browser (`gr.Image(format="jpeg")`).
Prints figures; asserts nothing.

    python bench/app_click_latency.py [--segmenter sam|classical] [--clicks 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def median_ms(samples: list[float]) -> str:
    return (
        f"{1000 * statistics.median(samples):7.1f} ms (p90 {1000 * sorted(samples)[int(0.9 * (len(samples) - 1))]:.1f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segmenter", choices=["sam", "classical"], default=None)
    parser.add_argument("--clicks", type=int, default=20)
    args = parser.parse_args()

    import gradio as gr

    from fyc.ui.engine import Engine
    from fyc.ui.events import AppEvents
    from fyc.ui.session import Session

    engine = Engine(segmenter=args.segmenter)
    events = AppEvents(engine)
    encoder = gr.Image(format="jpeg", type="numpy")
    print(f"segmenter: {engine.segmenter.backend}")

    cat = np.asarray(Image.open(REPO / "examples" / "cat.jpg").convert("RGB"))
    big = np.asarray(Image.fromarray(cat).resize((1024, 681), Image.Resampling.LANCZOS))
    rng = np.random.default_rng(0)
    for name, image in (("cat 451x300", cat), ("photo 1024x681", big)):
        session = Session()
        events.upload(image, session)
        start = time.perf_counter()
        events.embed(session)
        embed_s = time.perf_counter() - start
        height, width = session.image.shape[:2]
        segment_s, overlay_s, encode_s, total_s = [], [], [], []
        for i in range(args.clicks):
            if i % 4 == 0:
                session.clear_all()
            x, y = int(rng.integers(width // 4, 3 * width // 4)), int(rng.integers(height // 4, 3 * height // 4))
            t0 = time.perf_counter()
            session.add_point(x, y, 1)
            session.current.mask = engine.segment(session.image, session.current.points)
            t1 = time.perf_counter()
            overlay = events.render(session, "")[1]
            t2 = time.perf_counter()
            encoder.postprocess(overlay)
            t3 = time.perf_counter()
            segment_s.append(t1 - t0), overlay_s.append(t2 - t1), encode_s.append(t3 - t2), total_s.append(t3 - t0)
        print(f"{name}: embedding {embed_s:.2f} s; per click over {args.clicks} clicks (median):")
        print(
            f"  segment {median_ms(segment_s)}\n  overlay {median_ms(overlay_s)}\n  encode  {median_ms(encode_s)}"
            f"\n  total   {median_ms(total_s)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
