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
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)")
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
    import PIL.ImageOps
    import torch

    from fyc.region import Region
    from fyc.video import composite_background, export_gif, export_mp4
    from fyc.weights import load_pipeline

    try:
        objects = collect_objects(getattr(args, "objects_spec", None))
        if args.output.suffix.lower() not in (".mp4", ".gif"):
            raise ValueError(f"--output must end in .mp4 or .gif, got {args.output}")
        image = PIL.Image.open(args.image)
        image = PIL.ImageOps.exif_transpose(image).convert("RGB")
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    rgb = np.asarray(image)
    regions = []
    segmenter = None
    for obj in objects:
        mask = np.zeros(rgb.shape[:2], bool)
        for path in obj["masks"]:
            m = np.asarray(PIL.Image.open(path).convert("L").resize(image.size, PIL.Image.NEAREST)) > 127
            mask |= m
        if obj["points"]:
            if segmenter is None:
                from fyc.segment import ClickSegmenter

                segmenter = ClickSegmenter.load(args.sam)
                segmenter.set_image(rgb)
                print(f"segmenter: {segmenter.backend}", file=sys.stderr)
            mask |= segmenter.predict(obj["points"])
        regions.append(Region(mask, obj["prompt"]))

    pipe = load_pipeline(args.weights)
    try:
        frames = pipe(
            image,
            regions,
            ofm=args.ofm,
            num_frames=args.frames,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            generator=torch.Generator().manual_seed(args.seed),
            output_type="np",
        ).frames[0]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.keep_background:
        union = np.any([r.mask for r in regions], axis=0)
        frames = composite_background(frames, rgb, union)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    (export_gif if args.output.suffix.lower() == ".gif" else export_mp4)(frames, args.output, fps=args.fps)
    print(args.output)
    return 0
