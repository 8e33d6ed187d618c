import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import DPMSolverMultistepScheduler
from tiny import make_tiny_pipeline

from fyc import FollowYourClickPipeline, Region

H0, W0 = 48, 80  # a 5:3 input; the tiny model's native short side is 64 px, multiple 8


@pytest.fixture(scope="module")
def pipe():
    return make_tiny_pipeline()


@pytest.fixture(scope="module")
def image():
    rng = np.random.RandomState(0)
    return (rng.rand(H0, W0, 3) * 255).astype(np.uint8)


def box(y0, y1, x0, x1, shape=(H0, W0)):
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def run(pipe, image, regions=None, **kwargs):
    kwargs = {
        "num_frames": 4,
        "num_inference_steps": 2,
        "output_type": "np",
        "generator": torch.Generator().manual_seed(0),
        **kwargs,
    }
    return pipe(image, regions or [Region(box(10, 30, 20, 50), "sway")], **kwargs).frames


def test_output_types_follow_animatediff_convention(pipe, image):
    h, w = pipe.default_size(PIL.Image.fromarray(image))
    frames = run(pipe, image)
    assert frames.shape == (1, 4, h, w, 3) and frames.dtype == np.float32
    assert 0 <= frames.min() and frames.max() <= 1
    pt = run(pipe, image, output_type="pt")
    assert pt.shape == (1, 4, 3, h, w)
    pil = run(pipe, image, output_type="pil")
    assert len(pil) == 1 and len(pil[0]) == 4 and pil[0][0].size == (w, h)
    latent = run(pipe, image, output_type="latent")
    assert latent.shape == (1, 4, 4, h // 4, w // 4)


def test_aspect_ratio_kept_and_sizes_rounded(pipe):
    for w0, h0 in [(80, 48), (48, 80), (100, 100), (640, 427), (37, 201)]:
        h, w = pipe.default_size(PIL.Image.new("RGB", (w0, h0)))
        assert h % pipe.size_multiple == 0 and w % pipe.size_multiple == 0
        assert min(h, w) == pytest.approx(64, abs=pipe.size_multiple / 2)
        assert w / h == pytest.approx(w0 / h0, rel=0.12)
    frames = run(pipe, np.zeros((80, 48, 3), np.uint8), [Region(box(10, 40, 10, 30, (80, 48)), "sway")])
    assert frames.shape[2:4] == pipe.default_size(PIL.Image.new("RGB", (48, 80)))


def test_several_regions(pipe, image):
    regions = [
        Region(box(5, 25, 5, 30), "move left"),
        Region(box(20, 45, 40, 75), "shake"),
        Region(box(0, 10, 0, 80), "sway"),
    ]
    frames = run(pipe, image, regions)
    assert frames.shape[:2] == (1, 4) and np.isfinite(frames).all()
    # the prompt of each region matters
    other = run(pipe, image, [regions[0], Region(regions[1].mask, "spin"), regions[2]])
    assert np.abs(frames - other).max() > 1e-4


def test_a_region_prompt_reaches_only_its_region(pipe, image):
    """One region as several: its prompt goes in as a regional prompt (soft mask at latent size), the base prompt
    of the conditional branch is the empty prompt, and the unconditional branch has no region at all."""
    calls = []
    hook = pipe.unet.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs), with_kwargs=True)
    try:
        run(pipe, image, guidance_scale=3.0)
    finally:
        hook.remove()
    kwargs = calls[0]
    masks, prompts = kwargs["region_masks"], kwargs["region_encoder_hidden_states"]
    assert masks.shape[:2] == (2, 1) and prompts.shape[:2] == (2, 1)
    assert masks[0].abs().sum() == 0 and masks[1].amax() == 1 and 0 < masks[1].mean() < 0.5
    empty, sway = pipe.encode_prompt("", "cpu"), pipe.encode_prompt("sway", "cpu")
    torch.testing.assert_close(kwargs["encoder_hidden_states"], torch.cat([empty, empty]))
    torch.testing.assert_close(prompts[1, 0], sway[0])


def test_seeded_generation_is_deterministic(pipe, image):
    a = run(pipe, image, generator=torch.Generator().manual_seed(3))
    b = run(pipe, image, generator=torch.Generator().manual_seed(3))
    c = run(pipe, image, generator=torch.Generator().manual_seed(4))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4


def test_ofm_and_prompt_reach_the_model(pipe, image):
    base = run(pipe, image, ofm=2.0)
    assert np.abs(base - run(pipe, image, ofm=12.0)).max() > 1e-4
    assert np.abs(base - run(pipe, image, [Region(box(10, 30, 20, 50), "spin")], ofm=2.0)).max() > 1e-4


def test_frame_zero_is_the_input_up_to_vae_reconstruction(pipe, image):
    frames = run(pipe, image, output_type="pt")
    h, w = frames.shape[-2:]
    pixels = pipe.video_processor.preprocess(PIL.Image.fromarray(image), height=h, width=w)
    with torch.no_grad():
        reconstruction = pipe.vae.decode(pipe.encode_first_frame(pixels) / pipe.vae.config.scaling_factor).sample
    expected = (reconstruction / 2 + 0.5).clamp(0, 1)
    torch.testing.assert_close(frames[0, 0], expected[0], atol=1e-5, rtol=0)
    assert (frames[0, 1] - frames[0, 0]).abs().max() > 1e-3  # later frames are generated


@pytest.mark.parametrize("layout", ["repeat", "first"])
def test_first_frame_layouts_run(layout, image):
    pipe = make_tiny_pipeline(first_frame_layout=layout)
    assert pipe.unet.config.first_frame_layout == layout
    assert run(pipe, image).shape[1] == 4


@pytest.mark.parametrize("residual", [False, True])
def test_latent_residual_adds_the_first_frame_latent_back(residual, image):
    """A UNet that predicts v = 0 makes one DDIM step from t = T (zero SNR) land on x0 = 0 plus the last step's
    noise: a still video of the input when the model denoises residuals, blank latents when it denoises frames."""
    pipe = make_tiny_pipeline(latent_residual=residual)
    torch.nn.init.zeros_(pipe.unet.conv_out.weight)
    torch.nn.init.zeros_(pipe.unet.conv_out.bias)
    h, w = pipe.default_size(PIL.Image.fromarray(image))
    f = pipe.vae_scale_factor
    noise = torch.randn((1, 4, 4, h // f, w // f), generator=torch.Generator().manual_seed(0))
    latents = pipe(
        image,
        [Region(box(10, 30, 20, 50), "sway")],
        num_frames=4,
        num_inference_steps=1,
        latents=noise,
        output_type="latent",
    ).frames
    with torch.no_grad():
        first = pipe.encode_first_frame(pipe.video_processor.preprocess(PIL.Image.fromarray(image), height=h, width=w))
    last_noise = (1 - pipe.scheduler.alphas_cumprod[0]).sqrt() * noise[:, :, 1:]
    expected = first[:, :, None] + last_noise if residual else last_noise
    torch.testing.assert_close(latents[:, :, 1:], expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(latents[:, :, 0], first, atol=1e-6, rtol=0)  # frame 0 is the input either way


def test_mean_prompt_pooling_gives_one_vector_a_prompt_blind_to_padding(image, tmp_path):
    from fyc.weights import load_pipeline, save_pipeline

    pipe = make_tiny_pipeline(prompt_pooling="mean")
    prompts = ["sway", "move left slowly"]
    pooled = pipe.encode_prompt(prompts, "cpu")
    assert pooled.shape == (2, 1, pipe.text_encoder.config.hidden_size)
    with torch.no_grad():
        for prompt, vector in zip(prompts, pooled):
            ids = pipe.tokenizer(prompt, return_tensors="pt").input_ids  # the prompt's own tokens, no padding
            own = pipe.text_encoder(ids)[0].mean(1)
            torch.testing.assert_close(vector, own, atol=1e-5, rtol=1e-5)
    assert (pooled[0] - pooled[1]).abs().max() > 1e-3
    save_pipeline(pipe, tmp_path / "saved")
    loaded = load_pipeline(tmp_path / "saved")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.unet.config.prompt_pooling == "mean"
    video = run(loaded, image)
    assert np.isfinite(video).all() and video.shape == run(make_tiny_pipeline(), image).shape
    with pytest.raises(ValueError, match="prompt_pooling must be one of"):
        make_tiny_pipeline(prompt_pooling="max")


def test_default_guidance_scale_is_saved_with_the_model_and_used_when_none_is_given(image, tmp_path):
    from fyc.weights import load_pipeline, save_pipeline

    pipe = make_tiny_pipeline()
    assert pipe.config.default_guidance_scale == 7.5  # the paper's, for models that say nothing
    pipe.register_to_config(default_guidance_scale=1.0)
    save_pipeline(pipe, tmp_path / "saved")
    loaded = load_pipeline(tmp_path / "saved")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.config.default_guidance_scale == 1.0
    by_default = run(loaded, image)
    assert loaded.guidance_scale == 1.0 and not loaded.do_classifier_free_guidance
    np.testing.assert_array_equal(by_default, run(loaded, image, guidance_scale=1.0))
    assert np.abs(by_default - run(loaded, image, guidance_scale=7.5)).max() > 1e-3


def test_bad_arguments_raise_clear_errors(pipe, image):
    mask = box(10, 30, 20, 50)
    cases = [
        (dict(regions=[]), "at least one Region"),
        (dict(regions=[Region(np.ones((10, 10), bool), "sway")]), "input image's size"),
        (dict(regions=[Region(np.zeros((H0, W0), bool), "sway")]), "empty"),
        (dict(regions=[Region(mask, "sway")], ofm=-1.0), "ofm"),
        (dict(regions=[Region(mask, "sway")], ofm=float("nan")), "ofm"),
        (dict(regions=[Region(mask, "sway")], num_frames=33), "motion module's limit"),
        (dict(regions=[Region(mask, "sway")], height=30), "multiple of 8"),
        (dict(regions=[Region(mask, "sway")], output_type="gif"), "output_type"),
        (dict(regions=["sway"]), "fyc.Region"),
    ]
    with pytest.raises(ValueError, match="8:1"):
        pipe(np.zeros((4, 80, 3), np.uint8), [Region(np.ones((4, 80), bool), "sway")], num_inference_steps=1)
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            pipe(image, num_inference_steps=1, **kwargs)


def test_scheduler_is_swappable(pipe, image):
    original = pipe.scheduler
    try:
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(original.config)
        frames = run(pipe, image, num_inference_steps=3)
        assert np.isfinite(frames).all()
    finally:
        pipe.scheduler = original
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert pipe.scheduler.config.rescale_betas_zero_snr


def test_callback_can_interrupt_and_sees_latents(pipe, image):
    seen = []

    def stop_after_first(p, step, timestep, kwargs):
        seen.append((step, kwargs["latents"].shape))
        p._interrupt = True
        return {}

    run(pipe, image, num_inference_steps=4, callback_on_step_end=stop_after_first)
    assert len(seen) == 1 and seen[0][1][1:3] == (4, 4)
    assert pipe.num_timesteps == 4


def test_saved_pipeline_round_trip_gives_identical_video(pipe, image, tmp_path):
    from fyc.models import FYCUNetMotionModel

    pipe.save_pretrained(tmp_path)
    loaded = FollowYourClickPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.unet, FYCUNetMotionModel)
    assert type(loaded.scheduler) is type(pipe.scheduler)
    np.testing.assert_array_equal(run(pipe, image), run(loaded, image))


def test_gpu_memory_options_work_on_cpu(image):
    pipe = make_tiny_pipeline()
    reference = run(pipe, image)
    pipe.vae.enable_slicing()
    np.testing.assert_allclose(run(pipe, image, decode_chunk_size=1), reference, atol=1e-5)
    pipe.vae.enable_tiling()
    assert run(pipe, image).shape == reference.shape
    pipe.vae.disable_tiling()
    half = make_tiny_pipeline().to(torch.bfloat16)
    frames = run(half, image)
    assert np.isfinite(frames).all() and np.abs(frames - reference).mean() < 0.1
    assert FollowYourClickPipeline.model_cpu_offload_seq.split("->")[0] == "text_encoder"


def test_any_latent_width_with_a_matching_unet(image):
    from diffusers import AutoencoderKL

    from fyc.models import FYCUNetMotionModel
    from fyc.scheduling import default_scheduler

    pipe = make_tiny_pipeline()
    vae8 = AutoencoderKL(
        block_out_channels=(16, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=8,
        norm_num_groups=8,
        layers_per_block=1,
    )
    unet17 = FYCUNetMotionModel(**{**pipe.unet.config, "in_channels": 17, "out_channels": 8})
    wide = FollowYourClickPipeline(
        vae=vae8, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=unet17, scheduler=default_scheduler()
    )
    wide.set_progress_bar_config(disable=True)
    assert run(wide, image, output_type="latent").shape[1] == 8
    assert run(wide, image).shape[-1] == 3
    with pytest.raises(ValueError, match="needs 17 / 8"):
        FollowYourClickPipeline(
            vae=vae8,
            text_encoder=pipe.text_encoder,
            tokenizer=pipe.tokenizer,
            unet=pipe.unet,
            scheduler=default_scheduler(),
        )
