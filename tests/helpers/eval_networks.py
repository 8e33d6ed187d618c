"""Tiny random stand-ins for the evaluation networks, saved in the formats `python -m fyc eval` reads:
a CLIP folder (save_pretrained), a TorchScript I3D-like network and a torchvision AlexNet state dict."""

from __future__ import annotations

from pathlib import Path

import torch
from tiny import TEXT_CONFIG, TOWER, make_tiny_tokenizer


def save_tiny_clip(directory: str | Path, seed: int = 0) -> Path:
    """A CLIPModel (16-d embeddings, 32-px images) and its CLIPProcessor saved to `directory`/clip."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    directory = Path(directory)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=make_tiny_tokenizer(directory / "tokenizer"),
    )
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=TEXT_CONFIG,
        vision_config=dict(TOWER, image_size=32, patch_size=8),
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(directory / "clip")
    processor.save_pretrained(directory / "clip")
    return directory / "clip"


class TinyI3D(torch.nn.Module):
    """I3D-shaped stand-in with StyleGAN-V's calling convention: (B, 3, T, 224, 224) in [-1, 1] ->
    (B, 6) features with return_features=True, (B, 2) logits otherwise. It refuses anything else, so a
    test through it checks the input format."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 6, kernel_size=3, stride=(1, 8, 8))
        self.head = torch.nn.Linear(6, 2)

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False):
        if x.shape[1] != 3 or x.shape[-1] != 224 or x.shape[-2] != 224:
            raise RuntimeError("expected (B, 3, T, 224, 224)")
        if rescale or resize or float(x.min()) < -1.0 or float(x.max()) > 1.0:
            raise RuntimeError("expected pre-scaled input in [-1, 1]")
        features = torch.relu(self.conv(x)).mean(dim=(2, 3, 4))
        return features if return_features else self.head(features)


def save_tiny_i3d(path: str | Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    torch.jit.save(torch.jit.script(TinyI3D()), str(path))
    return Path(path)


def save_random_alexnet_features(path: str | Path, seed: int = 0) -> Path:
    """The `features.*` part of a random torchvision AlexNet state dict (what --pic-net reads)."""
    from torchvision.models import alexnet

    torch.manual_seed(seed)
    torch.save({f"features.{k}": v for k, v in alexnet().features.state_dict().items()}, path)
    return Path(path)
