"""End-to-end time and peak memory of one generation with the default (demo) pipeline.

    python bench/bench_pipeline.py [--weights DIR] [--frames 16] [--steps N] [--repeats 3]

The demo model's target: 16 frames at the shipped resolution with the default steps in <= 15 s on a 2-core CPU.
Without trained weights the demo configuration is built with random weights (time does not depend on values)
and the output says so.
"""

from __future__ import annotations

import argparse
import inspect
import platform
import resource
import statistics
import time

import numpy as np
import PIL.Image
import torch

from fyc import FollowYourClickPipeline, Region


def demo_architecture_pipeline():
    """The demo configuration with random weights, for timing only."""
    from fyc.train import Config, build_pipeline

    config = Config.from_yaml("configs/demo.yaml")
    scratch = dict(config.init["scratch"])
    try:
        return build_pipeline(config), "demo architecture (configs/demo.yaml), untrained UNet: timing only"
    except (OSError, FileNotFoundError, ValueError):
        scratch["vae"] = dict(
            block_out_channels=[16, 32, 64, 128],
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            norm_num_groups=16,
            layers_per_block=1,
            latent_channels=4,
        )
        config.init = {"scratch": scratch}
        return build_pipeline(config), "demo architecture (configs/demo.yaml), random weights: timing only"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a pipeline folder (default: fyc.load_pipeline())")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=None, help="default: the pipeline's default")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from fyc.weights import describe, load_pipeline

    try:
        pipe, what = load_pipeline(args.weights), None
        what = describe(pipe)
    except FileNotFoundError:
        pipe, what = demo_architecture_pipeline()
    pipe.set_progress_bar_config(disable=True)
    steps = args.steps or inspect.signature(FollowYourClickPipeline.__call__).parameters["num_inference_steps"].default
    image = PIL.Image.open("examples/cat.jpg").convert("RGB")
    mask = np.zeros((image.height, image.width), bool)
    mask[image.height // 4 : image.height // 2, image.width // 3 : 2 * image.width // 3] = True

    def call():
        return pipe(
            image,
            [Region(mask, "shake")],
            ofm=6.0,
            num_frames=args.frames,
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
        ).frames

    frames = call()  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = statistics.median(times)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads")
    print(f"model: {what}")
    print(
        f"{args.frames} frames at {frames.shape[2]}x{frames.shape[3]}, {steps} steps, CFG on, median of {args.repeats}"
    )
    print(f"end to end: {seconds:.2f} s (target <= 15 s: {'met' if seconds <= 15 else 'NOT met'})")
    print(f"peak resident memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
