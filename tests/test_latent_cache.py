import torch
from diffusers import AutoencoderKL

from fyc.data.latent_cache import vae_fingerprint


def tiny_vae():
    torch.manual_seed(0)
    return AutoencoderKL(block_out_channels=[8, 8], down_block_types=["DownEncoderBlock2D"] * 2,
                         up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, norm_num_groups=4)


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
