"""What happened to a clip, said as a person would: the video report's plain-words summary
(the REST job report's `summary` and the page's status line; the page translates it)."""

from __future__ import annotations

TIMES = {2: "twice", 3: "three times"}


def plain_words(report) -> list[str]:
    """Sentences for a TemporalReport (its reuse report included, when there is one)."""
    o, reuse = report.options, report.reuse
    lines = [f"Done: {report.frames} frames."]
    if o.hold > 1:
        lines.append(f"Drawn as anime is, {report.drawings} drawings each shown {TIMES[o.hold]}.")
    if reuse is not None and not reuse.options.enabled:
        lines.append("Every drawing was painted in full.")
    elif reuse is not None and reuse.scene_drawings:
        keyframes = len(reuse.keyframes)
        if keyframes < reuse.scene_drawings:
            lines.append(f"Background painted {_times(keyframes)} and carried in between.")
        else:
            lines.append("Background painted on every drawing (it kept changing).")
    if reuse is not None and reuse.person_drawings:
        share = reuse.person_area / reuse.person_drawings
        lines.append(f"The person was repainted where they moved ({share:.0%} of them on average).")
    if o.repair_glitches:
        count = len(report.glitch_boxes)
        if count:
            frames = ", ".join(str(i) for i in list(report.glitch_boxes)[:8]) + (" …" if count > 8 else "")
            lines.append(f"{count} {'glitch' if count == 1 else 'glitches'} repaired (frame {frames}).")
        else:
            lines.append("No glitches needed repair.")
    lines.append("Flicker smoothed." if o.deflicker and o.strength > 0 else "Flicker smoothing was off.")
    return lines


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"
