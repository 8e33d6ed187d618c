"""Run a pipeline over a benchmark set and gather every metric into one JSON-ready dict.

For each item the pipeline animates the image at every requested OFM level with the same seed (only the
strength changes). Every generated video gets the per-video metrics (first frame, CLIP, PIC, regional
motion, measured OFM); each item's sweep gives one `ofm_spearman`; videos of items with a reference clip,
generated at the reference's own OFM, are compared with the references by FVD. Set-level figures are
means over videos (per-video metrics) or over items (`ofm_spearman`). Unmeasurable metrics are None, with
the reason under "not_measured".
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

from fyc.animate import animate
from fyc.eval import metrics as M
from fyc.eval.benchmark import BenchmarkItem

# Table 1 of the paper, Follow-Your-Click row (DESIGN.md §7).
PAPER_TABLE1 = {"first_frame_mse": 21.46, "temporal_consistency": 0.9613, "text_alignment": 0.7981, "fvd": 271.74}
METRIC_KEYS = (
    "first_frame_mse",
    "first_frame_psnr",
    "temporal_consistency",
    "text_alignment",
    "fvd",
    "pic",
    "region_leakage",
    "region_motion",
    "ofm_spearman",
)
PER_VIDEO_KEYS = (
    "first_frame_mse",
    "first_frame_psnr",
    "temporal_consistency",
    "text_alignment",
    "pic",
    "region_motion",
    "region_leakage",
    "region_leakage_ratio",
    "measured_ofm",
)


@dataclass
class EvalOptions:
    """Sampling settings shared by every video of a run."""

    num_inference_steps: int = 25
    num_frames: int = 16
    guidance_scale: float | None = None  # None: the model's default (`pipe.config.default_guidance_scale`)
    flow_method: str = "dis"
    keep_frames: int = 3  # frames per item kept for the report's contact sheet


def generate(pipe, item: BenchmarkItem, ofm: float, options: EvalOptions) -> tuple[np.ndarray, float]:
    """One video of `item` at `ofm`, the model's raw output (no still background), and the seconds it took."""
    start = time.perf_counter()
    frames = animate(
        pipe,
        item.image,
        item.regions,
        ofm=ofm,
        seed=item.seed,
        num_frames=options.num_frames,
        num_inference_steps=options.num_inference_steps,
        guidance_scale=options.guidance_scale,
    )
    return M.as_uint8_video(frames), time.perf_counter() - start


def video_metrics(item: BenchmarkItem, video: np.ndarray, clip=None, perceptual=None, flow_method="dis") -> dict:
    """Per-video metrics of one generated video (None where a network is missing)."""
    masks = [r.mask for r in item.regions]
    out = {
        "first_frame_mse": M.first_frame_mse(item.image, video),
        "first_frame_psnr": M.first_frame_psnr(item.image, video),
        "temporal_consistency": clip.temporal_consistency(video) if clip else None,
        "text_alignment": clip.text_alignment(video, item.caption) if clip else None,
        "pic": perceptual.pic(item.image, video) if perceptual else None,
    }
    out.update(M.region_metrics(video, masks, method=flow_method))
    return out


def _fit_reference(reference: np.ndarray, like: np.ndarray) -> np.ndarray:
    """The reference clip with the generated video's frame count and size (FVD compares like with like)."""
    frames = reference[: len(like)]
    if len(frames) < len(like):  # a short reference: hold its last frame
        frames = np.concatenate([frames, np.repeat(frames[-1:], len(like) - len(frames), axis=0)])
    return np.stack([M.resize_image(f, like.shape[1:3]) for f in frames])


def evaluate(
    pipe,
    items: list[BenchmarkItem],
    options: EvalOptions,
    clip=None,
    video_net=None,
    perceptual=None,
    not_measured: dict | None = None,
    log=print,
) -> dict:
    """Animate every item at every level and measure; returns the JSON-ready results dict
    (metric keys at top level, plus "not_measured", "items", "paper_table1", "setup", "timing")."""
    from dataclasses import replace

    from fyc.flow import measure_ofm

    if options.guidance_scale is None:  # the report names the number used
        options = replace(options, guidance_scale=pipe.config.default_guidance_scale)
    not_measured = dict(not_measured or {})
    results, generated_for_fvd, references_for_fvd, thumbnails = [], [], [], []
    seconds_generating, started = 0.0, time.perf_counter()
    for number, item in enumerate(items, 1):
        levels = list(item.ofm_levels)
        reference_ofm = item.reference_ofm
        if item.reference is not None and reference_ofm is None:
            reference_ofm = measure_ofm(item.reference, method=options.flow_method)
        fvd_level = None
        if item.reference is not None and video_net is not None:
            fvd_level = round(float(reference_ofm), 3)
            if fvd_level not in levels:
                levels = sorted(levels + [fvd_level])
        per_level = []
        for ofm in levels:
            video, seconds = generate(pipe, item, ofm, options)
            seconds_generating += seconds
            row = {"requested_ofm": float(ofm), "seconds": round(seconds, 3)}
            row.update(video_metrics(item, video, clip, perceptual, options.flow_method))
            per_level.append(row)
            if ofm == fvd_level:
                generated_for_fvd.append(video)
                references_for_fvd.append(_fit_reference(item.reference, video))
            if ofm == levels[len(levels) // 2]:
                picks = np.linspace(0, len(video) - 1, options.keep_frames).round().astype(int)
                thumbnails.append(
                    {
                        "id": item.id,
                        "prompt": "; ".join(r.prompt for r in item.regions),
                        "ofm": float(ofm),
                        "image": M.resize_image(item.image, video.shape[1:3]),
                        "frames": video[picks],
                        "frame_indices": picks.tolist(),
                    }
                )
            log(
                f"[{number}/{len(items)}] {item.id} ofm={ofm:g}: measured {row['measured_ofm']:.2f}, "
                f"leakage {row['region_leakage'] if row['region_leakage'] is not None else float('nan'):.3f}, "
                f"{seconds:.1f} s"
            )
        sweep = [r for r in per_level if r["requested_ofm"] in item.ofm_levels]
        spearman = M.ofm_spearman([r["requested_ofm"] for r in sweep], [r["measured_ofm"] for r in sweep])
        entry = {
            "id": item.id,
            "source": item.source,
            "caption": item.caption,
            "prompts": [r.prompt for r in item.regions],
            "seed": item.seed,
            "ofm_spearman": spearman,
            "levels": per_level,
            **({"info": item.extra} if item.extra else {}),
        }
        if item.reference is not None:
            ref = M.region_metrics(item.reference, [r.mask for r in item.regions], method=options.flow_method)
            entry["reference"] = {"ofm": reference_ofm, **ref}
        results.append(entry)

    videos = [row for entry in results for row in entry["levels"]]
    out = {key: M.mean_or_none(row[key] for row in videos) for key in PER_VIDEO_KEYS}
    out["ofm_spearman"] = M.mean_or_none(entry["ofm_spearman"] for entry in results)
    sweeps = [
        r for entry, item in zip(results, items) for r in entry["levels"] if r["requested_ofm"] in item.ofm_levels
    ]
    out["ofm_spearman_pooled"] = M.ofm_spearman(
        [r["requested_ofm"] for r in sweeps], [r["measured_ofm"] for r in sweeps]
    )
    if out["ofm_spearman"] is None and "ofm_spearman" not in not_measured:
        not_measured["ofm_spearman"] = "undefined: fewer than 2 levels per item, or a constant measured OFM"

    out["fvd"] = None
    if video_net is None:
        not_measured.setdefault("fvd", "no --i3d network given")
    elif len(generated_for_fvd) < 2:
        not_measured["fvd"] = f"needs >= 2 items with reference clips, the set has {len(generated_for_fvd)}"
    else:
        from fyc.eval.fvd import fvd

        out["fvd"] = fvd(generated_for_fvd, references_for_fvd, video_net)
        out["fvd_network"] = video_net.name
        out["fvd_clips"] = len(generated_for_fvd)
    for key in ("temporal_consistency", "text_alignment", "pic"):
        if out[key] is None:
            not_measured.setdefault(key, "no network given")

    out = {key: out.get(key) for key in METRIC_KEYS} | {k: v for k, v in out.items() if k not in METRIC_KEYS}
    out["not_measured"] = {k: v for k, v in not_measured.items() if out.get(k) is None}
    out["paper_table1"] = dict(PAPER_TABLE1)
    reference_rows = [e["reference"] for e in results if "reference" in e]
    if reference_rows:  # what the real clips score: the level a perfect model would reach on them
        out["reference_clips"] = {
            key: M.mean_or_none(r[key] for r in reference_rows)
            for key in ("region_motion", "region_leakage", "region_leakage_ratio", "measured_ofm")
        }
    out["items"] = results
    out["timing"] = {
        "videos": len(videos),
        "seconds_total": round(time.perf_counter() - started, 1),
        "seconds_generating": round(seconds_generating, 1),
        "seconds_per_video": round(seconds_generating / max(len(videos), 1), 2),
    }
    out["options"] = asdict(options)
    out["machine"] = _machine()
    out["_thumbnails"] = thumbnails  # arrays for the report; dropped before the JSON is written
    return out


def _machine() -> dict:
    import os

    import torch

    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
