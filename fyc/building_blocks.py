"""The public building blocks a Follow-Your-Click pipeline is assembled from, read from the files they are
published as: Stable Diffusion 1.x (a diffusers folder or one original-layout checkpoint) and motion adapters
(AnimateDiff v1/v2/v3, PIA's 9-channel one; diffusers folders or original checkpoints).

Defaults are looked up in the weights folder (`fyc.weight_sources`); a missing file is an error naming the
`python -m fyc download` command that fetches it. Pickled checkpoints are read weights-only (`fyc.checkpoint_io`).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .checkpoint_io import CorruptWeightsError, load_checkpoint, weights_files
from .weight_checks import naming_errors, read_json, require_config, require_model_weights
from .weight_sources import SD15_REPO, download_command, fetch_hint, hub_offline, weights_root

# -- Stable Diffusion 1.x ---------------------------------------------------------------------------------------


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
            f"Stable Diffusion weights not found: {path}. Fetch SD 1.5 with `{download_command('sd15', root)}`, "
            "or pass a diffusers folder or a single .safetensors/.ckpt file."
        )
    if path.is_dir() and not (path / "unet").is_dir():
        singles = [p for p in path.iterdir() if p.is_file() and p.suffix in (".safetensors", ".ckpt", ".pt", ".pth")]
        if len(singles) != 1:
            raise FileNotFoundError(
                f"{path} is neither a diffusers Stable Diffusion folder (no {path / 'unet'}) nor a folder with one "
                f"checkpoint file. Fetch SD 1.5 with `{download_command('sd15', root)}`."
            )
        path = singles[0]
    if path.is_dir():
        return _load_sd_folder(path, torch_dtype, fetch_hint(path, root))
    return _load_sd_single_file(path, config, torch_dtype, root)


def _load_sd_folder(folder: Path, torch_dtype, hint: str | None) -> StableDiffusionComponents:
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel

    index = read_json(folder / "model_index.json", hint) if (folder / "model_index.json").is_file() else {}
    for component in ("vae", "unet", "text_encoder"):
        require_model_weights(folder / component, hint)
    require_config(folder / "tokenizer", hint)
    text_cls = getattr(transformers, (index.get("text_encoder") or [None, "CLIPTextModel"])[1])
    tokenizer_cls = getattr(transformers, (index.get("tokenizer") or [None, "CLIPTokenizer"])[1])
    with naming_errors(folder):
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
        if hub_offline() or "/" not in str(config) or str(config).startswith((".", "/")):
            raise FileNotFoundError(f"config folder not found: {config}")
        return str(config), False
    local = root / "sd15"
    if (local / "unet" / "config.json").is_file():
        return str(local), True
    if hub_offline():
        raise FileNotFoundError(
            f"reading a single-file Stable Diffusion checkpoint needs SD 1.5's config files, and {local / 'unet'} "
            f"has none: fetch them (2 MB) with `{download_command('sd15-config', root)}`, or pass config= a "
            "diffusers SD 1.5 folder."
        )
    return SD15_REPO, False


def _load_sd_single_file(path: Path, config, torch_dtype, root: Path) -> StableDiffusionComponents:
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm

    state = load_checkpoint(path, fetch_hint(path, root))
    if not any(k.startswith("model.diffusion_model.") for k in state):
        raise ValueError(
            f"{path} is not a Stable Diffusion checkpoint in the original layout (no 'model.diffusion_model.*' "
            "weights). For a diffusers folder pass the folder itself."
        )
    config_location, local = _resolve_sd_config(config, root)
    index = {}
    if local and (Path(config_location) / "model_index.json").is_file():
        index = read_json(Path(config_location) / "model_index.json", None)
    text_cls = getattr(transformers, (index.get("text_encoder") or [None, "CLIPTextModel"])[1])
    tokenizer_cls = getattr(transformers, (index.get("tokenizer") or [None, "CLIPTokenizer"])[1])
    common = dict(config=config_location, local_files_only=local, torch_dtype=torch_dtype)
    loaders = {
        "UNet": lambda: UNet2DConditionModel.from_single_file(
            state, subfolder="unet", low_cpu_mem_usage=True, **common
        ),
        "VAE": lambda: AutoencoderKL.from_single_file(state, subfolder="vae", low_cpu_mem_usage=True, **common),
        "text encoder": lambda: create_diffusers_clip_model_from_ldm(
            text_cls,
            state,
            subfolder="text_encoder",
            config=config_location,
            torch_dtype=torch_dtype,
            local_files_only=local,
        ),
        "tokenizer": lambda: tokenizer_cls.from_pretrained(
            config_location, subfolder="tokenizer", local_files_only=local
        ),
    }
    loaded = {}
    for what, load in loaders.items():
        try:
            loaded[what] = load()
        except OSError as e:
            raise FileNotFoundError(
                f"could not read SD 1.5's {what} config from {config_location} to load {path} ({e}). Fetch the configs "
                f"with `{download_command('sd15-config', root)}` or pass config= a diffusers SD 1.5 folder."
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
    hint = fetch_hint(path, root) or download_command("animatediff", root)
    if not path.exists():
        raise FileNotFoundError(
            f"motion adapter not found: {path}. Fetch AnimateDiff v2 with `{download_command('animatediff', root)}` "
            f"(or the original mm_sd_v15_v2.ckpt with `{download_command('animatediff-original', root)}`; PIA's "
            f"adapter with `{download_command('pia', root)}`)."
        )
    if path.is_dir():
        if (path / "config.json").is_file():
            require_model_weights(path, hint)
            with naming_errors(path):
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
