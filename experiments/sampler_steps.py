"""Quality vs denoising steps: DDIM against DPM-Solver++ on the regional metrics.

    python experiments/sampler_steps.py [--weights DIR] [--set synthetic] [--steps 5 10 15 20 25 30 40 50] [--quick]
                                [--out docs/results/steps.json]

Every item of the benchmark set (fyc/eval/benchmark.py) is animated once per (sampler, step count) with
the same seed, prompt and OFM (the item's middle sweep level), and measured with `fyc.eval.metrics`:
first-frame PSNR, region motion, region leakage and measured OFM, averaged over items. The baseline is
DDIM at 50 steps (the baseline is always run, whatever --steps says).

"Within 5% of 50-step DDIM" means, on the set means:
    |first_frame_psnr - base| <= 5% of base,   |region_motion - base| <= 5% of base,
    |measured_ofm - base| <= 5% of base,       |region_leakage - base| <= 5% of the base *region_motion*
(leakage is near zero for a good model, so a relative tolerance on it alone would demand noise-level
agreement; it is judged on the scale of the motion it leaks from). The script prints a table per sampler
and the fewest steps that meet all four, for each sampler.

Samplers: the pipeline's own DDIM (v-prediction, zero terminal SNR, trailing spacing) and
`DPMSolverMultistepScheduler.from_config(same config, algorithm_type="dpmsolver++", solver_order=2)`.
Without weights (no --weights and no demo model) it prints why and exits 0.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from fyc.eval import metrics as M
from fyc.eval.benchmark import load_benchmark
from fyc.scheduling import SAMPLERS, sampler_from_config
from fyc.weights import load_pipeline

TOLERANCE = 0.05
BASELINE = ("ddim", 50)
METRICS = ("first_frame_psnr", "region_motion", "region_leakage", "measured_ofm")


def measure(pipe, items, steps: int, num_frames: int, flow: str) -> tuple[dict, float]:
    """Set means of the regional metrics for one sampler setting, and seconds per video."""
    rows, seconds = [], 0.0
    for item in items:
        ofm = item.ofm_levels[len(item.ofm_levels) // 2]
        start = time.perf_counter()
        out = pipe(
            item.image,
            regions=item.regions,
            ofm=ofm,
            num_frames=num_frames,
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(item.seed),
            output_type="np",
        )
        seconds += time.perf_counter() - start
        video = M.as_uint8_video(out.frames[0])
        row = {"first_frame_psnr": M.first_frame_psnr(item.image, video)}
        row.update(M.region_metrics(video, [r.mask for r in item.regions], method=flow))
        rows.append(row)
    return {key: M.mean_or_none(r[key] for r in rows) for key in METRICS}, seconds / max(len(items), 1)


def within_tolerance(values: dict, base: dict, tolerance: float = TOLERANCE) -> bool:
    """The rule of the module docstring."""
    for key in ("first_frame_psnr", "region_motion", "measured_ofm"):
        if values[key] is None or base[key] is None or abs(values[key] - base[key]) > tolerance * abs(base[key]):
            return False
    if values["region_leakage"] is None or base["region_leakage"] is None:
        return False
    return abs(values["region_leakage"] - base["region_leakage"]) <= tolerance * abs(base["region_motion"] or 0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="saved pipeline folder (default: the demo model)")
    parser.add_argument("--set", default="synthetic", help="benchmark set (see fyc/eval/benchmark.py)")
    parser.add_argument("--items", type=int, default=4, help="items of the set to use")
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 10, 15, 20, 25, 30, 40, 50])
    parser.add_argument("--samplers", nargs="+", default=["ddim", "dpmsolver++"], choices=list(SAMPLERS))
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--flow", default="dis")
    parser.add_argument("--quick", action="store_true", help="2 items, steps 5 10 20 50")
    parser.add_argument("--out", default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    if args.quick:
        args.items, args.steps = 2, [5, 10, 20, 50]

    try:
        pipe = load_pipeline(args.weights)
    except FileNotFoundError as err:
        print(f"sampler_steps: skipped, no weights to measure ({err})")
        return
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    size = int(getattr(pipe, "native_size", 128))
    items = load_benchmark(args.set, synthetic_count=args.items, size=size, num_frames=args.num_frames)[: args.items]
    print(
        f"{len(items)} items of '{args.set}', {args.num_frames} frames, {device}; "
        f"tolerance {TOLERANCE:.0%} of 50-step DDIM"
    )

    default_scheduler = pipe.scheduler
    results = {}
    for sampler in args.samplers:
        pipe.scheduler = sampler_from_config(default_scheduler.config, sampler)
        grid = sorted(set(args.steps) | ({BASELINE[1]} if sampler == BASELINE[0] else set()))
        for steps in grid:
            values, seconds = measure(pipe, items, steps, args.num_frames, args.flow)
            results[(sampler, steps)] = {**values, "seconds_per_video": seconds}
            print(
                f"  {sampler:11s} {steps:3d} steps: "
                + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} n/a" for k, v in values.items())
                + f", {seconds:.1f} s/video",
                flush=True,
            )
    pipe.scheduler = default_scheduler

    base = results[BASELINE]
    summary = {}
    print("\nbaseline DDIM 50: " + ", ".join(f"{k} {base[k]:.3f}" for k in METRICS if base[k] is not None))
    for sampler in args.samplers:
        ok = [s for (name, s), v in sorted(results.items()) if name == sampler and within_tolerance(v, base)]
        fewest = min(ok) if ok else None
        summary[sampler] = fewest
        print(
            f"{sampler}: fewest steps within {TOLERANCE:.0%} of 50-step DDIM: {fewest if fewest else 'none in the grid'}"
        )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps(
                {
                    "weights": str(args.weights or "default"),
                    "set": args.set,
                    "items": len(items),
                    "num_frames": args.num_frames,
                    "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                    "tolerance": TOLERANCE,
                    "fewest_steps": summary,
                    "runs": [{"sampler": k[0], "steps": k[1], **v} for k, v in sorted(results.items())],
                },
                indent=2,
            )
            + "\n"
        )
        print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
