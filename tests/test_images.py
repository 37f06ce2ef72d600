"""Bad and unusual inputs: unreadable files, tiny and huge images, greyscale, 16-bit, CMYK,
RGBA and EXIF-rotated photos; inputs are never modified."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from conftest import sha256
from PIL import Image

from animefy.errors import InputError, LimitError
from animefy.image.io import load_image
from animefy.image.pipeline import stylize_image
from animefy.settings import Settings


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def _gradient(w=64, h=48) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)]).astype(np.uint8)


def test_not_an_image(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    with pytest.raises(InputError, match="not a readable image"):
        load_image(bad)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(InputError, match="No image file"):
        load_image(tmp_path / "missing.png")


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_gradient(256, 256)).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[:300])
    with pytest.raises(InputError):
        load_image(path)


def test_one_pixel_image_refused(tmp_path):
    path = _save(Image.new("RGB", (1, 1)), tmp_path / "dot.png")
    with pytest.raises(LimitError, match="1x1"):
        load_image(path)


def test_huge_image_downscaled_with_message(tmp_path):
    path = tmp_path / "huge.png"
    cv2.imwrite(str(path), np.zeros((10000, 10000, 3), np.uint8))
    loaded = load_image(path, Settings(max_side=2048))
    assert loaded.rgb.shape == (2048, 2048, 3)
    assert "10000x10000" in loaded.messages[0] and "ANIMEFY_MAX_SIDE" in loaded.messages[0]
    with pytest.raises(LimitError, match="ANIMEFY_MAX_PIXELS"):
        load_image(path, Settings(max_pixels=50_000_000))


def test_greyscale_16bit_cmyk_rgba(tmp_path):
    grey = load_image(_save(Image.fromarray(_gradient()[..., 0]), tmp_path / "g.png"))
    assert grey.rgb.shape == (48, 64, 3) and np.array_equal(grey.rgb[..., 0], grey.rgb[..., 2])

    deep = _gradient()[..., 0].astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    d = load_image(tmp_path / "d.png")
    assert d.rgb.dtype == np.uint8 and abs(int(d.rgb[..., 0].max()) - int(_gradient()[..., 0].max())) <= 1

    cmyk = load_image(_save(Image.fromarray(_gradient()).convert("CMYK"), tmp_path / "c.jpg", quality=95))
    assert cmyk.rgb.shape == (48, 64, 3)
    assert np.abs(cmyk.rgb.astype(int) - _gradient()).mean() < 12

    rgba = np.dstack([_gradient(), np.full((48, 64), 128, np.uint8)])
    r = load_image(_save(Image.fromarray(rgba), tmp_path / "a.png"))
    assert r.alpha is not None and abs(float(r.alpha.mean()) - 128 / 255) < 1e-3


def test_exif_rotation_applied(tmp_path):
    img = Image.fromarray(_gradient(64, 32))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = _save(img, tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    assert load_image(path).rgb.shape[:2] == (64, 32)


def test_pipeline_never_modifies_inputs(tmp_path):
    path = _save(Image.fromarray(_gradient()), tmp_path / "in.png")
    before = sha256(path)
    arr = _gradient()
    copy = arr.copy()
    stylize_image(path, person_style="cel")
    stylize_image(arr, person_style="cel")
    assert sha256(path) == before
    assert np.array_equal(arr, copy)
