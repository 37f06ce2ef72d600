"""A person's path through the app in headless Chromium (Debian's chromium driven by
playwright): Image tab (upload, transparent, run, result, downloaded PNG keeps alpha),
Video tab (clip in, result plays), mix tab, and the Chinese UI. Screenshots are saved in
artifacts/browser/."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from conftest import ROOT, person_on_green

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SHOTS = ROOT / "artifacts" / "browser"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    if not shutil.which("chromium") and not (ROOT / CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(app_server[0] + "/")
    page.get_by_role("tab", name="Image").wait_for()
    yield page
    context.close()


def _photo(tmp_path):
    path = tmp_path / "person.png"
    cv2.imwrite(str(path), person_on_green(240, 320)[..., ::-1])
    return path


def _run_photo_tab(page, tmp_path, tab: str, background: str, shots: tuple[str, str]) -> bytes:
    """Upload the photo on a tab ('image' or 'mix'), pick a background, run it and return the
    result PNG as the browser downloads it; screenshots before and after."""
    page.screenshot(path=str(SHOTS / shots[0]), full_page=True)
    page.locator(f"#{tab}_in input[type=file]").set_input_files(str(_photo(tmp_path)))
    page.locator(f"#{tab}_bg").get_by_text(background).click()
    page.locator(f"#{tab}_run").click()
    img = page.locator(f"#{tab}_out img").first
    img.wait_for(state="visible")
    page.screenshot(path=str(SHOTS / shots[1]), full_page=True)
    return page.request.get(img.get_attribute("src")).body()


def test_image_tab_transparent_png_keeps_alpha(page, tmp_path):
    data = _run_photo_tab(page, tmp_path, "image", "transparent", ("01_image_before.png", "02_image_after.png"))
    png = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.ndim == 3 and png.shape[2] == 4, "the downloaded PNG must keep its alpha channel"
    assert png[5, 5, 3] == 0 and png[png.shape[0] * 3 // 4, png.shape[1] // 2, 3] == 255


def test_video_tab_result_plays(page, tmp_path):
    from test_video import make_clip

    page.get_by_role("tab", name="Video").click()
    page.screenshot(path=str(SHOTS / "03_video_before.png"), full_page=True)
    clip = make_clip(tmp_path / "clip.mp4", fps="25", seconds=0.8, size="160x120")
    page.locator("#video_in input[type=file]").set_input_files(str(clip))
    page.locator("#video_in video").first.wait_for()
    page.locator("#video_run").click()
    video = page.locator("#video_out video").first
    video.wait_for(state="visible")
    page.wait_for_function(
        "() => { const v = document.querySelector('#video_out video'); return v && v.readyState >= 2; }"
    )
    duration = video.evaluate("v => v.duration")
    assert abs(duration - 0.8) < 0.15
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('#video_out video').currentTime > 0.1")
    page.screenshot(path=str(SHOTS / "04_video_after.png"), full_page=True)


def test_mix_tab_solid_colour(page, tmp_path):
    page.get_by_role("tab", name="Background mix-and-match").click()
    data = _run_photo_tab(page, tmp_path, "mix", "solid colour", ("05_mix_before.png", "06_mix_after.png"))
    png = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert tuple(png[5, 5]) == (255, 178, 127)  # BGR of the default #7fb2ff


def test_chinese_ui(browser, app_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(app_server[0] + "/")
    page.get_by_role("tab", name="图片").wait_for(timeout=60_000)
    assert page.get_by_role("tab", name="背景混搭").count() == 1
    page.screenshot(path=str(SHOTS / "07_chinese.png"), full_page=True)
    context.close()
