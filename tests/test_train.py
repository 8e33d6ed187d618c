import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fyc import Region, load_pipeline
from fyc.train import Config, latest_checkpoint, step_indices, train

CONFIG = Path(__file__).parents[1] / "configs" / "tiny.yaml"


def tiny_config(out, steps):
    config = Config.from_yaml(CONFIG)
    config.output_dir = str(out)
    config.train.max_steps = steps
    config.train.checkpoint_every = 2
    return config


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return train(tiny_config(out, 4)), out


def test_tiny_run_logs_finite_losses_and_saves_a_loadable_pipeline(uninterrupted):
    final, out = uninterrupted
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3, 4]
    assert all(np.isfinite(entry["loss"]) for entry in log)
    assert (final / "training_config.yaml").exists()
    assert not (final / "text_encoder").exists()  # MiniLM is used from its package, never copied
    pipe = load_pipeline(final)
    pipe.set_progress_bar_config(disable=True)
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    frames = pipe(np.full((40, 40, 3), 120, np.uint8), [Region(mask, "move left")], ofm=4.0, num_frames=4,
                  num_inference_steps=2, output_type="np").frames
    assert frames.shape == (1, 4, 32, 32, 3) and np.isfinite(frames).all()


def test_stop_and_resume_equals_uninterrupted_run(uninterrupted, tmp_path):
    final, _ = uninterrupted
    train(tiny_config(tmp_path, 2))
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint.name == "step-0000002"
    halfway = load_file(str(checkpoint / "unet.safetensors"))
    resumed = train(tiny_config(tmp_path, 4), resume=True)
    expected = load_file(str(final / "unet" / "diffusion_pytorch_model.safetensors"))
    got = load_file(str(resumed / "unet" / "diffusion_pytorch_model.safetensors"))
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert any(not torch.equal(halfway[k], got[k]) for k in got)  # the resumed steps did train


def test_step_indices_cover_each_epoch_once_and_split_between_processes():
    length, batch = 10, 3
    seen = [i for step in range(10) for i in step_indices(step, batch, length, seed=1)]
    for epoch in range(3):
        assert sorted(seen[epoch * length : (epoch + 1) * length]) == list(range(length))
    assert step_indices(5, batch, length, seed=1) == step_indices(5, batch, length, seed=1)
    ranks = [step_indices(2, batch, length, seed=1, rank=r, world=2) for r in range(2)]
    assert not set(ranks[0]) & set(ranks[1])


def test_config_rejects_unknown_settings(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rat: 0.1\n")
    with pytest.raises(ValueError, match="learning_rat"):
        Config.from_yaml(bad)
    bad.write_text("trian: {}\n")
    with pytest.raises(ValueError, match="trian"):
        Config.from_yaml(bad)


def test_training_from_a_latent_cache(tmp_path):
    from fyc.data.latent_cache import LatentCacheDataset

    config = tiny_config(tmp_path / "run", 2)
    config.data = {**config.data, "length": 6, "cache": str(tmp_path / "cache")}
    config.train.batch_size = 2
    final = train(config)
    cache = LatentCacheDataset(tmp_path / "cache")
    item = cache[5]
    assert len(cache) == 6 and item["latents"].shape == (4, 4, 8, 8)
    assert item["motion_mask"].shape == (32, 32) and isinstance(item["motion_prompt"], str) and item["motion_prompt"]
    assert (final / "model_index.json").exists()
    # a cache belongs to the VAE that wrote it
    from fyc.data.latent_cache import build_latent_cache

    with pytest.raises(ValueError, match="other settings"):
        build_latent_cache([], lambda x: x, tmp_path / "cache", fingerprint="another-vae")


def test_two_process_data_parallel_run(tmp_path):
    """The same command under a launcher: two CPU processes (gloo), one log line per step, one saved pipeline."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "fyc", "train",
         "--config", str(CONFIG), "--output-dir", str(out), "--max-steps", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2]
    assert (out / "pipeline" / "model_index.json").exists()


def test_ema_checkpointing_and_accumulation_options_run(tmp_path):
    config = tiny_config(tmp_path, 2)
    config.train.use_ema = True
    config.train.gradient_checkpointing = True
    config.train.gradient_accumulation_steps = 2
    config.train.stage = 1
    final = train(config)
    state = load_file(str(tmp_path / "checkpoints" / "step-0000002" / "unet.safetensors"))
    assert (tmp_path / "checkpoints" / "step-0000002" / "ema.pt").exists()
    assert torch.load(tmp_path / "checkpoints" / "step-0000002" / "ema.pt", weights_only=True)["decay"] == 0.999
    saved = load_file(str(final / "unet" / "diffusion_pytorch_model.safetensors"))
    # the exported weights are the EMA average, not the last step's
    assert any(not torch.equal(saved[k], state[k]) for k in saved if "motion_modules" in k)
    # stage 1 leaves the motion-augmented attention untouched (it is trained in stage 2)
    ma = [k for k in saved if "attn_motion.to_out.0.weight" in k]
    assert ma and all(saved[k].abs().sum() == 0 for k in ma)
