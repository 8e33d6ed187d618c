import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from diffusers import DPMSolverMultistepScheduler
from safetensors.torch import load_file

from fyc import Region, load_pipeline
from fyc.train import Config, build_dataset, build_pipeline, step_indices, train
from fyc.train_checkpoints import latest_checkpoint

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
    frames = pipe(
        np.full((40, 40, 3), 120, np.uint8),
        [Region(mask, "move left")],
        ofm=4.0,
        num_frames=4,
        num_inference_steps=2,
        output_type="np",
    ).frames
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


def test_set_overrides_apply_on_top_of_the_file_and_are_checked_like_it():
    base = Config.from_yaml(CONFIG)
    config = Config.from_yaml(
        CONFIG,
        ["train.first_frame_mask_ratio=0.25", "unet.use_motion_cross_attention=false", "data.length=7", "seed=3"],
    )
    assert config.train.first_frame_mask_ratio == 0.25 and base.train.first_frame_mask_ratio != 0.25
    assert config.unet["use_motion_cross_attention"] is False and config.data["length"] == 7 and config.seed == 3
    assert config.train.batch_size == base.train.batch_size  # the rest is the file's
    with pytest.raises(ValueError, match="learning_rat"):
        Config.from_yaml(CONFIG, ["train.learning_rat=0.1"])
    for bad in ("train.max_steps", "=3", "train..x=1", "seed.x=1"):
        with pytest.raises(ValueError, match="--set"):
            Config.from_yaml(CONFIG, [bad])


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
    assert torch.equal(item["region_mask"], build_dataset(config.data)[5]["region_mask"])  # synthetic clips keep theirs
    assert (final / "model_index.json").exists()
    # a cache belongs to the VAE that wrote it
    from fyc.data.latent_cache import build_latent_cache

    with pytest.raises(ValueError, match="other settings"):
        build_latent_cache([], lambda x: x, tmp_path / "cache", fingerprint="another-vae")


def test_two_process_data_parallel_run(tmp_path):
    """The same command under a launcher: two CPU processes (gloo), one log line per step, one saved pipeline."""
    out = tmp_path / "ddp"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "-m",
            "fyc",
            "train",
            "--config",
            str(CONFIG),
            "--output-dir",
            str(out),
            "--max-steps",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
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


def test_regional_prompt_ratio_confines_the_prompt_to_the_region():
    """With regional_prompt_ratio a clip's motion prompt reaches the UNet as the pipeline gives a region's prompt:
    inside the region's area-averaged frame-0 mask, with the empty prompt on both text paths everywhere else."""
    import torch.nn.functional as F

    from fyc.train import TextCache, TrainConfig, _collate, build_dataset, build_pipeline, training_loss

    config = Config.from_yaml(CONFIG)
    pipe = build_pipeline(config)
    batch = _collate([build_dataset(config.data)[i] for i in range(4)])
    texts = TextCache(pipe, "cpu")
    seen = []

    def unet(sample, timesteps, text, **kwargs):
        seen.append((text, kwargs))
        return pipe.unet(sample, timesteps, text, **kwargs)

    def run(ratio, seed=0, **settings):
        seen.clear()
        settings = {"stage": 2, "text_dropout": 0.0, "motion_dropout": 0.0, "ofm_dropout": 0.0, **settings}
        cfg = TrainConfig(regional_prompt_ratio=ratio, **settings)
        with torch.no_grad():
            loss = training_loss(pipe, unet, batch, texts, cfg, torch.Generator().manual_seed(seed), "cpu")
        assert torch.isfinite(loss)
        return seen[0]

    prompts, empty = texts(list(batch["motion_prompt"])), texts([""] * 4)
    text, kwargs = run(0.0)
    assert "region_masks" not in kwargs and torch.equal(text, prompts)
    text, kwargs = run(1.0)
    size = kwargs["region_masks"].shape[-2:]
    expected = F.interpolate(batch["region_mask"].float()[:, None], size=size, mode="area")
    assert torch.equal(kwargs["region_masks"], expected) and expected.amax() == 1 and expected.amin() == 0
    assert torch.equal(kwargs["region_encoder_hidden_states"], prompts[:, None])
    assert torch.equal(text, empty) and torch.equal(kwargs["motion_encoder_hidden_states"], empty)
    # a mixed batch: each clip is wholly regional (mask, empty base prompt) or wholly global (no mask, its prompt)
    kinds = set()
    for seed in range(6):
        text, kwargs = run(0.5, seed=seed)
        for i in range(4):
            regional = bool(kwargs["region_masks"][i].any())
            kinds.add(regional)
            assert torch.equal(text[i], empty[i] if regional else prompts[i])
            assert torch.equal(kwargs["motion_encoder_hidden_states"][i], text[i])
    assert kinds == {True, False}
    # text dropout empties the region's prompt too
    _, kwargs = run(1.0, text_dropout=1.0)
    assert torch.equal(kwargs["region_encoder_hidden_states"], empty[:, None])
    without = {k: v for k, v in batch.items() if k != "region_mask"}
    with pytest.raises(ValueError, match="regional_prompt_ratio needs clips"):
        training_loss(
            pipe, unet, without, texts, TrainConfig(stage=2, regional_prompt_ratio=0.5), torch.Generator(), "cpu"
        )


def test_training_loss_honours_mask_ratio_and_dropouts():
    """What the UNet is given: the first-frame latent masked at the configured ratio (0 and 1 here), and text,
    motion prompt and OFM dropped (replaced by the empty prompt / NaN) when their dropout is 1."""
    from fyc.train import TextCache, TrainConfig, _collate, build_dataset, build_pipeline, training_loss

    config = Config.from_yaml(CONFIG)
    pipe = build_pipeline(config)
    dataset = build_dataset(config.data)
    batch = _collate([dataset[0], dataset[1]])
    texts = TextCache(pipe, "cpu")
    seen = []

    def unet(sample, timesteps, text, ofm=None, motion_encoder_hidden_states=None):
        seen.append((sample, text, ofm, motion_encoder_hidden_states))
        return pipe.unet(sample, timesteps, text, ofm=ofm, motion_encoder_hidden_states=motion_encoder_hidden_states)

    def run(**settings):
        seen.clear()
        cfg = TrainConfig(**{"stage": 2, "text_dropout": 0.0, "motion_dropout": 0.0, "ofm_dropout": 0.0, **settings})
        with torch.no_grad():
            loss = training_loss(pipe, unet, batch, texts, cfg, torch.Generator().manual_seed(0), "cpu")
        assert torch.isfinite(loss)
        return seen[0]

    c = pipe.vae.config.latent_channels
    kept, text, ofm, motion = run(first_frame_mask_ratio=0.0)
    masked = run(first_frame_mask_ratio=1.0)[0]
    first_kept, first_masked = kept[:, c + 1 :], masked[:, c + 1 :]  # [noisy C | mask 1 | first frame C]
    assert first_kept.abs().sum() > 0 and (first_kept != 0).float().mean() > 0.99 and first_masked.abs().sum() == 0
    assert torch.equal(kept[:, : c + 1], masked[:, : c + 1])  # noise and region mask are untouched
    half = run(first_frame_mask_ratio=0.5)[0][:, c + 1 :]
    assert 0.35 < (half[:, 0, 0] == 0).float().mean() < 0.65  # one frame's positions (the same on every frame)
    assert torch.equal(ofm, batch["ofm"]) and torch.equal(text, texts(list(batch["motion_prompt"])))
    assert torch.equal(motion, text)  # stage 2: the motion phrase on both paths
    _, text, ofm, motion = run(text_dropout=1.0, motion_dropout=1.0, ofm_dropout=1.0)
    assert torch.equal(text, texts(["", ""])) and torch.equal(motion, texts(["", ""])) and torch.isnan(ofm).all()
    _, text, _, motion = run(stage=1)
    assert torch.equal(text, texts(list(batch["caption"]))) and motion is None  # stage 1: full captions, no MA input

    # clicked_mask_ratio: the region's frame-0 mask (what a user clicks) in place of the flow mask (its path)
    from fyc.conditioning import region_mask_latent

    size = kept.shape[-2:]
    flow_mask, clicked = (region_mask_latent(batch[k].float()[:, None], size) for k in ("motion_mask", "region_mask"))
    assert not torch.equal(flow_mask, clicked)
    assert torch.equal(kept[:, c, 0], flow_mask[:, 0])
    assert torch.equal(run(clicked_mask_ratio=1.0)[0][:, c, 0], clicked[:, 0])
    mixed = run(clicked_mask_ratio=0.5)[0][:, c, 0]  # a whole clip's mask is one or the other
    assert all(torch.equal(m, a) or torch.equal(m, b) for m, a, b in zip(mixed, flow_mask[:, 0], clicked[:, 0]))
    without = {k: v for k, v in batch.items() if k != "region_mask"}
    with pytest.raises(ValueError, match="rebuild the cache"):
        training_loss(
            pipe, unet, without, texts, TrainConfig(clicked_mask_ratio=0.5), torch.Generator().manual_seed(0), "cpu"
        )

    # latent_residual: the same noise and timesteps, applied to frames minus the (unmasked) first-frame latent
    timesteps = []
    original_unet = unet

    def unet(sample, t, *args, **kwargs):  # noqa: F811 - records the timesteps too
        timesteps.append(t)
        return original_unet(sample, t, *args, **kwargs)

    plain = run(first_frame_mask_ratio=0.7)[0]
    pipe.unet.register_to_config(latent_residual=True)
    try:
        residual = run(first_frame_mask_ratio=0.7)[0]
    finally:
        pipe.unet.register_to_config(latent_residual=False)
    assert torch.equal(timesteps[0], timesteps[1]) and torch.equal(plain[:, c:], residual[:, c:])
    with torch.no_grad():
        first_frame = pipe.encode_first_frame(batch["pixel_values"][:, 0]).float()
    scale = pipe.scheduler.alphas_cumprod[timesteps[0]].sqrt().reshape(-1, 1, 1, 1, 1)
    shift = plain[:, :c] - residual[:, :c]  # = sqrt(alpha_bar_t) * first-frame latent, on every frame
    torch.testing.assert_close(shift, shift[:, :, :1].expand_as(shift))
    torch.testing.assert_close(shift[:, :, 0], scale[:, :, 0] * first_frame, atol=1e-5, rtol=1e-4)
    assert shift.abs().mean() > 1e-3


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction", "epsilon"])
def test_prediction_type_sets_the_target_and_the_pipeline_scheduler(prediction_type):
    """A still clip in residual latents is all zeros: a UNet that outputs zeros is exact when it predicts the
    sample, and wrong when it predicts velocity or noise (both hold the noise then)."""
    from fyc.train import TextCache, _collate, build_dataset, build_pipeline, training_loss

    config = Config.from_yaml(CONFIG, [f"train.prediction_type={prediction_type}", "unet.latent_residual=true"])
    pipe = build_pipeline(config)
    assert pipe.scheduler.config.prediction_type == prediction_type and pipe.unet.config.latent_residual
    batch = _collate([build_dataset(config.data)[i] for i in range(2)])
    batch["pixel_values"] = batch["pixel_values"][:, :1].expand_as(batch["pixel_values"]).clone()

    def zeros(sample, timesteps, text, **kwargs):
        return SimpleNamespace(sample=torch.zeros_like(sample[:, : pipe.vae.config.latent_channels]))

    with torch.no_grad():
        loss = training_loss(
            pipe, zeros, batch, TextCache(pipe, "cpu"), config.train, torch.Generator().manual_seed(0), "cpu"
        )
    assert (loss == 0) if prediction_type == "sample" else (loss > 0.05)
    with pytest.raises(ValueError, match="prediction_type"):
        build_pipeline(Config.from_yaml(CONFIG, ["train.prediction_type=x0"]))


def test_init_from_sd15_and_motion_adapter_then_from_the_saved_pipeline(tmp_path):
    """`init: {sd15, motion_adapter}` (tiny public-format folders) with bf16 mixed precision, stage 1; then
    `init: {pipeline: ...}` for stage 2. The VAE and text encoder stay frozen, stage 1 trains FYC's parts only,
    stage 2 also the motion-augmented attention."""
    from original_layouts import write_sd_config_folder
    from tiny import make_tiny_adapter, make_tiny_text_encoder, make_tiny_tokenizer, make_tiny_unet2d, make_tiny_vae

    sd = tmp_path / "sd15"
    parts = dict(
        vae=make_tiny_vae(),
        text_encoder=make_tiny_text_encoder(),
        unet=make_tiny_unet2d(),
        tokenizer=make_tiny_tokenizer(tmp_path / "tok"),
    )
    write_sd_config_folder(sd, **parts)
    for name in ("vae", "unet", "text_encoder", "tokenizer"):
        parts[name].save_pretrained(sd / name)
    make_tiny_adapter().save_pretrained(tmp_path / "animatediff")

    config = tiny_config(tmp_path / "stage1", 1)
    config.init = {"sd15": str(sd), "motion_adapter": str(tmp_path / "animatediff")}
    config.train.stage, config.train.trainable, config.train.mixed_precision = 1, "fyc", "bf16"
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()  # an earlier test's run in this process fixed the precision at "no"
    try:
        stage1 = train(config)
        config = tiny_config(tmp_path / "stage2", 1)
        config.init = {"pipeline": str(stage1)}
        from fyc.weights import save_pipeline

        resaved = load_pipeline(stage1)
        resaved.scheduler = DPMSolverMultistepScheduler.from_config(resaved.scheduler.config)  # as the demo model ships
        save_pipeline(resaved, stage1)
        assert type(build_pipeline(config).scheduler).__name__ == "DDIMScheduler"  # training adds DDIM's noise
        config.train.stage, config.train.trainable, config.train.mixed_precision = 2, "fyc", "bf16"
        stage2 = load_pipeline(train(config)).unet.state_dict()
    finally:
        AcceleratorState._reset_state()  # the precision is fixed once per process: let later tests choose theirs
    log = [json.loads(line) for line in (tmp_path / "stage1" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and np.isfinite(log[0]["loss"])
    pipe = load_pipeline(stage1)
    for name in ("vae", "text_encoder"):
        saved, original = getattr(pipe, name).state_dict(), parts[name].state_dict()
        assert all(torch.equal(saved[k], original[k]) for k in original), name
    sd_unet = parts["unet"].state_dict()
    unet = pipe.unet.state_dict()
    spatial = [k for k in sd_unet if "attentions" in k and "motion" not in k and k in unet]
    assert spatial and all(torch.equal(unet[k], sd_unet[k]) for k in spatial)  # SD's own layers frozen
    assert unet["conv_in.weight"][:, 4:].abs().sum() > 0  # the new mask / first-frame input channels (from 0) trained
    ma = [k for k in unet if "attn_motion.to_out.0.weight" in k]
    assert ma and all(unet[k].abs().sum() == 0 for k in ma)  # MA starts at zero and waits for stage 2

    assert all(stage2[k].abs().sum() > 0 for k in ma)  # stage 2 trains the motion-augmented attention
    assert all(torch.equal(stage2[k], unet[k]) for k in spatial)


def test_video_data_settings(tmp_path):
    """`data:` of real videos: RAFT weights reach the clip builder, a misspelt key is refused (not ignored),
    and configs/paper.yaml holds the paper's settings and only known keys."""
    from fyc.train import COMMON_VIDEO_DATA_KEYS, VIDEO_DATA_KEYS, build_dataset

    (tmp_path / "w.csv").write_text("videoid,contentUrl,duration,page_dir,name\n1,u,PT2S,p,Dog running\n")
    data = {"kind": "webvid", "csv": str(tmp_path / "w.csv"), "num_frames": 4, "stride": 2, "size": 32}
    assert build_dataset(data).builder.flow_method == "dis"
    assert build_dataset({**data, "raft_weights": str(tmp_path / "raft.pth")}).builder.flow_method == "raft"
    with pytest.raises(ValueError, match="unknown data setting.*cache_dirr"):
        build_dataset({**data, "cache_dirr": "x"})
    with pytest.raises(ValueError, match="data.kind"):
        build_dataset({"kind": "webdataset"})

    paper = Config.from_yaml(CONFIG.parent / "paper.yaml")
    assert (paper.data["num_frames"], paper.data["stride"], paper.train.first_frame_mask_ratio) == (16, 4, 0.7)
    assert set(paper.data) <= COMMON_VIDEO_DATA_KEYS | VIDEO_DATA_KEYS[paper.data["kind"]]
    assert set(paper.init) == {"sd15", "motion_adapter"} and paper.train.stage == 1


# -- training from video2dataset tar shards ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from test_video_data import moving_square_video, mp4_bytes, write_tar

    root = tmp_path_factory.mktemp("shards")
    captions = [
        "A dog runs on the beach",
        "Candle flame flickering",
        "Woman waves her hand",
        "Fish swimming slowly",
        "Flag waving in the wind",
    ]
    write_tar(
        root / "00000.tar",
        [(f"00000000{i}", mp4_bytes(moving_square_video(seed=i)), captions[i], {"videoid": f"a{i}"}) for i in range(3)]
        + [("000000009", b"not a video" * 20, "Broken", {"videoid": "bad"})],
    )
    write_tar(
        root / "00001.tar",
        [
            (f"00001000{i}", mp4_bytes(moving_square_video(seed=10 + i)), captions[3 + i], {"videoid": f"b{i}"})
            for i in range(2)
        ],
    )
    return root


def shard_config(out, shards, steps):
    config = tiny_config(out, steps)
    config.data = {
        "kind": "shards",
        "shards": str(shards / "{00000..00001}.tar"),
        "num_frames": 4,
        "stride": 2,
        "size": 32,
        "shuffle_buffer": 2,
    }
    config.train.num_workers = 2
    config.train.checkpoint_every = 3
    return config


def test_training_from_tar_shards_resumes_where_it_stopped(shards, tmp_path):
    """5 steps straight through equal 3 steps, stop, resume to 5: the two worker streams continue just after
    the last sample they gave, and the next batch comes from the worker an uninterrupted run would use."""
    full = train(shard_config(tmp_path / "full", shards, 5))
    log = [json.loads(line) for line in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3, 4, 5] and all(np.isfinite(e["loss"]) for e in log)

    train(shard_config(tmp_path / "cut", shards, 3))
    state = json.loads((tmp_path / "cut" / "checkpoints" / "step-0000003" / "data_state.json").read_text())
    # 3 batches: workers 0, 1, 0; the next one is worker 1's. Stream 0 gave 4 samples (a pass and one more).
    assert state["next_worker_stream"] == 1 and state["world_size"] == 1 and state["num_workers"] == 2
    assert sorted(state["positions"]) == ["0", "1"] and state["positions"]["0"][0] == 1  # (epoch, shard, taken)
    resumed = train(shard_config(tmp_path / "cut", shards, 5), resume=True)
    expected = load_file(str(full / "unet" / "diffusion_pytorch_model.safetensors"))
    got = load_file(str(resumed / "unet" / "diffusion_pytorch_model.safetensors"))
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    pipe = load_pipeline(resumed)
    assert pipe.unet.config.in_channels == 9
    # the broken video in shard 00000 is passed over and counted (once per pass), the same with a resume
    skipped = [e.get("skipped_videos", 0) for e in log]
    assert skipped[-1] >= 1 and skipped == sorted(skipped)
    cut_log = [json.loads(line) for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert [e.get("skipped_videos", 0) for e in cut_log] == skipped


def test_tar_shards_refuse_a_latent_cache(shards, tmp_path):
    config = shard_config(tmp_path, shards, 1)
    config.data["cache"] = str(tmp_path / "cache")
    with pytest.raises(ValueError, match="map-style"):
        train(config)


# -- FSDP / DeepSpeed through `accelerate launch` ----------------------------------------------------------------

ACCELERATE_CONFIGS = Path(__file__).parents[1] / "configs" / "accelerate"

# Accelerate enables FSDP only on GPUs and other accelerators; on CPU it quietly falls back to DDP. torch's FSDP
# runs on CPU over gloo, so the test's launcher switches Accelerate's state to FSDP once the processes have
# joined: from there on, wrapping, state dicts and save_state / load_state are Accelerate's own FSDP code.
FSDP_ON_CPU = """
import sys
import accelerate, torch
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

_init = accelerate.Accelerator.__init__

def init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    if self.distributed_type == DistributedType.MULTI_CPU:
        for shared in (PartialState._shared_state, AcceleratorState._shared_state):
            shared["distributed_type"] = DistributedType.FSDP
            shared["device"] = torch.device("cpu")
        AcceleratorState._shared_state["fsdp_plugin"] = FullyShardedDataParallelPlugin()

_prepare = accelerate.Accelerator.prepare

def prepare(self, *args, **kwargs):
    prepared = _prepare(self, *args, **kwargs)
    params = list(prepared[0].parameters())
    local = sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel() for p in params)
    print(f"rank {self.process_index}: {type(prepared[0]).__name__} holds {local} of {sum(p.numel() for p in params)}", flush=True)
    return prepared

accelerate.Accelerator.__init__ = init
accelerate.Accelerator.prepare = prepare
from fyc.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def launch_two_processes(tmp_path, accelerate_config: dict, script: Path, *args):
    import yaml

    config_file = tmp_path / "accelerate.yaml"
    config_file.write_text(yaml.safe_dump({**accelerate_config, "num_processes": 2}))
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file), str(script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=Path(__file__).parents[1],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def sharded_run_resumes_exactly(tmp_path, accelerate_config, script):
    """3 steps with checkpoints at 2 and 3; then the step-3 checkpoint is removed and the run resumed from
    step 2: the resumed step 3 must equal the first one, and the exported pipeline the gathered weights."""
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    config["train"].update(checkpoint_every=1, keep_checkpoints=2)
    config_file = tmp_path / "train.yaml"
    config_file.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    common = ["train", "--config", str(config_file), "--output-dir", str(out), "--max-steps", "3"]
    launch_two_processes(tmp_path, accelerate_config, script, *common)
    first = load_file(str(out / "checkpoints" / "step-0000003" / "unet.safetensors"))
    exported = load_file(str(out / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(first[k], exported[k]) for k in first) and first.keys() == exported.keys()
    step2 = out / "checkpoints" / "step-0000002"
    assert (step2 / "accelerate_state").is_dir() and not (step2 / "optimizer.pt").exists()
    import shutil

    shutil.rmtree(out / "checkpoints" / "step-0000003")
    shutil.rmtree(out / "pipeline")
    result = launch_two_processes(tmp_path, accelerate_config, script, *common, "--resume")
    output = result.stdout + result.stderr
    assert "resumed from" in output
    again = load_file(str(out / "checkpoints" / "step-0000003" / "unet.safetensors"))
    for key in first:
        assert torch.equal(first[key], again[key]), key
    halfway = load_file(str(step2 / "unet.safetensors"))
    assert any(not torch.equal(halfway[k], again[k]) for k in again)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 3] and np.isfinite([e["loss"] for e in log]).all()
    assert log[2]["loss"] == log[3]["loss"]
    pipe = load_pipeline(out / "pipeline")
    assert all(torch.equal(pipe.unet.state_dict()[k], again[k]) for k in again)
    return step2, output


def test_fsdp_two_cpu_processes_checkpoint_resume_and_export(tmp_path):
    """configs/accelerate/fsdp.yaml (FSDP2) on two CPU processes: each process holds half the UNet, resuming from a
    checkpoint reproduces the run exactly, and the checkpoint and the export hold the whole gathered UNet."""
    import yaml

    accelerate_config = yaml.safe_load((ACCELERATE_CONFIGS / "fsdp.yaml").read_text())
    accelerate_config["use_cpu"] = True
    script = tmp_path / "fsdp_on_cpu.py"
    script.write_text(FSDP_ON_CPU)
    step2, output = sharded_run_resumes_exactly(tmp_path, accelerate_config, script)
    held = {
        int(r): (int(local), int(total))
        for r, local, total in re.findall(r"rank (\d): FSDP\w+ holds (\d+) of (\d+)", output)
    }
    assert sorted(held) == [0, 1]
    (local0, total), (local1, _) = held[0], held[1]
    assert local0 < 0.6 * total and local1 < 0.6 * total and local0 + local1 >= total  # each holds about half
    assert (step2 / "accelerate_state" / "optimizer.bin").exists()  # FULL_STATE_DICT: gathered, weights_only-loadable


def test_deepspeed_zero2_two_cpu_processes_checkpoint_resume_and_export(tmp_path):
    """configs/accelerate/deepspeed_zero2.yaml on two CPU processes (DeepSpeed's CPU accelerator, gloo)."""
    pytest.importorskip("deepspeed", reason="DeepSpeed is optional: pip install deepspeed")
    import yaml

    accelerate_config = yaml.safe_load((ACCELERATE_CONFIGS / "deepspeed_zero2.yaml").read_text())
    script = tmp_path / "fyc_main.py"
    script.write_text("import sys\nfrom fyc.__main__ import main\nsys.exit(main(sys.argv[1:]))\n")
    step2, _ = sharded_run_resumes_exactly(tmp_path, accelerate_config, script)
    assert (step2 / "accelerate_state" / "pytorch_model").is_dir()  # DeepSpeed's own checkpoint


def test_unet_settings_extend_a_saved_pipeline_from_where_it_was(tmp_path):
    """`init: {pipeline: ...}` with `unet: {prompt_map: true}`: the saved weights are kept and the new part joins at
    zero, so the model computes what it did; settings that would drop saved weights are refused."""
    from tiny import make_tiny_pipeline

    from fyc.weights import save_pipeline

    saved = make_tiny_pipeline()
    save_pipeline(saved, tmp_path / "saved")
    config = tiny_config(tmp_path / "run", 1)
    config.init = {"pipeline": str(tmp_path / "saved")}
    config.unet = {"prompt_map": True}
    unet = build_pipeline(config).unet.eval()
    assert unet.config.prompt_map and unet.prompt_map_embedding[2].weight.abs().sum() == 0
    sample = torch.randn(1, 9, 4, 8, 8)
    sample[:, 4] = 1.0
    text = torch.randn(1, 3, saved.text_encoder.config.hidden_size)
    with torch.no_grad():
        torch.testing.assert_close(
            unet(sample, 5, text, ofm=torch.ones(1)).sample, saved.unet(sample, 5, text, ofm=torch.ones(1)).sample
        )
    config.unet = {"use_motion_cross_attention": False}
    with pytest.raises(ValueError, match="removes weights"):
        build_pipeline(config)
