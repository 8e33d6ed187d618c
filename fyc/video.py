"""Video export (mp4 that browsers play, GIF) and background compositing for generated clips.

    from fyc.video import composite_background, export_mp4, export_gif
    frames = pipe(image, regions=regions).frames[0]                  # (F, H, W, 3) float in [0, 1]
    frames = composite_background(frames, image, region_mask, dilate_px=4)  # optional: still background
    export_mp4(frames, "out.mp4", fps=8)
    export_gif(frames, "out.gif", fps=8)

The mp4 is H.264 in yuv420p with the index at the front (`+faststart`), which is what Chrome, Firefox
and Safari play inline; yuv420p needs even width and height, so odd sizes are padded by repeating the
last row or column (nothing is cropped). Encoding uses the ffmpeg binary bundled with imageio-ffmpeg, so
no system ffmpeg is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


def frames_to_uint8(frames) -> np.ndarray:
    """Return frames as a contiguous uint8 array (F, H, W, 3).

    Accepts an array (F, H, W, 3) or (F, H, W) — uint8 as is, floating point in [0, 1] (the pipeline's
    `output_type="np"`), bool — or a sequence of PIL images / arrays.
    """
    if not isinstance(frames, np.ndarray):
        frames = np.stack([np.asarray(frame) for frame in frames])
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4):
        raise ValueError(f"Expected frames of shape (F, H, W, 3), got {frames.shape}.")
    if frames.shape[0] == 0:
        raise ValueError("No frames to write: the video is empty.")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    frames = frames[..., :3]
    if frames.dtype == np.uint8:
        return np.ascontiguousarray(frames)
    if frames.dtype == bool:
        return np.ascontiguousarray(frames.astype(np.uint8) * 255)
    if np.issubdtype(frames.dtype, np.floating):
        return np.ascontiguousarray((np.clip(np.nan_to_num(frames), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    raise ValueError(f"Frames of dtype {frames.dtype} are not supported: pass uint8 or float in [0, 1].")


def pad_to_even(frames: np.ndarray) -> np.ndarray:
    """Pad (F, H, W, C) frames by repeating the last row/column so H and W are even (yuv420p needs it)."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def export_mp4(frames, path, fps: float = 8, crf: int = 18) -> Path:
    """Write frames as an H.264 / yuv420p mp4 that plays in web browsers.

    Args:
        frames: (F, H, W, 3) uint8 or float in [0, 1], or a list of images (see `frames_to_uint8`).
        path: output file; parent folders are created.
        fps: frames per second.
        crf: x264 constant rate factor (lower = better quality, bigger file; 18 is visually lossless).

    Returns:
        The output path.
    """
    import imageio_ffmpeg

    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    video = pad_to_even(frames_to_uint8(frames))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = video.shape[1:3]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        quality=None,
        macro_block_size=1,  # sizes are already even; imageio's default would rescale to multiples of 16
        output_params=["-crf", str(int(crf)), "-preset", "veryfast", "-movflags", "+faststart"],
    )
    writer.send(None)  # start the generator
    for frame in video:
        writer.send(frame)
    writer.close()
    return path


def export_gif(frames, path, fps: float = 8) -> Path:
    """Write frames as a looping GIF (one adaptive 256-colour palette per frame)."""
    from PIL import Image

    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    video = frames_to_uint8(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE, colors=256) for frame in video]
    # GIF delays are stored in 1/100 s; PIL rounds the millisecond duration for us.
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return path


def read_video(path) -> tuple[np.ndarray, dict]:
    """Decode a video file with the bundled ffmpeg: (frames uint8 (F, H, W, 3), ffmpeg's metadata dict).

    The metadata holds "codec", "pix_fmt", "size" (w, h), "fps" and "duration" as reported by ffmpeg.
    """
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(os.fspath(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(buffer, np.uint8).reshape(height, width, 3) for buffer in reader]
    return np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8), meta


def _resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    if array.shape[:2] == (height, width):
        return array
    shrinking = array.shape[0] > height or array.shape[1] > width
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def composite_background(frames, original_image, mask, dilate_px: int = 4, feather_px: int = 2) -> np.ndarray:
    """Keep the background still: the original image everywhere outside the dilated region mask.

    The model animates the whole frame and a small model lets the background drift; this replaces every
    pixel farther than `dilate_px` from the mask with the original image, so only the clicked objects
    (plus a margin for their motion) change. Inside the margin, `feather_px` pixels blend softly so the
    seam does not show; pixels outside the dilated mask are exactly the original.

    Args:
        frames: (F, H, W, 3) uint8 or float in [0, 1] — the generated video.
        original_image: (H0, W0, 3) uint8 RGB array or PIL image at any size; resized to (H, W).
        mask: bool (H0, W0) union of the animated regions at the original image's size; resized to (H, W)
            keeping any pixel the region touches.
        dilate_px: margin around the mask, in output-frame pixels, where the model's motion is kept.
        feather_px: width of the soft edge inside the margin (capped at `dilate_px`).

    Returns:
        Frames of the same dtype and shape as `frames`.
    """
    frames_array = np.asarray(frames) if not isinstance(frames, np.ndarray) else frames
    if frames_array.ndim != 4 or frames_array.shape[-1] != 3:
        raise ValueError(f"Expected frames of shape (F, H, W, 3), got {frames_array.shape}.")
    height, width = frames_array.shape[1:3]
    original = (
        np.asarray(original_image.convert("RGB")) if hasattr(original_image, "convert") else np.asarray(original_image)
    )
    if original.ndim != 3 or original.shape[-1] != 3:
        raise ValueError(f"Expected the original image as (H, W, 3) RGB, got shape {original.shape}.")
    mask = np.asarray(mask)
    if mask.shape != original.shape[:2]:
        raise ValueError(f"The mask {mask.shape} and the original image {original.shape[:2]} must have the same size.")
    if dilate_px < 0 or feather_px < 0:
        raise ValueError("dilate_px and feather_px must be >= 0.")

    original = _resize(original.astype(np.uint8) if original.dtype != np.uint8 else original, height, width)
    # Area-resize then "> 0": a region thinner than one output pixel still keeps its motion.
    region = _resize(mask.astype(np.float32), height, width) > 0
    if dilate_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
        region = cv2.dilate(region.astype(np.uint8), kernel) > 0
    feather_px = min(feather_px, dilate_px)
    if feather_px > 0:
        # Distance to the nearest background pixel: 0 outside, ramps to 1 over feather_px inside.
        inside = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
        alpha = np.clip(inside / float(feather_px + 1), 0.0, 1.0)
    else:
        alpha = region.astype(np.float32)
    alpha = alpha[None, :, :, None]

    if frames_array.dtype == np.uint8:
        blended = frames_array.astype(np.float32) * alpha + original[None].astype(np.float32) * (1.0 - alpha)
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    original_float = original.astype(np.float32) / 255.0
    blended = frames_array.astype(np.float32) * alpha + original_float[None] * (1.0 - alpha)
    return blended.astype(frames_array.dtype, copy=False)
