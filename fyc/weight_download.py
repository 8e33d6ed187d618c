"""Fetch the public building blocks (`fyc.weight_sources.SOURCES`) into the weights folder.

Hub-hosted weights go through huggingface_hub (only the files we need: `allow_patterns` skips the multi-GB
single-file and fp16/.bin duplicates); segment-anything's checkpoints come from Meta's download site. Nothing
else in the project downloads, and nothing downloads while loading: a missing file is an error naming the
`python -m fyc download` command that fetches it.

    from fyc.weight_download import download_sam
    checkpoint = download_sam()        # a SAM already under weights/sam/, else ViT-B fetched there
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .checkpoint_io import CorruptWeightsError, check_weights_file
from .segment.sam_checkpoint import find_sam_checkpoint
from .weight_sources import DEFAULT_SAM, SOURCES, WeightsSource, download_command, hub_offline, weights_root


class OfflineError(ConnectionError):
    """The source could not be reached."""


def download_sam(weights_dir: str | Path | None = None) -> Path:
    """The SAM checkpoint the segmenter will use: one already under `<weights folder>/sam/` (any name, `.pth`
    or `.safetensors`), else ViT-B fetched there. For an app that wants exact masks at start-up.

    Raises `OfflineError` when Meta's download site cannot be reached, `RuntimeError` or `CorruptWeightsError`
    when the download fails.
    """
    present = find_sam_checkpoint(weights_dir)
    return present if present is not None else fetch(DEFAULT_SAM, weights_dir)


def origin(source: WeightsSource, detailed: bool = True) -> str:
    """Where `source` is published: its URL, or its Hub repository and the files taken from it."""
    if source.url:
        return source.url
    if source.filename:
        what = source.filename
    elif detailed:
        what = ", ".join(source.allow_patterns or ("*",))
    else:
        what = f"{len(source.allow_patterns or ())} file patterns"
    return f"https://huggingface.co/{source.repo_id} ({what})"


def is_complete(source: WeightsSource, root: Path) -> bool:
    """Whether the files `source` provides are all present under `root` and not visibly damaged."""
    target = root / source.local_path
    files = [target / f for f in source.required] if source.required else [target]
    try:
        for file in files:
            if not file.is_file():
                return False
            if file.suffix in (".safetensors", ".ckpt", ".pth", ".bin"):
                check_weights_file(file)
    except CorruptWeightsError:
        return False
    return True


def fetch(name: str, weights_dir: str | Path | None = None, force: bool = False) -> Path:
    """Fetch `SOURCES[name]` into the weights folder and check it; returns its local path. Complete files
    already there are kept unless `force`.

    Raises `OfflineError` when the source cannot be reached, `RuntimeError` for other download failures.
    """
    source = SOURCES[name]
    root = weights_root(weights_dir)
    target = root / source.local_path
    if not force and is_complete(source, root):
        return target
    print(f"fetching {name} ({source.approx_size}) from {origin(source)} ...", flush=True)
    try:
        if source.url:
            _download_url(source.url, target)
        else:
            _download_hub(source, target)
    except BaseException:
        for folder in (target, target.parent):  # leave no empty folder behind a failed first fetch
            # huggingface_hub keeps its bookkeeping in local_dir/.cache; alone, it means nothing was fetched.
            if folder != root and folder.is_dir() and all(p.name == ".cache" for p in folder.iterdir()):
                shutil.rmtree(folder)
        raise
    missing = [f for f in source.required if not (target / f).is_file()]
    if missing:
        raise RuntimeError(f"{source.repo_id} no longer holds {missing}; check https://huggingface.co/{source.repo_id}")
    for file in [target / f for f in source.required] if source.required else [target]:
        check_weights_file(file, f"{download_command(name, root)} --force")
    return target


def _download_hub(source: WeightsSource, target: Path) -> None:
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    try:
        if source.filename:
            target.parent.mkdir(parents=True, exist_ok=True)
            hf_hub_download(source.repo_id, source.filename, local_dir=target.parent)
        else:
            target.mkdir(parents=True, exist_ok=True)
            snapshot_download(source.repo_id, allow_patterns=list(source.allow_patterns or ()), local_dir=target)
    except GatedRepoError as e:
        raise RuntimeError(
            f"{source.repo_id} asks you to accept its licence: open https://huggingface.co/{source.repo_id}, accept, "
            "then log in with `hf auth login`"
        ) from e
    except RepositoryNotFoundError as e:
        raise RuntimeError(f"{source.repo_id} was not found on the Hub (moved or removed?)") from e
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        raise OfflineError(f"cannot reach huggingface.co for {source.repo_id} ({_first_line(e)})") from e
    except HfHubHTTPError as e:
        raise RuntimeError(f"the Hub refused {source.repo_id}: {_first_line(e)}") from e
    except Exception as e:  # network stack errors (httpx, ssl, socket) differ across huggingface_hub versions
        if _looks_like_network(e):
            raise OfflineError(f"cannot reach huggingface.co for {source.repo_id} ({_first_line(e)})") from e
        raise


def _download_url(url: str, target: Path) -> None:
    if hub_offline():  # one switch for every download, the Hub's or not
        raise OfflineError(f"HF_HUB_OFFLINE is set, not fetching {url}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            from tqdm.auto import tqdm

            with tqdm(total=total or None, unit="B", unit_scale=True, desc=target.name) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        if total and partial.stat().st_size != total:
            raise RuntimeError(f"{url}: got {partial.stat().st_size} of {total} bytes")
        if not zipfile.is_zipfile(partial):  # segment-anything checkpoints are torch.save zip archives
            raise CorruptWeightsError(f"{url} did not return a PyTorch checkpoint")
        shutil.move(partial, target)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise OfflineError(f"cannot reach {url} ({_first_line(e)})") from e
    finally:
        partial.unlink(missing_ok=True)


def _looks_like_network(error: BaseException) -> bool:
    while error is not None:
        if isinstance(error, (ConnectionError, TimeoutError, urllib.error.URLError)):
            return True
        if type(error).__module__.split(".")[0] in ("httpx", "httpcore", "requests", "urllib3", "ssl", "socket"):
            return True
        error = error.__cause__ or error.__context__
    return False


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
