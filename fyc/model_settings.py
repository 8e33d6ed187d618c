"""What a loaded pipeline's own defaults and limits are, read in one place by `fyc.animate`, the CLI and the app.

Two model kinds animate a photo: the latent model (`FollowYourClickPipeline`, the paper's: it generates VAE latents
at its native size) and the motion-field model (`FollowYourClickMotionFieldPipeline`: it generates displacement
fields and renders the photo along them at the photo's own resolution). They differ in what a user may ask of them:

    from fyc.model_settings import model_settings
    settings = model_settings(pipe)
    settings.num_inference_steps, settings.ofm_range, settings.keeps_background, settings.vocabulary
"""

from __future__ import annotations

from dataclasses import dataclass

from fyc.inputs import OFM_DEFAULT, OFM_MAX, OFM_MIN, PIXEL_FRAME_BUDGET

MOTION_FIELD = "motion_field"
LATENT = "latent"
DEFAULT_MAX_SIDE = 1024  # long side of a motion-field video (`fyc.render.DEFAULT_MAX_SIDE`)
# The renderer's memory grows with the output's pixels, not with a network's activations, and is small (see
# docs/results/render.md): the most frames at the largest default video are allowed.
RENDERED_PIXEL_FRAME_BUDGET = 32 * DEFAULT_MAX_SIDE * DEFAULT_MAX_SIDE


@dataclass(frozen=True)
class ModelSettings:
    """A pipeline's defaults and limits.

    Attributes:
        kind: `MOTION_FIELD` or `LATENT`.
        num_inference_steps: the denoising steps it was measured at.
        guidance_scale: its `config.default_guidance_scale`.
        ofm_range: (low, high) motion strengths it knows, in `fyc.flow` units (px/frame at 256-px width).
        ofm_default: the strength a first try uses.
        keeps_background: whether every pixel outside the regions is the photo's own by construction (the motion-field
            renderer), so pasting the photo back ("keep background still") has nothing to do.
        follows_drags: whether it takes drags (`fyc.motion_field.Trajectory`) and keypoint tracks.
        follows_control_frames: whether it takes control frames (a latent pipeline with a `controlnet`).
        vocabulary: the canonical prompts of the motions it was trained on (empty when it does not say).
        max_frames: frames its motion module can attend over.
        pixel_frame_budget: the most frames x height x width of one video it is asked for by default.
    """

    kind: str
    num_inference_steps: int
    guidance_scale: float
    ofm_range: tuple[float, float]
    ofm_default: float
    keeps_background: bool
    follows_drags: bool
    follows_control_frames: bool
    vocabulary: tuple[str, ...]
    max_frames: int
    pixel_frame_budget: int

    @property
    def name(self) -> str:
        """The kind in words, for messages."""
        return "the motion-field model" if self.kind == MOTION_FIELD else "the latent model"


def is_motion_field(pipe) -> bool:
    from fyc.motion_pipeline import FollowYourClickMotionFieldPipeline

    return isinstance(pipe, FollowYourClickMotionFieldPipeline)


def model_settings(pipe) -> ModelSettings:
    """The defaults and limits of `pipe`, a `FollowYourClickPipeline` or `FollowYourClickMotionFieldPipeline`."""
    config = pipe.config
    max_frames = int(getattr(pipe.unet.config, "motion_max_seq_length", 32) or 32)
    if is_motion_field(pipe):
        from fyc.data.field_clips import SPEED_RANGE

        low, high = (float(v) for v in (getattr(config, "ofm_range", None) or SPEED_RANGE))
        return ModelSettings(
            kind=MOTION_FIELD,
            num_inference_steps=12,
            guidance_scale=float(config.default_guidance_scale),
            ofm_range=(low, high),
            ofm_default=min(max(4.0, low), high),
            keeps_background=True,
            follows_drags=True,
            follows_control_frames=False,
            vocabulary=tuple(getattr(config, "motion_vocabulary", None) or ()),
            max_frames=max_frames,
            pixel_frame_budget=RENDERED_PIXEL_FRAME_BUDGET,
        )
    return ModelSettings(
        kind=LATENT,
        num_inference_steps=25,
        guidance_scale=float(getattr(config, "default_guidance_scale", 7.5)),
        ofm_range=(OFM_MIN, OFM_MAX),
        ofm_default=OFM_DEFAULT,
        keeps_background=False,
        follows_drags=False,
        follows_control_frames=getattr(pipe, "controlnet", None) is not None,
        vocabulary=tuple(getattr(config, "motion_vocabulary", None) or ()),
        max_frames=max_frames,
        pixel_frame_budget=PIXEL_FRAME_BUDGET,
    )


def video_size(pipe, image, max_side: int = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    """(height, width) of the video `pipe` makes of `image` (PIL image or HxWx3 array): the photo's own size up to
    `max_side` (even sides) for the motion-field model, the model's native size for the latent one."""
    if not is_motion_field(pipe):
        return pipe.default_size(image)
    from fyc.render import output_size

    width, height = (
        image.size if hasattr(image, "size") and not hasattr(image, "shape") else (image.shape[1], image.shape[0])
    )
    return output_size(height, width, max_side)
