"""The motion-field model's checks (issue 18 item 7) on held-out photographs and held-out paraphrases.

    python bench/motion_model_checks.py --weights runs/motion-now --out runs/motion-check.json [--quick]
        [--latent-weights weights/demo] [--strips docs/results/motion_strips]

Every figure is read from the rendered video (flow by `fyc.flow`, DIS): frame 0 vs the photo (PSNR at the output
resolution), last vs first frame outside the regions' reach (where the regions' pixels go along the generated fields,
dilated by 8 reference px), a confusion
matrix of the flow-based classifier over the field vocabulary (`fyc.eval.prompt_following`, vocabulary="field";
two-region items counted per region), requested vs measured OFM over 1-12 (`fyc.flow.measure_ofm` of the video:
the average speed of what moves, the rule the model's OFM input was trained on; the canonical word of each motion),
the end-point error of a dragged point (tracked by chaining flow), the raw fields' magnitude outside the regions,
and the time and peak memory of 16 frames at 1024 px. Flow for the classifier and the OFM is read on a copy of the
video scaled to a 384-px long side (DIS at 1024 px costs seconds a pair on this CPU); PSNRs at full size. With
`--latent-weights`, the latent demo model runs the same items (its own output size, 128-192 px) where its
vocabulary has the class. Writes JSON, a Markdown report (same name .md) and a confusion-matrix PNG.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heldout_photos as H  # noqa: E402

from fyc.data.field_motions import FIELD_MOTION_CLASS_NAMES, field_prompts  # noqa: E402
from fyc.data.motion_vocab import MOTION_CLASS_NAMES  # noqa: E402
from fyc.eval import metrics as M  # noqa: E402
from fyc.eval import prompt_following as P  # noqa: E402
from fyc.flow import measure_ofm, optical_flow  # noqa: E402
from fyc.motion_field import Trajectory, region_coverage  # noqa: E402
from fyc.region import Region  # noqa: E402

FLOW_SIDE = 384
CORE = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "rotate_clockwise",
    "rotate_counterclockwise",
    "zoom_in",
    "zoom_out",
)
TARGETS = {
    "frame0_psnr": 40.0,
    "still_psnr": 40.0,
    "accuracy": 0.8,
    "ofm_within": 0.25,
    "spearman": 0.95,
    "drag_epe": 0.10,
    "seconds_1024": 5.0,
}


def small(video: np.ndarray, mask: np.ndarray | None = None, side: int = FLOW_SIDE):
    h, w = video.shape[1:3]
    scale = min(1.0, side / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    out = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in video])
    return out if mask is None else (out, M.resize_mask(mask, out.shape[1:3]))


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return M.psnr_from_mse(mse)


def at_output_size(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The photo as the video shows it: cropped by a row / column where only even sides changed the size (what
    `fyc.render` does; resampling there would blur the reference, not the video), resized otherwise."""
    h, w = photo.shape[:2]
    if h - size[0] <= 1 and w - size[1] <= 1 and h >= size[0] and w >= size[1]:
        return photo[: size[0], : size[1]]
    return M.resize_image(photo, size)


def reach(masks, fields: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    """Where the regions' objects are at some frame: their frame-0 pixels carried along the (generated) fields,
    at the video's size; the frame-0 masks alone where there are no fields (the latent model)."""
    from fyc.motion_field import upsample_fields

    union = M.union_mask(masks, size)
    if fields is None:
        return union
    ys, xs = np.nonzero(union)
    ys, xs = ys[::4], xs[::4]
    out = union.copy()
    for field in upsample_fields(fields, *size):
        tx = np.clip(np.round(xs + field[0, ys, xs]), 0, size[1] - 1).astype(int)
        ty = np.clip(np.round(ys + field[1, ys, xs]), 0, size[0] - 1).astype(int)
        out[ty, tx] = True
    return cv2.morphologyEx(out.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0


def still_psnr(video: np.ndarray, masks, fields: np.ndarray | None = None) -> float:
    """Last vs first frame outside the regions' reach (`reach`) dilated by `metrics.LEAKAGE_MARGIN` reference px."""
    union = reach(masks, fields, video.shape[1:3])
    outside = ~M.dilate(union, M.leakage_radius(video.shape[2]))
    return psnr(video[-1][outside], video[0][outside])


def field_leakage(fields: np.ndarray, masks) -> float:
    """Mean |displacement| (reference px) of the raw fields at cells no region touches, over frames."""
    coverage = region_coverage(np.stack(masks), fields.shape[-2:]).max(0)
    outside = cv2.dilate((coverage > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
    return float(np.linalg.norm(fields, axis=1)[:, outside].mean()) if outside.any() else 0.0


def track_point(video: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """Where the frame-0 point (x, y) (px of `video`) is at the last frame, by chaining DIS flow."""
    flow = optical_flow(video, "dis")
    for pair in flow:
        xi, yi = int(np.clip(round(x), 0, video.shape[2] - 1)), int(np.clip(round(y), 0, video.shape[1] - 1))
        x, y = x + float(pair[yi, xi, 0]), y + float(pair[yi, xi, 1])
    return x, y


class Runner:
    def __init__(self, pipe, kind: str, steps: int, seed: int, max_side: int, strips: Path | None = None):
        self.pipe, self.kind, self.steps, self.seed, self.max_side = pipe, kind, steps, seed, max_side
        self.strips = strips  # a folder for one video per photo of the prompt items (contact strips)

    def __call__(self, photo, regions, ofm, trajectories=None):
        generator = torch.Generator().manual_seed(self.seed)
        started = time.perf_counter()
        if self.kind == "field":
            out = self.pipe(
                photo,
                regions,
                ofm=ofm,
                num_inference_steps=self.steps,
                trajectories=trajectories,
                max_side=self.max_side,
                generator=generator,
                output_type="np",
            )
            fields = out.fields[0]
        else:
            out = self.pipe(
                photo,
                regions,
                ofm=float(np.mean(ofm)),
                num_inference_steps=self.steps,
                generator=generator,
                output_type="np",
            )
            fields = None
        video = (np.asarray(out.frames[0]) * 255).round().clip(0, 255).astype(np.uint8)
        return video, fields, time.perf_counter() - started


def confusion_plan(quick: bool):
    """(photo, class, prompt) items: every class on `per_class` photos, a held-out paraphrase each."""
    per_class = 1 if quick else 2
    classes = CORE[:6] + ("nod", "bob") if quick else FIELD_MOTION_CLASS_NAMES
    plan = []
    for k, name in enumerate(classes):
        prompts = field_prompts(name, "heldout")
        for j in range(per_class):
            photo = H.PHOTOS[(k + 3 * j) % len(H.PHOTOS)].name
            plan.append((photo, name, prompts[j % len(prompts)]))
    return plan


def run_model(runner: Runner, quick: bool, log=lambda line: print(line, flush=True)) -> dict:
    latent = runner.kind == "latent"
    rows, true, predicted, psnrs, stills, leaks = [], [], [], [], [], []

    def measure(photo_name, photo, masks, video, fields):
        f0 = psnr(video[0], at_output_size(photo, video.shape[1:3]))
        st = still_psnr(video, masks, fields)
        psnrs.append(f0), stills.append(st)
        if fields is not None:
            leaks.append(field_leakage(fields, masks))
        return f0, st

    # prompt following (one region)
    for photo_name, name, prompt in confusion_plan(quick):
        if latent and name not in MOTION_CLASS_NAMES:
            continue
        photo, mask = H.load(photo_name), H.region(photo_name)
        video, fields, seconds = runner(photo, [Region(mask, prompt)], 4.0)
        f0, st = measure(photo_name, photo, [mask], video, fields)
        v, m = small(video, mask)
        guess = P.classify_motion(v, m, vocabulary="latent" if latent else "field")
        true.append(name), predicted.append(guess)
        rows.append(
            {
                "check": "prompt",
                "photo": photo_name,
                "class": name,
                "prompt": prompt,
                "predicted": guess,
                "frame0_psnr": f0,
                "still_psnr": st,
                "seconds": round(seconds, 2),
            }
        )
        if runner.strips is not None and not (runner.strips / f"{photo_name}.mp4").exists():
            from fyc.video import export_mp4

            runner.strips.mkdir(parents=True, exist_ok=True)
            export_mp4(video, runner.strips / f"{photo_name}.mp4", fps=8)
            rows[-1]["video"] = f"{photo_name}.mp4"
        log(f"  {photo_name} '{prompt}' ({name}) -> {guess}, frame0 {f0:.1f} dB, still {st:.1f} dB, {seconds:.1f} s")

    # two regions of one photo, counted per region
    pairs = [
        ("grace_hopper", "nod", "move_left"),
        ("china", "move_up", "wag"),
        ("coins", "rotate_clockwise", "move_down"),
        ("rocket", "move_up", "bob"),
    ][: 1 if quick else 4]
    for photo_name, a, b in pairs:
        if latent and (a not in MOTION_CLASS_NAMES or b not in MOTION_CLASS_NAMES):
            continue
        photo = H.load(photo_name)
        masks = [H.region(photo_name, 0), H.region(photo_name, 1)]
        prompts = [field_prompts(a, "heldout")[0], field_prompts(b, "heldout")[0]]
        video, fields, seconds = runner(photo, [Region(m, p) for m, p in zip(masks, prompts)], 4.0)
        measure(photo_name, photo, masks, video, fields)
        for name, mask, prompt in zip((a, b), masks, prompts):
            v, m = small(video, mask)
            guess = P.classify_motion(v, m, vocabulary="latent" if latent else "field")
            true.append(name), predicted.append(guess)
            rows.append(
                {"check": "two_regions", "photo": photo_name, "class": name, "prompt": prompt, "predicted": guess}
            )
            log(f"  two regions {photo_name} '{prompt}' ({name}) -> {guess}")

    # strength sweep
    levels = (1.0, 4.0, 12.0) if quick else (1.0, 2.0, 4.0, 6.0, 8.0, 12.0)
    sweep_items = [("flower", "move_right"), ("clock", "rotate_clockwise"), ("motorcycle", "move_left")][
        : 1 if quick else 3
    ]
    sweep = []
    for photo_name, name in sweep_items:
        photo, mask = H.load(photo_name), H.region(photo_name)
        # The canonical word: strength is about how far, and a paraphrase the model misreads (the confusion matrix's
        # business) would measure another motion's magnitude.
        prompt = field_prompts(name, "canonical")[0]
        measured = []
        for level in levels:
            video, fields, _ = runner(photo, [Region(mask, prompt)], level)
            measured.append(measure_ofm(small(video)))
        sweep.append({"photo": photo_name, "prompt": prompt, "requested": list(levels), "measured": measured})
        log(f"  strength {photo_name} '{prompt}': {[f'{x:.2f}' for x in measured]}")
    requested = [r for s in sweep for r in s["requested"]]
    measured = [x for s in sweep for x in s["measured"]]
    within = [abs(m / r - 1) <= TARGETS["ofm_within"] for r, m in zip(requested, measured)]

    # trajectory hints (the motion-field model only)
    drags = []
    if not latent:
        for photo_name in ("flower", "coins", "clock", "china")[: 1 if quick else 4]:
            photo, mask = H.load(photo_name), H.region(photo_name)
            cx, cy, rx, _ = H.BY_NAME[photo_name].ellipse
            h, w = photo.shape[:2]
            x0, y0 = cx * w, cy * h
            x1, y1 = x0 + 0.8 * rx * w, y0
            video, fields, _ = runner(
                photo, [Region(mask, "move")], 4.0, trajectories=[[Trajectory.drag(x0, y0, x1, y1, 16)]]
            )
            scale = video.shape[2] / w
            ex, ey = track_point(video, x0 * scale, y0 * scale)
            error = float(np.hypot(ex - x1 * scale, ey - y1 * scale) / (np.hypot(x1 - x0, y1 - y0) * scale))
            drags.append({"photo": photo_name, "drag_px": float(np.hypot(x1 - x0, y1 - y0)), "epe_fraction": error})
            log(f"  drag {photo_name}: end-point error {error:.0%} of the drag")

    matrix = P.confusion_matrix(true, predicted, P.LABELS if latent else P.FIELD_LABELS)
    core = [t == p for t, p in zip(true, predicted) if t in CORE]
    return {
        "frame0_psnr": {"mean": M.mean_or_none(psnrs), "min": min(psnrs, default=None)},
        "still_psnr": {"mean": M.mean_or_none(stills), "min": min(stills, default=None)},
        "prompt_following": {
            "labels": list(P.LABELS if latent else P.FIELD_LABELS),
            "confusion": matrix.tolist(),
            "accuracy": float(np.mean([t == p for t, p in zip(true, predicted)])) if true else None,
            "core_all_right": bool(all(core)) if core else None,
            "items": len(true),
        },
        "strength": {
            "items": sweep,
            "within_25pct": float(np.mean(within)) if within else None,
            "spearman_pooled": M.ofm_spearman(requested, measured) if measured else None,
        },
        "drag": {
            "items": drags,
            "median_epe_fraction": float(np.median([d["epe_fraction"] for d in drags])) if drags else None,
        },
        "field_leakage": {"mean": M.mean_or_none(leaks), "max": max(leaks, default=None)},
        "rows": rows,
    }


def speed_check(pipe, runs: int = 2) -> dict:
    """16 frames at a 1024-px long side, end to end (pipeline call incl. rendering): seconds, peak RSS."""
    photo = cv2.resize(H.load("flower"), (1024, 683), interpolation=cv2.INTER_CUBIC)
    mask = H.ellipse_mask(photo.shape[:2], H.BY_NAME["flower"].ellipse)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        pipe(
            photo,
            [Region(mask, "nod")],
            ofm=4.0,
            num_frames=16,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
        )
        times.append(time.perf_counter() - started)
    return {
        "seconds": min(times),
        "size": [683, 1024],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _fmt(v, spec=".2f"):
    return "n/a" if v is None else format(v, spec)


def report(results: dict, command: str) -> str:
    cols = [k for k in ("motion_field", "latent") if k in results]
    lines = [
        "# Motion-field model checks (issue 18 item 7)",
        "",
        f"Command: `{command}`; {results['date']}, 2-core CPU shared with a training run (timings are upper bounds).",
        "",
        f"Held-out photographs (bench/heldout_photos.py), held-out paraphrases; classifier flow on a {FLOW_SIDE}-px "
        "copy of each video, PSNRs at output size. The latent demo model runs the same items at its own 128-192 px "
        "output, only for classes of its 12-class vocabulary, no drags.",
        "",
        "| check | target | " + " | ".join(cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]

    def row(label, target, getter, spec=".2f"):
        lines.append(f"| {label} | {target} | " + " | ".join(_fmt(getter(results[c]), spec) for c in cols) + " |")

    row("frame 0 vs photo PSNR (dB), min", "≥ 40", lambda r: r["frame0_psnr"]["min"], ".1f")
    row("last vs first frame outside reach PSNR (dB), min", "≥ 40", lambda r: r["still_psnr"]["min"], ".1f")
    row("prompt following accuracy (per region)", "≥ 0.80", lambda r: r["prompt_following"]["accuracy"])
    lines.append(
        "| every move/rotate/zoom item right | all | "
        + " | ".join(str(results[c]["prompt_following"]["core_all_right"]) for c in cols)
        + " |"
    )
    row("strength: share within ±25 %", "1.00", lambda r: r["strength"]["within_25pct"])
    row("strength: Spearman pooled", "≥ 0.95", lambda r: r["strength"]["spearman_pooled"])
    row("drag end-point error, median (fraction of drag)", "≤ 0.10", lambda r: r["drag"]["median_epe_fraction"])
    row("raw fields outside the regions, mean |d| (ref px)", "", lambda r: r["field_leakage"]["mean"], ".3f")
    if "speed" in results:
        s = results["speed"]
        lines += [
            "",
            f"Speed: 16 frames at {s['size'][1]}x{s['size'][0]}, end to end: {s['seconds']:.1f} s "
            f"(target ≤ 5 s), peak RSS {s['peak_rss_mb']:.0f} MB.",
        ]
    if "classifier_ceiling" in results:
        c = results["classifier_ceiling"]
        lines += [
            "",
            f"Classifier ceiling on rendered exact fields (fyc.data.field_clips eval split, {c['clips']} clips, "
            f"speed 4): {c['accuracy']:.0%}; per class: "
            + ", ".join(f"{k} {v:.0%}" for k, v in c["per_class"].items()),
        ]
    for c in cols:
        lines += ["", f"## {c}: items", "", "| photo | prompt | class | classified |", "|---|---|---|---|"]
        lines += [f"| {r['photo']} | {r['prompt']} | {r['class']} | {r['predicted']} |" for r in results[c]["rows"]]
        for s in results[c]["strength"]["items"]:
            lines.append(
                f"\nStrength {s['photo']} '{s['prompt']}': requested {s['requested']} → measured "
                + ", ".join(f"{x:.2f}" for x in s["measured"])
            )
    return "\n".join(lines) + "\n"


def plot_confusion(pf: dict, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(pf["confusion"], float)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(9, 8), dpi=80)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(pf["labels"])), pf["labels"], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(pf["labels"])), pf["labels"], fontsize=8)
    for i, j in zip(*np.nonzero(counts)):
        ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=8)
    ax.set_title(f"{title}: accuracy {_fmt(pf['accuracy'])}")
    ax.set_xlabel("classified"), ax.set_ylabel("requested")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="runs/motion-now")
    parser.add_argument("--latent-weights", default=None)
    parser.add_argument("--out", default="runs/motion-check.json")
    parser.add_argument("--report", default=None, help="Markdown path (default: --out with .md)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--max-side", type=int, default=512, help="long side of the checks' videos (speed: 1024)")
    parser.add_argument("--classifier-clips", type=int, default=None, help="ground-truth clips per class (0: skip)")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--videos", default=None, help="folder for one mp4 per photo of the prompt items")
    args = parser.parse_args(argv)
    from fyc.weights import load_pipeline

    started = time.perf_counter()
    results = {"date": time.strftime("%Y-%m-%d %H:%M")}
    clips = args.classifier_clips if args.classifier_clips is not None else (1 if args.quick else 4)
    if clips:
        results["classifier_ceiling"] = P.validate_on_field_clips(clips_per_class=clips)
        print(f"classifier ceiling: {results['classifier_ceiling']['accuracy']:.0%}", flush=True)
    pipe = load_pipeline(args.weights)
    pipe.set_progress_bar_config(disable=True)
    results["motion_field"] = run_model(
        Runner(pipe, "field", args.steps, 0, args.max_side, Path(args.videos) if args.videos else None), args.quick
    )
    if not args.no_speed:
        results["speed"] = speed_check(pipe, runs=1 if args.quick else 2)
    if args.latent_weights:
        latent = load_pipeline(args.latent_weights)
        latent.set_progress_bar_config(disable=True)
        results["latent"] = run_model(Runner(latent, "latent", 25, 0, args.max_side), args.quick)
    results["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float) + "\n")
    command = "python bench/motion_model_checks.py " + " ".join(argv if argv is not None else sys.argv[1:])
    md = Path(args.report) if args.report else out.with_suffix(".md")
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(report(results, command))
    plot_confusion(
        results["motion_field"]["prompt_following"], md.with_name(md.stem + "_confusion.png"), "motion-field"
    )
    print(md.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
