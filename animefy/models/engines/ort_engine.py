"""The ONNX Runtime engine: an InferenceSession per model file, with CUDA when the installed
onnxruntime has it (onnxruntime-gpu) and the device allows, else CPU."""

from __future__ import annotations

from pathlib import Path


def gpu_provider_available() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def providers(device: str) -> tuple[str, ...]:
    """CUDA first when onnxruntime has it and the device is not cpu; CPU always last."""
    chosen = ("CUDAExecutionProvider",) if device != "cpu" and gpu_provider_available() else ()
    return (*chosen, "CPUExecutionProvider")


def create(path: Path | str, device: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=list(providers(device)))
