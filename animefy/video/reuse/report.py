"""What reuse may do (`ReuseOptions`) and what it did (`ReuseReport`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from animefy.errors import InputError
from animefy.models.runtime import PassCounter


@dataclass(frozen=True)
class ReuseOptions:
    enabled: bool = True
    max_interval: int = 24  # output frames between keyframes at most (counted in drawings on twos/threes)
    residual: float = 12.0  # input residual (0..255) above which carried content is stale
    cut: float = 0.5  # share of the needed scene with a residual over 2x `residual`: a scene cut
    # Fixed-size scene models: stale share of the needed scene bridged until the next keyframe.
    # Dancer, first 40 frames, no supervisor: 0.04 -> 31 keyframes, 35.2 dB to per-frame; 0.08 ->
    # 22, 33.9 dB; 0.12 -> 14, 32.9 dB (and a visible smudge beside the moving legs).
    fixed_tolerance: float = 0.08
    partial_limit: float = 0.4  # dynamic-size models: above this stale share one full pass is cheaper
    zoom: float = 1.15  # scale change against the keyframe that calls for a new one (magnified plates go soft)
    person_max_carry: int = 4  # resamples a carried person pixel may take before it is redrawn
    person_full: float = 0.6  # stale share of the person above which the whole person layer is redrawn
    analysis_side: int = 480  # long side the motion and residuals are measured at
    margin: float = 0.125  # scene canvas margin around the keyframe, share of each side

    def __post_init__(self) -> None:
        if self.max_interval < 1:
            raise InputError(f"reuse max_interval must be at least 1 (got {self.max_interval}).")


@dataclass
class ReuseReport:
    """What was stylized and what was carried. Frame numbers count output frames from 0."""

    options: ReuseOptions
    hold: int = 1
    drawings: int = 0
    keyframes: list[int] = field(default_factory=list)  # output frames where the scene was redrawn in full
    reasons: Counter = field(default_factory=Counter)  # why: start, cut, interval, zoom, edges, uncovered, moving
    partial: int = 0  # drawings where parts of the scene were redrawn as crops
    scene_drawings: int = 0  # drawings with a scene plate
    scene_area: float = 0.0  # sum over drawings of the share of the frame the scene model redrew
    person_drawings: int = 0  # drawings with a person in a carried person layer
    person_area: float = 0.0  # sum over those of the share of the person redrawn
    person_full: int = 0  # drawings where the whole person layer was redrawn
    faces: int = 0  # faces seen in drawings with a carried person layer
    faces_redrawn: int = 0  # of those, faces the face pass drew (the rest were carried)
    passes: PassCounter = field(default_factory=PassCounter)  # model passes (tiles and crops one each), pixels
    notes: list[str] = field(default_factory=list)  # how fixed-size models run
    trace: list[dict] = field(default_factory=list)  # per drawing: frame, scene decision, stale shares, person

    @property
    def frames(self) -> int:
        return self.drawings * self.hold

    def passes_per_frame(self) -> float:
        return sum(self.passes.values()) / max(self.drawings, 1)

    def megapixels_per_frame(self) -> float:
        """Pixels through the stylizers per drawing, in millions: the work, whatever the pass sizes."""
        return sum(self.passes.pixels.values()) / 1e6 / max(self.drawings, 1)

    def summary(self) -> str:
        if not self.options.enabled:
            parts = ["reuse off"]
        else:
            parts = []
            if self.scene_drawings:
                why = ", ".join(f"{n} {r}" for r, n in self.reasons.most_common())
                carried = self.scene_drawings - len(self.keyframes)
                parts.append(
                    f"background carried on {carried} of {self.scene_drawings} drawings ({len(self.keyframes)} "
                    f"keyframes: {why}; {self.partial} partly redrawn; "
                    f"{self.scene_area / self.scene_drawings:.0%} of the frame redrawn on average)"
                )
            if self.person_drawings:
                parts.append(f"{self.person_area / self.person_drawings:.0%} of the person redrawn on average")
            if self.faces:
                parts.append(f"faces drawn {self.faces_redrawn} of {self.faces} times (the rest carried)")
            if not parts:
                parts.append("nothing to carry")
        d = max(self.drawings, 1)
        per_style = ", ".join(f"{s} {n / d:.2f} ({self.passes.pixels[s] / 1e6 / d:.2f} Mpx)"
                              for s, n in sorted(self.passes.items()))  # fmt: skip
        parts.append(f"model passes per drawing {self.passes_per_frame():.2f}, {self.megapixels_per_frame():.2f} Mpx"
                     + (f" ({per_style})" if per_style else ""))  # fmt: skip
        parts += self.notes
        return "; ".join(parts)

    def as_dict(self) -> dict:
        return {
            "enabled": self.options.enabled,
            "drawings": self.drawings,
            "keyframes": list(self.keyframes),
            "keyframe_reasons": dict(self.reasons),
            "partly_redrawn": self.partial,
            "scene_redrawn_share": self.scene_area / self.scene_drawings if self.scene_drawings else None,
            "person_redrawn_share": self.person_area / self.person_drawings if self.person_drawings else None,
            "faces": self.faces,
            "faces_redrawn": self.faces_redrawn,
            "model_passes": dict(self.passes),
            "model_passes_per_drawing": self.passes_per_frame(),
            "model_megapixels": {s: n / 1e6 for s, n in self.passes.pixels.items()},
            "model_megapixels_per_drawing": self.megapixels_per_frame(),
            "fixed_size_models": list(self.notes),
            "summary": self.summary(),
        }
