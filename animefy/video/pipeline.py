"""The video pipeline: decode (thread) -> drawings (frame, how many frames it stands for) ->
split + stylize in batches -> temporal supervisor -> encode (thread). Bounded queues connect
the threads, so decoding, inference and encoding overlap and memory stays flat whatever the
clip's length."""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from animefy.errors import InputError
from animefy.image.io import encode_png
from animefy.image.pipeline import Renderer
from animefy.models.runtime import counting_passes
from animefy.schema import ImageRequest, VideoRequest
from animefy.settings import Settings
from animefy.timings import Timings
from animefy.video.clip import ClipState
from animefy.video.flow import Motion
from animefy.video.io import VideoInfo, VideoWriter, check_limits, check_output_format, probe, read_frames
from animefy.video.reuse import ReuseOptions, Reuser, ReuseReport
from animefy.video.temporal import TemporalOptions, TemporalReport, TemporalSupervisor

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
_END = object()


@dataclass
class VideoResult:
    path: Path
    frames: int
    fps: Fraction
    size: tuple[int, int]
    timings: Timings
    report: TemporalReport
    messages: list[str] = field(default_factory=list)
    reuse: ReuseReport | None = None  # also in report.reuse, so the report's summary and dict include it


class PngZipWriter:
    """Transparent output as a zip of RGBA PNG frames (frame_000000.png, ...), streamed."""

    def __init__(self, out: str | Path, fps: Fraction) -> None:
        self.out = Path(out)
        self.tmp = self.out.with_name(f".{self.out.stem}.part.zip")
        self.zip = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_STORED)
        self.zip.writestr("fps.txt", f"{fps.numerator}/{fps.denominator}\n")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        self.zip.writestr(f"frame_{self.frames:06d}.png", encode_png(frame[..., :3], frame[..., 3] / 255.0))
        self.frames += 1

    def close(self) -> Path:
        self.zip.close()
        self.tmp.replace(self.out)
        return self.out

    def abort(self) -> None:
        """Never raises (it runs while another failure unwinds); the partial file always goes."""
        try:
            self.zip.close()
        except Exception as exc:  # noqa: BLE001 - a full disk fails the close too: logged, file removed below
            log.warning("closing the partial %s failed: %s", self.tmp.name, exc)
        finally:
            self.tmp.unlink(missing_ok=True)


def processing_size(info: VideoInfo, settings: Settings) -> tuple[tuple[int, int] | None, list[str]]:
    """(w, h) to decode at when the clip is larger than the limit (else None), and messages."""
    if max(info.width, info.height) <= settings.max_video_side:
        return None, []
    s = settings.max_video_side / max(info.width, info.height)
    w, h = int(info.width * s) // 2 * 2, int(info.height * s) // 2 * 2
    return (w, h), [f"The video is {info.width}x{info.height}; it is processed at {w}x{h} (ANIMEFY_MAX_VIDEO_SIDE)."]


def trim_frames(info: VideoInfo, options: ImageRequest) -> int | None:
    """The frames a request's `max_seconds` keeps (its first N seconds, at least one frame);
    None without a trim."""
    seconds = getattr(options, "max_seconds", 0.0)
    return max(1, math.ceil(seconds * float(info.fps) - 1e-6)) if seconds else None


def trimmed(info: VideoInfo, options: ImageRequest) -> VideoInfo:
    """The clip as a request's `max_seconds` keeps it: its first N seconds, as a VideoInfo
    whose frame count (and duration) are the frames kept, so the length limit, the progress
    total, the GPU plan, the decoder's stop and the audio all see the trimmed clip. The info
    unchanged without a trim or when the clip is no longer than it."""
    keep = trim_frames(info, options)
    if keep is None:
        return info
    if info.duration_known and info.frame_estimate <= keep:
        return info
    return dataclasses.replace(info, frame_count=keep, duration=info.start_offset + keep / float(info.fps),
                               duration_known=True)  # fmt: skip


def kept_frames(info: VideoInfo, options: ImageRequest) -> int | None:
    """The decoder's stop for a trimmed clip (None: the whole clip)."""
    return info.frame_count if getattr(options, "max_seconds", 0.0) else None


class Decoder:
    """Decodes on its own thread into a small queue; iterate to get frames in order."""

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        size: tuple[int, int] | None,
        depth: int,
        max_frames: int,
        frames: tuple = (0, None),
    ) -> None:
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.count = 0
        self.shape = (size[1], size[0]) if size else (info.height, info.width)
        # stops past the length limit; `frames` = (first, stop[, seek]) reads a chunk of the clip
        self.reader = read_frames(path, info, size, max_frames, *frames)
        self.thread = threading.Thread(target=self._run, daemon=True, name="animefy-decode")
        self.thread.start()

    def _run(self) -> None:
        try:
            for frame in self.reader:
                while not self.stop.is_set():
                    try:
                        self.q.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self.stop.is_set():
                    return
            self.q.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, which re-raises it
            self.q.put(exc)

    def __iter__(self) -> Iterator[np.ndarray]:
        while (item := self.q.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            if item.shape[:2] != self.shape:
                raise InputError(f"Frame size changed mid-video ({item.shape[1]}x{item.shape[0]}); re-encode the clip.")
            self.count += 1
            yield item

    def close(self) -> None:
        self.stop.set()


class Encoder:
    """Owns the writer and its thread: `put(frame, count)` queues a frame to be written
    `count` times; `close()` finishes the file; `abort()` removes everything half-written.
    A writer failure is raised in the caller's thread at the next put or at close."""

    def __init__(self, writer, depth: int) -> None:
        self.writer, self.frames = writer, 0
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="animefy-encode")
        self.thread.start()

    def _run(self) -> None:
        try:
            while (item := self.q.get()) is not _END:
                frame, count = item
                for _ in range(count):
                    self.writer.write(frame)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc
            while self.q.get() is not _END:  # drain so the producer never blocks
                pass

    def _check(self) -> None:
        if self.error is not None:
            raise self.error
        if not self.thread.is_alive():
            raise RuntimeError("the video writer stopped")

    def put(self, frame: np.ndarray, count: int) -> None:
        if count < 1:  # (a drawing left out of a chunk's file)
            return
        while True:
            self._check()
            try:
                self.q.put((frame, count), timeout=0.5)
                break
            except queue.Full:
                continue
        self.frames += count

    def close(self) -> Path:
        self.q.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.writer.close()

    def abort(self) -> None:
        if self.thread.is_alive():
            self.q.put(_END)
            self.thread.join(timeout=30)
        self.writer.abort()


def drawings(
    frames: Iterable[np.ndarray], hold: int, skipped: Callable[[np.ndarray], None] | None = None
) -> Iterator[tuple[np.ndarray, int]]:
    """(frame, how many output frames it stands for): every frame, or on twos/threes one
    drawing per `hold` frames (the last one may stand for fewer). Frames that are not drawn
    go to `skipped` (the matte's recurrent state still wants to see them)."""
    current, count = None, 0
    for i, frame in enumerate(frames):
        if i % hold == 0:
            if current is not None:
                yield current, count
            current, count = frame, 0
        elif skipped is not None:
            skipped(frame)
        count += 1
    if current is not None:
        yield current, count


def batched(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _alpha8(alpha: np.ndarray) -> np.ndarray:
    return np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _overlap(start: int, count: int, keep: tuple[int, int | None]) -> int:
    """How many of output frames start..start+count-1 lie in keep = (a, b) (b None: no end)."""
    end = start + count if keep[1] is None else min(start + count, keep[1])
    return max(0, end - max(start, keep[0]))


def _open_writer(out: Path, info: VideoInfo, w: int, h: int, kind: str, src: Path, part: bool = False,
                 audio_seconds: float | None = None):  # fmt: skip
    """The writer for `kind`; `part`: a chunk's part (no audio, the exact frames: the stitch
    reads them back and encodes the clip once); `audio_seconds`: the source's audio is cut
    there (a trimmed clip)."""
    if kind == "png-zip":
        return PngZipWriter(out, info.fps)
    return VideoWriter(out, w, h, info.fps, audio_from=src if info.has_audio and not part else None,
                       alpha=kind == "webm", sar=info.sar, start=info.start_offset, audio_seconds=audio_seconds,
                       lossless=part)  # fmt: skip


def temporal_options(request: VideoRequest) -> TemporalOptions:
    """The supervisor's options from a request's video fields (the schema is plain data)."""
    return TemporalOptions(deflicker=request.strength > 0, strength=request.strength,
                           repair_glitches=request.glitch_repair, hold=request.hold)  # fmt: skip


def _check_call(
    src: Path, out: Path, options: ImageRequest, temporal: TemporalOptions | None, fmt: str | None, batch_size: int
) -> tuple[TemporalOptions, str]:
    """The temporal options and output kind for a call, or InputError before any work. A
    VideoRequest carries its own temporal options and transparent format."""
    if isinstance(options, VideoRequest):
        temporal = temporal or temporal_options(options)
        if fmt is None and "transparent_format" in options.model_fields_set:
            fmt = options.transparent_format
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1 (got {batch_size}).")
    if out.exists() and out.resolve() == src.resolve():
        raise InputError("The output path is the input video; choose another name so the original is kept.")
    return temporal or TemporalOptions(), check_output_format(out, options.background == "transparent", fmt)


class ClipLoop:
    """The streaming loop over one clip's frames, shared by `stylize_video` and the ZeroGPU
    chunk worker (animefy/app/zerogpu.py), so the two cannot drift: the renderer, the reuser
    and the supervisor with the clip's state (one Motion, reset together); `run(frames)`
    turns frames into supervised pictures, each with the number of output frames it stands
    for, in order."""

    def __init__(
        self,
        options: ImageRequest,
        settings: Settings,
        temporal: TemporalOptions,
        reuse: ReuseOptions,
        picture: np.ndarray | None = None,
        batch_size: int = 4,
        timings: Timings | None = None,
    ) -> None:
        self.timings = timings if timings is not None else Timings()
        self.renderer = Renderer(options, settings, picture, timings=self.timings)
        self.renderer.for_video()  # frames come in order: faces become smoothed tracks, the matte its clip settings
        self.supervisor = TemporalSupervisor(temporal)
        self.reuser = Reuser(self.renderer, reuse, temporal.hold)
        self.hold, self.batch_size = temporal.hold, batch_size
        # The clip's state: one motion estimate per pair of drawings, shared by every stage (the
        # supervisor runs one batch behind the split), and the stateful stages, reset together.
        self.clip = ClipState(Motion(side=temporal.flow_max_side, keep=batch_size + 4),
                              [self.renderer, self.reuser, self.supervisor])  # fmt: skip
        self.clip.reset()
        self.supervisor.report.reuse = self.reuser.report

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, int]]:
        renderer, reuser, supervisor, timings = self.renderer, self.reuser, self.supervisor, self.timings
        counts: list[int] = []  # output frames each supervised drawing stands for, oldest first
        for batch in batched(drawings(frames, self.hold, renderer.observe), self.batch_size):
            stack = np.stack([frame for frame, _ in batch])
            counts += [count for _, count in batch]
            contexts = [self.clip.drawing(frame) for frame in stack]
            regions = [renderer.split(d.frame, d) for d in contexts]
            with counting_passes(reuser.report.passes):
                rendered = reuser.render(stack, regions, contexts)
            with timings.stage("temporal"):
                ready = []
                for d, reg, res in zip(contexts, regions, rendered, strict=True):
                    styled = res.rgb if res.alpha is None else np.dstack([res.rgb, _alpha8(res.alpha)])
                    ready += supervisor.push(d.frame, styled, reg.alpha if renderer.matter is not None else None, d)
            yield from ((picture, counts.pop(0)) for picture in ready)
        with timings.stage("temporal"):
            ready = supervisor.flush()
        yield from ((picture, counts.pop(0)) for picture in ready)


def stylize_video(
    src: str | Path,
    out: str | Path,
    options: ImageRequest | None = None,
    temporal: TemporalOptions | None = None,
    settings: Settings | None = None,
    batch_size: int = 4,
    transparent_format: str | None = None,
    progress: Progress | None = None,
    picture: np.ndarray | None = None,
    reuse: ReuseOptions | None = None,
    frames: tuple | None = None,
    keep: tuple[int, int | None] = (0, None),
    tap: Callable[[int, np.ndarray, int], None] | None = None,
) -> VideoResult:
    """Stylize a clip into `out` (.mp4; with a transparent background .webm with alpha, or a
    .zip of RGBA PNGs). Keeps the exact frame rate, the frame count and the audio track.
    `options` may be a VideoRequest, which then also gives the temporal and reuse options and
    the format. Reuse (on by default) carries the background between keyframes and the still
    parts of the person between frames instead of stylizing every frame from scratch.

    A chunk of a longer job (animefy/video/chunks.py): `frames` = (first, stop) decodes only
    those frames (with a third item, seconds to seek to first: see io.seek_time), `keep` =
    (a, b) writes only output frames a..b-1 of them (the warm-up before and the look-ahead
    after are dropped), and the file gets no audio (added when stitching).
    `tap(first, frame, count)` sees every finished drawing, written or not (a chunk keeps the
    frames it blends with its neighbour's at a seam)."""
    settings = settings or Settings.from_env()
    options = options or VideoRequest()
    src, out = Path(src), Path(out)
    temporal, kind = _check_call(src, out, options, temporal, transparent_format, batch_size)
    reuse = reuse or (ReuseOptions(enabled=options.reuse) if isinstance(options, VideoRequest) else ReuseOptions())
    info = trimmed(probe(src, settings), options)
    check_limits(info, settings)
    size, messages = processing_size(info, settings)
    if info.variable_fps:
        messages.append(f"Variable frame rate: converted to a constant {float(info.fps):.3f} fps.")
    for message in messages:
        log.warning("%s: %s", src.name, message)
    w, h = size or (info.width, info.height)
    timings = Timings()
    loop = ClipLoop(options, settings, temporal, reuse, picture, batch_size, timings)
    messages += loop.renderer.messages
    keep_to = kept_frames(info, options)
    decoder = Decoder(src, info, size, 2 * batch_size, info.frame_limit(settings), frames or (0, keep_to))
    writer = _open_writer(out, info, w, h, kind, src, part=frames is not None,
                          audio_seconds=info.duration if keep_to else None)  # fmt: skip
    messages += getattr(writer, "messages", [])
    encoder = Encoder(writer, 2 * batch_size)
    shown = 0  # output frames emitted so far, written (inside `keep`) or not
    see = tap or (lambda *_: None)
    try:
        for styled, count in loop.run(decoder):
            see(shown, styled, count)
            with timings.stage("wait for encode"):
                encoder.put(styled, _overlap(shown, count, keep))
            shown += count
            if progress:
                progress(encoder.frames, max(info.frame_estimate, encoder.frames))
        if decoder.count == 0:
            raise InputError("The video has no frames that can be decoded.")
        if warning := decoder.reader.warning():
            messages.append(warning)
        with timings.stage("wait for encode"):
            path = encoder.close()
    except BaseException:
        encoder.abort()
        raise
    finally:
        decoder.close()
    if progress:
        progress(encoder.frames, encoder.frames)
    loop.supervisor.report.frames = encoder.frames
    return VideoResult(path, encoder.frames, info.fps, (w, h), timings, loop.supervisor.report, messages,
                       loop.reuser.report)  # fmt: skip
