"""PIC (perceptual input conformity): how much the frames still look like the input image.

    pic = 1 - mean over frames of d(input, frame)

d is an LPIPS-like distance on a torchvision feature network whose weights come from a path
(`--pic-net PATH`: the ImageNet state dict of `torchvision.models.alexnet` or `vgg16`, e.g.
`alexnet-owt-7be5be79.pth`; nothing is downloaded). At the five ReLU outputs LPIPS taps (AlexNet relu1-5,
VGG16 relu1_2, 2_2, 3_3, 4_3, 5_3) the channel vector at each position is scaled to unit length, and

    d_layer = mean over positions of ||f_input - f_frame||^2 / 2,   d = mean of d_layer over the five layers.

Since the features are non-negative (ReLU), each term lies in [0, 1], so d is in [0, 1] and so is PIC;
identical frames give PIC = 1. It is "LPIPS-like" because LPIPS's learned per-channel weights are not
available offline, so every channel and layer weighs the same: compare PIC between runs measured with the
same network, not with published LPIPS/DreamSim-based PIC values. Without `--pic-net`, PIC is not measured.
"""

from __future__ import annotations

import os

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TAPS = {"alexnet": (1, 4, 7, 9, 11), "vgg16": (3, 8, 15, 22, 29)}  # indices of ReLUs in `.features`


class PerceptualDistance:
    """LPIPS-like distance on the ReLU features of a torchvision AlexNet or VGG16 (see module docstring)."""

    def __init__(self, features, arch: str, device: str = "cpu"):
        self.features = features.eval().to(device)
        self.arch = arch
        self.taps = TAPS[arch]
        self.device = device

    @property
    def name(self) -> str:
        return f"{self.arch} (LPIPS-like, unweighted)"

    def _activations(self, images):
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        acts = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                acts.append(F.normalize(x, dim=1, eps=1e-10))
            if index == self.taps[-1]:
                break
        return acts

    def distances(self, image, frames) -> np.ndarray:
        """d(image, frame) for each frame; image uint8 (H, W, 3) at the frames' size, frames (F, H, W, 3)."""
        import torch

        frames = np.asarray(frames)
        if image.shape != frames.shape[1:]:
            raise ValueError(f"image {image.shape} and frames {frames.shape[1:]} must have the same size.")
        with torch.no_grad():
            ref = self._activations(image[None])
            out = self._activations(frames)
            per_layer = [((a - r) ** 2).sum(dim=1).mean(dim=(1, 2)) / 2.0 for a, r in zip(out, ref)]
        return torch.stack(per_layer).mean(dim=0).cpu().numpy()

    def pic(self, image, video) -> float:
        """1 - mean LPIPS-like distance between the input (resized to the video) and each frame."""
        from fyc.eval.metrics import as_uint8_image, as_uint8_video, resize_image

        video = as_uint8_video(video)
        image = resize_image(as_uint8_image(image), video.shape[1:3])
        return float(1.0 - self.distances(image, video).mean())


def load_perceptual(path, device: str | None = None) -> PerceptualDistance:
    """Open `--pic-net PATH`, a torchvision AlexNet or VGG16 state dict (.pth/.pt or .safetensors)."""
    import torch
    from torchvision.models import alexnet, vgg16

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"--pic-net {path}: no such file. Give the state dict of torchvision's alexnet or vgg16 "
            "(ImageNet weights); PIC is skipped when --pic-net is not given."
        )
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    arch = "vgg16" if "28.weight" in features else "alexnet"
    model = vgg16() if arch == "vgg16" else alexnet()
    try:
        model.features.load_state_dict(features)
    except RuntimeError as err:
        raise ValueError(
            f"{path} is not a torchvision alexnet/vgg16 state dict ({str(err).splitlines()[0]})."
        ) from None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return PerceptualDistance(model.features, arch, device)
