"""INT8 variants of a trained checkpoint: PyTorch dynamic quantization, ONNX Runtime dynamic
quantization and bitsandbytes LLM.int8, each a small backend behind one interface.

Every backend starts from fp32 weights (a QLoRA checkpoint's adapters are first merged into its
fp32 base) and writes an artefact directory: the quantized model files, config, tokenizer, and
`quantization.json`, which says how to load it and what was measured. The directory is written
through `models.checkpoint.write_checkpoint`, so a crash leaves at most a `.partial` sibling.

Layer bytes compare only what a backend quantized: those layers' fp32 weights against their
int8 weights plus the scales and zero points stored with them. Biases stay fp32 in every backend
and are left out on both sides. Whole-file sizes also count what stays fp32, above all the
embeddings, which dominate tiny models.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import shutil
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from models.checkpoint import read_manifest, verify_checkpoint, write_checkpoint
from models.families.base import ModelFamily
from models.job import TrainingJob
from models.precision import Hardware, cpu_hardware, decide_precision, detect_hardware
from models.registry import Registry, load_family
from orchestrator.names import UnknownNameError

log = logging.getLogger(__name__)

BACKENDS = ("torch_dynamic", "onnxruntime", "bitsandbytes")
DESCRIPTOR = "quantization.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx", ".onnx_data", ".onnx.data")

Status = Literal["ok", "skipped", "failed"]


@dataclass
class QuantizedVariant:
    """One backend's outcome for one checkpoint; `to_dict` is what the stage stores and reports."""

    backend: str
    status: Status
    reason: str | None = None
    path: Path | None = None
    size_bytes: int = 0
    fp32_size_bytes: int = 0
    layer_bytes_fp32: int = 0
    layer_bytes_quantized: int = 0
    quantize_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "path": str(self.path) if self.path is not None else None,
            "size_ratio": _ratio(self.fp32_size_bytes, self.size_bytes),
            "layer_ratio": _ratio(self.layer_bytes_fp32, self.layer_bytes_quantized),
        }


class QuantizationSkipped(Exception):
    """This backend cannot quantize this checkpoint, for a reason to report rather than a bug."""


@dataclass
class QuantizedModel:
    """What a backend's `build` hands back: the quantized model, ready to predict, its layer
    bytes, and the details its `load` needs from `quantization.json`."""

    model: Any
    layer_bytes_fp32: int
    layer_bytes_quantized: int
    details: dict[str, Any] = field(default_factory=dict)


class QuantizationBackend(ABC):
    name: ClassVar[str]
    packages: ClassVar[tuple[str, ...]]  # whose versions quantization.json records

    def unavailable_reason(self, hardware: Hardware) -> str | None:
        """Why this backend cannot run here with the installed packages; None when it can."""
        return None

    @abstractmethod
    def build(self, family: ModelFamily, fp32_dir: Path, directory: Path) -> QuantizedModel:
        """Quantize the full fp32 checkpoint in `fp32_dir`; write the model files into `directory`."""

    @abstractmethod
    def load(self, directory: Path, descriptor: dict[str, Any]) -> Any:
        """The model of an artefact that `build` wrote, ready for the family's `predict`."""


# --------------------------------------------------------------------------- torch dynamic


class TorchDynamic(QuantizationBackend):
    """`torch.ao.quantization.quantize_dynamic` on every Linear: int8 weights with a scale per
    output channel, activations quantized on the fly. Packed weights are no tensors safetensors
    can hold, so the state dict goes through torch.save (and loads back with weights_only=True)
    into a model rebuilt from its config and quantized the same way. Runs on the CPU."""

    name = "torch_dynamic"
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
        _copy_if_present(fp32_dir / "generation_config.json", directory)
        layers = [m for m in model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
        fp32, quantized = _dynamic_layer_bytes(layers)
        details = {"weights_file": self.weights_file, "quantized_modules": len(layers),
                   "scheme": "int8 weights, per-output-channel scales; activations quantized per batch"}
        return QuantizedModel(model, fp32, quantized, details)

    def load(self, directory: Path, descriptor: dict[str, Any]) -> Any:
        from transformers import AutoConfig, GenerationConfig

        trust = descriptor["trust_remote_code"]
        config = AutoConfig.from_pretrained(directory, local_files_only=True, trust_remote_code=trust)
        model = _dynamic_int8(load_family(descriptor["family"]).auto_class.from_config(config, trust_remote_code=trust))
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
        quantized += _nbytes(weight) + _nbytes(weight.q_per_channel_scales()) + _nbytes(weight.q_per_channel_zero_points())
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


# --------------------------------------------------------------------------- ONNX Runtime

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

    name = "onnxruntime"
    packages = ("onnxruntime", "onnx", "optimum", "optimum-onnx")

    def unavailable_reason(self, hardware: Hardware) -> str | None:
        try:
            import onnxruntime  # noqa: F401
            import optimum.onnxruntime  # noqa: F401
        except ImportError as exc:
            return f"{_one_line(exc)}; pip install 'optimum[onnxruntime]' at the versions pinned in pyproject.toml"
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
        _copy_if_present(export_dir / "generation_config.json", directory)
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
    from optimum.onnxruntime import ORTModelForCausalLM, ORTModelForSeq2SeqLM, ORTModelForSequenceClassification

    base = {
        "seq2seq": ORTModelForSeq2SeqLM,
        "causal": ORTModelForCausalLM,
        "classifier": ORTModelForSequenceClassification,
    }[family_name]
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


# --------------------------------------------------------------------------- bitsandbytes


class BitsAndBytes(QuantizationBackend):
    """LLM.int8 through transformers: Linear weights int8 with one absmax scale per output row
    (SCB), saved with int8 serialization. transformers leaves the output head unconverted. The
    rest of the model stays fp32, so only the int8 layers differ from the fp32 checkpoint."""

    name = "bitsandbytes"
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
        quantized = sum(_nbytes(layer.weight) + _nbytes(layer.weight.SCB) for layer in layers)
        details = {"quantized_modules": len(layers), "device": str(model.device),
                   "scheme": "LLM.int8: int8 weights, one fp32 absmax scale per output row"}
        return QuantizedModel(model, fp32, quantized, details)

    def load(self, directory: Path, descriptor: dict[str, Any]) -> Any:
        return _bnb_model(descriptor["family"], directory, descriptor["trust_remote_code"], None)


def _bnb_model(family_name: str, location: Path, trust_remote_code: bool, quantization_config: Any) -> Any:
    """From fp32 weights with `quantization_config`, or from an int8 save (its config says how)."""
    quantization = {"quantization_config": quantization_config} if quantization_config is not None else {}
    model = load_family(family_name).auto_class.from_pretrained(
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
        return f"bitsandbytes cannot be imported ({_one_line(exc)}); pip install the version pinned in pyproject.toml"
    fix = "use torch_dynamic or onnxruntime on this machine"
    try:
        layer = bitsandbytes.nn.Linear8bitLt(64, 8, has_fp16_weights=False).to(device)
        with torch.no_grad():
            layer(torch.randn(2, 64, device=device))
    except Exception as exc:  # an unsupported device fails in several ways; any of them is the answer
        return f"bitsandbytes {bitsandbytes.__version__} cannot run LLM.int8 on {device} ({_one_line(exc)}); {fix}"
    if layer.weight.dtype != torch.int8:
        return f"bitsandbytes {bitsandbytes.__version__} keeps LLM.int8 weights in {layer.weight.dtype} on {device}; {fix}"
    return None


# --------------------------------------------------------------------------- the stage's API

_BACKENDS: Registry[QuantizationBackend] = Registry(
    "quantization backend", {backend.name: backend for backend in (TorchDynamic(), OnnxRuntime(), BitsAndBytes())}
)


def quantization_backend(name: str) -> QuantizationBackend:
    """The backend called `name` (case and hyphens ignored); UnknownNameError with suggestions."""
    return _BACKENDS.get(name)


def unavailable_reason(backend: str, hardware: Hardware) -> str | None:
    """Why `backend` cannot run on `hardware` with the installed versions; None when it can.
    torch_dynamic and onnxruntime always run on the CPU, so a GPU machine has them too."""
    try:
        return quantization_backend(backend).unavailable_reason(hardware)
    except UnknownNameError as exc:
        return str(exc)


def quantize(backend: str, job: TrainingJob, out_dir: Path) -> QuantizedVariant:
    """Quantize `job`'s checkpoint into `out_dir` (with `quantization.json`), written in a
    `.partial` sibling and renamed into place. Never raises for a backend that cannot run or
    fails: the variant says skipped or failed, and why (the traceback goes to the log)."""
    out_dir = Path(out_dir)
    try:
        implementation = quantization_backend(backend)
    except UnknownNameError as exc:
        return QuantizedVariant(backend, "failed", str(exc))
    checkpoint = job.output_dir / "checkpoint"
    problem = verify_checkpoint(checkpoint, job.fingerprint)
    if problem is not None:
        return QuantizedVariant(implementation.name, "failed", f"no finished checkpoint to quantize: {problem}; "
                                                               f"train {job.name} first")
    reason = implementation.unavailable_reason(detect_hardware())
    if reason is not None:
        return QuantizedVariant(implementation.name, "skipped", reason)

    variant = QuantizedVariant(implementation.name, "ok", path=out_dir)
    try:
        write_checkpoint(out_dir, lambda directory: _fill(implementation, job, variant, directory), job.fingerprint)
    except QuantizationSkipped as exc:
        variant = QuantizedVariant(implementation.name, "skipped", str(exc))
    except Exception as exc:  # a failed backend is a result of the stage, not the end of it
        log.exception("%s: %s quantization failed", job.name, implementation.name)
        variant = QuantizedVariant(implementation.name, "failed", _one_line(exc))
    finally:
        shutil.rmtree(out_dir.with_name(out_dir.name + ".partial"), ignore_errors=True)  # write_checkpoint's
    if variant.status == "ok":
        log.info("%s: %s INT8 is %.1fx smaller on the quantized layers, %.1fx on disk, in %.1f s", job.name,
                 variant.backend, variant.layer_bytes_fp32 / variant.layer_bytes_quantized,
                 variant.fp32_size_bytes / variant.size_bytes, variant.quantize_s)
    return variant


def _fill(backend: QuantizationBackend, job: TrainingJob, variant: QuantizedVariant, directory: Path) -> None:
    """Write the artefact into `directory` (the partial one) and the measures into `variant`."""
    from transformers import AutoTokenizer

    started = time.perf_counter()
    family = load_family(job.family)(job)
    checkpoint = job.output_dir / "checkpoint"
    fp32_dir, merged_base = _fp32_weights(family, checkpoint, directory / "fp32-merged")
    built = backend.build(family, fp32_dir, directory)
    if built.layer_bytes_quantized == 0:
        raise QuantizationSkipped(f"{backend.name} found no layer it quantizes in this {job.family} model")
    trust = job.candidate.trust_remote_code
    AutoTokenizer.from_pretrained(fp32_dir, local_files_only=True, trust_remote_code=trust).save_pretrained(directory)
    variant.fp32_size_bytes = weights_size(fp32_dir)
    shutil.rmtree(directory / "fp32-merged", ignore_errors=True)
    variant.size_bytes = weights_size(directory)
    variant.layer_bytes_fp32, variant.layer_bytes_quantized = built.layer_bytes_fp32, built.layer_bytes_quantized
    variant.quantize_s = round(time.perf_counter() - started, 3)
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file()}
    descriptor = {
        **{k: v for k, v in variant.to_dict().items() if k not in ("status", "reason", "path")},
        "name": job.name,
        "family": job.family,
        "task_type": job.task.type,
        "fingerprint": job.fingerprint,
        "trust_remote_code": trust,
        "merged_adapters_into": merged_base,
        "model_files": sorted(name for name in files if name.endswith(WEIGHT_SUFFIXES)),
        "files": files,
        "details": built.details,
        "versions": {package: version(package) for package in ("torch", "transformers", *backend.packages)},
    }
    (directory / DESCRIPTOR).write_text(json.dumps(descriptor, indent=2), encoding="utf-8")


def _fp32_weights(family: ModelFamily, checkpoint: Path, scratch: Path) -> tuple[Path, str | None]:
    """A directory of full fp32 weights for `checkpoint`: the checkpoint itself, or for an adapter
    checkpoint (QLoRA) its adapters merged into the fp32 base, saved into `scratch`. The adapters
    were trained against the quantized base, so the merged model differs from it slightly, as
    every QLoRA merge does. Returns the directory and the merged base, if any."""
    manifest = read_manifest(checkpoint) or {}
    if manifest.get("kind") != "adapter":
        return checkpoint, None
    from peft import PeftModel
    from transformers import AutoTokenizer

    base, trust = manifest["base"], family.job.candidate.trust_remote_code
    try:
        model = family.auto_class.from_pretrained(
            base, local_files_only=True, dtype=torch.float32, trust_remote_code=trust, **family.model_kwargs()
        )
    except (OSError, ValueError) as exc:
        raise QuantizationSkipped(
            f"INT8 needs the adapters merged into full weights, and their base {base} cannot be loaded "
            f"({_one_line(exc)}); keep the base model where the checkpoint's manifest points"
        ) from exc
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True, trust_remote_code=trust)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    model = PeftModel.from_pretrained(model, checkpoint).merge_and_unload()
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(scratch, safe_serialization=True)
    tokenizer.save_pretrained(scratch)
    return scratch, base


def load_quantized(path: Path, job: TrainingJob | None = None) -> tuple[Any, Any]:
    """The model and tokenizer of an artefact `quantize` wrote, ready for the family's `predict`.
    With `job`, an artefact of another configuration of the candidate is refused."""
    from transformers import AutoTokenizer

    path = Path(path)
    problem = verify_checkpoint(path)
    if problem is not None:
        raise FileNotFoundError(f"{path} is not a complete quantized artefact: {problem}; run quantize again")
    descriptor = json.loads((path / DESCRIPTOR).read_text(encoding="utf-8"))
    if job is not None and descriptor["fingerprint"] != job.fingerprint:
        raise ValueError(f"{path} was quantized from another configuration of {descriptor['name']} "
                         f"(fingerprint {descriptor['fingerprint']}, the job's is {job.fingerprint}); quantize again")
    tokenizer = AutoTokenizer.from_pretrained(
        path, local_files_only=True, trust_remote_code=descriptor["trust_remote_code"]
    )
    return quantization_backend(descriptor["backend"]).load(path, descriptor), tokenizer


# --------------------------------------------------------------------------- helpers


def weights_size(directory: Path) -> int:
    """Bytes of a model directory's weight files (not its tokenizer or configs)."""
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def _ratio(before: int, after: int) -> float | None:
    return round(before / after, 3) if before and after else None


def _copy_if_present(source: Path, directory: Path) -> None:
    if source.is_file():
        shutil.copy2(source, directory / source.name)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__
