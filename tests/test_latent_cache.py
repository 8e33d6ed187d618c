import torch
from diffusers import AutoencoderKL

from fyc.data.latent_cache import vae_fingerprint


def tiny_vae():
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=[8, 8],
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=4,
    )


def test_fingerprint_follows_the_encoder_and_config_not_the_decoder():
    vae = tiny_vae()
    base = vae_fingerprint(vae)
    assert vae_fingerprint(tiny_vae()) == base
    with torch.no_grad():
        vae.decoder.conv_out.weight.add_(1.0)  # a decoder-only fine-tune keeps the latent space: cache still valid
    assert vae_fingerprint(vae) == base
    with torch.no_grad():
        vae.encoder.conv_out.weight.add_(1.0)
    assert vae_fingerprint(vae) != base
    other = tiny_vae()
    other.register_to_config(scaling_factor=0.5)
    assert vae_fingerprint(other) != base


def test_fingerprint_ignores_where_the_vae_was_loaded_from(tmp_path):
    # An exported pipeline's VAE is the same encoder as the one the cache was built with.
    vae = tiny_vae()
    for name in ("a", "b"):
        vae.save_pretrained(tmp_path / name)
    first, second = (AutoencoderKL.from_pretrained(tmp_path / name) for name in ("a", "b"))
    assert first.config._name_or_path != second.config._name_or_path
    assert vae_fingerprint(first) == vae_fingerprint(second) == vae_fingerprint(vae)
