"""What a ZeroGPU Space needs beyond the CPU app: every default model loaded at import, GPU
time that fits the visitor, and Stop and progress across `spaces`' fork.

- `preload(settings)`: every model the default pipeline uses (the default stylizers, the
  RVM matte, the YuNet face detector, the face stylizer) is built at import time; on ZeroGPU
  the torch engine places the weights on cuda then (the documented pattern), so no
  `@spaces.GPU` call loads a model on the visitor's time.
- GPU seconds come from a per-frame cost table (`gpu_costs.json` next to this file, written by
  `benchmarks/gpu_check.py`; every row says whether it was measured, where, and how). A clip
  runs as several GPU calls (`plan_chunks`), each asking only the duration its frames need;
  `plan_text` tells the visitor before the start how many GPU seconds a clip takes, whether
  that fits an anonymous or a free account's daily quota, and how much of it fits.
- Frames are decoded and encoded here, in the main process: a GPU call gets frames in and
  hands pictures out (`stylize_chunk`). It is a generator: `spaces` pipes each yield from
  its forked worker back to this process, which is how progress crosses the fork. Stop
  crosses it the other way as a file (`StopFlag`): a path is a plain picklable string, and
  the worker, forked earlier and reused, sees a file created after its fork; a
  multiprocessing Event made per call cannot be sent to it (tests/test_zerogpu.py shows
  both with a real fork).
- REST calls run outside any Gradio request, so ZeroGPU would charge them to the anonymous
  IP quota: `caller_token(headers)` carries the caller's `X-IP-Token` into the GPU call.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import math
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from animefy.errors import AnimefyError, InputError
from animefy.schema import ImageRequest, VideoRequest
from animefy.settings import Settings

log = logging.getLogger(__name__)

try:  # On a ZeroGPU Space, `spaces` is installed and must be imported before CUDA starts.
    import spaces  # type: ignore

    gpu = spaces.GPU
except ImportError:  # anywhere else the decorator does nothing and the app runs on CPU

    def gpu(fn=None, **_kw):
        return fn if fn is not None else (lambda f: f)

COSTS_FILE = Path(__file__).with_name("gpu_costs.json")
# Daily ZeroGPU quotas in GPU seconds, from the ZeroGPU documentation's usage tiers (2 min
# unauthenticated, 3.5 min for a free account, 25 min PRO). Requests above what is left are
# refused, so a clip "fits" when the durations it asks for add up to no more than this.
QUOTAS = {"anonymous": 120, "free": 210, "pro": 1500}
CALL_SECONDS = 60  # what one GPU call asks for at most: small calls are scheduled sooner and waste less
SAFETY = 1.5  # asked duration = SAFETY x estimate: the estimate's CUDA rows are not measured yet
CHUNK_BYTES = 256 << 20  # decoded frames handed to one GPU call (they are pickled across the fork)
WARM_FRAMES = 8  # frames run before a chunk (output dropped) so the matte and supervisor are warm


# ------------------------------------------------------------------------- preloading


def default_models(settings: Settings) -> list[tuple[str, str]]:
    """(name, role) of every model the default pipeline uses: the default request's styles
    (person, background, face), its matte, the face detector, and the preferred styles the
    page offers first."""
    from animefy.image.pipeline import check_request, faces_wanted
    from animefy.models.catalog import load_catalog
    from animefy.models.registry import PREFERRED_STYLES

    catalog = load_catalog(settings)
    request, needs = check_request(VideoRequest(), settings, False, catalog)
    if faces_wanted(request):  # on disk or not: on a Space it is fetched at import like the rest
        needs.append(("yunet", "face"))
    needs.append((request.matte_model, "matte"))  # any look with a background of its own needs it
    needs += [(s, "stylize") for s in PREFERRED_STYLES if s in catalog.models and not catalog.get(s).builtin]
    return list(dict.fromkeys(needs))


def preload(settings: Settings, models: list[tuple[str, str]] | None = None) -> list[str]:
    """Fetch and build `models` (default: `default_models`) now. Through the registry, so
    every format is built the way a request builds it (RVM's recurrent matter, YuNet's
    OpenCV detector, the stylizers' sessions); the sessions are cached by the runtime, so a
    request later finds them loaded. A model that cannot be had is skipped with a warning.
    Returns the names loaded."""
    from animefy.models import registry

    loaded = []
    for name, role in models if models is not None else default_models(settings):
        try:
            registry.load(name, role, settings)
            loaded.append(name)
        except AnimefyError as exc:
            log.warning("preload %s skipped: %s", name, exc)
    return loaded


# ------------------------------------------------------------------------- GPU seconds


@functools.lru_cache(maxsize=4)
def cost_table(path: str = str(COSTS_FILE)) -> dict:
    """The per-frame cost table (see benchmarks/gpu_check.py for its fields)."""
    return json.loads(Path(path).read_text())


def model_seconds(table: dict, engine: str, device: str, model: str, pixels: int) -> float:
    """Seconds one pass of `model` takes on a frame of `pixels` pixels: linear in pixels
    through the table's measured sizes (extrapolated past the largest), else the dearest
    stylizer of that engine and device."""
    rows = [r for r in table["models"] if r["engine"] == engine and r["device"] == device] or table["models"]
    own = sorted((r["pixels"], r["ms"]) for r in rows if r["model"] == model)
    if not own:
        own = [max(((r["pixels"], r["ms"]) for r in rows), key=lambda p: p[1] / p[0])]
    if len(own) == 1 or pixels <= own[0][0]:
        p, ms = own[0] if pixels <= own[0][0] else own[-1]
        return ms * max(pixels, 1) / p / 1000
    (p0, m0), (p1, m1) = next(((a, b) for a, b in zip(own, own[1:], strict=False) if pixels <= b[0]), own[-2:])
    return (m0 + (m1 - m0) * (pixels - p0) / (p1 - p0)) / 1000


def frame_models(request: ImageRequest) -> list[str]:
    """The models a frame goes through (each style once, the matte when one is needed)."""
    from animefy.models.catalog import ORIGINAL

    names = [s for s in dict.fromkeys((request.person_style, request.bg_style, request.head_style)) if s != ORIGINAL]
    return names + ([request.matte_model] if request.needs_matte else [])


def _engine(settings: Settings) -> tuple[str, str]:
    from animefy.models.runtime import choose_engine

    try:
        choice = choose_engine(settings)
    except AnimefyError:
        return "onnxruntime", "cpu"
    return choice.engine, choice.device


def start_seconds(settings: Settings) -> float:
    """A GPU call's fixed cost on this device: scheduling, the worker's fork, weights moved."""
    starts = cost_table()["call_start_seconds"]
    return float(starts.get(_engine(settings)[1], max(starts.values())))


def per_frame_seconds(request: ImageRequest, settings: Settings, size: tuple[int, int]) -> float:
    """Estimated seconds per frame of size (w, h) for `request` on the engine and device the
    settings choose (on ZeroGPU: torch on cuda): every model's pass, plus the pipeline's own
    CPU work per frame (supervisor, compositing, face detection), which stays on the CPU
    inside a GPU call and was measured here."""
    table = cost_table()
    engine, device = _engine(settings)
    pixels = size[0] * size[1]
    work = sum(model_seconds(table, engine, device, m, pixels) for m in frame_models(request))
    return work + table["pipeline_ms_per_megapixel"] * pixels / 1e6 / 1000


@dataclass(frozen=True)
class Chunk:
    start: int  # first output frame of the chunk
    end: int  # one past its last
    warm: int  # frames before `start` run first, their pictures dropped
    seconds: int  # the duration its GPU call asks for


def call_seconds(frames: int, per_frame: float, start: float) -> int:
    """The duration one GPU call asks for: its start-up plus its frames, with the margin."""
    return max(1, math.ceil(SAFETY * (start + frames * per_frame)))


def plan_chunks(frames: int, per_frame: float, start_s: float, hold: int = 1, frame_bytes: int = 0) -> list[Chunk]:
    """Split `frames` into GPU calls of at most CALL_SECONDS each (and CHUNK_BYTES of frames),
    on multiples of `hold` so every drawing stays whole; each call after the first starts
    with WARM_FRAMES (rounded up to whole drawings) already shown by the one before.

    Kept to one function so it can call animefy/video/chunks.py (the Ray work's frame-exact
    plan) once that lands; today it is its own small plan."""
    warm = -(-WARM_FRAMES // hold) * hold
    by_time = int((CALL_SECONDS / SAFETY - start_s) / max(per_frame, 1e-6))
    by_bytes = CHUNK_BYTES // frame_bytes if frame_bytes else by_time
    size = max(hold, (min(by_time, by_bytes) - warm) // hold * hold)
    chunks, begin = [], 0
    while begin < frames:
        end = min(frames, begin + size)
        pre = min(warm, begin)
        chunks.append(Chunk(begin, end, pre, call_seconds(end - begin + pre, per_frame, start_s)))
        begin = end
    return chunks


@dataclass(frozen=True)
class GpuPlan:
    frames: int
    seconds_of_video: float
    per_frame: float
    start: float
    hold: int
    chunks: list[Chunk]
    frame_bytes: int = 0  # a decoded frame's size: it caps the frames of one call too

    @property
    def gpu_seconds(self) -> int:
        return sum(c.seconds for c in self.chunks)

    def fits(self, quota: str) -> bool:
        return self.gpu_seconds <= QUOTAS[quota]

    def seconds_that_fit(self, quota: str) -> float:
        """How many seconds of the clip (from its start) fit the quota."""
        if self.fits(quota):
            return self.seconds_of_video
        fps = self.frames / max(self.seconds_of_video, 1e-6)
        lo, hi = 0, self.frames
        while lo < hi:  # the most frames whose own plan fits
            mid = (lo + hi + 1) // 2
            chunks = plan_chunks(mid, self.per_frame, self.start, self.hold, self.frame_bytes)
            if sum(c.seconds for c in chunks) <= QUOTAS[quota]:
                lo = mid
            else:
                hi = mid - 1
        return math.floor(lo / fps * 10) / 10


def gpu_plan(video: str, request: VideoRequest, settings: Settings) -> GpuPlan:
    """The GPU calls a clip will make on this server, before it starts."""
    from animefy.image.pipeline import check_request
    from animefy.video.io import probe
    from animefy.video.pipeline import processing_size, trimmed

    info = trimmed(probe(video, settings), request)  # a trim (max_seconds) plans only the frames kept
    size = processing_size(info, settings)[0] or (info.width, info.height)
    filled, _ = check_request(request, settings, True)
    per_frame = per_frame_seconds(filled, settings, size)
    frames = info.frame_estimate
    start = start_seconds(settings)
    chunks = plan_chunks(frames, per_frame, start, request.hold, size[0] * size[1] * 3)
    return GpuPlan(frames, frames / float(info.fps), per_frame, start, request.hold, chunks, size[0] * size[1] * 3)


def plan_text(plan: GpuPlan) -> str:
    """What the page says before a video starts (English; the page may translate it)."""
    calls = len(plan.chunks)
    text = (
        f"This clip needs about {plan.gpu_seconds} s of GPU time ({calls} GPU call{'s' * (calls != 1)}, "
        f"{plan.frames} frames). Daily ZeroGPU quota: {QUOTAS['anonymous']} s without an account, "
        f"{QUOTAS['free']} s with a free account."
    )
    if plan.fits("anonymous"):
        return text + " It fits either."
    if plan.fits("free"):
        keep = plan.seconds_that_fit("anonymous")
        return text + f" Sign in to run it all, or trim it to its first {keep:g} s to run it without an account."
    keep, keep_anon = plan.seconds_that_fit("free"), plan.seconds_that_fit("anonymous")
    return text + (
        f" It is longer than either quota allows: trim it to its first {keep:g} s (free account) "
        f"or {keep_anon:g} s (no account)."
    )


def video_plan_text(video: str | None, request: VideoRequest, settings: Settings) -> str:
    """The page's hook: the text for an uploaded clip on a ZeroGPU Space, '' elsewhere or
    when the clip cannot be read (the run itself reports that properly)."""
    if not video or not settings.on_zerogpu:
        return ""
    try:
        return plan_text(gpu_plan(video, request, settings))
    except AnimefyError:
        return ""


# ------------------------------------------------------------------------- stop and progress


class StopFlag:
    """A stop request that crosses `spaces`' fork: a file in the temp folder, named by a
    random id. The main process `set()`s it; the GPU worker polls `is_set()` between batches.
    `close()` removes it."""

    def __init__(self, folder: Path | None = None) -> None:
        self.path = str(Path(folder or tempfile.gettempdir()) / f"animefy_stop_{uuid.uuid4().hex}")

    def set(self) -> None:
        Path(self.path).touch()

    def is_set(self) -> bool:
        return os.path.exists(self.path)

    def close(self) -> None:
        Path(self.path).unlink(missing_ok=True)


class StoppedError(AnimefyError):
    """The run was stopped (Stop, or the client went away)."""

    code = "stopped"


# ------------------------------------------------------------------------- the GPU call


def _chunk_duration(frames: np.ndarray, *args: object, seconds: int = CALL_SECONDS, **kw: object) -> int:  # noqa: ARG001
    return seconds


def _merge_count(into: object, part: object, shift: int) -> None:
    """Add a chunk's report (TemporalReport or ReuseReport) to the clip's: counts summed,
    frame numbers shifted by the chunk's first frame."""
    for f in fields(part):
        a, b = getattr(into, f.name), getattr(part, f.name)
        if f.name in ("frames", "options", "hold", "reuse", "trace"):
            continue
        if isinstance(b, Counter):
            a.update(b)
            if hasattr(b, "pixels"):
                a.pixels.update(b.pixels)
        elif isinstance(b, bool) or not isinstance(b, int | float | list | dict):
            continue
        elif isinstance(b, int | float):
            setattr(into, f.name, a + b)
        elif f.name == "keyframes":
            a.extend(k + shift for k in b if k + shift not in a)
        elif isinstance(b, dict):
            a.update({k + shift: v for k, v in b.items()})
        else:
            a.extend(x for x in b if x not in a) if f.name == "notes" else a.extend(b)


@gpu(duration=_chunk_duration)
def stylize_chunk(
    frames: np.ndarray,
    warm: int,
    request: VideoRequest,
    settings: Settings,
    picture: np.ndarray | None = None,
    stop: str = "",
    seconds: int = CALL_SECONDS,  # noqa: ARG001 - read by _chunk_duration
) -> Iterator[tuple]:
    """The GPU part of a clip: frames in (the first `warm` of them only to warm the matte and
    the supervisor up), pictures out. Yields ("progress", frames done) after each batch and
    ("done", pictures, counts, temporal report, reuse report) at the end; stops with
    StoppedError when the file `stop` appears."""
    from animefy.image.pipeline import Renderer
    from animefy.models.runtime import counting_passes
    from animefy.video.pipeline import _alpha8, batched, drawings, temporal_options
    from animefy.video.reuse import ReuseOptions, Reuser
    from animefy.video.temporal import TemporalSupervisor

    temporal = temporal_options(request)
    renderer = Renderer(request, settings, picture)
    renderer.track_faces = True
    supervisor = TemporalSupervisor(temporal)
    reuser = Reuser(renderer, ReuseOptions(enabled=request.reuse), temporal.hold)
    out, counts, skip, done = [], [], warm, 0
    pending: list[int] = []

    def keep(ready: list[np.ndarray]) -> None:
        nonlocal skip
        for picture_ in ready:
            count = pending.pop(0)
            if skip > 0:
                skip -= count
                continue
            out.append(picture_)
            counts.append(count)

    for batch in batched(drawings(iter(frames), temporal.hold, renderer.observe), 4):
        if stop and os.path.exists(stop):
            raise StoppedError("Stopped.")
        stack = np.stack([f for f, _ in batch])
        pending += [c for _, c in batch]
        regions = [renderer.split(f) for f in stack]
        with counting_passes(reuser.report.passes):
            rendered = reuser.render(stack, regions)
        ready = []
        for frame, reg, res in zip(stack, regions, rendered, strict=True):
            styled = res.rgb if res.alpha is None else np.dstack([res.rgb, _alpha8(res.alpha)])
            ready += supervisor.push(frame, styled, reg.alpha if renderer.matter is not None else None)
        keep(ready)
        done += sum(c for _, c in batch)
        yield ("progress", max(0, done - warm))
    keep(supervisor.flush())
    yield ("done", np.stack(out) if out else np.zeros((0,), np.uint8), counts, supervisor.report, reuser.report)


def _frames_in_chunks(reader, chunks: list[Chunk], warm: int) -> Iterator[tuple[Chunk, np.ndarray]]:
    """Each chunk with its frames (`warm` frames of warm-up first, after the first chunk),
    decoding the clip once, in order. The plan comes from the container's frame estimate: a
    stream with more frames than that gets more chunks like the last one; one with fewer
    ends early."""
    tail: list[np.ndarray] = []
    it = iter(reader)
    step = chunks[-1].end - chunks[-1].start
    more = (Chunk(chunks[-1].end + i * step, chunks[-1].end + (i + 1) * step, warm, chunks[-1].seconds)
            for i in itertools.count())  # fmt: skip
    for chunk in itertools.chain(chunks, more):
        body = [f for _, f in zip(range(chunk.end - chunk.start), it, strict=False)]
        if not body:
            return
        pre = min(chunk.warm, len(tail))
        yield replace(chunk, end=chunk.start + len(body), warm=pre), np.stack(tail[len(tail) - pre :] + body)
        tail = (tail + body)[-max(warm, 1) :]


def _run_chunk(call: Callable, chunk: Chunk, frames: np.ndarray, args: tuple, stop: str, progress, done: int, total: int):
    """One GPU call: its progress reported here (as clip frames), its result returned."""
    result = None
    for item in call(frames, chunk.warm, *args, stop, seconds=chunk.seconds):
        if item[0] == "progress":
            if progress:
                progress(done + item[1], max(total, done + item[1]))
        else:
            result = item
    if result is None:
        raise InputError("The GPU call ended without pictures.")
    return result[1:]


def render_video(
    video: str,
    request: VideoRequest,
    settings: Settings,
    picture: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: StopFlag | None = None,
    call: Callable = stylize_chunk,
    *,
    out: str,
):
    """A clip as several GPU calls: decode here, stylize each chunk in one GPU call, encode
    here. `progress(done, total)` runs in this process and may raise to stop the run (the UI's
    Stop does): the GPU call in flight then sees the stop file at its next batch. Returns a
    VideoResult, as the CPU path does."""
    from animefy.image.io import load_image
    from animefy.timings import Timings
    from animefy.video.io import check_limits, check_output_format, probe, read_frames
    from animefy.video.pipeline import (
        VideoResult,
        _open_writer,
        kept_frames,
        processing_size,
        temporal_options,
        trimmed,
    )
    from animefy.video.temporal import TemporalReport

    info = trimmed(probe(video, settings), request)
    check_limits(info, settings)
    size, messages = processing_size(info, settings)
    w, h = size or (info.width, info.height)
    plan = gpu_plan(video, request, settings)
    fmt = request.transparent_format if "transparent_format" in request.model_fields_set else None
    kind = check_output_format(Path("x" + request.output_suffix()), request.background == "transparent", fmt)
    out = Path(out)
    picture_rgb = load_image(picture, settings).rgb if picture else None
    keep_to = kept_frames(info, request)
    writer = _open_writer(out, info, w, h, kind, Path(video), audio_seconds=info.duration if keep_to else None)
    own_stop = stop is None
    stop = stop or StopFlag()
    report = TemporalReport(temporal_options(request))
    reuse = None
    written, timings = 0, Timings()
    try:
        reader = read_frames(video, info, size, info.frame_limit(settings), 0, keep_to)
        warm = -(-WARM_FRAMES // request.hold) * request.hold
        for chunk, frames in _frames_in_chunks(reader, plan.chunks, warm):
            pictures, counts, part, part_reuse = _run_chunk(
                call, chunk, frames, (request, settings, picture_rgb), stop.path, progress, written, plan.frames
            )
            for picture_, count in zip(pictures, counts, strict=True):
                for _ in range(count):
                    writer.write(picture_)
            _merge_count(report, part, written - chunk.warm)
            if reuse is None:
                reuse = part_reuse
            else:
                _merge_count(reuse, part_reuse, written - chunk.warm)
            written += sum(counts)
        if written == 0:
            raise InputError("The video has no frames that can be decoded.")
        path = writer.close()
    except BaseException:
        stop.set()  # the call in flight (if any) stops at its next batch
        writer.abort()
        raise
    finally:
        if own_stop:
            with contextlib.suppress(OSError):
                stop.close()
    report.frames = written
    report.reuse = reuse
    messages.append(f"Ran as {len(plan.chunks)} GPU call(s) of at most {max(c.seconds for c in plan.chunks)} s.")
    if progress:
        progress(written, written)
    return VideoResult(path, written, info.fps, (w, h), timings, report, messages, reuse)


# ------------------------------------------------------------------------- REST callers


@contextlib.contextmanager
def caller_token(headers: dict[str, str] | None) -> Iterator[None]:
    """Run GPU calls in this block on the REST caller's ZeroGPU quota: `spaces` reads the
    `X-IP-Token` header of the current Gradio request (on a Space the proxy adds it for
    signed-in callers and for `gradio_client` calls made with a token); a REST job has no
    Gradio request, so this sets one carrying the caller's header. Without that header the
    call is charged to the Space's anonymous IP quota, as before."""
    token = next((v for k, v in (headers or {}).items() if k.lower() == "x-ip-token"), None)
    if token is None:
        yield
        return
    from gradio.context import LocalContext

    class _Request:  # what spaces' client reads: .headers with .get and a __dict__
        def __init__(self, value: str) -> None:
            self.headers = _Headers({"x-ip-token": value})

    previous = LocalContext.request.get(None)
    handle = LocalContext.request.set(_Request(token))
    try:
        yield
    finally:
        LocalContext.request.reset(handle) if handle is not None else LocalContext.request.set(previous)


class _Headers(dict):
    pass

