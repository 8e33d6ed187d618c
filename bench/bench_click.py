"""Click → mask latency: SAM image embedding and per-click time, ViT-B and ViT-H sizes, on a 640x480 photo.

Random weights (timing does not depend on their values), the real segment-anything modules, through
`fyc.segment.ClickSegmenter`. Target on the project's 2-core CPU: at most 100 ms per click (stretch 50 ms)
once the embedding exists, and the embedding never computed twice for one image. Also times the
weight-free fallback (target: at most 150 ms per click once its per-image preparation is done) and, with
--accuracy, measures its IoU. Prints figures; asserts nothing.

    python bench/bench_click.py [--models vit_b vit_h] [--clicks 21] [--device cpu] [--threads N] [--no-classical]
                                [--accuracy N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from machine import cpu_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_MS, STRETCH_MS = 100, 50
CLASSICAL_TARGET_MS = 150  # the weight-free fallback's per-click target


def photo_640x480() -> np.ndarray:
    import cv2
    import skimage.data

    return cv2.resize(skimage.data.rocket(), (640, 480), interpolation=cv2.INTER_AREA)  # 427x640 photo


def user_clicks(count: int, width: int, height: int, seed: int = 0) -> list[list[tuple[int, int, int]]]:
    """Click sequences as a user makes them: a first include click, then up to two corrections
    (include or exclude) on the same object, then the next object."""
    rng = np.random.default_rng(seed)
    prompts, current = [], []
    for i in range(count):
        if i % 3 == 0:
            current = []
        label = 1 if not current else int(rng.integers(0, 2))
        current = current + [(int(rng.integers(0, width)), int(rng.integers(0, height)), label)]
        prompts.append(list(current))
    return prompts


def timed(function, *args):
    """(result, wall seconds); the process CPU seconds of the call go to `timed.cpu`."""
    cpu_start, start = time.process_time(), time.perf_counter()
    result = function(*args)
    timed.cpu = time.process_time() - cpu_start
    return result, time.perf_counter() - start


def describe(samples_s: list[float]) -> str:
    ordered = sorted(samples_s)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return f"median {1000 * statistics.median(samples_s):7.1f} ms  p90 {1000 * p90:7.1f} ms  (n={len(samples_s)})"


def bench_sam(model_type: str, image: np.ndarray, clicks, device: str) -> dict:
    import torch

    from fyc.segment import ClickSegmenter, build_sam, official_config
    from fyc.segment.sam_backend import SamClickBackend

    torch.manual_seed(0)
    sam, build_s = timed(lambda: build_sam(official_config(model_type)).to(device))
    params = sum(p.numel() for p in sam.parameters()) / 1e6
    segmenter = ClickSegmenter(SamClickBackend(sam), f"sam-{model_type}")
    engine = segmenter._engine
    default_threads = engine.decoder_threads

    computed, embed_s = timed(segmenter.set_image, image)
    embed_cpu_s = timed.cpu
    assert computed
    _, hit_s = timed(segmenter.set_image, image.copy())  # same pixels, new array: a cache hit
    other = image[::-1].copy()
    segmenter.set_image(other)
    _, switch_back_s = timed(segmenter.set_image, image)  # back to the first image: from the LRU

    segmenter.predict(clicks[0])  # warm-up (first call allocates)
    decoder_s, click_s, click_cpu_s, all_threads_s, stock_s = [], [], [], [], []
    for points in clicks:
        _, seconds = timed(engine.predict, points)
        decoder_s.append(seconds)
        _, seconds = timed(segmenter.predict, points)
        click_s.append(seconds)
        click_cpu_s.append(timed.cpu)
        engine.decoder_threads = 1  # one thread: the better choice when other jobs share the cores
        _, seconds = timed(segmenter.predict, points)
        all_threads_s.append(seconds)
        engine.decoder_threads = default_threads
        coords = np.array([p[:2] for p in points], dtype=np.float32)
        labels = np.array([p[2] for p in points])
        _, seconds = timed(lambda: engine.predictor.predict(coords, labels, multimask_output=len(points) == 1))
        stock_s.append(seconds)
    return {
        "model": model_type,
        "params_m": params,
        "build_s": build_s,
        "embed_s": embed_s,
        "hit_s": hit_s,
        "switch_back_s": switch_back_s,
        "decoder_s": decoder_s,
        "click_s": click_s,
        "stock_s": stock_s,
        "click_cpu_s": click_cpu_s,
        "embed_cpu_s": embed_cpu_s,
        "all_threads_s": all_threads_s,
        "decoder_threads": default_threads,
        "embeddings_computed": engine.embeddings_computed,
    }


def bench_classical(image: np.ndarray, clicks) -> dict:
    """Per-image preparation and per-click seconds (wall and process CPU) of the weight-free fallback."""
    from fyc.segment import ClickSegmenter

    segmenter = ClickSegmenter.load(prefer="classical")
    computed, prepare_s = timed(segmenter.set_image, image)
    prepare_cpu_s = timed.cpu
    assert computed
    _, hit_s = timed(segmenter.set_image, image.copy())  # same pixels: hash + cache hit
    wall, cpu = [], []
    for points in clicks:
        wall.append(timed(segmenter.predict, points)[1])
        cpu.append(timed.cpu)
    return {
        "prepare_s": prepare_s,
        "prepare_cpu_s": prepare_cpu_s,
        "hit_s": hit_s,
        "click_s": wall,
        "click_cpu_s": cpu,
        "prepared": segmenter.cache_info()["computed"],
    }


def classical_accuracy(count: int, seed: int = 1) -> None:
    """Single-click IoU and clicks-to-IoU-0.8 (NoC@80, at most 5) of the fallback on random paste scenes.

    Seed 1 by default: the scenes of seeds 0 and 2 were used while choosing the fallback's rules, so
    they would flatter it.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers.segment_scenes import iou, next_click, random_scenes

    from fyc.segment import ClickSegmenter

    segmenter = ClickSegmenter.load(prefer="classical")
    first_ious, clicks_needed = [], []
    for scene in random_scenes(count, seed=seed):
        truth, points, mask = scene.masks[0], [], None
        for clicks in range(1, 6):
            points.append(next_click(mask, truth))
            mask = segmenter.predict(points, image=scene.image)
            if clicks == 1:
                first_ious.append(iou(mask, truth))
            if iou(mask, truth) >= 0.8:
                break
        clicks_needed.append(clicks if iou(mask, truth) >= 0.8 else None)
    first = np.array(first_ious)
    reached = [c for c in clicks_needed if c is not None]
    print(
        f"classical fallback accuracy on {count} random paste-an-object scenes, seed {seed} "
        "(tests/helpers/segment_scenes.py)"
    )
    print(f"  one click: IoU >= 0.8 in {np.mean(first >= 0.8):.0%} of scenes, median IoU {np.median(first):.2f}")
    print(
        f"  IoU >= 0.8 within 3 clicks: {sum(c <= 3 for c in reached) / count:.0%}; within 5: "
        f"{len(reached) / count:.0%}; mean clicks when reached {np.mean(reached):.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="*",
        default=["vit_b", "vit_h"],
        choices=["vit_b", "vit_l", "vit_h"],
        help="SAM sizes to time; none (a bare --models) skips SAM",
    )
    parser.add_argument("--clicks", type=int, default=21, help="clicks timed per model (at least 20)")
    parser.add_argument("--classical-clicks", type=int, default=21, help="clicks timed for the fallback")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-classical", action="store_true")
    parser.add_argument(
        "--accuracy",
        type=int,
        default=0,
        metavar="N",
        help="also measure the fallback's IoU on N random synthetic scenes (40: about a minute)",
    )
    parser.add_argument("--accuracy-seed", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice, one per core)"
    )
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    image = photo_640x480()
    height, width = image.shape[:2]
    clicks = user_clicks(max(20, args.clicks), width, height)
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPUs visible, load average {load}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {args.device}"
    )
    print(
        f"image: skimage.data.rocket resized to {width}x{height}; {len(clicks)} clicks "
        "(1-3 points each, as a user refines an object)"
    )
    print(f"target: <= {TARGET_MS} ms per click (stretch {STRETCH_MS} ms); the embedding once per image\n")

    for model_type in args.models:
        r = bench_sam(model_type, image, clicks, args.device)
        click_median_ms = 1000 * statistics.median(r["click_s"])
        verdict = "meets" if click_median_ms <= TARGET_MS else "MISSES"
        print(f"SAM {model_type} ({r['params_m']:.0f}M parameters, random weights; built in {r['build_s']:.1f} s)")
        print(
            f"  image embedding           {r['embed_s']:7.2f} s   "
            f"(once per image; {r['embed_cpu_s']:.1f} s of CPU time)"
        )
        print(f"  set_image again           {1000 * r['hit_s']:7.2f} ms  (same pixels: hash + cache hit)")
        print(f"  switch back to an earlier {1000 * r['switch_back_s']:7.2f} ms  (from the LRU of embeddings)")
        threads = r["decoder_threads"] or torch.get_num_threads()
        print(f"  decoder + upsampling      {describe(r['decoder_s'])}  ({threads} threads, the default)")
        print(f"  click (with clean-up)     {describe(r['click_s'])}  -> {verdict} the {TARGET_MS} ms target")
        print(f"  process CPU time per click {describe(r['click_cpu_s'])}")
        print(f"  click, 1 thread            {describe(r['all_threads_s'])}  (for machines shared with other jobs)")
        print(
            f"  stock SamPredictor.predict {describe(r['stock_s'])}  "
            f"({torch.get_num_threads()} threads; upsamples all 3 masks)"
        )
        print(f"  embeddings computed: {r['embeddings_computed']} for 2 images\n")
        del r
    if not args.no_classical:
        r = bench_classical(image, clicks[: args.classical_clicks])
        click_median_ms = 1000 * statistics.median(r["click_s"])
        verdict = "meets" if click_median_ms <= CLASSICAL_TARGET_MS else "MISSES"
        print("classical fallback (no weights: GrabCut's energy on superpixels, fyc/segment/classical.py)")
        print(
            f"  per-image preparation     {r['prepare_s']:7.2f} s   "
            f"(once per image, at upload; {r['prepare_cpu_s']:.2f} s of CPU time)"
        )
        print(f"  set_image again           {1000 * r['hit_s']:7.2f} ms  (same pixels: hash + cache hit)")
        print(
            f"  click (with clean-up)     {describe(r['click_s'])}  -> {verdict} the {CLASSICAL_TARGET_MS} ms "
            "fallback target"
        )
        print(f"  process CPU time per click {describe(r['click_cpu_s'])}")
        print(f"  images prepared: {r['prepared']}")
    if args.accuracy:
        print()
        classical_accuracy(args.accuracy, args.accuracy_seed)
    print(f"\nload average after: {' / '.join(f'{value:.1f}' for value in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
