"""`ClickedImage`: one image and the objects clicked on it, each with its clicks, mask and motion prompt.

The app keeps one per browser tab (`fyc.ui.session.Session`), its `/animate` API and the CLI build one per request,
so clicks mean the same everywhere. It holds no model: masks come from a segment function handed to
`update_masks` (the app's shared, locked segmenter, or a `ClickSegmenter`).

Coordinates: clicks, masks and the overlay live on a *working copy* of the image, downscaled so its longer side
is at most `WORKING_MAX_SIDE`. Regions are exchanged as JSON (`fyc.inputs.parse_regions` / `format_regions`) in
the pixels of the image *as given*, and converted here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from fyc.inputs import format_regions
from fyc.region import Region

WORKING_MAX_SIDE = 1024  # clicks and masks are computed at this size at most; SAM itself works at 1024
INCLUDE, EXCLUDE = 1, 0

Point = tuple[int, int, int]  # (x, y, label) with label 1 = include, 0 = exclude
# (working-copy image, clicks) -> bool mask at the image's size, or None when the clicks select nothing
SegmentFunction = Callable[[np.ndarray, list[Point]], "np.ndarray | None"]


@dataclass
class ClickedObject:
    """One thing to animate: the clicks that define it, its mask once segmented, and its motion prompt."""

    points: list[Point] = field(default_factory=list)
    prompt: str = ""
    mask: np.ndarray | None = None  # bool (H, W) at the working size, None until segmented
    drags: list[tuple[float, float, float, float]] = field(default_factory=list)  # (x0, y0, x1, y1), working px
    added: list[str] = field(default_factory=list)  # "point" or "drag", in the order they were added (for undo)
    ofm: float | None = None  # its own motion strength; None: the one given for all objects

    @property
    def has_mask(self) -> bool:
        return self.mask is not None and bool(self.mask.any())


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept, so neither side exceeds `max_side`; never scaled up."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def downscale(image: np.ndarray, max_side: int = WORKING_MAX_SIDE) -> np.ndarray:
    """Shrink an RGB uint8 image so its longer side is at most `max_side` (area interpolation)."""
    height, width = image.shape[:2]
    new_width, new_height = fit_within(width, height, max_side)
    if (new_width, new_height) == (width, height):
        return image
    return cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_AREA)


@dataclass
class ClickedImage:
    """The working copy of an image and its clicked objects; one object is always selected, the one clicks go to
    (see the module docstring for coordinates)."""

    image: np.ndarray | None = None  # working copy, RGB uint8
    source_size: tuple[int, int] | None = None  # (width, height) of the image as given
    objects: list[ClickedObject] = field(default_factory=lambda: [ClickedObject()])
    selected: int = 0
    drag_start: tuple[int, int] | None = None  # the first click of a drag whose end is not clicked yet

    # ---- image -------------------------------------------------------------------------------------

    def set_image(self, image: np.ndarray) -> None:
        """Start over on a new image (RGB uint8 at any size): keeps a downscaled copy, drops all clicks."""
        self.source_size = (int(image.shape[1]), int(image.shape[0]))
        self.image = np.ascontiguousarray(downscale(image))
        self.clear_all()

    def reset(self) -> None:
        """Forget the image and every click."""
        self.image = None
        self.source_size = None
        self.clear_all()

    @property
    def has_image(self) -> bool:
        return self.image is not None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the working copy."""
        return (int(self.image.shape[1]), int(self.image.shape[0])) if self.image is not None else (0, 0)

    def to_working(self, x: float, y: float) -> tuple[int, int]:
        """Source-image pixel → working-copy pixel (clamped inside the image)."""
        (width, height), (source_width, source_height) = self.size, self.source_size
        wx = int(np.floor((x + 0.5) * width / source_width))
        wy = int(np.floor((y + 0.5) * height / source_height))
        return min(max(wx, 0), width - 1), min(max(wy, 0), height - 1)

    def to_source(self, x: int, y: int) -> tuple[int, int]:
        """Working-copy pixel → source-image pixel (the centre of the pixels it covers)."""
        (width, height), (source_width, source_height) = self.size, self.source_size
        sx = int(np.floor((x + 0.5) * source_width / width))
        sy = int(np.floor((y + 0.5) * source_height / height))
        return min(sx, source_width - 1), min(sy, source_height - 1)

    def _scale(self, drag, to_source: bool = False) -> tuple[float, float, float, float]:
        """A drag (x0, y0, x1, y1) from source to working-copy pixels (or back): continuous coordinates, kept half a
        pixel inside the image so that an end on the last pixel stays inside."""
        (to_w, to_h), (from_w, from_h) = (self.source_size, self.size) if to_source else (self.size, self.source_size)
        sizes = ((to_w, from_w), (to_h, from_h)) * 2
        return tuple(min(float(v) * to / frm, to - 0.5) for v, (to, frm) in zip(drag, sizes))

    # ---- objects -----------------------------------------------------------------------------------

    @property
    def current(self) -> ClickedObject:
        return self.objects[self.selected]

    def contains(self, x: int, y: int) -> bool:
        """Whether (x, y) is inside the working copy."""
        width, height = self.size
        return 0 <= x < width and 0 <= y < height

    def add_point(self, x: int, y: int, label: int) -> None:
        """Add a click (working-copy pixels) to the selected object; its mask must then be recomputed."""
        if not self.has_image:
            raise ValueError("Upload an image first.")
        if not self.contains(x, y):
            width, height = self.size
            raise ValueError(f"The click ({x}, {y}) is outside the {width}×{height} image.")
        self.current.points.append((int(x), int(y), INCLUDE if label else EXCLUDE))
        self.current.added.append("point")

    def start_drag(self, x: int, y: int) -> None:
        """The first click of a drag: a point of the selected object (inside its mask) that should move."""
        if not self.current.has_mask:
            raise ValueError(f"Object {self.selected + 1} has no mask yet: click it in Include mode, then drag.")
        if not (self.contains(x, y) and self.current.mask[y, x]):
            raise ValueError(f"Start a drag on object {self.selected + 1}, inside its outline.")
        self.drag_start = (int(x), int(y))

    def finish_drag(self, x: int, y: int) -> tuple[float, float, float, float]:
        """The second click of a drag: where the started point should be at the last frame (anywhere in the
        image; the object may leave its mask)."""
        if self.drag_start is None:
            raise ValueError("Click a point of the object first, then where it should go.")
        if not self.contains(x, y):
            width, height = self.size
            raise ValueError(f"The drag's end ({x}, {y}) is outside the {width}×{height} image.")
        drag = (float(self.drag_start[0]), float(self.drag_start[1]), float(x), float(y))
        self.current.drags.append(drag)
        self.current.added.append("drag")
        self.drag_start = None
        return drag

    def undo_point(self) -> bool:
        """Undo the selected object's last click or drag (a drag's pending start first); False when there is
        nothing to undo."""
        obj = self.current
        if self.drag_start is not None:
            self.drag_start = None
            return True
        if not obj.points and not obj.drags:
            return False
        last = obj.added.pop() if obj.added else ("point" if obj.points else "drag")
        if last == "drag" and obj.drags:
            obj.drags.pop()
            return True
        obj.points.pop()
        if not obj.points:
            obj.mask = None
        return True

    def clear_object(self) -> None:
        """Remove the selected object's clicks, drags and mask (its prompt stays, to re-click the same motion)."""
        self.current.points.clear()
        self.current.drags.clear()
        self.current.added.clear()
        self.current.mask = None
        self.drag_start = None

    def clear_all(self) -> None:
        """Remove every object; one empty object stays selected."""
        self.objects = [ClickedObject()]
        self.selected = 0
        self.drag_start = None

    def add_object(self) -> bool:
        """Start a new object and select it; False (nothing added) while the selected one has no clicks."""
        if not self.current.points:
            return False
        self.objects.append(ClickedObject())
        self.selected = len(self.objects) - 1
        self.drag_start = None
        return True

    def select(self, index: int) -> None:
        if not 0 <= index < len(self.objects):
            raise ValueError(f"There is no object {index + 1}.")
        self.selected = index
        self.drag_start = None

    def set_prompt(self, prompt: str) -> None:
        self.current.prompt = (prompt or "").strip()

    def update_masks(self, segment: SegmentFunction, index: int | None = None) -> None:
        """Recompute the mask of object `index` (default: every object) from its clicks with `segment`."""
        for obj in self.objects if index is None else [self.objects[index]]:
            # Without an include click there is no object yet: exclude clicks alone wait for one.
            has_include = any(label == INCLUDE for _, _, label in obj.points)
            obj.mask = segment(self.image, obj.points) if has_include else None

    # ---- what generation needs ---------------------------------------------------------------------

    def regions(self) -> list[Region]:
        """The objects ready to animate (mask and prompt), as `fyc.Region`s at the working size; where they
        overlap, the pipeline gives the pixels to the later one (`fyc.region.exclusive_masks`)."""
        return [Region(obj.mask, obj.prompt) for obj in self.objects if obj.has_mask and obj.prompt]

    def strengths(self, default: float) -> list[float]:
        """Each of `regions()`' motion strength: its own, else `default`."""
        return [default if obj.ofm is None else obj.ofm for obj in self.objects if obj.has_mask and obj.prompt]

    def drags(self) -> list[list[tuple[float, float, float, float]]]:
        """Each of `regions()`' drags (working-copy pixels), in the same order."""
        return [list(obj.drags) for obj in self.objects if obj.has_mask and obj.prompt]

    def union_mask(self) -> np.ndarray:
        """Union of every object's mask (bool, working size)."""
        mask = np.zeros(self.image.shape[:2], bool)
        for obj in self.objects:
            if obj.has_mask:
                mask |= obj.mask
        return mask

    # ---- regions in the API's format ---------------------------------------------------------------

    def to_list(self) -> list[dict]:
        """Objects with clicks as `[{"points": [[x, y, label], ...], "prompt": ...}]` in source pixels (plus "ofm" and
        "drags" where an object has them)."""
        out = []
        for obj in self.objects:
            if obj.points:
                points = [[*self.to_source(x, y), label] for x, y, label in obj.points]
                out.append({"points": points, "prompt": obj.prompt})
                if obj.ofm is not None:
                    out[-1]["ofm"] = obj.ofm
                if obj.drags:
                    out[-1]["drags"] = [[round(v, 1) for v in self._scale(drag, to_source=True)] for drag in obj.drags]
        return out

    def to_json(self) -> str:
        """`to_list()` as JSON, one region per line."""
        return format_regions(self.to_list())

    def set_regions(self, regions: list[dict]) -> None:
        """Replace all objects by `regions` (source pixels, checked by `fyc.inputs.parse_regions`); their masks
        must then be recomputed (`update_masks`)."""
        self.objects = [
            ClickedObject(
                points=[(*self.to_working(x, y), int(label)) for x, y, label in region["points"]],
                prompt=region.get("prompt", "").strip(),
                drags=[self._scale(drag) for drag in region.get("drags", [])],
                ofm=region.get("ofm"),
            )
            for region in regions
        ] or [ClickedObject()]
        self.selected = 0
