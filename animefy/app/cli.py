"""Command line: `python -m animefy image|video|models|download ...`. A thin shell over the
library; typed errors become one-line messages and exit codes, never tracebacks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from animefy import __version__
from animefy.errors import AnimefyError


def _style_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--person-style", help="style for the person (default: first available; see `models`)")
    p.add_argument(
        "-b", "--background-style", help="style for the background (default: same as person; 'original' keeps it)"
    )
    p.add_argument("-f", "--face-style", help="style for faces (default: same as person)")
    p.add_argument(
        "--background",
        default="keep",
        help="keep | transparent | #RRGGBB | path to a picture to put behind the person (default: keep)",
    )
    p.add_argument("--no-stylize-background-image", action="store_true", help="use a replacement picture as it is")
    p.add_argument("--blend", choices=("laplacian", "feather"), default="laplacian")
    p.add_argument("--matte-model", default="rvm", help="rvm | modnet")
    p.add_argument("--upscale", help="super-resolution model, e.g. realesr_animevideov3 (needs animefy[sr])")
    p.add_argument("--timings", action="store_true", help="print per-stage timings")


def _options(args: argparse.Namespace, settings):  # noqa: ANN001, ANN202
    from animefy.image.pipeline import StyleOptions, background_fields
    from animefy.models.registry import default_style

    return StyleOptions(
        person_style=args.person_style or default_style(settings=settings),
        background_style=args.background_style,
        face_style=args.face_style,
        stylize_background_image=not args.no_stylize_background_image,
        blend=args.blend,
        matte_model=args.matte_model,
        upscale=args.upscale,
        **background_fields(args.background, settings),
    )


def _safe_output(inp: Path, out: Path, force: bool) -> None:
    if out.resolve() == inp.resolve():
        raise AnimefyError(f"The output {out} is the input file; choose another name so the original is kept.")
    if out.exists() and not force:
        raise AnimefyError(f"{out} exists; pass --force to overwrite it, or choose another name.")


def cmd_image(args: argparse.Namespace) -> int:
    from animefy.image.io import save_png
    from animefy.image.pipeline import stylize_image
    from animefy.settings import Settings

    settings = Settings.from_env()
    out = Path(args.output)
    _safe_output(Path(args.input), out, args.force)
    result = stylize_image(args.input, options=_options(args, settings), settings=settings)
    for message in result.messages:
        print(message, file=sys.stderr)
    save_png(out, result.rgb, result.alpha)
    print(f"wrote {out} ({result.rgb.shape[1]}x{result.rgb.shape[0]}{', RGBA' if result.alpha is not None else ''})")
    if args.timings:
        print(result.timings.table())
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from animefy.models.catalog import load_catalog
    from animefy.models.hub import availability
    from animefy.settings import Settings

    settings = Settings.from_env()
    catalog = load_catalog(settings)
    rows = [(n, s.role, availability(s, settings), s.licence) for n, s in catalog.models.items()]
    w = max(len(r[0]) for r in rows)
    print(f"{'name':<{w}}  {'role':<8}  {'licence':<44}  status")
    for name, role, status, licence in rows:
        print(f"{name:<{w}}  {role:<8}  {licence[:44]:<44}  {status}")
    from animefy.models.runtime import engine_info

    print(f"\nEngine: {engine_info(settings)}")
    if not settings.models_dirs:
        print("\nTip: set ANIMEFY_MODELS_DIR to a folder of .onnx files to use them without downloading.")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from animefy.models.catalog import load_catalog
    from animefy.models.hub import resolve_model
    from animefy.settings import Settings

    settings = Settings.from_env()
    catalog = load_catalog(settings)
    names = args.names or [n for n, s in catalog.models.items() if not s.builtin and s.sources]
    failed = 0
    for name in names:
        spec = catalog.get(name)
        if spec.builtin:
            continue
        try:
            print(f"{name}: {resolve_model(spec, settings)}")
        except AnimefyError as exc:
            failed += 1
            print(f"{name}: {exc}", file=sys.stderr)
    return 3 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m animefy", description="Turn photos and videos of people into anime."
    )
    parser.add_argument("--version", action="version", version=f"animefy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("image", help="stylize a photo")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="output .png")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    _style_args(p)
    p.set_defaults(func=cmd_image)

    p = sub.add_parser("models", help="list the catalog and what is available locally")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("download", help="fetch models ahead of time (all with a hub source by default)")
    p.add_argument("names", nargs="*")
    p.set_defaults(func=cmd_download)

    try:
        from animefy.app.video_cli import add_video_parser
    except ImportError:
        pass
    else:
        add_video_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AnimefyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
