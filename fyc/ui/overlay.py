"""Draw the clicked objects over the image: a tinted mask and outline per object, and the click points.

Each object has its own colour (`object_color`); the selected object is outlined more heavily. Include
clicks are green dots, exclude clicks red dots with a white bar, both ringed in white so they show on
any background. Drags are arrows in their object's colour, outlined in white; a drag whose end is not clicked yet
shows as a white ring.
"""

from __future__ import annotations

import cv2
import numpy as np

# Distinct, colour-blind-friendly hues (Okabe-Ito, without black/grey), RGB.
PALETTE = [
    (0, 114, 178),
    (230, 159, 0),
    (204, 121, 167),
    (0, 158, 115),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
]
INCLUDE_COLOR = (40, 200, 60)
EXCLUDE_COLOR = (230, 40, 40)
MASK_ALPHA = 0.45


def object_color(index: int) -> tuple[int, int, int]:
    """The colour of object `index` (0-based), cycling through `PALETTE`."""
    return PALETTE[index % len(PALETTE)]


def draw_overlay(
    image: np.ndarray, objects, selected: int | None = None, drag_start: tuple[int, int] | None = None
) -> np.ndarray:
    """Return a copy of `image` (RGB uint8) with every object's mask, outline, points and drags drawn.

    Args:
        image: RGB uint8 (H, W, 3).
        objects: sequence of items with `.mask` (bool (H, W) or None), `.points` ([(x, y, label)]) and optionally
            `.drags` ([(x0, y0, x1, y1)]).
        selected: index of the selected object, outlined more heavily.
        drag_start: the first click of an unfinished drag.
    """
    canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    height, width = image.shape[:2]
    scale = max(height, width)
    for index, obj in enumerate(objects):
        if obj.mask is not None and obj.mask.any():
            # Blend one full-size colour layer with cv2 (fast), then keep it only inside the mask.
            tint = cv2.addWeighted(canvas, 1 - MASK_ALPHA, np.full_like(canvas, object_color(index)), MASK_ALPHA, 0)
            np.copyto(canvas, tint, where=obj.mask[..., None])

    for index, obj in enumerate(objects):
        if obj.mask is not None and obj.mask.any():
            contours, _ = cv2.findContours(obj.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            thickness = max(2, scale // 250) * (2 if index == selected else 1)
            cv2.drawContours(canvas, contours, -1, (255, 255, 255), thickness + 2, cv2.LINE_AA)
            cv2.drawContours(canvas, contours, -1, object_color(index), thickness, cv2.LINE_AA)

    radius = max(5, round(scale * 0.012))
    for obj in objects:
        for x, y, label in obj.points:
            center = (int(x), int(y))
            cv2.circle(canvas, center, radius + 2, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(canvas, center, radius, INCLUDE_COLOR if label else EXCLUDE_COLOR, -1, cv2.LINE_AA)
            if not label:
                bar = max(2, radius // 2)
                cv2.line(
                    canvas,
                    (center[0] - bar, center[1]),
                    (center[0] + bar, center[1]),
                    (255, 255, 255),
                    max(2, radius // 3),
                    cv2.LINE_AA,
                )
    width_px = max(2, scale // 200)
    for index, obj in enumerate(objects):
        for x0, y0, x1, y1 in getattr(obj, "drags", ()):
            start, end = (round(x0), round(y0)), (round(x1), round(y1))
            tip = min(0.4, 3 * radius / max(1.0, float(np.hypot(x1 - x0, y1 - y0))))
            cv2.arrowedLine(canvas, start, end, (255, 255, 255), width_px + 3, cv2.LINE_AA, tipLength=tip)
            cv2.arrowedLine(canvas, start, end, object_color(index), width_px, cv2.LINE_AA, tipLength=tip)
    if drag_start is not None:
        cv2.circle(canvas, tuple(int(v) for v in drag_start), radius + 3, (255, 255, 255), max(2, radius // 3))
    return canvas
