"""Issue 11, below the front ends: hostile or unusual files that used to crash, hang, run far
past the limits or come out wrong. Every bad input is generated here (ffmpeg, PIL, numpy)."""

from __future__ import annotations

import logging
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
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
