"""`Session`: one browser tab's state, in a `gr.State`, so two visitors never see each other's clicks.

The clicks themselves are the library's `fyc.clicks.ClickedImage`; a tab adds its latest videos and the
sentences the page shows about its objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from fyc.clicks import ClickedImage


@dataclass
class Session(ClickedImage):
    """A `ClickedImage` with the files of the tab's latest animation (deleted when replaced) and its model."""

    last_outputs: tuple[str, ...] = ()
    model: str | None = None  # the saved model folder this tab picked (`Engine.models`); None: the default
    # A pose sequence: keypoint tracks (`fyc.keypoints.KeypointTracks`) in working-copy pixels, or control frames (a
    # list of RGB arrays) for a latent model with a ControlNet; None without one.
    keypoints: object = None

    def set_image(self, image) -> None:
        super().set_image(image)
        self.keypoints = None  # a pose is placed on one photo

    def reset(self) -> None:
        super().reset()
        self.keypoints = None

    def object_labels(self) -> list[str]:
        """One label per object for the object picker, e.g. "1 · sway", "2 · (no prompt yet)"."""
        return [f"{i + 1} · {obj.prompt or '(no prompt yet)'}" for i, obj in enumerate(self.objects)]

    def problem(self) -> str | None:
        """What is missing before generating, as an instruction; None when ready."""
        if not self.has_image:
            return "Upload an image (or pick an example) first."
        clicked = [i for i, obj in enumerate(self.objects) if obj.points]
        if not clicked:
            return "Click the object you want to animate first."
        for i in clicked:
            obj = self.objects[i]
            if not obj.has_mask:
                return (
                    f"Object {i + 1} has no mask yet: add an include click on it (exclude clicks alone select nothing)."
                )
            if not obj.prompt:
                return f'Object {i + 1} has no motion prompt: type one in the sidebar, e.g. "sway" or "move left".'
        return None
