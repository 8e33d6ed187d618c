"""`ClickSegmenter`: clicks in, a boolean mask out, with SAM when there are weights and GrabCut when not."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence

import numpy as np

from ..inputs import check_points
from .classical import ClassicalSegmenter
from .image_input import image_key, to_rgb_uint8
from .postprocess import clean_mask
from .sam_checkpoint import find_sam_checkpoint, load_sam

CLASSICAL = "classical"


class ClickSegmenter:
    """Turns clicks on an image into an object mask.

    Build it with `ClickSegmenter.load`. Typical use::

        segmenter = ClickSegmenter.load()          # SAM if weights/sam/ holds a checkpoint, else GrabCut
        segmenter.set_image(rgb)                   # the per-image work (SAM: the embedding), once per content
        mask = segmenter.predict([(120, 80, 1)])   # bool (H, W); label 1 = include, 0 = exclude
        mask = segmenter.predict([(120, 80, 1), (140, 95, 0)])

    ``predict(points, image=rgb)`` does both steps atomically, which is what a server with several
    sessions sharing one segmenter should call (the embedding cache makes the repeated ``set_image``
    free).

    Attributes:
        backend: "sam-vit_h", "sam-vit_l", "sam-vit_b", "sam-custom" or "classical".
        checkpoint: the SAM file in use, or None.
        island_fraction / hole_fraction: post-processing sizes, as fractions of the image area (see
            `fyc.segment.postprocess.clean_mask`); 0 turns a step off.
    """

    def __init__(
        self, engine, backend: str, checkpoint=None, island_fraction: float = 0.001, hole_fraction: float = 0.001
    ):
        self._engine = engine
        self.backend = backend
        self.checkpoint = checkpoint
        self.island_fraction = island_fraction
        self.hole_fraction = hole_fraction
        self._image: np.ndarray | None = None
        self._key: str | None = None
        self._lock = threading.RLock()

    @classmethod
    def load(
        cls,
        checkpoint: str | os.PathLike | None = None,
        prefer: str | None = None,
        weights_dir: str | os.PathLike | None = None,
        device=None,
        cache_size: int = 4,
        decoder_threads: int | None = None,
        **options,
    ) -> ClickSegmenter:
        """Pick and load a segmenter.

        Args:
            checkpoint: a SAM checkpoint file (``.pth``/``.pt``/``.bin``/``.ckpt``/``.safetensors``, any
                name; the ViT size is read from its tensors). None looks in ``<weights_dir>/sam/`` and,
                with several files there, takes the smallest on a CPU and the largest on a GPU.
            prefer: None or "auto" (SAM when a checkpoint is found, else the classical segmenter),
                "sam" (fail when there is no checkpoint) or "classical" (never load SAM).
            weights_dir: where to look for ``sam/``; default `fyc.weight_sources.weights_root()`
                (``$FYC_WEIGHTS_DIR``, else ``./weights``).
            device: torch device for SAM; default CUDA when available, else CPU.
            cache_size: how many images' SAM embeddings (or the classical segmenter's per-image
                preparation) to keep.
            decoder_threads: torch CPU threads per SAM click (None: torch's setting); see `SamClickBackend`.
            **options: ``island_fraction``, ``hole_fraction``, and for the classical segmenter
                ``work_size``, ``iterations``, ``superpixel_area`` and ``colour_step``.

        Raises:
            ValueError: the checkpoint cannot be read (`fyc.checkpoint_io.CorruptWeightsError`), carries
                pickled code (`UnsafeCheckpointError`) or is not a SAM model (`SamCheckpointError`); the
                message names the file.
            FileNotFoundError: the given checkpoint does not exist, or ``prefer="sam"`` and none was found.
        """
        prefer = (prefer or "auto").lower()
        if prefer not in ("auto", "sam", CLASSICAL):
            raise ValueError(f"prefer must be None, 'auto', 'sam' or 'classical', got {prefer!r}.")
        post = {key: options.pop(key) for key in ("island_fraction", "hole_fraction") if key in options}
        if prefer != CLASSICAL:
            device = device if device is not None else _default_device()
            path = checkpoint if checkpoint is not None else find_sam_checkpoint(weights_dir, largest=device != "cpu")
            if path is not None:
                if options:
                    raise TypeError(f"Unknown options for the SAM segmenter: {sorted(options)}.")
                return cls._load_sam(path, device, cache_size, decoder_threads, **post)
            if prefer == "sam":
                where = weights_dir if weights_dir is not None else "weights"
                raise FileNotFoundError(
                    f"No SAM checkpoint given and none found in {where}/sam/. Put one there (any name; "
                    "e.g. sam_vit_b_01ec64.pth from the segment-anything release) or pass checkpoint=PATH."
                )
        return cls(ClassicalSegmenter(cache_size=cache_size, **options), CLASSICAL, **post)

    @classmethod
    def _load_sam(cls, path, device, cache_size, decoder_threads, **post) -> ClickSegmenter:
        from .sam_backend import SamClickBackend

        sam, config = load_sam(path, device=device)
        engine = SamClickBackend(sam, cache_size=cache_size, decoder_threads=decoder_threads)
        return cls(engine, f"sam-{config.model_type}", checkpoint=path, **post)

    @property
    def is_approximate(self) -> bool:
        """True for the weight-free segmenter, whose masks the UI should label approximate."""
        return self.backend == CLASSICAL

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(height, width) of the current image, or None before `set_image`."""
        return None if self._image is None else self._image.shape[:2]

    def cache_info(self) -> dict:
        """Per-image cache counters: ``computed`` embeddings (SAM) or preparations (classical), ``hits``,
        ``size`` and ``max_size``."""
        engine = self._engine
        if not hasattr(engine, "embeddings_computed"):
            return {"computed": 0, "hits": 0, "size": 0, "max_size": 0}
        return {
            "computed": engine.embeddings_computed,
            "hits": engine.cache_hits,
            "size": len(engine._cache),
            "max_size": engine.cache_size,
        }

    def set_image(self, image) -> bool:
        """Make ``image`` the one clicks refer to.

        ``image`` may be RGB uint8 (H, W, 3) or anything `fyc.segment.image_input.to_rgb_uint8`
        converts (grayscale, RGBA, 16-bit, float in 0..1, PIL images).

        Returns:
            True when work was done for a new image (SAM: its embedding; classical: its superpixel
            graph and colour bins), False when the image (same pixels) was current already or came
            from the cache.
        """
        rgb = to_rgb_uint8(image)
        key = image_key(rgb)
        with self._lock:
            computed = self._engine.set_image(rgb, key)
            self._image, self._key = rgb, key
            return computed

    def predict(self, points: Iterable[Sequence[float]], image=None) -> np.ndarray:
        """Mask of the object the clicks point at.

        Args:
            points: ``[(x, y, label), ...]`` in image pixels (x right, y down), label 1 = include,
                0 = exclude; at least one include point.
            image: optional; when given, `set_image(image)` is done first under the same lock.

        Returns:
            bool array (H, W) at the image's size.

        Raises:
            ValueError: no points, malformed points or points outside the image (see `check_points`).
            RuntimeError: no image was set.
        """
        with self._lock:
            if image is not None:
                self.set_image(image)
            if self._image is None:
                raise RuntimeError("Call set_image(image) before predict(points), or pass image=.")
            checked = check_points(points, self._image.shape[:2])
            if self.backend == CLASSICAL:
                mask = self._engine.predict(checked)
            else:
                mask, _ = self._engine.predict(checked)
        return clean_mask(mask, checked, self.island_fraction, self.hole_fraction)

    def __repr__(self) -> str:
        where = f", checkpoint={str(self.checkpoint)!r}" if self.checkpoint else ""
        return f"{type(self).__name__}(backend={self.backend!r}{where})"


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
