"""fyc.prompt_vocabulary: how close a prompt is to the motions a model learned, with the demo models' real MiniLM."""

import gradio as gr
import pytest
from tiny import make_tiny_field_pipeline

from fyc.data.field_motions import FIELD_MOTION_CLASSES
from fyc.model_settings import model_settings
from fyc.prompt_vocabulary import UNFAMILIAR_BELOW, nearest_motion, unfamiliar_prompt_note
from fyc.ui.engine import Engine

VOCABULARY = [m.canonical for m in FIELD_MOTION_CLASSES.values()]


@pytest.fixture(scope="module")
def pipe():
    pipe = make_tiny_field_pipeline(minilm=True)
    pipe.register_to_config(motion_vocabulary=VOCABULARY)
    return pipe


def test_a_known_word_is_its_own_nearest_motion(pipe):
    assert model_settings(pipe).vocabulary == tuple(VOCABULARY)
    word, similarity = nearest_motion(pipe, "rotate clockwise")
    assert word == "rotate clockwise" and similarity == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    "prompt, word",
    [("slide to the left", "move left"), ("spin clockwise", "rotate clockwise"), ("wag the tail", "wag")],
)
def test_a_paraphrase_finds_its_motion(pipe, prompt, word):
    nearest, similarity = nearest_motion(pipe, prompt)
    assert nearest == word and UNFAMILIAR_BELOW < similarity < 1.0


def test_only_a_far_prompt_gets_a_note_and_it_names_the_nearest_motion(pipe):
    note = unfamiliar_prompt_note(pipe, "  a cat ")
    word, similarity = nearest_motion(pipe, "a cat")
    assert similarity < UNFAMILIAR_BELOW
    assert note.startswith("'a cat' is far from the motions") and f"'{word}'" in note and f"{similarity:.2f}" in note
    assert unfamiliar_prompt_note(pipe, "Move Left") is None
    assert unfamiliar_prompt_note(pipe, "slide to the left") is None
    assert unfamiliar_prompt_note(pipe, "   ") is None


def test_a_model_without_a_vocabulary_gets_no_note(pipe):
    bare = make_tiny_field_pipeline()
    bare.register_to_config(motion_vocabulary=[])
    assert nearest_motion(bare, "a cat") is None and unfamiliar_prompt_note(bare, "a cat") is None


def test_the_engine_notes_each_far_prompt_once(pipe):
    engine = Engine(segmenter="classical")
    engine.set_pipeline(pipe)
    notes = engine.prompt_notes(["a cat", "move left", "a cat"])
    assert len(notes) == 1 and notes[0].startswith("'a cat'")


def test_the_app_says_so_after_generating_with_a_far_prompt(pipe, tmp_path):
    from app_server import disk_image

    from fyc.ui.events import AppEvents
    from fyc.ui.outputs import OutputFiles
    from fyc.ui.session import Session

    engine = Engine(segmenter="classical")
    engine.set_pipeline(pipe)
    events = AppEvents(engine, OutputFiles(tmp_path / "scratch"))
    session = Session()
    events.upload(disk_image(), session)
    events.embed(session)
    events.click(session, "Include", gr.SelectData(None, {"index": [30, 32], "value": None}))
    fast = dict(num_inference_steps=1, num_frames=4, fps=4, keep_background=True)
    *_, hint = events.generate(session, "a cat", 4, 0, **fast)
    assert hint.startswith("Done in") and "'a cat' is far from the motions" in hint
    *_, hint = events.generate(session, "move left", 4, 0, **fast)
    assert "far from" not in hint
