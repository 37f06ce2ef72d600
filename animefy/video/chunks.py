"""Long clips in chunks: a frame-exact plan, one chunk run in-process, and the stitch. No
engine here: a runner takes the plan and returns each chunk's result, in order; the default
runs them one after another in this process, animefy/video/ray_chunks.py on a Ray cluster,
and a ZeroGPU Space can loop over them with one GPU call each.

Chunks are cut at frame indices counted exactly as the decoder counts them (never by seeking
to a time): chunk k writes output frames start..stop-1, decoding from `warmup` frames before
its start (they prime the matte's recurrent state, the supervisor's history and a reuse
keyframe, and their output is dropped) to one drawing after its end (the glitch repair of
its last frame sees the next one, as in one pass).

Seams: two chunks' renderings of the same frame differ (each chunk's supervisor and reuse
plates have their own history), and a cut from one to the other shows as a jump. So each
chunk but the last also renders the first `blend` frames of the next one, and those frames
are cross-faded from the earlier chunk's rendering to the later one's, a drawing at a time:
the jump is spread over blend + 1 frame pairs (E_warp, a squared difference, falls with the
square). Each chunk writes its frames losslessly (H.264 in RGB at qp 0; its seam frames as
compressed arrays) and the stitch encodes the whole clip once with the single pass's writer:
parts encoded on their own and joined by stream copy each began with a keyframe whose
compression noise differs from the frame before, a jump of its own at every part boundary
(E_warp on those pairs 1.8x the single pass's, benchmarks/ray_chunks.py), which one encode
does not have. The audio, the video's start offset and a trim come from the input, as in
`stylize_video`."""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from animefy.errors import InputError, LimitError
from animefy.schema import VideoRequest
from animefy.settings import Settings
from animefy.timings import Timings
from animefy.video.io import (
    VideoInfo,
    check_limits,
    check_output_format,
    count_frames,
    frame_times,
    probe,
    read_frames,
    seek_time,
)
from animefy.video.pipeline import VideoResult, _open_writer, processing_size, stylize_video, trim_frames, trimmed
from animefy.video.reuse import ReuseReport
from animefy.video.temporal import TemporalReport

log = logging.getLogger(__name__)

WARMUP_FRAMES = 12  # the supervisor's blend keeps ~0.8^12 = 7% of a frame 12 frames on: the seams settle
BLEND_FRAMES = 6  # frames cross-faded at each seam (benchmarks/ray_chunks.py: seam vs inside E_warp)

ChunkProgress = Callable[[int, int], None]  # (chunk index, output frames of it written so far)


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first output frame it writes
    stop: int  # one past its last output frame
    first: int  # first frame it decodes (start - warm-up)
    end: int | None  # one past the last frame it decodes (None: to the end of the clip)
    head: int = 0  # its first `head` frames are cross-faded with the previous chunk's tail
    tail: int = 0  # frames after `stop` it renders for the next chunk's cross-fade
    seek: float | None = None  # seconds to seek to for frame `first` (io.seek_time), None: decode from the start

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def keep(self) -> tuple[int, int]:
        """The output frames written to its part file (after the head), counted from the
        first decoded frame."""
        return self.start + self.head - self.first, self.stop - self.first

    def side(self, frame: int) -> str | None:
        """Whether clip frame `frame` is one of its head or tail frames (kept for a seam)."""
        if self.start <= frame < self.start + self.head:
            return "head"
        if self.stop <= frame < self.stop + self.tail:
            return "tail"
        return None


def plan_chunks(
    total: int, fps: float, chunk_seconds: float, hold: int = 1, warmup: int = WARMUP_FRAMES,
    blend: int = BLEND_FRAMES, *, max_frames: int | None = None,
) -> list[Chunk]:  # fmt: skip
    """Split `total` frames into chunks of about `chunk_seconds`, of equal length (so no tiny
    last chunk), with boundaries on drawings (multiples of `hold`), so each chunk draws the
    same frames a single pass would. `blend` frames (whole drawings, fewer than the shortest
    chunk has) are cross-faded at each seam. `max_frames`: no chunk writes more frames than
    this (rounded down to whole drawings, at least one); the ZeroGPU loop caps each GPU call so."""
    if total < 1:
        raise InputError("The video has no frames that can be decoded.")
    if chunk_seconds <= 0:
        raise InputError(f"chunk_seconds must be positive (got {chunk_seconds}).")
    drawings = math.ceil(total / hold)
    count = max(1, min(drawings, round(total / (chunk_seconds * fps))))
    if max_frames is not None:
        count = min(drawings, max(count, math.ceil(drawings / max(1, max_frames // hold))))
    warm = math.ceil(warmup / hold) * hold
    bounds = [min(total, round(drawings * k / count) * hold) for k in range(count + 1)]
    shortest = min(b - a for a, b in zip(bounds, bounds[1:], strict=False))
    fade = max(0, min(math.ceil(blend / hold) * hold, (shortest - 1) // hold * hold)) if count > 1 else 0
    chunks = []
    for k in range(count):
        start, stop = bounds[k], bounds[k + 1]
        last = k == count - 1
        end = None if last else min(total, stop + fade + hold)
        chunks.append(Chunk(k, start, stop, max(0, start - warm), end, fade if k else 0, 0 if last else fade))
    return chunks


@dataclass
class ChunkResult:
    index: int
    path: Path
    frames: int  # frames in `path` (the chunk's frames but its head)
    report: TemporalReport
    timings: dict[str, tuple[float, int]]  # stage -> (seconds, calls): plain data, it may cross processes
    messages: list[str] = field(default_factory=list)
    worker: str = ""  # who ran it (a Ray runner fills in the process and whether it was restarted)
    peak_rss_mb: float = 0.0  # the worker process's peak memory so far (a Ray runner fills it in)
    head: Path | None = None  # its head frames, lossless (.npz: frames n x h x w x c uint8), for the seam before it
    tail: Path | None = None  # the next chunk's first frames as this chunk rendered them, lossless

    def files(self) -> dict[str, Path]:
        """What it wrote, by role (a runner moves them between processes)."""
        named = {"part": self.path, "head": self.head, "tail": self.tail}
        return {k: p for k, p in named.items() if p is not None}


def chunk_suffix(kind: str) -> str:
    return ".zip" if kind == "png-zip" else ".mkv"  # (lossless H.264 in RGB: see VideoWriter)


def run_chunk(
    src: str | Path,
    chunk: Chunk,
    out: str | Path,
    request: VideoRequest,
    settings: Settings,
    picture: np.ndarray | None = None,
    progress: ChunkProgress | None = None,
    batch_size: int = 4,
) -> ChunkResult:
    """Stylize one chunk of `src` into `out` (no audio): the library's own pipeline over the
    chunk's frame range, the warm-up and look-ahead frames left out of the file; its head and
    tail frames (see Chunk) beside it, lossless (`out` with .head.npz / .tail.npz)."""
    out = Path(out)
    sides: dict[str, list[np.ndarray]] = {"head": [], "tail": []}

    def report(done: int, _total: int) -> None:
        if progress:
            progress(chunk.index, min(done + len(sides["head"]), chunk.frames))

    def tap(first: int, frame: np.ndarray, count: int) -> None:
        for f in range(chunk.first + first, chunk.first + first + count):
            if side := chunk.side(f):
                sides[side].append(frame)

    result = stylize_video(src, out, request, settings=settings, batch_size=batch_size, progress=report,
                           picture=picture, frames=(chunk.first, chunk.end, chunk.seek), keep=chunk.keep, tap=tap)  # fmt: skip
    got = (result.frames, len(sides["head"]), len(sides["tail"]))
    if got != (chunk.frames - chunk.head, chunk.head, chunk.tail):
        Path(result.path).unlink(missing_ok=True)
        raise InputError(f"Chunk {chunk.index} gave {sum(got)} frames instead of {chunk.frames + chunk.tail}; the "
                         "video may be damaged. Re-save it as MP4 and try again.")  # fmt: skip
    paths = {}
    for name, frames in sides.items():
        if frames:
            paths[name] = out.with_name(f"{out.stem}.{name}.npz")
            np.savez_compressed(paths[name], frames=np.stack(frames))
    t = result.timings
    return ChunkResult(chunk.index, Path(result.path), result.frames, result.report,
                       {n: (s, t.calls.get(n, 0)) for n, s in t.seconds.items()}, list(result.messages),
                       head=paths.get("head"), tail=paths.get("tail"))  # fmt: skip


# -- reports -------------------------------------------------------------------------------------


def _merge_reuse(parts: Sequence[tuple[Chunk, ReuseReport]]) -> ReuseReport:
    """One ReuseReport for the clip: counts add up (they include the warm-up drawings, which
    were drawn), frame numbers move to the clip's and keep only the frames written."""
    first = parts[0][1]
    merged = ReuseReport(first.options, first.hold)
    for chunk, rep in parts:
        for name in ("drawings", "partial", "scene_drawings", "scene_area", "person_drawings", "person_area",
                     "person_full", "faces", "faces_redrawn"):  # fmt: skip
            setattr(merged, name, getattr(merged, name) + getattr(rep, name))
        merged.keyframes += [chunk.first + k for k in rep.keyframes if chunk.start <= chunk.first + k < chunk.stop]
        merged.reasons.update(rep.reasons)
        merged.passes.update(rep.passes)
        merged.passes.pixels.update(rep.passes.pixels)
        merged.notes += [n for n in rep.notes if n not in merged.notes]
        merged.trace += [{**t, "frame": chunk.first + t["frame"]} if "frame" in t else t for t in rep.trace]
    return merged


def merge_reports(parts: Sequence[tuple[Chunk, TemporalReport]], frames: int) -> TemporalReport:
    """The clip's TemporalReport from its chunks' reports: rebuilt frames renumbered to the
    clip's frames (those in a warm-up or look-ahead belong to the neighbouring chunk)."""
    merged = TemporalReport(parts[0][1].options, frames=frames)
    for chunk, rep in parts:
        merged.drawings += rep.drawings
        for i, box in rep.glitch_boxes.items():
            if chunk.start <= chunk.first + i < chunk.stop:
                merged.glitch_boxes[chunk.first + i] = box
        merged.glitch_scores += rep.glitch_scores
    reuse = [(c, r.reuse) for c, r in parts if isinstance(r.reuse, ReuseReport)]
    merged.reuse = _merge_reuse(reuse) if reuse else None
    return merged


def merge_timings(timings: Sequence[dict[str, tuple[float, int]]]) -> Timings:
    """Stage seconds summed over the chunks (worker time, not wall time)."""
    merged = Timings()
    for t in timings:
        for name, (seconds, calls) in t.items():
            merged.add(name, seconds, calls)
    return merged


# -- stitching -----------------------------------------------------------------------------------


def load_frames(path: Path) -> np.ndarray:
    with np.load(path) as data:
        return data["frames"]


def part_frames(path: Path, kind: str) -> Iterator[np.ndarray]:
    """The frames of a chunk's part, in order: a lossless H.264 file (RGB) or a zip of RGBA PNGs."""
    if kind != "png-zip":
        yield from read_frames(path, probe(path))
        return
    with zipfile.ZipFile(path) as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".png")):
            bgra = cv2.imdecode(np.frombuffer(z.read(name), np.uint8), cv2.IMREAD_UNCHANGED)
            yield cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)


def cross_fade(before: np.ndarray, after: np.ndarray, hold: int = 1) -> np.ndarray:
    """The frames of a seam: the earlier chunk's rendering (`before`, n x h x w x c) fading
    into the later one's (`after`), by drawings (each drawing's frames get one weight, so
    anime timing holds): drawing j of d gets (j + 1) / (d + 1) of `after`."""
    if before.shape != after.shape:
        raise RuntimeError(f"the two sides of a seam differ: {before.shape} vs {after.shape}")
    drawings = math.ceil(len(before) / hold)
    w = ((np.arange(len(before)) // hold + 1) / (drawings + 1)).reshape(-1, 1, 1, 1)
    mixed = before.astype(np.float32) * (1 - w) + after.astype(np.float32) * w
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def stitched_frames(results: Sequence[ChunkResult], kind: str, hold: int) -> Iterator[np.ndarray]:
    """The clip's frames in order: each chunk's part, and between two chunks their seam,
    cross-faded."""
    for prev, res in zip([None, *results], results, strict=False):
        if prev is not None and res.head is not None:
            if prev.tail is None:
                raise RuntimeError(f"chunk {prev.index} has no frames for the seam with chunk {res.index}")
            yield from cross_fade(load_frames(prev.tail), load_frames(res.head), hold)
        count = 0
        for frame in part_frames(res.path, kind):
            count += 1
            yield frame
        if count != res.frames:
            raise RuntimeError(f"chunk {res.index}'s part has {count} frames, not {res.frames}")


def stitch(src: str | Path, results: Sequence[ChunkResult], out: str | Path, info: VideoInfo, kind: str,
           hold: int = 1, audio_seconds: float | None = None) -> tuple[Path, int]:  # fmt: skip
    """Encode the chunks' frames (their exact parts and the cross-faded seams), in order, as
    `out`, once, with the single pass's writer: the same encoder settings, keyframes, frame
    timestamps and audio (cut at `audio_seconds` for a trimmed clip). The writer works on a
    temporary name: a failure leaves nothing behind and never replaces an existing file.
    Returns the file and its frame count."""
    writer = None
    try:
        for frame in stitched_frames(results, kind, hold):
            if writer is None:
                writer = _open_writer(Path(out), info, frame.shape[1], frame.shape[0], kind, Path(src),
                                      audio_seconds=audio_seconds)  # fmt: skip
            writer.write(frame)
        if writer is None:
            raise RuntimeError("the chunks gave no frames")
        return writer.close(), writer.frames
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


# -- the whole job -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkJob:
    """What every chunk of one clip needs, picklable (a runner may send it to other processes)."""

    src: Path
    request: VideoRequest
    settings: Settings
    kind: str  # output kind: mp4 or png-zip
    picture: np.ndarray | None = None
    batch_size: int = 4


# A runner: (job, chunks, folder for the parts, chunk progress) -> one result per chunk, in order.
Runner = Callable[[ChunkJob, list[Chunk], Path, ChunkProgress], list[ChunkResult]]


def run_in_process(job: ChunkJob, chunks: list[Chunk], work: Path, progress: ChunkProgress) -> list[ChunkResult]:
    """The default runner: the chunks one after another in this process."""
    return [run_chunk(job.src, c, work / f"chunk_{c.index:05d}{chunk_suffix(job.kind)}", job.request, job.settings,
                      job.picture, progress, job.batch_size) for c in chunks]  # fmt: skip


def check_chunked(src: Path, out: Path, request: VideoRequest, settings: Settings) -> tuple[VideoInfo, str]:
    """Everything that can be refused before any work: the call, the clip's limits, the format."""
    fmt = request.transparent_format if "transparent_format" in request.model_fields_set else None
    kind = check_output_format(out, request.transparent, fmt)
    if kind == "webm":
        raise InputError("In chunks a transparent background is written as a zip of PNG frames: name the output "
                         ".zip (transparent_format png-zip), or run without chunks for a .webm.")  # fmt: skip
    if out.exists() and out.resolve() == src.resolve():
        raise InputError("The output path is the input video; choose another name so the original is kept.")
    info = trimmed(probe(src, settings), request)  # a trim (max_seconds): the limits see the frames kept
    check_limits(info, settings)
    return info, kind


def stylize_in_chunks(
    src: str | Path,
    out: str | Path,
    request: VideoRequest | None = None,
    settings: Settings | None = None,
    chunk_seconds: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    picture: np.ndarray | None = None,
    runner: Runner | None = None,
    batch_size: int = 4,
    blend: int = BLEND_FRAMES,
) -> VideoResult:
    """`stylize_video` in chunks (see the module's doc): the same file, frame count, frame
    timestamps and audio, made by `runner` (default: in this process, one chunk after
    another), `blend` frames cross-faded at each seam. The parts live in a hidden folder
    beside `out`, removed whatever happens."""
    settings = settings or Settings.from_env()
    request = request or VideoRequest()
    src, out = Path(src), Path(out)
    info, kind = check_chunked(src, out, request, settings)
    times = None if info.variable_fps else frame_times(src)  # (a constant-rate chunk seeks to its first frame)
    total = count_frames(src, info) if times is None else len(times)
    keep_to = trim_frames(info, request)
    if keep_to is not None and keep_to >= total:  # a trim no shorter than the clip: the whole clip
        keep_to = None
    total = keep_to or total
    if total > info.frame_limit(settings):
        raise LimitError(
            f"The video has {total} frames, more than the length limit allows (ANIMEFY_MAX_VIDEO_SECONDS)."
        )
    seconds = chunk_seconds or request.chunk_seconds
    chunks = plan_chunks(total, float(info.fps), seconds, request.hold, blend=blend)
    if times is not None:
        chunks = [dataclasses.replace(c, seek=seek_time(times, c.first)) for c in chunks]
    if keep_to:  # the last chunk decodes up to the trim, not to the clip's end
        chunks[-1] = dataclasses.replace(chunks[-1], end=total)
    done = dict.fromkeys(range(len(chunks)), 0)

    def chunk_progress(index: int, frames: int) -> None:
        done[index] = frames
        if progress:
            progress(sum(done.values()), total)

    job = ChunkJob(src, request, settings, kind, picture, batch_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.stem}.chunks-", dir=out.parent) as work:
        results = (runner or run_in_process)(job, chunks, Path(work), chunk_progress)
        results = sorted(results, key=lambda r: r.index)
        if [r.index for r in results] != [c.index for c in chunks]:
            raise RuntimeError("a chunk's result is missing")
        path, frames = stitch(src, results, out, info, kind, request.hold, info.duration if keep_to else None)
    report = merge_reports([(chunks[r.index], r.report) for r in results], frames)
    size, messages = processing_size(info, settings)
    for r in results:
        messages += [m for m in r.messages if m not in messages]
    if progress:
        progress(frames, frames)
    w, h = size or (info.width, info.height)
    return VideoResult(path, frames, info.fps, (w, h), merge_timings([r.timings for r in results]), report, messages,
                       report.reuse)  # fmt: skip
