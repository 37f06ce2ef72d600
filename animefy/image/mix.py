"""Mix and match: one photo, a grid of person styles (rows) x backgrounds (columns), made
cheaply. The photo is matted once; each person style paints the person once (its face pass
included) and each background is painted once; the grid only composes them, so N person
styles and M backgrounds cost N + M model passes, not N x M. Variations of one background
style share its painting; a picture is painted in the first background style (or shown as it
is when there is none); a transparent column paints nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from animefy.errors import InputError
from animefy.image.compose import blend
from animefy.image.io import load_image
from animefy.image.pipeline import Frame, Layers, Picture, Renderer
from animefy.models.catalog import ORIGINAL
from animefy.schema import VARIATIONS, Background, ImageRequest
from animefy.settings import Settings
from animefy.timings import Timings

MAX_PEOPLE, MAX_COLUMNS = 4, 8  # the work is bounded before it starts


@dataclass(frozen=True)
class Column:
    """One background of the grid: kept and painted in `style` ('original': as photographed),
    with a time of day or season; or transparent; or the uploaded picture."""

    kind: str = "keep"  # keep | transparent | image
    style: str = ORIGINAL
    variation: str = "none"

    def request(self, person_style: str) -> ImageRequest:
        if self.kind == Background.transparent:
            return ImageRequest(person_style=person_style, background="transparent")
        return ImageRequest(person_style=person_style, background=self.kind, background_style=self.style,
                            background_variation=self.variation,
                            stylize_background_image=self.style != ORIGINAL)  # fmt: skip


def columns_for(backgrounds: list[str], variations: list[str], picture: bool) -> list[Column]:
    """The grid's columns from the page's choices: each background (a style, 'original' or
    'transparent'), then each variation on the first painted background (or the photo's own),
    then the picture when one is given."""
    kept = [b for b in backgrounds if b != "transparent"]
    painted = next((b for b in kept if b != ORIGINAL), ORIGINAL)
    unknown = [v for v in variations if v not in VARIATIONS]
    if unknown:
        raise InputError(f"Unknown time of day / season {', '.join(unknown)}; known: {', '.join(VARIATIONS[1:])}.")
    cols = [Column("keep", b) for b in kept]
    cols += [Column("keep", painted, v) for v in variations if v != "none" and Column("keep", painted, v) not in cols]
    if "transparent" in backgrounds:
        cols.append(Column("transparent"))
    if picture:
        cols.append(Column("image", painted))
    return cols


@dataclass
class MixResult:
    people: list[str]
    columns: list[Column]
    cells: list[list[Frame]]  # [row][column]
    passes: int  # whole-picture model passes (faces not counted)
    timings: Timings
    messages: tuple[str, ...] = ()
    layers: dict[str, int] = field(default_factory=dict)  # what was painted: layer -> passes

    @property
    def naive_passes(self) -> int:
        """The passes of making each picture on its own: its person and its background."""
        person = sum(1 for p in self.people if p != ORIGINAL)
        background = sum(1 for c in self.columns if c.kind != Background.transparent and c.style != ORIGINAL)
        return person * len(self.columns) + background * len(self.people)


def mix(
    image: Picture,
    person_styles: list[str],
    columns: list[Column],
    settings: Settings,
    picture: Picture | None = None,
    timings: Timings | None = None,
) -> MixResult:
    """The grid (see the module's docstring). Raises InputError for an empty or too large grid."""
    people = list(dict.fromkeys(person_styles))
    if not people or not columns:
        raise InputError("Choose at least one person style and one background.")
    if len(people) > MAX_PEOPLE or len(columns) > MAX_COLUMNS:
        raise InputError(f"At most {MAX_PEOPLE} person styles and {MAX_COLUMNS} backgrounds at a time.")
    if any(c.kind == Background.image for c in columns) and picture is None:
        raise InputError("background='image' needs a background picture: upload one, or choose another background.")
    timings = timings or Timings()
    with timings.stage("decode"):
        loaded = load_image(image, settings)
    picture_rgb = None if picture is None else load_image(picture, settings).rgb
    frames = loaded.rgb[None]
    # One matte (and faces) for the whole grid.
    splitter = Renderer(ImageRequest(person_style=people[0], background="transparent"), settings, timings=timings)
    regions = [splitter.split(loaded.rgb)]
    painted: dict[str, int] = {}
    persons = {}
    for style in people:
        r = Renderer(ImageRequest(person_style=style, background="transparent"), settings, timings=timings)
        persons[style] = r.face_layer(r.person_layer(frames, regions, None), frames, regions)
        painted[f"person {style}"] = int(style != ORIGINAL)
    scenes: dict[str, np.ndarray] = {}
    backgrounds = []  # (column's renderer, scene, background layer)
    for col in columns:
        r = Renderer(col.request(people[0]), settings, picture_rgb if col.kind == Background.image else None,
                     timings=timings)  # fmt: skip
        if col.kind == Background.keep:
            if col.style not in scenes:
                scenes[col.style] = r.background_layer(frames)[0] if col.style != ORIGINAL else frames
                painted[f"background {col.style}"] = int(col.style != ORIGINAL)
            backgrounds.append((r, scenes[col.style], r.background_from_scene(scenes[col.style])))
        else:
            backgrounds.append((r, None, r.background_layer(frames)[1]))
            if col.kind == Background.image:
                painted["picture"] = int(col.style != ORIGINAL)
    cells = []
    for style in people:
        row = []
        for col, (r, scene, background) in zip(columns, backgrounds, strict=True):
            if col.kind == Background.keep and col.variation == "none":  # the photo's own scene: blend as one
                with timings.stage("compose"):
                    row.append(Frame(blend(background[0], persons[style][0], regions[0].alpha, r.options.blend)))
            else:  # a new or regraded scene: the person cut out and relit (as in Renderer.compose)
                row.append(r.compose(Layers(persons[style], background, scene), regions)[0])
        cells.append(row)
    return MixResult(people, columns, cells, sum(painted.values()), timings, loaded.messages, painted)
