"""`python -m fyc eval` end to end on the tiny pipeline saved to disk, and the benchmark-set formats."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from helpers.eval_networks import save_random_alexnet_features, save_tiny_clip, save_tiny_i3d
from tiny import make_tiny_pipeline

from fyc.__main__ import main
from fyc.eval.benchmark import load_benchmark, load_folder, quick_levels, synthetic_items
from fyc.eval.evaluate import METRIC_KEYS, PAPER_TABLE1

SIZE = 64


def texture(height: int, width: int, seed: int) -> np.ndarray:
    coarse = np.random.default_rng(seed).random((height // 4, width // 4, 3)).astype(np.float32)
    return (cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def write_set(root, with_references: bool = True, levels=(2, 8)):
    """A two-item benchmark folder: a mask file and a box region, references as .npy and as a frame folder."""
    root.mkdir(parents=True, exist_ok=True)
    for name, seed in (("a.png", 1), ("b.png", 2)):
        cv2.imwrite(str(root / name), cv2.cvtColor(texture(SIZE, SIZE, seed), cv2.COLOR_RGB2BGR))
    mask = np.zeros((32, 32), np.uint8)  # half resolution: resized to the image
    mask[8:24, 8:24] = 255
    cv2.imwrite(str(root / "a_mask.png"), mask)
    items = [
        {"id": "a", "image": "a.png", "regions": [{"mask": "a_mask.png", "prompt": "sway"}], "caption": "a sway"},
        {"id": "b", "image": "b.png", "regions": [{"box": [10, 10, 40, 50], "prompt": "move left"}], "seed": 3},
    ]
    if with_references:
        np.save(root / "a_ref.npy", np.stack([np.roll(texture(SIZE, SIZE, 1), i, axis=1) for i in range(8)]))
        (root / "b_ref").mkdir(exist_ok=True)
        for i in range(8):
            cv2.imwrite(str(root / "b_ref" / f"{i:03d}.png"), np.roll(texture(SIZE, SIZE, 2), -i, axis=0))
        items[0]["reference"] = "a_ref.npy"
        items[1].update(reference="b_ref", reference_ofm=8.0)
    (root / "benchmark.json").write_text(json.dumps({"name": "tiny", "ofm": list(levels), "items": items}))
    return root


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny"
    make_tiny_pipeline(seed=0).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    root = tmp_path_factory.mktemp("networks")
    return {
        "clip": save_tiny_clip(root),
        "i3d": save_tiny_i3d(root / "i3d.pt"),
        "pic": save_random_alexnet_features(root / "alexnet.pth"),
    }


def run_eval(weights, bench, out, report_dir, *options) -> int:
    """`python -m fyc eval` on the CPU with 2 steps and 4 frames, plus `options`."""
    args = ["eval", "--weights", str(weights), "--set", str(bench), "--steps", "2", "--num-frames", "4", *options]
    return main([*args, "--out", str(out), "--report-dir", str(report_dir), "--device", "cpu"])


# -- benchmark sets --------------------------------------------------------------------------------------------


def test_folder_format_reads_masks_boxes_and_references(tmp_path):
    items = load_folder(write_set(tmp_path / "set"))
    a, b = items
    assert (a.id, b.id) == ("a", "b")
    assert a.image.shape == (SIZE, SIZE, 3) and a.image.dtype == np.uint8
    assert a.regions[0].mask.shape == (SIZE, SIZE) and a.regions[0].mask.sum() == 32 * 32
    assert b.regions[0].mask[10:50, 10:40].all() and b.regions[0].mask.sum() == 30 * 40
    assert a.caption == "a sway" and b.caption == "move left"  # default caption: the prompts
    assert a.ofm_levels == [2.0, 8.0] and b.seed == 3
    assert a.reference.shape == (8, SIZE, SIZE, 3) and b.reference.shape == (8, SIZE, SIZE, 3)
    assert a.reference_ofm is None and b.reference_ofm == 8.0
    assert load_benchmark(tmp_path / "set" / "benchmark.json")[1].id == "b"


@pytest.mark.parametrize(
    "region, message",
    [
        ({"box": [0, 0, 5, 5]}, "non-empty 'prompt'"),
        ({"box": [0, 0, 5, 5], "ellipse": [3, 3, 2, 2], "prompt": "sway"}, "exactly one of"),
        ({"box": [500, 500, 600, 600], "prompt": "sway"}, "region is empty"),
    ],
)
def test_folder_format_errors_name_the_item(tmp_path, region, message):
    root = write_set(tmp_path / "set", with_references=False)
    spec = json.loads((root / "benchmark.json").read_text())
    spec["items"][1]["regions"] = [region]
    (root / "benchmark.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=message) as err:
        load_folder(root)
    assert "item 1" in str(err.value)
    with pytest.raises(FileNotFoundError, match="benchmark.json"):
        load_benchmark(tmp_path / "nowhere")


def test_shipped_photo_set_and_held_out_synthetic_clips():
    photos = load_benchmark("photos")
    assert len(photos) >= 4 and len({p.id for p in photos}) == len(photos)
    for item in photos:
        assert item.ofm_levels == sorted(item.ofm_levels) and len(item.ofm_levels) >= 3
        for region in item.regions:
            assert region.mask.shape == item.image.shape[:2] and 0 < region.mask.mean() < 0.5
    clips = synthetic_items(2, size=SIZE, num_frames=4)
    assert [c.source for c in clips] == ["synthetic", "synthetic"]
    assert clips[0].reference.shape == (4, SIZE, SIZE, 3)
    np.testing.assert_array_equal(clips[0].image, clips[0].reference[0])  # frame 0 is the input
    assert clips[0].reference_ofm is not None and clips[0].regions[0].prompt
    assert quick_levels([1, 2, 4, 8, 16]) == [1, 4, 16]


# -- the command end to end -----------------------------------------------------------------------------------


def test_eval_end_to_end_with_every_network(tmp_path, tiny_weights, networks, capsys):
    bench = write_set(tmp_path / "set")
    out = tmp_path / "out" / "tiny.json"
    options = ["--clip", str(networks["clip"]), "--i3d", str(networks["i3d"]), "--pic-net", str(networks["pic"])]
    code = run_eval(tiny_weights, bench, out, tmp_path / "report", *options)
    assert code == 0
    results = json.loads(out.read_text())
    for key in METRIC_KEYS:
        assert isinstance(results[key], float) and np.isfinite(results[key]), key
    assert results["not_measured"] == {}
    assert results["paper_table1"] == PAPER_TABLE1
    assert 0.0 <= results["pic"] <= 1.0 and -1.0 <= results["temporal_consistency"] <= 1.0
    assert results["fvd_clips"] == 2 and results["fvd"] >= 0.0
    # item a's reference OFM was measured and added to its sweep; b's was given and is already a level
    levels_a = [r["requested_ofm"] for r in results["items"][0]["levels"]]
    levels_b = [r["requested_ofm"] for r in results["items"][1]["levels"]]
    assert len(levels_a) == 3 and {2.0, 8.0} <= set(levels_a)
    assert levels_b == [2.0, 8.0]
    assert results["items"][1]["reference"]["ofm"] == 8.0
    assert results["timing"]["videos"] == 5
    report = (tmp_path / "report" / "tiny.md").read_text()
    assert "| I1-MSE `first_frame_mse` ↓ |" in report and "271.74" in report
    assert "not measured" not in report
    for plot in ("tiny_ofm.png", "tiny_regions.png", "tiny_frames.png"):
        assert (tmp_path / "report" / plot).stat().st_size > 1000
    assert "first_frame_mse" in capsys.readouterr().out


def test_eval_without_networks_writes_null_and_not_measured(tmp_path, tiny_weights, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bench = write_set(tmp_path / "set", with_references=False, levels=(1, 6))
    spec = json.loads((bench / "benchmark.json").read_text())
    spec["items"] = spec["items"][:1]
    (bench / "benchmark.json").write_text(json.dumps(spec))
    out = tmp_path / "r.json"
    code = run_eval(tiny_weights, bench, out, tmp_path, "--clip", "none")
    assert code == 0
    results = json.loads(out.read_text())
    for key in ("temporal_consistency", "text_alignment", "fvd", "pic"):
        assert results[key] is None and key in results["not_measured"]
    assert isinstance(results["first_frame_mse"], float) and isinstance(results["region_leakage"], float)
    report = (tmp_path / "r.md").read_text()
    assert report.count("not measured") >= 4 and "--clip none" in report


def test_eval_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--weights", "--quick", "--clip", "--i3d", "--set", "--out", "--report-dir"):
        assert option in help_text
