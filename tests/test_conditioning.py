import pytest
import torch

from fyc.conditioning import build_condition, mask_first_frame_latent, region_mask_latent


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.7])
@pytest.mark.parametrize("patch", [1, 4])
def test_first_frame_masking_ratio_is_honoured(ratio, patch):
    latent = torch.ones(8, 4, 64, 64)
    masked = mask_first_frame_latent(latent, ratio, patch, torch.Generator().manual_seed(0))
    zeroed = (masked == 0).float().mean().item()
    assert zeroed == pytest.approx(ratio, abs=0.03 if patch == 1 else 0.06)
    # the same positions are zeroed in every channel
    assert torch.equal(masked[:, :1].expand_as(masked), masked)


def test_patch_masking_zeroes_whole_patches():
    masked = mask_first_frame_latent(torch.ones(1, 1, 8, 8), 0.5, 4, torch.Generator().manual_seed(3))
    blocks = masked[0, 0].reshape(2, 4, 2, 4).permute(0, 2, 1, 3).reshape(4, 16)
    assert all(b.unique().numel() == 1 for b in blocks)


def test_layouts():
    first = torch.randn(2, 4, 5, 6)
    mask = torch.ones(2, 1, 5, 6)
    repeat = build_condition(first, mask, 3, "repeat")
    assert repeat.shape == (2, 5, 3, 5, 6)
    assert torch.equal(repeat[:, 1:, 2], first) and torch.equal(repeat[:, 0], torch.ones(2, 3, 5, 6))
    only_first = build_condition(first, mask, 3, "first")
    assert torch.equal(only_first[:, 1:, 0], first) and only_first[:, 1:, 1:].abs().sum() == 0
    with pytest.raises(ValueError, match="first_frame_layout"):
        build_condition(first, mask, 3, "last")


def test_region_mask_latent_thresholds_and_keeps_tiny_regions():
    mask = torch.zeros(1, 1, 64, 64)
    mask[:, :, :32] = 1
    latent = region_mask_latent(mask, (8, 8))
    assert latent[0, 0, :4].all() and not latent[0, 0, 4:].any()
    tiny = torch.zeros(1, 1, 64, 64)
    tiny[:, :, 10, 10] = 1
    assert region_mask_latent(tiny, (8, 8)).sum() == 1
    assert region_mask_latent(torch.zeros(1, 1, 64, 64), (8, 8)).sum() == 0
