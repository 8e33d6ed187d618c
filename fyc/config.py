"""YAML config files → dataclasses, refusing unknown keys (a typo must fail loudly, not train the wrong model)."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import yaml


def dataclass_from_yaml(cls, path, overrides: list[str] | tuple[str, ...] = ()):
    """Build dataclass `cls` from the YAML file at `path`; sections whose type is a dataclass are built the same way.

    `overrides`: "DOTTED.KEY=VALUE" strings applied on top of the file, the value read as YAML
    (`train.first_frame_mask_ratio=0.7`, `unet.use_motion_cross_attention=false`), so an ablation is the shipped
    config plus one line instead of a copy of it."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    for override in overrides:
        apply_override(raw, override)
    return dataclass_from_dict(cls, raw, str(path) + "".join(f" --set {o}" for o in overrides))


def apply_override(raw: dict, override: str) -> None:
    """Set "a.b.c=VALUE" in the nested dict `raw` (sections are created when missing)."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ValueError(f"--set takes KEY=VALUE with a dotted key such as train.max_steps=100, got {override!r}")
    *sections, name = key.strip().split(".")
    node = raw
    for section in sections:
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ValueError(f"--set {override}: {section!r} is a value, not a section")
        node = child
    node[name] = yaml.safe_load(value)


def dataclass_from_dict(cls, raw: dict, where: str, section: str | None = None):
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = set(raw) - set(names)
    if unknown:
        what = f"{section} settings" if section else "top-level keys"
        raise ValueError(f"{where}: unknown {what} {sorted(unknown)}; known: {', '.join(names)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        if dataclasses.is_dataclass(hints.get(name)):
            value = dataclass_from_dict(hints[name], value or {}, where, section=name)
        values[name] = value
    return cls(**values)
