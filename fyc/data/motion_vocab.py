"""The motion vocabulary of the synthetic dataset: canonical motion classes and their prompt paraphrases.

Each class has one canonical short prompt (what a user would most likely type), paraphrases used for
training, and paraphrases held out for evaluation only, so that an evaluation can ask whether the model
follows wordings it never saw. The canonical prompt belongs to training; evaluation code that needs it
(e.g. "move left" vs "move right" on the same region) asks for it explicitly.

Prompts are imperative verb phrases ("slide to the left"); `third_person` turns one into the form a
scene caption uses ("slides to the left").
"""

from __future__ import annotations

from dataclasses import dataclass

from lemminflect import getInflection


@dataclass(frozen=True)
class MotionClass:
    """One canonical motion and the words for it.

    Args:
        name: identifier, e.g. "move_left".
        canonical: the canonical short prompt, e.g. "move left".
        train_prompts: paraphrases (the canonical prompt included) used for training clips.
        heldout_prompts: paraphrases used only for evaluation clips.
        kind: "directional" (the region travels) or "in_place" (it stays where it is).
    """

    name: str
    canonical: str
    train_prompts: tuple[str, ...]
    heldout_prompts: tuple[str, ...]
    kind: str

    @property
    def prompts(self) -> tuple[str, ...]:
        return self.train_prompts + self.heldout_prompts


def motion_class(name, canonical, train, heldout, kind) -> MotionClass:
    """A `MotionClass` whose training prompts are the canonical one and `train`."""
    return MotionClass(name, canonical, (canonical,) + tuple(train), tuple(heldout), kind)


# A table: name, canonical prompt, training paraphrases (after the canonical one), held-out paraphrases, kind.
# fmt: off
MOTION_CLASSES: dict[str, MotionClass] = {
    m.name: m
    for m in [
        motion_class("move_left", "move left",
                     ["move to the left", "slide to the left", "go left", "shift left", "slide left", "travel left",
                      "move leftward"],
                     ["drift left", "glide to the left", "head to the left"], "directional"),
        motion_class("move_right", "move right",
                     ["move to the right", "slide to the right", "go right", "shift right", "slide right",
                      "travel right", "move rightward"],
                     ["drift right", "glide to the right", "head to the right"], "directional"),
        motion_class("move_up", "move up",
                     ["move upward", "rise", "go up", "slide up", "float up", "climb up", "lift up"],
                     ["drift upward", "ascend", "fly up"], "directional"),
        motion_class("move_down", "move down",
                     ["move downward", "sink", "go down", "slide down", "fall down", "drop down", "descend"],
                     ["drift downward", "drop", "slide downward"], "directional"),
        motion_class("shake", "shake",
                     ["shake quickly", "tremble", "jitter", "vibrate", "shake side to side", "quiver"],
                     ["shudder", "rattle", "jiggle"], "in_place"),
        motion_class("sway", "sway",
                     ["sway gently", "sway back and forth", "sway in the wind", "swing gently", "rock back and forth",
                      "lean back and forth"],
                     ["bend in the wind", "rock gently", "teeter"], "in_place"),
        motion_class("rotate_clockwise", "rotate clockwise",
                     ["spin clockwise", "turn clockwise", "twirl clockwise", "spin around clockwise",
                      "revolve clockwise"],
                     ["whirl clockwise", "swivel clockwise", "turn around clockwise"], "in_place"),
        motion_class("rotate_counterclockwise", "rotate counterclockwise",
                     ["spin counterclockwise", "turn counterclockwise", "rotate anticlockwise", "spin anticlockwise",
                      "twirl counterclockwise", "spin around counterclockwise"],
                     ["whirl anticlockwise", "swivel counterclockwise", "turn anticlockwise"], "in_place"),
        motion_class("zoom_in", "zoom in",
                     ["grow", "get bigger", "grow larger", "expand", "enlarge", "scale up", "come closer"],
                     ["swell", "become larger", "inflate"], "in_place"),
        motion_class("zoom_out", "zoom out",
                     ["shrink", "get smaller", "shrink away", "contract", "scale down", "recede"],
                     ["dwindle", "become smaller", "deflate"], "in_place"),
        motion_class("bounce", "bounce",
                     ["bounce up and down", "hop", "jump up and down", "keep bouncing", "hop up and down"],
                     ["leap up and down", "spring up and down", "rebound"], "in_place"),
        motion_class("pulse", "pulse",
                     ["pulsate", "throb", "beat like a heart", "breathe in and out", "swell and shrink",
                      "pulse rhythmically"],
                     ["throb gently", "expand and contract", "beat"], "in_place"),
    ]
}
# fmt: on

MOTION_CLASS_NAMES: tuple[str, ...] = tuple(MOTION_CLASSES)

# prompt text -> class name, over every paraphrase of every class (each prompt names exactly one class)
PROMPT_TO_CLASS: dict[str, str] = {p: m.name for m in MOTION_CLASSES.values() for p in m.prompts}
assert len(PROMPT_TO_CLASS) == sum(len(m.prompts) for m in MOTION_CLASSES.values()), "a prompt names two classes"

PROMPT_SETS = ("train", "heldout", "canonical", "all")


def prompts_for(motion_class: str, prompt_set: str) -> tuple[str, ...]:
    """The prompts of `motion_class` in `prompt_set` ("train", "heldout", "canonical" or "all")."""
    if motion_class not in MOTION_CLASSES:
        raise ValueError(f"Unknown motion class {motion_class!r}; choose from {', '.join(MOTION_CLASS_NAMES)}.")
    m = MOTION_CLASSES[motion_class]
    if prompt_set == "train":
        return m.train_prompts
    if prompt_set == "heldout":
        return m.heldout_prompts
    if prompt_set == "canonical":
        return (m.canonical,)
    if prompt_set == "all":
        return m.prompts
    raise ValueError(f"Unknown prompt_set {prompt_set!r}; choose from {', '.join(PROMPT_SETS)}.")


def third_person(prompt: str) -> str:
    """'slide to the left' -> 'slides to the left': the prompt's first verb in the third person singular."""
    words = prompt.split()
    words[0] = _inflect(words[0])
    if len(words) == 3 and words[1] == "and":  # two coordinated verbs: "swell and shrink"
        words[2] = _inflect(words[2])
    return " ".join(words)


def _inflect(verb: str) -> str:
    return getInflection(verb, tag="VBZ")[0]
