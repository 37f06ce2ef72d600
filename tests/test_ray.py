"""Chunks and Ray: a frame-exact plan, chunks stitched with the exact frame count, timestamps
and audio of one pass, merged reports; on a local Ray (2 CPUs, a small object store, its
files in a temporary folder): a worker killed mid-chunk is retried, Stop ends every chunk;
without Ray or with a dead address a clear error and nothing left behind."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from conftest import free_port
from test_video import audio_duration, make_clip

from animefy.errors import AnimefyError, LimitError
from animefy.schema import VideoRequest
from animefy.settings import Settings
from animefy.video.chunks import BLEND_FRAMES as BLEND
from animefy.video.chunks import cross_fade, plan_chunks, stylize_in_chunks
from animefy.video.io import ffmpeg_exe, probe
from animefy.video.pipeline import stylize_video

REQUEST = VideoRequest(person_style="invert", background_style="darken")  # matte, two styles, reuse, supervisor
CHUNK = 0.67  # seconds: 3 chunks of the test clip


def timestamps(path) -> tuple[str, list[int]]:
    """The video stream's time base and its frames' presentation timestamps, in order."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f",
                          "framecrc", "-"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    tb = next(line for line in out.splitlines() if line.startswith("#tb 0"))
    return tb, sorted(int(line.split(",")[2]) for line in out.splitlines() if line and not line.startswith("#"))


def keyframes(path) -> list[int]:
    """Indices of the video stream's keyframes (framecrc prints flags only for the others)."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f",
                          "framecrc", "-"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    packets = [line for line in out.splitlines() if line and not line.startswith("#")]
    return [i for i, line in enumerate(packets) if "F=" not in line or "F=0x1" in line or "F=0x3" in line]


@pytest.fixture
def clip(tmp_path):
    """2 s at 12 fps (24 frames) with audio: three chunks of 8 frames (CHUNK seconds)."""
    return make_clip(tmp_path / "in.mp4", fps="12", seconds=2.0, size="96x64", audio=True)


def test_plan_is_frame_exact_with_warm_up():
    chunks = plan_chunks(100, 25.0, 1.0, hold=1, warmup=12, blend=0)
    assert [c.start for c in chunks] == [0, 25, 50, 75] and [c.stop for c in chunks] == [25, 50, 75, 100]
    assert [c.first for c in chunks] == [0, 13, 38, 63]  # 12 warm-up frames, none before the clip
    assert [c.end for c in chunks] == [26, 51, 76, None]  # one frame of look-ahead, the last to the end
    assert [c.keep for c in chunks] == [(0, 25), (12, 37), (12, 37), (12, 37)]
    # a cross-fade of 6 frames at each seam: the earlier chunk renders 6 more, the later one
    # keeps its first 6 raw for the seam and writes the rest to its part
    faded = plan_chunks(100, 25.0, 1.0, hold=1, warmup=12, blend=6)
    assert [(c.head, c.tail) for c in faded] == [(0, 6), (6, 6), (6, 6), (6, 0)]
    assert [c.end for c in faded] == [32, 57, 82, None] and [c.keep for c in faded] == [(0, 25), (18, 37)] + [(18, 37)] * 2
    assert [faded[1].side(f) for f in (24, 25, 30, 31, 49, 50, 55, 56)] == [None, "head", "head", None, None, "tail",
                                                                          "tail", None]  # fmt: skip
    assert {c.head for c in plan_chunks(24, 12.0, 0.67, blend=20)[1:]} == {7}  # never the whole of a chunk
    assert all(c.head % 2 == 0 for c in plan_chunks(101, 25.0, 1.0, hold=2, blend=5))  # whole drawings
    on_twos = plan_chunks(101, 25.0, 1.0, hold=2, warmup=5)  # boundaries and warm-up on whole drawings
    assert all(c.start % 2 == 0 and c.first % 2 == 0 for c in on_twos) and on_twos[-1].stop == 101
    assert (
        sum(c.frames for c in on_twos) == 101 and max(c.frames for c in on_twos) - min(c.frames for c in on_twos) <= 2
    )
    assert len(plan_chunks(10, 25.0, 5.0)) == 1  # shorter than a chunk: one
    with pytest.raises(AnimefyError):
        plan_chunks(0, 25.0, 5.0)


@pytest.mark.parametrize("offset", [0.0, 0.3])
def test_seeking_to_a_chunk_is_frame_exact(tmp_path, offset):
    """A chunk seeks to its first frame (io.seek_time) instead of decoding the clip up to it,
    and gets the very frames a full decode counts: B-frames, a keyframe every 5 frames, and
    (offset) a video stream that starts 0.3 s after the audio."""
    from animefy.video.io import frame_times, read_frames, seek_time

    clip = make_clip(tmp_path / "gop.mp4", fps="12", seconds=3.0, size="96x64", audio=True, extra=["-g", "5"])
    if offset:
        late = tmp_path / "late.mp4"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-itsoffset", str(offset), "-i", str(clip), "-i", str(clip),
                        "-map", "0:v", "-map", "1:a", "-c", "copy", str(late)], check=True)  # fmt: skip
        clip = late
    info = probe(clip)
    assert info.start_offset == pytest.approx(offset, abs=0.01)
    times = frame_times(clip)
    every = [f.copy() for f in read_frames(clip, info)]
    assert len(times) == len(every) == 36
    for first, stop in ((1, 4), (5, 9), (7, 20), (23, None), (35, None)):
        reader = read_frames(clip, info, first=first, stop=stop, seek=seek_time(times, first))
        assert reader.seek is not None
        got = list(reader)
        assert len(got) == len(every[first:stop]) and all(
            np.array_equal(a, b) for a, b in zip(got, every[first:stop], strict=True)
        ), first


def test_chunks_in_process_keep_frames_timestamps_audio(tmp_path, tiny_setup, clip):
    # (one pass keeps the input's timestamps and audio: tests/test_video.py)
    seen = []
    chunked = stylize_in_chunks(clip, tmp_path / "out" / "chunked.mp4", REQUEST, chunk_seconds=CHUNK,
                                progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert chunked.frames == 24 and str(chunked.fps) == "12"
    assert timestamps(chunked.path) == timestamps(clip) and not probe(chunked.path).variable_fps
    assert audio_duration(chunked.path) == pytest.approx(audio_duration(clip), abs=0.05)
    assert seen[-1] == (24, 24) and all(d <= t for d, t in seen)
    report = chunked.report
    assert report.frames == 24 and all(0 <= f < 24 for f in report.rebuilt)
    # warm-up: 8 frames before chunk 2 (all there are), 12 before chunk 3; chunks 1 and 2 render
    # the next one's first BLEND frames for the seam and look 1 frame beyond
    assert report.drawings == report.reuse.drawings == 24 + 8 + 12 + 2 * (BLEND + 1)
    assert report.reuse.keyframes[0] == 0 and all(0 <= k < 24 for k in report.reuse.keyframes)
    assert sum(report.reuse.passes.values()) > 0 and report.reuse.passes.pixels
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["chunked.mp4"]  # no parts left behind


def test_a_trimmed_clip_in_chunks_is_its_first_seconds_with_their_audio(tmp_path, tiny_setup, clip):
    """max_seconds in chunks: the frames, timestamps and audio of the first N seconds, as the
    single pass writes them; a clip over the length limit is accepted once trimmed within it."""
    request = REQUEST.model_copy(update={"max_seconds": 1.4})  # 17 of the 24 frames (ceil(1.4 x 12))
    chunked = stylize_in_chunks(clip, tmp_path / "out" / "cut.mp4", request, chunk_seconds=0.5)
    single = stylize_video(clip, tmp_path / "one.mp4", request)
    assert chunked.frames == single.frames == 17 and chunked.report.frames == 17
    tb, stamps = timestamps(clip)
    assert timestamps(chunked.path) == timestamps(single.path) == (tb, stamps[:17])
    # encoded once, as the single pass is: no keyframe where a part began (its noise a jump of its own)
    assert keyframes(chunked.path) == keyframes(single.path) == [0]
    assert audio_duration(chunked.path) == pytest.approx(17 / 12, abs=0.05)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["cut.mp4"]
    short = dataclasses.replace(Settings.from_env(), max_video_seconds=1.5)
    with pytest.raises(LimitError):
        stylize_in_chunks(clip, tmp_path / "out" / "whole.mp4", REQUEST, short, chunk_seconds=0.5)
    assert stylize_in_chunks(clip, tmp_path / "out" / "ok.mp4", request, short, chunk_seconds=0.5).frames == 17


def test_transparent_chunks_are_a_zip_of_every_frame(tmp_path, tiny_setup, clip):
    import zipfile

    request = VideoRequest(person_style="invert", background="transparent", transparent_format="png-zip", reuse=False)
    result = stylize_in_chunks(clip, tmp_path / "cut.zip", request, chunk_seconds=CHUNK)
    with zipfile.ZipFile(result.path) as z:
        names = z.namelist()
    assert names == ["fps.txt"] + [f"frame_{i:06d}.png" for i in range(24)]
    with pytest.raises(AnimefyError, match="zip"):  # webm parts cannot be joined without re-encoding
        stylize_in_chunks(clip, tmp_path / "cut.webm", request.model_copy(update={"transparent_format": "webm"}))


def test_cross_fade_goes_a_drawing_at_a_time():
    before, after = np.zeros((4, 2, 2, 3), np.uint8), np.full((4, 2, 2, 3), 150, np.uint8)
    assert [int(f[0, 0, 0]) for f in cross_fade(before, after)] == [30, 60, 90, 120]
    assert [int(f[0, 0, 0]) for f in cross_fade(before, after, hold=2)] == [50, 50, 100, 100]  # twos stay twos


def test_seams_are_cross_faded_not_cut(tmp_path, clip, monkeypatch):
    """Chunks whose renderings differ (each paints its whole range flat grey, a level of its
    own): the stitched clip goes from one level to the next over the BLEND frames after each
    seam, a drawing at a time, with the clip's frames and timestamps. (Without the cross-fade
    the level jumps at the seam.)"""
    from animefy.video import chunks as chunks_mod
    from animefy.video.io import read_frames
    from animefy.video.pipeline import VideoResult, _open_writer
    from animefy.video.temporal import TemporalOptions, TemporalReport

    info = probe(clip)
    plan = plan_chunks(24, 12.0, CHUNK)
    level = {c.end: 40 + 80 * c.index for c in plan}  # chunk k paints everything 40 + 80k (its end: its key)

    def painted(src, out, request, settings, batch_size, progress, picture, frames, keep, tap):
        first, end, _seek = frames
        grey = np.full((info.height, info.width, 3), level[end], np.uint8)
        writer = _open_writer(out, info, info.width, info.height, "mp4", src, part=True)
        n = (end or 24) - first
        for i in range(n):
            tap(i, grey, 1)
            if keep[0] <= i < keep[1]:
                writer.write(grey)
        report = TemporalReport(TemporalOptions(), frames=writer.frames, drawings=n)
        return VideoResult(writer.close(), writer.frames, info.fps, (info.width, info.height), chunks_mod.Timings(),
                           report)  # fmt: skip

    monkeypatch.setattr(chunks_mod, "stylize_video", painted)
    result = stylize_in_chunks(clip, tmp_path / "faded.mp4", REQUEST, chunk_seconds=CHUNK)
    assert result.frames == 24 and timestamps(result.path) == timestamps(clip)
    assert not probe(result.path).variable_fps  # (parts with B-frames after one without made it look so)
    got = [float(f.mean()) for f in read_frames(result.path, probe(result.path))]
    want = []
    for c in plan:
        for f in range(c.start, c.stop):
            i = f - c.start
            w = (i + 1) / (BLEND + 1) if i < c.head else 1.0
            want.append(level[c.end] - 80 * (1 - w))
    assert BLEND > 1 and plan[1].head == BLEND
    assert np.abs(np.array(got) - np.array(want)).max() < 2.5, (got, want)
    steps = np.abs(np.diff(got))
    assert steps.max() < 80 / BLEND  # the largest step between frames: a share of the jump


def test_without_ray_a_clear_error_and_nothing_left(tmp_path, tiny_setup, clip, monkeypatch, capsys):
    from animefy.app.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    out = tmp_path / "out" / "r.mp4"
    assert main(["video", str(clip), "-o", str(out), "-s", "invert", "--ray", "-q"]) == 2
    assert "Ray is not installed" in capsys.readouterr().err
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []


def test_dead_address_a_clear_error_and_503(tmp_path, tiny_setup, clip, capsys):
    pytest.importorskip("ray")
    from animefy.app.cli import main
    from animefy.app.service import check_video, uses_ray

    dead = f"127.0.0.1:{free_port()}"
    out = tmp_path / "r.mp4"
    started = time.monotonic()
    assert main(["video", str(clip), "-o", str(out), "-s", "invert", "--ray", dead, "-q"]) == 2
    assert f"Ray cluster at {dead} does not answer" in capsys.readouterr().err and not out.exists()
    assert time.monotonic() - started < 20
    # A server: a request for Ray without a cluster, or with one that does not answer, is a 503
    # before the job is queued, and the message does not name the address.
    with pytest.raises(AnimefyError) as exc:
        uses_ray(VideoRequest(ray=True), Settings())
    assert exc.value.http_status == 503
    settings = Settings(ray_address=dead, output_dir=tmp_path / "results")
    with pytest.raises(AnimefyError) as exc:
        check_video(str(clip), VideoRequest(person_style="invert"), settings, False)
    assert exc.value.http_status == 503 and dead not in str(exc.value)


# -- on a local Ray ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module: 2 CPUs, an 80 MB object store, its files in a temporary
    folder that is gone afterwards; shut down at the end."""
    ray = pytest.importorskip("ray")
    from animefy.video.ray_chunks import ray_session

    def ours() -> set[str]:
        return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("animefy-ray-")}

    before = ours()
    with ray_session(None, workers=2, object_store_mb=80) as session:
        assert ours() - before  # Ray's session files (and the actors' scratch) are in there
        yield session
    assert not ray.is_initialized() and ours() == before


def run_on_local_ray(clip, out, progress=None, on_pool=None):
    """stylize_in_chunks with the Ray runner on the module's Ray; returns (VideoResult, chunk results)."""
    from animefy.video.ray_chunks import local_threads, run_on_ray

    results = []

    def runner(job, chunks, work, chunk_progress):
        results.extend(run_on_ray(job, chunks, work, chunk_progress, workers=2, on_pool=on_pool))
        return results

    settings = local_threads(Settings.from_env(), 2)
    result = stylize_in_chunks(clip, out, REQUEST, settings, CHUNK, progress, runner=runner)
    return result, results


def test_ray_three_chunks_exact(tmp_path, tiny_setup, clip, local_ray):
    seen = []
    result, parts = run_on_local_ray(clip, tmp_path / "out" / "ray.mp4", lambda d, t: seen.append((d, t)))
    assert result.frames == 24 and [p.frames for p in parts] == [8, 8 - BLEND, 8 - BLEND]  # + 2 seams of BLEND
    assert timestamps(result.path) == timestamps(clip)
    assert audio_duration(result.path) == pytest.approx(audio_duration(clip), abs=0.05)
    assert result.report.frames == 24 and result.report.drawings == 24 + 8 + 12 + 2 * (BLEND + 1)
    assert seen[-1] == (24, 24) and len(seen) > 3  # chunk progress came through while they ran
    assert len({p.worker for p in parts}) == 2  # both actors worked
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ray.mp4"]


def test_worker_killed_mid_chunk_is_retried(tmp_path, tiny_setup, clip, local_ray):
    pools, killed = [], []

    def progress(done, total):
        if killed or not pools:
            return
        for actor, chunk in pools[0].busy():
            ready = local_ray.get(actor.progress.remote()).get(chunk.index, 0)
            if 0 < ready < chunk.frames:  # mid-chunk: some frames written, not all
                pid = local_ray.get(actor.pid.remote())
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, chunk.index))
                return

    result, parts = run_on_local_ray(clip, tmp_path / "ray.mp4", progress, pools.append)
    assert killed, "no chunk was seen mid-way"
    pid, index = killed[0]
    assert result.frames == 24 and timestamps(result.path) == timestamps(clip)
    redone = next(p for p in parts if p.index == index)
    assert "restarted" in redone.worker and f"pid {pid}" not in redone.worker
    assert pools[0].submitted == {0: 1, 1: 1, 2: 1}  # Ray retried the one chunk; nothing was handed out twice


class Stop(Exception):
    pass


def test_stop_cancels_every_chunk(tmp_path, tiny_setup, clip, local_ray):
    pools, pids = [], []

    def progress(done, total):
        if pools and len(pools[0].busy()) == 2 and done > 0:
            pids.extend(local_ray.get([a.pid.remote() for a in pools[0].actors]))
            raise Stop

    out = tmp_path / "out" / "ray.mp4"
    with pytest.raises(Stop):
        run_on_local_ray(clip, out, progress, pools.append)
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)  # both workers ended, the busy chunks with them
    assert list((tmp_path / "out").iterdir()) == []  # no output, no parts


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped by Ray) is not running either
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_rest_job_runs_on_the_servers_cluster(tmp_path, tiny_setup, clip, local_ray):
    """A server with ANIMEFY_RAY_ADDRESS: a REST video job runs in chunks on that cluster (here
    the module's Ray, already connected) with its progress and merged report in the job."""
    import dataclasses
    import shutil

    from animefy.app import storage
    from animefy.app.jobs import VideoJobs

    settings = dataclasses.replace(Settings.from_env(), ray_address="127.0.0.1:6379", output_dir=tmp_path / "results")
    upload = storage.new_upload_folder(settings) / "input.mp4"
    shutil.copy(clip, upload)
    jobs = VideoJobs(settings)
    request = VideoRequest(person_style="invert", background_style="darken", chunk_seconds=1.0, ray_workers=2)
    job = jobs.submit(upload, request, None, 24, owner="test")
    deadline = time.monotonic() + 120
    while job.state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = jobs.get(job.id)
    assert job.state == "done", job.error
    assert (job.frames_done, job.frames_total) == (24, 24) and job.report["frames"] == 24
    result = jobs.folder / job.output
    assert timestamps(result) == timestamps(clip) and not upload.exists()


def test_a_server_on_ray_runs_ray_jobs_at_once_not_its_core_slots(monkeypatch):
    """With a cluster the server only orchestrates: ANIMEFY_RAY_JOBS (default 4) video jobs at
    once, whatever its cores; without one the cores decide (ANIMEFY_VIDEO_WORKERS)."""
    from animefy.errors import ConfigError

    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    assert Settings().workers()[1] == 1 and Settings(ray_jobs=6).workers()[1] == 1  # no cluster: the cores
    assert Settings(ray_address="10.0.0.5:6379").workers()[1] == 4
    assert Settings.from_env({"ANIMEFY_RAY_ADDRESS": "10.0.0.5:6379", "ANIMEFY_RAY_JOBS": "7"}).workers()[1] == 7
    with pytest.raises(ConfigError):
        Settings(ray_jobs=-1)


def test_two_servers_share_one_ray_and_keep_their_own_records(tmp_path, tiny_setup, local_ray):
    """Two REST apps (each its own output folder, so its own job store) against ONE Ray: a job
    to each, both finish with the exact frame count on the shared workers, each store records
    its own job only, and a restarted app answers its job from its store."""
    import dataclasses

    from fastapi.testclient import TestClient

    from animefy.app.jobstore import JobStore
    from animefy.app.rest import create_rest_app

    data = make_clip(tmp_path / "in.mp4", fps="12", seconds=2.0, size="96x64", audio=True).read_bytes()
    address = local_ray.get_runtime_context().gcs_address  # the servers' ANIMEFY_RAY_ADDRESS
    base = dataclasses.replace(Settings.from_env(), ray_address=address, ray_jobs=2, rate_limit_per_minute=1000)
    servers = [dataclasses.replace(base, output_dir=tmp_path / name) for name in ("a", "b")]
    apps = [create_rest_app(s) for s in servers]
    assert [app.state.jobs.workers for app in apps] == [2, 2]  # ray_jobs, not cores/8
    clients = [TestClient(app) for app in apps]
    form = {"person_style": "invert", "background_style": "darken", "chunk_seconds": "1.0"}
    ids = []
    for client in clients:
        r = client.post("/video", files={"file": ("c.mp4", data)}, data=form)
        assert r.status_code == 202, r.text
        ids.append(r.json()["job_id"])
    deadline, status = time.monotonic() + 150, {}
    while time.monotonic() < deadline:
        status = {i: c.get(f"/jobs/{i}").json() for c, i in zip(clients, ids, strict=True)}
        if all(s["status"] not in ("queued", "running") for s in status.values()):
            break
        time.sleep(0.2)
    for job_id in ids:
        s = status[job_id]
        assert s["status"] == "done", s
        assert s["progress"] == {"frames_done": 24, "frames_total": 24} and s["temporal_report"]["frames"] == 24
    assert ray_is_still_up(local_ray)  # the servers' jobs did not shut the shared Ray down
    for client, settings, job_id, other in zip(clients, servers, ids, reversed(ids), strict=True):
        assert client.get(f"/jobs/{other}").status_code == 404  # the other server's job is not in this store
        record = JobStore(settings.output_dir.resolve()).get(job_id)  # read afresh from the SQLite file
        assert record.state == "done" and record.frames_done == 24
        result = settings.output_dir / record.output
        assert timestamps(result) == timestamps(tmp_path / "in.mp4")
    restarted = TestClient(create_rest_app(servers[0]))  # a new app on server a's folder
    s = restarted.get(f"/jobs/{ids[0]}").json()
    assert s["status"] == "done" and s["progress"]["frames_done"] == 24
    r = restarted.get(f"/jobs/{ids[0]}/result")
    assert r.status_code == 200 and r.content == (servers[0].output_dir / JobStore(servers[0].output_dir.resolve())
                                                  .get(ids[0]).output).read_bytes()  # fmt: skip


def ray_is_still_up(ray) -> bool:
    return ray.is_initialized() and ray.cluster_resources().get("CPU") == 2


def test_a_server_connects_once_and_stays_connected(monkeypatch):
    """Jobs running at once on a server share one connection: the first connects (once, even
    when several start together), none disconnects (keep); the CLI's session still ends its own."""
    import threading

    from animefy.video import ray_chunks

    class FakeRay:
        def __init__(self):
            self.up, self.inits, self.shutdowns = False, 0, 0

        def is_initialized(self):
            return self.up

        def init(self, address=None, **kw):
            time.sleep(0.05)  # a slow connect: a second thread must not connect meanwhile
            self.up, self.inits = True, self.inits + 1

        def shutdown(self):
            self.up, self.shutdowns = False, self.shutdowns + 1

    fake = FakeRay()
    monkeypatch.setattr(ray_chunks, "import_ray", lambda: fake)

    def job():
        with ray_chunks.ray_session("auto", public=True, keep=True) as ray:
            assert ray.is_initialized()

    threads = [threading.Thread(target=job) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (fake.inits, fake.shutdowns, fake.up) == (1, 0, True)
    fake.up = False
    with ray_chunks.ray_session("auto"):
        pass
    assert (fake.inits, fake.shutdowns, fake.up) == (2, 1, False)
