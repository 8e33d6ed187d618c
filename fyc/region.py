"""`Region`: one thing to animate, a mask at the input image's size and its short motion prompt; and
`exclusive_masks`, the rule for regions that overlap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Region:
    """A region of the input image and the motion prompt that applies inside it.

    Args:
        mask: boolean array (H, W) at the input image's size; True where the region is.
        prompt: short motion prompt, e.g. "sway", "blink", "move left".
    """

    mask: np.ndarray
    prompt: str

    def __post_init__(self):
        mask = np.asarray(self.mask)
        if mask.ndim == 3 and mask.shape[-1] in (1, 3, 4):
            mask = mask[..., 0]
        if mask.ndim != 2:
            raise ValueError(f"Region mask must be a 2-D (H, W) array, got shape {mask.shape}.")
        self.mask = mask.astype(bool) if mask.dtype == bool else mask > (127 if mask.dtype == np.uint8 else 0.5)
        if not isinstance(self.prompt, str):
            raise ValueError(f"Region prompt must be a string, got {type(self.prompt).__name__}.")
        self.prompt = self.prompt.strip()


def exclusive_masks(masks) -> list[np.ndarray]:
    """Boolean (H, W) masks, in order, with every overlap given to the later mask (it was clicked on top of the
    earlier ones), so no two of the returned masks share a pixel and their union is unchanged."""
    taken = np.zeros(np.shape(masks[0]), dtype=bool)
    exclusive = []
    for mask in reversed(masks):
        mask = np.asarray(mask, dtype=bool)
        exclusive.append(mask & ~taken)
        taken |= mask
    return exclusive[::-1]
