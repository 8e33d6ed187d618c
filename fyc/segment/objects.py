"""`Regions`: the objects a user has clicked on one image, each with its clicks, mask and motion prompt.

This is the state behind the app's click panel and the ``regions_json`` of its API::

    [{"points": [[x, y, label], ...], "prompt": "sway"}, ...]

Masks are derived data: they are recomputed from the clicks by a `ClickSegmenter`, never serialised.
Where objects overlap, the later object wins (it was clicked on top of the earlier one), so the masks
handed to the pipeline never overlap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..region import Region
from .image_input import check_points, to_rgb_uint8


@dataclass
class ClickObject:
    """One object: its clicks ``(x, y, label)``, its motion prompt and its mask (None until computed)."""

    points: list[tuple[float, float, int]] = field(default_factory=list)
    prompt: str = ""
    mask: np.ndarray | None = None


class Regions:
    """The clicked objects of one image.

    Args:
        image: the image the clicks refer to (any format `to_rgb_uint8` accepts); needed to compute masks.
        segmenter: a `ClickSegmenter`; without one, masks are not computed (serialisation still works).

    The *selected* object is the one new points go to; `add_object` selects the new object.
    """

    def __init__(self, image=None, segmenter=None):
        self.image = None if image is None else to_rgb_uint8(image)
        self.segmenter = segmenter
        self.objects: list[ClickObject] = []
        self.selected: int | None = None

    # -- editing ---------------------------------------------------------------------------------

    def add_object(self, prompt: str = "") -> ClickObject:
        """Start a new, empty object with ``prompt`` and select it."""
        self.objects.append(ClickObject(prompt=_clean_prompt(prompt)))
        self.selected = len(self.objects) - 1
        return self.objects[-1]

    def add_point(self, x: float, y: float, label: int = 1, index: int | None = None) -> np.ndarray | None:
        """Add a click to object ``index`` (default: the selected one; a first object is created if
        there is none) and recompute its mask, which is returned (None without a segmenter)."""
        if not self.objects:
            self.add_object()
        obj = self.objects[self._index(index)]
        size = self.image.shape[:2] if self.image is not None else (np.inf, np.inf)
        (point,) = check_points([(x, y, label)], size, require_include=False)
        obj.points.append(point)
        return self._update_mask(obj)

    def undo_point(self, index: int | None = None) -> np.ndarray | None:
        """Remove the last click of object ``index`` (default: selected); returns its new mask."""
        obj = self.objects[self._index(index)]
        if obj.points:
            obj.points.pop()
        return self._update_mask(obj)

    def clear_object(self, index: int | None = None) -> None:
        """Remove every click (and so the mask) of object ``index`` (default: selected); its prompt stays."""
        obj = self.objects[self._index(index)]
        obj.points.clear()
        obj.mask = None

    def remove_object(self, index: int | None = None) -> None:
        """Delete object ``index`` (default: selected); the previous object becomes selected."""
        position = self._index(index)
        del self.objects[position]
        if not self.objects:
            self.selected = None
        elif position == self.selected:
            self.selected = max(0, position - 1)
        elif position < self.selected:
            self.selected -= 1

    def clear_all(self) -> None:
        """Forget every object."""
        self.objects.clear()
        self.selected = None

    def set_prompt(self, prompt: str, index: int | None = None) -> None:
        """Set the motion prompt of object ``index`` (default: selected)."""
        self.objects[self._index(index)].prompt = _clean_prompt(prompt)

    def select(self, index: int) -> None:
        """Make object ``index`` the one new points go to."""
        self.selected = self._index(index)

    def set_image(self, image, segmenter=None) -> None:
        """Point at a (possibly new) image; masks are recomputed from the clicks."""
        self.image = to_rgb_uint8(image)
        if segmenter is not None:
            self.segmenter = segmenter
        for obj in self.objects:
            check_points(obj.points, self.image.shape[:2], require_include=False)
        for obj in self.objects:
            self._update_mask(obj)

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.objects)

    def __iter__(self):
        return iter(self.objects)

    def __getitem__(self, index: int) -> ClickObject:
        return self.objects[index]

    def masks(self) -> list[np.ndarray]:
        """Each object's mask with overlaps given to the later object; objects without a mask give
        an all-False mask so that indexes line up with `objects`."""
        size = self._size()
        taken = np.zeros(size, dtype=bool)
        resolved: list[np.ndarray] = [np.zeros(size, dtype=bool) for _ in self.objects]
        for position in range(len(self.objects) - 1, -1, -1):
            mask = self.objects[position].mask
            if mask is None:
                continue
            resolved[position] = mask & ~taken
            taken |= mask
        return resolved

    def union_mask(self) -> np.ndarray:
        """All objects together: bool (H, W)."""
        union = np.zeros(self._size(), dtype=bool)
        for obj in self.objects:
            if obj.mask is not None:
                union |= obj.mask
        return union

    def label_map(self) -> np.ndarray:
        """int32 (H, W): 0 = background, i + 1 = object i (after overlap resolution); for overlays."""
        labels = np.zeros(self._size(), dtype=np.int32)
        for position, mask in enumerate(self.masks()):
            labels[mask] = position + 1
        return labels

    def to_regions(self, default_prompt: str | None = None) -> list[Region]:
        """`fyc.region.Region` objects for the pipeline: one per object that has a mask, overlaps resolved.

        Args:
            default_prompt: used for objects without a prompt; None refuses them with a ValueError.

        Raises:
            ValueError: an object has clicks but no prompt (and no default), or a mask is empty.
            RuntimeError: masks are missing because no segmenter/image was given.
        """
        used = []
        for position, obj in enumerate(self.objects):
            if not obj.points:
                continue
            if not any(label == 1 for *_, label in obj.points):
                raise ValueError(f"Object {position} has only exclude clicks; add an include click or clear it.")
            if obj.mask is None:
                raise RuntimeError(
                    f"Object {position} has clicks but no mask: build Regions with image= and segmenter= "
                    "(or call set_image(image, segmenter)) so masks can be computed."
                )
            if not (obj.prompt or default_prompt):
                raise ValueError(f"Object {position} has no motion prompt; type one, e.g. \"sway\".")
            used.append(position)
        masks = self.masks() if used else []
        regions = []
        for position in used:
            if not masks[position].any():
                raise ValueError(
                    f"Object {position}'s mask is empty (a later object covers it, or the click found "
                    "nothing); click it again or remove it."
                )
            regions.append(Region(mask=masks[position], prompt=self.objects[position].prompt or default_prompt))
        return regions

    # -- serialisation ---------------------------------------------------------------------------

    def to_list(self) -> list[dict]:
        """The API's structure: ``[{"points": [[x, y, label], ...], "prompt": str}, ...]``."""
        return [
            {"points": [[_number(x), _number(y), int(label)] for x, y, label in obj.points], "prompt": obj.prompt}
            for obj in self.objects
        ]

    def to_json(self) -> str:
        """`to_list` as a JSON string."""
        return json.dumps(self.to_list())

    @classmethod
    def from_json(cls, data, image=None, segmenter=None) -> "Regions":
        """Rebuild from the API's JSON (a string, bytes or the already-parsed list).

        With ``image`` and ``segmenter`` every object's mask is recomputed from its clicks; points are
        checked against the image size.

        Raises:
            ValueError: with a message that says what is wrong and where (for the app to show as is).
        """
        if isinstance(data, (str, bytes, bytearray)):
            try:
                data = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ValueError(f"Regions JSON could not be parsed: {error}.") from None
        if not isinstance(data, list):
            raise ValueError(
                'Regions JSON must be a list like [{"points": [[x, y, 1]], "prompt": "sway"}], '
                f"got {type(data).__name__}."
            )
        regions = cls(image=image, segmenter=segmenter)
        for position, entry in enumerate(data):
            if not isinstance(entry, dict) or "points" not in entry:
                raise ValueError(
                    f'Region {position} must be an object with "points" (and "prompt"), got {entry!r:.80}.'
                )
            prompt = entry.get("prompt", "")
            if not isinstance(prompt, str):
                raise ValueError(f"Region {position}'s prompt must be a string, got {type(prompt).__name__}.")
            points = entry["points"]
            if not isinstance(points, list) or not points:
                raise ValueError(f'Region {position} needs a non-empty "points" list of [x, y, label].')
            size = regions.image.shape[:2] if regions.image is not None else (np.inf, np.inf)
            try:
                checked = check_points(points, size)
            except ValueError as error:
                raise ValueError(f"Region {position}: {error}") from None
            obj = regions.add_object(prompt)
            obj.points = checked
            regions._update_mask(obj)
        return regions

    # -- internals -------------------------------------------------------------------------------

    def _index(self, index: int | None) -> int:
        if index is None:
            if self.selected is None:
                raise IndexError("No object selected: add_object() first.")
            return self.selected
        if not -len(self.objects) <= index < len(self.objects):
            raise IndexError(f"No object {index}; there are {len(self.objects)}.")
        return index % len(self.objects)

    def _size(self) -> tuple[int, int]:
        if self.image is not None:
            return self.image.shape[:2]
        for obj in self.objects:
            if obj.mask is not None:
                return obj.mask.shape
        raise RuntimeError("No image set: build Regions with image= and segmenter= to get masks.")

    def _update_mask(self, obj: ClickObject) -> np.ndarray | None:
        # Without an include click there is no object yet (a lone exclude click waits for one).
        has_include = any(label == 1 for *_, label in obj.points)
        if self.segmenter is None or self.image is None or not has_include:
            obj.mask = None
        else:
            obj.mask = self.segmenter.predict(obj.points, image=self.image)
        return obj.mask


def _clean_prompt(prompt) -> str:
    if not isinstance(prompt, str):
        raise ValueError(f"The motion prompt must be a string, got {type(prompt).__name__}.")
    return prompt.strip()


def _number(value: float):
    return int(value) if float(value).is_integer() else float(value)
