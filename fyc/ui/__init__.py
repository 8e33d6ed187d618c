"""The click-to-animate app's logic, kept out of `app.py` (which only lays out and wires components).

The app sits on the library: input rules are `fyc.inputs`, clicked objects `fyc.clicks`, one animation
`fyc.animate`.

- `session`: one visitor's clicked image and latest videos (lives in `gr.State`).
- `overlay`: draws masks and points over the image.
- `engine`: the shared models (segmenter, pipeline), their locks, and one animation run.
- `outputs`: temporary video files and their clean-up.
- `events`: the functions `app.py` wires to Gradio events.
- `photo_input`: the image widget, which answers an unreadable upload with a sentence, not a bare error.
- `examples`: the example images with their clicks, prompts and strengths.
"""
