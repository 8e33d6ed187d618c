"""A flow-based motion classifier: which motion of the vocabulary does a region perform in a video?

Used to measure prompt following (a confusion matrix of requested vs performed motion) without any
learned network, so it can run anywhere and its errors are easy to reason about.

How it works:

1. Optical flow between consecutive frames with `fyc.flow.optical_flow` (OpenCV DIS), scaled to the
   project's reference units (px/frame at a 256-px-wide video).
2. The region is tracked: at each pair an affine motion model u(p) = b + A (p - c) is fitted to the flow
   inside the region's current mask (least squares, one round of outlier rejection), and the mask is
   warped by that affine map to give the next frame's mask. So a region that travels across the frame
   is still measured where it is, not where it started.
3. Each pair's affine fit is read as speeds at the region's rim (r = radius of a disc of the region's
   area): translation b, expansion div(A)/2 * r, spin curl(A)/2 * r and horizontal shear dA_x/dy * r.
4. Rules on these time series name the motion (`classify_features`): too little motion is "still";
   spin that keeps its sign is a rotation; expansion that keeps its sign is a zoom, that alternates a
   pulse; a translation that keeps its direction is a move in that direction; an oscillating
   translation is a bounce when vertical, a sway when slow or bending (shear) and a shake otherwise.

Labels are the class names of `fyc.data.motion_vocab.MOTION_CLASS_NAMES` plus `STILL`.

The motion-field model's vocabulary (`vocabulary="field"`: `fyc.data.field_motions.FIELD_MOTION_CLASS_NAMES`
plus `STILL`) adds wave, ripple, nod, wag, bob and breathe, and its sway bends about the base. Its rules
(`classify_field_features`) read, besides the above, the integrated series (where the centroid, the scale and
the angle are relative to frame 0): a bob swings both ways about its rest position, a bounce only upwards; a
breathe only swells, a pulse swells and shrinks; nod and wag are rigid oscillating turns (the antisymmetric
part of A dominates its symmetric part) about a pivot at one side (the centroid swings vertically) or at the base
(it swings horizontally); sway and wave bend (one off-diagonal of A dominates: dA_x/dy for sway, dA_y/dx for
wave); ripple is what an affine model cannot explain (the fit's residual dominates). Where two classes are not
separable by flow the rules cannot name both: a small-amplitude ripple reads as still or bob, and a nod whose
pivot is near the centroid as a bob. Ripple at
the amplitude its generator caps (the surface never folds) moves < 0.3 reference px/frame and reads as still.
A flow is a steady translation inside a region that stays put: what sets it apart from a move is that nothing
changes just outside the region (`spill`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from fyc.data.field_motions import FIELD_MOTION_CLASS_NAMES, STREAM_MOTIONS
from fyc.data.motion_vocab import MOTION_CLASS_NAMES

STILL = "still"
LABELS: tuple[str, ...] = MOTION_CLASS_NAMES + (STILL,)
FIELD_LABELS: tuple[str, ...] = FIELD_MOTION_CLASS_NAMES + (STILL,)
VOCABULARIES = {"latent": LABELS, "field": FIELD_LABELS}

# Thresholds in reference px/frame (or ratios); calibrated on the train split of fyc.data.synthetic and
# checked on its held-out eval split (tests/test_prompt_following.py, experiments/demo_model_checks.py).
STILL_SPEED = 0.3  # coherent rim speed below which a region is still (synthetic motions start at 0.5)
CONSISTENT = 0.5  # |mean| / mean |.| above which a signed series "keeps its sign"
STRAIGHT = 0.6  # |net displacement| / path length above which a translation is a move
SWAY_MAX_SIGN_RATE = 0.35  # sign changes of b_x per pair below which an oscillation is slow (sway <= 0.29,
# shake >= 0.43 on the synthetic clips)
SWAY_SHEAR = 0.4  # shear / translation above which a horizontal oscillation bends (sway >= 0.58, shake <= 0.19)


@dataclass
class MotionFeatures:
    """Per-clip summary of the tracked region's motion (reference px/frame unless said otherwise).

    Attributes:
        speed: mean flow magnitude inside the tracked region.
        translation: mean |b| (the region's centroid speed).
        expansion: mean |div(A)/2 * r| (rim speed of growing or shrinking).
        spin: mean |curl(A)/2 * r| (rim speed of turning).
        shear: mean |dA_x/dy * r| (rim speed of horizontal bending).
        expansion_sign: mean(div) / mean|div| in [-1, 1]: +1 always growing, -1 always shrinking.
        spin_sign: mean(curl) / mean|curl| in [-1, 1]: +1 always clockwise on screen, -1 counterclockwise.
        straightness: |sum of b| / sum of |b| in [0, 1]: 1 for a straight constant-direction move.
        net_dx, net_dy: mean of b (x right, y down).
        x_energy, y_energy: mean |b_x|, mean |b_y|.
        x_sign_rate: sign changes of b_x per pair, counting only pairs where b_x is clearly non-zero.
        y_sign_rate: the same for b_y.
        pairs: how many frame pairs the region could be tracked over.
        x_bend, y_bend: mean |dA_x/dy * r|, mean |dA_y/dx * r| (rim speeds of bending along y and along x).
        rigid_spin, symmetric_shear: mean |(A_yx - A_xy)/2 * r|, mean |(A_yx + A_xy)/2 * r|: a turn has only the
            first, a bend both equally.
        residual: mean |flow - affine fit| in the region: motion an affine model cannot explain (ripples).
        y_balance: (max + min) / (max - min) of the centroid's height relative to frame 0 (y down): -1 only above
            its rest position, 0 as far below as above.
        expansion_balance: the same for the integrated expansion: +1 only larger than at frame 0.
        spill: mean |frame - frame 0| in a ring just outside the frame-0 region over the same inside it: near 0
            where the region stays put while its texture moves (a stream), large where the object leaves it.
    """

    speed: float
    translation: float
    expansion: float
    spin: float
    shear: float
    expansion_sign: float
    spin_sign: float
    straightness: float
    net_dx: float
    net_dy: float
    x_energy: float
    y_energy: float
    x_sign_rate: float
    y_sign_rate: float
    pairs: int
    x_bend: float = 0.0
    y_bend: float = 0.0
    rigid_spin: float = 0.0
    symmetric_shear: float = 0.0
    residual: float = 0.0
    y_balance: float = 0.0
    expansion_balance: float = 0.0
    spill: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Track:
    """Per-pair affine fits of the tracked region, in reference units."""

    b: np.ndarray  # (P, 2) centroid displacement
    a: np.ndarray  # (P, 2, 2) flow gradient (unitless per frame)
    radius: np.ndarray  # (P,) rim radius in reference px
    speed: np.ndarray  # (P,) mean flow magnitude in the mask
    mean_flow: np.ndarray  # (P, 2) mean flow in the mask
    residual: np.ndarray  # (P,) mean |flow - affine fit| in the mask, reference px


def _fit_affine(flow: np.ndarray, mask: np.ndarray):
    """Least-squares affine flow model inside `mask`: (b at the centroid, A, centroid) or None."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 6:
        return None
    c = np.array([xs.mean(), ys.mean()])
    design = np.stack([np.ones_like(xs, dtype=np.float64), xs - c[0], ys - c[1]], axis=1)
    target = flow[ys, xs].astype(np.float64)
    keep = np.ones(len(xs), dtype=bool)
    for _ in range(2):  # fit, drop the worst residuals (flow smeared across the rim), refit
        coef, *_ = np.linalg.lstsq(design[keep], target[keep], rcond=None)
        residual = np.linalg.norm(design @ coef - target, axis=1)
        cut = max(3.0 * float(np.median(residual[keep])), 0.05)
        new_keep = residual <= cut
        if new_keep.sum() < 6 or (new_keep == keep).all():
            break
        keep = new_keep
    b = coef[0]
    a = coef[1:].T  # a[i, j] = d flow_i / d x_j
    return b, a, c, float(np.linalg.norm(design @ coef - target, axis=1).mean())


def _track(flow: np.ndarray, mask: np.ndarray) -> _Track:
    """Track `mask` through `flow` (P, H, W, 2) with per-pair affine fits (see the module docstring)."""
    from fyc.flow import REFERENCE_WIDTH

    height, width = mask.shape
    to_ref = REFERENCE_WIDTH / width
    erode = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    current = mask.astype(np.uint8)
    rows = []
    for pair in flow:
        core = cv2.erode(current, erode) > 0  # the rim's flow mixes region and background
        if core.sum() < 6:
            core = current > 0
        fit = _fit_affine(pair, core)
        if fit is None:
            break
        b, a, c, residual = fit
        area = float(current.sum())
        magnitude = np.linalg.norm(pair[core], axis=1)
        rows.append(
            (
                b * to_ref,
                a,
                np.sqrt(area / np.pi) * to_ref,
                magnitude.mean() * to_ref,
                pair[core].mean(axis=0) * to_ref,
                residual * to_ref,
            )
        )
        # the next mask: this one moved by x -> x + b + A (x - c)
        linear = np.eye(2) + a
        matrix = np.hstack([linear, (c + b - linear @ c)[:, None]])
        current = (
            cv2.warpAffine(current.astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR) >= 0.5
        ).astype(np.uint8)
    if not rows:
        zero = np.zeros((0,))
        return _Track(np.zeros((0, 2)), np.zeros((0, 2, 2)), zero, zero, np.zeros((0, 2)), zero)
    b, a, radius, speed, mean, residual = zip(*rows)
    return _Track(np.array(b), np.array(a), np.array(radius), np.array(speed), np.array(mean), np.array(residual))


def _sign_consistency(values: np.ndarray) -> float:
    total = float(np.abs(values).sum())
    return float(values.sum()) / total if total > 0 else 0.0


def _sign_rate(values: np.ndarray, floor: float) -> float:
    """Sign changes per pair of a series, ignoring samples within `floor` of zero."""
    clear = values[np.abs(values) > floor]
    if len(values) < 2:
        return 0.0
    return float(np.count_nonzero(np.diff(np.sign(clear)) != 0)) / (len(values) - 1)


def _balance(steps: np.ndarray) -> float:
    """(max + min) / (max - min) of a series integrated from 0 (its value at frame 0 included)."""
    position = np.concatenate([[0.0], np.cumsum(steps)])
    span = float(position.max() - position.min())
    return float(position.max() + position.min()) / span if span > 0 else 0.0


def _flow(video, method: str = "dis") -> np.ndarray:
    from fyc.flow import optical_flow

    return optical_flow(video, method=method)


def _check(video, mask) -> tuple[np.ndarray, np.ndarray]:
    from fyc.eval.metrics import as_uint8_video

    video = as_uint8_video(video)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != video.shape[1:3]:
        raise ValueError(
            f"The region mask is {mask.shape} but the video's frames are {video.shape[1:3]}; resize the mask "
            "to the video (fyc.eval.metrics.resize_mask) first."
        )
    if not mask.any():
        raise ValueError("The region mask is empty; give the frame-0 mask of the region to classify.")
    return video, mask


def _spill(video: np.ndarray, mask: np.ndarray) -> float:
    """Change outside the region's frame-0 mask over the change inside it (`MotionFeatures.spill`)."""
    radius = np.sqrt(mask.sum() / np.pi)
    near = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0  # soft edge
    size = 2 * int(max(3, 0.3 * radius)) + 5
    ring = (cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))) > 0) & ~near
    change = np.abs(video[1:].astype(np.float32) - video[:1].astype(np.float32)).mean(axis=(0, 3))
    inside = float(change[mask].mean())
    return float(change[ring].mean()) / inside if ring.any() and inside > 0 else 0.0


def motion_features(video, mask, method: str = "dis") -> MotionFeatures:
    """`MotionFeatures` of the region `mask` (bool H x W at frame 0) in `video` (uint8 (T, H, W, 3))."""
    video, mask = _check(video, mask)
    track = _track(_flow(video, method), mask)
    if len(track.b) == 0:
        return MotionFeatures(*([0.0] * 14), pairs=0)
    b, a, r = track.b, track.a, track.radius
    div = (a[:, 0, 0] + a[:, 1, 1]) / 2 * r
    curl = (a[:, 1, 0] - a[:, 0, 1]) / 2 * r
    shear = a[:, 0, 1] * r
    path = float(np.linalg.norm(b, axis=1).sum())
    floor = max(0.1, 0.2 * float(np.abs(b).mean()))
    return MotionFeatures(
        speed=float(track.speed.mean()),
        translation=float(np.linalg.norm(b, axis=1).mean()),
        expansion=float(np.abs(div).mean()),
        spin=float(np.abs(curl).mean()),
        shear=float(np.abs(shear).mean()),
        expansion_sign=_sign_consistency(div),
        spin_sign=_sign_consistency(curl),
        straightness=float(np.linalg.norm(b.sum(axis=0))) / path if path > 0 else 0.0,
        net_dx=float(b[:, 0].mean()),
        net_dy=float(b[:, 1].mean()),
        x_energy=float(np.abs(b[:, 0]).mean()),
        y_energy=float(np.abs(b[:, 1]).mean()),
        x_sign_rate=_sign_rate(b[:, 0], floor),
        y_sign_rate=_sign_rate(b[:, 1], floor),
        pairs=len(b),
        x_bend=float(np.abs(a[:, 0, 1] * r).mean()),
        y_bend=float(np.abs(a[:, 1, 0] * r).mean()),
        rigid_spin=float(np.abs(curl).mean()),
        symmetric_shear=float(np.abs((a[:, 1, 0] + a[:, 0, 1]) / 2 * r).mean()),
        residual=float(track.residual.mean()),
        y_balance=_balance(b[:, 1]),
        expansion_balance=_balance(div),
        spill=_spill(video, mask),
    )


def classify_features(f: MotionFeatures) -> str:
    """The motion class (or `STILL`) that `MotionFeatures` describe (rules in the module docstring)."""
    # the affine components, not the raw flow magnitude: they average out the estimator's noise, which
    # on a flat, noisy region reads as 0.4 px/frame of "motion"
    if f.pairs == 0 or max(f.translation, f.expansion, f.spin) < STILL_SPEED:
        return STILL
    if f.spin > max(f.translation, f.expansion) and abs(f.spin_sign) >= CONSISTENT:
        return "rotate_clockwise" if f.spin_sign > 0 else "rotate_counterclockwise"
    if f.expansion > f.translation and f.expansion >= f.spin:
        if abs(f.expansion_sign) >= CONSISTENT:
            return "zoom_in" if f.expansion_sign > 0 else "zoom_out"
        return "pulse"
    if f.straightness >= STRAIGHT:
        if abs(f.net_dx) >= abs(f.net_dy):
            return "move_right" if f.net_dx > 0 else "move_left"
        return "move_down" if f.net_dy > 0 else "move_up"
    if f.y_energy > f.x_energy:
        return "bounce"
    if f.x_sign_rate < SWAY_MAX_SIGN_RATE or f.shear > SWAY_SHEAR * f.translation:
        return "sway"
    return "shake"


# Ratios of the field vocabulary's rules; set on rendered ground-truth clips of fyc.data.field_clips' train split
# and checked on its eval split (bench/motion_model_checks.py --classifier, docs/results/motion_checks.md).
RIPPLE_RESIDUAL = 1.0  # residual / largest affine component above which the motion is not affine (ripple)
RIGID = 2.0  # rigid spin / symmetric shear above which an oscillating turn is rigid (nod, wag), not a bend
BOB_BALANCE = -0.6  # a vertical oscillation whose y_balance is above this swings both ways (bob, not bounce)
STREAM_SPILL = 0.05  # a steady translation whose spill is below this stays in its region: a flow, not a move
BREATHE_BALANCE = 0.6  # an oscillating expansion whose balance is above this only swells (breathe, not pulse)


def classify_field_features(f: MotionFeatures) -> str:
    """The class of the motion-field vocabulary (or `STILL`) that `MotionFeatures` describe (module docstring)."""
    affine = max(f.translation, f.expansion, f.spin)
    if f.pairs == 0 or max(affine, f.residual) < STILL_SPEED:
        return STILL
    if f.residual > RIPPLE_RESIDUAL * affine and max(f.x_bend, f.y_bend) < f.residual:  # a wave's bend is larger
        return "ripple"
    # before the turns and zooms: a fast stream's tracked mask drifts off its region and reads as shrinking
    if f.spill < STREAM_SPILL and f.straightness >= STRAIGHT and f.translation > f.expansion:
        return "flow"
    if f.spin > max(f.translation, f.expansion) and abs(f.spin_sign) >= CONSISTENT:
        return "rotate_clockwise" if f.spin_sign > 0 else "rotate_counterclockwise"
    if f.expansion > 0.5 * f.translation and f.expansion >= f.spin:
        if abs(f.expansion_sign) >= CONSISTENT:
            return "zoom_in" if f.expansion_sign > 0 else "zoom_out"
        return "breathe" if f.expansion_balance > BREATHE_BALANCE else "pulse"
    if f.straightness >= STRAIGHT:
        if abs(f.net_dx) >= abs(f.net_dy):
            return "move_right" if f.net_dx > 0 else "move_left"
        return "move_down" if f.net_dy > 0 else "move_up"
    if f.rigid_spin > RIGID * f.symmetric_shear and f.spin > 0.5 * f.translation:
        return "nod" if f.y_energy > f.x_energy else "wag"
    if max(f.x_bend, f.y_bend) > SWAY_SHEAR * f.translation:
        return "sway" if f.x_bend > f.y_bend else "wave"
    if f.y_energy > f.x_energy:
        return "bob" if f.y_balance > BOB_BALANCE else "bounce"
    if f.x_sign_rate < SWAY_MAX_SIGN_RATE:
        return "sway"
    return "shake"


def classify_motion(video, mask, method: str = "dis", vocabulary: str = "latent") -> str:
    """The motion class that the region performs, or "still".

    Args:
        video: uint8 (T, H, W, 3) RGB (floats in [0, 1] accepted), T >= 2.
        mask: bool (H, W), the region in frame 0.
        method: optical-flow estimator of `fyc.flow.optical_flow` ("dis" by default).
        vocabulary: "latent" (the 12 classes of `fyc.data.motion_vocab`, `LABELS`) or "field" (the motion-field
            model's 19, `FIELD_LABELS`).
    """
    if vocabulary not in VOCABULARIES:
        raise ValueError(f"vocabulary must be one of {', '.join(VOCABULARIES)}, got {vocabulary!r}")
    features = motion_features(video, mask, method)
    return classify_features(features) if vocabulary == "latent" else classify_field_features(features)


def horizontal_direction(video, mask, method: str = "dis") -> float:
    """Signed mean horizontal flow inside the (tracked) region, reference px/frame: < 0 left, > 0 right.

    The mean over every frame pair of the mean x-flow inside the region's mask, the mask following the
    region as in `motion_features`; 0 when the region does not move.
    """
    video, mask = _check(video, mask)
    track = _track(_flow(video, method), mask)
    return float(track.mean_flow[:, 0].mean()) if len(track.mean_flow) else 0.0


def confusion_matrix(true_labels, predicted_labels, classes=LABELS) -> np.ndarray:
    """Counts (len(classes), len(classes)) int: row = true label, column = predicted label.

    Every label must be one of `classes` (default: the vocabulary's classes plus "still").
    """
    true_labels, predicted_labels, classes = list(true_labels), list(predicted_labels), list(classes)
    if len(true_labels) != len(predicted_labels):
        raise ValueError(f"{len(true_labels)} true labels but {len(predicted_labels)} predictions; pair them up.")
    index = {name: i for i, name in enumerate(classes)}
    if len(index) != len(classes):
        raise ValueError(f"classes has repeated names: {classes}.")
    unknown = sorted({str(x) for x in true_labels + predicted_labels if x not in index})
    if unknown:
        raise ValueError(f"Labels {unknown} are not in classes {classes}; add them to classes.")
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(true_labels, predicted_labels):
        matrix[index[t], index[p]] += 1
    return matrix


def per_class_accuracy(matrix: np.ndarray, classes=LABELS) -> dict:
    """{class: recall (diagonal / row sum) or None for a class with no true items}."""
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1)
    return {name: (float(matrix[i, i] / rows[i]) if rows[i] else None) for i, name in enumerate(classes)}


def validate_on_generator(
    clips_per_class: int = 40,
    split: str = "eval",
    size: int = 128,
    num_frames: int = 16,
    seed: int = 0,
    noise: bool = False,
    method: str = "dis",
) -> dict:
    """The classifier's accuracy on clips of `fyc.data.synthetic` (its ceiling: the clips do exactly what
    their class says). `split="eval"` uses the held-out photographs.

    Returns {"clips", "accuracy", "per_class": {class: accuracy}, "labels", "confusion": list of rows}.
    """
    from fyc.data.synthetic import generate_clip

    true, predicted = [], []
    for k, name in enumerate(MOTION_CLASS_NAMES):
        for i in range(clips_per_class):
            clip = generate_clip(
                seed * 1_000_003 + 1000 * k + i,
                split,
                size,
                num_frames,
                motion_class=name,
                noise=noise,
                compute_labels=False,
            )
            true.append(name)
            predicted.append(classify_motion(clip.frames, clip.region_mask, method))
    matrix = confusion_matrix(true, predicted)
    per_class = per_class_accuracy(matrix)
    return {
        "clips": len(true),
        "accuracy": float(np.trace(matrix) / max(len(true), 1)),
        "per_class": {name: per_class[name] for name in MOTION_CLASS_NAMES},
        "labels": list(LABELS),
        "confusion": matrix.tolist(),
    }


def validate_on_field_clips(
    clips_per_class: int = 10,
    split: str = "eval",
    num_frames: int = 16,
    seed: int = 0,
    speed: float | None = 4.0,
    size: int = 128,
    method: str = "dis",
) -> dict:
    """The field-vocabulary classifier's accuracy on the exact fields of `fyc.data.field_clips` clips rendered by
    `fyc.render.render_video` (the ceiling of a motion-field model's score). Returns the keys of
    `validate_on_generator`, labels `FIELD_LABELS`."""
    from fyc.data.field_clips import generate_field_clip
    from fyc.render import render_video

    true, predicted = [], []
    for k, name in enumerate(FIELD_MOTION_CLASS_NAMES):
        for i in range(clips_per_class):
            clip = generate_field_clip(
                seed * 1_000_003 + 1000 * k + i, split, num_frames, motion_class=name, speed=speed, size=size
            )
            modes = ["stream" if name in STREAM_MOTIONS else "layer"] + ["layer"] * (len(clip.region_masks) - 1)
            video = render_video(clip.photo, clip.fields, list(clip.region_masks), region_modes=modes)
            true.append(name)
            predicted.append(classify_motion(video, clip.region_masks[0], method, vocabulary="field"))
    matrix = confusion_matrix(true, predicted, FIELD_LABELS)
    per_class = per_class_accuracy(matrix, FIELD_LABELS)
    return {
        "clips": len(true),
        "accuracy": float(np.trace(matrix) / max(len(true), 1)),
        "per_class": {name: per_class[name] for name in FIELD_MOTION_CLASS_NAMES},
        "labels": list(FIELD_LABELS),
        "confusion": matrix.tolist(),
    }
