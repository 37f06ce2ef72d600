"""Serving the page fairly and safely (issue 20, Gradio side), against the app served in this
process on 127.0.0.1 with tiny models made slow on purpose, so a run is long enough to stop:
Stop on the Photo tab and a closed page end the work itself (not only Gradio's task), a photo
does not wait behind a video, Gradio calls count against the REST API's rate limiter, Gradio's
error messages name no server path, and an upload is served back only to the browser that
sent it."""

from __future__ import annotations

import os
import threading
import time

import cv2
import httpx
import pytest
from conftest import free_port, make_tiny_models, person_on_green

DELAY = 0.25  # seconds per frame a slow stylizer takes


class Calls:
    """Every stylizer call the pipeline makes: (start time, frames)."""

    def __init__(self) -> None:
        self.log: list[tuple[float, int]] = []
        self.lock = threading.Lock()

    def count(self) -> int:
        with self.lock:
            return len(self.log)

    def wait_for(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            assert time.monotonic() < deadline, f"only {self.count()} stylizer calls, waited for {n}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base url, Calls, the REST app) for the page served in this process."""
    from starlette.middleware import Middleware
    from starlette.routing import Mount

    import animefy.image.pipeline as pipeline
    from animefy.app import ui
    from animefy.app.rest import create_rest_app
    from animefy.app.uploads import UploadOwners
    from animefy.settings import Settings

    root = tmp_path_factory.mktemp("served")
    make_tiny_models(root / "models", root / "catalog.toml")
    calls, real_load = Calls(), pipeline.load

    class Slow:
        def __init__(self, model):
            self.model, self.caps = model, model.caps

        def __getattr__(self, attr):
            return getattr(self.model, attr)

        def __call__(self, frames, *args, **kw):
            n = 1 if frames.ndim == 3 else len(frames)
            with calls.lock:
                calls.log.append((time.monotonic(), n))
            time.sleep(DELAY * n)
            return self.model(frames, *args, **kw)

    def load(name, role, *args, **kw):
        model = real_load(name, role, *args, **kw)
        return Slow(model) if role == "stylize" else model

    env = {
        "ANIMEFY_MODELS_DIR": str(root / "models"),
        "ANIMEFY_CATALOG": str(root / "catalog.toml"),
        "ANIMEFY_DEFAULT_STYLE": "invert",
        "ANIMEFY_OFFLINE": "1",
        "ANIMEFY_OUTPUT_DIR": str(root / "out"),
        "ANIMEFY_CACHE_DIR": str(root / "cache"),
        "ANIMEFY_RATE_LIMIT": "1000",
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "load", load)
        mp.setenv("GRADIO_SERVER_PORT", str(free_port()))
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        settings = Settings.from_env(env)
        rest = create_rest_app(settings)
        demo = ui.build_demo(settings, limiter=rest.state.limiter)
        demo.queue(default_concurrency_limit=1)
        ui.launch(demo, settings, routes=[Mount("/api/v1", app=rest)], middleware=[Middleware(UploadOwners)])
        try:
            yield demo.local_url.rstrip("/"), calls, rest
        finally:
            demo.close()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "person.png"
    cv2.imwrite(str(path), person_on_green(120, 160)[..., ::-1])
    return path


@pytest.fixture
def clip(tmp_path):
    from test_video import make_clip

    return make_clip(tmp_path / "clip.mp4", fps="25", seconds=2, size="96x64")


def _idle(timeout: float = 30) -> None:
    from animefy.app.ui import RUNS

    deadline = time.monotonic() + timeout
    while RUNS._runs:
        assert time.monotonic() < deadline, "a run is still working"
        time.sleep(0.05)


# --- fairness -------------------------------------------------------------------------------
def test_a_photo_does_not_wait_behind_a_video(served, photo, clip):
    from gradio_client import Client, handle_file

    base, calls, _ = served
    client = Client(base + "/", verbose=False)
    before = calls.count()
    video = client.submit(video=handle_file(str(clip)), person_style="invert", api_name="/stylize_video")
    calls.wait_for(before + 1)  # the clip is being drawn: 50 frames take over 12 s
    start = time.monotonic()
    out = client.predict(image=handle_file(str(photo)), person_style="invert", api_name="/stylize_image")
    took = time.monotonic() - start
    assert os.path.exists(out)
    assert not video.done(), "the photo had to wait for the video"
    assert took < 8, took
    drawn = calls.count()
    video.cancel()  # a client that gives up: its clip stops being drawn, not only its queue entry
    _idle(10)
    # The cancel travels over HTTP and the run checks for it before each frame: on a busy
    # machine a few frames (0.25 s each) are drawn meanwhile. A run left going would draw the
    # other 40-odd frames of the clip.
    assert calls.count() - drawn <= 6
    time.sleep(1)
    assert calls.count() - drawn <= 6, "frames were still being drawn after the run ended"


# --- rate limit -----------------------------------------------------------------------------
def test_gradio_calls_count_against_the_rest_limit(served, photo):
    from gradio_client import Client, handle_file

    base, _, rest = served
    limiter = rest.state.limiter
    saved = limiter.per_minute
    limiter.per_minute = 3
    limiter.hits.clear()
    try:
        client = Client(base + "/", verbose=False)
        with photo.open("rb") as fh:
            data = fh.read()
        for _ in range(2):
            r = httpx.post(base + "/api/v1/image", files={"file": ("p.png", data)}, data={"person_style": "invert"},
                           timeout=60)  # fmt: skip
            assert r.status_code == 200, r.text
        client.predict(image=handle_file(str(photo)), person_style="invert", api_name="/stylize_image")
        with pytest.raises(Exception, match="Too many requests") as refused:
            client.predict(image=handle_file(str(photo)), person_style="invert", api_name="/stylize_image")
        assert "/" not in str(refused.value).split("Too many")[1]  # no path in the message
        r = httpx.post(base + "/api/v1/image", files={"file": ("p.png", data)}, timeout=60)
        assert r.status_code == 429, "the page's calls used up the same budget"
    finally:
        limiter.per_minute = saved
        limiter.hits.clear()


# --- error messages and uploads ---------------------------------------------------------------
def _call_raw(base: str, api: str, data: list) -> str:
    """The HTTP API as a crafted client uses it: returns the event stream's text."""
    r = httpx.post(f"{base}/gradio_api/call/{api}", json={"data": data}, timeout=30)
    r.raise_for_status()
    event = r.json()["event_id"]
    return httpx.get(f"{base}/gradio_api/call/{api}/{event}", timeout=60).text


def test_gradio_errors_name_no_server_path(served):
    base = served[0]
    probe = {"path": "not_uploaded_probe.png", "meta": {"_type": "gradio.FileData"}}
    stream = _call_raw(base, "animefy", [probe, "invert", "keep"])
    assert "event: error" in stream
    assert os.getcwd() not in stream and "not_uploaded_probe" not in stream and "/tmp" not in stream
    # The page's own messages still reach the client, in plain words.
    stream = _call_raw(base, "animefy", [None, "invert", "keep"])
    assert "Upload a photo first" in stream


def test_an_upload_is_served_only_to_the_browser_that_sent_it(served, photo):
    base = served[0]
    with httpx.Client(base_url=base, timeout=30) as owner, httpx.Client(base_url=base, timeout=30) as other:
        r = owner.post("/gradio_api/upload", files={"files": ("mine.png", photo.read_bytes())})
        assert r.status_code == 200 and "animefy_uploader" in r.headers.get("set-cookie", "")
        path = r.json()[0]
        assert owner.get(f"/gradio_api/file={path}").content == photo.read_bytes()
        for url in (f"/gradio_api/file={path}", f"/gradio_api/file/{path}",
                    f"/gradio_api/file={os.path.dirname(path)}/./{os.path.basename(path)}"):  # fmt: skip
            assert other.get(url).status_code == 403, url
        # Another cookie is not the owner's either.
        other.cookies.set("animefy_uploader", "guess")
        assert other.get(f"/gradio_api/file={path}").status_code == 403
        # Results are still served to whoever has their address (the API clients' download).
        from gradio_client import Client, handle_file

        out = Client(base + "/", verbose=False, download_files=False).predict(
            image=handle_file(str(photo)), person_style="invert", api_name="/stylize_image"
        )
        assert other.get(out["url"].replace(base, "")).status_code == 200


# --- Stop and a closed page, in the browser ---------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from test_browser import ARGS

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        yield b
        b.close()


def _page(browser, base):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(base + "/")
    page.locator("#image_run").wait_for()
    return context, page


@pytest.mark.browser
def test_stop_on_the_photo_tab_ends_the_work(served, browser, photo):
    base, calls, _ = served
    context, page = _page(browser, base)
    page.locator("#image_in input[type=file]").set_input_files(str(photo))
    page.wait_for_function("() => document.querySelector('#image_in img')?.naturalWidth > 0")  # the owner sees it
    page.locator("#image_background_style input").click()
    page.locator("ul.option-list li", has_text="Darken").click()  # two styles: two passes at least
    before = calls.count()
    page.locator("#image_run").click()
    page.locator("#image_stop").wait_for(state="visible")
    calls.wait_for(before + 1)
    page.locator("#image_stop").click()
    page.locator("#image_run:not([disabled])").wait_for()
    assert not page.locator("#image_stop").is_visible()
    page.locator(".toast-body", has_text="Stopped").wait_for()
    _idle(10)
    assert calls.count() == before + 1, "the photo went on being drawn after Stop"
    # The next photo runs normally.
    page.locator("#image_run").click()
    page.wait_for_function("() => document.querySelector('#image_out img.fixed')?.src.includes('animefy_')")
    assert calls.count() >= before + 3
    context.close()


@pytest.mark.browser
def test_closing_the_page_ends_its_video(served, browser, clip):
    base, calls, _ = served
    context, page = _page(browser, base)
    page.get_by_role("tab", name="Video").click()
    page.locator("#video_in input[type=file]").set_input_files(str(clip))
    page.locator("#video_in video").first.wait_for()
    before = calls.count()
    page.locator("#video_run").click()
    calls.wait_for(before + 2)
    context.close()  # the visitor leaves mid-clip
    _idle(15)
    done = calls.count()
    time.sleep(1.5)
    assert calls.count() == done and done - before < 25, "the clip went on after its page closed"
