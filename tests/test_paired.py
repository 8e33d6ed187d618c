"""Paired comparison of two check batteries (`experiments/paired.py`), on videos whose motion is known."""

import json

import numpy as np
import pytest
from demo_checks import BatteryOptions, run_battery
from paired import MEASURES, bootstrap_mean_interval, paired_comparison, paired_markdown
from test_prompt_following import oracle

OPTIONS = BatteryOptions(
    num_frames=8,
    ofm_levels=(1, 2, 4, 8, 12),
    sweep_photos=0,
    sweep_clips=1,
    lr_photos=0,
    lr_clips=2,
    heldout_per_class=1,
    classes=("move_right", "zoom_out"),
)


def still(item, ofm):
    """Frame 0 held for 8 frames: nothing moves, whatever was asked."""
    return np.repeat(oracle(item, ofm)[:1], 8, axis=0)


@pytest.fixture(scope="module")
def batteries():
    quiet = {"log": lambda line: None}
    return run_battery(oracle, OPTIONS, size=64, **quiet), run_battery(still, OPTIONS, size=64, **quiet)


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_items():
    assert bootstrap_mean_interval([]) is None
    assert bootstrap_mean_interval([0.5] * 7) == pytest.approx((0.5, 0.5))
    rng = np.random.default_rng(1)
    few, many = rng.normal(1.0, 1.0, 8), rng.normal(1.0, 1.0, 800)
    (lo_few, hi_few), (lo_many, hi_many) = bootstrap_mean_interval(few), bootstrap_mean_interval(many)
    assert lo_few < few.mean() < hi_few and lo_many < many.mean() < hi_many
    assert hi_many - lo_many < (hi_few - lo_few) / 4  # ~1/sqrt(100) of the width
    assert bootstrap_mean_interval(few, seed=3) == bootstrap_mean_interval(few, seed=3)


def test_bootstrap_resamples_values_of_one_item_together():
    # two items of five videos each: the videos agree within an item, the items disagree
    differences, groups = [1.0] * 5 + [-0.2] * 5, ["a"] * 5 + ["b"] * 5
    lo, hi = bootstrap_mean_interval(differences)
    assert lo > 0  # as if ten independent videos: "better"
    lo_items, hi_items = bootstrap_mean_interval(differences, groups)
    assert lo_items == pytest.approx(-0.2) and hi_items == pytest.approx(1.0)  # two items say little
    # groups of one value each are the plain bootstrap
    assert bootstrap_mean_interval(differences, list(range(10))) == pytest.approx((lo, hi))


def test_a_model_against_itself_differs_by_nothing(batteries):
    moving, _ = batteries
    comparison = paired_comparison(moving, moving)
    assert set(comparison) == set(MEASURES)
    for name, c in comparison.items():
        assert c["difference"] == 0 and c["interval_95"] == [0.0, 0.0], name
        assert c["verdict"] == "no clear difference"
    assert comparison["prompt_following_correct"]["items"] == 4
    assert comparison["left_right_correct"]["items"] == 2
    assert comparison["ofm_spearman"]["items"] == 1
    assert comparison["log2_motion_ratio"]["items"] == OPTIONS.generations() == 5 + 4 + 4


def test_a_still_model_is_worse_where_it_should_be(batteries):
    moving, frozen = batteries
    comparison = paired_comparison(moving, frozen)
    # the oracle follows every prompt and keeps motion inside; the still videos do neither
    assert comparison["prompt_following_correct"]["baseline"] == 1.0
    assert comparison["prompt_following_correct"]["variant"] == 0.0
    assert comparison["prompt_following_correct"]["verdict"] == "worse"
    assert comparison["log2_motion_ratio"]["difference"] < -1 and comparison["log2_motion_ratio"]["verdict"] == "worse"
    assert comparison["left_right_correct"]["difference"] == -1.0
    # frame 0 is the same input in both: no difference there
    assert comparison["first_frame_psnr"]["difference"] == pytest.approx(0.0)
    # and the other way round, the oracle is the better one
    assert paired_comparison(frozen, moving)["prompt_following_correct"]["verdict"] == "better"
    json.dumps(comparison, allow_nan=False)

    text = paired_markdown("oracle", {"still": comparison})
    assert "### still" in text and "| 4 | 1.00 | 0.00 | -1.00 [-1.00, -1.00] | worse |" in text


def test_batteries_of_different_items_are_refused(batteries):
    moving, _ = batteries
    fewer = dict(moving, videos=moving["videos"][:-1])
    with pytest.raises(ValueError, match="same options and seed"):
        paired_comparison(moving, fewer)
