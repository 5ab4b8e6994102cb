"""ONNX Runtime dynamic INT8 quantization of optimum's ONNX export (CPU)."""

from __future__ import annotations

import logging
import math
import platform
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from contract.families import family
from contract.work import resolve
from models.families.base import ModelFamily
from models.optimize.backends.base import (
    QuantizationBackend,
    QuantizationSkipped,
    QuantizedModel,
    copy_if_present,
    one_line,
)
from models.precision import Hardware

# optimum's names for the exported graphs -> the from_pretrained argument that loads each one
ONNX_FILE_ARGUMENTS = {
    "model": "file_name",
    "encoder_model": "encoder_file_name",
    "decoder_model": "decoder_file_name",
    "decoder_with_past_model": "decoder_with_past_file_name",
}


class OnnxRuntime(QuantizationBackend):
    """optimum's ONNX export, then ONNX Runtime dynamic quantization of every exported graph
    (MatMul and Gather weights to int8 with per-channel scales, activations quantized on the fly),
    configured for this CPU's instruction set. The fp32 ONNX files are not kept. Runs on the CPU."""

    packages = ("onnxruntime", "onnx", "optimum", "optimum-onnx")

    def unavailable_reason(self, hardware: Hardware) -> str | None:
        try:
            import onnxruntime  # noqa: F401
            import optimum.onnxruntime  # noqa: F401
        except ImportError as exc:
            return f"{one_line(exc)}; pip install 'optimum[onnxruntime]' at the versions pinned in pyproject.toml"
        return None

    def build(self, family: ModelFamily, fp32_dir: Path, directory: Path) -> QuantizedModel:
        from optimum.onnxruntime import AutoQuantizationConfig, ORTQuantizer

        export_dir = directory / "onnx-fp32"
        with warnings.catch_warnings():  # the TorchScript exporter optimum uses warns at every trace
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
            warnings.filterwarnings("ignore", message="The feature will be removed")
            _ort_class(family.name).from_pretrained(
                fp32_dir, export=True, local_files_only=True, trust_remote_code=family.job.candidate.trust_remote_code
            ).save_pretrained(export_dir)
        instruction_set = cpu_instruction_set(_cpu_flags(), platform.machine())
        config = getattr(AutoQuantizationConfig, instruction_set)(is_static=False)
        external_data = any(p.name.endswith((".onnx_data", ".onnx.data")) for p in export_dir.iterdir())
        files: dict[str, str] = {}
        for graph in sorted(export_dir.glob("*.onnx")):
            if graph.stem not in ONNX_FILE_ARGUMENTS:
                raise ValueError(f"the ONNX export wrote {graph.name}, a graph this backend cannot load")
            with _info_logs_off():
                ORTQuantizer.from_pretrained(export_dir, file_name=graph.name).quantize(
                    quantization_config=config, save_dir=directory, file_suffix="quantized",
                    use_external_data_format=external_data,
                )
            files[ONNX_FILE_ARGUMENTS[graph.stem]] = f"{graph.stem}_quantized.onnx"
        copy_if_present(export_dir / "generation_config.json", directory)
        shutil.rmtree(export_dir)
        fp32, quantized = _onnx_layer_bytes([directory / name for name in files.values()])
        details = {
            "onnx_files": files,
            "instruction_set": instruction_set,
            "config": {key: value.name if isinstance(value, Enum) else value for key, value in vars(config).items()},
        }
        return QuantizedModel(_ort_model(directory, family.name, files), fp32, quantized, details)

    def load(self, directory: Path, descriptor: dict[str, Any]) -> Any:
        return _ort_model(directory, descriptor["family"], descriptor["details"]["onnx_files"])


@contextmanager
def _info_logs_off() -> Iterator[None]:
    """ONNX Runtime's quantizer logs a line per tensor at INFO on the root logger, which no logger
    name can silence; INFO is switched off process-wide for the seconds it runs."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


def cpu_instruction_set(flags: str, machine: str) -> str:
    """The `AutoQuantizationConfig` preset for a CPU, from its /proc/cpuinfo `flags` line and
    `platform.machine()`. x86 without AVX2 gets avx2's preset too: its u8/u8 format runs anywhere."""
    if machine.lower().startswith(("aarch64", "arm")):
        return "arm64"
    present = set(flags.split())
    if "avx512_vnni" in present:
        return "avx512_vnni"
    if "avx512f" in present:
        return "avx512"
    return "avx2"


def _cpu_flags() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    return next((line.partition(":")[2] for line in lines if line.startswith("flags")), "")


class _NoTrainingMode:
    """ONNX Runtime models cannot train; the families call `eval()` on every model they predict with."""

    def eval(self) -> Any:
        return self


@lru_cache
def _ort_class(family_name: str) -> Any:
    """optimum's ONNX Runtime class of the family (its row's `ort_class` in `contract.families`)."""
    path = family(family_name).ort_class
    if path is None:
        raise QuantizationSkipped(f"the {family_name} family names no ONNX Runtime model class (its ort_class in "
                                  "contract/families.py)")
    base = resolve(path)
    return type(base.__name__, (_NoTrainingMode, base), {})


def _ort_model(directory: Path, family_name: str, files: dict[str, str]) -> Any:
    """Sessions on the CPU, with as many threads as torch was given in this process."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    return _ort_class(family_name).from_pretrained(
        directory, local_files_only=True, provider="CPUExecutionProvider", session_options=options, **files
    )


def _onnx_layer_bytes(paths: list[Path]) -> tuple[int, int]:
    """From the quantized graphs' initializers: each int8 weight `W_quantized` with `W_scale` and
    `W_zero_point` (ONNX Runtime's naming), against 4 bytes per weight in fp32."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype
    from onnxruntime.quantization.quant_utils import TENSOR_NAME_QUANT_SUFFIX

    fp32 = quantized = 0
    for path in paths:
        initializers = onnx.load(str(path), load_external_data=False).graph.initializer
        sizes = {t.name: math.prod(t.dims) * tensor_dtype_to_np_dtype(t.data_type).itemsize for t in initializers}
        int8 = {t.name for t in initializers if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)}
        for name in int8:
            if name.endswith(TENSOR_NAME_QUANT_SUFFIX):
                stem = name.removesuffix(TENSOR_NAME_QUANT_SUFFIX)
                fp32 += 4 * sizes[name]
                quantized += sizes[name] + sizes.get(f"{stem}_scale", 0) + sizes.get(f"{stem}_zero_point", 0)
    return fp32, quantized
