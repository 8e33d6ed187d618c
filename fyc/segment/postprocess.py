"""Mask clean-up after a click: drop small islands, fill small holes.

SAM (and GrabCut) leave specks where a texture resembles the clicked object and pinholes where a
highlight does not; both look like flicker once the region is animated. Sizes are fractions of the
image area, so the same setting behaves alike on a thumbnail and on a photo.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def clean_mask(
    mask: np.ndarray,
    points: Sequence[tuple[float, float, int]] = (),
    island_fraction: float = 0.001,
    hole_fraction: float = 0.001,
) -> np.ndarray:
    """Remove islands and fill holes smaller than a fraction of the image area.

    An island holding an include point is always kept (the user asked for it, however small), and a
    hole holding an exclude point is never filled.

    Args:
        mask: bool array (H, W).
        points: the clicks ``(x, y, label)`` that produced the mask, in pixels.
        island_fraction: connected foreground parts smaller than this share of H*W are removed; 0 keeps all.
        hole_fraction: background parts enclosed by the mask and smaller than this share of H*W
            are filled; 0 fills none.

    Returns:
        A new bool array (H, W).
    """
    mask = np.asarray(mask, dtype=bool)
    area = mask.shape[0] * mask.shape[1]
    include = [(x, y) for x, y, label in points if label == 1]
    exclude = [(x, y) for x, y, label in points if label == 0]
    if island_fraction > 0:
        mask = _drop_small_components(mask, island_fraction * area, protected=include)
    if hole_fraction > 0:
        # A hole is a background component that does not touch the border; padding the inverse with a
        # background frame makes every border-touching part one component with the frame.
        inverse = np.pad(~mask, 1, constant_values=True)
        protected = [(x + 1, y + 1) for x, y in exclude] + [(0, 0)]
        inverse = _drop_small_components(inverse, hole_fraction * area, protected=protected)
        mask = ~inverse[1:-1, 1:-1]
    return mask


def _drop_small_components(mask: np.ndarray, min_area: float, protected) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False  # label 0 is the background of `mask`
    for x, y in protected:
        label = labels[int(y), int(x)]
        if label != 0:
            keep[label] = True
    return keep[labels]
