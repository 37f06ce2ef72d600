"""DCT-Net styles: head alignment and paste-back (always), and with the optional converter
(tensorflow + tf2onnx, the extra animefy[dctnet]) a TF1 frozen graph made here going through
local source -> ONNX conversion -> ONNX run -> aligned heads pasted back."""

from __future__ import annotations

import shutil
import sys
import types

import cv2
import numpy as np
import pytest
from conftest import missing

from animefy.errors import AnimefyError
from animefy.image.faces import Face
from animefy.models.dctnet import HEAD_SIZE, DctNetStyle, align_head, convert_frozen_graph, head_template, paste_head


def _similarity(scale: float, degrees: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array(
        [[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]], np.float32
    )


def _synthetic_face(shape=(400, 500)):
    """A textured image with a 'face' whose five landmarks are the head template moved by a
    known similarity transform (0.6x, 20 degrees, placed at an offset)."""
    h, w = shape
    rng = np.random.default_rng(3)
    img = cv2.resize(rng.integers(0, 255, (h // 10, w // 10, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    to_image = _similarity(0.6, 20, 180, 90)
    points = cv2.transform(head_template()[None], to_image)[0]
    for (x, y), colour in zip(
        points, [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)], strict=True
    ):
        cv2.circle(img, (int(round(x)), int(round(y))), 4, colour, -1)
    return img, points


def test_head_alignment_puts_landmarks_on_the_template_and_pastes_back():
    img, points = _synthetic_face()
    crop, matrix = align_head(img, points)
    assert crop.shape == (HEAD_SIZE, HEAD_SIZE, 3)
    mapped = cv2.transform(points[None], matrix)[0]
    assert np.abs(mapped - head_template()).max() < 0.5
    # The coloured dots drawn at the landmarks are at the template positions in the crop.
    (lx, ly), (rx, ry) = head_template()[0], head_template()[1]
    assert tuple(crop[int(round(ly)), int(round(lx))]) == pytest.approx((255, 0, 0), abs=40)
    assert tuple(crop[int(round(ry)), int(round(rx))]) == pytest.approx((0, 255, 0), abs=40)
    assert ly == pytest.approx(ry, abs=1) and 100 < lx < rx < 190  # eyes level, left of centre-right
    # An identity "head model" pasted back through a full mask restores the picture there.
    back = paste_head(img, crop, matrix, np.ones((HEAD_SIZE, HEAD_SIZE), np.float32))
    cx, cy = points.mean(axis=0).astype(int)
    region = (slice(cy - 40, cy + 40), slice(cx - 40, cx + 40))
    assert np.abs(back[region].astype(int) - img[region]).mean() < 6
    far = (slice(0, 20), slice(0, 20))
    assert np.array_equal(back[far], img[far])


def test_missing_converter_is_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if not installed
    pb = tmp_path / "cartoon_anime_bg.pb"
    pb.write_bytes(b"graph")
    with pytest.raises(AnimefyError, match=r"animefy\[dctnet\]"):
        convert_frozen_graph(pb, tmp_path)


# --- with the optional converter ---------------------------------------------------------


@pytest.fixture(scope="module")
def tf():
    tf = pytest.importorskip("tensorflow", reason=missing("tensorflow", "the DCT-Net converter extra animefy[dctnet]"))
    pytest.importorskip("tf2onnx", reason=missing("tf2onnx", "the DCT-Net converter extra animefy[dctnet]"))
    return tf


def _frozen_graph(tf, path, kind: str):
    """A TF1 frozen graph with DCT-Net's interface: input_image:0 (H, W, 3) BGR 0..255 ->
    output_image:0. 'body' inverts the picture through a 1x1 convolution; 'head' paints it
    pure red (BGR 0, 0, 255)."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="input_image")
        if kind == "body":
            kernel = tf.constant(-np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3))
            y = tf.squeeze(tf.nn.conv2d(x[None], kernel, strides=1, padding="SAME"), 0) + 255.0
        else:
            y = x * 0.0 + tf.constant([0.0, 0.0, 255.0])
        tf.identity(y, name="output_image")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def _dctnet_folder(tf, folder):
    _frozen_graph(tf, folder / "cartoon_anime_h.pb", "head")
    _frozen_graph(tf, folder / "cartoon_anime_bg.pb", "body")
    mask = np.zeros((HEAD_SIZE, HEAD_SIZE), np.uint8)
    cv2.ellipse(mask, (144, 140), (100, 125), 0, 0, 360, 255, -1)
    cv2.imwrite(str(folder / "alpha.jpg"), cv2.GaussianBlur(mask, (0, 0), 6))
    return folder


def test_local_folder_conversion_onnx_run_and_heads(tf, tmp_path, monkeypatch):
    from animefy.models.catalog import load_catalog
    from animefy.models.registry import load
    from animefy.settings import Settings

    models = tmp_path / "models"
    _dctnet_folder(tf, models / "dctnet_anime")
    monkeypatch.setenv("ANIMEFY_MODELS_DIR", str(models))
    monkeypatch.setenv("ANIMEFY_CACHE_DIR", str(tmp_path / "cache"))
    style = load("dctnet_anime", "stylize", Settings.from_env())
    assert isinstance(style, DctNetStyle)
    converted = sorted((tmp_path / "cache" / "converted").glob("*.onnx"))
    assert [p.name.split("_")[1] for p in converted] == ["anime", "anime"] and len(converted) == 2
    assert load_catalog().get("dctnet_anime").licence == "Apache-2.0"

    img, points = _synthetic_face((300, 410))  # not a multiple of 16: padded and cropped back
    body = style(img)
    assert body.shape == img.shape
    assert np.abs(body.astype(int) - (255 - img.astype(int))).max() <= 1

    face = Face((0, 0, 1, 1), points, 0.99)
    out = style.paste_heads(img, body, [face])
    centre = points[:3].mean(axis=0).astype(int)  # between the eyes and the nose: inside the mask
    assert tuple(out[centre[1], centre[0]]) == (255, 0, 0)  # the head model's red, in RGB
    assert np.array_equal(out[:15, -15:], body[:15, -15:])  # far from the face: the body result


def test_modelscope_source_uses_the_repo_file_list(tf, tmp_path, monkeypatch):
    """The ModelScope path (a stub of modelscope's snapshot_download serving a local folder):
    the files are picked by pattern from what the repo holds."""
    from animefy.models.catalog import load_catalog
    from animefy.models.hub import resolve_model
    from animefy.settings import Settings

    served = _dctnet_folder(tf, tmp_path / "served")
    (served / "cartoon_anime_h.pb").rename(served / "cartoon_3d_h.pb")
    (served / "cartoon_anime_bg.pb").rename(served / "cartoon_3d_bg.pb")
    (served / "README.md").write_text("not needed")
    calls = []

    def snapshot_download(model_id, allow_patterns=None, local_files_only=False, **kw):
        calls.append((model_id, tuple(allow_patterns), local_files_only))
        if local_files_only:
            raise FileNotFoundError("not cached")
        target = tmp_path / "ms_cache" / model_id
        if not target.exists():
            target.mkdir(parents=True)
            for f in served.iterdir():
                if any(f.match(p) for p in allow_patterns):
                    shutil.copy(f, target / f.name)
        return str(target)

    module = types.ModuleType("modelscope.hub.snapshot_download")
    module.snapshot_download = snapshot_download
    for name, mod in {
        "modelscope": types.ModuleType("modelscope"),
        "modelscope.hub": types.ModuleType("modelscope.hub"),
        "modelscope.hub.snapshot_download": module,
    }.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr("animefy.models.hub.endpoint_reachable", lambda url, **kw: True)
    spec = load_catalog(Settings()).get("dctnet_3d")
    folder = resolve_model(spec, Settings(offline=False))
    assert calls[-1][0] == "damo/cv_unet_person-image-cartoon-3d_compound-models"
    assert sorted(p.name for p in folder.iterdir()) == ["alpha.jpg", "cartoon_3d_bg.pb", "cartoon_3d_h.pb"]
    style = DctNetStyle(spec, folder, Settings(cache_dir=tmp_path / "cache"))
    assert style(np.zeros((32, 48, 3), np.uint8)).min() >= 254


@pytest.mark.real
def test_dctnet_heads_on_real_faces_beside_another_style(tf, real_models, tmp_path, monkeypatch):
    """YuNet finds the astronaut's face; the DCT-Net head model redraws it while Shinkai
    styles the body and Hayao the background."""
    import os

    from animefy.image.pipeline import stylize_image

    models = tmp_path / "models"
    models.mkdir()
    for f in (real_models / "models").iterdir():
        os.symlink(f, models / f.name)
    _dctnet_folder(tf, models / "dctnet_anime")
    monkeypatch.setenv("ANIMEFY_MODELS_DIR", str(models))
    monkeypatch.setenv("ANIMEFY_CACHE_DIR", str(tmp_path / "cache"))
    out = stylize_image(
        real_models / "media" / "astronaut.png",
        person_style="shinkai_v3",
        background_style="hayao_v3",
        face_style="dctnet_anime",
    ).rgb
    face = out[120:150, 230:260].reshape(-1, 3).mean(axis=0)
    assert face[0] > 200 and face[1] < 60 and face[2] < 60  # the tiny head model's red
    suit = out[420:480, 100:200].reshape(-1, 3).mean(axis=0)
    assert not (suit[0] > 200 and suit[1] < 60)


def test_unconvertible_graph_falls_back_to_tensorflow_with_a_warning(tf, tmp_path, monkeypatch):
    import tf2onnx

    from animefy.models.catalog import load_catalog
    from animefy.models.dctnet import TfGraphGenerator
    from animefy.settings import Settings

    folder = _dctnet_folder(tf, tmp_path / "dctnet_anime")

    def refuse(*a, **k):
        raise ValueError("unsupported op")

    monkeypatch.setattr(tf2onnx.convert, "from_graph_def", refuse)
    with pytest.warns(UserWarning, match="could not be converted.*TensorFlow instead"):
        style = DctNetStyle(
            load_catalog(Settings()).get("dctnet_anime"), folder, Settings(cache_dir=tmp_path / "cache")
        )
    assert isinstance(style.body, TfGraphGenerator)
    img = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    assert np.abs(style(img).astype(int) - (255 - img.astype(int))).max() <= 1
