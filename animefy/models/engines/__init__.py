"""Inference engines behind `animefy.models.runtime.session`: ONNX Runtime (`ort_engine`)
and torch (`torch_engine`, an ONNX-graph interpreter for GPUs). Both return objects with
ONNX Runtime's small session API: run, get_inputs, get_outputs, get_providers."""
