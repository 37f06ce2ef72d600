"""`python -m animefy video IN -o OUT [options]` with a progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_video(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from animefy.app.cli import _options, _safe_output
    from animefy.settings import Settings
    from animefy.video.pipeline import stylize_video
    from animefy.video.temporal import TemporalOptions

    settings = Settings.from_env()
    out = Path(args.output)
    _safe_output(Path(args.input), out, args.force)
    temporal = TemporalOptions(
        deflicker=not args.no_deflicker,
        strength=args.strength,
        repair_glitches=not args.no_glitch_repair,
        hold=args.hold,
    )
    bar = tqdm(total=0, unit="frame", desc="animefy", disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        result = stylize_video(
            args.input,
            out,
            _options(args, settings),
            temporal,
            settings,
            batch_size=args.batch_size,
            transparent_format=args.transparent_format,
            progress=progress,
        )
    finally:
        bar.close()
    for message in result.messages:
        print(message, file=sys.stderr)
    print(
        f"wrote {result.path} ({result.frames} frames, {result.fps} fps, {result.size[0]}x{result.size[1]}); "
        f"supervisor: {result.report.summary()}"
    )
    if args.timings:
        print(result.timings.table())
    return 0


def add_video_parser(sub) -> None:  # noqa: ANN001
    from animefy.app.cli import _style_args
    from animefy.video.temporal import DEFAULT_STRENGTH

    p = sub.add_parser("video", help="stylize a video clip (keeps fps and audio)")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="output .mp4 (.webm or .zip with --background transparent)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    _style_args(p)
    p.add_argument(
        "--strength", type=float, default=DEFAULT_STRENGTH, help=f"deflicker strength 0..1 (default {DEFAULT_STRENGTH})"
    )
    p.add_argument("--no-deflicker", action="store_true")
    p.add_argument("--no-glitch-repair", action="store_true")
    p.add_argument("--hold", type=int, choices=(1, 2, 3), default=1, help="anime timing: 2 = on twos, 3 = on threes")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--transparent-format", choices=("webm", "png-zip"), default="webm")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_video)
