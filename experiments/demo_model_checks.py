"""The demo model's measured checks for its model card, one or more models side by side.

    python experiments/demo_model_checks.py --quick                                   # the default model, minutes
    python experiments/demo_model_checks.py --weights weights/demo --out docs/results/demo_checks.json
    python experiments/demo_model_checks.py --weights runs/ablate-mask0/pipeline --weights runs/ablate-mask07/pipeline
    python experiments/demo_model_checks.py --classifier 40     # no model: the classifier on 40 held-out clips per class

Writes the JSON (`--out`), a Markdown section ready to paste into weights/demo/README.md (same name, .md)
and a confusion-matrix heatmap per model (`*_confusion*.png`). What is measured: experiments/demo_checks.py.
The default battery is 52 generations per model (~11 min at 12 s a video on the 2-core CPU); --quick is 19
at 8 steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights",
        action="append",
        default=None,
        help="pipeline folder; repeat to compare models (default: fyc.load_pipeline())",
    )
    parser.add_argument("--quick", action="store_true", help="few items, 8 steps, canonical prompts only")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default 25, --quick 8)")
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument(
        "--guidance-scale", type=float, default=None, help="classifier-free guidance (default: each model's own)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling noise and of the held-out clips")
    parser.add_argument(
        "--ofm-levels",
        nargs="+",
        type=float,
        default=None,
        metavar="OFM",
        help="requested OFM levels of the sweep (default 1 2 4 8 12; the model card needs >= 5)",
    )
    parser.add_argument(
        "--classes",
        nargs="+",
        default=None,
        metavar="CLASS",
        help="motion classes of the confusion matrix (default: the whole vocabulary)",
    )
    parser.add_argument(
        "--classifier",
        type=int,
        default=None,
        metavar="N",
        help="measure only the motion classifier, on N held-out generator clips per class, and exit",
    )
    parser.add_argument("--noise", action="store_true", help="with --classifier: clips with camera noise and jitter")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available)")
    parser.add_argument("--out", default="docs/results/demo_checks.json", help="JSON output path")
    args = parser.parse_args(argv)

    if args.classifier is not None:
        return classifier_ceiling(args)

    import torch
    from demo_checks import FULL, QUICK, pipeline_generator, run_battery, write_outputs

    from fyc.data.motion_vocab import MOTION_CLASS_NAMES
    from fyc.weights import describe, load_pipeline

    options = dataclasses.replace(QUICK if args.quick else FULL, seed=args.seed, num_frames=args.num_frames)
    if args.steps:
        options = dataclasses.replace(options, steps=args.steps)
    if args.guidance_scale is not None:
        options = dataclasses.replace(options, guidance_scale=args.guidance_scale)
    if args.ofm_levels:
        options = dataclasses.replace(options, ofm_levels=tuple(sorted(args.ofm_levels)))
    if args.classes:
        unknown = sorted(set(args.classes) - set(MOTION_CLASS_NAMES))
        if unknown:
            parser.error(f"unknown motion classes {unknown}; choose from {', '.join(MOTION_CLASS_NAMES)}")
        options = dataclasses.replace(options, classes=tuple(args.classes))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    runs = []
    for weights in args.weights or [None]:
        pipe = load_pipeline(weights).to(device)
        pipe.set_progress_bar_config(disable=True)
        name = str(weights) if weights else describe(pipe)
        print(f"{name}: {describe(pipe)}, {options.generations()} videos, {options.steps} steps, {device}", flush=True)
        model_options = (
            options
            if options.guidance_scale is not None
            else dataclasses.replace(options, guidance_scale=pipe.config.default_guidance_scale)
        )  # the report names the number used
        results = run_battery(
            pipeline_generator(pipe, model_options),
            model_options,
            pipe.native_size,
            log=lambda line: print("  " + line, flush=True),
        )
        results["model"] = describe(pipe)
        runs.append((name, results))
    command = "python experiments/demo_model_checks.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    out, md, images = write_outputs(
        runs, args.out, command.strip(), meta={"date": time.strftime("%Y-%m-%d %H:%M"), "device": device}
    )
    print(f"Wrote {out}, {md}, " + ", ".join(map(str, images)))
    print(md.read_text())
    return 0


def classifier_ceiling(args) -> int:
    from demo_checks import SHORT_LABELS

    from fyc.eval.prompt_following import validate_on_generator

    started = time.perf_counter()
    result = validate_on_generator(args.classifier, "eval", 128, args.num_frames, seed=args.seed, noise=args.noise)
    print(
        f"Motion classifier on {result['clips']} held-out generator clips (eval photos, 128 px, {args.num_frames} "
        f"frames{', camera noise' if args.noise else ''}): accuracy {result['accuracy']:.1%} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print("| class | accuracy | misclassified as |\n|---|---|---|")
    for i, (name, accuracy) in enumerate(result["per_class"].items()):
        row = result["confusion"][i]
        wrong = ", ".join(f"{SHORT_LABELS[result['labels'][j]]} {n}" for j, n in enumerate(row) if n and j != i)
        print(f"| {name} | {accuracy:.1%} | {wrong or '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
