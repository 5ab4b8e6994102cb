"""Probing what a process computes on. Importable without torch (the driver uses `cpu_hardware`);
`detect_hardware` imports torch when called, inside an actor or the preflight child process."""

from __future__ import annotations

from contract.hardware import Hardware


def detect_hardware() -> Hardware:
    """What the current process (a training actor) can compute on."""
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return Hardware("cuda", torch.cuda.is_bf16_supported(), props.name, props.total_memory)
    return cpu_hardware()


def cpu_hardware() -> Hardware:
    import psutil

    return Hardware("cpu", True, "cpu", psutil.virtual_memory().total)


def gpu_count() -> int:
    """CUDA devices this process sees."""
    import torch

    return torch.cuda.device_count()
