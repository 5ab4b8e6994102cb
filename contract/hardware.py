"""What a process can compute on, as plain data: probed inside an actor or a child process
(where torch is imported), read by the driver (where it is not)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Hardware:
    device: Literal["cpu", "cuda"]
    bf16_supported: bool
    name: str
    memory_bytes: int | None = None


def cpu_hardware() -> Hardware:
    """This machine's CPU and memory (no torch needed)."""
    import psutil

    return Hardware("cpu", True, "cpu", psutil.virtual_memory().total)
