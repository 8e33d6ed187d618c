"""The shipped latent demo model (weights/demo/): it loads from its folder and animates only the region (the default of
`fyc.load_pipeline()` is the motion-field demo model, tests/test_demo_motion_model.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fyc import Region, load_pipeline
from fyc.data.synthetic import generate_clip
from fyc.eval import metrics as M
from fyc.weights import describe

DEMO = Path(__file__).parents[1] / "weights" / "demo"


@pytest.fixture(scope="module")
def pipe():
    with pytest.MonkeyPatch.context() as patch:  # the repository's own weights folder, whatever the shell says
        patch.delenv("FYC_WEIGHTS_DIR", raising=False)
        patch.delenv("FYC_WEIGHTS", raising=False)
        pipe = load_pipeline(DEMO)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_the_latent_demo_model_loads_from_its_folder(pipe):
    assert Path(pipe.name_or_path).resolve() == DEMO.resolve()
    assert describe(pipe) == "demo model, 128 px"
    assert type(pipe.unet).__name__ == "FYCUNetMotionModel" and pipe.unet.dtype == torch.float32
    c = pipe.vae.config.latent_channels
    assert pipe.unet.config.in_channels == 2 * c + 1 and pipe.unet.config.out_channels == c
    assert pipe.unet.config.latent_residual and pipe.scheduler.config.prediction_type == "sample"
    assert pipe.unet.config.prompt_pooling == "mean" and type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert sum(f.stat().st_size for f in DEMO.rglob("*") if f.is_file()) < 100e6


def test_demo_model_moves_the_region_of_a_held_out_clip_and_keeps_frame_zero(pipe):
    clip = generate_clip(7, "eval", 128, 16, motion_class="move_right", speed=4.0)
    image, region = np.array(clip.frames[0]), clip.regions[0].region_mask
    video = pipe(
        image,
        [Region(region, "move right")],
        ofm=float(clip.ofm),
        num_inference_steps=8,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).frames[0]
    video = M.as_uint8_video(video)
    assert video.shape == (16, 128, image.shape[1] * 128 // image.shape[0], 3)
    assert M.first_frame_psnr(image, video) >= 20.0  # frame 0 is the VAE's reconstruction of the input
    motion = M.region_metrics(video, [region])
    assert motion["region_motion"] > 3 * max(motion["region_leakage"], 1e-3), motion


def test_demo_model_moves_a_held_out_region_the_way_its_prompt_says(pipe):
    """'move left' and 'move right' on the same region of a held-out photograph, same noise: opposite ways."""
    from fyc.eval import prompt_following as P

    clip = generate_clip(11, "eval", 128, 16, motion_class="shake", speed=4.0)
    image, region = np.array(clip.frames[0]), clip.regions[0].region_mask
    dx = {}
    for side in ("left", "right"):
        video = pipe(
            image,
            [Region(region, f"move {side}")],
            ofm=6.0,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
        ).frames[0]
        dx[side] = P.horizontal_direction(M.as_uint8_video(video), region)
    assert dx["left"] < 0 < dx["right"], dx
