"""The two engines (ONNX Runtime, torch) on CPU (torch is required: these tests fail, never skip,
without it): operator-by-operator parity on tiny graphs,
parity on every real model in ../shared, the whole image pipeline, engine selection and its
typed errors, fp16 choices against measured parity, and the Space's ZeroGPU rules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper
from tiny_models import affine_stylizer, graph_model, nhwc_generator, recurrent_matter, write_catalog

from animefy.app.zerogpu import preload
from animefy.errors import AnimefyError, NoGpuError, TorchMissingError, UnsupportedModelError
from animefy.models import runtime
from animefy.models.catalog import ModelSpec
from animefy.models.engines.torch_engine import TorchSession
from animefy.models.runtime import EngineChoice, OnnxGenerator
from animefy.schema import VideoRequest
from animefy.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
TORCH = Settings(engine="torch", device="cpu")
ORT = Settings(engine="onnxruntime", device="cpu")


@pytest.fixture(autouse=True)
def fresh_sessions():
    runtime.clear_sessions()
    yield
    runtime.clear_sessions()


def _ort_run(path: Path, feeds: dict, outputs=None) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(outputs, feeds)


def _close(a: np.ndarray, b: np.ndarray, tol: float = 1e-4) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = float(np.abs(a.astype(np.float64) - b).max()) if a.size else 0.0
    assert diff <= tol * max(1.0, float(np.abs(a).max()) if a.size else 1.0), diff
    return diff


# --------------------------------------------------------------------- operators, tiny graphs

R = np.random.default_rng(7)
I64 = np.int64
n = helper.make_node


def _f(*shape, lo=-1.0, hi=1.0) -> np.ndarray:
    return R.uniform(lo, hi, shape).astype(np.float32)


# (id, nodes, inputs {name: array}, initializers, opset): every model's output is "y".
CASES = [
    ("conv_asym_pads_groups", [n("Conv", ["x", "w", "b"], ["y"], pads=[0, 1, 2, 1], group=2, strides=[2, 1])],
     {"x": _f(1, 4, 9, 11)}, {"w": _f(6, 2, 3, 3), "b": _f(6)}, 13),
    ("conv_same_upper_and_dilated",
     [n("Conv", ["x", "w"], ["s"], auto_pad="SAME_UPPER", strides=[2, 2]),
      n("Conv", ["s", "w2"], ["y"], pads=[2, 1, 2, 1], dilations=[2, 1])],
     {"x": _f(1, 3, 10, 13)}, {"w": _f(4, 3, 3, 3), "w2": _f(2, 4, 3, 3)}, 13),
    ("conv_transpose", [n("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])],
     {"x": _f(1, 4, 5, 6)}, {"w": _f(4, 3, 3, 3), "b": _f(3)}, 13),
    ("pad_reflect_nhwc_axes", [n("Pad", ["x", "p"], ["y"], mode="reflect")],
     {"x": _f(2, 6, 7, 3)}, {"p": np.array([0, 3, 2, 0, 0, 1, 3, 0], I64)}, 13),
    ("pad_reflect_nchw_top_left", [n("Pad", ["x", "p"], ["y"], mode="reflect")],
     {"x": _f(1, 3, 5, 6)}, {"p": np.array([0, 0, 1, 1, 0, 0, 0, 0], I64)}, 13),
    ("pad_edge_and_constant", [n("Pad", ["x", "p"], ["e"], mode="edge"), n("Pad", ["e", "p", "v"], ["y"])],
     {"x": _f(1, 2, 4, 5)}, {"p": np.array([0, 1, 2, 0, 0, 0, 1, 2], I64), "v": np.array(0.25, np.float32)}, 13),
    ("resize_linear_asymmetric_scales", [n("Resize", ["x", "", "s"], ["y"], mode="linear", coordinate_transformation_mode="asymmetric")],
     {"x": _f(1, 3, 6, 6)}, {"s": np.array([1, 1, 2, 2], np.float32)}, 13),
    ("resize_linear_half_pixel_down", [n("Resize", ["x", "", "s"], ["y"], mode="linear")],
     {"x": _f(1, 2, 17, 23)}, {"s": np.array([1, 1, 0.45, 0.6], np.float32)}, 13),
    ("resize_size_from_float32_product",  # 20 * 0.45f and 40 * 0.35f round up in float32, not in float64
     [n("Resize", ["x", "", "s"], ["y"], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")],
     {"x": _f(1, 2, 20, 40)}, {"s": np.array([1, 1, 0.45, 0.35], np.float32)}, 13),
    ("resize_pytorch_half_pixel_sizes", [n("Resize", ["x", "", "", "z"], ["y"], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")],
     {"x": _f(1, 2, 7, 9)}, {"z": np.array([1, 2, 15, 4], I64)}, 13),
    ("resize_align_corners", [n("Resize", ["x", "", "", "z"], ["y"], mode="linear", coordinate_transformation_mode="align_corners")],
     {"x": _f(1, 2, 5, 6)}, {"z": np.array([1, 2, 11, 9], I64)}, 13),
    ("resize_nearest_floor_asymmetric", [n("Resize", ["x", "", "s"], ["y"], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
     {"x": _f(1, 2, 5, 6)}, {"s": np.array([1, 1, 2, 2], np.float32)}, 13),
    ("resize_nearest_default", [n("Resize", ["x", "", "", "z"], ["y"], mode="nearest")],
     {"x": _f(1, 2, 8, 6)}, {"z": np.array([1, 2, 5, 13], I64)}, 13),
    ("instance_norm_spelled_out",
     [n("GlobalAveragePool", ["x"], ["m"]), n("Sub", ["x", "m"], ["d"]), n("Mul", ["d", "d"], ["d2"]),
      n("GlobalAveragePool", ["d2"], ["v"]), n("Add", ["v", "eps"], ["ve"]), n("Sqrt", ["ve"], ["sd"]),
      n("Reciprocal", ["sd"], ["r"]), n("Mul", ["d", "r"], ["y"])],
     {"x": _f(2, 5, 6, 7)}, {"eps": np.array(1e-5, np.float32)}, 13),
    ("instance_and_batch_norm",
     [n("InstanceNormalization", ["x", "g", "b"], ["i"], epsilon=1e-3),
      n("BatchNormalization", ["i", "g", "b", "mu", "var"], ["y"], epsilon=1e-4)],
     {"x": _f(2, 3, 5, 4)}, {"g": _f(3), "b": _f(3), "mu": _f(3), "var": _f(3, lo=0.5, hi=2)}, 13),
    ("layer_norm", [n("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-5)],
     {"x": _f(2, 3, 8)}, {"g": _f(8), "b": _f(8)}, 17),
    ("activations",
     [n("LeakyRelu", ["x"], ["a"], alpha=0.2), n("HardSigmoid", ["a"], ["b"], alpha=0.1666667),
      n("PRelu", ["x", "s"], ["c"]), n("Elu", ["c"], ["d"]), n("HardSwish", ["d"], ["e"]),
      n("Sigmoid", ["e"], ["f"]), n("Tanh", ["x"], ["g"]), n("Relu", ["g"], ["h"]),
      n("Add", ["b", "f"], ["i"]), n("Add", ["i", "h"], ["j"]), n("Clip", ["j", "lo", "hi"], ["y"])],
     {"x": _f(1, 3, 4, 5, lo=-3, hi=3)},
     {"s": _f(3, 1, 1), "lo": np.array(0.1, np.float32), "hi": np.array(1.5, np.float32)}, 14),
    ("softmax_axis_opset13", [n("Softmax", ["x"], ["y"], axis=1)], {"x": _f(2, 4, 3, 5, lo=-4, hi=4)}, {}, 13),
    ("softmax_flattening_opset11", [n("Softmax", ["x"], ["y"], axis=1)], {"x": _f(2, 4, 3, 5, lo=-4, hi=4)}, {}, 11),
    ("reductions",
     [n("ReduceSum", ["x", "ax"], ["s"], keepdims=1), n("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
      n("ReduceMax", ["x"], ["mx"], axes=[1], keepdims=1), n("Add", ["s", "m"], ["sm"]), n("Add", ["sm", "mx"], ["y"])],
     {"x": _f(2, 4, 3, 5)}, {"ax": np.array([1], I64)}, 13),
    ("shape_arithmetic_reshape",
     [n("Shape", ["x"], ["s"]), n("Gather", ["s", "i"], ["g"]), n("Cast", ["g"], ["g32"], to=TensorProto.INT32),
      n("Slice", ["g32", "st", "en", "ax"], ["hw"]), n("Concat", ["neg1", "hw"], ["shp32"], axis=0),
      n("Cast", ["shp32"], ["shp"], to=TensorProto.INT64), n("Reshape", ["x", "shp"], ["r"]),
      n("Unsqueeze", ["r", "ax"], ["u"]), n("Squeeze", ["u", "ax"], ["y"])],
     {"x": _f(2, 3, 4, 5)},
     {"i": np.array([0, 2, 3, 1], I64), "st": np.array([1], I64), "en": np.array([3], I64),
      "ax": np.array([0], I64), "neg1": np.array([-1], np.int32)}, 13),
    ("split_expand_concat_transpose",
     [n("Split", ["x", "sp"], ["a", "b"], axis=1), n("Shape", ["a"], ["sa"]), n("Expand", ["r", "sa"], ["e"]),
      n("Concat", ["e", "b"], ["c"], axis=1), n("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])],
     {"x": _f(1, 5, 3, 4), "r": _f(1, 1, 1, 1)}, {"sp": np.array([2, 3], I64)}, 13),
    ("slice_steps_negative",
     [n("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
     {"x": _f(2, 3, 6, 7)},
     {"st": np.array([-1, 1], I64), "en": np.array([-100, 6], I64), "ax": np.array([2, 3], I64), "sp": np.array([-2, 2], I64)}, 13),
    ("pools",
     [n("AveragePool", ["x"], ["a"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
      n("MaxPool", ["x"], ["m"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
      n("GlobalMaxPool", ["m"], ["g"]), n("Add", ["a", "g"], ["y"])],
     {"x": _f(1, 3, 7, 9)}, {}, 13),
    ("depth_space_round_trip",
     [n("SpaceToDepth", ["x"], ["s"], blocksize=2), n("DepthToSpace", ["s"], ["d"], blocksize=2, mode="DCR"),
      n("DepthToSpace", ["s"], ["c"], blocksize=2, mode="CRD"), n("Sub", ["d", "c"], ["y"])],
     {"x": _f(1, 3, 4, 6)}, {}, 13),
    ("matmul_gemm_flatten",
     [n("Flatten", ["x"], ["f"], axis=1), n("Gemm", ["f", "w", "b"], ["g"], transB=1, alpha=0.5, beta=2.0),
      n("MatMul", ["g", "m"], ["y"])],
     {"x": _f(2, 3, 2, 2)}, {"w": _f(5, 12), "b": _f(5), "m": _f(5, 4)}, 13),
    ("elementwise_math",
     [n("Abs", ["x"], ["a"]), n("Sqrt", ["a"], ["s"]), n("Exp", ["x"], ["e"]), n("Log", ["e"], ["l"]),
      n("Pow", ["a", "two"], ["p"]), n("Max", ["s", "l", "p"], ["mx"]), n("Min", ["mx", "e"], ["mn"]),
      n("Floor", ["mn"], ["fl"]), n("Div", ["mn", "two"], ["dv"]), n("Neg", ["dv"], ["ng"]),
      n("Sum", ["ng", "fl", "x"], ["y"])],
     {"x": _f(2, 3, 4)}, {"two": np.array(2.0, np.float32)}, 13),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_operator_matches_onnxruntime(tmp_path, case):
    name, nodes, feeds, inits, opset = case
    inputs = {k: list(v.shape) for k, v in feeds.items()}
    path = graph_model(tmp_path / f"{name}.onnx", nodes, inputs, {"y": None}, inits, opset=opset)
    expected = _ort_run(path, feeds)
    got = TorchSession(path).run(None, feeds)
    _close(expected[0], got[0])


@pytest.mark.parametrize("mode", ["frozen", "export"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_frozen_and_exported_graphs_match_onnxruntime(tmp_path, case, mode):
    """Every operator graph (shape arithmetic, Resize, Pad, Slice... included) frozen to
    Python/numpy shape constants, and through torch.export, against ONNX Runtime."""
    name, nodes, feeds, inits, opset = case
    inputs = {k: list(v.shape) for k, v in feeds.items()}
    path = graph_model(tmp_path / f"{name}.onnx", nodes, inputs, {"y": None}, inits, opset=opset)
    sess = TorchSession(path, graph_mode=mode)
    first, again = sess.run(None, feeds), sess.run(None, feeds)  # the recording run, then the graph
    for want, a, b in zip(_ort_run(path, feeds), first, again, strict=True):
        _close(want, a)
        _close(want, b)
    assert sess.builds == 1


def test_graphs_are_made_once_per_input_shape(tmp_path):
    path = nhwc_generator(tmp_path / "g.onnx")
    sess = TorchSession(path, graph_mode="export")
    for h, w in ((16, 16), (16, 24), (16, 16), (16, 24)):
        x = np.random.default_rng(h * w).uniform(-1, 1, (1, h, w, 3)).astype(np.float32)
        _close(_ort_run(path, {"x": x})[0], sess.run(None, {"x": x})[0])
    assert sess.builds == 2
    rec = recurrent_matter(tmp_path / "r.onnx")
    matter = TorchSession(rec, graph_mode="frozen")
    feeds = {i.name: np.zeros([1, 1, 1, 1], np.float32) for i in matter.get_inputs()}
    feeds["src"] = np.random.default_rng(0).uniform(0, 1, (1, 3, 32, 32)).astype(np.float32)
    if "downsample_ratio" in feeds:
        feeds["downsample_ratio"] = np.array([0.5], np.float32)
    builds = []
    for _ in range(4):  # the first call's empty state, then the fed-back state of a fixed shape
        outs = matter.run(None, feeds)
        _close(_ort_run(rec, feeds)[0], outs[0])
        names = [o.name for o in matter.get_outputs()]
        feeds.update({k.replace("o", "i"): v for k, v in zip(names, outs, strict=True) if k.replace("o", "i") in feeds})
        builds.append(matter.builds)
    assert builds[-1] == builds[-2] <= 2


def test_unsupported_operator_fails_at_load_with_a_typed_error(tmp_path, monkeypatch):
    path = graph_model(tmp_path / "det.onnx", [n("Det", ["x"], ["y"])], {"x": [2, 3, 3]}, {"y": [2]})
    with pytest.raises(UnsupportedModelError, match="Det"):
        runtime.session(path, TORCH)
    cubic = graph_model(
        tmp_path / "cubic.onnx", [n("Resize", ["x", "", "s"], ["y"], mode="cubic")], {"x": [1, 1, 4, 4]}, {"y": None},
        {"s": np.array([1, 1, 2, 2], np.float32)},
    )  # fmt: skip
    with pytest.raises(UnsupportedModelError, match="mode=cubic"):
        runtime.session(cubic, TORCH)  # refused at load, not at the first frame
    # engine auto: a model the interpreter lacks runs on ONNX Runtime instead, and engine_info says so
    monkeypatch.setattr(runtime, "choose_engine", lambda settings: EngineChoice("torch", "cpu"))
    sess = runtime.session(path, Settings())
    assert "CPUExecutionProvider" in sess.get_providers()
    assert "onnxruntime for det.onnx" in runtime.engine_info(Settings())


def test_session_api_is_the_same_on_both_engines(tmp_path):
    path = recurrent_matter(tmp_path / "rec.onnx")
    a, b = runtime.session(path, ORT), runtime.session(path, TORCH)
    assert isinstance(b, TorchSession) and b.get_providers() == ["torch:cpu"]
    for x, y in [(a.get_inputs(), b.get_inputs()), (a.get_outputs(), b.get_outputs())]:
        assert [(i.name, i.shape, i.type) for i in x] == [(i.name, i.shape, i.type) for i in y]
    fixed = affine_stylizer(tmp_path / "fixed.onnx", fixed=(8, 8))
    with pytest.raises(ValueError, match="shape"):
        runtime.session(fixed, TORCH).run(None, {"x": np.zeros((1, 9, 8, 3), np.float32)})


def _spec(path: Path, **fields) -> ModelSpec:
    base = {"name": path.stem, "role": "stylize", "display": path.stem, "filename": path.name}
    return ModelSpec(**{**base, **fields})


def test_nhwc_generator_through_onnx_generator_on_both_engines(tmp_path):
    path = nhwc_generator(tmp_path / "gen.onnx")
    spec = _spec(path, layout="NHWC", color="RGB", value_range=(-1.0, 1.0), size_multiple=4)
    frames = np.random.default_rng(3).integers(0, 256, (3, 30, 41, 3), dtype=np.uint8)
    a = OnnxGenerator(spec, path, ORT)(frames).astype(int)
    gen = OnnxGenerator(spec, path, TORCH)
    assert isinstance(gen.session, TorchSession) and not gen.batchable  # batches only on a GPU
    assert np.abs(a - gen(frames)).max() <= 1


def test_half_precision_sessions_run_end_to_end(tmp_path):
    """The CUDA fp16 path without CUDA: weights and activations in float16 (CPU kernels),
    shape arithmetic and downsample_ratio in float32 on the host, float32 arrays out, and the
    fed-back state reused in float16."""
    gen = nhwc_generator(tmp_path / "gen.onnx")
    x = np.random.default_rng(1).uniform(-1, 1, (2, 20, 34, 3)).astype(np.float32)
    (ref,) = _ort_run(gen, {"x": x})
    sess = TorchSession(gen, "cpu", "float16")
    assert sess.module.float_dtype == torch.float16
    (y,) = sess.run(None, {"x": x})
    assert y.dtype == np.float32 and np.abs(ref - y).max() < 1e-2
    rec = recurrent_matter(tmp_path / "rec.onnx")
    zero = np.zeros((1, 1, 1, 1), np.float32)
    feeds = {"src": x[:1].transpose(0, 3, 1, 2) * 0.5 + 0.5, "downsample_ratio": np.array([0.45], np.float32)}
    feeds.update({f"r{i}i": zero for i in range(1, 5)})
    sess = TorchSession(rec, "cpu", "float16")
    first = sess.run(None, feeds)
    feeds.update({f"r{i}i": first[1 + i] for i in range(1, 5)})
    second = sess.run(None, feeds)
    assert sess.uploads == 6  # src and four zeros, then src only
    for a, b in zip(_ort_run(rec, feeds), second, strict=True):
        assert np.abs(a - b).max() < 1e-2


def test_recurrent_state_carried_and_not_uploaded_again(tmp_path):
    from animefy.image.matte import RvmMatter

    path = recurrent_matter(tmp_path / "rec.onnx")
    spec = _spec(path, role="matte", layout="NCHW", value_range=(0.0, 1.0))
    frames = [np.random.default_rng(i).integers(0, 256, (45, 61, 3), dtype=np.uint8) for i in range(6)]
    ref, tm = RvmMatter(spec, path, ORT), RvmMatter(spec, path, TORCH)
    for f in frames:
        _close(ref(f), tm(f), 1e-5)
    assert tm.state[0].shape[1] == 4 and np.abs(tm.state[0]).max() > 0  # the state is real and carried
    # first pass: src + four zero states; every later pass (settle + 5 frames): src only
    assert tm.session.uploads == 5 + len(frames)


# --------------------------------------------------------------------------- selection


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(runtime, "_torch_cuda", lambda: False)
    monkeypatch.setattr(runtime.ort_engine, "gpu_provider_available", lambda: False)


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(runtime, "_torch_cuda", lambda: True)
    monkeypatch.setattr(runtime.ort_engine, "gpu_provider_available", lambda: False)


def test_auto_picks_onnxruntime_on_cpu_and_says_so(no_gpu):
    assert runtime.choose_engine(Settings()) == EngineChoice("onnxruntime", "cpu")
    assert runtime.engine_info(Settings()) == "onnxruntime on cpu"
    assert runtime.choose_engine(TORCH) == EngineChoice("torch", "cpu")
    assert runtime.engine_info(TORCH) == "torch on cpu, frozen graphs"


def test_auto_here_really_is_onnxruntime():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert runtime.choose_engine(Settings.from_env({})) == EngineChoice("onnxruntime", "cpu")


def test_auto_picks_torch_on_cuda_with_fp16_for_the_verified_models(fake_gpu):
    assert runtime.choose_engine(Settings()) == EngineChoice("torch", "cuda")
    info = runtime.engine_info(Settings())
    assert info.startswith("torch on cuda, frozen graphs (fp16: shinkai_v3, hayao_v3, cute_v3")
    assert runtime.engine_info(Settings(fp16="off", torch_graph="export")) == "torch on cuda, export graphs (fp32)"
    assert runtime.choose_engine(ORT) == EngineChoice("onnxruntime", "cpu")
    from animefy.app.zerogpu import per_frame_seconds

    request = VideoRequest(person_style="shinkai_v3", background="keep")
    assert per_frame_seconds(request, Settings(), (1280, 720)) < per_frame_seconds(request, ORT, (1280, 720))


def test_zerogpu_counts_as_cuda_at_import_time(no_gpu):
    assert runtime.choose_engine(Settings(on_zerogpu=True)) == EngineChoice("torch", "cuda")


def test_device_cuda_without_a_gpu_is_a_typed_error(no_gpu, tmp_path):
    for settings in (
        Settings(device="cuda"),
        Settings(device="cuda", engine="torch"),
        Settings.from_env({"ANIMEFY_DEVICE": "cuda"}),
    ):
        with pytest.raises(NoGpuError) as err:
            runtime.choose_engine(settings)
        assert isinstance(err.value, AnimefyError)
        assert "no CUDA GPU is visible" in str(err.value) and "--device cpu" in str(err.value)
        assert "ANIMEFY_DEVICE=cpu" in str(err.value)
    with pytest.raises(NoGpuError):
        runtime.session(affine_stylizer(tmp_path / "a.onnx"), Settings(device="cuda"))
    assert runtime.engine_info(Settings(device="cuda")).startswith("unavailable: ")


def test_front_ends_name_the_engine(no_gpu, capsys):
    from fastapi.testclient import TestClient

    from animefy.app import cli
    from animefy.app.rest import create_rest_app

    assert cli.main(["models"]) == 0
    assert "Engine: onnxruntime on cpu" in capsys.readouterr().out
    health = TestClient(create_rest_app(Settings())).get("/health").json()
    assert health["engine"] == "onnxruntime on cpu"


def test_engine_torch_without_torch_is_a_typed_error(monkeypatch):
    monkeypatch.setattr(runtime, "torch_installed", lambda: False)
    with pytest.raises(TorchMissingError, match="pip install"):
        runtime.choose_engine(Settings(engine="torch"))
    assert runtime.choose_engine(Settings(device="cpu")) == EngineChoice("onnxruntime", "cpu")


def test_sessions_cached_per_engine_device_precision_threads(tmp_path):
    path = affine_stylizer(tmp_path / "a.onnx")
    a = runtime.session(path, ORT)
    assert runtime.session(tmp_path / "." / "a.onnx", ORT) is a
    t = runtime.session(path, TORCH)
    assert t is not a and runtime.session(path, TORCH) is t
    assert runtime.session(path, Settings(engine="onnxruntime", device="cpu", threads=1)) is not a
    runtime.clear_sessions()
    assert runtime.session(path, ORT) is not a


def test_precision_fp16_only_on_cuda_for_verified_files(tmp_path, monkeypatch):
    path = affine_stylizer(tmp_path / "a.onnx")
    cuda = EngineChoice("torch", "cuda")
    assert runtime.precision(path, cuda, Settings()) == "float32"
    assert runtime.precision(path, cuda, Settings(fp16="on")) == "float16"
    monkeypatch.setitem(runtime.FP16_VERIFIED, runtime.file_sha256(path), "a")
    assert runtime.precision(path, cuda, Settings()) == "float16"
    assert runtime.precision(path, cuda, Settings(fp16="off")) == "float32"
    assert runtime.precision(path, EngineChoice("torch", "cpu"), Settings()) == "float32"
    assert Settings.from_env({"ANIMEFY_FP16": "off"}).fp16 == "off"


def test_preload_builds_sessions_the_pipeline_then_reuses(tmp_path):
    affine_stylizer(tmp_path / "inv.onnx", scale=(-1, -1, -1))
    recurrent_matter(tmp_path / "rec.onnx")
    common = {"layout": "NHWC", "color": "RGB", "value_range": [-1, 1], "licence": "test"}
    write_catalog(tmp_path / "cat.toml", {
        "invert": {**common, "role": "stylize", "filename": "inv.onnx", "display": "Invert"},
        "rvm": {"role": "matte", "format": "rvm", "filename": "rec.onnx", "layout": "NCHW", "value_range": [0, 1],
                "licence": "test"},
    })  # fmt: skip
    settings = Settings(models_dirs=(tmp_path,), user_catalog=tmp_path / "cat.toml", offline=True, engine="torch")
    # RVM has its own format ("rvm"): it used to be skipped, and loaded inside the first GPU call
    wanted = [("invert", "stylize"), ("rvm", "matte"), ("cel", "stylize"), ("no_such_model", "stylize")]
    assert preload(settings, wanted) == ["invert", "rvm", "cel"]
    assert isinstance(runtime.session(tmp_path / "inv.onnx", settings), TorchSession)
    assert len(runtime._sessions) == 2


# ---------------------------------------------------------------- real models in ../shared

PHOTOS = ("astronaut.png", "basketball.png", "cameraman.png")  # used at 384 px on the long side


def _grey(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    d = np.abs(a.astype(int) - b.astype(int))
    return int(d.max()), float(d.mean())


@pytest.fixture(scope="module")
def photos():
    from conftest import SHARED

    from animefy.image.io import load_image

    if not (SHARED / "media").is_dir():
        pytest.skip("../shared is absent")
    return {p: _fit(load_image(SHARED / "media" / p).rgb, 384) for p in PHOTOS}


def _fit(rgb: np.ndarray, side: int) -> np.ndarray:
    """The photo with its long side at `side` (keeps the CPU tests quick)."""
    import cv2

    h, w = rgb.shape[:2]
    s = side / max(h, w)
    return cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


@pytest.mark.real
@pytest.mark.parametrize("style", ["shinkai_v3", "hayao_v3", "cute_v3"])
def test_stylizer_parity_on_real_photos(real_models, photos, style):
    from animefy.models.catalog import load_catalog

    settings = Settings(models_dirs=(real_models / "models",))
    spec = load_catalog(settings).get(style)
    path = real_models / "models" / spec.filename
    a, b = OnnxGenerator(spec, path, ORT), OnnxGenerator(spec, path, TORCH)
    assert isinstance(b.session, TorchSession)
    for name, rgb in photos.items():
        worst, mean = _grey(a(rgb), b(rgb))
        assert worst <= 2 and mean <= 0.5, (style, name, worst, mean)


def _clip_frames(path: Path, count: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, bgr = cap.read()
        assert ok
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames


@pytest.mark.real
def test_rvm_parity_over_ten_frames_with_state(real_models):
    from animefy.image.matte import RvmMatter
    from animefy.models.catalog import load_catalog

    spec = load_catalog(Settings(models_dirs=(real_models / "models",))).get("rvm")
    path = real_models / "models" / spec.filename
    ref, tm = RvmMatter(spec, path, ORT), RvmMatter(spec, path, TORCH)
    assert isinstance(tm.session, TorchSession)
    for frame in _clip_frames(real_models / "media" / "carphone.mp4", 10):
        worst, mean = _grey(np.round(ref(frame) * 255), np.round(tm(frame) * 255))
        assert worst <= 2 and mean <= 0.5
    assert tm.frames_seen == 11 and tm.session.uploads == 5 + 10


@pytest.mark.real
def test_every_shared_model_runs_on_the_torch_engine(real_models):
    """RVM, YuNet and the MediaPipe face models (today YuNet runs through cv2 and MediaPipe
    not at all): raw outputs on random input agree with ONNX Runtime."""
    rng = np.random.default_rng(0)
    for path in sorted((real_models / "models").glob("*.onnx")):
        if path.name.startswith("animeganv3"):
            continue  # the stylizer tests cover these on photos
        sess = TorchSession(path)
        feeds = {}
        for i in sess.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 64 for d in i.shape]
            feeds[i.name] = rng.uniform(0, 1, shape).astype(np.float32)
        if "downsample_ratio" in feeds:
            feeds.update({f"r{k}i": np.zeros((1, 1, 1, 1), np.float32) for k in range(1, 5)})
            feeds["downsample_ratio"] = np.array([0.5], np.float32)
        for a, b in zip(_ort_run(path, feeds), sess.run(None, feeds), strict=True):
            _close(a, b, 1e-3)


@pytest.mark.real
def test_every_shared_model_exports_and_matches_onnxruntime(real_models):
    """torch.export of every shared model (frozen at one input size), run against ONNX
    Runtime: within 1e-3 on outputs in [-1, 1] / [0, 1] (measured: at most 9e-4, RVM)."""
    rng = np.random.default_rng(0)
    for path in sorted((real_models / "models").glob("*.onnx")):
        sess = TorchSession(path, graph_mode="export")
        feeds = {}
        for i in sess.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 64 for d in i.shape]
            feeds[i.name] = rng.uniform(0, 1, shape).astype(np.float32)
        if "downsample_ratio" in feeds:
            feeds.update({f"r{k}i": np.zeros((1, 1, 1, 1), np.float32) for k in range(1, 5)})
            feeds["downsample_ratio"] = np.array([0.5], np.float32)
        sess.run(None, feeds)  # records the shapes, exports
        for a, b in zip(_ort_run(path, feeds), sess.run(None, feeds), strict=True):  # the exported program
            _close(a, b, 1e-3)
        assert sess.builds == 1 and type(next(iter(sess._graphs.values()))).__name__ == "GraphModule", path.name


@pytest.mark.real
def test_shape_arithmetic_never_waits_on_the_device(real_models, tmp_path):
    """On CUDA a host step reading a device value would sync and copy: none in any model."""
    for path in [*sorted((real_models / "models").glob("*.onnx")), recurrent_matter(tmp_path / "r.onnx")]:
        assert TorchSession(path).module.device_to_host_reads() == [], path.name


@pytest.mark.real
def test_image_pipeline_torch_vs_onnxruntime_psnr(real_models):
    from animefy.image.pipeline import stylize_image

    for photo in ("astronaut.png", "basketball.png"):
        out = {}
        for engine in ("onnxruntime", "torch"):
            settings = Settings(models_dirs=(real_models / "models",), engine=engine, device="cpu", max_side=384)
            result = stylize_image(
                real_models / "media" / photo, person_style="shinkai_v3", background_style="hayao_v3", settings=settings
            )
            out[engine] = result.rgb.astype(np.float64)
        assert {k[1] for k in runtime._sessions} == {"onnxruntime", "torch"}
        mse = np.mean((out["onnxruntime"] - out["torch"]) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-12)) >= 40, photo


@pytest.mark.real
def test_registry_gives_a_torch_stylizer_to_a_torch_request(real_models):
    from animefy.models import registry

    models = (real_models / "models",)
    ort_one = registry.load("cute_v3", "stylize", Settings(models_dirs=models, engine="onnxruntime"))
    torch_one = registry.load("cute_v3", "stylize", Settings(models_dirs=models, engine="torch", device="cpu"))
    assert isinstance(torch_one.model.session, TorchSession) and not isinstance(ort_one.model.session, TorchSession)


@pytest.mark.real
def test_fp16_choice_matches_measured_parity(real_models, photos):
    """FP16_VERIFIED holds exactly the shared models whose output stays within the parity
    budget with fp16 storage (emulated on CPU: every intermediate rounded to fp16)."""
    from animefy.image.matte import RvmMatter
    from animefy.models.catalog import load_catalog

    catalog = load_catalog(Settings(models_dirs=(real_models / "models",)))
    small = _fit(photos["astronaut.png"], 256)
    passing = set()
    for style in ("shinkai_v3", "hayao_v3", "cute_v3"):
        spec = catalog.get(style)
        path = real_models / "models" / spec.filename
        gen = OnnxGenerator(spec, path, ORT)
        a = gen(small)
        gen.session = TorchSession(path, round_to="float16")
        worst, mean = _grey(a, gen(small))
        if worst <= 2 and mean <= 0.5:
            passing.add(runtime.file_sha256(path))
    spec = catalog.get("rvm")
    path = real_models / "models" / spec.filename
    ref, low = RvmMatter(spec, path, ORT), RvmMatter(spec, path, ORT)
    low.session = TorchSession(path, round_to="float16")
    worst = 0
    for frame in _clip_frames(real_models / "media" / "carphone.mp4", 10):
        worst = max(worst, _grey(np.round(ref(frame) * 255), np.round(low(frame) * 255))[0])
    if worst <= 2:
        passing.add(runtime.file_sha256(path))
    assert passing == set(runtime.FP16_VERIFIED), worst


# ------------------------------------------------------------------------- ZeroGPU rules

ZEROGPU_PYTHONS = ("3.10.13", "3.12.12")  # the ZeroGPU docs' "Supported Versions"
ZEROGPU_TORCH = ("2.8.0", "2.9.1", "2.10.0", "2.11.0", "2.12.0", "2.13.0")  # "2.8.0 to latest"; 2.13.0 installs here


def _front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("---\n")[1]
    return {
        k.strip(): v.strip().strip('"') for k, v in (line.split(":", 1) for line in block.splitlines() if ":" in line)
    }


def _requirements(name: str) -> dict[str, str]:
    out = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            pkg = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]
            out[pkg.lower().replace("_", "-")] = line[len(pkg) :]
    return out


def test_space_configuration_follows_zerogpu_rules():
    from packaging.specifiers import SpecifierSet

    meta = _front_matter()
    assert meta["sdk"] == "gradio" and int(meta["sdk_version"].split(".")[0]) >= 4
    assert meta["app_file"] == "app.py"
    assert meta["python_version"] in ZEROGPU_PYTHONS
    reqs = _requirements("requirements.txt")
    assert "spaces" in reqs
    torch_spec = SpecifierSet(reqs["torch"])
    assert all(v in torch_spec for v in ZEROGPU_TORCH)  # every supported one, the newest included
    assert not any(v in torch_spec for v in ("2.7.1", "2.5.1"))  # nothing older than ZeroGPU supports
    # local installs never see the Space's torch pin (it would pull a CUDA build): same list minus torch/spaces
    local = _requirements("requirements-local.txt")
    assert local == {k: v for k, v in reqs.items() if k not in ("torch", "spaces")}
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements-local.txt" in dev and "-r requirements.txt" not in dev
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"pip install -q torch==[\d.]+", ci) and "-r requirements.txt" not in ci


def _imports(stmt: ast.stmt) -> list[str]:
    names = []
    for node in ast.walk(stmt):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_app_imports_spaces_before_torch_and_preloads_on_zerogpu():
    tree = ast.parse((ROOT / "app.py").read_text())
    order = [name for stmt in tree.body for name in _imports(stmt) if name != "__future__"]
    assert order[0] == "spaces", order  # before torch and before animefy (which may import it)
    assert "preload" in ast.unparse(tree) and "on_zerogpu" in ast.unparse(tree)


def test_gradio_queue_is_bounded_and_gpu_functions_are_synchronous():
    ui = ast.parse((ROOT / "animefy" / "app" / "ui.py").read_text())
    queues = [
        c
        for c in ast.walk(ui)
        if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "queue"
    ]
    assert queues and all(any(k.arg == "max_size" for k in c.keywords) for c in queues)
    defs: dict[str, ast.AST] = {}
    wrapped: list[str] = []
    for path in (ROOT / "animefy" / "app").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                defs[node.name] = node
                decorated = any("gpu" in ast.unparse(d).lower() for d in node.decorator_list)
                assert not (decorated and isinstance(node, ast.AsyncFunctionDef)), f"{path.name}: async {node.name}"
            # gpu(duration=...)(render_image): the wrapped function must be synchronous too
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Call)
                and "gpu" in ast.unparse(node.func).lower()
            ):
                wrapped += [a.id for a in node.args if isinstance(a, ast.Name)]
    assert wrapped, "no gpu(...)(fn) calls found: update this test"
    assert all(isinstance(defs[name], ast.FunctionDef) for name in wrapped), wrapped
