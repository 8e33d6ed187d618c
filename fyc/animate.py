"""`animate`: a still image and its regions in, the video's frames out; `save_video` writes them.

    from fyc import load_pipeline
    from fyc.animate import animate, save_video
    frames = animate(load_pipeline(), image, regions, ofm=8, seed=0, keep_background=True)
    save_video(frames, "out.mp4", fps=8)

The app's events, the CLI and the evaluation all animate through here, so they seed, check and keep the
background still the same way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import numpy as np

from fyc.inputs import check_pixel_frames, check_seed
from fyc.region import Region
from fyc.video import composite_background, export_gif, export_mp4

BACKGROUND_MARGIN = 0.03  # see `background_margin_px`
VIDEO_SUFFIXES = (".mp4", ".gif")


def background_margin_px(height: int, width: int) -> int:
    """How far around the regions, in pixels of a `height` × `width` video, the model's output is kept when the
    background is kept still: `BACKGROUND_MARGIN` of the longer side, at least 2 px.

    A share of the frame rather than a fixed number of pixels, because motion is asked for and learnt relative to
    the frame (OFM is in pixels per frame at 256-px width): a moving edge reaches the same share of the frame at
    every output size, so a fixed margin would cut it off on large videos and keep needless background on small ones.
    """
    return max(2, round(BACKGROUND_MARGIN * max(height, width)))


def animate(
    pipe,
    image,
    regions: list[Region],
    *,
    ofm: float,
    seed: int = 0,
    num_frames: int = 16,
    num_inference_steps: int = 25,
    guidance_scale: float | None = None,
    keep_background: bool = False,
    max_pixel_frames: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray | None:
    """Animate `regions` of `image` with `pipe` (a `FollowYourClickPipeline`) once.

    Args:
        image: the still image (RGB uint8 array or PIL image); the regions' masks are at its size.
        regions: what moves, each `Region(mask, prompt)`; where they overlap the later one wins.
        ofm, num_frames, num_inference_steps, guidance_scale: as the pipeline takes them (guidance None: the
            model's own).
        seed: seeds a CPU generator, so a seed gives the same video on every device.
        keep_background: paste `image` outside the regions, widened by `background_margin_px`.
        max_pixel_frames: refuse, before the pipeline starts, more frames × height × width than this (None: no
            limit; the app and the CLI pass `fyc.inputs.PIXEL_FRAME_BUDGET` or the server's own).
        on_step: called as `on_step(step, total)` after every denoising step.
        cancel: when set during the run, the pipeline stops after the current step and None is returned.

    Returns:
        float32 frames (F, H, W, 3) in [0, 1] at the pipeline's size for `image`, or None when cancelled.

    Raises:
        fyc.inputs.InputError: a bad seed, or a video above `max_pixel_frames`.
        ValueError: the pipeline refused the arguments (its message says why).
    """
    import torch

    seed = check_seed(seed)
    if max_pixel_frames is not None:
        check_pixel_frames(num_frames, *pipe.default_size(image), max_pixel_frames)
    step_end = None
    if on_step is not None or cancel is not None:

        def step_end(pipeline, step, timestep, callback_kwargs):
            if on_step is not None:
                on_step(step + 1, pipeline.num_timesteps)
            if cancel is not None and cancel.is_set():
                pipeline._interrupt = True
            return callback_kwargs

    output = pipe(
        image,
        regions=regions,
        ofm=float(ofm),
        num_frames=int(num_frames),
        num_inference_steps=int(num_inference_steps),
        guidance_scale=guidance_scale,
        generator=torch.Generator(device="cpu").manual_seed(seed),
        output_type="np",
        callback_on_step_end=step_end,
    )
    if cancel is not None and cancel.is_set():
        return None
    frames = np.asarray(output.frames[0], dtype=np.float32)
    if keep_background:
        union = np.logical_or.reduce([np.asarray(region.mask, bool) for region in regions])
        frames = composite_background(frames, image, union, dilate_px=background_margin_px(*frames.shape[1:3]))
    return frames


def save_video(frames, path, fps: float = 8) -> Path:
    """Write frames as an mp4 that browsers play or a looping GIF, by `path`'s suffix (`VIDEO_SUFFIXES`)."""
    suffix = Path(path).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"The video must be written as .mp4 or .gif, not {suffix or 'a file without a suffix'}: {path}")
    return (export_gif if suffix == ".gif" else export_mp4)(frames, path, fps=fps)
