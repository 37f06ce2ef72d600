"""Streaming video in and out through imageio-ffmpeg's bundled ffmpeg: frames are decoded and
encoded one at a time (never the whole clip in memory), the frame rate is kept as an exact
rational, and the audio track is muxed from the source when there is one."""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from animefy.errors import InputError, LimitError
from animefy.settings import Settings


class _ExpectedResize(logging.Filter):
    """imageio-ffmpeg warns when frames are read at another size; we ask for that on purpose
    (and tell the user ourselves), so that one warning is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is different from the source frame size" not in record.getMessage()


logging.getLogger("imageio_ffmpeg").addFilter(_ExpectedResize())


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    width: int  # as displayed (after rotation)
    height: int
    fps: Fraction
    duration: float
    has_audio: bool
    rotation: int = 0
    variable_fps: bool = False
    codec: str = ""

    @property
    def frame_estimate(self) -> int:
        return max(1, round(self.duration * float(self.fps)))


def exact_fps(value: float) -> Fraction:
    """A frame rate as ffmpeg prints it (29.97) -> the exact rational (30000/1001)."""
    for base in (24, 30, 48, 60, 120, 240):
        ntsc = Fraction(base * 1000, 1001)
        if abs(float(ntsc) - value) < 0.006:
            return ntsc
    if abs(value - round(value)) < 0.001:
        return Fraction(round(value))
    return Fraction(value).limit_denominator(1001)


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_TBR = re.compile(r"([\d.]+)(k?) tbr")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")


def _rate(match: re.Match | None) -> float | None:
    if not match:
        return None
    return float(match.group(1)) * (1000 if match.group(2) else 1)


def parse_probe(text: str) -> VideoInfo:
    """Parse `ffmpeg -i FILE` output (stderr) into VideoInfo; InputError when no video."""
    video = _VIDEO.search(text)
    if not video:
        raise InputError(
            "No video stream found: the file is not a video or is damaged. Use an MP4, MOV, WebM or AVI clip."
        )
    line = text[video.start() : text.find("\n", video.start())]
    fps, tbr = _rate(_FPS.search(line)), _rate(_TBR.search(line))
    rate = fps or tbr
    if not rate:
        raise InputError("The video has no readable frame rate; re-encode it (e.g. with a video editor) and try again.")
    dur = _DURATION.search(text)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else 0.0
    rot = _ROTATION.search(text[video.start() :])
    rotation = int(round(-float(rot.group(1)))) % 360 if rot else 0
    w, h = int(video.group(2)), int(video.group(3))
    if rotation in (90, 270):
        w, h = h, w
    return VideoInfo(
        width=w,
        height=h,
        fps=exact_fps(rate),
        duration=duration,
        has_audio=bool(re.search(r"Stream #\S+.*?: Audio:", text)),
        rotation=rotation,
        variable_fps=bool(fps and tbr and abs(fps - tbr) > 0.01),
        codec=video.group(1),
    )


def probe(path: str | Path) -> VideoInfo:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No video file at {path}.")
    if path.stat().st_size == 0:
        raise InputError("The video file is empty.")
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, errors="replace", timeout=60
    )
    return parse_probe(proc.stderr)


def check_limits(info: VideoInfo, settings: Settings) -> None:
    if info.duration > settings.max_video_seconds:
        raise LimitError(
            f"The video is {info.duration:.0f} s long; the limit is {settings.max_video_seconds} s "
            "(ANIMEFY_MAX_VIDEO_SECONDS). Trim it or raise the limit."
        )


def read_frames(path: str | Path, info: VideoInfo, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Yield uint8 RGB frames one at a time (rotation applied by ffmpeg; variable frame rate
    converted to the constant rate in `info`; scaled to `size`=(w, h) when given)."""
    import imageio_ffmpeg

    out_params = []
    if info.variable_fps:
        out_params += ["-fps_mode", "cfr", "-r", f"{info.fps.numerator}/{info.fps.denominator}"]
    w, h = size or (info.width, info.height)
    if size:
        out_params += ["-vf", f"scale={w}:{h}:flags=area"]
    # One decoder thread: decoding is cheap, and the cores belong to the models.
    gen = imageio_ffmpeg.read_frames(
        str(path), pix_fmt="rgb24", input_params=["-threads", "1"], output_params=out_params or None
    )
    try:
        next(gen)  # metadata
        for raw in gen:
            yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)
    finally:
        gen.close()


def encode_command(
    out: Path,
    width: int,
    height: int,
    fps: Fraction,
    audio_from: Path | None,
    alpha: bool = False,
    crf: int = 18,
    threads: int = 1,
) -> list[str]:
    """ffmpeg arguments that read raw RGB(A) frames on stdin and write H.264/yuv420p MP4 (or
    VP9 WebM with alpha), muxing the first audio track of `audio_from` if it has one."""
    rate = f"{fps.numerator}/{fps.denominator}"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgba" if alpha else "rgb24", "-s", f"{width}x{height}",
           "-framerate", rate, "-i", "pipe:0"]  # fmt: skip
    if audio_from is not None:
        cmd += ["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?"]
    if alpha:
        cmd += ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-b:v", "0", "-crf", "30", "-auto-alt-ref", "0",
                "-row-mt", "1", "-deadline", "realtime", "-cpu-used", "8", "-threads", str(threads)]  # fmt: skip
        audio_codec = ["-c:a", "libopus", "-b:a", "128k"]
    else:
        cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
                "-threads", str(threads),
                "-pix_fmt", "yuv420p", "-movflags", "+faststart"]  # fmt: skip
        audio_codec = ["-c:a", "aac", "-b:a", "160k"]
    if audio_from is not None:
        cmd += audio_codec
    cmd += ["-r", rate, str(out)]
    return cmd


class VideoWriter:
    """Streams frames into ffmpeg; writes to a temporary name and renames on success, so a
    failed run never leaves (or overwrites with) a broken file."""

    def __init__(
        self,
        out: str | Path,
        width: int,
        height: int,
        fps: Fraction,
        audio_from: Path | None = None,
        alpha: bool = False,
    ) -> None:
        self.out = Path(out)
        self.tmp = self.out.with_name(f".{self.out.stem}.part{self.out.suffix}")
        self.alpha, self.shape = alpha, (height, width, 4 if alpha else 3)
        self.log = tempfile.TemporaryFile()
        cmd = encode_command(self.tmp, width, height, fps, audio_from, alpha)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != self.shape or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} does not match writer {self.shape} uint8")
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError as exc:
            raise RuntimeError(f"ffmpeg stopped: {self._log()}") from exc
        self.frames += 1

    def _log(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def close(self) -> Path:
        self.proc.stdin.close()
        rc = self.proc.wait()
        if rc != 0:
            self.tmp.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg failed ({rc}): {self._log()}")
        self.tmp.replace(self.out)
        return self.out

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.kill()
            self.proc.wait()
        self.tmp.unlink(missing_ok=True)
