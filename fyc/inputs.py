"""What the app, its API and the command line accept, each refusal an `InputError` that says what to do.

One set of rules for every way in: image files, clicks (`check_point`), the regions JSON (`parse_regions` reads
it, `format_regions` writes it), prompts and the numeric settings. The app turns an `InputError` into a
`gr.Error`, so a `gradio_client` caller sees the same sentence a visitor sees in the browser; the CLI prints it.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import numpy as np

OFM_MIN, OFM_MAX, OFM_DEFAULT = 0.0, 20.0, 8.0  # the slider's range, in fyc.flow units
OFM_HELP = (
    "Average speed of what moves, in pixels per frame at 256-px width (the unit of fyc.flow): "
    "2 subtle, 8 clear, 15+ strong."
)
SEED_MAX = 2**32 - 1
MAX_PROMPT_CHARS = 200
REGIONS_EXAMPLE = '[{"points": [[120, 80, 1]], "prompt": "sway"}]'
DRAGS_EXAMPLE = '"drags": [[120, 80, 160, 80]]'

# Limits that keep one request's memory and time bounded; each is checked before the work it protects.
MAX_IMAGE_PIXELS = 50_000_000  # decoded uploads: 50 MP is 150 MB as RGB; read from the header, before decoding
MIN_IMAGE_SIDE = 16  # smaller images cannot be clicked on or segmented meaningfully
MAX_ASPECT_RATIO = 8.0  # longer side / shorter side; wider strips are refused (crop them)
MAX_REGIONS = 8  # objects per request
MAX_POINTS_PER_REGION = 32  # clicks per object
MAX_REGIONS_JSON_CHARS = 100_000  # a regions_json longer than this is refused before it is parsed
# Frames × output height × output width of one generation: 32 frames at 512×512 (SD 1.5's native size), or
# 16 frames at 512×1024. Latents, activations and decoded frames all grow with it; a bigger request is refused
# before the pipeline starts (`check_pixel_frames`). `python app.py --max-pixel-frames N` changes it.
PIXEL_FRAME_BUDGET = 32 * 512 * 512


class InputError(ValueError):
    """Bad input from a visitor or API client; the message tells them how to fix it."""


def load_image_file(path) -> np.ndarray:
    """Read an uploaded file as RGB uint8 (EXIF orientation applied, as browsers display it).

    Any mode PIL opens is converted by `fyc.segment.image_input.to_rgb_uint8` (16-bit scaled, CMYK and palette
    through PIL, alpha dropped); an animated image gives its first frame. Images above `MAX_IMAGE_PIXELS` are
    refused from their header, before any pixel is decoded.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from fyc.segment.image_input import to_rgb_uint8

    if path is None or (isinstance(path, str) and not path.strip()):
        raise InputError("No image: send an image file (PNG, JPEG or WebP).")
    name = os.path.basename(os.fspath(path))
    try:
        image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(_too_many_pixels(name)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(f"'{name}' is not an image this app can read: send a PNG, JPEG or WebP file.") from None
    with image:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise InputError(_too_many_pixels(name, f"{width}×{height}"))
        try:
            image.seek(0)  # animated GIF/WebP/PNG: the first frame
            return to_rgb_uint8(ImageOps.exif_transpose(image))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(_too_many_pixels(name)) from None
        except (OSError, SyntaxError, EOFError) as error:
            raise InputError(
                f"'{name}' is damaged or incomplete and cannot be decoded ({str(error).strip() or type(error).__name__}): "
                "save or export it again and re-upload it."
            ) from None
        except ValueError as error:  # a pixel format `to_rgb_uint8` refuses (32-bit integer, float outside 0..1)
            raise InputError(
                f"'{name}' uses a pixel format this app cannot show ({error}): save it as an 8-bit PNG or JPEG."
            ) from None


def limit_image_decoding(max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Make PIL refuse, process-wide, to decode images above `max_pixels` (its decompression-bomb check, turned
    from a warning into an error). The app calls this at start-up: Gradio decodes the browser's uploads itself,
    before any of our code sees them."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = int(max_pixels)
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def _too_many_pixels(name: str, size: str | None = None) -> str:
    size = f" ({size})" if size else ""
    return (
        f"'{name}'{size} has more than {MAX_IMAGE_PIXELS / 1e6:g} megapixels, too many to open safely. Resize it "
        "(a few megapixels are plenty: the video is much smaller) and retry."
    )


def check_image_shape(width: int, height: int) -> None:
    """Refuse images too small to click on or too elongated to animate (see `MIN_IMAGE_SIDE`, `MAX_ASPECT_RATIO`)."""
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InputError(
            f"The image is {width}×{height} pixels: send one at least {MIN_IMAGE_SIDE} pixels on each side."
        )
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise InputError(
            f"The image is {width}×{height} pixels, more than {MAX_ASPECT_RATIO:g} times longer than it is wide: "
            "crop it to a less elongated shape."
        )


def check_pixel_frames(num_frames: int, height: int, width: int, budget: int = PIXEL_FRAME_BUDGET) -> None:
    """Refuse a generation of `num_frames` frames at `height` × `width` above the pixel-frame `budget`."""
    pixel_frames = int(num_frames) * int(height) * int(width)
    if pixel_frames > budget:
        most = max(1, budget // (int(height) * int(width)))
        raise InputError(
            f"{num_frames} frames at {width}×{height} is {pixel_frames:,} pixel-frames, more than this server's "
            f"budget of {budget:,}: ask for at most {most} frames at this size, or crop the image to a less "
            "elongated shape."
        )


def parse_regions(regions_json, width: int, height: int) -> list[dict]:
    """Parse and check regions in the API format against an image of `width` × `height` pixels.

    Accepts a JSON string or the already-parsed list: `[{"points": [[x, y, label], ...], "prompt": "sway"}]`
    with x, y in image pixels (origin top-left) and label 1 = include, 0 = exclude (`[x, y]` means include). A region
    may add `"drags": [[x0, y0, x1, y1], ...]`: the point at (x0, y0) ends at (x1, y1) on the last frame (the
    motion-field model follows them), and `"ofm": 6`: its own motion strength instead of the request's.

    Returns:
        A list of `{"points": [(x, y, label), ...], "prompt": str}` with ints and stripped prompts, plus
        `"drags": [(x0, y0, x1, y1), ...]` (floats) for a region that has them.
    """
    if isinstance(regions_json, (str, bytes)):
        try:
            text = regions_json.strip() if isinstance(regions_json, str) else regions_json.decode().strip()
        except UnicodeDecodeError:
            raise InputError(f"regions_json is not UTF-8 text. Send a list like {REGIONS_EXAMPLE}.") from None
        if not text:
            raise InputError(f"No regions: send at least one region, e.g. {REGIONS_EXAMPLE}.")
        if len(text) > MAX_REGIONS_JSON_CHARS:
            raise InputError(
                f"regions_json is {len(text):,} characters long, more than {MAX_REGIONS_JSON_CHARS:,}: send at most "
                f"{MAX_REGIONS} regions of at most {MAX_POINTS_PER_REGION} points each."
            )
        try:
            regions = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(
                f"regions_json is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}). "
                f"Send a list like {REGIONS_EXAMPLE}."
            ) from None
        except RecursionError:  # "[[[[…" nested deeper than Python's recursion limit
            raise InputError(
                f"regions_json is nested too deeply to be regions. Send a list like {REGIONS_EXAMPLE}."
            ) from None
    else:
        regions = regions_json
    if isinstance(regions, dict):
        regions = [regions]
    if not isinstance(regions, list):
        raise InputError(f"regions_json must be a list of regions, like {REGIONS_EXAMPLE}.")
    if not regions:
        raise InputError(f"No regions: send at least one region, e.g. {REGIONS_EXAMPLE}.")
    if len(regions) > MAX_REGIONS:
        raise InputError(f"{len(regions)} regions is too many: animate at most {MAX_REGIONS} objects at once.")

    parsed = []
    for r, region in enumerate(regions, start=1):
        if not isinstance(region, dict) or "points" not in region:
            raise InputError(f'Region {r} must be an object with "points" and "prompt", like {REGIONS_EXAMPLE}.')
        points = region["points"]
        if not isinstance(points, list):
            raise InputError(
                f"Region {r}'s points must be a list of [x, y, label] clicks; got {type(points).__name__}."
            )
        if not points:
            raise InputError(f"Region {r} has no points: give at least one [x, y, 1] click on the object.")
        if len(points) > MAX_POINTS_PER_REGION:
            raise InputError(
                f"Region {r} has {len(points)} points: at most {MAX_POINTS_PER_REGION} clicks per object are used."
            )
        checked = []
        for p, point in enumerate(points, start=1):
            if isinstance(point, (list, tuple)) and len(point) == 2:  # [x, y] is an include click
                point = [*point, 1]
            x, y, label = check_point(point, width, height, f"Region {r}, point {p}")
            checked.append((int(x), int(y), label))
        if not any(label == 1 for _, _, label in checked):
            raise InputError(
                f"Region {r} has only exclude points (label 0): add at least one include point [x, y, 1] on the object."
            )
        prompt = region.get("prompt", "")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(
                f'Region {r} has no motion prompt: add "prompt": "sway" (a short phrase such as "blink" or "move left").'
            )
        parsed.append({"points": checked, "prompt": check_prompt(prompt, f"Region {r}'s prompt")})
        if region.get("drags"):
            parsed[-1]["drags"] = check_drags(region["drags"], width, height, f"Region {r}")
        if region.get("ofm") is not None:
            parsed[-1]["ofm"] = check_ofm(region["ofm"], name=f"Region {r}'s ofm")
    return parsed


def check_drags(drags, width: int, height: int, where: str) -> list[tuple[float, float, float, float]]:
    """A region's drags `[[x0, y0, x1, y1], ...]` on a `width` × `height` image: both ends inside it."""
    if not isinstance(drags, list) or len(drags) > MAX_POINTS_PER_REGION:
        raise InputError(
            f"{where}'s drags must be a list of at most {MAX_POINTS_PER_REGION} [x0, y0, x1, y1], like {DRAGS_EXAMPLE}."
        )
    checked = []
    for d, drag in enumerate(drags, start=1):
        if not isinstance(drag, (list, tuple)) or len(drag) != 4:
            raise InputError(
                f"{where}, drag {d} must be [x0, y0, x1, y1] (start and end in image pixels); got {drag!r}."
            )
        start = check_point([drag[0], drag[1], 1], width, height, f"{where}, drag {d}'s start")
        end = check_point([drag[2], drag[3], 1], width, height, f"{where}, drag {d}'s end")
        checked.append((*start[:2], *end[:2]))
    return checked


def format_regions(regions: list[dict]) -> str:
    """Regions in the API format as JSON, one region per line (how the app's JSON box and the examples show them)."""
    if not regions:
        return "[]"
    return "[\n" + ",\n".join("  " + json.dumps(region) for region in regions) + "\n]"


def check_prompt(prompt: str, what: str = "The prompt") -> str:
    """A motion prompt, stripped: refused when empty, too long, or not encodable text."""
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: how Python carries bytes that were not valid UTF-8 (command-line arguments,
        # JSON "\udcff" escapes). Tokenizers cannot encode them.
        raise InputError(f"{what} is not valid UTF-8 text: type it again or save it as UTF-8.") from None
    prompt = prompt.strip()
    if not prompt:
        raise InputError(f'{what} is empty: give a short motion phrase such as "sway" or "blink".')
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(f"{what} is {len(prompt):,} characters long: keep it under {MAX_PROMPT_CHARS}.")
    return prompt


def check_point(point, width: int, height: int, where: str = "The point") -> tuple[float, float, int]:
    """One click `(x, y, label)` on a `width` × `height` image: x, y in pixels (origin top-left; anywhere inside
    pixel (i, j) counts, so 0 <= x < width), label 1 = include, 0 = exclude. Returns `(float x, float y, label)`."""
    if not isinstance(point, (list, tuple, np.ndarray)) or len(point) != 3:
        raise InputError(f"{where} must be [x, y, label] with label 1 (include) or 0 (exclude); got {point!r}.")
    try:
        x, y = float(point[0]), float(point[1])
    except (TypeError, ValueError):
        raise InputError(f"{where}: x and y must be numbers (image pixels); got {point!r}.") from None
    label = point[2]
    if isinstance(label, str) or label not in (0, 1):
        raise InputError(f"{where}: label must be 1 (include) or 0 (exclude); got {label!r}.")
    inside = f"x must be in 0..{width - 1} and y in 0..{height - 1} (image pixels, origin top-left)"
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputError(
            f"{where} has non-finite coordinates (x={point[0]}, y={point[1]}), so it is outside the {width}×{height} "
            f"image: {inside}."
        )
    if not (0 <= x < width and 0 <= y < height):
        raise InputError(f"{where} (x={point[0]}, y={point[1]}) is outside the {width}×{height} image: {inside}.")
    return x, y, int(label)


def check_points(points, image_size: tuple[int, int]) -> list[tuple[float, float, int]]:
    """The clicks on one object, `[(x, y, label), ...]` on an image of `image_size` = (height, width): each as
    `check_point` says, and at least one include click (an exclude click alone does not say which object)."""
    points = [] if points is None else list(points)
    if not points:
        raise InputError("No points given: click at least once on the object (points = [(x, y, 1)]).")
    height, width = image_size
    checked = [check_point(point, width, height, f"Point {p}") for p, point in enumerate(points, start=1)]
    if not any(label == 1 for _, _, label in checked):
        raise InputError("All points are exclude points (label 0); add at least one include point (label 1).")
    return checked


def check_ofm(ofm, low: float = OFM_MIN, high: float = OFM_MAX, name: str = "ofm") -> float:
    """The motion strength as a float inside the slider's range: [low, high], the model's own
    (`fyc.model_settings.ModelSettings.ofm_range`) or, by default, the latent model's. `name` says which value in
    the message."""
    try:
        value = float(ofm)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number between {low:g} and {high:g}; got {ofm!r}.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(
            f"{name} must be between {low:g} and {high:g} for this model (pixels per frame at 256-px width); got {ofm}."
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


def check_flag(name: str, value) -> bool:
    """A yes/no setting: true/false (or 1/0); None → True. Strings are refused rather than guessed."""
    if value is None:
        return True
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, float)) and value in (0, 1)):
        return bool(value)
    raise InputError(f"{name} must be true or false; got {value!r}.")


def check_int(name: str, value, low: int, high: int) -> int:
    """An integer setting (steps, frames, fps) inside [low, high]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a whole number between {low} and {high}; got {value!r}.") from None
    if not number.is_integer() or not low <= number <= high:
        raise InputError(f"{name} must be a whole number between {low} and {high}; got {value}.")
    return int(number)
