"""Several saved models under weights/: the app offers a picker, and each tab animates with the model it picked."""

import numpy as np
import pytest
from tiny import make_tiny_field_pipeline, make_tiny_pipeline

from fyc.ui.engine import Engine
from fyc.ui.events import AppEvents
from fyc.ui.outputs import OutputFiles
from fyc.ui.session import Session
from fyc.weights import save_pipeline


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    save_pipeline(make_tiny_field_pipeline(seed=0), root / "demo_motion")
    latent = make_tiny_pipeline(seed=0)
    latent.register_to_config(motion_vocabulary=["sway", "move left"])  # as the demo model's model_index.json
    save_pipeline(latent, root / "demo")
    return root


@pytest.fixture
def events(weights_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("FYC_WEIGHTS_DIR", str(weights_dir))
    return AppEvents(Engine(segmenter="classical"), OutputFiles(tmp_path / "scratch"))


def clicked(events):
    image = np.full((128, 192, 3), 90, np.uint8)
    image[40:88, 72:120] = (220, 40, 40)
    session = Session()
    events.upload(image, session)
    session.add_point(96, 64, 1)
    session.update_masks(events.engine.segment)
    session.set_prompt("sway")
    return session


def test_models_are_listed_default_first_and_picking_one_sets_its_controls(events, weights_dir):
    models = events.engine.models()
    assert [folder for _, folder in models] == [str(weights_dir / "demo_motion"), str(weights_dir / "demo")]
    assert [label.rpartition("(")[2] for label, _ in models] == ["motion fields)", "latent)"]
    session = Session()
    session.current.ofm = 16  # set with the latent model's range (0-20)
    out = events.select_model(session, str(weights_dir / "demo_motion"))
    assert session.current.ofm == 12  # brought into the motion-field model's 0.5-12
    out = events.select_model(session, str(weights_dir / "demo"))
    assert session.model == str(weights_dir / "demo")
    ofm, steps, _, keep_background, pose, prompt, motions, hint = out[1:]
    assert (ofm["minimum"], ofm["maximum"], steps["value"]) == (0.0, 20.0, 25)  # the latent model's own range
    assert keep_background["visible"] is True  # the latent model redraws the background: the lock is offered
    assert pose["visible"] is False  # nor does it follow keypoints
    assert motions["samples"] == [["sway"], ["move left"]] and prompt["placeholder"].startswith("sway, move left")
    assert "demo (latent)" in hint
    ofm, steps, _, keep_background, pose, _, _, _ = events.select_model(session, str(weights_dir / "demo_motion"))[1:]
    assert keep_background["visible"] is False and steps["value"] == 12 and session.model.endswith("demo_motion")
    assert pose["visible"] is True


def test_each_tab_animates_with_its_own_model(events, weights_dir):
    field_tab, latent_tab = clicked(events), clicked(events)
    events.select_model(latent_tab, str(weights_dir / "demo"))
    fast = dict(ofm=4, seed=0, num_inference_steps=1, num_frames=4, fps=4, keep_background=False)
    sizes = {}
    for name, tab in (("field", field_tab), ("latent", latent_tab)):
        _, _, _, hint = events.generate(tab, None, **fast)
        sizes[name] = hint.split(" at ")[1].split(",")[0]
    # the motion-field model renders at the photo's size, the tiny latent model at its native 64-px short side
    assert sizes == {"field": "192×128", "latent": "96×64"}
    assert events.engine.pipeline_for(latent_tab.model) is not events.engine.pipeline_for(field_tab.model)


def test_an_unknown_model_is_refused_and_the_tab_keeps_the_default(events):
    import gradio as gr

    session = Session()
    with pytest.raises(gr.Error, match="could not be loaded"):
        events.select_model(session, "/nowhere/model")
    assert session.model is None


def test_no_picker_when_the_model_was_given(weights_dir, monkeypatch):
    monkeypatch.setenv("FYC_WEIGHTS_DIR", str(weights_dir))
    assert Engine(weights=str(weights_dir / "demo"), segmenter="classical").models() == []
