"""`python -m fyc animate IMAGE --click X,Y --prompt "sway" --ofm 8 -o out.mp4`

Objects are given in order: the `--click` (or `--mask`) options before a `--prompt` belong to that prompt's
object, so `--click 10,20 --prompt sway --click 50,60 --click 70,60,0 --prompt "move left"` animates two
objects, the second with one exclude point (label 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


class _Ordered(argparse.Action):
    """Keeps --click, --mask and --prompt in the order given, since their order groups them into objects."""

    def __call__(self, parser, namespace, value, option_string=None):
        items = getattr(namespace, "objects_spec", None) or []
        items.append((self.dest, value))
        namespace.objects_spec = items


def parse_click(text: str) -> tuple[float, float, int]:
    parts = text.split(",")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"--click takes X,Y or X,Y,LABEL (label 1 include, 0 exclude), got {text!r}")
    try:
        x, y = float(parts[0]), float(parts[1])
        label = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"--click takes numbers, got {text!r}") from None
    if label not in (0, 1):
        raise argparse.ArgumentTypeError(f"click label must be 1 (include) or 0 (exclude), got {label}")
    return (x, y, label)


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the still image to animate")
    parser.add_argument("--click", type=parse_click, action=_Ordered, dest="click", metavar="X,Y[,LABEL]",
                        help="a point on the object to animate, in image pixels (repeatable)")
    parser.add_argument("--mask", type=Path, action=_Ordered, dest="mask", metavar="PNG",
                        help="a mask image of the object (white = animate) instead of clicks")
    parser.add_argument("--prompt", action=_Ordered, dest="prompt", metavar="TEXT",
                        help="short motion prompt; closes the object made of the clicks/mask before it")
    parser.add_argument("--ofm", type=float, default=8.0,
                        help="motion strength: optical-flow magnitude, pixels per frame at 256-px width (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=25, help="denoising steps (default 25)")
    parser.add_argument("--frames", type=int, default=16, help="frames to generate (default 16)")
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default: the model's, 7.5 unless it says otherwise)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of the written video (default 8)")
    parser.add_argument("--weights", type=Path, default=None, help="a saved pipeline folder (default: best under weights/)")
    parser.add_argument("--sam", type=Path, default=None, help="a SAM checkpoint for clicks (default: found under weights/)")
    parser.add_argument("--keep-background", action="store_true",
                        help="paste the still input outside the (dilated) regions instead of the model's raw output")
    parser.add_argument("-o", "--output", type=Path, default=Path("out.mp4"), help="out.mp4 or out.gif (default out.mp4)")


def collect_objects(spec) -> list[dict]:
    """[("click", p), ("mask", path), ("prompt", text), ...] → [{"points": [...], "masks": [...], "prompt": t}]."""
    objects, current = [], {"points": [], "masks": []}
    for kind, value in spec or []:
        if kind == "prompt":
            if not current["points"] and not current["masks"]:
                raise ValueError(f"--prompt {value!r} has no --click or --mask before it")
            objects.append({**current, "prompt": value})
            current = {"points": [], "masks": []}
        else:
            current["points" if kind == "click" else "masks"].append(value)
    if current["points"] or current["masks"]:
        raise ValueError("the last --click/--mask has no --prompt after it: say how the object should move")
    if not objects:
        raise ValueError("nothing to animate: give --click X,Y (or --mask PNG) followed by --prompt TEXT")
    return objects


def run(args) -> int:
    import PIL.Image

    from fyc.animate import VIDEO_SUFFIXES, animate, save_video
    from fyc.clicks import ClickedImage
    from fyc.inputs import (
        PIXEL_FRAME_BUDGET,
        check_image_shape,
        check_point,
        check_prompt,
        check_seed,
        load_image_file,
    )
    from fyc.weights import load_pipeline

    def fail(error) -> int:
        print(f"error: {error}", file=sys.stderr)
        return 2

    # Everything that can be checked without models is checked first: a mistake costs no loading time.
    try:
        objects = collect_objects(getattr(args, "objects_spec", None))
        for number, obj in enumerate(objects, start=1):
            obj["prompt"] = check_prompt(obj["prompt"], f"--prompt of object {number}")
        if args.output.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"--output must end in .mp4 or .gif, got {args.output}")
        seed = check_seed(args.seed)
        for name, value in (("--steps", args.steps), ("--frames", args.frames)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        for name, value in (("--ofm", args.ofm), ("--guidance", args.guidance), ("--fps", args.fps)):
            if value is None:  # --guidance: the model's own
                continue
            if not np.isfinite(value) or value < 0 or (name == "--fps" and value == 0):
                raise ValueError(f"{name} must be a finite number {'above' if name == '--fps' else 'of at least'} 0, "
                                 f"got {value}")
        if not args.image.is_file():
            raise ValueError(f"image not found: {args.image}")
        rgb = load_image_file(args.image)  # EXIF rotation applied, any PIL mode, first frame, pixel limit
        height, width = rgb.shape[:2]
        check_image_shape(width, height)
        for number, obj in enumerate(objects, start=1):
            for x, y, label in obj["points"]:
                check_point((x, y, label), width, height, f"--click {x:g},{y:g} of object {number}")
    except (ValueError, OSError) as error:  # InputError is a ValueError
        return fail(error)

    # The clicks go through the same click model as the app's: masks at its working size, the image with them.
    clicked = ClickedImage()
    clicked.set_image(rgb)
    clicked.set_regions([{"points": obj["points"], "prompt": obj["prompt"]} for obj in objects])
    try:
        if any(obj["points"] for obj in objects):
            from fyc.segment import ClickSegmenter

            segmenter = ClickSegmenter.load(args.sam)
            print(f"segmenter: {segmenter.backend}", file=sys.stderr)
            clicked.update_masks(lambda image, points: segmenter.predict(points, image=image))
        for clicked_object, obj in zip(clicked.objects, objects):
            for path in obj["masks"]:
                try:
                    with PIL.Image.open(path) as mask_image:
                        mask = np.asarray(mask_image.convert("L").resize(clicked.size, PIL.Image.NEAREST)) > 127
                except (OSError, SyntaxError, ValueError) as error:
                    raise ValueError(f"--mask {path} is not a readable image ({error})") from None
                clicked_object.mask = mask if clicked_object.mask is None else clicked_object.mask | mask
            if not clicked_object.has_mask:
                raise ValueError(f"object {obj['prompt']!r} selects nothing: move its clicks onto the object or "
                                 "give a mask with white pixels")
        pipe = load_pipeline(args.weights)  # names a missing or damaged file; refuses pickled code
        frames = animate(pipe, clicked.image, clicked.regions(), ofm=args.ofm, seed=seed, num_frames=args.frames,
                         num_inference_steps=args.steps, guidance_scale=args.guidance,
                         keep_background=args.keep_background, max_pixel_frames=PIXEL_FRAME_BUDGET)
    except (ValueError, OSError) as error:  # bad clicks or masks, unreadable weights, over budget, refused settings
        return fail(error)
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        save_video(frames, args.output, fps=args.fps)
    except OSError as error:
        return fail(f"could not write {args.output}: {error}")
    print(args.output)
    return 0
