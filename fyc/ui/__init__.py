"""The click-to-animate app's logic, kept out of `app.py` (which only lays out and wires components).

- `session`: one visitor's image, clicked objects, their points, masks and prompts (lives in `gr.State`).
- `overlay`: draws masks and points over the image.
- `requests`: parses and checks what visitors and API clients send, with messages that say what to do.
- `engine`: the shared models (segmenter, pipeline), their locks, and one animation run.
- `outputs`: temporary video files and their clean-up.
- `events`: the functions `app.py` wires to Gradio events.
- `examples`: the shipped example images with their clicks, prompts and strengths.
"""
