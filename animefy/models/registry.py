"""The one model registry: `load(name, settings)` reads the catalog entry, resolves its file
through the hub, builds the adapter its role and format call for, and returns it with a small
typed descriptor of what it can do (`Capabilities`), which the pipeline reads instead of
probing attributes. Loaded models are cached by everything that builds them (catalog entry,
file, engine settings), least recently used first out, with `clear()`. The engine that runs
them (ONNX Runtime, or torch) sits below, in `animefy.models.runtime`.

Stateful models (matters carry a video's recurrent state) are built fresh for each caller;
their ONNX sessions are still shared through the runtime's session cache."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from animefy.errors import InputError
from animefy.models.capabilities import Capabilities, capabilities, face_size  # noqa: F401 - re-exported
from animefy.models.catalog import ORIGINAL, Catalog, ModelSpec, load_catalog
from animefy.models.hub import find_cached, resolve_model
from animefy.settings import Settings

log = logging.getLogger(__name__)


def _stylizer(spec: ModelSpec, path: Path | None, settings: Settings) -> Any:
    from animefy.image.stylize import CelStylizer, Generator

    if spec.builtin:
        return CelStylizer()
    if spec.format == "dctnet":
        from animefy.models.dctnet import DctNetStyle

        return DctNetStyle(spec, path, settings)
    from animefy.models.runtime import OnnxGenerator

    return Generator(spec.name, OnnxGenerator(spec, path, settings), capabilities(spec))


def _matter(spec: ModelSpec, path: Path | None, settings: Settings) -> Any:
    from animefy.image.matte import MATTERS

    cls = MATTERS.get(spec.format)
    if cls is None:
        raise InputError(f"Matte model '{spec.name}' has format '{spec.format}'; supported: {', '.join(MATTERS)}.")
    return cls(spec, path, settings)


def _face_detector(spec: ModelSpec, path: Path | None, _settings: Settings) -> Any:
    from animefy.image.faces import YunetDetector

    return YunetDetector(path, model=spec.name)


def _upscaler(_spec: ModelSpec, path: Path | None, settings: Settings) -> Any:
    from animefy.models.upscale import SpandrelUpscaler

    return SpandrelUpscaler(path, settings)


_BUILDERS: dict[str, Callable[[ModelSpec, Path | None, Settings], Any]] = {
    "stylize": _stylizer,
    "matte": _matter,
    "face": _face_detector,
    "upscale": _upscaler,
}

_CACHE_SIZE = 8
_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}


def clear() -> None:
    """Forget every loaded model (and the engine's sessions)."""
    from animefy.models.runtime import clear_sessions

    with _cache_lock:
        _cache.clear()
        _key_locks.clear()
    clear_sessions()


def _cached(key: tuple, make: Callable[[], Any]) -> Any:
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:  # one build per key (a DCT-Net conversion can take minutes) without blocking other models
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        model = make()
        with _cache_lock:
            _cache[key] = model
            while len(_cache) > _CACHE_SIZE:
                old, _ = _cache.popitem(last=False)
                log.info("model cache full: unloaded %s", old[0].name)
        return model


def load(name: str, role: str, settings: Settings, catalog: Catalog | None = None) -> Any:
    """The model `name` of `role` ('stylize', 'matte', 'face', 'upscale'), ready to call; its
    `caps` attribute holds its Capabilities."""
    if role == "stylize" and name == ORIGINAL:
        from animefy.image.stylize import IdentityStylizer

        return IdentityStylizer()
    catalog = catalog or load_catalog(settings)
    spec = catalog.get(name, role)
    path = None if spec.builtin else resolve_model(spec, settings)
    build = _BUILDERS[role]
    caps = capabilities(spec)
    if caps.stateful:
        model = build(spec, path, settings)
    else:
        model = _cached((spec, str(path), settings), lambda: build(spec, path, settings))
    if getattr(model, "caps", None) is None:
        model.caps = caps
    return model


PREFERRED_STYLES = ("shinkai", "hayao", "shinkai_v3", "hayao_v3", "paprika", "cute_v3", "cel")


def available_styles(settings: Settings, catalog: Catalog | None = None) -> list[str]:
    """Styles whose weights are on disk now (built-in ones always), without any network."""
    catalog = catalog or load_catalog(settings)
    return [n for n in catalog.styles() if catalog.get(n).builtin or find_cached(catalog.get(n), settings) is not None]


def default_style(settings: Settings, catalog: Catalog | None = None) -> str:
    """ANIMEFY_DEFAULT_STYLE if it is available, else the first preferred style that is
    available offline; 'cel' (built in) always is."""
    have = set(available_styles(settings, catalog))
    if settings.default_style in have:
        return settings.default_style
    return next(s for s in PREFERRED_STYLES if s in have or s == "cel")
