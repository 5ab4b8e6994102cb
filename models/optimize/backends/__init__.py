"""The INT8 backends, one module each, behind `QuantizationBackend` (see `base.py`); looked up
by name, ignoring case and hyphens."""

from __future__ import annotations

from models.optimize.backends.base import QuantizationBackend
from models.optimize.backends.llm_int8 import BitsAndBytes
from models.optimize.backends.ort import OnnxRuntime
from models.optimize.backends.torch_dynamic import TorchDynamic
from models.registry import Registry

BACKENDS = ("torch_dynamic", "onnxruntime", "bitsandbytes")
_BACKENDS: Registry[QuantizationBackend] = Registry(
    "quantization backend", {backend.name: backend for backend in (TorchDynamic(), OnnxRuntime(), BitsAndBytes())}
)


def quantization_backend(name: str) -> QuantizationBackend:
    """The backend called `name` (case and hyphens ignored); UnknownNameError with suggestions."""
    return _BACKENDS.get(name)
