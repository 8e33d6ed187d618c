"""Synthetic click scenes with exact ground truth: an object cut from one real photograph and pasted
onto another. The photographs ship inside scikit-image (``skimage.data``), so nothing is downloaded.

Each scene gives the composite image, the object masks and, for each object, the click a user would
make: its deepest interior point (the maximum of the distance transform).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import skimage.data
from scipy import ndimage

HEIGHT, WIDTH = 240, 320


@dataclass
class Scene:
    name: str
    image: np.ndarray  # uint8 (H, W, 3)
    masks: list[np.ndarray]  # bool (H, W), one per pasted object, later objects on top

    def click(self, index: int = 0) -> tuple[int, int]:
        """(x, y) of the deepest interior point of object ``index``."""
        return deepest_point(self.masks[index])


def deepest_point(mask: np.ndarray) -> tuple[int, int]:
    # Padding makes the image border count as outside, so the point is deep inside the visible part.
    distance = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def next_click(mask: np.ndarray | None, truth: np.ndarray) -> tuple[int, int, int]:
    """The click a careful user makes next, as in interactive-segmentation benchmarks (NoC@IoU):
    at the deepest point of the larger error, include (1) where the mask misses the object, exclude
    (0) where it spills over. The first click (``mask`` None) is the object's deepest point."""
    if mask is None:
        return (*deepest_point(truth), 1)
    missed, spilled = truth & ~mask, mask & ~truth

    def depth(error):
        return cv2.distanceTransform(np.pad(error, 1).astype(np.uint8), cv2.DIST_L2, 5).max()

    if depth(missed) >= depth(spilled):
        return (*deepest_point(missed), 1)
    return (*deepest_point(spilled), 0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def photo(name: str, size: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    """A skimage.data photograph as RGB uint8, centre-cropped to the aspect ratio of ``size`` and resized."""
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    height, width = size
    src_h, src_w = image.shape[:2]
    scale = max(height / src_h, width / src_w)
    crop_h, crop_w = round(height / scale), round(width / scale)
    top, left = (src_h - crop_h) // 2, (src_w - crop_w) // 2
    image = image[top : top + crop_h, left : left + crop_w]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def horse_shape(height: int, width: int) -> np.ndarray:
    """The horse silhouette of skimage.data.horse (legs, tail and ears: thin parts) resized to (height, width)."""
    horse = ~skimage.data.horse()  # the file stores the horse as False on a True background
    return cv2.resize(horse.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)


def blob_shape(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random blob: thresholded low-frequency noise inside an ellipse, one part without holes."""
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.standard_normal((6, 6)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:height, 0:width]
    ellipse = ((yy - height / 2) / (height / 2)) ** 2 + ((xx - width / 2) / (width / 2)) ** 2
    field = 1.0 - ellipse + 0.35 * noise
    blob = field > 0.35
    count, labels, stats, _ = cv2.connectedComponentsWithStats(blob.astype(np.uint8))
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return ndimage.binary_fill_holes(labels == largest)


def paste(background: np.ndarray, source: np.ndarray, shape: np.ndarray, top: int, left: int):
    """Paste ``source`` pixels where ``shape`` is True at (top, left); returns (image, full-size mask)."""
    image = background.copy()
    mask = np.zeros(background.shape[:2], dtype=bool)
    h, w = shape.shape
    mask[top : top + h, left : left + w] = shape
    patch = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)
    region = image[top : top + h, left : left + w]
    region[shape] = patch[shape]
    return image, mask


def fallback_scenes() -> list[Scene]:
    """Single-object scenes for the weight-free segmenter: distinct objects on real photographs."""
    scenes = []
    image, mask = paste(photo("astronaut"), photo("chelsea", (150, 180)), horse_shape(150, 180), 60, 90)
    scenes.append(Scene("cat-textured horse on astronaut", image, [mask]))
    image, mask = paste(photo("rocket"), photo("coffee", (120, 140)), blob_shape(120, 140, seed=1), 70, 40)
    scenes.append(Scene("coffee blob on rocket", image, [mask]))
    image, mask = paste(photo("chelsea"), photo("astronaut", (110, 150)), blob_shape(110, 150, seed=2), 30, 150)
    scenes.append(Scene("astronaut blob on cat", image, [mask]))
    image, mask = paste(photo("coffee"), photo("rocket", (130, 110)), blob_shape(130, 110, seed=3), 90, 190)
    scenes.append(Scene("rocket blob on coffee", image, [mask]))
    return scenes


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def random_scenes(count: int, seed: int = 0) -> list[Scene]:
    """``count`` single-object scenes: a random photo's crop, in a horse or blob shape of random size
    (15-60 % of the image height) and place, pasted onto a different photo."""
    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(count):
        background, source = rng.choice(len(PHOTOS), 2, replace=False)
        size = rng.uniform(0.15, 0.6)
        height = int(HEIGHT * size)
        width = int(height * rng.uniform(0.8, 1.4))
        if rng.random() < 0.3:
            shape = horse_shape(height, width)
        else:
            shape = blob_shape(height, width, seed=int(rng.integers(1_000_000)))
        top = int(rng.integers(5, HEIGHT - height - 5))
        left = int(rng.integers(5, WIDTH - width - 5))
        image, mask = paste(photo(PHOTOS[background]), photo(PHOTOS[source], (height, width)), shape, top, left)
        scenes.append(Scene(f"{PHOTOS[source]} ({size:.0%} high) on {PHOTOS[background]}", image, [mask]))
    return scenes


def two_object_scene(same_texture: bool = False) -> Scene:
    """Two touching objects on a third photograph: the multi-click and exclude-click scene.

    With ``same_texture`` both are cut from the cat photo (the second mirrored), so colour cannot tell
    them apart and only an exclude click can.
    """
    background = photo("rocket")
    left_source = photo("chelsea", (130, 120))
    right_source = left_source[:, ::-1] if same_texture else photo("coffee", (130, 120))
    image, left = paste(background, left_source, blob_shape(130, 120, seed=4), 60, 60)
    image, right = paste(image, right_source, blob_shape(130, 120, seed=5), 60, 150)
    left &= ~right
    kind = "two cat blobs" if same_texture else "cat blob and coffee blob"
    return Scene(f"{kind} touching on rocket", image, [left, right])
