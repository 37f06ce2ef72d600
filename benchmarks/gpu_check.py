"""One script that proves the GPU path the day a GPU is at hand (under 8 minutes on one GPU),
and runs on CPU as a dry run (`--device cpu`, what CI runs with tiny models):

1. parity of every model on the device (fp32, and fp16 on CUDA) against ONNX Runtime on CPU;
2. milliseconds per frame of every model at 3 sizes, on the device (torch engine) and with
   ONNX Runtime on CPU;
3. the whole video pipeline on a 720p clip (made from the shared media), seconds per frame,
   and what of that is the pipeline's own CPU work (total minus the models' share);
4. an emulated ZeroGPU start: models built in this process on the CPU, a forked worker moves
   them to the device and runs one frame (ZeroGPU's own sequence), timed.

It writes everything to a JSON (`--out`); `--update-costs` also merges its rows into
animefy/app/gpu_costs.json, the table the Space's GPU durations come from (rows it measured
replace that engine and device's rows; others, such as CUDA estimates, stay).

    python benchmarks/gpu_check.py --device cuda --out gpu_check.json --update-costs   # on a GPU
    python benchmarks/gpu_check.py --device cpu --update-costs                         # CPU rows
    python benchmarks/gpu_check.py --device cpu --models-dir DIR --clip CLIP --sizes 32x32,32x48,48x64 --frames 4

`--overhead FILE` measures only the fixed cost per call instead (one model at a small size,
`--overhead-size`, default 32x32): ONNX Runtime on CPU against the torch engine in each graph
mode (`--modes`), `--runs` independent runs (fresh sessions each), the engines alternating
call by call inside a run; each run gives the fastest of `--repeats` warm calls, and the
table shows the median and range of the runs.

    python benchmarks/gpu_check.py --device cpu --overhead animeganv3_shinkai_37.onnx --runs 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
sys.path[:0] = [str(ROOT)]

COSTS = ROOT / "animefy" / "app" / "gpu_costs.json"
SIZES = ((256, 256), (512, 512), (720, 1280))  # (h, w)


def catalog_names() -> dict[str, str]:
    from animefy.models.catalog import load_catalog
    from animefy.settings import Settings

    return {s.filename: n for n, s in load_catalog(Settings()).models.items() if s.filename}


def feeds_for(sess, h: int, w: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs for any of our models at (h, w): the image in [0, 1] (NHWC or NCHW, or the
    model's own fixed size), RVM's recurrent states empty and its downsample ratio as the app
    chooses it."""
    feeds = {}
    for i in sess.get_inputs():
        if i.name == "downsample_ratio":
            feeds[i.name] = np.array([min(1.0, 384.0 / max(h, w))], np.float32)
        elif len(i.shape) == 4 and i.name[0] == "r" and i.name[-1] == "i":
            feeds[i.name] = np.zeros((1, 1, 1, 1), np.float32)
        else:
            shape = [d if isinstance(d, int) and d > 0 else None for d in i.shape]
            nhwc = shape[-1] == 3
            hh, ww = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
            hh, ww = hh or -(-h // 32) * 32, ww or -(-w // 32) * 32  # dynamic sizes: multiples of 32, as the app pads
            full = (1, hh, ww, 3) if nhwc else (1, 3, hh, ww)
            feeds[i.name] = rng.uniform(0, 1, full).astype(np.float32)
    return feeds


def image_pixels(feeds: dict[str, np.ndarray]) -> int:
    img = max(feeds.values(), key=lambda a: a.size)
    return int(img.shape[1] * img.shape[2]) if img.shape[-1] == 3 else int(img.shape[2] * img.shape[3])


def best_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first call with a shape builds kernels / the frozen graph
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1000


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def check_models(models: list[Path], args, names: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """Parity rows and cost rows for every model."""
    import onnxruntime as ort

    from animefy.models.engines.torch_engine import TorchSession

    rng = np.random.default_rng(0)
    parity, costs = [], []
    dtypes = ("float32", "float16") if args.device == "cuda" else ("float32",)
    for path in models:
        name = names.get(path.name, path.stem)
        ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        torch_sessions = {d: TorchSession(path, args.device, d, graph_mode=args.graph) for d in dtypes}
        seen = set()
        for h, w in args.sizes:
            feeds = feeds_for(ref, h, w, rng)
            pixels = image_pixels(feeds)
            if pixels in seen:  # a fixed-size model: one size only
                continue
            seen.add(pixels)
            want = ref.run(None, feeds)
            for dtype, sess in torch_sessions.items():
                got = sess.run(None, feeds)
                diff = [np.abs(a.astype(np.float64) - b) for a, b in zip(want, got, strict=True)]
                parity.append({"model": name, "file": path.name, "device": args.device, "dtype": dtype,
                               "size": [h, w], "max": float(max(d.max() for d in diff)),
                               "mean": float(np.mean([d.mean() for d in diff]))})  # fmt: skip
            main = torch_sessions["float16" if args.device == "cuda" else "float32"]

            def run_torch(sess=main, feeds=feeds):
                sess.run(None, feeds)
                sync(args.device)

            stamp = {"measured": True, "source": f"benchmarks/gpu_check.py on {args.machine}", "date": args.date}
            costs.append({"engine": "torch", "device": args.device, "model": name, "pixels": pixels,
                          "ms": best_ms(run_torch, args.repeats), "graph": args.graph, **stamp})  # fmt: skip
            costs.append({"engine": "onnxruntime", "device": "cpu", "model": name, "pixels": pixels,
                          "ms": best_ms(lambda feeds=feeds, ref=ref: ref.run(None, feeds), args.repeats), **stamp})  # fmt: skip
            print(f"{name:<24} {pixels:>8} px  torch {costs[-2]['ms']:8.1f} ms  ort {costs[-1]['ms']:8.1f} ms  "
                  f"max diff {parity[-1]['max']:.2e}", flush=True)  # fmt: skip
    return parity, costs


def make_clip(src: Path, out: Path, frames: int, size: tuple[int, int]) -> Path:
    """`frames` frames of `src` scaled to size (w, h), as an H.264 MP4."""
    import cv2

    from animefy.video.io import VideoWriter, probe, read_frames

    info = probe(src)
    writer = VideoWriter(out, size[0], size[1], info.fps)
    for i, frame in enumerate(read_frames(src, info)):
        if i == frames:
            break
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC))
    return writer.close()


def check_pipeline(clip: Path, models_dir: Path, args, costs: list[dict], tmp: Path) -> dict:
    """The whole video pipeline on `clip`: seconds per frame on this device, and the
    pipeline's own work per megapixel (total minus the models' share from `costs`)."""
    from animefy.app.zerogpu import frame_models, model_seconds
    from animefy.image.pipeline import check_request
    from animefy.schema import VideoRequest
    from animefy.settings import Settings
    from animefy.video.io import probe
    from animefy.video.pipeline import stylize_video

    engine = "torch" if args.device == "cuda" else "onnxruntime"
    settings = Settings(models_dirs=(models_dir,), offline=True, engine=engine, device=args.device,
                        torch_graph=args.graph, cache_dir=tmp / "cache", output_dir=tmp / "out")  # fmt: skip
    request = VideoRequest(**json.loads(args.request))
    filled, _ = check_request(request, settings, False)
    info = probe(clip)
    stylize_video(clip, tmp / "warm.mp4", request, settings=settings)  # loads models, builds kernels
    t = time.perf_counter()
    result = stylize_video(clip, tmp / "timed.mp4", request, settings=settings)
    seconds = time.perf_counter() - t
    per_frame = seconds / result.frames
    table = {"models": costs}
    mp = info.width * info.height / 1e6
    model_s = sum(model_seconds(table, engine, args.device, m, info.width * info.height) for m in frame_models(filled))
    row = {"clip": f"{info.width}x{info.height}", "frames": result.frames, "engine": engine, "device": args.device,
           "seconds_per_frame": per_frame, "models_seconds_per_frame": model_s,
           "pipeline_ms_per_megapixel": max(0.0, (per_frame - model_s) * 1000 / mp),
           "models": frame_models(filled), "timings": result.timings.seconds}  # fmt: skip
    print(f"pipeline {row['clip']}: {per_frame * 1000:.0f} ms/frame, models {model_s * 1000:.0f} ms, "
          f"own work {row['pipeline_ms_per_megapixel']:.0f} ms/MP", flush=True)  # fmt: skip
    return row


def _worker(conn, sessions, device: str, feeds) -> None:
    import torch

    torch.set_num_threads(1)  # the parent's OpenMP pool does not survive a fork (a forked child hangs in it)
    t = time.perf_counter()
    for sess in sessions:
        sess.module.to(device)  # what ZeroGPU's worker does first: weights packed on the CPU go to the GPU
        sess.device = __import__("torch").device(device)
    sessions[0].run(None, feeds)
    sync(device)
    conn.send(time.perf_counter() - t)
    conn.close()


def check_start(models: list[Path], args) -> dict:
    """Emulated ZeroGPU start: build every model on the CPU here (the import-time preload),
    then fork a worker that moves them to the device and runs one frame, as `spaces` does."""
    from animefy.models.engines.torch_engine import TorchSession

    t = time.perf_counter()
    sessions = [TorchSession(p, "cpu", graph_mode=args.graph) for p in models]
    load = time.perf_counter() - t
    h, w = args.sizes[min(1, len(args.sizes) - 1)]
    feeds = feeds_for(sessions[0], h, w, np.random.default_rng(1))
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    t = time.perf_counter()
    proc = ctx.Process(target=_worker, args=(child, sessions, args.device, feeds))
    proc.start()
    first_call = parent.recv() if parent.poll(300) else float("nan")
    proc.join(60)
    total = time.perf_counter() - t
    row = {"device": args.device, "preload_seconds": load, "fork_to_first_frame_seconds": total,
           "move_and_first_frame_seconds": first_call, "models": len(sessions)}  # fmt: skip
    print(f"start: preload {load:.1f} s, fork to first frame {total:.1f} s", flush=True)
    return row


def check_overhead(path: Path, size: tuple[int, int], args) -> list[dict]:
    """Per-call cost of `path` at `size` (h, w): ONNX Runtime on CPU and the torch engine on
    the device in each of args.modes; `args.runs` runs, each with fresh sessions."""
    import statistics

    import onnxruntime as ort
    import torch

    from animefy.models.engines.torch_engine import TorchSession

    opts = ort.SessionOptions()
    if args.threads:  # both engines on the same number of threads
        opts.intra_op_num_threads = args.threads
        torch.set_num_threads(args.threads)

    def ort_session():
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    feeds = feeds_for(ort_session(), *size, np.random.default_rng(0))
    per_run: dict[str, list[float]] = {}
    for _ in range(args.runs):
        calls = {"onnxruntime cpu": ort_session()}
        calls |= {f"torch {args.device} {m}": TorchSession(path, args.device, graph_mode=m) for m in args.modes}
        run = {name: (lambda s=sess: (s.run(None, feeds), sync(args.device))) for name, sess in calls.items()}
        for fn in run.values():
            fn()  # first call: kernels built, the frozen graph made, the program exported
        times: dict[str, list[float]] = {name: [] for name in run}
        for _ in range(args.repeats):
            for name, fn in run.items():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        for name, v in times.items():
            per_run.setdefault(name, []).append(1000 * min(v))
    rows = [{"engine": name, "file": path.name, "size": list(size), "threads": torch.get_num_threads(), "runs_ms": v, "median_ms": statistics.median(v),
             "min_ms": min(v), "max_ms": max(v)} for name, v in per_run.items()]  # fmt: skip
    print(f"\nper-call ms, {path.name} at {size[0]}x{size[1]}: median of {args.runs} runs (fastest of "
          f"{args.repeats} warm calls each) and range; {torch.get_num_threads()} torch threads\n")
    print("| engine | median ms | range ms | / onnxruntime |\n|---|---|---|---|")
    base = rows[0]["median_ms"]
    for r in rows:
        print(f"| {r['engine']} | {r['median_ms']:.1f} | {r['min_ms']:.1f}-{r['max_ms']:.1f} | "
              f"{r['median_ms'] / base:.2f} |", flush=True)  # fmt: skip
    return rows


def update_costs(report: dict, path: Path = COSTS) -> None:
    """Merge measured rows into the duration table: they replace the rows of the same
    engine, device and model."""
    table = json.loads(path.read_text()) if path.exists() else {"models": []}
    new = {(r["engine"], r["device"], r["model"]) for r in report["costs"]}
    table["models"] = [r for r in table["models"] if (r["engine"], r["device"], r["model"]) not in new]
    table["models"] += report["costs"]
    table["models"].sort(key=lambda r: (r["device"], r["engine"], r["model"], r["pixels"]))
    if report.get("pipeline"):
        table["pipeline_ms_per_megapixel"] = round(report["pipeline"]["pipeline_ms_per_megapixel"], 1)
        table["pipeline_source"] = f"measured by benchmarks/gpu_check.py on {report['machine']}, {report['date']}"
    if report.get("start"):
        starts = table.setdefault("call_start_seconds", {})
        starts[report["device"]] = round(report["start"]["fork_to_first_frame_seconds"], 2)
        table.setdefault("call_start_source", {})[report["device"]] = f"measured on {report['machine']}"
    path.write_text(json.dumps(table, indent=1) + "\n")


def parse_sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in s.split("x")) for s in text.split(",")]  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--models-dir", type=Path, default=SHARED / "models")
    p.add_argument("--clip", type=Path, default=None, help="a clip for the pipeline check (default: 720p from shared)")
    p.add_argument("--frames", type=int, default=48, help="frames of the 720p clip made from the shared media")
    p.add_argument("--sizes", type=parse_sizes, default=list(SIZES), help="HxW,HxW,HxW")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--graph", default="frozen", help="torch engine graph mode (eager, frozen, export, aoti)")
    p.add_argument("--request", default='{"person_style": "shinkai_v3", "background_style": "hayao_v3"}',
                   help="the video request for the pipeline check, as JSON")  # fmt: skip
    p.add_argument("--skip", default="", help="comma-separated: parity,pipeline,start")
    p.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    p.add_argument("--update-costs", action="store_true", help="merge the measured rows into gpu_costs.json")
    p.add_argument("--overhead", metavar="FILE", help="only the per-call overhead of this model (in --models-dir)")
    p.add_argument("--overhead-size", type=lambda t: parse_sizes(t)[0], default=(32, 32), help="HxW")
    p.add_argument("--modes", type=lambda t: t.split(","), default=["eager", "frozen", "export"],
                   help="torch graph modes for --overhead")  # fmt: skip
    p.add_argument("--runs", type=int, default=3, help="independent runs for --overhead")
    p.add_argument("--threads", type=int, default=0, help="threads of both engines for --overhead (0: their default)")
    args = p.parse_args(argv)
    import tempfile

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU here: run with --device cpu for the dry run", file=sys.stderr)
        return 2
    gpu_name = torch.cuda.get_device_name(0) if args.device == "cuda" else platform.processor() or "cpu"
    args.machine = f"{gpu_name}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    args.date = datetime.now(UTC).strftime("%Y-%m-%d")
    skip = set(filter(None, args.skip.split(",")))
    models = sorted(args.models_dir.glob("*.onnx"))
    if not models:
        print(f"no .onnx models in {args.models_dir}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report: dict = {"device": args.device, "machine": args.machine, "date": args.date, "graph": args.graph}
    if args.overhead:
        report["overhead"] = check_overhead(args.models_dir / Path(args.overhead).name, args.overhead_size, args)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        return 0
    report["parity"], report["costs"] = check_models(models, args, catalog_names())
    with tempfile.TemporaryDirectory() as tmp:
        if "pipeline" not in skip:
            clip = args.clip or make_clip(SHARED / "media" / "pedestrians.avi", Path(tmp) / "clip720.mp4",
                                          args.frames, (1280, 720))  # fmt: skip
            report["pipeline"] = check_pipeline(clip, args.models_dir, args, report["costs"], Path(tmp))
    if "start" not in skip:
        report["start"] = check_start(models, args)
    report["seconds"] = time.perf_counter() - started
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.update_costs:
        update_costs(report)
    print(f"wrote {args.out} in {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
