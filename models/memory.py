"""Memory as the stages see it: what an out-of-memory error looks like, and a process's peak use.

On a GPU the CUDA allocator knows its peak. On a CPU, tracemalloc does not see torch's tensors,
so peak use is process RSS sampled by a background thread; glibc is first told to hand large
freed blocks back to the OS (`mallopt`), otherwise RSS keeps the high-water mark of an earlier,
larger batch and every later measurement repeats it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
from types import TracebackType

import psutil
import torch

from contract.errors import OUT_OF_MEMORY

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def release_memory() -> None:
    """After an out-of-memory error caught in-process: drop what the failed attempt left
    referenced, and hand the CUDA cache back, before trying again smaller."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError | torch.OutOfMemoryError) or bool(
        OUT_OF_MEMORY.search(f"{type(exc).__name__}: {exc}")
    )


def return_freed_memory_to_os(threshold_bytes: int = 65536) -> bool:
    """Make glibc serve blocks above `threshold_bytes` with mmap (freed at once) and trim its heap
    eagerly, so RSS follows what is in use now. False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, threshold_bytes)
        )
    except (OSError, AttributeError):
        return False


class PeakMemory:
    """`with PeakMemory(device) as peak: ...` then `peak.mb`: the CUDA allocator's peak on a GPU,
    else the highest process RSS sampled every `interval_s` while the block ran."""

    def __init__(self, device: torch.device | str = "cpu", interval_s: float = 0.002):
        self.device = torch.device(device)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def source(self) -> str:
        return "cuda allocator" if self.device.type == "cuda" else "process RSS"

    @property
    def mb(self) -> float:
        return self.peak_bytes / 2**20

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        process = psutil.Process()
        self.peak_bytes = process.memory_info().rss

        def sample() -> None:
            while not self._stop.is_set():
                self.peak_bytes = max(self.peak_bytes, process.memory_info().rss)
                time.sleep(self.interval_s)

        self._thread = threading.Thread(target=sample, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_bytes = max(self.peak_bytes, psutil.Process().memory_info().rss)
