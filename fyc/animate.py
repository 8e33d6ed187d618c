"""`animate`: a still image and its regions in, the video's frames out; `save_video` writes them.

    from fyc import load_pipeline
    from fyc.animate import animate, save_video
    frames = animate(load_pipeline(), image, regions, ofm=8, seed=0, keep_background=True)
    save_video(frames, "out.mp4", fps=8)

The app's events, the CLI and the evaluation all animate through here, so they seed, check and keep the
background still the same way. Either model kind works (`fyc.model_settings`): the motion-field model renders at the
photo's resolution, keeps the background exact by itself and follows drags; the latent model uses its native size.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fyc.inputs import InputError, check_pixel_frames, check_seed
from fyc.model_settings import DEFAULT_MAX_SIDE, MOTION_FIELD, model_settings, video_size
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
    ofm: float | list[float],
    seed: int = 0,
    num_frames: int = 16,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    keep_background: bool = False,
    drags: list[list[tuple[float, float, float, float]]] | None = None,
    keypoints=None,
    control_frames=None,
    controlnet_conditioning_scale: float = 1.0,
    max_side: int = DEFAULT_MAX_SIDE,
    max_pixel_frames: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray | None:
    """Animate `regions` of `image` with `pipe` (a `FollowYourClickPipeline` or `FollowYourClickMotionFieldPipeline`)
    once.

    Args:
        image: the still image (RGB uint8 array or PIL image); the regions' masks are at its size.
        regions: what moves, each `Region(mask, prompt)`; where they overlap the later one wins.
        ofm: the motion strength, one for all regions or one per region (motion-field model; the latent model
            takes one).
        num_frames, num_inference_steps, guidance_scale: as the pipeline takes them (steps and guidance None: the
            model's own, `fyc.model_settings`).
        seed: seeds a CPU generator, so a seed gives the same video on every device.
        keep_background: paste `image` outside the regions, widened by `background_margin_px` (latent model only:
            the motion-field renderer keeps every pixel outside the regions exact, and a margin would cut off an
            object that moves farther).
        drags: per region, `(x0, y0, x1, y1)` drags in `image`'s pixels: the point at (x0, y0) ends at (x1, y1) on the
            last frame (motion-field model; the latent model refuses them).
        control_frames: one control image per frame (a pose sequence's renderings, ...): a list, a folder or a video
            file. A latent model with a ControlNet (`pipe.controlnet`, `fyc.controlnet`) is steered by the images; the
            motion-field model follows the OpenPose keypoints they show (`fyc.pose_images`), as with `keypoints`.
        controlnet_conditioning_scale: how strongly the control frames steer (0: not at all).
        keypoints: a pose sequence (`fyc.keypoints.load_keypoints`: a JSON path or string, parsed data or
            `KeypointTracks`) in `image`'s pixels; each keypoint inside a region follows its track (motion-field model).
        max_side: long side of a motion-field video (the photo's size when smaller).
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
    settings = model_settings(pipe)
    field_model = settings.kind == MOTION_FIELD
    trajectories = _trajectories(drags, regions, image, int(num_frames), settings)
    if control_frames is not None and field_model:  # the motion-field model follows the keypoints the images show
        if keypoints is not None:
            raise InputError("give the pose once: keypoint JSON or pose images, not both.")
        keypoints, control_frames = _pose_image_keypoints(control_frames, image), None
    if keypoints is not None:
        trajectories = _with_keypoints(trajectories, keypoints, regions, int(num_frames), settings)
    if max_pixel_frames is not None:
        check_pixel_frames(num_frames, *video_size(pipe, image, max_side), max_pixel_frames)
    step_end = None
    if on_step is not None or cancel is not None:

        def step_end(pipeline, step, timestep, callback_kwargs):
            if on_step is not None:
                on_step(step + 1, pipeline.num_timesteps)
            if cancel is not None and cancel.is_set():
                pipeline._interrupt = True
            return callback_kwargs

    strengths = [float(v) for v in np.atleast_1d(ofm)]
    if len(strengths) not in (1, len(regions)):
        raise InputError(f"give one strength for all regions or one per region ({len(regions)}), got {len(strengths)}")
    if len(set(strengths)) > 1 and not field_model:
        raise InputError(
            f"{settings.name[0].upper()}{settings.name[1:]} moves every object with one strength: give them the "
            "same strength, or use the motion-field model (weights/demo_motion), which takes one per object."
        )
    field_kwargs = {"trajectories": trajectories, "max_side": int(max_side)} if field_model else {}
    if control_frames is not None:
        field_kwargs.update(_control_kwargs(pipe, settings, control_frames, controlnet_conditioning_scale))
    output = pipe(
        image,
        regions=regions,
        ofm=strengths if len(set(strengths)) > 1 else strengths[0],
        num_frames=int(num_frames),
        num_inference_steps=int(settings.num_inference_steps if num_inference_steps is None else num_inference_steps),
        guidance_scale=guidance_scale,
        generator=torch.Generator(device="cpu").manual_seed(seed),
        output_type="np",
        callback_on_step_end=step_end,
        **field_kwargs,
    )
    if cancel is not None and cancel.is_set():
        return None
    frames = np.asarray(output.frames[0], dtype=np.float32)
    if keep_background and not settings.keeps_background:
        union = np.logical_or.reduce([np.asarray(region.mask, bool) for region in regions])
        frames = composite_background(frames, image, union, dilate_px=background_margin_px(*frames.shape[1:3]))
    return frames


def _pose_image_keypoints(control_frames, image):
    """The keypoints that pose images show (`fyc.pose_images`), in the photo's pixels."""
    from fyc.pose_images import keypoints_from_pose_frames

    width, height = image.size if not isinstance(image, np.ndarray) else image.shape[1::-1]
    try:
        return keypoints_from_pose_frames(control_frames, size=(width, height))
    except (ValueError, FileNotFoundError) as error:
        raise InputError(str(error)) from None


def _control_kwargs(pipe, settings, control_frames, scale: float) -> dict:
    if getattr(pipe, "controlnet", None) is None:
        from fyc.weight_sources import download_command

        raise InputError(
            "control frames need a ControlNet: fetch the openpose one with "
            f"`{download_command('controlnet-openpose')}` and pass --controlnet (or set pipe.controlnet)."
        )
    return {"control_frames": control_frames, "controlnet_conditioning_scale": float(scale)}


def _with_keypoints(trajectories, keypoints, regions, num_frames: int, settings):
    """The drags' trajectories plus each region's keypoint tracks (`fyc.keypoints`)."""
    from fyc.keypoints import keypoint_trajectories, load_keypoints

    if not settings.follows_drags:
        raise InputError(
            f"{settings.name[0].upper()}{settings.name[1:]} does not follow keypoints: remove them, or use the "
            "motion-field model (weights/demo_motion), which does."
        )
    try:
        per_region = keypoint_trajectories(load_keypoints(keypoints), [r.mask for r in regions], num_frames)
    except ValueError as error:
        raise InputError(str(error)) from None
    if not any(per_region):
        raise InputError("keypoints: none of them is inside a clicked region at frame 0, so none would move.")
    trajectories = trajectories or [[] for _ in regions]
    return [list(own) + extra for own, extra in zip(trajectories, per_region)]


def _trajectories(drags, regions, image, num_frames: int, settings):
    """Per-region drags → per-region `Trajectory` lists (None when there are none); refused with what to do when a
    drag leaves the image or the model does not follow drags."""
    if not drags or not any(drags):
        return None
    if not settings.follows_drags:
        raise InputError(
            f"{settings.name[0].upper()}{settings.name[1:]} does not follow drags: remove the drags, or "
            "use the motion-field model (weights/demo_motion), which does."
        )
    if len(drags) != len(regions):
        raise InputError(f"give one list of drags per region ({len(regions)}), got {len(drags)}")
    from fyc.motion_field import Trajectory

    height, width = np.asarray(image).shape[:2]
    out = []
    for number, region_drags in enumerate(drags, start=1):
        paths = []
        for x0, y0, x1, y1 in region_drags or []:
            for x, y in ((x0, y0), (x1, y1)):
                if not (np.isfinite(x) and np.isfinite(y) and 0 <= x < width and 0 <= y < height):
                    raise InputError(
                        f"The drag ({x0:g}, {y0:g}) → ({x1:g}, {y1:g}) of region {number} leaves the "
                        f"{width}×{height} image: both its ends must be inside (x in 0..{width - 1}, y in "
                        f"0..{height - 1})."
                    )
            paths.append(Trajectory.drag(x0, y0, x1, y1, num_frames))
        out.append(paths)
    return out


def forward_and_back(frames):
    """The frames played forward then backward (F, ..., F-1, ..., 2: the first and last are not doubled), so that any
    video loops without a jump; a periodic motion already loops by itself."""
    frames = np.asarray(frames)
    return frames if len(frames) < 3 else np.concatenate([frames, frames[-2:0:-1]])


def save_video(frames, path, fps: float = 8) -> Path:
    """Write frames as an mp4 that browsers play or a looping GIF, by `path`'s suffix (`VIDEO_SUFFIXES`)."""
    suffix = Path(path).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(
            f"The video must be written as .mp4 or .gif, not {suffix or 'a file without a suffix'}: {path}"
        )
    return (export_gif if suffix == ".gif" else export_mp4)(frames, path, fps=fps)
