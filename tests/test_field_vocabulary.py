"""The motion-field model's training words: each motion verb names one motion (or one pair of opposites)."""

from fyc.data.field_motions import FIELD_MOTION_CLASSES

# Opposites share their verbs by design ("slide left" / "slide right"): the direction word tells them apart.
OPPOSITES = [
    {"move_left", "move_right", "move_up", "move_down"},
    {"rotate_clockwise", "rotate_counterclockwise"},
    {"zoom_in", "zoom_out"},
]


def _group(name: str) -> frozenset:
    return next((frozenset(g) for g in OPPOSITES if name in g), frozenset({name}))


def test_a_training_verb_names_one_motion():
    # A verb trained for two motions teaches the model that the verb says nothing: "drift up and down" trained as
    # bob pulled the held-out "drift left" to bob (docs/results/motion_model.md, step 1 300).
    owners: dict[str, set] = {}
    for m in FIELD_MOTION_CLASSES.values():
        for prompt in m.train_prompts:
            owners.setdefault(prompt.split()[0], set()).add(_group(m.name))
    shared = {verb: groups for verb, groups in owners.items() if len(groups) > 1}
    assert not shared, shared
