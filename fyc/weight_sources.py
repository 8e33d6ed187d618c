"""Where weights come from: the local weights folder, and the public sources that fill it.

    weights/fyc/           a trained Follow-Your-Click pipeline (`fyc.weights.save_pipeline`), preferred
    weights/<other>/       any other saved Follow-Your-Click pipeline folder (newest first)
    weights/demo_motion/   the motion-field demo model shipped with the repository; the default
    weights/demo/          the latent demo model shipped with the repository; the fallback
    weights/sd15/          Stable Diffusion 1.5, diffusers layout          `python -m fyc download sd15`
    weights/animatediff/   AnimateDiff v2 MotionAdapter (diffusers layout)  `python -m fyc download animatediff`
                           and/or mm_sd_v15_v2.ckpt (original layout)       `python -m fyc download animatediff-original`
    weights/pia/           PIA's 9-channel MotionAdapter                    `python -m fyc download pia`
    weights/sam/           segment-anything checkpoints (any name)          `python -m fyc download sam-vit-b`

The folder is `weights_dir=` when given, else `$FYC_WEIGHTS_DIR`, else `weights/` in the current directory: the
repository root for `make run` and `make test`. It is never looked up from this file's location, which is
site-packages once the package is installed.

Nothing here touches the network; `fyc.weight_download` fetches `SOURCES` into the folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR_ENV = "FYC_WEIGHTS_DIR"

TRAINED_DIR = "fyc"
DEMO_DIR = "demo"
DEMO_MOTION_DIR = "demo_motion"
SHIPPED_DIRS = (DEMO_MOTION_DIR, DEMO_DIR)  # committed with the repository, in the order they are preferred
SAM_DIR = "sam"
BUILDING_BLOCK_DIRS = {"sd15", "animatediff", "pia", "controlnet", SAM_DIR}


def weights_root(weights_dir: str | Path | None = None) -> Path:
    """The weights folder: `weights_dir`, else `$FYC_WEIGHTS_DIR`, else `./weights`."""
    if weights_dir is not None:
        return Path(weights_dir)
    if os.environ.get(WEIGHTS_DIR_ENV):
        return Path(os.environ[WEIGHTS_DIR_ENV])
    return Path.cwd() / "weights"


def hub_offline() -> bool:
    """Whether huggingface_hub is told to stay offline (`HF_HUB_OFFLINE`)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class WeightsSource:
    """One public set of weights: where it is published and where it goes under the weights folder."""

    name: str  # `python -m fyc download NAME`
    what: str
    local_path: str  # relative to the weights folder; a folder, or a file when `filename`/`url` is set
    repo_id: str | None = None  # Hugging Face Hub repository
    filename: str | None = None  # one file of the repository (hf_hub_download)
    allow_patterns: tuple[str, ...] | None = None  # the files of the repository to fetch (snapshot_download)
    url: str | None = None  # published outside the Hub
    approx_size: str = ""
    required: tuple[str, ...] = ()  # files (relative to local_path) that a complete download contains


SD15_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"
# The Stable Diffusion 1.5 repository also holds single-file checkpoints in the original (LDM/CompVis) layout,
# e.g. "v1-5-pruned-emaonly.safetensors" (4.27 GB); `fyc.weights.load_stable_diffusion` reads those too.
SD15_SINGLE_FILE = "v1-5-pruned-emaonly.safetensors"
_SD15_CONFIG_PATTERNS = (
    "model_index.json",
    "scheduler/scheduler_config.json",
    "tokenizer/*",
    "text_encoder/config.json",
    "unet/config.json",
    "vae/config.json",
)
_ADAPTER_FILES = ("config.json", "diffusion_pytorch_model.safetensors")

# Hub ids as diffusers' own documentation and single-file tables give them. segment-anything's checkpoints are
# published on Meta's download site, not on the Hub: the Hub's "facebook/sam-vit-base" is the transformers port,
# which the segment-anything package cannot read. PIA's original checkpoint ("pia.ckpt" in "Leoxing/PIA") is a
# whole-UNet layout; its diffusers MotionAdapter conversion, "openmmlab/PIA-condition-adapter", is what we use.
SOURCES: dict[str, WeightsSource] = {
    s.name: s
    for s in (
        WeightsSource(
            "sd15",
            "Stable Diffusion 1.5 (diffusers layout: VAE, CLIP text encoder, tokenizer, UNet)",
            "sd15",
            repo_id=SD15_REPO,
            allow_patterns=_SD15_CONFIG_PATTERNS
            + (
                "text_encoder/model.safetensors",
                "unet/diffusion_pytorch_model.safetensors",
                "vae/diffusion_pytorch_model.safetensors",
            ),
            approx_size="4.3 GB",
            required=(
                "model_index.json",
                "unet/diffusion_pytorch_model.safetensors",
                "vae/diffusion_pytorch_model.safetensors",
                "text_encoder/model.safetensors",
                "tokenizer/vocab.json",
            ),
        ),
        WeightsSource(
            "sd15-config",
            "Stable Diffusion 1.5 configs and tokenizer only (to read single-file checkpoints offline)",
            "sd15",
            repo_id=SD15_REPO,
            allow_patterns=_SD15_CONFIG_PATTERNS,
            approx_size="2 MB",
            required=("unet/config.json", "vae/config.json", "text_encoder/config.json", "tokenizer/vocab.json"),
        ),
        WeightsSource(
            "animatediff",
            "AnimateDiff v2 motion module for SD 1.5 (diffusers MotionAdapter)",
            "animatediff",
            repo_id="guoyww/animatediff-motion-adapter-v1-5-2",
            allow_patterns=_ADAPTER_FILES,
            approx_size="1.8 GB",
            required=_ADAPTER_FILES,
        ),
        WeightsSource(
            "animatediff-original",
            "AnimateDiff v2 motion module, original layout (mm_sd_v15_v2.ckpt)",
            "animatediff/mm_sd_v15_v2.ckpt",
            repo_id="guoyww/animatediff",
            filename="mm_sd_v15_v2.ckpt",
            approx_size="1.8 GB",
        ),
        WeightsSource(
            "pia",
            "PIA's 9-channel condition adapter (diffusers MotionAdapter, conv_in_channels=9)",
            "pia",
            repo_id="openmmlab/PIA-condition-adapter",
            allow_patterns=_ADAPTER_FILES,
            approx_size="1.8 GB",
            required=_ADAPTER_FILES,
        ),
        WeightsSource(
            "controlnet-openpose",
            "ControlNet 1.1 openpose for SD 1.5 (diffusers ControlNetModel): pose sequences on the latent path",
            "controlnet/openpose",
            repo_id="lllyasviel/control_v11p_sd15_openpose",
            allow_patterns=_ADAPTER_FILES,
            approx_size="1.4 GB",
            required=_ADAPTER_FILES,
        ),
        WeightsSource(
            "sam-vit-b",
            "Segment Anything ViT-B (segment-anything checkpoint)",
            "sam/sam_vit_b_01ec64.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
            approx_size="375 MB",
        ),
        WeightsSource(
            "sam-vit-l",
            "Segment Anything ViT-L (segment-anything checkpoint)",
            "sam/sam_vit_l_0b3195.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
            approx_size="1.25 GB",
        ),
        WeightsSource(
            "sam-vit-h",
            "Segment Anything ViT-H (segment-anything checkpoint)",
            "sam/sam_vit_h_4b8939.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
            approx_size="2.56 GB",
        ),
    )
}
# `python -m fyc download all`: one of each kind (the alternates, original layouts and larger SAMs, by name).
DOWNLOAD_ALL = ("sd15", "animatediff", "pia", "sam-vit-b")
# The SAM fetched when none is present: the smallest, whose embedding a CPU computes fastest.
DEFAULT_SAM = "sam-vit-b"


def download_command(name: str, root: Path | None = None) -> str:
    """`python -m fyc download NAME`, with `--dir` when `root` is not the default weights folder."""
    if root is None or Path(root).resolve() == weights_root(None).resolve():
        return f"python -m fyc download {name}"
    return f"python -m fyc download {name} --dir {root}"


def fetch_hint(path: Path, root: Path) -> str | None:
    """The command that restores `path`, when it is a known location under the weights folder `root`."""
    try:
        relative = Path(path).resolve().relative_to(root.resolve())
    except ValueError:
        return None
    if not relative.parts:
        return None
    if relative.parts[0] in SHIPPED_DIRS:
        return _git_restore_command(Path(root, *relative.parts))
    # The most specific source first (weights/animatediff/mm_sd_v15_v2.ckpt before weights/animatediff/).
    for source in sorted(SOURCES.values(), key=lambda s: -len(Path(s.local_path).parts)):
        local = Path(source.local_path).parts
        if relative.parts[: len(local)] == local:
            return download_command(source.name, root)
    for source in SOURCES.values():
        if relative.parts[0] == Path(source.local_path).parts[0]:
            return download_command(source.name, root)
    return None


def _git_restore_command(path: Path) -> str | None:
    """The demo models are committed, not downloaded: git restores it, named from the current directory (the
    repository root when the folder is the default one); None when `path` is outside the current directory."""
    try:
        shown = Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return None
    return f"git checkout -- {shown}"
