"""Issue 11, below the front ends: hostile or unusual files that used to crash, hang, run far
past the limits or come out wrong. Every bad input is generated here (ffmpeg, PIL, numpy)."""

from __future__ import annotations

import logging
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


def test_unreadable_models_folder_is_unavailable_not_a_crash(tmp_path, monkeypatch, capsys):
    # Tests run as root, and root reads a chmod 000 folder anyway, so the folder's refusal is
    # simulated where the OS would raise it: stat() (behind is_file/is_dir) of a path inside.
    from animefy.models import hub
    from animefy.models.registry import available_styles, load_stylizer

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
    assert "mystyle" not in available_styles(settings=settings)
    with pytest.raises(AnimefyError, match="unreadable") as info:
        load_stylizer("mystyle", settings=settings)
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
    assert "missing" in capsys.readouterr().out


def test_models_folder_under_a_file_is_just_absent(tmp_path):
    from animefy.models.hub import availability

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    settings = Settings(models_dirs=(a_file / "models",), user_catalog=_catalog(tmp_path), offline=True)
    assert availability(load_catalog(settings).get("mystyle"), settings) == "missing"


def test_damaged_model_without_checksum_is_a_typed_error_without_server_path(tmp_path, caplog):
    from animefy.models.registry import load_stylizer

    models = tmp_path / "secret_server_dir"
    models.mkdir()
    (models / "mystyle.onnx").write_bytes(b"\x08\x01garbage, not an ONNX graph" * 50)
    settings = Settings(models_dirs=(models,), user_catalog=_catalog(tmp_path), offline=True)
    with caplog.at_level(logging.WARNING), pytest.raises(ModelLoadError) as info:
        load_stylizer("mystyle", settings=settings)
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
    from animefy.image.pipeline import background_fields

    with pytest.raises(InputError, match=r"'red' is not an image file or a known background value.*#ff0000"):
        background_fields("red")
    assert background_fields("#ff0000")["background"] == "color"


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
