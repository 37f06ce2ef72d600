"""Faces through a clip as tracks: stable ids, steady crops.

YuNet runs every `every` frames; in between each face is carried along by optical flow (the
clip's shared motion from the previous drawing, `animefy.video.flow.Motion`; a similarity
transform fitted to the flow inside the face moves its landmarks). Detections are matched to tracks by box overlap
(IoU), then by centre distance, and pull the flow-carried landmarks half way toward them (all
the way when they disagree by much): the flow carries the motion without lag, the detections
take out its drift, and their own noise averages out. An unmatched detection starts a new
track; a track missing from more than `max_missed` detection rounds in a row, or leaving the
frame or the person, ends. The five landmarks of each track then go through a One Euro filter
before the face pass builds its crop from them, so the pasted face neither jitters (landmark
noise) nor swims (lag behind real motion: the filter opens up as the face moves).

benchmarks/faces.py (crop-centre jitter against per-frame detections): One Euro alone on
per-frame detections 0.52x on carphone; flow between detections every 3rd frame, the half-way
correction and One Euro together 0.29x on carphone and 0.17x on a 30 px face panning, while
following the true motion more closely than the raw detections do.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np

from animefy.image.face_pass import ON_PERSON, keep_faces
from animefy.image.faces import Face, similarity
from animefy.video.clip import Drawing
from animefy.video.flow import Motion

# One Euro parameters, in frames and face sizes (tests/test_faces.py, benchmarks/faces.py): at
# rest the cutoff is 0.04 cycles/frame (a time constant of 4 frames); each face size per frame
# of speed adds 6 cycles/frame, so a face moving 5% of its size a frame gets 0.34 cycles/frame
# and lags less than half a frame of its motion.
MIN_CUTOFF = 0.04
BETA = 6.0
D_CUTOFF = 0.15
DETECTION_GAIN = 0.5  # how far a detection moves a track's flow-carried landmarks
SNAP = 0.15  # ... unless they disagree by more than this (face sizes): then all the way


def _alpha(cutoff: float) -> float:
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau)  # time step: one frame


def landmark_size(landmarks: np.ndarray) -> float:
    """A face's size in pixels from its landmarks (eye distance plus eyes-to-mouth), about
    its box width whatever its roll."""
    eyes = landmarks[:2].mean(axis=0)
    mouth = landmarks[3:5].mean(axis=0)
    return float(np.linalg.norm(landmarks[1] - landmarks[0]) + np.linalg.norm(mouth - eyes))


class OneEuro:
    """One Euro filter (Casiez, Roussel and Vogel, CHI 2012) on a set of points (N, 2) moving
    together, time in frames. The set shares one cutoff, driven by its speed in sizes per
    frame (the mean motion of the points under the similarity transform that best explains
    the new measurement), so the same parameters suit a 20 px and a 200 px face."""

    def __init__(self, min_cutoff: float = MIN_CUTOFF, beta: float = BETA, d_cutoff: float = D_CUTOFF) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None

    def reset(self) -> None:
        self.x = self.dx = None

    def __call__(self, x: np.ndarray, size: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x.astype(np.float32)
        # The set's motion as a whole (a similarity fit: moving, turning, zooming), not each
        # point's own: five points' noise averages out, so a face at rest stays smoothed.
        rigid = cv2.transform(self.x[None].astype(np.float32), similarity(self.x, x))[0] - self.x
        self.dx = self.dx + _alpha(self.d_cutoff) * (rigid - self.dx)
        speed = float(np.linalg.norm(self.dx, axis=-1).mean()) / max(size, 1.0)
        self.x = self.x + _alpha(self.min_cutoff + self.beta * speed) * (x - self.x)
        return self.x.astype(np.float32)


@dataclass
class Track:
    id: int
    landmarks: np.ndarray  # the latest measurement: a detection or the flow's prediction
    box: tuple[float, float, float, float]
    score: float
    smoother: OneEuro = field(default_factory=OneEuro)
    smoothed: np.ndarray | None = None
    missed: int = 0  # detection rounds in a row without a matching detection

    def face(self) -> Face:
        """The track's face with smoothed landmarks (the box moved along with them)."""
        pts = self.landmarks if self.smoothed is None else self.smoothed
        dx, dy = (pts.mean(axis=0) - self.landmarks.mean(axis=0)).tolist()
        x, y, w, h = self.box
        return Face((x + dx, y + dy, w, h), pts.astype(np.float32), self.score, self.id)


def iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """Call with the frames of one clip in order (and the person matte when there is one);
    returns the faces of people in each, with `track` ids and smoothed landmarks. `raw` holds
    the unsmoothed landmarks of the last call by track id (for measurements)."""

    def __init__(
        self,
        detector,
        every: int = 3,
        max_missed: int = 1,
        min_cutoff: float = MIN_CUTOFF,
        beta: float = BETA,
        d_cutoff: float = D_CUTOFF,
        smooth: bool = True,
    ) -> None:
        self.detector, self.every, self.max_missed = detector, max(1, every), max_missed
        self.filter_args = (min_cutoff, beta, d_cutoff)
        self.smooth = smooth
        # On its own it estimates the motion itself, at full resolution; in a clip it gets it
        # from the drawing.
        self.motion = Motion(side=1 << 16, keep=2)
        self.reset()

    def reset(self) -> None:
        self.motion.reset()
        self.tracks: list[Track] = []
        self.frame = 0
        self.prev: tuple[int, int] | None = None  # the last frame's size
        self.raw: dict[int, np.ndarray] = {}
        self._ids = itertools.count()

    def __call__(self, rgb: np.ndarray, alpha: np.ndarray | None = None, drawing: Drawing | None = None) -> list[Face]:
        """The faces of this frame; in a clip `drawing` gives its place and the clip's motion."""
        drawing = drawing or Drawing.start(self.motion, rgb)
        shape = rgb.shape[:2]
        if self.prev is not None and self.prev == shape and drawing.has_previous:
            if self.tracks:
                flow = drawing.from_previous(shape)
                for track in self.tracks:
                    self._propagate(track, flow)
            self.tracks = [t for t in self.tracks if self._still_there(t, shape, alpha)]
        elif self.prev is not None:  # a new size or a new clip: start over
            self.tracks = []
        if self.frame % self.every == 0:
            self._detect(rgb, alpha)
        self.prev, self.frame = shape, self.frame + 1
        self.raw = {t.id: t.landmarks.copy() for t in self.tracks}
        for track in self.tracks:
            if self.smooth:
                track.smoothed = track.smoother(track.landmarks, landmark_size(track.landmarks))
        return [t.face() for t in self.tracks]

    # -- detection and matching ---------------------------------------------------------------
    def _detect(self, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
        found = keep_faces(self.detector(rgb), alpha)
        pairs = sorted(
            ((iou(t.box, f.box), ti, fi) for ti, t in enumerate(self.tracks) for fi, f in enumerate(found)),
            reverse=True,
        )
        used_t, used_f = set(), set()
        for overlap, ti, fi in pairs:
            if overlap < 0.3 or ti in used_t or fi in used_f:
                continue
            self._update(self.tracks[ti], found[fi])
            used_t.add(ti)
            used_f.add(fi)
        for ti, t in enumerate(self.tracks):  # then by centre distance (fast motion, small faces)
            if ti in used_t:
                continue
            best = None
            for fi, f in enumerate(found):
                d = np.linalg.norm(f.landmarks.mean(axis=0) - t.landmarks.mean(axis=0))
                if fi not in used_f and d < 0.5 * max(t.box[2], f.box[2]) and (best is None or d < best[0]):
                    best = (d, fi)
            if best is not None:
                self._update(t, found[best[1]])
                used_t.add(ti)
                used_f.add(best[1])
        for ti, t in enumerate(self.tracks):
            if ti not in used_t:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for fi, f in enumerate(found):
            if fi not in used_f:
                smoother = OneEuro(*self.filter_args)
                self.tracks.append(Track(next(self._ids), f.landmarks.astype(np.float32), f.box, f.score, smoother))

    @staticmethod
    def _update(track: Track, face: Face) -> None:
        """Correct the flow's prediction toward the detection: part of the way (the flow
        carries the motion without lag, the detections pull out its drift and their own
        noise averages out), all the way when they disagree by much."""
        found = face.landmarks.astype(np.float32)
        error = float(np.linalg.norm(found - track.landmarks, axis=-1).mean()) / max(landmark_size(found), 1.0)
        gain = DETECTION_GAIN if error < SNAP else 1.0
        track.landmarks = track.landmarks + gain * (found - track.landmarks)
        track.box = tuple(float(a + gain * (b - a)) for a, b in zip(track.box, face.box, strict=True))
        track.score, track.missed = face.score, 0

    # -- between detections ------------------------------------------------------------------
    @staticmethod
    def _propagate(track: Track, flow: np.ndarray) -> None:
        """Move the track's landmarks and box by the flow (previous frame -> this one, full
        resolution) inside its face box."""
        h, w = flow.shape[:2]
        x, y, bw, bh = track.box
        gx, gy = np.meshgrid(np.linspace(x + 0.15 * bw, x + 0.85 * bw, 7), np.linspace(y + 0.15 * bh, y + 0.85 * bh, 7))
        pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] < h - 1)
        pts = pts[inside]
        if len(pts) < 6:
            return
        ix, iy = pts[:, 0].astype(int), pts[:, 1].astype(int)
        moved = pts + flow[iy, ix]
        m = similarity(pts, moved)
        track.landmarks = cv2.transform(track.landmarks[None].astype(np.float32), m)[0]
        corners = cv2.transform(np.array([[[x, y], [x + bw, y + bh]]], np.float32), m)[0]
        scale = float(np.hypot(m[0, 0], m[1, 0]))
        cx, cy = corners.mean(axis=0)
        track.box = (float(cx - bw * scale / 2), float(cy - bh * scale / 2), bw * scale, bh * scale)

    @staticmethod
    def _still_there(track: Track, shape: tuple[int, int], alpha: np.ndarray | None) -> bool:
        h, w = shape
        ex, ey = track.landmarks[:2].mean(axis=0)
        if not (0 <= ex < w and 0 <= ey < h):
            return False
        return alpha is None or alpha[int(ey), int(ex)] > ON_PERSON
