"""The click model (`fyc.clicks.ClickedImage`) with a real segmenter, the regions JSON it reads and writes, and
`fyc.region.exclusive_masks`, the rule for overlapping regions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.segment_scenes import iou, next_click, two_object_scene
from helpers.tiny_sam import save_tiny_sam

from fyc.clicks import ClickedImage
from fyc.inputs import parse_regions
from fyc.region import Region, exclusive_masks
from fyc.segment import ClickSegmenter


@pytest.fixture(scope="module")
def sam(tmp_path_factory) -> ClickSegmenter:
    checkpoint = save_tiny_sam(tmp_path_factory.mktemp("weights") / "sam" / "tiny.pth")
    return ClickSegmenter.load(checkpoint=checkpoint, device="cpu", island_fraction=0, hole_fraction=0)


@pytest.fixture(scope="module")
def scene():
    return two_object_scene()


def segment_with(segmenter):
    return lambda image, points: segmenter.predict(points, image=image)


def clicked_on(image) -> ClickedImage:
    clicked = ClickedImage()
    clicked.set_image(image)
    return clicked


def test_editing_points_and_objects(sam, scene):
    clicked, segment = clicked_on(scene.image), segment_with(sam)
    clicked.set_prompt("sway")
    clicked.add_point(100, 120, 1)
    clicked.update_masks(segment, clicked.selected)
    mask_one = clicked.current.mask
    assert mask_one.shape == (240, 320) and mask_one.dtype == bool
    assert np.array_equal(mask_one, sam.predict([(100, 120, 1)], image=scene.image))
    clicked.add_point(130, 90, 0)
    clicked.update_masks(segment, clicked.selected)
    assert np.array_equal(clicked.current.mask, sam.predict([(100, 120, 1), (130, 90, 0)], image=scene.image))
    assert clicked.current.points == [(100, 120, 1), (130, 90, 0)]

    assert clicked.undo_point()
    clicked.update_masks(segment, clicked.selected)
    assert np.array_equal(clicked.current.mask, mask_one)  # undo restores the previous mask exactly
    assert clicked.add_object() and clicked.selected == 1
    clicked.set_prompt("blink")
    clicked.add_point(220, 100, 1)
    clicked.update_masks(segment)
    assert len(clicked.objects) == 2 and clicked.objects[1].points == [(220, 100, 1)]

    clicked.clear_object()
    assert clicked.current.points == [] and clicked.current.mask is None and clicked.current.prompt == "blink"
    assert len(clicked.regions()) == 1  # the cleared object gives no Region
    assert not clicked.undo_point()  # undo on an empty object is harmless
    clicked.clear_all()
    assert len(clicked.objects) == 1 and clicked.selected == 0
    assert not clicked.union_mask().any()


def test_lone_exclude_click_waits_for_an_include_click(sam, scene):
    clicked, segment = clicked_on(scene.image), segment_with(sam)
    clicked.set_prompt("sway")
    clicked.add_point(50, 60, 0)
    clicked.update_masks(segment)
    assert clicked.current.mask is None and clicked.regions() == []
    clicked.add_point(100, 120, 1)
    clicked.update_masks(segment)
    assert clicked.current.has_mask and len(clicked.regions()) == 1


def test_overlaps_go_to_the_later_region(sam, scene):
    raw = [sam.predict([(x, y, 1)], image=scene.image) for x, y in ((100, 120), (104, 118), (250, 60))]
    assert (raw[0] & raw[1]).any()  # the premise: nearby clicks overlap
    resolved = exclusive_masks(raw)
    for later in range(3):
        for earlier in range(later):
            assert not (resolved[earlier] & resolved[later]).any()
    assert np.array_equal(resolved[2], raw[2])
    assert np.array_equal(resolved[1], raw[1] & ~raw[2])
    assert np.array_equal(resolved[0], raw[0] & ~raw[1] & ~raw[2])
    assert np.array_equal(np.logical_or.reduce(resolved), raw[0] | raw[1] | raw[2])


def test_regions_are_pipeline_regions_of_the_objects_with_a_mask_and_a_prompt(sam, scene):
    clicked, segment = clicked_on(scene.image), segment_with(sam)
    clicked.set_prompt(" sway ")
    clicked.add_point(100, 120, 1)
    clicked.add_object()
    clicked.add_point(250, 60, 1)
    clicked.update_masks(segment)
    out = clicked.regions()
    assert [region.prompt for region in out] == ["sway"]  # the second object has no prompt yet
    clicked.set_prompt("blink")
    out = clicked.regions()
    assert all(isinstance(region, Region) for region in out)
    assert [region.prompt for region in out] == ["sway", "blink"]
    for region, obj in zip(out, clicked.objects):
        assert np.array_equal(region.mask, obj.mask)


def test_json_round_trip_in_the_api_format(sam, scene):
    text = json.dumps(
        [
            {"points": [[100, 120, 1], [130, 90, 0]], "prompt": "sway"},
            {"points": [[250, 60, 1]], "prompt": "blink"},
        ]
    )
    clicked, segment = clicked_on(scene.image), segment_with(sam)
    clicked.set_regions(parse_regions(text, 320, 240))
    clicked.update_masks(segment)
    assert json.loads(clicked.to_json()) == json.loads(text)
    again = clicked_on(scene.image)
    again.set_regions(parse_regions(clicked.to_json(), 320, 240))
    again.update_masks(segment)
    assert again.to_json() == clicked.to_json()
    for a, b in zip(clicked.objects, again.objects):
        assert np.array_equal(a.mask, b.mask)  # masks recomputed from the clicks


def test_points_outside_the_image_are_refused_when_clicking(scene):
    clicked = clicked_on(scene.image)
    with pytest.raises(ValueError, match="outside"):
        clicked.add_point(320, 10, 1)
    assert clicked.current.points == []


def test_two_objects_on_a_real_scene_with_the_classical_segmenter(scene):
    """End to end: two objects clicked as a user would (each next click on the largest error, at most
    three per object) become two pipeline Regions matching the pasted objects, apart once overlaps are resolved.

    One click on the cup selects the coffee in it; the next click, on the missed saucer, takes the rest.
    """
    clicked, segment = clicked_on(scene.image), segment_with(ClickSegmenter.load(prefer="classical"))
    clicks_used = []
    for number, (prompt, truth) in enumerate(zip(("sway", "rotate"), scene.masks)):
        if number:
            clicked.add_object()
        clicked.set_prompt(prompt)
        for clicks in range(1, 4):
            clicked.add_point(*next_click(clicked.current.mask, truth))
            clicked.update_masks(segment, clicked.selected)
            if iou(clicked.current.mask, truth) >= 0.8:
                break
        clicks_used.append(clicks)
    out = clicked.regions()
    assert [region.prompt for region in out] == ["sway", "rotate"]
    for region, truth in zip(out, scene.masks):
        assert iou(region.mask, truth) >= 0.8
    first, second = exclusive_masks([region.mask for region in out])
    assert not (first & second).any()
    assert clicks_used[0] == 1  # the cat blob takes one click
