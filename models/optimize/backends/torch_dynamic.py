"""PyTorch dynamic INT8 quantization of every Linear layer (CPU)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from models.families.base import ModelFamily
from models.optimize.backends.base import QuantizationBackend, QuantizedModel, copy_if_present, nbytes
from models.precision import Hardware, cpu_hardware, decide_precision
from models.registry import auto_model_class


class TorchDynamic(QuantizationBackend):
    """`torch.ao.quantization.quantize_dynamic` on every Linear: int8 weights with a scale per
    output channel, activations quantized on the fly. Packed weights are no tensors safetensors
    can hold, so the state dict goes through torch.save (and loads back with weights_only=True)
    into a model rebuilt from its config and quantized the same way. Runs on the CPU."""

    packages = ("torch",)
    weights_file = "model_int8.pt"

    def unavailable_reason(self, hardware: Hardware) -> str | None:
        if not [engine for engine in torch.backends.quantized.supported_engines if engine != "none"]:
            return (f"this torch build ({torch.__version__}) has no quantized CPU engine (x86, fbgemm, qnnpack); "
                    "install the standard torch wheel")
        return None

    def build(self, family: ModelFamily, fp32_dir: Path, directory: Path) -> QuantizedModel:
        model, _ = family.load_trained(fp32_dir, decide_precision("fp32", cpu_hardware()))
        model = _dynamic_int8(model)
        torch.save(model.state_dict(), directory / self.weights_file)
        model.config.save_pretrained(directory)
        copy_if_present(fp32_dir / "generation_config.json", directory)
        layers = [m for m in model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
        fp32, quantized = _dynamic_layer_bytes(layers)
        details = {"weights_file": self.weights_file, "quantized_modules": len(layers),
                   "scheme": "int8 weights, per-output-channel scales; activations quantized per batch"}
        return QuantizedModel(model, fp32, quantized, details)

    def load(self, directory: Path, descriptor: dict[str, Any]) -> Any:
        from transformers import AutoConfig, GenerationConfig

        trust = descriptor["trust_remote_code"]
        config = AutoConfig.from_pretrained(directory, local_files_only=True, trust_remote_code=trust)
        model = _dynamic_int8(auto_model_class(descriptor["family"]).from_config(config, trust_remote_code=trust))
        with _quiet_torch_ao():
            model.load_state_dict(torch.load(directory / self.weights_file, weights_only=True))
        if (directory / "generation_config.json").is_file():
            model.generation_config = GenerationConfig.from_pretrained(directory)
        return model.eval()


def _dynamic_int8(model: Any) -> Any:
    """Every Linear (GPT-2's Conv1D included, as the Linear it is) as a dynamically quantized one."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    _conv1d_as_linear(model)
    with _quiet_torch_ao():
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)


def _conv1d_as_linear(model: torch.nn.Module) -> None:
    """GPT-2 keeps its projections in transformers' Conv1D (a Linear with its weight transposed),
    which quantize_dynamic does not know; swapped for real Linears, they quantize like any other."""
    from transformers.pytorch_utils import Conv1D

    for name, module in list(model.named_modules()):
        if isinstance(module, Conv1D):
            n_in, n_out = module.weight.shape
            linear = torch.nn.Linear(n_in, n_out, device=module.weight.device, dtype=module.weight.dtype)
            with torch.no_grad():
                linear.weight.copy_(module.weight.t())
                linear.bias.copy_(module.bias)
            model.set_submodule(name, linear)


def _dynamic_layer_bytes(layers: list[Any]) -> tuple[int, int]:
    fp32 = quantized = 0
    for layer in layers:
        weight = layer.weight()
        fp32 += 4 * weight.numel()
        # torch keeps a float64 scale and an int64 zero point per output channel
        quantized += nbytes(weight) + nbytes(weight.q_per_channel_scales()) + nbytes(weight.q_per_channel_zero_points())
    return fp32, quantized


@contextmanager
def _quiet_torch_ao() -> Iterator[None]:
    """torch.ao.quantization works in torch 2.13 but warns at every call that it moves to torchao,
    and loading its quantized tensors warns about torch internals."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel")
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")  # torch.load of quantized tensors
        yield
