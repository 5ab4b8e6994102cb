"""Probing what a process computes on. Importable without torch (the driver uses `cpu_hardware`);
`detect_hardware` imports torch when called, inside an actor or the preflight child process."""

from __future__ import annotations

from contract.hardware import Hardware, cpu_hardware

__all__ = ["Hardware", "cpu_hardware", "detect_hardware", "gpu_count", "limit_gpu_share"]


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


def limit_gpu_share(share: float) -> bool:
    """A candidate that shares a GPU (`resources.gpus` below 1) may allocate only its share of the
    device's memory, so running out of it is its own failure (an out-of-memory retried at half the
    batch), never its neighbour's. False where there is no CUDA device to limit."""
    import torch

    if not torch.cuda.is_available():
        return False
    torch.cuda.set_per_process_memory_fraction(share)
    return True
