"""Ablations of the demo model at equal training budget, and the checks of each side by side.

    python experiments/demo_ablations.py --steps 1200 --root runs/ablations-v3 --out docs/results/demo_ablations_1200.json
    python experiments/demo_ablations.py --steps 400 --baseline-checkpoint runs/demo/checkpoints/step-0000400
    python experiments/demo_ablations.py --steps 1200 --root runs/ablations-v3 --checks-only   # re-report what exists

Each variant is `configs/demo.yaml` plus one `--set` override, trained from scratch for `--steps` steps with the
same seed, data and schedule as the baseline, exported (EMA off: a short run is too short for an average with
decay 0.999) and measured by `experiments/demo_model_checks.py`, each as soon as it has trained, into
`ROOT/NAME-stepN/checks.json`. The command is resumable: training continues from the last checkpoint and a
variant already measured is not measured again (`--remeasure` forces it). The baseline is the shipped recipe at
the same step: `--baseline-checkpoint` reuses the main run's checkpoint at that step (with a constant learning
rate and every random draw a function of (seed, step), it is exactly what a separate baseline run would
train), otherwise it is trained too. The report (`--out`, its `.md` and confusion plots) puts the variants side
by side and adds, per ablation, the paired differences against the baseline with bootstrap intervals
(`experiments/paired.py`), which say whether a difference is larger than the spread over items.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

CONFIG = "configs/demo.yaml"
CHECKS_SCRIPT = Path(__file__).with_name("demo_model_checks.py")
# name -> overrides of the shipped recipe (the paper's choice where ours differs, or the part removed)
VARIANTS = {
    "mask_ratio_0.7": ["train.first_frame_mask_ratio=0.7"],
    "no_ma_module": ["unet.use_motion_cross_attention=false"],
    "layout_first": ["unet.first_frame_layout=first"],
}


def run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="training steps of every variant (default 400)")
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS), default=None, help="variants to train")
    parser.add_argument(
        "--baseline-checkpoint",
        type=Path,
        default=None,
        help="the step-N folder of a run of configs/demo.yaml at N = --steps (else the baseline trains)",
    )
    parser.add_argument("--root", type=Path, default=Path("runs/ablations"), help="where the variants train")
    parser.add_argument("--checks-only", action="store_true", help="skip training; export and measure what exists")
    parser.add_argument("--remeasure", action="store_true", help="measure again variants that have checks.json")
    parser.add_argument("--quick", action="store_true", help="the quick check battery (19 videos per model)")
    parser.add_argument("--out", default="docs/results/demo_ablations.json")
    args = parser.parse_args(argv)

    python = sys.executable
    variants = {"baseline": []} | {name: VARIANTS[name] for name in (args.only or VARIANTS)}
    runs = []
    for name, overrides in variants.items():
        sets = [arg for o in overrides for arg in ("--set", o)]
        output_dir = args.root / name
        checkpoint = output_dir / "checkpoints" / f"step-{args.steps:07d}"
        if name == "baseline" and args.baseline_checkpoint is not None:
            checkpoint = args.baseline_checkpoint
            state = checkpoint / "trainer_state.json"
            if not state.exists() or json.loads(state.read_text())["step"] != args.steps:
                parser.error(f"{checkpoint} is not a complete checkpoint at step {args.steps}")
        elif not args.checks_only:
            run(
                [
                    python,
                    "-m",
                    "fyc",
                    "train",
                    "--config",
                    CONFIG,
                    *sets,
                    "--output-dir",
                    str(output_dir),
                    "--max-steps",
                    str(args.steps),
                    "--resume",
                ]
            )
        pipeline = args.root / f"{name}-step{args.steps}"
        checks = pipeline / "checks.json"
        if args.remeasure or not checks.exists():
            run(
                [
                    python,
                    "-m",
                    "fyc",
                    "export",
                    "--config",
                    CONFIG,
                    *sets,
                    "--output-dir",
                    str(output_dir),
                    "--checkpoint",
                    str(checkpoint),
                    "--no-ema",
                    "--out",
                    str(pipeline),
                    "--name",
                    name,
                ]
            )
            run(
                [
                    python,
                    str(CHECKS_SCRIPT),
                    *(["--quick"] if args.quick else []),
                    "--out",
                    str(checks),
                    "--weights",
                    str(pipeline),
                ]
            )
        runs.append((f"{name} ({args.steps} steps)", json.loads(checks.read_text())["runs"][0]["results"]))

    from demo_checks import write_outputs
    from paired import paired_comparison, paired_markdown

    baseline_name, baseline = runs[0]
    paired = {name: paired_comparison(baseline, results) for name, results in runs[1:]}
    command = "python experiments/demo_ablations.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    out, md, _ = write_outputs(
        runs,
        args.out,
        command.strip(),
        meta={"date": time.strftime("%Y-%m-%d %H:%M"), "steps": args.steps, "paired": paired},
    )
    md.write_text(md.read_text() + "\n" + paired_markdown(baseline_name, paired))
    print(md.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
