"""Stylize only what changed: the background is painted at keyframes and carried with the camera
between them; parts of the person that hold still are carried from frame to frame. Works for
any stylizer; the video pipeline calls `Reuser.render` between split and compose.

Scene plate (the background style over the whole frame, `ScenePlate`)
    A canvas in the keyframe's coordinates, larger than the frame by a margin (for pans),
    holding the painted scene, the input it was painted from (analysis resolution), where it
    is painted (valid) and where the keyframe's person was. Each drawing:
    1. camera model: the reference input is warped by the last homography; DIS flow (FAST)
       from the frame to it gives correspondences on textured background pixels (outside the
       dilated matte and the keyframe's person); a homography is fitted with RANSAC (1 px).
       Below 0.15 px of motion at the corners it is the identity (a still camera copies the
       plate exactly);
    2. dense correction: wherever the dense flow explains the input at least as well as the
       homography, its difference to the homography, smoothed, moves the map too (parallax);
    3. reliability: the input residual of the frame against the reference seen through that
       map, and validity. The frame needs the scene where the person does not cover it (plus
       2 px under its edge, for the blend); needed pixels are *stale* where nothing was
       painted (edges), or the residual exceeds `residual` (12 levels) where no person is
       now or where the keyframe's person was (uncovered; elsewhere: moving);
    4. decision: a full pass (a new keyframe) at the start, on a cut (RANSAC fails, or more
       than half the background has a residual over 24 under the fitted homography), after
       `max_interval` frames, on a zoom beyond 15% (a magnified plate goes soft), or when the
       stale share of the needed scene exceeds `fixed_tolerance` (8%) for fixed-size models,
       whose every pass costs a whole frame, or `partial_limit` (40%) for dynamic-size
       models. Otherwise the plate is carried (one cubic resample from the canvas) and the
       stale parts are redrawn as block-aligned crops with a context margin, tone-matched to
       the plate around them, feathered in and written back into the canvas (dynamic-size
       models), or filled from the input with the plate's colours until the next keyframe
       (fixed-size models; see `Reuser._fill`); filled pixels stay filled until repainted.
    Every output pixel is at most two resamples from a model output (written into the canvas
    once, read once). A keyframe keeps old canvas content where the new frame has none
    (behind the person, margins), and with a still camera also where the old plate still
    holds, so the background does not jump from one painting to the next.
    Under the current person the carried scene takes the person layer: the Laplacian compose
    takes much of a small person's coarse bands from the layer below, and a clean plate
    there washed the walkers of pedestrians out.

Person plate (the person style, `PersonPlate`)
    Chained drawing to drawing along DIS flow (MEDIUM; the person is not rigid). A pixel of
    the person is carried while its residual against the carried input stays low (on the soft
    edge, where the input mixes in what is behind, only a large one counts), it was painted
    (inside a person box) and it has been resampled at most `person_max_carry` times. The
    rest is redrawn as crops around stale blocks; when those would cover 70% of the people's
    boxes, when the model is fixed-size, or when more than `person_full` is stale, the whole
    person layer is redrawn as per frame (and, having moved all over, again next drawing
    without measuring).

Thresholds are in 0..255 input levels on frames blurred with sigma 1 at analysis resolution
(long side `analysis_side`); benchmarks/reuse.py measures the result.
"""

from animefy.video.reuse.patches import apply_colours, block_boxes, fit_colours, match_tone
from animefy.video.reuse.report import ReuseOptions, ReuseReport
from animefy.video.reuse.reuser import Reuser

__all__ = ["ReuseOptions", "ReuseReport", "Reuser", "apply_colours", "block_boxes", "fit_colours", "match_tone"]
