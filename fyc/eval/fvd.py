"""FVD: Fréchet distance between video features of generated and reference clips.

Feature network (`--i3d PATH`, never downloaded here):

TorchScript I3D (the standard FVD network)
    A `torch.jit` archive of the Kinetics-400 I3D, such as StyleGAN-V's `i3d_torchscript.pt` (a port of the
    TF-Hub I3D used by the original FVD code). Expected input: float32 (B, 3, T, 224, 224), RGB, values in
    [-1, 1]; frames are resized to 224 x 224 (bilinear, no crop) here, so the network is called with
    `rescale=False, resize=False, return_features=True` when its `forward` accepts those keywords
    (StyleGAN-V's archive does) and with the tensor alone otherwise. The output (B, D) is the feature
    vector (400 logits before the softmax for the I3D archive). T is the clip length as generated
    (16 in the paper's setting).
torchvision S3D state dict
    A `.pth`/`.safetensors` state dict of `torchvision.models.video.s3d` (its Kinetics-400 weights, e.g.
    `s3d-d76dad2f.pth`). Features: the 1024-d global average of the last convolutional block; input
    normalised with the Kinetics mean/std. This gives a Fréchet distance on *S3D* features: useful to
    compare runs of this project, not comparable with published (I3D) FVD numbers. The report names the
    network next to the value.

With fewer than 2 generated or 2 reference clips the covariance is undefined and FVD is not measured.
FVD from a handful of clips is dominated by estimation noise; read it as a trend between runs on the
same set, never against the paper's 271.74 (computed on thousands of clips).
"""

from __future__ import annotations

import os

import numpy as np

I3D_SIZE = 224
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)), matrix square root by
    `scipy.linalg.sqrtm`. A singular product (few samples) is regularised by adding eps * I."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"Shapes do not match: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}.")
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if covmean is None:
        offset = np.eye(len(mu1)) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset), tolerance=np.inf)
    covmean = np.real(covmean)  # sqrtm of a product of PSD matrices is real up to rounding
    return float(max(0.0, diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)))


def _sqrtm(product: np.ndarray, tolerance: float = 1e-3):
    """Matrix square root, or None when it is not finite or its relative error exceeds `tolerance`
    (a singular product: fewer samples than feature dimensions)."""
    import warnings

    from scipy import linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(product)
    if not np.isfinite(root).all():
        return None
    scale = np.linalg.norm(product) or 1.0
    return root if np.linalg.norm(root @ root - product) / scale <= tolerance else None


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), N >= 2."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"Need features shaped (N >= 2, D), got {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance_of_features(features_a, features_b) -> float:
    """Fréchet distance between two feature sets (N, D) and (M, D)."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


class VideoFeatureNetwork:
    """Features (N, D) of uint8 videos (N, F, H, W, 3) from a TorchScript I3D or a torchvision S3D."""

    def __init__(self, module, kind: str, device: str = "cpu", size: int = I3D_SIZE):
        self.module = module.eval().to(device)
        self.kind = kind
        self.device = device
        self.size = size
        self._keywords = kind == "torchscript" and _accepts_fvd_keywords(module)

    @property
    def name(self) -> str:
        return "I3D (TorchScript)" if self.kind == "torchscript" else "S3D (torchvision)"

    def _prepare(self, videos):
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(videos)).to(self.device).float().div(255.0)
        n, f, h, w, _ = x.shape
        x = x.permute(0, 1, 4, 2, 3).reshape(n * f, 3, h, w)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        if self.kind == "torchscript":
            x = x * 2.0 - 1.0
        else:
            mean = torch.tensor(KINETICS_MEAN, device=x.device).view(1, 3, 1, 1)
            std = torch.tensor(KINETICS_STD, device=x.device).view(1, 3, 1, 1)
            x = (x - mean) / std
        return x.reshape(n, f, 3, self.size, self.size).permute(0, 2, 1, 3, 4).contiguous()  # (B, 3, T, H, W)

    def features(self, videos, batch_size: int = 4) -> np.ndarray:
        """Feature vectors (N, D) of uint8 videos (N, F, H, W, 3)."""
        import torch

        videos = np.stack([np.asarray(v) for v in videos]) if isinstance(videos, (list, tuple)) else np.asarray(videos)
        if videos.ndim != 5 or videos.shape[-1] != 3:
            raise ValueError(f"Expected videos shaped (N, F, H, W, 3), got {videos.shape}.")
        out = []
        with torch.no_grad():
            for start in range(0, len(videos), batch_size):
                x = self._prepare(videos[start : start + batch_size])
                if self.kind == "torchscript":
                    kw = dict(rescale=False, resize=False, return_features=True) if self._keywords else {}
                    y = self.module(x, **kw)
                else:
                    y = self.module.features(x).mean(dim=(2, 3, 4))
                out.append(y.reshape(len(x), -1).float().cpu().numpy())
        return np.concatenate(out)


def _accepts_fvd_keywords(module) -> bool:
    try:
        names = {arg.name for arg in module.forward.schema.arguments}
    except AttributeError:
        return False
    return {"rescale", "resize", "return_features"} <= names


def load_video_network(path, device: str | None = None, size: int = I3D_SIZE) -> VideoFeatureNetwork:
    """Open `--i3d PATH`: a TorchScript archive, or a torchvision S3D state dict (see the module docstring)."""
    import torch

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"--i3d {path}: no such file. Give a TorchScript I3D (e.g. StyleGAN-V's i3d_torchscript.pt) or a "
            "torchvision S3D state dict; FVD is skipped when --i3d is not given."
        )
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        try:
            return VideoFeatureNetwork(torch.jit.load(path, map_location="cpu"), "torchscript", device, size)
        except RuntimeError:  # not a TorchScript archive: a state dict, loaded without unpickling code
            state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    from torchvision.models.video import s3d

    model = s3d()
    try:
        model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    except (RuntimeError, AttributeError) as err:
        raise ValueError(
            f"{path} is neither a TorchScript archive nor a torchvision S3D state dict ({err}). "
            "FVD needs one of those; see fyc/eval/fvd.py."
        ) from None
    return VideoFeatureNetwork(model, "s3d", device, size)


def fvd(generated, reference, network: VideoFeatureNetwork) -> float | None:
    """FVD between generated and reference uint8 videos (N, F, H, W, 3); None with fewer than 2 of either."""
    if len(generated) < 2 or len(reference) < 2:
        return None
    return frechet_distance_of_features(network.features(generated), network.features(reference))
