"""ControlNet on the latent path (issue 20 part 1): tiny real diffusers ControlNets, saved and loaded in real layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fyc.animate import animate
from fyc.controlnet import (
    control_tensor,
    controlnet_like,
    guidance_keep,
    load_controlnet,
    read_control_frames,
    region_residuals,
)
from fyc.inputs import InputError
from fyc.pipeline import FollowYourClickPipeline
from fyc.region import Region
from tests.tiny import make_tiny_pipeline

SIZE = 64
FRAMES = 4


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return make_tiny_pipeline(0, tmp_path_factory.mktemp("tok"))


def _image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)


def _region():
    mask = np.zeros((SIZE, SIZE), bool)
    mask[16:48, 8:32] = True
    return Region(mask, "raise the arm")


def _pose(shift: int) -> list[np.ndarray]:
    """A stick figure whose arm rises frame by frame (white lines on black, as openpose renderings are)."""
    frames = []
    for t in range(FRAMES):
        frame = np.zeros((SIZE, SIZE, 3), np.uint8)
        frame[20:50, 20 + shift : 23 + shift] = 255
        y = 30 - 4 * t
        frame[y : y + 3, 22 + shift : 40 + shift] = (255, 0, 0)
        frames.append(frame)
    return frames


def _trained_looking(controlnet, seed: int = 1):
    """Random zero convolutions (the residual outputs and the control image embedding's last layer): the ControlNet
    now changes what the UNet sees, and how depends on the control image."""
    g = torch.Generator().manual_seed(seed)
    for name, param in controlnet.named_parameters():
        if name.startswith(("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding.conv_out")):
            param.data = torch.randn(param.shape, generator=g) * 0.5
    return controlnet


def _run(pipe, **kwargs):
    out = pipe(
        _image(),
        [_region()],
        ofm=4.0,
        num_frames=FRAMES,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
        **kwargs,
    )
    return np.asarray(out.frames[0])


def _with(pipe, controlnet):
    out = FollowYourClickPipeline(**{**pipe.components, "controlnet": controlnet})
    out.set_progress_bar_config(disable=True)
    return out


def test_a_fresh_controlnet_changes_nothing_and_scale_zero_equals_none(pipe):
    plain = _run(pipe)
    fresh = _with(pipe, controlnet_like(pipe.unet, pipe.vae_scale_factor, seed=0))
    np.testing.assert_array_equal(_run(fresh, control_frames=_pose(0)), plain)
    trained = _with(pipe, _trained_looking(controlnet_like(pipe.unet, pipe.vae_scale_factor, seed=0)))
    np.testing.assert_array_equal(_run(trained, control_frames=_pose(0), controlnet_conditioning_scale=0.0), plain)


def test_a_trained_controlnet_steers_inside_the_region_and_poses_differ(pipe):
    trained = _with(pipe, _trained_looking(controlnet_like(pipe.unet, pipe.vae_scale_factor, seed=0)))
    plain = _run(pipe)
    steered = _run(trained, control_frames=_pose(0))
    inside = _region().mask
    assert np.abs(steered - plain)[:, inside].mean() > 0.01
    other = _run(trained, control_frames=_pose(12))
    assert np.abs(other - steered)[1:, inside].mean() > 0.002  # frame 0 is the photo in both
    # Outside the regions a still-background run stays the photo, with or without the ControlNet.
    kept = animate(
        trained,
        _image(),
        [_region()],
        ofm=4.0,
        num_frames=FRAMES,
        num_inference_steps=2,
        keep_background=True,
        control_frames=_pose(0),
    )
    far = np.ones_like(inside)  # beyond the pasting margin around the region
    far[8:56, 0:40] = False
    assert np.abs(kept[:, far] - _image()[far] / 255.0).max() < 1 / 255 + 1e-6


def test_residuals_are_zero_outside_the_regions():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    down = [torch.ones(4, 3, 8, 8), torch.ones(4, 5, 4, 4)]
    masked, mid = region_residuals(down, torch.ones(4, 7, 2, 2), mask)
    assert masked[0][..., 0, :].abs().sum() == 0 and masked[0][..., 3, 3].eq(1).all()
    assert masked[1][..., 0, 0].abs().sum() == 0 and masked[1][..., 1:3, 1:3].eq(1).all()
    assert mid.shape == (4, 7, 2, 2) and torch.allclose(mid, torch.full_like(mid, 0.25))


def test_guidance_window():
    keep = guidance_keep(10, [0.0, 0.5], [0.5, 1.0])
    assert [k[0] for k in keep] == [1] * 5 + [0] * 5
    assert [k[1] for k in keep] == [0] * 5 + [1] * 5


def test_control_frames_are_stretched_in_time_and_resized(tmp_path):
    frames = _pose(0)
    out = control_tensor(frames, 8, 32, 48)
    assert out.shape == (8, 3, 32, 48) and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out[0], out[1])  # 4 frames over 8: each shown twice
    folder = tmp_path / "pose"
    folder.mkdir()
    import PIL.Image

    for i, frame in enumerate(frames):
        PIL.Image.fromarray(frame).save(folder / f"{i:03d}.png")
    assert len(read_control_frames(folder)) == FRAMES
    np.testing.assert_array_equal(read_control_frames(folder)[2], frames[2])
    from fyc.video import export_mp4

    export_mp4(np.stack(frames), tmp_path / "pose.mp4", fps=8)
    assert len(read_control_frames(tmp_path / "pose.mp4")) == FRAMES
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        read_control_frames(tmp_path / "empty")


def test_save_and_load_with_and_without_a_controlnet(pipe, tmp_path):
    controlnet = _trained_looking(controlnet_like(pipe.unet, pipe.vae_scale_factor, seed=0))
    with_net = _with(pipe, controlnet)
    with_net.save_pretrained(tmp_path / "with")
    pipe.save_pretrained(tmp_path / "without")
    assert json.loads((tmp_path / "without" / "model_index.json").read_text())["controlnet"] == [None, None]
    loaded = FollowYourClickPipeline.from_pretrained(tmp_path / "with")
    loaded.set_progress_bar_config(disable=True)
    np.testing.assert_array_equal(_run(loaded, control_frames=_pose(0)), _run(with_net, control_frames=_pose(0)))
    plain = FollowYourClickPipeline.from_pretrained(tmp_path / "without")
    assert plain.controlnet is None
    with pytest.raises(ValueError, match="need a ControlNet"):
        plain(_image(), [_region()], num_frames=FRAMES, num_inference_steps=1, control_frames=_pose(0))


def test_loading_a_controlnet_folder_and_a_diffusers_layout_file(pipe, tmp_path):
    controlnet = _trained_looking(controlnet_like(pipe.unet, pipe.vae_scale_factor, seed=0))
    controlnet.save_pretrained(tmp_path / "folder")
    a = load_controlnet(tmp_path / "folder")
    state = controlnet.state_dict()
    assert all(torch.equal(a.state_dict()[k], v) for k, v in state.items())
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "net.safetensors")
    with pytest.raises(FileNotFoundError, match="config"):
        load_controlnet(tmp_path / "net.safetensors")
    b = load_controlnet(tmp_path / "net.safetensors", config=tmp_path / "folder")
    assert all(torch.equal(b.state_dict()[k], v) for k, v in state.items())
    torch.save(state, tmp_path / "net.pth")
    c = load_controlnet(tmp_path / "net.pth", config=tmp_path / "folder" / "config.json")
    assert all(torch.equal(c.state_dict()[k], v) for k, v in state.items())


def test_missing_weights_name_the_download_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="fyc download controlnet-openpose"):
        load_controlnet(weights_dir=tmp_path)
    save_file({"control_model.input_blocks.0.0.weight": torch.zeros(1)}, tmp_path / "orig.safetensors")
    with pytest.raises(FileNotFoundError, match="original layout"):
        load_controlnet(tmp_path / "orig.safetensors", weights_dir=tmp_path)


def test_animate_refuses_control_frames_it_cannot_use(pipe):
    with pytest.raises(InputError, match="need a ControlNet"):
        animate(pipe, _image(), [_region()], ofm=4.0, num_frames=FRAMES, control_frames=_pose(0))


_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}


def _original_layout(state: dict, layers_per_block: int) -> dict:
    """A diffusers ControlNet state dict in the original ControlNet layout (`control_model.input_blocks...`), as
    `control_v11p_sd15_openpose.pth` stores it: the inverse of diffusers' single-file conversion."""
    import re

    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    simple = DIFFUSERS_TO_LDM_MAPPING["controlnet"]["layers"]

    def resnet(rest):
        head, _, tail = rest.partition(".")
        return f"{_RESNET.get(head, head)}.{tail}"

    out = {}
    for key, value in state.items():
        if key in simple:
            new = simple[key]
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            index = 1 + int(m[1]) * (layers_per_block + 1) + int(m[3])
            new = f"input_blocks.{index}.0.{resnet(m[4])}" if m[2] == "resnets" else f"input_blocks.{index}.1.{m[4]}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            new = f"input_blocks.{(int(m[1]) + 1) * (layers_per_block + 1)}.0.op.{m[2]}"
        elif m := re.fullmatch(r"controlnet_down_blocks\.(\d+)\.(.+)", key):
            new = f"zero_convs.{m[1]}.0.{m[2]}"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"middle_block.{2 * int(m[1])}.{resnet(m[2])}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
            new = f"middle_block.1.{m[1]}"
        elif m := re.fullmatch(r"controlnet_mid_block\.(.+)", key):
            new = f"middle_block_out.0.{m[1]}"
        elif m := re.fullmatch(r"controlnet_cond_embedding\.blocks\.(\d+)\.(.+)", key):
            new = f"input_hint_block.{2 * (int(m[1]) + 1)}.{m[2]}"
        else:
            raise KeyError(key)
        out[f"control_model.{new}"] = value
    return out


def test_an_original_layout_controlnet_file_loads_with_its_config(pipe, tmp_path):
    # The original layout fixes the control image embedding at 8 layers (SD's 8x VAE): build it that way.
    controlnet = _trained_looking(controlnet_like(pipe.unet, 8, seed=0))
    controlnet.save_pretrained(tmp_path / "folder")
    state = controlnet.state_dict()
    original = _original_layout(state, controlnet.config.layers_per_block)
    save_file({k: v.contiguous() for k, v in original.items()}, tmp_path / "control_tiny_openpose.safetensors")
    loaded = load_controlnet(tmp_path / "control_tiny_openpose.safetensors", config=tmp_path / "folder")
    assert set(loaded.state_dict()) == set(state)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())


def test_a_residual_latent_model_shows_the_controlnet_the_whole_latent(tmp_path):
    """With `latent_residual` (the demo model) the UNet denoises frames minus the first frame; the ControlNet still
    runs, changes nothing untrained and steers when trained."""
    residual = make_tiny_pipeline(0, tmp_path / "tok", latent_residual=True)
    plain = _run(residual)
    fresh = _with(residual, controlnet_like(residual.unet, residual.vae_scale_factor, seed=0))
    np.testing.assert_array_equal(_run(fresh, control_frames=_pose(0)), plain)
    trained = _with(residual, _trained_looking(controlnet_like(residual.unet, residual.vae_scale_factor, seed=0)))
    assert np.abs(_run(trained, control_frames=_pose(0)) - plain)[:, _region().mask].mean() > 0.01
