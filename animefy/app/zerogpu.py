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
  IP quota: `as_caller(token, fn, ...)` runs `fn` (in the REST thread pool, or a video job's
  thread) with the caller's `X-IP-Token` where `spaces` looks for it (`caller_token`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from animefy.errors import AnimefyError, InputError
from animefy.schema import ImageRequest, VideoRequest
from animefy.settings import Settings

if TYPE_CHECKING:
    from animefy.video.chunks import Chunk

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
class GpuCall:
    chunk: Chunk  # the frames it decodes (warm-up and look-ahead included) and writes
    seconds: int  # the duration its GPU call asks for

    @property
    def frames(self) -> int:
        """Frames handed to the call (the last chunk's open end taken as its last output frame)."""
        return (self.chunk.stop if self.chunk.end is None else self.chunk.end) - self.chunk.first


def call_seconds(frames: int, per_frame: float, start: float) -> int:
    """The duration one GPU call asks for: its start-up plus its frames, with the margin."""
    return max(1, math.ceil(SAFETY * (start + frames * per_frame)))


def plan_chunks(frames: int, per_frame: float, start_s: float, hold: int = 1, frame_bytes: int = 0) -> list[GpuCall]:
    """The GPU calls of a clip of `frames` frames: the video code's frame-exact plan
    (animefy/video/chunks.py: chunks on whole drawings, each decoding a warm-up before and one
    drawing after its own frames), capped so every call, warm-up and look-ahead included, asks
    for at most CALL_SECONDS and is handed at most CHUNK_BYTES of frames."""
    from animefy.video.chunks import WARMUP_FRAMES
    from animefy.video.chunks import plan_chunks as frame_plan

    extra = -(-WARMUP_FRAMES // hold) * hold + hold  # warm-up and look-ahead decoded around a chunk
    by_time = int((CALL_SECONDS / SAFETY - start_s) / max(per_frame, 1e-6))
    by_bytes = CHUNK_BYTES // frame_bytes if frame_bytes else by_time
    size = max(hold, (min(by_time, by_bytes) - extra) // hold * hold)
    calls = [GpuCall(c, 0) for c in frame_plan(max(1, frames), 1.0, size, hold, blend=0, max_frames=size)]
    return [replace(c, seconds=call_seconds(c.frames, per_frame, start_s)) for c in calls]


@dataclass(frozen=True)
class GpuPlan:
    frames: int
    seconds_of_video: float
    per_frame: float
    start: float
    hold: int
    chunks: list[GpuCall]
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


@gpu(duration=_chunk_duration)
def stylize_chunk(
    frames: np.ndarray,
    keep: tuple[int, int | None],
    request: VideoRequest,
    settings: Settings,
    picture: np.ndarray | None = None,
    stop: str = "",
    seconds: int = CALL_SECONDS,  # noqa: ARG001 - read by _chunk_duration
) -> Iterator[tuple]:
    """The GPU part of a clip: frames in, pictures out, through the video pipeline's own
    loop (`ClipLoop`: drawings, matte, faces, reuse, supervisor), so a chunk draws what the
    one-call path draws. Only output frames keep = (a, b) of `frames` are handed back (the
    warm-up before and the look-ahead after are dropped). Yields ("progress", frames kept)
    as pictures come and ("done", pictures, counts, temporal report) at the end; stops with
    StoppedError when the file `stop` appears."""
    from animefy.video.pipeline import ClipLoop, _overlap, temporal_options
    from animefy.video.reuse import ReuseOptions

    loop = ClipLoop(request, settings, temporal_options(request), ReuseOptions(enabled=request.reuse), picture)
    out, counts, shown = [], [], 0
    for styled, count in loop.run(iter(frames)):
        if stop and os.path.exists(stop):
            raise StoppedError("Stopped.")
        if kept := _overlap(shown, count, keep):
            out.append(styled)
            counts.append(kept)
            yield ("progress", sum(counts))
        shown += count
    yield ("done", np.stack(out) if out else np.zeros((0,), np.uint8), counts, loop.supervisor.report)


def _frames_of(reader: Iterable[np.ndarray], calls: list[GpuCall]) -> Iterator[tuple[GpuCall, np.ndarray]]:
    """Each call with the frames its chunk decodes, decoding the clip once, in order (only
    the frames still to be handed out are held). A stream that ends early ends the calls."""
    it, held, base = iter(reader), [], 0
    for call in calls:
        chunk = call.chunk
        del held[: chunk.first - base]
        base = chunk.first
        want = None if chunk.end is None else chunk.end - base
        while want is None or len(held) < want:
            if (frame := next(it, None)) is None:
                break
            held.append(frame)
        if len(held) <= chunk.start - base:
            return
        yield call, np.stack(held[:want])


def _run_call(fn: Callable, call: GpuCall, frames: np.ndarray, args: tuple, stop: str, progress, total: int):
    """One GPU call: its progress reported here (as clip frames), its result returned."""
    result = None
    for item in fn(frames, call.chunk.keep, *args, stop, seconds=call.seconds):
        if item[0] == "progress":
            if progress:
                done = call.chunk.start + item[1]
                progress(done, max(total, done))
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
    """A clip as several GPU calls: count its frames and decode here, stylize each chunk of
    the video code's plan in one GPU call, encode here. `progress(done, total)` runs in this
    process and may raise to stop the run (the UI's Stop does): the GPU call in flight then
    sees the stop file at its next picture. Returns a VideoResult, as the CPU path does."""
    from animefy.image.io import load_image
    from animefy.image.pipeline import check_request
    from animefy.timings import Timings
    from animefy.video.chunks import merge_reports
    from animefy.video.io import check_limits, check_output_format, count_frames, probe, read_frames
    from animefy.video.pipeline import VideoResult, _open_writer, kept_frames, processing_size, trimmed

    info = trimmed(probe(video, settings), request)
    check_limits(info, settings)
    size, messages = processing_size(info, settings)
    w, h = size or (info.width, info.height)
    fmt = request.transparent_format if "transparent_format" in request.model_fields_set else None
    kind = check_output_format(Path("x" + request.output_suffix()), request.background == "transparent", fmt)
    keep_to = kept_frames(info, request)  # a trim (max_seconds): the frames kept
    total = min(count_frames(video, info), info.frame_limit(settings), keep_to or info.frame_limit(settings))
    filled, _ = check_request(request, settings, True)
    calls = plan_chunks(total, per_frame_seconds(filled, settings, (w, h)), start_seconds(settings), request.hold,
                        w * h * 3)  # fmt: skip
    picture_rgb = load_image(picture, settings).rgb if picture else None
    writer = _open_writer(Path(out), info, w, h, kind, Path(video), audio_seconds=info.duration if keep_to else None)
    own_stop = stop is None
    stop = stop or StopFlag()
    parts, written = [], 0
    try:
        reader = read_frames(video, info, size, info.frame_limit(settings), 0, keep_to)
        for gpu_call, frames in _frames_of(reader, calls):
            pictures, counts, report = _run_call(call, gpu_call, frames, (request, settings, picture_rgb), stop.path,
                                                 progress, total)  # fmt: skip
            for picture_, count in zip(pictures, counts, strict=True):
                for _ in range(count):
                    writer.write(picture_)
            parts.append((gpu_call.chunk, report))
            written += sum(counts)
        if written == 0:
            raise InputError("The video has no frames that can be decoded.")
        path = writer.close()
    except BaseException:
        stop.set()  # the call in flight (if any) stops at its next picture
        writer.abort()
        raise
    finally:
        if own_stop:
            with contextlib.suppress(OSError):
                stop.close()
    report = merge_reports(parts, written)
    messages.append(f"Ran as {len(parts)} GPU call(s) of at most {max(c.seconds for c in calls)} s.")
    if progress:
        progress(written, written)
    return VideoResult(path, written, info.fps, (w, h), Timings(), report, messages, report.reuse)


# ------------------------------------------------------------------------- REST callers


TOKEN_HEADER = "x-ip-token"


def ip_token(headers) -> str | None:
    """The caller's `X-IP-Token` header (any case), or None. `headers`: a mapping with items()."""
    return next((v for k, v in (headers or {}).items() if k.lower() == TOKEN_HEADER), None)


@contextlib.contextmanager
def caller_token(headers) -> Iterator[None]:
    """Run GPU calls in this block on the REST caller's ZeroGPU quota: `spaces` reads the
    `X-IP-Token` header of the current Gradio request (on a Space the proxy adds it for
    signed-in callers and for `gradio_client` calls made with a token); a REST call has no
    Gradio request, so this sets one carrying the caller's header, in this thread's context
    only, and puts the previous one back after. Without that header the call is charged to
    the Space's anonymous IP quota, as before."""
    token = ip_token(headers)
    if token is None:
        yield
        return
    from gradio.context import LocalContext

    class _Request:  # what spaces' client reads: .headers with .get and a __dict__
        def __init__(self, value: str) -> None:
            self.headers = _Headers({TOKEN_HEADER: value})

    handle = LocalContext.request.set(_Request(token))
    try:
        yield
    finally:
        LocalContext.request.reset(handle)


class _Headers(dict):
    pass


def as_caller(token: str | None, fn: Callable, *args: object, **kw: object):
    """fn(*args, **kw) with its GPU calls charged to `token`'s quota (None: anonymous). Made
    for a worker thread (a REST photo in the thread pool, a video job's thread): the token's
    context is set in the thread that runs `fn`, so it holds whatever the pool copies."""
    with caller_token({TOKEN_HEADER: token} if token else None):
        return fn(*args, **kw)
