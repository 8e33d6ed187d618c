"""The example images of an `examples/` folder, with their clicks, prompts, strength and seed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fyc.inputs import format_regions


@dataclass
class Example:
    name: str
    image: Path
    regions: list[dict]
    ofm: float
    seed: int

    @property
    def regions_json(self) -> str:
        """The regions as the app's JSON box shows them."""
        return format_regions(self.regions)


def load_examples(directory: str | Path) -> list[Example]:
    """Read `examples.json` from `directory` (`app.py` passes the folder beside it); an absent file means no
    examples."""
    directory = Path(directory)
    index = directory / "examples.json"
    if not index.exists():
        return []
    entries = json.loads(index.read_text())
    return [
        Example(
            name=entry["name"],
            image=directory / entry["image"],
            regions=entry["regions"],
            ofm=float(entry["ofm"]),
            seed=int(entry.get("seed", 0)),
        )
        for entry in entries
    ]
