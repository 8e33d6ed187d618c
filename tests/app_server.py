"""Start `app.py` in a subprocess on a free loopback port with a tiny saved pipeline (for API and browser tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def disk_image():
    """A 96x64 picture: a bright disk (the object, centre 30,32, radius 15) on a dark gradient."""
    import numpy as np

    yy, xx = np.mgrid[:64, :96]
    image = np.stack([xx * 1.5, yy * 2.0, np.full_like(xx, 40)], -1).astype(np.uint8)
    image[(xx - 30) ** 2 + (yy - 32) ** 2 < 15**2] = (250, 230, 60)
    return image


def save_disk_photo(folder: Path) -> Path:
    """`disk_image()` saved as `folder/disk.png`."""
    from PIL import Image

    path = folder / "disk.png"
    Image.fromarray(disk_image()).save(path)
    return path


def predict_animate(
    client,
    image,
    regions,
    ofm,
    seed,
    *,
    num_inference_steps,
    num_frames,
    fps,
    keep_background=True,
    loop=False,
    keypoints_json="",
    control_video=None,
):
    """`/animate` through a gradio_client `Client` with the picture at path `image`: (mp4, gif, info)."""
    from gradio_client import handle_file

    settings = (num_inference_steps, num_frames, fps, keep_background, loop, keypoints_json)
    control = handle_file(str(control_video)) if control_video else None
    return client.predict(handle_file(str(image)), regions, ofm, seed, *settings, control, api_name="/animate")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def save_tiny_pipeline(directory: Path) -> Path:
    """`tests/tiny.py`'s pipeline saved as a pipeline folder that `fyc.load_pipeline(folder)` opens."""
    from tiny import make_tiny_pipeline

    from fyc.weights import save_pipeline

    return Path(save_pipeline(make_tiny_pipeline(seed=0), directory / "tiny-pipeline"))


def save_tiny_field_pipeline(directory: Path) -> Path:
    """`tests/tiny.py`'s motion-field pipeline saved as a pipeline folder."""
    from tiny import make_tiny_field_pipeline

    from fyc.weights import save_pipeline

    return Path(save_pipeline(make_tiny_field_pipeline(seed=0), directory / "tiny-field-pipeline"))


@contextmanager
def running_app(
    tmp_dir: Path, *extra_args: str, env: dict | None = None, startup_timeout: float = 180, save=save_tiny_pipeline
):
    """Yield the URL of `python app.py` serving a tiny pipeline (`save(folder) -> saved folder`, default the latent
    one) with the classical segmenter; stop it after."""
    weights = save(tmp_dir)
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_TEMP_DIR": str(tmp_dir / "gradio"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    env.pop("SPACE_ID", None)
    log = open(tmp_dir / "app.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "app.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--weights",
            str(weights),
            "--segmenter",
            "classical",
            "--steps",
            "2",
            "--frames",
            "4",
            *extra_args,
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with {process.returncode}:\n{(tmp_dir / 'app.log').read_text()}")
            try:
                with urllib.request.urlopen(url + "config", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"app.py did not start in {startup_timeout} s:\n{(tmp_dir / 'app.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
