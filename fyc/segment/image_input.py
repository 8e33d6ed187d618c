"""Turning the images users hand us, in any common format, into what segmenters expect (clicks are checked by
`fyc.inputs.check_points`).

Image rules, applied in this order (one place, so the app, the CLI and the API agree):

- PIL images: palette, CMYK, LA, 16-bit ("I;16") and other modes become arrays first; EXIF rotation is
  the caller's business (the clicks were made on the image as displayed).
- Shape: (H, W) and (H, W, 1) are grayscale and are repeated to three channels; (H, W, 4) is RGBA and
  the alpha channel is dropped, as ``PIL.Image.convert("RGB")`` does, so masks line up with the image
  the pipeline animates; (H, W, 3) is RGB. Anything else is refused.
- dtype: uint8 is kept; uint16 (16-bit PNG/TIFF) is scaled to 0..255 by the full 16-bit range;
  bool becomes 0/255; other integer types must already hold 0..255; floating point must hold 0..1
  (the usual convention of skimage/torchvision) and is scaled by 255. NaN or out-of-range values are
  refused rather than clipped, because silently clipping hides a wrong convention.
"""

from __future__ import annotations

import hashlib

import numpy as np


def to_rgb_uint8(image) -> np.ndarray:
    """Convert an image (numpy array or PIL image) to a contiguous RGB uint8 array (H, W, 3).

    Raises:
        ValueError: for shapes, dtypes or value ranges the module docstring does not cover.
    """
    if hasattr(image, "mode") and hasattr(image, "convert"):  # a PIL image, without importing PIL
        image = _pil_to_array(image)
    array = np.asarray(image)
    if array.dtype == object or array.ndim == 0:
        raise ValueError(f"Expected an image array, got {type(image).__name__}.")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    elif array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    elif not (array.ndim == 3 and array.shape[-1] == 3):
        raise ValueError(
            f"Expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}. Pass channels last."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"The image is empty (shape {array.shape}).")
    return np.ascontiguousarray(_to_uint8(array))


def _pil_to_array(image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image).astype(np.uint16)
    if image.mode in ("L", "RGB", "RGBA", "1", "I", "F"):
        return np.asarray(image)
    # Palette, CMYK, YCbCr, LA, ...: PIL knows how to turn these into RGB(A) correctly.
    return np.asarray(image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB"))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        # 65535 / 257 = 255 exactly, so white stays white and black stays black.
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(
                f"Integer image of dtype {array.dtype} holds values {low}..{high}; expected 0..255 "
                "(or pass a uint16 array for 16-bit images)."
            )
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("Floating-point image contains NaN or infinity.")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"Floating-point image holds values {low:g}..{high:g}; expected 0..1. "
                "Divide by 255 first if it holds 0..255, or pass a uint8 array."
            )
        return np.round(array * 255.0).astype(np.uint8)
    raise ValueError(f"Unsupported image dtype {array.dtype}.")


def image_key(rgb: np.ndarray) -> str:
    """A content hash of an RGB image: equal pixels (and shape) give equal keys."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(rgb.shape).encode())
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()
