"""The video pipeline: decode (thread) -> split + stylize in batches -> temporal supervisor ->
encode (thread), connected by small bounded queues so decoding, inference and encoding
overlap and memory stays flat whatever the clip's length."""

from __future__ import annotations

import queue
import threading
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from animefy.errors import InputError
from animefy.image.io import encode_png
from animefy.image.pipeline import Renderer, StyleOptions
from animefy.settings import Settings
from animefy.timings import Timings
from animefy.video.io import VideoInfo, VideoWriter, check_limits, probe, read_frames
from animefy.video.temporal import TemporalOptions, TemporalReport, TemporalSupervisor

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
        self.zip.close()
        self.tmp.unlink(missing_ok=True)


def processing_size(info: VideoInfo, settings: Settings) -> tuple[tuple[int, int] | None, list[str]]:
    """(w, h) to decode at when the clip is larger than the limit (else None), and messages."""
    if max(info.width, info.height) <= settings.max_video_side:
        return None, []
    s = settings.max_video_side / max(info.width, info.height)
    w, h = int(info.width * s) // 2 * 2, int(info.height * s) // 2 * 2
    return (w, h), [f"The video is {info.width}x{info.height}; it is processed at {w}x{h} (ANIMEFY_MAX_VIDEO_SIDE)."]


def _reader(path: Path, info: VideoInfo, size, q: queue.Queue, stop: threading.Event, max_frames=None) -> None:  # noqa: ANN001
    try:
        for frame in read_frames(path, info, size, max_frames=max_frames):
            while not stop.is_set():
                try:
                    q.put(frame, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        q.put(_END)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which re-raises it
        q.put(exc)


def _writer(writer, q: queue.Queue, errors: list) -> None:  # noqa: ANN001
    try:
        while (item := q.get()) is not _END:
            frame, count = item
            for _ in range(count):
                writer.write(frame)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        errors.append(exc)
        while q.get() is not _END:  # drain so the producer never blocks
            pass


def stylize_video(
    src: str | Path,
    out: str | Path,
    options: StyleOptions | None = None,
    temporal: TemporalOptions | None = None,
    settings: Settings | None = None,
    batch_size: int = 4,
    transparent_format: str = "webm",
    progress: Progress | None = None,
) -> VideoResult:
    """Stylize a clip into `out` (.mp4; with a transparent background .webm with alpha, or a
    .zip of RGBA PNGs). Keeps the exact frame rate, the frame count and the audio track."""
    settings = settings or Settings.from_env()
    options = options or StyleOptions()
    temporal = (temporal or TemporalOptions()).validate()
    src, out = Path(src), Path(out)
    if out.exists() and out.resolve() == src.resolve():
        raise InputError("The output path is the input video; choose another name so the original is kept.")
    info = probe(src)
    check_limits(info, settings)
    size, messages = processing_size(info, settings)
    if info.variable_fps:
        messages.append(f"Variable frame rate: converted to a constant {float(info.fps):.3f} fps.")
    w, h = size or (info.width, info.height)
    timings = Timings()
    renderer = Renderer(options, settings=settings, timings=timings)
    transparent = options.background == "transparent"
    if transparent and transparent_format not in ("webm", "png-zip"):
        raise InputError("transparent_format must be 'webm' or 'png-zip'.")
    if transparent and transparent_format == "png-zip":
        writer = PngZipWriter(out, info.fps)
    else:
        writer = VideoWriter(out, w, h, info.fps, audio_from=src if info.has_audio else None, alpha=transparent)
    supervisor = TemporalSupervisor(temporal)
    hold = temporal.hold
    total = info.frame_estimate

    stop = threading.Event()
    q_in: queue.Queue = queue.Queue(maxsize=2 * batch_size)
    q_out: queue.Queue = queue.Queue(maxsize=2 * batch_size)
    write_errors: list = []
    reader = threading.Thread(
        target=_reader, args=(src, info, size, q_in, stop, info.frame_limit(settings)), daemon=True
    )
    writer_thread = threading.Thread(target=_writer, args=(writer, q_out, write_errors), daemon=True)
    reader.start()
    writer_thread.start()
    counts: deque[int] = deque()  # frames each supervised key frame covers, in order
    done = 0
    try:
        finished = False
        index = 0
        while not finished:
            batch, regions = [], []
            with timings.stage("wait for decode"):
                while len(batch) < batch_size:
                    item = q_in.get()
                    if item is _END:
                        finished = True
                        break
                    if isinstance(item, BaseException):
                        raise item
                    if item.shape[:2] != (h, w):
                        raise InputError(
                            f"Frame size changed mid-video ({item.shape[1]}x{item.shape[0]}); re-encode the clip."
                        )
                    if index % hold == 0:
                        batch.append(item)
                        counts.append(1)
                    else:
                        counts[-1] += 1
                    index += 1
            if not batch:
                continue
            for frame in batch:
                regions.append(renderer.split(frame))
            rendered = renderer.render(np.stack(batch), regions)
            with timings.stage("temporal"):
                ready = []
                for frame, reg, res in zip(batch, regions, rendered, strict=True):
                    styled = res.rgb if res.alpha is None else np.dstack([res.rgb, _alpha8(res.alpha)])
                    person = reg.alpha if renderer.matter is not None else None
                    ready += supervisor.push(frame, styled, person)
            done = _emit(ready, counts, q_out, writer_thread, write_errors, timings, done, progress, total)
        with timings.stage("temporal"):
            ready = supervisor.flush()
        done = _emit(ready, counts, q_out, writer_thread, write_errors, timings, done, progress, total)
        if index == 0:
            raise InputError("The video has no frames that can be decoded.")
        q_out.put(_END)
        with timings.stage("wait for encode"):
            writer_thread.join()
        if write_errors:
            raise write_errors[0]
        path = writer.close()
    except BaseException:
        stop.set()
        if writer_thread.is_alive():
            q_out.put(_END)
            writer_thread.join(timeout=30)
        writer.abort()
        raise
    finally:
        stop.set()
    if progress:
        progress(done, done)
    supervisor.report.frames = done
    return VideoResult(path, done, info.fps, (w, h), timings, supervisor.report, messages)


def _alpha8(alpha: np.ndarray) -> np.ndarray:
    return np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _emit(ready, counts, q_out, writer_thread, write_errors, timings, done, progress, total):  # noqa: ANN001, ANN202
    for frame in ready:
        count = counts.popleft()
        with timings.stage("wait for encode"):
            while True:
                if write_errors or not writer_thread.is_alive():
                    raise write_errors[0] if write_errors else RuntimeError("the video writer stopped")
                try:
                    q_out.put((frame, count), timeout=0.5)
                    break
                except queue.Full:
                    continue
        done += count
        if progress:
            progress(done, max(total, done))
    return done
