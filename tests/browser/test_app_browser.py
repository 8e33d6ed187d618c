"""End to end in a real browser: Debian's Chromium, headless, driven by Playwright against `python app.py`.

Upload an image, click on it, see the overlay, type a prompt, press Generate, get a video the browser plays.
Set FYC_SCREENSHOTS=docs/screenshots to refresh the documentation's screenshots from this run.
"""

import json
import os
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"{CHROMIUM} is not installed (`make browser` or `apt-get install chromium` adds it)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app_server import REPO, running_app, save_tiny_field_pipeline  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INCLUDE_GREEN = (40, 200, 60)  # fyc.ui.overlay.INCLUDE_COLOR


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("browser-app")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_app(browser, url):
    page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    page.set_default_timeout(90_000)
    page.goto(url)
    page.wait_for_selector("#input-image")
    return page


@pytest.fixture(scope="module")
def page(browser, app_url):
    return open_app(browser, app_url)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = (
        Path(os.environ["FYC_SCREENSHOTS"]) if os.environ.get("FYC_SCREENSHOTS") else tmp_path_factory.mktemp("shots")
    )
    folder = folder if folder.is_absolute() else REPO / folder
    folder.mkdir(parents=True, exist_ok=True)
    return lambda page, name: page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def hint_text(page) -> str:
    return page.inner_text("#hint")


def pixel_under(page, x_fraction: float, y_fraction: float) -> list[int]:
    """RGB of the displayed input image at a fraction of its natural size (read back through a canvas)."""
    return page.evaluate(
        """([fx, fy]) => {
            const img = document.querySelector('#input-image img');
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const d = ctx.getImageData(Math.floor(fx * img.naturalWidth), Math.floor(fy * img.naturalHeight), 1, 1).data;
            return [d[0], d[1], d[2]];
        }""",
        [x_fraction, y_fraction],
    )


def set_number(page, elem_id: str, value: int):
    field = page.locator(f"#{elem_id} input[type=number]")
    field.fill(str(value))
    field.press("Enter")


def test_upload_click_generate_play(page, shots):
    shots(page, "01_start")
    assert "approximate masks" in page.inner_text("#status-line")  # the classical segmenter is announced

    page.set_input_files("#input-image input[type=file]", str(REPO / "examples" / "cat.jpg"))
    page.wait_for_function("document.querySelector('#hint').innerText.includes('Ready')")
    shots(page, "02_uploaded")

    # Click the cat's left eye (170, 112 in the 451x300 photo) on the displayed image.
    image = page.locator("#input-image img").first
    box = image.bounding_box()
    natural = page.evaluate(
        "() => { const i = document.querySelector('#input-image img'); return [i.naturalWidth, i.naturalHeight]; }"
    )
    assert natural == [451, 300]
    scale = min(box["width"] / natural[0], box["height"] / natural[1], 1)  # centred, never enlarged (as Gradio)
    left = box["x"] + (box["width"] - natural[0] * scale) / 2
    top = box["y"] + (box["height"] - natural[1] * scale) / 2
    start = time.perf_counter()
    page.mouse.click(left + 170 * scale, top + 112 * scale)
    page.wait_for_function("document.querySelector('#hint').innerText.includes('mask covers')")
    click_seconds = time.perf_counter() - start
    page.wait_for_function(
        "() => { const i = document.querySelector('#input-image img'); return i && i.complete && i.naturalWidth > 0; }"
    )
    page.get_by_text("Regions as JSON").click()  # the accordion renders its content once opened
    ((x, y, label),) = json.loads(page.input_value("#regions-json textarea"))[0]["points"]
    assert abs(x - 170) <= 2 and abs(y - 112) <= 2 and label == 1  # in the photo's pixels
    # The overlay is drawn into the image: the include dot sits where the click landed.
    dot = pixel_under(page, (x + 0.5) / 451, (y + 0.5) / 300)
    assert all(abs(a - b) <= 40 for a, b in zip(dot, INCLUDE_GREEN)), dot
    print(f"click → overlay in the browser: {click_seconds:.2f} s")

    page.fill("#prompt input", "blink")
    page.wait_for_function("document.querySelector('#objects').innerText.includes('blink')")
    set_number(page, "steps", 2)
    set_number(page, "frames", 8)
    shots(page, "03_clicked")

    page.click("#generate")
    page.wait_for_function(
        """() => { const v = document.querySelector('#output-video video');
                   return v && v.readyState >= 2 && v.duration > 0; }"""
    )
    video = page.evaluate(
        """() => { const v = document.querySelector('#output-video video');
                   return {duration: v.duration, width: v.videoWidth, height: v.videoHeight, error: v.error}; }"""
    )
    assert video["error"] is None
    assert video["duration"] == pytest.approx(8 / 8, abs=0.2)  # 8 frames at 8 fps
    assert (video["width"], video["height"]) == (96, 64)  # the tiny model's 64-px short side, aspect kept
    assert "Done in" in hint_text(page)
    assert page.locator("#download-mp4").is_visible() and page.locator("#download-gif").is_visible()
    page.wait_for_timeout(500)
    shots(page, "04_result")


def test_progress_bar_and_cancel(page, shots):
    set_number(page, "steps", 100)
    page.click("#generate")
    # Gradio's progress bar over the video shows the denoising step count.
    page.wait_for_function("document.querySelector('#output-video').innerText.includes('Denoising')")
    shots(page, "05_generating")
    page.click("#cancel")
    # it ends in 'Cancelled.', and the previous test's video and downloads (stale now) are gone
    page.wait_for_function("document.querySelector('#hint').innerText.includes('Cancelled.')")
    page.wait_for_function("!document.querySelector('#output-video').innerText.includes('Denoising')")
    assert page.locator("#output-video video").count() == 0
    assert not page.locator("#download-mp4").is_visible()
    # the models are free again: a short run right after completes
    set_number(page, "steps", 1)
    page.click("#generate")
    page.wait_for_function("document.querySelector('#hint').innerText.includes('Done in')")


def test_example_fills_everything_in(page, shots):
    page.locator("img[src*='astronaut.jpg']").first.click()
    page.wait_for_function("document.querySelector('#hint').innerText.includes('Loaded 2 object')")
    assert page.input_value("#ofm input[type=number]") == "6"
    objects = page.inner_text("#objects")
    assert "1 · wave" in objects and "2 · nod" in objects
    assert page.input_value("#prompt input") == "wave"
    page.wait_for_timeout(300)
    shots(page, "06_example_two_objects")


def test_a_second_visitor_sees_nothing_of_the_first(page, browser, app_url):
    assert page.locator("#input-image img").count() > 0  # the first visitor has an image with clicks
    other = open_app(browser, app_url)
    assert other.locator("#input-image img").count() == 0
    assert other.inner_text("#hint").strip() == "Upload an image or pick an example below."
    assert "wave" not in other.inner_text("#objects")
    other.context.close()


# ---- the motion-field model: suggestions, drag, full-resolution video --------------------------------------------


@pytest.fixture(scope="module")
def field_app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("browser-field-app"), save=save_tiny_field_pipeline) as url:
        yield url


def click_photo(page, x: float, y: float, natural=(451, 300)):
    """Click the displayed input image at (x, y) of the photo's pixels (centred, never enlarged, as Gradio)."""
    box = page.locator("#input-image img").first.bounding_box()
    scale = min(box["width"] / natural[0], box["height"] / natural[1], 1)
    left = box["x"] + (box["width"] - natural[0] * scale) / 2
    top = box["y"] + (box["height"] - natural[1] * scale) / 2
    page.mouse.click(left + x * scale, top + y * scale)


def test_field_model_suggestion_drag_and_full_resolution_video(browser, field_app_url, shots):
    page = open_app(browser, field_app_url)
    page.set_input_files("#input-image input[type=file]", str(REPO / "examples" / "cat.jpg"))
    page.wait_for_function("document.querySelector('#hint').innerText.includes('Ready')")
    click_photo(page, 230, 150)
    page.wait_for_function("document.querySelector('#hint').innerText.includes('mask covers')")

    # the motions the model knows are offered under the prompt; picking one fills the box and names the object
    page.get_by_text("Motions this model knows").scroll_into_view_if_needed()
    page.locator("button", has_text="nod").first.click()
    page.wait_for_function("document.querySelector('#objects').innerText.includes('nod')")
    assert page.input_value("#prompt input") == "nod"

    # drag: a point of the object, then where it should end up
    page.get_by_label("Drag").check()
    click_photo(page, 230, 150)
    page.wait_for_function("document.querySelector('#hint').innerText.includes('where this point should be')")
    click_photo(page, 260, 120)
    page.wait_for_function("document.querySelector('#hint').innerText.includes('drag 1 from')")
    page.get_by_text("Regions as JSON").click()
    (drag,) = json.loads(page.input_value("#regions-json textarea"))[0]["drags"]
    assert max(abs(a - b) for a, b in zip(drag, (230, 150, 260, 120))) <= 3  # in the photo's pixels
    shots(page, "06_field_drag")

    page.click("#generate")
    page.wait_for_function(
        """() => { const v = document.querySelector('#output-video video');
                   return v && v.readyState >= 2 && v.duration > 0; }"""
    )
    size = page.evaluate(
        "() => { const v = document.querySelector('#output-video video'); return [v.videoWidth, v.videoHeight]; }"
    )
    assert size == [450, 300]  # the photo's own size (451 x 300, even sides for H.264)
    assert "at 450×300" in hint_text(page)
    shots(page, "07_field_result")
