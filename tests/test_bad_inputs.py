"""Bad input, over the `/animate` API (gradio_client against `python app.py` on loopback) and the CLI.

Every case gives either a correct result (checked on the video: colours, first frame, where the mask landed)
or an error whose message says what is wrong; none takes the server down (the last test checks that the
server process is still alive and serving). One server for the module, tiny images, 1 step, 2 frames.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from app_server import predict_animate, running_app
from PIL import Image

from fyc.video import read_video

gradio_client = pytest.importorskip("gradio_client")
httpx = pytest.importorskip("httpx")
psutil = pytest.importorskip("psutil")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

W, H = 96, 64  # the scene's size: the tiny model's 64-px short side, so the video has the same pixels
DISK = (30, 32, 13)  # x, y, radius of the bright object the clicks select
REGION = [{"points": [[30, 32, 1]], "prompt": "sway"}]
FAST = dict(num_inference_steps=1, num_frames=2, fps=4)


def scene() -> np.ndarray:
    """A smooth colour gradient with a bright yellow disk (the object)."""
    yy, xx = np.mgrid[:H, :W]
    image = np.stack([40 + xx * 1.5, 30 + yy * 2.5, np.full_like(xx, 90)], -1).astype(np.uint8)
    x, y, r = DISK
    image[(xx - x) ** 2 + (yy - y) ** 2 < r**2] = (250, 230, 60)
    return image


def far_from(x: float, y: float, radius: float, shape=(H, W)) -> np.ndarray:
    """Pixels farther than `radius` from (x, y): the background that "keep background still" must not touch."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - x) ** 2 + (yy - y) ** 2 > radius**2


def background_error(video_path, expected: np.ndarray, x=DISK[0], y=DISK[1], radius=DISK[2] + 10) -> float:
    """Mean absolute difference between every frame's background and `expected` (uint8 H×W×3)."""
    frames, _ = read_video(video_path)
    assert frames.shape[1:3] == expected.shape[:2], (frames.shape, expected.shape)
    keep = far_from(x, y, radius, expected.shape[:2])
    return float(np.abs(frames[:, keep].astype(int) - expected[keep].astype(int)).mean())


def write_huge_png(path: Path, width: int, height: int) -> None:
    """A valid, all-black 8-bit grayscale PNG of width × height written row by row (a few hundred KB on disk,
    `width * height` bytes once decoded), without ever holding the image in memory."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


# ---- the files ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Every test file, made once: valid variants of the scene and broken files."""
    root = tmp_path_factory.mktemp("inputs")
    image = scene()
    out = {}

    out["png"] = root / "scene.png"
    Image.fromarray(image).save(out["png"])
    data = out["png"].read_bytes()
    out["truncated_png"] = root / "truncated.png"
    out["truncated_png"].write_bytes(data[: len(data) // 2])
    out["empty"] = root / "empty.png"
    out["empty"].write_bytes(b"")
    out["text"] = root / "notes.png"  # a text file with an image's name
    out["text"].write_text("<html><body>not a picture</body></html>")

    out["cmyk_jpeg"] = root / "cmyk.jpg"
    Image.fromarray(image).convert("CMYK").save(out["cmyk_jpeg"], quality=95)

    # 16-bit grayscale (PIL mode I;16): a full-range gradient, which an 8-bit clip would turn white
    gray16 = np.round(image.mean(-1) * 257).astype(np.uint16)
    out["gray16_png"] = root / "gray16.png"
    Image.fromarray(gray16).save(out["gray16_png"])
    out["gray16_expected"] = np.repeat(((gray16.astype(np.uint32) + 128) // 257).astype(np.uint8)[..., None], 3, -1)
    # 16-bit RGB (48 bits per pixel), written by OpenCV (BGR order)
    import cv2

    out["rgb16_png"] = root / "rgb16.png"
    cv2.imwrite(str(out["rgb16_png"]), (image.astype(np.uint16) * 257)[..., ::-1])

    # animated GIF: the scene, then its negative; the first frame is the one animated
    out["gif"] = root / "animated.gif"
    Image.fromarray(image).save(
        out["gif"], save_all=True, append_images=[Image.fromarray(255 - image)], duration=100, loop=0
    )
    with Image.open(out["gif"]) as gif:
        out["gif_frames"] = [np.asarray(gif.convert("RGB"))]
        gif.seek(1)
        out["gif_frames"].append(np.asarray(gif.convert("RGB")))

    # EXIF orientation 6 ("rotate 90° clockwise to display"): the stored pixels are the scene turned 90°
    # counter-clockwise, so only an app that applies EXIF sees the disk where the clicks are.
    exif = Image.Exif()
    exif[0x0112] = 6
    out["exif_jpeg"] = root / "rotated.jpg"
    Image.fromarray(image).transpose(Image.Transpose.ROTATE_90).save(out["exif_jpeg"], exif=exif, quality=95)

    out["one_pixel"] = root / "one.png"
    Image.new("RGB", (1, 1), (200, 10, 10)).save(out["one_pixel"])
    out["strip"] = root / "strip.png"  # 2000×20: generating it at the model's short side would be 6400 px wide
    Image.new("RGB", (2000, 20), (200, 10, 10)).save(out["strip"])
    out["huge_png"] = root / "huge.png"
    write_huge_png(out["huge_png"], 10_000, 10_000)
    return out


# ---- the server -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python app.py` on loopback with the tiny pipeline; yields (url, its psutil.Process, its weights folder)."""
    tmp = tmp_path_factory.mktemp("app")
    with running_app(tmp) as url:
        port = url.rstrip("/").rsplit(":", 1)[1]
        children = psutil.Process().children(recursive=True)
        process = next(p for p in children if "app.py" in " ".join(p.cmdline()) and port in p.cmdline())
        yield url, process, tmp / "tiny-pipeline"


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def animate(client, image, regions=REGION, ofm=8.0, seed=0, keep_background=True, **kw):
    settings = {**FAST, **kw}
    regions = regions if isinstance(regions, str) or regions is None else json.dumps(regions)
    return predict_animate(client, image, regions, ofm, seed, keep_background=keep_background, **settings)


def animate_raw(url: str, image: Path | dict, *values) -> tuple[str, str]:
    """Call /animate over plain HTTP with a JSON body written by Python's `json` (which, unlike gradio_client,
    lets NaN and Infinity through): returns the SSE event name ("complete"/"error") and its data. `image` is a
    file to upload, or the file argument itself (a FileData dict naming any path or URL)."""
    api = url + "gradio_api/"
    with httpx.Client(timeout=60) as http:
        if isinstance(image, Path):
            with open(image, "rb") as f:
                uploaded = http.post(api + "upload", files={"files": (image.name, f, "image/png")}).json()[0]
            image = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
        # loop, keypoints_json, control_video: plain HTTP needs every input
        tail = [False, "", None][len(values) - 7 :] if len(values) >= 7 else []
        body = json.dumps({"data": [image, *values, *tail]})
        started = http.post(api + "call/animate", content=body.encode(), headers={"Content-Type": "application/json"})
        if started.status_code != 200:
            return f"http {started.status_code}", started.text
        event = ""
        with http.stream("GET", api + f"call/animate/{started.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    return event, line.split(":", 1)[1].strip()
    return event, ""


# ---- API: errors -------------------------------------------------------------------------------------------

# (case, what to send instead of the valid default, the message that must come back)
API_ERRORS = [
    # the image
    ("empty file", dict(image="empty"), "'empty.png' is not an image this app can read"),
    ("text file named .png", dict(image="text"), "'notes.png' is not an image this app can read"),
    ("truncated PNG", dict(image="truncated_png"), "'truncated.png' is damaged or incomplete"),
    (
        "1x1 image",
        dict(image="one_pixel", regions=[{"points": [[0, 0, 1]], "prompt": "sway"}]),
        "The image is 1×1 pixels: send one at least 16 pixels on each side",
    ),
    (
        "2000x20 strip",
        dict(image="strip", regions=[{"points": [[1000, 10, 1]], "prompt": "sway"}]),
        "more than 8 times longer than it is wide: crop it",
    ),
    # regions_json: empty, wrong type, malformed, out of range, huge
    ("regions empty string", dict(regions=""), "No regions: send at least one region"),
    ("regions None", dict(regions=None), "regions_json must be a list of regions"),
    ("regions a number", dict(regions="42"), "regions_json must be a list of regions"),
    ("regions a string", dict(regions='"sway"'), "regions_json must be a list of regions"),
    ("regions not JSON", dict(regions="[{points: [[30, 32, 1]]"), "regions_json is not valid JSON"),
    ("regions nested 40000 deep", dict(regions="[" * 40_000 + "]" * 40_000), "nested too deeply"),
    ("regions 200 kB", dict(regions=json.dumps(REGION * 3000)), "more than 100,000: send at most 8 regions"),
    ("region without points", dict(regions=[{"prompt": "sway"}]), 'Region 1 must be an object with "points"'),
    (
        "points a dict",
        dict(regions=[{"points": {"x": 30, "y": 32}, "prompt": "sway"}]),
        "Region 1's points must be a list of \\[x, y, label\\] clicks; got dict",
    ),
    (
        "point of 4 numbers",
        dict(regions=[{"points": [[30, 32, 1, 1]], "prompt": "sway"}]),
        "Region 1, point 1 must be \\[x, y, label\\]",
    ),
    ("x a string", dict(regions=[{"points": [["left", 32, 1]], "prompt": "sway"}]), "x and y must be numbers"),
    ("label 2", dict(regions=[{"points": [[30, 32, 2]], "prompt": "sway"}]), "label must be 1 \\(include\\) or 0"),
    ("label a string", dict(regions=[{"points": [[30, 32, "1"]], "prompt": "sway"}]), "label must be 1"),
    ("only exclude points", dict(regions=[{"points": [[30, 32, 0]], "prompt": "sway"}]), "has only exclude points"),
    (
        "point outside",
        dict(regions=[{"points": [[96, 32, 1]], "prompt": "sway"}]),
        "is outside the 96×64 image: x must be in 0..95",
    ),
    ("point NaN (JSON NaN)", dict(regions='[{"points": [[NaN, 32, 1]], "prompt": "sway"}]'), "is outside the 96×64"),
    ("prompt a number", dict(regions=[{"points": [[30, 32, 1]], "prompt": 5}]), "has no motion prompt"),
    ("prompt blank", dict(regions=[{"points": [[30, 32, 1]], "prompt": "   "}]), "has no motion prompt"),
    (
        "prompt of 10000 characters",
        dict(regions=[{"points": [[30, 32, 1]], "prompt": "sway" * 2500}]),
        "prompt is 10,000 characters long: keep it under 200",
    ),
    # a prompt made of bytes that were not UTF-8 reaches Python as lone surrogates (JSON "\udcff")
    (
        "prompt of non-UTF-8 bytes",
        dict(regions=[{"points": [[30, 32, 1]], "prompt": os.fsdecode(b"sway\xff\xfe")}]),
        "Region 1's prompt is not valid UTF-8 text",
    ),
    ("9 regions", dict(regions=REGION * 9), "9 regions is too many: animate at most 8 objects"),
    (
        "33 points",
        dict(regions=[{"points": [[30, 32, 1]] * 33, "prompt": "sway"}]),
        "Region 1 has 33 points: at most 32 clicks per object",
    ),
    (
        "drag outside",
        dict(regions=[{"points": [[30, 32, 1]], "prompt": "sway", "drags": [[30, 32, 120, 32]]}]),
        "Region 1, drag 1's end \\(x=120, y=32\\) is outside the 96×64 image",
    ),
    (
        "drag of 3 numbers",
        dict(regions=[{"points": [[30, 32, 1]], "prompt": "sway", "drags": [[30, 32, 40]]}]),
        "Region 1, drag 1 must be \\[x0, y0, x1, y1\\]",
    ),
    # the server's tiny model is a latent one
    (
        "drag on the latent model",
        dict(regions=[{"points": [[30, 32, 1]], "prompt": "sway", "drags": [[30, 32, 40, 32]]}]),
        "The latent model does not follow drags: remove the drags, or use the motion-field model",
    ),
    # numbers: out of range, wrong type
    ("ofm negative", dict(ofm=-0.5), "ofm must be between 0 and 20"),
    ("ofm above the slider", dict(ofm=20.5), "ofm must be between 0 and 20"),
    ("ofm a string", dict(ofm="fast"), "ofm must be a number between 0 and 20; got 'fast'"),
    ("seed negative", dict(seed=-1), "seed must be a whole number between 0 and 4294967295; got -1"),
    ("seed 2**70", dict(seed=2**70), "seed must be a whole number between 0 and 4294967295"),
    ("seed fractional", dict(seed=1.5), "seed must be a whole number"),
    ("steps 0", dict(num_inference_steps=0), "steps must be a whole number between 1 and 100; got 0"),
    ("steps a string", dict(num_inference_steps="many"), "steps must be a whole number"),
    ("frames 1", dict(num_frames=1), "frames must be a whole number between 2 and 32; got 1"),
    ("frames 10**6", dict(num_frames=10**6), "frames must be a whole number between 2 and 32"),
    ("fps 0", dict(fps=0), "fps must be a whole number between 1 and 30; got 0"),
    ("keep_background a string", dict(keep_background="no"), "keep_background must be true or false; got 'no'"),
]


@pytest.mark.parametrize("case, change, message", API_ERRORS, ids=[case for case, _, _ in API_ERRORS])
def test_api_bad_input_gets_a_clear_error(client, files, case, change, message):
    change = dict(change)
    image = files[change.pop("image", "png")]
    with pytest.raises(AppError, match=message):
        animate(client, image, **change)


def test_api_huge_image_is_refused_from_its_header_without_decoding(server, client, files):
    """10000×10000 pixels in a 100 kB PNG (a decompression bomb): refused before decoding; the server's peak
    memory (VmHWM) does not grow by the 100 MB that decoding would take."""
    _, process, _ = server

    def peak_rss() -> int:
        with open(f"/proc/{process.pid}/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

    assert files["huge_png"].stat().st_size < 1_000_000
    before = peak_rss()
    with pytest.raises(AppError, match=r"'huge\.png'( \(10000×10000\))? has more than 50 megapixels, too many"):
        animate(client, files["huge_png"], regions=[{"points": [[5000, 5000, 1]], "prompt": "sway"}])
    assert peak_rss() - before < 50e6, f"peak memory grew by {(peak_rss() - before) / 1e6:.0f} MB"


def test_browser_uploads_are_decoded_under_the_same_pixel_limit(files, monkeypatch):
    """The UI's image box is decoded by Gradio itself (PIL), before our code: `app.main` lowers PIL's limit
    process-wide (`limit_image_decoding`), so the 10000×10000 PNG is refused there too, without decoding."""
    import warnings

    import gradio as gr
    from gradio.data_classes import ImageData
    from PIL import Image as PILImage

    from fyc.inputs import limit_image_decoding

    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", PILImage.MAX_IMAGE_PIXELS)
    with warnings.catch_warnings():
        limit_image_decoding()
        with pytest.raises(PILImage.DecompressionBombWarning, match="exceeds limit of 50000000 pixels"):
            gr.Image(type="numpy").preprocess(ImageData(path=str(files["huge_png"])))
        small = gr.Image(type="numpy").preprocess(ImageData(path=str(files["png"])))
    assert small.shape == (H, W, 3)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_api_non_finite_ofm_is_refused(server, files, value):
    # gradio_client refuses to send NaN; a hand-written JSON body can carry it
    event, data = animate_raw(server[0], files["png"], json.dumps(REGION), float(value), 0, 1, 2, 4, True)
    assert event == "error" and "ofm must be between 0 and 20" in data, (event, data)


def test_api_body_that_is_not_utf8_is_refused(server):
    with httpx.Client(timeout=30) as http:
        response = http.post(
            server[0] + "gradio_api/call/animate",
            content=b'{"data": ["\xff\xfe"]}',
            headers={"Content-Type": "application/json"},
        )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)


# ---- what the server listens on and serves ---------------------------------------------------------------------


def test_server_listens_on_loopback_only(server):
    _, process, _ = server
    listening = [c.laddr for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening and all(address.ip == "127.0.0.1" for address in listening), listening


def server_files(weights: Path) -> dict[str, str]:
    return {
        "/etc/passwd": "/etc/passwd",
        "app.py": str(Path(__file__).resolve().parents[1] / "app.py"),
        "weights": str(weights / "unet" / "diffusion_pytorch_model.safetensors"),
        "traversal": "../../../../../../etc/passwd",
    }


@pytest.mark.parametrize("name", ["/etc/passwd", "app.py", "weights", "traversal"])
def test_server_files_are_not_served(server, name):
    url, _, weights = server
    target = server_files(weights)[name]
    assert name == "traversal" or Path(target).exists()
    response = httpx.get(url + "gradio_api/file=" + target, timeout=30)
    assert response.status_code in (403, 404), (response.status_code, response.text[:200])
    assert b"root:" not in response.content and not response.content.startswith(b"\x00")


@pytest.mark.parametrize("name", ["/etc/passwd", "image in the repository", "image in /tmp"])
def test_api_cannot_make_the_server_read_its_own_files(server, files, name):
    """Valid images on the server's disk, named instead of uploaded: reading them would succeed, so an error proves
    they were not read."""
    url, _, weights = server
    path = {
        "/etc/passwd": "/etc/passwd",
        "image in /tmp": str(files["png"]),
        "image in the repository": str(Path(__file__).resolve().parents[1] / "examples" / "cat.jpg"),
    }[name]
    assert Path(path).is_file()
    event, data = animate_raw(
        url, {"path": path, "meta": {"_type": "gradio.FileData"}}, json.dumps(REGION), 8.0, 0, 1, 2, 4, True
    )
    assert event == "error" and "root:" not in data, (event, data)


def test_api_does_not_fetch_urls_on_the_servers_network(server, files):
    """A FileData carrying a URL of a loopback web server that serves a valid image: the server must not fetch it."""
    import http.server
    import threading

    from app_server import free_port

    hits = []

    class ImageServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            hits.append(self.path)
            body = files["png"].read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    internal = http.server.HTTPServer(("127.0.0.1", free_port()), ImageServer)
    threading.Thread(target=internal.serve_forever, daemon=True).start()
    try:
        image_url = f"http://127.0.0.1:{internal.server_port}/scene.png"
        event, data = animate_raw(
            server[0],
            {"path": "scene.png", "url": image_url, "meta": {"_type": "gradio.FileData"}},
            json.dumps(REGION),
            8.0,
            0,
            1,
            2,
            4,
            True,
        )
    finally:
        internal.shutdown()
        internal.server_close()
    assert event == "error" and not hits, (event, data, hits)


def test_generated_videos_are_served_from_gradios_cache(server, files):
    url, _, _ = server
    event, data = animate_raw(url, files["png"], json.dumps(REGION), 8.0, 0, 1, 2, 4, True)
    assert event == "complete", data
    mp4 = json.loads(data)[0]
    response = httpx.get(mp4["url"], timeout=30)
    assert response.status_code == 200 and response.content[4:8] == b"ftyp"


# ---- API: correct results ------------------------------------------------------------------------------------


def test_cmyk_jpeg_keeps_its_colours(client, files):
    mp4, _, info = animate(client, files["cmyk_jpeg"])
    assert info["size"] == [W, H]
    assert background_error(mp4, scene()) < 8  # CMYK read as RGB bytes would be off by ~100


def test_16_bit_grayscale_png_is_scaled_not_clipped(client, files):
    mp4, _, _ = animate(client, files["gray16_png"])
    assert background_error(mp4, files["gray16_expected"]) < 6  # clipping to 255 would be off by ~150


def test_16_bit_rgb_png(client, files):
    mp4, _, _ = animate(client, files["rgb16_png"])
    assert background_error(mp4, scene()) < 6


def test_animated_gif_uses_its_first_frame(client, files):
    mp4, _, _ = animate(client, files["gif"])
    first, second = files["gif_frames"]
    assert background_error(mp4, first) < 8
    assert background_error(mp4, second) > 60


def test_exif_rotated_photo_clicks_land_where_the_user_clicked(client, files):
    """Clicks are in the image as displayed (EXIF applied). The mask is found end to end: with "keep background
    still" the video equals the still image outside the (dilated) mask, so the pixels that changed are the
    mask; they must surround the clicked disk."""
    x, y, r = DISK
    mp4, _, info = animate(client, files["exif_jpeg"], keep_background=True)
    assert info["size"] == [W, H]  # landscape, as displayed; the stored pixels are portrait
    frames, _ = read_video(mp4)
    changed = np.abs(frames[-1].astype(int) - scene().astype(int)).max(-1) > 40
    ys, xs = np.nonzero(changed)
    assert len(xs) > 0.3 * np.pi * r**2, "nothing moved: the click missed the disk"
    assert abs(xs.mean() - x) < 5 and abs(ys.mean() - y) < 5, (xs.mean(), ys.mean())
    assert not changed[far_from(x, y, r + 6)].any(), "pixels away from the clicked disk changed"


def test_regions_as_one_object_and_true_label_are_understood(client, files):
    # a single region object instead of a list, and JSON true as the include label
    _, _, info = animate(client, files["png"], regions='{"points": [[30, 32, true]], "prompt": " sway "}')
    assert info["regions"] == [{"points": [[30, 32, 1]], "prompt": "sway"}]


def test_ui_upload_of_an_unusable_image_is_refused_with_a_hint(tmp_path):
    """The browser path (event functions called directly): a 1×1 upload leaves no image to click on, and the hint
    says why; the embedding step that follows keeps that hint."""
    import gradio as gr

    from fyc.ui.engine import Engine
    from fyc.ui.events import AppEvents
    from fyc.ui.outputs import OutputFiles
    from fyc.ui.session import Session

    events = AppEvents(Engine(segmenter="classical"), OutputFiles(tmp_path / "scratch"))
    session = Session()
    events.upload(scene(), session)
    assert session.has_image
    with pytest.warns(UserWarning, match="at least 16 pixels"):  # gr.Warning outside a running app
        out = events.upload(np.zeros((1, 1, 3), np.uint8), session)
    assert not session.has_image and out[1] is None
    assert out[5] == "The image is 1×1 pixels: send one at least 16 pixels on each side."
    assert events.embed(session) == gr.update()


@pytest.mark.parametrize("kind", ["text", "empty"])
def test_ui_upload_of_a_file_that_is_not_an_image_gets_a_sentence(files, tmp_path, kind):
    """The browser path through the app's own widget: Gradio's preprocessing used to raise inside PIL (a broken
    image, a bare 'Error', a traceback in the log); now the event names the file and clears the widget."""
    from gradio.data_classes import ImageData

    from fyc.ui.engine import Engine
    from fyc.ui.events import AppEvents
    from fyc.ui.outputs import OutputFiles
    from fyc.ui.photo_input import photo_input
    from fyc.ui.session import Session

    path = files[kind]
    value = photo_input(type="numpy").preprocess(ImageData(path=str(path), orig_name=path.name))
    events = AppEvents(Engine(segmenter="classical"), OutputFiles(tmp_path / "scratch"))
    session = Session()
    events.upload(scene(), session)
    with pytest.warns(UserWarning, match="is not an image"):  # gr.Warning outside a running app
        out = events.upload(value, session)
    assert not session.has_image and out[1] is None
    assert out[5] == f"'{path.name}' is not an image this app can read: send a PNG, JPEG or WebP file."
    assert photo_input(type="numpy").preprocess(ImageData(path=str(files["png"]))).shape == (H, W, 3)


def test_user_mistakes_are_toasts_that_leave_no_traceback():
    from fyc.ui.events import TOAST_SECONDS, user_error

    error = user_error("Upload an image first.")
    assert (
        error.print_exception is False and error.duration == TOAST_SECONDS and error.message == "Upload an image first."
    )


# ---- CLI ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory):
    from app_server import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("cli-pipe"))


def cli(saved_pipeline, image, *extra, output=None):
    from fyc.__main__ import main

    args = ["animate", str(image), "--weights", str(saved_pipeline), "--steps", "1", "--frames", "2"]
    if output is not None:
        args += ["-o", str(output)]
    return main(args + [str(a) for a in extra])


CLICK = ("--click", "30,32", "--prompt", "sway")
CLI_ERRORS = [
    ("missing file", dict(image="missing"), "image not found: .*missing.png"),
    ("empty file", dict(image="empty"), "'empty.png' is not an image this app can read"),
    ("text file named .png", dict(image="text"), "'notes.png' is not an image this app can read"),
    ("truncated PNG", dict(image="truncated_png"), "'truncated.png' is damaged or incomplete"),
    ("1x1 image", dict(image="one_pixel", args=("--click", "0,0", "--prompt", "sway")), "at least 16 pixels"),
    (
        "10000x10000 image",
        dict(image="huge_png", args=("--click", "5000,5000", "--prompt", "sway")),
        r"\(10000×10000\) has more than 50 megapixels",
    ),
    (
        "prompt of non-UTF-8 bytes",
        dict(args=("--click", "30,32", "--prompt", os.fsdecode(b"sway\xff"))),
        "--prompt of object 1 is not valid UTF-8 text",
    ),
    (
        "prompt of 10000 characters",
        dict(args=("--click", "30,32", "--prompt", "x" * 10_000)),
        "--prompt of object 1 is 10,000 characters long",
    ),
    ("prompt empty", dict(args=("--click", "30,32", "--prompt", "")), "--prompt of object 1 is empty"),
    ("ofm NaN", dict(args=(*CLICK, "--ofm", "nan")), "--ofm must be a finite number"),
    ("ofm inf", dict(args=(*CLICK, "--ofm", "inf")), "--ofm must be a finite number"),
    ("ofm negative", dict(args=(*CLICK, "--ofm", "-1")), "--ofm must be a finite number of at least 0"),
    ("guidance NaN", dict(args=(*CLICK, "--guidance", "nan")), "--guidance must be a finite number"),
    ("seed negative", dict(args=(*CLICK, "--seed", "-1")), "seed must be a whole number between 0 and 4294967295"),
    ("seed 2**70", dict(args=(*CLICK, "--seed", str(2**70))), "seed must be a whole number"),
    ("steps 0", dict(args=(*CLICK, "--steps", "0")), "--steps must be at least 1"),
    ("frames 0", dict(args=(*CLICK, "--frames", "0")), "--frames must be at least 1"),
    ("frames above the motion module", dict(args=(*CLICK, "--frames", "1000")), "num_frames must be between 1 and 32"),
    ("fps 0", dict(args=(*CLICK, "--fps", "0")), "--fps must be a finite number above 0"),
    ("click outside", dict(args=("--click", "500,32", "--prompt", "sway")), "outside the 96×64 image"),
    ("mask not an image", dict(args=("--mask", "TEXT", "--prompt", "sway")), "--mask .*notes.png is not a readable"),
    ("mask all black", dict(args=("--mask", "BLACK", "--prompt", "sway")), "selects nothing"),
    ("no prompt", dict(args=("--click", "30,32")), "has no --prompt after it"),
]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the 10000×10000 case, refused
@pytest.mark.parametrize("case, change, message", CLI_ERRORS, ids=[case for case, _, _ in CLI_ERRORS])
def test_cli_bad_input_exits_2_with_a_clear_error(saved_pipeline, files, tmp_path, capsys, case, change, message):
    import re

    image = tmp_path / "missing.png" if change.get("image") == "missing" else files[change.get("image", "png")]
    black = tmp_path / "black.png"
    Image.new("L", (W, H), 0).save(black)
    args = [{"TEXT": files["text"], "BLACK": black}.get(a, a) for a in change.get("args", CLICK)]
    output = tmp_path / "out.gif"
    assert cli(saved_pipeline, image, *args, output=output) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: ") and re.search(message, err), err
    assert not output.exists()


def test_cli_malformed_click_is_an_argparse_error(saved_pipeline, files, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(saved_pipeline, files["png"], "--click", "thirty,32", "--prompt", "sway")
    assert exit_info.value.code == 2 and "--click takes numbers, got 'thirty,32'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["cmyk_jpeg", "gray16_png", "gif", "exif_jpeg"])
def test_cli_reads_every_image_kind_correctly(saved_pipeline, files, tmp_path, kind):
    import imageio.v3 as iio

    out = tmp_path / "out.gif"
    assert cli(saved_pipeline, files[kind], *CLICK, "--keep-background", output=out) == 0
    frames = iio.imread(out, index=None)[..., :3]
    assert frames.shape == (2, H, W, 3)
    expected = {"gray16_png": files["gray16_expected"], "gif": files["gif_frames"][0]}.get(kind, scene())
    keep = far_from(DISK[0], DISK[1], DISK[2] + 10)
    # GIF output is palette-quantised: a looser bound than for mp4, still far below a wrong reading (~100)
    assert np.abs(frames[:, keep].astype(int) - expected[keep].astype(int)).mean() < 12
    if kind == "exif_jpeg":  # the click landed on the disk as displayed
        changed = np.abs(frames[-1].astype(int) - scene().astype(int)).max(-1) > 40
        ys, xs = np.nonzero(changed)
        assert len(xs) and abs(xs.mean() - DISK[0]) < 5 and abs(ys.mean() - DISK[1]) < 5


# ---- after all of it --------------------------------------------------------------------------------------------


def test_server_survived_the_matrix(server, client, files):
    """Runs last in this module: the same server process is alive and still answers a valid request."""
    url, process, _ = server
    assert process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    mp4, gif, info = animate(client, files["png"], seed=5)
    assert read_video(mp4)[0].shape == (2, H, W, 3) and info["seed"] == 5
