"""What every quantization backend is: `build` an INT8 model from fp32 weights into a
directory, and `load` it back from there; plus the small helpers they share."""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from models.families.base import ModelFamily
from models.precision import Hardware


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
    """One backend, named by its row in `contract.optimize.BACKENDS`."""

    packages: ClassVar[tuple[str, ...]]  # whose versions quantization.json records

    def __init__(self, name: str):
        self.name = name

    def unavailable_reason(self, hardware: Hardware) -> str | None:
        """Why this backend cannot run here with the installed packages; None when it can."""
        return None

    @abstractmethod
    def build(self, family: ModelFamily, fp32_dir: Path, directory: Path) -> QuantizedModel:
        """Quantize the full fp32 checkpoint in `fp32_dir`; write the model files into `directory`."""

    @abstractmethod
    def load(self, directory: Path, descriptor: dict[str, Any]) -> Any:
        """The model of an artefact that `build` wrote, ready for the family's `predict`."""


def nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def copy_if_present(source: Path, directory: Path) -> None:
    if source.is_file():
        shutil.copy2(source, directory / source.name)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__
