"""Looks: named request values that the app's first screen offers as presets ("Shinkai person
on a Hayao background", "cute face", "cut-out", ...), each with an example result on one of
the shipped example photos. A look is resolved against the styles this server has (on disk,
or downloadable when online), so the same look names the best style available. Example
results are rendered once and kept in ANIMEFY_CACHE_DIR/looks: at start for looks whose
models are on disk, and later whenever someone runs a look unchanged on its example photo."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from animefy import __version__
from animefy.errors import AnimefyError
from animefy.models.catalog import Catalog, load_catalog
from animefy.schema import ImageRequest
from animefy.settings import Settings

log = logging.getLogger(__name__)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PERSON_STYLES = ("shinkai_v3", "shinkai", "paprika", "hayao_v3", "hayao")
BACKGROUND_STYLES = ("hayao_v3", "hayao", "shinkai_v3", "shinkai", "paprika", "whitebox_cartoon")
FACE_STYLES = ("cute_v3", "face_paint_v2", "jp_face_v3")
# Each look on the example photo that shows it best, so the first screen is not one face five
# times (the cut-out on the cameraman: the astronaut's dark helmet is not a clean edge).
PHOTOS = {"face": EXAMPLES / "cameraman.jpg", "cutout": EXAMPLES / "cameraman.jpg", "cute": EXAMPLES / "cameraman.jpg"}


@dataclass(frozen=True)
class Look:
    key: str
    names: dict[str, str]  # language -> name shown
    values: dict = field(default_factory=dict)  # request fields
    photo: Path = EXAMPLES / "astronaut.jpg"
    picture: Path | None = None
    on_disk: bool = True  # every model it needs is on disk (else: downloads on first use)

    def request(self) -> ImageRequest:
        return ImageRequest(**self.values)

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["en"]


def short_name(catalog: Catalog, style: str, lang: str) -> str:
    """'Shinkai' for 'Shinkai (AnimeGANv3)': the display name without its model family."""
    spec = catalog.get(style)
    text = spec.display_zh if lang == "zh" and spec.display_zh else spec.display
    return text.split(" (")[0].strip()


class Resolver:
    """What this server can run: styles on disk, and those it could download."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        from animefy.models.hub import find_cached

        self.settings, self.catalog = settings, catalog
        self.on_disk = {n for n, s in catalog.models.items() if s.builtin or find_cached(s, settings) is not None}
        self.fetchable = set() if settings.offline else {n for n, s in catalog.models.items() if s.sources}

    def usable(self, name: str) -> bool:
        return name in self.on_disk or name in self.fetchable

    def first(self, names: tuple[str, ...], avoid: str = "") -> str | None:
        """The first of `names` on disk, else the first that can be downloaded."""
        names = tuple(n for n in names if n in self.catalog.models and n != avoid)
        return next((n for n in names if n in self.on_disk), None) or next((n for n in names if self.usable(n)), None)

    def needs(self, request: ImageRequest) -> list[str] | None:
        """The models a request needs, or None when one of them cannot be had here."""
        from animefy.image.pipeline import check_request

        try:
            _, needs = check_request(request, self.settings, True, self.catalog)
        except AnimefyError:
            return None
        names = [n for n, _ in needs]
        return names if all(self.usable(n) for n in names) else None


def resolve_looks(settings: Settings, default: str, catalog: Catalog | None = None) -> list[Look]:
    """The looks this server can offer, best styles first; at least one (the default style
    over the whole photo) is always there."""
    catalog = catalog or load_catalog(settings)
    r = Resolver(settings, catalog)
    person = r.first(PERSON_STYLES) or default
    background = r.first(BACKGROUND_STYLES, avoid=person) or r.first(tuple(catalog.styles()), avoid=person)
    face = r.first(FACE_STYLES, avoid=person)
    candidates: list[tuple[str, dict, dict, Path | None]] = []
    if background:
        p, b = (short_name(catalog, person, "en"), short_name(catalog, background, "en"))
        pz, bz = (short_name(catalog, person, "zh"), short_name(catalog, background, "zh"))
        candidates.append(("mix", {"en": f"{p} person on a {b} background", "zh": f"{pz}人物 + {bz}背景"},
                           {"person_style": person, "background_style": background}, None))  # fmt: skip
    if face:
        f, fz = short_name(catalog, face, "en"), short_name(catalog, face, "zh")
        candidates.append(("face", {"en": f"{f} face", "zh": f"{fz}脸部"},
                           {"person_style": person, "face_style": face}, None))  # fmt: skip
    candidates.append(("cutout", {"en": "Cut-out (transparent)", "zh": "抠图（透明背景）"},
                       {"person_style": person, "background": "transparent"}, None))  # fmt: skip
    candidates.append(("picture", {"en": "New background picture", "zh": "换背景图片"},
                       {"person_style": person, "background": "image", "background_position": "left"},
                       EXAMPLES / "rocket_background.jpg"))  # fmt: skip
    if face and background:  # every look draws the person too (benchmarks/looks.py measures it)
        f, fz = short_name(catalog, face, "en"), short_name(catalog, face, "zh")
        b, bz = short_name(catalog, background, "en"), short_name(catalog, background, "zh")
        candidates.append(("cute", {"en": f"{f} person on a {b} background", "zh": f"{fz}人物 + {bz}背景"},
                           {"person_style": face, "background_style": background}, None))  # fmt: skip
    looks = []
    for key, names, values, picture in candidates:
        needs = r.needs(ImageRequest(**values))
        if needs is not None:
            looks.append(Look(key, names, values, photo=PHOTOS.get(key, EXAMPLES / "astronaut.jpg"), picture=picture,
                              on_disk=all(n in r.on_disk for n in needs)))  # fmt: skip
    if len(looks) < 2:  # no matting model here: offer the plain whole-photo look
        s, sz = short_name(catalog, default, "en"), short_name(catalog, default, "zh")
        looks.insert(
            0, Look("whole", {"en": f"{s}, whole photo", "zh": f"{sz}（整张照片）"}, {"person_style": default})
        )
    return looks[:5]


# -- example results ------------------------------------------------------------------------
def _digest(path: Path | str | None) -> str:
    if not path:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _model_stamp(settings: Settings, request: ImageRequest) -> list:
    """What the example result depends on besides the request: each model's file (name, size,
    mtime), so a replaced model renders the example again."""
    from animefy.image.pipeline import check_request
    from animefy.models.hub import find_cached

    catalog = load_catalog(settings)
    _, needs = check_request(request, settings, True, catalog)
    stamp = []
    for name, role in needs:
        spec = catalog.get(name, role)
        path = None if spec.builtin else find_cached(spec, settings)
        stat = path.stat() if path is not None and path.is_file() else None
        stamp.append([name, spec.filename, stat.st_size if stat else 0, int(stat.st_mtime) if stat else 0])
    return stamp


def _key(settings: Settings, request: ImageRequest, photo: Path | str, picture: Path | str | None) -> str:
    from animefy.models.registry import default_style

    request = request.with_defaults(default_style(settings))
    blob = json.dumps([__version__, request.model_dump(), _digest(photo), _digest(picture),
                       _model_stamp(settings, request)], sort_keys=True, default=str)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _folder(settings: Settings) -> Path:
    return settings.cache_dir / "looks"


def example_result(look: Look, settings: Settings) -> Path | None:
    """The cached example result of `look`, or None when it has not been rendered yet."""
    try:
        path = _folder(settings) / f"{_key(settings, look.request(), look.photo, look.picture)}.png"
    except AnimefyError:
        return None
    return path if path.is_file() else None


def remember(settings: Settings, looks: list[Look], photo: str, request: ImageRequest, picture: str | None,
             result: str) -> None:  # fmt: skip
    """Keep `result` as a look's example when it is that look run unchanged on its photo."""
    try:
        key = _key(settings, request, photo, picture)
        for look in looks:
            if _key(settings, look.request(), look.photo, look.picture) == key:
                _folder(settings).mkdir(parents=True, exist_ok=True)
                part = _folder(settings) / f"{key}.png.part"  # a page may look while it is written
                try:
                    shutil.copyfile(result, part)
                    part.replace(_folder(settings) / f"{key}.png")
                finally:
                    part.unlink(missing_ok=True)
                return
    except (OSError, AnimefyError) as exc:
        log.info("example result not kept: %s", exc)


def prepare(looks: list[Look], settings: Settings) -> None:
    """Render the example result of every look whose models are on disk and that has none
    cached yet (once per machine; later starts find them in the cache)."""
    from animefy.app.service import render_image

    for look in looks:
        if not look.on_disk or example_result(look, settings) is not None:
            continue
        try:
            png, _ = render_image(str(look.photo), look.request(), str(look.picture) if look.picture else None,
                                  settings)  # fmt: skip
            remember(settings, [look], str(look.photo), look.request(), str(look.picture) if look.picture else None,
                     png)  # fmt: skip
            Path(png).unlink(missing_ok=True)
            log.info("example result of the look '%s' rendered", look.names["en"])
        except AnimefyError as exc:
            log.warning("example result of the look '%s' not rendered: %s", look.names["en"], exc)
