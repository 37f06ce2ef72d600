"""ONNX Runtime vs the torch engine, side by side in one run, on every model in ../shared/models
at a couple of input sizes: milliseconds per call and the largest output difference. The two
engines' runs alternate, and the fastest of the warm runs is reported, so load from other
processes on a shared machine skews both engines alike and least. Not a test; prints a
Markdown table.

    python benchmarks/engines.py                  # CPU, both engines (a few minutes on 2 cores)
    python benchmarks/engines.py --repeats 9 --models rvm_mobilenetv3_fp32.onnx
    python benchmarks/engines.py --device cuda    # on a GPU: ONNX Runtime (CUDA when
                                                  # onnxruntime-gpu is there) vs torch (fp16
                                                  # where runtime.precision says so)

Sessions come from animefy.models.runtime.session, so each engine runs exactly as the app
runs it (same thread count, same precision choice).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
sys.path[:0] = [str(ROOT)]

ZERO = np.zeros((1, 1, 1, 1), np.float32)


def rvm_feeds(h: int, w: int, rng: np.random.Generator) -> dict:
    # RvmMatter's choice of downsample ratio for a frame of this size
    ratio = min(1.0, 384.0 / max(h, w))
    feeds = {"src": rng.uniform(0, 1, (1, 3, h, w)).astype(np.float32)}
    feeds.update({f"r{i}i": ZERO for i in range(1, 5)})
    feeds["downsample_ratio"] = np.array([ratio], np.float32)
    return feeds


def image(shape: tuple[int, ...], lo: float, hi: float):
    return lambda rng: rng.uniform(lo, hi, shape).astype(np.float32)


# file -> [(label, input name, make input)]; sizes the app really feeds
CASES = {
    "animeganv3_shinkai_37.onnx": [
        ("512x512", "AnimeGANv3_input:0", image((1, 512, 512, 3), -1, 1)),
        ("720x1280", "AnimeGANv3_input:0", image((1, 736, 1280, 3), -1, 1)),
    ],
    "animeganv3_hayao_36_512.onnx": [("512x512 (fixed)", "AnimeGANv3_input", image((1, 512, 512, 3), -1, 1))],
    "animeganv3_tiny_cute.onnx": [
        ("256x256", "AnimeGANv3_input:0", image((1, 256, 256, 3), -1, 1)),
        ("512x512", "AnimeGANv3_input:0", image((1, 512, 512, 3), -1, 1)),
    ],
    "rvm_mobilenetv3_fp32.onnx": [
        ("360x640", None, lambda rng: rvm_feeds(360, 640, rng)),
        ("720x1280", None, lambda rng: rvm_feeds(720, 1280, rng)),
    ],
    "yunet_face_detection.onnx": [
        ("320x320", "input", image((1, 3, 320, 320), 0, 255)),
        ("480x640", "input", image((1, 3, 480, 640), 0, 255)),
    ],
    "mediapipe_blazeface_short_range.onnx": [("128x128 (fixed)", "input", image((1, 128, 128, 3), -1, 1))],
    "mediapipe_face_landmark_468.onnx": [("192x192 (fixed)", "input_1", image((1, 192, 192, 3), 0, 1))],
}


def fastest_ms(calls: dict, repeats: int) -> dict[str, float]:
    """Fastest warm call of each, the engines alternating run by run."""
    for fn in calls.values():
        fn()  # warm-up: the first call with a new shape builds kernels in both engines
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: 1000 * min(v) for name, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="0 = all cores")
    parser.add_argument("--models", nargs="*", help="file names (default: every model in ../shared/models)")
    args = parser.parse_args()
    if not (SHARED / "models").is_dir():
        print("../shared/models is absent: this benchmark needs the real checkpoints.")
        return 1

    from animefy.models import runtime
    from animefy.settings import Settings

    engines = {
        name: Settings(engine=name, device=args.device, threads=args.threads) for name in ("onnxruntime", "torch")
    }
    print(f"# ONNX Runtime vs torch engine ({os.cpu_count()} CPU cores, device {args.device})\n")
    for name, settings in engines.items():
        print(f"- {name}: {runtime.engine_info(settings)}")
    print(f"\nms per call: fastest of {args.repeats} warm runs, engines alternating; max |diff| over all outputs.\n")
    print("| model | input | onnxruntime ms | torch ms | torch / onnxruntime | precision | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    files = args.models or sorted(CASES)
    for file in files:
        path = SHARED / "models" / file
        if not path.exists() or file not in CASES:
            continue
        sessions = {name: runtime.session(path, s) for name, s in engines.items()}
        choice = runtime.choose_engine(engines["torch"])
        dtype = runtime.precision(path, choice, engines["torch"])
        for label, input_name, make in CASES[file]:
            x = make(rng)
            feeds = x if isinstance(x, dict) else {input_name: x}
            outs = {n: s.run(None, feeds) for n, s in sessions.items()}
            ms = fastest_ms({n: lambda s=s, f=feeds: s.run(None, f) for n, s in sessions.items()}, args.repeats)
            diff = max(float(np.abs(a - b).max()) for a, b in zip(outs["onnxruntime"], outs["torch"], strict=True))
            print(
                f"| {file} | {label} | {ms['onnxruntime']:.1f} | {ms['torch']:.1f} "
                f"| {ms['torch'] / ms['onnxruntime']:.2f} | {dtype} | {diff:.2e} |",
                flush=True,
            )
        runtime.clear_sessions()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
