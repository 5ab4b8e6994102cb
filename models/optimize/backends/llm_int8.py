"""bitsandbytes LLM.int8 through transformers (GPU; CPU where the installed version runs it)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from models.families.base import ModelFamily
from models.optimize.backends.base import QuantizationBackend, QuantizedModel, nbytes, one_line
from models.precision import Hardware, detect_hardware
from models.registry import auto_model_class


class BitsAndBytes(QuantizationBackend):
    """LLM.int8 through transformers: Linear weights int8 with one absmax scale per output row
    (SCB), saved with int8 serialization. transformers leaves the output head unconverted. The
    rest of the model stays fp32, so only the int8 layers differ from the fp32 checkpoint."""

    packages = ("bitsandbytes",)

    def unavailable_reason(self, hardware: Hardware) -> str | None:
        return _int8_unavailable(hardware.device)

    def build(self, family: ModelFamily, fp32_dir: Path, directory: Path) -> QuantizedModel:
        from bitsandbytes.nn import Linear8bitLt
        from transformers import BitsAndBytesConfig

        trust = family.job.candidate.trust_remote_code
        model = _bnb_model(family.name, fp32_dir, trust, BitsAndBytesConfig(load_in_8bit=True))
        model.save_pretrained(directory, safe_serialization=True)
        layers = [m for m in model.modules() if isinstance(m, Linear8bitLt)]
        fp32 = sum(4 * layer.weight.numel() for layer in layers)
        quantized = sum(nbytes(layer.weight) + nbytes(layer.weight.SCB) for layer in layers)
        details = {"quantized_modules": len(layers), "device": str(model.device),
                   "scheme": "LLM.int8: int8 weights, one fp32 absmax scale per output row"}
        return QuantizedModel(model, fp32, quantized, details)

    def load(self, directory: Path, descriptor: dict[str, Any]) -> Any:
        return _bnb_model(descriptor["family"], directory, descriptor["trust_remote_code"], None)


def _bnb_model(family_name: str, location: Path, trust_remote_code: bool, quantization_config: Any) -> Any:
    """From fp32 weights with `quantization_config`, or from an int8 save (its config says how)."""
    quantization = {"quantization_config": quantization_config} if quantization_config is not None else {}
    model = auto_model_class(family_name).from_pretrained(
        location, device_map=detect_hardware().device, dtype=torch.float32, local_files_only=True,
        trust_remote_code=trust_remote_code, **quantization,
    )
    return model.eval()


@lru_cache
def _int8_unavailable(device: str) -> str | None:
    """Decided by trying: an LLM.int8 layer is quantized onto `device` and runs a forward pass."""
    try:
        import bitsandbytes
    except ImportError as exc:
        return f"bitsandbytes cannot be imported ({one_line(exc)}); pip install the version pinned in pyproject.toml"
    fix = "use torch_dynamic or onnxruntime on this machine"
    try:
        layer = bitsandbytes.nn.Linear8bitLt(64, 8, has_fp16_weights=False).to(device)
        with torch.no_grad():
            layer(torch.randn(2, 64, device=device))
    except Exception as exc:  # an unsupported device fails in several ways; any of them is the answer
        return f"bitsandbytes {bitsandbytes.__version__} cannot run LLM.int8 on {device} ({one_line(exc)}); {fix}"
    if layer.weight.dtype != torch.int8:
        return f"bitsandbytes {bitsandbytes.__version__} keeps LLM.int8 weights in {layer.weight.dtype} on {device}; {fix}"
    return None
