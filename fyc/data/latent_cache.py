"""Clips encoded once by the frozen VAE, so training steps spend no time on data or the encoder.

The VAE and text encoder are frozen during FYC training (DESIGN §6, §10): encoding each clip once and
training on the cached latents is the cheapest way to spend CPU hours. A cache is a folder of safetensors
shards plus a JSONL of the text fields; it belongs to the VAE that wrote it (its config hash is recorded and
checked), and building is resumable shard by shard.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset
from tqdm.auto import tqdm

TEXT_KEYS = ("caption", "motion_prompt", "motion_class", "video_id")


def vae_fingerprint(vae) -> str:
    """Short hash of what the cached latents depend on: the VAE's config and its encoder's weights.

    The decoder is left out on purpose: fine-tuning only the decoder (as Stable Diffusion's ft-MSE VAE did)
    keeps the latent space, so the cache and a UNet trained on it stay valid.
    """
    # Private keys such as `_name_or_path` say where the VAE was loaded from, not how it encodes.
    config = {k: v for k, v in vae.config.items() if not k.startswith("_")}
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    encoder = [(k, v) for k, v in sorted(vae.state_dict().items()) if k.startswith(("encoder.", "quant_conv."))]
    for name, tensor in encoder[:8] + encoder[-8:]:
        digest.update(name.encode())
        digest.update(tensor.float().flatten()[:64].numpy().tobytes())
    return digest.hexdigest()[:16]


@torch.no_grad()
def build_latent_cache(
    dataset, encode, path, fingerprint: str, shard_size: int = 64, batch_size: int = 8, progress=True
) -> Path:
    """Encode every item of `dataset` into `path`.

    Args:
        dataset: map-style dataset of dicts with "pixel_values" (F, 3, H, W) in [-1, 1], "motion_mask",
            "ofm", the text keys and optionally "region_mask" (kept when every item of a shard has one).
        encode: (N, 3, H, W) → (N, C, h, w) scaled latents (e.g. `FollowYourClickPipeline.encode_first_frame`).
        fingerprint: `vae_fingerprint(vae)`, stored and checked on reuse.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta_path = path / "cache.json"
    meta = {"fingerprint": fingerprint, "length": len(dataset), "shard_size": shard_size}
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old != meta:
            raise ValueError(f"{path} holds a cache made with other settings ({old}); delete it or choose another path")
    meta_path.write_text(json.dumps(meta))
    shards = range(0, len(dataset), shard_size)
    shards = tqdm(shards, desc="encoding clips", disable=not progress)
    for start in shards:
        shard = path / f"shard-{start // shard_size:05d}.safetensors"
        if shard.exists():
            continue
        items = [dataset[i] for i in range(start, min(start + shard_size, len(dataset)))]
        latents = []
        for i in range(0, len(items), batch_size):
            pixels = torch.stack([item["pixel_values"] for item in items[i : i + batch_size]])
            b, f = pixels.shape[:2]
            z = encode(pixels.flatten(0, 1)).float()
            latents.append(z.reshape(b, f, *z.shape[1:]).permute(0, 2, 1, 3, 4))
        tensors = {
            "latents": torch.cat(latents).half().contiguous(),
            "motion_mask": torch.stack([torch.as_tensor(item["motion_mask"]) for item in items]).to(torch.uint8),
            "ofm": torch.tensor([float(item["ofm"]) for item in items]),
        }
        if all("region_mask" in item for item in items):  # synthetic clips know what moves at frame 0
            tensors["region_mask"] = torch.stack([torch.as_tensor(item["region_mask"]) for item in items]).to(
                torch.uint8
            )
        texts = [{k: str(item.get(k, "")) for k in TEXT_KEYS} for item in items]
        save_file(tensors, str(shard), metadata={"texts": json.dumps(texts)})
    return path


class LatentCacheDataset(Dataset):
    """Items of a cache written by `build_latent_cache`: "latents" (C, F, h, w), "motion_mask" (H, W) bool,
    "ofm", the text keys, and "region_mask" (H, W) bool when the clips had one (synthetic data). Shards are
    loaded lazily and kept in memory (a few MB each)."""

    def __init__(self, path):
        self.path = Path(path)
        meta_path = self.path / "cache.json"
        if not meta_path.exists():
            raise FileNotFoundError(
                f"{meta_path} not found: build the cache first (train builds it when data.cache is set)"
            )
        self.meta = json.loads(meta_path.read_text())
        self.shard_size = self.meta["shard_size"]
        self.length = self.meta["length"]
        missing = [i for i in range(-(-self.length // self.shard_size)) if not self._shard_path(i).exists()]
        if missing:
            raise FileNotFoundError(f"{self.path} is incomplete: shard(s) {missing[:5]} missing; rebuild to finish it")
        self._shards: dict[int, tuple[dict, list]] = {}

    def _shard_path(self, index: int) -> Path:
        return self.path / f"shard-{index:05d}.safetensors"

    def _shard(self, index: int):
        if index not in self._shards:
            from safetensors import safe_open

            path = self._shard_path(index)
            with safe_open(str(path), "pt") as f:
                texts = json.loads(f.metadata()["texts"])
            self._shards[index] = (load_file(str(path)), texts)
        return self._shards[index]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.length:
            raise IndexError(i)
        tensors, texts = self._shard(i // self.shard_size)
        j = i % self.shard_size
        item = {
            "latents": tensors["latents"][j].float(),
            "motion_mask": tensors["motion_mask"][j].bool(),
            "ofm": float(tensors["ofm"][j]),
            **texts[j],
        }
        if "region_mask" in tensors:
            item["region_mask"] = tensors["region_mask"][j].bool()
        return item
