"""`python -m fyc download NAME ... [--dir weights]`: fetch the public building blocks into the weights folder.

Hub-hosted weights go through huggingface_hub (only the files we need: `allow_patterns` skips the multi-GB
single-file and fp16/.bin duplicates); segment-anything's checkpoints come from Meta's download site. Nothing is
downloaded anywhere else in the project, and never at run time. With no network (or `HF_HUB_OFFLINE=1`) the
command says so and which files to copy from a machine that has one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..checkpoint_io import CorruptWeightsError, check_weights_file
from ..weights import DOWNLOAD_ALL, SOURCES, WeightsSource, weights_root


class OfflineError(ConnectionError):
    """The source could not be reached."""


def build_parser(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(SOURCES)
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help=f"what to fetch: {names}, or all ({' + '.join(DOWNLOAD_ALL)}). Without a name: list them.",
    )
    parser.add_argument("--dir", type=Path, default=None, help="weights folder (default: the repository's weights/)")
    parser.add_argument("--list", action="store_true", help="list what can be fetched and what is already there")
    parser.add_argument("--dry-run", action="store_true", help="say what would be fetched, fetch nothing")
    parser.add_argument("--force", action="store_true", help="fetch again even when complete files are present")


def run(args) -> int:
    root = weights_root(args.dir)
    if args.list or not args.names:
        print(format_table(root))
        return 0
    names = []
    for name in args.names:
        if name == "all":
            names.extend(DOWNLOAD_ALL)
        elif name in SOURCES:
            names.append(name)
        else:
            print(f"unknown weights {name!r}; choose from: {', '.join(SOURCES)}, all", file=sys.stderr)
            return 2
    failures = 0
    for name in dict.fromkeys(names):
        source = SOURCES[name]
        if args.dry_run:
            print(f"would fetch {name} ({source.approx_size}) from {origin(source)} into {root / source.local_path}")
            continue
        try:
            path = fetch(name, root, force=args.force)
        except OfflineError as e:
            failures += 1
            print(
                f"{name}: offline — {e}\n  On a machine with internet run `python -m fyc download {name}` and copy "
                f"weights/{source.local_path} to {root / source.local_path}.",
                file=sys.stderr,
            )
        except (CorruptWeightsError, FileNotFoundError, PermissionError, RuntimeError) as e:
            failures += 1
            print(f"{name}: failed — {e}", file=sys.stderr)
        else:
            print(f"{name}: ready in {path}")
    return 1 if failures else 0


def origin(source: WeightsSource, detailed: bool = True) -> str:
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
    """Whether the files `source` provides are all present and not visibly damaged."""
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


def format_table(root: Path) -> str:
    lines = [f"Public weights (python -m fyc download NAME --dir {root}):", ""]
    for name, source in SOURCES.items():
        mark = "present" if is_complete(source, root) else "-"
        lines.append(f"  {name:<21} {source.approx_size:>8}  {mark:<7}  {source.what}")
        lines.append(f"  {'':<21} {'':>8}  {'':<7}  {origin(source, detailed=False)} -> {root / source.local_path}")
    lines += ["", f"  all = {' + '.join(DOWNLOAD_ALL)}"]
    return "\n".join(lines)


def fetch(name: str, weights_dir: str | Path | None = None, force: bool = False) -> Path:
    """Fetch `SOURCES[name]` into the weights folder and check it; returns its local path.

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
        check_weights_file(file, f"python -m fyc download {name} --force")
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
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
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
