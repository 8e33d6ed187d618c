"""`FollowYourClickMotionFieldPipeline`: Follow-Your-Click that generates motion fields and renders the photo with them.

The same conditioning as `FollowYourClickPipeline` (region mask channel, first-frame condition, each region's short
prompt in its mask through both cross-attentions and the MA module, OFM in the time embedding, classifier-free
guidance), but what is denoised is a stack of forward displacement fields on a coarse grid (`fyc.motion_field`),
and what turns it into frames is `fyc.render`, not a VAE decoder: the photo supplies every pixel, at its own
resolution, and frame 0 is the photo.

Generated: the fields (where each point of each clicked object is at every frame). Rendered: everything else (the
objects' pixels warped along the fields, their soft edges, the background they uncover, inpainted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils import BaseOutput, replace_example_docstring
from diffusers.utils.torch_utils import randn_tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .conditioning import region_prompt_masks
from .models import FYCUNetMotionModel
from .motion_field import (
    HINT_CHANNELS,
    Trajectory,
    build_field_condition,
    denormalise,
    field_speed,
    grid_region_mask,
    grid_size,
    hint_channels,
    region_coverage,
)
from .pipeline import FollowYourClickPipeline, _to_pil
from .region import Region, exclusive_masks

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> import numpy as np
        >>> from PIL import Image
        >>> from fyc import load_pipeline, Region
        >>> from fyc.video import export_mp4

        >>> pipe = load_pipeline()  # the motion-field demo model
        >>> image = Image.open("examples/chelsea.png").convert("RGB")
        >>> mask = np.zeros((image.height, image.width), bool)
        >>> mask[100:250, 150:350] = True
        >>> video = pipe(image, regions=[Region(mask, "nod")], ofm=4.0).frames[0]
        >>> export_mp4(video, "cat.mp4", fps=8)
        ```
"""

CONDITION_CHANNELS = 1 + 3 + HINT_CHANNELS  # [mask | appearance | hints] after the 2 field channels
MAX_REGION_SHARE = 0.98  # a region over (nearly) all of the photo leaves nothing still and nothing to inpaint from


@dataclass
class FollowYourClickMotionFieldPipelineOutput(BaseOutput):
    """Args:
    frames: rendered video(s): a list of lists of PIL images, np.ndarray (B, F, H, W, 3) in [0, 1] or torch.Tensor
        (B, F, 3, H, W) in [0, 1] (`output_type`); None for `output_type="fields"`.
    fields: float32 np.ndarray (B, F, 2, h, w), the generated forward displacement fields in reference px.
    """

    frames: torch.Tensor | np.ndarray | list[list[PIL.Image.Image]] | None
    fields: np.ndarray


class FollowYourClickMotionFieldPipeline(FollowYourClickPipeline):
    r"""Regional image animation by motion fields: a still image + regions with short prompts → a video at the image's
    resolution.

    Args:
        text_encoder, tokenizer: the frozen text encoder (the demo model: MiniLM, mean-pooled).
        unet (`FYCUNetMotionModel`): 2 output channels (dx, dy a frame), `2 + 7` input channels
            `[noisy fields 2 | region mask 1 | appearance 3 | hints 3]`.
        scheduler: any diffusers scheduler (`pipe.scheduler = DPMSolverMultistepScheduler.from_config(...)`).
        default_guidance_scale: the guidance the model was measured best at.
        motion_vocabulary: the canonical prompts of the motions the model was trained on (the app suggests them).
        motion_wordings: each motion's training wordings, {motion: [wording, ...]}: a region whose prompt is nearest
            to a wording of a streaming motion (`fyc.data.field_motions.STREAM_MOTIONS`: flow) is rendered as a
            stream, its texture flowing through a region that stays put (`region_modes`).
    """

    model_cpu_offload_seq = "text_encoder->unet"
    _optional_components = []
    _callback_tensor_inputs = ["latents"]

    def __init__(
        self,
        text_encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        unet: FYCUNetMotionModel,
        scheduler: KarrasDiffusionSchedulers,
        default_guidance_scale: float = 3.0,
        motion_vocabulary: list[str] | None = None,
        motion_wordings: dict[str, list[str]] | None = None,
    ):
        DiffusionPipeline.__init__(self)
        self.register_modules(text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler)
        self.register_to_config(
            default_guidance_scale=float(default_guidance_scale),
            motion_vocabulary=list(motion_vocabulary or []),
            motion_wordings={k: list(v) for k, v in (motion_wordings or {}).items()},
        )
        if unet is not None and (unet.config.in_channels, unet.config.out_channels) != (2 + CONDITION_CHANNELS, 2):
            raise ValueError(
                f"a motion-field UNet takes {2 + CONDITION_CHANNELS} input / 2 output channels "
                f"[noisy fields 2 | mask 1 | appearance 3 | hints 3], this one {unet.config.in_channels} / {unet.config.out_channels}"
            )

    @property
    def size_multiple(self) -> int:
        """The output has even sides (H.264 yuv420p); the grid follows the photo's aspect."""
        return 2

    def region_modes(self, prompts: list[str]) -> list[str]:
        """How each region is rendered: "stream" when its prompt is nearest to a wording of a streaming motion
        (flow: water, clouds, smoke), "layer" (the object moves) otherwise or when the model lists no wordings."""
        from .data.field_motions import STREAM_MOTIONS
        from .prompt_vocabulary import nearest_wording

        nearest = [nearest_wording(self, prompt) for prompt in prompts]
        return ["stream" if n is not None and n[1] in STREAM_MOTIONS else "layer" for n in nearest]

    def check_field_inputs(self, image, regions, ofm, num_frames, trajectories, output_type, max_side):
        super().check_inputs(
            image, regions, float(np.mean(ofm)) if np.ndim(ofm) else ofm, num_frames, None, None, "np", []
        )
        if np.ndim(ofm) and len(np.atleast_1d(ofm)) not in (1, len(regions)):
            raise ValueError(
                f"give one ofm (motion strength) for all regions or one per region ({len(regions)}), got {len(ofm)}"
            )
        taken = np.logical_or.reduce([r.mask for r in regions])
        if taken.mean() > MAX_REGION_SHARE:
            raise ValueError(
                "the regions cover the whole photo: leave part of it unselected (the still background the "
                "objects move over)"
            )
        if trajectories is not None and len(trajectories) != len(regions):
            raise ValueError(f"trajectories: give one list per region ({len(regions)}), got {len(trajectories)}")
        if output_type not in ("pil", "np", "pt", "fields"):
            raise ValueError(f"output_type must be 'pil', 'np', 'pt' or 'fields', got {output_type!r}")
        if not 16 <= max_side <= 2048:
            raise ValueError(f"max_side must be between 16 and 2048 px, got {max_side}")

    @torch.no_grad()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        image: PIL.Image.Image | np.ndarray | torch.Tensor,
        regions: list[Region],
        ofm: float | list[float] = 4.0,
        num_frames: int = 16,
        num_inference_steps: int = 12,
        guidance_scale: float | None = None,
        trajectories: list[list[Trajectory]] | None = None,
        calibrate_strength: bool = True,
        max_side: int = 1024,
        region_modes: list[str] | None = None,
        num_videos_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable[[DiffusionPipeline, int, int, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],
    ):
        r"""
        Animate the regions of `image`.

        Args:
            image: the still image (PIL, HxWx3 uint8 array, or (3, H, W) tensor in [0, 1]).
            regions: one `Region(mask, prompt)` per object, boolean masks at the image's size; the later region wins
                an overlap. Each prompt applies inside its own mask, the empty prompt elsewhere.
            ofm: motion strength in `fyc.flow` units (px/frame at a 256-px-wide reference): one for all regions or
                one per region.
            num_frames: frames, at most the motion module's `motion_max_seq_length`.
            num_inference_steps: denoising steps.
            guidance_scale: classifier-free guidance (1 disables it); default the model's `default_guidance_scale`.
            trajectories: per region, a list of `Trajectory` (points of frame 0 and where they should be later, in the
                image's px; `Trajectory.drag(x0, y0, x1, y1, num_frames)` for a drag), or None.
            calibrate_strength: scale each region's generated motion so that its mean speed is the `ofm` asked for
                (the model's own reading of the OFM embedding is approximate); False returns the fields as sampled.
            max_side: long side of the rendered video in px (the image's own size when smaller), at most 2048.
            region_modes: per region, "layer" (the object moves) or "stream" (its texture flows through a region
                that stays put: water, clouds); by default from each prompt (`region_modes()`).
            num_videos_per_prompt: videos to generate.
            generator, latents: for reproducible sampling; `latents` is the initial noise (B, 2, F, h, w).
            output_type: "pil", "np", "pt", or "fields" (no rendering).
            return_dict: return a `FollowYourClickMotionFieldPipelineOutput` rather than a tuple.
            callback_on_step_end: `fn(pipe, step, timestep, callback_kwargs) -> dict` after every step; it may replace
                `latents` and may set `pipe._interrupt`.

        Examples:

        Returns:
            `FollowYourClickMotionFieldPipelineOutput` (or a tuple (frames, fields)).
        """
        self.check_field_inputs(image, regions, ofm, num_frames, trajectories, output_type, max_side)
        guidance_scale = self.config.default_guidance_scale if guidance_scale is None else guidance_scale
        self._guidance_scale, self._guidance_rescale, self._interrupt = guidance_scale, 0.0, False
        device, dtype = self._execution_device, self.unet.dtype
        photo = np.asarray(_to_pil(image))
        height, width = photo.shape[:2]
        grid = grid_size(height, width)
        batch = num_videos_per_prompt
        strengths = np.broadcast_to(np.atleast_1d(np.asarray(ofm, dtype=np.float64)), (len(regions),))

        # 1. Masks on the grid: the union as the mask channel, each region's share of each cell for its prompt.
        masks = [r.mask for r in regions]
        exclusive = torch.from_numpy(np.stack(exclusive_masks(masks))).float()[None].to(device)  # (1, R, H, W)
        mask_channel = grid_region_mask(exclusive, grid)
        soft_masks = region_prompt_masks(exclusive, grid).to(dtype).expand(batch, -1, -1, -1)

        # 2. Text: each region's prompt inside its mask, the empty prompt elsewhere.
        prompt_embeds = self.encode_prompt([r.prompt for r in regions], device)[None].expand(batch, -1, -1, -1)
        empty = self.encode_prompt("", device).expand(batch, -1, -1)
        if self.do_classifier_free_guidance:
            text = torch.cat([empty, empty])
            region_kwargs = {
                "region_masks": torch.cat([torch.zeros_like(soft_masks), soft_masks]),
                "region_encoder_hidden_states": torch.cat([prompt_embeds, prompt_embeds]),
            }
        else:
            text, region_kwargs = empty, {"region_masks": soft_masks, "region_encoder_hidden_states": prompt_embeds}

        # 3. Conditioning channels, kept in the unconditional branch too.
        from .data.field_clips import appearance as appearance_of

        look = torch.from_numpy(appearance_of(photo, grid))[None].to(device, dtype)
        paths = [t for region_paths in (trajectories or []) for t in region_paths]
        hints = torch.from_numpy(hint_channels(paths, grid, height, width, num_frames))[None].to(device, dtype)
        condition = build_field_condition(mask_channel.to(dtype), look, hints, num_frames).expand(batch, -1, -1, -1, -1)
        ofm_values = torch.full((batch,), float(strengths.mean()), device=device)
        if self.do_classifier_free_guidance:
            condition, ofm_values = torch.cat([condition] * 2), torch.cat([ofm_values] * 2)

        # 4. Denoise.
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        shape = (batch, 2, num_frames, *grid)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents have shape {tuple(latents.shape)}, expected {shape}")
        latents = latents.to(device, dtype) * self.scheduler.init_noise_sigma
        latents[:, :, 0] = 0  # as in training, where frame 0 is never noised
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, 0.0)
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                model_input = torch.cat([latents] * 2) if self.do_classifier_free_guidance else latents
                model_input = torch.cat([self.scheduler.scale_model_input(model_input, t), condition], dim=1)
                prediction = self.unet(
                    model_input, t, encoder_hidden_states=text, ofm=ofm_values, **region_kwargs
                ).sample
                if self.do_classifier_free_guidance:
                    uncond, cond = prediction.chunk(2)
                    prediction = uncond + guidance_scale * (cond - uncond)
                latents = self.scheduler.step(prediction, t, latents, **extra_step_kwargs).prev_sample
                latents[:, :, 0] = 0  # frame 0 is the photo: no displacement
                if callback_on_step_end is not None:
                    outputs = callback_on_step_end(self, i, t, {"latents": latents}) or {}
                    latents = outputs.pop("latents", latents)
                progress_bar.update()

        # 5. Fields in reference px, each region's strength as asked, then rendering.
        fields = denormalise(latents.float().permute(0, 2, 1, 3, 4).cpu().numpy())  # (B, F, 2, h, w)
        if calibrate_strength:
            fields = _calibrate(fields, exclusive[0].cpu().numpy() > 0, grid, strengths)
        frames = None
        if output_type != "fields" and not self.interrupt:
            from .render import render_video

            region_masks = list(exclusive[0].cpu().numpy() > 0)
            modes = region_modes or self.region_modes([r.prompt for r in regions])
            videos = [
                render_video(photo, video_fields, region_masks, max_side=max_side, region_modes=modes)
                for video_fields in fields
            ]
            frames = _as_output(videos, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames, fields)
        return FollowYourClickMotionFieldPipelineOutput(frames=frames, fields=fields)


def _calibrate(fields: np.ndarray, masks: np.ndarray, grid, strengths) -> np.ndarray:
    """Scale each region's fields (the cells it covers most, and their neighbours) so that its cells' mean speed is its
    requested strength. A region the model left still stays still: there is no direction to scale."""
    coverage = region_coverage(masks, grid)
    owner = np.argmax(np.concatenate([np.full((1, *grid), 0.25), coverage]), axis=0) - 1
    out = fields.copy()
    for video in out:
        for index, strength in enumerate(strengths):
            cells = coverage[index] >= 0.5
            if not cells.any():
                cells = owner == index
            speed = field_speed(video, cells)
            if speed > 1e-3:
                near = _dilate(owner == index)
                video[:, :, near] *= strength / speed
    return out


def _dilate(cells: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.dilate(cells.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _as_output(videos: list[np.ndarray], output_type: str):
    if output_type == "pil":
        return [[PIL.Image.fromarray(frame) for frame in video] for video in videos]
    array = np.stack(videos).astype(np.float32) / 255.0
    if output_type == "np":
        return array
    return torch.from_numpy(array).permute(0, 1, 4, 2, 3)
