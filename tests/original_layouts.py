"""Write tiny models in the ORIGINAL on-disk layouts that public checkpoints use, for loader tests.

- Stable Diffusion 1.x single file (LDM/CompVis keys): `model.diffusion_model.*` (UNet), `first_stage_model.*`
  (VAE, attention projections as 1x1 convolutions), `cond_stage_model.transformer.text_model.*` (CLIP).
- AnimateDiff motion module (mm_sd_v15_v2.ckpt): `...motion_modules.N.temporal_transformer.transformer_blocks.0.
  attention_blocks.{0,1}.*`, `norms.{0,1}`, `ff_norm`, and a `pos_encoder.pe` buffer in every attention block.

These are the inverses of the key maps in diffusers' `loaders/single_file_utils.py` (convert_ldm_unet_checkpoint,
convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint, convert_animatediff_checkpoint_to_diffusers), written
for the diffusers configs at hand, so loading what they write through diffusers must give the tensors back.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

# -- Stable Diffusion (LDM layout) ------------------------------------------------------------------------------

_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def _resnet_key(rest: str, table: dict) -> str:
    layer, param = rest.split(".", 1)
    return f"{table.get(layer, layer)}.{param}"


def unet_to_ldm(state: dict, config) -> dict:
    """A diffusers UNet2DConditionModel state dict → LDM `model.diffusion_model.*` keys."""
    per_block = config["layers_per_block"] + 1  # LDM slots per down block: resnets (+attn) and the downsampler
    up_has_attention = [t.startswith("CrossAttn") for t in config["up_block_types"]]
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        top = next((dif for dif in _UNET_TOP if key.startswith(dif + ".")), None)
        if top is not None:
            new = _UNET_TOP[top] + key[len(top) :]
        elif parts[0] == "down_blocks":
            b = int(parts[1])
            if parts[2] == "downsamplers":
                new = f"input_blocks.{1 + b * per_block + config['layers_per_block']}.0.op.{parts[-1]}"
            else:
                slot = 1 + b * per_block + int(parts[3])
                rest = ".".join(parts[4:])
                new = (
                    f"input_blocks.{slot}.0.{_resnet_key(rest, _UNET_RESNET)}"
                    if parts[2] == "resnets"
                    else f"input_blocks.{slot}.1.{rest}"
                )
        elif parts[0] == "mid_block":
            rest = ".".join(parts[3:])
            if parts[1] == "resnets":
                new = f"middle_block.{2 * int(parts[2])}.{_resnet_key(rest, _UNET_RESNET)}"
            else:
                new = f"middle_block.1.{rest}"
        elif parts[0] == "up_blocks":
            b = int(parts[1])
            if parts[2] == "upsamplers":
                slot = b * per_block + config["layers_per_block"]
                new = f"output_blocks.{slot}.{2 if up_has_attention[b] else 1}.conv.{parts[-1]}"
            else:
                slot = b * per_block + int(parts[3])
                rest = ".".join(parts[4:])
                new = (
                    f"output_blocks.{slot}.0.{_resnet_key(rest, _UNET_RESNET)}"
                    if parts[2] == "resnets"
                    else f"output_blocks.{slot}.1.{rest}"
                )
        else:
            raise KeyError(f"no LDM name for UNet key {key}")
        out["model.diffusion_model." + new] = value
    return out


_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_to_ldm(state: dict, config) -> dict:
    """A diffusers AutoencoderKL state dict → LDM `first_stage_model.*` keys (attention as 1x1 convs)."""
    num_up = len(config["up_block_types"])
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        side = parts[0]  # encoder / decoder / quant_conv / post_quant_conv
        if side in ("quant_conv", "post_quant_conv"):
            new = key
        elif parts[1] in ("conv_in", "conv_out"):
            new = key
        elif parts[1] == "conv_norm_out":
            new = f"{side}.norm_out.{parts[-1]}"
        elif parts[1] in ("down_blocks", "up_blocks"):
            i = int(parts[2])
            name, index = ("down", i) if parts[1] == "down_blocks" else ("up", num_up - 1 - i)
            if parts[3] in ("downsamplers", "upsamplers"):
                new = f"{side}.{name}.{index}.{'downsample' if name == 'down' else 'upsample'}.conv.{parts[-1]}"
            else:  # resnets.J.layer.param
                layer = "nin_shortcut" if parts[5] == "conv_shortcut" else parts[5]
                new = f"{side}.{name}.{index}.block.{parts[4]}.{layer}.{parts[-1]}"
        elif parts[1] == "mid_block":
            if parts[2] == "resnets":
                layer = "nin_shortcut" if parts[4] == "conv_shortcut" else parts[4]
                new = f"{side}.mid.block_{int(parts[3]) + 1}.{layer}.{parts[-1]}"
            else:  # attentions.0.<proj>.param
                proj = ".".join(parts[4:-1])
                new = f"{side}.mid.attn_1.{_VAE_ATTENTION[proj]}.{parts[-1]}"
                if value.ndim == 2:  # LDM's attention projections are 1x1 convolutions
                    value = value[:, :, None, None]
        else:
            raise KeyError(f"no LDM name for VAE key {key}")
        out["first_stage_model." + new] = value
    return out


def clip_to_ldm(state: dict) -> dict:
    """A transformers CLIPTextModel state dict → `cond_stage_model.transformer.text_model.*` keys."""
    out = {}
    for key, value in state.items():
        key = key if key.startswith("text_model.") else "text_model." + key
        out["cond_stage_model.transformer." + key] = value
    return out


def sd_to_ldm(vae, text_encoder, unet) -> dict:
    """The whole single-file checkpoint for these three components."""
    return {
        **unet_to_ldm(unet.state_dict(), unet.config),
        **vae_to_ldm(vae.state_dict(), vae.config),
        **clip_to_ldm(text_encoder.state_dict()),
    }


def write_sd_single_file(path: str | Path, vae, text_encoder, unet) -> Path:
    """Save as `.safetensors` (safetensors) or `.ckpt` (torch.save of {"state_dict": ...}, as the original)."""
    path = Path(path)
    state = {k: v.detach().contiguous().clone() for k, v in sd_to_ldm(vae, text_encoder, unet).items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)
    return path


def write_sd_config_folder(folder: str | Path, vae, text_encoder, tokenizer, unet) -> Path:
    """A diffusers SD folder with configs and tokenizer only (no weights): the local `config=` of a single file."""
    folder = Path(folder)
    vae.save_config(folder / "vae")
    unet.save_config(folder / "unet")
    text_encoder.config.save_pretrained(folder / "text_encoder")
    tokenizer.save_pretrained(folder / "tokenizer")
    index = {
        "_class_name": "StableDiffusionPipeline",
        "vae": ["diffusers", "AutoencoderKL"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "text_encoder": ["transformers", type(text_encoder).__name__],
        "tokenizer": ["transformers", type(tokenizer).__name__],
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder


# -- AnimateDiff (original layout) ------------------------------------------------------------------------------

_ANIMATEDIFF_BLOCK = {
    "norm1": "norms.0",
    "norm2": "norms.1",
    "norm3": "ff_norm",
    "attn1": "attention_blocks.0",
    "attn2": "attention_blocks.1",
}


def adapter_to_original(state: dict) -> dict:
    """A diffusers MotionAdapter state dict → the original AnimateDiff keys, with a `pos_encoder.pe` per
    attention block (diffusers keeps one `pos_embed.pe` per transformer block and applies it to both)."""
    out = {}
    for key, value in state.items():
        if ".motion_modules." not in key:
            out[key] = value  # PIA's conv_in
            continue
        head, rest = key.split(".motion_modules.", 1)
        index, rest = rest.split(".", 1)
        prefix = f"{head}.motion_modules.{index}.temporal_transformer."
        if rest.startswith("transformer_blocks."):
            _, block, layer, tail = rest.split(".", 3)
            block_prefix = f"{prefix}transformer_blocks.{block}."
            if layer == "pos_embed":
                for attention in ("attention_blocks.0", "attention_blocks.1"):
                    out[f"{block_prefix}{attention}.pos_encoder.pe"] = value
                continue
            out[f"{block_prefix}{_ANIMATEDIFF_BLOCK.get(layer, layer)}.{tail}"] = value
        else:
            out[prefix + rest] = value
    return out


def write_animatediff_original(path: str | Path, adapter) -> Path:
    """`.ckpt`: torch.save of a plain dict of tensors (as mm_sd_v15_v2.ckpt); `.safetensors`: the same keys."""
    path = Path(path)
    state = {k: v.detach().contiguous().clone() for k, v in adapter_to_original(adapter.state_dict()).items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path
