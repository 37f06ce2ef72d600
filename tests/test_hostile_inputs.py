"""Issue 11, below the front ends: hostile or unusual files that used to crash, hang, run far
past the limits or come out wrong. Every bad input is generated here (ffmpeg, PIL, numpy)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT, person_on_green
from tiny_models import affine_stylizer, write_catalog

from animefy.errors import AnimefyError, InputError, LimitError, ModelLoadError
from animefy.models.catalog import load_catalog
from animefy.settings import Settings

# --- models: unreadable folders (item 6) and damaged files (item 7) -------------------------


def _catalog(tmp_path: Path, **extra) -> Path:
    entry = {"role": "stylize", "filename": "mystyle.onnx", "layout": "NHWC", "color": "RGB",
             "value_range": [-1, 1], "licence": "test", **extra}  # fmt: skip
    return write_catalog(tmp_path / "catalog.toml", {"mystyle": entry})


def test_unreadable_models_folder_is_unavailable_not_a_crash(tmp_path, monkeypatch):
    # Tests run as root, and root reads a chmod 000 folder anyway, so the folder's refusal is
    # simulated where the OS would raise it: stat() (behind is_file/is_dir) of a path inside.
    from animefy.models import hub
    from animefy.models.registry import available_styles, load

    models = tmp_path / "locked"
    affine_stylizer(models / "mystyle.onnx")
    settings = Settings(models_dirs=(models,), user_catalog=_catalog(tmp_path), offline=True)
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        if models in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    spec = load_catalog(settings).get("mystyle")
    status = hub.availability(spec, settings)
    assert status == "missing" and not status.available
    assert "unreadable: permission denied" in status.reason and str(models) not in status.reason
    assert hub.find_cached(spec, settings) is None
    assert "mystyle" not in available_styles(settings)
    with pytest.raises(AnimefyError, match="unreadable") as info:
        load("mystyle", "stylize", settings)
    assert str(models) not in str(info.value)


def test_models_cli_survives_an_unreadable_folder(tmp_path, monkeypatch, capsys):
    from animefy.app.cli import main

    models = tmp_path / "locked"
    models.mkdir()
    real_is_file = Path.is_file

    def is_file(self):
        if models in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    monkeypatch.setenv("ANIMEFY_MODELS_DIR", str(models))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "missing (" in out and "unreadable" in out  # the reason is shown with the status


def test_models_folder_under_a_file_is_just_absent(tmp_path):
    from animefy.models.hub import availability

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    settings = Settings(models_dirs=(a_file / "models",), user_catalog=_catalog(tmp_path), offline=True)
    assert availability(load_catalog(settings).get("mystyle"), settings) == "missing"


def test_damaged_model_without_checksum_is_a_typed_error_without_server_path(tmp_path, caplog):
    from animefy.models.registry import load

    models = tmp_path / "secret_server_dir"
    models.mkdir()
    (models / "mystyle.onnx").write_bytes(b"\x08\x01garbage, not an ONNX graph" * 50)
    settings = Settings(models_dirs=(models,), user_catalog=_catalog(tmp_path), offline=True)
    with caplog.at_level(logging.WARNING), pytest.raises(ModelLoadError) as info:
        load("mystyle", "stylize", settings)
    err = info.value
    assert (err.exit_code, err.http_status, err.code) == (3, 503, "model_damaged")
    text = str(err)
    assert "'mystyle.onnx'" in text and "damaged" in text and "Delete it" in text
    assert "secret_server_dir" not in text and str(tmp_path) not in text
    assert str(models / "mystyle.onnx") in caplog.text  # the full path is logged for the admin


def test_damaged_face_detector_is_a_typed_error(tmp_path):
    from animefy.image.faces import YunetDetector

    bad = tmp_path / "hidden" / "yunet.onnx"
    bad.parent.mkdir()
    bad.write_bytes(b"not a model" * 10)
    with pytest.raises(ModelLoadError, match="'yunet.onnx' is damaged") as info:
        YunetDetector(bad)
    assert "hidden" not in str(info.value)


def test_damaged_dctnet_graph_is_a_typed_error(tmp_path):
    pytest.importorskip("tensorflow")
    from animefy.models.dctnet import read_graph_def

    bad = tmp_path / "hidden" / "cartoon_anime_h.pb"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xfe not a protobuf graph" * 20)
    with pytest.raises(ModelLoadError, match="'cartoon_anime_h.pb' is damaged") as info:
        read_graph_def(bad, "dctnet_anime")
    assert "hidden" not in str(info.value) and "python -m animefy download dctnet_anime" in str(info.value)


# --- images: transparency (item 15) and messages that mislead (item 18) ---------------------


def test_rgba_photo_transparent_areas_become_white_not_black(tmp_path):
    from PIL import Image

    from animefy.image.io import load_image
    from animefy.image.pipeline import stylize_image

    rgba = np.zeros((48, 64, 4), np.uint8)  # fully transparent black...
    rgba[12:36, 16:48] = (200, 30, 30, 255)  # ...around an opaque red block
    path = tmp_path / "sticker.png"
    Image.fromarray(rgba, "RGBA").save(path)
    loaded = load_image(path)
    assert loaded.rgb[0, 0].tolist() == [255, 255, 255] and loaded.rgb[20, 30].tolist() == [200, 30, 30]
    assert loaded.alpha is not None and loaded.alpha[0, 0] == 0 and loaded.alpha[20, 30] == 1
    assert any("transparent areas" in m and "white" in m for m in loaded.messages)
    kept = stylize_image(path, person_style="original", background="keep")
    assert kept.rgb[0, 0].min() > 200, "the kept background must not turn black"
    opaque = np.dstack([rgba[..., :3], np.full((48, 64), 255, np.uint8)])
    assert load_image(opaque).messages == ()  # an alpha channel without transparency says nothing


def test_unknown_background_word_is_named_as_such(tmp_path):
    from animefy.image.pipeline import stylize_image

    with pytest.raises(InputError, match=r"'red' is neither keep, transparent, a #RRGGBB colour nor a picture file"):
        stylize_image(np.zeros((32, 32, 3), np.uint8), person_style="cel", background="red")
    from animefy.image.pipeline import _background_argument

    assert _background_argument("#ff0000") == ({"background": "color", "background_colour": "#ff0000"}, None)


def test_heic_photo_is_called_unsupported_not_damaged(tmp_path):
    from animefy.image.io import load_image

    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(range(256)) * 4)
    with pytest.raises(InputError) as info:
        load_image(heic)
    text = str(info.value)
    assert "HEIC" in text and "not supported" in text and "damaged" not in text
    assert "JPEG" in text and "PNG" in text
    with pytest.raises(InputError, match="is a video"):
        load_image(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(300))


# --- video ---------------------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    from animefy.video.io import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _stream_info(path) -> str:
    from animefy.video.io import ffmpeg_exe

    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return next(line for line in log.splitlines() if "Video:" in line)


def _raw_h264(path, rate: str, seconds: float, size: str = "16x16"):
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}", "-c:v", "libx264",
            "-preset", "ultrafast", "-f", "h264", str(path))  # fmt: skip
    return path


def test_raw_h264_stream_length_and_rate_are_read_and_limited(tmp_path):
    from animefy.image.pipeline import StyleOptions
    from animefy.video.io import check_limits, probe, read_frames
    from animefy.video.pipeline import stylize_video

    # 40 frames at 1 fps: 40 s. The container has no duration; ffmpeg prints "25 fps, 2 tbr".
    raw = _raw_h264(tmp_path / "clip.h264", rate="1", seconds=40)
    info = probe(raw)
    assert info.fps == 1 and not info.variable_fps
    assert info.frame_count == 40 and info.duration == 40.0
    assert sum(1 for _ in read_frames(raw, info)) == 40  # was 1000: each frame copied 25x
    limit = Settings(max_video_seconds=20)
    with pytest.raises(LimitError, match="40 s long; the limit is 20 s"):
        check_limits(info, limit)
    with pytest.raises(LimitError, match="ANIMEFY_MAX_VIDEO_SECONDS"):
        stylize_video(raw, tmp_path / "o.mp4", StyleOptions(person_style="cel"), settings=limit)
    assert not (tmp_path / "o.mp4").exists()
    # Enforced while decoding too, whatever the header said.
    reader = read_frames(raw, info, max_frames=info.frame_limit(Settings(max_video_seconds=10)))
    with pytest.raises(LimitError, match="more than 11 frames"):
        for _ in reader:
            pass
    assert reader.count == 11


def test_raw_stream_within_the_limit_keeps_its_frames_and_rate(tmp_path):
    from animefy.image.pipeline import StyleOptions
    from animefy.video.io import probe
    from animefy.video.pipeline import stylize_video

    raw = _raw_h264(tmp_path / "clip.264", rate="30000/1001", seconds=1, size="32x32")
    res = stylize_video(raw, tmp_path / "o.mp4", StyleOptions(person_style="cel"))
    assert res.frames == 30 and res.fps == Fraction(30000, 1001)
    assert probe(res.path).fps == Fraction(30000, 1001)


def test_length_that_cannot_be_counted_is_refused(tmp_path, monkeypatch):
    from animefy.video import io

    raw = _raw_h264(tmp_path / "clip.h264", rate="25", seconds=1)
    monkeypatch.setattr(io, "count_packets", lambda path, cap: None)  # as when the count times out
    info = io.probe(raw)
    assert not info.duration_known
    with pytest.raises(LimitError, match="length of this video cannot be determined"):
        io.check_limits(info, Settings())


def test_output_format_checked_up_front():
    from animefy.video.io import check_output_format

    assert check_output_format("a.mp4", transparent=False) == "mp4"
    assert check_output_format("a.MOV", transparent=False) == "mp4"
    assert check_output_format("a.webm", transparent=True) == "webm"
    assert check_output_format("a.zip", transparent=True, transparent_format="png-zip") == "png-zip"
    with pytest.raises(InputError, match=r"transparent background needs a \.webm .* or \.zip"):
        check_output_format("a.mp4", transparent=True)
    with pytest.raises(InputError, match=r"\.mp4, \.mov or \.mkv .*transparent background"):
        check_output_format("a.webm", transparent=False)
    for name in ("x.txt", "x.png", "noext"):
        with pytest.raises(InputError, match=r"\.mp4, \.mov or \.mkv"):
            check_output_format(name, transparent=False)
        with pytest.raises(InputError, match=r"\.webm .* \.zip"):
            check_output_format(name, transparent=True)
    with pytest.raises(InputError, match="writes a .webm"):
        check_output_format("a.zip", transparent=True, transparent_format="webm")


def test_odd_size_is_padded_by_repeating_the_edge_not_black(tmp_path):
    from animefy.video.io import VideoWriter, probe, read_frames

    colour = (200, 120, 60)
    writer = VideoWriter(tmp_path / "odd.mp4", 333, 199, Fraction(25))
    for _ in range(3):
        writer.write(np.full((199, 333, 3), colour, np.uint8))
    out = writer.close()
    assert writer.messages == [
        "The video is 333x199; H.264 needs even sizes, so the last column and row were repeated (written as 334x200)."
    ]
    frame = next(iter(read_frames(out, probe(out))))
    assert frame.shape == (200, 334, 3)
    for edge in (frame[:, -1], frame[-1, :]):  # last column, last row
        assert np.abs(edge.astype(int) - colour).max() <= 4


def test_non_square_pixels_keep_their_aspect(tmp_path):
    from animefy.video.io import VideoWriter, probe, read_frames

    src = tmp_path / "sar.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.2", "-vf", "setsar=128/117",
            "-c:v", "libx264", str(src))  # fmt: skip
    info = probe(src)
    assert info.sar != 1 and abs(float(info.sar) - 128 / 117) < 0.002
    writer = VideoWriter(tmp_path / "out.mp4", 64, 48, info.fps, sar=info.sar)
    for frame in read_frames(src, info):
        writer.write(frame)
    assert probe(writer.close()).sar == info.sar


def test_carphone_keeps_its_pixel_aspect(tmp_path, shared):
    from animefy.video.io import VideoWriter, probe, read_frames

    src = shared / "media" / "carphone.mp4"
    info = probe(src)
    assert info.sar == Fraction(128, 117)
    # The video pipeline passes sar=info.sar to VideoWriter (it cannot be read from a silent source).
    writer = VideoWriter(tmp_path / "o.mp4", info.width, info.height, info.fps, sar=info.sar)
    for frame in read_frames(src, info):
        writer.write(frame)
    out = probe(writer.close())
    assert out.sar == Fraction(128, 117) and writer.frames == 120


def test_truncated_mp4_is_reported(tmp_path):
    from animefy.video.io import probe, read_frames, truncation_warning

    full = tmp_path / "full.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=2.4", "-c:v", "libx264",
            "-movflags", "+faststart", str(full))  # fmt: skip
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    info = probe(cut)
    assert info.frame_estimate == 60
    reader = read_frames(cut, info)
    frames = sum(1 for _ in reader)
    assert 0 < frames == reader.count < 54
    assert reader.warning() == (
        f"Only {frames} of about 60 frames could be read; the file may be truncated or damaged."
    )
    assert truncation_warning(58, info) is None and read_frames(full, probe(full)).warning() is not None


@pytest.mark.parametrize("suffix,codec", [(".mp3", "libmp3lame"), (".m4a", "aac")])
def test_audio_with_cover_art_is_not_a_video(tmp_path, suffix, codec):
    from animefy.image.pipeline import StyleOptions
    from animefy.video.pipeline import stylize_video

    cover = tmp_path / "cover.png"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64:duration=1", "-frames:v", "1", str(cover))
    song = tmp_path / f"song{suffix}"
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-i", str(cover), "-map", "0", "-map", "1", "-c:a", codec,
            "-c:v", "png", "-disposition:v", "attached_pic", str(song))  # fmt: skip
    with pytest.raises(InputError, match=r"no video stream \(it looks like audio with cover art\)"):
        stylize_video(song, tmp_path / "o.mp4", StyleOptions(person_style="cel"))


def test_video_starting_after_its_audio_keeps_frame_count_and_sync(tmp_path):
    from animefy.image.pipeline import StyleOptions
    from animefy.video.io import probe, read_frames
    from animefy.video.pipeline import stylize_video

    src = tmp_path / "phone.mp4"
    _ffmpeg("-itsoffset", "0.2", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30:duration=3",
            "-f", "lavfi", "-i", "sine=duration=3.2", "-c:v", "libx264", "-c:a", "aac", str(src))  # fmt: skip
    info = probe(src)
    assert info.start_offset == pytest.approx(0.2, abs=0.01) and info.frame_estimate == 90
    assert sum(1 for _ in read_frames(src, info)) == 90  # was 96: six copies of the first frame
    res = stylize_video(src, tmp_path / "o.mp4", StyleOptions(person_style="cel"))
    out = probe(res.path)
    assert res.frames == 90 and sum(1 for _ in read_frames(res.path, out)) == 90
    assert out.has_audio and out.start_offset == pytest.approx(0.2, abs=0.01)  # still 0.2 s after the audio


def test_tiny_video_is_called_too_small(tmp_path):
    from animefy.image.pipeline import StyleOptions
    from animefy.video.io import probe
    from animefy.video.pipeline import stylize_video

    src = tmp_path / "tiny.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=8x8:rate=25:duration=0.2", "-c:v", "libx264", str(src))
    assert (probe(src).width, probe(src).height) == (8, 8)
    with pytest.raises(LimitError, match="8x8 pixels; animefy needs at least 16 pixels") as info:
        stylize_video(src, tmp_path / "o.mp4", StyleOptions(person_style="cel"))
    assert "damaged" not in str(info.value)


# === Issue 20: bounded work for any input, no overwrites, no debris, damaged models =========
# Every hostile file is generated once per module; each case states its expected answer.


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(range(256)) * 4
MP4_BYTES = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(300)


def _png_file(path: Path, h: int, w: int) -> Path:
    cv2.imwrite(str(path), cv2.resize(person_on_green(96, 128), (w, h), interpolation=cv2.INTER_NEAREST)[..., ::-1])
    return path


def _clip(path: Path, size: str, seconds: float = 0.4, rate: int = 25) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}", "-c:v", "libx264",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path))  # fmt: skip
    return path


def _no_frames(full: Path, path: Path, zeroed: bool) -> Path:
    """A clip whose header promises its full length but whose frame data is gone: cut right
    after the index (`zeroed` False) or overwritten with zeros (True)."""
    data = full.read_bytes()
    start = data.index(b"mdat") + 4
    path.write_bytes(data[:start] + (bytes(len(data) - start) if zeroed else data[start : start + 64]))
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile_media")
    m = {
        "photo": _png_file(d / "photo.png", 96, 128),
        "thin": _png_file(d / "thin.png", 100, 8000),  # issue 20's 8000x100 PNG
        "tall": _png_file(d / "tall.png", 3000, 100),
        "panorama": _png_file(d / "panorama.png", 400, 3000),  # thin but reasonable: must work
        "tiny": _png_file(d / "tiny.png", 8, 8),
        "big": _png_file(d / "big.png", 1500, 1500),  # over the clients' max_pixels of 2,000,000
        "two_s": _clip(d / "two_s.mp4", "96x64", seconds=2),
        "clip": _clip(d / "clip.mp4", "96x64"),
        "long": _clip(d / "long.mp4", "96x64", seconds=3),  # over the clients' 2 s limit
        "thin_clip": _clip(d / "thin_clip.mp4", "1280x64"),
        "tall_clip": _clip(d / "tall_clip.mp4", "48x960"),
        "tiny_clip": _clip(d / "tiny_clip.mp4", "8x8"),
    }
    m["cut"] = _no_frames(m["two_s"], d / "cut.mp4", zeroed=False)
    m["zeroed"] = _no_frames(m["two_s"], d / "zeroed.mp4", zeroed=True)
    cover = _png_file(d / "cover.png", 64, 64)
    m["song"] = d / "song.m4a"
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-i", str(cover), "-map", "0", "-map", "1", "-c:a", "aac",
            "-c:v", "png", "-disposition:v", "attached_pic", str(m["song"]))  # fmt: skip
    for name, data in {"empty": b"", "text": b"not a picture at all", "heic": HEIC, "mp4bytes": MP4_BYTES}.items():
        m[name] = d / f"{name}.bin"
        m[name].write_bytes(data)
    return m


@pytest.fixture(scope="module")
def models_root(tmp_path_factory) -> tuple[Path, Path]:
    """(models folder, user catalog): a working tiny style 'invert', a catalog style 'broken'
    whose file fails its sha256, and a damaged copy of the default shinkai_v3."""
    root = tmp_path_factory.mktemp("secret_server_models")
    models = root / "models"
    affine_stylizer(models / "invert.onnx", scale=(-1, -1, -1))
    affine_stylizer(models / "broken.onnx", scale=(0.5, 0.5, 0.5))
    (models / "animeganv3_shinkai_37.onnx").write_bytes(b"\x08\x07" + bytes(5000))  # truncated download
    common = {"role": "stylize", "layout": "NHWC", "color": "RGB", "value_range": [-1, 1], "licence": "test"}
    catalog = write_catalog(root / "catalog.toml", {
        "invert": {**common, "filename": "invert.onnx"},
        "broken": {**common, "filename": "broken.onnx", "sha256": "0" * 64},
    })  # fmt: skip
    return models, catalog


# --- the model's input is bounded in pixels and long side (item 1) --------------------------


class _Recorder:
    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.shapes.append(frames.shape)
        return frames


@pytest.mark.parametrize("h,w", [(26, 2048), (100, 8000), (1, 4000), (171, 2048), (2048, 2048), (3000, 4000)])
def test_generator_input_is_bounded_in_pixels_and_long_side(h, w):
    from animefy.image.stylize import UPSCALE_MAX_SIDE, WORK_MAX_PIXELS, Generator
    from animefy.models.registry import Capabilities

    model = _Recorder()
    gen = Generator("g", model, Capabilities("stylize", min_side=384))
    out = gen(np.zeros((h, w, 3), np.uint8))
    assert out.shape == (h, w, 3)
    mh, mw = model.shapes[0][:2]
    assert mh * mw <= WORK_MAX_PIXELS * 1.01  # was 30247x384 for the 2048x26 sliver
    assert max(mh, mw) <= max(w, h, UPSCALE_MAX_SIDE)


def test_thin_but_reasonable_inputs_still_reach_the_min_side():
    from animefy.image.stylize import Generator
    from animefy.models.registry import Capabilities

    gen = Generator("g", _Recorder(), Capabilities("stylize", min_side=384))
    assert gen.scale_for(273, 2048) == pytest.approx(384 / 273)  # a 3000x400 panorama after loading
    assert gen.scale_for(200, 300) == pytest.approx(384 / 200)
    assert gen.scale_for(1080, 1920) == 1.0


@pytest.mark.parametrize("w,h,ok", [(8000, 100, False), (100, 3000, False), (3000, 400, True), (1200, 100, True),
                                    (1300, 100, False), (64, 64, True)])  # fmt: skip
def test_aspect_ratio_is_checked_on_the_header_for_photos_and_clips(w, h, ok):
    from animefy.errors import AspectRatioError
    from animefy.image.io import check_aspect
    from animefy.video.io import VideoInfo, check_limits

    info = VideoInfo(width=w, height=h, fps=Fraction(25), duration=1.0, has_audio=False)
    if ok:
        check_aspect(w, h, Settings())
        check_limits(info, Settings(min_side=1))
        return
    with pytest.raises(AspectRatioError, match=r"animefy takes at most 12:1 \(ANIMEFY_MAX_ASPECT\)") as err:
        check_aspect(w, h, Settings())
    assert (err.value.http_status, err.value.code, err.value.exit_code) == (413, "aspect_ratio_exceeded", 2)
    with pytest.raises(AspectRatioError, match="The video is"):
        check_limits(info, Settings(min_side=1))
    check_aspect(w, h, Settings(max_aspect=100))  # the limit is a setting


def test_thin_image_is_refused_before_decoding(media, monkeypatch):
    from PIL import Image

    from animefy.errors import AspectRatioError
    from animefy.image.io import load_image

    def no_decode(self):
        raise AssertionError("decoded a refused image")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    with pytest.raises(AspectRatioError, match="8000x100 pixels, 80 times wider than tall"):
        load_image(media["thin"])


def _peak_rss_run(args: list[str], env: dict) -> tuple[int, float, str]:
    """Run the CLI in a child; (exit code, the child's own peak RSS in GB, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "animefy", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    _, err = proc.communicate(timeout=600)
    # communicate() reaped the child; its rusage is in RUSAGE_CHILDREN, which also holds any
    # earlier child: an upper bound, so "under 3 GB" stays a true statement.
    import resource

    return proc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2, err


def test_thin_image_peak_rss_stays_under_3_gb_with_the_real_default_model(media, tmp_path, real_models):
    """Issue 20's exact case: the 8000x100 PNG through shinkai_v3. Refused by default; with
    the aspect limit lifted, the pixel bound alone keeps the child far under 3 GB (it passed
    12 GB before). A 3000x400 panorama still works, at the min_side."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rc, gb, err = _peak_rss_run(["image", str(media["thin"]), "-o", str(tmp_path / "a.png"), "-s", "shinkai_v3"], env)
    assert rc == 2 and "ANIMEFY_MAX_ASPECT" in err and "Traceback" not in err and gb < 3
    assert not (tmp_path / "a.png").exists()
    rc, gb, err = _peak_rss_run(["image", str(media["thin"]), "-o", str(tmp_path / "b.png"), "-s", "shinkai_v3"],
                                {**env, "ANIMEFY_MAX_ASPECT": "1000"})  # fmt: skip
    assert rc == 0, err
    assert gb < 3, f"peak RSS {gb:.2f} GB"
    assert cv2.imread(str(tmp_path / "b.png")).shape == (26, 2048, 3)
    rc, gb, err = _peak_rss_run(["image", str(media["panorama"]), "-o", str(tmp_path / "p.png"), "-s", "shinkai_v3"],
                                env)  # fmt: skip
    assert rc == 0 and gb < 3, err
    assert cv2.imread(str(tmp_path / "p.png")).shape == (273, 2048, 3)


# --- damaged models (item 3) ----------------------------------------------------------------


def test_damaged_model_is_503_model_damaged_for_any_model(models_root, caplog):
    from animefy.errors import ChecksumError
    from animefy.models.registry import available_styles, default_style, load

    models, catalog = models_root
    settings = Settings(models_dirs=(models,), user_catalog=catalog, offline=True, default_style="shinkai_v3")
    for name in ("shinkai_v3", "broken"):
        with caplog.at_level(logging.WARNING), pytest.raises(ChecksumError) as info:
            load(name, "stylize", settings)
        err = info.value
        assert isinstance(err, ModelLoadError)
        assert (err.http_status, err.code, err.exit_code) == (503, "model_damaged", 3)  # was 500 checksum_mismatch
        assert "is damaged" in str(err) and str(models) not in str(err)
        assert str(models) in caplog.text  # the admin's log has the path
    have = available_styles(settings)
    assert "invert" in have and "shinkai_v3" not in have and "broken" not in have
    assert default_style(settings) != "shinkai_v3"  # a damaged default is not offered


def test_availability_says_damaged(models_root):
    from animefy.models.hub import availability

    models, catalog = models_root
    settings = Settings(models_dirs=(models,), user_catalog=catalog, offline=True)
    cat = load_catalog(settings)
    for name in ("shinkai_v3", "broken"):
        status = availability(cat.get(name), settings)
        assert not status.available and status.damaged and status.status == "damaged"
        assert status.detail.startswith("damaged (") and str(models) not in status.detail
        assert status.public() == {"available": False, "status": "damaged"}
    good = availability(cat.get("invert"), settings)
    assert good.available and good.public() == {"available": True, "status": "ready"}
    assert availability(cat.get("cel"), settings).public() == {"available": True, "status": "built-in"}
    assert availability(cat.get("hayao_v3"), settings).public() == {"available": False, "status": "missing"}


def test_models_command_says_damaged(models_root, monkeypatch, capsys):
    from animefy.app.cli import main

    models, catalog = models_root
    monkeypatch.setenv("ANIMEFY_MODELS_DIR", str(models))
    monkeypatch.setenv("ANIMEFY_CATALOG", str(catalog))
    assert main(["models"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "damaged (" in rows["shinkai_v3"] and "damaged (" in rows["broken"]
    assert "local:" in rows["invert"]


def test_damaged_face_detector_gives_a_message_not_a_silent_skip(tmp_path, monkeypatch):
    from animefy.image.pipeline import stylize_image

    models = make_tiny(tmp_path)
    (models / "yunet_face_detection.onnx").write_bytes(b"not the detector" * 100)
    write_catalog(tmp_path / "catalog.toml", {
        **TINY_ENTRIES,
        "yunet": {"role": "face", "filename": "yunet_face_detection.onnx", "sha256": "1" * 64, "layout": "NCHW",
                  "color": "BGR", "value_range": [0, 255], "licence": "MIT"},
    })  # fmt: skip
    settings = Settings(models_dirs=(models,), user_catalog=tmp_path / "catalog.toml", offline=True)
    result = stylize_image(person_on_green(), person_style="invert", settings=settings)
    assert any("face detector" in m and "damaged" in m for m in result.messages), result.messages
    online = Settings(models_dirs=(models,), user_catalog=tmp_path / "catalog.toml", offline=False)
    result = stylize_image(person_on_green(), person_style="invert", settings=online)
    assert any("face detector" in m and "damaged" in m for m in result.messages), result.messages


TINY_ENTRIES = {
    "invert": {"role": "stylize", "filename": "invert.onnx", "layout": "NHWC", "color": "RGB",
               "value_range": [-1, 1], "licence": "test"},
}  # fmt: skip


def make_tiny(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    affine_stylizer(models / "invert.onnx", scale=(-1, -1, -1))
    return models


# --- zero-frame clips (item 5) --------------------------------------------------------------


@pytest.mark.parametrize("name", ["cut", "zeroed"])
def test_clip_without_a_decodable_frame_is_refused_at_submission(media, name, tmp_path):
    from animefy.app.service import check_video
    from animefy.schema import VideoRequest
    from animefy.video.io import probe, read_frames

    info = probe(media[name])
    assert info.duration == pytest.approx(2.0, abs=0.1)  # the header promises 2 s
    with pytest.raises(InputError, match="no frame that can be decoded") as err:
        check_video(str(media[name]), VideoRequest(person_style="cel"), Settings(output_dir=tmp_path), False)
    assert str(media[name].parent) not in str(err.value)
    with pytest.raises(InputError, match="no frame that can be decoded"):  # was a raw OSError with the path
        next(read_frames(media[name], info))


# --- partial files removed on every failure path (item 6) -----------------------------------


@pytest.mark.parametrize("fail_at", ["write", "rename"])
def test_png_write_error_leaves_no_part_file_and_keeps_the_old_file(tmp_path, monkeypatch, fail_at):
    from animefy.image.io import save_png

    out = tmp_path / "result.png"
    out.write_bytes(b"the user's earlier result")
    real_write, real_replace = Path.write_bytes, Path.replace

    def write_bytes(self, data):
        real_write(self, data[: len(data) // 2])  # half written, then the disk is full
        raise OSError(28, "No space left on device")

    def replace(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes" if fail_at == "write" else "replace",
                        write_bytes if fail_at == "write" else replace)  # fmt: skip
    with pytest.raises(OSError, match="No space"):
        save_png(out, person_on_green())
    monkeypatch.setattr(Path, "write_bytes", real_write)
    monkeypatch.setattr(Path, "replace", real_replace)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.png"]
    assert out.read_bytes() == b"the user's earlier result"


def test_png_zip_video_whose_abort_fails_leaves_nothing(media, tmp_path, tiny_setup, monkeypatch):
    import zipfile

    from animefy.image.pipeline import StyleOptions
    from animefy.video import pipeline

    real_write = pipeline.PngZipWriter.write

    def write(self, frame):
        if self.frames == 3:
            raise OSError(28, "No space left on device")
        real_write(self, frame)

    def close_fails(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline.PngZipWriter, "write", write)
    monkeypatch.setattr(zipfile.ZipFile, "close", close_fails)  # the abort's close fails too
    with pytest.raises(OSError, match="No space"):  # the first failure, not the abort's
        pipeline.stylize_video(media["clip"], tmp_path / "out.zip", StyleOptions(person_style="invert",
                               background="transparent"), transparent_format="png-zip")  # fmt: skip
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".zip")] == []


def test_video_writer_abort_after_ffmpeg_died_leaves_nothing(tmp_path):
    from animefy.video.io import VideoWriter

    writer = VideoWriter(tmp_path / "o.mp4", 64, 48, Fraction(25))
    writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.proc.kill()
    writer.proc.wait()
    writer.abort()  # never raises, whatever the pipe says
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_a_cli_video_removes_the_partial_file_and_exits_143(tmp_path):
    clip = _clip(tmp_path / "long_input.mp4", "320x240", seconds=12)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "animefy", "video", str(clip), "-o", str(out / "o.mp4"), "-s",
                             "cel", "-q", "--no-reuse"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(out.glob("*.part*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the clip finished before it could be interrupted"
    time.sleep(1.0)  # well into the encoding
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err, err
    assert list(out.iterdir()) == []  # neither the .part file nor a result


# --- an unwritable output folder (item 4) ---------------------------------------------------


def test_unwritable_output_folder_is_a_clear_start_up_error(tmp_path):
    from animefy.app.rest import create_rest_app
    from animefy.app.service import check_output_folder, output_dir, startup_check
    from animefy.errors import ConfigError

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    settings = Settings(output_dir=blocker / "animefy_outputs")
    with pytest.raises(ConfigError, match="The output folder .*a_file/animefy_outputs cannot be written"):
        check_output_folder(settings)
    with pytest.raises(ConfigError, match="ANIMEFY_OUTPUT_DIR"):
        create_rest_app(settings)
    with pytest.raises(SystemExit) as info:
        startup_check(settings)
    assert str(info.value).startswith("error: The output folder ")
    with pytest.raises(ConfigError) as info:  # at request time: no server path for the client
        output_dir(settings)
    assert str(tmp_path) not in str(info.value)
    assert check_output_folder(Settings(output_dir=tmp_path / "ok")) == tmp_path / "ok"
    assert list((tmp_path / "ok").iterdir()) == []  # the write check leaves nothing


def test_app_with_an_unwritable_output_folder_says_so_in_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANIMEFY_OUTPUT_DIR": str(blocker), "GRADIO_SERVER_PORT": "1"}
    res = subprocess.run([sys.executable, str(ROOT / "app.py")], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert f"error: The output folder {blocker / 'animefy_outputs'} cannot be written" in res.stderr


# --- no server paths in library messages (item 7) -------------------------------------------


def test_library_messages_name_files_not_server_folders(tmp_path, models_root):
    from animefy.image.io import load_image
    from animefy.models.hub import _short
    from animefy.video.io import probe

    hidden = tmp_path / "secret_server_dir"
    hidden.mkdir()
    failures = []
    for call in (
        lambda: load_image(hidden / "gone.png"),
        lambda: probe(hidden / "gone.mp4"),
        lambda: load_catalog(Settings(user_catalog=hidden / "gone.toml")),
    ):
        with pytest.raises(AnimefyError) as info:
            call()
        failures.append(str(info.value))
    (hidden / "bad.toml").write_text("[models.x]\nrole = 'nope'\n")
    with pytest.raises(AnimefyError) as info:
        load_catalog(Settings(user_catalog=hidden / "bad.toml"))
    failures.append(str(info.value))
    failures.append(_short(PermissionError(13, "Permission denied", str(hidden / "blobs" / "abc"))))
    for text in failures:
        assert "secret_server_dir" not in text, text
    assert "'gone.png'" in failures[0] and "'bad.toml'" in failures[3] and "'abc'" in failures[4]


# === The front ends: every hostile case with its expected answer ============================
# REST (in-process), CLI (subprocess) and gradio_client (a real app server). Each case gives
# the status or exit code, the error code and a part of the message; nothing may carry a
# server path or a traceback, and nothing is left behind.


@pytest.fixture(scope="module")
def rest_client(tmp_path_factory, models_root):
    from fastapi.testclient import TestClient

    from animefy.app.rest import create_rest_app

    models, catalog = models_root
    out = tmp_path_factory.mktemp("secret_server_out")
    settings = Settings(models_dirs=(models,), user_catalog=catalog, offline=True, output_dir=out,
                        max_upload_mb=1, rate_limit_per_minute=100_000, max_pixels=2_000_000,
                        max_video_seconds=2, max_queued_jobs=50)  # fmt: skip
    return TestClient(create_rest_app(settings)), out


# (id, route, upload, form fields, background picture, status, code, message part)
REST_CASES = [
    ("empty_photo", "image", "empty", {"person_style": "cel"}, None, 400, "bad_input", "empty"),
    ("text_as_photo", "image", "text", {"person_style": "cel"}, None, 400, "bad_input", "not a readable image"),
    ("heic_photo", "image", "heic", {"person_style": "cel"}, None, 400, "bad_input", "HEIC"),
    ("video_bytes_as_photo", "image", "mp4bytes", {"person_style": "cel"}, None, 400, "bad_input", "is a video"),
    ("real_clip_as_photo", "image", "clip", {"person_style": "cel"}, None, 400, "bad_input", "is a video"),
    ("tiny_photo", "image", "tiny", {"person_style": "cel"}, None, 413, "limit_exceeded", "at least 16"),
    ("photo_over_max_pixels", "image", "big", {"person_style": "cel"}, None, 413, "limit_exceeded", "too large"),
    ("thin_photo_8000x100", "image", "thin", {"person_style": "cel"}, None, 413, "aspect_ratio_exceeded",
     "80 times wider than tall"),
    ("thin_photo_default_style", "image", "thin", {}, None, 413, "aspect_ratio_exceeded", "ANIMEFY_MAX_ASPECT"),
    ("thin_photo_damaged_style", "image", "thin", {"person_style": "shinkai_v3"}, None, 413,
     "aspect_ratio_exceeded", "ANIMEFY_MAX_ASPECT"),  # the cheap check comes first
    ("tall_photo", "image", "tall", {"person_style": "cel"}, None, 413, "aspect_ratio_exceeded", "taller than wide"),
    ("thin_background_picture", "image", "photo", {"person_style": "cel", "background": "image"}, "thin", 413,
     "aspect_ratio_exceeded", "ANIMEFY_MAX_ASPECT"),
    ("empty_background_picture", "image", "photo", {"person_style": "cel", "background": "image"}, "empty", 400,
     "bad_input", "empty"),
    ("text_background_picture", "image", "photo", {"person_style": "cel", "background": "image"}, "text", 400,
     "bad_input", "not a readable image"),
    ("damaged_default_model", "image", "photo", {"person_style": "shinkai_v3"}, None, 503, "model_damaged",
     "is damaged"),
    ("damaged_catalog_model", "image", "photo", {"person_style": "broken"}, None, 503, "model_damaged",
     "is damaged"),
    ("damaged_background_model", "image", "photo", {"person_style": "cel", "background_style": "shinkai_v3"},
     None, 503, "model_damaged", "is damaged"),
    ("missing_model_offline", "image", "photo", {"person_style": "hayao_v3"}, None, 503, "model_unavailable",
     "not available"),
    ("unknown_style", "image", "photo", {"person_style": "shinkaii"}, None, 400, "unknown_name", "Unknown"),
    ("unknown_field", "image", "photo", {"person_style": "cel", "persn_style": "x"}, None, 400, "bad_input",
     "Unknown field"),
    ("bad_colour", "image", "photo", {"person_style": "cel", "background": "color", "background_colour": "red"},
     None, 400, "bad_input", "#RRGGBB"),
    ("text_in_a_number_field", "image", "photo", {"person_style": "cel", "strength": "lots"}, None, 400,
     "bad_input", "strength"),
    ("no_file_field", "image", None, {"person_style": "cel"}, None, 400, "bad_input", "file"),
    ("upload_over_the_limit", "image", "oversized", {"person_style": "cel"}, None, 413, "limit_exceeded",
     "ANIMEFY_MAX_UPLOAD_MB"),
    ("cut_clip_header_says_2s", "video", "cut", {"person_style": "cel"}, None, 400, "bad_input",
     "no frame that can be decoded"),
    ("zeroed_clip_header_says_2s", "video", "zeroed", {"person_style": "cel"}, None, 400, "bad_input",
     "no frame that can be decoded"),
    ("thin_clip_1280x64", "video", "thin_clip", {"person_style": "cel"}, None, 413, "aspect_ratio_exceeded",
     "20 times wider than tall"),
    ("tall_clip_48x960", "video", "tall_clip", {"person_style": "cel"}, None, 413, "aspect_ratio_exceeded",
     "taller than wide"),
    ("tiny_clip", "video", "tiny_clip", {"person_style": "cel"}, None, 413, "limit_exceeded", "at least 16"),
    ("clip_over_the_length_limit", "video", "long", {"person_style": "cel"}, None, 413, "limit_exceeded",
     "ANIMEFY_MAX_VIDEO_SECONDS"),
    ("audio_with_cover_art", "video", "song", {"person_style": "cel"}, None, 400, "bad_input", "no video stream"),
    ("text_as_clip", "video", "text", {"person_style": "cel"}, None, 400, "bad_input", "No video stream"),
    ("empty_clip", "video", "empty", {"person_style": "cel"}, None, 400, "bad_input", "empty"),
    ("damaged_model_for_a_clip", "video", "clip", {"person_style": "shinkai_v3"}, None, 503, "model_damaged",
     "is damaged"),
    ("damaged_catalog_model_for_a_clip", "video", "clip", {"person_style": "broken"}, None, 503, "model_damaged",
     "is damaged"),
    ("unknown_style_for_a_clip", "video", "clip", {"person_style": "nope"}, None, 400, "unknown_name", "Unknown"),
    ("bad_transparent_format", "video", "clip", {"person_style": "cel", "transparent_format": "gif"}, None, 400,
     "bad_input", "webm"),
    ("panorama_3000x400_works", "image", "panorama", {"person_style": "invert"}, None, 200, None, None),
    ("good_clip_is_queued", "video", "clip", {"person_style": "cel"}, None, 202, None, None),
]  # fmt: skip


@pytest.mark.parametrize("case", REST_CASES, ids=[c[0] for c in REST_CASES])
def test_rest_hostile_case(case, rest_client, media, models_root):
    _, route, upload, data, picture, status, code, part = case
    client, out = rest_client
    before = {p.name for p in out.iterdir()}
    files = {}
    if upload == "oversized":
        files["file"] = ("big.png", b"\x89PNG" + os.urandom(2 << 20))
    elif upload is not None:
        files["file"] = (media[upload].name, media[upload].read_bytes())
    if picture is not None:
        files["background_image"] = (media[picture].name, media[picture].read_bytes())
    r = client.post(f"/{route}", files=files, data=data)
    assert r.status_code == status, r.text[:500]
    if status == 200:
        assert r.headers["content-type"] == "image/png"
        assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape == (273, 2048, 3)
    elif status == 202:
        deadline = time.monotonic() + 120
        while (job := client.get(r.json()["status_url"].removeprefix("/api/v1")).json())["status"] in (
            "queued", "running") and time.monotonic() < deadline:  # fmt: skip
            time.sleep(0.2)
        assert job["status"] == "done", job
    else:
        error = r.json()["error"]
        assert error["code"] == code and part in error["message"], error
        for secret in ("secret_server", str(models_root[0]), str(out), "Traceback"):
            assert secret not in error["message"]
        assert {p.name for p in out.iterdir()} == before  # the refused upload is gone


def test_rest_styles_report_damaged_models(rest_client):
    client, _ = rest_client
    styles = {s["name"]: s for s in client.get("/styles").json()["styles"]}
    assert styles["shinkai_v3"]["available"] is False and styles["shinkai_v3"]["status"] == "damaged"
    assert styles["broken"]["status"] == "damaged" and styles["invert"]["status"] == "ready"
    assert styles["cel"]["status"] == "built-in" and styles["hayao_v3"]["status"] == "missing"


def _cli_run(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "animefy", *args], capture_output=True, text=True, env=full,
                          cwd=cwd, timeout=300)  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# (id, arguments (files are in the working folder), exit code, message part). The working
# folder holds in.png, other.png, clip.mp4, other.mp4, a folder 'folder.png' and the media.
CLI_CASES = [
    ("image_output_via_missing_folder_is_the_input", ["image", "in.png", "-o", "nonexistent_dir/../in.png", "-s",
     "cel"], 2, "is the input file"),
    ("image_output_via_missing_folder_is_the_input_force", ["image", "in.png", "-o", "nonexistent_dir/../in.png",
     "-s", "cel", "--force"], 2, "is the input file"),
    ("image_output_via_missing_folder_exists", ["image", "in.png", "-o", "zz/../other.png", "-s", "cel"], 2,
     "--force"),
    ("image_output_dot_slash_input", ["image", "in.png", "-o", "./in.png", "-s", "cel", "--force"], 2,
     "is the input file"),
    ("image_output_symlink_to_input", ["image", "in.png", "-o", "link.png", "-s", "cel", "--force"], 2,
     "is the input file"),
    ("image_output_via_symlinked_folder_is_input", ["image", "in.png", "-o", "linkdir/in.png", "-s", "cel",
     "--force"], 2, "is the input file"),
    ("image_output_is_a_folder", ["image", "in.png", "-o", "folder.png", "-s", "cel", "--force"], 2,
     "is a folder"),
    ("image_output_under_a_file", ["image", "in.png", "-o", "other.png/x.png", "-s", "cel"], 2, "choose another"),
    ("image_output_not_png", ["image", "in.png", "-o", "o.jpg", "-s", "cel"], 2, ".png"),
    ("video_output_via_missing_folder_is_the_input", ["video", "clip.mp4", "-o", "nope/../clip.mp4", "-s", "cel",
     "-q", "--force"], 2, "is the input file"),
    ("video_output_via_missing_folder_exists", ["video", "clip.mp4", "-o", "zz/../other.mp4", "-s", "cel", "-q"],
     2, "--force"),
    ("thin_photo", ["image", "thin.png", "-o", "o.png", "-s", "cel"], 2, "80 times wider than tall"),
    ("tall_photo", ["image", "tall.png", "-o", "o.png", "-s", "cel"], 2, "ANIMEFY_MAX_ASPECT"),
    ("thin_clip", ["video", "thin_clip.mp4", "-o", "o.mp4", "-s", "cel", "-q"], 2, "ANIMEFY_MAX_ASPECT"),
    ("cut_clip", ["video", "cut.mp4", "-o", "o.mp4", "-s", "cel", "-q"], 2, "no frame that can be decoded"),
    ("zeroed_clip", ["video", "zeroed.mp4", "-o", "o.mp4", "-s", "cel", "-q"], 2, "no frame that can be decoded"),
    ("damaged_default_model", ["image", "in.png", "-o", "o.png", "-s", "shinkai_v3"], 3, "is damaged"),
    ("damaged_catalog_model", ["image", "in.png", "-o", "o.png", "-s", "broken"], 3, "is damaged"),
    ("damaged_model_for_a_clip", ["video", "clip.mp4", "-o", "o.mp4", "-s", "broken", "-q"], 3, "is damaged"),
    ("empty_photo", ["image", "empty.bin", "-o", "o.png", "-s", "cel"], 2, "empty"),
    ("heic_photo", ["image", "heic.bin", "-o", "o.png", "-s", "cel"], 2, "HEIC"),
    ("clip_as_photo", ["image", "clip.mp4", "-o", "o.png", "-s", "cel"], 2, "is a video"),
    ("text_as_clip", ["video", "text.bin", "-o", "o.mp4", "-s", "cel", "-q"], 2, "No video stream"),
    ("missing_photo", ["image", "gone.png", "-o", "o.png", "-s", "cel"], 2, "No image file named 'gone.png'"),
    ("thin_photo_aspect_limit_lifted", ["image", "thin.png", "-o", "o.png", "-s", "cel"], 0, "wrote"),
    ("panorama_3000x400_works", ["image", "panorama.png", "-o", "o.png", "-s", "cel"], 0, "2048x273"),
    ("overwrite_via_missing_folder_with_force", ["image", "in.png", "-o", "zz/../other.png", "-s", "cel",
     "--force"], 0, "other.png"),
]  # fmt: skip


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_hostile_case(case, tmp_path, media, models_root):
    name, args, code, part = case
    work = tmp_path / "work"
    work.mkdir()
    for key in ("thin", "tall", "panorama", "thin_clip", "cut", "zeroed", "empty", "heic", "text"):
        shutil.copy(media[key], work / media[key].name)
    shutil.copy(media["photo"], work / "in.png")
    shutil.copy(media["photo"], work / "other.png")
    shutil.copy(media["clip"], work / "clip.mp4")
    shutil.copy(media["clip"], work / "other.mp4")
    (work / "folder.png").mkdir()
    (work / "link.png").symlink_to(work / "in.png")
    (work / "linkdir").symlink_to(work)
    models, catalog = models_root
    env = {"ANIMEFY_MODELS_DIR": str(models), "ANIMEFY_CATALOG": str(catalog)}
    if name == "thin_photo_aspect_limit_lifted":
        env["ANIMEFY_MAX_ASPECT"] = "100"
    before = _snapshot(work)
    res = _cli_run(args, work, env)
    assert res.returncode == code, res.stderr[-2000:]
    assert part in (res.stderr if code else res.stdout), (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == (1 if code else 0) and str(models) not in "".join(errors)  # one clear line
    after = _snapshot(work)
    assert not [n for n in after if ".part" in n]
    if code:
        assert after == before  # nothing replaced, nothing written
    else:
        changed = {n for n in after if before.get(n) != after[n]}
        assert changed == {Path(args[3]).name if "/" not in args[3] else "other.png"}
        assert all(after[n] == before[n] for n in before if n not in changed)


# --- the web UI through gradio_client (a real app server with tiny models) ------------------

GRADIO_CASES = [
    ("thin_photo", "image", "thin", "80 times wider than tall"),
    ("tall_photo", "image", "tall", "taller than wide"),
    ("tiny_photo", "image", "tiny", "at least 16"),
    ("text_as_photo", "image", "text", "not a readable image"),
    ("heic_photo", "image", "heic", "HEIC"),
    ("cut_clip", "video", "cut", "no frame that can be decoded"),
    ("thin_clip", "video", "thin_clip", "20 times wider than tall"),
    ("panorama_3000x400_works", "image", "panorama", None),
]


@pytest.mark.parametrize("case", GRADIO_CASES, ids=[c[0] for c in GRADIO_CASES])
def test_gradio_hostile_case(case, app_server, media, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    _, kind, key, part = case
    base, env, log = app_server
    client = Client(base + "/", verbose=False)
    upload = tmp_path / (media[key].stem + (".png" if kind == "image" else ".mp4"))
    shutil.copy(media[key], upload)
    call = {kind: handle_file(str(upload))}
    if part is None:
        out = client.predict(**call, person_style="invert", api_name=f"/stylize_{kind}")
        assert cv2.imread(out).shape == (273, 2048, 3)
        return
    with pytest.raises(AppError) as info:
        client.predict(**call, person_style="invert", api_name=f"/stylize_{kind}")
    text = str(info.value)
    assert part in text, text
    assert env["ANIMEFY_OUTPUT_DIR"] not in text and "Traceback" not in text
