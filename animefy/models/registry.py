"""Loading models by catalog name: stylizers, matters, face detectors, upscalers. Loaded
objects are cached per (name, file) and shared; ONNX sessions are shared by runtime.session."""

from __future__ import annotations

import threading

from animefy.errors import InputError
from animefy.image.faces import YunetDetector
from animefy.image.matte import MATTERS, Matter
from animefy.image.stylize import CelStylizer, IdentityStylizer, NamedGenerator, Stylizer, WorkingSize
from animefy.models.catalog import ORIGINAL, Catalog, load_catalog
from animefy.models.hub import resolve_model
from animefy.models.runtime import OnnxGenerator
from animefy.settings import Settings

_cache: dict[tuple[str, str], object] = {}
_lock = threading.Lock()


def _cached(key: tuple[str, str], make):  # noqa: ANN001, ANN202
    with _lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def load_stylizer(name: str, catalog: Catalog | None = None, settings: Settings | None = None) -> Stylizer:
    if name == ORIGINAL:
        return IdentityStylizer()
    settings = settings or Settings.from_env()
    catalog = catalog or load_catalog(settings)
    spec = catalog.get(name, "stylize")
    if spec.builtin:
        return CelStylizer()
    path = resolve_model(spec, settings)
    if spec.format == "dctnet":
        from animefy.models.dctnet import DctNetStyle

        return _cached((name, str(path)), lambda: DctNetStyle(spec, path, settings))

    def make() -> Stylizer:
        styl = NamedGenerator(spec, OnnxGenerator(spec, path, settings))
        return WorkingSize(styl, spec.min_side, spec.max_side or 0)

    return _cached((name, str(path)), make)


def load_matter(name: str, catalog: Catalog | None = None, settings: Settings | None = None) -> Matter:
    """A new matter (matters carry per-video state, so each caller gets its own object)."""
    settings = settings or Settings.from_env()
    catalog = catalog or load_catalog(settings)
    spec = catalog.get(name, "matte")
    cls = MATTERS.get(name)
    if cls is None:
        raise InputError(f"No adapter for matte model '{name}'; supported: {sorted(MATTERS)}.")
    return cls(spec, resolve_model(spec, settings), settings)


def load_face_detector(
    name: str = "yunet", catalog: Catalog | None = None, settings: Settings | None = None
) -> YunetDetector:
    settings = settings or Settings.from_env()
    catalog = catalog or load_catalog(settings)
    spec = catalog.get(name, "face")
    path = resolve_model(spec, settings)
    return _cached((name, str(path)), lambda: YunetDetector(path, model=name))


PREFERRED_STYLES = ("shinkai", "hayao", "shinkai_v3", "hayao_v3", "paprika", "cute_v3", "cel")


def available_styles(catalog: Catalog | None = None, settings: Settings | None = None) -> list[str]:
    """Styles whose weights are on disk now (built-in ones always), without any network."""
    from animefy.models.hub import find_cached

    settings = settings or Settings.from_env()
    catalog = catalog or load_catalog(settings)
    return [n for n in catalog.styles() if catalog.get(n).builtin or find_cached(catalog.get(n), settings) is not None]


def default_style(catalog: Catalog | None = None, settings: Settings | None = None) -> str:
    """ANIMEFY_DEFAULT_STYLE if it is available, else the first preferred style that is
    available offline; 'cel' always is."""
    settings = settings or Settings.from_env()
    have = set(available_styles(catalog, settings))
    wanted = settings.default_style
    if wanted in have:
        return wanted
    return next(s for s in PREFERRED_STYLES if s in have or s == "cel")
