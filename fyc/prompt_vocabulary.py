"""How close a motion prompt is to the motions a model learned, read with the model's own text encoder.

    from fyc.prompt_vocabulary import nearest_motion, unfamiliar_prompt_note
    word, similarity = nearest_motion(pipe, "drift left")      # ("move left", 0.7...)
    note = unfamiliar_prompt_note(pipe, "sing a song")          # a sentence naming the nearest known motion, or None

A model follows the words it was trained on best; a prompt far from all of them still runs (the model reads any
text), but the user deserves to know which known motion it is nearest to. The comparison is the cosine of the
prompts' embeddings as the model's UNet receives them (`encode_prompt`, mean-pooled over tokens when it is not
already), against the canonical words of `model_settings(pipe).vocabulary`.
"""

from __future__ import annotations

import torch

from .model_settings import model_settings

# Below this cosine a prompt is far from every word the model knows. With the motion-field demo model's MiniLM
# (step 1 300), the 54 held-out paraphrases of its 18 motions lie at 0.24-0.86 (median 0.49) from their nearest
# word, 3 of them below 0.3; requests it has no motion for ("sing a song", "change colour", "a cat") at 0.22-0.26,
# while "turn red" (0.38) or "explode" (0.44) pass: the note catches the far ones, not every odd one
# (docs/results/motion_model.md).
UNFAMILIAR_BELOW = 0.3


def _embed(pipe, prompts: list[str]) -> torch.Tensor:
    """Unit vectors (N, D), one per prompt."""
    with torch.no_grad():
        embeds = pipe.encode_prompt(prompts, pipe.device)
    return torch.nn.functional.normalize(embeds.float().mean(1), dim=-1)


def nearest_motion(pipe, prompt: str) -> tuple[str, float] | None:
    """The model's known motion word nearest to `prompt`, with the cosine similarity; None when the model names no
    vocabulary."""
    vocabulary = list(model_settings(pipe).vocabulary)
    if not vocabulary:
        return None
    embeds = _embed(pipe, [prompt.strip(), *vocabulary])
    similarity = embeds[1:] @ embeds[0]
    best = int(similarity.argmax())
    return vocabulary[best], float(similarity[best])


def _wording_embeds(pipe, table) -> torch.Tensor:
    """The wordings' unit vectors, computed once per pipeline and text encoder (~140 wordings take ~2 s on a CPU,
    every generation asks)."""
    key = (id(pipe.text_encoder), tuple(table))
    cached = getattr(pipe, "_fyc_wording_embeds", None)
    if cached is None or cached[0] != key:
        cached = (key, _embed(pipe, [w for w, _ in table]))
        pipe._fyc_wording_embeds = cached
    return cached[1]


def nearest_wording(pipe, prompt: str) -> tuple[str, str, float] | None:
    """(wording, motion, cosine) of the training wording nearest to `prompt` among the model's `motion_wordings`
    (every wording of every motion, not only the canonical ones: "drift left" is nearer "move left" than any flow
    wording, while the canonical words alone put "shimmer" nearer "flow like water" than "ripple"); None when the
    model lists no wordings."""
    wordings = getattr(pipe.config, "motion_wordings", None) or {}
    table = [(w, motion) for motion, words in wordings.items() for w in words]
    if not table:
        return None
    similarity = _wording_embeds(pipe, table) @ _embed(pipe, [prompt.strip()])[0]
    best = int(similarity.argmax())
    return table[best][0], table[best][1], float(similarity[best])


def unfamiliar_prompt_note(pipe, prompt: str, threshold: float = UNFAMILIAR_BELOW) -> str | None:
    """A sentence for the user when `prompt` is far from every motion the model learned, else None."""
    words = {w.lower() for w in model_settings(pipe).vocabulary}
    if not prompt.strip() or prompt.strip().lower() in words:
        return None
    nearest = nearest_motion(pipe, prompt)
    if nearest is None or nearest[1] >= threshold:
        return None
    word, similarity = nearest
    return (
        f"'{prompt.strip()}' is far from the motions this model learned (nearest: '{word}', similarity "
        f"{similarity:.2f}); it runs anyway. A known motion, e.g. '{word}', is followed best."
    )
