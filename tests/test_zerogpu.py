"""ZeroGPU on CPU: an emulated Space import with the real `spaces` package and the real catalog
(every default model preloaded, torch on cuda asked for), GPU durations within the caps for a
10 s and a 60 s clip, the chunked GPU loop against the one-call pipeline, stop and progress
across a real fork, the caller's token, and the gpu_check dry run."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_models import affine_stylizer, write_catalog

from animefy.app import zerogpu
from animefy.schema import VideoRequest
from animefy.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

EMULATED_SPACE = r"""
import json, os, runpy, sys
from pathlib import Path
import spaces  # the real package; SPACES_ZERO_GPU is set below, after its import-time checks
recorded = []
real_gpu = spaces.GPU
def spy(task=None, *, duration=None, size=None):
    def wrap(fn):
        recorded.append(fn.__qualname__)
        return real_gpu(fn, duration=duration, size=size)
    return wrap(task) if callable(task) else wrap
spaces.GPU = spy
os.environ["SPACES_ZERO_GPU"] = "true"
# The only CUDA stub: a CPU build of torch cannot hold tensors on cuda, so the torch engine's
# sessions are placed on the meta device, and the device asked for is recorded.
from animefy.models.engines import torch_engine
asked = []
init = torch_engine.TorchSession.__init__
def on_meta(self, path, device="cpu", dtype="float32", round_to=None, graph_mode="eager"):
    asked.append([Path(path).name, device, dtype])
    init(self, path, "meta", dtype, round_to, graph_mode)
torch_engine.TorchSession.__init__ = on_meta
runpy.run_path(sys.argv[1])  # app.py as a Space imports it (not __main__: nothing launches)
from animefy.app import zerogpu
from animefy.models import registry
from animefy.settings import Settings
s = Settings.from_env()
plans = {}
for seconds in (10, 60):
    from animefy.image.pipeline import check_request
    from animefy.schema import VideoRequest
    request, _ = check_request(VideoRequest(), s, False)
    per_frame = zerogpu.per_frame_seconds(request, s, (1280, 720))
    chunks = zerogpu.plan_chunks(seconds * 30, per_frame, zerogpu.start_seconds(s), 1, 1280 * 720 * 3)
    plans[seconds] = [[c.chunk.start, c.chunk.stop, c.chunk.start - c.chunk.first, c.seconds] for c in chunks]
print("RESULT" + json.dumps({"asked": asked, "gpu": recorded, "plans": plans,
      "loaded": sorted(k[0].name for k in registry._cache)}))
"""


@pytest.mark.real
def test_emulated_zerogpu_import_preloads_every_default_model(real_models, tmp_path):
    """app.py imported as on a ZeroGPU Space, with the real catalog: the default stylizers,
    the RVM matte (format "rvm", skipped before), the face detector and the face stylizer are
    all built at import, the torch ones asked for on cuda; each GPU call of a 10 s and a 60 s
    720p clip asks for no more than the per-call cap."""
    models = tmp_path / "models"
    models.mkdir()
    for f in (real_models / "models").glob("*.onnx"):
        (models / f.name).symlink_to(f)
    # the catalog's YuNet file name; the shared copy is the same model under another name
    (models / "face_detection_yunet_2023mar.onnx").symlink_to(real_models / "models" / "yunet_face_detection.onnx")
    script = tmp_path / "space.py"
    script.write_text(EMULATED_SPACE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPACES_", "ANIMEFY_"))}
    env.update(ANIMEFY_MODELS_DIR=str(models), ANIMEFY_OFFLINE="1", ANIMEFY_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(ROOT), HOME=str(tmp_path))  # fmt: skip
    run = subprocess.run([sys.executable, str(script), str(ROOT / "app.py")], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.split("RESULT", 1)[1])
    asked = {name: (device, dtype) for name, device, dtype in out["asked"]}
    for f in ("animeganv3_shinkai_37.onnx", "animeganv3_hayao_36_512.onnx", "animeganv3_tiny_cute.onnx",
              "rvm_mobilenetv3_fp32.onnx"):  # fmt: skip
        assert asked[f][0] == "cuda", (f, asked)
    assert asked["rvm_mobilenetv3_fp32.onnx"][1] == "float32"  # RVM stays fp32 (measured)
    assert {"yunet", "shinkai_v3", "hayao_v3"} <= set(out["loaded"])  # face detector + the default styles
    assert "stylize_chunk" in out["gpu"]
    for seconds, chunks in out["plans"].items():
        assert chunks[0][0] == 0 and chunks[-1][1] == int(seconds) * 30
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:], strict=False))  # frame-exact, no gap
        assert all(1 <= c[3] <= zerogpu.CALL_SECONDS for c in chunks), chunks
    assert len(out["plans"]["60"]) > len(out["plans"]["10"])


def test_chunk_plan_is_the_video_codes_plan_and_each_call_fits():
    """One planner: the GPU calls are animefy/video/chunks.py's frame-exact chunks (drawings
    whole, warm-up before, one drawing of look-ahead after), capped by time and bytes."""
    from animefy.video.chunks import plan_chunks as frame_plan

    for frames, hold in ((1, 1), (299, 1), (1800, 2), (1801, 3)):
        calls = zerogpu.plan_chunks(frames, 0.3, 10.0, hold, 1280 * 720 * 3)
        chunks = [c.chunk for c in calls]
        size = max(c.frames for c in chunks)
        assert chunks == frame_plan(frames, 1.0, size, hold, blend=0, max_frames=size)  # the same plan, not a copy
        assert all(c.head == c.tail == 0 for c in chunks)  # GPU calls are joined as drawn: no cross-fade
        assert chunks[0].start == 0 and chunks[0].first == 0 and chunks[-1].stop == frames
        assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:], strict=False))
        assert all(c.start % hold == 0 and c.first % hold == 0 for c in chunks)
        assert all(c.seconds <= zerogpu.CALL_SECONDS for c in calls), calls
        assert all(c.first < c.start for c in chunks[1:]) and all(c.end > c.stop for c in chunks[:-1])
        assert max(c.frames for c in chunks) - min(c.frames for c in chunks) < 2 * hold  # no tiny last call
    # the frame budget per call caps chunks too (1080p frames are pickled across the fork)
    big = zerogpu.plan_chunks(600, 0.001, 1.0, 1, 1920 * 1080 * 3)
    assert len(big) > 1 and max(c.frames for c in big) * 1920 * 1080 * 3 <= zerogpu.CHUNK_BYTES


def test_frame_plan_caps_chunk_length():
    """The additive `max_frames` of chunks.plan_chunks: no chunk writes more, on whole drawings."""
    from animefy.video.chunks import plan_chunks as frame_plan

    assert len(frame_plan(100, 25.0, 2.0, 1)) == 2  # about 2 s each: 50 frames
    for hold in (1, 2, 3):
        chunks = frame_plan(100, 25.0, 2.0, hold, max_frames=40)
        assert max(c.frames for c in chunks) <= 40 and chunks[-1].stop == 100
        assert all(c.start % hold == 0 for c in chunks)
    assert frame_plan(100, 25.0, 2.0, 2, max_frames=1) == frame_plan(100, 25.0, 2.0, 2, max_frames=2)  # one drawing


def test_quota_text_says_what_fits_and_offers_trimming():
    def plan(frames, per_frame):
        return zerogpu.GpuPlan(frames, frames / 30, per_frame, 10.0, 1, zerogpu.plan_chunks(frames, per_frame, 10.0))

    short = plan(60, 0.05)
    assert short.fits("anonymous") and "fits either" in zerogpu.plan_text(short)
    long = plan(1800, 0.3)
    assert not long.fits("free")
    text = zerogpu.plan_text(long)
    assert f"{long.gpu_seconds} s of GPU time" in text and "trim it to its first" in text
    keep = long.seconds_that_fit("anonymous")
    trimmed = plan(int(keep * 30), 0.3)
    assert trimmed.fits("anonymous") and not plan(int(keep * 30) + 30, 0.3).fits("anonymous")


def test_video_plan_text_is_only_for_zerogpu(tmp_path):
    from test_video import make_clip

    clip = str(make_clip(tmp_path / "c.mp4", fps="25", seconds=1))
    assert zerogpu.video_plan_text(clip, VideoRequest(person_style="cel"), Settings()) == ""
    text = zerogpu.video_plan_text(clip, VideoRequest(person_style="cel"), Settings(on_zerogpu=True))
    assert "GPU time" in text and "120 s without an account" in text
    assert zerogpu.video_plan_text(str(tmp_path / "missing.mp4"), VideoRequest(), Settings(on_zerogpu=True)) == ""


# ------------------------------------------------------------------- chunks vs one call


def _tiny_settings(tmp_path: Path) -> Settings:
    models = tmp_path / "models"
    models.mkdir()
    affine_stylizer(models / "inv.onnx")
    cat = write_catalog(tmp_path / "cat.toml", {"inv": {"role": "stylize", "filename": "inv.onnx"}})
    return Settings(models_dirs=(models,), user_catalog=cat, offline=True, output_dir=tmp_path / "out",
                    cache_dir=tmp_path / "cache")  # fmt: skip


def test_chunked_gpu_loop_matches_one_pass_and_reports_progress(tmp_path, monkeypatch):
    """Frames decoded here, pictures out of each (in-process) GPU call, encoded here: same
    frame count and pictures as the CPU path, progress in clip frames, every call's duration
    the one its chunk asked for."""
    from test_video import make_clip

    from animefy.app.service import render_video as one_call
    from animefy.video.io import probe, read_frames

    settings = _tiny_settings(tmp_path)
    clip = str(make_clip(tmp_path / "c.mp4", fps="25", seconds=2))
    request = VideoRequest(person_style="inv", background="keep", strength=0.0, glitch_repair=False, reuse=False)
    monkeypatch.setattr(zerogpu, "CHUNK_BYTES", 20 * probe(clip).width * probe(clip).height * 3)  # 20-frame calls
    calls, seen = [], []

    def call(frames, keep, *args, seconds, **kw):
        calls.append((len(frames), keep[0], seconds))
        yield from zerogpu.stylize_chunk(frames, keep, *args, seconds=seconds, **kw)

    result = zerogpu.render_video(clip, request, settings, progress=lambda d, t: seen.append((d, t)), call=call,
                                  out=str(tmp_path / "out.mp4"))
    reference = one_call(clip, request, settings)
    assert len(calls) >= 3 and all(w > 0 for _, w, _ in calls[1:])
    assert result.frames == reference.frames == 50
    assert seen[-1] == (50, 50) and all(a[0] <= b[0] for a, b in zip(seen, seen[1:], strict=False))
    ours = np.stack(list(read_frames(result.path, probe(result.path))))
    theirs = np.stack(list(read_frames(reference.path, probe(reference.path))))
    assert np.abs(ours.astype(int) - theirs).mean() < 1.0  # same pictures (codec noise only)


def test_one_gpu_call_draws_what_the_cpu_path_draws_with_every_temporal_stage_on(tmp_path):
    """Regression: the GPU worker had its own copy of the loop (no drawing context, so no shared
    motion for reuse and the supervisor): with reuse, deflicker and glitch repair on, a clip
    that fits one GPU call must give the CPU path's pictures (the same loop: ClipLoop)."""
    from test_video import make_clip

    from animefy.app.service import render_video as one_call
    from animefy.video.io import probe, read_frames

    settings = _tiny_settings(tmp_path)
    clip = str(make_clip(tmp_path / "c.mp4", fps="25", seconds=1.2))
    request = VideoRequest(person_style="inv", background="keep", hold=2)  # reuse, deflicker, repair: defaults
    assert request.reuse and request.strength > 0 and request.glitch_repair
    result = zerogpu.render_video(clip, request, settings, out=str(tmp_path / "gpu.mp4"))
    reference = one_call(clip, request, settings)
    assert result.frames == reference.frames == 30 and "1 GPU call" in result.messages[-1]
    ours = np.stack(list(read_frames(result.path, probe(result.path)))).astype(int)
    theirs = np.stack(list(read_frames(reference.path, probe(reference.path)))).astype(int)
    assert np.abs(ours - theirs).max() <= 2, np.abs(ours - theirs).max()
    assert result.report.reuse.drawings == reference.report.reuse.drawings == 15


def test_gpu_worker_runs_the_pipelines_own_loop(tmp_path, monkeypatch):
    """Whatever the video pipeline's loop does, each GPU call does: a change made to
    ClipLoop.run (here: black pictures) shows in the GPU path's output, once per call."""
    from test_video import make_clip

    from animefy.video import pipeline
    from animefy.video.io import probe, read_frames

    settings = _tiny_settings(tmp_path)
    clip = str(make_clip(tmp_path / "c.mp4", fps="25", seconds=1))
    monkeypatch.setattr(zerogpu, "CHUNK_BYTES", 16 * probe(clip).width * probe(clip).height * 3)
    loops, real = [], pipeline.ClipLoop.run

    def run(self, frames):
        loops.append(self)
        for picture, count in real(self, frames):
            yield np.zeros_like(picture), count

    monkeypatch.setattr(pipeline.ClipLoop, "run", run)
    request = VideoRequest(person_style="inv", background="keep")
    result = zerogpu.render_video(clip, request, settings, out=str(tmp_path / "gpu.mp4"))
    calls = int(result.messages[-1].split()[2])
    assert calls >= 2 and len(loops) == calls and result.frames == 25
    assert np.stack(list(read_frames(result.path, probe(result.path)))).max() <= 16  # black, codec noise


def test_stop_during_a_chunk_leaves_nothing_behind(tmp_path):
    from test_video import make_clip

    settings = _tiny_settings(tmp_path)
    clip = str(make_clip(tmp_path / "c.mp4", fps="25", seconds=2))
    request = VideoRequest(person_style="inv", background="keep")
    stop = zerogpu.StopFlag(tmp_path)

    def progress(done, total):
        if done >= 8:
            stop.set()  # what the page's Stop does, from the main process

    with pytest.raises(zerogpu.StoppedError):
        zerogpu.render_video(clip, request, settings, progress=progress, stop=stop,
                             out=str(settings.output_dir / "out.mp4"))
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True
    stop.close()
    assert not Path(stop.path).exists()


# ------------------------------------------------------------------- across a real fork


def _worker(args_q, res_q) -> None:  # spaces' worker: forked once, then fed calls through a queue
    while (item := args_q.get()) is not None:
        kind, value = item
        if kind == "file":
            for i in range(200):
                if os.path.exists(value):
                    res_q.put(("stopped", i))
                    break
                res_q.put(("progress", i))  # progress crosses back through the result pipe
                time.sleep(0.01)
            else:
                res_q.put(("ran out", 200))


def test_stop_file_crosses_a_real_fork_and_an_event_cannot():
    """The worker is forked before the call exists (as `spaces` reuses its worker): a file
    created by the parent afterwards is seen; a multiprocessing Event made for the call cannot
    even be sent to it; progress comes back through the worker's result pipe."""
    ctx = multiprocessing.get_context("fork")
    args_q, res_q = ctx.SimpleQueue(), ctx.SimpleQueue()
    proc = ctx.Process(target=_worker, args=(args_q, res_q), daemon=True)
    proc.start()
    try:
        flag = zerogpu.StopFlag()
        args_q.put(("file", flag.path))
        first = res_q.get()
        assert first[0] == "progress"
        flag.set()
        while (item := res_q.get())[0] == "progress":
            pass
        assert item[0] == "stopped" and item[1] < 200
        flag.close()
        with pytest.raises(RuntimeError, match="inheritance"):
            args_q.put(("event", ctx.Event()))
    finally:
        args_q.put(None)
        proc.join(10)


def test_caller_token_reaches_spaces_request_context():
    pytest.importorskip("spaces")  # installed with the app's requirements
    from gradio.context import LocalContext
    from spaces.zero.client import _get_headers, _get_token_and_payload

    with zerogpu.caller_token({"X-IP-Token": "abc.def.ghi"}):
        request = LocalContext.request.get()
        token, _ = _get_token_and_payload(_get_headers(request))
        assert token == "abc.def.ghi"
    assert LocalContext.request.get(None) is None
    with zerogpu.caller_token({}):
        assert LocalContext.request.get(None) is None


def _token(user: str) -> str:
    """A token shaped as ZeroGPU's (a JWT whose payload spaces decodes; the signature is the
    scheduler's business)."""
    import base64

    body = base64.urlsafe_b64encode(json.dumps({"user": user}).encode()).decode().rstrip("=")
    return f"e30.{body}.sig"


def _token_spaces_sees() -> tuple[str | None, dict]:
    """What spaces' client would send to the scheduler for a GPU call made here and now."""
    from gradio.context import LocalContext
    from spaces.zero.client import _get_headers, _get_token_and_payload

    return _get_token_and_payload(_get_headers(LocalContext.request.get(None)))


def test_rest_photo_runs_on_the_callers_token_in_its_worker_thread(tmp_path, monkeypatch):
    """The photo renders in the thread pool: the caller's X-IP-Token is what spaces reads
    there, and the next call, sent without one, is anonymous again (nothing leaks through a
    reused pool thread)."""
    pytest.importorskip("spaces")
    from fastapi.testclient import TestClient
    from test_security import _png

    from animefy.app import rest as rest_mod

    seen = []

    def render(image, request, picture, settings, timings=None):
        seen.append(_token_spaces_sees())
        out = tmp_path / f"o{len(seen)}.png"
        out.write_bytes(b"png")
        return str(out), []

    monkeypatch.setattr(rest_mod, "render_image", render)
    settings = Settings(offline=True, output_dir=tmp_path / "out", rate_limit_per_minute=1000, on_zerogpu=True)
    client = TestClient(rest_mod.create_rest_app(settings))
    token = _token("alice")
    for headers in ({"X-IP-Token": token}, {}, {"x-ip-token": token}):
        r = client.post("/image", files={"file": ("a.png", _png())}, data={"person_style": "cel"}, headers=headers)
        assert r.status_code == 200, r.text
    assert seen == [(token, {"user": "alice"}), (None, {}), (token, {"user": "alice"})]


def test_rest_video_job_runs_on_the_callers_token_kept_in_memory_only(tmp_path, monkeypatch):
    """A job's GPU calls (in its worker thread) carry the token of whoever submitted it; the
    token never reaches the job store on disk and is forgotten when the job ends."""
    pytest.importorskip("spaces")
    from fastapi.testclient import TestClient
    from test_jobs import _wait
    from test_video import make_clip

    from animefy.app import jobs as jobs_mod
    from animefy.app import rest as rest_mod

    seen = []

    def render(video, request, settings, picture=None, progress=None, out=None):
        seen.append(_token_spaces_sees()[0])
        Path(out).write_bytes(b"mp4")

        class Report:
            def as_dict(self):
                return {"frames": 1}

        return type("Result", (), {"path": out, "report": Report(), "messages": [], "frames": 1})()

    monkeypatch.setattr(jobs_mod, "render_video", render)
    settings = Settings(offline=True, output_dir=tmp_path / "out", rate_limit_per_minute=1000, video_workers=1,
                        on_zerogpu=True)  # fmt: skip
    app = rest_mod.create_rest_app(settings)
    client = TestClient(app)
    clip = make_clip(tmp_path / "c.mp4", fps="25", seconds=0.4).read_bytes()
    token = _token("bob")
    for headers in ({"X-IP-Token": token}, {}):
        r = client.post("/video", files={"file": ("c.mp4", clip)}, data={"person_style": "cel"}, headers=headers)
        assert r.status_code == 202, r.text
        assert _wait(client, r.json()["job_id"], ("done", "failed"))["status"] == "done"
    assert seen == [token, None]
    assert app.state.jobs._tokens == {}  # forgotten when the job ended
    stored = b"".join(f.read_bytes() for f in settings.output_dir.rglob("*") if f.is_file())
    assert b"bob" not in stored and token.encode() not in stored  # never on disk


# ------------------------------------------------------------------- the GPU check, dry run


def test_gpu_check_dry_run_writes_the_cost_table(tmp_path):
    """benchmarks/gpu_check.py --device cpu on tiny models: parity, costs at 3 sizes, the
    pipeline, an emulated start (a real fork), and a JSON the duration table is built from."""
    from test_video import make_clip
    from tiny_models import nhwc_generator

    models = tmp_path / "models"
    models.mkdir()
    nhwc_generator(models / "gen.onnx")
    clip = make_clip(tmp_path / "c.mp4", fps="10", seconds=1)
    out = tmp_path / "check.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--models-dir", str(models),
           "--clip", str(clip), "--sizes", "32x32,32x64,64x64", "--repeats", "1", "--out", str(out),
           "--request", '{"person_style": "cel", "background": "keep"}']  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert {r["size"][0] * r["size"][1] for r in report["parity"]} == {32 * 32, 32 * 64, 64 * 64}
    assert all(r["max"] < 1e-3 for r in report["parity"])
    assert {(r["engine"], r["device"]) for r in report["costs"]} == {("torch", "cpu"), ("onnxruntime", "cpu")}
    assert all(r["ms"] > 0 and r["measured"] for r in report["costs"])
    assert report["pipeline"]["frames"] == 10 and report["pipeline"]["seconds_per_frame"] > 0
    assert report["start"]["fork_to_first_frame_seconds"] > 0
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_check import update_costs

    table = tmp_path / "costs.json"
    table.write_text(json.dumps({"models": [{"engine": "torch", "device": "cuda", "model": "x", "pixels": 1,
                                             "ms": 1.0, "measured": False}]}))  # fmt: skip
    update_costs(report, table)
    merged = json.loads(table.read_text())
    assert any(not r["measured"] for r in merged["models"])  # the estimate it did not measure stays
    assert sum(r["device"] == "cpu" for r in merged["models"]) == len(report["costs"])
    assert merged["call_start_seconds"]["cpu"] > 0


def test_gpu_check_overhead_table(tmp_path, capsys):
    """--overhead: ONNX Runtime and the torch engine's graph modes on one model, a median and
    range over independent runs."""
    from tiny_models import nhwc_generator

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_check import main

    models = tmp_path / "models"
    models.mkdir()
    nhwc_generator(models / "gen.onnx")
    out = tmp_path / "o.json"
    assert main(["--device", "cpu", "--models-dir", str(models), "--overhead", "gen.onnx", "--runs", "2",
                 "--repeats", "2", "--modes", "eager,frozen", "--out", str(out)]) == 0  # fmt: skip
    rows = {r["engine"]: r for r in json.loads(out.read_text())["overhead"]}
    assert set(rows) == {"onnxruntime cpu", "torch cpu eager", "torch cpu frozen"}
    for r in rows.values():
        assert len(r["runs_ms"]) == 2 and 0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"]
    assert "| torch cpu frozen |" in capsys.readouterr().out
