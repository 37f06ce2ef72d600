"""Issue 11, below the front ends: hostile or unusual files that used to crash, hang, run far
past the limits or come out wrong. Every bad input is generated here (ffmpeg, PIL, numpy)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tiny_models import affine_stylizer, write_catalog

from animefy.errors import AnimefyError, ModelLoadError
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
