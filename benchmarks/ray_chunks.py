"""Chunks on Ray (issue 23): one pass in this process vs the same clip in chunks on a local Ray
with 1 and with 2 workers. Prints tables; not a test.

    python benchmarks/ray_chunks.py [--seconds 30] [--side 480] [--chunk-seconds 5]
    python benchmarks/ray_chunks.py --seams-only --seconds 6 --side 240 --chunk-seconds 1.5 --strips DIR

The clip: the first --seconds of ../shared/media/pedestrians.avi (768x576, 10 fps, a static
camera and walkers, matted as people), scaled to --side pixels wide and re-encoded with x264
crf 12, with a 440 Hz tone as its audio track (so the stitch's audio is exercised too).
The request is the README's benchmark one: shinkai_v3 person, hayao_v3 background (--person,
--background to change).

Per run: wall time (Ray's start-up reported on its own line, not in the runs), speed-up over
1 worker and over the single pass, peak RSS of the driver and of each worker (VmHWM, from
inside the worker), and the seams: E_warp (DIS flow on the input, as benchmarks/temporal.py)
over the frame pairs that straddle a chunk boundary and over all other pairs, for the chunked
output and for the single pass; PSNR of the chunked output to the single pass on the frames
at a seam (the two frames of each straddling pair) and on the rest. With a cross-fade of B
frames at each seam the jump is spread over the B + 1 pairs from the seam on: those pairs are
the "seam zone", measured on their own as well (and the zone's frames for the PSNR).
`--seams-only`: no Ray, the chunks in this process, with the cross-fade and without it
(`--blend 0`): the seam tables only. `--strips DIR`: PNGs of frames seam-1, seam, seam+1 (and
the zone's last), single pass above, chunks below, for looking at them. Ray runs the chunks with
`ONNX Runtime threads = cores / workers` each (what `animefy video --ray` does locally); the
single pass uses all cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
sys.path[:0] = [str(ROOT), str(HERE)]


def make_clip(out: Path, seconds: float, side: int) -> Path:
    from animefy.video.io import ffmpeg_exe

    src = SHARED / "media" / "pedestrians.avi"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-f", "lavfi", "-i",
           f"sine=frequency=440:duration={seconds}", "-t", str(seconds), "-map", "0:v:0", "-map", "1:a:0",
           "-vf", f"scale={side}:-2", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(out)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out


def frames_of(path: Path) -> list[np.ndarray]:
    from animefy.video.io import probe, read_frames

    return [f.copy() for f in read_frames(path, probe(path))]


def pair_ewarp(outputs, inputs, pairs) -> float:
    from animefy.video.metrics import warping_error

    if not pairs:
        return float("nan")
    return float(np.mean([warping_error([outputs[t - 1], outputs[t]], [inputs[t - 1], inputs[t]]) for t in pairs]))


def seam_table(clip: Path, single: Path, chunked: dict[str, Path], starts: list[int], blend: int) -> list[str]:
    """`chunked`: name -> output; the seam zone is the `blend` + 1 pairs from each seam on."""
    from animefy.video.metrics import mean_psnr

    inp, ref = frames_of(clip), frames_of(single)
    outs = {name: frames_of(path) for name, path in chunked.items()}
    n = min(len(inp), len(ref), *(len(o) for o in outs.values()))
    seams = [t for t in starts if 0 < t < n]
    zone = sorted({t + i for t in seams for i in range(blend + 1) if t + i < n})
    inside = [t for t in range(1, n) if t not in zone]
    zone_frames = sorted({f for t in zone for f in (t - 1, t)})
    rest = [f for f in range(n) if f not in zone_frames]
    rows = [
        "| output | E_warp seam pairs | seam zone pairs | other pairs | seam / other | zone / other "
        "| PSNR to single pass, zone frames | same, other frames |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, frames in (("single pass", ref), *outs.items()):
        es, ez, ei = (pair_ewarp(frames, inp, pairs) for pairs in (seams, zone, inside))
        ps = mean_psnr([frames[f] for f in zone_frames], [ref[f] for f in zone_frames]) if frames is not ref else None
        pr = mean_psnr([frames[f] for f in rest], [ref[f] for f in rest]) if frames is not ref else None
        cells = [f"{ps:.1f} dB" if ps else "(reference)", f"{pr:.1f} dB" if pr else ""]
        rows.append(f"| {name} | {es:.5f} | {ez:.5f} | {ei:.5f} | {es / ei:.2f}x | {ez / ei:.2f}x | {cells[0]} "
                    f"| {cells[1]} |")  # fmt: skip
    rows.append(f"({len(seams)} seams at frames {seams}; zone: {len(zone)} pairs (cross-fade of {blend}); "
                f"{len(inside)} other pairs; {n} frames)")  # fmt: skip
    return rows


def write_strips(folder: Path, single: Path, chunked: dict[str, Path], starts: list[int], blend: int) -> None:
    """One PNG per seam: frames seam-1, seam, seam+1 and seam+blend across, the single pass on
    top and each chunked output below it."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rows = {"single": frames_of(single), **{k: frames_of(p) for k, p in chunked.items()}}
    n = min(len(f) for f in rows.values())
    for t in (t for t in starts if 0 < t < n):
        picks = sorted({f for f in (t - 1, t, t + 1, t + blend) if f < n})
        strip = np.vstack([np.hstack([frames[f] for f in picks]) for frames in rows.values()])
        cv2.imwrite(str(folder / f"seam_{t:04d}_frames_{'_'.join(map(str, picks))}.png"), strip[..., ::-1])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--side", type=int, default=480, help="width the clip is scaled to")
    ap.add_argument("--chunk-seconds", type=float, default=None, help="default: the schema's default")
    ap.add_argument("--person", default="shinkai_v3")
    ap.add_argument("--background", default="hayao_v3")
    ap.add_argument("--blend", type=int, default=None, help="frames cross-faded at a seam (default: the library's)")
    ap.add_argument("--seams-only", action="store_true", help="no Ray: chunks in-process, with and without blend")
    ap.add_argument("--strips", type=Path, default=None, help="write PNG strips of the seam frames here")
    args = ap.parse_args()
    os.environ.setdefault("ANIMEFY_MODELS_DIR", str(SHARED / "models"))
    os.environ.setdefault("ANIMEFY_OFFLINE", "1")

    from animefy.schema import VideoRequest
    from animefy.settings import Settings
    from animefy.video.chunks import BLEND_FRAMES, plan_chunks, stylize_in_chunks
    from animefy.video.io import count_frames, probe
    from animefy.video.pipeline import stylize_video
    from animefy.video.ray_chunks import local_threads, ray_session, run_on_ray

    request = VideoRequest(person_style=args.person, background_style=args.background)
    chunk_seconds = args.chunk_seconds or request.chunk_seconds
    blend = BLEND_FRAMES if args.blend is None else args.blend
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="animefy-bench-") as tmp:
        work = Path(tmp)
        clip = make_clip(work / "clip.mp4", args.seconds, args.side)
        info = probe(clip)
        total = count_frames(clip, info)
        plan = plan_chunks(total, float(info.fps), chunk_seconds, request.hold, blend=blend)
        starts, blend = [c.start for c in plan], max(c.head for c in plan)
        print(f"clip: {args.seconds:g} s of pedestrians.avi at {info.width}x{info.height}, {info.fps} fps, {total} "
              f"frames; {args.person} person, {args.background} background; {len(starts)} chunks of "
              f"{chunk_seconds:g} s; {os.cpu_count()} cores")  # fmt: skip

        t = time.perf_counter()
        single = stylize_video(clip, work / "single.mp4", request, settings=settings)
        walls = {"single pass, in-process": time.perf_counter() - t}
        rss = {"single pass, in-process": f"driver {peak_rss_mb():.0f} MB"}
        if args.seams_only:
            outs = {}
            for b in sorted({0, blend}):
                name = f"chunks, cross-fade {b}" if b else "chunks, cut (no cross-fade)"
                t = time.perf_counter()
                outs[name] = stylize_in_chunks(clip, work / f"chunks{b}.mp4", request, settings, chunk_seconds,
                                               blend=b).path  # fmt: skip
                print(f"{name}: {time.perf_counter() - t:.1f} s in-process (single pass {walls['single pass, in-process']:.1f} s)")
            print("\n".join(seam_table(clip, single.path, outs, starts, blend)))
            if args.strips:
                write_strips(args.strips, single.path, outs, starts, blend)
            return
        t = time.perf_counter()
        with ray_session(None, workers=2) as ray:
            print(f"local Ray start-up: {time.perf_counter() - t:.1f} s ({ray.cluster_resources().get('CPU')} CPUs)")
            for workers in (1, 2):
                name = f"Ray, {workers} worker{'s' if workers > 1 else ''}"
                parts = []

                def runner(job, chunks, folder, progress, workers=workers, parts=parts):
                    parts += run_on_ray(job, chunks, folder, progress, workers=workers)
                    return parts

                out = work / f"ray{workers}.mp4"
                t = time.perf_counter()
                result = stylize_in_chunks(clip, out, request, local_threads(settings, workers), chunk_seconds,
                                           runner=runner, blend=blend)  # fmt: skip
                walls[name] = time.perf_counter() - t
                assert result.frames == single.frames, (result.frames, single.frames)
                by_worker = {}
                for p in parts:
                    by_worker[p.worker.split(" (")[0]] = max(by_worker.get(p.worker.split(" (")[0], 0), p.peak_rss_mb)
                rss[name] = ", ".join(f"{w} {m:.0f} MB" for w, m in sorted(by_worker.items()))
        print("\n| run | wall s | s per frame | speed-up vs 1 worker | vs single pass | peak RSS |")
        print("|---|---|---|---|---|---|")
        one, base = walls["Ray, 1 worker"], walls["single pass, in-process"]
        for name, wall in walls.items():
            print(
                f"| {name} | {wall:.1f} | {wall / total:.3f} | {one / wall:.2f}x | {base / wall:.2f}x | {rss[name]} |"
            )
        print()
        print("\n".join(seam_table(clip, single.path, {"chunks (2 workers)": work / "ray2.mp4"}, starts, blend)))
        if args.strips:
            write_strips(args.strips, single.path, {"chunks (2 workers)": work / "ray2.mp4"}, starts, blend)


if __name__ == "__main__":
    main()
