"""Click → mask: SAM with cached image embeddings, a weight-free GrabCut fallback, several objects.

    from fyc.segment import ClickSegmenter, Regions
    segmenter = ClickSegmenter.load()              # "sam-vit_h" / "sam-vit_b" / ... or "classical"
    mask = segmenter.predict([(x, y, 1)], image=rgb)

    regions = Regions(image=rgb, segmenter=segmenter)
    regions.add_object("sway"); regions.add_point(x, y)
    regions.to_regions()                           # [fyc.Region(mask, "sway"), ...] for the pipeline

Modules, one job each: `image_input` (image and click validation), `postprocess` (islands and
holes), `classical` (GrabCut fallback), `sam_checkpoint` (finding, reading and sizing SAM files),
`sam_backend` (SamPredictor with an embedding cache), `segmenter` (`ClickSegmenter`), `objects`
(`Regions`). torch and segment-anything are imported only when a SAM model is loaded.
"""

from .image_input import check_points, image_key, to_rgb_uint8
from .objects import ClickObject, Regions
from .postprocess import clean_mask
from .sam_checkpoint import (
    SamCheckpointError,
    SamConfig,
    build_sam,
    default_weights_dir,
    find_sam_checkpoint,
    infer_sam_config,
    load_sam,
    official_config,
    read_state_dict,
)
from .segmenter import ClickSegmenter

__all__ = [
    "ClickObject",
    "ClickSegmenter",
    "Regions",
    "SamCheckpointError",
    "SamConfig",
    "build_sam",
    "check_points",
    "clean_mask",
    "default_weights_dir",
    "find_sam_checkpoint",
    "image_key",
    "infer_sam_config",
    "load_sam",
    "official_config",
    "read_state_dict",
    "to_rgb_uint8",
]
