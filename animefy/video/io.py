"""Streaming video in and out through imageio-ffmpeg's bundled ffmpeg: frames are decoded and
encoded one at a time (never the whole clip in memory), the frame rate is kept as an exact
rational, and the audio track is muxed from the source when there is one."""

from __future__ import annotations

import dataclasses
import logging
import math
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
log = logging.getLogger(__name__)


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    width: int  # as displayed (after rotation)
    height: int
    fps: Fraction
    duration: float  # of the file, in seconds (0.0 when not known)
    has_audio: bool
    rotation: int = 0
    variable_fps: bool = False
    codec: str = ""
    sar: Fraction = Fraction(1)  # sample (pixel) aspect ratio of the displayed frames
    start_offset: float = 0.0  # seconds the video stream starts after the file (its audio)
    frame_count: int | None = None  # counted from the stream when the file gives no duration
    duration_known: bool = True
    elementary: bool = False  # a raw stream (.h264, .hevc, .m4v...): no container timing

    @property
    def frame_estimate(self) -> int:
        """Frames the stream should yield: counted when it was, else duration x rate."""
        if self.frame_count is not None:
            return max(1, self.frame_count)
        return max(1, round(max(0.0, self.duration - self.start_offset) * float(self.fps)))

    def frame_limit(self, settings: Settings) -> int:
        """The most frames `read_frames` may yield under settings.max_video_seconds (one
        frame of slack for timestamp rounding); pass it as read_frames(max_frames=...)."""
        return math.ceil(settings.max_video_seconds * float(self.fps)) + 1


def exact_fps(value: float) -> Fraction:
    """A frame rate as ffmpeg prints it (29.97) -> the exact rational (30000/1001)."""
    for base in (24, 30, 48, 60, 120, 240):
        ntsc = Fraction(base * 1000, 1001)
        if abs(float(ntsc) - value) < 0.006:
            return ntsc
    if abs(value - round(value)) < 0.001:
        return Fraction(round(value))
    return Fraction(value).limit_denominator(1001)


_INPUT = re.compile(r"Input #0, ([\w,]+), from")
_DURATION = re.compile(r"Duration:\s*(?:(\d+):(\d+):(\d+(?:\.\d+)?)|N/A)(?:, start: (-?[\d.]+))?")
_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: (Video|Audio): (.*)$", re.M)
_SIZE = re.compile(r", (\d+)x(\d+)(?=[\s,\[]|$)")
_SAR = re.compile(r"SAR (\d+):(\d+) DAR")
_STREAM_START = re.compile(r", start (-?[\d.]+)")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_TBR = re.compile(r"([\d.]+)(k?) tbr")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
# Demuxers of raw elementary streams: no container, no duration; the "fps" ffmpeg prints for
# them is the demuxer's default guess (25), not the stream's rate.
_ELEMENTARY = {"h264", "hevc", "vvc", "m4v", "mpegvideo", "h261", "h263", "cavsvideo", "vc1", "obu", "av1",
               "dirac", "avs2", "avs3"}  # fmt: skip
COVER_ART_MESSAGE = (
    "This file has no video stream (it looks like audio with cover art). Choose a video file (MP4, MOV, WebM "
    "or AVI), or a photo for a still picture."
)


def _rate(match: re.Match | None) -> float | None:
    if not match:
        return None
    return float(match.group(1)) * (1000 if match.group(2) else 1)


def _is_cover_art(line: str, has_audio: bool) -> bool:
    """An attached picture (album art) rather than a moving picture: ffmpeg marks it, and an
    unmarked one shows as a single image with a 90k 'tbr' and no fps beside an audio track."""
    if "(attached pic)" in line or "(thumbnail)" in line:
        return True
    tbr = _rate(_TBR.search(line))
    return has_audio and _FPS.search(line) is None and tbr is not None and tbr >= 1000


def parse_probe(text: str) -> VideoInfo:
    """Parse `ffmpeg -i FILE` output (stderr) into VideoInfo; InputError when no video."""
    streams = list(_STREAM.finditer(text))
    has_audio = any(m.group(1) == "Audio" for m in streams)
    videos = [m for m in streams if m.group(1) == "Video"]
    moving = [m for m in videos if not _is_cover_art(m.group(0), has_audio)]
    if not moving:
        if videos:
            raise InputError(COVER_ART_MESSAGE)
        raise InputError(
            "No video stream found: the file is not a video or is damaged. Use an MP4, MOV, WebM or AVI clip."
        )
    video = moving[0]
    line = video.group(0)
    size = _SIZE.search(line)
    if not size:
        raise InputError("The video's picture size cannot be read; re-encode it (e.g. with a video editor).")
    fmt = _INPUT.search(text)
    elementary = bool(fmt and set(fmt.group(1).split(",")) & _ELEMENTARY)
    fps, tbr = _rate(_FPS.search(line)), _rate(_TBR.search(line))
    rate = fps or tbr
    if not rate:
        raise InputError("The video has no readable frame rate; re-encode it (e.g. with a video editor) and try again.")
    dur = _DURATION.search(text)
    duration_known = bool(dur and dur.group(1) is not None)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if duration_known else 0.0
    file_start = float(dur.group(4)) if dur and dur.group(4) else 0.0
    stream_start = _STREAM_START.search(line)
    offset = float(stream_start.group(1)) - file_start if stream_start else 0.0
    # Side data (rotation) follows its stream's line, up to the next stream.
    nxt = next((m.start() for m in streams if m.start() > video.start()), len(text))
    rot = _ROTATION.search(text, video.start(), nxt)
    rotation = int(round(-float(rot.group(1)))) % 360 if rot else 0
    w, h = int(size.group(1)), int(size.group(2))
    sar_m = _SAR.search(line)
    sar = Fraction(int(sar_m.group(1)), int(sar_m.group(2))) if sar_m and int(sar_m.group(1)) > 0 else Fraction(1)
    if sar_m and int(sar_m.group(2)) == 0:
        sar = Fraction(1)
    if rotation in (90, 270):
        w, h = h, w
        sar = 1 / sar
    return VideoInfo(
        width=w,
        height=h,
        fps=exact_fps(rate),
        duration=duration,
        has_audio=has_audio,
        rotation=rotation,
        # A raw stream has no timestamps to vary, and a lone tbr is no evidence of VFR.
        variable_fps=bool(not elementary and fps and tbr and abs(fps - tbr) > 0.01),
        codec=video.group(2).split()[0].rstrip(","),
        sar=sar,
        start_offset=round(offset, 6) if offset > 0.0005 else 0.0,
        duration_known=duration_known,
        elementary=elementary,
    )


SCAN_TIMEOUT_S = 30.0
SCAN_CAP_FRAMES = 2_000_000


def _packet_rate(path: Path) -> Fraction | None:
    """The frame rate of a raw stream from its first packets' durations (the parser reads the
    stream's own timing), or None when they carry none."""
    try:
        proc = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:V:0", "-c", "copy",
             "-frames:v", "64", "-f", "framecrc", "-"],
            capture_output=True, text=True, errors="replace", timeout=SCAN_TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    tb = re.search(r"#tb 0: (\d+)/(\d+)", proc.stdout)
    durations = sorted(
        int(parts[3]) for line in proc.stdout.splitlines() if not line.startswith("#")
        if len(parts := [p.strip() for p in line.split(",")]) >= 4 and parts[3].lstrip("-").isdigit()
    )  # fmt: skip
    if not tb or not durations or durations[len(durations) // 2] <= 0:
        return None
    seconds = Fraction(int(tb.group(1)), int(tb.group(2))) * durations[len(durations) // 2]
    return exact_fps(float(1 / seconds))


def count_packets(path: str | Path, cap: int = SCAN_CAP_FRAMES, timeout: float = SCAN_TIMEOUT_S) -> int | None:
    """Video packets (= frames) in the file's first video stream, counted without decoding
    (stream copy into nothing), stopping at `cap`. None when it cannot be done in `timeout`."""
    try:
        proc = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:V:0", "-c", "copy",
             "-frames:v", str(cap), "-f", "null", "-", "-progress", "pipe:1", "-nostats"],
            capture_output=True, text=True, errors="replace", timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        log.warning("counting the frames of %s took over %.0f s", path, timeout)
        return None
    frames = re.findall(r"^frame=(\d+)$", proc.stdout, re.M)
    return int(frames[-1]) if frames else None


def probe(path: str | Path, settings: Settings | None = None) -> VideoInfo:
    """VideoInfo of the file at `path`. When the container gives no duration (raw .h264
    streams, live recordings) the frames are counted (cheaply, capped by the length limit of
    `settings` when given) and a raw stream's real frame rate is read from its packets."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No video file at {path.name}; check the name and the folder.")
    if path.stat().st_size == 0:
        raise InputError("The video file is empty.")
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True, text=True, errors="replace", timeout=60,
    )  # fmt: skip
    info = parse_probe(proc.stderr)
    if info.duration_known and not info.elementary:
        return info
    fps = (_packet_rate(path) or info.fps) if info.elementary else info.fps
    cap = dataclasses.replace(info, fps=fps).frame_limit(settings) + 1 if settings else SCAN_CAP_FRAMES
    count = count_packets(path, cap)
    if count is None:
        return dataclasses.replace(info, fps=fps, duration_known=False, variable_fps=False)
    return dataclasses.replace(
        info, fps=fps, frame_count=count, duration=count / float(fps), duration_known=True, variable_fps=False
    )


def check_limits(info: VideoInfo, settings: Settings) -> None:
    """LimitError for a clip that is too long, of unknown length, or too small."""
    if not info.duration_known:
        raise LimitError(
            "The length of this video cannot be determined (the file records no duration and its frames could "
            "not be counted in time). Re-save it as MP4 (for example: ffmpeg -i IN -c copy OUT.mp4) and try again."
        )
    if info.duration > settings.max_video_seconds:
        # A count stopped at the limit knows only "longer than the limit".
        length = f"{info.duration:.0f} s" if round(info.duration) > settings.max_video_seconds else "over the limit"
        raise LimitError(
            f"The video is {length} long; the limit is {settings.max_video_seconds} s "
            "(ANIMEFY_MAX_VIDEO_SECONDS). Trim it or raise the limit."
        )
    if min(info.width, info.height) < settings.min_side:
        raise LimitError(
            f"The video is {info.width}x{info.height} pixels; animefy needs at least {settings.min_side} pixels "
            "on each side (ANIMEFY_MIN_SIDE). Use a larger video."
        )
    from animefy.image.io import check_aspect

    check_aspect(info.width, info.height, settings, "video")


NO_FRAME_MESSAGE = (
    "The video has no frame that can be decoded (the file is damaged or cut short). Re-export or re-download it."
)


def check_decodable(path: str | Path, info: VideoInfo) -> None:
    """InputError unless the first frame of the clip decodes (a header can promise seconds of
    video over data that holds none); reads one frame, before a job is queued."""
    reader = read_frames(path, info)
    try:
        if next(reader, None) is None:
            raise InputError(NO_FRAME_MESSAGE)
    finally:
        reader.close()


def truncation_warning(frames_read: int, info: VideoInfo) -> str | None:
    """The message to show when a clip yields clearly fewer frames than its header promises
    (a cut download or a damaged file), else None."""
    expected = info.frame_estimate
    if frames_read < 0.9 * expected:
        return f"Only {frames_read} of about {expected} frames could be read; the file may be truncated or damaged."
    return None


class FrameReader:
    """Iterator over a clip's uint8 RGB frames, one at a time (rotation applied by ffmpeg;
    variable frame rate converted to the constant rate in `info`; scaled to `size`=(w, h)
    when given). Frames are passed through as decoded at a constant rate: a video stream
    that starts after the audio gets no copies of its first frame. `count` is the frames
    yielded so far; more than `max_frames` raises LimitError; `warning()` says when the
    file ended clearly early. `first`/`stop` yield only frames first..stop-1 (indices in
    decoding order, counted exactly as the whole clip's frames are: a chunk of the clip).
    Without `seek` the frames before `first` are decoded and dropped; with it (seconds, from
    seek_time; constant-rate streams only) ffmpeg starts at the keyframe before frame `first`
    and hands out frame `first` first, so reaching a chunk late in a clip costs a GOP, not the
    clip up to it."""

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo,
        size: tuple[int, int] | None = None,
        max_frames: int | None = None,
        first: int = 0,
        stop: int | None = None,
        seek: float | None = None,
    ) -> None:
        self.path, self.info, self.size, self.max_frames = Path(path), info, size, max_frames
        self.first, self.stop = first, stop
        self.seek = seek if first > 0 and not info.variable_fps else None
        self.count = 0
        self._gen = self._frames()

    def _command(self) -> list[str]:
        info = self.info
        out_params = ["-map", "0:V:0"]
        filters = []
        if info.variable_fps:
            # From the stream's first frame, not the file's start, so no copies are made up.
            filters.append("setpts=PTS-STARTPTS")
            out_params += ["-fps_mode", "cfr", "-r", f"{info.fps.numerator}/{info.fps.denominator}"]
        else:
            out_params += ["-fps_mode", "passthrough"]
        if self.size:
            filters.append(f"scale={self.size[0]}:{self.size[1]}:flags=area")
        if filters:
            out_params += ["-vf", ",".join(filters)]
        return out_params

    def _frames(self) -> Iterator[np.ndarray]:
        import imageio_ffmpeg

        w, h = self.size or (self.info.width, self.info.height)
        # One decoder thread: decoding is cheap, and the cores belong to the models.
        seek = [] if self.seek is None else ["-ss", f"{self.seek:.6f}"]
        gen = imageio_ffmpeg.read_frames(
            str(self.path), pix_fmt="rgb24", input_params=["-threads", "1", *seek], output_params=self._command()
        )
        try:
            try:
                next(gen)  # metadata: ffmpeg could not decode even one frame's format
            except OSError as exc:
                log.info("%s: no frame can be decoded: %s", self.path, str(exc)[-500:])
                raise InputError(NO_FRAME_MESSAGE) from None
            for index, raw in enumerate(gen, start=0 if self.seek is None else self.first):
                if self.stop is not None and index >= self.stop:
                    break
                if index < self.first:
                    continue
                if self.max_frames is not None and index >= self.max_frames:
                    raise LimitError(
                        f"The video has more than {self.max_frames} frames, longer than the limit of "
                        f"{self.max_frames / float(self.info.fps):.0f} s at {float(self.info.fps):.3g} fps "
                        "(ANIMEFY_MAX_VIDEO_SECONDS). Trim it or raise the limit."
                    )
                self.count += 1
                yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        finally:
            gen.close()

    def __iter__(self) -> FrameReader:
        return self

    def __next__(self) -> np.ndarray:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def warning(self) -> str | None:
        """truncation_warning for what has been read (call after the last frame); None for a
        chunk (first/stop given), which reads only part of the clip."""
        if self.first or self.stop is not None:
            return None
        return truncation_warning(self.count, self.info)


def read_frames(
    path: str | Path,
    info: VideoInfo,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
    first: int = 0,
    stop: int | None = None,
    seek: float | None = None,
) -> FrameReader:
    """Iterate over the frames of `path` (see FrameReader); pass
    max_frames=info.frame_limit(settings) to stop a stream longer than the limit, and
    first/stop to read frames first..stop-1 only (`seek`: see seek_time)."""
    return FrameReader(path, info, size, max_frames, first, stop, seek)


def frame_times(path: str | Path, timeout: float = 600) -> list[Fraction]:
    """The presentation times (seconds from the file's start, as ffmpeg's -ss counts them) of
    the first video stream's frames, in order, from its packets (no decoding): frame i of a
    constant-rate stream (one frame a packet under passthrough) is shown at times[i]."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:V:0", "-c", "copy",
         "-f", "framecrc", "-"],
        capture_output=True, text=True, errors="replace", timeout=timeout,
    )  # fmt: skip
    tb = re.search(r"^#tb 0: (\d+)/(\d+)$", proc.stdout, re.M)
    if proc.returncode != 0 or not tb:
        raise InputError("The frames of this video cannot be counted; re-save it as MP4 and try again.")
    unit = Fraction(int(tb[1]), int(tb[2]))
    pts = sorted(int(line.split(",")[2]) for line in proc.stdout.splitlines() if line and not line.startswith("#"))
    return [p * unit for p in pts]


def seek_time(times: list[Fraction], first: int) -> float | None:
    """Where to seek (ffmpeg -ss, before the input) so that frame `first` is the first frame
    decoded out: halfway between its time and the one before (ffmpeg decodes from the
    keyframe before and drops the frames before that time). None for the first frame."""
    if first <= 0 or first >= len(times):
        return None
    return float((times[first - 1] + times[first]) / 2)


def count_frames(path: str | Path, info: VideoInfo) -> int:
    """The exact number of frames FrameReader yields for the whole clip, without converting
    any to RGB: packets for a constant-rate stream (one frame each under passthrough), a
    decode into nothing with the reader's own frame-rate conversion for a variable one."""
    if not info.variable_fps:
        count = count_packets(path, timeout=600)
    else:
        proc = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
             *FrameReader(path, info)._command(), "-f", "null", "-", "-progress", "pipe:1", "-nostats"],
            capture_output=True, text=True, errors="replace", timeout=600,
        )  # fmt: skip
        frames = re.findall(r"^frame=(\d+)$", proc.stdout, re.M)
        count = int(frames[-1]) if frames else None
    if count is None:
        raise InputError("The frames of this video cannot be counted; re-save it as MP4 and try again.")
    return count


OUTPUT_FORMATS = {".mp4": "mp4", ".mov": "mp4", ".mkv": "mp4", ".webm": "webm", ".zip": "png-zip"}
TRANSPARENT_FORMATS = ("webm", "png-zip")


def check_output_format(path: str | Path, transparent: bool, transparent_format: str | None = None) -> str:
    """The output kind for `path` ('mp4', 'webm' or 'png-zip'), or InputError before any work
    is done: a transparent background needs .webm (VP9 with alpha) or .zip (RGBA PNGs); any
    other background is written as H.264 in .mp4 (or .mov/.mkv). `transparent_format`, when
    given, must agree with the suffix."""
    suffix = Path(path).suffix.lower()
    kind = OUTPUT_FORMATS.get(suffix)
    if transparent_format is not None and transparent_format not in TRANSPARENT_FORMATS:
        raise InputError(f"transparent_format must be 'webm' or 'png-zip', not {transparent_format!r}.")
    if transparent:
        if kind not in TRANSPARENT_FORMATS:
            raise InputError(
                f"A transparent background needs a .webm (video with alpha) or .zip (PNG frames) output; "
                f"{suffix or 'a name without a suffix'} cannot keep transparency. Rename the output, or keep the "
                "background."
            )
        if transparent_format is not None and transparent_format != kind:
            want = ".webm" if transparent_format == "webm" else ".zip"
            raise InputError(f"transparent_format {transparent_format!r} writes a {want} file; the output is {suffix}.")
        return kind
    if kind != "mp4":
        hint = " (.webm and .zip are for a transparent background)" if kind else ""
        raise InputError(
            f"Video output must be .mp4, .mov or .mkv{hint}; got {suffix or 'a name without a suffix'}. "
            "Rename the output."
        )
    return kind


def even_size_message(width: int, height: int) -> str | None:
    """What the H.264 writer tells the user when it pads an odd size to an even one."""
    if width % 2 == 0 and height % 2 == 0:
        return None
    edges = " and ".join(e for e, odd in (("column", width % 2), ("row", height % 2)) if odd)
    verb = "were" if width % 2 and height % 2 else "was"
    return (
        f"The video is {width}x{height}; H.264 needs even sizes, so the last {edges} {verb} repeated "
        f"(written as {width + width % 2}x{height + height % 2})."
    )


def encode_command(
    out: Path,
    width: int,
    height: int,
    fps: Fraction,
    audio_from: Path | None,
    alpha: bool = False,
    crf: int = 18,
    threads: int = 1,
    sar: Fraction = Fraction(1),
    start: float = 0.0,
    audio_seconds: float | None = None,
    lossless: bool = False,
) -> list[str]:
    """ffmpeg arguments that read raw RGB(A) frames on stdin and write H.264/yuv420p MP4 (or
    VP9 WebM with alpha), muxing the first audio track of `audio_from` if it has one.
    `lossless`: H.264 in RGB at qp 0 (libx264rgb), the exact frames, for a chunk's part that is
    read back and encoded once with the rest of the clip (animefy/video/chunks.py).

    Frames keep their count (no duplicates), pixel aspect `sar` is recorded, and with audio
    the video starts `start` seconds in, as in the source, so the two stay in sync. H.264
    needs even sizes: VideoWriter feeds it frames with the last column/row repeated."""
    rate = f"{fps.numerator}/{fps.denominator}"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    if audio_from is not None and start > 0:
        cmd += ["-itsoffset", f"{start:.6f}"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgba" if alpha else "rgb24", "-s", f"{width}x{height}",
            "-framerate", rate, "-i", "pipe:0"]  # fmt: skip
    if audio_from is not None:
        if audio_seconds is not None:  # a trimmed clip: only the audio of the frames kept
            cmd += ["-t", f"{audio_seconds:.6f}"]
        cmd += ["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?"]
    if sar != 1:  # (setsar would round the ratio to terms under 100 without max=)
        cmd += ["-vf", f"setsar={sar.numerator}/{sar.denominator}:max={max(sar.numerator, sar.denominator, 100)}"]
    if alpha:
        cmd += ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-b:v", "0", "-crf", "30", "-auto-alt-ref", "0",
                "-row-mt", "1", "-deadline", "realtime", "-cpu-used", "8", "-threads", str(threads)]  # fmt: skip
        audio_codec = ["-c:a", "libopus", "-b:a", "128k"]
    elif lossless:
        cmd += ["-c:v", "libx264rgb", "-preset", "ultrafast", "-qp", "0", "-threads", str(threads),
                "-pix_fmt", "rgb24"]  # fmt: skip
        audio_codec = []
    else:
        if width % 2 or height % 2:
            raise ValueError(f"H.264 needs an even size, not {width}x{height}: VideoWriter pads the frames")
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-threads", str(threads),
                "-pix_fmt", "yuv420p"]  # fmt: skip
        if out.suffix.lower() in (".mp4", ".mov"):
            cmd += ["-movflags", "+faststart"]
        audio_codec = ["-c:a", "aac", "-b:a", "160k"]
    if audio_from is not None:
        cmd += audio_codec
    # Passthrough: the frames come stamped at exactly `rate` (-framerate above); ffmpeg must
    # neither drop nor duplicate any (CFR would fill the first `start` seconds with copies).
    cmd += ["-fps_mode", "passthrough", str(out)]
    return cmd


class VideoWriter:
    """Streams frames into ffmpeg; writes to a temporary name and renames on success, so a
    failed run never leaves (or overwrites with) a broken file.

    `sar` (pixel aspect) and `start` (video start offset) come from the source's VideoInfo;
    left as None they are read from `audio_from` (the source) when it is given. `messages`
    holds what the user should be told (an odd size padded)."""

    def __init__(
        self,
        out: str | Path,
        width: int,
        height: int,
        fps: Fraction,
        audio_from: Path | None = None,
        alpha: bool = False,
        sar: Fraction | None = None,
        start: float | None = None,
        audio_seconds: float | None = None,
        lossless: bool = False,
    ) -> None:
        self.out = Path(out)
        self.tmp = self.out.with_name(f".{self.out.stem}.part{self.out.suffix}")
        self.alpha, self.shape = alpha, (height, width, 4 if alpha else 3)
        # H.264 in 4:2:0 needs even sizes: repeat the last column/row (a black one would show).
        self.pad = (0, 0) if alpha or lossless else (height % 2, width % 2)
        if audio_from is not None and (sar is None or start is None):
            try:
                source = probe(audio_from)
                sar = source.sar if sar is None else sar
                start = source.start_offset if start is None else start
            except InputError:
                pass
        self.messages: list[str] = []
        if not (alpha or lossless) and (message := even_size_message(width, height)):
            self.messages.append(message)
        self.log = tempfile.TemporaryFile()
        cmd = encode_command(self.tmp, width + self.pad[1], height + self.pad[0], fps, audio_from, alpha,
                             sar=sar or Fraction(1), start=start or 0.0, audio_seconds=audio_seconds,
                             lossless=lossless)  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != self.shape or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} does not match writer {self.shape} uint8")
        if any(self.pad):
            frame = np.pad(frame, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError as exc:
            log.error("ffmpeg stopped while writing %s: %s", self.out, self._log())
            raise RuntimeError("ffmpeg stopped while writing the video (its output is in the server log)") from exc
        self.frames += 1

    def _log(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def close(self) -> Path:
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg stopped early: its exit status and log say why, below
        rc = self.proc.wait()
        if rc != 0:
            self.tmp.unlink(missing_ok=True)
            log.error("ffmpeg failed (%s) writing %s: %s", rc, self.out, self._log())
            raise RuntimeError(f"ffmpeg failed ({rc}) writing the video (its output is in the server log)")
        self.tmp.replace(self.out)
        return self.out

    def abort(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdin.close()  # raises BrokenPipeError when buffered bytes meet the dead ffmpeg
        except OSError:
            pass
        finally:
            self.tmp.unlink(missing_ok=True)
