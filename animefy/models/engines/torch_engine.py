"""The torch engine: an ONNX graph run by torch, for GPUs.

The catalog's models stay ONNX files (one source of truth). `OnnxModule` reads a file with the
`onnx` package once, keeps its floating-point initializers as buffers (moved to the device
once, cast to fp16 once when asked) and executes the graph node by node in topological order
with torch ops. It implements the ONNX operators our models use, with ONNX Runtime's exact
semantics where torch differs by default (Resize coordinate modes, reflect Pad on any axes,
Conv/pool asymmetric pads, Softmax before opset 13, integer Div). An operator outside that
set (or an attribute combination it does not implement) fails at load time with
`UnsupportedModelError`, never silently at run time.

Shape arithmetic (Shape -> Gather -> Concat -> Reshape/Resize/Slice ...) is found ahead of
time and runs on the host with CPU tensors, so a CUDA run never waits on the GPU to learn a
shape; `TorchSession` wraps the module in ONNX Runtime's small session API (`run`,
`get_inputs`, `get_outputs`, `get_providers`) so callers do not know which engine they got.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from animefy.errors import UnsupportedModelError

# ONNX TensorProto element types -> torch dtypes.
DTYPES = {
    1: torch.float32,
    2: torch.uint8,
    3: torch.int8,
    5: torch.int16,
    6: torch.int32,
    7: torch.int64,
    9: torch.bool,
    10: torch.float16,
    11: torch.float64,
    16: torch.bfloat16,
}
ONNX_TYPE_NAMES = {1: "float", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16"}

# Inputs (by position) that hold shapes, axes, sizes or scales: they and everything they are
# computed from run on the host.
HOST_ARGS = {
    "Reshape": (1,),
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "Slice": (1, 2, 3, 4),
    "Expand": (1,),
    "Pad": (1, 2, 3),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "ReduceSum": (1,),
    "ReduceMean": (1,),
    "ReduceMax": (1,),
    "ReduceMin": (1,),
    "Split": (1,),
    "Tile": (1,),
    "ConstantOfShape": (0,),
    "Range": (0, 1, 2),
    "Clip": (1, 2),
}


@dataclass(frozen=True)
class Node:
    op: str
    inputs: tuple[str, ...]  # "" = an omitted optional input
    outputs: tuple[str, ...]
    attrs: dict
    name: str


def _attrs(node) -> dict:
    from onnx import helper, numpy_helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif hasattr(v, "raw_data") or hasattr(v, "float_data"):  # TensorProto
            v = numpy_helper.to_array(v)
        elif isinstance(v, list):
            v = [x.decode() if isinstance(x, bytes) else x for x in v]
        out[a.name] = v
    return out


def _ints(t: torch.Tensor | np.ndarray | Sequence[int] | None) -> list[int]:
    if t is None:
        return []
    if isinstance(t, torch.Tensor | np.ndarray):
        return [int(v) for v in t.reshape(-1).tolist()]
    return [int(v) for v in t]


def _floats(t: torch.Tensor | np.ndarray | None) -> list[float]:
    return [] if t is None else [float(v) for v in t.reshape(-1).tolist()]


def _numel(t: torch.Tensor | np.ndarray) -> int:
    return int(t.size) if isinstance(t, np.ndarray) else t.numel()


def _scalar(t: torch.Tensor | np.ndarray) -> float:
    return float(t.reshape(-1).tolist()[0])


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _torch_pads(begins: Sequence[int], ends: Sequence[int]) -> list[int]:
    """ONNX pads (all begins, then all ends, first axis first) -> F.pad order (last axis first)."""
    out: list[int] = []
    for b, e in zip(reversed(begins), reversed(ends), strict=True):
        out += [b, e]
    return out


# --------------------------------------------------------------------------- operators
# Each takes (module, attrs, *inputs) and returns a tensor or a tuple of tensors. Omitted
# optional inputs arrive as None.

OPS: dict[str, Callable] = {}


def op(*names: str) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        for n in names:
            OPS[n] = fn
        return fn

    return register


def _unary(name: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    OPS[name] = lambda m, a, x: fn(x)


for _name, _fn in {
    "Identity": lambda x: x,
    "Abs": torch.abs,
    "Neg": torch.neg,
    "Exp": torch.exp,
    "Log": torch.log,
    "Sqrt": torch.sqrt,
    "Reciprocal": torch.reciprocal,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Round": torch.round,  # half to even, as ONNX
    "Tanh": torch.tanh,
    "Sigmoid": torch.sigmoid,
    "Relu": torch.relu,
    "Erf": torch.erf,
    "Sin": torch.sin,
    "Cos": torch.cos,
    "Softplus": F.softplus,
    "Not": torch.logical_not,
}.items():
    _unary(_name, _fn)

for _name, _fn in {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Pow": torch.pow,
    "Equal": torch.eq,
    "Less": torch.lt,
    "LessOrEqual": torch.le,
    "Greater": torch.gt,
    "GreaterOrEqual": torch.ge,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "MatMul": torch.matmul,
}.items():
    OPS[_name] = lambda m, a, x, y, _fn=_fn: _fn(x, y)


@op("Div")
def _div(m, a, x, y):
    if x.is_floating_point() or y.is_floating_point():
        return x / y
    return torch.div(x, y, rounding_mode="trunc")  # C integer division, as ONNX Runtime


def _fold(fn: Callable) -> Callable:
    def run(m, a, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return out

    return run


OPS["Max"], OPS["Min"], OPS["Sum"] = _fold(torch.maximum), _fold(torch.minimum), _fold(torch.add)
OPS["Mean"] = lambda m, a, *xs: _fold(torch.add)(m, a, *xs) / len(xs)
OPS["Where"] = lambda m, a, c, x, y: torch.where(c, x, y)
OPS["LeakyRelu"] = lambda m, a, x: F.leaky_relu(x, a.get("alpha", 0.01))
OPS["Elu"] = lambda m, a, x: F.elu(x, a.get("alpha", 1.0))
OPS["HardSigmoid"] = lambda m, a, x: torch.clamp(x * a.get("alpha", 0.2) + a.get("beta", 0.5), 0.0, 1.0)
OPS["HardSwish"] = lambda m, a, x: x * torch.clamp(x / 6.0 + 0.5, 0.0, 1.0)
OPS["PRelu"] = lambda m, a, x, slope: torch.where(x < 0, x * slope, x)
OPS["Dropout"] = lambda m, a, x, *rest: x
OPS["Shape"] = lambda m, a, x: torch.tensor(list(x.shape)[a.get("start", 0) : a.get("end")], dtype=torch.int64)
OPS["Transpose"] = lambda m, a, x: x.permute(a.get("perm") or list(range(x.dim() - 1, -1, -1)))
OPS["Concat"] = lambda m, a, *xs: torch.cat(xs, a["axis"])
OPS["Tile"] = lambda m, a, x, reps: x.repeat(_ints(reps))


@op("Cast")
def _cast(m, a, x):
    dtype = DTYPES[a["to"]]
    if dtype.is_floating_point and not a["_host"]:  # data, not shape arithmetic: keep the graph's precision
        dtype = m.float_dtype
    return x.to(dtype)


@op("Clip")
def _clip(m, a, x, lo=None, hi=None):
    lo = _scalar(lo) if lo is not None else a.get("min")
    hi = _scalar(hi) if hi is not None else a.get("max")
    return torch.clamp(x, lo, hi)


@op("Softmax", "LogSoftmax")
def _softmax(m, a, x):
    fn = torch.log_softmax if a.get("_op") == "LogSoftmax" else torch.softmax
    if m.opset >= 13:
        return fn(x, a.get("axis", -1))
    axis = _axis(a.get("axis", 1), x.dim())  # before opset 13: over the input flattened at `axis`
    flat = x.reshape(math.prod(x.shape[:axis]), -1)
    return fn(flat, 1).reshape(x.shape)


@op("Gemm")
def _gemm(m, a, x, y, c=None):
    x = x.t() if a.get("transA", 0) else x
    y = y.t() if a.get("transB", 0) else y
    out = a.get("alpha", 1.0) * (x @ y)
    return out if c is None else out + a.get("beta", 1.0) * c


@op("ConstantOfShape")
def _constant_of_shape(m, a, shape):
    value = torch.as_tensor(a["value"]) if "value" in a else torch.zeros(1)
    return torch.full(_ints(shape), value.reshape(-1)[0].item(), dtype=value.dtype)


@op("Range")
def _range(m, a, start, limit, delta):
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype)


@op("Reshape")
def _reshape(m, a, x, shape):
    dims = _ints(shape)
    if not a.get("allowzero", 0):
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


@op("Flatten")
def _flatten(m, a, x):
    axis = _axis(a.get("axis", 1), x.dim())
    return x.reshape(math.prod(x.shape[:axis]), -1)


def _axes_arg(m, a, given, opset_with_input: int) -> list[int] | None:
    if m.opset >= opset_with_input:
        return _ints(given) if given is not None else None
    return list(a["axes"]) if "axes" in a else None


@op("Squeeze")
def _squeeze(m, a, x, axes=None):
    axes = _axes_arg(m, a, axes, 13)
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(_axis(i, x.dim()) for i in axes))


@op("Unsqueeze")
def _unsqueeze(m, a, x, axes=None):
    axes = _axes_arg(m, a, axes, 13) or []
    rank = x.dim() + len(axes)
    for i in sorted(_axis(i, rank) for i in axes):
        x = x.unsqueeze(i)
    return x


@op("Gather")
def _gather(m, a, x, idx):
    axis = _axis(a.get("axis", 0), x.dim())
    idx = idx.to(torch.int64)
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = x.index_select(axis, idx.reshape(-1).to(x.device))
    return out.reshape(*x.shape[:axis], *idx.shape, *x.shape[axis + 1 :])


@op("Slice")
def _slice(m, a, x, starts=None, ends=None, axes=None, steps=None):
    if m.opset < 10:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    starts, ends = _ints(starts), _ints(ends)
    axes = _ints(axes) if axes is not None and _numel(axes) else list(range(len(starts)))
    steps = _ints(steps) if steps is not None and _numel(steps) else [1] * len(starts)
    for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
        ax = _axis(ax, x.dim())
        idx = range(*slice(s, e, st).indices(x.shape[ax]))
        if st == 1:
            x = x.narrow(ax, idx.start, len(idx)) if len(idx) else x.narrow(ax, 0, 0)
        else:
            x = x.index_select(ax, torch.tensor(list(idx), dtype=torch.int64, device=x.device))
    return x


@op("Split")
def _split(m, a, x, split=None):
    axis = _axis(a.get("axis", 0), x.dim())
    sizes = _ints(split) if split is not None else a.get("split")
    if not sizes:
        n = a.get("num_outputs") or a["_outputs"]
        chunk = -(-x.shape[axis] // n)
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(n)]
    return tuple(torch.split(x, list(sizes), axis))


@op("Expand")
def _expand(m, a, x, shape):
    return x.expand(torch.broadcast_shapes(tuple(x.shape), tuple(_ints(shape))))


@op("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin")
def _reduce(m, a, x, axes=None):
    kind = a["_op"]
    axes = _axes_arg(m, a, axes, 13 if kind == "ReduceSum" else 18)
    keep = bool(a.get("keepdims", 1))
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.dim()))
    dims = tuple(_axis(i, x.dim()) for i in axes)
    if kind == "ReduceSum":
        return x.sum(dims, keepdim=keep)
    if kind == "ReduceMean":
        return x.mean(dims, keepdim=keep)
    return x.amax(dims, keepdim=keep) if kind == "ReduceMax" else x.amin(dims, keepdim=keep)


@op("GlobalAveragePool")
def _global_avg(m, a, x):
    return x.mean(tuple(range(2, x.dim())), keepdim=True)


@op("GlobalMaxPool")
def _global_max(m, a, x):
    return x.amax(tuple(range(2, x.dim())), keepdim=True)


def _same_pads(a: dict, spatial: Sequence[int], kernel: Sequence[int]) -> tuple[list[int], list[int]]:
    """Begin and end pads from auto_pad / pads (ONNX order: all begins, then all ends)."""
    n = len(kernel)
    strides = a.get("strides") or [1] * n
    dil = a.get("dilations") or [1] * n
    mode = a.get("auto_pad", "NOTSET")
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(spatial, kernel, strides, dil, strict=True):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            begins.append(small if mode == "SAME_UPPER" else big)
            ends.append(big if mode == "SAME_UPPER" else small)
        return begins, ends
    if mode == "VALID":
        return [0] * n, [0] * n
    pads = a.get("pads") or [0] * (2 * n)
    return list(pads[:n]), list(pads[n:])


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@op("Conv")
def _conv(m, a, x, w, b=None):
    n = w.dim() - 2
    begins, ends = _same_pads(a, x.shape[2:], w.shape[2:])
    padding: list[int] | int = begins
    if begins != ends:  # asymmetric: pad first, as ONNX Runtime does
        x = F.pad(x, _torch_pads(begins, ends))
        padding = 0
    return _CONV[n](x, w, b, a.get("strides") or 1, padding, a.get("dilations") or 1, a.get("group", 1))


@op("ConvTranspose")
def _conv_transpose(m, a, x, w, b=None):
    n = w.dim() - 2
    pads = a.get("pads") or [0] * (2 * n)
    y = _CONV_T[n](
        x, w, b, a.get("strides") or 1, 0, a.get("output_padding") or 0, a.get("group", 1), a.get("dilations") or 1
    )
    for i in range(n):  # crop the pads (asymmetric ones too)
        y = y.narrow(2 + i, pads[i], y.shape[2 + i] - pads[i] - pads[n + i])
    return y


@op("MaxPool", "AveragePool")
def _pool(m, a, x):
    kernel = list(a["kernel_shape"])
    n = len(kernel)
    strides = a.get("strides") or [1] * n
    begins, ends = _same_pads(a, x.shape[2:], kernel)
    ceil = bool(a.get("ceil_mode", 0))
    if a["_op"] == "MaxPool":
        padding: list[int] | int = begins
        if begins != ends or any(2 * p > k for p, k in zip(begins, kernel, strict=True)):
            x = F.pad(x, _torch_pads(begins, ends), value=-math.inf)
            padding = 0
        fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]
        return fn(x, kernel, strides, padding, a.get("dilations") or 1, ceil)
    include = bool(a.get("count_include_pad", 0))
    padding = begins
    if begins != ends:  # (with count_include_pad; without, refused at load)
        x = F.pad(x, _torch_pads(begins, ends))
        padding = 0
    fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[n]
    return fn(x, kernel, strides, padding, ceil, include)


@op("InstanceNormalization")
def _instance_norm(m, a, x, scale, bias):
    return F.instance_norm(x, weight=scale, bias=bias, eps=a.get("epsilon", 1e-5))


@op("BatchNormalization")
def _batch_norm(m, a, x, scale, bias, mean, var):
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, a.get("epsilon", 1e-5))


@op("LayerNormalization")
def _layer_norm(m, a, x, scale, bias=None):
    axis = _axis(a.get("axis", -1), x.dim())
    shape = tuple(x.shape[axis:])
    bias = None if bias is None else bias.expand(shape)
    return F.layer_norm(x, shape, scale.expand(shape), bias, a.get("epsilon", 1e-5))


@op("DepthToSpace")
def _depth_to_space(m, a, x):
    bs = a["blocksize"]
    n, c, h, w = x.shape
    if a.get("mode", "DCR") == "DCR":
        t = x.reshape(n, bs, bs, c // (bs * bs), h, w).permute(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (bs * bs), bs, bs, h, w).permute(0, 1, 4, 2, 5, 3)
    return t.reshape(n, c // (bs * bs), h * bs, w * bs)


@op("SpaceToDepth")
def _space_to_depth(m, a, x):
    bs = a["blocksize"]
    n, c, h, w = x.shape
    t = x.reshape(n, c, h // bs, bs, w // bs, bs).permute(0, 3, 5, 1, 2, 4)
    return t.reshape(n, c * bs * bs, h // bs, w // bs)


@op("Pad")
def _pad(m, a, x, pads=None, value=None, axes=None):
    mode = a.get("mode", "constant")
    if m.opset < 11:
        pads, fill = list(a["pads"]), a.get("value", 0.0)
    else:
        pads, fill = _ints(pads), (_scalar(value) if value is not None and _numel(value) else 0.0)
    rank = x.dim()
    axes_list = [_axis(i, rank) for i in _ints(axes)] if axes is not None else list(range(rank))
    k = len(axes_list)
    begins, ends = [0] * rank, [0] * rank
    for i, ax in enumerate(axes_list):
        begins[ax], ends[ax] = pads[i], pads[k + i]
    if any(p < 0 for p in begins + ends):  # negative pads crop
        for ax in range(rank):
            b, e = max(0, -begins[ax]), max(0, -ends[ax])
            if b or e:
                x = x.narrow(ax, b, x.shape[ax] - b - e)
        begins, ends = [max(0, p) for p in begins], [max(0, p) for p in ends]
    padded = [ax for ax in range(rank) if begins[ax] or ends[ax]]
    if not padded:
        return x
    if mode == "constant":
        first = padded[0]
        return F.pad(x, _torch_pads(begins[first:], ends[first:]), value=fill)
    torch_mode = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}[mode]
    # torch pads the last 1-3 axes of a batched tensor: move the padded axes last, fold the
    # others into one batch axis, pad, and undo.
    order = [ax for ax in range(rank) if ax not in padded] + padded
    moved = x.permute(order) if order != list(range(rank)) else x
    lead = moved.shape[: rank - len(padded)]
    flat = moved.reshape(math.prod(lead), *moved.shape[rank - len(padded) :])
    if len(padded) > 3:
        raise UnsupportedModelError(f"Pad mode {mode} over {len(padded)} axes is not supported.")
    out = F.pad(flat, _torch_pads([begins[ax] for ax in padded], [ends[ax] for ax in padded]), mode=torch_mode)
    out = out.reshape(*lead, *out.shape[1:])
    return out.permute([order.index(ax) for ax in range(rank)]) if order != list(range(rank)) else out


# --- Resize ---------------------------------------------------------------------------


def _source_coords(mode: str, out_len: int, in_len: int, scale: float) -> np.ndarray:
    """ONNX Resize coordinate transformation in float32, as ONNX Runtime computes it."""
    x = np.arange(out_len, dtype=np.float32)
    s = np.float32(scale)
    if mode == "half_pixel":
        return (x + np.float32(0.5)) / s - np.float32(0.5)
    if mode == "pytorch_half_pixel":
        return (x + np.float32(0.5)) / s - np.float32(0.5) if out_len > 1 else np.zeros_like(x)
    if mode == "align_corners":
        return x * np.float32((in_len - 1) / (out_len - 1)) if out_len > 1 else np.zeros_like(x)
    if mode == "asymmetric":
        return x / s
    if mode == "tf_half_pixel_for_nn":
        return (x + np.float32(0.5)) / s
    raise UnsupportedModelError(f"Resize coordinate_transformation_mode={mode!r} is not supported by the torch engine.")


def _nearest(coords: np.ndarray, mode: str, in_len: int, scale: float) -> np.ndarray:
    if mode == "round_prefer_floor":
        idx = np.ceil(coords - 0.5)
    elif mode == "round_prefer_ceil":
        idx = np.floor(coords + 0.5)
    elif mode == "floor":
        idx = np.floor(coords)
    else:
        idx = np.ceil(coords)
    return np.clip(idx, 0, in_len - 1).astype(np.int64)


@op("Resize", "Upsample")
def _resize(m, a, x, roi=None, scales=None, sizes=None):
    rank = x.dim()
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    if a["_op"] == "Upsample" or m.opset < 11:  # (X, scales) with asymmetric coordinates
        scales, sizes, coord = (roi if roi is not None else torch.tensor(a["scales"])), None, "asymmetric"
    in_shape = list(x.shape)
    if sizes is not None and _numel(sizes):
        out_shape = _ints(sizes)
        scale_list = [
            float(np.float32(o) / np.float32(i)) if i else 1.0 for o, i in zip(out_shape, in_shape, strict=True)
        ]
    else:
        scale_list = _floats(scales)
        # ONNX Runtime's output size: the float32 product, truncated (a float64 product can
        # land just below the integer: 20 * 0.45f)
        out_shape = [int(np.float32(i) * np.float32(s)) for i, s in zip(in_shape, scale_list, strict=True)]
    axes = [ax for ax in range(rank) if out_shape[ax] != in_shape[ax] or scale_list[ax] != 1.0]
    if not axes:
        return x
    by_size = sizes is not None and _numel(sizes) or coord == "align_corners"
    if mode == "linear" and by_size and rank == 4 and axes == [2, 3] and min(out_shape[2:]) > 1:
        if coord in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            # torch's bilinear computes these coordinates from the sizes (clamped as ONNX
            # Runtime does)
            align = coord == "align_corners"
            return F.interpolate(x, size=out_shape[2:], mode="bilinear", align_corners=align)
    if rank == 4 and set(axes) <= {2, 3} and not by_size and _interpolates(mode, coord, a, in_shape, out_shape, scale_list):
        # With scales given, ONNX maps through the scale itself, and so does F.interpolate with
        # recompute_scale_factor=False: bilinear half-pixel (RVM's downsampling) and nearest
        # asymmetric floor (YuNet's x2) are one kernel instead of gathers, and export cleanly.
        torch_mode = "bilinear" if mode == "linear" else "nearest"
        return F.interpolate(x, scale_factor=tuple(scale_list[2:]), mode=torch_mode, recompute_scale_factor=False,
                             **({"align_corners": False} if mode == "linear" else {}))  # fmt: skip
    for ax in axes:
        x = m.resample(x, ax, out_shape[ax], scale_list[ax], mode, coord, a.get("nearest_mode", "round_prefer_floor"))
    return x


def _interpolates(mode: str, coord: str, a: dict, in_shape: list, out_shape: list, scales: list) -> bool:
    """Whether F.interpolate(scale_factor=...) computes this ONNX Resize: the same coordinate
    rule (see _resize) and the same output size (torch floors the float64 product, ONNX
    Runtime truncates the float32 one)."""
    if mode == "linear":
        ok = coord == "half_pixel" or (coord == "pytorch_half_pixel" and min(out_shape[2:]) > 1)
    else:
        ok = coord == "asymmetric" and a.get("nearest_mode", "round_prefer_floor") == "floor"
    return ok and all(math.floor(i * s) == o for i, s, o in zip(in_shape[2:], scales[2:], out_shape[2:], strict=True))


def _unsupported(op: str, a: dict, outputs: int) -> str | None:
    """Attribute combinations the operators above do not implement, caught at load time."""
    if op == "Resize" or op == "Upsample":
        coord = a.get("coordinate_transformation_mode", "half_pixel")
        if a.get("mode", "nearest") not in ("nearest", "linear"):
            return f"mode={a.get('mode')}"
        if a.get("antialias", 0) or "axes" in a or a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            return "antialias/axes/keep_aspect_ratio_policy"
        if coord not in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"):
            return f"coordinate_transformation_mode={coord}"
    if op == "ConvTranspose" and ("output_shape" in a or a.get("auto_pad", "NOTSET") != "NOTSET"):
        return "output_shape/auto_pad"
    if op == "MaxPool" and (outputs > 1 or a.get("storage_order", 0)):
        return "the indices output"
    if op == "AveragePool" and not a.get("count_include_pad", 0):
        pads = list(a.get("pads") or [])
        if pads[: len(pads) // 2] != pads[len(pads) // 2 :] or a.get("auto_pad", "NOTSET") in (
            "SAME_UPPER",
            "SAME_LOWER",
        ):
            return "asymmetric pads without count_include_pad"
    if op == "Pad" and a.get("mode", "constant") not in ("constant", "reflect", "edge", "wrap"):
        return f"mode={a.get('mode')}"
    return None


# ------------------------------------------------------------------------------- module


class OnnxModule(torch.nn.Module):
    """An ONNX graph as a torch module. `forward(feeds, outputs)` maps input names to tensors
    and returns the named outputs; only the nodes those outputs need are run."""

    def __init__(self, model, round_to: torch.dtype | None = None) -> None:
        from onnx import numpy_helper

        super().__init__()
        graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.round_to = round_to  # CPU emulation of a narrower float type (parity checks)
        consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in consts]
        self.input_info = {i.name: i for i in graph.input if i.name not in consts}
        self.output_names = [o.name for o in graph.output]
        self.output_info = list(graph.output)
        nodes: list[Node] = []
        for n in graph.node:
            if n.domain not in ("", "ai.onnx"):
                raise UnsupportedModelError(f"Operator {n.domain}.{n.op_type} is not supported by the torch engine.")
            attrs = _attrs(n)
            if n.op_type == "Constant":
                value = next(iter(attrs.values()))
                consts[n.output[0]] = np.asarray(value, dtype=np.float32 if isinstance(value, float) else None)
                continue
            if n.op_type not in OPS:
                raise UnsupportedModelError(
                    f"Operator {n.op_type} (node {n.name!r}) is not supported by the torch engine; "
                    "use the onnxruntime engine for this model."
                )
            why = _unsupported(n.op_type, attrs, len([o for o in n.output if o]))
            if why:
                raise UnsupportedModelError(f"{n.op_type} node {n.name!r}: {why} is not supported by the torch engine.")
            attrs.update(_op=n.op_type, _outputs=len(n.output))
            nodes.append(Node(n.op_type, tuple(n.input), tuple(n.output), attrs, n.name))
        read = {i for n in nodes for i in n.inputs} | set(self.output_names)
        for n in nodes:  # only Split makes several outputs here; others' extras must go unread
            if n.op != "Split" and any(o in read for o in n.outputs[1:]):
                raise UnsupportedModelError(f"{n.op} node {n.name!r}: outputs beyond the first are not supported.")
        known = set(consts) | set(self.input_names)
        for n in nodes:  # ONNX requires topological order; say so plainly if a file breaks it
            missing = [i for i in n.inputs if i and i not in known]
            if missing:
                raise UnsupportedModelError(f"Node {n.name!r} reads {missing[0]!r} before it is made.")
            known.update(n.outputs)
        self.nodes = nodes
        self.host = self._host_values(nodes)
        for n in nodes:
            n.attrs["_host"] = all(o in self.host for o in n.outputs)
            # a device node reads its shape/axes/scales arguments where they are: on the host
            n.attrs["_host_args"] = tuple(i for i in HOST_ARGS.get(n.op, ()) if i < len(n.inputs))
        # Constants the device nodes read become buffers (moved, and cast when floating, with
        # the module, once); those the host nodes read stay CPU tensors.
        device_reads, host_reads = set(), set()
        for n in nodes:
            for pos, x in enumerate(n.inputs):
                on_host = n.attrs["_host"] or pos in n.attrs["_host_args"]
                (host_reads if on_host else device_reads).add(x)
        self._buffer_keys: dict[str, str] = {}
        self.host_consts: dict[str, torch.Tensor] = {}
        for name, arr in consts.items():
            t = torch.from_numpy(np.array(arr))
            if name in device_reads:
                key = f"c{len(self._buffer_keys)}"
                rounded = t.to(round_to).to(t.dtype) if round_to is not None and t.is_floating_point() else t
                self.register_buffer(key, rounded)
                self._buffer_keys[name] = key
            if name in host_reads:
                self.host_consts[name] = t
        self._plans: dict[tuple[str, ...], list[tuple[int, list[str]]]] = {}
        self._resample_cache: dict[tuple, tuple[torch.Tensor, ...]] = {}
        self._lock = threading.Lock()
        self.float_dtype = torch.float32

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        floats = [b.dtype for b in self.buffers() if b.is_floating_point()]
        self.float_dtype = floats[0] if floats else torch.float32
        self._resample_cache.clear()
        return out

    @staticmethod
    def _host_values(nodes: list[Node]) -> set[str]:
        """Values that hold shapes, axes, sizes or scales, and everything computed only to
        make them: they are small and are computed on the host."""
        need = {n.inputs[i] for n in nodes for i in HOST_ARGS.get(n.op, ()) if i < len(n.inputs) and n.inputs[i]}
        for n in reversed(nodes):
            if n.op != "Shape" and any(o in need for o in n.outputs):
                need.update(i for i in n.inputs if i)
        need.update(o for n in nodes if n.op == "Shape" for o in n.outputs)
        return need

    def device_to_host_reads(self) -> list[tuple[str, str]]:
        """(node, value) pairs where host-side shape arithmetic would read a value computed on
        the device: each would be a GPU sync and a copy. Empty for every model we ship."""
        on_device = {o for n in self.nodes if not n.attrs["_host"] for o in n.outputs}
        on_device |= {i for i in self.input_names if i not in self.host}
        bad = []
        for n in self.nodes:
            if n.op == "Shape":
                continue
            for pos, x in enumerate(n.inputs):
                if (n.attrs["_host"] or pos in n.attrs["_host_args"]) and x in on_device:
                    bad.append((n.name or n.op, x))
        return bad

    def _plan(self, outputs: tuple[str, ...]) -> list[tuple[int, list[str]]]:
        """The nodes `outputs` need, each with the values to drop after it runs."""
        plan = self._plans.get(outputs)
        if plan is not None:
            return plan
        wanted, chosen = set(outputs), []
        for i in range(len(self.nodes) - 1, -1, -1):
            n = self.nodes[i]
            if any(o in wanted for o in n.outputs):
                chosen.append(i)
                wanted.update(x for x in n.inputs if x)
        chosen.reverse()
        last_use: dict[str, int] = {}
        for step, i in enumerate(chosen):
            for x in self.nodes[i].inputs:
                last_use[x] = step
        keep = set(outputs)
        drops: list[list[str]] = [[] for _ in chosen]
        for x, step in last_use.items():
            if x and x not in keep:
                drops[step].append(x)
        plan = [(i, drops[step]) for step, i in enumerate(chosen)]
        self._plans[outputs] = plan
        return plan

    def resample(
        self, x: torch.Tensor, axis: int, out_len: int, scale: float, mode: str, coord: str, nearest_mode: str
    ) -> torch.Tensor:
        """ONNX Resize along one axis (linear or nearest), with index and weight tensors made
        once per size and device and kept."""
        in_len = x.shape[axis]
        k = out_len // max(in_len, 1)
        if mode == "linear" and coord == "asymmetric" and scale == k and out_len == in_len * k and k in (2, 4, 8):
            # Integer power-of-two upsampling (AnimeGANv3's x2): output i*k+j blends x[i] and
            # x[i+1] with weight j/k, exact in float32 as ONNX Runtime computes it; slices and
            # one stack instead of gathers (which are slow on CPU).
            nxt = torch.cat([x.narrow(axis, 1, in_len - 1), x.narrow(axis, in_len - 1, 1)], axis)
            parts = [x] + [x * (1 - j / k) + nxt * (j / k) for j in range(1, k)]
            shape = list(x.shape)
            shape[axis] = out_len
            return torch.stack(parts, axis + 1).reshape(shape)
        key = (axis, x.dim(), in_len, out_len, scale, mode, coord, nearest_mode, x.device, x.dtype)
        cached = self._resample_cache.get(key)
        if cached is None:
            c = _source_coords(coord, out_len, in_len, scale)
            if mode == "nearest":
                cached = (torch.from_numpy(_nearest(c, nearest_mode, in_len, scale)).to(x.device),)
            else:
                c = np.clip(c, 0, in_len - 1)
                lo = np.floor(c).astype(np.int64)
                hi = np.minimum(lo + 1, in_len - 1)
                w = (c - lo).astype(np.float32)
                shape = [1] * x.dim()
                shape[axis] = out_len
                cached = (
                    torch.from_numpy(lo).to(x.device),
                    torch.from_numpy(hi).to(x.device),
                    torch.from_numpy(w).reshape(shape).to(x.device, x.dtype),
                )
            with self._lock:
                self._resample_cache[key] = cached
        if len(cached) == 1:
            return x.index_select(axis, cached[0])
        lo, hi, w = cached
        a, b = x.index_select(axis, lo), x.index_select(axis, hi)
        return a * (1 - w) + b * w

    def forward(
        self, feeds: dict[str, torch.Tensor], outputs: Sequence[str] | None = None, record: dict | None = None
    ) -> list[torch.Tensor]:
        """Run the graph on `feeds`; with `record`, also store there every value of the
        shape arithmetic (the host values) this run computed, for `FrozenGraph`."""
        outputs = tuple(outputs or self.output_names)
        device = next(iter(self.buffers())).device if self._buffer_keys else torch.device("cpu")
        env: dict[str, torch.Tensor | None] = {name: getattr(self, key) for name, key in self._buffer_keys.items()}
        for name, t in feeds.items():
            if self.round_to is not None and t.is_floating_point() and name not in self.host:
                t = t.to(self.round_to).to(t.dtype)
            env[name] = t
        env[""] = None
        host_consts = self.host_consts
        for i, drops in self._plan(outputs):
            n = self.nodes[i]
            host, host_args = n.attrs["_host"], n.attrs["_host_args"]
            args = []
            for pos, x in enumerate(n.inputs):
                if n.op == "Shape":  # reads only the shape: the tensor stays where it is
                    t = env[x] if x in env else host_consts[x]
                elif host or pos in host_args:
                    t = host_consts[x] if x in host_consts else env[x]
                    if t is not None and t.device.type != "cpu":
                        t = t.cpu()  # not expected: shape arithmetic is found ahead of time
                else:
                    t = env[x] if x in env else host_consts[x]
                    if t is not None and t.device != device:
                        t = t.to(device)
                args.append(t)
            try:
                result = OPS[n.op](self, n.attrs, *args)
            except UnsupportedModelError:
                raise
            except Exception as exc:
                raise RuntimeError(f"torch engine: {n.op} node {n.name!r} failed: {exc}") from exc
            results = result if isinstance(result, tuple) else (result,)
            for name, value in zip(n.outputs, results, strict=False):
                if self.round_to is not None and not host and value.is_floating_point():
                    value = value.to(self.round_to).to(value.dtype)
                env[name] = value
                if record is not None and host:
                    record[name] = value
            for x in drops:
                env.pop(x, None)
        return [env[o] if o in env else host_consts[o] for o in outputs]


class FrozenGraph(torch.nn.Module):
    """An `OnnxModule` specialised to one set of input shapes (and values of the inputs that
    only feed shape arithmetic, such as RVM's downsample ratio): every shape, axis, size, pad
    and scale is a numpy constant computed once by an eager run (`record`), the shape
    arithmetic nodes are gone, and `forward(*device_inputs)` returns a tuple. That is what
    `torch.export` needs (no `.tolist()` of a traced tensor anywhere), and it runs fewer
    Python steps per call than the interpreter. Valid only for the shapes it was made for:
    `TorchSession` keys its frozen graphs by them."""

    def __init__(self, graph: OnnxModule, recorded: dict[str, torch.Tensor], outputs: Sequence[str]) -> None:
        super().__init__()
        if graph.round_to is not None or graph.device_to_host_reads():
            raise UnsupportedModelError("This graph cannot be frozen (emulated precision or device-dependent shapes).")
        self.net = graph  # not `graph`: an exported GraphModule has its own
        self.outputs = tuple(outputs)
        self.inputs = [n for n in graph.input_names if n not in graph.host]  # forward's arguments, in order
        host = {name: t.detach().cpu().numpy() for name, t in {**graph.host_consts, **recorded}.items()}
        self.host = host
        self._data_keys: dict[str, str] = {}  # host values a device node reads as data
        steps = []
        for i, _ in graph._plan(self.outputs):
            n = graph.nodes[i]
            if n.attrs["_host"]:
                continue
            host_pos = frozenset(pos for pos in n.attrs["_host_args"] if n.inputs[pos])
            for pos, x in enumerate(n.inputs):
                if x and pos not in host_pos and x in graph.host and x not in self._data_keys:
                    if x not in host:
                        raise UnsupportedModelError(f"{x!r} was not computed by the recording run.")
                    self._data_keys[x] = f"h{len(self._data_keys)}"
                    self.register_buffer(self._data_keys[x], torch.from_numpy(host[x].copy()))
            steps.append((i, host_pos))
        last: dict[str, int] = {}
        for k, (i, _) in enumerate(steps):
            for x in graph.nodes[i].inputs:
                last[x] = k
        drops: list[list[str]] = [[] for _ in steps]
        for x, k in last.items():
            if x and x not in self.outputs:
                drops[k].append(x)
        self.steps = [(i, host_pos, drops[k]) for k, (i, host_pos) in enumerate(steps)]

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        g = self.net
        env: dict[str, torch.Tensor | None] = {name: getattr(g, key) for name, key in g._buffer_keys.items()}
        env.update((name, getattr(self, key)) for name, key in self._data_keys.items())
        env.update(zip(self.inputs, tensors, strict=True))
        env[""] = None
        host = self.host
        for i, host_pos, drops in self.steps:
            n = g.nodes[i]
            args = [host[x] if pos in host_pos else env[x] for pos, x in enumerate(n.inputs)]
            result = OPS[n.op](g, n.attrs, *args)
            for name, value in zip(n.outputs, result if isinstance(result, tuple) else (result,), strict=False):
                env[name] = value
            for x in drops:
                env.pop(x, None)
        return tuple(env[o] if o in env else torch.from_numpy(host[o]) for o in self.outputs)


GRAPH_MODES = ("eager", "frozen", "export", "aoti")
MAX_GRAPHS = 32  # frozen/exported graphs kept per session (one per input-shape key)


def aoti_compile(program: torch.export.ExportedProgram) -> Callable:
    """Ahead-of-time compilation of an exported graph: ZeroGPU's documented path
    (`spaces.aoti_compile`, whose result is picklable into the GPU worker) where `spaces` is
    installed, else torch's own AOTInductor package. Compiling needs a C++ toolchain and
    minutes; not run in tests."""
    try:
        import spaces  # type: ignore

        return spaces.aoti_compile(program)
    except ImportError:
        import io

        buffer = io.BytesIO()
        torch._inductor.aoti_compile_and_package(program, package_path=buffer)
        return torch._inductor.aoti_load_package(buffer)


def export_program(frozen: FrozenGraph, example: Sequence[torch.Tensor]) -> torch.export.ExportedProgram:
    """torch.export of a frozen graph (static shapes: the ones it was frozen for)."""
    return torch.export.export(frozen, tuple(example), strict=False)


# ------------------------------------------------------------------------------ session


@dataclass(frozen=True)
class TensorInfo:
    """What ONNX Runtime's NodeArg tells: name, shape (ints, or names for dynamic axes), type."""

    name: str
    shape: list
    type: str


def _info(value_info) -> TensorInfo:
    t = value_info.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
    return TensorInfo(value_info.name, shape, f"tensor({ONNX_TYPE_NAMES.get(t.elem_type, 'unknown')})")


class TorchSession:
    """ONNX Runtime's session API over an `OnnxModule`, on one device in one precision.

    Inputs and outputs are float32 numpy arrays whatever the precision inside. An output array
    of the last call fed back unchanged as an input (RVM's recurrent state) is recognised and
    its device tensor reused, so the state is not uploaded again (callers must not modify such
    an array in place between the calls)."""

    def __init__(
        self,
        path: Path | str,
        device: str = "cpu",
        dtype: str = "float32",
        round_to: str | None = None,
        graph_mode: str = "eager",
    ):
        """`graph_mode`: "eager" interprets the ONNX graph node by node on every call;
        "frozen" runs a `FrozenGraph` made once per input-shape key (no shape arithmetic per
        call); "export" runs that graph through torch.export (made once per key: seconds);
        "aoti" compiles the exported program ahead of time (ZeroGPU's `spaces.aoti_compile`
        where `spaces` is installed, else torch's AOTInductor; CUDA only, behind a flag until
        it has run on a GPU)."""
        import onnx

        if graph_mode not in GRAPH_MODES:
            raise ValueError(f"graph_mode must be one of {', '.join(GRAPH_MODES)}, not {graph_mode!r}")
        model = onnx.load(str(path))
        emulate = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(round_to or "")
        module = OnnxModule(model, round_to=emulate).eval()
        self.device = torch.device(device)
        self.dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
        if self.device.type == "cuda" and self.dtype == torch.float32:
            # fp32 means fp32: TF32 convolutions (torch's default on CUDA) round to fp16's
            # mantissa, which the models kept in fp32 (RVM) were measured not to tolerate.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        self.module = module.to(self.device, self.dtype)
        self.path = Path(path)
        self._inputs = [_info(module.input_info[n]) for n in module.input_names]
        self._outputs = [_info(o) for o in module.output_info]
        self._host_inputs = {n for n in module.input_names if n in module.host}
        self._fed_back: dict[int, tuple[np.ndarray, torch.Tensor]] = {}
        self._lock = threading.Lock()
        self.uploads = 0  # input arrays copied to the device so far (fed-back state is not)
        self.graph_mode = graph_mode if round_to is None else "eager"
        self._graphs: dict[tuple, Callable] = {}  # input-shape key -> frozen/exported/compiled graph
        self.builds = 0  # graphs made so far (one per new input-shape key)

    def _key(self, tensors: dict[str, torch.Tensor]) -> tuple:
        """What a frozen graph is valid for: the device inputs' shapes and dtypes, and the
        values of the inputs that only feed shape arithmetic."""
        return tuple(
            (n, tuple(t.shape), str(t.dtype)) + ((tuple(t.reshape(-1).tolist()),) if n in self._host_inputs else ())
            for n, t in sorted(tensors.items())
        )

    def _graph_for(self, tensors: dict[str, torch.Tensor]) -> tuple[Callable | None, list[torch.Tensor] | None]:
        """The compiled graph for these inputs (None before it exists), and on a first
        sight of the key, the outputs of the eager run that recorded it."""
        key = self._key(tensors)
        graph = self._graphs.get(key)
        if graph is not None:
            return graph, None
        recorded: dict[str, torch.Tensor] = {}
        names = tuple(self.module.output_names)
        outs = self.module(tensors, names, recorded)
        frozen = FrozenGraph(self.module, recorded, names)
        args = [tensors[n] for n in frozen.inputs]
        graph = frozen
        if self.graph_mode in ("export", "aoti"):
            program = export_program(frozen, args)
            graph = program.module() if self.graph_mode == "export" else aoti_compile(program)
        with self._lock:
            self._graphs[key] = graph
            self.builds += 1
            while len(self._graphs) > MAX_GRAPHS:  # many crop sizes: keep the most recent ones
                self._graphs.pop(next(iter(self._graphs)))
        return graph, outs

    def get_inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    def get_outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        return [f"torch:{self.device.type}"]

    def _check(self, info: TensorInfo, value: np.ndarray) -> None:
        ok = len(info.shape) == value.ndim and all(
            not isinstance(d, int) or d <= 0 or d == s for d, s in zip(info.shape, value.shape, strict=False)
        )
        if not ok:
            raise ValueError(
                f"Input {info.name!r} of {self.path.name} has shape {list(value.shape)}; the model wants {info.shape}."
            )

    def _tensor(self, name: str, value: np.ndarray) -> torch.Tensor:
        with self._lock:
            known = self._fed_back.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        t = torch.from_numpy(np.ascontiguousarray(value))
        if name in self._host_inputs:
            return t
        self.uploads += 1
        t = t.to(self.device)
        return t.to(self.dtype) if t.is_floating_point() else t

    def run(
        self, output_names: Iterable[str] | None, feeds: dict[str, np.ndarray], run_options=None
    ) -> list[np.ndarray]:
        by_name = {i.name: i for i in self._inputs}
        for name, value in feeds.items():
            if name not in by_name:
                raise ValueError(f"{self.path.name} has no input {name!r}; inputs: {', '.join(by_name)}.")
            self._check(by_name[name], np.asarray(value))
        missing = [n for n in by_name if n not in feeds]
        if missing:
            raise ValueError(f"{self.path.name} needs input {missing[0]!r}.")
        names = tuple(output_names) if output_names else tuple(o.name for o in self._outputs)
        tensors = {n: self._tensor(n, np.asarray(v)) for n, v in feeds.items()}
        with torch.inference_mode():
            if self.graph_mode == "eager":
                outs = self.module(tensors, names)
            else:
                graph, first = self._graph_for(tensors)
                if first is None:
                    inputs = [tensors[n] for n in self.module.input_names if n not in self._host_inputs]
                    first = list(graph(*inputs))
                by_name = dict(zip(self.module.output_names, first, strict=True))
                outs = [by_name[n] for n in names]
        arrays = [_to_numpy(t) for t in outs]
        with self._lock:  # remember this call's outputs: they may come back as next call's inputs
            self._fed_back = {
                id(a): (a, t if t.dtype == self.dtype or not t.is_floating_point() else t.to(self.dtype))
                for a, t in zip(arrays, outs, strict=True)
                if t.is_floating_point()
            }
        return arrays


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    """A fresh float32 (or integer) array, never a view of the module's own tensors."""
    fresh = t.device.type != "cpu" or t.dtype != torch.float32
    a = t.detach().to("cpu", torch.float32 if t.is_floating_point() else t.dtype).numpy()
    return a if fresh else a.copy()


def parity_report(path: Path | str, feeds: dict[str, np.ndarray], round_to: str) -> dict[str, float]:
    """Max and mean |difference| per output between fp32 and `round_to` (float16/bfloat16)
    storage emulated on CPU: every intermediate result is rounded to the narrow type, the
    arithmetic stays fp32 (as fp16 kernels accumulate on a GPU)."""
    ref = TorchSession(path).run(None, feeds)
    low = TorchSession(path, round_to=round_to).run(None, feeds)
    diffs = [np.abs(a.astype(np.float64) - b) for a, b in zip(ref, low, strict=True)]
    return {"max": float(max(d.max() for d in diffs)), "mean": float(np.mean([d.mean() for d in diffs]))}
