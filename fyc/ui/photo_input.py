"""The app's image widget: a `gr.Image` that hands an unreadable upload to the event as `UnreadableImage`.

A text file renamed .jpg reaches Gradio's own preprocessing, which raises inside PIL: the visitor saw a broken image
and a bare 'Error', and the server log a traceback. Here the event gets the file's name instead, and answers with the
same sentence the API and the CLI give (`fyc.inputs.load_image_file`).
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import PIL


@dataclass(frozen=True)
class UnreadableImage:
    """An upload that is not an image; `message` says so, naming the file."""

    name: str

    @property
    def message(self) -> str:
        return f"'{self.name}' is not an image this app can read: send a PNG, JPEG or WebP file."


def photo_input(**kwargs) -> gr.Image:
    """A `gr.Image(**kwargs)` whose preprocessing returns `UnreadableImage` for a file PIL cannot read, instead of
    raising. (Wrapped on the instance: a subclass of a Gradio component writes a .pyi stub into the source tree.)"""
    image = gr.Image(**kwargs)
    gradio_preprocess = image.preprocess

    def preprocess(payload):
        try:
            return gradio_preprocess(payload)
        except (PIL.UnidentifiedImageError, OSError, ValueError, SyntaxError):
            # PIL raises these for empty, truncated or foreign files; SyntaxError for some broken headers
            return UnreadableImage(getattr(payload, "orig_name", None) or "The file")

    image.preprocess = preprocess
    return image
