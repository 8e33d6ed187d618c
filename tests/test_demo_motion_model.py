"""The shipped motion-field demo model (weights/demo_motion/): the default of `fyc.load_pipeline()`; frame 0 is the
photo at its own resolution, and the clicked object moves the way its prompt says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from fyc import Region, load_pipeline
from fyc.motion_field import region_coverage
from fyc.weights import describe

ROOT = Path(__file__).parents[1]
DEMO_MOTION = ROOT / "weights" / "demo_motion"


@pytest.fixture(scope="module")
def pipe():
    with pytest.MonkeyPatch.context() as patch:  # the repository's own weights folder, whatever the shell says
        patch.delenv("FYC_WEIGHTS_DIR", raising=False)
        patch.delenv("FYC_WEIGHTS", raising=False)
        pipe = load_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def rocket():
    image = np.asarray(PIL.Image.open(ROOT / "examples" / "rocket.jpg").convert("RGB"))
    image = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]  # even sides, as H.264 video has
    mask = np.zeros(image.shape[:2], bool)
    h, w = mask.shape
    mask[int(0.15 * h) : int(0.85 * h), int(0.4 * w) : int(0.6 * w)] = True
    return image, mask


def test_load_pipeline_without_arguments_is_the_motion_field_demo_model(pipe):
    assert Path(pipe.name_or_path).resolve() == DEMO_MOTION.resolve()
    assert type(pipe).__name__ == "FollowYourClickMotionFieldPipeline" and "motion-field" in describe(pipe)
    assert len(pipe.config.motion_vocabulary) >= 18
    shipped = [f for f in (ROOT / "weights").rglob("*") if f.is_file() and "weights/README.md" not in str(f)]
    assert sum(f.stat().st_size for f in shipped) < 100e6


def test_frame_zero_is_the_photo_and_the_object_moves_as_asked(pipe, rocket):
    image, mask = rocket
    dy = {}
    for prompt in ("move up", "move down"):
        out = pipe(image, [Region(mask, prompt)], ofm=4.0, generator=torch.Generator().manual_seed(0), output_type="np")
        video = (np.asarray(out.frames[0]) * 255).round().astype(np.uint8)
        assert video.shape[1:3] == image.shape[:2]  # the photo's own size (its long side is under 1024)
        np.testing.assert_array_equal(video[0], image)
        fields = out.fields[0]
        cells = region_coverage(mask[None], fields.shape[-2:])[0] >= 0.5
        dy[prompt] = float(fields[-1, 1][cells].mean())
    assert dy["move up"] < -5 < 5 < dy["move down"], dy
