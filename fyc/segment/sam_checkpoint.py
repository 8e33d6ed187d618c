"""SAM checkpoints: find them, read them safely, tell ViT-H/L/B apart from the tensors, build the model.

The official files (``sam_vit_h_4b8939.pth``, ``sam_vit_l_0b3195.pth``, ``sam_vit_b_01ec64.pth``) are
plain state dicts of ``segment_anything.modeling.Sam``; people rename them, convert them to
safetensors, or save their own fine-tunes, so the file name says nothing. Every architecture number
that changes a tensor's shape is read from the shapes instead (`infer_sam_config`), which also lets a
small test model load through exactly the same code as the real ones.

Checkpoints are read with ``torch.load(..., weights_only=True)`` (a pickle that carries code is refused
without running it) or with safetensors.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ..weight_sources import DEFAULT_SAM, SAM_DIR, download_command, weights_root

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
FETCH_HINT = download_command(DEFAULT_SAM)

# encoder (embed_dim, depth, num_heads, global_attn_indexes) of the published models, as in
# segment_anything/build_sam.py.
OFFICIAL_ENCODERS = {
    "vit_h": (1280, 32, 16, (7, 15, 23, 31)),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23)),
    "vit_b": (768, 12, 12, (2, 5, 8, 11)),
}
# Not stored in checkpoints (non-persistent buffers / constructor constants of build_sam.py).
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)
DECODER_NUM_HEADS = 8  # does not change any tensor shape, so it cannot be read from a file


class SamCheckpointError(ValueError):
    """A file that should hold a SAM checkpoint could not be read or does not fit SAM."""


@dataclass(frozen=True)
class SamConfig:
    """Every hyper-parameter of ``segment_anything.modeling.Sam`` that `_build_sam` sets."""

    encoder_embed_dim: int = 768
    encoder_depth: int = 12
    encoder_num_heads: int = 12
    encoder_global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    image_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    mlp_ratio: float = 4.0
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = DECODER_NUM_HEADS
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    pixel_mean: tuple[float, ...] = field(default=PIXEL_MEAN)
    pixel_std: tuple[float, ...] = field(default=PIXEL_STD)

    @property
    def model_type(self) -> str:
        """ "vit_h", "vit_l" or "vit_b" for the published architectures, "custom" otherwise."""
        encoder = (self.encoder_embed_dim, self.encoder_depth, self.encoder_num_heads, self.encoder_global_attn_indexes)
        for name, official in OFFICIAL_ENCODERS.items():
            if encoder == official and self._has_official_rest():
                return name
        return "custom"

    def _has_official_rest(self) -> bool:
        return (
            self.image_size,
            self.patch_size,
            self.window_size,
            self.mlp_ratio,
            self.prompt_embed_dim,
            self.mask_in_chans,
            self.decoder_depth,
            self.decoder_mlp_dim,
            self.num_multimask_outputs,
            self.iou_head_depth,
            self.iou_head_hidden_dim,
        ) == (1024, 16, 14, 4.0, 256, 16, 2, 2048, 3, 3, 256)


def official_config(model_type: str) -> SamConfig:
    """The `SamConfig` of a published model: "vit_h", "vit_l" or "vit_b"."""
    if model_type not in OFFICIAL_ENCODERS:
        raise ValueError(f"Unknown SAM model type {model_type!r}; expected one of {sorted(OFFICIAL_ENCODERS)}.")
    embed_dim, depth, num_heads, global_indexes = OFFICIAL_ENCODERS[model_type]
    return SamConfig(embed_dim, depth, num_heads, global_indexes)


def build_sam(config: SamConfig):
    """A ``segment_anything.modeling.Sam`` with ``config``, randomly initialised, in eval mode.

    Mirrors ``segment_anything.build_sam._build_sam`` with every number taken from ``config``; call it
    under ``torch.device("meta")`` to get the structure without allocating weights.
    """
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    embedding_size = config.image_size // config.patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=config.encoder_depth,
            embed_dim=config.encoder_embed_dim,
            img_size=config.image_size,
            mlp_ratio=config.mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=config.encoder_num_heads,
            patch_size=config.patch_size,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=config.encoder_global_attn_indexes,
            window_size=config.window_size,
            out_chans=config.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=config.prompt_embed_dim,
            image_embedding_size=(embedding_size, embedding_size),
            input_image_size=(config.image_size, config.image_size),
            mask_in_chans=config.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=config.num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=config.decoder_depth,
                embedding_dim=config.prompt_embed_dim,
                mlp_dim=config.decoder_mlp_dim,
                num_heads=config.decoder_num_heads,
            ),
            transformer_dim=config.prompt_embed_dim,
            iou_head_depth=config.iou_head_depth,
            iou_head_hidden_dim=config.iou_head_hidden_dim,
        ),
        pixel_mean=list(config.pixel_mean),
        pixel_std=list(config.pixel_std),
    )
    return sam.eval()


def infer_sam_config(state_dict) -> SamConfig:
    """Read a `SamConfig` from the tensor shapes of a SAM state dict (tensors may be on the meta device).

    Raises:
        SamCheckpointError: the keys are not those of ``segment_anything``'s ``Sam``.
    """

    def shape(key):
        if key not in state_dict:
            raise SamCheckpointError(
                f"missing tensor {key!r}: this is not a segment-anything SAM state dict "
                "(Hugging Face transformers' SamModel files use other names; use the original .pth)"
            )
        return tuple(state_dict[key].shape)

    embed_dim, _, patch_size, _ = shape("image_encoder.patch_embed.proj.weight")
    grid = shape("image_encoder.pos_embed")[1]
    depth = _count_indexed(state_dict, "image_encoder.blocks.")
    if depth == 0:
        raise SamCheckpointError("no image_encoder.blocks.* tensors: this is not a SAM state dict")
    rel_pos_len, head_dim = shape("image_encoder.blocks.0.attn.rel_pos_h")
    global_indexes, window_sizes = [], set()
    for index in range(depth):
        length = shape(f"image_encoder.blocks.{index}.attn.rel_pos_h")[0]
        # A block's relative positions span 2*size-1: the whole grid for global attention, a window otherwise.
        if length == 2 * grid - 1:
            global_indexes.append(index)
        else:
            window_sizes.add((length + 1) // 2)
    if len(window_sizes) > 1:
        raise SamCheckpointError(f"blocks use different window sizes {sorted(window_sizes)}; SAM uses one")
    mlp_dim = shape("image_encoder.blocks.0.mlp.lin1.weight")[0]
    return SamConfig(
        encoder_embed_dim=embed_dim,
        encoder_depth=depth,
        encoder_num_heads=embed_dim // head_dim,
        encoder_global_attn_indexes=tuple(global_indexes),
        image_size=grid * patch_size,
        patch_size=patch_size,
        window_size=window_sizes.pop() if window_sizes else 14,
        mlp_ratio=mlp_dim / embed_dim,
        prompt_embed_dim=shape("image_encoder.neck.0.weight")[0],
        mask_in_chans=shape("prompt_encoder.mask_downscaling.3.weight")[0],
        decoder_depth=_count_indexed(state_dict, "mask_decoder.transformer.layers."),
        decoder_mlp_dim=shape("mask_decoder.transformer.layers.0.mlp.lin1.weight")[0],
        num_multimask_outputs=shape("mask_decoder.mask_tokens.weight")[0] - 1,
        iou_head_depth=_count_indexed(state_dict, "mask_decoder.iou_prediction_head.layers."),
        iou_head_hidden_dim=shape("mask_decoder.iou_prediction_head.layers.0.weight")[0],
    )


def _count_indexed(state_dict, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indexes = {int(match.group(1)) for key in state_dict if (match := pattern.match(key))}
    return max(indexes) + 1 if indexes else 0


def read_state_dict(path: str | os.PathLike) -> dict:
    """Read a SAM state dict from ``.safetensors`` or a torch pickle, safely (`fyc.checkpoint_io`).

    Accepts the bare state dict of the official files and the wrappers `fyc.checkpoint_io` undoes
    (``{"state_dict": ...}``, keys prefixed with ``module.``). Floating tensors are returned as float32.

    Raises:
        FileNotFoundError, CorruptWeightsError, UnsafeCheckpointError (from `fyc.checkpoint_io`) and
        SamCheckpointError: each naming the file.
    """
    from ..checkpoint_io import load_checkpoint

    path = Path(path)
    if path.suffix not in CHECKPOINT_SUFFIXES:
        raise SamCheckpointError(
            f"{path} is not a checkpoint file this loader reads; use one of {', '.join(CHECKPOINT_SUFFIXES)}."
        )
    raw = load_checkpoint(path, fetch_hint=FETCH_HINT)
    return {key: tensor.float() if tensor.is_floating_point() else tensor for key, tensor in raw.items()}


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"


def load_sam(path: str | os.PathLike, device=None):
    """Load a SAM checkpoint of any of the published sizes (or a custom one) from ``path``.

    The model is built on the meta device and the file's tensors are assigned into it, so loading
    ViT-H does not first spend seconds on a random initialisation that would be overwritten.

    Returns:
        ``(sam, config)``: the ``Sam`` module in eval mode on ``device`` and its `SamConfig`.

    Raises:
        SamCheckpointError: naming the file, when it cannot be read or does not fit SAM.
    """
    import torch

    state_dict = read_state_dict(path)
    try:
        config = infer_sam_config(state_dict)
        with torch.device("meta"):
            sam = build_sam(config)
        sam.load_state_dict(state_dict, strict=True, assign=True)
    except (RuntimeError, ValueError, KeyError) as error:
        raise SamCheckpointError(
            f"SAM checkpoint {path} does not fit segment-anything's Sam: {_first_line(error)}"
        ) from error
    # Non-persistent buffers are not in the file: give them their real values.
    sam.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(-1, 1, 1), persistent=False)
    sam.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(-1, 1, 1), persistent=False)
    leftover = [name for name, tensor in [*sam.named_parameters(), *sam.named_buffers()] if tensor.is_meta]
    if leftover:
        raise SamCheckpointError(f"SAM checkpoint {path} lacks tensors for {leftover[:5]}.")
    if device is not None:
        sam = sam.to(device)
    return sam.eval(), config


def find_sam_checkpoint(weights_dir: str | os.PathLike | None = None, largest: bool = False) -> Path | None:
    """The SAM checkpoint under ``<weights folder>/sam/`` (any name, any of `CHECKPOINT_SUFFIXES`), or None.
    The weights folder is `fyc.weight_sources.weights_root(weights_dir)`.

    With several files, the smallest is returned unless ``largest``: on a CPU the image embedding of the
    smallest model is several times faster (docs/results/click_latency.md), while on a GPU the largest (most
    accurate) model costs little.
    """
    folder = weights_root(weights_dir) / SAM_DIR
    if not folder.is_dir():
        return None
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES]
    if not files:
        return None
    sign = -1 if largest else 1
    return min(files, key=lambda p: (sign * p.stat().st_size, p.name))
