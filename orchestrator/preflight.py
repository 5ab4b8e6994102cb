"""Preflight: everything that can be known about a candidate before it costs accelerator time.

Each candidate gets a list of checks (source, remote code, precision, quantization backend,
LoRA targets, memory, disk). A failed check skips that candidate alone, with a one-line reason
and the fix; nothing here trains or allocates weights (models are built on the meta device).

The driver never imports torch or transformers: the model checks (`models.preflight`) run in one
spawned child process for all candidates, named by a dotted path the child resolves itself. What
stays here is light: the hardware each candidate's actor will get, the disk check of the run
directory, and turning the child's answers (or its failure) into verdicts.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contract.hardware import Hardware, cpu_hardware
from contract.preflight import CandidatePreflight, Check, CheckStatus, GiB, Inspection, InspectionRequest, gets_gpu
from contract.work import resolve
from orchestrator.config import ExperimentConfig

__all__ = [
    "CandidatePreflight", "Check", "CheckStatus", "Hardware", "HardwareProbe", "cluster_probe", "local_probe",
    "InspectionChild", "run_preflight",
]

log = logging.getLogger(__name__)

# The data-plane function that runs the model checks, resolved inside the child process.
INSPECT = "models.preflight:inspect_candidates"
DETECT_HARDWARE = "models.hardware:detect_hardware"
# Reading configs and building architectures on the meta device takes seconds per candidate;
# past this the child is taken to hang and every candidate it had not answered is failed.
INSPECTION_TIMEOUT_S = 900.0
CHILD_FIX = (
    "run `python -c \"import models.preflight\"` to see why the model libraries cannot load, "
    "or validate with --no-preflight"
)

HardwareProbe = Callable[[bool], Hardware]


def local_probe(wants_gpu: bool) -> Hardware:
    """This machine: what `validate` checks against without starting Ray.

    `run_preflight` probes inside its inspection child instead of calling this; called directly,
    a GPU probe runs in a child process of its own, so this process does not import torch."""
    return call_in_child(DETECT_HARDWARE) if wants_gpu else cpu_hardware()


def _detect_hardware() -> Hardware:
    return resolve(DETECT_HARDWARE)()


def cluster_probe(cluster_gpus: float) -> HardwareProbe:
    """Asks one GPU worker of the cluster what it is (once), since the driver may have none."""
    cache: dict[str, Hardware] = {}

    def probe(wants_gpu: bool) -> Hardware:
        if not wants_gpu or cluster_gpus <= 0:
            return cpu_hardware()
        if "gpu" not in cache:
            import ray

            remote = ray.remote(num_gpus=1, num_cpus=0)(_detect_hardware)  # imports torch in the worker only
            cache["gpu"] = ray.get(remote.remote(), timeout=300)
        return cache["gpu"]

    return probe


def run_preflight(
    config: ExperimentConfig, run_dir: Path, probe: HardwareProbe, cluster_gpus: float | None,
    child: InspectionChild | None = None,
) -> dict[str, CandidatePreflight]:
    """Every candidate's checks, against the hardware its actor will get.

    With `local_probe` the hardware is probed in the inspection child, where `cluster_gpus=None`
    means "the GPUs this machine has"; any other probe is asked here, per candidate. The model
    checks run in `child` (started earlier, so its imports are under way; the caller closes it),
    or in a new one, closed here."""
    if child is not None:
        return _run_preflight(config, run_dir, probe, cluster_gpus, child)
    with InspectionChild() as own:
        return _run_preflight(config, run_dir, probe, cluster_gpus, own)


def _run_preflight(
    config: ExperimentConfig, run_dir: Path, probe: HardwareProbe, cluster_gpus: float | None,
    child: InspectionChild,
) -> dict[str, CandidatePreflight]:
    probe_in_child = probe is local_probe
    requests = []
    for candidate in config.models:
        settings = config.settings_for(candidate)
        hardware = None
        if not probe_in_child:
            hardware = probe(gets_gpu(settings.resources.gpus_per_process, cluster_gpus or 0.0))
        requests.append(InspectionRequest(candidate, settings, config.task, hardware, cluster_gpus))
    inspections = _inspect(child, requests)
    verdicts, sized = {}, {}
    for request in requests:
        candidate = request.candidate
        inspection = inspections.get(candidate.name) or _failed_inspection(
            candidate.name, "the model inspection answered nothing for this candidate"
        )
        verdicts[candidate.name] = CandidatePreflight(candidate.name, list(inspection.checks), inspection.estimate_bytes)
        if inspection.parameters is not None:
            sized[candidate.name] = (candidate, inspection.parameters)
    for name, check in _disk_checks(sized, run_dir).items():
        verdicts[name].checks.append(check)
    return verdicts


def _inspect(child: InspectionChild, requests: Sequence[InspectionRequest]) -> dict[str, Inspection]:
    """The child's answers by candidate name; if the child fails, one failed check for each."""
    if not requests:
        return {}
    try:
        answers = child.call(INSPECT, list(requests), timeout=INSPECTION_TIMEOUT_S)
        return {inspection.name: inspection for inspection in answers}
    except Exception as exc:  # the child died, could not import the model libraries, or hung
        reason = _child_failure_text(exc)
        log.warning("preflight: %s", reason)
        return {r.candidate.name: _failed_inspection(r.candidate.name, reason) for r in requests}


def _failed_inspection(name: str, reason: str) -> Inspection:
    return Inspection(name, (Check("inspection", "fail", reason, CHILD_FIX),))


def _child_failure_text(exc: BaseException) -> str:
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, FutureTimeout):
        return f"the model inspection process did not answer within {INSPECTION_TIMEOUT_S:.0f} s and was stopped"
    if isinstance(exc, BrokenProcessPool):
        return "the model inspection process died before answering (crashed or was killed)"
    message = str(exc).strip().splitlines()
    return f"the model inspection process failed: {message[0] if message else type(exc).__name__}"


# ----------------------------------------------------------------------------- the child process


class InspectionChild:
    """A fresh spawned interpreter (nothing of this process's Ray or driver state inherited) that
    calls `module:function` targets, importing their modules there only.

    It starts importing the model checks' module at once, so that its seconds of torch and
    transformers imports overlap whatever the driver does meanwhile (starting Ray). Close it when
    done (`close`, or use it as a context manager): it holds the model libraries' memory."""

    def __init__(self, warm_up: str | None = INSPECT) -> None:
        root = logging.getLogger()
        level = root.level if root.handlers else None
        self._executor = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_init_child,
            initargs=(level,),
        )
        if warm_up:  # a failed import shows again, with its message, in the call that needs the module
            self._submit(_import_only, warm_up.partition(":")[0])

    def call(self, target: str, *args: Any, timeout: float | None = None) -> Any:
        """`target(*args)` in the child. Raises RuntimeError with the child's one-line error,
        BrokenProcessPool if the child died, or concurrent.futures.TimeoutError (after stopping
        the child) if it ran past `timeout`, counted from this call."""
        future = self._submit(_call_target, target, *args)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            _stop_children(self._executor)
            raise

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> InspectionChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, function: Callable[..., Any], *args: Any) -> Any:
        with _main_module_hidden():  # the child process starts inside the first submit
            return self._executor.submit(function, *args)


def call_in_child(target: str, *args: Any, timeout: float | None = None) -> Any:
    """`module:function` called with `args` in a fresh spawned interpreter, its result returned
    (see `InspectionChild.call` for what it raises)."""
    with InspectionChild(warm_up=None) as child:
        return child.call(target, *args, timeout=timeout)


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Spawn re-runs the parent's main script in the child (as `__mp_main__`) unless told
    otherwise; the child only needs the dotted path it is given, so it is not told the script:
    a benchmark script, a pytest runner or code piped to stdin is not run again there."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {key: main.__dict__[key] for key in ("__spec__", "__file__") if key in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _stop_children(executor: ProcessPoolExecutor) -> None:
    terminate = getattr(executor, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.kill()


def _init_child(level: int | None) -> None:
    """Runs first in the child: the driver's log level and prefix, the quiet environment."""
    from orchestrator.logging_setup import quiet_environment, setup_logging

    quiet_environment()
    if level is not None:
        setup_logging(logging.getLevelName(level), prefix="preflight")


def _import_only(module: str) -> None:
    """In the child: import `module` ahead of the call that needs it; errors show in that call."""
    try:
        importlib.import_module(module)
    except Exception:
        pass


def _call_target(target: str, *args: Any) -> Any:
    """In the child: import `module:function` and call it. An exception comes back as a
    RuntimeError with its text only, so the driver never unpickles (and imports) a torch type."""
    module, _, name = target.partition(":")
    try:
        function = getattr(importlib.import_module(module), name)
        return function(*args)
    except Exception as exc:
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None


# ----------------------------------------------------------------------------- checks


def disk_need(total_params: int, candidate: Any) -> int:
    """Bytes a candidate writes at most: its two resumable checkpoints (weights, or adapters, with
    the optimizer's two moments), the final checkpoint and, for a scratch preset, its base."""
    weights = total_params * 4
    adapters_only = candidate.lora is not None
    resumable = 0 if adapters_only else 2 * (weights + 2 * weights)
    final = 0 if adapters_only and candidate.quantization else weights
    base = weights if str(candidate.source).startswith("scratch:") else 0
    return resumable + final + base


def _disk_checks(sized: dict[str, tuple[Any, int]], run_dir: Path) -> dict[str, Check]:
    """One disk check per candidate, added up in config order: every candidate's checkpoints end
    up in the run directory, and those training at once hold their resumable ones together, so
    the first candidates that fit pass and each one past the free space fails, naming the others."""
    probe = run_dir
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    checks, total, before = {}, 0, []
    for name, (candidate, params) in sized.items():
        needed = disk_need(params, candidate)
        if total + needed > free:
            together = f" together with {', '.join(before)} ({total / GiB:.1f} GiB)" if before else ""
            checks[name] = Check(
                "disk", "fail", f"its checkpoints need about {needed / GiB:.1f} GiB{together}; "
                f"{free / GiB:.1f} GiB free at {probe}",
                "free disk space, set output_dir to a larger disk, or run fewer candidates at once (--only)",
            )
            continue
        total += needed
        before.append(name)
        checks[name] = Check("disk", "ok", f"about {needed / GiB:.2f} GiB ({total / GiB:.2f} GiB with the ones "
                                           f"before it) of {free / GiB:.0f} GiB free")
    return checks
