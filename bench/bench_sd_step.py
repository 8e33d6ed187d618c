"""One denoising step of a full-size SD 1.5 + AnimateDiff v2 UNet (random weights) at 16x256² and 16x512².

    python bench/bench_sd_step.py [--sizes 256 512] [--frames 16] [--cfg] [--repeats 1] [--device cpu|cuda]

The UNet is built from SD 1.5's UNet config and AnimateDiff v2's motion-adapter config, written out below
(nothing is downloaded), and combined with diffusers' `UNetMotionModel.from_unet2d`: about 1.3 B
parameters. Weights are random; the time of a forward pass does not depend on their values. A step is
one UNet forward on a batch of one video (--cfg: a batch of two, as classifier-free guidance runs it).
Runs on CUDA when available, else on the CPU. Prints seconds per step per size, and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

# runwayml/stable-diffusion-v1-5, unet/config.json (the fields that shape the network)
SD15_UNET_CONFIG = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    center_input_sample=False,
    flip_sin_to_cos=True,
    freq_shift=0,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    downsample_padding=1,
    mid_block_scale_factor=1,
    act_fn="silu",
    norm_num_groups=32,
    norm_eps=1e-5,
    cross_attention_dim=768,
    attention_head_dim=8,
)
# guoyww/animatediff-motion-adapter-v1-5-2, config.json (AnimateDiff v2, mm_sd_v15_v2)
ANIMATEDIFF_V2_ADAPTER_CONFIG = dict(
    block_out_channels=(320, 640, 1280, 1280),
    motion_layers_per_block=2,
    motion_mid_block_layers_per_block=1,
    motion_num_attention_heads=8,
    motion_norm_num_groups=32,
    motion_max_seq_length=32,
    use_motion_mid_block=True,
    conv_in_channels=None,
)
VAE_SCALE = 8
TEXT_TOKENS = 77


def build_unet() -> UNetMotionModel:
    """SD 1.5 + AnimateDiff v2 dimensions, random weights, eval mode."""
    torch.manual_seed(0)
    unet2d = UNet2DConditionModel(**SD15_UNET_CONFIG)
    adapter = MotionAdapter(**ANIMATEDIFF_V2_ADAPTER_CONFIG)
    return UNetMotionModel.from_unet2d(unet2d, adapter).eval()


def step_seconds(unet, size: int, frames: int, batch: int, repeats: int, device: str, dtype) -> float:
    """Median seconds of one UNet forward on `batch` videos of `frames` frames at `size`² pixels."""
    latent = size // VAE_SCALE
    g = torch.Generator().manual_seed(0)
    sample = torch.randn(batch, 4, frames, latent, latent, generator=g).to(device, dtype)
    # UNetMotionModel wants the text embedding already repeated per frame: (B*F, L, D)
    text = torch.randn(batch * frames, TEXT_TOKENS, SD15_UNET_CONFIG["cross_attention_dim"], generator=g).to(
        device, dtype
    )
    timestep = torch.tensor([500] * batch, device=device)

    def forward():
        with torch.no_grad():
            unet(sample, timestep, encoder_hidden_states=text)
        if device == "cuda":
            torch.cuda.synchronize()

    if device == "cuda":
        forward()  # warm-up (kernel selection); on the CPU one pass is slow enough to time directly
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads of {os.cpu_count()} cores, torch {torch.__version__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="square frame sizes in px")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--cfg", action="store_true", help="batch of 2 (a classifier-free guidance step)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--fp16", action="store_true", help="half precision (CUDA only)")
    args = parser.parse_args()
    dtype = torch.float16 if args.fp16 and args.device == "cuda" else torch.float32

    start = time.perf_counter()
    unet = build_unet().to(args.device)
    if dtype != torch.float32:
        unet = unet.to(dtype=dtype)
    params = sum(p.numel() for p in unet.parameters())
    print(
        f"SD 1.5 + AnimateDiff v2 UNet (random weights): {params / 1e9:.2f} B parameters, "
        f"built in {time.perf_counter() - start:.1f} s"
    )
    print(f"device: {machine(args.device)}, {str(dtype).removeprefix('torch.')}")
    batch = 2 if args.cfg else 1
    for size in args.sizes:
        seconds = step_seconds(unet, size, args.frames, batch, args.repeats, args.device, dtype)
        print(f"one denoising step, {args.frames}x{size}x{size}, batch {batch}: {seconds:.2f} s", flush=True)
        if args.device == "cuda":
            print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
