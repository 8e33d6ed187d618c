"""The example images shipped in `examples/`, with their clicks, prompts, strength and seed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Example:
    name: str
    image: Path
    regions: list[dict]
    ofm: float
    seed: int

    @property
    def regions_json(self) -> str:
        """The regions as JSON, one per line, as the app's JSON box shows them."""
        return "[\n" + ",\n".join("  " + json.dumps(region) for region in self.regions) + "\n]"


def load_examples(directory: str | Path = EXAMPLES_DIR) -> list[Example]:
    """Read `examples.json` from `directory`; an absent file means no examples."""
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
