"""The INT8 quantization backends (one row each), the experiment's `optimize:` section, and the rule
that says whether a measured batch-size point is usable under its memory budget and latency SLO:
the optimize step in the actor reads the section as it is, and `serve` batches by the same rule.
Only pydantic is imported here.

A new backend is its module under `models/optimize/backends/` plus one row in `BACKENDS`: the
schema's allowed `optimize.backends`, their default and the lookup by name all read the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from contract.fields import Strict, one_of


@dataclass(frozen=True)
class Int8Backend:
    """One quantization backend: its name in `optimize.backends`, where it runs, whether it is tried
    by default, and its `models.optimize.backends.base.QuantizationBackend` subclass (`module:class`,
    imported in the actor only). Which families it takes is its own to say: the onnxruntime backend
    takes those whose row in `contract.families` names an `ort_class`."""

    name: str
    implementation: str
    runs_on: Literal["cpu", "gpu"]  # cpu: always on the CPU, so a GPU machine has it too; gpu: meant for GPUs
    default: bool = False  # tried when the experiment does not list `optimize.backends`


BACKENDS: dict[str, Int8Backend] = {backend.name: backend for backend in (
    Int8Backend("torch_dynamic", "models.optimize.backends.torch_dynamic:TorchDynamic", "cpu", default=True),
    Int8Backend("onnxruntime", "models.optimize.backends.ort:OnnxRuntime", "cpu", default=True),
    Int8Backend("bitsandbytes", "models.optimize.backends.llm_int8:BitsAndBytes", "gpu"),
)}


def _backends_description() -> str:
    return "; ".join(["The INT8 backends tried",
                      *(f"{b.name} is meant for GPUs" for b in BACKENDS.values() if b.runs_on == "gpu")]) + "."


class OptimizeConfig(Strict):
    """The experiment's `optimize:` section; the optimize step in the actor reads it as it is."""

    enabled: bool = Field(True, description="false leaves the optimize stage out.")
    backends: list[one_of(*BACKENDS)] = Field(
        [b.name for b in BACKENDS.values() if b.default], description=_backends_description()
    )
    models: list[str] | None = Field(None, description="Candidates to optimize; default: every survivor.")
    batch_sizes: list[Annotated[int, Field(gt=0)]] | Literal["auto"] = Field(
        "auto", description="Batch sizes benchmarked; auto: doubling from 1 to max_batch_size until out of memory, "
                            "the time bound, or two doublings that gain under 5% throughput."
    )
    max_batch_size: int = Field(64, gt=0, description="Where batch_sizes: auto stops doubling.")
    warmup: int = Field(1, ge=0, description="Untimed batches before each batch size's timed ones.")
    repeats: int = Field(3, ge=1, description="Timed batches per batch size.")
    point_timeout_s: float = Field(
        60, gt=0, description="Time bound of one batch size; past it the point is recorded as timeout."
    )
    max_quality_drop: float = Field(1.0, ge=0, description="Metric points (e.g. ROUGE-L x100).")
    memory_budget_mb: float | None = Field(
        None, gt=0, description="Peak memory the recommended variant and batch size must fit; also bounds serve's "
                                "batches."
    )
    latency_slo_ms: float | None = Field(
        None, gt=0, description="p95 latency per batch the recommendation must fit; also bounds serve's batches."
    )


def out_of_bounds(status: str, peak_memory_mb: float, p95_ms: float | None, memory_budget_mb: float | None,
                  latency_slo_ms: float | None) -> str | None:
    """Why a measured batch-size point is not usable under `optimize.memory_budget_mb` and
    `optimize.latency_slo_ms` (None when it is): the one rule the optimize stage recommends by and
    `serve` batches by."""
    if status != "ok":
        return status
    if memory_budget_mb is not None and peak_memory_mb > memory_budget_mb:
        return f"peak memory {peak_memory_mb:.0f} MB over the {memory_budget_mb:g} MB budget"
    if latency_slo_ms is not None and (p95_ms or 0) > latency_slo_ms:
        return f"p95 latency {p95_ms:.0f} ms over the {latency_slo_ms:g} ms SLO"
    return None
