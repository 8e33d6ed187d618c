"""Follow-Your-Click: the click-to-animate web app (Gradio). Layout and event wiring only; the logic lives
in `fyc.ui` and the models in `fyc`.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--weights DIR] [--sam-checkpoint PATH]

API (gradio_client):

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    mp4, gif, info = client.predict(handle_file("examples/cat.jpg"),
                                    '[{"points": [[170, 112, 1], [318, 135, 1]], "prompt": "blink"}]',
                                    2.0, 0, api_name="/animate")   # image, clicks (x, y, label), OFM, seed
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import gradio as gr

from fyc.inputs import (
    OFM_HELP,
    PIXEL_FRAME_BUDGET,
    SEED_MAX,
    limit_image_decoding,
)
from fyc.ui.engine import GENERATION_CONCURRENCY, Engine
from fyc.ui.events import CLICK_MODES, MAX_FPS, MAX_STEPS, AppEvents, prompt_placeholder
from fyc.ui.examples import load_examples
from fyc.ui.photo_input import photo_input
from fyc.ui.session import Session

MAX_UPLOAD = "20mb"  # larger uploads are refused by the server before they reach the app
MAX_VOCABULARY = 64  # motions listed under the prompt, all on one page
QUEUE_SIZE = 32  # visitors waiting beyond this are told the queue is full
CACHE_EXPIRY = (600, 3600)  # every 10 min, delete Gradio's cached uploads/outputs older than 1 h
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"  # shipped beside this file

INTRO = (
    "# Follow-Your-Click\n"
    "Upload a photo, **click** what should move, give it a short **motion prompt**, pick a **strength**, "
    "and **Generate**: only the clicked objects move."
)
CSS = """
#status-line p { font-size: 0.9em; opacity: 0.85; margin: 0; }
#hint p { margin: 0.25em 0; }
#model-notice { border-left: 4px solid #e69f00; padding: 0.25em 0.75em; }
#model-notice p { margin: 0.25em 0; }
"""


def gpu_decorator():
    """`spaces.GPU` on a Hugging Face ZeroGPU Space (the `spaces` package is installed there), else None."""
    try:
        import spaces
    except ImportError:
        return None
    return spaces.GPU(duration=120)


def fetch_weights_if_online() -> None:
    """On a hosted Space, fetch SAM ViT-B at start-up for exact masks (best effort: offline or on failure the
    classical segmenter is used). The demo animation model ships with the repository."""
    if not os.environ.get("SPACE_ID") or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return
    try:
        from fyc.weight_download import download_sam

        download_sam()
    except Exception as error:  # noqa: BLE001 - a failed download must not stop the app
        print(
            f"Could not fetch SAM weights at start-up ({error}); click masks will come from the weight-free "
            "superpixel GrabCut fallback.",
            file=sys.stderr,
        )


def build_demo(engine: Engine, events: AppEvents | None = None, examples_dir=EXAMPLES_DIR) -> gr.Blocks:
    """The Blocks app around `engine` (models) and `events` (the functions wired below)."""
    events = events or AppEvents(engine)
    defaults = engine.defaults()
    examples = load_examples(examples_dir)
    # UI events act on the browser's session state: private (only /animate is a public API endpoint).
    segment = dict(concurrency_id="segment", concurrency_limit=1, api_visibility="private")  # one segmenter
    local = dict(concurrency_limit=None, show_progress="hidden", api_visibility="private")  # session-only edits

    with gr.Blocks(title="Follow-Your-Click", fill_width=True, delete_cache=CACHE_EXPIRY) as demo:
        session = gr.State(Session())
        gr.Markdown(INTRO)
        status_line = gr.Markdown(engine.status_line(), elem_id="status-line")
        notice = engine.model_notice()
        model_notice = gr.Markdown(notice, visible=bool(notice), elem_id="model-notice")

        with gr.Sidebar(position="right", width=360, open=True):
            models = engine.models()
            model_picker = gr.Dropdown(
                models,
                value=models[0][1] if models else None,
                label="Model",
                info="Motion fields: the photo's own pixels at its size. Latent: the model redraws every pixel.",
                visible=len(models) > 1,
                elem_id="model",
            )
            prompt = gr.Textbox(
                label="Motion prompt for object 1",
                placeholder=prompt_placeholder(defaults.vocabulary),
                max_lines=1,
                elem_id="prompt",
            )
            # The motions the model was trained on (read from the model); a click fills the box (its .change stores
            # the prompt). Always built, hidden for a model without a vocabulary, so that picking a model updates it.
            motions = gr.Examples(
                [[word] for word in defaults.vocabulary] or [[""]],
                inputs=[prompt],
                label="Motions this model knows",
                examples_per_page=MAX_VOCABULARY,
            ).dataset
            motions.visible = bool(defaults.vocabulary)
            ofm = gr.Slider(
                *defaults.ofm_range,
                value=defaults.ofm,
                step=0.5,
                label="Motion strength (OFM) of object 1",
                info=OFM_HELP,
                elem_id="ofm",
            )
            # The motion-field model renders every pixel outside the objects as the photo's own: nothing to lock.
            keep_background = gr.Checkbox(
                True,
                label="Keep background still",
                visible=not defaults.keeps_background,
                info="Paste the original image outside the clicked objects (plus a small "
                "margin). Off: the model's raw output.",
            )
            loop = gr.Checkbox(False, label="Loop", info="Play forward then back, so that any motion loops.")
            with gr.Group(visible=defaults.follows_drags or defaults.follows_control_frames) as pose_group:
                pose = gr.File(
                    label="Pose sequence (optional)",
                    file_types=[".json", ".mp4", ".webm", ".gif", ".mov"],
                    type="filepath",
                    elem_id="pose",
                )
                gr.Markdown(
                    'Keypoint JSON in the photo\'s pixels, `{"frames": [{"wrist": [x, y], ...}, ...]}`, frame 0 as in '
                    "the photo, or an OpenPose pose video (skeleton drawings, frame 0 on the photo's pose): "
                    "keypoints on a clicked object follow their tracks (motion-field model). A latent model with a "
                    "ControlNet is steered by the pose video's images instead.",
                )
            with gr.Row():
                generate = gr.Button("Generate", variant="primary", elem_id="generate", scale=2)
                cancel = gr.Button("Cancel", variant="secondary", elem_id="cancel", scale=1)
            with gr.Accordion("Sampling", open=True):
                seed = gr.Number(0, precision=0, minimum=0, maximum=SEED_MAX, label="Seed", elem_id="seed")
                steps = gr.Slider(
                    1, MAX_STEPS, value=defaults.num_inference_steps, step=1, label="Denoising steps", elem_id="steps"
                )
                frames = gr.Slider(
                    2, defaults.max_frames, value=defaults.num_frames, step=1, label="Frames", elem_id="frames"
                )
                fps = gr.Slider(1, MAX_FPS, value=defaults.fps, step=1, label="Frames per second", elem_id="fps")
            with gr.Accordion("Regions as JSON (the /animate API's format)", open=False):
                regions_json = gr.Textbox(
                    value="[]",
                    lines=6,
                    max_lines=20,
                    show_label=False,
                    elem_id="regions-json",
                    info="Points are [x, y, label] in the uploaded image's pixels; label 1 = "
                    'include, 0 = exclude. A region may add "drags": [[x0, y0, x1, y1]] '
                    "(that point ends at x1, y1; motion-field model). Edit or paste, then "
                    "Apply.",
                )
                apply_json = gr.Button("Apply JSON", size="sm")

        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=360):
                image = photo_input(
                    label="Input — click what should move",
                    type="numpy",
                    sources=["upload", "clipboard"],
                    format="jpeg",
                    height=460,
                    buttons=["fullscreen"],
                    elem_id="input-image",
                )
                with gr.Row():
                    mode = gr.Radio(
                        list(CLICK_MODES),
                        value=CLICK_MODES[0],
                        label="Clicks",
                        info="Include / Exclude: add to or remove from the object. Drag: click a point of the object, "
                        "then where it should end up.",
                        elem_id="click-mode",
                        scale=2,
                    )
                    objects = gr.Radio(
                        choices=[("1 · (no prompt yet)", 0)], value=0, label="Objects", elem_id="objects", scale=3
                    )
                with gr.Row():
                    add_object = gr.Button("+ Add object", size="sm", elem_id="add-object")
                    undo = gr.Button("↶ Undo", size="sm", elem_id="undo")
                    clear_object = gr.Button("Clear object", size="sm", elem_id="clear-object")
                    clear_all = gr.Button("Clear all", size="sm", elem_id="clear-all")
                hint = gr.Markdown("Upload an image or pick an example below.", elem_id="hint")
            with gr.Column(scale=1, min_width=360):
                video = gr.Video(
                    label="Animation", autoplay=True, loop=True, interactive=False, height=460, elem_id="output-video"
                )
                with gr.Row():
                    mp4_file = gr.DownloadButton("Download MP4", size="sm", elem_id="download-mp4", visible=False)
                    gif_file = gr.DownloadButton("Download GIF", size="sm", elem_id="download-gif", visible=False)

        edit_outputs = [session, image, objects, prompt, regions_json, hint]
        if examples:
            gallery = gr.Examples(
                examples=[[str(ex.image), ex.regions_json, ex.ofm, ex.seed] for ex in examples],
                inputs=[image, regions_json, ofm, seed],
                visible_columns=[0],
                label="Examples (clicks, prompts and strength included)",
                cache_examples=False,
            )
            gallery.load_input_event.then(
                events.load_example, [image, regions_json, session], edit_outputs, show_progress_on=[hint], **segment
            )
            gallery.load_input_event.then(
                events.clear_outputs, None, [video, mp4_file, gif_file], queue=False, api_visibility="private"
            )

        # Hidden inputs/outputs of the /animate API (gradio_client), sharing the models and their queue.
        with gr.Group(visible=False):
            api_image = gr.File(label="image_file", type="filepath")
            api_regions = gr.Textbox(label="regions_json")
            api_ofm = gr.Number(defaults.ofm, label="ofm")
            api_seed = gr.Number(0, label="seed")
            api_steps = gr.Number(defaults.num_inference_steps, label="num_inference_steps")
            api_frames = gr.Number(defaults.num_frames, label="num_frames")
            api_fps = gr.Number(defaults.fps, label="fps")
            api_keep = gr.Checkbox(True, label="keep_background")
            api_loop = gr.Checkbox(False, label="loop")
            api_keypoints = gr.Textbox(label="keypoints_json")
            api_control = gr.File(label="control_video", type="filepath")
            api_mp4 = gr.File(label="mp4")
            api_gif = gr.File(label="gif")
            api_info = gr.JSON(label="info")
            api_trigger = gr.Button("animate")

        # ---- wiring ----
        # Each page load reads the status again: a model saved under weights/ while the app runs shows up.
        demo.load(
            events.page_status,
            None,
            [status_line, model_notice],
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
        image.upload(events.upload, [image, session], edit_outputs, **local).then(
            events.embed, [session], [hint], show_progress_on=[hint], **segment
        )
        image.clear(events.clear_image, [session], edit_outputs, **local)
        # A new or removed image makes the previous animation stale.
        for trigger in (image.upload, image.clear):
            trigger(events.clear_outputs, None, [video, mp4_file, gif_file], queue=False, api_visibility="private")
        image.select(events.click, [session, mode], edit_outputs, show_progress="minimal", **segment)
        undo.click(events.undo, [session], edit_outputs, show_progress="hidden", **segment)
        clear_object.click(events.clear_object, [session], edit_outputs, **local)
        clear_all.click(events.clear_all, [session], edit_outputs, **local)
        add_object.click(events.add_object, [session], edit_outputs, **local)
        objects.input(events.select_object, [session, objects], edit_outputs, **local).then(
            events.selected_strength, [session], [ofm], **local
        )
        # Each object has its own strength: the slider is the selected object's.
        ofm.change(events.set_strength, [session, ofm], [session], trigger_mode="always_last", **local)
        # .change, not .input: pasted or autofilled text counts too (setting the same prompt back is a no-op).
        prompt.change(
            events.set_prompt,
            [session, prompt],
            [session, objects, regions_json, hint],
            trigger_mode="always_last",
            **local,
        )
        model_picker.input(
            events.select_model,
            [session, model_picker],
            [session, ofm, steps, frames, keep_background, pose_group, prompt, motions, hint],
            **local,
        )
        pose.change(events.set_pose, [session, pose], [session, hint], **local)
        apply_json.click(events.apply_regions, [session, regions_json], edit_outputs, **segment)

        run = generate.click(
            events.generate,
            [session, prompt, ofm, seed, steps, frames, fps, keep_background, loop],
            [video, mp4_file, gif_file, hint],
            concurrency_id="generate",
            concurrency_limit=GENERATION_CONCURRENCY,
            show_progress_on=[video],
            api_visibility="private",
        )
        generate.click(events.queued, None, None, queue=False, api_visibility="private")
        cancel.click(
            events.cancel, None, [video, mp4_file, gif_file, hint], cancels=[run], queue=False, api_visibility="private"
        )
        api_trigger.click(
            events.api_animate,
            [
                api_image,
                api_regions,
                api_ofm,
                api_seed,
                api_steps,
                api_frames,
                api_fps,
                api_keep,
                api_loop,
                api_keypoints,
                api_control,
            ],
            [api_mp4, api_gif, api_info],
            api_name="animate",
            concurrency_id="generate",
            concurrency_limit=GENERATION_CONCURRENCY,
        )
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=GENERATION_CONCURRENCY)
    return demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="interface to listen on (0.0.0.0 for the local network; default 127.0.0.1)",
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve on a temporary public gradio.live link")
    parser.add_argument(
        "--weights",
        default=None,
        help="a saved pipeline folder (default: $FYC_WEIGHTS, else the best weights under weights/)",
    )
    parser.add_argument("--sam-checkpoint", default=None, help="a SAM .pth (default: $FYC_SAM_CHECKPOINT or weights/)")
    parser.add_argument(
        "--segmenter",
        choices=["sam", "classical"],
        default=None,
        help="force a click segmenter (default: SAM when its weights exist)",
    )
    parser.add_argument("--max-file-size", default=MAX_UPLOAD, help=f"upload size cap (default {MAX_UPLOAD})")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="default denoising steps (UI and API; default the model's: 12 motion-field, 25 latent)",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help="default number of frames (UI and API; default 16, capped by the model)",
    )
    parser.add_argument(
        "--max-pixel-frames",
        type=int,
        default=None,
        help="refuse generations above this many frames × height × width, before they start "
        f"(memory bound; default: the model's, {PIXEL_FRAME_BUDGET:,} = 32 frames at 512×512 for "
        "the latent model, 32 frames at 1024×1024 for the motion-field model)",
    )
    return parser


def launch(demo: gr.Blocks, args, **kwargs):
    """Start the server for `demo` with the command-line `args` (extra `kwargs` go to `Blocks.launch`)."""
    return demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=args.max_file_size,
        css=CSS,
        footer_links=["api", "gradio"],
        **kwargs,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (docker stop, a Space restart) exits normally, so atexit removes our temporary videos.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    limit_image_decoding()  # Gradio decodes the browser's uploads with PIL before our code sees them
    fetch_weights_if_online()
    try:
        engine = Engine(
            weights=args.weights,
            sam_checkpoint=args.sam_checkpoint,
            segmenter=args.segmenter,
            gpu=gpu_decorator(),
            num_inference_steps=args.steps,
            num_frames=args.frames,
            max_pixel_frames=args.max_pixel_frames,
        ).load()
    except (ValueError, OSError) as error:  # a damaged, unsafe or missing SAM checkpoint: the message names it
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Follow-Your-Click: {engine.status_line()}", flush=True)
    if engine.model_problem is not None:
        print(f"  Generate needs an animation model. {engine.model_problem.remedy}", flush=True)
    launch(build_demo(engine), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
