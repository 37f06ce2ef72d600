"""Issue 11's front-end items, driven the way a hostile or careless user hits them: the REST
API in-process and over a real socket, the CLI as a subprocess. Each test checks the status,
the message, and that nothing is left on disk."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT, person_on_green
from fastapi.testclient import TestClient
from test_video import make_clip

from animefy.app.rest import create_rest_app
from animefy.settings import Settings


def _png(h: int = 64, w: int = 96) -> bytes:
    return cv2.imencode(".png", person_on_green(h, w))[1].tobytes()


def _leftovers(folder) -> list[str]:
    from animefy.app.storage import INFRASTRUCTURE  # the instance's lock file and job store

    return sorted(p.name for p in folder.iterdir() if p.name not in INFRASTRUCTURE) if folder.exists() else []


@pytest.fixture
def rest(tmp_path):
    settings = Settings(offline=True, output_dir=tmp_path / "out", max_upload_mb=1, rate_limit_per_minute=1000,
                        max_queued_jobs=1)  # fmt: skip
    return TestClient(create_rest_app(settings)), settings.output_dir


def test_oversized_body_is_refused_from_content_length_without_reading_it(tmp_path):
    settings = Settings(offline=True, output_dir=tmp_path / "out", max_upload_mb=1)
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_rest_app(settings), host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # claims 10 GB, sends nothing
            s.sendall(b"POST /image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      b"Content-Length: 10000000000\r\n\r\n")  # fmt: skip
            start = time.monotonic()
            reply = ""
            while "}}" not in reply and time.monotonic() - start < 5:
                reply += s.recv(4096).decode()
            assert reply.startswith("HTTP/1.1 413") and "ANIMEFY_MAX_UPLOAD_MB" in reply
            assert time.monotonic() - start < 5

        def chunks():  # no Content-Length: the body is refused once it passes the limit
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
            for _ in range(64):
                yield b"x" * (256 << 10)

        import httpx

        r = httpx.post(f"http://127.0.0.1:{port}/image", content=chunks(),
                       headers={"Content-Type": "multipart/form-data; boundary=b"}, timeout=30)  # fmt: skip
        assert r.status_code == 413 and r.json()["error"]["code"] == "limit_exceeded"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert _leftovers(settings.output_dir) == []


def test_rate_limit_trusts_forwarded_for_only_from_configured_proxies(tmp_path):
    app = create_rest_app(Settings(offline=True, output_dir=tmp_path, rate_limit_per_minute=2))
    client = TestClient(app)  # the peer is "testclient", not a trusted proxy
    codes = [client.post("/image", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(3)]
    assert codes == [400, 400, 429]  # rotating the header does not give a new allowance
    r = client.post("/image")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1

    proxied = TestClient(create_rest_app(Settings(offline=True, output_dir=tmp_path, rate_limit_per_minute=2,
                                                  trusted_proxies=("testclient",))))  # fmt: skip
    codes = [proxied.post("/image", headers={"X-Forwarded-For": f"10.0.0.{i % 2}"}).status_code for i in range(4)]
    assert codes == [400, 400, 400, 400]  # two real clients behind the proxy, two requests each
    assert proxied.post("/image", headers={"X-Forwarded-For": "10.0.0.0"}).status_code == 429


def test_bad_uploads_leave_nothing_behind(rest):
    client, out = rest
    photo = _png()
    r = client.post("/image", files={"file": photo, "background_image": b""},
                    data={"person_style": "cel", "background": "image"})  # fmt: skip
    assert r.status_code == 400 and "empty" in r.json()["error"]["message"]
    r = client.post("/image", files={"file": photo, "background_image": b"x" * (3 << 20)},
                    data={"person_style": "cel", "background": "image"})  # fmt: skip
    assert r.status_code == 413
    r = client.post("/image", files={"file": b"not a picture"}, data={"person_style": "cel"})
    assert r.status_code == 400
    assert _leftovers(out) == []


def test_video_is_checked_before_it_is_queued(rest, tmp_path):
    client, out = rest
    clip = make_clip(tmp_path / "c.mp4", fps="25", seconds=0.4).read_bytes()
    r = client.post("/video", files={"file": ("c.mp4", clip)}, data={"person_style": "shinkai_v3"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"  # offline, not on disk
    assert "/" not in r.json()["error"]["message"].split("Tried:")[0]
    r = client.post("/video", files={"file": ("c.mp4", clip)}, data={"person_style": "cel",
                                                                      "transparent_format": "gif"})  # fmt: skip
    assert r.status_code == 400 and "webm" in r.json()["error"]["message"]
    long_clip = make_clip(tmp_path / "l.mp4", fps="25", seconds=3).read_bytes()
    limited = TestClient(create_rest_app(Settings(offline=True, output_dir=out, max_video_seconds=1)))
    r = limited.post("/video", files={"file": ("l.mp4", long_clip)}, data={"person_style": "cel"})
    assert r.status_code == 413 and "ANIMEFY_MAX_VIDEO_SECONDS" in r.json()["error"]["message"]
    assert _leftovers(out) == []


def test_full_video_queue_is_503_with_retry_after_and_leaves_no_upload(tmp_path, monkeypatch):
    import threading

    from animefy.app import jobs

    gate = threading.Event()
    monkeypatch.setattr(jobs, "render_video", lambda *a, **k: gate.wait(30) and None)
    out = tmp_path / "out"
    client = TestClient(create_rest_app(Settings(offline=True, output_dir=out, max_queued_jobs=1, video_workers=1)))
    clip = make_clip(tmp_path / "c.mp4", fps="25", seconds=0.4).read_bytes()
    codes = []
    for _ in range(4):  # one runs, one waits (max_queued_jobs=1), the rest find the queue full
        r = client.post("/video", files={"file": ("c.mp4", clip)}, data={"person_style": "cel"})
        codes.append(r.status_code)
        time.sleep(0.3)
    assert codes[:2] == [202, 202] and set(codes[2:]) == {503}
    assert r.json()["error"]["code"] == "queue_full" and int(r.headers["Retry-After"]) > 0
    assert len([n for n in _leftovers(out) if n.startswith("upload_")]) == 2  # only the accepted jobs' clips
    gate.set()


def test_sweeper_removes_expired_results_and_a_killed_runs_debris(tmp_path):
    from animefy.app.storage import sweep

    settings = Settings(output_dir=tmp_path, result_ttl=60)
    fresh, old = tmp_path / "animefy_new.png", tmp_path / "animefy_old.png"
    part, upload = tmp_path / ".animefy_x.part.mp4", tmp_path / "upload_abc"
    for f in (fresh, old, part):
        f.write_bytes(b"x")
    upload.mkdir()
    os.utime(old, (time.time() - 120, time.time() - 120))
    assert sweep(settings) == 1 and not old.exists() and fresh.exists() and part.exists()
    assert sweep(settings, startup=True) == 2 and not part.exists() and not upload.exists() and fresh.exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "animefy", *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def test_cli_refuses_bad_video_calls_before_any_work(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", fps="25", seconds=0.4)
    cases = [
        (["--batch-size", "0"], "o.mp4", "--batch-size must be at least 1"),
        (["--batch-size", "-3"], "o.mp4", "--batch-size must be at least 1"),
        ([], "o.txt", ".mp4"),
        ([], "o.png", ".mp4"),
        (["--background", "transparent"], "o.mp4", ".webm"),
        (["--background", "red"], "o.mp4", "invalid choice: 'red' (choose from 'keep', 'transparent', 'color'"),
    ]
    for extra, name, expected in cases:
        start = time.monotonic()
        res = _cli("video", str(clip), "-o", str(tmp_path / name), "-s", "cel", *extra)
        assert res.returncode == 2 and expected in res.stderr and "Traceback" not in res.stderr, (extra, res.stderr)
        assert not (tmp_path / name).exists() and time.monotonic() - start < 30
    res = _cli("video", str(clip), "-o", str(tmp_path / "new" / "dir" / "o.mp4"), "-s", "cel", "-q")
    assert res.returncode == 0, res.stderr  # a missing folder is created, as for images
    assert (tmp_path / "new" / "dir" / "o.mp4").is_file()


def test_cli_image_to_an_unwritable_place_is_one_line(tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(_png())
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    res = _cli("image", str(src), "-o", str(blocker / "out.png"), "-s", "cel")
    assert res.returncode == 2 and "Traceback" not in res.stderr and "choose another" in res.stderr
    res = _cli("image", str(src), "-o", str(tmp_path / "out.jpg"), "-s", "cel")
    assert res.returncode == 2 and ".png" in res.stderr


def test_gradio_serves_results_from_an_output_folder_it_does_not_allow_by_default(app_server, tmp_path):
    """Gradio serves its temp folder, the app's working directory and `allowed_paths` only. The
    app_server's output folder is outside the first two wherever the checkout and the system temp
    folder are, so the result comes back only because the app allows its output folder."""
    from gradio_client import Client, handle_file

    base, env, _ = app_server
    outputs = Path(env["ANIMEFY_OUTPUT_DIR"])
    for default in (env["TMPDIR"], env["PWD"]):
        assert not outputs.resolve().is_relative_to(Path(default).resolve()), (outputs, default)
    before = set(outputs.rglob("animefy_*.png"))
    path = tmp_path / "gradio_photo.png"
    path.write_bytes(_png(96, 128))
    out = Client(base + "/", verbose=False).predict(image=handle_file(str(path)), person_style="invert",
                                                    api_name="/stylize_image")  # fmt: skip
    result = cv2.imread(out)
    assert result.shape == (96, 128, 3) and result.any()
    written = set(outputs.rglob("animefy_*.png")) - before
    assert any(np.array_equal(cv2.imread(str(f)), result) for f in written), written  # served from there
