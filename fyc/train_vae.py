"""The demo model's VAE: `python -m fyc train-vae --config configs/demo_vae.yaml [--max-steps N]
[--output-dir DIR] [--resume] [--export DIR] [--evaluate DIR]`.

A small diffusers `AutoencoderKL` trained from scratch on random crops of the real photographs that ship
inside installed packages (`fyc.data.synthetic.PHOTOS`, "train" split, plus a few VAE-only extras listed in
`EXTRA_PHOTOS`); the "eval" photographs are never trained on and give the held-out PSNR.

- loss: L1 + MSE (+ an optional L1 on image gradients) on the reconstruction of a posterior sample, plus a
  small KL term weighted as in Stable Diffusion's VAE (per-sample sums, so `kl_weight: 1e-6` means what it
  means there);
- AdamW, linear warm-up then cosine decay over `lr_schedule_steps` (default: `max_steps`);
- exact resume: every random draw of a step (crops, flips, colour jitter, posterior noise) is a function of
  (seed, step), and checkpoints hold the weights, the optimizer and the schedule;
- held-out PSNR (posterior mode, as the pipeline encodes frame 0) every `eval_every` steps on fixed crops and
  on the whole held-out photographs resized to the pipeline's working size, logged to `log.jsonl`;
- at the end `scaling_factor` is set to 1 / std of the latents over fixed training crops (as in SD; a decoder-only
  stage keeps its encoder's) and the VAE is written with `save_pretrained` to `OUTPUT_DIR/vae`; `--export DIR`
  also writes it (fp16 by default) where the demo model is assembled, after checking that fp16 keeps the
  held-out PSNR.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .data.synthetic import load_photo, photo_names
from .train_checkpoints import latest_checkpoint, load_weights, restore_checkpoint, write_checkpoint

# VAE-only training photographs: real photographs that ship in scikit-image, too plain to be backgrounds of
# the motion clips but useful texture for an autoencoder. (name -> licence as the package states it)
EXTRA_PHOTOS: dict[str, str] = {
    "clock": "public domain (Stefan van der Walt)",
    "text": "public domain (Wikipedia, File:Corner.png)",
}

SIZE_MULTIPLE = 8  # the VAE's downsampling: working sizes are rounded to this in the held-out measurement


@dataclass
class VAEDataConfig:
    """Where crops come from and how they are drawn (the `data:` section)."""

    extra_photos: list[str] = field(default_factory=lambda: list(EXTRA_PHOTOS))
    crop_size: list[int] = field(default_factory=lambda: [128, 160])  # output side, px (one per step, multiple of 8)
    scale_range: list[float] = field(default_factory=lambda: [0.25, 1.0])  # crop side / photo short side
    flip: bool = True
    colour_jitter: float = 0.1  # amplitude of brightness / contrast / saturation changes
    channel_shuffle: float = 0.0  # probability of permuting R, G, B: with a dozen photos the VAE otherwise
    # learns each photo's colours from its content (a grey astronaut comes back orange) instead of encoding them
    grayscale: float = 0.0  # probability of turning a crop grey
    eval_crop_size: int = 128
    eval_crops_per_photo: int = 4
    eval_short_side: int = 128  # held-out photographs are resized to this short side (the shipped resolution)
    scaling_crops: int = 64  # training crops whose latent std sets `scaling_factor`


@dataclass
class VAETrainConfig:
    """Optimisation settings (the `train:` section)."""

    batch_size: int = 8
    max_steps: int = 4000
    lr_schedule_steps: int | None = None  # cosine length; default max_steps (set it to stop early and resume)
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    lr_warmup_steps: int = 200
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    l1_weight: float = 1.0
    mse_weight: float = 1.0
    gradient_weight: float = 0.1
    kl_weight: float = 1e-6
    eval_every: int = 250
    checkpoint_every: int = 250
    checkpoint_minutes: float = 0.0  # also checkpoint when this much time passed since the last one (0: off)
    keep_checkpoints: int = 2
    log_every: int = 10
    num_threads: int = 0  # torch CPU threads (0: torch's default)
    num_workers: int = 0  # processes preparing batches ahead (batches stay a function of (seed, step))
    decoder_only: bool = False  # train the decoder only (with `init_from`): the latents, hence a UNet trained on
    # them and its latent cache, stay valid, as with Stable Diffusion's ft-MSE VAE


@dataclass
class VAEConfig:
    seed: int = 0
    output_dir: str = "runs/demo_vae"
    vae: dict = field(default_factory=dict)
    init_from: str | None = None  # a saved AutoencoderKL folder to start from instead of a new `vae:` (a later stage)
    data: VAEDataConfig = field(default_factory=VAEDataConfig)
    train: VAETrainConfig = field(default_factory=VAETrainConfig)

    @classmethod
    def from_yaml(cls, path, overrides=()) -> VAEConfig:
        """The config in the YAML file at `path`, with "section.key=value" `overrides` applied."""
        from .config import dataclass_from_yaml

        config = dataclass_from_yaml(cls, path, overrides)
        config.check()
        return config

    def check(self) -> None:
        lo, hi = self.data.crop_size
        if lo > hi or lo % SIZE_MULTIPLE or hi % SIZE_MULTIPLE:
            raise ValueError(
                f"data.crop_size {self.data.crop_size}: give [min, max], both multiples of {SIZE_MULTIPLE}"
            )
        for name in self.data.extra_photos:
            if name not in EXTRA_PHOTOS:
                raise ValueError(f"data.extra_photos: unknown photo {name!r}; choose from {', '.join(EXTRA_PHOTOS)}")
        if self.train.decoder_only and not self.init_from:
            raise ValueError(
                "train.decoder_only needs init_from: the trained VAE whose encoder (latent space) it keeps"
            )


# -- photographs and crops -------------------------------------------------------------------------------


def load_extra_photo(name: str) -> np.ndarray:
    """VAE-only photograph `name` (see `EXTRA_PHOTOS`) as uint8 RGB (H, W, 3)."""
    import skimage.data

    if name not in EXTRA_PHOTOS:
        raise ValueError(f"Unknown extra photo {name!r}; choose from {', '.join(EXTRA_PHOTOS)}.")
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


def training_photos(data: VAEDataConfig) -> list[np.ndarray]:
    """The training photographs: the synthetic data's "train" split plus `data.extra_photos`."""
    return [load_photo(n) for n in photo_names("train")] + [load_extra_photo(n) for n in data.extra_photos]


def random_crop(rng: np.random.Generator, photo: np.ndarray, size: int, data: VAEDataConfig) -> np.ndarray:
    """A `size`×`size` float32 crop in [-1, 1] (H, W, 3): a square of side `scale × short side` at a random
    place, resized, randomly flipped and colour-jittered."""
    h, w = photo.shape[:2]
    side = max(8, int(round(rng.uniform(*data.scale_range) * min(h, w))))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    patch = photo[y : y + side, x : x + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    crop = cv2.resize(patch, (size, size), interpolation=interpolation).astype(np.float32) / 255.0
    if data.flip and rng.random() < 0.5:
        crop = crop[:, ::-1]
    if data.colour_jitter > 0:
        a = data.colour_jitter
        grey = crop.mean(axis=2, keepdims=True)
        crop = grey + (crop - grey) * (1 + rng.uniform(-a, a))  # saturation
        crop = (crop - crop.mean()) * (1 + rng.uniform(-a, a)) + crop.mean()  # contrast
        crop = crop + rng.uniform(-a, a) / 2  # brightness
    if data.channel_shuffle and rng.random() < data.channel_shuffle:
        crop = crop[..., rng.permutation(3)]
    if data.grayscale and rng.random() < data.grayscale:
        crop = np.repeat(crop.mean(axis=2, keepdims=True), 3, axis=2)
    return np.clip(crop, 0.0, 1.0) * 2 - 1


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().float()


def training_batch(
    photos: list[np.ndarray], data: VAEDataConfig, batch_size: int, seed: int, step: int
) -> torch.Tensor:
    """(B, 3, S, S) crops in [-1, 1] for `step`; a function of (seed, step) only."""
    rng = np.random.default_rng([seed, step])
    lo, hi = data.crop_size
    size = int(rng.integers(lo // SIZE_MULTIPLE, hi // SIZE_MULTIPLE + 1)) * SIZE_MULTIPLE
    picks = rng.integers(0, len(photos), batch_size)
    return _to_tensor([random_crop(rng, photos[i], size, data) for i in picks])


class _StepBatches(torch.utils.data.Dataset):
    """Batch `step` at index `step`, so that worker processes can prepare batches ahead of the loop."""

    def __init__(self, photos, data: VAEDataConfig, batch_size: int, seed: int, steps: int):
        self.photos, self.data, self.batch_size, self.seed, self.steps = photos, data, batch_size, seed, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> torch.Tensor:
        return training_batch(self.photos, self.data, self.batch_size, self.seed, step)


def working_size(height: int, width: int, short_side: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(height, width) with the short side at `short_side`, aspect kept, both rounded to `multiple`
    (as `FollowYourClickPipeline.default_size` does)."""
    scale = short_side / min(height, width)
    return max(multiple, round(height * scale / multiple) * multiple), max(
        multiple, round(width * scale / multiple) * multiple
    )


def heldout_photos(short_side: int) -> dict[str, torch.Tensor]:
    """The "eval" photographs, each resized (Lanczos, as the pipeline's image processor) to its working size:
    name -> (1, 3, H, W) in [-1, 1]."""
    from PIL import Image

    out = {}
    for name in photo_names("eval"):
        photo = load_photo(name)
        h, w = working_size(*photo.shape[:2], short_side)
        resized = np.asarray(Image.fromarray(photo).resize((w, h), Image.LANCZOS), dtype=np.float32) / 127.5 - 1
        out[name] = _to_tensor([resized])
    return out


def heldout_crops(data: VAEDataConfig, seed: int = 1234) -> torch.Tensor:
    """Fixed random crops of the "eval" photographs, no jitter or flips: (N, 3, S, S) in [-1, 1]."""
    plain = VAEDataConfig(scale_range=data.scale_range, flip=False, colour_jitter=0.0)
    rng = np.random.default_rng(seed)
    crops = [
        random_crop(rng, load_photo(name), data.eval_crop_size, plain)
        for name in photo_names("eval")
        for _ in range(data.eval_crops_per_photo)
    ]
    return _to_tensor(crops)


# -- model, loss, measurement ----------------------------------------------------------------------------


def build_vae(spec: dict):
    """A new `AutoencoderKL` from the `vae:` section (diffusers' constructor arguments)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(**spec)


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def vae_loss(vae, images: torch.Tensor, cfg: VAETrainConfig, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """Reconstruction + KL loss of a batch in [-1, 1]; returns (loss, {term: float})."""
    posterior = vae.encode(images).latent_dist
    latents = posterior.sample(generator=generator)
    recon = vae.decode(latents).sample
    terms = {
        "l1": (recon - images).abs().mean(),
        "mse": F.mse_loss(recon, images),
        # SD's weighting: KL summed per sample against reconstruction errors summed per sample; both divided
        # by the pixel count here so the reconstruction terms are means.
        "kl": posterior.kl().sum() / images.numel(),
    }
    weights = {"l1": cfg.l1_weight, "mse": cfg.mse_weight, "kl": cfg.kl_weight}
    if cfg.gradient_weight:
        terms["grad"] = sum((a - b).abs().mean() for a, b in zip(_gradients(recon), _gradients(images))) / 2
        weights["grad"] = cfg.gradient_weight
    loss = sum(weights[k] * v for k, v in terms.items())
    return loss, {k: float(v.detach()) for k, v in terms.items()}


def psnr(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1], measured on the [0, 1] scale after clipping."""
    a = (reconstruction.clamp(-1, 1) + 1) / 2
    b = (target.clamp(-1, 1) + 1) / 2
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-12)
    return -10 * torch.log10(mse)


@torch.no_grad()
def reconstruct(vae, images: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """Encode (posterior mode, as the pipeline encodes frame 0) and decode, in the VAE's dtype."""
    param = next(vae.parameters())
    out = []
    for chunk in images.split(batch_size):
        latents = vae.encode(chunk.to(param.device, param.dtype)).latent_dist.mode()
        out.append(vae.decode(latents).sample.float().cpu())
    return torch.cat(out)


@torch.no_grad()
def evaluate(vae, crops: torch.Tensor, photos: dict[str, torch.Tensor]) -> dict:
    """Held-out PSNR: mean over the fixed crops, and per photograph plus mean and min over photographs."""
    was_training = vae.training
    vae.eval()
    crop_psnr = psnr(reconstruct(vae, crops), crops)
    per_photo = {name: float(psnr(reconstruct(vae, image), image)[0]) for name, image in photos.items()}
    vae.train(was_training)
    values = list(per_photo.values())
    return {
        "crops_psnr": round(float(crop_psnr.mean()), 3),
        "photos_psnr_mean": round(sum(values) / len(values), 3),
        "photos_psnr_min": round(min(values), 3),
        "photos_psnr": {k: round(v, 3) for k, v in per_photo.items()},
    }


@torch.no_grad()
def latent_statistics(vae, photos: list[np.ndarray], data: VAEDataConfig, seed: int) -> dict:
    """Mean and std of the posterior-mode latents over `data.scaling_crops` fixed training crops (no jitter)."""
    plain = VAEDataConfig(scale_range=data.scale_range, flip=False, colour_jitter=0.0)
    rng = np.random.default_rng([seed, 7])
    size = data.crop_size[0]
    crops = _to_tensor(
        [random_crop(rng, photos[i], size, plain) for i in rng.integers(0, len(photos), data.scaling_crops)]
    )
    param = next(vae.parameters())
    was_training = vae.training
    vae.eval()
    latents = torch.cat(
        [vae.encode(c.to(param.device, param.dtype)).latent_dist.mode().float() for c in crops.split(8)]
    )
    vae.train(was_training)
    return {"mean": float(latents.mean()), "std": float(latents.std())}


def cosine_schedule(optimizer, cfg: VAETrainConfig):
    """Linear warm-up to `learning_rate`, then cosine decay to `min_learning_rate` at `lr_schedule_steps`."""
    total = cfg.lr_schedule_steps or cfg.max_steps
    floor = cfg.min_learning_rate / cfg.learning_rate

    def factor(step: int) -> float:
        if step < cfg.lr_warmup_steps:
            return (step + 1) / cfg.lr_warmup_steps
        progress = min(1.0, (step - cfg.lr_warmup_steps) / max(1, total - cfg.lr_warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# -- loop ------------------------------------------------------------------------------------------------


def _log(path: Path, record: dict) -> None:
    print(json.dumps(record), flush=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def train_vae(config: VAEConfig, resume: bool = False, device: str | None = None) -> Path:
    """Train (or resume) the VAE; returns the folder of the saved `AutoencoderKL` (`OUTPUT_DIR/vae`)."""
    cfg, data = config.train, config.data
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.jsonl"

    torch.manual_seed(config.seed)
    if config.init_from:
        from diffusers import AutoencoderKL

        if not Path(config.init_from).is_dir():
            raise FileNotFoundError(
                f"init_from: {config.init_from} is not a saved AutoencoderKL folder; train the earlier stage first"
            )
        vae = AutoencoderKL.from_pretrained(config.init_from, torch_dtype=torch.float32).to(device).train()
    else:
        vae = build_vae(config.vae).to(device).train()
    if cfg.decoder_only:
        vae.encoder.requires_grad_(False)
        vae.quant_conv.requires_grad_(False)
    params = [p for p in vae.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    lr_scheduler = cosine_schedule(optimizer, cfg)
    checkpoints = out / "checkpoints"
    start_step = 0
    if resume:
        latest = latest_checkpoint(checkpoints)
        if latest is None:
            print(f"no checkpoint under {checkpoints}: starting from scratch", flush=True)
        else:
            load_weights(vae, latest, "vae")
            start_step = restore_checkpoint(latest, optimizer, lr_scheduler)
            print(f"resumed from {latest} at step {start_step}", flush=True)

    photos = training_photos(data)
    eval_crops, eval_photos = heldout_crops(data), heldout_photos(data.eval_short_side)
    n_params = sum(p.numel() for p in vae.parameters())
    if start_step == 0:
        _log(
            log_path,
            {
                "event": "start",
                "parameters": n_params,
                "photos": len(photos),
                "device": str(device),
                "config": asdict(config),
            },
        )
    batches = torch.utils.data.DataLoader(
        _StepBatches(photos, data, cfg.batch_size, config.seed, cfg.max_steps),
        batch_size=None,
        sampler=range(start_step, cfg.max_steps),
        num_workers=cfg.num_workers,
        prefetch_factor=4 if cfg.num_workers else None,
    )
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    started = last_checkpoint = time.time()
    for step, images in zip(range(start_step, cfg.max_steps), batches):
        images = images.to(device, non_blocking=True)
        generator = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + step)
        loss, terms = vae_loss(vae, images, cfg, generator)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss became {loss.item()} at step {step}; lower train.learning_rate or check the data"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.max_steps:
            _log(
                log_path,
                {
                    "step": done,
                    "loss": round(float(loss.detach()), 5),
                    **{k: round(v, 6) for k, v in terms.items()},
                    "lr": lr_scheduler.get_last_lr()[0],
                    "size": images.shape[-1],
                    "seconds": round(time.time() - started, 1),
                },
            )
        if done % cfg.eval_every == 0 or done == cfg.max_steps:
            _log(
                log_path,
                {
                    "step": done,
                    "eval": evaluate(vae, eval_crops, eval_photos),
                    "seconds": round(time.time() - started, 1),
                },
            )
        timed = cfg.checkpoint_minutes and time.time() - last_checkpoint > 60 * cfg.checkpoint_minutes
        if done % cfg.checkpoint_every == 0 or done == cfg.max_steps or timed:
            write_checkpoint(
                checkpoints, done, cfg.keep_checkpoints, {"vae": vae.state_dict()}, optimizer, lr_scheduler
            )
            last_checkpoint = time.time()

    stats = latent_statistics(vae, photos, data, config.seed)
    if not cfg.decoder_only:  # a new decoder keeps the latent space, scaling included: a UNet was trained on it
        vae.register_to_config(scaling_factor=round(1.0 / stats["std"], 5))
    final = out / "vae"
    vae.eval().to("cpu").save_pretrained(final, safe_serialization=True)
    _log(
        log_path,
        {
            "event": "saved",
            "path": str(final),
            "latent_mean": round(stats["mean"], 5),
            "latent_std": round(stats["std"], 5),
            "scaling_factor": vae.config.scaling_factor,
            "seconds": round(time.time() - started, 1),
        },
    )
    return final


def export_vae(source: Path, destination: Path, dtype: str, data: VAEDataConfig, tolerance_db: float = 0.1) -> dict:
    """Write the VAE at `source` to `destination` with weights in `dtype` ("float16" or "float32") and return
    the held-out PSNR of the float32 weights and of the written ones (computed in float32, as on a CPU).
    Removes what it wrote and raises ValueError if the photographs' mean PSNR drops by more than `tolerance_db`."""
    from diffusers import AutoencoderKL

    crops, photos = heldout_crops(data), heldout_photos(data.eval_short_side)
    reference = AutoencoderKL.from_pretrained(source, torch_dtype=torch.float32)
    before = evaluate(reference, crops, photos)
    AutoencoderKL.from_pretrained(source, torch_dtype=getattr(torch, dtype)).save_pretrained(
        destination, safe_serialization=True
    )
    after = evaluate(AutoencoderKL.from_pretrained(destination, torch_dtype=torch.float32), crops, photos)
    drop = before["photos_psnr_mean"] - after["photos_psnr_mean"]
    if drop > tolerance_db:
        shutil.rmtree(destination, ignore_errors=True)
        raise ValueError(
            f"{dtype} weights lose {drop:.3f} dB of held-out PSNR (> {tolerance_db}); export float32 instead"
        )
    return {"float32": before, dtype: after, "path": str(destination)}


# -- command ---------------------------------------------------------------------------------------------


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="YAML config (see configs/demo_vae.yaml)")
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="override train.max_steps (the LR schedule keeps train.lr_schedule_steps if set)",
    )
    parser.add_argument("--output-dir", type=Path, default=None, help="override output_dir")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the output dir")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument(
        "--export",
        type=Path,
        default=None,
        metavar="DIR",
        help="after training, also write the VAE here (e.g. weights/demo/vae), in --dtype",
    )
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16", help="dtype of --export")
    parser.add_argument(
        "--evaluate",
        type=Path,
        default=None,
        metavar="DIR",
        help="only measure the held-out PSNR of the saved AutoencoderKL in DIR and print it as JSON",
    )
    from .train import add_set_argument

    add_set_argument(parser)


def run(args) -> int:
    config = VAEConfig.from_yaml(args.config, args.overrides)
    if args.evaluate is not None:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(args.evaluate, torch_dtype=torch.float32)
        result = evaluate(vae, heldout_crops(config.data), heldout_photos(config.data.eval_short_side))
        print(json.dumps({"vae": str(args.evaluate), "scaling_factor": vae.config.scaling_factor, **result}, indent=1))
        return 0
    if args.max_steps is not None:
        config.train.max_steps = args.max_steps
    if args.output_dir is not None:
        config.output_dir = str(args.output_dir)
    final = train_vae(config, resume=args.resume, device=args.device)
    print(final)
    if args.export is not None:
        print(json.dumps(export_vae(final, args.export, args.dtype, config.data), indent=1))
    return 0


if __name__ == "__main__":
    import sys

    parser = argparse.ArgumentParser(prog="python -m fyc.train_vae", description="train the demo model's VAE")
    build_parser(parser)
    sys.exit(run(parser.parse_args()))
