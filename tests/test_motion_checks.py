"""The field-vocabulary motion classifier on rendered exact fields, and bench/motion_model_checks.py's measures on a
tiny motion-field model."""

import importlib.util
from pathlib import Path

import pytest
import torch
from tiny import make_tiny_field_pipeline

from fyc.data.field_clips import generate_field_clip
from fyc.eval.prompt_following import FIELD_LABELS, LABELS, classify_motion
from fyc.render import render_video

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["wave", "nod", "wag", "bob", "breathe", "sway", "bounce", "pulse"])
def test_field_classifier_names_rendered_ground_truth(name):
    clip = generate_field_clip(1, "eval", 16, motion_class=name, speed=4.0)
    video = render_video(clip.photo, clip.fields, list(clip.region_masks))
    assert classify_motion(video, clip.region_masks[0], vocabulary="field") == name


@pytest.mark.parametrize("name, mode", [("flow", "stream"), ("move_down", "layer"), ("move_left", "layer")])
def test_a_stream_reads_as_flow_and_a_move_of_the_same_field_as_a_move(name, mode):
    clip = generate_field_clip(2, "eval", 16, motion_class="flow", prompt="flow down", speed=6.0)
    if name == "move_left":
        clip = generate_field_clip(2, "eval", 16, motion_class="move_left", speed=6.0)
    video = render_video(
        clip.photo, clip.fields, list(clip.region_masks), region_modes=[mode] + ["layer"] * (len(clip.region_masks) - 1)
    )
    assert classify_motion(video, clip.region_masks[0], vocabulary="field") == name


def test_vocabularies_and_a_bad_one():
    assert set(LABELS) < set(FIELD_LABELS) and len(FIELD_LABELS) == 20
    clip = generate_field_clip(0, "eval", 16, motion_class="move_left", speed=4.0)
    video = render_video(clip.photo, clip.fields, list(clip.region_masks))
    assert classify_motion(video, clip.region_masks[0]) == "move_left"  # the old 12-class rules by default
    with pytest.raises(ValueError, match="vocabulary"):
        classify_motion(video, clip.region_masks[0], vocabulary="words")


def test_bench_measures_on_a_tiny_model(tmp_path):
    spec = importlib.util.spec_from_file_location("motion_model_checks", ROOT / "bench" / "motion_model_checks.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    torch.set_num_threads(1)
    pipe = make_tiny_field_pipeline(tokenizer_dir=tmp_path / "tok")
    results = bench.run_model(bench.Runner(pipe, "field", 2, 0, 96), quick=True, log=lambda line: None)
    assert results["frame0_psnr"]["min"] >= 40  # the renderer's frame 0 is the photo
    assert results["prompt_following"]["items"] == 8 + 2
    assert sum(map(sum, results["prompt_following"]["confusion"])) == 10
    assert len(results["strength"]["items"][0]["measured"]) == 3
    assert results["drag"]["median_epe_fraction"] >= 0 and results["field_leakage"]["mean"] is not None
    text = bench.report({"date": "now", "motion_field": results}, "cmd")
    assert "| frame 0 vs photo PSNR (dB), min | ≥ 40 |" in text
