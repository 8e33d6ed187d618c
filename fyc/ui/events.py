"""The functions `app.py` wires to Gradio events. Each takes plain values and a `Session` and returns plain
values or `gr.update(...)`s, so tests call them directly without a browser.

Editing events (upload, click, undo, clear, add/select object, apply JSON, pick an example) all return
the same tuple, in the order of `EDIT_OUTPUTS`: the session, the image with its overlay, the object
picker, the prompt box, the regions JSON and the hint line.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import numpy as np

from fyc.animate import forward_and_back, save_video
from fyc.clicks import EXCLUDE, INCLUDE
from fyc.controlnet import read_control_frames
from fyc.inputs import (
    InputError,
    check_flag,
    check_image_shape,
    check_int,
    check_ofm,
    check_seed,
    load_image_file,
    parse_regions,
)
from fyc.keypoints import keypoints_from_json, load_keypoints
from fyc.pose_images import keypoints_from_pose_frames
from fyc.ui.engine import Engine, ModelUnavailable
from fyc.ui.outputs import OutputFiles
from fyc.ui.overlay import draw_overlay
from fyc.ui.photo_input import UnreadableImage
from fyc.ui.session import Session

EDIT_OUTPUTS = ("session", "image", "objects", "prompt", "regions_json", "hint")
CLICK_MODES = ("Include", "Exclude", "Drag")
MAX_STEPS, MAX_FPS = 100, 30
TOAST_SECONDS = 8
logger = logging.getLogger(__name__)


def prompt_placeholder(vocabulary) -> str:
    """The prompt box's placeholder: words the model knows (its vocabulary's first few), else general ones."""
    words = list(vocabulary)[:4] or ["sway", "move left", "shake", "zoom in"]
    return ", ".join(words) + "…"


def user_error(message: str) -> gr.Error:
    """An error the visitor can fix: a toast that goes away by itself (Gradio's default stays until closed, so toasts
    piled up) and no traceback in the server log (it is not the server's fault)."""
    return gr.Error(message, duration=TOAST_SECONDS, print_exception=False)


class AppEvents:
    """Event functions bound to one `Engine` (shared models) and one `OutputFiles` (scratch directory)."""

    def __init__(self, engine: Engine, outputs: OutputFiles | None = None):
        self.engine = engine
        self.outputs = outputs or OutputFiles()
        self._cancels: dict[str, threading.Event] = {}  # running generations, by visitor
        self._waiting: set[str] = set()  # visitors whose Generate was pressed and has not started yet
        self._cancels_lock = threading.Lock()

    # ---- rendering ---------------------------------------------------------------------------------

    @staticmethod
    def render(session: Session, hint: str) -> tuple:
        """The `EDIT_OUTPUTS` tuple for `session`."""
        image = (
            draw_overlay(session.image, session.objects, session.selected, session.drag_start)
            if session.has_image
            else None
        )
        labels = session.object_labels()
        objects = gr.update(choices=[(label, i) for i, label in enumerate(labels)], value=session.selected)
        prompt = gr.update(value=session.current.prompt, label=f"Motion prompt for object {session.selected + 1}")
        return session, image, objects, prompt, session.to_json(), hint

    def describe_selection(self, session: Session) -> str:
        """Hint line for the selected object: clicks, mask coverage and what to do next."""
        obj, number = session.current, session.selected + 1
        if not session.has_image:
            return "Upload an image or pick an example below."
        if not obj.points:
            return f"Object {number}: click on the thing that should move (include clicks add, exclude clicks remove)."
        includes = sum(1 for *_, label in obj.points if label == INCLUDE)
        excludes = len(obj.points) - includes
        clicks = (
            f"{includes} include"
            + (f", {excludes} exclude" if excludes else "")
            + " click"
            + ("s" if len(obj.points) > 1 else "")
        )
        if not obj.has_mask:
            return f"Object {number}: {clicks}, no mask yet — add an include click on the object."
        coverage = 100.0 * obj.mask.mean()
        nxt = "type its motion prompt in the sidebar" if not obj.prompt else f'motion "{obj.prompt}"'
        return f'Object {number}: {clicks}, mask covers {coverage:.0f}% of the image; {nxt}. "+ Add object" animates another.'

    def page_status(self):
        """On page load: the status line and the missing-model notice (shown only while there is no model)."""
        notice = self.engine.model_notice()
        return self.engine.status_line(), gr.update(value=notice, visible=bool(notice))

    # ---- image -------------------------------------------------------------------------------------

    def upload(self, image, session: Session):
        """A new image: keep a downscaled working copy, drop all clicks; the embedding follows (`embed`)."""
        session = session or Session()
        if image is None:
            session.reset()
            return self.render(session, "Upload an image or pick an example below.")
        try:
            if isinstance(image, UnreadableImage):
                raise InputError(image.message)
            image = np.asarray(image)
            check_image_shape(image.shape[1], image.shape[0])
        except InputError as error:
            session.reset()
            gr.Warning(str(error), duration=TOAST_SECONDS)
            return self.render(session, str(error))
        session.set_image(image)
        return self.render(
            session,
            "Preparing the image for clicking (computing its embedding)… clicks made now are answered when it is ready.",
        )

    def embed(self, session: Session) -> str:
        """Compute the segmenter's embedding of the session's image right after upload, not at the first click."""
        if not session.has_image:
            return gr.update()  # keep what `upload` said (e.g. why the image was refused)
        seconds = self.engine.embed(session.image)
        width, height = session.size
        return (
            f"Ready ({width}×{height}, prepared in {seconds:.1f} s). Click the object that should move; "
            "switch to Exclude to remove a part."
        )

    def clear_image(self, session: Session):
        """The image was removed (the ✕ on the image)."""
        session.reset()
        return self.render(session, "Upload an image or pick an example below.")

    # ---- clicks ------------------------------------------------------------------------------------

    def click(self, session: Session, mode: str, evt: gr.SelectData):
        """A click on the image: add a point to the selected object and recompute its mask."""
        if not session.has_image:
            raise user_error("Upload an image first, then click on the object to animate.")
        x, y = (int(v) for v in evt.index[:2])
        if not session.contains(x, y):  # the browser still shows an older, larger image
            return self.render(session, "The image is still loading — click again in a moment.")
        if mode == CLICK_MODES[2]:
            return self._drag_click(session, x, y)
        session.drag_start = None
        session.add_point(x, y, EXCLUDE if mode == CLICK_MODES[1] else INCLUDE)
        session.update_masks(self.engine.segment, session.selected)
        return self.render(session, self.describe_selection(session))

    def _drag_click(self, session: Session, x: int, y: int):
        """Drag mode: the first click picks a point of the selected object, the second where it should end up."""
        if not self.engine.defaults(session.model).follows_drags:
            raise user_error("This model does not follow drags: pick the motion-field model, or use a prompt alone.")
        try:
            if session.drag_start is None:
                session.start_drag(x, y)
                return self.render(session, "Now click where this point should be at the end of the video.")
            x0, y0, x1, y1 = session.finish_drag(x, y)
        except ValueError as error:
            raise user_error(str(error)) from None
        count = len(session.current.drags)
        return self.render(
            session,
            f"Object {session.selected + 1}: drag {count} from ({x0:.0f}, {y0:.0f}) to ({x1:.0f}, {y1:.0f}). "
            "Drag again for another point of the object, or Generate.",
        )

    def undo(self, session: Session):
        if not session.has_image:
            return self.render(session, "Upload an image or pick an example below.")
        if not session.undo_point():
            return self.render(session, f"Object {session.selected + 1} has no clicks to undo.")
        session.update_masks(self.engine.segment, session.selected)
        return self.render(session, self.describe_selection(session))

    def clear_object(self, session: Session):
        session.clear_object()
        return self.render(session, self.describe_selection(session))

    def clear_all(self, session: Session):
        session.clear_all()
        return self.render(session, self.describe_selection(session))

    def add_object(self, session: Session):
        if not session.has_image:
            return self.render(session, "Upload an image or pick an example below.")
        if not session.add_object():
            return self.render(session, f"Click on object {session.selected + 1} before adding another.")
        return self.render(session, f"Object {session.selected + 1}: click on the next thing that should move.")

    def select_object(self, session: Session, index):
        if index is not None:
            session.select(int(index))
        return self.render(session, self.describe_selection(session))

    def set_prompt(self, session: Session, prompt: str):
        """Typing in the prompt box: store it, relabel the object picker and the hint (image and box untouched).
        Returns (session, objects, regions_json, hint)."""
        session.set_prompt(prompt)
        labels = session.object_labels()
        objects = gr.update(choices=[(label, i) for i, label in enumerate(labels)], value=session.selected)
        return session, objects, session.to_json(), self.describe_selection(session)

    # ---- JSON and examples -------------------------------------------------------------------------

    def select_model(self, session: Session, model: str):
        """A model picked in the model picker: this visitor's generations use it, and the controls that depend on
        the model follow (strength range, steps, frames, background lock, the motions it knows).

        Returns updates for (session, ofm, steps, frames, keep_background, pose input, prompt, motions, hint)."""
        session.model = model or None
        try:
            self.engine.pipeline_for(session.model)
        except ModelUnavailable as error:
            session.model = None
            raise user_error(f"That model could not be loaded: {error}") from None
        d = self.engine.defaults(session.model)
        low, high = d.ofm_range
        for obj in session.objects:  # strengths set for the other model, brought into this one's range
            if obj.ofm is not None:
                obj.ofm = min(max(obj.ofm, low), high)
        label = next((name for name, folder in self.engine.models() if folder == model), model)
        return (
            session,
            gr.update(minimum=d.ofm_range[0], maximum=d.ofm_range[1], value=d.ofm),
            gr.update(value=d.num_inference_steps),
            gr.update(maximum=d.max_frames, value=d.num_frames),
            gr.update(visible=not d.keeps_background),
            gr.update(visible=d.follows_drags or d.follows_control_frames),
            gr.update(placeholder=prompt_placeholder(d.vocabulary)),
            gr.update(samples=[[word] for word in d.vocabulary], visible=bool(d.vocabulary)),
            f"Model: {label}. "
            + (f"It knows {len(d.vocabulary)} motions (listed under the prompt). " if d.vocabulary else "")
            + f"Strength {d.ofm_range[0]:g}-{d.ofm_range[1]:g}.",
        )

    def set_pose(self, session: Session, pose_file):
        """A pose sequence uploaded (keypoint JSON in the photo's pixels, `fyc.keypoints`, for the motion-field
        model; a video of control images for a latent model with a ControlNet) or removed (None)."""
        if pose_file is None:
            session.keypoints = None
            return session, "Pose removed."
        if not session.has_image:
            raise user_error("Upload the photo first: the pose goes with it.")
        defaults = self.engine.defaults(session.model)
        if Path(pose_file).suffix.lower() != ".json":
            if defaults.follows_drags:  # the motion-field model: the keypoints the pose images show
                try:
                    tracks = keypoints_from_pose_frames(Path(pose_file), size=session.size)
                except (ValueError, OSError) as error:
                    raise user_error(str(error)) from None
                session.keypoints = tracks
                return session, (
                    f"Pose video: {len(tracks.positions)} OpenPose keypoints over {tracks.num_frames} frames. "
                    "Keypoints on a clicked object follow their tracks; the others are ignored."
                )
            if not defaults.follows_control_frames:
                raise user_error(
                    "A pose video steers a latent model through its ControlNet, and this model has none: pick the "
                    "motion-field model, which follows the keypoints a pose video shows."
                )
            try:
                session.keypoints = read_control_frames(Path(pose_file))
            except (ValueError, OSError) as error:
                raise user_error(str(error)) from None
            return session, (
                f"Pose video: {len(session.keypoints)} control frames, stretched to the video's length; they steer "
                "the clicked objects through the ControlNet."
            )
        if not defaults.follows_drags:
            raise user_error("This model does not follow keypoints: pick the motion-field model.")
        try:
            tracks = load_keypoints(Path(pose_file))
        except ValueError as error:
            raise user_error(str(error)) from None
        (width, height), (source_width, source_height) = session.size, session.source_size
        session.keypoints = tracks.scaled(width / source_width, height / source_height)
        return session, (
            f"Pose: {len(tracks.positions)} keypoints over {tracks.num_frames} frames. Keypoints on a clicked object "
            "follow their tracks; the others are ignored."
        )

    def apply_regions(self, session: Session, regions_json: str):
        """Replace the objects by regions typed or pasted as JSON (the `/animate` API's format)."""
        if not session.has_image:
            raise user_error("Upload an image first; the regions' points are in that image's pixels.")
        width, height = session.source_size
        try:
            regions = parse_regions(regions_json, width, height)
        except InputError as error:
            raise user_error(str(error)) from None
        session.set_regions(regions)
        session.update_masks(self.engine.segment)
        return self.render(session, f"Loaded {len(regions)} object(s) from JSON. " + self.describe_selection(session))

    def load_example(self, image, regions_json: str, session: Session):
        """An example was picked: its image, clicks and prompts (ofm and seed are filled in by gr.Examples)."""
        session = session or Session()
        if image is None:
            raise gr.Error("This example's image could not be loaded.")
        session.set_image(np.asarray(image))
        return self.apply_regions(session, regions_json)

    # ---- generation --------------------------------------------------------------------------------

    def generate(
        self,
        session: Session,
        prompt,
        ofm,
        seed,
        num_inference_steps,
        num_frames,
        fps,
        keep_background,
        loop: bool = False,
        request: gr.Request = None,
        progress=gr.Progress(),
    ):
        """Animate the session's objects; returns (video, mp4 download, gif download, hint).

        `prompt` is the prompt box's current text, applied to the selected object first: the box's own change
        event may not have reached the session yet when Generate is pressed right after typing.
        """
        with self._cancels_lock:
            self._waiting.discard(_session_key(request))
        if prompt is not None:
            session.set_prompt(prompt)
        problem = session.problem()
        if problem:
            raise user_error(problem)
        try:
            settings = self._check_settings(ofm, seed, num_inference_steps, num_frames, fps, session.model)
            session.current.ofm = settings["ofm"]  # the slider is the selected object's, as the prompt box
        except InputError as error:
            raise user_error(str(error)) from None
        self.outputs.discard(session.last_outputs)
        result = self._animate(session, settings, keep_background, request, progress, loop=loop)
        if result is None:
            session.last_outputs = ()
            return None, gr.update(value=None, visible=False), gr.update(value=None, visible=False), "Cancelled."
        mp4, gif, info = result
        session.last_outputs = (mp4, gif)
        width, height = info["size"]
        strength = ", ".join(f"{v:g}" for v in np.atleast_1d(info["ofm"]))
        hint = (
            f"Done in {info['seconds']:.1f} s: {info['num_frames']} frames at {width}×{height}, "
            f"OFM {strength}, seed {info['seed']}. Change the seed for a different take."
        )
        notes = self.engine.prompt_notes((region.prompt for region in session.regions()), session.model)
        if notes:
            hint = " ".join([hint, *notes])
        return mp4, gr.update(value=mp4, visible=True), gr.update(value=gif, visible=True), hint

    @staticmethod
    def clear_outputs():
        """Empty the video and hide the downloads (a new image makes them stale)."""
        return None, gr.update(value=None, visible=False), gr.update(value=None, visible=False)

    def queued(self, request: gr.Request = None) -> None:
        """Generate was pressed (runs at once, before the queued generation): Cancel now has something to cancel."""
        with self._cancels_lock:
            self._waiting.add(_session_key(request))

    def cancel(self, request: gr.Request = None) -> tuple:
        """Stop this visitor's generation, waiting or running (within one denoising step); returns what
        `clear_outputs` does plus the hint. Gradio drops the cancelled event, whose own outputs never come: this
        answer is the one the visitor sees, so the stale video goes and the hint says it is over."""
        key = _session_key(request)
        with self._cancels_lock:
            event = self._cancels.get(key)
            waiting = key in self._waiting
            self._waiting.discard(key)
        if event is not None:
            event.set()
        if event is None and not waiting:
            return gr.update(), gr.update(), gr.update(), "Nothing to cancel."
        return (*self.clear_outputs(), "Cancelled.")

    def api_animate(
        self,
        image_file,
        regions_json,
        ofm,
        seed,
        num_inference_steps=None,
        num_frames=None,
        fps=None,
        keep_background=True,
        loop=False,
        keypoints_json=None,
        control_video=None,
        request: gr.Request = None,
        progress=gr.Progress(),
    ):
        """`/animate`: (image file, regions JSON in image pixels, ofm, seed, ...) → (mp4, gif, info); `loop` plays the
        video forward then back, as the app's Loop box; `keypoints_json` a pose sequence (`fyc.keypoints`) in the
        image's pixels (motion-field model); `control_video` a video of control images, one per frame (a latent model
        with a ControlNet)."""
        defaults = self.engine.defaults()
        try:
            image = load_image_file(image_file)
            height, width = image.shape[:2]
            check_image_shape(width, height)
            regions = parse_regions(regions_json, width, height)
            settings = self._check_settings(
                ofm,
                seed,
                defaults.num_inference_steps if num_inference_steps is None else num_inference_steps,
                defaults.num_frames if num_frames is None else num_frames,
                defaults.fps if fps is None else fps,
            )
            keep_background = check_flag("keep_background", keep_background)
            loop = check_flag("loop", loop)
            tracks = (
                keypoints_from_json(str(keypoints_json)) if keypoints_json and str(keypoints_json).strip() else None
            )
            control = pose_video = None
            if control_video:
                if defaults.follows_drags:  # the motion-field model: the keypoints the pose video shows
                    if tracks is not None:
                        raise InputError("give the pose once: keypoints_json or control_video, not both.")
                    pose_video = Path(control_video)
                elif not defaults.follows_control_frames:
                    raise InputError(
                        "control_video steers a latent model through its ControlNet, and this model has none: use "
                        "the motion-field model, which follows the keypoints a pose video shows."
                    )
                else:
                    control = read_control_frames(Path(control_video))
        except (InputError, ValueError) as error:
            raise user_error(str(error)) from None
        session = Session()
        session.set_image(image)  # downscales large images: never refused for size alone
        if tracks is not None:
            (w, h), (source_w, source_h) = session.size, session.source_size
            session.keypoints = tracks.scaled(w / source_w, h / source_h)
        if control is not None:
            session.keypoints = control
        if pose_video is not None:
            try:
                session.keypoints = keypoints_from_pose_frames(pose_video, size=session.size)
            except (ValueError, OSError) as error:
                raise user_error(str(error)) from None
        session.set_regions(regions)
        session.update_masks(self.engine.segment)
        for index, obj in enumerate(session.objects):
            if not obj.has_mask:
                raise user_error(
                    f"Region {index + 1}'s clicks select nothing: move its include points onto the object."
                )
        result = self._animate(session, settings, keep_background, request, progress, loop=loop)
        if result is None:
            raise user_error("The request was cancelled.")
        mp4, gif, info = result
        info["regions"] = session.to_list()
        return mp4, gif, info

    def set_strength(self, session: Session, ofm):
        """The strength slider moved: it is the selected object's own strength from now on."""
        if session.has_image and ofm is not None:
            session.current.ofm = float(ofm)
        return session

    def selected_strength(self, session: Session):
        """The slider after another object was picked: that object's strength (unchanged when it has none yet) and
        the label naming it."""
        value = session.current.ofm
        label = f"Motion strength (OFM) of object {session.selected + 1}"
        return gr.update(label=label) if value is None else gr.update(value=value, label=label)

    def _check_settings(self, ofm, seed, num_inference_steps, num_frames, fps, model=None) -> dict:
        defaults = self.engine.defaults(model)
        return {
            "ofm": check_ofm(ofm, *defaults.ofm_range),
            "seed": check_seed(seed),
            "num_inference_steps": check_int("steps", num_inference_steps, 1, MAX_STEPS),
            "num_frames": check_int("frames", num_frames, 2, defaults.max_frames),
            "fps": check_int("fps", fps, 1, MAX_FPS),
        }

    def _animate(self, session: Session, settings, keep_background, request, progress, loop: bool = False):
        """Animate the session's objects with progress and cancel (keyed by the visitor of `request`).

        Returns (mp4 path, gif path, info) or None if cancelled.
        """
        image, regions, drags, key = session.image, session.regions(), session.drags(), _session_key(request)
        keypoints = session.keypoints
        low, high = self.engine.defaults(session.model).ofm_range
        try:
            strengths = [
                check_ofm(v, low, high, name=f"The strength of object {i + 1}")
                for i, v in enumerate(session.strengths(settings["ofm"]))
            ]
        except InputError as error:
            raise user_error(str(error)) from None
        settings = {**settings, "ofm": strengths[0] if len(set(strengths)) == 1 else strengths}
        cancel = threading.Event()
        with self._cancels_lock:
            self._cancels[key] = cancel
        start = time.perf_counter()
        still_wanted = _gradio_event_watch()

        def on_step(step, total):
            if not still_wanted():  # the client went away or cancelled through the API: free the slot now
                cancel.set()
            if progress is not None:
                progress((step, total), desc="Denoising", unit="steps")

        try:
            if progress is not None:
                progress(0, desc="Starting")
            frames = self.engine.animate(
                image,
                regions,
                ofm=settings["ofm"],
                seed=settings["seed"],
                num_frames=settings["num_frames"],
                num_inference_steps=settings["num_inference_steps"],
                keep_background=keep_background,
                drags=drags,
                keypoints=keypoints,
                on_step=on_step,
                cancel=cancel,
                model=session.model,
            )
        except ModelUnavailable as error:
            raise gr.Error(f"No animation model is loaded: {error}") from None
        except InputError as error:  # a limit checked before generation (the pixel-frame budget)
            raise user_error(str(error)) from None
        except ValueError as error:
            raise user_error(f"The pipeline refused these settings: {error}") from None
        except Exception as error:  # noqa: BLE001 - fail this request only, with a message, and log the cause
            logger.exception("generation failed")
            raise user_error(
                f"Generation failed on the server ({type(error).__name__}); the cause was logged. Try again, "
                "perhaps with fewer frames or steps."
            ) from None
        finally:
            with self._cancels_lock:
                if self._cancels.get(key) is cancel:
                    del self._cancels[key]
        if frames is None:
            return None
        if loop:
            frames = forward_and_back(frames)
        folder = self.outputs.new_run()
        mp4 = str(save_video(frames, folder / "animation.mp4", fps=settings["fps"]))
        gif = str(save_video(frames, folder / "animation.gif", fps=settings["fps"]))
        info = {
            **settings,
            "num_frames": int(frames.shape[0]),
            "size": [int(frames.shape[2]), int(frames.shape[1])],
            # The motion-field renderer keeps the background exact whatever was asked.
            "keep_background": bool(keep_background) or self.engine.defaults(session.model).keeps_background,
            "seconds": round(time.perf_counter() - start, 2),
        }
        return mp4, gif, info


def _gradio_event_watch() -> Callable[[], bool]:
    """A check, for the Gradio event running this call, that someone still waits for its result.

    Gradio (6.x) does not stop a running function when its client disconnects or cancels through the API
    (`/cancel`, gradio_client's `Job.cancel()`): it drops the event from its queue's active jobs, or marks it
    not alive, and lets the function run on, holding the generation slot until the pipeline finishes. Polling
    this at every denoising step frees the slot within one step. Outside a queued Gradio event (direct calls,
    tests) it always answers True; an event never seen among the active jobs counts as wanted.
    """
    try:
        from gradio.context import LocalContext

        event_id = LocalContext.event_id.get(None)
        blocks = LocalContext.blocks.get(None)
    except (ImportError, AttributeError, LookupError):
        return lambda: True
    queue = getattr(blocks, "_queue", None)
    if not event_id or queue is None:
        return lambda: True
    seen = False

    def still_wanted() -> bool:
        nonlocal seen
        for job in list(getattr(queue, "active_jobs", None) or ()):
            for event in list(job or ()):
                if getattr(event, "_id", None) == event_id:
                    seen = True
                    return bool(getattr(event, "alive", True))
        return not seen

    return still_wanted


def _session_key(request) -> str:
    """Who is asking: the browser session (one per tab), or a fresh key for direct calls."""
    key = getattr(request, "session_hash", None) if request is not None else None
    return key or f"direct-{uuid.uuid4().hex}"
