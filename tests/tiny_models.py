"""Tiny ONNX models made on the fly, with the I/O conventions of the real ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def affine_stylizer(
    path: Path,
    layout: str = "NHWC",
    scale=(1.0, 1.0, 1.0),
    bias=(0.0, 0.0, 0.0),
    fixed: tuple[int, int] | None = None,
    multiple: int = 1,
    batch: object = "N",
) -> Path:
    """y = x * scale + bias per channel (channel = the model's own channel order). With
    `multiple`, a SpaceToDepth/DepthToSpace round trip makes the model fail on other sizes."""
    h, w = fixed if fixed else ("H", "W")
    shape = [batch, h, w, 3] if layout == "NHWC" else [batch, 3, h, w]
    cshape = [1, 1, 1, 3] if layout == "NHWC" else [1, 3, 1, 1]
    inits = [
        numpy_helper.from_array(np.array(scale, np.float32).reshape(cshape), "scale"),
        numpy_helper.from_array(np.array(bias, np.float32).reshape(cshape), "bias"),
    ]
    nodes = [helper.make_node("Mul", ["x", "scale"], ["m"]), helper.make_node("Add", ["m", "bias"], ["a"])]
    last = "a"
    if multiple > 1:
        if layout == "NHWC":
            nodes.append(helper.make_node("Transpose", [last], ["t"], perm=[0, 3, 1, 2]))
            last = "t"
        nodes += [
            helper.make_node("SpaceToDepth", [last], ["s2d"], blocksize=multiple),
            helper.make_node("DepthToSpace", ["s2d"], ["d2s"], blocksize=multiple, mode="DCR"),
        ]
        last = "d2s"
        if layout == "NHWC":
            nodes.append(helper.make_node("Transpose", [last], ["tb"], perm=[0, 2, 3, 1]))
            last = "tb"
    nodes.append(helper.make_node("Identity", [last], ["y"]))
    graph = helper.make_graph(
        nodes,
        "tiny_stylizer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        inits,
    )
    return _save(graph, path)


def red_is_person_rvm(path: Path) -> Path:
    """RVM's interface (src, r1i..r4i, downsample_ratio -> fgr, pha, r1o..r4o) where the
    'person' is wherever the red channel is bright: pha = clip((R - 0.5) * 10, 0, 1)."""
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("src", f, ["B", 3, "H", "W"])]
    inputs += [helper.make_tensor_value_info(f"r{i}i", f, ["B", "C", "h", "w"]) for i in range(1, 5)]
    inputs.append(helper.make_tensor_value_info("downsample_ratio", f, [1]))
    outputs = [
        helper.make_tensor_value_info("fgr", f, ["B", 3, "H", "W"]),
        helper.make_tensor_value_info("pha", f, ["B", 1, "H", "W"]),
    ]
    outputs += [helper.make_tensor_value_info(f"r{i}o", f, ["B", "C", "h", "w"]) for i in range(1, 5)]
    inits = [
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([0.5], np.float32), "half"),
        numpy_helper.from_array(np.array([10.0], np.float32), "ten"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    nodes = [
        helper.make_node("Slice", ["src", "red_start", "red_end", "axis1"], ["red"]),
        helper.make_node("Sub", ["red", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "ten"], ["steep"]),
        helper.make_node("Clip", ["steep", "zero", "one"], ["pha"]),
        helper.make_node("Identity", ["src"], ["fgr"]),
    ]
    inits += [
        numpy_helper.from_array(np.array([0], np.int64), "red_start"),
        numpy_helper.from_array(np.array([1], np.int64), "red_end"),
    ]
    nodes += [helper.make_node("Identity", [f"r{i}i"], [f"r{i}o"]) for i in range(1, 5)]
    graph = helper.make_graph(nodes, "tiny_rvm", inputs, outputs, inits)
    return _save(graph, path)


def write_catalog(path: Path, entries: dict[str, dict]) -> Path:
    """A user catalog TOML with the given entries."""
    lines = []
    for name, fields in entries.items():
        lines.append(f"[models.{name}]")
        for key, value in fields.items():
            lines.append(f"{key} = {_toml(value)}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)
