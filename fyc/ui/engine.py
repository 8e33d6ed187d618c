"""The models one app process shares between all visitors: the click segmenter and the animation pipeline.

Both are loaded once (at start-up, so the status line can say what is in use) and guarded by locks:
a diffusers pipeline keeps per-call state on the instance (`_guidance_scale`, `_interrupt`,
`_num_timesteps`), and a segmenter holds the embedding of the image it last saw, so neither may run two
calls at once. The app's queue already serialises generation (`GENERATION_CONCURRENCY`); the locks make
direct calls (tests, several endpoints sharing the models) safe too.

A missing model does not stop the app: clicking works without one, the status line says what is missing and
`model_notice` how to get it, and the model is looked for again (at most every `MODEL_RETRY_S`), so a pipeline
saved under `weights/` while the app runs is used from the next Generate on, and named after a page reload.

Cancelling: each run gets a `threading.Event`; the pipeline's step callback sets `pipe._interrupt` as soon
as it is set, so a cancelled run stops within one denoising step instead of finishing in the background.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from fyc.animate import animate
from fyc.inputs import OFM_DEFAULT, OFM_MAX, OFM_MIN, check_pixel_frames
from fyc.model_settings import ModelSettings, model_settings, video_size
from fyc.prompt_vocabulary import unfamiliar_prompt_note
from fyc.region import Region

# One pipeline instance per process, and diffusers pipelines are not re-entrant: one run at a time.
# (A bigger GPU is better used by running more app replicas than by sharing one pipeline.)
GENERATION_CONCURRENCY = 1
WEIGHTS_ENV = "FYC_WEIGHTS"  # a saved pipeline folder to use instead of the best one under weights/
SAM_ENV = "FYC_SAM_CHECKPOINT"  # a SAM .pth to use instead of the one `fyc.segment` finds
MODEL_RETRY_S = 30.0  # how often a missing animation model is looked for again (cheap: a few stat calls)


@dataclass
class ModelProblem:
    """Why there is no animation model (`reason`, a clause for the status line) and what to do (`remedy`).
    `missing`: nothing was found (worth looking again later), as opposed to weights that failed to load."""

    reason: str
    remedy: str
    missing: bool = False

    def __str__(self) -> str:
        return f"{self.reason}. {self.remedy}"


class ModelUnavailable(RuntimeError):
    """The animation model could not be loaded; the message says how to get it (`problem` holds the parts)."""

    def __init__(self, problem: ModelProblem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class GenerationDefaults:
    """Slider defaults and limits that depend on the loaded model (`fyc.model_settings`); these values while there
    is none."""

    num_frames: int = 16
    max_frames: int = 32
    num_inference_steps: int = 25
    fps: int = 8
    ofm: float = OFM_DEFAULT
    ofm_range: tuple[float, float] = (OFM_MIN, OFM_MAX)
    keeps_background: bool = False  # the model keeps every pixel outside the regions itself (no background lock)
    follows_drags: bool = False
    follows_control_frames: bool = False
    vocabulary: tuple[str, ...] = ()


class Engine:
    """Loads and serves the segmenter and the pipeline.

    Args:
        weights: a saved pipeline folder; None → `$FYC_WEIGHTS`, else `fyc.load_pipeline()`'s default.
        sam_checkpoint: a SAM checkpoint; None → `$FYC_SAM_CHECKPOINT`, else what `fyc.segment` finds.
        segmenter: "sam", "classical" or None (best available), passed to `ClickSegmenter.load(prefer=...)`.
        device: "cuda", "cpu" or None (CUDA when available).
        gpu: decorator applied to the function that runs the pipeline (e.g. `spaces.GPU` on a ZeroGPU
            Space); None runs it as is.
        num_inference_steps, num_frames: defaults for the sliders and the API instead of
            `GenerationDefaults`' (fewer steps suit a CPU-only host).
        max_pixel_frames: the most frames × output height × output width one generation may ask for; None: the
            model's own (`fyc.model_settings`: `fyc.inputs.PIXEL_FRAME_BUDGET` for the latent model); checked before
            the pipeline starts.
    """

    def __init__(
        self,
        weights=None,
        sam_checkpoint=None,
        segmenter: str | None = None,
        device: str | None = None,
        gpu: Callable | None = None,
        num_inference_steps: int | None = None,
        num_frames: int | None = None,
        max_pixel_frames: int | None = None,
    ):
        self.weights = weights if weights is not None else os.environ.get(WEIGHTS_ENV) or None
        self.sam_checkpoint = sam_checkpoint if sam_checkpoint is not None else os.environ.get(SAM_ENV) or None
        self.segmenter_preference = segmenter
        self.device = device
        self.max_pixel_frames = None if max_pixel_frames is None else int(max_pixel_frames)
        self._default_overrides = {
            key: value
            for key, value in (("num_inference_steps", num_inference_steps), ("num_frames", num_frames))
            if value is not None
        }
        self._pipe = None
        self._others: dict[str, object] = {}  # other saved models a visitor picked, by folder (`models`)
        self._pipe_given = False  # set_pipeline was called: no other model to pick
        self._pipe_error: ModelProblem | None = None
        self._pipe_tried_at = -float("inf")  # time.monotonic() of the last failed attempt
        self.model_retry_s = MODEL_RETRY_S
        self._segmenter = None
        self._pipe_lock = threading.Lock()
        self._segment_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._gpu_run = gpu(self._gpu_entry()) if gpu is not None else None

    # ---- loading -----------------------------------------------------------------------------------

    def load(self) -> Engine:
        """Load both models now (the app does this before serving); a missing pipeline is remembered, not
        raised, so the app can still start and say how to get weights."""
        self.segmenter  # noqa: B018 - loads it
        try:
            self.pipeline  # noqa: B018
        except ModelUnavailable:
            pass
        return self

    @property
    def segmenter(self):
        """The click segmenter (`fyc.segment.ClickSegmenter`): SAM when weights exist, else classical."""
        if self._segmenter is None:
            with self._load_lock:
                if self._segmenter is None:
                    from fyc.segment import ClickSegmenter

                    self._segmenter = ClickSegmenter.load(
                        checkpoint=self.sam_checkpoint, prefer=self.segmenter_preference
                    )
        return self._segmenter

    @property
    def pipeline(self):
        """The animation pipeline; raises `ModelUnavailable` (with the fix in its message) if it cannot load.

        When none was found, it is looked for again once `model_retry_s` seconds have passed (weights that
        fail to load are not retried: they need fixing, then a restart)."""
        if self._pipe is None:
            with self._load_lock:
                if self._pipe is None and self._should_try_loading():
                    self._pipe, self._pipe_error = _load_pipeline(self.weights, self.device)
                    self._pipe_tried_at = time.monotonic()
        if self._pipe is None:
            raise ModelUnavailable(self._pipe_error)
        return self._pipe

    def _should_try_loading(self) -> bool:
        if self._pipe_error is None:
            return True
        return self._pipe_error.missing and time.monotonic() - self._pipe_tried_at >= self.model_retry_s

    @property
    def model_problem(self) -> ModelProblem | None:
        """Why no animation model is loaded (None when one is)."""
        return None if self.has_pipeline else self._pipe_error

    def set_segmenter(self, segmenter) -> None:
        """Use an already built segmenter (tests, notebooks)."""
        with self._load_lock:
            self._segmenter = segmenter

    def set_pipeline(self, pipe) -> None:
        """Use an already built pipeline (tests, notebooks)."""
        with self._load_lock:
            self._pipe, self._pipe_error, self._pipe_given = pipe, None, True

    def models(self) -> list[tuple[str, str]]:
        """(label, folder) of each saved model a visitor may pick, the default first: every pipeline folder under
        `weights/` (`fyc.weights.pipeline_folders`), or none when the engine was given its model (`weights`,
        `set_pipeline`). The app shows a picker when there are two or more."""
        if self.weights is not None or self._pipe_given:
            return []
        from fyc.weights import pipeline_folders, pipeline_label

        return [(pipeline_label(folder), str(folder)) for folder in pipeline_folders()]

    def pipeline_for(self, model: str | None = None):
        """The pipeline of `model` (a folder from `models`); None or the default's folder: `pipeline`."""
        if model is None:  # most calls: no folder scan
            return self.pipeline
        choices = [folder for _, folder in self.models()]
        if not choices or model == choices[0]:
            return self.pipeline
        if model not in choices:
            raise ModelUnavailable(ModelProblem(f"no model {model!r} here", "Pick one of the listed models."))
        with self._load_lock:
            if model not in self._others:
                pipe, problem = _load_pipeline(model, self.device)
                if pipe is None:
                    raise ModelUnavailable(problem)
                self._others[model] = pipe
            return self._others[model]

    @property
    def has_pipeline(self) -> bool:
        try:
            self.pipeline  # noqa: B018
        except ModelUnavailable:
            return False
        return True

    def defaults(self, model: str | None = None) -> GenerationDefaults:
        """Slider defaults for `model` (`pipeline_for`; frames capped by its motion module)."""
        defaults = GenerationDefaults()
        try:
            pipe = self.pipeline_for(model)
        except ModelUnavailable:
            pipe = None
        if pipe is not None:
            settings = model_settings(pipe)
            # Every limit the model states under the same name, and its first-try strength as the slider's value.
            shared = {f.name for f in fields(GenerationDefaults)} & {f.name for f in fields(ModelSettings)}
            defaults = GenerationDefaults(ofm=settings.ofm_default, **{n: getattr(settings, n) for n in shared})
        for key, value in self._default_overrides.items():
            setattr(defaults, key, value)
        defaults.num_frames = min(defaults.num_frames, defaults.max_frames)
        return defaults

    def prompt_notes(self, prompts, model: str | None = None) -> list[str]:
        """One sentence per prompt far from every motion `model` learned (`fyc.prompt_vocabulary`)."""
        try:
            pipe = self.pipeline_for(model)
        except ModelUnavailable:
            return []
        notes = (unfamiliar_prompt_note(pipe, p) for p in dict.fromkeys(prompts))
        return [note for note in notes if note]

    def pixel_frame_budget(self, pipe=None) -> int | None:
        """`max_pixel_frames` when given, else the model's own (`pipe`, default the loaded one; None while there is
        no model)."""
        if self.max_pixel_frames is not None or (pipe is None and not self.has_pipeline):
            return self.max_pixel_frames
        return model_settings(pipe if pipe is not None else self._pipe).pixel_frame_budget

    # ---- status ------------------------------------------------------------------------------------

    def status_line(self) -> str:
        """One line for the top of the page: which weights and segmenter are in use, and how to do better, e.g.
        "demo model, 128 px · approximate masks (superpixel GrabCut: no SAM weights; for SAM masks: ...)"."""
        problem = self.model_problem
        model = _describe(self._pipe) if problem is None else f"no animation model ({problem.reason})"
        backend = str(getattr(self.segmenter, "backend", "classical"))
        if backend.startswith("sam"):
            variant = backend.partition("-")[2]  # "vit_b" -> "ViT-B"
            masks = (
                "SAM " + (f"ViT-{variant.partition('_')[2].upper()} " if variant.startswith("vit_") else "") + "masks"
            )
        else:
            masks = (
                "approximate masks (superpixel GrabCut: no SAM weights; for SAM masks: "
                f"`python -m fyc download sam-vit-b`, {_sam_download_size()})"
            )
        return f"{model} · {masks}"

    def model_notice(self) -> str:
        """What the page says under the status line while there is no animation model ("" when there is one)."""
        problem = self.model_problem
        if problem is None:
            return ""
        return f"**Generate needs an animation model.** {problem.remedy} Clicks and masks work meanwhile."

    # ---- segmentation ------------------------------------------------------------------------------

    def embed(self, image: np.ndarray) -> float:
        """Compute (or reuse) the segmenter's embedding of `image`; returns the seconds it took."""
        start = time.perf_counter()
        with self._segment_lock:
            self.segmenter.set_image(image)
        return time.perf_counter() - start

    def segment(self, image: np.ndarray, points) -> np.ndarray | None:
        """Mask (bool, image size) for clicks `[(x, y, label)]` with an include click; None when it selects nothing."""
        with self._segment_lock:
            # set_image + predict in one call; embeddings are cached by content, so switching between
            # visitors' images costs nothing after the first time.
            mask = np.asarray(self.segmenter.predict([tuple(p) for p in points], image=image), dtype=bool)
        return mask if mask.any() else None

    # ---- animation ---------------------------------------------------------------------------------

    def animate(
        self,
        image: np.ndarray,
        regions: list[Region],
        *,
        ofm: float,
        seed: int,
        num_frames: int,
        num_inference_steps: int,
        guidance_scale: float | None = None,
        keep_background: bool = False,
        drags: list[list[tuple]] | None = None,
        keypoints=None,
        on_step: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        model: str | None = None,
    ) -> np.ndarray | None:
        """`fyc.animate.animate` with the shared pipeline of `model` (`pipeline_for`), one run at a time: frames
        float32 (F, H, W, 3) in [0, 1], or None when cancelled.

        Raises:
            ModelUnavailable: no pipeline could be loaded.
            InputError: the video would exceed `max_pixel_frames` (checked before the pipeline runs).
            ValueError: the pipeline refused the arguments (its message says why).
        """
        pipe = self.pipeline_for(model)
        budget = self.pixel_frame_budget(pipe)
        # Checked here too, before waiting for the lock or asking ZeroGPU for a GPU, for a request refused anyway.
        check_pixel_frames(num_frames, *video_size(pipe, image), budget)
        cancel = cancel or threading.Event()
        with self._pipe_lock:
            if self._gpu_run is None:
                settings = (
                    ofm,
                    seed,
                    num_frames,
                    num_inference_steps,
                    guidance_scale,
                    keep_background,
                    drags,
                    keypoints,
                )
                return self._animate_now(image, regions, settings, on_step=on_step, cancel=cancel, model=model)
            # ZeroGPU runs the call in another process and pickles its arguments: plain values only, so no
            # per-step progress or cancel there.
            frames = self._gpu_run(
                image,
                regions,
                float(ofm),
                int(seed),
                int(num_frames),
                int(num_inference_steps),
                guidance_scale,
                bool(keep_background),
                drags,
                keypoints,
                model,
            )
        return None if cancel.is_set() else frames

    def _animate_now(self, image, regions, settings: tuple, on_step=None, cancel=None, model=None):
        """`animate` on `model`'s pipeline within its pixel-frame budget (the caller holds the pipeline lock).

        `settings`: (ofm, seed, num_frames, num_inference_steps, guidance_scale, keep_background, drags, keypoints).
        """
        ofm, seed, num_frames, num_inference_steps, guidance_scale, keep_background, drags, pose = settings
        pipe = self.pipeline_for(model)
        # A pose is keypoint tracks (the motion-field model's hints) or control frames (a ControlNet's images).
        pose_kwargs = {"control_frames" if isinstance(pose, list) else "keypoints": pose}
        return animate(
            pipe,
            image,
            regions,
            ofm=ofm,
            seed=seed,
            num_frames=num_frames,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            keep_background=keep_background,
            drags=drags,
            **pose_kwargs,
            max_pixel_frames=self.pixel_frame_budget(pipe),
            on_step=on_step,
            cancel=cancel,
        )

    def _gpu_entry(self) -> Callable:
        """The function a GPU decorator wraps: plain arguments in, frames out; the pipeline comes from `self`."""

        def run_on_gpu(
            image,
            regions,
            ofm,
            seed,
            num_frames,
            num_inference_steps,
            guidance_scale,
            keep_background,
            drags=None,
            keypoints=None,
            model=None,
        ):
            settings = (ofm, seed, num_frames, num_inference_steps, guidance_scale, keep_background, drags, keypoints)
            return self._animate_now(image, regions, settings, model=model)

        return run_on_gpu


def _load_pipeline(weights, device):
    """(pipeline, None) or (None, `ModelProblem` saying what is missing and how to get it)."""
    try:
        from fyc import load_pipeline

        pipe = load_pipeline(weights)
    except (FileNotFoundError, OSError, ValueError, ImportError) as error:
        return None, _model_problem(weights, error)
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu":
        pipe = pipe.to(device)
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return pipe, None


# What to do when no model was given and none is found under weights/ (the demo model is committed there).
DEMO_REMEDY = (
    "The repository ships its demo models in `weights/demo_motion/` (motion fields, the default) and `weights/demo/` "
    "(latent): update your checkout (`git pull`) to get them. Or train "
    "it (`python -m fyc train --config configs/demo.yaml`, then `python -m fyc export --config configs/demo.yaml "
    "--out weights/my-demo`: any saved pipeline folder under `weights/` is found), or start the app with "
    f"`--weights DIR` (or `{WEIGHTS_ENV}=DIR`) on a saved pipeline folder."
)


def _model_problem(weights, error: Exception) -> ModelProblem:
    """Turn a failed `load_pipeline(weights)` into a short reason and a remedy."""
    message = str(error).strip()
    first_line = message.splitlines()[0] if message else type(error).__name__
    if weights is not None or not isinstance(error, FileNotFoundError):
        remedy = (
            f"Point `--weights` (or `{WEIGHTS_ENV}`) at a folder written by `python -m fyc export` or "
            "`fyc.weights.save_pipeline`, or leave both unset to use the best model under `weights/`."
        )
        return ModelProblem(first_line.rstrip("."), remedy, missing=isinstance(error, FileNotFoundError))
    # Nothing under weights/ (find_pipeline's error): say what the demo folder holds instead of the whole search.
    from fyc.weights import DEMO_DIR, weights_root

    root = weights_root()
    demo = root / DEMO_DIR
    present = sorted(f"{child.name}/" for child in demo.iterdir() if child.is_dir()) if demo.is_dir() else []
    if present:
        reason = f"{_shown(demo)}/ holds only {', '.join(present)}, not the whole demo model"
    else:
        reason = f"no saved pipeline in {_shown(root)}/"
    return ModelProblem(reason, DEMO_REMEDY, missing=True)


def _shown(path) -> str:
    """`path` relative to the current directory when it is inside it (shorter in a status line)."""
    from pathlib import Path

    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _sam_download_size() -> str:
    try:
        from fyc.weights import SOURCES

        return SOURCES["sam-vit-b"].approx_size
    except (ImportError, KeyError, AttributeError):
        return "375 MB"


def _describe(pipe) -> str:
    try:
        from fyc.weights import describe

        return describe(pipe)
    except (ImportError, AttributeError):
        return f"{type(pipe).__name__}, {getattr(pipe, 'native_size', '?')} px"
