"""What `python -m fyc train` needs for the motion-field model kind: its pipeline from scratch, its data and its loss.

The loop (Accelerate, EMA, checkpoints, resume) is `fyc.train`'s; a config selects this kind with
`init: {scratch: {kind: motion_field, ...}}` and `data: {kind: fields, ...}`.
"""

from __future__ import annotations

import torch

from .conditioning import mask_first_frame_latent, region_prompt_masks
from .motion_field import build_field_condition, grid_region_mask
from .train import noised_with_target

FIELD_DATA_KEYS = {"kind", "length", "num_frames", "grid", "seed", "two_region_ratio", "hint_ratio", "classes", "size"}


def build_field_pipeline(spec: dict, unet_settings: dict, seed: int):
    """A new motion-field pipeline from `init.scratch` (`text_encoder`, `unet`: the UNet's block settings)."""
    from .data.field_motions import FIELD_MOTION_CLASSES
    from .models import FYCUNetMotionModel
    from .motion_pipeline import CONDITION_CHANNELS, FollowYourClickMotionFieldPipeline
    from .scheduling import default_scheduler
    from .text_encoders import load_text_encoder

    text_encoder, tokenizer = load_text_encoder(spec.get("text_encoder", "minilm"))
    kwargs = {**spec.get("unet", {}), **unet_settings}
    kwargs.setdefault("cross_attention_dim", text_encoder.config.hidden_size)
    kwargs.update(in_channels=2 + CONDITION_CHANNELS, out_channels=2)
    torch.manual_seed(seed)
    unet = FYCUNetMotionModel(**kwargs)
    vocabulary = [m.canonical for m in FIELD_MOTION_CLASSES.values()]
    return FollowYourClickMotionFieldPipeline(
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=default_scheduler(),
        motion_vocabulary=vocabulary,
        motion_wordings={name: list(m.train_prompts) for name, m in FIELD_MOTION_CLASSES.items()},
    )


def build_field_dataset(data: dict):
    """The `data: {kind: fields}` training set: fresh `fyc.data.field_clips` clips; unknown keys are refused."""
    from .data.field_clips import FieldClipDataset

    unknown = sorted(set(data) - FIELD_DATA_KEYS)
    if unknown:
        raise ValueError(
            f"unknown data setting(s) for kind fields: {', '.join(unknown)}; known: {', '.join(sorted(FIELD_DATA_KEYS))}"
        )
    kwargs = {k: v for k, v in data.items() if k not in ("kind",)}
    return FieldClipDataset(**kwargs)


def field_training_loss(pipe, unet, batch: dict, texts, cfg, generator: torch.Generator, device) -> torch.Tensor:
    """One micro-batch's MSE on normalised fields against the scheduler's `prediction_type` target, with the motion-
    field conditioning built as the pipeline builds it. Each region's prompt applies in its mask (regional), the empty
    prompt elsewhere; `text_dropout` empties a clip's prompts (the guidance's unconditional branch)."""
    scheduler = pipe.scheduler
    fields = batch["fields"].to(device).float()  # (B, 2, F, h, w)
    b, _, num_frames, h, w = fields.shape
    grid = (h, w)

    def rand(*shape):
        return torch.rand(shape, generator=generator).to(device)

    noise = torch.randn(fields.shape, generator=generator).to(device)
    noise[:, :, 0] = 0  # frame 0 never moves: the pipeline pins it to zero
    timesteps, noisy, target = noised_with_target(scheduler, fields, noise, generator, device)

    region_masks = batch["region_masks"].to(device).float()  # (B, R, H, W); empty masks pad
    mask = grid_region_mask(region_masks, grid)
    look = mask_first_frame_latent(
        batch["appearance"].to(device).float(), cfg.first_frame_mask_ratio, cfg.first_frame_mask_patch, generator
    )
    condition = build_field_condition(mask, look, batch["hints"].to(device).float(), num_frames)

    dtype = pipe.unet.dtype
    prompts = [list(p) for p in batch["prompts"]]  # (B, R) after collation: R lists of B
    if len(prompts) != b:  # the default collate transposes lists of strings
        prompts = [list(x) for x in zip(*prompts)]
    drop = (rand(b) < cfg.text_dropout).tolist()
    prompts = [["" if d else p for p in clip] for clip, d in zip(prompts, drop)]
    regions = len(prompts[0])
    region_embeds = texts([p for clip in prompts for p in clip]).to(dtype)
    region_embeds = region_embeds.reshape(b, regions, *region_embeds.shape[1:])
    empty = texts([""] * b).to(dtype)
    ofm = batch["ofm"].to(device).float().clone()
    ofm[rand(b) < cfg.ofm_dropout] = float("nan")

    model_input = torch.cat([noisy, condition], dim=1).to(dtype)
    prediction = unet(
        model_input,
        timesteps,
        empty,
        ofm=ofm,
        region_masks=region_prompt_masks(region_masks, grid).to(dtype),
        region_encoder_hidden_states=region_embeds,
    ).sample.float()
    error = (prediction - target) ** 2
    if cfg.region_loss_weight != 1.0:
        near = torch.nn.functional.max_pool2d(mask, 3, stride=1, padding=1)[:, :, None]
        error = error * (1 + (cfg.region_loss_weight - 1) * near)
    return error[:, :, 1:].mean()  # frame 0 is known
