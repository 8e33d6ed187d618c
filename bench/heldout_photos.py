"""Held-out photographs of the motion-model checks: none is in the training split of `fyc.data.synthetic.PHOTOS`.

Each comes with a package (no download) and a hand-chosen region (an ellipse over an object, in fractions of the
photo's width and height) for the prompts of the checks. Photos are used at their own resolution; the two greyscale
ones are converted to RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class HeldoutPhoto:
    name: str
    what: str  # the object the region covers
    source: str
    licence: str
    ellipse: tuple[float, float, float, float]  # centre x, centre y, half-width, half-height, fractions of W, H
    second: tuple[float, float, float, float] | None = None  # a second object, for the two-region check


# A table: name, the object, where the photo comes from; its licence, the region (and a second one).
# fmt: off
PHOTOS = [
    HeldoutPhoto("rocket", "the rocket", "skimage.data.rocket",
                 "public domain (SpaceX)", (0.5, 0.5, 0.05, 0.32), (0.71, 0.55, 0.04, 0.3)),
    HeldoutPhoto("coins", "a coin", "skimage.data.coins",
                 "no known copyright restrictions (Brooklyn Museum)", (0.12, 0.18, 0.08, 0.11), (0.73, 0.64, 0.08, 0.11)),
    HeldoutPhoto("grace_hopper", "her head", "matplotlib sample_data grace_hopper.jpg",
                 "public domain (U.S. Navy)", (0.5, 0.3, 0.2, 0.25), (0.5, 0.85, 0.3, 0.12)),
    HeldoutPhoto("moon", "the dark crater field", "skimage.data.moon",
                 "no known copyright restrictions (NASA)", (0.5, 0.82, 0.12, 0.1)),
    HeldoutPhoto("clock", "the clock", "skimage.data.clock",
                 "CC0 (Stefan van der Walt)", (0.55, 0.45, 0.2, 0.3)),
    HeldoutPhoto("colorwheel", "the colour wheel", "skimage.data.colorwheel",
                 "CC0 (Stefan van der Walt)", (0.5, 0.5, 0.3, 0.3)),
    HeldoutPhoto("motorcycle", "the motorcycle", "skimage.data.stereo_motorcycle (left view)",
                 "free for research (Middlebury 2014 stereo)", (0.5, 0.6, 0.42, 0.32)),
    HeldoutPhoto("china", "the pagoda", "sklearn.datasets.load_sample_image('china.jpg')",
                 "CC BY 2.0 (danielbuechele, Flickr)", (0.4, 0.5, 0.25, 0.4), (0.85, 0.8, 0.12, 0.15)),
    HeldoutPhoto("flower", "the flower", "sklearn.datasets.load_sample_image('flower.jpg')",
                 "CC BY 2.0 (vultilion, Flickr)", (0.53, 0.37, 0.25, 0.3)),
]
# fmt: on
BY_NAME = {p.name: p for p in PHOTOS}


def load(name: str) -> np.ndarray:
    """uint8 RGB (H, W, 3) of a held-out photo, at its own resolution."""
    if name not in BY_NAME:
        raise ValueError(f"Unknown held-out photo {name!r}; choose from {', '.join(BY_NAME)}.")
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        image = load_sample_image(f"{name}.jpg")
    elif name == "grace_hopper":
        from matplotlib import cbook
        from PIL import Image

        image = np.asarray(Image.open(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))).convert("RGB"))
    elif name == "motorcycle":
        import skimage.data
        from skimage import io

        image = io.imread(Path(skimage.data.__file__).parent / "motorcycle_left.png")
    else:
        import skimage.data

        image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def ellipse_mask(shape: tuple[int, int], ellipse) -> np.ndarray:
    height, width = shape
    cx, cy, rx, ry = ellipse
    ys, xs = np.mgrid[0:height, 0:width]
    return ((xs / width - cx) / rx) ** 2 + ((ys / height - cy) / ry) ** 2 <= 1.0


def region(name: str, which: int = 0) -> np.ndarray:
    """Bool mask of the photo's first (or second) object."""
    photo = BY_NAME[name]
    ellipse = photo.ellipse if which == 0 else photo.second
    if ellipse is None:
        raise ValueError(f"{name} has no second region")
    return ellipse_mask(load(name).shape[:2], ellipse)
