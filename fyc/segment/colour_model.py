"""GrabCut's colour model (a 5-component Gaussian mixture) learnt from binned colours.

OpenCV's GrabCut fits its two mixtures to every pixel on every iteration. The weight-free segmenter
bins the colours once per image and keeps each bin's count, sum and sum of products, so learning a
mixture needs one pass over the ~2 000 bins rather than the ~77 000 pixels, and gives the same means and
covariances as the pixels would (all pixels of a bin go to the same component, and the density is
evaluated at the bin's mean colour).
"""

from __future__ import annotations

import numpy as np

COMPONENTS = 5
KMEANS_STEPS = 10
PLUS_PLUS_TRIALS = 3


class GaussianMixture:
    """Weights (k,), means (k, 3) and covariances (k, 3, 3) of a colour mixture."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray):
        self.weights, self.means, self.covariances = weights, means, covariances

    @classmethod
    def from_kmeans(cls, bin_stats: np.ndarray, counts: np.ndarray, seed: int = 0) -> GaussianMixture | None:
        """GrabCut's initialisation: k-means++ and 10 Lloyd steps on the colours, then one fit.

        Args:
            bin_stats: (b, 10) per colour bin: pixel count, colour sums (3), sums of products
                (rr, rg, rb, gg, gb, bb), as `colour_bin_stats` returns.
            counts: (b,) how many of each bin's pixels belong to this model (bins may be split between
                foreground and background).
            seed: the k-means++ draws are seeded so that the same clicks give the same mask.

        Returns:
            The mixture, or None when ``counts`` holds no pixel.
        """
        used = np.flatnonzero(counts > 0.5)
        if len(used) == 0:
            return None
        points = bin_stats[used, 1:4] / bin_stats[used, :1]
        weights = counts[used]
        rng = np.random.default_rng(seed)
        k = min(COMPONENTS, len(used))
        centres = np.empty((k, 3))
        centres[0] = points[rng.choice(len(used), p=weights / weights.sum())]
        distance = _squared_distances(points, centres[:1])[:, 0]
        found = 1
        while found < k:
            score = weights * distance
            if score.sum() <= 0:
                break  # fewer distinct colours than components
            # Greedy k-means++ as OpenCV's: of a few drawn candidates, keep the one that lowers the
            # potential most. Plain k-means++ gives visibly less stable GrabCut starts.
            candidates = rng.choice(len(used), size=PLUS_PLUS_TRIALS, p=score / score.sum())
            options = np.minimum(distance[:, None], _squared_distances(points, points[candidates]))
            best = int(np.argmin(weights @ options))
            centres[found] = points[candidates[best]]
            distance = options[:, best]
            found += 1
        centres = centres[:found]
        for _ in range(KMEANS_STEPS):
            assignment = np.argmin(_squared_distances(points, centres), axis=1)
            mass = np.bincount(assignment, weights, found)
            sums = np.stack([np.bincount(assignment, weights * points[:, c], found) for c in range(3)], 1)
            moved = mass > 0
            centres[moved] = sums[moved] / mass[moved, None]
        assignment = np.argmin(_squared_distances(points, centres), axis=1)
        return cls._learn(bin_stats[used], counts[used] / bin_stats[used, 0], assignment, found)

    def refit(self, bin_stats: np.ndarray, counts: np.ndarray, likelihoods: np.ndarray) -> GaussianMixture:
        """GrabCut's iteration step: each colour goes to its most likely component, then the mixture is relearnt.

        Args:
            bin_stats, counts: as for `from_kmeans`.
            likelihoods: this mixture's `component_likelihoods` of every bin's mean colour.
        """
        used = np.flatnonzero(counts > 0.5)
        if len(used) == 0:
            return self
        assignment = np.argmax(likelihoods[used], axis=1)
        return self._learn(bin_stats[used], counts[used] / bin_stats[used, 0], assignment, len(self.weights))

    @classmethod
    def _learn(cls, stats: np.ndarray, share: np.ndarray, assignment: np.ndarray, k: int) -> GaussianMixture:
        sums = np.zeros((k, 10))
        np.add.at(sums, assignment, stats * share[:, None])
        count = sums[:, 0]
        safe = np.maximum(count, 1e-12)[:, None]
        means = sums[:, 1:4] / safe
        rr, rg, rb, gg, gb, bb = (sums[:, 4:10] / safe).T
        m = means
        covariances = np.empty((k, 3, 3))
        covariances[:, 0, 0] = rr - m[:, 0] * m[:, 0]
        covariances[:, 0, 1] = covariances[:, 1, 0] = rg - m[:, 0] * m[:, 1]
        covariances[:, 0, 2] = covariances[:, 2, 0] = rb - m[:, 0] * m[:, 2]
        covariances[:, 1, 1] = gg - m[:, 1] * m[:, 1]
        covariances[:, 1, 2] = covariances[:, 2, 1] = gb - m[:, 1] * m[:, 2]
        covariances[:, 2, 2] = bb - m[:, 2] * m[:, 2]
        # As OpenCV: a singular covariance (one flat colour) gets a little variance on its diagonal.
        singular = np.linalg.det(covariances) <= np.finfo(float).eps
        covariances[singular] += 0.01 * np.eye(3)
        return cls(count / count.sum(), means, covariances)

    def component_likelihoods(self, colours: np.ndarray) -> np.ndarray:
        """(N, k) Gaussian densities of ``colours`` (N, 3) without the (2 pi)^-3/2, as OpenCV's GrabCut;
        0 for an empty component."""
        out = np.zeros((len(colours), len(self.weights)))
        live = np.flatnonzero(self.weights > 0)
        inverses = np.linalg.inv(self.covariances[live])
        scales = 1.0 / np.sqrt(np.linalg.det(self.covariances[live]))
        for component, inverse, scale in zip(live, inverses, scales):
            diff = colours - self.means[component]
            mahalanobis = ((diff @ inverse) * diff).sum(axis=1)
            out[:, component] = scale * np.exp(-0.5 * mahalanobis)
        return out

    def log_density(self, likelihoods: np.ndarray) -> np.ndarray:
        """log of the mixture's density, from its `component_likelihoods`; floored far below any real colour."""
        return np.log(np.maximum(likelihoods @ self.weights, 1e-300))


def colour_bin_stats(rgb: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin the colours of ``rgb`` (uint8, H x W x 3) into cubes ``step`` levels wide.

    Returns:
        ``bin_of_pixel`` (int32, H x W), the bin of each pixel, numbered over the bins that occur; and
        ``bin_stats`` (b, 10) per bin: pixel count, sums of r, g, b, sums of rr, rg, rb, gg, gb, bb.
    """
    height, width = rgb.shape[:2]
    flat = rgb.reshape(-1, 3)
    levels = 256 // step + 1
    quantised = (flat // step).astype(np.int64)
    codes = (quantised[:, 0] * levels + quantised[:, 1]) * levels + quantised[:, 2]
    _, bin_of_pixel = np.unique(codes, return_inverse=True)
    bin_of_pixel = bin_of_pixel.ravel()
    bins = int(bin_of_pixel.max()) + 1
    r, g, b = flat.astype(np.float64).T
    values = (np.ones_like(r), r, g, b, r * r, r * g, r * b, g * g, g * b, b * b)
    stats = np.stack([np.bincount(bin_of_pixel, value, bins) for value in values], axis=1)
    return bin_of_pixel.reshape(height, width).astype(np.int32), stats


def _squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    squared = (points * points).sum(1)[:, None] - 2 * points @ centres.T + (centres * centres).sum(1)[None]
    return np.maximum(squared, 0.0)  # the expansion can dip below zero by rounding
