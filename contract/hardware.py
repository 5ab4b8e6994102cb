"""What a process can compute on, as plain data: probed inside an actor or a child process
(where torch is imported), read by the driver (where it is not)."""

from __future__ import annotations

import logging
import resource
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


def limit_memory(memory_gb: float) -> None:
    """Cap what this process may allocate from now on at `memory_gb` (address space beyond what
    it already maps). A batch too large then fails as out-of-memory in this actor alone, where
    the policy can retry it smaller, instead of the kernel's OOM killer picking any process.
    On a GPU, the device's own memory is the limit and this only guards host memory."""
    import psutil

    current = psutil.Process().memory_info().vms
    limit = current + int(memory_gb * 2**30)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    logging.getLogger(__name__).info("memory limited to %.1f GiB beyond the %.1f GiB already mapped", memory_gb, current / 2**30)
