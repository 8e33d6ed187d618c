"""Click → mask: SAM with cached image embeddings and a weight-free GrabCut-on-superpixels fallback.

    from fyc.segment import ClickSegmenter
    segmenter = ClickSegmenter.load()              # "sam-vit_h" / "sam-vit_b" / ... or "classical"
    mask = segmenter.predict([(x, y, 1)], image=rgb)

Several clicked objects with their prompts are `fyc.clicks.ClickedImage`.

Modules, one job each:

- `image_input`: images of any common format turned into what segmenters take (one set of rules for the app,
  the CLI and the API), and the content key of the per-image caches.
- `postprocess`: removes small islands and fills small holes in a mask.
- `sam_checkpoint`: finding, reading and sizing SAM checkpoints (weights-only loading).
- `sam_backend`: SAM's `SamPredictor` with an LRU cache of image embeddings.
- `classical`: the fallback when there are no SAM weights: GrabCut seeded from the clicks, with the object's
  size found by stability over a ladder of priors; the per-image work is done once in `set_image`.
- `superpixel_graph`: SLIC superpixels with GrabCut's smoothness summed over their borders (the graph the
  fallback cuts), and the pixel-level cut in a narrow band that puts the edge back on the pixels.
- `colour_model`: GrabCut's 5-component colour mixtures learnt from colour bins instead of pixels.
- `segmenter`: `ClickSegmenter`, SAM when weights exist, else the fallback; what the app and CLI use.

torch and segment-anything are imported only when a SAM model is loaded.
"""

from .image_input import image_key, to_rgb_uint8
from .postprocess import clean_mask
from .sam_checkpoint import (
    SamCheckpointError,
    SamConfig,
    build_sam,
    find_sam_checkpoint,
    infer_sam_config,
    load_sam,
    official_config,
    read_state_dict,
)
from .segmenter import ClickSegmenter

__all__ = [
    "ClickSegmenter",
    "SamCheckpointError",
    "SamConfig",
    "build_sam",
    "clean_mask",
    "find_sam_checkpoint",
    "image_key",
    "infer_sam_config",
    "load_sam",
    "official_config",
    "read_state_dict",
    "to_rgb_uint8",
]
