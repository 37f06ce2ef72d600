"""One inference layer for every ONNX model: the engine and device chosen in one place
(`choose_engine`), sessions created once per (file, engine, device, precision, threads) and
reused, and the catalog's tensor conventions (layout, colour order, value range, size rule)
applied around each call.

Two engines run the same ONNX files: ONNX Runtime (the default on CPU) and torch (an ONNX
graph interpreter, `engines/torch_engine.py`, the default when a CUDA GPU is visible). Both
hand back objects with ONNX Runtime's small session API, so `OnnxGenerator` and the matters
never know which one they got.

For the front ends: `engine_info(settings)` says what runs where; animefy/app/zerogpu.py
builds the default models ahead of time (on ZeroGPU at import time, placed on cuda) and
computes GPU durations from its cost table.
Errors are typed: `NoGpuError` (device cuda without a GPU), `TorchMissingError`,
`UnsupportedModelError` (all `EngineError`, an `AnimefyError`)."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animefy.errors import AnimefyError, ModelLoadError, NoGpuError, TorchMissingError, UnsupportedModelError
from animefy.models.catalog import ModelSpec
from animefy.models.engines import ort_engine
from animefy.settings import Settings

log = logging.getLogger(__name__)

_sessions: dict[tuple[str, str, str, str, int, str], object] = {}
_fallbacks: dict[str, str] = {}  # file -> why the torch engine left it to ONNX Runtime (engine auto)
_sessions_lock = threading.Lock()

# Models whose fp16 output matches fp32 within the parity budget (max |diff| <= 2 and mean
# |diff| <= 0.5 grey levels on uint8 output), by sha256 of the ONNX file; every other model
# runs fp32 on CUDA, and ANIMEFY_FP16=on|off overrides. Measured on CPU with fp16 storage
# emulated (every intermediate rounded to fp16, arithmetic in fp32 as GPU kernels accumulate;
# real CPU float16 kernels gave the same numbers): the three AnimeGANv3 stylizers stay within
# max 1 / mean 0.05 grey levels on the shared photos; RVM's alpha drifts up to 4 grey levels
# over 10 frames of carphone, so it stays fp32 (bfloat16 fails everywhere: max 4-33).
# tests/test_engines.py::test_fp16_choice_matches_measured_parity keeps this table honest.
FP16_VERIFIED = {
    "2779cb3b64fde78078c4311fe5f21b6f9defc33f6b2a2509fdeaf2827ad46048": "shinkai_v3",
    "1f53a66dafcc845a176d7b20083692d58246886edc9fae5ec32be0b356bc856a": "hayao_v3",
    "3ef02d6b2939a0e81621abc5beb0e741bb58654570033cd0e97f6b6ef37c1171": "cute_v3",
}

class PassCounter(Counter):
    """Model passes by model name (one image through one generator: a tile, a crop or a frame),
    and in `pixels` the pixels those passes took in (crops of a dynamic-size model cost in
    proportion to their area, so passes alone do not say how much was drawn)."""

    def __init__(self) -> None:
        super().__init__()
        self.pixels: Counter = Counter()

    def __reduce__(self):  # picklable with its pixels: a chunk's report crosses processes
        return _restore_passes, (dict(self), dict(self.pixels))


def _restore_passes(passes: dict, pixels: dict) -> PassCounter:
    counter = PassCounter()
    counter.update(passes)
    counter.pixels.update(pixels)
    return counter


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


@dataclass(frozen=True)
class EngineChoice:
    engine: str  # "onnxruntime" | "torch"
    device: str  # "cpu" | "cuda"


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("onnx") is not None


@functools.lru_cache(maxsize=1)
def _torch_cuda() -> bool:
    if sys.platform == "linux" and not any(
        os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/dxg")
    ):
        return False  # no NVIDIA driver: no GPU, and no need to import torch to learn that
    import torch

    return bool(torch.cuda.is_available())


def choose_engine(settings: Settings) -> EngineChoice:
    """The one place the engine and device are decided, from settings.engine / settings.device.

    auto: torch on CUDA when a GPU is visible to torch (on ZeroGPU always: `spaces` makes cuda
    usable at import time), else ONNX Runtime on CPU. Raises NoGpuError for device cuda with no
    GPU, TorchMissingError for engine torch without torch."""
    engine, device = settings.engine, settings.device
    has_torch = torch_installed()
    if engine == "torch" and not has_torch:
        raise TorchMissingError()
    torch_gpu = has_torch and (settings.on_zerogpu or _torch_cuda())
    # Without torch nothing can tell whether a GPU is there: trust onnxruntime-gpu's provider.
    ort_gpu = ort_engine.gpu_provider_available() and (torch_gpu or not has_torch)
    gpu = {"torch": torch_gpu, "onnxruntime": ort_gpu, "auto": torch_gpu or ort_gpu}[engine]
    if device == "cuda" and not gpu:
        detail = ""
        if engine == "onnxruntime" and torch_gpu:
            detail = (
                "to ONNX Runtime: this onnxruntime has no CUDA provider; install onnxruntime-gpu or use --engine torch"
            )
        raise NoGpuError(detail)
    if device == "auto":
        device = "cuda" if gpu else "cpu"
    if engine == "auto":
        engine = "torch" if device == "cuda" and torch_gpu else "onnxruntime"
    return EngineChoice(engine, device)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, _size: int, _mtime: float) -> str:  # size and mtime key the cache
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path | str) -> str:
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime)


def precision(path: Path | str, choice: EngineChoice, settings: Settings) -> str:
    """float16 on CUDA for the models verified to keep parity in fp16 (or all with
    ANIMEFY_FP16=on); float32 everywhere else."""
    if choice.engine != "torch" or choice.device != "cuda" or settings.fp16 == "off":
        return "float32"
    if settings.fp16 == "on":
        return "float16"
    return "float16" if file_sha256(path) in FP16_VERIFIED else "float32"


def _create(path: Path, choice: EngineChoice, dtype: str, settings: Settings):
    threads = settings.threads or cpu_count()
    if choice.engine == "onnxruntime":
        return ort_engine.create(path, choice.device, threads)
    from animefy.models.engines.torch_engine import TorchSession

    if choice.device == "cpu" and settings.threads:
        import torch

        torch.set_num_threads(settings.threads)  # torch's pool is per process
    try:
        return TorchSession(path, choice.device, dtype, graph_mode=settings.torch_graph)
    except UnsupportedModelError as exc:
        if settings.engine != "auto":
            raise
        log.warning("%s: %s Running it with ONNX Runtime instead.", path.name, exc)
        _fallbacks[str(path)] = str(exc)
        return ort_engine.create(path, choice.device, threads)


def session(path: Path | str, settings: Settings, model: str | None = None):
    """The cached session for `path` on the engine and device `settings` ask for; created on
    first use (the torch engine builds its module from the ONNX file once), shared afterwards.

    A file the engine cannot load raises ModelLoadError naming the file (not its folder) and
    the catalog `model`; the full path and the engine's own message go to the log."""
    choice = choose_engine(settings)
    path = Path(path).resolve()
    dtype = precision(path, choice, settings)
    key = (str(path), choice.engine, choice.device, dtype, settings.threads, settings.torch_graph)
    with _sessions_lock:
        sess = _sessions.get(key)
        if sess is None:
            try:
                sess = _create(path, choice, dtype, settings)
            except AnimefyError:
                raise
            except Exception as exc:
                log.warning("cannot load model %s: %s", path, exc)
                raise ModelLoadError(path.name, model) from exc
            _sessions[key] = sess
    return sess


def clear_sessions() -> None:
    with _sessions_lock:
        _sessions.clear()
        _fallbacks.clear()


def providers(settings: Settings) -> tuple[str, ...]:
    """ONNX Runtime's execution providers for these settings (CUDA only with onnxruntime-gpu)."""
    return ort_engine.providers(choose_engine(settings).device)


def runs_on_gpu(sess: object) -> bool:
    """Whether a session (either engine) computes on a GPU."""
    return any(p in ("CUDAExecutionProvider", "TensorrtExecutionProvider", "torch:cuda") for p in sess.get_providers())


def engine_info(settings: Settings) -> str:
    """What runs the models, for people: 'onnxruntime on cpu', 'torch on cuda (fp16:
    shinkai_v3, hayao_v3)', or why the engine asked for is unavailable."""
    try:
        choice = choose_engine(settings)
    except AnimefyError as exc:
        return f"unavailable: {exc}"
    text = f"{choice.engine} on {choice.device}"
    if choice.engine == "torch":
        text += f", {settings.torch_graph} graphs"
    if choice.engine == "torch" and choice.device == "cuda":
        if settings.fp16 == "on":
            text += " (fp16: all models)"
        elif settings.fp16 == "off":
            text += " (fp32)"
        else:
            from animefy.models.catalog import load_catalog

            names = [n for n, s in load_catalog(settings).models.items() if s.sha256 in FP16_VERIFIED]
            text += f" (fp16: {', '.join(names)}; fp32: the rest)" if names else " (fp32)"
    with _sessions_lock:
        fallen = sorted(Path(p).name for p in _fallbacks)
    if fallen and choice.engine == "torch":
        text += f"; onnxruntime for {', '.join(fallen)}"
    return text


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
        self.batchable = dynamic_batch and runs_on_gpu(self.session)
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
        import cv2  # here, so `python -m animefy models` (engine_info) stays light

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
