"""SAM behind a click interface: image embeddings cached by content, clicks run only the mask decoder."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np


class SamClickBackend:
    """``SamPredictor`` with a small LRU of image embeddings.

    ``SamPredictor.set_image`` recomputes the embedding on every call; a click UI sets the same image
    again and again (each request, each browser session, switching between two uploads), and on a CPU
    the embedding costs seconds while a click costs tens of milliseconds. So embeddings are kept per
    image content and the predictor's state is restored from the cache on a hit.

    Args:
        sam: a ``segment_anything.modeling.Sam``.
        cache_size: how many images' embeddings to keep (ViT-* embeddings are 4 MiB each).
        decoder_threads: torch CPU threads for a click (set for the call, in the calling thread only);
            None (default) leaves torch's setting. The decoder's tensors are small, so a second thread gains
            little on an idle machine and waits for a busy core on a shared one: servers that generate
            while others click may pass 1 (docs/results/click_latency.md). The embedding always uses
            torch's setting.
    """

    def __init__(self, sam, cache_size: int = 4, decoder_threads: int | None = None):
        from segment_anything import SamPredictor

        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}.")
        import torch

        self.predictor = SamPredictor(sam)
        # The positional encoding of the embedding grid depends only on the model; SAM recomputes it
        # for every click (a 64x64x256 sin/cos), a sizeable share of a click on a CPU.
        with torch.no_grad():
            self._image_pe = sam.prompt_encoder.get_dense_pe()
        self.cache_size = cache_size
        self.decoder_threads = decoder_threads
        self._cache: OrderedDict[str, tuple] = OrderedDict()
        self._current_key: str | None = None
        self.embeddings_computed = 0
        self.cache_hits = 0

    def set_image(self, rgb: np.ndarray, key: str) -> bool:
        """Make ``rgb`` (uint8 H x W x 3, content hash ``key``) current; True when its embedding was computed."""
        if key == self._current_key and self.predictor.is_image_set:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return False
        if key in self._cache:
            features, original_size, input_size = self._cache[key]
            self._cache.move_to_end(key)
            self.predictor.features = features
            self.predictor.original_size = original_size
            self.predictor.input_size = input_size
            self.predictor.is_image_set = True
            self._current_key = key
            self.cache_hits += 1
            return False
        self.predictor.set_image(rgb, image_format="RGB")
        self.embeddings_computed += 1
        self._cache[key] = (self.predictor.features, self.predictor.original_size, self.predictor.input_size)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self._current_key = key
        return True

    def predict(self, points: Sequence[tuple[float, float, int]]) -> tuple[np.ndarray, float]:
        """Mask (bool, image size) and SAM's predicted IoU for validated clicks on the current image.

        One click is ambiguous (a shirt or the person wearing it), so SAM's three multimask outputs are
        scored and the best is kept; with several clicks the single-mask output is used, as SAM's
        authors recommend. Only the chosen low-resolution mask is upsampled to the image size
        (``SamPredictor.predict`` upsamples all three, through 1024 x 1024, and then picks one).
        """
        import torch

        predictor = self.predictor
        if not predictor.is_image_set:
            raise RuntimeError("Call set_image(image) before predict(points).")
        model = predictor.model
        coords = np.array([[x, y] for x, y, _ in points], dtype=np.float32)
        labels = np.array([label for _, _, label in points], dtype=np.int64)
        coords = predictor.transform.apply_coords(coords, predictor.original_size)
        multimask = len(points) == 1
        threads = self.decoder_threads if predictor.device.type == "cpu" else None
        with torch_threads(threads), torch.inference_mode():
            coords_torch = torch.as_tensor(coords, dtype=torch.float, device=predictor.device)[None]
            labels_torch = torch.as_tensor(labels, dtype=torch.int, device=predictor.device)[None]
            sparse, dense = model.prompt_encoder(points=(coords_torch, labels_torch), boxes=None, masks=None)
            low_res_masks, iou_predictions = model.mask_decoder(
                image_embeddings=predictor.features,
                image_pe=self._image_pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
            )
            best = int(torch.argmax(iou_predictions[0]))
            logits = model.postprocess_masks(
                low_res_masks[:, best : best + 1], predictor.input_size, predictor.original_size
            )
            mask = (logits[0, 0] > model.mask_threshold).cpu().numpy()
        return mask, float(iou_predictions[0, best])


@contextmanager
def torch_threads(count: int | None):
    """Run the block with ``count`` torch intra-op threads, restoring the previous count after.

    ``torch.set_num_threads`` changes the calling thread's OpenMP setting (other running threads keep
    theirs), so this is safe in a server whose other threads run the pipeline.
    """
    import torch

    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
