"""`python -m fyc download NAME ... [--dir weights]`: fetch the public building blocks into the weights folder.

The fetching is `fyc.weight_download`'s; this module parses the command line and reports. With no network (or
`HF_HUB_OFFLINE=1`) it says so and which files to copy from a machine that has one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..checkpoint_io import CorruptWeightsError
from ..weight_download import OfflineError, fetch, is_complete, origin
from ..weight_sources import DOWNLOAD_ALL, SOURCES, WEIGHTS_DIR_ENV, weights_root


def build_parser(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(SOURCES)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"what to fetch: {names}, or all ({' + '.join(DOWNLOAD_ALL)}). Without a name: list them.",
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help=f"weights folder (default: ${WEIGHTS_DIR_ENV}, else ./weights)"
    )
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


def format_table(root: Path) -> str:
    lines = [f"Public weights (python -m fyc download NAME --dir {root}):", ""]
    for name, source in SOURCES.items():
        mark = "present" if is_complete(source, root) else "-"
        lines.append(f"  {name:<21} {source.approx_size:>8}  {mark:<7}  {source.what}")
        lines.append(f"  {'':<21} {'':>8}  {'':<7}  {origin(source, detailed=False)} -> {root / source.local_path}")
    lines += ["", f"  all = {' + '.join(DOWNLOAD_ALL)}"]
    return "\n".join(lines)
