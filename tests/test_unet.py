import pytest
import torch
from diffusers import UNetMotionModel
from tiny import TEXT_DIM, make_tiny_adapter, make_tiny_unet, make_tiny_unet2d

from fyc.models import FYCUNetMotionModel, MotionAugmentedTransformerBlock

B, F, H, W = 2, 4, 16, 16


def inputs(seed=0, channels=9):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(B, channels, F, H, W, generator=g)
    text = torch.randn(B, 6, TEXT_DIM, generator=g)
    return sample, text, g


@pytest.mark.parametrize("fyc_config", [{}, {"prompt_map": True}])
def test_zero_init_equals_stock_animatediff_whatever_the_extra_inputs(fyc_config):
    unet2d, adapter = make_tiny_unet2d(), make_tiny_adapter()
    stock = UNetMotionModel.from_unet2d(unet2d, adapter).eval()
    fyc = FYCUNetMotionModel.from_unet2d(unet2d, adapter, **fyc_config).eval()
    sample, text, g = inputs()
    with torch.no_grad():
        expected = stock(sample[:, :4], 10, text.repeat_interleave(F, 0)).sample
        for trial in range(3):
            extra = torch.randn(B, 5, F, H, W, generator=g) * (trial + 1)
            out = fyc(
                torch.cat([sample[:, :4], extra], 1),
                10,
                text,
                ofm=torch.rand(B, generator=g) * 20,
                motion_encoder_hidden_states=torch.randn(B, 3, TEXT_DIM, generator=g),
            ).sample
            torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_conv_in_widened_from_sd_weight_and_bias():
    unet2d = make_tiny_unet2d()
    fyc = FYCUNetMotionModel.from_unet2d(unet2d, make_tiny_adapter())
    assert fyc.config.in_channels == 9 and fyc.conv_in.in_channels == 9
    torch.testing.assert_close(fyc.conv_in.weight[:, :4], unet2d.conv_in.weight)
    torch.testing.assert_close(fyc.conv_in.bias, unet2d.conv_in.bias)
    assert fyc.conv_in.weight[:, 4:].abs().sum() == 0


@pytest.mark.parametrize("fyc_config", [{}, {"prompt_map": True}])
def test_pia_adapter_conv_in_is_used_and_matches_stock(fyc_config):
    unet2d, adapter = make_tiny_unet2d(), make_tiny_adapter(conv_in_channels=9)
    stock = UNetMotionModel.from_unet2d(unet2d, adapter).eval()
    fyc = FYCUNetMotionModel.from_unet2d(unet2d, adapter, **fyc_config).eval()
    torch.testing.assert_close(fyc.conv_in.weight[:, 4:], adapter.conv_in.weight[:, 4:])
    sample, text, _ = inputs()
    with torch.no_grad():
        torch.testing.assert_close(
            fyc(sample, 10, text, ofm=torch.full((B,), 5.0)).sample,
            stock(sample, 10, text.repeat_interleave(F, 0)).sample,
            rtol=1e-5,
            atol=1e-5,
        )


def test_every_extra_input_matters_once_trained():
    unet = make_tiny_unet()
    sample, text, g = inputs()
    with torch.no_grad():
        base = unet(sample, 10, text, ofm=torch.full((B,), 2.0)).sample
        other_ofm = unet(sample, 10, text, ofm=torch.full((B,), 9.0)).sample
        other_motion = unet(
            sample, 10, text, ofm=torch.full((B,), 2.0), motion_encoder_hidden_states=torch.randn(B, 6, TEXT_DIM)
        ).sample
        moved_mask = sample.clone()
        moved_mask[:, 4] = 1 - moved_mask[:, 4]
        other_mask = unet(moved_mask, 10, text, ofm=torch.full((B,), 2.0)).sample
    for changed in (other_ofm, other_motion, other_mask):
        assert (changed - base).abs().max() > 1e-4


def test_nan_ofm_means_unconditional():
    unet = make_tiny_unet()
    sample, text, _ = inputs()
    with torch.no_grad():
        none = unet(sample, 10, text).sample
        nan = unet(sample, 10, text, ofm=torch.full((B,), float("nan"))).sample
        given = unet(sample, 10, text, ofm=torch.full((B,), 3.0)).sample
    torch.testing.assert_close(nan, none)
    assert (given - none).abs().max() > 1e-4


@pytest.mark.parametrize("fyc_config", [{}, {"prompt_map": True}])
def test_regions_covering_everything_equal_a_global_prompt(fyc_config):
    unet = make_tiny_unet(**fyc_config)
    sample, text, g = inputs()
    sample[:, 4] = 1.0  # the mask channel: the union of the regions, as the pipeline builds it
    region_text = torch.randn(B, 2, 6, TEXT_DIM, generator=g)
    masks = torch.zeros(B, 2, H, W)
    masks[:, 0] = 1.0
    with torch.no_grad():
        regional = unet(
            sample, 10, text, ofm=torch.full((B,), 3.0), region_masks=masks, region_encoder_hidden_states=region_text
        ).sample
        global_prompt = unet(
            sample, 10, region_text[:, 0], ofm=torch.full((B,), 3.0), motion_encoder_hidden_states=region_text[:, 0]
        ).sample
        empty_regions = unet(
            sample,
            10,
            text,
            ofm=torch.full((B,), 3.0),
            region_masks=torch.zeros_like(masks),
            region_encoder_hidden_states=region_text,
        ).sample
        plain = unet(sample, 10, text, ofm=torch.full((B,), 3.0)).sample
    torch.testing.assert_close(regional, global_prompt, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(empty_regions, plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("temporal", [False, True])
def test_regional_attention_uses_each_prompt_exactly_inside_its_mask(temporal):
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    from fyc.models import ConditioningState, RegionalAttnProcessor

    torch.manual_seed(0)
    attn = Attention(query_dim=16, cross_attention_dim=TEXT_DIM, heads=2, dim_head=8, out_bias=True).eval()
    frames, h, w = 3, 4, 6
    masks = torch.zeros(1, 2, h, w)
    masks[0, 0, :, :2] = 1  # region 0: left third
    masks[0, 1, :, 4:] = 1  # region 1: right third; the middle keeps the base prompt
    base, r0, r1 = (torch.randn(1, 5, TEXT_DIM) for _ in range(3))
    state = ConditioningState()
    state.reset(num_frames=frames, region_masks=masks, region_embeds=torch.stack([r0, r1], 1))
    attn.set_processor(RegionalAttnProcessor(state, temporal=temporal))
    if temporal:  # one video: tokens ordered (position, frame)
        x = torch.randn(1, h * w * frames, 16)
        column = torch.arange(h * w).repeat_interleave(frames) % w

        def ctx(e):
            return e
    else:  # frames in the batch, positions as tokens
        x = torch.randn(frames, h * w, 16)
        column = torch.arange(h * w) % w

        def ctx(e):
            return e.expand(frames, -1, -1)

    with torch.no_grad():
        out = attn(x, encoder_hidden_states=ctx(base))
        attn.set_processor(AttnProcessor2_0())
        plain = {name: attn(x, encoder_hidden_states=ctx(e)) for name, e in (("base", base), ("r0", r0), ("r1", r1))}
    left, middle, right = column < 2, (column >= 2) & (column < 4), column >= 4
    torch.testing.assert_close(out[:, left], plain["r0"][:, left])
    torch.testing.assert_close(out[:, middle], plain["base"][:, middle])
    torch.testing.assert_close(out[:, right], plain["r1"][:, right])


def test_save_load_round_trip_is_exact(tmp_path):
    unet = make_tiny_unet(first_frame_layout="first", prompt_map=True)
    unet.save_pretrained(tmp_path)
    loaded = FYCUNetMotionModel.from_pretrained(tmp_path).eval()
    assert loaded.config.first_frame_layout == "first" and loaded.config.prompt_map
    assert loaded.config.in_channels == 9
    state, loaded_state = unet.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    for key in state:
        assert torch.equal(state[key], loaded_state[key]), key
    sample, text, _ = inputs()
    with torch.no_grad():
        assert torch.equal(
            unet(sample, 5, text, ofm=torch.ones(B)).sample, loaded(sample, 5, text, ofm=torch.ones(B)).sample
        )


def test_ma_blocks_present_or_absent_by_config():
    with_ma = make_tiny_unet()
    without = make_tiny_unet(use_motion_cross_attention=False)
    from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D

    motion_blocks = [
        b for m in with_ma.modules() if isinstance(m, AnimateDiffTransformer3D) for b in m.transformer_blocks
    ]
    assert len(motion_blocks) == 7 and all(isinstance(b, MotionAugmentedTransformerBlock) for b in motion_blocks)
    assert not any(isinstance(m, MotionAugmentedTransformerBlock) for m in without.modules())
    wide = make_tiny_unet(motion_cross_attention_dim=48)
    block = next(m for m in wide.modules() if isinstance(m, MotionAugmentedTransformerBlock))
    assert block.attn_motion.to_k.in_features == 48


def test_motion_adapter_round_trip_without_ma_weights(tmp_path):
    unet = make_tiny_unet()
    unet.save_motion_modules(tmp_path)
    from diffusers import MotionAdapter

    adapter = MotionAdapter.from_pretrained(tmp_path)
    rebuilt = FYCUNetMotionModel.from_unet2d(make_tiny_unet2d(), adapter)
    key = "down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q.weight"
    assert torch.equal(rebuilt.state_dict()[key], unet.state_dict()[key])


def test_bad_inputs_are_refused_with_clear_messages():
    unet = make_tiny_unet()
    sample, text, _ = inputs()
    with pytest.raises(ValueError, match="channels"):
        unet(sample[:, :4], 1, text)
    with pytest.raises(ValueError, match="limit of 32"):
        unet(torch.randn(1, 9, 33, 8, 8), 1, text[:1])
    with pytest.raises(ValueError, match="go together"):
        unet(sample, 1, text, region_masks=torch.ones(B, 1, H, W))
    with pytest.raises(ValueError, match="first_frame_layout"):
        make_tiny_unet(first_frame_layout="middle")


def test_gradient_checkpointing_trains_the_new_parts():
    unet = make_tiny_unet().train()
    unet.enable_gradient_checkpointing()
    sample, text, _ = inputs()
    out = unet(sample, 10, text, ofm=torch.full((B,), 4.0), motion_encoder_hidden_states=text).sample
    out.pow(2).mean().backward()
    grads = {n: p.grad for n, p in unet.named_parameters()}
    assert grads["ofm_embedding.linear_2.weight"].abs().sum() > 0
    assert "prompt_map_embedding.2.weight" not in grads  # off by default
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "attn_motion" in n)


def test_prompt_map_paints_each_regions_own_code_inside_its_mask_frame_by_frame():
    unet = make_tiny_unet(prompt_map=True)
    g = torch.Generator().manual_seed(3)
    masks = torch.zeros(B, 2, H, W)
    masks[:, 0, :, :5] = 1
    masks[:, 1, :, 10:] = 1
    prompts = torch.randn(B, 2, TEXT_DIM, generator=g)
    with torch.no_grad():
        both = unet.embed_prompt_map(masks, prompts, F).reshape(B, F, -1, H, W)
        first = unet.embed_prompt_map(masks[:, :1], prompts[:, :1], F).reshape(B, F, -1, H, W)
        swapped = unet.embed_prompt_map(masks, prompts.flip(1), F).reshape(B, F, -1, H, W)
    assert both.shape == (B, F, unet.config.block_out_channels[0], H, W)
    assert both[..., 5:10].abs().max() == 0  # nothing outside the regions
    torch.testing.assert_close(both[..., :5], first[..., :5])  # region 0 holds its own prompt's code only
    assert (both[..., :5] - swapped[..., :5]).abs().max() > 1e-4  # ... which depends on that prompt
    assert (both[:, 0] - both[:, 1]).abs().max() > 1e-4  # and on the frame
    cell = both[0, :, :, 0, 0]  # a region's code is the same at every position inside it
    torch.testing.assert_close(both[0, :, :, H - 1, 4], cell)


def test_prompt_map_reads_the_mask_channel_and_trains():
    unet = make_tiny_unet(prompt_map=True).train()
    unet.enable_gradient_checkpointing()
    sample, text, g = inputs()
    sample[:, 4] = 0.0
    sample[:, 4, :, :, :8] = 1.0
    out = unet(sample, 10, text, ofm=torch.full((B,), 4.0)).sample
    out.pow(2).mean().backward()
    assert unet.prompt_map_embedding[2].weight.grad.abs().sum() > 0
    unet.eval()
    with torch.no_grad():
        plain = unet(sample, 10, text).sample
        unet.prompt_map_embedding[2].weight.zero_()
        unet.prompt_map_embedding[2].bias.zero_()
        without_map = unet(sample, 10, text).sample
    assert (plain - without_map).abs().max() > 1e-4
