"""The app as clients use it: gradio_client against the named endpoints and the REST API,
with `python app.py` running on 127.0.0.1 (tiny models unless ANIMEFY_TEST_REAL_MODELS=1)."""

from __future__ import annotations

import io
import time

import cv2
import httpx
import numpy as np
import pytest
from conftest import ROOT, person_on_green

EXAMPLES = ROOT / "examples"


def _png_bytes(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img[..., ::-1])[1].tobytes()


@pytest.fixture(scope="module")
def client(app_server):
    from gradio_client import Client

    return Client(app_server[0] + "/", verbose=False)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "person.png"
    path.write_bytes(_png_bytes(person_on_green(192, 256)))
    return path


def test_named_endpoints_are_documented(client):
    api = client.view_api(print_info=False, return_format="dict")
    names = set(api["named_endpoints"])
    assert {"/stylize_image", "/stylize_video", "/animefy"} <= names
    params = [p["parameter_name"] for p in api["named_endpoints"]["/stylize_image"]["parameters"]]
    assert params[:5] == ["image", "person_style", "background_style", "face_style", "background"]


def test_gradio_client_image_transparent_keeps_alpha(client, photo):
    from gradio_client import handle_file

    out = client.predict(
        image=handle_file(str(photo)), person_style="invert", background="transparent", api_name="/stylize_image"
    )
    png = cv2.imread(out, cv2.IMREAD_UNCHANGED)
    assert png.shape == (192, 256, 4)
    assert png[5, 5, 3] == 0 and png[150, 128, 3] == 255


def test_gradio_client_mix_with_colour_and_picture(client, photo, tmp_path):
    from gradio_client import handle_file

    out = client.predict(
        image=handle_file(str(photo)),
        person_style="invert",
        background="color",
        background_colour="#0000ff",
        api_name="/stylize_image",
    )
    assert tuple(cv2.imread(out)[5, 5]) == (255, 0, 0)  # BGR of #0000ff
    pic = tmp_path / "bg.png"
    pic.write_bytes(_png_bytes(np.full((50, 80, 3), (200, 100, 50), np.uint8)))
    out = client.predict(
        image=handle_file(str(photo)),
        person_style="invert",
        background_style="original",
        background="image",
        picture=handle_file(str(pic)),
        api_name="/stylize_image",
    )
    assert tuple(cv2.imread(out)[5, 5]) == (50, 100, 200)


def test_gradio_client_bad_inputs_give_clear_errors_and_server_keeps_serving(client, tmp_path, photo, app_server):
    from gradio_client import handle_file

    junk = tmp_path / "notes.png"
    junk.write_text("not a picture")
    # The same message as the CLI's, not Gradio's preprocessing error with its temporary paths.
    with pytest.raises(Exception, match="not a readable image") as refused:
        client.predict(image=handle_file(str(junk)), person_style="invert", api_name="/stylize_image")
    assert "UnidentifiedImageError" not in str(refused.value) and "/tmp" not in str(refused.value)
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(image=handle_file(str(photo)), person_style="nope", api_name="/stylize_image")
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\0" * (3 << 20))  # over the 2 MB test limit
    with pytest.raises(Exception):  # noqa: B017 - Gradio refuses the upload itself
        client.predict(image=handle_file(str(big)), person_style="invert", api_name="/stylize_image")
    assert httpx.get(app_server[0] + "/api/v1/health").status_code == 200
    out = client.predict(handle_file(str(photo)), "invert", api_name="/stylize_image")
    assert cv2.imread(out).shape == (192, 256, 3)


def test_quick_animefy_endpoint_takes_keywords(client, photo):
    from gradio_client import handle_file

    out = client.predict(image=handle_file(str(photo)), person_style="invert", background="transparent",
                         api_name="/animefy")  # fmt: skip
    png = cv2.imread(out, cv2.IMREAD_UNCHANGED)
    assert png.shape == (192, 256, 4) and png[5, 5, 3] == 0


def test_missing_model_is_a_plain_message_and_one_log_line(client, photo, app_server):
    from gradio_client import handle_file

    log = app_server[2]
    before = log.read_text()
    with pytest.raises(Exception) as refused:
        # A face style of its own needs the face finder, which the test server lacks.
        client.predict(image=handle_file(str(photo)), person_style="invert", face_style="original",
                       api_name="/stylize_image")  # fmt: skip
    message = str(refused.value)
    assert "face finder" in message and "Models tab" in message
    assert "ANIMEFY_MODELS_DIR" not in message and "python -m" not in message and "/" not in message
    time.sleep(0.5)
    new = log.read_text()[len(before) :]
    assert "Traceback" not in new
    assert len([line for line in new.splitlines() if "request refused" in line]) == 1


def test_console_at_start(app_server):
    """Missing models are listed once; readiness is announced after the REST API is mounted
    (the fixture waited for that line, then /api/v1 answered at once); no example caching noise."""
    text = app_server[2].read_text()
    assert text.count("models not on disk") == 1
    assert text.index("Running on") < text.index("REST API ready")
    assert text.count("Will cache examples") <= 1


def test_gradio_client_video(client, tmp_path):
    from gradio_client import handle_file
    from test_video import make_clip

    clip = make_clip(tmp_path / "clip.mp4", fps="25", seconds=0.4)
    out = client.predict(
        video=handle_file(str(clip)), person_style="invert", strength=0.9, hold=2, api_name="/stylize_video"
    )
    path = out["video"] if isinstance(out, dict) else out
    from animefy.video.io import probe

    assert probe(path).fps == 25 and probe(path).codec == "h264"


# --- REST -------------------------------------------------------------------------------


def test_rest_image_png_and_openapi(app_server, photo):
    base = app_server[0] + "/api/v1"
    r = httpx.post(
        base + "/image",
        files={"file": photo.read_bytes()},
        data={"person_style": "invert", "background": "transparent"},
        timeout=120,
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    png = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (192, 256, 4) and png[5, 5, 3] == 0
    spec = httpx.get(base + "/openapi.json").json()
    assert {"/image", "/video", "/jobs/{job_id}", "/jobs/{job_id}/result", "/styles"} <= set(spec["paths"])
    assert httpx.get(base + "/docs").status_code == 200
    styles = httpx.get(base + "/styles").json()["styles"]
    assert {"name": "invert", "available": True}.items() <= next(s for s in styles if s["name"] == "invert").items()


def test_rest_errors_are_json_with_codes(app_server, tmp_path):
    base = app_server[0] + "/api/v1"
    r = httpx.post(base + "/image", files={"file": b"hello"}, data={"person_style": "invert"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_input"
    r = httpx.post(base + "/image", files={"file": b"x" * (3 << 20)}, data={"person_style": "invert"})
    assert r.status_code == 413 and "ANIMEFY_MAX_UPLOAD_MB" in r.json()["error"]["message"]
    r = httpx.post(base + "/image", data={"person_style": "invert"})
    assert r.status_code == 400 and "file" in r.json()["error"]["message"]
    r = httpx.post(base + "/image", files={"file": b"x"}, data={"person_stile": "invert"})
    assert r.status_code == 400 and "person_stile" in r.json()["error"]["message"]
    r = httpx.get(base + "/no/such/route")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.post(base + "/video", files={"file": b"junk"}, data={"person_style": "invert", "hold": "5"})
    assert r.status_code == 400 and "hold" in r.json()["error"]["message"]
    assert httpx.get(base + "/jobs/nope").status_code == 404
    assert httpx.get(base + "/health").json()["status"] == "ok"


def test_rest_background_string_is_never_a_server_path(app_server, photo, tmp_path):
    """A client string naming a server file must be refused, not read (issue 11, item 1)."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(_png_bytes(np.full((64, 64, 3), 7, np.uint8)))
    base = app_server[0] + "/api/v1"
    for field, value in (("background", str(secret)), ("background", "/nonexistent/x.png"),
                         ("background_colour", str(secret))):  # fmt: skip
        data = {"person_style": "invert", field: value, **({"background": "color"} if "colour" in field else {})}
        r = httpx.post(base + "/image", files={"file": photo.read_bytes()}, data=data, timeout=60)
        assert r.status_code == 400, (field, value, r.status_code)
        message = r.json()["error"]["message"]
        assert str(secret) not in message and "nonexistent" not in message
        assert ("keep" in message and "transparent" in message) or "#RRGGBB" in message


def test_rest_video_job_submit_status_result(app_server, tmp_path):
    from test_video import make_clip

    base = app_server[0] + "/api/v1"
    clip = make_clip(tmp_path / "clip.mp4", fps="30000/1001", seconds=0.5)
    r = httpx.post(base + "/video", files={"file": ("clip.mp4", clip.read_bytes())}, data={"person_style": "invert"})
    assert r.status_code == 202
    job = r.json()
    assert httpx.get(base + f"/jobs/{job['job_id']}/result").status_code in (409, 200)
    for _ in range(240):
        status = httpx.get(base + job["status_url"].removeprefix("/api/v1")).json()
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.25)
    assert status["status"] == "done", status
    video = httpx.get(base + f"/jobs/{job['job_id']}/result")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    out = tmp_path / "out.mp4"
    out.write_bytes(video.content)
    from animefy.video.io import probe

    info = probe(out)
    assert str(info.fps) == "30000/1001"
    report = status["temporal_report"]
    assert report["frames"] == info.frame_estimate == 15 and report["drawings"] == 15
    assert report["rebuilt"] == [] and report["deflicker_strength"] > 0
    reuse = report["reuse"]  # what was drawn and what carried
    assert reuse["enabled"] and reuse["drawings"] == 15 and reuse["model_passes_per_drawing"] > 0
    assert "model passes per drawing" in reuse["summary"]
    # The job's summary in plain words (the page's status line says the same), the jargon under details.
    assert report["summary"].startswith("Done: 15 frames.") and "Background painted" in report["summary"]
    assert "model passes" not in report["summary"] and "model passes per drawing" in report["details"]


def test_rest_concurrent_requests_queue_instead_of_failing(app_server, photo):
    import concurrent.futures

    base = app_server[0] + "/api/v1"
    data = photo.read_bytes()

    def one(_):
        return httpx.post(
            base + "/image", files={"file": data}, data={"person_style": "invert"}, timeout=300
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(one, range(4))) == [200] * 4


def test_rate_limit_returns_429():
    from fastapi.testclient import TestClient

    from animefy.app.rest import create_rest_app
    from animefy.settings import Settings

    client = TestClient(create_rest_app(Settings(rate_limit_per_minute=2)))
    codes = [
        client.post("/image", files={"file": io.BytesIO(b"x")}, data={"person_style": "cel"}).status_code
        for _ in range(3)
    ]
    assert codes[:2] == [400, 400] and codes[2] == 429
    assert client.post("/image").json()["error"]["code"] == "rate_limited"


def test_zerogpu_duration_grows_with_clip_length(tmp_path):
    from test_video import make_clip

    from animefy.app.service import video_seconds

    short = video_seconds(str(make_clip(tmp_path / "s.mp4", fps="25", seconds=1, size="640x360")))
    long = video_seconds(str(make_clip(tmp_path / "l.mp4", fps="25", seconds=8, size="640x360")))
    assert 1 <= short < long
    assert video_seconds(str(tmp_path / "missing.mp4")) == 60


def test_a_file_that_is_no_clip_gets_a_plain_message(client, tmp_path):
    from gradio_client import handle_file

    junk = tmp_path / "holiday.mp4"
    junk.write_text("not a video at all")
    with pytest.raises(Exception) as refused:
        client.predict(video=handle_file(str(junk)), person_style="invert", api_name="/stylize_video")
    message = str(refused.value)
    assert "No video stream found" in message and "/" not in message, message
