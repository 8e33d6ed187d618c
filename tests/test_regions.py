"""`Regions`: several clicked objects, their prompts, overlaps, the API's JSON and pipeline Regions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fyc.region import Region
from fyc.segment import ClickSegmenter, Regions
from helpers.segment_scenes import iou, next_click, two_object_scene
from helpers.tiny_sam import save_tiny_sam


@pytest.fixture(scope="module")
def sam(tmp_path_factory) -> ClickSegmenter:
    checkpoint = save_tiny_sam(tmp_path_factory.mktemp("weights") / "sam" / "tiny.pth")
    return ClickSegmenter.load(checkpoint=checkpoint, device="cpu", island_fraction=0, hole_fraction=0)


@pytest.fixture(scope="module")
def scene():
    return two_object_scene()


def test_editing_points_and_objects(sam, scene):
    regions = Regions(image=scene.image, segmenter=sam)
    first = regions.add_object("sway")
    mask_one = regions.add_point(100, 120)
    assert mask_one.shape == (240, 320) and mask_one.dtype == bool
    assert np.array_equal(mask_one, sam.predict([(100, 120, 1)], image=scene.image))
    mask_two = regions.add_point(130, 90, 0)
    assert np.array_equal(mask_two, sam.predict([(100, 120, 1), (130, 90, 0)], image=scene.image))
    assert first.points == [(100.0, 120.0, 1), (130.0, 90.0, 0)]

    assert np.array_equal(regions.undo_point(), mask_one)  # undo restores the previous mask exactly
    regions.add_object("blink")
    assert regions.selected == 1
    regions.add_point(220, 100)
    assert len(regions) == 2 and regions[1].points == [(220.0, 100.0, 1)]
    regions.add_point(110, 125, index=0)  # to a given object, not the selected one
    assert regions[0].points == [(100.0, 120.0, 1), (110.0, 125.0, 1)]

    regions.clear_object()
    assert regions[1].points == [] and regions[1].mask is None and regions[1].prompt == "blink"
    assert len(regions.to_regions()) == 1  # the cleared object gives no Region
    regions.undo_point()  # undo on an empty object is harmless
    regions.remove_object()
    assert len(regions) == 1 and regions.selected == 0
    regions.clear_all()
    assert len(regions) == 0 and regions.selected is None
    assert not regions.union_mask().any()


def test_first_click_without_an_object_creates_one(sam, scene):
    regions = Regions(image=scene.image, segmenter=sam)
    regions.add_point(50, 60)
    assert len(regions) == 1 and regions.selected == 0 and regions[0].mask is not None


def test_lone_exclude_click_waits_for_an_include_click(sam, scene):
    regions = Regions(image=scene.image, segmenter=sam)
    regions.add_object("sway")
    assert regions.add_point(50, 60, 0) is None
    with pytest.raises(ValueError, match="only exclude clicks"):
        regions.to_regions()
    assert regions.add_point(100, 120) is not None


def test_overlaps_go_to_the_later_object(sam, scene):
    regions = Regions(image=scene.image, segmenter=sam)
    for prompt, (x, y) in (("sway", (100, 120)), ("blink", (104, 118)), ("shake", (250, 60))):
        regions.add_object(prompt)
        regions.add_point(x, y)
    raw = [obj.mask for obj in regions]
    assert (raw[0] & raw[1]).any()  # the premise: nearby clicks overlap
    resolved = regions.masks()
    for later in range(3):
        for earlier in range(later):
            assert not (resolved[earlier] & resolved[later]).any()
    assert np.array_equal(resolved[2], raw[2])
    assert np.array_equal(resolved[1], raw[1] & ~raw[2])
    assert np.array_equal(resolved[0], raw[0] & ~raw[1] & ~raw[2])
    union = regions.union_mask()
    assert np.array_equal(union, raw[0] | raw[1] | raw[2])
    assert np.array_equal(np.logical_or.reduce(resolved), union)
    labels = regions.label_map()
    for position, mask in enumerate(resolved):
        assert (labels[mask] == position + 1).all()
    assert (labels[~union] == 0).all()


def test_to_regions_gives_pipeline_regions(sam, scene):
    regions = Regions(image=scene.image, segmenter=sam)
    regions.add_object(" sway ")
    regions.add_point(100, 120)
    regions.add_object("")
    regions.add_point(250, 60)
    with pytest.raises(ValueError, match="Object 1 has no motion prompt"):
        regions.to_regions()
    out = regions.to_regions(default_prompt="move")
    assert all(isinstance(region, Region) for region in out)
    assert [region.prompt for region in out] == ["sway", "move"]
    for region, mask in zip(out, regions.masks()):
        assert np.array_equal(region.mask, mask)
    regions.set_prompt("blink", index=1)
    assert [region.prompt for region in regions.to_regions()] == ["sway", "blink"]


def test_json_round_trip_in_the_api_format(sam, scene):
    regions = Regions(image=scene.image, segmenter=sam)
    regions.add_object("sway")
    regions.add_point(100, 120)
    regions.add_point(130.5, 90, 0)
    regions.add_object("blink")
    regions.add_point(250, 60)
    text = regions.to_json()
    assert json.loads(text) == [
        {"points": [[100, 120, 1], [130.5, 90, 0]], "prompt": "sway"},
        {"points": [[250, 60, 1]], "prompt": "blink"},
    ]
    again = Regions.from_json(text, image=scene.image, segmenter=sam)
    assert again.to_json() == text
    for a, b in zip(regions.masks(), again.masks()):
        assert np.array_equal(a, b)  # masks recomputed from the clicks
    # Already-parsed JSON, and bytes, are accepted too.
    assert Regions.from_json(json.loads(text)).to_list() == json.loads(text)
    assert Regions.from_json(text.encode()).to_list() == json.loads(text)


def test_from_json_without_a_segmenter_keeps_clicks_and_asks_for_one(scene):
    regions = Regions.from_json('[{"points": [[10, 20, 1]], "prompt": "sway"}]')
    assert regions[0].points == [(10.0, 20.0, 1)] and regions[0].mask is None
    with pytest.raises(RuntimeError, match="segmenter"):
        regions.to_regions()


@pytest.mark.parametrize(
    "text, words",
    [
        ("not json", "could not be parsed"),
        ('{"points": []}', "must be a list"),
        ('["sway"]', 'must be an object with "points"'),
        ('[{"prompt": "sway"}]', 'must be an object with "points"'),
        ('[{"points": [], "prompt": "sway"}]', 'non-empty "points"'),
        ('[{"points": [[1, 2]], "prompt": "sway"}]', r"Region 0: Point 0 .* \(x, y, label\)"),
        ('[{"points": [[1, 2, 1]], "prompt": 5}]', "prompt must be a string"),
        ('[{"points": [[1, 2, 1]], "prompt": "a"}, {"points": [[900, 2, 1]], "prompt": "b"}]',
         "Region 1: Point 0 at .* outside the image of width 320 and height 240"),
        ('[{"points": [[1, 2, 0]], "prompt": "sway"}]', "include point"),
    ],
)
def test_bad_json_is_refused_with_a_message_that_says_where(scene, text, words):
    with pytest.raises(ValueError, match=words):
        Regions.from_json(text, image=scene.image)


def test_points_outside_the_image_are_refused_when_clicking(sam, scene):
    regions = Regions(image=scene.image, segmenter=sam)
    with pytest.raises(ValueError, match="outside the image"):
        regions.add_point(320, 10)
    with pytest.raises(ValueError, match="label"):
        regions.add_point(10, 10, 3)
    assert regions[0].points == []


def test_new_image_rechecks_and_recomputes(sam, scene):
    regions = Regions(image=scene.image, segmenter=sam)
    regions.add_point(300, 200)
    smaller = scene.image[:100, :100]
    with pytest.raises(ValueError, match="outside the image"):
        regions.set_image(smaller)
    flipped = scene.image[::-1].copy()
    regions.set_image(flipped)
    assert np.array_equal(regions[0].mask, sam.predict([(300, 200, 1)], image=flipped))


def test_two_objects_on_a_real_scene_with_the_classical_segmenter(scene):
    """End to end: two objects clicked as a user would (each next click on the largest error, at most
    three per object) become two non-overlapping pipeline Regions matching the pasted objects.

    One click on the cup selects the coffee in it; the next click, on the missed saucer, takes the rest.
    """
    regions = Regions(image=scene.image, segmenter=ClickSegmenter.load(prefer="classical"))
    clicks_used = []
    for prompt, truth in zip(("sway", "rotate"), scene.masks):
        regions.add_object(prompt)
        mask = None
        for clicks in range(1, 4):
            mask = regions.add_point(*next_click(mask, truth))
            if iou(mask, truth) >= 0.8:
                break
        clicks_used.append(clicks)
    out = regions.to_regions()
    assert [region.prompt for region in out] == ["sway", "rotate"]
    for region, truth in zip(out, scene.masks):
        assert iou(region.mask, truth) >= 0.8
    assert not (out[0].mask & out[1].mask).any()
    assert clicks_used[0] == 1  # the cat blob takes one click
