"""`python -m fyc animate IMAGE --click X,Y --prompt "sway" --ofm 8 -o out.mp4`

Objects are given in order: the `--click` (or `--mask`) options before a `--prompt` belong to that prompt's
object, so `--click 10,20 --prompt sway --click 50,60 --click 70,60,0 --prompt "move left"` animates two
objects, the second with one exclude point (label 0).

`--drag X0,Y0,X1,Y1` (motion-field model) moves the point at (X0, Y0) to (X1, Y1) by the last frame; it belongs to the
object whose mask holds its start point, else to the object it is given with (the last one when after every prompt).
`--keypoints FILE` (motion-field model) gives a pose sequence: each keypoint inside an object follows its track
(`fyc.keypoints`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


class _Ordered(argparse.Action):
    """Keeps --click, --mask, --drag and --prompt in the order given, since their order groups them into objects."""

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


def parse_drag(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)):
        raise argparse.ArgumentTypeError(f"--drag takes X0,Y0,X1,Y1 (start and end in image pixels), got {text!r}")
    return values


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the still image to animate")
    # The options that make objects, kept in command-line order by _Ordered: (name, type, metavar, help).
    for name, kind, metavar, help_text in (
        ("click", parse_click, "X,Y[,LABEL]", "a point on the object to animate, in image pixels (repeatable)"),
        ("mask", Path, "PNG", "a mask image of the object (white = animate) instead of clicks"),
        (
            "drag",
            parse_drag,
            "X0,Y0,X1,Y1",
            "drag the point (X0,Y0) of an object to (X1,Y1) by the last frame, "
            "image pixels (repeatable; motion-field model)",
        ),
        ("prompt", None, "TEXT", "short motion prompt; closes the object made of the clicks/mask before it"),
    ):
        parser.add_argument(f"--{name}", type=kind, action=_Ordered, dest=name, metavar=metavar, help=help_text)
    parser.add_argument(
        "--ofm",
        type=float,
        default=None,
        help="motion strength: optical-flow magnitude, pixels per frame at 256-px width (default: the "
        "model's, 4 for the motion-field model (0.5-12), 8 for the latent one (0-20))",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--steps", type=int, default=None, help="denoising steps (default: the model's, 12 motion-field, 25 latent)"
    )
    parser.add_argument("--frames", type=int, default=16, help="frames to generate (default 16)")
    parser.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="classifier-free guidance scale (default: the model's, 7.5 unless it says otherwise)",
    )
    parser.add_argument(
        "--loop", action="store_true", help="play the video forward then back, so that any motion loops without a jump"
    )
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of the written video (default 8)")
    parser.add_argument(
        "--weights", type=Path, default=None, help="a saved pipeline folder (default: best under weights/)"
    )
    parser.add_argument(
        "--sam", type=Path, default=None, help="a SAM checkpoint for clicks (default: found under weights/)"
    )
    parser.add_argument(
        "--keep-background",
        action="store_true",
        help="latent model: paste the still input outside the (dilated) regions instead of the model's "
        "raw output (the motion-field model keeps the background exact by itself)",
    )
    parser.add_argument(
        "--keypoints",
        type=Path,
        default=None,
        metavar="FILE",
        help='motion-field model: a pose sequence, JSON {"frames": [{"name": [x, y], ...}, ...]} in image pixels '
        "(frame 0 = the photo); each keypoint inside an object follows its track",
    )
    parser.add_argument(
        "--control-frames",
        type=Path,
        default=None,
        metavar="PATH",
        help="control images, one per frame (a folder of images or a video file; e.g. an openpose sequence), "
        "stretched to the frame count: a latent model is steered by them through a ControlNet (--controlnet); the "
        "motion-field model follows the OpenPose keypoints they show, as with --keypoints",
    )
    parser.add_argument(
        "--controlnet",
        type=Path,
        default=None,
        metavar="PATH",
        help="the ControlNet for --control-frames: a diffusers folder or a weights file "
        "(default weights/controlnet/openpose, from `python -m fyc download controlnet-openpose`)",
    )
    parser.add_argument("--control-scale", type=float, default=1.0, help="ControlNet conditioning scale (default 1)")
    parser.add_argument(
        "--max-side",
        type=int,
        default=1024,
        help="motion-field model: long side of the video in px, the photo's own size when smaller (default 1024)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("out.mp4"), help="out.mp4 or out.gif (default out.mp4)"
    )


def collect_objects(spec) -> list[dict]:
    """[("click", p), ("mask", path), ("drag", d), ("prompt", text), ...] →
    [{"points": [...], "masks": [...], "drags": [...], "prompt": t}]; a drag after every prompt goes to the last object."""
    objects, current = [], {"points": [], "masks": [], "drags": []}
    for kind, value in spec or []:
        if kind == "prompt":
            if not current["points"] and not current["masks"]:
                raise ValueError(f"--prompt {value!r} has no --click or --mask before it")
            objects.append({**current, "prompt": value})
            current = {"points": [], "masks": [], "drags": []}
        elif kind == "drag" and objects and not current["points"] and not current["masks"]:
            objects[-1]["drags"].append(value)
        else:
            current[{"click": "points", "mask": "masks", "drag": "drags"}[kind]].append(value)
    if current["points"] or current["masks"] or current["drags"]:
        raise ValueError("the last --click/--mask has no --prompt after it: say how the object should move")
    if not objects:
        raise ValueError("nothing to animate: give --click X,Y (or --mask PNG) followed by --prompt TEXT")
    return objects


def run(args) -> int:
    import PIL.Image

    from fyc.animate import VIDEO_SUFFIXES, animate, forward_and_back, save_video
    from fyc.clicks import ClickedImage
    from fyc.inputs import (
        check_image_shape,
        check_ofm,
        check_point,
        check_prompt,
        check_seed,
        load_image_file,
    )
    from fyc.keypoints import load_keypoints
    from fyc.model_settings import MOTION_FIELD, model_settings
    from fyc.prompt_vocabulary import unfamiliar_prompt_note
    from fyc.weights import describe, load_pipeline

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
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        for name, value in (("--ofm", args.ofm), ("--guidance", args.guidance), ("--fps", args.fps)):
            if value is None:  # --guidance: the model's own
                continue
            if not np.isfinite(value) or value < 0 or (name == "--fps" and value == 0):
                raise ValueError(
                    f"{name} must be a finite number {'above' if name == '--fps' else 'of at least'} 0, got {value}"
                )
        if not args.image.is_file():
            raise ValueError(f"image not found: {args.image}")
        rgb = load_image_file(args.image)  # EXIF rotation applied, any PIL mode, first frame, pixel limit
        height, width = rgb.shape[:2]
        check_image_shape(width, height)
        for number, obj in enumerate(objects, start=1):
            for x, y, label in obj["points"]:
                check_point((x, y, label), width, height, f"--click {x:g},{y:g} of object {number}")
            for drag in obj["drags"]:
                for x, y in (drag[:2], drag[2:]):
                    check_point(
                        (x, y, 1), width, height, f"--drag {','.join(f'{v:g}' for v in drag)} (its point {x:g},{y:g})"
                    )
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
                raise ValueError(
                    f"object {obj['prompt']!r} selects nothing: move its clicks onto the object or "
                    "give a mask with white pixels"
                )
        pipe = load_pipeline(args.weights)  # names a missing or damaged file; refuses pickled code
        settings = model_settings(pipe)
        if args.control_frames is not None and settings.kind != MOTION_FIELD:
            from fyc.controlnet import load_controlnet

            pipe.register_modules(controlnet=load_controlnet(args.controlnet, torch_dtype=pipe.unet.dtype))
        ofm = check_ofm(settings.ofm_default if args.ofm is None else args.ofm, *settings.ofm_range)
        drags = _drags_on_working_copy(clicked, objects)
        keypoints = None
        if args.keypoints is not None:
            (width, height), (source_width, source_height) = clicked.size, clicked.source_size
            keypoints = load_keypoints(args.keypoints).scaled(width / source_width, height / source_height)
        print(f"model: {describe(pipe)}", file=sys.stderr)
        for prompt in dict.fromkeys(region.prompt for region in clicked.regions()):
            note = unfamiliar_prompt_note(pipe, prompt)
            if note:
                print(f"note: {note}", file=sys.stderr)
        frames = animate(
            pipe,
            clicked.image,
            clicked.regions(),
            ofm=ofm,
            seed=seed,
            num_frames=args.frames or min(16, settings.max_frames),
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            keep_background=args.keep_background,
            drags=drags,
            keypoints=keypoints,
            control_frames=args.control_frames,
            controlnet_conditioning_scale=args.control_scale,
            max_side=args.max_side,
            max_pixel_frames=settings.pixel_frame_budget,
        )
    except (ValueError, OSError) as error:  # bad clicks or masks, unreadable weights, over budget, refused settings
        return fail(error)
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        save_video(forward_and_back(frames) if args.loop else frames, args.output, fps=args.fps)
    except OSError as error:
        return fail(f"could not write {args.output}: {error}")
    print(args.output)
    return 0


def _drags_on_working_copy(clicked, objects) -> list[list[tuple]] | None:
    """Each object's drags (image pixels) on the clicked image's working copy, each moved to the object whose mask
    holds its start point (the later object where masks overlap), else kept with the object it was given with."""
    if not any(obj["drags"] for obj in objects):
        return None
    (width, height), (source_width, source_height) = clicked.size, clicked.source_size
    sx, sy = width / source_width, height / source_height
    masks = [clicked_object.mask for clicked_object in clicked.objects]
    out = [[] for _ in objects]
    for index, obj in enumerate(objects):
        for x0, y0, x1, y1 in obj["drags"]:
            drag = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
            col, row = min(int(drag[0]), width - 1), min(int(drag[1]), height - 1)
            holders = [i for i, mask in enumerate(masks) if mask is not None and mask[row, col]]
            out[holders[-1] if holders else index].append(drag)
    return out
