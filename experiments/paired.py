"""Paired comparison of two models' check batteries: is a difference larger than the spread of the items?

Two runs of `demo_checks.run_battery` with the same options generate the same items with the same
seeds, so each video of one model has a twin in the other. `paired_comparison` takes, per measure, the
per-item differences (variant minus baseline) and a percentile bootstrap over items of their mean: a
difference whose 95 % interval excludes 0 is called better or worse, anything else "no clear difference".
Videos of the same item (the five OFM levels of a sweep item, the left and right videos of a left/right
item) are resampled together, since they share a photograph and a region and so are not independent.
An ablation at a small training budget is only as conclusive as these intervals say.
"""

from __future__ import annotations

import math

import numpy as np

# name -> what one value is. Every measure is higher-is-better.
MEASURES = {
    "first_frame_psnr": "frame 0 vs input, PSNR per video",
    "log2_motion_ratio": "log2 of inside / outside motion per video",
    "ofm_spearman": "Spearman of requested vs measured OFM per sweep item",
    "left_right_correct": "'move left' goes left and 'move right' right, per item",
    "prompt_following_correct": "classifier names the requested motion, per prompt-following video",
}


def _video_key(row: dict) -> tuple:
    return row["check"], row["id"], row["prompt"], float(row["requested_ofm"])


def _item_of(key: tuple) -> str:
    """The item a video belongs to: its check and its id without the left/right suffix."""
    check, video_id = key[0], key[1]
    if check == "left_right":
        video_id = video_id.rsplit("/", 1)[0]
    return f"{check}:{video_id}"


def _paired_values(baseline: dict, variant: dict) -> dict[str, tuple[np.ndarray, np.ndarray, list | None]]:
    """Per measure, the baseline's and the variant's values over the items both have, in the same order, and the
    item of each value where several values share one (else None)."""
    base_videos = {_video_key(r): r for r in baseline["videos"]}
    var_videos = {_video_key(r): r for r in variant["videos"]}
    if base_videos.keys() != var_videos.keys():
        missing = sorted(base_videos.keys() ^ var_videos.keys())[:3]
        raise ValueError(
            f"The two batteries generated different videos (for example {missing}); "
            "run both with the same options and seed."
        )
    keys = sorted(base_videos)

    def videos(field, transform=float):
        rows = [(base_videos[k].get(field), var_videos[k].get(field), _item_of(k)) for k in keys]
        rows = [(transform(a), transform(b), g) for a, b, g in rows if a is not None and b is not None]
        rows = [(a, b, g) for a, b, g in rows if math.isfinite(a) and math.isfinite(b)]
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows]

    def items(section, field):
        base = {x["id"]: x[field] for x in baseline[section]["items"]}
        var = {x["id"]: x[field] for x in variant[section]["items"]}
        ids = [i for i in sorted(base) if i in var and base[i] is not None and var[i] is not None]
        return np.array([float(base[i]) for i in ids]), np.array([float(var[i]) for i in ids]), None

    base_pf = {
        k: float(r["predicted"] == r["requested_class"])
        for k, r in base_videos.items()
        if r["check"] == "prompt_following"
    }
    var_pf = {k: float(var_videos[k]["predicted"] == var_videos[k]["requested_class"]) for k in base_pf}
    pf_keys = sorted(base_pf)
    return {
        "first_frame_psnr": videos("first_frame_psnr"),
        "log2_motion_ratio": videos("motion_ratio", lambda x: math.log2(max(float(x), 1e-9))),
        "ofm_spearman": items("ofm_control", "spearman"),
        "left_right_correct": items("left_right", "correct"),
        "prompt_following_correct": (
            np.array([base_pf[k] for k in pf_keys]),
            np.array([var_pf[k] for k in pf_keys]),
            None,
        ),
    }


def bootstrap_mean_interval(differences, groups=None, resamples: int = 4000, seed: int = 0, level: float = 0.95):
    """Percentile bootstrap interval of the mean of `differences`, resampling items with replacement; with
    `groups` (one label per difference), resampling whole groups, so values that share an item move together."""
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        return None
    labels = np.arange(d.size) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    sums = np.bincount(labels, weights=d)
    counts = np.bincount(labels).astype(float)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, sums.size, size=(resamples, sums.size))
    means = sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_comparison(baseline: dict, variant: dict, resamples: int = 4000, seed: int = 0) -> dict:
    """Per measure of `MEASURES`: baseline mean, variant mean, mean difference (variant − baseline), its 95 %
    bootstrap interval, the number of paired values and a verdict ("better", "worse", "no clear difference")."""
    out = {}
    for name, (base, var, groups) in _paired_values(baseline, variant).items():
        diff = var - base
        interval = bootstrap_mean_interval(diff, groups, resamples, seed)
        if interval is None:
            verdict = "not measured"
        elif interval[0] > 0:
            verdict = "better"
        elif interval[1] < 0:
            verdict = "worse"
        else:
            verdict = "no clear difference"
        out[name] = {
            "items": int(diff.size),
            "baseline": float(base.mean()) if diff.size else None,
            "variant": float(var.mean()) if diff.size else None,
            "difference": float(diff.mean()) if diff.size else None,
            "interval_95": list(interval) if interval else None,
            "verdict": verdict,
        }
    return out


def _cell(value, spec):
    return "n/a" if value is None else f"{value:{spec}}"


def paired_markdown(baseline_name: str, comparisons: dict[str, dict]) -> str:
    """A Markdown section: one table per variant of `paired_comparison` results against `baseline_name`."""
    lines = [
        "## Paired differences against the baseline",
        "",
        f"Per measure: the mean over items of (variant − {baseline_name}), the same items and seeds on both "
        "sides, with a 95 % percentile bootstrap interval over items (the videos of one sweep or left/right item resampled together; `experiments/paired.py`). A verdict "
        'other than "no clear difference" needs the interval to exclude 0. Every measure is higher-is-better; '
        "a log2 motion ratio difference of +1 means the inside/outside ratio doubled.",
        "",
    ]
    for variant, comparison in comparisons.items():
        lines += [
            f"### {variant}",
            "",
            "| measure | n | baseline | variant | difference [95 % interval] | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for name, c in comparison.items():
            label = MEASURES[name]
            interval = c["interval_95"]
            span = "n/a" if interval is None else f"{c['difference']:+.2f} [{interval[0]:+.2f}, {interval[1]:+.2f}]"
            lines.append(
                f"| {label} | {c['items']} | {_cell(c['baseline'], '.2f')} | {_cell(c['variant'], '.2f')} | "
                f"{span} | {c['verdict']} |"
            )
        lines.append("")
    return "\n".join(lines)
