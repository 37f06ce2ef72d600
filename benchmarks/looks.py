"""Does the person read as anime, not only the background? Runs the page's looks (resolved
against ../shared/models) and each style alone on the shared photos and clip frames, and
prints per look how far the person region moved from the photo and how far the background
did, plus a sheet of the results side by side. Not a test.

    python benchmarks/looks.py [--sheet looks_sheet.jpg] [--large] [--photos examples]

Person / background come from the cut-out model's matte (alpha > 0.5 / < 0.1). Per region:
colour distance = mean CIELAB distance (delta E 76) between photo and result; line density =
share of pixels on a Canny edge of the result (dark outlines and flat fills change it from
the photo's, which is given alongside). "person/bg" is the ratio of the colour distances: a
default look must not have it under 0.5 (the person moving less than half as far as the
background). --large adds each photo enlarged to 2048 px (does the look survive the size?).
--photos examples uses the repository's examples/ only (for the README's sheet).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import ROOT, SHARED, load_clip

sys.path.insert(0, str(ROOT))


def photos(which: str, large: bool) -> dict[str, np.ndarray]:
    from animefy.image.io import load_image

    if which == "examples":
        out = {p.stem: load_image(p).rgb for p in (ROOT / "examples").glob("*.jpg") if "background" not in p.name}
        out["astronaut_pan (frame 24)"] = load_clip_file(ROOT / "examples" / "astronaut_pan.mp4", 24)
    else:
        out = {p.stem: load_image(p).rgb for p in sorted((SHARED / "media").glob("*.png"))}
        for clip in ("carphone.mp4", "pedestrians.avi"):
            out[f"{clip.split('.')[0]} (frame 30)"] = load_clip(clip, 31)[30]
    if large:
        for name in list(out):
            h, w = out[name].shape[:2]
            s = 2048 / max(h, w)
            out[f"{name} @2048"] = cv2.resize(out[name], (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
    return out


def load_clip_file(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    return frame[..., ::-1].copy()


def looks(settings) -> list[tuple[str, dict]]:
    from animefy.app.looks import resolve_looks
    from animefy.models.catalog import load_catalog
    from animefy.models.registry import default_style

    catalog = load_catalog(settings)
    out = [(lk.names["en"], lk.values) for lk in resolve_looks(settings, default_style(settings, catalog), catalog)
           if lk.values.get("background") != "image"]  # fmt: skip
    out += [(f"{s} alone", {"person_style": s}) for s in ("shinkai_v3", "hayao_v3", "cute_v3")]
    return out


def measure(photo: np.ndarray, result: np.ndarray, alpha: np.ndarray) -> dict[str, float]:
    lab_in = cv2.cvtColor(photo, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_out = cv2.cvtColor(result, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_in[..., 0] *= 100 / 255
    lab_out[..., 0] *= 100 / 255
    delta = np.linalg.norm(lab_in - lab_out, axis=2)
    edges_out = cv2.Canny(cv2.cvtColor(result, cv2.COLOR_RGB2GRAY), 80, 160) > 0
    edges_in = cv2.Canny(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), 80, 160) > 0
    person, background = alpha > 0.5, alpha < 0.1
    return {"person_de": float(delta[person].mean()), "bg_de": float(delta[background].mean()),
            "person_lines": float(edges_out[person].mean()), "bg_lines": float(edges_out[background].mean()),
            "photo_person_lines": float(edges_in[person].mean()), "photo_bg_lines": float(edges_in[background].mean())}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sheet", type=Path, default=None, help="write the sheet of results here (JPEG)")
    ap.add_argument("--large", action="store_true")
    ap.add_argument("--photos", choices=("shared", "examples"), default="shared")
    args = ap.parse_args()
    from animefy.image.pipeline import Renderer, stylize_image
    from animefy.schema import ImageRequest
    from animefy.settings import Settings

    settings = Settings.from_env({"ANIMEFY_MODELS_DIR": str(SHARED / "models"), "ANIMEFY_OFFLINE": "1"})
    chosen, pics = looks(settings), photos(args.photos, args.large)
    splitter = Renderer(ImageRequest(person_style=chosen[0][1]["person_style"], background="transparent"), settings)
    rows, table = [], {name: [] for name, _ in chosen}
    for pname, photo in pics.items():
        alpha = splitter.split(photo).alpha
        row = [photo]
        for name, values in chosen:
            result = stylize_image(photo, settings=settings, **values)
            rgb = result.rgb if result.alpha is None else (result.rgb * result.alpha[..., None] + 255 *
                                                           (1 - result.alpha[..., None])).astype(np.uint8)  # fmt: skip
            if photo.shape == rgb.shape and (alpha > 0.5).any() and (alpha < 0.1).any() and result.alpha is None:
                table[name].append(measure(photo, rgb, alpha))
            row.append(rgb)
        print(f"done {pname}", file=sys.stderr, flush=True)
        rows.append(row)
    print(f"{'look':<40} {'person dE':>9} {'bg dE':>6} {'person/bg':>9} {'person lines':>12} {'bg lines':>8}"
          f" {'photo: person / bg lines':>25}")  # fmt: skip
    for name, ms in table.items():
        if not ms:
            print(f"{name:<40} (transparent: no background to compare)")
            continue
        m = {k: float(np.mean([x[k] for x in ms])) for k in ms[0]}
        print(f"{name:<40} {m['person_de']:9.1f} {m['bg_de']:6.1f} {m['person_de'] / m['bg_de']:9.2f} "
              f"{m['person_lines']:12.3f} {m['bg_lines']:8.3f} {m['photo_person_lines']:13.3f} / "
              f"{m['photo_bg_lines']:.3f}")  # fmt: skip
    print(f"({len(pics)} pictures: {', '.join(pics)})")
    if args.sheet:
        side = 240
        tiles = [[cv2.resize(im, (side, round(side * im.shape[0] / im.shape[1]))) for im in row] for row in rows]
        height = [max(t.shape[0] for t in row) for row in tiles]
        sheet = np.full((sum(height), side * len(tiles[0]), 3), 255, np.uint8)
        y = 0
        for row, h in zip(tiles, height, strict=True):
            for j, t in enumerate(row):
                sheet[y : y + t.shape[0], j * side : (j + 1) * side] = t
            y += h
        cv2.imwrite(str(args.sheet), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        print("columns: photo, " + ", ".join(name for name, _ in chosen))


if __name__ == "__main__":
    main()
