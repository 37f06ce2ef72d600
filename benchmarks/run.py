"""Benchmark suite on the real checkpoints and media in ../shared. Prints tables; not a test.

    python benchmarks/run.py            # everything (about 45 minutes on 2 CPU cores)
    python benchmarks/run.py --quick    # image tables, short clips only
    python benchmarks/run.py --quick --engine torch --device cpu   # same tables, another engine

Image: per-stage time of the full pipeline vs the same models' bare inference on the same
input. Video: fps of the pipeline (threads, person crop, temporal supervisor included) vs
the naive per-frame baseline (benchmarks/naive.py), with and without "on twos"; peak RSS
for 100 vs all frames; the temporal supervisor's share of the time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
sys.path[:0] = [str(ROOT), str(HERE)]

PERSON, BACKGROUND = "shinkai_v3", "hayao_v3"


def _median_time(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_image(path: Path, label: str, settings) -> dict:
    import cv2

    from animefy.image.io import encode_png, load_image
    from animefy.image.pipeline import Renderer, StyleOptions
    from animefy.models.registry import load
    from animefy.timings import Timings

    rgb = load_image(path).rgb
    person, background = load(PERSON, "stylize", settings), load(BACKGROUND, "stylize", settings)
    matter = load("rvm", "matte", settings)
    bare = {
        "rvm": _median_time(lambda: (matter.reset(), matter(rgb))),
        PERSON: _median_time(lambda: person(rgb)),
        BACKGROUND: _median_time(lambda: background(rgb)),
    }
    renderer = Renderer(StyleOptions(person_style=PERSON, background_style=BACKGROUND), settings)

    def full() -> None:
        renderer.timings = Timings()
        renderer.reset()
        image = load_image(path)
        renderer.timings.add("decode", 0.0)
        frame = renderer(image.rgb)
        encode_png(frame.rgb, frame.alpha)

    total = _median_time(full)
    renderer.timings = Timings()
    with renderer.timings.stage("decode"):
        image = load_image(path)
    frame = renderer(image.rgb)
    with renderer.timings.stage("encode png"):
        encode_png(frame.rgb, frame.alpha)
    del cv2
    return {
        "label": label,
        "size": f"{rgb.shape[1]}x{rgb.shape[0]}",
        "total": total,
        "bare": bare,
        "stages": dict(renderer.timings.seconds),
    }


def video_job(kind: str, src: str, hold: int, env: dict) -> dict:
    """One video run in a fresh process: returns frames, seconds, fps, peak RSS, timings."""
    os.environ.update(env)
    out = Path(tempfile.mkdtemp()) / "out.mp4"
    t = time.perf_counter()
    if kind == "naive":
        from naive import naive_video

        frames, stages = naive_video(Path(src), out, PERSON, BACKGROUND, hold), {}
    else:
        from animefy.image.pipeline import StyleOptions
        from animefy.settings import Settings
        from animefy.video.pipeline import stylize_video
        from animefy.video.temporal import TemporalOptions

        options = StyleOptions(person_style=PERSON, background_style=BACKGROUND)
        result = stylize_video(src, out, options, TemporalOptions(hold=hold), Settings.from_env())
        frames, stages = result.frames, dict(result.timings.seconds)
    seconds = time.perf_counter() - t
    return {
        "kind": kind,
        "hold": hold,
        "frames": frames,
        "seconds": seconds,
        "fps": frames / seconds,
        "rss_mb": peak_rss_mb(),
        "stages": stages,
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it is not inherited from
    the parent across exec, so a spawned worker reports its own peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_video(kind: str, src: Path, hold: int, env: dict) -> dict:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(video_job, kind, str(src), hold, env).result()


def make_720p_clip(path: Path, frames: int) -> Path:
    from animefy.video.io import ffmpeg_exe

    zoom = "zoompan=z='1.2+0.002*on':x='iw/2-(iw/zoom/2)+on*2':y='ih/2-(ih/zoom/2)':d=1:s=1280x720:fps=24"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-loop", "1", "-i", str(SHARED / "media" / "basketball.png"),
                    "-vf", zoom, "-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18",
                    str(path)], check=True)  # fmt: skip
    return path


def first_frames(src: Path, frames: int, path: Path) -> Path:
    from animefy.video.io import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-frames:v", str(frames), "-c:v", "libx264",
                    "-crf", "18", str(path)], check=True)  # fmt: skip
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--video-side", type=int, default=480, help="processing size of the pedestrians clip")
    parser.add_argument("--engine", choices=("auto", "onnxruntime", "torch"), default="auto")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = parser.parse_args()
    if not (SHARED / "models").is_dir():
        print("../shared/models is absent: the benchmarks need the real checkpoints.")
        return 1
    os.environ["ANIMEFY_MODELS_DIR"] = str(SHARED / "models")
    from animefy.models.runtime import engine_info
    from animefy.settings import Settings

    # The engine and device go to this process as a Settings object and to the video workers
    # (fresh processes) as the environment their Settings.from_env() reads.
    engine_env = {"ANIMEFY_ENGINE": args.engine, "ANIMEFY_DEVICE": args.device}
    settings = Settings.from_env({**os.environ, **engine_env})
    tmp = Path(tempfile.mkdtemp())
    import cv2

    wide = cv2.imread(str(SHARED / "media" / "basketball.png"))
    wide = cv2.resize(wide, (1280, 960), interpolation=cv2.INTER_CUBIC)[120:840]
    cv2.imwrite(str(tmp / "basketball_1280x720.png"), wide)

    print(
        f"# animefy benchmarks ({os.cpu_count()} CPU cores), person {PERSON}, background {BACKGROUND},"
        f" engine: {engine_info(settings)}\n"
    )
    print("## Image (median of 3 warm runs, seconds)\n")
    print(
        "| image | total | bare inference (rvm + person + background on the full image) | ratio total/bare | stages |"
    )
    print("|---|---|---|---|---|")
    for path, label in [
        (SHARED / "media" / "astronaut.png", "astronaut"),
        (tmp / "basketball_1280x720.png", "basketball"),
    ]:
        r = bench_image(path, label, settings)
        bare = sum(r["bare"].values())
        stages = ", ".join(f"{k} {v:.3f}" for k, v in r["stages"].items())
        bare_txt = " + ".join(f"{v:.3f}" for v in r["bare"].values()) + f" = {bare:.3f}"
        print(f"| {r['label']} {r['size']} | {r['total']:.3f} | {bare_txt} | {r['total'] / bare:.2f} | {stages} |")

    clips = []
    if args.quick:
        clips.append(
            (
                "pedestrians first 48",
                first_frames(SHARED / "media" / "pedestrians.avi", 48, tmp / "ped48.mp4"),
                {"ANIMEFY_MAX_VIDEO_SIDE": str(args.video_side), **engine_env},
            )
        )
    else:
        clips.append(
            (
                "pedestrians 795",
                SHARED / "media" / "pedestrians.avi",
                {"ANIMEFY_MAX_VIDEO_SIDE": str(args.video_side), **engine_env},
            )
        )
    clips.append(("generated 720p", make_720p_clip(tmp / "clip720.mp4", 24 if not args.quick else 12), engine_env))
    print("\n## Video (frames per second, whole run including decode and encode)\n")
    print("| clip | naive fps | pipeline fps | speed-up | on twos fps | speed-up | supervisor share | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    results = {}
    for label, src, env in clips:
        naive = run_video("naive", src, 1, env)
        pipe = run_video("pipeline", src, 1, env)
        twos = run_video("pipeline", src, 2, env)
        share = pipe["stages"].get("temporal", 0.0) / pipe["seconds"]
        print(
            f"| {label} ({pipe['frames']} frames) | {naive['fps']:.3f} | {pipe['fps']:.3f} | {pipe['fps'] / naive['fps']:.2f}x "
            f"| {twos['fps']:.3f} | {twos['fps'] / naive['fps']:.2f}x | {share:.1%} | {pipe['rss_mb']:.0f} |"
        )
        results[label] = {"naive": naive, "pipeline": pipe, "twos": twos}
    print(
        "\nPipeline stage seconds (pipeline runs; decode/encode run in their own threads, so 'wait for' is time the"
        " inference thread waited for them):\n"
    )
    for label, r in results.items():
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["pipeline"]["stages"].items())
        print(f"- {label}: {stages}")

    if not args.quick:
        hundred = first_frames(SHARED / "media" / "pedestrians.avi", 100, tmp / "ped100.mp4")
        small = run_video("pipeline", hundred, 1, clips[0][2])
        full = results[clips[0][0]]["pipeline"]
        print("\n## Memory (peak RSS of a fresh process running the pipeline)\n")
        print("| frames | peak RSS MB |\n|---|---|")
        print(f"| 100 | {small['rss_mb']:.0f} |\n| {full['frames']} | {full['rss_mb']:.0f} |")
        print(f"\nratio {full['rss_mb'] / small['rss_mb']:.3f}")
    print(
        "\n"
        + json.dumps(
            {
                k: {kk: {x: y for x, y in vv.items() if x != "stages"} for kk, vv in v.items()}
                for k, v in results.items()
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
