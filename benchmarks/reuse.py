"""Reuse benchmark (issue 13): what carrying the background between keyframes (and the still
parts of the person between frames) buys, against the naive per-frame loop, on the real
checkpoints and media in ../shared. Prints tables; not a test.

    python benchmarks/reuse.py [--frames 96] [--clips carphone,pedestrians,dancer] [--runs 3]
    python benchmarks/reuse.py --timings [--frames 24] [--kinds animefy]   # stage table only

`--timings` runs only the given kinds (animefy by default) once per clip, with no quality
metrics, and prints each stage's seconds and calls and the overhead share: everything but the
model calls ("stylize ..." stages and the face pass; the matte counts as overhead, it is not
the picture) as a share of the run's wall time.

Clips (first --frames frames of each, re-encoded with x264 crf 12 so every run decodes the same):
- carphone: 176x144, 29.97 fps, hand-held camera in a car, talking head (40% of the frame),
  landscape moving past the window;
- pedestrians: downscaled from 768x576 to 480x360 (runtime), 10 fps, static camera, small
  walkers (matted as people) and their shadows;
- dancer: generated here (`make_dancer_clip`), 360x640 portrait, 24 fps: the man with the ball
  from basketball.png, cut out with RVM (his box fills 45% of the frame), bending and swaying
  like a dancer (a non-rigid warp), moving left and right, in front of a background made from
  astronaut.png (its shuttle and backdrop side, 3x) that a hand-held camera pans over
  diagonally (about 2 px per frame) with jitter, a slow zoom and a small roll; a ball (cut
  from the same photo) crosses the background on its own, for the independently-moving metric.

Runs per clip, each in a fresh process (peak RSS is that process's VmHWM):
- naive: benchmarks/naive.py, the per-frame loop (matte, person style and background style on
  the whole frame, feathered composite);
- per-frame: animefy with reuse off and the temporal supervisor off: the reference the
  quality numbers compare against (what animefy draws for each frame on its own);
- animefy: the defaults (reuse on, supervisor on, fixed_size_mode auto).

Metrics: E_warp (DIS flow on the input, as benchmarks/temporal.py) as a ratio to the per-frame
output's; PSNR against the per-frame output over whole frames, and inside background regions
that move on their own (input pixels that a camera homography fitted with ORB matches does
not explain, outside the dilated matte); detail retention (Laplacian energy ratio); model
passes per frame (a tile or a crop counts one pass); fps of the whole run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
sys.path[:0] = [str(ROOT), str(HERE)]

PERSON, BACKGROUND = "shinkai_v3", "hayao_v3"


# -- clips -----------------------------------------------------------------------------------------


def _rgb(path: Path) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _encode(frames: list[np.ndarray], path: Path, fps: str) -> Path:
    from animefy.video.io import ffmpeg_exe

    h, w = frames[0].shape[:2]
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", fps, "-i", "-", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(path)]  # fmt: skip
    subprocess.run(cmd, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames), check=True)
    return path


def make_dancer_clip(path: Path, frames: int, size: tuple[int, int] = (360, 640), fps: str = "24") -> Path:
    """The full-body clip described in the module docstring (w, h = `size`)."""
    import cv2

    from animefy.models.registry import load
    from animefy.settings import Settings

    w, h = size
    rng = np.random.default_rng(13)
    # The dancer: the man with the ball in basketball.png (left third), matted by RVM.
    photo = _rgb(SHARED / "media" / "basketball.png")
    matter = load("rvm", "matte", Settings.from_env())
    matter.reset()
    for _ in range(3):  # let the recurrent state settle on the still photo
        alpha = matter(photo)
    left = np.zeros_like(alpha)
    left[:, :300] = alpha[:, :300]  # only him, not the man on the right
    ys, xs = np.nonzero(left > 0.05)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, max(0, xs.min() - 4), xs.max() + 5
    scale = 0.93 * h / (y1 - y0)
    cut = cv2.resize(photo[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    cut_a = cv2.resize(left[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    ph, pw = cut_a.shape
    # A ball from the same photo (above his hands), for something in the background moving on its own.
    ball = cv2.resize(photo[95:160, 110:175], (56, 56), interpolation=cv2.INTER_CUBIC)
    ball_a = np.zeros((56, 56), np.float32)
    cv2.circle(ball_a, (28, 28), 26, 1.0, -1)
    ball_a = cv2.GaussianBlur(ball_a, (0, 0), 1.0)
    # The world: astronaut.png at 3x; the camera stays on its shuttle/backdrop side (x > 1000).
    world = cv2.resize(_rgb(SHARED / "media" / "astronaut.png"), None, fx=3.0, fy=3.0, interpolation=cv2.INTER_CUBIC)
    jitter = np.cumsum(rng.normal(0, 0.6, (frames, 2)), 0)
    jitter -= np.linspace(0, 1, frames)[:, None] * jitter[-1]  # a random walk that comes back
    out = []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        cx, cy = 1190 + 160 * u + jitter[t, 0] * 2, 600 + 100 * u + jitter[t, 1] * 2  # camera centre in the world
        zoom, roll = 1.0 + 0.05 * u, 0.6 * np.sin(2 * np.pi * t / 70)
        cam = cv2.getRotationMatrix2D((cx, cy), roll, zoom)
        cam[:, 2] += (w / 2 - cx, h / 2 - cy)
        bg = cv2.warpAffine(world, cam, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        # The ball rolls across the background (in world coordinates, so the camera moves it too).
        bx, by = 1060 + 3.2 * t, 800 - 40 * abs(np.sin(np.pi * t / 24))
        m = cam.copy()
        m[:, 2] += m[:, :2] @ np.array([bx - 28, by - 28])
        bimg = cv2.warpAffine(ball, m, (w, h), flags=cv2.INTER_LINEAR)
        balpha = cv2.warpAffine(ball_a, m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
        bg = (bg * (1 - balpha) + bimg * balpha).astype(np.float32)
        # The dancer: bends (shear growing with height), sways about his feet, bobs, moves.
        bend = 0.22 * np.sin(2 * np.pi * t / 20)
        yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
        lift = ((ph - yy) / ph) ** 2
        mapx, mapy = (xx - bend * lift * pw).astype(np.float32), yy
        body = cv2.remap(cut, mapx, mapy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)
        body_a = cv2.remap(cut_a, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        px = w / 2 + 60 * np.sin(2 * np.pi * t / 48) + 8 * np.sin(2 * np.pi * t / 9)
        py = h - 10 - 12 * abs(np.sin(np.pi * t / 12))
        pose = cv2.getRotationMatrix2D((pw / 2, ph), 5 * np.sin(2 * np.pi * t / 30), 1.0)
        pose[:, 2] += (px - pw / 2, py - ph)
        fg = cv2.warpAffine(body, pose, (w, h), flags=cv2.INTER_CUBIC)
        fa = cv2.warpAffine(body_a, pose, (w, h), flags=cv2.INTER_LINEAR)[..., None]
        out.append(np.clip(bg * (1 - fa) + fg * fa + 0.5, 0, 255).astype(np.uint8))
    return _encode(out, path, fps)


def prepare(name: str, frames: int, tmp: Path) -> Path:
    from animefy.video.io import ffmpeg_exe

    path = tmp / f"{name}.mp4"
    if name == "dancer":
        return make_dancer_clip(path, frames)
    src = SHARED / "media" / ("carphone.mp4" if name == "carphone" else "pedestrians.avi")
    scale = ["-vf", "scale=480:360"] if name == "pedestrians" else []
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-frames:v", str(frames), *scale,
                    "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(path)], check=True)  # fmt: skip
    return path


# -- runs -------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def job(kind: str, src: str, frames_out: str, env: dict) -> dict:
    """One run in a fresh process; the output frames go to `frames_out` (.npy)."""
    os.environ.update(env)
    from animefy.models.runtime import counting_passes

    captured: list[np.ndarray] = []
    out = Path(tempfile.mkdtemp()) / "out.mp4"
    t = time.perf_counter()
    if kind == "naive":
        import naive

        class Capturing(naive.VideoWriter):
            def write(self, frame: np.ndarray) -> None:
                captured.append(frame.copy())
                super().write(frame)

        naive.VideoWriter = Capturing
        with counting_passes() as passes:
            frames = naive.naive_video(Path(src), out, PERSON, BACKGROUND)
        info = {"passes": dict(passes), "summary": "", "stages": {}, "calls": {}}
    else:
        import animefy.video.pipeline as vp
        from animefy.schema import VideoRequest

        put = vp.Encoder.put

        def capture(self, frame: np.ndarray, count: int) -> None:
            captured.extend([frame.copy()] * count)
            put(self, frame, count)

        vp.Encoder.put = capture
        fields = {"person_style": PERSON, "background_style": BACKGROUND}
        if kind == "per-frame":
            fields.update(reuse=False, strength=0.0, glitch_repair=False)
        result = vp.stylize_video(src, out, VideoRequest(**fields))
        frames = result.frames
        info = {"passes": dict(result.reuse.passes), "summary": result.report.summary(),
                "stages": dict(result.timings.seconds), "calls": dict(result.timings.calls), "keyframes": len(result.reuse.keyframes)}  # fmt: skip
    seconds = time.perf_counter() - t
    np.save(frames_out, np.stack(captured))
    return {"kind": kind, "frames": frames, "seconds": seconds, "fps": frames / seconds, "rss_mb": peak_rss_mb(),
            "passes_per_frame": sum(info["passes"].values()) / frames, **info}  # fmt: skip


def run_job(kind: str, src: Path, frames_out: Path, env: dict) -> dict:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(job, kind, str(src), str(frames_out), env).result()


def overhead_share(run: dict) -> float:
    """Everything but the picture's model calls, as a share of the run's wall time."""
    model = sum(v for k, v in run["stages"].items() if k.startswith("stylize ") or k == "face pass")
    return max(0.0, run["seconds"] - model) / run["seconds"]


def timings_table(clips: list[str], frames: int, kinds: list[str], tmp: Path, env: dict) -> None:
    for name in clips:
        src = prepare(name, frames, tmp)
        for kind in kinds:
            run = run_job(kind, src, tmp / f"{name}_{kind}.npy", env)
            print(f"\n## {name}, {kind}: {run['seconds']:.1f} s for {run['frames']} frames, "
                  f"overhead {overhead_share(run):.0%}, {run['passes_per_frame']:.2f} passes/frame\n")  # fmt: skip
            print("| stage | seconds | calls | share |\n|---|---|---|---|")
            for stage, sec in sorted(run["stages"].items(), key=lambda kv: -kv[1]):
                print(f"| {stage} | {sec:.2f} | {run['calls'].get(stage, 0)} | {sec / run['seconds']:.0%} |")
            if run.get("summary"):
                print(f"\n{run['summary']}")


# -- metrics ----------------------------------------------------------------------------------------


def moving_background(inputs: list[np.ndarray], mattes: list[np.ndarray]) -> list[np.ndarray]:
    """Per frame: background pixels that move on their own. ORB matches outside the dilated
    matte give the camera's homography from the previous frame; where the input still differs
    after it (grey, blurred, > 25 levels) and no person is near, something moves by itself."""
    import cv2

    orb = cv2.ORB_create(1500)
    masks = [np.zeros(inputs[0].shape[:2], bool)]
    for t in range(1, len(inputs)):
        a, b = (cv2.cvtColor(inputs[i], cv2.COLOR_RGB2GRAY) for i in (t - 1, t))
        person = cv2.dilate((mattes[t] > 0.05).astype(np.uint8) | (mattes[t - 1] > 0.05).astype(np.uint8),
                            np.ones((15, 15), np.uint8)).astype(bool)  # fmt: skip
        keep = (~person).astype(np.uint8) * 255
        ka, da = orb.detectAndCompute(a, keep)
        kb, db = orb.detectAndCompute(b, keep)
        hom = None
        if da is not None and db is not None and len(ka) >= 8 and len(kb) >= 8:
            matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
            if len(matches) >= 8:
                pa = np.float32([ka[m.queryIdx].pt for m in matches])
                pb = np.float32([kb[m.trainIdx].pt for m in matches])
                hom, _ = cv2.findHomography(pa, pb, cv2.RANSAC, 2.0)
        hom = np.eye(3) if hom is None else hom
        warped = cv2.warpPerspective(a, hom, (a.shape[1], a.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        inside = cv2.warpPerspective(np.ones_like(a), hom, (a.shape[1], a.shape[0])) > 0
        diff = cv2.GaussianBlur(cv2.absdiff(b, warped), (0, 0), 1.0)
        moving = (diff > 25) & inside & ~person
        moving = cv2.morphologyEx(moving.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        masks.append(cv2.dilate(moving, np.ones((5, 5), np.uint8)).astype(bool))
    return masks


def masked_psnr(outs, refs, masks) -> tuple[float, float]:
    """PSNR over all masked pixels of all frames, and the mean masked share of a frame."""
    se, n = 0.0, 0
    for o, r, m in zip(outs, refs, masks, strict=True):
        if m.sum() < 50:
            continue
        d = o[m].astype(np.float64) - r[m].astype(np.float64)
        se += float((d**2).sum())
        n += d.size
    share = float(np.mean([m.mean() for m in masks]))
    return (10 * np.log10(255.0**2 / (se / n)) if n and se > 0 else float("nan")), share


def fixed_size_table(path: Path) -> list[str]:
    """hayao_v3 (512x512 only) on the first frame of `path`: one letterboxed pass vs tiles."""
    from animefy.models.registry import load
    from animefy.settings import Settings
    from animefy.video.io import probe, read_frames
    from animefy.video.metrics import detail_retention, psnr

    frame = next(iter(read_frames(path, probe(path))))
    gen = load(BACKGROUND, "stylize", Settings.from_env())
    rows, outs = [], {}
    for mode in ("letterbox", "tiles"):
        choice = gen.fixed_choice(*frame.shape[:2], mode=mode)
        gen(frame, fixed_mode=mode)  # warm-up
        t = time.perf_counter()
        outs[mode] = gen(frame, fixed_mode=mode)
        rows.append((mode, choice.passes, time.perf_counter() - t, choice.keeps if mode == "letterbox" else 1.0))
    auto = gen.fixed_choice(*frame.shape[:2]).mode
    lines = [
        "| mode | passes | seconds | resolution kept | detail vs tiles | PSNR vs tiles |",
        "|---|---|---|---|---|---|",
    ]
    for mode, passes, sec, keeps in rows:
        mark = " (auto)" if mode == auto else ""
        lines.append(f"| {mode}{mark} | {passes} | {sec:.2f} | {keeps:.0%} | "
                     f"{detail_retention([outs[mode]], [outs['tiles']]):.2f} | {psnr(outs[mode], outs['tiles']):.1f} |")  # fmt: skip
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--clips", default="carphone,pedestrians,dancer")
    parser.add_argument("--keep", help="folder to keep the clips and output frames in")
    parser.add_argument("--timings", action="store_true", help="stage tables only (no quality metrics)")
    parser.add_argument("--kinds", default="animefy", help="with --timings: naive, per-frame, animefy")
    args = parser.parse_args()
    if not (SHARED / "models").is_dir():
        print("../shared/models is absent: this benchmark needs the real checkpoints.")
        return 1
    os.environ["ANIMEFY_MODELS_DIR"] = str(SHARED / "models")
    env = {"ANIMEFY_MODELS_DIR": str(SHARED / "models")}
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp())
    tmp.mkdir(parents=True, exist_ok=True)
    if args.timings:
        timings_table(args.clips.split(","), args.frames, args.kinds.split(","), tmp, env)
        return 0
    from animefy.models.registry import load
    from animefy.settings import Settings
    from animefy.video.io import probe, read_frames
    from animefy.video.metrics import detail_retention, mean_psnr, warping_error

    print(f"# Reuse benchmark ({os.cpu_count()} CPU cores, shared), person {PERSON}, background {BACKGROUND}, "
          f"first {args.frames} frames\n")  # fmt: skip
    rows, notes = [], []
    for name in args.clips.split(","):
        src = prepare(name, args.frames, tmp)
        runs = {kind: run_job(kind, src, tmp / f"{name}_{kind}.npy", env) for kind in ("naive", "per-frame", "animefy")}
        inputs = [f.copy() for f in read_frames(src, probe(src))]
        outs = {kind: list(np.load(tmp / f"{name}_{kind}.npy")) for kind in runs}
        matter = load("rvm", "matte", Settings.from_env())
        matter.reset()
        mattes = [matter(f) for f in inputs]
        moving = moving_background(inputs, mattes)
        ref = outs["per-frame"]
        e_ref = warping_error(ref, inputs)
        metrics = {}
        for kind in ("naive", "animefy"):
            o = outs[kind]
            mp_psnr, share = masked_psnr(o, ref, moving)
            metrics[kind] = (warping_error(o, inputs) / e_ref, mean_psnr(o, ref), mp_psnr, share,
                             detail_retention(o, ref))  # fmt: skip
        n, a, p = runs["naive"], runs["animefy"], runs["per-frame"]
        h, w = inputs[0].shape[:2]
        person_share = float(np.mean([(m > 0.5).mean() for m in mattes]))
        e, ps, mps, share, det = metrics["animefy"]
        rows.append(
            f"| {name} {w}x{h} ({len(inputs)} fr, person {person_share:.0%}) | {n['fps']:.3f} | {p['fps']:.3f} "
            f"| {a['fps']:.3f} | **{a['fps'] / n['fps']:.2f}x** | {n['passes_per_frame']:.2f} / {p['passes_per_frame']:.2f} "
            f"/ {a['passes_per_frame']:.2f} | {a.get('keyframes', 0)} | {e:.2f} | {ps:.1f} | {mps:.1f} ({share:.1%}) "
            f"| {det:.2f} | {n['rss_mb']:.0f} / {a['rss_mb']:.0f} |"
        )
        en, psn, mpsn, _, detn = metrics["naive"]
        notes.append(f"- {name}: naive loop against the per-frame reference: E_warp {en:.2f}x, PSNR {psn:.1f} dB, "
                     f"moving background {mpsn:.1f} dB, detail {detn:.2f}")  # fmt: skip
        notes.append(f"- {name}: animefy: {a['summary']}")
        stages = ", ".join(f"{k} {v:.1f}" for k, v in a["stages"].items())
        notes.append(f"- {name}: animefy stage seconds: {stages}")
        stages = ", ".join(f"{k} {v:.1f}" for k, v in p["stages"].items())
        notes.append(f"- {name}: per-frame stage seconds: {stages}")
        print(json.dumps({name: {k: {x: y for x, y in v.items() if x not in ("stages", "summary")}
                                 for k, v in runs.items()}}), flush=True)  # fmt: skip
    print("\n## Naive loop vs animefy at defaults (reuse on)\n")
    print("| clip | naive fps | per-frame fps (reuse off, no supervisor) | animefy fps | speed-up vs naive "
          "| model passes/frame naive / per-frame / animefy | keyframes | E_warp vs per-frame | PSNR vs per-frame (dB) "
          "| PSNR in moving background (share of frame) | detail kept | peak RSS MB naive / animefy |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n" + "\n".join(notes))
    if "dancer" in args.clips:
        print(f"\n## Fixed-size model {BACKGROUND} on one dancer frame (360x640): letterbox or tiles\n")
        print("\n".join(fixed_size_table(tmp / "dancer.mp4")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
