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


# --- Graphs for the engine tests: one operator (or a small pattern) at a time ---------------


def graph_model(
    path: Path,
    nodes: list,
    inputs: dict[str, list],
    outputs: dict[str, list],
    inits: dict[str, np.ndarray] | None = None,
    opset: int = 17,
) -> Path:
    """A model from nodes: float inputs and outputs of the given shapes (names for dynamic
    axes; None: output shape unknown), initializers from arrays."""
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if all(s is not None for s in outputs.values()):  # the checker wants every output's shape
        onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _w(rng: np.random.Generator, *shape: int, scale: float = 0.3) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def nhwc_generator(path: Path, channels: int = 8, seed: int = 0) -> Path:
    """A miniature AnimeGANv3 as tf2onnx writes it: NHWC [-1, 1] in and out, reflect Pad on the
    NHWC axes 1-2, Transposes around NCHW convolutions, instance norm spelled out as
    GlobalAveragePool/Sub/Mul/Sqrt/Div, LeakyRelu(0.2), a stride-2 conv after an asymmetric
    reflect pad, a x2 Resize (linear, asymmetric) whose size comes from Shape arithmetic, and
    Tanh. Dynamic H, W (even)."""
    rng = np.random.default_rng(seed)
    c = channels
    i64 = np.int64
    inits = {
        "pad_nhwc": np.array([0, 1, 1, 0, 0, 1, 1, 0], i64),
        "pad_tl": np.array([0, 0, 1, 1, 0, 0, 0, 0], i64),
        "w1": _w(rng, c, 3, 3, 3),
        "w2": _w(rng, c, c, 3, 3, scale=0.15),
        "w3": _w(rng, 3, c, 1, 1),
        "b3": _w(rng, 3),
        "eps": np.array(1e-5, np.float32).reshape(1, 1, 1, 1),
        "gamma_shape": np.array([-1, 1, 1, c], i64),
        "perm_idx": np.array([0, 2, 3, 1], i64),
        "hw_start": np.array([1], i64),
        "hw_end": np.array([3], i64),
        "ax0": np.array([0], i64),
        "nc_end": np.array([2], i64),
        "two": np.array([2], np.int32),
    }
    n = helper.make_node
    nodes = [
        n("Pad", ["x", "pad_nhwc"], ["p0"], mode="reflect"),
        n("Transpose", ["p0"], ["t0"], perm=[0, 3, 1, 2]),
        n("Conv", ["t0", "w1"], ["c1"], strides=[1, 1]),
        # instance norm, tf2onnx style, with one NHWC detour
        n("GlobalAveragePool", ["c1"], ["mean"]),
        n("Sub", ["c1", "mean"], ["d"]),
        n("Mul", ["d", "d"], ["d2"]),
        n("GlobalAveragePool", ["d2"], ["var"]),
        n("Add", ["var", "eps"], ["ve"]),
        n("Sqrt", ["ve"], ["sd"]),
        n("Reshape", ["sd", "gamma_shape"], ["sd_nhwc"]),
        n("Transpose", ["d"], ["d_nhwc"], perm=[0, 2, 3, 1]),
        n("Div", ["d_nhwc", "sd_nhwc"], ["norm_nhwc"]),
        n("Transpose", ["norm_nhwc"], ["norm"], perm=[0, 3, 1, 2]),
        n("LeakyRelu", ["norm"], ["a1"], alpha=0.2),
        n("Pad", ["a1", "pad_tl"], ["p1"], mode="reflect"),
        n("Conv", ["p1", "w2"], ["c2"], strides=[2, 2]),
        n("LeakyRelu", ["c2"], ["a2"], alpha=0.2),
        # resize back to x2 with the size computed from the tensor's own shape
        n("Shape", ["a2"], ["shp"]),
        n("Gather", ["shp", "perm_idx"], ["shp_nhwc"]),
        n("Cast", ["shp_nhwc"], ["shp32"], to=TensorProto.INT32),
        n("Slice", ["shp32", "hw_start", "hw_end", "ax0"], ["hw"]),
        n("Mul", ["hw", "two"], ["hw2"]),
        n("Cast", ["hw2"], ["hw64"], to=TensorProto.INT64),
        n("Slice", ["shp", "ax0", "nc_end"], ["nc"]),
        n("Concat", ["nc", "hw64"], ["size"], axis=0),
        n("Resize", ["a2", "", "", "size"], ["up"], mode="linear", coordinate_transformation_mode="asymmetric"),
        n("Add", ["up", "a1"], ["skip"]),
        n("Conv", ["skip", "w3", "b3"], ["c3"]),
        n("Tanh", ["c3"], ["th"]),
        n("Transpose", ["th"], ["y"], perm=[0, 2, 3, 1]),
    ]
    return graph_model(path, nodes, {"x": ["N", "H", "W", 3]}, {"y": ["N", "H", "W", 3]}, inits, opset=13)


def recurrent_matter(path: Path, seed: int = 0) -> Path:
    """RVM's interface and habits: src NCHW [0, 1], four recurrent states that start as
    [1, 1, 1, 1] zeros and are Expanded to their real shape (state carried from call to call),
    downsample_ratio scaling a pytorch_half_pixel Resize, and fgr/pha back at the input size."""
    rng = np.random.default_rng(seed)
    i64 = np.int64
    n = helper.make_node
    inits = {
        "one_one": np.array([1.0, 1.0], np.float32),
        "w": _w(rng, 4, 3, 3, 3),
        "half": np.array(0.5, np.float32),
        "lo": np.array(0.0, np.float32),
        "hi": np.array(1.0, np.float32),
        "hw_from": np.array([2], i64),
        "hw_to": np.array([4], i64),
        "ax0": np.array([0], i64),
        "nc_to": np.array([2], i64),
        "split_sizes": np.array([3, 1], i64),
    }
    nodes = [
        n("Concat", ["one_one", "downsample_ratio", "downsample_ratio"], ["scales"], axis=0),
        n(
            "Resize",
            ["src", "", "scales"],
            ["small"],
            mode="linear",
            coordinate_transformation_mode="pytorch_half_pixel",
        ),
        n("Conv", ["small", "w"], ["feat"], pads=[1, 1, 1, 1]),
        n("Shape", ["feat"], ["fshape"]),
    ]
    state = "feat"
    for i in range(1, 5):  # r_i_o = previous + r_i_i / 2: the state carries every frame seen
        nodes += [
            n("Expand", [f"r{i}i", "fshape"], [f"e{i}"]),
            n("Mul", [f"e{i}", "half"], [f"m{i}"]),
            n("Add", [state, f"m{i}"], [f"r{i}o"]),
        ]
        state = f"r{i}o"
    nodes += [
        n("HardSigmoid", [state], ["hsig"], alpha=0.2),
        n("Shape", ["src"], ["sshape"]),
        n("Slice", ["sshape", "hw_from", "hw_to", "ax0"], ["src_hw"]),
        n("Shape", ["hsig"], ["hshape"]),
        n("Slice", ["hshape", "ax0", "nc_to", "ax0"], ["nc"]),
        n("Concat", ["nc", "src_hw"], ["full"], axis=0),
        n(
            "Resize",
            ["hsig", "", "", "full"],
            ["big"],
            mode="linear",
            coordinate_transformation_mode="pytorch_half_pixel",
        ),
        n("Split", ["big", "split_sizes"], ["fgr_raw", "pha_raw"], axis=1),
        n("Clip", ["fgr_raw", "lo", "hi"], ["fgr"]),
        n("Clip", ["pha_raw", "lo", "hi"], ["pha"]),
    ]
    inputs = {"src": ["B", 3, "H", "W"]}
    inputs.update({f"r{i}i": ["B", "C", "h", "w"] for i in range(1, 5)})
    inputs["downsample_ratio"] = [1]
    outputs = {"fgr": ["B", 3, "H", "W"], "pha": ["B", 1, "H", "W"]}
    outputs.update({f"r{i}o": ["B", 4, "h", "w"] for i in range(1, 5)})
    return graph_model(path, nodes, inputs, outputs, inits, opset=13)
