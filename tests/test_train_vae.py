"""python -m fyc train-vae: a tiny real AutoencoderKL trained a few steps on 32-px crops of the packaged photos."""

import argparse
import json

import numpy as np
import pytest
import torch
import yaml
from diffusers import AutoencoderKL
from safetensors.torch import load_file

from fyc import train_vae
from fyc.data.synthetic import load_photo, photo_names

TINY = {
    "seed": 3,
    "vae": {
        "block_out_channels": [8, 16],
        "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
        "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
        "latent_channels": 4,
        "layers_per_block": 1,
        "norm_num_groups": 4,
    },
    "data": {
        "crop_size": [24, 32],
        "eval_crop_size": 32,
        "eval_crops_per_photo": 1,
        "eval_short_side": 32,
        "scaling_crops": 4,
    },
    "train": {
        "batch_size": 2,
        "max_steps": 4,
        "lr_schedule_steps": 4,
        "lr_warmup_steps": 1,
        "eval_every": 4,
        "checkpoint_every": 2,
        "log_every": 1,
    },
}


def _run(tmp_path, *extra, config_dict=TINY):
    config = tmp_path / "vae.yaml"
    config.write_text(yaml.safe_dump(config_dict))
    parser = argparse.ArgumentParser()
    train_vae.build_parser(parser)
    return train_vae.run(parser.parse_args(["--config", str(config), *extra]))


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_train_resume_and_export(tmp_path):
    full, split, exported = tmp_path / "full", tmp_path / "split", tmp_path / "fp16"
    assert _run(tmp_path, "--output-dir", str(full), "--export", str(exported)) == 0

    records = _records(full)
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 4 and all(np.isfinite(losses))
    evals = [r["eval"] for r in records if "eval" in r]
    assert [r["step"] for r in records if "eval" in r] == [4]
    assert set(evals[-1]["photos_psnr"]) == set(photo_names("eval"))
    assert evals[-1]["photos_psnr_min"] <= evals[-1]["photos_psnr_mean"]

    vae = AutoencoderKL.from_pretrained(full / "vae")
    saved = [r for r in records if r.get("event") == "saved"][0]
    assert vae.config.scaling_factor == pytest.approx(1 / saved["latent_std"], rel=1e-3)
    assert vae.config.block_out_channels == [8, 16] and vae.config.latent_channels == 4
    latents = vae.encode(torch.zeros(1, 3, 32, 48)).latent_dist.mode()
    assert latents.shape == (1, 4, 16, 24)  # factor 2 for the two-block tiny VAE

    assert {t.dtype for t in load_file(str(exported / "diffusion_pytorch_model.safetensors")).values()} == {
        torch.float16
    }
    half = AutoencoderKL.from_pretrained(exported, torch_dtype=torch.float16)
    assert half.config.scaling_factor == vae.config.scaling_factor

    # A later stage starts from the saved VAE (here with a vanishing learning rate, so it must stay put).
    stage2 = {
        **TINY,
        "init_from": str(full / "vae"),
        "data": {**TINY["data"], "channel_shuffle": 1.0, "grayscale": 0.5},
        "train": {**TINY["train"], "max_steps": 1, "learning_rate": 1e-9, "min_learning_rate": 1e-10},
    }
    _run(tmp_path, "--output-dir", str(tmp_path / "stage2"), config_dict=stage2)
    before = load_file(str(full / "vae" / "diffusion_pytorch_model.safetensors"))
    after = load_file(str(tmp_path / "stage2" / "vae" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)

    # Interrupted after 2 steps, then resumed: the same weights as the uninterrupted run.
    _run(tmp_path, "--output-dir", str(split), "--max-steps", "2")
    assert (split / "checkpoints" / "step-0000002" / "trainer_state.json").exists()
    _run(tmp_path, "--output-dir", str(split), "--resume")
    assert [r["step"] for r in _records(split) if "loss" in r] == [1, 2, 3, 4]
    a = load_file(str(full / "checkpoints" / "step-0000004" / "vae.safetensors"))
    b = load_file(str(split / "checkpoints" / "step-0000004" / "vae.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_decoder_only_stage_keeps_the_encoder_and_scaling(tmp_path):
    first = tmp_path / "first"
    _run(tmp_path, "--output-dir", str(first), config_dict={**TINY, "train": {**TINY["train"], "max_steps": 2}})
    # Another seed draws other crops, whose latent std differs: the scaling must still be the encoder's.
    stage = {
        **TINY,
        "seed": TINY.get("seed", 0) + 1,
        "init_from": str(first / "vae"),
        "train": {**TINY["train"], "max_steps": 2, "decoder_only": True},
    }
    _run(tmp_path, "--output-dir", str(tmp_path / "decoder"), config_dict=stage)
    before = load_file(str(first / "vae" / "diffusion_pytorch_model.safetensors"))
    after = load_file(str(tmp_path / "decoder" / "vae" / "diffusion_pytorch_model.safetensors"))
    kept = [k for k in before if k.startswith(("encoder.", "quant_conv."))]
    assert kept and all(torch.equal(before[k], after[k]) for k in kept)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    scaling = [AutoencoderKL.from_pretrained(d / "vae").config.scaling_factor for d in (first, tmp_path / "decoder")]
    assert scaling[0] == scaling[1]
    with pytest.raises(ValueError, match="decoder_only needs init_from"):
        _run(tmp_path, config_dict={**TINY, "train": {**TINY["train"], "decoder_only": True}})


def test_batches_are_a_function_of_seed_and_step():
    data = train_vae.VAEDataConfig(crop_size=[16, 32], channel_shuffle=0.5, grayscale=0.2)
    photos = train_vae.training_photos(data)
    first = train_vae.training_batch(photos, data, 3, seed=0, step=5)
    assert torch.equal(first, train_vae.training_batch(photos, data, 3, seed=0, step=5))
    assert not torch.equal(first, train_vae.training_batch(photos, data, 3, seed=0, step=6))
    assert first.shape[:2] == (3, 3) and first.shape[-1] % 8 == 0 and 16 <= first.shape[-1] <= 32
    assert first.min() >= -1 and first.max() <= 1


def test_grayscale_and_channel_shuffle():
    photo = np.zeros((40, 40, 3), np.uint8)
    photo[..., 0] = 200  # pure red
    rng = np.random.default_rng(0)
    grey = train_vae.random_crop(rng, photo, 16, train_vae.VAEDataConfig(colour_jitter=0.0, grayscale=1.0))
    assert np.allclose(grey[..., 0], grey[..., 1]) and np.allclose(grey[..., 1], grey[..., 2])
    shuffled = [
        train_vae.random_crop(rng, photo, 16, train_vae.VAEDataConfig(colour_jitter=0.0, channel_shuffle=1.0))
        for _ in range(40)
    ]
    assert {int(np.argmax(c.mean(axis=(0, 1)))) for c in shuffled} == {0, 1, 2}  # red lands in every channel


def test_training_never_sees_heldout_photos():
    data = train_vae.VAEDataConfig()
    train_ids = {id(p) for p in train_vae.training_photos(data)}
    assert not train_ids & {id(load_photo(n)) for n in photo_names("eval")}
    assert set(data.extra_photos) <= set(train_vae.EXTRA_PHOTOS)


def test_working_size_matches_the_pipeline_rounding():
    assert train_vae.working_size(427, 640, 128) == (128, 192)
    assert train_vae.working_size(600, 512, 128) == (152, 128)
    assert train_vae.working_size(303, 384, 128, multiple=32) == (128, 160)


def test_psnr_of_known_error():
    target = torch.zeros(1, 3, 8, 8)
    assert float(train_vae.psnr(target + 0.2, target)) == pytest.approx(20.0, abs=1e-4)  # 0.1 on the [0, 1] scale


def test_bad_config_is_reported(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"data": {"crop_size": [30, 32]}}))
    with pytest.raises(ValueError, match="multiples of 8"):
        train_vae.VAEConfig.from_yaml(path)
    path.write_text(yaml.safe_dump({"train": {"batchsize": 2}}))
    with pytest.raises(ValueError, match="unknown train settings"):
        train_vae.VAEConfig.from_yaml(path)


def test_set_overrides_a_later_stage_from_the_command_line():
    """A later decoder stage is the stage-2 config plus `--set`s (the demo VAE's stages 3 and 4)."""
    path = "configs/demo_vae_decoder.yaml"
    parser = argparse.ArgumentParser()
    train_vae.build_parser(parser)
    args = parser.parse_args(
        [
            "--config",
            path,
            "--set",
            "seed=3",
            "--set",
            "data.crop_size=[64, 128]",
            "--set",
            "train.learning_rate=2.0e-4",
        ]
    )
    config = train_vae.VAEConfig.from_yaml(args.config, args.overrides)
    base = train_vae.VAEConfig.from_yaml(path)
    assert (config.seed, config.data.crop_size, config.train.learning_rate) == (3, [64, 128], 2.0e-4)
    assert config.train.decoder_only and config.init_from == base.init_from
    with pytest.raises(ValueError, match="crop_size"):
        train_vae.VAEConfig.from_yaml(path, ["data.crop_size=[60, 128]"])
