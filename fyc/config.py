"""YAML config files → dataclasses, refusing unknown keys (a typo must fail loudly, not train the wrong model)."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import yaml


def dataclass_from_yaml(cls, path):
    """Build dataclass `cls` from the YAML file at `path`; sections whose type is a dataclass are built the same way."""
    return dataclass_from_dict(cls, yaml.safe_load(Path(path).read_text()) or {}, str(path))


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
