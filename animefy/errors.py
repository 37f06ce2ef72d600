"""Typed failures. Library code raises these; the CLI maps them to exit codes and the UI
to readable messages. Every message says what to do next."""

from __future__ import annotations


class AnimefyError(Exception):
    """Base class: a failure the user can act on (bad input, missing model, limit hit)."""

    exit_code = 1
    http_status = 400
    code = "animefy_error"


class InputError(AnimefyError):
    """The file or parameter given cannot be used."""

    exit_code = 2
    http_status = 400
    code = "bad_input"


class LimitError(InputError):
    """The input is larger (or smaller) than the configured limits allow."""

    http_status = 413
    code = "limit_exceeded"


class AspectRatioError(LimitError):
    """The picture is too thin: its long side over its short side passes settings.max_aspect."""

    code = "aspect_ratio_exceeded"


class ConfigError(AnimefyError):
    """An environment variable or setting has a value animefy cannot use."""

    exit_code = 2
    http_status = 500
    code = "bad_configuration"


class ModelUnavailableError(AnimefyError):
    """No source could provide a model file (offline, not in the local directory, ...)."""

    exit_code = 3
    http_status = 503
    code = "model_unavailable"

    def __init__(self, model: str, tried: list[str], hint: str) -> None:
        self.model = model
        self.tried = list(tried)
        self.hint = hint
        lines = [f"Model '{model}' is not available."]
        if tried:
            lines.append("Tried: " + "; ".join(tried) + ".")
        lines.append(hint)
        super().__init__(" ".join(lines))


class UnknownNameError(InputError):
    """A style or model name that the catalog does not know."""

    code = "unknown_name"

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        super().__init__(f"Unknown {kind} '{name}'.{hint} Known: {', '.join(sorted(known))}.")


class ModelLoadError(AnimefyError):
    """A model file is present but cannot be loaded (damaged, truncated, not a model at all).
    The message names the file, never the folder it is in (that is logged instead)."""

    exit_code = 3
    http_status = 503
    code = "model_damaged"

    def __init__(
        self, filename: str, model: str | None = None, problem: str = "is damaged and cannot be loaded"
    ) -> None:
        self.filename = filename
        self.model = model
        again = f" (python -m animefy download {model})" if model else ""
        super().__init__(
            f"The model file '{filename}' {problem}. Delete it so it is downloaded again{again}, "
            "or replace it with a good copy."
        )


class ChecksumError(ModelLoadError):
    """A model file does not match the sha256 (or size) the catalog expects: damaged like a
    file that cannot be loaded, so the same 503 `model_damaged` (the server runs; this model
    cannot). The message names the file, never its folder."""

    def __init__(self, filename: str, model: str, problem: str, deleted: bool = False) -> None:
        self.filename, self.model = filename, model
        fix = (
            "The cached copy was deleted; the next run downloads it again."
            if deleted
            else f"Replace it with a good copy (python -m animefy download {model})."
        )
        AnimefyError.__init__(self, f"Model '{model}' is damaged: its file '{filename}' {problem}. {fix}")


class EngineError(AnimefyError):
    """The inference engine or device asked for cannot be used here."""

    exit_code = 4
    http_status = 503
    code = "engine_unavailable"


class NoGpuError(EngineError):
    """device=cuda was asked for, but no CUDA GPU is visible."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "The CUDA device was asked for (--device cuda / ANIMEFY_DEVICE=cuda), but no CUDA GPU is visible"
            f"{' (' + detail + ')' if detail else ''}. Use --device cpu (or ANIMEFY_DEVICE=cpu), or leave the device"
            " on auto to use a GPU only when there is one."
        )


class TorchMissingError(EngineError):
    """The torch engine was asked for, but PyTorch is not installed."""

    def __init__(self, what: str = "The torch engine (--engine torch / ANIMEFY_ENGINE=torch)") -> None:
        super().__init__(
            f"{what} needs PyTorch and the onnx package, which are not installed. Install them with"
            " `pip install onnx torch` (for a CPU-only build, use the CPU wheel index that PyTorch's install page"
            " gives), or use --engine onnxruntime (ANIMEFY_ENGINE=onnxruntime)."
        )


class UnsupportedModelError(EngineError):
    """The torch engine cannot run a model (an ONNX operator or attribute it does not implement)."""

    code = "model_unsupported"
