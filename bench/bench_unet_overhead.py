"""FYC UNet forward time vs stock diffusers `UNetMotionModel` at identical dimensions.

    python bench/bench_unet_overhead.py [--size small|sd15] [--frames 16] [--latent 32] [--repeats 5]

Target: the FYC forward costs at most 1.15x the stock one. Weights are random: time does not
depend on their values. "sd15" builds SD 1.5 + AnimateDiff v2 dimensions (about 1.3 B parameters; slow on CPU).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

from fyc.models import FYCUNetMotionModel

SIZES = {
    "small": dict(
        block_out_channels=(64, 128, 256, 256), cross_attention_dim=384, attention_head_dim=8, norm_num_groups=32
    ),
    "sd15": dict(
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32
    ),
}


def build(size: str):
    dims = SIZES[size]
    torch.manual_seed(0)
    unet2d = UNet2DConditionModel(
        block_out_channels=dims["block_out_channels"],
        layers_per_block=2,
        cross_attention_dim=dims["cross_attention_dim"],
        attention_head_dim=dims["attention_head_dim"],
        norm_num_groups=dims["norm_num_groups"],
        sample_size=64,
    )
    adapter = MotionAdapter(
        block_out_channels=dims["block_out_channels"],
        motion_layers_per_block=2,
        motion_norm_num_groups=dims["norm_num_groups"],
    )
    stock = UNetMotionModel.from_unet2d(unet2d, adapter).eval()
    fyc = FYCUNetMotionModel.from_unet2d(unet2d, adapter).eval()
    return stock, fyc, dims["cross_attention_dim"]


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    stock, fyc, text_dim = build(args.size)
    stock, fyc = stock.to(device), fyc.to(device)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, args.frames, args.latent, args.latent, generator=g).to(device)
    condition = torch.randn(1, 5, args.frames, args.latent, args.latent, generator=g).to(device)
    text = torch.randn(1, 77, text_dim, generator=g).to(device)
    ofm = torch.tensor([6.0], device=device)
    with torch.no_grad():
        t_stock = median_seconds(lambda: stock(latents, 500, text.repeat_interleave(args.frames, 0)), args.repeats)
        t_fyc = median_seconds(lambda: fyc(torch.cat([latents, condition], 1), 500, text, ofm=ofm), args.repeats)
    ratio = t_fyc / t_stock
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, device {device}")
    print(
        f"size {args.size}, {args.frames} frames, latent {args.latent}x{args.latent}, batch 1, median of {args.repeats}"
    )
    print(f"stock UNetMotionModel forward: {t_stock:.3f} s")
    print(f"FYCUNetMotionModel forward:    {t_fyc:.3f} s")
    print(f"overhead ratio: {ratio:.3f} (target <= 1.15: {'met' if ratio <= 1.15 else 'NOT met'})")


if __name__ == "__main__":
    main()
