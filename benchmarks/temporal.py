"""Temporal supervisor benchmark on the real clips in ../shared/media with a real stylizer
from ../shared/models. Prints tables; not a test.

    python benchmarks/temporal.py [--frames 60] [--style shinkai_v3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import SHARED, load_clip

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--style", default="shinkai_v3")
    args = parser.parse_args()
    if not (SHARED / "models").is_dir():
        print("../shared/models is absent: this benchmark needs the real checkpoints.")
        return 1
    os.environ.setdefault("ANIMEFY_MODELS_DIR", str(SHARED / "models"))
    from synthetic import inject_glitch

    from animefy.models.registry import load
    from animefy.schema import DEFAULT_STRENGTH
    from animefy.settings import Settings
    from animefy.video.flow import FarnebackFlow
    from animefy.video.metrics import detail_retention, flicker_score, mean_psnr, warping_error
    from animefy.video.temporal import TemporalOptions, supervise

    stylizer = load(args.style, "stylize", Settings.from_env())
    rows, glitch_rows = [], []
    for clip_name in ("carphone.mp4", "pedestrians.avi"):
        clip = load_clip(clip_name, args.frames)
        matter = load("rvm", "matte", Settings.from_env())
        masks = [matter(f) for f in clip]
        t0 = time.perf_counter()
        per_frame = [stylizer(f) for f in clip]
        t_model = (time.perf_counter() - t0) / len(clip)
        e_in, e_per = warping_error(clip, clip), warping_error(per_frame, clip)
        # The same error with a flow the supervisor does not use, so that it is not graded by its own flow.
        cross = FarnebackFlow()
        e_per_cross = warping_error(per_frame, clip, cross)
        for strength in sorted({0.0, 0.5, 0.7, 0.9, 1.0, DEFAULT_STRENGTH}):
            opts = TemporalOptions(strength=strength, repair_glitches=False)
            t0 = time.perf_counter()
            sup, _ = supervise(clip, per_frame, masks, opts)
            t_sup = (time.perf_counter() - t0) / len(clip)
            rows.append(
                (
                    clip_name,
                    strength,
                    e_in,
                    e_per,
                    warping_error(sup, clip),
                    mean_psnr(sup, per_frame),
                    detail_retention(sup, per_frame),
                    warping_error(sup, clip, cross) / e_per_cross,
                    flicker_score(per_frame),
                    flicker_score(sup),
                    t_sup,
                    t_model,
                )
            )
        # Glitch benchmark: one-frame local changes inside the person at known frames.
        truth = [k for k in range(3, len(clip) - 2, 6) if (masks[k] > 0.9).sum() > 400]
        glitched = list(per_frame)
        for k in truth:
            glitched[k] = inject_glitch(per_frame[k], masks[k], size=max(10, clip[0].shape[0] // 12), seed=k)
        repaired, report = supervise(clip, glitched, masks, TemporalOptions(deflicker=False))
        found = set(report.rebuilt)
        tp = len(found & set(truth))
        precision = tp / max(len(found), 1)
        recall = tp / max(len(truth), 1)
        err_g = np.mean([np.abs(glitched[k].astype(int) - per_frame[k]).mean() for k in truth])
        err_r = np.mean([np.abs(repaired[k].astype(int) - per_frame[k]).mean() for k in truth])
        glitch_rows.append(
            (
                clip_name,
                len(truth),
                len(found),
                precision,
                recall,
                err_g,
                err_r,
                mean_psnr([repaired[k] for k in truth], [per_frame[k] for k in truth]),
            )
        )

    print(f"\nTemporal supervisor, style {args.style}, first {args.frames} frames (E_warp x1e-4, lower is better)")
    print(
        "| clip | strength | E_warp input | E_warp per-frame | E_warp supervised | ratio | ratio, Farneback flow "
        "| PSNR vs per-frame (dB) | detail kept | flicker per-frame | flicker supervised | supervisor ms/frame "
        "| model ms/frame |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mark = " (default)" if r[1] == DEFAULT_STRENGTH else ""
        print(
            f"| {r[0]} | {r[1]:.1f}{mark} | {r[2] * 1e4:.2f} | {r[3] * 1e4:.2f} | {r[4] * 1e4:.2f} | {r[4] / r[3]:.2f} "
            f"| {r[7]:.2f} | {r[5]:.1f} | {r[6]:.2f} | {r[8]:.2f} | {r[9]:.2f} | {r[10] * 1e3:.1f} | {r[11] * 1e3:.0f} |"
        )
    print("\nGlitch benchmark (one-frame patch inversions inside the person)")
    print(
        "| clip | injected | flagged | precision | recall | MAE glitched vs clean | MAE repaired vs clean | PSNR repaired vs clean (dB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for g in glitch_rows:
        print(f"| {g[0]} | {g[1]} | {g[2]} | {g[3]:.2f} | {g[4]:.2f} | {g[5]:.2f} | {g[6]:.2f} | {g[7]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
