"""One inference layer for every ONNX model: sessions created once and reused, execution
provider chosen in one place, and the catalog's tensor conventions (layout, colour order,
value range, size rule) applied around each call."""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import cv2
import numpy as np

from animefy.errors import ModelLoadError
from animefy.models.catalog import ModelSpec
from animefy.settings import Settings

log = logging.getLogger(__name__)

_sessions: dict[tuple[str, tuple[str, ...], int], object] = {}
_sessions_lock = threading.Lock()


class PassCounter(Counter):
    """Model passes by model name (one image through one generator: a tile, a crop or a frame),
    and in `pixels` the pixels those passes took in (crops of a dynamic-size model cost in
    proportion to their area, so passes alone do not say how much was drawn)."""

    def __init__(self) -> None:
        super().__init__()
        self.pixels: Counter = Counter()


# Counted per caller: models are shared between jobs, so the count lives in the caller's context.
_passes: ContextVar[PassCounter | None] = ContextVar("animefy_model_passes", default=None)


@contextmanager
def counting_passes(counter: PassCounter | None = None) -> Iterator[PassCounter]:
    """Count the generator passes run in this context (this thread), by model name."""
    counter = PassCounter() if counter is None else counter
    token = _passes.set(counter)
    try:
        yield counter
    finally:
        _passes.reset(token)


def count_passes(name: str, n: int = 1, pixels: int = 0) -> None:
    """Record `n` passes of the model `name` taking `pixels` pixels in all (for stylizers that
    are not OnnxGenerators; OnnxGenerator counts its own)."""
    counter = _passes.get()
    if counter is not None:
        counter[name] += n
        counter.pixels[name] += pixels


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def providers(settings: Settings) -> tuple[str, ...]:
    """CUDA when ONNX Runtime has it (onnxruntime-gpu on a GPU machine), else CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    chosen = [p for p in ("CUDAExecutionProvider",) if p in available and settings.device != "cpu"]
    return (*chosen, "CPUExecutionProvider")


def session(path: Path | str, settings: Settings, model: str | None = None):  # noqa: ANN201 - ort.InferenceSession
    """A cached InferenceSession for `path`; created on first use, shared afterwards.

    A file ONNX Runtime cannot load raises ModelLoadError naming the file (not its folder);
    the full path and ONNX Runtime's own message go to the log."""
    import onnxruntime as ort

    chosen = providers(settings)
    threads = settings.threads
    key = (str(Path(path).resolve()), chosen, threads)
    with _sessions_lock:
        sess = _sessions.get(key)
        if sess is None:
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.intra_op_num_threads = threads or cpu_count()
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            try:
                sess = ort.InferenceSession(str(path), sess_options=opts, providers=list(chosen))
            except Exception as exc:  # noqa: BLE001 - ORT raises several types for a bad file
                log.warning("cannot load model %s: %s", path, exc)
                raise ModelLoadError(Path(path).name, model) from exc
            _sessions[key] = sess
    return sess


def clear_sessions() -> None:
    with _sessions_lock:
        _sessions.clear()


def to_model_range(rgb: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """uint8 RGB (..., H, W, 3) -> float32 in the model's colour order and value range."""
    x = rgb[..., ::-1] if spec.color == "BGR" else rgb
    lo, hi = spec.value_range
    return (x.astype(np.float32) * ((hi - lo) / 255.0) + lo).astype(np.float32, copy=False)


def from_model_range(y: np.ndarray, spec: ModelSpec) -> np.ndarray:
    lo, hi = spec.value_range
    out = (y - lo) * (255.0 / (hi - lo))
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return out[..., ::-1] if spec.color == "BGR" else out


def pad_to_multiple(batch: np.ndarray, multiple: int, min_hw: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Reflect-pad a (N, H, W, C) batch at the bottom/right to a multiple (and a minimum size)."""
    _, h, w, _ = batch.shape
    th = max(-(-h // multiple) * multiple, min_hw[0])
    tw = max(-(-w // multiple) * multiple, min_hw[1])
    if (th, tw) == (h, w):
        return batch
    mode = "reflect" if th - h < h and tw - w < w else "edge"
    return np.pad(batch, ((0, 0), (0, th - h), (0, tw - w), (0, 0)), mode=mode)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering `length` with at least `overlap`."""
    if length <= tile:
        return [0]
    overlap = min(overlap, tile // 2)
    step = tile - overlap
    count = max(2, -(-(length - overlap) // step))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _ramp(length: int, fade: int) -> np.ndarray:
    w = np.ones(length, np.float32)
    if fade > 0:
        ramp = (np.arange(fade, dtype=np.float32) + 0.5) / fade
        w[:fade] = np.minimum(w[:fade], ramp)
        w[-fade:] = np.minimum(w[-fade:], ramp[::-1])
    return w


def run_tiled(
    image: np.ndarray,
    tile_hw: tuple[int, int],
    overlap: int,
    fn: Callable[[np.ndarray], np.ndarray],
    scale: int = 1,
) -> np.ndarray:
    """Apply a fixed-size function `fn` (tile -> tile scaled by `scale`, HWC) over an image of
    any size with overlapping tiles, blended by linear ramps so no seam shows."""
    th, tw = tile_hw
    overlap = min(overlap, th // 2, tw // 2)
    padded = pad_to_multiple(image[None], 1, (th, tw))[0]
    h, w = padded.shape[:2]
    acc = np.zeros((h * scale, w * scale, 3), np.float32)
    weight = np.zeros((h * scale, w * scale, 1), np.float32)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    wy = _ramp(th * scale, overlap * scale if len(ys) > 1 else 0)
    wx = _ramp(tw * scale, overlap * scale if len(xs) > 1 else 0)
    win = (wy[:, None] * wx[None, :])[..., None]
    for y in ys:
        for x in xs:
            out = fn(padded[y : y + th, x : x + tw])
            sy, sx = slice(y * scale, (y + th) * scale), slice(x * scale, (x + tw) * scale)
            acc[sy, sx] += out * win
            weight[sy, sx] += win
    return (acc / np.maximum(weight, 1e-6))[: image.shape[0] * scale, : image.shape[1] * scale]


class OnnxGenerator:
    """An image-to-image ONNX model (a stylizer) driven by its catalog entry.

    Call with uint8 RGB frames of one size, (H, W, 3) or (N, H, W, 3); returns the same shape.
    """

    def __init__(self, spec: ModelSpec, path: Path, settings: Settings, tile_overlap: int = 64) -> None:
        self.spec = spec
        self.session = session(path, settings, spec.name)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name
        # Batched runs pay off on a GPU; on CPU they were slower per frame (Shinkai 768x576:
        # 1.47 s alone vs 1.98 s in a batch of 4), so frames go one at a time there.
        dynamic_batch = not isinstance(inp.shape[0], int) or inp.shape[0] != 1
        self.batchable = dynamic_batch and "CUDAExecutionProvider" in self.session.get_providers()
        self.tile_overlap = tile_overlap

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """float32 NHWC batch in model range -> float32 NHWC batch in model range."""
        count_passes(self.spec.name, len(x), int(np.prod(x.shape[:3])))
        if self.spec.layout == "HWC":  # no batch dimension: one frame per run
            return np.stack([self.session.run([self.output_name], {self.input_name: f})[0] for f in x])
        if self.spec.layout == "NCHW":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        if self.batchable or len(x) == 1:
            y = self.session.run([self.output_name], {self.input_name: x})[0]
        else:
            y = np.concatenate(
                [self.session.run([self.output_name], {self.input_name: x[i : i + 1]})[0] for i in range(len(x))]
            )
        return y.transpose(0, 2, 3, 1) if self.spec.layout == "NCHW" else y

    def fixed_plan(self, h: int, w: int, mode: str = "tiles") -> tuple[str, int]:
        """How a fixed-size model runs on an (h, w) frame: ("one", 1) when it fits in one
        pass, ("letterbox", 1) when `mode` scales it down into one, else ("tiles", passes)."""
        th, tw = self.spec.fixed_size
        if h <= th and w <= tw:
            return "one", 1
        if mode == "letterbox":
            return "letterbox", 1
        overlap = min(self.tile_overlap, th // 2, tw // 2)
        return "tiles", len(tile_starts(max(h, th), th, overlap)) * len(tile_starts(max(w, tw), tw, overlap))

    def _fixed(self, x: np.ndarray, mode: str = "tiles") -> np.ndarray:
        """A fixed-size model on one frame: a frame that fits in one tile is scaled up to fill
        it (aspect kept, remainder padded) rather than padded to mostly nothing; larger frames
        are tiled with overlap, or with mode="letterbox" scaled down into one pass."""
        th, tw = self.spec.fixed_size
        h, w = x.shape[:2]
        if (h <= th and w <= tw) or mode == "letterbox":
            s = min(th / h, tw / w)
            sh, sw = min(th, round(h * s)), min(tw, round(w * s))
            there, back = (cv2.INTER_CUBIC, cv2.INTER_AREA) if s >= 1 else (cv2.INTER_AREA, cv2.INTER_CUBIC)
            big = cv2.resize(x, (sw, sh), interpolation=there)
            y = self._infer(pad_to_multiple(big[None], 1, (th, tw)))[0][:sh, :sw]
            return cv2.resize(y, (w, h), interpolation=back)
        return run_tiled(x, (th, tw), self.tile_overlap, lambda t: self._infer(t[None])[0])

    def __call__(self, frames: np.ndarray, fixed_mode: str = "tiles") -> np.ndarray:
        """`fixed_mode` (fixed-size models on frames larger than their size): "tiles" or
        "letterbox" (see `fixed_plan`)."""
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        _, h, w, _ = batch.shape
        x = to_model_range(batch, self.spec)
        if self.spec.fixed_size is not None:
            y = np.stack([self._fixed(f, fixed_mode) for f in x])
        else:
            padded = pad_to_multiple(x, max(1, self.spec.size_multiple))
            y = self._infer(padded)[:, :h, :w]
        out = from_model_range(y, self.spec)
        return out[0] if single else out
