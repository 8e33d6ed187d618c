from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fyc import Region, load_pipeline
from fyc.__main__ import main
from fyc.export import export_checkpoint
from fyc.train import Config, train

CONFIG = Path(__file__).parents[1] / "configs" / "tiny.yaml"
UNET_FILE = Path("unet") / "diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = Config.from_yaml(CONFIG)
    config.output_dir = str(out)
    config.train.max_steps = 2
    config.train.checkpoint_every = 1
    config.train.use_ema = True
    final = train(config)
    return config, final


def test_export_of_the_last_checkpoint_equals_the_pipeline_training_wrote(run, tmp_path):
    config, final = run
    exported = export_checkpoint(config, tmp_path / "export")
    for part in ("unet", "vae"):
        name = Path(part) / "diffusion_pytorch_model.safetensors"
        expected, got = load_file(str(final / name)), load_file(str(exported / name))
        assert expected.keys() == got.keys()
        assert all(torch.equal(expected[k], got[k]) for k in expected), part
    assert "checkpoint_step: 2" in (exported / "training_config.yaml").read_text()


def test_export_without_ema_holds_the_raw_weights_of_the_chosen_checkpoint(run, tmp_path):
    config, _ = run
    checkpoint = Path(config.output_dir) / "checkpoints" / "step-0000001"
    exported = export_checkpoint(config, tmp_path / "raw", checkpoint=checkpoint, use_ema=False)
    raw = load_file(str(checkpoint / "unet.safetensors"))
    got = load_file(str(exported / UNET_FILE))
    assert all(torch.equal(raw[k], got[k]) for k in raw)


def test_float16_export_through_the_command_loads_and_generates(run, tmp_path):
    config, _ = run
    import yaml

    config_file = tmp_path / "config.yaml"
    config_file.write_text(CONFIG.read_text())
    out = tmp_path / "fp16"
    assert (
        main(
            [
                "export",
                "--config",
                str(config_file),
                "--output-dir",
                config.output_dir,
                "--out",
                str(out),
                "--dtype",
                "float16",
                "--name",
                "test model",
                "--sampler",
                "dpmsolver++",
            ]
        )
        == 0
    )
    assert all(t.dtype == torch.float16 for t in load_file(str(out / UNET_FILE)).values())
    assert yaml.safe_load((out / "training_config.yaml").read_text())["ema"] is True
    pipe = load_pipeline(out, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipe.scheduler.config.algorithm_type == "dpmsolver++"
    trained = Config.from_yaml(CONFIG).train.prediction_type or "v_prediction"
    assert pipe.scheduler.config.prediction_type == trained and pipe.scheduler.config.rescale_betas_zero_snr
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    frames = pipe(
        np.full((32, 32, 3), 90, np.uint8),
        [Region(mask, "sway")],
        ofm=2.0,
        num_frames=4,
        num_inference_steps=2,
        output_type="np",
    ).frames
    assert frames.shape == (1, 4, 32, 32, 3) and np.isfinite(frames).all()


def test_export_without_checkpoints_says_to_train_first(tmp_path):
    config = Config.from_yaml(CONFIG)
    config.output_dir = str(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="train first"):
        export_checkpoint(config, tmp_path / "out")
