"""`FollowYourClickPipeline`: a still image + regions with short motion prompts + a motion strength → video.

Mirrors diffusers' `AnimateDiffPipeline` (components, `encode_prompt`, `check_inputs`, `prepare_latents`,
`decode_latents`, callbacks, `interrupt`), with the Follow-Your-Click conditioning: the first-frame latent
and the region mask enter as extra UNet input channels, the motion strength (OFM) enters the time embedding,
and each region's prompt drives the cross-attention inside its mask.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, DiffusionPipeline
from diffusers.guiders.guider_utils import rescale_noise_cfg
from diffusers.image_processor import VaeImageProcessor
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils import BaseOutput, logging, replace_example_docstring
from diffusers.utils.torch_utils import randn_tensor
from diffusers.video_processor import VideoProcessor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .conditioning import build_condition, region_mask_latent, region_prompt_masks
from .models import FYCUNetMotionModel
from .region import Region, exclusive_masks

logger = logging.get_logger(__name__)

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> import numpy as np
        >>> from PIL import Image
        >>> from fyc import load_pipeline, Region
        >>> from fyc.video import export_mp4

        >>> pipe = load_pipeline()  # the best weights under weights/, the demo model by default
        >>> image = Image.open("examples/chelsea.png").convert("RGB")
        >>> mask = np.zeros((image.height, image.width), bool)
        >>> mask[100:250, 150:350] = True
        >>> video = pipe(image, regions=[Region(mask, "shake head")], ofm=6.0).frames[0]
        >>> export_mp4(video, "cat.mp4", fps=8)
        ```
"""

# Prompts are short motion phrases; 77 tokens is CLIP's window and ample for any other encoder.
MAX_PROMPT_TOKENS = 77


@dataclass
class FollowYourClickPipelineOutput(BaseOutput):
    """Output of `FollowYourClickPipeline`, following `AnimateDiffPipelineOutput`.

    Args:
        frames: a list (batch) of lists of PIL images, an np.ndarray (B, F, H, W, 3) in [0, 1], or a
            torch.Tensor (B, F, 3, H, W) in [0, 1], depending on `output_type`.
    """

    frames: torch.Tensor | np.ndarray | list[list[PIL.Image.Image]]


class FollowYourClickPipeline(DiffusionPipeline):
    r"""Regional image animation (Follow-Your-Click, Ma et al. 2024).

    Args:
        vae (`AutoencoderKL`): encodes the input image and decodes video latents.
        text_encoder (`PreTrainedModel`): frozen text encoder (CLIP for SD 1.5 weights; the demo model uses
            MiniLM); its last hidden state feeds both the spatial and the motion cross-attention.
        tokenizer (`PreTrainedTokenizerBase`): the text encoder's tokenizer.
        unet (`FYCUNetMotionModel`): the 9-channel motion UNet with OFM and MA conditioning.
        scheduler (`SchedulerMixin`): v-prediction DDIM with zero-terminal-SNR by default; any diffusers
            scheduler can be swapped in (`pipe.scheduler = DPMSolverMultistepScheduler.from_config(...)`).
        default_guidance_scale (`float`): the guidance used when a call does not choose one.
        motion_vocabulary (`list[str]`, *optional*): the canonical prompts of the motions it was trained on.
        controlnet (`ControlNetModel` or a list of them, *optional*): steers the regions with control frames (a pose
            sequence, edges, depth; `fyc.controlnet`); its residuals act inside the regions only.
    """

    model_cpu_offload_seq = "text_encoder->vae->unet"
    _optional_components = ["controlnet"]
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        unet: FYCUNetMotionModel,
        scheduler: KarrasDiffusionSchedulers,
        default_guidance_scale: float = 7.5,
        motion_vocabulary: list[str] | None = None,
        controlnet=None,
    ):
        super().__init__()
        from .controlnet import as_controlnet

        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            controlnet=as_controlnet(controlnet),
        )
        # Stored in model_index.json (as SDXL stores `force_zeros_for_empty_prompt`): the guidance this model was
        # measured best at, used whenever a caller does not choose one. The paper's 7.5 unless a model says otherwise.
        # The vocabulary: the canonical prompts of the motions it was trained on, empty when it does not say (a
        # model trained on captions of real videos); the app suggests them.
        self.register_to_config(
            default_guidance_scale=float(default_guidance_scale), motion_vocabulary=list(motion_vocabulary or [])
        )
        if vae is not None and unet is not None:
            c = vae.config.latent_channels
            if (unet.config.in_channels, unet.config.out_channels) != (2 * c + 1, c):
                raise ValueError(
                    f"the UNet takes {unet.config.in_channels} input / {unet.config.out_channels} output channels but a "
                    f"{c}-channel VAE needs {2 * c + 1} / {c}: [noisy latent {c} | mask 1 | first-frame latent {c}]"
                )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1) if getattr(self, "vae", None) else 8
        self.video_processor = VideoProcessor(vae_scale_factor=self.vae_scale_factor)
        self.mask_processor = VaeImageProcessor(
            vae_scale_factor=self.vae_scale_factor, do_normalize=False, do_binarize=True, do_convert_grayscale=True
        )

    # -- sizes --------------------------------------------------------------------------------------------

    @property
    def size_multiple(self) -> int:
        """Output height and width are multiples of this (VAE factor × the UNet's downsampling)."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def native_size(self) -> int:
        """Short side, in pixels, the model was built for."""
        return (self.unet.config.sample_size or 64) * self.vae_scale_factor

    def default_size(self, image) -> tuple[int, int]:
        """(height, width) used for `image`: short side at the model's native size, aspect ratio kept,
        both sides rounded to `size_multiple` (no cropping)."""
        width, height = image.size if isinstance(image, PIL.Image.Image) else (image.shape[1], image.shape[0])
        m, short = self.size_multiple, self.native_size
        scale = short / min(width, height)
        return (max(m, round(height * scale / m) * m), max(m, round(width * scale / m) * m))

    # -- text ---------------------------------------------------------------------------------------------

    def encode_prompt(self, prompt: str | list[str], device: torch.device) -> torch.Tensor:
        """Text → (N, L, D) last hidden states of the text encoder, or (N, 1, D), their mean over each prompt's
        tokens, when the UNet's `prompt_pooling` is `"mean"`."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        max_length = min(self.tokenizer.model_max_length, MAX_PROMPT_TOKENS)
        tokens = self.tokenizer(
            prompts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
        )
        kwargs = {}
        # CLIP's causal text model was trained without a padding mask; bidirectional encoders need one.
        if getattr(self.text_encoder.config, "model_type", "") != "clip_text_model" and "attention_mask" in tokens:
            kwargs["attention_mask"] = tokens.attention_mask.to(device)
        embeds = self.text_encoder(tokens.input_ids.to(device), **kwargs)[0]
        if self.unet.config.get("prompt_pooling", "none") == "mean":
            # Padding positions excluded: they are what every prompt has in common.
            weights = tokens.attention_mask.to(device=device, dtype=embeds.dtype)[..., None]
            embeds = (embeds * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True)
        return embeds.to(dtype=self.unet.dtype, device=device)

    # -- checks -------------------------------------------------------------------------------------------

    def check_inputs(
        self, image, regions, ofm, num_frames, height, width, output_type, callback_on_step_end_tensor_inputs
    ):
        if not isinstance(image, (PIL.Image.Image, np.ndarray, torch.Tensor)):
            raise ValueError(f"image must be a PIL image, a numpy array or a tensor, got {type(image).__name__}")
        if not regions:
            raise ValueError("Give at least one Region(mask, prompt): the pipeline animates regions of the image.")
        image_size = _image_hw(image)
        if min(image_size) < 1 or max(image_size) > 8 * min(image_size):
            raise ValueError(
                f"image is {image_size[1]}x{image_size[0]} (WxH): the sides must be within 8:1 of each other"
            )
        for i, region in enumerate(regions):
            if not isinstance(region, Region):
                raise ValueError(f"regions[{i}] must be a fyc.Region, got {type(region).__name__}")
            if region.mask.shape != image_size:
                raise ValueError(
                    f"regions[{i}].mask has size {region.mask.shape[1]}x{region.mask.shape[0]} (WxH) but the image is "
                    f"{image_size[1]}x{image_size[0]}: masks must be at the input image's size"
                )
            if not region.mask.any():
                raise ValueError(f"regions[{i}].mask is empty: click on the object to animate")
        values = np.atleast_1d(np.asarray(ofm, dtype=np.float64))
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"ofm (motion strength) must be a finite number >= 0, got {ofm}")
        limit = self.unet.config.motion_max_seq_length
        if not 1 <= num_frames <= limit:
            raise ValueError(f"num_frames must be between 1 and {limit} (the motion module's limit), got {num_frames}")
        m = self.size_multiple
        for name, value in (("height", height), ("width", width)):
            if value is not None and (value <= 0 or value % m):
                raise ValueError(f"{name} must be a positive multiple of {m}, got {value}")
        if output_type not in ("pil", "np", "pt", "latent"):
            raise ValueError(f"output_type must be 'pil', 'np', 'pt' or 'latent', got {output_type!r}")
        bad = [k for k in callback_on_step_end_tensor_inputs if k not in self._callback_tensor_inputs]
        if bad:
            raise ValueError(f"callback_on_step_end_tensor_inputs must be in {self._callback_tensor_inputs}, got {bad}")

    # -- latents ------------------------------------------------------------------------------------------

    def prepare_latents(
        self, batch_size, num_channels, num_frames, height, width, dtype, device, generator, latents=None
    ):
        shape = (batch_size, num_channels, num_frames, height // self.vae_scale_factor, width // self.vae_scale_factor)
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(f"got {len(generator)} generators for a batch of {batch_size} videos")
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif latents.shape != shape:
            raise ValueError(f"latents have shape {tuple(latents.shape)}, expected {shape}")
        else:
            latents = latents.to(device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma

    def encode_first_frame(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] → scaled first-frame latent (B, C, h, w); the posterior mode, so the
        same image always gives the same latent."""
        latent = self.vae.encode(image.to(self.vae.dtype)).latent_dist.mode()
        shift = getattr(self.vae.config, "shift_factor", None) or 0.0
        return (latent - shift) * self.vae.config.scaling_factor

    def decode_latents(self, latents: torch.Tensor, decode_chunk_size: int = 16) -> torch.Tensor:
        """(B, C, F, h, w) latents → (B, 3, F, H, W) float32 video in [-1, 1]."""
        shift = getattr(self.vae.config, "shift_factor", None) or 0.0
        latents = latents / self.vae.config.scaling_factor + shift
        b, c, f, h, w = latents.shape
        latents = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        video = torch.cat(
            [self.vae.decode(chunk.to(self.vae.dtype)).sample for chunk in latents.split(decode_chunk_size)]
        )
        return video.reshape(b, f, *video.shape[1:]).permute(0, 2, 1, 3, 4).float()

    def prepare_extra_step_kwargs(self, generator, eta):
        params = set(inspect.signature(self.scheduler.step).parameters)
        kwargs = {}
        if "eta" in params:
            kwargs["eta"] = eta
        if "generator" in params:
            kwargs["generator"] = generator
        return kwargs

    # -- properties ---------------------------------------------------------------------------------------

    @property
    def guidance_scale(self):
        return self._guidance_scale

    @property
    def guidance_rescale(self):
        return self._guidance_rescale

    @property
    def do_classifier_free_guidance(self):
        return self._guidance_scale > 1

    @property
    def num_timesteps(self):
        return self._num_timesteps

    @property
    def interrupt(self):
        return self._interrupt

    # -- call ---------------------------------------------------------------------------------------------

    @torch.no_grad()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        image: PIL.Image.Image | np.ndarray | torch.Tensor,
        regions: list[Region],
        ofm: float = 8.0,
        num_frames: int = 16,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 25,
        guidance_scale: float | None = None,
        guidance_rescale: float = 0.0,
        negative_prompt: str | None = None,
        num_videos_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable[[DiffusionPipeline, int, int, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],
        decode_chunk_size: int = 16,
        control_frames=None,
        controlnet_conditioning_scale: float | list[float] = 1.0,
        control_guidance_start: float | list[float] = 0.0,
        control_guidance_end: float | list[float] = 1.0,
    ):
        r"""
        Animate the regions of `image`.

        Args:
            image: the still image (PIL, HxWx3 uint8 array, or (3, H, W) tensor in [0, 1]).
            regions: one `Region(mask, prompt)` per object; masks are boolean at the image's size. Where masks
                overlap, the later region wins. Each prompt applies inside its own mask and the empty prompt
                outside all of them.
            ofm: motion strength: optical-flow magnitude in `fyc.flow` units (pixels per frame at a 256-px-wide
                reference), the quantity the model was trained to follow.
            num_frames: frames to generate, at most the motion module's `motion_max_seq_length`.
            height, width: output size, multiples of `size_multiple`; default `default_size(image)` (the model's
                native short side, aspect ratio kept).
            num_inference_steps: denoising steps.
            guidance_scale: classifier-free guidance weight (1 disables guidance); default: the model's
                `config.default_guidance_scale` (7.5, the paper's, unless the saved model says otherwise). The
                unconditional branch keeps the image latent, mask and OFM and drops both prompts.
            guidance_rescale: rescale of the guided prediction (Lin et al. 2023, §3.4), useful with
                zero-terminal-SNR schedules.
            negative_prompt: prompt of the unconditional branch, empty by default.
            num_videos_per_prompt: videos to generate.
            eta: DDIM's η.
            generator: torch generator(s) for reproducible sampling.
            latents: initial noise (B, C, F, h, w) (C: the VAE's latent channels), to reuse a sample.
            output_type: "pil", "np", "pt" or "latent".
            return_dict: return a `FollowYourClickPipelineOutput` rather than a tuple.
            callback_on_step_end: `fn(pipe, step, timestep, callback_kwargs) -> dict` after every step; it may
                replace tensors listed in `callback_on_step_end_tensor_inputs` and may set `pipe._interrupt`. With
                the UNet's `latent_residual`, the latents it sees are residuals (frame minus the first-frame latent).
            decode_chunk_size: frames decoded by the VAE at a time (lower saves memory).
            control_frames: with a `controlnet`, one control image per frame (a pose sequence, ...): a list of images,
                a folder of images or a video file; stretched or thinned evenly in time to `num_frames` and resized to
                the video's size. With several ControlNets, a list of such sequences, one per ControlNet.
            controlnet_conditioning_scale: how strongly the ControlNet steers (0: as without it); one per ControlNet.
            control_guidance_start, control_guidance_end: the share of the denoising steps in which it acts.

        Examples:

        Returns:
            `FollowYourClickPipelineOutput` (or a tuple with the frames).
        """
        self.check_inputs(
            image, regions, ofm, num_frames, height, width, output_type, callback_on_step_end_tensor_inputs
        )
        if control_frames is not None and self.controlnet is None:
            raise ValueError(
                "control_frames need a ControlNet: load one with fyc.controlnet.load_controlnet() and pass it as "
                "FollowYourClickPipeline(..., controlnet=...) or pipe.register_modules(controlnet=...)"
            )
        if guidance_scale is None:
            guidance_scale = self.config.default_guidance_scale
        self._guidance_scale = guidance_scale
        self._guidance_rescale = guidance_rescale
        self._interrupt = False
        device = self._execution_device
        dtype = self.unet.dtype

        # 1. Image at the working size, masks at latent size.
        pil_image = _to_pil(image)
        default_h, default_w = self.default_size(pil_image)
        height, width = height or default_h, width or default_w
        pixels = self.video_processor.preprocess(pil_image, height=height, width=width).to(device)
        latent_size = (height // self.vae_scale_factor, width // self.vae_scale_factor)
        region_masks = torch.from_numpy(np.stack(exclusive_masks([r.mask for r in regions]))).float()[None].to(device)
        union_latent = region_mask_latent(region_masks.amax(1, keepdim=True), latent_size)  # (1, 1, h, w)
        soft_region_masks = region_prompt_masks(region_masks, latent_size)  # (1, R, h, w)

        # 2. Text: each motion prompt feeds both the spatial and the motion (MA) cross-attention inside its region,
        # the empty prompt outside every region (regional prompter). One region too: a prompt that reached the
        # whole frame stirred the still background (docs/results/README.md, "Figures behind choices in the code").
        prompt_embeds = self.encode_prompt([r.prompt for r in regions], device)  # (R, L, D)
        negative_prompt_embeds = self.encode_prompt(negative_prompt or "", device)  # (1, L, D)
        batch = num_videos_per_prompt
        cond_text = self.encode_prompt("", device).expand(batch, -1, -1)
        region_masks = soft_region_masks.to(dtype).expand(batch, -1, -1, -1)
        region_prompts = prompt_embeds[None].expand(batch, -1, -1, -1)
        if self.do_classifier_free_guidance:
            text = torch.cat([negative_prompt_embeds.expand(batch, -1, -1), cond_text])
            region_masks = torch.cat([torch.zeros_like(region_masks), region_masks])
            region_prompts = torch.cat([region_prompts, region_prompts])
        else:
            text = cond_text
        region_kwargs = {"region_masks": region_masks, "region_encoder_hidden_states": region_prompts}

        # 3. Conditioning channels: region mask + first-frame latent; kept in the unconditional branch too.
        first_frame_latent = self.encode_first_frame(pixels).to(dtype)
        condition = build_condition(first_frame_latent, union_latent, num_frames, self.unet.config.first_frame_layout)
        condition = condition.expand(batch, *condition.shape[1:])
        ofm_values = torch.as_tensor(ofm, dtype=torch.float32, device=device).reshape(-1).expand(batch)
        if self.do_classifier_free_guidance:
            condition = torch.cat([condition] * 2)
            ofm_values = torch.cat([ofm_values] * 2)

        # 4. Timesteps and noise.
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        latents = self.prepare_latents(
            batch, self.vae.config.latent_channels, num_frames, height, width, dtype, device, generator, latents
        )
        first_frame_noise = randn_tensor(
            first_frame_latent.shape, generator=_first(generator), device=device, dtype=dtype
        )
        # With `latent_residual` the UNet denoises frames minus the first-frame latent: frame 0 is then zero.
        residual = self.unet.config.get("latent_residual", False)
        known_first_frame = torch.zeros_like(first_frame_latent) if residual else first_frame_latent
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)
        num_warmup_steps = len(timesteps) - num_inference_steps * self.scheduler.order
        control = self._prepare_control(
            control_frames,
            num_frames,
            height,
            width,
            len(timesteps),
            controlnet_conditioning_scale,
            control_guidance_start,
            control_guidance_end,
        )

        # 5. Denoising loop.
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                model_input = torch.cat([latents] * 2) if self.do_classifier_free_guidance else latents
                model_input = self.scheduler.scale_model_input(model_input, t)
                model_input = torch.cat([model_input, condition], dim=1)
                residuals = {}
                if control is not None:
                    from .controlnet import controlnet_residuals

                    seen = latents + self._noised_scale(t) * first_frame_latent[:, :, None] if residual else latents
                    seen = torch.cat([seen] * 2) if self.do_classifier_free_guidance else seen
                    images, scales = control
                    down, mid = controlnet_residuals(
                        self.controlnet,
                        self.scheduler.scale_model_input(seen, t),
                        t,
                        text,
                        images,
                        scales[i],
                        union_latent,
                    )
                    residuals = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
                noise_pred = self.unet(
                    model_input,
                    t,
                    encoder_hidden_states=text,
                    ofm=ofm_values,
                    **region_kwargs,
                    **residuals,
                ).sample
                if self.do_classifier_free_guidance:
                    noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)
                    noise_pred = noise_pred_uncond + guidance_scale * (noise_pred_text - noise_pred_uncond)
                    if guidance_rescale > 0:
                        noise_pred = rescale_noise_cfg(noise_pred, noise_pred_text, guidance_rescale=guidance_rescale)
                latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs).prev_sample
                latents = self._pin_first_frame(latents, known_first_frame, first_frame_noise, timesteps, i)

                if callback_on_step_end is not None:
                    callback_kwargs = {}
                    for name in callback_on_step_end_tensor_inputs:
                        callback_kwargs[name] = {
                            "prompt_embeds": cond_text,
                            "negative_prompt_embeds": negative_prompt_embeds,
                        }.get(name, latents if name == "latents" else None)
                    outputs = callback_on_step_end(self, i, t, callback_kwargs) or {}
                    latents = outputs.pop("latents", latents)
                if i == len(timesteps) - 1 or ((i + 1) > num_warmup_steps and (i + 1) % self.scheduler.order == 0):
                    progress_bar.update()

        # 6. Decode.
        if residual:
            latents = latents + first_frame_latent[:, :, None]
        if output_type == "latent":
            video = latents
        else:
            video = self.video_processor.postprocess_video(
                self.decode_latents(latents, decode_chunk_size), output_type=output_type
            )
        self.maybe_free_model_hooks()
        if not return_dict:
            return (video,)
        return FollowYourClickPipelineOutput(frames=video)

    def _noised_scale(self, t) -> float:
        """What a clean latent is multiplied by in the noisy latents at timestep `t`: sqrt(alpha_bar_t) for schedulers
        that keep x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) noise (DDIM, DPM-Solver), 1 for those that keep
        x_0 + sigma noise (Euler: `init_noise_sigma` > 1). With `latent_residual` the ControlNet is shown the whole
        noisy latent, residual plus the first frame, as the public ControlNets were trained on."""
        alphas = getattr(self.scheduler, "alphas_cumprod", None)
        if alphas is None or float(self.scheduler.init_noise_sigma) > 1.0:
            return 1.0
        return float(alphas[int(t)] ** 0.5)

    def _prepare_control(self, control_frames, num_frames, height, width, num_steps, scale, start, end):
        """(per ControlNet the (F, 3, H, W) control frames, per step per ControlNet the scale) or None."""
        if control_frames is None:
            return None
        from .controlnet import control_tensor, guidance_keep, nets

        count = len(nets(self.controlnet))
        sequences = [control_frames] if count == 1 else list(control_frames)
        if len(sequences) != count:
            raise ValueError(f"{count} ControlNets need {count} control sequences, got {len(sequences)}")

        def per_net(value, name):
            values = list(value) if isinstance(value, (list, tuple)) else [value] * count
            if len(values) != count:
                raise ValueError(f"{name} has {len(values)} values for {count} ControlNets")
            return [float(v) for v in values]

        scales = per_net(scale, "controlnet_conditioning_scale")
        starts, ends = per_net(start, "control_guidance_start"), per_net(end, "control_guidance_end")
        if any(not 0 <= s < e <= 1 for s, e in zip(starts, ends)):
            raise ValueError(f"control guidance needs 0 <= start < end <= 1, got {starts} and {ends}")
        images = [control_tensor(sequence, num_frames, height, width) for sequence in sequences]
        keep = guidance_keep(num_steps, starts, ends)
        return images, [[s * k for s, k in zip(scales, step)] for step in keep]

    def _pin_first_frame(self, latents, first_frame_latent, noise, timesteps, i):
        """Frame 0 is the input: after each step, set its latent to the input's latent noised to the next
        step's level (the last step gets it clean), as inpainting pipelines do for the known region."""
        if i + 1 < len(timesteps):
            next_t = timesteps[i + 1 : i + 2]
            known = (
                self.scheduler.add_noise(first_frame_latent, noise, next_t)
                if hasattr(self.scheduler, "add_noise")
                else None
            )
            if known is None:
                return latents
        else:
            known = first_frame_latent
        latents = latents.clone()
        latents[:, :, 0] = known.to(latents.dtype)
        return latents


def _image_hw(image) -> tuple[int, int]:
    if isinstance(image, PIL.Image.Image):
        return (image.height, image.width)
    if isinstance(image, torch.Tensor):
        return tuple(image.shape[-2:])
    return tuple(np.asarray(image).shape[:2])


def _to_pil(image) -> PIL.Image.Image:
    if isinstance(image, PIL.Image.Image):
        return image.convert("RGB")
    if isinstance(image, torch.Tensor):
        image = image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"numpy images must be uint8 HxWx3, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return PIL.Image.fromarray(image[..., :3])


def _first(generator):
    return generator[0] if isinstance(generator, list) else generator
