"""The motion-field model's vocabulary and how each motion displaces the points of a region.

The twelve classes of `fyc.data.motion_vocab` plus the non-rigid and in-place motions people animate in
photographs: wave (a flag), ripple (water), nod and wag (rotation about a pivot at one end), bob (float in
place), breathe (a slow swell about the base), flow (texture streaming through a region that stays put: water,
clouds, smoke; its field is a steady translation, the direction its wording names, down when it names none, and
the renderer streams the region's texture instead of moving the region, `fyc.render` "stream" mode). `sway` here bends about the region's base (the top moves most,
the base stays), where the latent model's generator shears it.

Every motion is a displacement of a region's points, relative to frame 0, as a function of the frame index;
periodic motions complete whole periods over the clip (period = F / n), so frame F would be frame 0 again and
the video loops without a seam. Amplitudes are calibrated so that the region's points move a chosen mean speed
(`calibrate`), the OFM unit of `fyc.flow`.
"""

from __future__ import annotations

import numpy as np

from .motion_vocab import MOTION_CLASSES, MotionClass, motion_class
from .synthetic import max_amplitude as synthetic_max_amplitude

# A table: name, canonical prompt, training paraphrases (after the canonical one), held-out paraphrases, kind.
# fmt: off
FIELD_ONLY_CLASSES = [
    # pulse as the latent model learned it, less the words that name another motion here (breathe, swell)
    motion_class("pulse", "pulse",
                 ["pulsate", "throb", "beat like a heart", "pulse in and out", "pulse rhythmically"],
                 ["throb gently", "expand and contract", "beat"], "in_place"),
    motion_class("wave", "wave",
                 ["wave in the wind", "flutter", "flap", "billow", "wave like a flag", "flap in the breeze"],
                 ["ripple like a flag", "stream in the wind", "undulate"], "in_place"),
    motion_class("ripple", "ripple",
                 ["ripple gently", "make ripples", "shimmer", "ripple like water", "form ripples"],
                 ["lap gently", "wrinkle like water", "ruffle"], "in_place"),
    motion_class("nod", "nod",
                 ["nod the head", "nod up and down", "nod yes", "nod gently", "tilt the head up and down"],
                 ["give a nod", "nod slowly", "tip up and down"], "in_place"),
    motion_class("wag", "wag",
                 ["wag the tail", "wag side to side", "swish", "wag quickly", "wiggle side to side"],
                 ["swish the tail", "flick side to side", "waggle"], "in_place"),
    motion_class("bob", "bob",
                 ["bob in place", "bob gently", "hover up and down", "bob on the water", "bob up and down"],
                 ["bob slowly", "float gently", "hover gently"], "in_place"),
    motion_class("breathe", "breathe",
                 ["breathe slowly", "breathe deeply", "take a breath", "inhale and exhale", "breathe in and out"],
                 ["breathe gently", "heave slowly", "breathe calmly"], "in_place"),
    motion_class("flow", "flow",
                 ["flow like water", "flow like a river", "pour down", "cascade", "flow down", "flow left",
                  "flow right", "flow up"],
                 ["gush", "flow to the left", "pour downward"], "in_place"),
]
# fmt: on

FIELD_MOTION_CLASSES: dict[str, MotionClass] = {**MOTION_CLASSES, **{m.name: m for m in FIELD_ONLY_CLASSES}}
FIELD_MOTION_CLASS_NAMES: tuple[str, ...] = tuple(FIELD_MOTION_CLASSES)
FIELD_PROMPT_TO_CLASS: dict[str, str] = {p: m.name for m in FIELD_MOTION_CLASSES.values() for p in m.prompts}
assert len(FIELD_PROMPT_TO_CLASS) == sum(len(m.prompts) for m in FIELD_MOTION_CLASSES.values()), (
    "a prompt names two classes"
)

# Motions whose region stays put while its texture streams through it: rendered in `fyc.render`'s "stream" mode.
STREAM_MOTIONS = ("flow",)

# The direction a flow wording names (radians, image y down); a wording that names none flows down (water falls).
FLOW_DIRECTIONS = {"left": np.pi, "right": 0.0, "up": -np.pi / 2, "down": np.pi / 2, "downward": np.pi / 2}


def flow_direction(prompt: str) -> float:
    """The direction of a flow named by `prompt`: the last direction word in it, down when there is none."""
    named = [FLOW_DIRECTIONS[w] for w in prompt.lower().split() if w in FLOW_DIRECTIONS]
    return named[-1] if named else FLOW_DIRECTIONS["down"]


# Whole periods over the clip: how many a class may complete (periodic classes only).
_CYCLES = {
    "shake": (3, 4, 5),
    "sway": (1, 2),
    "bounce": (2, 3, 4),
    "pulse": (2, 3, 4),
    "wave": (2, 3, 4),
    "ripple": (2, 3, 4),
    "nod": (2, 3),
    "wag": (3, 4, 5),
    "bob": (1, 2),
    "breathe": (1, 2),
}


def field_prompts(motion_class: str, prompt_set: str) -> tuple[str, ...]:
    """The prompts of `motion_class` in `prompt_set` ("train", "heldout", "canonical" or "all")."""
    if motion_class not in FIELD_MOTION_CLASSES:
        raise ValueError(f"Unknown motion class {motion_class!r}; choose from {', '.join(FIELD_MOTION_CLASS_NAMES)}.")
    m = FIELD_MOTION_CLASSES[motion_class]
    sets = {"train": m.train_prompts, "heldout": m.heldout_prompts, "canonical": (m.canonical,), "all": m.prompts}
    if prompt_set not in sets:
        raise ValueError(f"Unknown prompt_set {prompt_set!r}; choose from {', '.join(sets)}.")
    return sets[prompt_set]


def draw_params(rng: np.random.Generator, name: str) -> dict:
    """Random parameters of a motion other than its amplitude."""
    params = {"sign": float(rng.choice([-1.0, 1.0]))}
    if name in _CYCLES:
        params["cycles"] = int(rng.choice(_CYCLES[name]))
    if name.startswith("move_"):
        base = {"move_left": np.pi, "move_right": 0.0, "move_up": -np.pi / 2, "move_down": np.pi / 2}[name]
        params["direction"] = base + rng.uniform(-1, 1) * np.deg2rad(8)
    if name == "flow":  # its direction comes from its wording (`flow_direction`), this is the jitter about it
        params["direction"] = rng.uniform(-1, 1) * np.deg2rad(8)
    if name == "shake":
        params.update(wobble=rng.uniform(0, 0.3), phase=rng.uniform(0, 2 * np.pi))
    if name in ("wave", "ripple"):
        params["waves"] = rng.uniform(0.7, 1.5) if name == "wave" else rng.uniform(1.5, 3.0)
    return params


def geometry(name: str, params: dict, region_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pivot, extent) of a region for a motion, from the region's pixels (N, 2) (x, y) in frame-0 px. The pivot is
    what the motion turns, bends or swells about: the base for sway, wag and breathe, one side's end for nod and wave
    (the mast), the centroid otherwise; the extent is the region's (width, height)."""
    lo, hi, centre = region_points.min(0), region_points.max(0), region_points.mean(0)
    extent = np.maximum(hi - lo, 1.0)
    if name in ("sway", "wag", "breathe"):
        return np.array([centre[0], hi[1]]), extent
    if name in ("nod", "wave"):
        return np.array([lo[0] if params["sign"] > 0 else hi[0], centre[1]]), extent
    return centre, extent


def displacement(
    name: str, amplitude: float, params: dict, points: np.ndarray, shape: tuple, num_frames: int
) -> np.ndarray:
    """(F, N, 2) displacement at each frame of `points` (N, 2) in px (frame-0 positions), for a motion of
    `amplitude` (its unit depends on the motion: px per frame, radians, scale, ...) of a region whose `geometry`
    is `shape` (pivot, extent)."""
    t = np.arange(num_frames, dtype=np.float64)[:, None]  # (F, 1)
    p = params
    centre, extent = shape
    local = points - centre  # (N, 2)
    phase = 2 * np.pi * t * p.get("cycles", 1) / num_frames  # whole periods over the clip
    zero = np.zeros((num_frames, len(points)))

    def stack(dx, dy):
        return np.stack([np.broadcast_to(dx, zero.shape), np.broadcast_to(dy, zero.shape)], axis=-1)

    def linear(matrices):  # (F, 2, 2) about the pivot
        return np.einsum("fij,nj->fni", matrices, local) - local[None]

    def rotation(angle):  # (F,) → (F, 2, 2); image y points down, so a positive angle turns clockwise on screen
        c, s = np.cos(angle), np.sin(angle)
        return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], 1)

    if name.startswith("move_") or name == "flow":
        direction = np.array([np.cos(p["direction"]), np.sin(p["direction"])])
        return (amplitude * t)[..., None] * direction * np.ones((1, len(points), 1))
    if name == "shake":
        dx = p["sign"] * np.sin(phase)
        dy = p["wobble"] * (np.sin(2 * phase + p["phase"]) - np.sin(p["phase"]))  # twice as fast: still loops
        return stack(amplitude * dx, amplitude * dy)
    if name == "sway":  # bends: the lean grows with the square of the height above the base
        height = np.clip(-local[:, 1] / extent[1], 0, 1)[None]
        return stack(amplitude * p["sign"] * np.sin(phase) * height**2 * extent[1], 0.0)
    if name.startswith("rotate_"):
        return linear(rotation(amplitude * t[:, 0] * (1 if name == "rotate_clockwise" else -1)))
    if name in ("zoom_in", "zoom_out"):
        scale = np.exp(amplitude * t[:, 0] * (1 if name == "zoom_in" else -1))
        return linear(np.eye(2)[None] * scale[:, None, None])
    if name == "bounce":
        return stack(0.0, -amplitude * np.abs(np.sin(phase / 2)))
    if name in ("pulse", "breathe"):
        wave = p["sign"] * np.sin(phase[:, 0]) if name == "pulse" else (1 - np.cos(phase[:, 0])) / 2
        return linear(np.eye(2)[None] * (1 + amplitude * wave)[:, None, None])
    if name in ("nod", "wag"):
        return linear(rotation(amplitude * np.sin(phase[:, 0]) * (p["sign"] if name == "wag" else 1)))
    if name == "wave":  # a flag: waves travel away from the mast, growing with the distance from it
        along = np.abs(local[:, 0]) / extent[0]
        travelling = np.sin(2 * np.pi * p["waves"] * along - phase) - np.sin(2 * np.pi * p["waves"] * along)
        return stack(0.0, amplitude * along * travelling * extent[1])
    if name == "ripple":  # concentric ripples travelling outwards, vertical displacement
        radius = np.linalg.norm(local / (extent / 2), axis=1)
        travelling = np.sin(2 * np.pi * p["waves"] * radius - phase) - np.sin(2 * np.pi * p["waves"] * radius)
        # scaled by the wavelength so that the vertical slope stays below 2 x amplitude: the surface never folds over
        return stack(0.0, amplitude * travelling * extent[1] / (8 * np.pi * p["waves"]))
    if name == "bob":
        return stack(0.0, amplitude * p["sign"] * np.sin(phase))
    raise ValueError(f"Unknown motion class {name!r}; choose from {', '.join(FIELD_MOTION_CLASS_NAMES)}.")


def max_amplitude(name: str, height: int, width: int, num_frames: int) -> float:
    """The largest amplitude that still looks like the motion it names (the twelve classes: as `fyc.data.synthetic`)."""
    if name in MOTION_CLASSES:
        return synthetic_max_amplitude(name, height, width, num_frames)
    if name == "flow":
        return synthetic_max_amplitude("move_left", height, width, num_frames)
    return {
        "wave": 0.25,
        "ripple": 0.4,
        "nod": 0.5,
        "wag": 0.6,
        "bob": 0.2 * height,
        "breathe": 0.3,
    }[name]


def mean_speed(moved: np.ndarray) -> float:
    """Mean displacement per frame of points whose displacements are (F, N, 2)."""
    return float(np.linalg.norm(np.diff(moved, axis=0), axis=-1).mean()) if len(moved) > 1 else 0.0


def calibrate(
    name: str,
    params: dict,
    points: np.ndarray,
    shape: tuple,
    target_px: float,
    height: int,
    width: int,
    num_frames: int,
) -> float:
    """The amplitude at which `points` move `target_px` px/frame on average, or the class's cap if it is slower."""
    hi = max_amplitude(name, height, width, num_frames)
    if mean_speed(displacement(name, hi, params, points, shape, num_frames)) <= target_px:
        return hi
    lo = 0.0
    for _ in range(30):  # mean speed grows monotonically with the amplitude below the caps
        mid = 0.5 * (lo + hi)
        if mean_speed(displacement(name, mid, params, points, shape, num_frames)) < target_px:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
