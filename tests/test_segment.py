"""Click → mask: SAM loading and embedding cache (tiny random SAM), the GrabCut fallback on real photos,
post-processing, and input handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.segment_scenes import fallback_scenes, iou, two_object_scene
from helpers.tiny_sam import TINY_SAM, save_tiny_sam, tiny_sam
from PIL import Image
from segment_anything import sam_model_registry

from fyc.checkpoint_io import CorruptWeightsError, UnsafeCheckpointError
from fyc.inputs import check_points
from fyc.segment import (
    ClickSegmenter,
    SamCheckpointError,
    build_sam,
    clean_mask,
    find_sam_checkpoint,
    infer_sam_config,
    official_config,
    to_rgb_uint8,
)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny random SAM saved as a plain state dict under a name that says nothing about it."""
    return save_tiny_sam(tmp_path_factory.mktemp("weights") / "sam" / "my_model.bin")


@pytest.fixture
def sam_segmenter(tiny_checkpoint) -> ClickSegmenter:
    return ClickSegmenter.load(checkpoint=tiny_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def photo_image() -> np.ndarray:
    return fallback_scenes()[1].image  # 240 x 320


class EncoderCalls:
    """Counts forward passes of a module with a forward hook (the real module still runs)."""

    def __init__(self, module):
        self.count = 0
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.count += 1


def encoder_of(segmenter: ClickSegmenter):
    return segmenter._engine.predictor.model.image_encoder


# ---- checkpoint type detection ------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["vit_b", "vit_l", "vit_h"])
def test_model_type_is_read_from_tensor_shapes_of_the_published_sizes(model_type):
    # The registry's own builders on the meta device: real key names and shapes, no memory.
    with torch.device("meta"):
        state_dict = sam_model_registry[model_type]().state_dict()
    config = infer_sam_config(state_dict)
    assert config == official_config(model_type)
    assert config.model_type == model_type
    with torch.device("meta"):
        rebuilt = build_sam(config).state_dict()
    assert {k: v.shape for k, v in rebuilt.items()} == {k: v.shape for k, v in state_dict.items()}


def test_tiny_config_round_trips_and_is_custom():
    config = infer_sam_config(tiny_sam().state_dict())
    assert config == TINY_SAM
    assert config.model_type == "custom"


def test_type_comes_from_the_tensors_not_the_file_name(tmp_path):
    path = save_tiny_sam(tmp_path / "sam_vit_h_4b8939.pth")  # the official ViT-H name on a tiny model
    assert ClickSegmenter.load(checkpoint=path, device="cpu").backend == "sam-custom"


def test_a_missing_tensor_is_named(tmp_path):
    with torch.device("meta"):
        state_dict = sam_model_registry["vit_b"]().state_dict()
    state_dict.pop("image_encoder.neck.0.weight")
    with pytest.raises(SamCheckpointError, match="image_encoder.neck.0.weight"):
        infer_sam_config(state_dict)


# ---- loading -------------------------------------------------------------------------------------


def test_tiny_sam_found_under_weights_loads_and_predicts_shapes(tiny_checkpoint, photo_image):
    segmenter = ClickSegmenter.load(weights_dir=tiny_checkpoint.parent.parent, device="cpu")
    assert segmenter.backend == "sam-custom"
    assert Path(segmenter.checkpoint) == tiny_checkpoint
    assert not segmenter.is_approximate
    loaded = segmenter._engine.predictor.model.state_dict()
    for key, tensor in tiny_sam().state_dict().items():
        assert torch.equal(loaded[key], tensor), key
    assert segmenter.set_image(photo_image) is True
    one = segmenter.predict([(100, 120, 1)])
    several = segmenter.predict([(100, 120, 1), (200, 60, 1), (20, 20, 0)])
    for mask in (one, several):
        assert mask.shape == photo_image.shape[:2] and mask.dtype == bool


def test_loaded_sam_matches_the_stock_predictor(sam_segmenter, tiny_checkpoint, photo_image):
    """Our decoder path (upsample only the chosen mask) gives SamPredictor's own answer."""
    from segment_anything import SamPredictor

    stock = SamPredictor(tiny_sam())
    stock.set_image(photo_image)
    sam_segmenter.island_fraction = sam_segmenter.hole_fraction = 0  # compare the raw masks
    sam_segmenter.set_image(photo_image)
    for points, multimask in ([[(100, 120, 1)], True], [[(100, 120, 1), (30, 200, 0)], False]):
        masks, scores, _ = stock.predict(
            np.array([p[:2] for p in points], dtype=np.float32),
            np.array([p[2] for p in points]),
            multimask_output=multimask,
        )
        expected = masks[int(np.argmax(scores))]
        got = sam_segmenter.predict(points)
        assert np.mean(got != expected) < 1e-3  # equal up to float ties at the 0 threshold


def test_safetensors_checkpoint_loads(tmp_path, photo_image):
    from safetensors.torch import save_file

    path = tmp_path / "whatever.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_sam(1).state_dict().items()}, str(path))
    segmenter = ClickSegmenter.load(checkpoint=path, device="cpu")
    assert segmenter.backend == "sam-custom"
    assert segmenter.predict([(5, 5, 1)], image=photo_image).shape == photo_image.shape[:2]


def test_prefer_classical_ignores_sam_and_prefer_sam_requires_it(tiny_checkpoint, tmp_path):
    assert ClickSegmenter.load(weights_dir=tiny_checkpoint.parent.parent, prefer="classical").backend == "classical"
    assert ClickSegmenter.load(weights_dir=tmp_path).backend == "classical"
    with pytest.raises(FileNotFoundError, match="sam"):
        ClickSegmenter.load(weights_dir=tmp_path, prefer="sam")
    with pytest.raises(ValueError, match="prefer"):
        ClickSegmenter.load(prefer="gpu")


def test_find_checkpoint_picks_by_size(tmp_path):
    (tmp_path / "sam").mkdir()
    (tmp_path / "sam" / "small.pth").write_bytes(b"x" * 10)
    (tmp_path / "sam" / "big.safetensors").write_bytes(b"x" * 100)
    (tmp_path / "sam" / "notes.txt").write_bytes(b"x" * 1000)
    assert find_sam_checkpoint(tmp_path).name == "small.pth"
    assert find_sam_checkpoint(tmp_path, largest=True).name == "big.safetensors"
    assert find_sam_checkpoint(tmp_path / "nothing") is None


class Payload:
    def __reduce__(self):  # would run on unpickling without weights_only
        return (print, ("pickled code ran",))


@pytest.mark.parametrize(
    "write, error, words",
    [
        (lambda p: p.write_bytes(b""), CorruptWeightsError, "empty"),
        (lambda p: p.write_bytes(b"not a zip at all" * 10), CorruptWeightsError, "damaged"),
        (lambda p: torch.save({"a": torch.zeros(2), "payload": Payload()}, p), UnsafeCheckpointError, "refusing"),
        (
            lambda p: torch.save({"vision_encoder.patch_embed.projection.weight": torch.zeros(2)}, p),
            SamCheckpointError,
            "not a segment-anything SAM",
        ),
    ],
    ids=["empty", "garbage", "pickled-code", "transformers-layout"],
)
def test_bad_checkpoints_fail_naming_the_file(tmp_path, capsys, write, error, words):
    path = tmp_path / "broken_sam.pth"
    write(path)
    with pytest.raises(error, match=words) as raised:
        ClickSegmenter.load(checkpoint=path, device="cpu")
    assert str(path) in str(raised.value)
    assert "pickled code ran" not in capsys.readouterr().out


def test_truncated_checkpoint_fails_naming_the_file(tmp_path, tiny_checkpoint):
    path = tmp_path / "truncated.pth"
    path.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    with pytest.raises(ValueError) as raised:
        ClickSegmenter.load(checkpoint=path, device="cpu")
    assert str(path) in str(raised.value)


def test_checkpoint_with_wrong_shapes_fails_naming_the_file(tmp_path):
    state_dict = tiny_sam().state_dict()
    state_dict["mask_decoder.iou_token.weight"] = torch.zeros(1, 7)
    path = tmp_path / "odd.pt"
    torch.save(state_dict, path)
    with pytest.raises(SamCheckpointError, match="does not fit") as raised:
        ClickSegmenter.load(checkpoint=path, device="cpu")
    assert str(path) in str(raised.value)


# ---- embedding cache ------------------------------------------------------------------------------


def test_embedding_computed_once_per_image_content(sam_segmenter, photo_image):
    calls = EncoderCalls(encoder_of(sam_segmenter))
    assert sam_segmenter.set_image(photo_image) is True
    first = sam_segmenter.predict([(150, 100, 1)])
    assert sam_segmenter.set_image(photo_image.copy()) is False  # same pixels, new array
    assert sam_segmenter.predict([(150, 100, 1)], image=photo_image.copy()).tolist() == first.tolist()
    for _ in range(5):
        sam_segmenter.predict([(150, 100, 1), (20, 30, 0)])
    assert calls.count == 1
    info = sam_segmenter.cache_info()
    assert info["computed"] == 1 and info["hits"] >= 2


def test_switching_back_to_an_earlier_image_is_free_and_exact(sam_segmenter):
    images = [scene.image for scene in fallback_scenes()[:3]]
    calls = EncoderCalls(encoder_of(sam_segmenter))
    first_masks, first_features = [], []
    for image in images:
        sam_segmenter.set_image(image)
        first_features.append(sam_segmenter._engine.predictor.features)
        first_masks.append(sam_segmenter.predict([(160, 120, 1)]))
    for image, features, expected in zip(images, first_features, first_masks):
        assert sam_segmenter.set_image(image) is False
        assert sam_segmenter._engine.predictor.features is features  # restored, not recomputed
        assert sam_segmenter.image_size == image.shape[:2]
        assert np.array_equal(sam_segmenter.predict([(160, 120, 1)]), expected)
    assert calls.count == 3


def test_cache_evicts_the_least_recently_used_image(tiny_checkpoint):
    segmenter = ClickSegmenter.load(checkpoint=tiny_checkpoint, device="cpu", cache_size=2)
    calls = EncoderCalls(encoder_of(segmenter))
    a, b, c = (np.full((40, 50, 3), value, np.uint8) for value in (10, 120, 240))
    for image in (a, b, a, c):  # c evicts b (a was used more recently)
        segmenter.set_image(image)
    assert calls.count == 3
    assert segmenter.set_image(a) is False
    assert segmenter.set_image(b) is True
    assert calls.count == 4
    assert segmenter.cache_info()["size"] == 2


# ---- the classical fallback on real photographs ---------------------------------------------------


@pytest.fixture(scope="module")
def classical() -> ClickSegmenter:
    return ClickSegmenter.load(prefer="classical")


@pytest.mark.parametrize("scene", fallback_scenes(), ids=lambda scene: scene.name)
def test_classical_one_click_finds_the_pasted_object(classical, scene):
    mask = classical.predict([(*scene.click(), 1)], image=scene.image)
    assert classical.backend == "classical" and classical.is_approximate
    assert mask.shape == scene.image.shape[:2] and mask.dtype == bool
    assert iou(mask, scene.masks[0]) >= 0.8


def test_classical_is_resolution_independent(classical):
    """A photo and its 2x upscale give the same object (GrabCut runs at a fixed working size)."""
    import cv2

    scene = fallback_scenes()[1]
    x, y = scene.click()
    big = cv2.resize(scene.image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    truth = cv2.resize(scene.masks[0].astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST) > 0
    mask = classical.predict([(2 * x, 2 * y, 1)], image=big)
    assert mask.shape == big.shape[:2]
    assert iou(mask, truth) >= 0.8


def test_two_include_clicks_take_both_objects(classical):
    scene = two_object_scene()
    both = scene.masks[0] | scene.masks[1]
    mask = classical.predict([(*scene.click(0), 1), (*scene.click(1), 1)], image=scene.image)
    assert iou(mask, both) >= 0.8


def test_exclude_click_removes_the_touching_twin(classical):
    """Two touching objects cut from the same photo: one include click takes both (colour cannot
    separate them); an exclude click on the second object must remove it."""
    scene = two_object_scene(same_texture=True)
    left, right = scene.masks
    include, exclude = scene.click(0), scene.click(1)
    before = classical.predict([(*include, 1)], image=scene.image)
    after = classical.predict([(*include, 1), (*exclude, 0)], image=scene.image)
    assert before[include[1], include[0]] and after[include[1], include[0]]
    assert (before & right).sum() > 0.5 * right.sum()  # the premise: without the exclude click it leaks
    assert after.sum() < before.sum()
    assert not after[exclude[1], exclude[0]]
    assert (after & right).sum() < 0.2 * right.sum()
    assert iou(after, left) >= 0.75


def test_exclude_click_far_away_changes_nothing_much(classical):
    scene = fallback_scenes()[2]
    include = scene.click()
    alone = classical.predict([(*include, 1)], image=scene.image)
    with_far_exclude = classical.predict([(*include, 1), (10, 230, 0)], image=scene.image)
    assert iou(alone, with_far_exclude) >= 0.95


def test_classical_is_deterministic(classical):
    scene = fallback_scenes()[0]
    first = classical.predict([(*scene.click(), 1)], image=scene.image)
    classical.set_image(fallback_scenes()[1].image)
    again = classical.predict([(*scene.click(), 1)], image=scene.image)
    assert np.array_equal(first, again)


def test_classical_preparation_is_done_once_per_image_and_cached():
    """The fallback's per-image work (superpixels, colour bins) is its "embedding": once per content,
    kept for a few images, and switching back gives the same masks."""
    segmenter = ClickSegmenter.load(prefer="classical", cache_size=2)
    a, b, c = (scene.image for scene in fallback_scenes()[:3])
    click = [(160, 120, 1)]
    assert segmenter.set_image(a) is True
    first = segmenter.predict(click)
    assert segmenter.set_image(a.copy()) is False  # same pixels, new array
    assert segmenter.set_image(b) is True
    assert segmenter.set_image(a) is False  # from the cache
    assert np.array_equal(segmenter.predict(click), first)
    assert segmenter.set_image(c) is True  # evicts b, the least recently used
    assert segmenter.set_image(b) is True
    info = segmenter.cache_info()
    assert info == {"computed": 4, "hits": 2, "size": 2, "max_size": 2}


def test_superpixel_cut_finds_the_labelling_of_least_energy():
    """The max-flow answer against every labelling of a small superpixel graph."""
    from itertools import product

    import cv2

    from fyc.segment.superpixel_graph import FLOW_SCALE, SuperpixelGraph

    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    image = cv2.resize(blocks, (24, 24), interpolation=cv2.INTER_NEAREST)
    graph = SuperpixelGraph(image, superpixel_area=48)
    assert 6 <= graph.count <= 14
    low, high = graph.border_pairs.T
    labellings = np.array(list(product([False, True], repeat=graph.count)))
    for _ in range(5):
        as_background, as_foreground = rng.uniform(0, 300, (2, graph.count))
        energies = np.where(labellings, as_foreground, as_background).sum(1) + (
            (labellings[:, low] != labellings[:, high]) * graph.border_weights
        ).sum(1)
        cut = graph.min_cut(as_background, as_foreground)
        energy = np.where(cut, as_foreground, as_background).sum() + graph.border_weights[cut[low] != cut[high]].sum()
        assert energy <= energies.min() + graph.count / FLOW_SCALE  # equal up to the integer rounding


def test_edge_band_cut_moves_an_offset_edge_onto_the_object():
    """A square whose mask is 2 px too small on one side: the band cut puts the edge back."""
    from fyc.segment.superpixel_graph import cut_band, smoothness_weights

    rng = np.random.default_rng(0)
    image = rng.integers(90, 110, (40, 40, 3)).astype(np.uint8)  # textured grey background
    image[10:30, 10:30] = rng.integers(180, 200, (20, 20, 3))  # a bright square
    truth = np.zeros((40, 40), bool)
    truth[10:30, 10:30] = True
    offset = np.zeros_like(truth)
    offset[10:30, 12:30] = True
    bright = image.mean(-1) > 150
    as_background = np.where(bright, 8.0, 1.0)
    as_foreground = np.where(bright, 1.0, 8.0)
    refined = cut_band(offset, 3, as_background, as_foreground, smoothness_weights(image))
    assert np.array_equal(refined, truth)
    # Pixels farther than the band from the edge keep their label, whatever their costs.
    assert np.array_equal(
        cut_band(offset, 1, as_background, as_foreground, smoothness_weights(image))[:, :10], offset[:, :10]
    )


def test_colour_model_from_bins_matches_the_pixel_statistics():
    """Learnt from bin statistics, each component has the mean and covariance of its pixels."""
    from fyc.segment.colour_model import GaussianMixture, colour_bin_stats

    rng = np.random.default_rng(1)
    centres = np.array([[30, 30, 30], [220, 40, 40], [40, 220, 40], [40, 40, 220], [220, 220, 220]])
    cluster = rng.integers(0, 5, 4000)
    pixels = np.clip(centres[cluster] + rng.normal(0, 6, (4000, 3)), 0, 255).astype(np.uint8)
    bin_of_pixel, stats = colour_bin_stats(pixels.reshape(40, 100, 3), step=8)
    assert stats[:, 0].sum() == 4000
    assert np.allclose(np.bincount(bin_of_pixel.ravel(), pixels[:, 0].astype(float)), stats[:, 1])
    model = GaussianMixture.from_kmeans(stats, stats[:, 0].copy())
    for component in range(5):
        nearest = int(np.argmin(np.abs(model.means[component] - centres).sum(1)))
        members = pixels[cluster == nearest].astype(float)
        assert np.allclose(model.means[component], members.mean(0), atol=1e-6)
        assert np.allclose(model.covariances[component], np.cov(members.T, bias=True), atol=1e-6)
        assert model.weights[component] == pytest.approx(len(members) / 4000)
    assert GaussianMixture.from_kmeans(stats, np.zeros(len(stats))) is None


# ---- post-processing ------------------------------------------------------------------------------


def test_clean_mask_drops_islands_and_fills_holes_but_respects_clicks():
    mask = np.zeros((100, 100), bool)
    mask[20:80, 20:80] = True
    mask[40:42, 40:42] = False  # 4-px hole
    mask[60:70, 60:70] = False  # 100-px hole with an exclude click in it
    mask[2:4, 2:4] = True  # 4-px island
    mask[90:92, 90:92] = True  # 4-px island with an include click on it
    points = [(50, 30, 1), (91, 91, 1), (65, 65, 0)]
    cleaned = clean_mask(mask, points, island_fraction=0.001, hole_fraction=0.02)
    assert cleaned[40:42, 40:42].all()
    assert not cleaned[60:70, 60:70].any()
    assert not cleaned[2:4, 2:4].any()
    assert cleaned[90:92, 90:92].all()
    assert np.array_equal(clean_mask(mask, points, 0, 0), mask)
    # With the fraction below the hole's size the hole stays.
    assert not clean_mask(mask, [], 0, 0.0001)[40:42, 40:42].any()


def test_segmenter_applies_its_post_processing_fractions(classical):
    scene = fallback_scenes()[3]
    click = [(*scene.click(), 1)]
    classical.island_fraction, classical.hole_fraction = 0.0, 0.0
    raw = classical.predict(click, image=scene.image)
    classical.island_fraction, classical.hole_fraction = 0.001, 0.001
    cleaned = classical.predict(click, image=scene.image)
    assert np.array_equal(cleaned, clean_mask(raw, click, 0.001, 0.001))


# ---- input handling -------------------------------------------------------------------------------


def test_image_conversion_rules():
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    assert np.array_equal(to_rgb_uint8(rgb), rgb)
    gray = rgb[..., 0]
    assert np.array_equal(to_rgb_uint8(gray), np.stack([gray] * 3, -1))
    assert np.array_equal(to_rgb_uint8(gray[..., None]), np.stack([gray] * 3, -1))
    rgba = np.concatenate([rgb, np.zeros((6, 7, 1), np.uint8)], -1)
    assert np.array_equal(to_rgb_uint8(rgba), rgb)  # alpha dropped, as PIL's convert("RGB")
    assert np.array_equal(to_rgb_uint8(Image.fromarray(rgba, "RGBA")), np.asarray(Image.fromarray(rgba).convert("RGB")))
    sixteen = rgb.astype(np.uint16) * 257
    assert np.array_equal(to_rgb_uint8(sixteen), rgb)
    assert to_rgb_uint8(np.array([[0, 65535]], np.uint16)).tolist() == [[[0] * 3, [255] * 3]]
    assert np.array_equal(to_rgb_uint8(rgb / 255.0), rgb)
    assert np.array_equal(to_rgb_uint8((rgb / 255.0).astype(np.float32)), rgb)
    assert to_rgb_uint8(np.array([[True, False]])).tolist() == [[[255] * 3, [0] * 3]]
    assert np.array_equal(to_rgb_uint8(rgb.astype(np.int64)), rgb)
    palette = Image.fromarray(rgb).convert("P")
    assert to_rgb_uint8(palette).shape == (6, 7, 3)
    sixteen_png = Image.fromarray(sixteen[..., 0])
    assert sixteen_png.mode.startswith("I;16")
    assert np.array_equal(to_rgb_uint8(sixteen_png)[..., 0], rgb[..., 0])


@pytest.mark.parametrize(
    "image, words",
    [
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((2, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.full((4, 4, 3), 2.0), "0..1"),
        (np.full((4, 4, 3), np.nan), "NaN"),
        (np.full((4, 4, 3), -1, np.int16), "0..255"),
        (np.zeros((4, 4, 3), np.complex64), "dtype"),
        ("not an image", "image"),
    ],
    ids=["two-channels", "batch", "empty", "float-0..255", "nan", "negative-int", "complex", "string"],
)
def test_bad_images_are_refused_with_a_clear_message(classical, image, words):
    with pytest.raises(ValueError, match=words):
        classical.set_image(image)


@pytest.mark.parametrize(
    "points, words",
    [
        ([], "No points"),
        (None, "No points"),
        ([(10, 10, 0)], "add at least one include point"),
        ([(320, 10, 1)], r"outside the 320×240 image: x must be in 0\.\.319"),
        ([(10, -1, 1)], "outside the 320×240 image"),
        ([(10, 10, 2)], "label"),
        ([(10, 10)], r"must be \[x, y, label\]"),
        ([(float("nan"), 10, 1)], "non-finite"),
        ([("a", 10, 1)], "x and y must be numbers"),
    ],
    ids=["empty", "none", "only-exclude", "right-edge", "above", "bad-label", "two-values", "nan", "text"],
)
def test_bad_points_are_refused_with_a_clear_message(classical, photo_image, points, words):
    classical.set_image(photo_image)
    with pytest.raises(ValueError, match=words):
        classical.predict(points)


def test_points_at_the_last_pixel_and_fractional_points_are_valid(photo_image):
    assert check_points([(319.9, 239.5, 1), (0, 0, 0)], (240, 320)) == [(319.9, 239.5, 1), (0.0, 0.0, 0)]


def test_predict_before_set_image_says_what_to_do():
    with pytest.raises(RuntimeError, match="set_image"):
        ClickSegmenter.load(prefer="classical").predict([(1, 1, 1)])


@pytest.mark.parametrize(
    "convert",
    [
        lambda rgb: rgb[..., 0],
        lambda rgb: np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], -1),
        lambda rgb: rgb.astype(np.uint16) * 257,
        lambda rgb: rgb.astype(np.float32) / 255,
    ],
    ids=["grayscale", "rgba", "16-bit", "float"],
)
def test_other_image_formats_segment_like_their_rgb(sam_segmenter, classical, convert):
    scene = fallback_scenes()[1]
    rgb = scene.image[::2, ::2].copy()  # half size: this checks conversion, not segmentation quality
    reference = np.stack([rgb[..., 0]] * 3, -1) if convert(rgb).ndim == 2 else rgb
    x, y = scene.click()
    click = [(x // 2, y // 2, 1)]
    for segmenter in (sam_segmenter, classical):
        assert np.array_equal(segmenter.predict(click, image=convert(rgb)), segmenter.predict(click, image=reference))


def test_decoder_threads_apply_to_clicks_and_torch_threads_are_restored(sam_segmenter, photo_image):
    from fyc.segment.sam_backend import torch_threads

    seen = []
    hook = sam_segmenter._engine.predictor.model.mask_decoder.register_forward_pre_hook(
        lambda module, args: seen.append(torch.get_num_threads())
    )
    before = torch.get_num_threads()
    try:
        sam_segmenter.predict([(10, 10, 1)], image=photo_image)  # default: torch's setting
        sam_segmenter._engine.decoder_threads = 1
        sam_segmenter.predict([(10, 10, 1)])
    finally:
        sam_segmenter._engine.decoder_threads = None
        hook.remove()
    assert seen == [before, 1]
    assert torch.get_num_threads() == before
    with pytest.raises(KeyError):
        with torch_threads(before + 1):
            raise KeyError("inside")
    assert torch.get_num_threads() == before
