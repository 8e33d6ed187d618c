"""The weight-free click segmenter: GrabCut on superpixels, seeded from the clicks, with the object's size
found by stability.

One click does not say how big the object is. GrabCut needs that as a prior (the area that may be
foreground), so we run it for a ladder of prior radii around the include clicks and keep the answer that
stays put while the radius grows: too small a prior gives a piece of the object that changes with the
radius, too large a prior leaks into the background, and the object itself is the first *plateau* of
the ladder. This is the same idea as SAM's stability score and MSER, applied to the prior's size.

The app redraws the mask on every click, so the work that depends on the image alone is done once, in
`set_image` (the fallback's "image embedding"), and kept for a few
images by content: SLIC superpixels with GrabCut's smoothness term summed over their borders
(`superpixel_graph`), and the colours binned with their sufficient statistics (`colour_model`). A click
then runs OpenCV GrabCut's energy and iterations (two 5-component colour mixtures, gamma 50, lambda 450,
certain discs around the clicks) restricted to labellings constant on each superpixel: ~1 500 graph
nodes instead of ~77 000 pixels on a 640x480 photo, fast enough to redraw on every click, with masks at
least as good as OpenCV's pixel GrabCut on the held-out scenes (docs/results/click_latency.md). A
pixel-level cut in a narrow band then puts the edge back on the pixels.

Exclude clicks act three ways: their disc is certain background, the prior is cut to the superpixels
nearer to an include click than to an exclude click, and a marker watershed inside the resulting mask
removes what is reached from an exclude click before an include click (which splits two touching objects
of the same colour, where colour alone cannot).

Everything runs at a fixed working size (long side ``work_size``) because GrabCut's smoothness term is
per pixel: the same photo at two resolutions would otherwise give different masks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sparse

from .colour_model import GaussianMixture, colour_bin_stats
from .superpixel_graph import GAMMA, SuperpixelGraph, cut_band

# Prior radii as fractions of the working image's diagonal, about x1.4 apart.
PRIOR_RADII = (0.03, 0.05, 0.07, 0.10, 0.14, 0.19, 0.25)
# Two masks whose IoU exceeds this are "the same answer" when looking for the plateau.
PLATEAU_IOU = 0.85
# Radius of the certain-foreground / certain-background disc around each click, as a fraction of the diagonal.
SEED_RADIUS = 0.015
# OpenCV GrabCut's cost of giving a certain pixel the other label.
LAMBDA = 9 * GAMMA


@dataclass
class PreparedImage:
    """What the clicks on one image need that depends on the image alone."""

    shape: tuple[int, int]  # (height, width) of the input image
    scale: float  # working size / input size
    graph: SuperpixelGraph  # superpixels of the working copy
    bin_of_pixel: np.ndarray  # int32 (h, w): colour bin of each working pixel
    bin_stats: np.ndarray  # (b, 10): see `colour_bin_stats`
    bin_means: np.ndarray  # (b, 3)
    histograms: sparse.csr_matrix  # (superpixels, bins): pixel counts
    smoothed_bgr: np.ndarray  # uint8 (h, w, 3), for the exclude watershed


class ClassicalSegmenter:
    """Click-seeded GrabCut on an RGB image; no weights.

    Args:
        work_size: long side, in pixels, of the working copy (masks are upsampled to the image size).
        iterations: GrabCut iterations per prior radius.
        superpixel_area: mean superpixel size, in working pixels (smaller: finer edges, slower clicks).
        colour_step: width of a colour bin, in 8-bit levels per channel.
        edge_band: half-width, in working pixels, of the band around the superpixel answer's edge
            where a pixel-level cut places the final edge; 0 keeps the superpixel edge.
        cache_size: how many images' preparation to keep (switching back to one of them is free).

    Attributes:
        embeddings_computed / cache_hits: how often `set_image` prepared an image / found it prepared.
    """

    def __init__(
        self,
        work_size: int = 320,
        iterations: int = 4,
        superpixel_area: float = 50.0,
        colour_step: int = 8,
        edge_band: int = 3,
        cache_size: int = 4,
    ):
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}.")
        self.work_size = work_size
        self.iterations = iterations
        self.superpixel_area = superpixel_area
        self.colour_step = colour_step
        self.edge_band = edge_band
        self.cache_size = cache_size
        self._cache: OrderedDict[str, PreparedImage] = OrderedDict()
        self._prepared: PreparedImage | None = None
        self.embeddings_computed = 0
        self.cache_hits = 0

    def set_image(self, rgb: np.ndarray, key: str | None = None) -> bool:
        """Prepare ``rgb`` (uint8, H x W x 3) for clicks.

        Args:
            key: the image's content hash (`fyc.segment.image_input.image_key`) for the cache; None
                prepares without caching.

        Returns:
            True when the image was prepared, False when it came from the cache.
        """
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            self._prepared = self._cache[key]
            self.cache_hits += 1
            return False
        self._prepared = self.prepare(rgb)
        self.embeddings_computed += 1
        if key is not None:
            self._cache[key] = self._prepared
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return True

    def prepare(self, rgb: np.ndarray) -> PreparedImage:
        """The per-image work: working copy, superpixel graph, colour bins."""
        height, width = rgb.shape[:2]
        scale = min(1.0, self.work_size / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            work = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        else:
            work = np.ascontiguousarray(rgb)
        graph = SuperpixelGraph(work, self.superpixel_area)
        bin_of_pixel, bin_stats = colour_bin_stats(work, self.colour_step)
        histograms = sparse.csr_matrix(
            (np.ones(bin_of_pixel.size), (graph.labels.ravel(), bin_of_pixel.ravel())),
            shape=(graph.count, len(bin_stats)),
        )
        histograms.sum_duplicates()
        return PreparedImage(
            shape=(height, width),
            scale=scale,
            graph=graph,
            bin_of_pixel=bin_of_pixel,
            bin_stats=bin_stats,
            bin_means=bin_stats[:, 1:4] / bin_stats[:, :1],
            histograms=histograms,
            smoothed_bgr=cv2.GaussianBlur(np.ascontiguousarray(work[..., ::-1]), (3, 3), 0),
        )

    def predict(self, points: Sequence[tuple[float, float, int]]) -> np.ndarray:
        """Mask (bool, image size) for validated clicks ``[(x, y, label), ...]``."""
        prepared = self._prepared
        if prepared is None:
            raise RuntimeError("Call set_image(image) before predict(points).")
        work_height, work_width = prepared.graph.labels.shape
        work_points = [
            (min(x * prepared.scale, work_width - 1), min(y * prepared.scale, work_height - 1), label)
            for x, y, label in points
        ]
        mask = _GrabCutLadder(prepared, work_points, self.iterations, self.edge_band).run()
        if any(label == 0 for _, _, label in work_points):
            mask = _split_off_excluded(prepared, mask, work_points)
        mask = _components_at(mask, [(x, y) for x, y, label in work_points if label == 1])
        height, width = prepared.shape
        if mask.shape != (height, width):
            # Linear upsampling of the 0/1 mask, thresholded at 0.5, gives smooth rather than blocky edges.
            mask = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5
        return mask


class _GrabCutLadder:
    """GrabCut for each prior radius of the ladder, on one image's superpixels, for one set of clicks."""

    def __init__(self, prepared: PreparedImage, points, iterations: int, edge_band: int):
        self.prepared, self.iterations, self.edge_band = prepared, iterations, edge_band
        graph = prepared.graph
        height, width = graph.labels.shape
        self.diagonal = float(np.hypot(height, width))
        include = [(x, y) for x, y, label in points if label == 1]
        exclude = [(x, y) for x, y, label in points if label == 0]
        self.include_nodes = sorted({int(graph.labels[int(y), int(x)]) for x, y in include})

        # Certain pixels: discs around the clicks (GrabCut's GC_FGD / GC_BGD); the rest is uncertain.
        seeds = np.zeros((height, width), np.uint8)
        radius = max(2, round(SEED_RADIUS * self.diagonal))
        for x, y, label in points:
            cv2.circle(seeds, (int(x), int(y)), radius, 1 if label else 2, -1)
        self.seeds = seeds
        seed_y, seed_x = np.nonzero(seeds)
        is_fg = seeds[seed_y, seed_x] == 1
        seed_nodes, seed_bins = graph.labels[seed_y, seed_x], prepared.bin_of_pixel[seed_y, seed_x]
        bins = len(prepared.bin_stats)
        seed_histograms = sparse.csr_matrix((np.ones(len(seed_y)), (seed_nodes, seed_bins)), shape=(graph.count, bins))
        self.uncertain = (prepared.histograms - seed_histograms).tocsr()
        self.uncertain_per_bin = np.asarray(self.uncertain.sum(axis=0)).ravel()
        self.certain_fg = np.bincount(seed_nodes[is_fg], minlength=graph.count)
        self.certain_bg = np.bincount(seed_nodes[~is_fg], minlength=graph.count)
        self.fg_seed_bins = np.bincount(seed_bins[is_fg], minlength=bins).astype(np.float64)
        self.bg_seed_bins = np.bincount(seed_bins[~is_fg], minlength=bins).astype(np.float64)

        cx, cy = graph.centroids[:, 0], graph.centroids[:, 1]
        self.to_include = np.min([np.hypot(cx - x, cy - y) for x, y in include], axis=0)
        to_exclude = np.min([np.hypot(cx - x, cy - y) for x, y in exclude], axis=0) if exclude else np.inf
        self.nearer_include = self.to_include < to_exclude

    def run(self) -> np.ndarray:
        """The mask (bool, working size) of the first plateau of the ladder."""
        graph = self.prepared.graph
        candidates: list[np.ndarray] = []
        costs: list[tuple[np.ndarray, np.ndarray] | None] = []
        plateau_start = plateau_end = None
        for radius in PRIOR_RADII:
            foreground, bin_costs = self._grabcut(radius)
            candidates.append(graph.components_at(foreground, self.include_nodes))
            costs.append(bin_costs)
            if len(candidates) >= 2:
                same = graph.iou(candidates[-2], candidates[-1]) > PLATEAU_IOU
                if same:
                    plateau_start = len(candidates) - 2 if plateau_start is None else plateau_start
                    plateau_end = len(candidates) - 1
                elif plateau_end is not None:
                    break  # the first plateau has ended: larger priors only leak
        if plateau_end is None:
            # No two radii agreed: the object is ambiguous at this click; the second radius is the
            # one most often right on its own (small, distinct objects).
            chosen = min(1, len(candidates) - 1)
        else:
            # The middle of the plateau: its first masks can still miss a part, its last ones have
            # started to leak (held-out scenes: docs/results/click_latency.md).
            chosen = (plateau_start + plateau_end + 1) // 2
        mask = candidates[chosen][graph.labels]
        if self.edge_band > 0 and costs[chosen] is not None and mask.any():
            mask = self._refine_edge(mask, *costs[chosen])
        return mask

    def _refine_edge(self, mask: np.ndarray, fg_bin_cost: np.ndarray, bg_bin_cost: np.ndarray) -> np.ndarray:
        """The pixel-level cut near the edge, with the colour models the chosen GrabCut ended with."""
        as_foreground = fg_bin_cost[self.prepared.bin_of_pixel]
        as_background = bg_bin_cost[self.prepared.bin_of_pixel]
        certain_fg, certain_bg = self.seeds == 1, self.seeds == 2
        as_background[certain_fg], as_foreground[certain_fg] = LAMBDA, 0.0
        as_background[certain_bg], as_foreground[certain_bg] = 0.0, LAMBDA
        return cut_band(mask, self.edge_band, as_background, as_foreground, self.prepared.graph.pixel_weights)

    def _grabcut(self, radius: float) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Foreground superpixels after GrabCut from the prior disc of ``radius`` (fraction of the diagonal),
        and the last colour models' costs (-log density) of each colour bin, foreground then background."""
        prepared = self.prepared
        foreground = (self.to_include < radius * self.diagonal) & self.nearer_include
        foreground[self.include_nodes] = True
        fg_counts, bg_counts = self._bin_counts(foreground)
        fg_model = GaussianMixture.from_kmeans(prepared.bin_stats, fg_counts)
        bg_model = GaussianMixture.from_kmeans(prepared.bin_stats, bg_counts)
        if fg_model is None or bg_model is None:
            return foreground, None  # the prior covers everything or nothing: no contrast to cut on
        fg_likelihoods = fg_model.component_likelihoods(prepared.bin_means)
        bg_likelihoods = bg_model.component_likelihoods(prepared.bin_means)
        for _ in range(self.iterations):
            fg_model = fg_model.refit(prepared.bin_stats, fg_counts, fg_likelihoods)
            bg_model = bg_model.refit(prepared.bin_stats, bg_counts, bg_likelihoods)
            fg_likelihoods = fg_model.component_likelihoods(prepared.bin_means)
            bg_likelihoods = bg_model.component_likelihoods(prepared.bin_means)
            # A superpixel labelled background pays -log p_bg for each uncertain pixel and LAMBDA for each
            # certain-foreground pixel; likewise for foreground.
            fg_cost = -fg_model.log_density(fg_likelihoods)
            bg_cost = -bg_model.log_density(bg_likelihoods)
            as_background = self.uncertain @ bg_cost + LAMBDA * self.certain_fg
            as_foreground = self.uncertain @ fg_cost + LAMBDA * self.certain_bg
            previous, foreground = foreground, prepared.graph.min_cut(as_background, as_foreground)
            if np.array_equal(previous, foreground):
                break  # converged: the next models would be learnt from the same pixels
            fg_counts, bg_counts = self._bin_counts(foreground)
        return foreground, ((fg_cost, bg_cost) if self.iterations > 0 else None)

    def _bin_counts(self, foreground: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels per colour bin on each side: the uncertain pixels of the labelled superpixels plus the seeds."""
        uncertain_fg = self.uncertain.T @ foreground.astype(np.float64)
        return (uncertain_fg + self.fg_seed_bins, self.uncertain_per_bin - uncertain_fg + self.bg_seed_bins)


def _split_off_excluded(prepared: PreparedImage, mask: np.ndarray, points) -> np.ndarray:
    height, width = mask.shape
    seed_radius = max(2, round(SEED_RADIUS * float(np.hypot(height, width))))
    markers = np.zeros((height, width), np.int32)
    reach = mask.astype(np.uint8)
    for x, y, label in points:
        cv2.circle(markers, (int(x), int(y)), seed_radius, 2 if label else 1, -1)
        if not label:  # the exclude disc is a hole in the mask; let its flood start from inside
            cv2.circle(reach, (int(x), int(y)), seed_radius + 2, 1, -1)
    # Outside the mask, paint a pixel checkerboard: the steepest possible gradient, so both floods
    # fill the mask's inside first and cannot go around it through the background.
    checkerboard = (np.indices((height, width)).sum(axis=0) % 2 * 255).astype(np.uint8)
    flood_image = np.where(reach.astype(bool)[..., None], prepared.smoothed_bgr, checkerboard[..., None])
    cv2.watershed(np.ascontiguousarray(flood_image, dtype=np.uint8), markers)
    return mask & (markers != 1)


def _components_at(mask: np.ndarray, points) -> np.ndarray:
    """The connected parts of ``mask`` that hold at least one of ``points``."""
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = {int(labels[int(y), int(x)]) for x, y in points} - {0}
    return np.isin(labels, list(keep)) if keep else np.zeros_like(mask, dtype=bool)
