"""Reading user images safely: any common format and mode becomes uint8 RGB (plus alpha when
the file has one), EXIF rotation applied, size limits enforced with a clear message. The
caller's file or array is never modified."""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from animefy.errors import AspectRatioError, InputError, LimitError
from animefy.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedImage:
    rgb: np.ndarray  # uint8 (H, W, 3)
    alpha: np.ndarray | None  # float32 (H, W) in 0..1, when the input had transparency
    messages: tuple[str, ...] = ()


def _to_8bit(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr * (255.0 / hi) + 0.5, 0, 255).astype(np.uint8), "L")
    return img


# ISO base media brands (bytes 8..12 after 'ftyp') of HEIF still images, which PIL cannot read.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"avc1", b"3gp4", b"3gp5", b"dash"}


def supported_formats() -> str:
    """The still-image formats this installation reads, for messages."""
    from PIL import features

    names = ["PNG", "JPEG", "WebP"] + (["AVIF"] if features.check("avif") else []) + ["BMP", "TIFF", "GIF"]
    return ", ".join(names)


def _unreadable(data: bytes) -> InputError:
    """The error for bytes PIL could not open: says what the file is when that is known."""
    brand = data[8:12] if data[4:8] == b"ftyp" else b""
    if brand in _HEIF_BRANDS:
        return InputError(
            "HEIC/HEIF photos are not supported. Convert it to JPEG or PNG first (on an iPhone: Settings > "
            f"Camera > Formats > Most Compatible). Supported: {supported_formats()}."
        )
    if brand in _VIDEO_BRANDS:
        return InputError("This file is a video, not a photo; stylize it as a video instead.")
    return InputError(f"This file is not a readable image (or it is damaged). Use a {supported_formats()} photo.")


def check_aspect(w: int, h: int, settings: Settings, what: str = "image") -> None:
    """AspectRatioError for a picture thinner than settings.max_aspect allows (checked on the
    header, before any pixel is decoded): the models would work on a sliver at a huge scale."""
    ratio = max(w, h) / max(1, min(w, h))
    if ratio > settings.max_aspect:
        shape = "wider than tall" if w >= h else "taller than wide"
        raise AspectRatioError(
            f"The {what} is {w}x{h} pixels, {ratio:.0f} times {shape}; animefy takes at most {settings.max_aspect}:1 "
            f"(ANIMEFY_MAX_ASPECT). Crop it to a less extreme shape."
        )


def _open_pil(source: str | Path | bytes, settings: Settings) -> Image.Image:
    data = source if isinstance(source, bytes) else None
    if data is None:
        path = Path(source)
        try:
            if not path.is_file():
                raise InputError(f"No image file named {path.name!r}; check the name and the folder.")
            data = path.read_bytes()
        except (OSError, ValueError) as exc:
            raise InputError(f"The image file {path.name!r} cannot be read ({type(exc).__name__}).") from exc
    if not data:
        raise InputError("The image file is empty. Choose a PNG, JPEG or WebP photo.")
    # Our own pixel limit is checked on the header, before any pixel is decoded; PIL's
    # process-wide MAX_IMAGE_PIXELS is left alone (its hard error still stops extreme bombs).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.size[0] * img.size[1] > settings.max_pixels:
                raise Image.DecompressionBombError(f"{img.size} over {settings.max_pixels}")
            check_aspect(*img.size, settings)
            img.load()
    except Image.DecompressionBombError as exc:
        raise LimitError(
            f"The image is too large to open safely (limit {settings.max_pixels:,} pixels, "
            "ANIMEFY_MAX_PIXELS). Resize it before uploading."
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _unreadable(data) from exc
    return img


def _from_array(arr: np.ndarray) -> Image.Image:
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InputError(f"An image array must be HxW, HxWx3 or HxWx4; got shape {a.shape}.")
    if a.dtype == np.uint16:
        a = (a.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif a.dtype in (np.float32, np.float64):
        a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise InputError(f"Unsupported image array dtype {a.dtype}; use uint8, uint16 or float in 0..1.")
    return Image.fromarray(a.copy())


def load_image(source: str | Path | bytes | np.ndarray | Image.Image, settings: Settings | None = None) -> LoadedImage:
    """Decode `source` to uint8 RGB (+ optional alpha), applying EXIF orientation and limits.

    Images larger than settings.max_side on their long side are downscaled (with a message);
    images smaller than settings.min_side are refused.
    """
    settings = settings or Settings.from_env()
    if isinstance(source, np.ndarray):
        img = _from_array(source)
    elif isinstance(source, Image.Image):
        img = source.copy()
    else:
        img = _open_pil(source, settings)
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    img = ImageOps.exif_transpose(img) or img
    w, h = img.size
    if min(w, h) < settings.min_side:
        raise LimitError(
            f"The image is {w}x{h} pixels; animefy needs at least {settings.min_side} pixels on each side "
            "(ANIMEFY_MIN_SIDE). Use a larger photo."
        )
    if w * h > settings.max_pixels:
        raise LimitError(
            f"The image is {w}x{h} pixels, over the limit of {settings.max_pixels:,} (ANIMEFY_MAX_PIXELS)."
        )
    check_aspect(w, h, settings)
    img = _to_8bit(img)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    rgba = np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    rgb = np.ascontiguousarray(rgba[..., :3])
    alpha = rgba[..., 3].astype(np.float32) / 255.0 if has_alpha else None
    messages: list[str] = []
    if alpha is not None and rgba[..., 3].min() < 255:
        # What lies under transparent pixels is arbitrary (usually black): the picture is
        # seen as it is shown, over white; the alpha itself is kept in LoadedImage.alpha.
        a = alpha[..., None]
        rgb = np.clip(rgb * a + 255.0 * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)
        messages.append("The image has transparent areas; they were filled with white.")
    if max(w, h) > settings.max_side:
        scale = settings.max_side / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if alpha is not None:
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        messages.append(
            f"The image was {w}x{h}; it was downscaled to {size[0]}x{size[1]} (limit ANIMEFY_MAX_SIDE={settings.max_side})."
        )
    for message in messages:
        log.info(message)
    return LoadedImage(rgb, alpha, tuple(messages))


def encode_png(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """PNG bytes of uint8 RGB, RGBA when `alpha` (float 0..1) is given."""
    if alpha is not None:
        a = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        arr = np.dstack([rgb, a])
        ok, buf = cv2.imencode(".png", cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA))
    else:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def save_png(path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"Output must be a .png file (got {path.name}); PNG keeps quality and transparency.")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = encode_png(rgb, alpha)
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or a kill mid-write leaves no half-written file
        raise
    return path
