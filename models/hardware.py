"""Probing what a process computes on. Importable without torch (the driver uses `cpu_hardware`);
`detect_hardware` imports torch when called, inside an actor or the preflight child process."""

from __future__ import annotations

from contract.hardware import Hardware, cpu_hardware

__all__ = ["Hardware", "cpu_hardware", "detect_hardware", "gpu_count"]


def detect_hardware() -> Hardware:
    """What the current process (a training actor) can compute on."""
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return Hardware("cuda", torch.cuda.is_bf16_supported(), props.name, props.total_memory)
    return cpu_hardware()


def gpu_count() -> int:
    """CUDA devices this process sees."""
    import torch

    return torch.cuda.device_count()
