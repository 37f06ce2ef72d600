"""The model catalog: data (catalog.toml in the package, plus an optional user file named by
ANIMEFY_CATALOG) turned into immutable ModelSpec records."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from animefy.errors import InputError, UnknownNameError
from animefy.settings import Settings

log = logging.getLogger(__name__)

ROLES = ("stylize", "matte", "face", "upscale")
ORIGINAL = "original"  # pseudo-style: leave the region as it was photographed


@dataclass(frozen=True)
class Source:
    kind: str  # "hf" | "modelscope"
    repo: str
    file: str
    revision: str | None = None
    repo_type: str | None = None

    def describe(self) -> str:
        where = "Hugging Face Hub" if self.kind == "hf" else "ModelScope"
        rev = f"@{self.revision}" if self.revision else ""
        return f"{where} {self.repo}{rev}:{self.file}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str
    display: str
    display_zh: str = ""
    filename: str = ""
    aliases: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    sha256: str | None = None
    size_bytes: int | None = None
    format: str = "onnx"  # how the file is run: onnx | dctnet (folder) | rvm | modnet (matters) | pth
    layout: str = "NHWC"
    color: str = "RGB"
    value_range: tuple[float, float] = (-1.0, 1.0)
    size_multiple: int = 1
    fixed_size: tuple[int, int] | None = None
    max_side: int | None = None
    min_side: int = 384  # stylizers run with at least this short side (upscaled if needed)
    face_size: int = 0  # side of the square face crop the face pass draws at (0 = the default, see registry)
    scale: int = 1  # output size / input size (upscalers)
    licence: str = "unknown"
    commercial: bool = False
    terms: str = ""  # what a user may do with a result, in plain words (licence terms per style)
    terms_zh: str = ""
    regions: tuple[str, ...] = ()
    builtin: bool = False
    notes: str = ""
    # For models made of several files in one folder (format "dctnet"): part -> file pattern.
    parts: tuple[tuple[str, str], ...] = ()

    @property
    def is_folder(self) -> bool:
        return bool(self.parts)

    def label(self, lang: str = "en") -> str:
        text = self.display_zh if lang.startswith("zh") and self.display_zh else self.display
        return text if self.commercial else f"{text} [NC]"


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelSpec] = field(default_factory=dict)

    def get(self, name: str, role: str | None = None) -> ModelSpec:
        spec = self.models.get(name)
        if spec is None or (role is not None and spec.role != role):
            kind = f"{role} model" if role else "model"
            raise UnknownNameError(kind, name, self.names(role))
        return spec

    def names(self, role: str | None = None) -> list[str]:
        return [n for n, s in self.models.items() if role is None or s.role == role]

    def styles(self) -> list[str]:
        return self.names("stylize")


def _parse_source(raw: dict, where: str) -> Source:
    if "hf" in raw:
        kind, repo = "hf", raw["hf"]
    elif "modelscope" in raw:
        kind, repo = "modelscope", raw["modelscope"]
    else:
        raise InputError(f"{where}: a source needs 'hf' or 'modelscope' (got {sorted(raw)}).")
    if "file" not in raw:
        raise InputError(f"{where}: source {repo} needs 'file'.")
    return Source(kind, repo, raw["file"], raw.get("revision"), raw.get("repo_type"))


_KNOWN_KEYS = set(ModelSpec.__dataclass_fields__) - {"name"}


def _parse_model(name: str, raw: dict, where: str) -> ModelSpec:
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise InputError(f"{where}: model '{name}' has unknown keys {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}.")
    role = raw.get("role")
    if role not in ROLES:
        raise InputError(f"{where}: model '{name}' has role {role!r}; use one of {ROLES}.")
    if not raw.get("builtin") and not raw.get("filename"):
        raise InputError(f"{where}: model '{name}' needs a 'filename'.")
    layout, color = raw.get("layout", "NHWC"), raw.get("color", "RGB")
    if layout not in ("NHWC", "NCHW", "HWC") or color not in ("RGB", "BGR"):
        raise InputError(f"{where}: model '{name}': layout must be NHWC, NCHW or HWC and color RGB or BGR.")
    kwargs = dict(raw)
    kwargs["sources"] = tuple(_parse_source(s, where) for s in raw.get("sources", ()))
    kwargs["aliases"] = tuple(raw.get("aliases", ()))
    kwargs["regions"] = tuple(raw.get("regions", ()))
    kwargs["parts"] = tuple(sorted(raw.get("parts", {}).items()))
    kwargs["value_range"] = tuple(float(v) for v in raw.get("value_range", (-1, 1)))
    if "fixed_size" in raw:
        kwargs["fixed_size"] = tuple(int(v) for v in raw["fixed_size"])
    kwargs.setdefault("display", name)
    return ModelSpec(name=name, **kwargs)


def parse_catalog(text: str, where: str = "catalog") -> dict[str, ModelSpec]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where} is not valid TOML: {exc}") from exc
    return {name: _parse_model(name, raw, where) for name, raw in data.get("models", {}).items()}


def load_catalog(settings: Settings | None = None) -> Catalog:
    """The package catalog, with entries of the user's catalog file added or replacing."""
    settings = settings or Settings.from_env()
    text = resources.files("animefy.models").joinpath("catalog.toml").read_text(encoding="utf-8")
    models = parse_catalog(text, "animefy/models/catalog.toml")
    if settings.user_catalog is not None:
        path = Path(settings.user_catalog)
        if not path.is_file():
            log.error("ANIMEFY_CATALOG points to %s, which is not a file", path)
            raise InputError(f"ANIMEFY_CATALOG points to '{path.name}', which is not a file.")
        # Messages name the file, never its folder (they can reach a client); the log has the path.
        models.update(parse_catalog(path.read_text(encoding="utf-8"), f"the catalog file '{path.name}'"))
    return Catalog(models)
