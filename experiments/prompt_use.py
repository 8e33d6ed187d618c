"""Does a UNet read its prompt? x0 error inside the region with each clip's own prompt, another class's, and none.

    python experiments/prompt_use.py --config configs/demo.yaml --checkpoint runs/demo-pool/checkpoints/step-0005000
    python experiments/prompt_use.py --config configs/demo.yaml --checkpoint ... --mask region_mask   # the clicked masks

On 32 clips of the run's latent cache (every 63rd), at noise levels t = 200, 400, 600, 800, the same noise for every
prompt: the mean squared error of the predicted clean (residual) latent inside the conditioning mask, given the clip's
own prompt, "wrong" (the opposite motion for the directional, rotation and zoom classes; another class's canonical
prompt otherwise) and the empty prompt, each given as the pipeline gives it: inside the region's frame-0 mask, the
empty prompt elsewhere (figures measured before 2026-11-30 gave it to every position). A model that reads its
prompt has own < wrong, most of all at high noise, where the noisy latent says little (`--timesteps 999`: pure
noise, where sampling picks the motion). The move-left/right/up/down clips are also measured on their flow paths,
where a direction shows. For models predicting the sample (`train.prediction_type: sample`) on residual latents, as
the demo model does. The figures of the demo model's card came from this script.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

OPPOSITE = {
    "move_left": "move right",
    "move_right": "move left",
    "move_up": "move down",
    "move_down": "move up",
    "rotate_clockwise": "rotate counterclockwise",
    "rotate_counterclockwise": "rotate clockwise",
    "zoom_in": "zoom out",
    "zoom_out": "zoom in",
}
TIMESTEPS = (200, 400, 600, 800)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the run's YAML config")
    parser.add_argument("--checkpoint", type=Path, required=True, help="a step-* folder of the run")
    parser.add_argument("--ema", action="store_true", help="the EMA weights instead of the raw ones")
    parser.add_argument(
        "--mask",
        choices=("motion_mask", "region_mask"),
        default="motion_mask",
        help="the conditioning mask: the flow mask (the region's path) or the region's frame-0 mask",
    )
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument(
        "--timesteps",
        default=",".join(map(str, TIMESTEPS)),
        help="comma-separated noise levels (999: pure noise, where sampling picks the motion)",
    )
    from fyc.train import add_set_argument

    add_set_argument(parser)
    args = parser.parse_args(argv)

    from fyc.conditioning import build_condition, region_mask_latent, region_prompt_masks
    from fyc.data.latent_cache import LatentCacheDataset
    from fyc.data.motion_vocab import MOTION_CLASSES, PROMPT_TO_CLASS
    from fyc.export import load_checkpoint_unet
    from fyc.train import Config, build_pipeline

    torch.manual_seed(0)
    random.seed(0)
    config = Config.from_yaml(args.config, args.overrides)
    pipe = build_pipeline(config)
    if pipe.scheduler.config.prediction_type != "sample" or not pipe.unet.config.get("latent_residual"):
        parser.error("this measure is for models that predict the sample on residual latents")
    load_checkpoint_unet(pipe.unet, args.checkpoint, config, use_ema=args.ema)

    cache = LatentCacheDataset(config.data["cache"])
    items = [cache[i] for i in range(0, len(cache), 63)][: args.items]
    if args.mask not in items[0]:
        parser.error(f"the cache {config.data['cache']} has no {args.mask}")
    latents = torch.stack([item["latents"] for item in items]).float()
    pixel_mask = torch.stack([item[args.mask] for item in items]).float()[:, None]
    own = [item["motion_prompt"] for item in items]
    canonical = [m.canonical for m in MOTION_CLASSES.values()]
    # One draw a clip, needed or not, so that every clip's "wrong" prompt stays the same whatever the others are.
    wrong = [
        OPPOSITE.get(
            PROMPT_TO_CLASS[p], random.choice([c for c in canonical if PROMPT_TO_CLASS[c] != PROMPT_TO_CLASS[p]])
        )
        for p in own
    ]
    ofm = torch.tensor([item["ofm"] for item in items])
    first = latents[:, :, 0]
    x0 = latents - first[:, :, None]
    mask = region_mask_latent(pixel_mask, latents.shape[-2:])
    condition = build_condition(first, mask, latents.shape[2], pipe.unet.config.first_frame_layout)
    region_masks = region_prompt_masks(
        torch.stack([item["region_mask"] for item in items])[:, None], latents.shape[-2:]
    )
    inside = mask[:, 0, None].expand(-1, latents.shape[2], -1, -1).bool()  # (B, F, h, w)
    directional = torch.tensor([MOTION_CLASSES[PROMPT_TO_CLASS[p]].kind == "directional" for p in own])
    # Inside the clicked region a region that leaves it looks the same whichever way it went: the direction shows on
    # the path it travels, the flow mask.
    path = region_mask_latent(torch.stack([item["motion_mask"] for item in items]).float()[:, None], latents.shape[-2:])
    inside_directional = path[:, 0, None].expand_as(inside).bool() & directional[:, None, None, None]
    with torch.no_grad():
        prompts = {
            name: pipe.encode_prompt(p, "cpu")
            for name, p in (("own", own), ("wrong", wrong), ("none", [""] * len(own)))
        }
    print(
        f"{args.checkpoint} ({'EMA' if args.ema else 'raw'}), {len(items)} clips, mask {args.mask}; "
        f"x0 error inside the mask (signal {x0.pow(2).mean(1)[inside].mean():.4f})"
    )
    for t in (int(x) for x in args.timesteps.split(",")):
        steps = torch.full((len(items),), t)
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(t))
        noisy = pipe.scheduler.add_noise(x0, noise, steps)
        errors, directional_errors = {}, {}
        for name, embeds in prompts.items():
            with torch.no_grad():
                # As the pipeline conditions: the prompt inside the clicked region, the empty prompt elsewhere.
                pred = torch.cat(
                    [
                        pipe.unet(
                            torch.cat([noisy[i : i + 8], condition[i : i + 8]], 1),
                            steps[i : i + 8],
                            prompts["none"][i : i + 8],
                            ofm=ofm[i : i + 8],
                            region_masks=region_masks[i : i + 8],
                            region_encoder_hidden_states=embeds[i : i + 8, None],
                        ).sample
                        for i in range(0, len(items), 8)
                    ]
                )
            errors[name] = ((pred - x0) ** 2).mean(1)[inside].mean().item()
            directional_errors[name] = ((pred - x0) ** 2).mean(1)[inside_directional].mean().item()
        gap = (errors["wrong"] - errors["own"]) / errors["own"]
        moves = (directional_errors["wrong"] - directional_errors["own"]) / directional_errors["own"]
        print(
            f"t={t}: own {errors['own']:.4f}  wrong {errors['wrong']:.4f}  none {errors['none']:.4f}  "
            f"(wrong vs own {gap:+.1%}, none vs own {(errors['none'] - errors['own']) / errors['own']:+.1%}; "
            f"the {int(directional.sum())} move-left/right/up/down clips on their paths: wrong vs own {moves:+.1%})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
