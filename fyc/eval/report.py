"""The Markdown report and plots of an evaluation run (`python -m fyc eval`).

`write_report(results, report_dir, stem)` writes `{stem}.md` and next to it `{stem}_ofm.png` (requested vs
measured OFM per item), `{stem}_regions.png` (motion inside vs outside the regions per item) and
`{stem}_frames.png` (input and frames of one video per item). A metric that could not be measured is
written "not measured" with the reason, never as a number.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

NOT_MEASURED = "not measured"

PAPER_ROWS = (  # (key, paper's name, direction, unit note)
    ("first_frame_mse", "I1-MSE", "↓", "0-255 scale"),
    ("temporal_consistency", "Tem-Consis", "↑", "CLIP cosine of consecutive frames"),
    ("text_alignment", "Text-Align", "↑", "raw CLIP text-frame cosine"),
    ("fvd", "FVD", "↓", ""),
)
REGIONAL_ROWS = (
    ("first_frame_psnr", "first-frame PSNR (dB)", "↑"),
    ("region_motion", "region motion (px/frame at 256 px)", "↑ (should follow the request)"),
    ("region_leakage", "leakage outside the dilated regions (px/frame at 256 px)", "↓"),
    ("region_leakage_ratio", "leakage / region motion", "↓"),
    ("ofm_spearman", "OFM fidelity: Spearman of requested vs measured OFM, mean over items", "↑ (1 = monotone)"),
    ("ofm_spearman_pooled", "OFM fidelity pooled over all items' sweeps", "↑"),
    ("pic", "PIC: 1 - LPIPS-like distance to the input", "↑"),
)
SCALE_CAVEAT = (
    "The paper's figures come from SD 1.5 + AnimateDiff (a 1.3 B-parameter UNet) trained on WebVid-10M at "
    "512 px and measured on its own test set; a small model trained on CPU for hours, measured on a handful "
    "of clips at low resolution, is not comparable number for number. I1-MSE depends on resolution and "
    "content, FVD from a few clips is mostly estimation noise, and the paper does not state the scale of "
    "Text-Align (a raw CLIP cosine is typically 0.2-0.35). Read these columns as a sanity check of the "
    "implementation and as a baseline for later runs of this project, not as a reproduction."
)


def fmt(value, digits: int = 4) -> str:
    """A number for a table; None becomes "not measured" (the reasons are listed under the tables)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NOT_MEASURED
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def paper_table(results: dict) -> str:
    """Markdown table of the paper's Table 1 metrics: this run beside the paper's FYC row."""
    paper = results.get("paper_table1", {})
    lines = ["| metric | this run | paper (FYC, Table 1) | note |", "|---|---|---|---|"]
    for key, name, direction, note in PAPER_ROWS:
        if key == "fvd" and results.get("fvd") is not None:
            note = f"{results.get('fvd_network', '')}, {results.get('fvd_clips', '?')} clips"
        lines.append(f"| {name} `{key}` {direction} | {fmt(results.get(key))} | {fmt(paper.get(key), 6)} | {note} |")
    return "\n".join(lines)


def regional_table(results: dict) -> str:
    """Markdown table of our regional metrics, with the reference clips' values where there are any."""
    reference = results.get("reference_clips") or {}
    header = "| metric | this run | real clips |" if reference else "| metric | this run |"
    lines = [header, "|---|---|---|" if reference else "|---|---|"]
    for key, name, direction in REGIONAL_ROWS:
        row = f"| {name} `{key}` {direction} | {fmt(results.get(key))} |"
        if reference:
            row += f" {fmt(reference.get(key)) if key in reference else ''} |"
        lines.append(row)
    return "\n".join(lines)


def _level_mean(item: dict, key: str) -> float | None:
    values = [row[key] for row in item["levels"] if row[key] is not None]
    return float(np.mean(values)) if values else None


def items_table(results: dict) -> str:
    lines = [
        "| item | prompts | requested → measured OFM | Spearman | leakage | region motion | I1-MSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in results.get("items", []):
        levels = item["levels"]
        sweep = ", ".join(f"{r['requested_ofm']:g}→{r['measured_ofm']:.1f}" for r in levels)
        lines.append(
            f"| {item['id']} | {'; '.join(item['prompts'])} | {sweep} | {fmt(item['ofm_spearman'], 3)} | "
            f"{fmt(_level_mean(item, 'region_leakage'), 3)} | {fmt(_level_mean(item, 'region_motion'), 3)} | "
            f"{fmt(_level_mean(item, 'first_frame_mse'), 4)} |"
        )
    return "\n".join(lines)


def plot_ofm(results: dict, path: Path) -> None:
    """Requested vs measured OFM, one line per item, with the identity line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=110)
    top = 1.0
    for item in results.get("items", []):
        x = [r["requested_ofm"] for r in item["levels"]]
        y = [r["measured_ofm"] for r in item["levels"]]
        ax.plot(x, y, marker="o", lw=1.2, ms=3.5, label=item["id"])
        top = max(top, *x, *y)
    ax.plot([0, top], [0, top], color="0.6", ls="--", lw=1, label="measured = requested")
    ax.set_xlabel("requested OFM (px/frame at 256 px)")
    ax.set_ylabel("measured OFM (fyc.flow)")
    rho = results.get("ofm_spearman")
    ax.set_title("OFM fidelity" + (f" (mean Spearman {rho:.2f})" if rho is not None else ""))
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_regions(results: dict, path: Path) -> None:
    """Mean flow inside the regions vs outside their dilation, per item."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = results.get("items", [])
    ids = [item["id"] for item in items]

    x = np.arange(len(items))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(items) + 2), 4), dpi=110)
    ax.bar(x - 0.2, [_level_mean(i, "region_motion") or 0.0 for i in items], 0.4, label="inside the regions")
    ax.bar(x + 0.2, [_level_mean(i, "region_leakage") or 0.0 for i in items], 0.4, label="outside (leakage)")
    ax.set_xticks(x, ids, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("mean flow magnitude (px/frame at 256 px)")
    ax.set_title("Where the motion is")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_frames(thumbnails: list[dict], path: Path, max_items: int = 8) -> None:
    """Contact sheet: per item, the input and a few frames of its middle-strength video."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thumbnails = thumbnails[:max_items]
    cols = 1 + max(len(t["frames"]) for t in thumbnails)
    fig, axes = plt.subplots(len(thumbnails), cols, figsize=(1.8 * cols, 1.9 * len(thumbnails)), dpi=100, squeeze=False)
    for row, thumb in zip(axes, thumbnails):
        panels = [("input", thumb["image"])] + [
            (f"frame {i}", f) for i, f in zip(thumb["frame_indices"], thumb["frames"])
        ]
        for ax, (title, picture) in zip(row, panels):
            ax.imshow(picture)
            ax.set_title(title, fontsize=7)
        row[0].set_ylabel(f"{thumb['id']}\n{thumb['prompt']}, ofm {thumb['ofm']:g}", fontsize=6)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(results: dict, report_dir, stem: str = "eval") -> Path:
    """Write `{stem}.md` and its plots under `report_dir`; returns the Markdown path."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    setup = results.get("setup", {})
    options = results.get("options", {})
    timing = results.get("timing", {})
    machine = results.get("machine", {})
    plots = []
    if results.get("items"):
        plot_ofm(results, report_dir / f"{stem}_ofm.png")
        plot_regions(results, report_dir / f"{stem}_regions.png")
        plots += [f"![requested vs measured OFM]({stem}_ofm.png)", f"![motion inside vs outside]({stem}_regions.png)"]
    if results.get("_thumbnails"):
        plot_frames(results["_thumbnails"], report_dir / f"{stem}_frames.png")
        plots.append(f"![input and frames]({stem}_frames.png)")
    not_measured = results.get("not_measured", {})
    text = f"""# Evaluation: {setup.get("model", "model")}

`{setup.get("command", "python -m fyc eval")}` on {setup.get("date", "")}.

- weights: `{setup.get("weights", "")}`; set: `{setup.get("set", "")}` ({len(results.get("items", []))} items, {timing.get("videos", "?")} videos{", --quick" if setup.get("quick") else ""})
- sampling: {options.get("num_inference_steps")} steps ({setup.get("scheduler", "")}), {options.get("num_frames")} frames, guidance {options.get("guidance_scale")}, size {setup.get("size", "")}
- networks: CLIP `{setup.get("clip") or NOT_MEASURED}`, video features `{setup.get("i3d") or NOT_MEASURED}`, PIC `{setup.get("pic_net") or NOT_MEASURED}`; optical flow `{options.get("flow_method")}`
- machine: {machine.get("gpu") or f"CPU ({machine.get('cpu_count')} cores)"}, {machine.get("platform", "")}, torch {machine.get("torch", "")}; {timing.get("seconds_per_video", "?")} s per video, {timing.get("seconds_total", "?")} s in all

## The paper's metrics beside Table 1

{paper_table(results)}

{SCALE_CAVEAT}

## Regional metrics

{regional_table(results)}

Motion is measured with `fyc.flow` (OpenCV DIS) in OFM units, pixels per frame at a 256-px-wide reference.
"Real clips" are the reference videos of the items that have one, measured the same way: for motions that
travel ("move left"), a correct video also moves outside the frame-0 region, so the real clips' leakage is
the floor to compare with. Definitions: `fyc/eval/metrics.py`.

## Per item

{items_table(results)}

## Plots

{chr(10).join(plots) if plots else "No videos were generated."}
"""
    if not_measured:
        text += "\n## Not measured, and why\n\n" + "\n".join(f"- `{k}`: {v}" for k, v in not_measured.items()) + "\n"
    path = report_dir / f"{stem}.md"
    path.write_text(text)
    return path
