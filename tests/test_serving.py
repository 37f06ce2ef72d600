"""The app as it is served (`python app.py`, Gradio's launch running uvicorn) over real
loopback sockets: X-Forwarded-For is not believed without trusted proxies, slow-header and
slow-body connections are closed, a second server on the same output folder is refused, and a
server killed with SIGKILL during a video job starts again with every job in a real state,
no file lost and no debris."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, free_port, make_tiny_models
from test_video import make_clip

from animefy.app.storage import INFRASTRUCTURE


class App:
    """`python app.py` on 127.0.0.1 with tiny models and the given output folder."""

    def __init__(self, root: Path, out: Path, **env: str) -> None:
        models = root / "models"
        if not models.exists():
            make_tiny_models(models, root / "catalog.toml", darken=False)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ, "PYTHONPATH": str(ROOT), "GRADIO_SERVER_PORT": str(self.port), "ANIMEFY_OFFLINE": "1",
            "ANIMEFY_OUTPUT_DIR": str(out), "ANIMEFY_MODELS_DIR": str(models),
            "ANIMEFY_CATALOG": str(root / "catalog.toml"), "ANIMEFY_DEFAULT_STYLE": "invert",
            "GRADIO_ANALYTICS_ENABLED": "False", "HF_HOME": str(root / "hf"), "ANIMEFY_CACHE_DIR": str(root / "cache"),
            **env,
        }  # fmt: skip
        self.log = root / f"app_{self.port}.log"
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=root, env=self.env,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self, seconds: float = 240) -> App:
        deadline = time.monotonic() + seconds
        while "REST API ready" not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("app did not start:\n" + self.text()[-3000:])
            time.sleep(0.25)
        return self

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    app = App(root, root / "out", ANIMEFY_RATE_LIMIT="4", ANIMEFY_READ_TIMEOUT="2",
              ANIMEFY_REQUEST_TIMEOUT="5").ready()  # fmt: skip
    yield app
    app.stop()


def test_rotating_forwarded_for_does_not_dodge_the_rate_limit(served):
    """uvicorn believed X-Forwarded-For from 127.0.0.1 by default and gave each request a new
    key; with no trusted proxies set the peer address is the key."""
    codes = [httpx.post(served.base + "/api/v1/image", headers={"X-Forwarded-For": f"10.9.{i}.1"},
                        timeout=30).status_code for i in range(6)]  # fmt: skip
    assert codes.count(429) >= 2 and set(codes) <= {400, 429}, codes
    assert codes[-1] == 429


def _closed_within(sock: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Seconds until the server closed the connection, and what it sent."""
    start, got = time.monotonic(), b""
    sock.settimeout(seconds)
    while True:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            raise AssertionError(f"still open after {seconds} s; got {got!r}") from None
        if not chunk:
            return time.monotonic() - start, got
        got += chunk


def test_slow_headers_and_slow_bodies_are_cut_off(served):
    with socket.create_connection(("127.0.0.1", served.port)) as s:  # headers that never end
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow:")
        took, got = _closed_within(s, 10)
        assert 1.5 < took < 5 and got.startswith(b"HTTP/1.1 408")
    with socket.create_connection(("127.0.0.1", served.port)) as s:  # a body that stops coming
        s.sendall(b"POST /api/v1/video HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: 100000\r\n\r\n--b\r\n")  # fmt: skip
        took, _ = _closed_within(s, 10)
        assert 1.5 < took < 5
    with socket.create_connection(("127.0.0.1", served.port)) as s:  # a byte a second: never idle, too slow
        start = time.monotonic()
        s.settimeout(0.2)
        for byte in b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 30:
            try:
                s.sendall(bytes([byte]))
                if s.recv(4096) == b"":
                    break
            except (TimeoutError, BlockingIOError):
                pass
            except OSError:  # reset by the server
                break
            time.sleep(0.8)
        assert 4.5 < time.monotonic() - start < 9
    assert httpx.get(served.base + "/api/v1/health", timeout=30).status_code == 200


def _submit(base: str, clip: Path) -> str:
    r = httpx.post(base + "/api/v1/video", files={"file": (clip.name, clip.read_bytes())},
                   data={"person_style": "invert"}, timeout=120)  # fmt: skip
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def _status(base: str, job: str) -> dict:
    return httpx.get(f"{base}/api/v1/jobs/{job}", timeout=30).json()


def _wait(base: str, job: str, check, seconds: float = 240) -> dict:
    deadline = time.monotonic() + seconds
    while not check(status := _status(base, job)):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} - INFRASTRUCTURE


def test_kill_9_during_a_video_job_then_restart_on_the_same_folder(tmp_path):
    out = tmp_path / "out" / "animefy_outputs"  # ANIMEFY_OUTPUT_DIR=out: the app writes in this sub-folder
    short = make_clip(tmp_path / "short.mp4", fps="25", seconds=0.4)
    long = make_clip(tmp_path / "long.mp4", fps="25", seconds=20, size="160x120")
    first = App(tmp_path, out.parent, ANIMEFY_VIDEO_WORKERS="1", ANIMEFY_MAX_UPLOAD_MB="20").ready()
    try:
        done = _submit(first.base, short)
        _wait(first.base, done, lambda s: s["status"] == "done")
        result = httpx.get(f"{first.base}/api/v1/jobs/{done}/result", timeout=60).content
        running, queued = _submit(first.base, long), _submit(first.base, short)
        # Running, with the encoder's partial file on disk (ffmpeg opens it after its first packets).
        _wait(first.base, running, lambda s: s["progress"]["frames_done"] > 0 and any(".part" in n for n in _entries(out)))
        assert _status(first.base, queued)["queue_position"] == 1

        # A second server on the same folder is refused, naming it, and breaks nothing.
        held = _entries(out)
        assert any(".part" in n for n in held) and len([n for n in held if n.startswith("upload_")]) == 2
        second = App(tmp_path, out.parent)
        assert second.proc.wait(timeout=240) != 0
        assert f"output folder {out.resolve()}" in second.text() and "ANIMEFY_OUTPUT_DIR" in second.text()
        assert held <= _entries(out) and _status(first.base, running)["status"] == "running"

        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=30)
    finally:
        first.stop()

    again = App(tmp_path, out.parent, ANIMEFY_VIDEO_WORKERS="1").ready()
    try:
        status = _status(again.base, running)
        assert status["status"] == "interrupted" and "restarted" in status["error"]["message"]
        assert _status(again.base, done)["status"] == "done"
        assert httpx.get(f"{again.base}/api/v1/jobs/{done}/result", timeout=60).content == result
        assert _wait(again.base, queued, lambda s: s["status"] in ("done", "failed"))["status"] == "done"
        assert httpx.get(f"{again.base}/api/v1/jobs/{queued}/result", timeout=60).status_code == 200
        results = {n for n in _entries(out) if n.startswith("animefy_") and n.endswith(".mp4")}
        debris = {n for n in _entries(out) if ".part" in n or n.startswith("upload_")}
        assert len(results) == 2 and debris == set(), _entries(out)
    finally:
        again.stop()
