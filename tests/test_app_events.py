"""The app's event functions called directly, with the classical segmenter and the tiny pipeline."""

import copy
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from app_server import disk_image
from PIL import Image
from tiny import make_tiny_pipeline

from app import EXAMPLES_DIR
from fyc.ui.engine import Engine
from fyc.ui.events import AppEvents
from fyc.ui.examples import load_examples
from fyc.ui.outputs import OutputFiles
from fyc.ui.overlay import INCLUDE_COLOR
from fyc.ui.session import Session
from fyc.video import read_video

FAST = dict(num_inference_steps=1, num_frames=4, fps=4)


@pytest.fixture(scope="module")
def engine():
    engine = Engine(segmenter="classical")
    engine.set_pipeline(make_tiny_pipeline(seed=0))
    return engine


@pytest.fixture
def events(engine, tmp_path):
    return AppEvents(engine, OutputFiles(tmp_path / "scratch"))


@pytest.fixture(scope="module")
def photo():
    return disk_image()


def select(x, y):
    return gr.SelectData(None, {"index": [x, y], "value": None})


def uploaded(events, image):
    session = Session()
    events.upload(image, session)
    events.embed(session)
    return session


def test_upload_then_embed(events, photo):
    session = Session()
    out = events.upload(photo, session)
    assert len(out) == 6 and out[0] is session
    assert np.array_equal(out[1], photo)  # nothing clicked yet: the overlay is the image itself
    assert out[3]["label"] == "Motion prompt for object 1" and out[4] == "[]"
    assert "embedding" in out[5]
    assert "Ready (96×64" in events.embed(session)


def test_click_shows_mask_and_point(events, photo):
    session = uploaded(events, photo)
    start = time.perf_counter()
    session_out, overlay, objects, prompt, regions_json, hint = events.click(session, "Include", select(30, 32))
    seconds = time.perf_counter() - start
    mask = session.current.mask
    assert mask is not None and mask[32, 30]
    disk = np.zeros_like(mask)
    yy, xx = np.mgrid[:64, :96]
    disk[(xx - 30) ** 2 + (yy - 32) ** 2 < 15**2] = True
    iou = (mask & disk).sum() / (mask | disk).sum()
    assert iou > 0.7, f"the clicked disk was not segmented (IoU {iou:.2f})"
    assert overlay[32, 30].tolist() == list(INCLUDE_COLOR)
    assert not np.array_equal(overlay[45, 30], photo[45, 30])  # tinted inside the disk, away from the dot
    assert np.array_equal(overlay[5, 90], photo[5, 90])  # background untouched
    assert '"points": [[30, 32, 1]]' in regions_json
    assert "mask covers" in hint and "type its motion prompt" in hint
    assert seconds < 5, f"a click took {seconds:.2f} s"


def test_exclude_undo_clear_and_objects(events, photo):
    session = uploaded(events, photo)
    events.click(session, "Include", select(30, 32))
    events.click(session, "Exclude", select(80, 10))
    assert session.current.points == [(30, 32, 1), (80, 10, 0)]
    assert not session.current.mask[10, 80]
    events.undo(session)
    assert session.current.points == [(30, 32, 1)] and session.current.has_mask

    *_, hint = events.add_object(session)
    assert session.selected == 1 and "Object 2" in hint
    *_, hint = events.add_object(session)
    assert len(session.objects) == 2 and "Click on object 2 before adding another" in hint
    events.click(session, "Include", select(80, 55))
    assert session.objects[1].has_mask and not session.objects[0].mask[55, 80]

    _, objects, regions_json, hint = events.set_prompt(session, "blink")
    assert objects["choices"] == [("1 · (no prompt yet)", 0), ("2 · blink", 1)] and objects["value"] == 1
    assert '"prompt": "blink"' in regions_json and 'motion "blink"' in hint
    out = events.select_object(session, 0)
    assert session.selected == 0 and out[3]["value"] == "" and out[3]["label"] == "Motion prompt for object 1"

    events.clear_object(session)
    assert session.objects[0].points == [] and session.objects[0].mask is None
    assert events.undo(session)[-1] == "Object 1 has no clicks to undo."
    events.clear_all(session)
    assert len(session.objects) == 1 and session.to_json() == "[]"
    assert events.clear_image(session)[1] is None and not session.has_image


def test_click_without_image_says_what_to_do(events):
    with pytest.raises(gr.Error, match="Upload an image first"):
        events.click(Session(), "Include", select(1, 1))


def test_apply_regions_json(events, photo):
    session = uploaded(events, photo)
    out = events.apply_regions(
        session, '[{"points": [[30, 32, 1]], "prompt": "sway"}, {"points": [[80, 55, 1]], "prompt": "nod"}]'
    )
    assert [obj.prompt for obj in session.objects] == ["sway", "nod"]
    assert all(obj.has_mask for obj in session.objects)
    assert "Loaded 2 object(s)" in out[-1]
    with pytest.raises(gr.Error, match="outside the 96×64 image"):
        events.apply_regions(session, '[{"points": [[300, 32, 1]], "prompt": "sway"}]')


@pytest.mark.parametrize("example", load_examples(EXAMPLES_DIR), ids=lambda ex: ex.image.stem)
def test_every_example_loads_with_masks(events, example):
    image = np.asarray(Image.open(example.image).convert("RGB"))
    session, overlay, objects, prompt, regions_json, hint = events.load_example(image, example.regions_json, Session())
    assert len(session.objects) == len(example.regions)
    for obj, region in zip(session.objects, example.regions):
        assert obj.prompt == region["prompt"]
        assert obj.has_mask, f"{example.name}: the clicks of '{region['prompt']}' select nothing"
        assert 0.002 < obj.mask.mean() < 0.8, f"{example.name}: '{region['prompt']}' covers {obj.mask.mean():.0%}"
    assert prompt["value"] == example.regions[0]["prompt"]
    assert len(objects["choices"]) == len(example.regions)


_CLICKED = {}


def clicked_session(events, photo, prompt="sway"):
    """A session with the disk clicked and a prompt; the click is segmented once per module and copied."""
    if "session" not in _CLICKED:
        session = uploaded(events, photo)
        events.click(session, "Include", select(30, 32))
        _CLICKED["session"] = session
    session = copy.deepcopy(_CLICKED["session"])
    session.set_prompt(prompt)
    return session


def test_loop_plays_the_video_forward_then_back(events, photo):
    session = clicked_session(events, photo)
    video, *_, hint = events.generate(session, "sway", 8, 0, **FAST, keep_background=True, loop=True)
    frames, _ = read_video(video)
    assert len(frames) == 6 and "6 frames" in hint  # 4 frames, then 2 and 1 again
    assert np.abs(frames[4].astype(int) - frames[2].astype(int)).mean() < 1.0


def test_generate_needs_clicks_and_a_prompt(events, photo):
    session = uploaded(events, photo)
    with pytest.raises(gr.Error, match="Click the object you want to animate first"):
        events.generate(session, "", 8, 0, **FAST, keep_background=True)
    events.click(session, "Include", select(30, 32))
    with pytest.raises(gr.Error, match="no motion prompt: type one in the sidebar"):
        events.generate(session, "", 8, 0, **FAST, keep_background=True)
    with pytest.raises(gr.Error, match="ofm must be between 0 and 20"):
        events.generate(session, "sway", 30, 0, **FAST, keep_background=True)
    with pytest.raises(gr.Error, match="frames must be a whole number between 2 and 32"):
        events.generate(session, "sway", 8, 0, 1, 64, 4, True)


def test_generate_outputs_seeds_and_still_background(events, photo):
    """Three runs (each read before the next: a session's new run deletes its previous files)."""
    session = clicked_session(events, photo)
    video, mp4_button, gif_button, hint = events.generate(session, "sway", 8, 0, **FAST, keep_background=False)
    raw_seed0, meta = read_video(video)
    assert meta["codec"].startswith("h264") and raw_seed0.shape == (4, 64, 96, 3)
    assert mp4_button == {"__type__": "update", "value": video, "visible": True}
    assert Path(gif_button["value"]).suffix == ".gif" and Path(gif_button["value"]).exists()
    assert "Done in" in hint and "4 frames at 96×64" in hint

    second, *_ = events.generate(session, "sway", 8, 1, **FAST, keep_background=False)
    assert Path(second).exists() and not Path(video).exists()  # the previous run's files are gone
    raw_seed1, _ = read_video(second)
    assert np.abs(raw_seed0.astype(int) - raw_seed1.astype(int)).mean() > 1, "another seed gave the same video"

    still_seed0, _ = read_video(events.generate(session, "sway", 8, 0, **FAST, keep_background=True)[0])
    # the same seed reproduces the model's pixels inside the region (up to H.264 noise) ...
    inside = (slice(None), slice(26, 38), slice(24, 36))
    same_seed = np.abs(still_seed0[inside].astype(int) - raw_seed0[inside].astype(int)).mean()
    other_seed = np.abs(raw_seed1[inside].astype(int) - raw_seed0[inside].astype(int)).mean()
    assert same_seed < 0.3 * other_seed, (same_seed, other_seed)
    # ... and "keep background still" pastes the original outside it
    outside = np.ones((64, 96), bool)
    outside[8:58, 4:58] = False  # the disk (radius 15 around 30,32) plus a generous margin
    error_still = np.abs(still_seed0[:, outside].astype(int) - photo[outside].astype(int)).mean()
    error_raw = np.abs(raw_seed0[:, outside].astype(int) - photo[outside].astype(int)).mean()
    assert error_still < 4, f"background moved by {error_still:.1f} with 'keep background still'"
    assert error_raw > 3 * error_still  # the random tiny model does not keep it by itself


def test_cancel_stops_a_running_generation(events, photo):
    session = clicked_session(events, photo)
    request = SimpleNamespace(session_hash="visitor-1")
    result = {}
    steps_seen = []

    def progress(value, desc=None, unit=None, **_):
        steps_seen.append(value)

    thread = threading.Thread(
        target=lambda: result.update(
            out=events.generate(session, "sway", 8, 0, 50, 4, 4, False, request=request, progress=progress)
        )
    )
    thread.start()
    deadline = time.time() + 120
    while not any(isinstance(v, tuple) for v in steps_seen) and time.time() < deadline:
        time.sleep(0.05)
    assert events.cancel(SimpleNamespace(session_hash="someone-else"))[-1] == "Nothing to cancel."
    cancelled = events.cancel(request)  # what the visitor sees: Gradio drops the cancelled event's own outputs
    assert cancelled[0] is None and cancelled[1]["visible"] is False and cancelled[-1] == "Cancelled."
    thread.join(timeout=120)
    assert result["out"][0] is None and result["out"][-1] == "Cancelled."
    finished = [v for v in steps_seen if isinstance(v, tuple)]
    assert finished[-1][0] < 50, "the run went on to the last step"
    assert session.last_outputs == ()


def test_cancel_of_a_generation_still_waiting_in_the_queue(events):
    visitor = SimpleNamespace(session_hash="visitor-2")
    assert events.cancel(visitor)[-1] == "Nothing to cancel."
    events.queued(visitor)  # Generate pressed; the queued generation has not started
    assert events.cancel(visitor)[-1] == "Cancelled."
    assert events.cancel(visitor)[-1] == "Nothing to cancel."


def test_api_function_checks_and_downscales(events, tmp_path):
    big = np.zeros((1500, 2200, 3), np.uint8)
    big[500:1000, 800:1400] = 255
    path = tmp_path / "big.png"
    Image.fromarray(big).save(path)
    mp4, gif, info = events.api_animate(str(path), '[{"points": [[1100, 750, 1]], "prompt": "sway"}]', 5, 2, **FAST)
    assert read_video(mp4)[0].shape[1:3] == (64, 96)  # the model size, not the 2200x1500 upload
    assert info["regions"][0]["points"][0][:2] == [1101, 751] and info["seed"] == 2 and info["ofm"] == 5
    with pytest.raises(gr.Error, match="seed must be a whole number"):
        events.api_animate(str(path), '[{"points": [[1100, 750, 1]], "prompt": "sway"}]', 5, -3, **FAST)


def test_status_line_and_missing_model(tmp_path, photo):
    engine = Engine(weights=str(tmp_path / "nowhere"), segmenter="classical").load()
    assert not engine.has_pipeline
    line = engine.status_line()
    assert line.startswith(f"no animation model (pipeline folder not found: {tmp_path / 'nowhere'}) · ")
    # the fallback is named for what it is, with the command (and size) that gets SAM's masks instead
    assert line.endswith(
        " · approximate masks (superpixel GrabCut: no SAM weights; for SAM masks: "
        "`python -m fyc download sam-vit-b`, 375 MB)"
    )
    assert "--weights" in engine.model_notice()
    events = AppEvents(engine, OutputFiles(tmp_path / "scratch"))
    session = clicked_session(events, photo)
    with pytest.raises(gr.Error, match="No animation model is loaded: pipeline folder not found"):
        events.generate(session, "sway", 8, 0, **FAST, keep_background=True)


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    """An empty weights folder that `fyc.load_pipeline()` searches instead of the repository's `weights/`."""
    root = tmp_path / "weights"
    root.mkdir()
    monkeypatch.setenv("FYC_WEIGHTS_DIR", str(root))
    monkeypatch.delenv("FYC_WEIGHTS", raising=False)
    return root


def test_demo_folder_with_only_its_vae_then_the_whole_model(weights_dir, tmp_path, photo):
    """Today's state of weights/demo/ (the VAE, the rest still training), then the demo model saved there while
    the app runs: the default loader uses it, with no argument and no restart."""
    from app_server import save_tiny_pipeline

    saved = save_tiny_pipeline(tmp_path)
    shutil.copytree(saved / "vae", weights_dir / "demo" / "vae")
    engine = Engine(segmenter="classical").load()
    engine.model_retry_s = 3600.0
    assert not engine.has_pipeline
    assert engine.status_line().startswith(
        f"no animation model ({weights_dir / 'demo'}/ holds only vae/, not the whole demo model) · approximate masks"
    )
    notice = engine.model_notice()
    assert notice.startswith("**Generate needs an animation model.**")
    assert "`git pull`" in notice and "python -m fyc export --config configs/demo.yaml" in notice
    assert "--weights DIR" in notice and "Clicks and masks work meanwhile" in notice
    events = AppEvents(engine, OutputFiles(tmp_path / "scratch"))
    status, notice_update = events.page_status()
    assert status == engine.status_line() and notice_update["visible"] is True
    session = clicked_session(events, photo)  # clicking works without a model
    assert session.current.has_mask
    with pytest.raises(gr.Error, match=r"No animation model is loaded: .*holds only vae/.*`git pull`"):
        events.generate(session, "sway", 8, 0, **FAST, keep_background=False)

    shutil.copytree(saved, weights_dir / "demo", dirs_exist_ok=True)  # the whole demo model arrives
    assert not engine.has_pipeline  # looked for again only after model_retry_s
    engine.model_retry_s = 0.0
    assert engine.has_pipeline and Path(engine.pipeline.name_or_path) == weights_dir / "demo"
    status, notice_update = events.page_status()
    assert status.startswith("demo model, 64 px · ") and notice_update == {
        "__type__": "update",
        "value": "",
        "visible": False,
    }
    video, *_, hint = events.generate(session, "sway", 8, 0, **FAST, keep_background=False)
    assert read_video(video)[0].shape == (4, 64, 96, 3) and "Done in" in hint


def test_app_starts_without_a_model_and_says_what_is_missing(weights_dir, tmp_path, monkeypatch, capsys):
    import signal
    import warnings

    import app

    (weights_dir / "demo" / "vae").mkdir(parents=True)
    launched = []
    monkeypatch.setattr(app, "launch", lambda demo, args, **kw: launched.append(demo))
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # main() installs a SIGTERM handler
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # main() lowers it
    monkeypatch.delenv("SPACE_ID", raising=False)
    with warnings.catch_warnings():  # main() turns PIL's decompression-bomb warning into an error
        assert app.main(["--segmenter", "classical"]) == 0
    out = capsys.readouterr().out
    assert f"Follow-Your-Click: no animation model ({weights_dir / 'demo'}/ holds only vae/" in out
    assert "Generate needs an animation model. The repository ships its demo models in `weights/demo_motion/`" in out
    (notice,) = [block for block in launched[0].blocks.values() if getattr(block, "elem_id", None) == "model-notice"]
    assert notice.visible and "`git pull`" in notice.value


def test_gpu_decorator_wraps_the_pipeline_call(engine, tmp_path, photo):
    calls = []

    def gpu(fn):  # what spaces.GPU does on a ZeroGPU Space: wrap the function that needs the GPU
        def wrapped(*args, **kwargs):
            calls.append(fn.__name__)
            return fn(*args, **kwargs)

        return wrapped

    wrapped_engine = Engine(segmenter="classical", gpu=gpu)
    wrapped_engine.set_pipeline(engine.pipeline)
    events = AppEvents(wrapped_engine, OutputFiles(tmp_path / "scratch"))
    events.generate(clicked_session(events, photo), "sway", 8, 0, **FAST, keep_background=False)
    assert calls == ["run_on_gpu"]


def test_app_command_line_defaults():
    import app

    assert app.gpu_decorator() is None  # the `spaces` package is not installed here
    args = app.build_parser().parse_args([])
    assert (args.host, args.port, args.share, args.max_file_size) == ("127.0.0.1", 7860, False, "20mb")
    args = app.build_parser().parse_args(["--host", "0.0.0.0", "--port", "9000", "--share", "--steps", "4"])
    assert (args.host, args.port, args.share, args.steps) == ("0.0.0.0", 9000, True, 4)


# ---- the motion-field model ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def field_engine(tmp_path_factory):
    from tiny import make_tiny_field_pipeline

    engine = Engine(segmenter="classical")
    engine.set_pipeline(make_tiny_field_pipeline(tokenizer_dir=tmp_path_factory.mktemp("tok")))
    return engine


def test_motion_field_model_defaults_and_page(field_engine):
    import app

    defaults = field_engine.defaults()
    assert defaults.num_inference_steps == 12 and defaults.ofm_range == (0.5, 12.0) and defaults.ofm == 4.0
    assert defaults.keeps_background and defaults.follows_drags and defaults.vocabulary == ("move left", "nod")
    assert field_engine.status_line().startswith("motion-field model, photo's size up to 1024 px · ")
    demo = app.build_demo(field_engine, examples_dir=Path("/nonexistent"))
    blocks = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    assert (blocks["ofm"].minimum, blocks["ofm"].maximum, blocks["ofm"].value) == (0.5, 12.0, 4.0)
    assert blocks["steps"].value == 12 and blocks["prompt"].placeholder == "move left, nod…"
    keep = [b for b in demo.blocks.values() if getattr(b, "label", None) == "Keep background still"]
    assert len(keep) == 1 and not keep[0].visible  # the renderer keeps the background exact: nothing to lock
    suggestions = [b for b in demo.blocks.values() if getattr(b, "label", None) == "Motions this model knows"]
    assert suggestions and [s[0] for s in suggestions[0].samples] == ["move left", "nod"]


def test_motion_field_model_animates_at_the_photos_size_and_follows_drags(field_engine, photo, tmp_path):
    events = AppEvents(field_engine, OutputFiles(tmp_path / "scratch"))
    session = clicked_session(events, photo, prompt="nod")
    video, *_, hint = events.generate(
        session, "nod", 4, 0, num_inference_steps=1, num_frames=4, fps=4, keep_background=False
    )
    frames = read_video(video)[0]
    assert frames.shape == (4, 64, 96, 3) and "at 96×64" in hint
    assert np.abs(frames[:, :, 60:].astype(int) - photo[None, :, 60:]).mean() < 4  # far from the disk: the photo
    with pytest.raises(gr.Error, match="ofm must be between 0.5 and 12"):
        events.generate(session, "nod", 15, 0, num_inference_steps=1, num_frames=4, fps=4, keep_background=False)

    # a drag typed into the regions JSON (image pixels) reaches the pipeline: the video changes
    events.apply_regions(session, '[{"points": [[30, 32, 1]], "prompt": "nod", "drags": [[30, 32, 40, 36]]}]')
    assert (
        session.drags() == [[(30.0, 32.0, 40.0, 36.0)]] and '"drags": [[30.0, 32.0, 40.0, 36.0]]' in session.to_json()
    )
    dragged, *_ = events.generate(
        session, "nod", 4, 0, num_inference_steps=1, num_frames=4, fps=4, keep_background=False
    )
    assert np.abs(read_video(dragged)[0].astype(int) - frames).max() > 20
    with pytest.raises(gr.Error, match=r"drag 1's end \(x=96, y=32\) is outside the 96×64 image"):
        events.apply_regions(session, '[{"points": [[30, 32, 1]], "prompt": "nod", "drags": [[30, 32, 96, 32]]}]')


def test_latent_model_refuses_drags(events, photo):
    session = clicked_session(events, photo)
    events.apply_regions(session, '[{"points": [[30, 32, 1]], "prompt": "sway", "drags": [[30, 32, 40, 36]]}]')
    with pytest.raises(gr.Error, match="The latent model does not follow drags"):
        events.generate(session, "sway", 8, 0, **FAST, keep_background=False)


def test_drag_mode_draws_an_arrow_and_reaches_the_pipeline(photo, tmp_path):
    events = field_model_events(tmp_path)
    session = clicked_session(events, photo)
    with pytest.raises(gr.Error, match="inside its outline"):
        events._drag_click(session, 2, 2)  # the background, not the disk
    before = events.render(session, "")[1]
    out = events.click(session, "Drag", select(30, 32))
    assert session.drag_start == (30, 32) and "where this point should be" in out[5]
    out = events.click(session, "Drag", select(50, 20))
    assert session.current.drags == [(30.0, 32.0, 50.0, 20.0)] and session.drag_start is None
    assert "drag 1 from (30, 32) to (50, 20)" in out[5]
    drawn = np.abs(out[1].astype(int) - before.astype(int)).sum(-1) > 0
    assert drawn[26, 44] and not drawn[60, 5]  # the arrow's shaft, between its ends; nothing far from it
    assert json_regions(out[4])[0]["drags"] == [[30.0, 32.0, 50.0, 20.0]]
    assert events.generate(session, "sway", 4, 0, **FAST, keep_background=False)[0] is not None
    events.click(session, "Include", select(28, 30))
    events.undo(session)  # the include click goes first, then the drag
    assert session.current.drags and len(session.current.points) == 1
    events.undo(session)
    assert not session.current.drags and len(session.current.points) == 1


def test_drag_mode_with_a_model_that_ignores_drags_says_so(events, photo):
    session = clicked_session(events, photo)
    with pytest.raises(gr.Error, match="does not follow drags"):
        events.click(session, "Drag", select(30, 32))


def json_regions(text):
    import json

    return json.loads(text)


def field_model_events(tmp_path) -> AppEvents:
    """The app's events on a tiny motion-field model and the weight-free segmenter."""
    from tiny import make_tiny_field_pipeline

    engine = Engine(segmenter="classical")
    engine.set_pipeline(make_tiny_field_pipeline(seed=0))
    return AppEvents(engine, OutputFiles(tmp_path / "scratch"))


def test_a_pose_file_reaches_the_motion_field_model(photo, tmp_path):
    events = field_model_events(tmp_path)
    session = clicked_session(events, photo)
    fast = dict(ofm=4, seed=0, **FAST, keep_background=False)
    plain = read_video(events.generate(session, "nod", **fast)[0])[0]
    pose = tmp_path / "pose.json"
    pose.write_text('{"frames": [{"hand": [30, 32]}, {"hand": [40, 24]}]}')
    session, hint = events.set_pose(session, str(pose))
    assert "1 keypoints over 2 frames" in hint and session.keypoints is not None
    posed = read_video(events.generate(session, "nod", **fast)[0])[0]
    assert np.abs(posed.astype(int) - plain.astype(int)).max() > 0
    pose.write_text('{"frames": [{"hand": [30, 32]}]}x')
    with pytest.raises(gr.Error, match="not valid JSON"):
        events.set_pose(session, str(pose))
    assert events.set_pose(session, None)[0].keypoints is None
    events.upload(photo, session)
    assert session.keypoints is None  # a pose belongs to the photo it was placed on


def test_a_pose_video_reaches_the_motion_field_model_as_the_keypoints_it_shows(photo, tmp_path):
    from test_pose_images import draw_pose

    from fyc.video import export_mp4

    events = field_model_events(tmp_path)
    session = clicked_session(events, photo)
    fast = dict(ofm=4, seed=0, **FAST, keep_background=False)
    plain = read_video(events.generate(session, "nod", **fast)[0])[0]
    size = session.source_size
    poses = [{"right_wrist": (30, 32)}, {"right_wrist": (36, 28)}, {"right_wrist": (40, 24)}]
    export_mp4(np.stack([draw_pose(p, size) for p in poses]), tmp_path / "pose.mp4", fps=4)
    session, hint = events.set_pose(session, str(tmp_path / "pose.mp4"))
    assert "1 OpenPose keypoints over 3 frames" in hint
    np.testing.assert_allclose(session.keypoints.positions["right_wrist"][-1], (40, 24), atol=1.5)
    posed = read_video(events.generate(session, "nod", **fast)[0])[0]
    assert np.abs(posed.astype(int) - plain.astype(int)).max() > 0
    export_mp4(np.zeros((2, *size[::-1], 3), np.uint8), tmp_path / "dark.mp4", fps=4)
    with pytest.raises(gr.Error, match="first frame shows no keypoint"):
        events.set_pose(session, str(tmp_path / "dark.mp4"))


def test_a_pose_file_with_a_model_that_ignores_keypoints_says_so(events, photo, tmp_path):
    pose = tmp_path / "pose.json"
    pose.write_text('{"frames": [{"hand": [30, 32]}, {"hand": [40, 24]}]}')
    with pytest.raises(gr.Error, match="does not follow keypoints"):
        events.set_pose(clicked_session(events, photo), str(pose))


def test_each_object_keeps_its_own_strength(photo, tmp_path):
    events = field_model_events(tmp_path)
    session = clicked_session(events, photo, prompt="move left")
    events.set_strength(session, 2)
    events.add_object(session)
    events.click(session, "Include", select(85, 32))  # a second object: the right half's edge
    session.set_prompt("move left")
    events.set_strength(session, 9)
    events.select_object(session, 0)
    assert events.selected_strength(session)["value"] == 2
    regions = json_regions(session.to_json())
    assert [r.get("ofm") for r in regions] == [2, 9]
    video, *_, hint = events.generate(session, None, 2, 0, **FAST, keep_background=False)
    assert "OFM 2, 9" in hint
    assert session.strengths(4) == [2, 9]  # the calibration to each asked strength is test_motion_pipeline's


def test_the_latent_model_refuses_two_strengths(events, photo):
    session = clicked_session(events, photo)
    session.current.ofm = 2
    events.add_object(session)
    events.click(session, "Include", select(85, 32))
    session.set_prompt("sway")
    with pytest.raises(gr.Error, match="one strength"):
        events.generate(session, None, 9, 0, **FAST, keep_background=False)


def test_a_pose_video_steers_a_latent_model_with_a_controlnet(photo, tmp_path):
    from fyc.controlnet import controlnet_like
    from fyc.pipeline import FollowYourClickPipeline
    from fyc.video import export_mp4

    base = make_tiny_pipeline(seed=0)
    controlnet = controlnet_like(base.unet, base.vae_scale_factor, seed=0)
    g = torch.Generator().manual_seed(1)
    for name, param in controlnet.named_parameters():  # as if trained: the zero convolutions are not zero
        if name.startswith(("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding.conv_out")):
            param.data = torch.randn(param.shape, generator=g) * 0.5
    pipe = FollowYourClickPipeline(**{**base.components, "controlnet": controlnet})
    pipe.set_progress_bar_config(disable=True)
    engine = Engine(segmenter="classical")
    engine.set_pipeline(pipe)
    events = AppEvents(engine, OutputFiles(tmp_path / "scratch"))
    assert engine.defaults().follows_control_frames and not engine.defaults().follows_drags
    session = clicked_session(events, photo)
    fast = dict(ofm=4, seed=0, **FAST, keep_background=False)
    plain = read_video(events.generate(session, "sway", **fast)[0])[0]
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    for t in range(3):
        frames[t, 40 - 10 * t : 46 - 10 * t, 10:50] = 255
    export_mp4(frames, tmp_path / "pose.mp4", fps=4)
    session, hint = events.set_pose(session, str(tmp_path / "pose.mp4"))
    assert "3 control frames" in hint
    posed = read_video(events.generate(session, "sway", **fast)[0])[0]
    assert np.abs(posed.astype(int) - plain.astype(int)).max() > 0
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(gr.Error):
        events.set_pose(session, str(tmp_path / "bad.mp4"))


def test_a_pose_video_without_a_controlnet_says_what_to_do(events, photo, tmp_path):
    (tmp_path / "pose.mp4").write_bytes(b"x")
    with pytest.raises(gr.Error, match="has none"):
        events.set_pose(clicked_session(events, photo), str(tmp_path / "pose.mp4"))
