"""Command line: `python -m fyc COMMAND ...` (also installed as `fyc`).

Each command lives in its own module exposing `build_parser(parser)` and `run(args) -> int`; they are
imported only when chosen, so `python -m fyc --help` is instant.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

COMMANDS = {
    "animate": ("fyc.cli.animate", "animate an image: clicks or a mask, a motion prompt, a strength"),
    "download": ("fyc.cli.download", "fetch public weights (SD 1.5, AnimateDiff, PIA, SAM) into weights/"),
    "train": ("fyc.train", "train or fine-tune a Follow-Your-Click model from a YAML config"),
    "export": ("fyc.export", "write a loadable pipeline from a training checkpoint (while the run goes on)"),
    "train-vae": ("fyc.train_vae", "train the small VAE of the demo model on photo crops"),
    "prepare": ("fyc.data.prepare", "precompute clips, motion masks and OFM into a cache (shardable)"),
    "captions": ("fyc.data.captions", "rewrite captions into objects + short motion phrases (WebVid-Motion)"),
    "eval": ("fyc.eval.cli", "measure a model: paper metrics and regional metrics, with a report"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m fyc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.print_help() if not argv or argv[0] in ("-h", "--help") else parser.parse_args(argv)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module = import_module(COMMANDS[argv[0]][0])
    cmd_parser = argparse.ArgumentParser(prog=f"python -m fyc {argv[0]}", description=COMMANDS[argv[0]][1])
    module.build_parser(cmd_parser)
    return int(module.run(cmd_parser.parse_args(argv[1:])) or 0)


if __name__ == "__main__":
    sys.exit(main())
