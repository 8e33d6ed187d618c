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
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


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


def two_object_scene() -> Scene:
    """Two touching objects from different photographs on a third: the negative-click scene."""
    background = photo("rocket")
    left_shape = blob_shape(130, 120, seed=4)
    right_shape = blob_shape(130, 120, seed=5)
    image, left = paste(background, photo("chelsea", (130, 120)), left_shape, 60, 60)
    image, right = paste(image, photo("coffee", (130, 120)), right_shape, 60, 150)
    left &= ~right
    return Scene("cat blob touching coffee blob on rocket", image, [left, right])
