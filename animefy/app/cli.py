"""Command line: `python -m animefy image|video|models|download ...`, a thin shell over the
library. The style options are generated from the request schema (animefy/schema.py), so
every option there is a flag here. Typed errors become one-line messages and exit codes,
never tracebacks. Building the parser imports nothing heavy (no cv2, no onnxruntime)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from animefy import __version__
from animefy.errors import AnimefyError, InputError
from animefy.schema import ImageRequest, VideoRequest, fields
from animefy.settings import DEVICES, ENGINES, Settings


def add_request_arguments(parser: argparse.ArgumentParser, cls: type[ImageRequest], skip: tuple[str, ...] = ()) -> None:
    """One flag per schema field: choices, default and help come from the schema (fields in
    `skip` get a hand-made flag with the same dest)."""
    for f in fields(cls):
        if f["name"] in skip:
            continue
        f = {**f, "help": f["help"].replace("%", "%%")}  # argparse formats help strings with %
        flag = "--" + f["name"].replace("_", "-")
        names = [f["short"], flag] if f["short"] else [flag]
        shown = f["default"] if f["default"] != "" else "none"
        if f["type"] is bool:
            group = parser.add_mutually_exclusive_group()
            group.add_argument(flag, dest=f["name"], action="store_true", default=None, help=f"{f['help']}")
            group.add_argument("--no-" + flag[2:], dest=f["name"], action="store_false", help=f"(default: {shown})")
            continue
        parser.add_argument(*names, dest=f["name"], default=None, choices=f["choices"], type=f["type"],
                            help=f"{f['help']} (default: {shown})")  # fmt: skip


def request_from_args(args: argparse.Namespace, cls: type[ImageRequest]) -> ImageRequest:
    given = {f["name"]: getattr(args, f["name"]) for f in fields(cls) if getattr(args, f["name"], None) is not None}
    return cls(**given)  # the schema converts and validates ("2" -> 2, choices, ranges)


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    changes = {k: getattr(args, k) for k in ("engine", "device") if getattr(args, k, None)}
    return dataclasses.replace(settings, **changes) if changes else settings


def resolve_output(inp: str | Path, out: str | Path, force: bool, suffixes: tuple[str, ...]) -> Path:
    """The output path, resolved before anything is decided on it (`dir/../x` is normalised
    even when `dir` does not exist, symlinks are followed), refused before any work starts:
    the input itself (even with --force), an existing file without --force, a wrong format,
    or a folder that cannot be written."""
    import os

    out = Path(os.path.realpath(Path(out).expanduser()))
    if out.suffix.lower() not in suffixes:
        raise InputError(f"The output must end in {' or '.join(suffixes)} (got '{out.name}').")
    if out == Path(os.path.realpath(Path(inp).expanduser())):
        raise InputError(f"The output {out} is the input file; choose another name so the original is kept.")
    if out.is_dir():
        raise InputError(f"{out} is a folder; give a file name for the output.")
    if (out.exists() or out.is_symlink()) and not force:
        raise InputError(f"{out} exists; pass --force to overwrite it, or choose another name.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create the folder {out.parent} ({exc.strerror}); choose another output.") from exc
    if not out.parent.is_dir() or not _writable(out.parent):
        raise InputError(f"Cannot write into {out.parent}; choose another output folder.")
    return out


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK)


def cmd_image(args: argparse.Namespace) -> int:
    from animefy.image.io import save_png
    from animefy.image.pipeline import stylize_image

    settings = _settings(args)
    out = resolve_output(args.input, args.output, args.force, (".png",))
    request = request_from_args(args, ImageRequest)
    result = stylize_image(args.input, options=request, settings=settings, picture=args.picture)
    for message in result.messages:
        print(message, file=sys.stderr)
    try:
        save_png(out, result.rgb, result.alpha)
    except OSError as exc:
        raise InputError(f"Could not write {out} ({exc.strerror}); choose another output.") from exc
    print(f"wrote {out} ({result.rgb.shape[1]}x{result.rgb.shape[0]}{', RGBA' if result.alpha is not None else ''})")
    if args.timings:
        print(result.timings.table())
        print(engine_line(settings))
    return 0


def engine_line(settings: Settings) -> str:
    """What ran the models, under --timings: engine, device and precision."""
    from animefy.models.runtime import engine_info

    return f"engine: {engine_info(settings)}"


def cmd_video(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from animefy.app.service import check_video
    from animefy.image.io import load_image
    from animefy.video.io import check_output_format
    from animefy.video.pipeline import stylize_video

    settings = _settings(args)
    out = Path(args.output)
    if args.transparent_format is None and out.suffix.lower() == ".zip":
        args.transparent_format = "png-zip"  # the output name says which transparent format
    address, args.ray = args.ray, (True if args.ray is not None else None)  # --ray [ADDRESS]
    request = request_from_args(args, VideoRequest)
    check_output_format(out, request.transparent, request.transparent_format)
    out = resolve_output(args.input, out, args.force, (out.suffix.lower(),))
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1 (got {args.batch_size}).")
    picture = load_image(args.picture, settings).rgb if args.picture else None
    # limits, models, a first frame: before any work (Ray is checked by stylize_on_ray with the CLI's own
    # address; check_video's Ray check is a server's, which refuses ray without ANIMEFY_RAY_ADDRESS)
    check_video(args.input, request.model_copy(update={"ray": False}), settings, picture is not None)
    bar = tqdm(total=0, unit="frame", desc="animefy", disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total, bar.n = total, done
        bar.refresh()

    try:
        if request.ray:
            from animefy.video.ray_chunks import stylize_on_ray

            result = stylize_on_ray(args.input, out, request, settings, address=address or settings.ray_address,
                                    progress=progress, picture=picture, batch_size=args.batch_size)  # fmt: skip
        else:
            result = stylize_video(args.input, out, request, settings=settings, batch_size=args.batch_size,
                                   progress=progress, picture=picture)  # fmt: skip
    finally:
        bar.close()
    for message in result.messages:
        print(message, file=sys.stderr)
    print(f"wrote {result.path} ({result.frames} frames, {result.fps} fps, {result.size[0]}x{result.size[1]}); "
          f"supervisor: {result.report.summary()}")  # fmt: skip
    if args.timings:
        print(result.timings.table())
        print(engine_line(settings))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from animefy.models.catalog import load_catalog
    from animefy.models.hub import availability

    settings = _settings(args)
    catalog = load_catalog(settings)
    rows = [(n, s.role, availability(s, settings).detail, s.licence) for n, s in catalog.models.items()]
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

    settings = _settings(args)
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


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=ENGINES, help="inference engine (default: ANIMEFY_ENGINE or auto)")
    p.add_argument("--device", choices=DEVICES, help="cpu or cuda (default: ANIMEFY_DEVICE or auto)")


def _media(p: argparse.ArgumentParser, output_help: str) -> None:
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help=output_help)
    p.add_argument("--picture", help="picture to put behind the person, with --background image")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--timings", action="store_true", help="per-stage timings (calls: batches; face pass: faces)")
    _common(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m animefy", description="Turn photos and videos of people into anime."
    )
    parser.add_argument("--version", action="version", version=f"animefy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("image", help="stylize a photo")
    _media(p, "output .png (RGBA with --background transparent)")
    add_request_arguments(p, ImageRequest)
    p.set_defaults(func=cmd_image)

    p = sub.add_parser("video", help="stylize a video clip (keeps fps, frame count and audio)")
    _media(p, "output .mp4 (.webm, or .zip with --transparent-format png-zip, with --background transparent)")
    p.add_argument("--batch-size", type=int, default=4, help="frames per model call (default: 4)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run in chunks on Ray: the cluster at ADDRESS (host:port), or without one a local Ray of "
                        "--ray-workers processes (needs the ray extra)")  # fmt: skip
    add_request_arguments(p, VideoRequest, skip=("ray",))
    p.set_defaults(func=cmd_video)

    p = sub.add_parser("models", help="list the catalog and what is available locally")
    _common(p)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("download", help="fetch models ahead of time (all with a hub source by default)")
    p.add_argument("names", nargs="*")
    _common(p)
    p.set_defaults(func=cmd_download)
    return parser


NEEDED_FOR = {
    "matte": "Treating the person and the background differently needs the person matting model. ",
    "face": "A face style of its own needs the face detector. ",
}


def _why(exc: AnimefyError) -> str:
    """For a missing helper model, why the request needs it (the person did not name it)."""
    from animefy.errors import ModelUnavailableError
    from animefy.models.catalog import load_catalog

    if not isinstance(exc, ModelUnavailableError):
        return ""
    try:
        return NEEDED_FOR.get(load_catalog().get(exc.model).role, "")
    except AnimefyError:
        return ""


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so every writer's abort removes its partial file."""


def _terminate(_signum, _frame) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return args.func(args)
    except AnimefyError as exc:
        print(f"error: {_why(exc)}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; no partial output was left", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated; no partial output was left", file=sys.stderr)
        return 143
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
