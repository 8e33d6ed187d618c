"""The demo model's measured checks: one battery of generations, five figures.

- **frame 0**: PSNR of frame 0 against the input, on held-out photographs (`examples/benchmark`, the
  "eval" photos of `fyc.data.synthetic`) and on held-out generator clips, over every generated video;
- **regional motion**: mean flow inside the region / mean flow outside it (dilated), raw model output
  without compositing (`fyc.eval.metrics.region_metrics`); also on the generator's own clips of the
  prompt-following items, next to the model's videos of them: a region that moves away or grows leaves
  its mask, so the asked-for motion itself puts some flow outside;
- **OFM control**: the same items at >= 5 requested OFM levels (same seed), measured OFM of each video,
  Spearman rank correlation per item;
- **left vs right**: "move left" and "move right" on the same region and seed; signed horizontal flow of
  the region in each (`fyc.eval.prompt_following.horizontal_direction`) and whether they are opposite;
- **prompt following**: every motion class of the vocabulary asked for with its canonical prompt and with
  held-out paraphrases, on held-out generator clips (their frame 0, region and OFM); the flow-based
  classifier of `fyc.eval.prompt_following` names what each video does; confusion matrix and accuracy.
  The same classifier on the generator's own clips for those items gives its ceiling.

`run_battery(generate, options, size)` takes any `generate(item, ofm) -> uint8 video` so the figures can
be checked on known videos; `pipeline_generator` wraps a `FollowYourClickPipeline`. `markdown_section`
and `plot_confusion` turn the results of one or more models into the model card's section.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from fyc.data.motion_vocab import MOTION_CLASS_NAMES, MOTION_CLASSES
from fyc.eval import metrics as M
from fyc.eval import prompt_following as P
from fyc.eval.benchmark import BenchmarkItem
from fyc.region import Region

LEAKAGE_FLOOR = 1e-3  # px/frame at 256 px: outside motion below this counts as this (finite ratios)
TARGETS = {"first_frame_psnr": 24.0, "motion_ratio": 4.0, "ofm_spearman": 0.8}
SHORT_LABELS = {
    "move_left": "left",
    "move_right": "right",
    "move_up": "up",
    "move_down": "down",
    "shake": "shake",
    "sway": "sway",
    "rotate_clockwise": "cw",
    "rotate_counterclockwise": "ccw",
    "zoom_in": "in",
    "zoom_out": "out",
    "bounce": "bounce",
    "pulse": "pulse",
    P.STILL: "still",
}


@dataclass
class BatteryOptions:
    """What the battery generates and how.

    Attributes:
        steps, num_frames, guidance_scale: sampling settings of every video.
        seed: base seed of the sampling noise and of the held-out generator clips.
        ofm_levels: requested OFM levels of the sweep (>= 5 for the model card).
        sweep_photos, sweep_clips: items of the OFM sweep from the held-out photos / generator clips.
        lr_photos, lr_clips: items of the left-vs-right check.
        lr_ofm: OFM of the left-vs-right videos.
        confusion_speed: speed (reference px/frame) of the generator clips of the confusion matrix, capped
            by each motion's geometry; their measured OFM is what the model is asked for.
        heldout_per_class: held-out paraphrases per class in the confusion matrix (next to the canonical
            prompt; 0 for canonical only).
        classes: motion classes of the confusion matrix (default all).
        flow_method: optical flow of every measure.
    """

    steps: int = 25
    num_frames: int = 16
    guidance_scale: float | None = None  # None: the model's default
    seed: int = 0
    ofm_levels: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 12.0)
    sweep_photos: int = 2
    sweep_clips: int = 2
    lr_photos: int = 2
    lr_clips: int = 2
    lr_ofm: float = 6.0
    confusion_speed: float = 4.0
    heldout_per_class: int = 1
    classes: tuple[str, ...] = MOTION_CLASS_NAMES
    flow_method: str = "dis"

    def generations(self) -> int:
        """How many videos the battery generates."""
        sweep = (self.sweep_photos + self.sweep_clips) * len(self.ofm_levels)
        return sweep + 2 * (self.lr_photos + self.lr_clips) + len(self.classes) * (1 + self.heldout_per_class)


FULL = BatteryOptions()  # 20 + 8 + 24 = 52 videos: ~11 min per model at 12 s a video
QUICK = BatteryOptions(steps=8, sweep_photos=0, sweep_clips=1, lr_photos=0, lr_clips=1, heldout_per_class=0)


# --------------------------------------------------------------------------------------------- items


def _photo_items(count: int) -> list[BenchmarkItem]:
    from fyc.eval.benchmark import load_benchmark

    return load_benchmark("photos")[:count] if count > 0 else []


def _clip_item(clip, item_id: str, prompt: str, seed: int) -> BenchmarkItem:
    region = clip.regions[0]
    return BenchmarkItem(
        id=item_id,
        image=np.array(clip.frames[0]),
        regions=[Region(region.region_mask, prompt)],
        caption=clip.caption,
        ofm_levels=[float(clip.ofm)],
        seed=seed,
        reference=np.array(clip.frames),
        reference_ofm=float(clip.ofm),
        source="synthetic",
        extra={"motion_class": region.motion_class, "background": clip.background_photo},
    )


def _clip_items(count: int, size: int, options: BatteryOptions, offset: int) -> list[BenchmarkItem]:
    from fyc.data.synthetic import generate_clip

    items = []
    for index in range(count):
        clip = generate_clip(options.seed * 100_003 + offset + index, "eval", size, options.num_frames)
        items.append(_clip_item(clip, f"clip-{offset + index}", clip.regions[0].motion_prompt, options.seed + index))
    return items


def _with_prompt(item: BenchmarkItem, prompt: str, suffix: str) -> BenchmarkItem:
    """`item` with only its first region, asked for `prompt`."""
    return replace(item, id=f"{item.id}/{suffix}", regions=[Region(item.regions[0].mask, prompt)], caption=prompt)


def confusion_items(options: BatteryOptions, size: int) -> list[tuple[BenchmarkItem, str, str]]:
    """(item, requested class, "canonical" | "heldout") for the confusion matrix: per class a held-out
    generator clip of that class, asked for with the canonical prompt and `heldout_per_class` paraphrases."""
    from fyc.data.synthetic import generate_clip

    out = []
    for k, name in enumerate(options.classes):
        motion = MOTION_CLASSES[name]
        prompts = [("canonical", motion.canonical)]
        for j in range(options.heldout_per_class):
            prompts.append(("heldout", motion.heldout_prompts[(options.seed + j) % len(motion.heldout_prompts)]))
        for j, (kind, prompt) in enumerate(prompts):
            clip = generate_clip(
                options.seed * 100_003 + 50_000 + 10 * k + j,
                "eval",
                size,
                options.num_frames,
                motion_class=name,
                prompt=prompt,
                speed=options.confusion_speed,
            )
            out.append((_clip_item(clip, f"{name}/{kind}-{j}", prompt, options.seed + 10 * k + j), name, kind))
    return out


# --------------------------------------------------------------------------------------------- measuring


def pipeline_generator(pipe, options: BatteryOptions):
    """`generate(item, ofm) -> (uint8 video, seconds)` for a `FollowYourClickPipeline` (raw output)."""
    from fyc.eval.evaluate import EvalOptions, generate

    eval_options = EvalOptions(
        num_inference_steps=options.steps,
        num_frames=options.num_frames,
        guidance_scale=options.guidance_scale,
        flow_method=options.flow_method,
    )
    return lambda item, ofm: generate(pipe, item, ofm, eval_options)


def _motion_ratio(motion, leakage) -> float | None:
    if motion is None or leakage is None:
        return None
    return float(motion) / max(float(leakage), LEAKAGE_FLOOR)


def _measure(item: BenchmarkItem, video: np.ndarray, options: BatteryOptions) -> dict:
    """Frame-0 and regional figures of one video (`fyc.eval.evaluate.video_metrics`, no networks)."""
    from fyc.eval.evaluate import video_metrics

    full = video_metrics(item, video, flow_method=options.flow_method)
    row = {key: full[key] for key in ("first_frame_psnr", "region_motion", "region_leakage", "measured_ofm")}
    row["motion_ratio"] = _motion_ratio(row["region_motion"], row["region_leakage"])
    return row


def _region_at(item: BenchmarkItem, video: np.ndarray) -> np.ndarray:
    return M.resize_mask(item.regions[0].mask, video.shape[1:3])


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)


def run_battery(generate, options: BatteryOptions, size: int, log=print) -> dict:
    """Generate and measure everything (see the module docstring); returns the JSON-ready results.

    Args:
        generate: `generate(item, ofm) -> uint8 video (F, H, W, 3)` or `(video, seconds)`.
        options: `BatteryOptions`.
        size: short side of the held-out generator clips (the model's native size).
    """
    if len(options.ofm_levels) < 2:
        raise ValueError(f"The OFM sweep needs at least 2 levels (5 for the model card), got {options.ofm_levels}.")
    videos, started, seconds_generating = [], time.perf_counter(), 0.0

    def run(check: str, item: BenchmarkItem, ofm: float) -> tuple[dict, np.ndarray]:
        nonlocal seconds_generating
        t0 = time.perf_counter()
        out = generate(item, float(ofm))
        video, seconds = out if isinstance(out, tuple) else (out, time.perf_counter() - t0)
        video = M.as_uint8_video(video)
        seconds_generating += seconds
        row = {
            "check": check,
            "id": item.id,
            "source": item.source,
            "prompt": item.regions[0].prompt,
            "requested_ofm": float(ofm),
            "seconds": round(float(seconds), 2),
            **_measure(item, video, options),
        }
        videos.append(row)
        log(
            f"[{len(videos)}/{options.generations()}] {check} {item.id} '{row['prompt']}' ofm={ofm:g}: "
            f"measured {row['measured_ofm']:.2f}, PSNR {row['first_frame_psnr']:.1f} dB, {seconds:.1f} s"
        )
        return row, video

    # OFM sweep
    sweep_items = _photo_items(options.sweep_photos) + _clip_items(options.sweep_clips, size, options, 0)
    sweep = []
    for item in sweep_items:
        rows = [run("ofm_sweep", item, level)[0] for level in options.ofm_levels]
        requested, measured = [r["requested_ofm"] for r in rows], [r["measured_ofm"] for r in rows]
        sweep.append(
            {
                "id": item.id,
                "source": item.source,
                "prompt": item.regions[0].prompt,
                "requested": requested,
                "measured": measured,
                "spearman": M.ofm_spearman(requested, measured),
            }
        )
    sweep_rows = [r for r in videos if r["check"] == "ofm_sweep"]

    # left vs right
    lr_items = _photo_items(options.lr_photos) + _clip_items(options.lr_clips, size, options, 1000)
    left_right = []
    for item in lr_items:
        dx = {}
        for side in ("left", "right"):
            row, video = run("left_right", _with_prompt(item, f"move {side}", side), options.lr_ofm)
            mask = _region_at(item, video)
            dx[side] = P.horizontal_direction(video, mask, options.flow_method)
            row.update(horizontal_flow=dx[side], predicted=P.classify_motion(video, mask, options.flow_method))
        left_right.append(
            {
                "id": item.id,
                "source": item.source,
                "left_dx": dx["left"],
                "right_dx": dx["right"],
                "opposite": bool(dx["left"] * dx["right"] < 0),
                "correct": bool(dx["left"] < 0 < dx["right"]),
            }
        )

    # prompt following
    true, predicted, kinds, reference_predicted, reference_rows = [], [], [], [], []
    for item, name, kind in confusion_items(options, size):
        row, video = run("prompt_following", item, item.reference_ofm)
        mask = _region_at(item, video)
        row.update(
            requested_class=name, prompt_kind=kind, predicted=P.classify_motion(video, mask, options.flow_method)
        )
        true.append(name), predicted.append(row["predicted"]), kinds.append(kind)
        reference_predicted.append(P.classify_motion(item.reference, item.regions[0].mask, options.flow_method))
        # What the asked-for motion itself does to inside/outside: a region that moves away or grows leaves
        # its dilated frame-0 mask, so following the prompt raises "outside" too.
        reference_rows.append(_measure(item, item.reference, options))

    labels = P.LABELS  # every class as a column: a video may do what nobody asked for
    matrix = P.confusion_matrix(true, predicted, labels)

    def accuracy(kind=None, guesses=predicted):
        pairs = [(t, p) for t, p, k in zip(true, guesses, kinds) if kind in (None, k)]
        return float(np.mean([t == p for t, p in pairs])) if pairs else None

    by_source = {src: [r for r in videos if r["source"] == src] for src in ("photos", "synthetic")}
    ratios = [r["motion_ratio"] for r in videos if r["motion_ratio"] is not None]
    motion = M.mean_or_none(r["region_motion"] for r in videos)
    leakage = M.mean_or_none(r["region_leakage"] for r in videos)

    def ratio_of_means(rows):
        rows = list(rows)
        return _motion_ratio(
            M.mean_or_none(r["region_motion"] for r in rows), M.mean_or_none(r["region_leakage"] for r in rows)
        )

    return {
        "first_frame_psnr": {
            "photos": M.mean_or_none(r["first_frame_psnr"] for r in by_source["photos"]),
            "synthetic": M.mean_or_none(r["first_frame_psnr"] for r in by_source["synthetic"]),
            "photos_min": min((r["first_frame_psnr"] for r in by_source["photos"]), default=None),
            "synthetic_min": min((r["first_frame_psnr"] for r in by_source["synthetic"]), default=None),
            "videos": {src: len(rows) for src, rows in by_source.items()},
        },
        "region_motion": {
            "inside": motion,
            "outside": leakage,
            "ratio_of_means": _motion_ratio(motion, leakage),
            "mean_ratio": M.mean_or_none(ratios),
            "median_ratio": float(np.median(ratios)) if ratios else None,
            "share_at_least_4x": float(np.mean([x >= TARGETS["motion_ratio"] for x in ratios])) if ratios else None,
            "prompt_following_ratio_of_means": ratio_of_means(r for r in videos if r["check"] == "prompt_following"),
            "reference_ratio_of_means": ratio_of_means(reference_rows),
        },
        "ofm_control": {
            "levels": [float(v) for v in options.ofm_levels],
            "spearman_mean": M.mean_or_none(s["spearman"] for s in sweep),
            "spearman_pooled": M.ofm_spearman(
                [r["requested_ofm"] for r in sweep_rows], [r["measured_ofm"] for r in sweep_rows]
            )
            if sweep_rows
            else None,
            "measured_mean_per_level": [
                M.mean_or_none(s["measured"][i] for s in sweep) for i in range(len(options.ofm_levels))
            ],
            "items": sweep,
        },
        "left_right": {
            "ofm": options.lr_ofm,
            "opposite_fraction": float(np.mean([x["opposite"] for x in left_right])) if left_right else None,
            "correct_fraction": float(np.mean([x["correct"] for x in left_right])) if left_right else None,
            "left_dx_mean": M.mean_or_none(x["left_dx"] for x in left_right),
            "right_dx_mean": M.mean_or_none(x["right_dx"] for x in left_right),
            "items": left_right,
        },
        "prompt_following": {
            "labels": list(labels),
            "confusion": matrix.tolist(),
            "accuracy": accuracy(),
            "accuracy_canonical": accuracy("canonical"),
            "accuracy_heldout": accuracy("heldout"),
            "per_class": {k: v for k, v in P.per_class_accuracy(matrix, labels).items() if k in options.classes},
            "still_fraction": float(np.mean([p == P.STILL for p in predicted])) if predicted else None,
            "classifier_ceiling": accuracy(guesses=reference_predicted),
        },
        "videos": videos,
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(options).items()},
        "timing": {
            "videos": len(videos),
            "seconds_total": round(time.perf_counter() - started, 1),
            "seconds_per_video": round(seconds_generating / max(len(videos), 1), 2),
        },
    }


# --------------------------------------------------------------------------------------------- report


def _guidance(value) -> str:
    return "the model's default" if value is None else f"{value:g}"


def _fmt(value, spec=".2f", suffix="") -> str:
    value = _finite(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _summary_rows(r: dict) -> list[tuple[str, str, str]]:
    """(check, target, value) rows of one model's results."""
    keys = ("first_frame_psnr", "region_motion", "ofm_control", "left_right", "prompt_following")
    f0, rm, oc, lr, pf = (r[k] for k in keys)
    return [
        (
            "Frame 0 vs input, held-out photographs: PSNR (dB), mean / min",
            "≥ 24",
            f"{_fmt(f0['photos'], '.1f')} / {_fmt(f0['photos_min'], '.1f')}",
        ),
        (
            "Frame 0 vs input, held-out generator clips: PSNR (dB), mean / min",
            "≥ 24",
            f"{_fmt(f0['synthetic'], '.1f')} / {_fmt(f0['synthetic_min'], '.1f')}",
        ),
        (
            "Motion inside / outside the region (raw output): ratio of means; median per video",
            "≥ 4×",
            f"{_fmt(rm['ratio_of_means'], '.1f', '×')}; {_fmt(rm['median_ratio'], '.1f', '×')}",
        ),
        ("Videos with inside ≥ 4× outside", "", _fmt(rm["share_at_least_4x"], ".0%")),
        (
            "Inside / outside, ratio of means: prompt-following videos; the generator's own clips for them",
            "",
            f"{_fmt(rm.get('prompt_following_ratio_of_means'), '.1f', '×')}; "
            f"{_fmt(rm.get('reference_ratio_of_means'), '.1f', '×')}",
        ),
        (
            f"OFM control: Spearman over {len(oc['levels'])} levels, mean per item (pooled)",
            "≥ 0.8",
            f"{_fmt(oc['spearman_mean'])} ({_fmt(oc['spearman_pooled'])})",
        ),
        (
            "'move left' vs 'move right' move opposite ways (correct signs)",
            "all",
            f"{_fmt(lr['opposite_fraction'], '.0%')} ({_fmt(lr['correct_fraction'], '.0%')})",
        ),
        (
            "Prompt following, classifier accuracy: all / canonical / held-out paraphrases",
            "",
            " / ".join(_fmt(pf[k], ".0%") for k in ("accuracy", "accuracy_canonical", "accuracy_heldout")),
        ),
        (
            "Classifier on the generator's own clips for those items (ceiling)",
            "",
            _fmt(pf["classifier_ceiling"], ".0%"),
        ),
        ("Videos classified 'still'", "", _fmt(pf["still_fraction"], ".0%")),
    ]


def _confusion_table(pf: dict) -> list[str]:
    labels = pf["labels"]
    head = "| requested \\ classified | " + " | ".join(SHORT_LABELS.get(x, x) for x in labels) + " |"
    lines = [head, "|" + "---|" * (len(labels) + 1)]
    for name, row in zip(labels, pf["confusion"]):
        if not any(row):  # a class nobody asked for
            continue
        cells = [f"**{v}**" if labels[j] == name and v else (str(v) if v else "·") for j, v in enumerate(row)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def markdown_section(runs: list[tuple[str, dict]], images: list[str | None] | None = None, command: str = "") -> str:
    """The model card's "Measured results" section for one or more models (one column each).

    Args:
        runs: (name, results of `run_battery`) per model.
        images: per model, the confusion heatmap's path relative to the Markdown (or None).
        command: the command that produced the figures, quoted in the section.
    """
    images = images or [None] * len(runs)
    names = [name for name, _ in runs]
    rows = [_summary_rows(r) for _, r in runs]
    first = runs[0][1]
    options = first["options"]
    lines = ["## Measured results", ""]
    lines.append(
        f"{first['timing']['videos']} videos per model, {options['steps']} steps, {options['num_frames']} frames, "
        f"guidance {_guidance(options['guidance_scale'])}, seed {options['seed']}; raw model output (no background "
        "compositing). Motion is optical flow (OpenCV DIS, `fyc.flow`) in px/frame at a 256-px-wide reference; "
        "outside = beyond the region dilated by 8 reference px. Prompt following uses the flow-based classifier "
        "of `fyc/eval/prompt_following.py`." + (f" Command: `{command}`." if command else "")
    )
    lines += ["", "| check | target | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for i, (check, target, _) in enumerate(rows[0]):
        lines.append(f"| {check} | {target} | " + " | ".join(model_rows[i][2] for model_rows in rows) + " |")
    for (name, r), image in zip(runs, images):
        oc, lr, pf = r["ofm_control"], r["left_right"], r["prompt_following"]
        lines += ["", f"### {name}", "", "OFM sweep (requested → measured):", ""]
        lines += [
            "| item | prompt | " + " | ".join(f"{v:g}" for v in oc["levels"]) + " | Spearman |",
            "|---|---|" + "---|" * (len(oc["levels"]) + 1),
        ]
        for s in oc["items"]:
            lines.append(
                f"| {s['id']} | {s['prompt']} | "
                + " | ".join(_fmt(v) for v in s["measured"])
                + f" | {_fmt(s['spearman'])} |"
            )
        lines += [
            "",
            f"Left vs right (signed horizontal flow of the region, OFM {lr['ofm']:g}):",
            "",
            "| item | 'move left' | 'move right' | opposite |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {x['id']} | {_fmt(x['left_dx'], '+.2f')} | {_fmt(x['right_dx'], '+.2f')} | "
            f"{'yes' if x['opposite'] else 'no'} |"
            for x in lr["items"]
        ]
        lines += [
            "",
            "Confusion matrix (rows: requested class, canonical prompt and held-out paraphrases; columns: "
            "what the classifier saw):",
            "",
        ] + _confusion_table(pf)
        if image:
            lines += ["", f"![confusion matrix, {name}]({image})"]
    return "\n".join(lines) + "\n"


def plot_confusion(results: dict, path, title: str = "") -> None:
    """Heatmap PNG of the confusion matrix in `results` (rows normalised; counts written in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pf = results["prompt_following"]
    labels = [SHORT_LABELS.get(x, x) for x in pf["labels"]]
    counts = np.asarray(pf["confusion"], dtype=float)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.5 * len(labels) + 2, 0.45 * len(labels) + 1.5), dpi=100)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("classified")
    ax.set_ylabel("requested")
    for i, j in zip(*np.nonzero(counts)):
        ax.text(
            j,
            i,
            int(counts[i, j]),
            ha="center",
            va="center",
            color="white" if share[i, j] > 0.5 else "black",
            fontsize=8,
        )
    accuracy = pf["accuracy"]
    ax.set_title(f"{title} accuracy {accuracy:.0%}" if accuracy is not None else title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(runs: list[tuple[str, dict]], out_path, command: str = "", meta: dict | None = None):
    """Write `out_path` (JSON: {"runs": [{"name", "results"}], ...meta}), the Markdown section next to it
    (`.md`) and one confusion heatmap per model (`_confusion[_N].png`). Returns (json, md, [png])."""
    import json
    from pathlib import Path

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    images = []
    for index, (name, results) in enumerate(runs):
        png = out.with_name(f"{out.stem}_confusion{'' if len(runs) == 1 else f'_{index}'}.png")
        plot_confusion(results, png, title=name)
        images.append(png)
    payload = {**(meta or {}), "command": command, "runs": [{"name": n, "results": r} for n, r in runs]}
    out.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    md = out.with_suffix(".md")
    md.write_text(markdown_section(runs, [p.name for p in images], command))
    return out, md, images
