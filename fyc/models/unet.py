"""`FYCUNetMotionModel`: diffusers' `UNetMotionModel` with the three additions of Follow-Your-Click (§4).

1. A 9-channel input `[noisy latent 4 | region mask 1 | first-frame latent 4]` (the order of the authors'
   code and of PIA, so PIA's 9-channel motion adapter loads as an initialisation); with a VAE of C latent
   channels, 2C+1 channels in the same order.
2. OFM conditioning: optical-flow magnitude → sinusoidal projection → MLP (last layer zero) → added to the
   time embedding that every ResNet block receives.
3. The motion-augmented (MA) module: a cross-attention to the motion-prompt embedding in every transformer
   block of the motion modules, output projection zero.

And one of this project's, off by default: the prompt map (`prompt_map=True`), each region's pooled prompt and
the frame index → MLP (last layer zero) → painted into the region's mask and added to the input convolution's
output, frame by frame.

Every new weight starts at zero, so a model built by `from_unet2d` computes what stock
`UNetMotionModel.from_unet2d` computes, whatever the extra inputs hold, until training moves them.
"""

from __future__ import annotations

import copy

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  (from_pretrained looks it up by name here)
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.models.unets.unet_motion_model import (
    AnimateDiffTransformer3D,
    MotionAdapter,
    UNetMotionModel,
    UNetMotionOutput,
)
from torch import nn

from .regional_attention import ConditioningState, RegionalAttnProcessor

FIRST_FRAME_LAYOUTS = ("repeat", "first")
PROMPT_POOLINGS = ("none", "mean")
# Settings that change what the model's input means, not its weights' shapes.
INPUT_SETTINGS = ("first_frame_layout", "latent_residual", "prompt_pooling")
_CHOICES = {"first_frame_layout": FIRST_FRAME_LAYOUTS, "prompt_pooling": PROMPT_POOLINGS}
MA_KEYS = ("norm_motion", "attn_motion")


def _check_choices(**settings) -> None:
    for name, value in settings.items():
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ValueError(f"{name} must be one of {_CHOICES[name]}, got {value!r}")


class MotionAugmentedTransformerBlock(BasicTransformerBlock):
    """A motion-module transformer block plus a cross-attention to the motion prompt (the paper's MA module).

    The stock block attends along time only, per spatial position: tokens (B·H·W, F, C). The MA attention
    instead sees the whole video as one sequence (B, H·W·F, C), so the text embedding is used once per video
    rather than repeated H·W times.
    """

    def __init__(self, *args, motion_cross_attention_dim: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm_motion = nn.LayerNorm(self.dim, elementwise_affine=self.norm_elementwise_affine)
        self.attn_motion = Attention(
            query_dim=self.dim,
            cross_attention_dim=motion_cross_attention_dim,
            heads=self.num_attention_heads,
            dim_head=self.attention_head_dim,
            bias=self.attention_bias,
            out_bias=True,
        )
        nn.init.zeros_(self.attn_motion.to_out[0].weight)
        nn.init.zeros_(self.attn_motion.to_out[0].bias)
        self.conditioning: ConditioningState | None = None

    @classmethod
    def from_block(cls, block: BasicTransformerBlock, motion_cross_attention_dim: int):
        """Build an MA block with the same configuration and weights as a stock motion-module block."""
        new = cls(
            block.dim,
            block.num_attention_heads,
            block.attention_head_dim,
            dropout=block.dropout,
            cross_attention_dim=block.cross_attention_dim,
            activation_fn=block.activation_fn,
            attention_bias=block.attention_bias,
            double_self_attention=block.double_self_attention,
            norm_elementwise_affine=block.norm_elementwise_affine,
            positional_embeddings=block.positional_embeddings,
            num_positional_embeddings=block.num_positional_embeddings,
            motion_cross_attention_dim=motion_cross_attention_dim,
        )
        new.load_state_dict(block.state_dict(), strict=False)
        return new

    def forward(self, hidden_states, *args, **kwargs):
        hidden_states = super().forward(hidden_states, *args, **kwargs)
        state = self.conditioning
        if state is None or state.motion_embeds is None:
            return hidden_states
        positions_batch, frames, channels = hidden_states.shape
        batch = state.motion_embeds.shape[0]
        video_tokens = self.norm_motion(hidden_states).reshape(batch, -1, channels)
        motion = self.attn_motion(video_tokens, encoder_hidden_states=state.motion_embeds.to(hidden_states.dtype))
        return hidden_states + motion.reshape(positions_batch, frames, channels)


class FYCUNetMotionModel(UNetMotionModel):
    r"""The Follow-Your-Click denoiser: a `UNetMotionModel` with a region-mask/first-frame input, OFM
    conditioning and motion-augmented cross-attention.

    Extra configuration (on top of `UNetMotionModel`'s):
        use_motion_cross_attention (`bool`, defaults to `True`): add the MA module.
        motion_cross_attention_dim (`int`, *optional*): width of the motion-prompt embedding; defaults to
            `cross_attention_dim`.
        first_frame_layout (`str`, defaults to `"repeat"`): how the first-frame latent is laid over time in the
            input: `"repeat"` on every frame (the paper's text) or `"first"` on frame 0 and zeros elsewhere (the
            authors' code). The pipeline and the training code read it from here.
        latent_residual (`bool`, defaults to `False`): denoise each frame's latent minus the first-frame latent
            instead of the frame's latent. The still parts of a clip are then exactly zero, so a small model trained
            from scratch need not learn to copy the background through the whole network; the pipeline adds the
            first-frame latent back before decoding. Off for models built from SD / AnimateDiff, whose weights
            denoise whole frames.
        prompt_pooling (`str`, defaults to `"none"`): what the text encoder hands both cross-attentions. `"none"`:
            its last hidden state, one vector a token padded to 77 tokens (SD's). `"mean"`: one vector, the mean of
            the last hidden state over the prompt's own tokens (how sentence-transformers pools MiniLM). For a
            short prompt, 73 of the 77 positions are padding whose states "move left" and "move right" share, and a
            small model trained from scratch hardly told prompts apart through them (the demo model's card has the
            measurements). The pipeline and the training code read it from here.
        prompt_map (`bool`, defaults to `False`): add the prompt map: for each region and frame, an MLP of the
            region's prompt embedding (mean over its tokens) and the frame index, painted into the region's mask
            (`region_masks`; the base prompt in the rest of the mask channel of `sample`) and added to `conv_in`'s output.
            With one pooled prompt vector both cross-attentions reduce to the same bias at every position and
            frame; the map tells each region, at each frame, which motion its prompt asks for, where the
            convolutions that must carry the motion out can read it. Last layer zero: off until trained.
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 9,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlockMotion",
            "CrossAttnDownBlockMotion",
            "CrossAttnDownBlockMotion",
            "DownBlockMotion",
        ),
        up_block_types: tuple[str, ...] = (
            "UpBlockMotion",
            "CrossAttnUpBlockMotion",
            "CrossAttnUpBlockMotion",
            "CrossAttnUpBlockMotion",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int | tuple[int] = 2,
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1,
        act_fn: str = "silu",
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        cross_attention_dim: int = 1280,
        transformer_layers_per_block: int | tuple[int] | tuple[tuple] = 1,
        reverse_transformer_layers_per_block: int | tuple[int] | tuple[tuple] | None = None,
        temporal_transformer_layers_per_block: int | tuple[int] | tuple[tuple] = 1,
        reverse_temporal_transformer_layers_per_block: int | tuple[int] | tuple[tuple] | None = None,
        transformer_layers_per_mid_block: int | tuple[int] | None = None,
        temporal_transformer_layers_per_mid_block: int | tuple[int] | None = 1,
        use_linear_projection: bool = False,
        num_attention_heads: int | tuple[int, ...] = 8,
        motion_max_seq_length: int = 32,
        motion_num_attention_heads: int | tuple[int, ...] = 8,
        reverse_motion_num_attention_heads: int | tuple[int, ...] | tuple[tuple[int, ...], ...] | None = None,
        use_motion_mid_block: bool = True,
        mid_block_layers: int = 1,
        encoder_hid_dim: int | None = None,
        encoder_hid_dim_type: str | None = None,
        addition_embed_type: str | None = None,
        addition_time_embed_dim: int | None = None,
        projection_class_embeddings_input_dim: int | None = None,
        time_cond_proj_dim: int | None = None,
        use_motion_cross_attention: bool = True,
        motion_cross_attention_dim: int | None = None,
        first_frame_layout: str = "repeat",
        latent_residual: bool = False,
        prompt_pooling: str = "none",
        prompt_map: bool = False,
    ):
        _check_choices(first_frame_layout=first_frame_layout, prompt_pooling=prompt_pooling)
        super().__init__(
            sample_size=sample_size,
            in_channels=in_channels,
            out_channels=out_channels,
            down_block_types=down_block_types,
            up_block_types=up_block_types,
            block_out_channels=block_out_channels,
            layers_per_block=layers_per_block,
            downsample_padding=downsample_padding,
            mid_block_scale_factor=mid_block_scale_factor,
            act_fn=act_fn,
            norm_num_groups=norm_num_groups,
            norm_eps=norm_eps,
            cross_attention_dim=cross_attention_dim,
            transformer_layers_per_block=transformer_layers_per_block,
            reverse_transformer_layers_per_block=reverse_transformer_layers_per_block,
            temporal_transformer_layers_per_block=temporal_transformer_layers_per_block,
            reverse_temporal_transformer_layers_per_block=reverse_temporal_transformer_layers_per_block,
            transformer_layers_per_mid_block=transformer_layers_per_mid_block,
            temporal_transformer_layers_per_mid_block=temporal_transformer_layers_per_mid_block,
            use_linear_projection=use_linear_projection,
            num_attention_heads=num_attention_heads,
            motion_max_seq_length=motion_max_seq_length,
            motion_num_attention_heads=motion_num_attention_heads,
            reverse_motion_num_attention_heads=reverse_motion_num_attention_heads,
            use_motion_mid_block=use_motion_mid_block,
            mid_block_layers=mid_block_layers,
            encoder_hid_dim=encoder_hid_dim,
            encoder_hid_dim_type=encoder_hid_dim_type,
            addition_embed_type=addition_embed_type,
            addition_time_embed_dim=addition_time_embed_dim,
            projection_class_embeddings_input_dim=projection_class_embeddings_input_dim,
            time_cond_proj_dim=time_cond_proj_dim,
        )
        self.conditioning = ConditioningState()

        # Top level, not inside `time_embedding`: `from_unet2d` loads that module strictly from SD.
        time_embed_dim = block_out_channels[0] * 4
        self.ofm_proj = Timesteps(block_out_channels[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.ofm_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim, act_fn=act_fn)
        nn.init.zeros_(self.ofm_embedding.linear_2.weight)
        nn.init.zeros_(self.ofm_embedding.linear_2.bias)
        self.time_embedding.register_forward_hook(self._add_ofm_embedding)

        prompt_dim = motion_cross_attention_dim or cross_attention_dim
        if prompt_map:
            if not isinstance(prompt_dim, int):
                raise ValueError(
                    "prompt_map needs motion_cross_attention_dim when cross_attention_dim varies per block"
                )
            width = block_out_channels[0]
            self.prompt_map_frame_proj = Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0)
            self.prompt_map_embedding = nn.Sequential(
                nn.Linear(prompt_dim + width, 4 * width), nn.SiLU(), nn.Linear(4 * width, width)
            )
            nn.init.zeros_(self.prompt_map_embedding[2].weight)
            nn.init.zeros_(self.prompt_map_embedding[2].bias)
            # conv_in itself may be replaced (PIA's, widened); the first down block always receives its output.
            self.down_blocks[0].register_forward_pre_hook(self._add_prompt_map, with_kwargs=True)

        if use_motion_cross_attention:
            dim = prompt_dim
            if not isinstance(dim, int):
                raise ValueError("motion_cross_attention_dim must be an int when cross_attention_dim varies per block")
            for module in self.modules():
                if isinstance(module, AnimateDiffTransformer3D):
                    module.transformer_blocks = nn.ModuleList(
                        MotionAugmentedTransformerBlock.from_block(block, dim) for block in module.transformer_blocks
                    )
        self._install_conditioning()

    # -- wiring -------------------------------------------------------------------------------------------

    def _install_conditioning(self):
        """Point MA blocks and spatial cross-attentions at this model's `ConditioningState`."""
        regional = []  # (attention, temporal); processors are set after the walk, which they may change
        for module in self.modules():
            if isinstance(module, MotionAugmentedTransformerBlock):
                module.conditioning = self.conditioning
                regional.append((module.attn_motion, True))
            elif isinstance(module, Transformer2DModel):  # the spatial transformers: attn2 reads the prompt
                regional += [
                    (block.attn2, False)
                    for block in module.transformer_blocks
                    if block.attn2 is not None and block.attn2.is_cross_attention
                ]
        for attention, temporal in regional:
            attention.set_processor(RegionalAttnProcessor(self.conditioning, temporal=temporal))

    def set_default_attn_processor(self) -> None:
        super().set_default_attn_processor()
        self._install_conditioning()

    def _add_ofm_embedding(self, module, inputs, emb):
        ofm_embeds = self.conditioning.ofm_embeds
        return emb if ofm_embeds is None else emb + ofm_embeds.to(emb.dtype)

    def _add_prompt_map(self, module, args, kwargs):
        prompt_map = self.conditioning.prompt_map
        if prompt_map is None:
            return None
        kwargs["hidden_states"] = kwargs["hidden_states"] + prompt_map.to(kwargs["hidden_states"].dtype)
        return args, kwargs

    def embed_prompt_map(self, masks: torch.Tensor, prompt_embeds: torch.Tensor, num_frames: int) -> torch.Tensor:
        """(B, R, h, w) region masks + (B, R, D) their prompts' embeddings (mean over tokens) → (B·F, C, h, w)
        map for `conv_in`'s output."""
        batch, regions = masks.shape[:2]
        width = self.config.block_out_channels[0]
        frames = self.prompt_map_frame_proj(torch.arange(num_frames, device=masks.device))  # (F, width)
        prompts = prompt_embeds.to(self.dtype)
        features = torch.cat(
            [
                prompts[:, :, None].expand(batch, regions, num_frames, -1),
                frames.to(self.dtype)[None, None].expand(batch, regions, num_frames, width),
            ],
            dim=-1,
        )
        codes = self.prompt_map_embedding(features)  # (B, R, F, width)
        prompt_map = torch.einsum("brfc,brhw->bfchw", codes, masks.to(codes.dtype))
        return prompt_map.reshape(batch * num_frames, width, *masks.shape[-2:])

    def embed_ofm(self, ofm: torch.Tensor) -> torch.Tensor:
        """OFM (B,) → (B, time_embed_dim). NaN entries mean "no OFM given" (classifier-free dropout) → zero."""
        ofm = ofm.float()
        given = ~torch.isnan(ofm)
        emb = self.ofm_embedding(self.ofm_proj(torch.nan_to_num(ofm)).to(self.dtype))
        return emb * given[:, None].to(emb.dtype)

    # -- construction from public weights -----------------------------------------------------------------

    @classmethod
    def from_unet2d(
        cls,
        unet: UNet2DConditionModel,
        motion_adapter: MotionAdapter | None = None,
        load_weights: bool = True,
        **fyc_config,
    ) -> FYCUNetMotionModel:
        """An FYC model from an SD UNet and an AnimateDiff / PIA motion adapter.

        With a 4-channel adapter (AnimateDiff v2) channels 0–3 of `conv_in` take SD's weight and bias and
        channels 4–8 start at zero; with a 9-channel adapter (PIA) its `conv_in` is used as diffusers does.
        `fyc_config` sets `use_motion_cross_attention`, `motion_cross_attention_dim`, `prompt_map`,
        `first_frame_layout`, `latent_residual`, `prompt_pooling`.
        """
        unknown = set(fyc_config) - {
            "use_motion_cross_attention",
            "motion_cross_attention_dim",
            "prompt_map",
            *INPUT_SETTINGS,
        }
        if unknown:
            raise TypeError(f"unexpected arguments for FYCUNetMotionModel.from_unet2d: {sorted(unknown)}")
        # diffusers hands PIA's conv_in module itself to the new model and writes SD's channels into it; keep
        # the adapter intact and give the model a layer of its own.
        pia_conv_in = None
        if motion_adapter is not None and motion_adapter.config.get("conv_in_channels"):
            pia_conv_in = {k: v.clone() for k, v in motion_adapter.conv_in.state_dict().items()}
        model = super().from_unet2d(unet, motion_adapter, load_weights=load_weights)
        if pia_conv_in is not None and model.conv_in is motion_adapter.conv_in:
            model.conv_in = copy.deepcopy(model.conv_in)
            motion_adapter.conv_in.load_state_dict(pia_conv_in)
        structural = {k: v for k, v in fyc_config.items() if k not in INPUT_SETTINGS}
        if any(model.config[k] != v for k, v in structural.items()):
            # The parent builds with default MA settings; rebuild the MA blocks with the requested ones.
            config = {k: v for k, v in model.config.items() if not k.startswith("_")} | structural
            rebuilt = cls.from_config(config).to(model.dtype)
            rebuilt.load_state_dict(
                {k: v for k, v in model.state_dict().items() if not any(p in k for p in MA_KEYS)}, strict=False
            )
            model = rebuilt
        settings = {k: v for k, v in fyc_config.items() if k in INPUT_SETTINGS}
        _check_choices(**settings)
        if "latent_residual" in settings:
            settings["latent_residual"] = bool(settings["latent_residual"])
        model.register_to_config(**settings)
        if model.config.in_channels == model.config.out_channels:
            model._widen_conv_in(2 * model.config.out_channels + 1)
        return model

    def _widen_conv_in(self, in_channels: int):
        old = self.conv_in
        new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, padding=old.padding).to(old.weight)
        with torch.no_grad():
            new.weight.zero_()
            new.weight[:, : old.in_channels] = old.weight
            new.bias.copy_(old.bias)
        self.conv_in = new
        self.register_to_config(in_channels=in_channels)

    def load_motion_modules(self, motion_adapter: MotionAdapter | None) -> None:
        """Load an AnimateDiff adapter's motion modules; the MA weights are FYC's own and stay as they are."""
        pairs = list(zip(motion_adapter.down_blocks, self.down_blocks)) + list(
            zip(motion_adapter.up_blocks, self.up_blocks)
        )
        if hasattr(self.mid_block, "motion_modules"):
            pairs.append((motion_adapter.mid_block, self.mid_block))
        for source, target in pairs:
            missing, unexpected = target.motion_modules.load_state_dict(
                source.motion_modules.state_dict(), strict=False
            )
            stray = [k for k in missing if not any(part in k for part in MA_KEYS)]
            if stray or unexpected:
                raise ValueError(
                    f"motion adapter does not fit this UNet: missing {stray[:5]}, unexpected {unexpected[:5]}"
                )

    def save_motion_modules(self, save_directory: str, **kwargs) -> None:
        """Save the AnimateDiff part of the motion modules as a `MotionAdapter` (without the MA weights)."""
        adapter = MotionAdapter(
            block_out_channels=self.config["block_out_channels"],
            motion_layers_per_block=self.config["layers_per_block"],
            motion_norm_num_groups=self.config["norm_num_groups"],
            motion_num_attention_heads=self.config["motion_num_attention_heads"],
            motion_max_seq_length=self.config["motion_max_seq_length"],
            use_motion_mid_block=self.config["use_motion_mid_block"],
        )
        state = {
            k: v for k, v in self.state_dict().items() if "motion_modules" in k and not any(p in k for p in MA_KEYS)
        }
        adapter.load_state_dict(state)
        adapter.save_pretrained(save_directory, **kwargs)

    # -- forward ------------------------------------------------------------------------------------------

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        timestep_cond: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cross_attention_kwargs=None,
        added_cond_kwargs=None,
        down_block_additional_residuals=None,
        mid_block_additional_residual=None,
        return_dict: bool = True,
        *,
        ofm: torch.Tensor | None = None,
        motion_encoder_hidden_states: torch.Tensor | None = None,
        region_masks: torch.Tensor | None = None,
        region_encoder_hidden_states: torch.Tensor | None = None,
    ) -> UNetMotionOutput | tuple[torch.Tensor]:
        r"""
        Args:
            sample: (B, 2C+1, F, h, w) = [noisy latent C | region mask 1 | first-frame latent C] along channels
                (C = 4 for SD's VAE: 9 channels).
            timestep: diffusion timestep(s).
            encoder_hidden_states: text embedding for the spatial cross-attention, (B·F, L, D) as diffusers'
                `UNetMotionModel` takes it, or (B, L, D), which is repeated over frames here.
            ofm: (B,) optical-flow magnitude, in `fyc.flow` units; NaN or `None` = unconditional.
            motion_encoder_hidden_states: (B, L, D) motion-prompt embedding for the MA module; defaults to the
                per-video text embedding.
            region_masks: (B, R, h, w) masks at latent size for several regions; each region's prompt applies
                inside its mask, `encoder_hidden_states` / `motion_encoder_hidden_states` elsewhere.
            region_encoder_hidden_states: (B, R, L, D) prompt embedding of each region (both text paths).
            The other arguments are `UNetMotionModel.forward`'s.
        """
        batch, channels, num_frames = sample.shape[:3]
        if channels != self.config.in_channels:
            raise ValueError(f"sample has {channels} channels, the model takes {self.config.in_channels}")
        if num_frames > self.config.motion_max_seq_length:
            raise ValueError(
                f"{num_frames} frames exceed the motion module's limit of {self.config.motion_max_seq_length}"
            )
        if encoder_hidden_states.shape[0] == batch and num_frames > 1:
            encoder_hidden_states = encoder_hidden_states.repeat_interleave(num_frames, dim=0)
        if motion_encoder_hidden_states is None and self.config.use_motion_cross_attention:
            motion_encoder_hidden_states = encoder_hidden_states[::num_frames]
        if (region_masks is None) != (region_encoder_hidden_states is None):
            raise ValueError("region_masks and region_encoder_hidden_states go together")
        if region_masks is not None and region_masks.shape[:2] != region_encoder_hidden_states.shape[:2]:
            raise ValueError(
                f"region_masks {tuple(region_masks.shape)} and region_encoder_hidden_states "
                f"{tuple(region_encoder_hidden_states.shape)} disagree on batch or region count"
            )
        if ofm is not None:
            ofm = torch.as_tensor(ofm, device=sample.device).reshape(-1).expand(batch)
        prompt_map = None
        if self.config.get("prompt_map", False):
            # As in the cross-attentions: each region's prompt inside its mask, the base prompt elsewhere.
            base = (
                motion_encoder_hidden_states
                if motion_encoder_hidden_states is not None
                else encoder_hidden_states[::num_frames]
            )
            masks = sample[:, self.config.out_channels, 0, None]  # (B, 1, h, w): the mask channel, the same every frame
            prompts = base.mean(1, keepdim=True)  # (B, 1, D)
            if region_masks is not None:
                masks = torch.cat(
                    [region_masks.to(masks.dtype), masks * (1 - region_masks.sum(1, keepdim=True)).clamp(min=0)], 1
                )
                prompts = torch.cat([region_encoder_hidden_states.mean(2).to(prompts.dtype), prompts], 1)
            prompt_map = self.embed_prompt_map(masks, prompts, num_frames)
        # Set every field on every call (never cleared afterwards): gradient checkpointing recomputes blocks
        # during backward, after this forward has returned, and must see the same conditioning.
        self.conditioning.reset(
            num_frames=num_frames,
            motion_embeds=motion_encoder_hidden_states,
            ofm_embeds=None if ofm is None else self.embed_ofm(ofm),
            region_masks=region_masks,
            region_embeds=region_encoder_hidden_states,
            prompt_map=prompt_map,
        )
        return super().forward(
            sample,
            timestep,
            encoder_hidden_states,
            timestep_cond=timestep_cond,
            attention_mask=attention_mask,
            cross_attention_kwargs=cross_attention_kwargs,
            added_cond_kwargs=added_cond_kwargs,
            down_block_additional_residuals=down_block_additional_residuals,
            mid_block_additional_residual=mid_block_additional_residual,
            return_dict=return_dict,
        )
