"""DCT-Net (Men et al., SIGGRAPH 2022; ModelScope damo/cv_unet_person-image-cartoon*,
Apache-2.0) as animefy styles, without TensorFlow at inference time.

A DCT-Net style is a folder holding two TF1 frozen graphs and a mask: a head model
(`*_h.pb`, a 288x288 face crop aligned on five points), a body/background model (`*_bg.pb`,
any size padded to 16) and `alpha.jpg` (the soft mask the head is pasted back through). Both
graphs take and return HWC BGR float 0..255 (`input_image:0` -> `output_image:0`). Each graph
is converted once to ONNX (tf2onnx, the optional extra animefy[dctnet]) into the local model
cache and then runs on the same ONNX Runtime layer as every other model. Faces come from the
project's own detector, so heads work for every face, in video frames, and as one region's
style beside another model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import warnings
from pathlib import Path

import cv2
import numpy as np

from animefy.errors import AnimefyError, ModelLoadError
from animefy.image.faces import Face, align_face, face_matrix, face_template, paste_face
from animefy.image.stylize import PlainStyle
from animefy.models.capabilities import capabilities
from animefy.models.catalog import ModelSpec
from animefy.models.runtime import OnnxGenerator, pad_to_multiple
from animefy.settings import Settings

HEAD_SIZE = 288
INPUT, OUTPUT = "input_image:0", "output_image:0"
log = logging.getLogger(__name__)


def head_template(size: int = HEAD_SIZE, ratio: float = 0.75) -> np.ndarray:
    """Where the five points land in the head crop (see `animefy.image.faces.face_template`)."""
    return face_template(size, ratio)


def align_head(rgb: np.ndarray, landmarks: np.ndarray, size: int = HEAD_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(size x size crop, 2x3 matrix image -> crop) by a similarity transform that puts the
    face's five landmarks on the template (robust fit: one bad landmark does not tilt it)."""
    return align_face(rgb, face_matrix(landmarks, size, 0.75, robust=True), size)


paste_head = paste_face  # warp the stylized head back and blend it in through its soft mask


def default_mask(size: int = HEAD_SIZE) -> np.ndarray:
    """A soft elliptical head mask for folders without alpha.jpg."""
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (size // 2, int(size * 0.47)), (int(size * 0.36), int(size * 0.44)), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), size * 0.04)


def find_part(folder: Path, pattern: str) -> Path:
    matches = sorted(folder.rglob(pattern))
    if not matches:
        log.warning("DCT-Net folder %s has no file matching %r", folder, pattern)
        raise ModelLoadError(folder.name, problem=f"(a DCT-Net folder) has no file matching '{pattern}'")
    return matches[0]


def converted_dir(settings: Settings) -> Path:
    path = settings.cache_dir / "converted"
    path.mkdir(parents=True, exist_ok=True)
    return path


class ConversionError(AnimefyError):
    """tf2onnx could not convert a graph (TensorFlow itself is installed)."""


def read_graph_def(pb: Path, model: str | None = None):
    """The frozen graph in `pb`; ModelLoadError (naming the file, not its folder) when the
    file is not a readable graph."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(pb.read_bytes())
    except Exception as exc:
        log.warning("cannot read DCT-Net graph %s: %s", pb, exc)
        raise ModelLoadError(pb.name, model) from exc
    if not graph_def.node:
        log.warning("DCT-Net graph %s has no nodes", pb)
        raise ModelLoadError(pb.name, model)
    return graph_def


def convert_frozen_graph(pb: Path, out_dir: Path, model: str | None = None) -> Path:
    """ONNX file converted from a TF1 frozen graph (cached by the graph's sha256)."""
    digest = hashlib.sha256(pb.read_bytes()).hexdigest()[:16]
    target = out_dir / f"{pb.stem}_{digest}.onnx"
    if target.is_file():
        return target
    try:
        import tensorflow  # noqa: F401 - the converter needs it; checked here for one clear message
        import tf2onnx
    except ImportError as exc:
        raise AnimefyError(
            "DCT-Net styles are converted once from TensorFlow graphs to ONNX, which needs the optional "
            "converter: pip install 'animefy[dctnet]' (tensorflow-cpu and tf2onnx). After the first "
            "conversion they run without it."
        ) from exc
    graph_def = read_graph_def(pb, model)
    tmp = target.with_suffix(".part")
    try:
        tf2onnx.convert.from_graph_def(graph_def, input_names=[INPUT], output_names=[OUTPUT], opset=17,
                                       output_path=str(tmp))  # fmt: skip
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise ConversionError(f"The DCT-Net graph {pb.name} could not be converted to ONNX ({exc}).") from exc
    tmp.replace(target)
    return target


class TfGraphGenerator:
    """Runs a frozen graph with TensorFlow: the fallback for a graph tf2onnx cannot convert.
    Same interface as OnnxGenerator for DCT-Net graphs (uint8 RGB frames in and out)."""

    def __init__(self, pb: Path, multiple: int, model: str | None = None) -> None:
        import tensorflow as tf

        graph_def = read_graph_def(pb, model)
        graph = tf.Graph()
        with graph.as_default():
            try:
                tf.compat.v1.import_graph_def(graph_def, name="")
            except Exception as exc:
                log.warning("cannot import DCT-Net graph %s: %s", pb, exc)
                raise ModelLoadError(pb.name, model) from exc
        self.session = tf.compat.v1.Session(graph=graph)
        self.multiple = multiple

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        batch = frames[None] if frames.ndim == 3 else frames
        h, w = batch.shape[1:3]
        out = []
        for frame in batch:
            x = pad_to_multiple(frame[None, ..., ::-1].astype(np.float32), self.multiple)[0]
            y = self.session.run(OUTPUT, {INPUT: x})[:h, :w, ::-1]
            out.append(np.clip(y + 0.5, 0, 255).astype(np.uint8))
        return out[0] if frames.ndim == 3 else np.stack(out)


def load_graph(spec: ModelSpec, pb: Path, multiple: int, settings: Settings):
    """ONNX Runtime on the converted graph; TensorFlow only if conversion fails (with a warning)."""
    try:
        onnx_path = convert_frozen_graph(pb, converted_dir(settings), spec.name)
        return OnnxGenerator(_part_spec(spec, pb, multiple), onnx_path, settings)
    except ConversionError as exc:
        log.warning("%s Running it with TensorFlow instead (slower).", exc)
        warnings.warn(f"{exc} Running it with TensorFlow instead (slower).", stacklevel=2)
        return TfGraphGenerator(pb, multiple, spec.name)


def _part_spec(spec: ModelSpec, pb: Path, multiple: int) -> ModelSpec:
    """One graph of the family, with the family's catalog conventions (layout, colour order,
    value range) and the part's own size multiple (the head graph takes its aligned crop as is)."""
    return dataclasses.replace(spec, name=f"{spec.name}:{pb.stem}", format="onnx", parts=(), sources=(),
                               size_multiple=multiple)  # fmt: skip


class DctNetStyle(PlainStyle):
    """A DCT-Net family: callable on frames like any stylizer (the body/background graph) and
    able to redraw faces with the head graph (`paste_heads`)."""

    def __init__(self, spec: ModelSpec, folder: Path, settings: Settings, max_short_side: int = 720) -> None:
        parts = dict(spec.parts)
        self.name, self.spec, self.max_short_side = spec.name, spec, max_short_side
        self.caps = capabilities(spec)
        self.body = load_graph(spec, find_part(folder, parts["body"]), spec.size_multiple or 16, settings)
        self.head = load_graph(spec, find_part(folder, parts["head"]), 1, settings)
        masks = sorted(folder.rglob(parts.get("mask", "alpha.jpg")))
        mask = cv2.imread(str(masks[0]), cv2.IMREAD_GRAYSCALE) if masks else None
        self.mask = (
            cv2.resize(mask, (HEAD_SIZE, HEAD_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
            if mask is not None
            else default_mask()
        )

    def draw(self, frames: np.ndarray) -> np.ndarray:
        """Body/background graph, at most `max_short_side` on the short side (as trained)."""
        h, w = frames.shape[-3:-1]
        s = min(1.0, self.max_short_side / min(h, w))
        if s == 1.0:
            return self.body(frames)
        batch = frames[None] if frames.ndim == 3 else frames
        size = (round(w * s), round(h * s))
        small = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in batch])
        out = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in self.body(small)])
        return out[0] if frames.ndim == 3 else out

    def paste_heads(self, source: np.ndarray, canvas: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Redraw each face of `source` with the head graph and paste it onto `canvas`."""
        out = canvas
        for face in faces:
            crop, matrix = align_head(source, face.landmarks)
            out = paste_head(out, self.head(crop), matrix, self.mask)
        return out
