"""REST video jobs in-process: the SQLite job store, the sweeper against files jobs still hold,
cancellation (DELETE), queue position and estimates, photos that never wait behind a video,
a photo stopped when its client leaves, and the rate limiter's memory."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_security import _leftovers, _png
from test_video import make_clip

from animefy.app import jobs as jobs_mod
from animefy.app import rest as rest_mod
from animefy.app import storage
from animefy.app.jobstore import JobRecord, JobStore
from animefy.app.rest import RateLimiter, create_rest_app
from animefy.errors import ConfigError
from animefy.settings import Settings


@pytest.fixture
def clip(tmp_path) -> bytes:
    return make_clip(tmp_path / "c.mp4", fps="25", seconds=0.4).read_bytes()


class Gate:
    """Stands in for render_video: writes the partial file the encoder would, waits until
    released (or cancelled through the progress callback), then needs its clip to exist."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, video, request, settings, picture=None, progress=None, out=None):
        out = Path(out)
        part = out.with_name(f".{out.stem}.part{out.suffix}")
        part.write_bytes(b"partial")
        self.started.set()
        try:
            while not self.release.wait(0.05):
                progress(1, 10)
            data = Path(video).read_bytes()  # the upload must still be there
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.replace(out)
        out.write_bytes(data)

        class Report:
            def as_dict(self):
                return {"frames": 10}

        return type("Result", (), {"path": out, "report": Report(), "messages": [], "frames": 10})()


def _app(tmp_path, monkeypatch, gate: Gate | None = None, **kw):
    if gate is not None:
        monkeypatch.setattr(jobs_mod, "render_video", gate)
    settings = Settings(offline=True, output_dir=tmp_path / "out", rate_limit_per_minute=1000, video_workers=1, **kw)
    return TestClient(create_rest_app(settings)), settings


def _submit(client, clip: bytes) -> str:
    r = client.post("/video", files={"file": ("c.mp4", clip)}, data={"person_style": "cel"})
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def _wait(client, job_id: str, states: tuple[str, ...], seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.get(f"/jobs/{job_id}").json()
        if status.get("status") in states:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {status}")


def test_sweeper_spares_a_queued_jobs_upload_and_a_running_jobs_partial_output(tmp_path, monkeypatch, clip):
    """Regression (ANIMEFY_RESULT_TTL=20): the sweeper deleted both, and both jobs failed."""
    gate = Gate()
    client, settings = _app(tmp_path, monkeypatch, gate, result_ttl=20)
    running, queued = _submit(client, clip), _submit(client, clip)
    assert gate.started.wait(30)
    out = settings.output_dir
    held = {p.name for p in out.iterdir()} - storage.INFRASTRUCTURE
    assert len([n for n in held if n.startswith("upload_")]) == 2 and any(".part" in n for n in held)
    stray = out / "animefy_old.png"
    stray.write_bytes(b"x")
    later = time.time() + 120  # everything is now far older than the TTL
    assert storage.sweep(settings, now=later) == 1 and not stray.exists()
    assert held <= {p.name for p in out.iterdir()}
    gate.release.set()
    for job in (running, queued):
        assert _wait(client, job, ("done", "failed"))["status"] == "done"
        assert client.get(f"/jobs/{job}/result").content == clip
    # Results live for the TTL after their job ended, then go with their job.
    assert storage.sweep(settings) == 0
    assert storage.sweep(settings, now=time.time() + 21) == 2
    assert client.get(f"/jobs/{running}").status_code == 404
    assert _leftovers(out) == []


def test_start_up_sweep_removes_unheld_debris_only(tmp_path):
    settings = Settings(output_dir=tmp_path / "out", result_ttl=60)
    store = storage.instance(settings)
    folder = store.folder
    (folder / "upload_held").mkdir()
    (folder / "upload_held" / "input.mp4").write_bytes(b"x")
    (folder / "upload_dead").mkdir()
    (folder / ".animefy_dead.part.mp4").write_bytes(b"x")
    store.add(JobRecord(id="q", request="{}", state="queued", upload="upload_held/input.mp4",
                        output="animefy_q.mp4", owner="1.2.3.4", created=time.time()), max_queued=8)  # fmt: skip
    assert storage.sweep(settings, startup=True) == 2
    assert _leftovers(folder) == ["upload_held"]


def test_a_second_instance_on_the_same_folder_is_refused_naming_it(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    settings = Settings(output_dir=tmp_path / "out")
    storage.instance(settings)
    code = (f"from animefy.app.storage import instance; from animefy.settings import Settings; "
            f"instance(Settings(output_dir=__import__('pathlib').Path({str(settings.output_dir)!r})))")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert res.returncode != 0 and "ConfigError" in res.stderr
    assert f"output folder {settings.output_dir.resolve()}" in res.stderr and "ANIMEFY_OUTPUT_DIR" in res.stderr


def test_an_unusable_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    with pytest.raises(ConfigError, match="output folder .* cannot be written"):
        storage.instance(Settings(output_dir=blocker / "out"))


def test_delete_cancels_a_queued_job_at_once_and_a_running_one_at_its_next_frame(tmp_path, monkeypatch, clip):
    gate = Gate()
    client, settings = _app(tmp_path, monkeypatch, gate)
    running, queued = _submit(client, clip), _submit(client, clip)
    assert gate.started.wait(30)
    r = client.delete(f"/jobs/{queued}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["error"]["code"] == "cancelled"
    assert len([n for n in _leftovers(settings.output_dir) if n.startswith("upload_")]) == 1
    r = client.delete(f"/jobs/{running}")
    assert r.status_code == 202 and r.json()["status"] == "running" and r.json()["cancel_requested"]
    assert _wait(client, running, ("cancelled", "failed", "done"))["status"] == "cancelled"
    assert _leftovers(settings.output_dir) == []  # no upload, no partial output, no result
    assert client.get(f"/jobs/{running}/result").status_code == 409
    assert client.delete(f"/jobs/{running}").status_code == 200  # cancelling twice is fine
    assert client.delete("/jobs/nosuchjob").status_code == 404


def test_delete_stops_the_real_pipeline_and_removes_its_partial_file(tmp_path, monkeypatch):
    """The real video pipeline, slowed per frame: cancelling mid-clip ends it at the next frame
    and the encoder's partial file goes."""
    real = jobs_mod.render_video

    def slow(video, request, settings, picture=None, progress=None, out=None):
        def each(done, total):
            progress(done, total)
            time.sleep(0.05)

        return real(video, request, settings, picture, each, out)

    monkeypatch.setattr(jobs_mod, "render_video", slow)
    client, settings = _app(tmp_path, monkeypatch)
    job = _submit(client, make_clip(tmp_path / "long.mp4", fps="25", seconds=8).read_bytes())
    deadline = time.monotonic() + 120
    while client.get(f"/jobs/{job}").json()["progress"]["frames_done"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert any(".part" in n for n in _leftovers(settings.output_dir))
    assert client.delete(f"/jobs/{job}").status_code == 202
    status = _wait(client, job, ("cancelled", "failed", "done"))
    assert status["status"] == "cancelled" and 0 < status["progress"]["frames_done"] < 200
    assert _leftovers(settings.output_dir) == []
    assert client.delete(f"/jobs/{job}").status_code == 200
    done = _submit(client, make_clip(tmp_path / "short.mp4", fps="25", seconds=0.2).read_bytes())
    assert _wait(client, done, ("done", "failed"))["status"] == "done"
    assert client.delete(f"/jobs/{done}").status_code == 409


def test_queue_position_and_an_estimate_from_measured_frame_times(tmp_path, monkeypatch, clip):
    gate = Gate()
    client, settings = _app(tmp_path, monkeypatch, gate)
    first, second, third = _submit(client, clip), _submit(client, clip), _submit(client, clip)
    assert gate.started.wait(30)
    status = [client.get(f"/jobs/{j}").json() for j in (first, second, third)]
    assert [s["queue_position"] for s in status] == [0, 1, 2]
    assert all(s["estimate_seconds"] is None for s in status)  # nothing measured yet
    store: JobStore = client.app.state.jobs.store
    now = time.time()
    store.add(JobRecord(id="old", request="{}", state="queued", upload="upload_x/input.mp4", output="animefy_x.mp4",
                        owner="t", created=now - 100, frames_total=50), max_queued=99)  # fmt: skip
    store.claim_next()  # "old" is the oldest queued job: it runs, then ends after 50 frames in 25 s
    store._run("UPDATE jobs SET started = ? WHERE id = 'old'", (now - 25,))
    store.finish("old", "done", frames=50)
    per_frame = store.seconds_per_frame()
    assert per_frame == pytest.approx(0.5, rel=0.01)
    total = client.get(f"/jobs/{first}").json()["progress"]["frames_total"]
    running = client.get(f"/jobs/{first}").json()
    left = total - running["progress"]["frames_done"]
    assert left == 9 and running["estimate_seconds"] == round(per_frame * left)
    # The third waits for what is left of the first and all of the second (one worker), then runs.
    assert client.get(f"/jobs/{third}").json()["estimate_seconds"] == round(per_frame * (left + total + total))
    gate.release.set()
    for job in (first, second, third):
        _wait(client, job, ("done",))


def test_a_photo_never_waits_behind_a_video(tmp_path, monkeypatch, clip):
    gate = Gate()
    client, _ = _app(tmp_path, monkeypatch, gate)
    job = _submit(client, clip)
    assert gate.started.wait(30)
    r = client.post("/image", files={"file": _png()}, data={"person_style": "cel"})
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
    assert client.get(f"/jobs/{job}").json()["status"] == "running"  # the video was still running
    gate.release.set()
    _wait(client, job, ("done",))


def test_a_photo_stops_when_its_client_disconnects(tmp_path, monkeypatch):
    """Over a real socket: the client sends a photo and hangs up; the render ends at its next
    stage instead of running on, and the upload is removed."""
    import uvicorn

    stages: list[str] = []
    finished = threading.Event()

    def render(image, request, picture, settings, timings=None):
        try:
            for i in range(200):  # 20 s of "stages" unless stopped
                with timings.stage(f"stage {i}"):
                    stages.append(image)
                    time.sleep(0.1)
            return None
        finally:
            finished.set()

    monkeypatch.setattr(rest_mod, "render_image", render)
    settings = Settings(offline=True, output_dir=tmp_path / "out", rate_limit_per_minute=1000)
    server = uvicorn.Server(uvicorn.Config(create_rest_app(settings), host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + _png() +
            b'\r\n--b\r\nContent-Disposition: form-data; name="person_style"\r\n\r\ncel\r\n--b--\r\n')  # fmt: skip
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)  # fmt: skip
            deadline = time.monotonic() + 30
            while not stages:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        left = time.monotonic()
        assert finished.wait(10)
        assert time.monotonic() - left < 3 and len(stages) < 40
        deadline = time.monotonic() + 5
        while _leftovers(settings.output_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _leftovers(settings.output_dir) == []
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_image_pipeline_checks_the_stop_flag_between_stages(tmp_path):
    import cv2

    from animefy.app.jobs import Cancelled
    from animefy.app.rest import StopTimings
    from animefy.app.service import render_image
    from animefy.schema import ImageRequest

    photo = tmp_path / "p.png"
    photo.write_bytes(_png())
    stop = threading.Event()
    settings = Settings(offline=True, output_dir=tmp_path / "out")
    png, _ = render_image(str(photo), ImageRequest(person_style="cel"), None, settings, StopTimings(stop))
    assert cv2.imread(png).shape == (64, 96, 3)
    stop.set()
    with pytest.raises(Cancelled):
        render_image(str(photo), ImageRequest(person_style="cel"), None, settings, StopTimings(stop))


def test_rate_limiter_forgets_idle_clients(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(rest_mod.time, "monotonic", lambda: clock[0])
    limiter = RateLimiter(per_minute=2)
    for i in range(5000):
        assert limiter.retry_after(f"10.0.{i // 256}.{i % 256}") == 0
    assert len(limiter.hits) == 5000
    assert limiter.retry_after("a") == 0 and limiter.retry_after("a") == 0 and limiter.retry_after("a") > 0
    clock[0] += 61
    assert limiter.retry_after("b") == 0
    assert list(limiter.hits) == ["b"]  # everyone idle for a minute is forgotten
    assert limiter.retry_after("a") == 0  # and has a fresh allowance
    small = RateLimiter(per_minute=5, max_keys=100)
    for i in range(1000):
        small.retry_after(str(i))
    assert len(small.hits) <= 100


def test_rest_app_exposes_one_limiter_for_the_page(tmp_path):
    app = create_rest_app(Settings(offline=True, output_dir=tmp_path / "out", rate_limit_per_minute=1))
    assert isinstance(app.state.limiter, RateLimiter)
    client = TestClient(app)
    assert app.state.limiter.retry_after("testclient") == 0  # a page call from the same client
    assert client.post("/image").status_code == 429


def test_workers_are_sized_from_the_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
    assert Settings().workers() == (4, 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    assert Settings().workers() == (1, 1)
    assert Settings(photo_workers=3, video_workers=2).workers() == (3, 2)
    assert Settings.from_env({"ANIMEFY_VIDEO_WORKERS": "5"}).video_workers == 5


def test_jobs_survive_a_new_store_on_the_same_file(tmp_path):
    """The store is a file: what one connection wrote, a fresh one (a restarted server) reads."""
    folder = tmp_path / "f"
    folder.mkdir()
    store = JobStore(folder)
    job = JobRecord(id="a", request='{"person_style": "cel"}', state="queued", upload="upload_a/input.mp4",
                    output="animefy_a.mp4", owner="9.9.9.9", created=time.time(), frames_total=12)  # fmt: skip
    assert store.add(job, max_queued=1) and not store.add(JobRecord(**{**job.__dict__, "id": "b"}), max_queued=1)
    assert store.claim_next().id == "a"
    store.finish("a", "done", report={"frames": 12}, messages=["m"], frames=12)
    again = JobStore(folder).get("a")
    assert (again.state, again.report, again.messages, again.owner, again.frames_done) == (
        "done", {"frames": 12}, ["m"], "9.9.9.9", 12)  # fmt: skip
    assert (folder / "jobs.sqlite3").exists()
    shutil.rmtree(folder)


def test_readme_lists_every_environment_variable_settings_reads():
    import re

    from conftest import ROOT

    read = set(re.findall(r'\(env, "([A-Z0-9_]+)"', (ROOT / "animefy" / "settings.py").read_text()))
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Environment variables")
    table = readme[start : readme.index("\n#", start + 1)]
    assert {"ANIMEFY_TRUSTED_PROXIES", "ANIMEFY_RESULT_TTL"} <= read and len(read) > 25
    assert sorted(v for v in read if f"`{v}`" not in table) == []
