"""`python -m fyc eval`: measure a model on a benchmark set; write JSON and a Markdown report with plots.

    python -m fyc eval --weights weights/demo --quick --out docs/results/eval_demo.json
    python -m fyc eval --weights DIR --clip weights/clip --i3d weights/i3d_torchscript.pt --set default

Metric definitions: fyc/eval/metrics.py (first frame, regional), clip_metrics.py, fvd.py, perceptual.py.
Set format: fyc/eval/benchmark.py. Networks that are not given (or, for CLIP, not cached and not
downloadable) leave their metrics null in the JSON and "not measured" in the report.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

QUICK = dict(max_items=4, synthetic_count=2, steps=10)
FULL = dict(max_items=None, synthetic_count=8, steps=25)


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        default=None,
        help="saved pipeline folder (default: the best weights under weights/, the demo model)",
    )
    parser.add_argument(
        "--set",
        default="default",
        dest="benchmark",
        help="benchmark: default | photos | synthetic | a folder with benchmark.json (default: default)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"a few items, 3 OFM levels, {QUICK['steps']} steps: minutes on a CPU"
    )
    parser.add_argument(
        "--clip",
        default="auto",
        help="CLIP folder (CLIPModel + CLIPProcessor), hub id, or 'none' (default: "
        "openai/clip-vit-large-patch14 when cached or online)",
    )
    parser.add_argument(
        "--i3d", default=None, help="video feature network for FVD: TorchScript I3D or torchvision S3D state dict"
    )
    parser.add_argument("--pic-net", default=None, help="torchvision alexnet/vgg16 state dict for PIC")
    parser.add_argument("--out", default="docs/results/eval.json", help="JSON output (default: docs/results/eval.json)")
    parser.add_argument(
        "--report-dir", default=None, help="folder for the Markdown report and plots (default: docs/results/)"
    )
    parser.add_argument("--no-report", action="store_true", help="write the JSON only")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: 25, --quick 10)")
    parser.add_argument("--num-frames", type=int, default=16, help="frames per video (default: 16)")
    parser.add_argument(
        "--guidance-scale", type=float, default=None, help="default: the model's own (7.5 unless it says otherwise)"
    )
    parser.add_argument("--ofm", type=float, nargs="+", default=None, help="override every item's OFM sweep")
    parser.add_argument("--max-items", type=int, default=None, help="evaluate at most this many items")
    parser.add_argument(
        "--synthetic-count",
        type=int,
        default=None,
        help="held-out synthetic clips in the default/synthetic sets (default: 8, --quick 2)",
    )
    parser.add_argument("--flow", default="dis", choices=("dis", "farneback"), help="optical flow for motion metrics")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available)")


def _select_items(args, pipe, synthetic_count):
    from fyc.eval.benchmark import load_benchmark, quick_levels

    size = int(getattr(pipe, "native_size", 128))
    items = load_benchmark(args.benchmark, synthetic_count=synthetic_count, size=size, num_frames=args.num_frames)
    max_items = args.max_items if args.max_items is not None else (QUICK if args.quick else FULL)["max_items"]
    if max_items is not None and len(items) > max_items:
        # keep both kinds when the set mixes them: half photos, half synthetic
        by_source = {}
        for item in items:
            by_source.setdefault(item.source, []).append(item)
        picked, groups = [], list(by_source.values())
        while len(picked) < max_items and any(groups):
            for group in groups:
                if group and len(picked) < max_items:
                    picked.append(group.pop(0))
        items = picked
    for item in items:
        if args.ofm:
            item.ofm_levels = sorted(float(v) for v in args.ofm)
        elif args.quick:
            item.ofm_levels = quick_levels(item.ofm_levels)
    return items


def run(args) -> int:
    import torch

    from fyc.eval.clip_metrics import load_clip
    from fyc.eval.evaluate import METRIC_KEYS, EvalOptions, evaluate
    from fyc.eval.fvd import load_video_network
    from fyc.eval.perceptual import load_perceptual
    from fyc.eval.report import write_report
    from fyc.model_settings import video_size
    from fyc.weights import describe, load_pipeline

    preset = QUICK if args.quick else FULL
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    started = time.time()
    pipe = load_pipeline(args.weights)
    pipe.to(device)
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)

    not_measured = {}
    clip, reason = load_clip(args.clip, device=device)
    if clip is None:
        not_measured.update(temporal_consistency=f"no CLIP: {reason}", text_alignment=f"no CLIP: {reason}")
    video_net = load_video_network(args.i3d, device=device) if args.i3d else None
    perceptual = load_perceptual(args.pic_net, device=device) if args.pic_net else None
    if perceptual is None:
        not_measured["pic"] = "no --pic-net given"

    synthetic_count = args.synthetic_count if args.synthetic_count is not None else preset["synthetic_count"]
    items = _select_items(args, pipe, synthetic_count)
    options = EvalOptions(
        num_inference_steps=args.steps or preset["steps"],
        num_frames=args.num_frames,
        guidance_scale=args.guidance_scale,
        flow_method=args.flow,
    )
    print(
        f"Evaluating {describe(pipe)} on {len(items)} items ({args.benchmark}), "
        f"{options.num_inference_steps} steps, {options.num_frames} frames, {device}",
        flush=True,
    )
    results = evaluate(
        pipe,
        items,
        options,
        clip=clip,
        video_net=video_net,
        perceptual=perceptual,
        not_measured=not_measured,
        log=lambda line: print(line, flush=True),
    )
    sample = items[0].image if items else None
    results["setup"] = {
        "command": "python -m fyc eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if sys.argv[1:2] == ["eval"]
        else "python -m fyc eval",
        "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "model": describe(pipe),
        "weights": str(args.weights or "default"),
        "set": str(args.benchmark),
        "quick": bool(args.quick),
        "scheduler": type(pipe.scheduler).__name__,
        "size": "x".join(map(str, video_size(pipe, sample))) + " for the first item" if sample is not None else "",
        "device": device,
        "clip": getattr(clip, "name", None),
        "i3d": f"{args.i3d} ({video_net.name})" if video_net else None,
        "pic_net": f"{args.pic_net} ({perceptual.name})" if perceptual else None,
    }

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    thumbnails = results.pop("_thumbnails", [])
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {out}")
    if not args.no_report:
        report = write_report({**results, "_thumbnails": thumbnails}, args.report_dir or "docs/results", out.stem)
        print(f"Wrote {report}")
    for key in METRIC_KEYS:
        value = results.get(key)
        reason = results["not_measured"].get(key, "")
        print(f"  {key:22s} {value if value is not None else 'not measured' + (f' ({reason})' if reason else '')}")
    return 0
