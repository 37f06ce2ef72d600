"""Matte quality on moving clips, before (main's code path) and after (refined RVM matte).
Prints a table; not a test. Needs the real checkpoints and media in ../shared.

    python benchmarks/matte.py [--frames 60] [--synthetic-frames 40]

Clips: two synthetic 640x360 ones with ground truth (the cameraman and the astronaut, above
her helmet, cut out of their photos, moving 6 px a frame and breathing in scale over the
panning rocket picture; the cut-out's alpha is RVM's still matte at full resolution made solid
outside a thin band around its edge, its colours inpainted outward from the solid inside, so
no trace of the photo's own backdrop remains), and the first frames of carphone.mp4 and
pedestrians.avi. The truth comes from RVM at ratio 1, so the synthetic rows favour a fine
coarse pass somewhat; the real clips have no truth, only the temporal columns.

Columns: E_warp = warping error of the alpha (x1000; DIS flow of the input, occlusion
masked, Lai et al.); holes = fraction (x1000) of pixels inside the eroded previous-frame
person that drop below 0.5 for exactly one frame; blobs = the same for pixels outside the
dilated previous-frame person that rise above 0.5 for one frame; MAE = mean |alpha - truth|
(x1000, synthetic clips); fringe = mean |composite over magenta - true composite| in the
boundary band (0..255, synthetic clips); ms = matter wall time per frame, cpu ms = its CPU
time (all threads; steadier than wall time on a shared machine). A second table gives the
cost of each stage on one 640x360 frame."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import ROOT, SHARED, load_clip

MAGENTA = np.array([255, 0, 255], np.float32)


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


class OldRvm:
    """main's RvmMatter code path: frame reduced to 640 px, ratio min(1, 384/long side),
    bilinear upsample, no refinement, foreground = the frame."""

    def __init__(self, path: Path, settings) -> None:
        from animefy.models.runtime import session

        self.session = session(path, settings)
        self.reset()

    def reset(self) -> None:
        self.state = [np.zeros((1, 1, 1, 1), np.float32)] * 4
        self.seen = 0

    def _pass(self, src: np.ndarray, ratio: float) -> np.ndarray:
        feeds = {"src": src, "downsample_ratio": np.array([ratio], np.float32)}
        feeds.update({f"r{i + 1}i": s for i, s in enumerate(self.state)})
        pha, *self.state = self.session.run(["pha", "r1o", "r2o", "r3o", "r4o"], feeds)
        self.seen += 1
        return pha[0, 0]

    def matte(self, rgb: np.ndarray):
        from animefy.image.matte import Matte, upsample_alpha, work_size

        h, w = rgb.shape[:2]
        rh, rw = work_size(h, w, 640)
        small = cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA) if (rh, rw) != (h, w) else rgb
        src = np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        ratio = min(1.0, 384.0 / max(rh, rw))
        if self.seen == 0:
            self._pass(src, ratio)
        return Matte(upsample_alpha(self._pass(src, ratio), h, w), rgb)


def still_truth(rgb: np.ndarray, model: Path, settings) -> tuple[np.ndarray, np.ndarray]:
    """A clean ground truth cut out of a still: (uint8 RGB foreground, float32 alpha). The
    alpha is RVM's at full resolution (ratio 1, settled for 3 passes), made solid (0 or 1)
    except in a thin band around its 0.5 contour, so the model's own unsure patches are not
    taken as truth; the foreground's colours in and beyond that band are pushed out from the
    solid inside (inpainting), so no trace of the photo's background is left in them."""
    from animefy.image.matte import RvmMatter

    m = RvmMatter(None, model, settings, max_side=4096, internal=4096, settle=3, refine=False, stabilize=False)
    raw = m(rgb)
    solid = (raw > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    band = (cv2.dilate(solid, kernel) - cv2.erode(solid, kernel)).astype(bool)
    alpha = np.where(band, raw, solid.astype(np.float32)).astype(np.float32)
    inside = cv2.erode(solid, kernel)
    fg = cv2.inpaint(rgb, 1 - inside, 5, cv2.INPAINT_TELEA)
    return fg, alpha


def synthetic_clip(person: np.ndarray, alpha: np.ndarray, frames: int, h: int = 360, w: int = 640, phase: float = 0):
    """The person (uint8 RGB + alpha) moving right and breathing in scale over the rocket
    picture, which pans the other way. Returns (frames, true alphas, true foregrounds)."""
    bg_src = read_rgb(ROOT / "examples" / "rocket_background.jpg")
    bg_src = cv2.resize(bg_src, (int(w * 1.6), int(w * 1.6 * bg_src.shape[0] / bg_src.shape[1])))
    ph, pw = person.shape[:2]
    clip, alphas, fgs = [], [], []
    for t in range(frames):
        x0 = int(bg_src.shape[1] - w - 4 * t) % (bg_src.shape[1] - w)
        y0 = max(0, (bg_src.shape[0] - h) // 2)
        bg = bg_src[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
        s = h * (0.95 + 0.06 * np.sin(t / 5 + phase)) / ph
        cx = w * 0.25 + 6.0 * t
        m = np.array([[s, 0, cx - s * pw / 2], [0, s, h - s * ph + 2 * np.sin(t / 3 + phase)]], np.float32)
        a = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
        f = cv2.warpAffine(person, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        img = f.astype(np.float32) * a[..., None] + bg * (1 - a[..., None])
        clip.append(np.clip(img + 0.5, 0, 255).astype(np.uint8))
        alphas.append(a)
        fgs.append(f)
    return clip, alphas, fgs


def alpha_warp_error(alphas: list[np.ndarray], clip: list[np.ndarray]) -> float:
    from animefy.video.metrics import warping_error

    as_rgb = [np.repeat((a[..., None] * 255 + 0.5).astype(np.uint8), 3, -1) for a in alphas]
    return warping_error(as_rgb, clip) / 3.0


def one_frame_flips(alphas: list[np.ndarray]) -> tuple[float, float]:
    """(holes, blobs): fractions of pixels inside the eroded (outside the dilated)
    previous-frame person that cross 0.5 for exactly one frame."""
    holes, blobs = [], []
    for t in range(1, len(alphas) - 1):
        prev, cur, nxt = alphas[t - 1] > 0.5, alphas[t] > 0.5, alphas[t + 1] > 0.5
        k = max(3, round(max(prev.shape) / 80)) | 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        inside = cv2.erode(prev.astype(np.uint8), kernel).astype(bool)
        outside = ~cv2.dilate(prev.astype(np.uint8), kernel).astype(bool)
        holes.append((inside & ~cur & nxt).sum() / max(1, inside.sum()))
        blobs.append((outside & cur & ~nxt).sum() / max(1, outside.sum()))
    return float(np.mean(holes)), float(np.mean(blobs))


def fringe(mattes, alphas_true, fgs_true) -> tuple[float, float]:
    """(alpha MAE, mean |composite over magenta - truth| in the boundary band)."""
    maes, errs = [], []
    for m, a, f in zip(mattes, alphas_true, fgs_true, strict=True):
        band = ((a > 0.02) & (a < 0.98)).astype(np.uint8)
        band = cv2.dilate(band, np.ones((5, 5), np.uint8)).astype(bool)
        true = f.astype(np.float32) * a[..., None] + MAGENTA * (1 - a[..., None])
        fg = m.foreground.astype(np.float32)
        est = fg * m.alpha[..., None] + MAGENTA * (1 - m.alpha[..., None])
        errs.append(np.abs(est - true).mean(-1)[band].mean())
        maes.append(np.abs(m.alpha - a).mean())
    return float(np.mean(maes)), float(np.mean(errs))


def configs(model: Path, settings):
    from animefy.image.matte import RvmMatter

    def new(**kw):
        return lambda: RvmMatter(None, model, settings, **kw)

    return [
        ("old (main)", lambda: OldRvm(model, settings), False),
        ("+ RVM size/ratio", new(refine=False, stabilize=False), False),
        ("+ guided filter", new(stabilize=False), False),
        ("+ decontaminated fg", new(stabilize=False), True),
        ("+ temporal check (new)", new(), True),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--synthetic-frames", type=int, default=40)
    args = parser.parse_args()
    model = SHARED / "models" / "rvm_mobilenetv3_fp32.onnx"
    if not model.is_file():
        print("../shared/models is absent: this benchmark needs the real checkpoints.")
        return 1
    from animefy.image.matte import Matte
    from animefy.settings import Settings

    settings = Settings.from_env()
    clips = []
    for i, name in enumerate(("cameraman", "astronaut")):
        still = read_rgb(SHARED / "media" / f"{name}.png")
        if name == "astronaut":  # above the helmet she holds (RVM's matte of it is unsure)
            still = np.ascontiguousarray(still[:340])
        fg, alpha = still_truth(still, model, settings)
        frames, alphas, fgs = synthetic_clip(fg, alpha, args.synthetic_frames, phase=i)
        clips.append((f"synthetic {name}", frames, alphas, fgs))
    for name in ("carphone.mp4", "pedestrians.avi"):
        clips.append((name, load_clip(name, args.frames), None, None))

    header = f"{'clip':20} {'matte':24} {'E_warp':>7} {'holes':>6} {'blobs':>6} {'MAE':>6} {'fringe':>6} {'ms':>6} {'cpu ms':>6}"
    print(header)
    print("-" * len(header))
    for clip_name, frames, alphas_true, fgs_true in clips:
        for label, make, with_fg in configs(model, settings):
            matter = make()
            mattes, t0, c0 = [], time.perf_counter(), time.process_time()
            for f in frames:
                if isinstance(matter, OldRvm):
                    mattes.append(matter.matte(f))
                else:
                    m = matter.matte(f, foreground=with_fg)
                    mattes.append(m if with_fg else Matte(m.alpha, f))
            ms = (time.perf_counter() - t0) * 1000 / len(frames)
            cpu = (time.process_time() - c0) * 1000 / len(frames)
            alphas = [m.alpha for m in mattes]
            e = alpha_warp_error(alphas, frames) * 1000
            holes, blobs = one_frame_flips(alphas)
            mae, fr = fringe(mattes, alphas_true, fgs_true) if alphas_true is not None else (float("nan"),) * 2
            print(
                f"{clip_name:20} {label:24} {e:7.2f} {holes * 1000:6.2f} {blobs * 1000:6.2f} "
                f"{mae * 1000:6.1f} {fr:6.2f} {ms:6.0f} {cpu:6.0f}"
            )
    stage_costs(model, settings, clips[0][1])
    return 0


def stage_costs(model: Path, settings, frames: list[np.ndarray]) -> None:
    """CPU ms per stage on 640x360 frames: what the pipeline pays for each call."""
    from animefy.image.matte import RvmMatter
    from animefy.image.refine import AlphaStabilizer, decontaminate, refine_alpha

    matter = RvmMatter(None, model, settings, stabilize=False)
    raw = [matter._model_alpha(f) for f in frames[:2]]

    def cpu(fn, n: int = 8) -> float:
        fn(0)
        c0 = time.process_time()
        for i in range(n):
            fn(i % 2)
        return (time.process_time() - c0) * 1000 / n

    alpha = refine_alpha(frames[0], raw[0])
    stab = AlphaStabilizer()
    rows = [
        ("RVM pass (observe)", cpu(lambda i: matter.observe(frames[i]))),
        ("guided filter", cpu(lambda i: refine_alpha(frames[i], raw[i]))),
        ("decontaminate", cpu(lambda i: decontaminate(frames[i], alpha))),
        ("AlphaStabilizer.push", cpu(lambda i: stab.push(frames[i], alpha))),
        ("matte() in all", cpu(lambda i: RvmMatter.matte(matter, frames[i]))),
    ]
    print()
    print(f"{'stage (640x360)':24} {'cpu ms':>7}")
    for name, ms in rows:
        print(f"{name:24} {ms:7.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
