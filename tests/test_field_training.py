"""`python -m fyc train` on the motion-field kind: the loop, resume and export of configs/demo_motion.yaml's recipe at
tiny size, and its loss learning a batch."""

from pathlib import Path

import numpy as np
import torch

from fyc.motion_pipeline import FollowYourClickMotionFieldPipeline
from fyc.train import Config, TextCache, TrainConfig, _collate, train
from fyc.weights import load_pipeline

CONFIG = Path(__file__).parents[1] / "configs" / "demo_motion.yaml"
TINY = [
    "init.scratch.unet.block_out_channels=[32, 64]",
    "init.scratch.unet.down_block_types=[CrossAttnDownBlockMotion, DownBlockMotion]",
    "init.scratch.unet.up_block_types=[UpBlockMotion, CrossAttnUpBlockMotion]",
    "init.scratch.unet.norm_num_groups=8",
    "data.num_frames=4",
    "data.grid=[8, 8]",
    "data.size=64",
    "train.batch_size=2",
    "train.max_steps=4",
    "train.checkpoint_every=2",
    "train.log_every=1",
]


def _config(tmp_path, *extra) -> Config:
    return Config.from_yaml(CONFIG, TINY + [f"output_dir={tmp_path / 'run'}", *extra])


def test_tiny_run_saves_a_motion_field_pipeline_that_animates(tmp_path):
    folder = train(_config(tmp_path))
    pipe = load_pipeline(folder)  # the text encoder is a reference to the MiniLM package, not a copy
    assert isinstance(pipe, FollowYourClickMotionFieldPipeline)
    assert "wave" in pipe.config.motion_vocabulary and len(pipe.config.motion_vocabulary) == 19
    assert "pour down" in pipe.config.motion_wordings["flow"] and pipe.region_modes(["pour down"]) == ["stream"]
    pipe.set_progress_bar_config(disable=True)
    photo = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[10:30, 10:40] = True
    from fyc.region import Region

    out = pipe(photo, [Region(mask, "wave")], ofm=3.0, num_frames=4, num_inference_steps=2, output_type="np")
    assert out.frames.shape == (1, 4, 48, 64, 3) and out.fields.shape == (1, 4, 2, 16, 20)
    logs = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert len(logs) == 4


def test_resume_continues_where_the_run_stopped(tmp_path):
    train(_config(tmp_path, "train.max_steps=2"))
    resumed = train(_config(tmp_path), resume=True)
    steps = [line for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(steps) == 4 and resumed.exists()


def test_the_loss_learns_a_batch(tmp_path):
    from tiny import make_tiny_field_pipeline

    from fyc.data.field_clips import FieldClipDataset
    from fyc.field_training import field_training_loss
    from fyc.scheduling import sampler_from_config

    pipe = make_tiny_field_pipeline(tokenizer_dir=tmp_path)
    pipe.scheduler = sampler_from_config({**pipe.scheduler.config, "prediction_type": "sample"}, "ddim")
    data = FieldClipDataset(4, num_frames=4, grid=(8, 8), size=64, two_region_ratio=0.5, hint_ratio=0.5)
    batch = _collate([data[i] for i in range(4)])
    cfg, texts = TrainConfig(first_frame_mask_ratio=0.7, region_loss_weight=2.0), TextCache(pipe, "cpu")
    unet = pipe.unet.train()
    optimizer = torch.optim.AdamW(unet.parameters(), 1e-3)
    losses = []
    for step in range(25):
        loss = field_training_loss(pipe, unet, batch, texts, cfg, torch.Generator().manual_seed(step % 2), "cpu")
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
    assert np.isfinite(losses).all() and np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4])
