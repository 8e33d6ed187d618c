"""The flow-based motion classifier (fyc/eval/prompt_following.py) and the demo model's check battery
(experiments/demo_checks.py, experiments/demo_model_checks.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from demo_checks import QUICK, BatteryOptions, run_battery, write_outputs

from fyc.data.motion_vocab import MOTION_CLASS_NAMES
from fyc.eval import metrics as M
from fyc.eval.prompt_following import (
    LABELS,
    STILL,
    classify_motion,
    confusion_matrix,
    horizontal_direction,
    motion_features,
    per_class_accuracy,
    validate_on_generator,
)

ROOT = Path(__file__).resolve().parents[1]


def textured_square(dx: float, dy: float, frames: int = 10, size: int = 64, side: int = 16, angle: float = 0.0):
    """A random-texture square on a flat grey frame, moving (dx, dy) px per frame and turning `angle`
    degrees per frame (clockwise on screen for angle > 0); returns (video, frame-0 mask)."""
    rng = np.random.default_rng(0)
    texture = np.full((size, size, 3), 90, np.uint8)
    alpha = np.zeros((size, size), np.float32)
    lo = (size - side) // 2
    texture[lo : lo + side, lo : lo + side] = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
    alpha[lo : lo + side, lo : lo + side] = 1
    centre = (size / 2 - 0.5, size / 2 - 0.5)
    video = []
    for t in range(frames):
        # OpenCV's positive angle turns counterclockwise on screen (y points down), hence the minus
        matrix = cv2.getRotationMatrix2D(centre, -angle * t, 1.0)
        matrix[:, 2] += (dx * t, dy * t)
        moved = cv2.warpAffine(texture, matrix, (size, size), flags=cv2.INTER_LINEAR)
        a = cv2.warpAffine(alpha, matrix, (size, size), flags=cv2.INTER_LINEAR)[..., None]
        video.append((a * moved + (1 - a) * 90).round().astype(np.uint8))
    return np.stack(video), alpha > 0


@pytest.mark.parametrize(
    "dx, dy, expected",
    [(-2, 0, "move_left"), (2, 0, "move_right"), (0, -2, "move_up"), (0, 2, "move_down"), (0, 0, STILL)],
)
def test_square_moving_in_a_straight_line(dx, dy, expected):
    video, mask = textured_square(dx, dy)
    assert classify_motion(video, mask) == expected
    # 2 px/frame on a 64-px-wide video is 8 px/frame at the 256-px reference
    assert horizontal_direction(video, mask) == pytest.approx(dx * 256 / 64, abs=0.4)


@pytest.mark.parametrize("angle, expected", [(6, "rotate_clockwise"), (-6, "rotate_counterclockwise")])
def test_turning_square_is_a_rotation_with_its_screen_direction(angle, expected):
    video, mask = textured_square(0, 0, angle=angle)
    assert classify_motion(video, mask) == expected


def test_noise_alone_is_still_and_bad_masks_are_refused():
    video, mask = textured_square(0, 0)
    noisy = np.clip(video + np.random.default_rng(1).normal(0, 4, video.shape), 0, 255).astype(np.uint8)
    assert classify_motion(noisy, mask) == STILL
    assert motion_features(noisy, mask).translation < 0.3
    with pytest.raises(ValueError, match="resize the mask"):
        classify_motion(video, mask[:32])
    with pytest.raises(ValueError, match="empty"):
        classify_motion(video, np.zeros_like(mask))


def test_classifier_on_held_out_generator_clips():
    # 2 clips per class from the eval split (held-out photos), 128 px, 16 frames; the same measure on 40 per
    # class (experiments/demo_model_checks.py --classifier 40) reads 99.8%
    result = validate_on_generator(clips_per_class=2, split="eval", size=128, num_frames=16, seed=0)
    assert result["clips"] == 2 * len(MOTION_CLASS_NAMES)
    assert result["accuracy"] >= 0.9, result["confusion"]
    assert all(result["per_class"][name] >= 0.5 for name in MOTION_CLASS_NAMES), result["per_class"]
    matrix = np.array(result["confusion"])
    assert matrix.shape == (len(LABELS),) * 2 and matrix.sum(axis=1).tolist() == [2] * len(MOTION_CLASS_NAMES) + [0]
    assert np.trace(matrix) == round(result["accuracy"] * result["clips"])


def test_confusion_matrix_counts_rows_true_columns_predicted():
    classes = ("move_left", "move_right", STILL)
    matrix = confusion_matrix(
        ["move_left", "move_left", "move_right", STILL], ["move_left", "move_right", "move_right", "move_left"], classes
    )
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 0]])
    assert per_class_accuracy(matrix, classes) == {"move_left": 0.5, "move_right": 1.0, STILL: 0.0}
    assert confusion_matrix([], [], LABELS).shape == (len(MOTION_CLASS_NAMES) + 1,) * 2
    with pytest.raises(ValueError, match="not in classes"):
        confusion_matrix(["move_left"], ["wiggle"], classes)
    with pytest.raises(ValueError, match="pair them up"):
        confusion_matrix(["move_left"], [], classes)


# -- the battery ------------------------------------------------------------------------------------------


def oracle(item, ofm):
    """A "model" with known answers: frame 0 is the input exactly; a generator clip asked for its own class
    returns that clip; anything else slides a copy of the region sideways at `ofm` px/frame (256-px
    reference), left when the prompt says left, right otherwise."""
    if item.reference is not None and item.id.split("/")[0] in MOTION_CLASS_NAMES:
        return item.reference
    image = M.resize_image(item.image, (64, 64 * item.image.shape[1] // item.image.shape[0]))
    mask = M.resize_mask(item.regions[0].mask, image.shape[:2]).astype(np.float32)
    step = ofm * image.shape[1] / 256 * (-1 if "left" in item.regions[0].prompt else 1)
    frames = []
    for t in range(8):
        shift = np.float64([[1, 0, step * t], [0, 1, 0]])
        size = image.shape[1::-1]
        moved = cv2.warpAffine(image, shift, size, borderMode=cv2.BORDER_REFLECT101)
        alpha = cv2.warpAffine(mask, shift, size)[..., None]
        frames.append((alpha * moved + (1 - alpha) * image).round().astype(np.uint8))
    return np.stack(frames)


def finite_or_null(value) -> bool:
    if isinstance(value, dict):
        return all(finite_or_null(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_or_null(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def test_battery_on_known_videos(tmp_path):
    options = BatteryOptions(
        num_frames=8,
        ofm_levels=(1, 2, 4, 8, 12),
        sweep_photos=1,
        sweep_clips=1,
        lr_photos=1,
        lr_clips=1,
        heldout_per_class=1,
        classes=("move_right", "zoom_out"),
    )
    assert options.generations() == 10 + 4 + 4
    results = run_battery(oracle, options, size=64, log=lambda line: None)

    f0 = results["first_frame_psnr"]
    assert f0["photos"] > 40 and f0["synthetic"] > 40  # frame 0 is the input: PSNR_CAP_DB
    assert f0["videos"] == {"photos": 5 + 2, "synthetic": 5 + 2 + 4}
    rm = results["region_motion"]
    assert rm["inside"] > 1 and rm["median_ratio"] > 4 and rm["ratio_of_means"] > 4
    # the oracle's prompt-following videos are the reference clips themselves
    assert rm["prompt_following_ratio_of_means"] == pytest.approx(rm["reference_ratio_of_means"])
    assert rm["reference_ratio_of_means"] > 1
    oc = results["ofm_control"]
    assert oc["spearman_mean"] == pytest.approx(1.0) and oc["spearman_pooled"] > 0.8
    assert np.all(np.diff(oc["measured_mean_per_level"]) > 0)
    lr = results["left_right"]
    assert lr["opposite_fraction"] == 1.0 and lr["correct_fraction"] == 1.0
    assert lr["left_dx_mean"] < -2 < 2 < lr["right_dx_mean"]
    pf = results["prompt_following"]
    assert sum(map(sum, pf["confusion"])) == 4 and set(pf["per_class"]) == {"move_right", "zoom_out"}
    # the oracle returns the generator's own clips: accuracy is the classifier's ceiling on them
    assert pf["accuracy"] == pf["classifier_ceiling"] == 1.0
    assert pf["accuracy_canonical"] == pf["accuracy_heldout"] == 1.0
    assert finite_or_null(results)

    out, md, images = write_outputs([("oracle", results)], tmp_path / "checks.json", "a command")
    text = md.read_text()
    assert "## Measured results" in text and "| oracle |" in text and "100.0 / 100.0" in text
    assert "| move_right | · | **2** |" in text and images[0].stat().st_size > 1000
    assert json.loads(out.read_text())["runs"][0]["results"]["left_right"]["correct_fraction"] == 1.0


@pytest.fixture
def one_torch_thread():
    # the tiny UNet's ops are too small to gain from a second thread, and on the shared 2-core machine,
    # niced behind training, two OpenMP threads spin-wait for each other: 200 s instead of 10 s a video
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_bench_script_compares_two_models_on_the_tiny_pipeline(tmp_path, one_torch_thread):
    from tiny import make_tiny_pipeline

    from fyc.weights import save_pipeline

    folder = save_pipeline(make_tiny_pipeline(), tmp_path / "tiny", name="tiny model")
    spec = importlib.util.spec_from_file_location("demo_model_checks", ROOT / "experiments" / "demo_model_checks.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "checks.json"
    argv = [
        "--weights",
        str(folder),
        "--weights",
        str(folder),
        "--quick",
        "--steps",
        "2",
        "--num-frames",
        "8",
        "--classes",
        "move_left",
        "--ofm-levels",
        "8",
        "2",
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert script.main(argv) == 0

    payload = json.loads(out.read_text())
    assert [run["name"] for run in payload["runs"]] == [str(folder)] * 2
    first, second = (run["results"] for run in payload["runs"])
    quick = dataclasses.replace(QUICK, classes=("move_left",), ofm_levels=(2.0, 8.0))
    assert first["timing"]["videos"] == quick.generations() == 2 + 2 + 1
    for key in ("first_frame_psnr", "region_motion", "ofm_control", "left_right", "prompt_following"):
        assert key in first
    assert first["ofm_control"]["items"][0]["requested"] == [2.0, 8.0]
    pf = first["prompt_following"]
    assert pf["labels"][-1] == STILL and sum(map(sum, pf["confusion"])) == 1
    assert finite_or_null(payload)
    for a, b in zip(first["videos"], second["videos"]):  # same model, seed and items: same figures
        keys = ("id", "measured_ofm", "first_frame_psnr")
        assert [a[k] for k in keys] == [b[k] for k in keys]
    md = out.with_suffix(".md").read_text()
    assert f"| check | target | {folder} | {folder} |" in md and md.count(f"### {folder}") == 2
    assert (tmp_path / "checks_confusion_0.png").exists() and (tmp_path / "checks_confusion_1.png").exists()
    with pytest.raises(SystemExit):
        script.main(["--classes", "wiggle"])
