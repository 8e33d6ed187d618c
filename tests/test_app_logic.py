"""The app's model-free logic: session state, input checks, overlay drawing, scratch files, examples."""

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import EXAMPLES_DIR
from fyc.clicks import WORKING_MAX_SIDE, ClickedObject, fit_within
from fyc.inputs import (
    OFM_MAX,
    InputError,
    check_int,
    check_ofm,
    check_seed,
    load_image_file,
    parse_regions,
)
from fyc.ui.examples import load_examples
from fyc.ui.outputs import OutputFiles
from fyc.ui.overlay import EXCLUDE_COLOR, INCLUDE_COLOR, draw_overlay, object_color
from fyc.ui.session import Session

# ---- session -------------------------------------------------------------------------------------------


def test_set_image_downscales_large_uploads_and_keeps_small_ones():
    session = Session()
    session.set_image(np.zeros((3000, 2000, 3), np.uint8))
    assert session.source_size == (2000, 3000)
    assert session.size == (round(2000 * WORKING_MAX_SIDE / 3000), WORKING_MAX_SIDE)
    session.set_image(np.zeros((300, 451, 3), np.uint8))
    assert session.size == (451, 300) and session.source_size == (451, 300)
    assert fit_within(100, 50, 1024) == (100, 50)


def test_coordinates_round_trip_between_source_and_working_copy():
    session = Session()
    session.set_image(np.zeros((1024, 2048, 3), np.uint8))  # working copy is exactly half size
    assert session.size == (1024, 512)
    assert session.to_working(2047, 1023) == (1023, 511)
    assert session.to_working(100, 50) == (50, 25)
    assert session.to_source(50, 25) == (101, 51)  # centre of the 2x2 source pixels
    for x, y in [(0, 0), (123, 456), (1023, 511)]:
        assert session.to_working(*session.to_source(x, y)) == (x, y)


def test_object_editing_flow():
    session = Session()
    with pytest.raises(ValueError, match="Upload an image"):
        session.add_point(1, 1, 1)
    session.set_image(np.zeros((100, 200, 3), np.uint8))
    assert session.problem() == "Click the object you want to animate first."
    assert not session.add_object()  # no clicks yet: nothing to add
    session.add_point(10, 20, 1)
    session.add_point(30, 40, 0)
    with pytest.raises(ValueError, match="outside"):
        session.add_point(200, 5, 1)
    assert session.current.points == [(10, 20, 1), (30, 40, 0)]
    assert session.undo_point() and session.current.points == [(10, 20, 1)]

    session.current.mask = np.zeros((100, 200), bool)
    session.current.mask[10:30, 5:15] = True
    assert "no motion prompt" in session.problem()
    session.set_prompt("  sway ")
    assert session.problem() is None
    assert session.add_object() and session.selected == 1
    assert session.object_labels() == ["1 · sway", "2 · (no prompt yet)"]
    session.add_point(150, 50, 1)
    assert "Object 2 has no mask" in session.problem()
    session.clear_object()
    assert session.current.points == [] and session.problem() is None  # empty objects are ignored

    session.select(0)
    regions = session.regions()
    assert len(regions) == 1 and regions[0].prompt == "sway" and regions[0].mask.sum() == 200
    assert session.union_mask().sum() == 200
    with pytest.raises(ValueError, match="no object 5"):
        session.select(4)
    session.clear_all()
    assert len(session.objects) == 1 and session.selected == 0 and not session.current.points


def test_undo_last_point_drops_the_mask():
    session = Session()
    session.set_image(np.zeros((10, 10, 3), np.uint8))
    session.add_point(1, 1, 1)
    session.current.mask = np.ones((10, 10), bool)
    assert session.undo_point()
    assert session.current.mask is None
    assert not session.undo_point()


def test_regions_json_uses_source_pixels_and_round_trips():
    session = Session()
    session.set_image(np.zeros((2048, 2048, 3), np.uint8))  # working copy 1024 px: scale 1/2
    session.set_regions(
        [{"points": [(1000, 500, 1), (10, 20, 0)], "prompt": "sway"}, {"points": [(2047, 2047, 1)], "prompt": "blink"}]
    )
    assert session.objects[0].points == [(500, 250, 1), (5, 10, 0)]
    data = json.loads(session.to_json())
    assert data == [
        {"points": [[1001, 501, 1], [11, 21, 0]], "prompt": "sway"},
        {"points": [[2047, 2047, 1]], "prompt": "blink"},
    ]
    # parsing what we wrote gives the same working-copy points back
    again = Session()
    again.set_image(np.zeros((2048, 2048, 3), np.uint8))
    again.set_regions(parse_regions(session.to_json(), 2048, 2048))
    assert [o.points for o in again.objects] == [o.points for o in session.objects]
    assert Session().to_json() == "[]"


def test_state_is_per_instance():
    first, second = Session(), Session()
    first.set_image(np.zeros((4, 4, 3), np.uint8))
    first.add_point(1, 1, 1)
    assert second.current.points == [] and not second.has_image


# ---- input checks --------------------------------------------------------------------------------------


def test_a_region_may_carry_its_own_strength():
    (region,) = parse_regions('[{"points": [[10, 20, 1]], "prompt": "sway", "ofm": 6}]', 64, 48)
    assert region["ofm"] == 6.0
    with pytest.raises(InputError, match="Region 1's ofm must be between 0 and 20"):
        parse_regions('[{"points": [[10, 20, 1]], "prompt": "sway", "ofm": 50}]', 64, 48)


def test_parse_regions_accepts_the_api_format():
    regions = parse_regions('[{"points": [[10, 20, 1], [30.7, 40, 0], [5, 5]], "prompt": " sway "}]', 64, 48)
    assert regions == [{"points": [(10, 20, 1), (30, 40, 0), (5, 5, 1)], "prompt": "sway"}]
    assert parse_regions([{"points": [[1, 1, 1]], "prompt": "x"}], 4, 4)[0]["prompt"] == "x"
    assert len(parse_regions({"points": [[1, 1, 1]], "prompt": "x"}, 4, 4)) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "No regions: send at least one region"),
        ("[]", "No regions: send at least one region"),
        ("{not json", "not valid JSON .* Send a list like"),
        ('"sway"', "must be a list of regions"),
        ('[{"prompt": "sway"}]', 'Region 1 must be an object with "points"'),
        ('[{"points": [], "prompt": "sway"}]', "Region 1 has no points"),
        ('[{"points": [[1, 2, 3, 4]], "prompt": "sway"}]', r"Region 1, point 1 must be \[x, y, label\]"),
        ('[{"points": [["a", 2, 1]], "prompt": "sway"}]', "x and y must be numbers"),
        ('[{"points": [[1, 2, 5]], "prompt": "sway"}]', "label must be 1 .include. or 0"),
        ('[{"points": [[64, 2, 1]], "prompt": "sway"}]', r"outside the 64×48 image: x must be in 0..63"),
        ('[{"points": [[1, -1, 1]], "prompt": "sway"}]', "outside the 64×48 image"),
        ('[{"points": [[1, 2, 0]], "prompt": "sway"}]', "only exclude points"),
        ('[{"points": [[1, 2, 1]]}]', "Region 1 has no motion prompt"),
        (
            '[{"points": [[1, 2, 1]], "prompt": "ok"}, {"points": [[1, 2, 1]], "prompt": "  "}]',
            "Region 2 has no motion prompt",
        ),
    ],
)
def test_parse_regions_errors_say_what_to_do(text, message):
    with pytest.raises(InputError, match=message):
        parse_regions(text, 64, 48)


def test_numeric_checks():
    assert check_ofm("8") == 8.0 and check_ofm(0) == 0.0 and check_ofm(OFM_MAX) == OFM_MAX
    for bad in (-0.1, OFM_MAX + 0.5, float("nan"), "fast", None):
        with pytest.raises(InputError, match="ofm must be"):
            check_ofm(bad)
    assert check_seed(None) == 0 and check_seed(7.0) == 7 and check_seed(2**32 - 1) == 2**32 - 1
    for bad in (-1, 1.5, 2**32, "x"):
        with pytest.raises(InputError, match="seed must be a whole number"):
            check_seed(bad)
    assert check_int("steps", 3, 1, 10) == 3
    with pytest.raises(InputError, match="steps must be a whole number between 1 and 10; got 11"):
        check_int("steps", 11, 1, 10)


def test_load_image_file(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGBA", (7, 5), (1, 2, 3, 4)).save(path)
    image = load_image_file(path)
    assert image.shape == (5, 7, 3) and image.dtype == np.uint8 and image[0, 0].tolist() == [1, 2, 3]
    # EXIF orientation is applied, as browsers display it (6 = rotate 90° clockwise)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (7, 5)).save(tmp_path / "r.jpg", exif=exif)
    assert load_image_file(tmp_path / "r.jpg").shape == (7, 5, 3)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="'notes.txt' is not an image this app can read: send a PNG, JPEG or WebP"):
        load_image_file(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="No image"):
        load_image_file(None)


# ---- overlay -------------------------------------------------------------------------------------------


def test_overlay_tints_masks_and_draws_points():
    image = np.full((100, 120, 3), 128, np.uint8)
    first = ClickedObject(points=[(20, 20, 1)], mask=np.zeros((100, 120), bool))
    first.mask[40:80, 40:80] = True
    second = ClickedObject(points=[(100, 80, 0)], mask=None)
    out = draw_overlay(image, [first, second], selected=0)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(image, np.full((100, 120, 3), 128, np.uint8)), "the input must not be modified"
    inside = out[60, 60].astype(int)
    expected = (128 * 0.55 + np.array(object_color(0)) * 0.45).round()
    assert np.abs(inside - expected).max() <= 1
    assert out[20, 20].tolist() == list(INCLUDE_COLOR)
    assert out[77, 100].tolist() == list(EXCLUDE_COLOR)  # above the exclude dot's white bar
    assert out[80, 100].tolist() == [255, 255, 255]  # the bar itself
    assert out[5, 115].tolist() == [128, 128, 128]  # untouched background
    assert object_color(0) != object_color(1)


# ---- scratch files -------------------------------------------------------------------------------------


def test_output_files_prune_discard_and_cleanup(tmp_path):
    outputs = OutputFiles(tmp_path / "scratch", max_age_s=60)
    old = outputs.new_run()
    (old / "a.mp4").write_bytes(b"x")
    past = time.time() - 120
    os.utime(old, (past, past))
    fresh = outputs.new_run()  # prunes the old run
    assert not old.exists() and fresh.exists()
    (fresh / "b.mp4").write_bytes(b"x")
    outputs.discard([str(fresh / "b.mp4")])
    assert not fresh.exists()
    outputs.discard(["/etc/hostname"])  # outside the scratch root: never touched
    assert Path("/etc/hostname").exists()
    outputs.cleanup()
    assert not (tmp_path / "scratch").exists()


# ---- examples ------------------------------------------------------------------------------------------


def test_examples_are_complete_and_valid():
    examples = load_examples(EXAMPLES_DIR)
    assert len(examples) >= 4
    licences = (EXAMPLES_DIR / "README.md").read_text()
    for example in examples:
        assert example.image.exists(), example.image
        assert example.image.name in licences, f"{example.image.name} has no licence line in examples/README.md"
        width, height = Image.open(example.image).size
        regions = parse_regions(example.regions_json, width, height)
        assert regions and all(region["prompt"] for region in regions)
        assert 0 <= example.ofm <= OFM_MAX
    assert any(len(example.regions) > 1 for example in examples), "one example should animate several objects"
    assert load_examples(EXAMPLES_DIR / "missing") == []
