"""The `/animate` API through gradio_client, against `python app.py` on loopback with a tiny saved pipeline."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from app_server import predict_animate, running_app, save_disk_photo
from PIL import Image

from fyc.video import read_video

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

FAST = dict(num_inference_steps=1, num_frames=4, fps=4)  # keep each run ~1 s on a CPU


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    scratch = tmp / "tmp"
    scratch.mkdir()
    with running_app(tmp, "--max-file-size", "1mb", env={"TMPDIR": str(scratch)}) as url:
        yield url, scratch
    # Stopping the server (SIGTERM) removes its scratch directory of generated videos.
    assert not any(p.name.startswith("fyc-app-") for p in scratch.iterdir()), list(scratch.iterdir())


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    return save_disk_photo(tmp_path_factory.mktemp("img"))


REGION = json.dumps([{"points": [[30, 32, 1]], "prompt": "sway"}])


def animate(client, image, regions=REGION, ofm=8.0, seed=0, **kw):
    return predict_animate(client, image, regions, ofm, seed, **{**FAST, **kw})


def test_only_animate_is_public(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/animate"]
    names = [p["parameter_name"] for p in endpoints["/animate"]["parameters"]]
    assert names[:4] == ["image_file", "regions_json", "ofm", "seed"]


def test_valid_request_returns_a_playable_mp4_first(client, photo):
    mp4, gif, info = animate(client, photo, ofm=6, seed=3)
    assert mp4.endswith(".mp4") and gif.endswith(".gif")
    frames, meta = read_video(mp4)
    assert meta["codec"].startswith("h264") and meta["pix_fmt"].startswith("yuv420p")
    assert frames.shape == (4, 64, 96, 3)  # the tiny model's native 64-px short side, aspect kept
    with Image.open(gif) as image:
        assert image.n_frames == 4
    assert info["ofm"] == 6 and info["seed"] == 3 and info["num_frames"] == 4 and info["size"] == [96, 64]
    assert info["regions"] == [{"points": [[30, 32, 1]], "prompt": "sway"}]


def test_loop_plays_forward_then_back(client, photo):
    once, _, _ = animate(client, photo, seed=5)
    looped, _, info = animate(client, photo, seed=5, loop=True)
    forward, back = read_video(once)[0], read_video(looped)[0]
    assert info["num_frames"] == 2 * 4 - 2 and back.shape[0] == 6  # no frame repeated at either turn
    assert np.abs(back[:4].astype(int) - forward.astype(int)).mean() < 2  # the same video, through the codec
    assert np.abs(back[4:].astype(int) - forward[2:0:-1].astype(int)).mean() < 2


@pytest.mark.parametrize(
    ("keypoints", "message"),
    [
        ('{"frames": [{"hand": [30, 32]}, {"hand": [40, 24]}]}', "does not follow keypoints"),  # a latent model
        ('{"frames": [{"hand": [30, 32]}', "keypoints: not valid JSON"),
        ("/etc/passwd", "keypoints: not valid JSON"),  # a request's text is never read as a server path
    ],
)
def test_keypoints_json_is_checked(client, photo, keypoints, message):
    with pytest.raises(AppError, match=message):
        animate(client, photo, keypoints_json=keypoints)


def test_a_control_video_for_a_model_without_a_controlnet_says_what_to_do(client, photo, tmp_path):
    from fyc.video import export_mp4

    export_mp4(np.zeros((3, 32, 32, 3), np.uint8), tmp_path / "pose.mp4", fps=4)
    with pytest.raises(AppError, match="has none: use the motion-field model"):
        animate(client, photo, control_video=tmp_path / "pose.mp4")


def test_four_arguments_are_enough(client, photo):
    # steps, frames and fps fall back to the server's defaults (the test server runs --steps 2 --frames 4)
    mp4, _, info = client.predict(handle_file(str(photo)), REGION, 4.0, 1, api_name="/animate")
    assert read_video(mp4)[0].shape[0] == 4
    assert (info["num_inference_steps"], info["num_frames"], info["fps"]) == (2, 4, 8)


def test_large_images_are_downscaled_not_refused(client, tmp_path):
    big = np.zeros((1500, 2200, 3), np.uint8)
    big[500:1000, 800:1400] = 255
    path = tmp_path / "big.jpg"
    Image.fromarray(big).save(path, quality=80)
    mp4, _, info = animate(client, path, regions=json.dumps([{"points": [[1100, 750, 1]], "prompt": "sway"}]))
    frames, _ = read_video(mp4)
    assert frames.shape[1] == 64  # the model's size, not the upload's
    assert info["regions"][0]["points"][0][:2] == [1101, 751]  # reported back in the upload's pixels (±1 px)


@pytest.mark.parametrize(
    "case, message",
    [
        ("not_an_image", "is not an image this app can read: send a PNG, JPEG or WebP file"),
        ("bad_json", "regions_json is not valid JSON"),
        ("no_regions", "No regions: send at least one region"),
        ("point_outside", r"is outside the 96×64 image: x must be in 0..95"),
        ("ofm_negative", "ofm must be between 0 and 20"),
        ("ofm_too_high", "ofm must be between 0 and 20"),
        ("no_prompt", "has no motion prompt"),
    ],
)
def test_bad_input_gets_an_error_that_says_what_to_do(client, photo, tmp_path, case, message):
    image, regions, ofm = photo, REGION, 8.0
    if case == "not_an_image":
        image = tmp_path / "notes.txt"
        image.write_text("not a picture")
    elif case == "bad_json":
        regions = "[{points: [[30, 32, 1]]"
    elif case == "no_regions":
        regions = "[]"
    elif case == "point_outside":
        regions = json.dumps([{"points": [[300, 32, 1]], "prompt": "sway"}])
    elif case == "ofm_negative":
        ofm = -1
    elif case == "ofm_too_high":
        ofm = 25
    elif case == "no_prompt":
        regions = json.dumps([{"points": [[30, 32, 1]]}])
    with pytest.raises(AppError, match=message):
        animate(client, image, regions=regions, ofm=ofm)


def test_concurrent_requests_with_different_seeds_give_distinct_results(server, photo):
    results, errors = {}, []

    def run(seed):
        try:
            # one client per caller, as two visitors would have
            results[seed] = animate(Client(server[0], verbose=False), photo, seed=seed, keep_background=False)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (11, 12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    first, _ = read_video(results[11][0])
    second, _ = read_video(results[12][0])
    assert results[11][0] != results[12][0]
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 1.0, "different seeds gave the same video"
    # the same seed again reproduces the first video
    again, _ = read_video(animate(Client(server[0], verbose=False), photo, seed=11, keep_background=False)[0])
    assert np.abs(again.astype(int) - first.astype(int)).max() <= 2


def test_uploads_over_the_cap_are_refused(server, tmp_path):
    # the test server runs with --max-file-size 1mb (see the fixture)
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(noise).save(path)
    assert path.stat().st_size > 1_000_000
    with pytest.raises(Exception, match="(?i)file size|too large|exceeds|413"):
        animate(Client(server[0], verbose=False), path)
