"""How well can a ×8 latent with C channels reconstruct the held-out photos at 128 px? A linear bound.

PCA of the 8 × 8 RGB patches of the "train" photographs (fyc.data.synthetic), then the held-out ("eval")
photographs at a 128-px short side projected on the first C components: the PSNR a linear, patch-wise
autoencoder with C latent channels reaches. A trained AutoencoderKL with C channels should do at least this
well; it is how the demo VAE's latent width was chosen (weights/demo/vae/README.md).

    python experiments/vae_pca_bound.py [--channels 4 8 16 32]
"""

import argparse

import numpy as np
from PIL import Image

from fyc.data.synthetic import load_photo, photo_names
from fyc.train_vae import working_size

PATCH = 8


def at_short_side(photo: np.ndarray, short_side: int = 128) -> np.ndarray:
    h, w = working_size(*photo.shape[:2], short_side)
    return np.asarray(Image.fromarray(photo).resize((w, h), Image.LANCZOS), dtype=np.float64) / 255.0


def patches(image: np.ndarray) -> np.ndarray:
    h, w, _ = image.shape
    h, w = h // PATCH * PATCH, w // PATCH * PATCH
    return (
        image[:h, :w]
        .reshape(h // PATCH, PATCH, w // PATCH, PATCH, 3)
        .transpose(0, 2, 1, 3, 4)
        .reshape(-1, PATCH * PATCH * 3)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[4, 8, 16, 32])
    args = parser.parse_args()
    train = np.concatenate([patches(at_short_side(load_photo(n))) for n in photo_names("train")])
    mean = train.mean(0)
    _, _, components = np.linalg.svd(train - mean, full_matrices=False)
    print("PSNR (dB) of the held-out photos at 128 px, linear patch autoencoder with C channels")
    print("photo".ljust(14) + "".join(f"C={c}".rjust(8) for c in args.channels))
    table = {}
    for name in photo_names("eval"):
        x = patches(at_short_side(load_photo(name)))
        row = []
        for c in args.channels:
            basis = components[:c]
            recon = np.clip((x - mean) @ basis.T @ basis + mean, 0, 1)
            row.append(10 * np.log10(1 / ((recon - x) ** 2).mean()))
        table[name] = row
        print(name.ljust(14) + "".join(f"{v:8.2f}" for v in row))
    print("mean".ljust(14) + "".join(f"{v:8.2f}" for v in np.mean(list(table.values()), axis=0)))


if __name__ == "__main__":
    main()
