"""The face pass: every face inside a person is redrawn at its face style's working size.

A whole-frame stylizer sees a face of a full-body picture as a few dozen pixels and draws it
dark and smeared (black eye sockets). Here each face is cut out along a similarity transform
that puts its five landmarks on a template (with a margin that keeps hair and chin), scaled
to the style's working size (`Capabilities.face_size`: 256 for AnimeGAN styles, a fixed-size
model's own size), stylized there, and pasted back through the inverse transform with a soft
oval mask (fixed in crop coordinates, so it follows the landmarks). When the face style
differs from the person's, the redrawn face first takes the body layer's colours (mean and
standard deviation in Lab inside the mask's border ring), so no seam shows.

Which detections count as faces (`keep_faces`): a score threshold; landmarks that make a face
(eyes apart); and with a person matte, eyes and nose on the person (matte > 0.5) and the
eyes near the top of their person (a bow on a dress, below the real face, is dropped). With
no matte (a kept background in the person's own style: nothing is split) the frame is not
matted just for faces: a stricter score threshold guards against false faces, and a false
one only costs a redraw of its patch in the same style.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from animefy.image.faces import Face, align_face, crop_scale, face_matrix, paste_face
from animefy.models.roles import StyleModel

MARGIN = 0.6  # the 5-point template shrunk to 60% of the crop: skull top ~0.15, chin ~0.88 of the crop
MIN_SCORE = 0.7  # YuNet score of a face inside a person matte
MIN_SCORE_NO_MATTE = 0.8  # ... and of a face in a frame that has no matte
MIN_EYE_DISTANCE = 5.0  # px; below this a face is too small to redraw usefully
MIN_EYE_RATIO = 0.12  # eye distance / box width: lower is the back of a head, not a face
ON_PERSON = 0.5  # matte value at the eyes and nose
MAX_EYES_BELOW_TOP = 2.0  # box heights from the top of the person (above the face) to the eyes
# A tracked face (video) is drawn again only when its aligned crop changed since it was last
# drawn: at 64 x 64, more than CHANGED_SHARE of the oval's pixels differ by more than
# CHANGED_LEVELS (blurred, 0..255) from the crop that was drawn. Otherwise the drawn crop is
# pasted again through the face's new transform (it follows the landmarks). Compared with the
# crop that was drawn, not the last one, so slow changes add up and are drawn.
CHANGED_LEVELS = 10.0
CHANGED_SHARE = 0.01


def keep_faces(faces: list[Face], alpha: np.ndarray | None = None, min_score: float | None = None) -> list[Face]:
    """The detections that are faces of people: see the module docstring for the rules."""
    if min_score is None:
        min_score = MIN_SCORE if alpha is not None else MIN_SCORE_NO_MATTE
    kept = []
    for face in faces:
        _, _, bw, _ = face.box
        eyes = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))
        if face.score < min_score or eyes < MIN_EYE_DISTANCE or eyes < MIN_EYE_RATIO * bw:
            continue
        kept.append(face)
    if alpha is None or not kept:
        return kept
    return _inside_heads(kept, alpha)


def _at(alpha: np.ndarray, point: np.ndarray) -> float:
    h, w = alpha.shape
    x, y = int(round(float(point[0]))), int(round(float(point[1])))
    return float(alpha[y, x]) if 0 <= x < w and 0 <= y < h else 0.0


def _inside_heads(faces: list[Face], alpha: np.ndarray) -> list[Face]:
    person = (alpha > ON_PERSON).astype(np.uint8)
    _, labels = cv2.connectedComponents(person, connectivity=8)
    h, w = alpha.shape
    candidates = []
    for face in faces:
        eyes, nose = face.eye_centre, face.landmarks[2]
        if _at(alpha, eyes) <= ON_PERSON or _at(alpha, nose) <= ON_PERSON:
            continue
        ex, ey = int(round(float(eyes[0]))), int(round(float(eyes[1])))
        label = labels[ey, ex]
        x, _, bw, bh = face.box
        x0, x1 = max(0, int(x)), min(w, int(np.ceil(x + bw)))
        rows = np.nonzero((labels[: ey + 1, x0:x1] == label).any(axis=1))[0]
        top = int(rows[0]) if len(rows) else ey
        if ey - top > MAX_EYES_BELOW_TOP * bh:
            continue  # far below the top of its person: a pattern on clothes, not a face
        candidates.append((face, label))
    kept = []
    for face, label in candidates:  # one face per column of a person: the highest one
        x, y, bw, _ = face.box
        if any(
            lab == label and other.eye_centre[1] < face.eye_centre[1] and _overlap(face.box, other.box) > 0.3 * bw
            for other, lab in candidates
            if other is not face
        ):
            continue
        kept.append(face)
    return kept


def _overlap(a: tuple, b: tuple) -> float:
    return max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))


@functools.lru_cache(maxsize=16)
def oval_mask(size: int) -> np.ndarray:
    """Soft oval (float32 0..1) in crop coordinates around forehead, cheeks and chin, with
    some hair; it falls to zero well inside the crop (the crop's border is padding)."""
    mask = np.zeros((size, size), np.float32)
    centre = (size * 0.5, size * 0.51)
    axes = (size * 0.31, size * 0.38)
    cv2.ellipse(mask, (centre, (2 * axes[0], 2 * axes[1]), 0.0), 1.0, -1, cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), size * 0.03)
    mask.flags.writeable = False
    return mask


def match_colour(face: np.ndarray, body: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`face` with the colours of `body` (both crops of one size): each Lab channel's mean and
    standard deviation inside the mask's border ring (where the two are blended) set to the
    body's there, the gain kept within 0.5..2."""
    ring = (mask > 0.05) & (mask < 0.95)
    if ring.sum() < 16:
        return face
    lf = cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)
    lb = cv2.cvtColor(body, cv2.COLOR_RGB2LAB).astype(np.float32)
    for c in range(3):
        f, b = lf[..., c][ring], lb[..., c][ring]
        gain = float(np.clip((b.std() + 1.0) / (f.std() + 1.0), 0.5, 2.0))
        lf[..., c] = (lf[..., c] - f.mean()) * gain + b.mean()
    return cv2.cvtColor(np.clip(lf + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def drawing_scale(stylizer: StyleModel, hw: tuple[int, int]) -> float:
    """How many model pixels a picture pixel gets when `stylizer` draws a whole frame of size
    `hw`: its own resize rule, times the fill-up of a fixed-size model for a small frame."""
    s = stylizer.plan(*hw).scale
    fixed = stylizer.caps.fixed_size
    h, w = hw[0] * s, hw[1] * s
    if fixed and h <= fixed[0] and w <= fixed[1]:
        s *= min(fixed[0] / h, fixed[1] / w)
    return s


@dataclass(frozen=True)
class Plan:
    """One face to redraw: in which frame, through which matrix, at which crop size."""

    frame: int
    face: Face
    matrix: np.ndarray
    size: int


class FacePass:
    """Redraws faces with `stylizer` at its working size.

    `same_style`: the faces' style is the person's, so a face the whole-frame drawing already
    gives at least the working size (its crop side in the picture times `frame_scale`) is
    skipped, and no colour matching is needed. `identity`: the face style is 'original' (the
    photographed face is pasted back at its own resolution, not restyled or recoloured).
    Calls return the canvases with the faces pasted in and how many faces went through the
    model: a tracked face whose crop has not changed since it was drawn is pasted again
    (`carried` counts them; `reset()` between clips)."""

    def __init__(self, stylizer: StyleModel, same_style: bool, identity: bool = False, margin: float = MARGIN) -> None:
        self.stylizer, self.same_style, self.identity, self.margin = stylizer, same_style, identity, margin
        caps = stylizer.caps
        self.size = caps.face_size
        self.fixed = caps.fixed_size is not None
        self.multiple = max(1, caps.size_multiple)
        self.max_size = caps.max_side or 1024
        self.held: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # track -> (input crop at 64 px, drawn crop)
        self.carried = 0  # faces pasted again without a model pass, since the last reset

    def reset(self) -> None:
        """A new clip: forget the drawn faces."""
        self.held.clear()
        self.carried = 0

    @staticmethod
    def _thumb(crop: np.ndarray) -> np.ndarray:
        small = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
        return cv2.GaussianBlur(small, (0, 0), 1.0)

    def _still(self, plan: Plan, thumb: np.ndarray) -> np.ndarray | None:
        """The face drawn before for `plan`'s track, when its crop has not changed since."""
        held = self.held.get(plan.face.track) if plan.face.track is not None else None
        if held is None or held[1].shape[0] != plan.size:
            return None
        diff = np.abs(thumb - held[0]).max(-1)
        oval = oval_mask(64) > 0.5
        return held[1] if (diff[oval] > CHANGED_LEVELS).mean() <= CHANGED_SHARE else None

    def working_size(self, side: float, frame_scale: float) -> int | None:
        """Crop size for a face whose crop is `side` picture pixels; None to skip it."""
        drawn = side * frame_scale  # what the whole-frame drawing gives the face
        if self.identity:
            return int(min(self.max_size, max(16, np.ceil(side))))
        if self.fixed:
            return None if self.same_style and drawn >= self.size else self.size
        if drawn >= self.size:
            if self.same_style:
                return None
            big = -(-int(np.ceil(drawn)) // self.multiple) * self.multiple  # a large face keeps its detail
            return int(min(max(self.size, big), max(self.size, self.max_size)))
        return self.size

    def plan(self, faces: list[list[Face]], frame_scale: float) -> list[Plan]:
        plans = []
        for i, frame_faces in enumerate(faces):
            for face in frame_faces:
                unit = face_matrix(face.landmarks, 1000, self.margin)  # scale per 1000 px of crop
                size = self.working_size(1000.0 / crop_scale(unit), frame_scale)
                if size is not None:
                    plans.append(Plan(i, face, face_matrix(face.landmarks, size, self.margin), size))
        return plans

    def _stylize(self, crops: np.ndarray) -> np.ndarray:
        if self.identity:
            return crops
        return self.stylizer(crops, 1.0)  # exactly at the working size, not the frame rule

    def _draw(self, frames: np.ndarray, group: list[Plan], size: int) -> tuple[list[np.ndarray], int]:
        """The drawn crops of a group of faces of one crop size, and how many went through the
        model (the changed ones, in one call); unchanged tracked faces are taken as drawn before."""
        crops = [align_face(frames[p.frame], p.matrix, size)[0] for p in group]
        track = [p.face.track is not None and not self.identity for p in group]
        thumbs = [self._thumb(c) if t else None for c, t in zip(crops, track, strict=True)]
        drawn = [None if t is None else self._still(p, t) for p, t in zip(group, thumbs, strict=True)]
        new = [i for i, d in enumerate(drawn) if d is None]
        self.carried += len(group) - len(new)
        if new:
            for i, face in zip(new, self._stylize(np.stack([crops[i] for i in new])), strict=True):
                drawn[i] = face
                if thumbs[i] is not None:
                    self.held[group[i].face.track] = (thumbs[i], face)
        return drawn, len(new)

    def __call__(
        self, frames: np.ndarray, canvases: np.ndarray, faces: list[list[Face]], frame_scale: float
    ) -> tuple[np.ndarray, int]:
        plans = self.plan(faces, frame_scale)
        if not plans:
            return canvases, 0
        out = np.array(canvases, copy=True)
        count = 0
        for size in sorted({p.size for p in plans}):
            group = [p for p in plans if p.size == size]
            drawn, new = self._draw(frames, group, size)
            count += new
            mask = oval_mask(size)
            for p, face in zip(group, drawn, strict=True):
                if not self.same_style and not self.identity:
                    face = match_colour(face, align_face(out[p.frame], p.matrix, size)[0], mask)
                out[p.frame] = paste_face(out[p.frame], face, p.matrix, mask)
        return out, count
