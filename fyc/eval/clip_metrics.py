"""CLIP metrics of the paper: temporal consistency and text alignment (transformers CLIPModel).

temporal_consistency
    Cosine similarity of the CLIP image embeddings of consecutive frames, averaged over the F-1 pairs.
    1 for a video whose frames are identical.
text_alignment
    Cosine similarity between the CLIP text embedding of the prompt and the CLIP image embedding of each
    frame, averaged over frames. This is the raw cosine (typically 0.2-0.35 for a matching caption with
    the public CLIP models); the paper's Text-Align (0.7981 for FYC) is on a scale it does not state,
    so compare our figure only with itself.

Weights come from a local folder holding a `CLIPModel` and its `CLIPProcessor` (`save_pretrained`
layout), or from a hub id (downloaded only when online; cached copies are used offline). Without
weights the metrics are not measured: `load_clip` returns None and the report says so.
"""

from __future__ import annotations

import logging
import os

import numpy as np

DEFAULT_CLIP = "openai/clip-vit-large-patch14"
logger = logging.getLogger(__name__)


class ClipScorer:
    """Frame and text embeddings from one CLIP model, and the two metrics computed from them."""

    def __init__(self, model, processor, device: str = "cpu", batch_size: int = 16):
        self.model = model.eval().to(device)
        self.processor = processor
        self.device = device
        self.batch_size = batch_size
        self.name = getattr(model, "name_or_path", "") or type(model).__name__

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str | None = None, local_files_only: bool = False):
        """Load a CLIPModel + CLIPProcessor from a folder or a hub id."""
        import torch
        from transformers import CLIPModel, CLIPProcessor

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = CLIPModel.from_pretrained(name_or_path, local_files_only=local_files_only)
        processor = CLIPProcessor.from_pretrained(name_or_path, local_files_only=local_files_only)
        scorer = cls(model, processor, device=device)
        scorer.name = str(name_or_path)
        return scorer

    @staticmethod
    def _features(output):
        # transformers 5 returns a model output whose pooler_output is the projected embedding;
        # older versions return the tensor itself.
        return output if hasattr(output, "norm") else output.pooler_output

    def image_embeddings(self, frames) -> np.ndarray:
        """L2-normalised embeddings (N, D) of uint8 frames (N, H, W, 3)."""
        import torch

        frames = np.asarray(frames)
        chunks = []
        with torch.no_grad():
            for start in range(0, len(frames), self.batch_size):
                batch = list(frames[start : start + self.batch_size])
                inputs = self.processor(images=batch, return_tensors="pt")
                pixels = inputs["pixel_values"].to(self.device, self.model.dtype)
                emb = self._features(self.model.get_image_features(pixel_values=pixels)).float()
                chunks.append(torch.nn.functional.normalize(emb, dim=-1).cpu().numpy())
        return np.concatenate(chunks)

    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """L2-normalised embeddings (N, D) of texts (truncated to the model's context length)."""
        import torch

        inputs = self.processor(text=list(texts), return_tensors="pt", padding=True, truncation=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        with torch.no_grad():
            emb = self._features(self.model.get_text_features(**inputs)).float()
        return torch.nn.functional.normalize(emb, dim=-1).cpu().numpy()

    def temporal_consistency(self, video) -> float:
        """Mean cosine of consecutive frames' image embeddings."""
        from fyc.eval.metrics import as_uint8_video

        emb = self.image_embeddings(as_uint8_video(video))
        if len(emb) < 2:
            raise ValueError("temporal_consistency needs at least 2 frames.")
        return float(np.mean(np.sum(emb[1:] * emb[:-1], axis=-1)))

    def text_alignment(self, video, text: str) -> float:
        """Mean cosine between the text embedding and each frame's image embedding."""
        from fyc.eval.metrics import as_uint8_video

        emb = self.image_embeddings(as_uint8_video(video))
        return float(np.mean(emb @ self.text_embeddings([text])[0]))


def load_clip(spec: str | None, device: str | None = None) -> tuple[ClipScorer | None, str]:
    """A `ClipScorer` from `spec`, or (None, reason) when no weights can be had.

    spec: a folder (CLIPModel + CLIPProcessor saved with save_pretrained), a hub id, "none" to skip, or
    None/"auto" for `DEFAULT_CLIP` from the local Hugging Face cache, downloaded when online.
    A folder that was named explicitly but is missing or unreadable is an error, not "not measured".
    """
    if spec is not None and str(spec).lower() == "none":
        return None, "skipped (--clip none)"
    name = DEFAULT_CLIP if spec in (None, "auto") else os.path.expanduser(str(spec))
    if os.path.isdir(name) or name.startswith(("/", ".")) or os.path.exists(name):
        if not os.path.isdir(name):
            raise FileNotFoundError(
                f"--clip {name}: no such folder. Pass a folder holding a CLIPModel and CLIPProcessor "
                "(model.save_pretrained(DIR); processor.save_pretrained(DIR)), a hub id, or 'none'."
            )
        return ClipScorer.from_pretrained(name, device=device, local_files_only=True), ""
    try:  # cached copy first, so an offline machine with the weights cached still measures
        return ClipScorer.from_pretrained(name, device=device, local_files_only=True), ""
    except (OSError, ValueError):
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false", "no"):
        return None, f"{name} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; pass --clip DIR"
    try:
        return ClipScorer.from_pretrained(name, device=device), ""
    except Exception as err:  # noqa: BLE001 - any download failure means "not measured", not a crash
        logger.info("CLIP %s unavailable: %s", name, err)
        return None, f"{name} could not be loaded (offline?); pass --clip DIR with a saved CLIPModel"
