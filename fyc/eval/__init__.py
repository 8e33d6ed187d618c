"""Evaluation: the paper's metrics and regional ones, the benchmark sets, and `python -m fyc eval`.

- `metrics`: first-frame MSE/PSNR, region motion and leakage, OFM Spearman (no weights needed)
- `clip_metrics`: temporal consistency and text alignment (CLIP from a path or the hub)
- `fvd`: Fréchet distance on I3D (TorchScript) or S3D (torchvision state dict) video features
- `perceptual`: PIC, an LPIPS-like distance on a torchvision AlexNet/VGG16 from a path
- `benchmark`: benchmark sets (shipped photos, held-out synthetic clips, user folders)
- `evaluate`: runs a pipeline over a set; `report`: Markdown + plots; `cli`: the command
"""
