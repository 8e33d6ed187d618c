"""Regional cross-attention: each region's prompt applies inside its mask (paper §5.4, "regional prompter").

The UNet owns one `ConditioningState` per forward pass; the attention processors below read it. diffusers
passes nothing but `encoder_hidden_states` down to attention layers (and nothing at all to motion modules),
so the per-call region masks and prompt embeddings travel through this shared object instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention


@dataclass
class ConditioningState:
    """What one UNet forward pass needs beyond the stock arguments.

    Attributes:
        num_frames: frames per video in this pass.
        motion_embeds: (B, L, D) motion-prompt embedding for the motion-augmented (MA) cross-attention.
        ofm_embeds: (B, time_embed_dim) OFM embedding added to the time embedding.
        region_masks: (B, R, h, w) float masks at latent size, or None for a single global prompt.
        region_embeds: (B, R, L, D) one prompt embedding per region, used by both text paths.
        prompt_map: (B·F, C, h, w) the prompt map added to `conv_in`'s output (`prompt_map=True` models).
    """

    num_frames: int = 1
    motion_embeds: torch.Tensor | None = None
    ofm_embeds: torch.Tensor | None = None
    region_masks: torch.Tensor | None = None
    region_embeds: torch.Tensor | None = None
    prompt_map: torch.Tensor | None = None
    _weights_cache: dict = field(default_factory=dict)

    def reset(self, **values):
        for name in ("motion_embeds", "ofm_embeds", "region_masks", "region_embeds", "prompt_map"):
            setattr(self, name, None)
        self.num_frames = 1
        self._weights_cache = {}
        for name, value in values.items():
            setattr(self, name, value)

    def region_weights(self, num_tokens: int, temporal: bool) -> torch.Tensor:
        """Blend weights (B, tokens, R) for an attention layer with `num_tokens` query tokens per sample.

        Spatial layers see H·W tokens per frame; motion (MA) layers see H·W·F tokens per video, ordered
        (position, frame). The level's grid is the latent grid halved k times (rounded up, as the UNet's
        strided convolutions do).
        """
        key = (num_tokens, temporal)
        if key not in self._weights_cache:
            masks = self.region_masks
            positions = num_tokens // self.num_frames if temporal else num_tokens
            h, w = masks.shape[-2:]
            for k in range(8):
                hl, wl = math.ceil(h / 2**k), math.ceil(w / 2**k)
                if hl * wl == positions:
                    break
            else:
                raise ValueError(f"cannot match {positions} attention positions to latent grid {h}x{w}")
            level = F.interpolate(masks.float(), size=(hl, wl), mode="area") if (hl, wl) != (h, w) else masks.float()
            weights = level.flatten(2).transpose(1, 2)  # (B, hl*wl, R)
            # Soft edges of overlapping masks may sum above 1: renormalise so the base prompt never goes negative.
            weights = weights / weights.sum(-1, keepdim=True).clamp(min=1.0)
            if temporal:
                weights = weights.repeat_interleave(self.num_frames, dim=1)
            self._weights_cache[key] = weights
        return self._weights_cache[key]


def _attend(attn: Attention, query: torch.Tensor, context: torch.Tensor, batch: int) -> torch.Tensor:
    if attn.norm_cross:
        context = attn.norm_encoder_hidden_states(context)
    key, value = attn.to_k(context), attn.to_v(context)
    head_dim = key.shape[-1] // attn.heads
    key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
    value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    out = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
    return out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)


class RegionalAttnProcessor:
    """Cross-attention whose prompt changes with position: region r's prompt inside mask r, the layer's
    own `encoder_hidden_states` (the base prompt) elsewhere.

    Without regions it computes exactly what diffusers' `AttnProcessor2_0` does. Blending happens before the
    output projection, which is linear, and the weights sum to one, so this equals blending the outputs.

    Args:
        state: the UNet's `ConditioningState`.
        temporal: True for the motion module's MA attention (tokens are (position, frame) per video),
            False for the spatial cross-attention (tokens are positions, batch is videos × frames).
    """

    def __init__(self, state: ConditioningState, temporal: bool):
        self.state = state
        self.temporal = temporal

    def __call__(
        self, attn: Attention, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs
    ):
        if encoder_hidden_states is None:
            raise ValueError("RegionalAttnProcessor is a cross-attention processor: encoder_hidden_states is required")
        if attention_mask is not None:
            raise ValueError("attention masks are not supported by the regional cross-attention")
        batch, num_tokens, _ = hidden_states.shape
        query = attn.to_q(hidden_states)
        head_dim = query.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)

        out = _attend(attn, query, encoder_hidden_states, batch)
        state = self.state
        if state.region_masks is not None:
            weights = state.region_weights(num_tokens, self.temporal).to(out.dtype)  # (B, T, R)
            frames = 1 if self.temporal else state.num_frames
            if frames > 1:
                weights = weights.repeat_interleave(frames, dim=0)
            blended = out * (1.0 - weights.sum(-1, keepdim=True))
            for r in range(weights.shape[-1]):
                context = state.region_embeds[:, r].to(out.dtype)
                if frames > 1:
                    context = context.repeat_interleave(frames, dim=0)
                blended = blended + weights[..., r : r + 1] * _attend(attn, query, context, batch)
            out = blended

        out = attn.to_out[0](out)
        out = attn.to_out[1](out)
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor
