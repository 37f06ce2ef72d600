"""The person plate (see the package docstring)."""

from __future__ import annotations

import cv2
import numpy as np

from animefy.image.pipeline import Renderer
from animefy.image.regions import Regions, person_boxes
from animefy.video.clip import Drawing
from animefy.video.flow import pixel_grid
from animefy.video.reuse.patches import Analysis, clean, grow, mix, paste_patches, residual, upsample
from animefy.video.reuse.report import ReuseOptions, ReuseReport


class PersonPlate:
    """The person layer carried frame to frame along the flow, redrawn where it stops holding."""

    def __init__(self, options: ReuseOptions, fixed: bool) -> None:
        self.o, self.fixed = options, fixed
        self.layer: np.ndarray | None = None  # person layer, full resolution
        self.inp: np.ndarray | None = None  # the input the layer shows, analysis resolution
        self.valid: np.ndarray | None = None  # painted (inside a person box), analysis resolution
        self.gen: np.ndarray | None = None  # resamples since painted
        self.moving = False  # the whole person was redrawn last time because most of it moved
        self.fresh: np.ndarray | None = None  # what the last step painted anew, analysis resolution

    def step(
        self,
        renderer: Renderer,
        style: str,
        drawing: Drawing,
        reg: Regions,
        a: Analysis,
        report: ReuseReport,
    ) -> np.ndarray:
        frame = drawing.frame
        h, w = frame.shape[:2]
        need = a.alpha > 0.03
        if self.layer is None or not need.any() or self.moving or not drawing.has_previous:
            # A person who moved all over last time is redrawn again without measuring; every
            # other drawing, so one who stops is carried again one drawing later.
            self.moving = False
            return self._full(renderer, frame, reg, a, report, need)
        ah, aw = a.shape
        # The person moves on its own and the flow is all there is to carry it: the clip's
        # MEDIUM flow (FAST left 53% of the dancer to redraw where MEDIUM left 38%).
        flow = drawing.to_previous(a.shape)  # this frame -> the last one
        still = (flow**2).sum(-1) < 0.15**2
        flow[still] = 0.0
        gx, gy = pixel_grid(ah, aw)
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        # Cubic, like the layer: bilinear blurs a chained input fast (detail 0.80, 0.60, 0.47 of
        # the original after 1, 4, 8 resamples; cubic keeps 0.98-1.03) and would read as change.
        inp = cv2.remap(self.inp, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        valid = cv2.remap(self.valid, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        gen = cv2.remap(self.gen, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
        gen = np.where(still, gen, np.minimum(gen.astype(np.int16) + 1, 255)).astype(np.uint8)
        resid = residual(a.rgb, inp)
        # On the soft edge the input mixes the person with what is behind, which may move while
        # the person holds still: there only a large residual counts (the edge weighs little).
        moved = (resid > self.o.residual) & ((a.alpha > 0.5) | (resid > 2.5 * self.o.residual))
        stale = clean(need & (moved | (valid < 0.5) | (gen > self.o.person_max_carry)))
        share = stale.sum() / max(need.sum(), 1)
        stale = grow(stale, 2) & need
        if share > self.o.person_full:
            self.moving = True
            return self._full(renderer, frame, reg, a, report, need)
        fx, fy = pixel_grid(h, w)
        if (ah, aw) != (h, w):
            fx = fx + cv2.resize(flow[..., 0], (w, h), interpolation=cv2.INTER_LINEAR) * a.sx
            fy = fy + cv2.resize(flow[..., 1], (w, h), interpolation=cv2.INTER_LINEAR) * a.sy
        else:
            fx, fy = mx, my
        carried = cv2.remap(self.layer, fx, fy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        # Outside what was painted the person layer is the photo, as in Renderer.person_layer.
        painted = upsample(valid, (h, w))
        carried = mix(frame, carried, np.clip((painted - 0.5) * 2, 0, 1))
        written = np.zeros((h, w), np.float32)
        if stale.any():
            context = max(8, min(h, w) // 16)
            people = person_boxes(a.alpha)
            boxes_a = a.stale_boxes(stale)
            # Crops pay their context margin and overlap; when they would cover most of the
            # people anyway, or every crop costs a whole pass (fixed-size models), the people
            # are redrawn as the per-frame layer does: one crop per person.
            crops = sum((y1 - y0 + 2 * context / a.sy) * (x1 - x0 + 2 * context / a.sx) for y0, y1, x0, x1 in boxes_a)
            whole = sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in people)
            if self.fixed or crops > 0.7 * whole:
                return self._full(renderer, frame, reg, a, report, need)
            boxes = a.to_full(boxes_a, h, w)
            reliable = upsample(~stale & (valid > 0.5) & need, (h, w)) > 0.99
            carried, written = paste_patches(renderer, style, frame, carried, reliable, boxes, context)
        carried, written = self._faces(renderer, frame, reg, carried, written, report)
        wa = cv2.resize(written, (aw, ah), interpolation=cv2.INTER_AREA)
        self.layer = carried
        self.inp = inp * (1 - wa[..., None]) + a.rgb * wa[..., None]
        self.valid = np.maximum(valid, (wa > 0.5).astype(np.float32))
        self.gen = np.where(wa > 0.5, 0, gen).astype(np.uint8)
        self.fresh = wa
        report.person_drawings += 1
        report.person_area += float((wa > 0.5)[need].mean()) if need.any() else 0.0
        return carried

    @staticmethod
    def _faces(
        renderer: Renderer,
        frame: np.ndarray,
        reg: Regions,
        carried: np.ndarray,
        written: np.ndarray,
        report: ReuseReport,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The face pass where it is needed: a face is carried with the layer (the layer keeps
        the faces drawn into it) unless part of it was redrawn at frame scale just now. Returns
        the layer and the written weight with the redrawn faces' boxes (grown) added."""
        h, w = frame.shape[:2]
        faces = renderer.faces_to_draw(reg.faces, (h, w))
        if not faces:
            return carried, written
        redraw, boxes = [], []
        for face in faces:
            x, y, fw, fh = face.box
            box = (max(0, int(y - 0.4 * fh)), min(h, int(np.ceil(y + 1.3 * fh))),
                   max(0, int(x - 0.3 * fw)), min(w, int(np.ceil(x + 1.3 * fw))))  # fmt: skip
            if box[1] > box[0] and box[3] > box[2] and written[box[0] : box[1], box[2] : box[3]].mean() > 0.02:
                redraw.append(face)
                boxes.append(box)
        report.faces += len(faces)
        if not redraw:
            return carried, written
        before = renderer.faces_carried
        carried = renderer.face_layer(carried[None], frame[None], [Regions(reg.alpha, redraw)])[0]
        report.faces_redrawn += len(redraw) - (renderer.faces_carried - before)
        written = written.copy()
        for y0, y1, x0, x1 in boxes:
            written[y0:y1, x0:x1] = 1.0
        return carried, written

    def _full(
        self, renderer: Renderer, frame: np.ndarray, reg: Regions, a: Analysis, report: ReuseReport, need: np.ndarray
    ) -> np.ndarray:
        layer = renderer.person_layer(frame[None], [reg], None)[0]
        before = renderer.faces_carried
        layer = renderer.face_layer(layer[None], frame[None], [reg])[0]  # kept with the layer
        drawn = len(renderer.faces_to_draw(reg.faces, frame.shape[:2]))
        report.faces += drawn
        report.faces_redrawn += drawn - (renderer.faces_carried - before)
        self.moving = self.moving and need.any()
        h, w = frame.shape[:2]
        painted = np.zeros((h, w), np.float32)
        for y0, y1, x0, x1 in person_boxes(reg.alpha):
            painted[y0:y1, x0:x1] = 1.0
        self.layer = layer
        self.inp = a.rgb.copy()
        self.valid = cv2.resize(painted, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
        self.gen = np.zeros(a.shape, np.uint8)
        self.fresh = self.valid
        if need.any():
            report.person_drawings += 1
            report.person_area += 1.0
            report.person_full += 1
        return layer
