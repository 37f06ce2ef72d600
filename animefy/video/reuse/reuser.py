"""The orchestration: each drawing through the person plate, the scene plate and the painter."""

from __future__ import annotations

import cv2
import numpy as np

from animefy.image.pipeline import Frame, Renderer
from animefy.image.regions import Regions
from animefy.video.clip import Drawing
from animefy.video.flow import Motion
from animefy.video.reuse.patches import Analysis, apply_colours, blur, fit_colours, grow, mix, paste_patches, upsample
from animefy.video.reuse.person import PersonPlate
from animefy.video.reuse.report import ReuseOptions, ReuseReport
from animefy.video.reuse.scene import ScenePlate, SceneStep


class Reuser:
    """Renders a video's drawings one by one, carrying what it can (see the module docstring).
    With reuse off, or nothing to carry, it renders every drawing in full."""

    def __init__(self, renderer: Renderer, options: ReuseOptions | None = None, hold: int = 1) -> None:
        self.renderer, self.o, self.hold = renderer, options or ReuseOptions(), hold
        self.scene_style = renderer.scene_style if self.o.enabled else None
        self.person_style = renderer.person_style if self.o.enabled else None
        # On its own it estimates the motion itself; in a clip it gets it from the drawings.
        self.motion = Motion(side=self.o.analysis_side, keep=2)
        self.reset()

    def reset(self) -> None:
        """A new clip: empty plates, a new report."""
        r = self.renderer
        self.motion.reset()
        self.report = ReuseReport(self.o, self.hold)
        self.scene: ScenePlate | None = None
        self.person: PersonPlate | None = None
        if self.scene_style:
            self.scene = ScenePlate(self.o, r.fixed_size(self.scene_style), r.person_separate, self.hold)
        if self.person_style:
            self.person = PersonPlate(self.o, r.fixed_size(self.person_style))
        self._noted = False
        self._scene_fresh: np.ndarray | None = None  # what the last carried scene painted anew

    def render(self, frames: np.ndarray, regions: list[Regions], drawings: list[Drawing] | None = None) -> list[Frame]:
        """The drawings of a batch; in a clip `drawings` are their contexts (the clip's motion)."""
        if not self._noted:
            self.report.notes = self.renderer.fixed_size_notes(frames.shape[1:3])
            self._noted = True
        if self.scene is None and self.person is None:
            self.report.drawings += len(frames)
            return self.renderer.render(frames, regions)
        drawings = drawings or [Drawing.start(self.motion, frame) for frame in frames]
        return [self._one(d, reg) for d, reg in zip(drawings, regions, strict=True)]

    def _one(self, drawing: Drawing, reg: Regions) -> Frame:
        frame = drawing.frame
        r, report = self.renderer, self.report
        index = report.drawings * self.hold
        report.drawings += 1
        with r.stage("reuse"):
            a = Analysis.of(frame, reg.alpha if r.has_matte else None, self.o.analysis_side)
        trace: dict = {"frame": index}
        report.trace.append(trace)
        person = None
        if self.person is not None:
            before = report.person_area
            person = self.person.step(r, self.person_style, drawing, reg, a, report)
            trace["person"] = round(report.person_area - before, 3)
        scene, step = None, None
        if self.scene is not None:
            with r.stage("reuse"):
                step = self.scene.track(a, drawing.motion)
            need = max(int(self.scene.need(a).sum()), 1)
            trace["stale"] = {k: round(v / need, 4) for k, v in step.causes.items()}
            if step.full is None:
                before = report.scene_area
                scene = self._carry_scene(frame, a, step)
                trace["scene"] = "carried" if report.scene_area == before else "partial"
                trace["redrawn"] = round(report.scene_area - before, 4)
            else:
                report.keyframes.append(index)
                report.reasons[step.full] += 1
                report.scene_area += 1.0
                trace["scene"] = f"full:{step.full}"
                painted = r.background_layer(frame[None])[0][0]
                with r.stage("reuse"):
                    trace["kept"] = round(self.scene.rekey(painted, a, step), 3)
                    scene = self.scene.frame_view(frame.shape[:2])
            report.scene_drawings += 1
        drawing.fresh = self._fresh(a, step)
        if scene is not None and self.scene.person_separate:
            # The compose blends person and background band by band (Laplacian): its coarse
            # bands take much of a small person from the layer below. A carried plate has the
            # background there, not the person painted over (as a freshly drawn scene has), and
            # would wash the person out; under the person the layer below is the person.
            if person is None:
                person = r.person_layer(frame[None], [reg], scene[None])[0]
            weight = np.clip((reg.alpha - 0.5) / 0.4, 0.0, 1.0)
            # On keyframes too, though their painting has the people: with the person layer there
            # only on carried drawings, the dancer's hands changed at every keyframe and the
            # supervisor rebuilt 5 frames as glitches (1 with it on every drawing).
            if step is not None and step.under is not None:
                weight = np.maximum(weight, upsample(step.under, weight.shape) * np.clip(reg.alpha / 0.1, 0, 1))
            scene = mix(scene, person, weight)
        layers = r.layers_from(frame[None], [reg], None if scene is None else scene[None],
                               None if person is None else person[None],
                               faces=self.person is None)  # the person plate draws and carries faces  # fmt: skip
        return r.compose(layers, [reg])[0]

    def _fresh(self, a: Analysis, step: SceneStep | None) -> np.ndarray | None:
        """What this drawing painted anew, at analysis resolution (None: all of it): the
        person's redrawn parts (all of the person when it is not carried), the scene's patches
        and fills, and the matte's soft edge (the layers meet there anew every drawing)."""
        if (step is not None and step.full is not None) or self.renderer.options.background_variation != "none":
            return None
        fresh = np.zeros(a.shape, np.float32)
        if self.person is not None and self.person.fresh is not None:
            fresh = np.maximum(fresh, self.person.fresh)
        elif self.renderer.has_matte:
            fresh = np.maximum(fresh, grow(a.alpha > 0.02, 2).astype(np.float32))
        if step is not None and self._scene_fresh is not None:
            fresh = np.maximum(fresh, self._scene_fresh)
        if self.renderer.has_matte:
            fresh = np.maximum(fresh, grow((a.alpha > 0.02) & (a.alpha < 0.98), 2).astype(np.float32))
        return fresh

    def _carry_scene(self, frame: np.ndarray, a: Analysis, step: SceneStep) -> np.ndarray:
        r, plate = self.renderer, self.scene
        h, w = frame.shape[:2]
        with r.stage("reuse"):
            carried = plate.carry(step, (h, w), a)
        written = None
        if step.stale.any() and not plate.fixed:
            boxes = a.to_full(a.stale_boxes(step.stale), h, w)
            reliable = upsample(~step.invalid & step.need, (h, w)) > 0.99
            carried, written = paste_patches(r, self.scene_style, frame, carried, reliable, boxes,
                                             max(8, min(h, w) // 16))  # fmt: skip
            self.report.partial += 1
            self.report.scene_area += float((written > 0.5).mean())
        with r.stage("reuse"):
            # Whatever is still without a plate (fixed-size models between keyframes; behind the
            # person) is filled in: see _fill.
            hole = step.invalid
            if written is not None:
                hole = hole & ~(cv2.resize(written, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA) > 0.5)
            if hole.any():
                carried = self._fill(frame, carried, a, hole, step)
            plate.update(step, a, carried, written)
            self._scene_fresh = hole.astype(np.float32)
            if written is not None:
                small = cv2.resize(written, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
                self._scene_fresh = np.maximum(self._scene_fresh, small)
        return carried

    def _fill(
        self,
        frame: np.ndarray,
        carried: np.ndarray,
        a: Analysis,
        hole: np.ndarray,
        step: SceneStep,
    ) -> np.ndarray:
        """Holes in the plate until the next keyframe (fixed-size models; behind the person):
        the input with the plate's colours, an affine colour map fitted on the reliable plate
        around the holes; then the remaining tone difference on that ring is spread smoothly
        into the holes (normalised convolution), so no patch shows a step in tone. Works on the
        bounding box of the holes and their ring only. (Tried and dropped: the person layer
        near the person, since the person style's background is another palette, it left
        light halos around the pedestrians.)"""
        h, w = frame.shape[:2]
        reach = max(6, min(a.shape) // 20)
        ys, xs = np.nonzero(grow(hole, reach + 2))
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        fy0, fy1 = int(y0 * a.sy), min(h, int(np.ceil(y1 * a.sy)))
        fx0, fx1 = int(x0 * a.sx), min(w, int(np.ceil(x1 * a.sx)))
        box_a = (slice(y0, y1), slice(x0, x1))
        hole_b, invalid_b = hole[box_a], step.invalid[box_a]
        ring = grow(hole_b, reach) & ~invalid_b
        sub_plate = carried[fy0:fy1, fx0:fx1]
        size_a = (x1 - x0, y1 - y0)
        small_plate = cv2.resize(sub_plate, size_a, interpolation=cv2.INTER_AREA).astype(np.float32)
        colours = fit_colours(a.rgb[box_a], small_plate, ring)
        if colours is None:
            small_all = cv2.resize(carried, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
            colours = fit_colours(a.rgb, small_all, ~step.invalid)
        if colours is None:
            return carried
        proxy = apply_colours(frame[fy0:fy1, fx0:fx1], colours)
        bh, bw = proxy.shape[:2]
        if ring.sum() >= 16:
            small_proxy = cv2.resize(proxy, size_a, interpolation=cv2.INTER_AREA).astype(np.float32)
            sigma = max(3.0, min(a.shape) / 40)
            m = ring.astype(np.float32)
            num = blur((small_plate - small_proxy) * m[..., None], sigma)
            den = blur(m, sigma)[..., None]
            corr = np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0).astype(np.float32)
            proxy = np.clip(proxy + cv2.resize(corr, (bw, bh), interpolation=cv2.INTER_LINEAR) + 0.5, 0, 255)
            proxy = proxy.astype(np.uint8)
        weight = blur(grow(hole_b, 1).astype(np.float32), 1.0)
        out = carried.copy()
        out[fy0:fy1, fx0:fx1] = mix(sub_plate, proxy, np.clip(upsample(weight, (bh, bw)) * 1.5, 0, 1))
        return out
