"""Checks on what visitors and API clients send, each failure an `InputError` that says what to do.

The app turns an `InputError` into a `gr.Error`, so a `gradio_client` caller sees the same sentence a
visitor sees in the browser.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

OFM_MIN, OFM_MAX, OFM_DEFAULT = 0.0, 20.0, 8.0  # the slider's range, in fyc.flow units
OFM_HELP = (
    "Average speed of what moves, in pixels per frame at 256-px width (the unit of fyc.flow): "
    "2 subtle, 8 clear, 15+ strong."
)
SEED_MAX = 2**32 - 1
MAX_PROMPT_CHARS = 200
REGIONS_EXAMPLE = '[{"points": [[120, 80, 1]], "prompt": "sway"}]'


class InputError(ValueError):
    """Bad input from a visitor or API client; the message tells them how to fix it."""


def load_image_file(path) -> np.ndarray:
    """Read an uploaded file as RGB uint8 (EXIF orientation applied, as browsers display it)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if path is None or (isinstance(path, str) and not path.strip()):
        raise InputError("No image: send an image file (PNG, JPEG or WebP).")
    name = os.path.basename(os.fspath(path))
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError as error:
        raise InputError(
            f"'{name}' has too many pixels to open safely ({error}). Resize it below 80 megapixels and retry."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(
            f"'{name}' is not an image this app can read: send a PNG, JPEG or WebP file."
        ) from None


def parse_regions(regions_json, width: int, height: int) -> list[dict]:
    """Parse and check regions in the API format against an image of `width` × `height` pixels.

    Accepts a JSON string or the already-parsed list: `[{"points": [[x, y, label], ...], "prompt": "sway"}]`
    with x, y in image pixels (origin top-left) and label 1 = include, 0 = exclude (`[x, y]` means include).

    Returns:
        A list of `{"points": [(x, y, label), ...], "prompt": str}` with ints and stripped prompts.
    """
    if isinstance(regions_json, (str, bytes)):
        text = regions_json.strip() if isinstance(regions_json, str) else regions_json.decode().strip()
        if not text:
            raise InputError(f"No regions: send at least one region, e.g. {REGIONS_EXAMPLE}.")
        try:
            regions = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(
                f"regions_json is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}). "
                f"Send a list like {REGIONS_EXAMPLE}."
            ) from None
    else:
        regions = regions_json
    if isinstance(regions, dict):
        regions = [regions]
    if not isinstance(regions, list):
        raise InputError(f"regions_json must be a list of regions, like {REGIONS_EXAMPLE}.")
    if not regions:
        raise InputError(f"No regions: send at least one region, e.g. {REGIONS_EXAMPLE}.")

    parsed = []
    for r, region in enumerate(regions, start=1):
        if not isinstance(region, dict) or "points" not in region:
            raise InputError(f'Region {r} must be an object with "points" and "prompt", like {REGIONS_EXAMPLE}.')
        points = region["points"]
        if not isinstance(points, list) or not points:
            raise InputError(f"Region {r} has no points: give at least one [x, y, 1] click on the object.")
        checked = []
        for p, point in enumerate(points, start=1):
            checked.append(_parse_point(point, r, p, width, height))
        if not any(label == 1 for _, _, label in checked):
            raise InputError(
                f"Region {r} has only exclude points (label 0): add at least one include point [x, y, 1] on the object."
            )
        prompt = region.get("prompt", "")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(
                f'Region {r} has no motion prompt: add "prompt": "sway" (a short phrase such as "blink" or "move left").'
            )
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InputError(f"Region {r}'s prompt is {len(prompt)} characters long: keep it under {MAX_PROMPT_CHARS}.")
        parsed.append({"points": checked, "prompt": prompt.strip()})
    return parsed


def _parse_point(point, r: int, p: int, width: int, height: int) -> tuple[int, int, int]:
    where = f"Region {r}, point {p}"
    if not isinstance(point, (list, tuple)) or len(point) not in (2, 3):
        raise InputError(f"{where} must be [x, y, label] with label 1 (include) or 0 (exclude); got {point!r}.")
    try:
        x, y = float(point[0]), float(point[1])
    except (TypeError, ValueError):
        raise InputError(f"{where}: x and y must be numbers (image pixels); got {point!r}.") from None
    label = point[2] if len(point) == 3 else 1
    if label not in (0, 1) or isinstance(label, str):
        raise InputError(f"{where}: label must be 1 (include) or 0 (exclude); got {label!r}.")
    if not (math.isfinite(x) and math.isfinite(y)) or not (0 <= x < width and 0 <= y < height):
        raise InputError(
            f"{where} (x={point[0]}, y={point[1]}) is outside the {width}×{height} image: "
            f"x must be in 0..{width - 1} and y in 0..{height - 1} (image pixels, origin top-left)."
        )
    return int(x), int(y), int(label)


def check_ofm(ofm) -> float:
    """The motion strength as a float inside the slider's range."""
    try:
        value = float(ofm)
    except (TypeError, ValueError):
        raise InputError(f"ofm must be a number between {OFM_MIN:g} and {OFM_MAX:g}; got {ofm!r}.") from None
    if not math.isfinite(value) or not OFM_MIN <= value <= OFM_MAX:
        raise InputError(
            f"ofm must be between {OFM_MIN:g} and {OFM_MAX:g} (pixels per frame at 256-px width; "
            f"{OFM_DEFAULT:g} is a clear motion); got {ofm}."
        )
    return value


def check_seed(seed) -> int:
    """The random seed as an int in 0..2**32-1 (None → 0)."""
    if seed is None:
        return 0
    try:
        value = float(seed)
    except (TypeError, ValueError):
        raise InputError(f"seed must be a whole number between 0 and {SEED_MAX}; got {seed!r}.") from None
    if not value.is_integer() or not 0 <= value <= SEED_MAX:
        raise InputError(f"seed must be a whole number between 0 and {SEED_MAX}; got {seed}.")
    return int(value)


def check_int(name: str, value, low: int, high: int) -> int:
    """An integer setting (steps, frames, fps) inside [low, high]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a whole number between {low} and {high}; got {value!r}.") from None
    if not number.is_integer() or not low <= number <= high:
        raise InputError(f"{name} must be a whole number between {low} and {high}; got {value}.")
    return int(number)
