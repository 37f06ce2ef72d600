"""The one model registry: `load(name, settings)` reads the catalog entry, resolves its file
through the hub, builds it with the one builder its (role, format) has in `BUILDERS`, and returns it as its
role's protocol (`animefy.models.roles`), carrying a small typed descriptor of what it can do
(`Capabilities`), which the pipeline reads instead of probing attributes. Loaded models are cached by everything that builds them (catalog entry,
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
from typing import Literal, overload

from animefy.errors import InputError
from animefy.models.capabilities import Capabilities, capabilities, face_size  # noqa: F401 - re-exported
from animefy.models.catalog import ORIGINAL, Catalog, ModelSpec, load_catalog
from animefy.models.hub import find_cached, resolve_model
from animefy.models.roles import FaceDetector, Matter, Model, StyleModel, Upscaler
from animefy.settings import Settings

log = logging.getLogger(__name__)


Builder = Callable[[ModelSpec, Path | None, Settings], Model]


def _cel(_spec: ModelSpec, _path: Path | None, _settings: Settings) -> StyleModel:
    from animefy.image.stylize import CelStylizer

    return CelStylizer()


def _onnx_style(spec: ModelSpec, path: Path | None, settings: Settings) -> StyleModel:
    from animefy.image.stylize import Generator
    from animefy.models.runtime import OnnxGenerator

    return Generator(spec.name, OnnxGenerator(spec, path, settings), capabilities(spec))


def _dctnet(spec: ModelSpec, path: Path | None, settings: Settings) -> StyleModel:
    from animefy.models.dctnet import DctNetStyle

    return DctNetStyle(spec, _file(spec, path), settings)


def _rvm(spec: ModelSpec, path: Path | None, settings: Settings) -> Matter:
    from animefy.image.matte import RvmMatter

    return RvmMatter(spec, _file(spec, path), settings)


def _modnet(spec: ModelSpec, path: Path | None, settings: Settings) -> Matter:
    from animefy.image.matte import ModnetMatter

    return ModnetMatter(spec, _file(spec, path), settings)


def _yunet(spec: ModelSpec, path: Path | None, _settings: Settings) -> FaceDetector:
    from animefy.image.faces import YunetDetector

    return YunetDetector(_file(spec, path), model=spec.name, caps=capabilities(spec))


def _spandrel(spec: ModelSpec, path: Path | None, settings: Settings) -> Upscaler:
    from animefy.models.upscale import SpandrelUpscaler

    return SpandrelUpscaler(_file(spec, path), settings, capabilities(spec))


def _file(spec: ModelSpec, path: Path | None) -> Path:
    if path is None:  # only built-in entries have no file, and only the built-in builder takes them
        raise InputError(f"Model '{spec.name}' has no file to load.")
    return path


BUILTIN = "builtin"  # the format key of built-in entries (no file: `cel`)

# The one place that maps a catalog entry's (role, format) to what builds it.
BUILDERS: dict[tuple[str, str], Builder] = {
    ("stylize", BUILTIN): _cel,
    ("stylize", "onnx"): _onnx_style,
    ("stylize", "dctnet"): _dctnet,
    ("matte", "rvm"): _rvm,
    ("matte", "modnet"): _modnet,
    ("face", "onnx"): _yunet,
    ("upscale", "pth"): _spandrel,
}


def builder_key(spec: ModelSpec) -> tuple[str, str]:
    return spec.role, BUILTIN if spec.builtin else spec.format


def builder(spec: ModelSpec) -> Builder:
    """What builds `spec`; InputError naming the formats its role has when there is none."""
    build = BUILDERS.get(builder_key(spec))
    if build is None:
        formats = ", ".join(f for r, f in BUILDERS if r == spec.role and f != BUILTIN)
        raise InputError(
            f"{spec.role.capitalize()} model '{spec.name}' has format '{spec.format}'; supported: {formats}."
        )
    return build


_CACHE_SIZE = 8
_cache: OrderedDict[tuple, Model] = OrderedDict()
_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}


def clear() -> None:
    """Forget every loaded model (and the engine's sessions)."""
    from animefy.models.runtime import clear_sessions

    with _cache_lock:
        _cache.clear()
        _key_locks.clear()
    clear_sessions()


def _cached(key: tuple, make: Callable[[], Model]) -> Model:
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


@overload
def load(name: str, role: Literal["stylize"], settings: Settings, catalog: Catalog | None = None) -> StyleModel: ...
@overload
def load(name: str, role: Literal["matte"], settings: Settings, catalog: Catalog | None = None) -> Matter: ...
@overload
def load(name: str, role: Literal["face"], settings: Settings, catalog: Catalog | None = None) -> FaceDetector: ...
@overload
def load(name: str, role: Literal["upscale"], settings: Settings, catalog: Catalog | None = None) -> Upscaler: ...
@overload
def load(name: str, role: str, settings: Settings, catalog: Catalog | None = None) -> Model: ...


def load(name: str, role: str, settings: Settings, catalog: Catalog | None = None) -> Model:
    """The model `name` of `role` ('stylize', 'matte', 'face', 'upscale'), ready to call: it
    follows its role's protocol (animefy.models.roles), `caps` holding its Capabilities."""
    if role == "stylize" and name == ORIGINAL:
        from animefy.image.stylize import IdentityStylizer

        return IdentityStylizer()
    catalog = catalog or load_catalog(settings)
    spec = catalog.get(name, role)
    build = builder(spec)
    path = None if spec.builtin else resolve_model(spec, settings)
    if capabilities(spec).stateful:
        return build(spec, path, settings)
    return _cached((spec, str(path), settings), lambda: build(spec, path, settings))


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
