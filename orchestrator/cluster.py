"""Starting or joining the Ray cluster, and what the driver needs to know about it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import ray

from orchestrator.config import RayConfig
from orchestrator.logging_setup import QUIET_ENVIRONMENT, quiet_environment

log = logging.getLogger(__name__)

# Passed to every actor: the same quiet settings as the driver, and the hub mode it runs in.
_FORWARDED = ("HF_HUB_OFFLINE", "HF_HOME", "HF_HUB_CACHE", "TRANSFORMERS_OFFLINE", "MALLOC_MMAP_THRESHOLD_")


# Ray starts an idle worker per CPU for the first driver, in case its tasks come. Ours never use
# them: every actor here gets a process of its own, with the run's environment. So a private
# cluster starts none: on 2 CPUs that was 1.3 s of CPU per run for nothing, on 16 CPUs 16 idle
# Python processes importing Ray beside the first trainings.
NO_PRESTARTED_WORKERS = {"enable_worker_prestart": False, "prestart_worker_first_driver": False}


@dataclass(frozen=True)
class ClusterInfo:
    address: str
    dashboard_url: str | None
    cpus: float
    gpus: float
    started_here: bool


def connect(config: RayConfig) -> ClusterInfo:
    """Start a private local cluster (`address: null`) or join an existing one."""
    quiet_environment()
    env_vars = {**QUIET_ENVIRONMENT, **{k: os.environ[k] for k in _FORWARDED if k in os.environ}}
    common: dict[str, Any] = {
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "runtime_env": {"env_vars": env_vars},
        "configure_logging": False,
    }
    if config.address is None:
        object_store = config.object_store_memory_mb * 2**20 if config.object_store_memory_mb else None
        context = ray.init(
            address="local",
            num_cpus=config.num_cpus,
            num_gpus=config.num_gpus,
            include_dashboard=config.dashboard,
            dashboard_host=config.dashboard_host,
            dashboard_port=config.dashboard_port,
            object_store_memory=object_store,
            _system_config=NO_PRESTARTED_WORKERS,
            **common,
        )
    else:
        context = ray.init(address=config.address, **common)
    resources = ray.cluster_resources()
    url = context.dashboard_url or None
    info = ClusterInfo(
        address=context.address_info.get("address", config.address or "local"),
        dashboard_url=f"http://{url}" if url and not url.startswith("http") else url,
        cpus=float(resources.get("CPU", 0)),
        gpus=float(resources.get("GPU", 0)),
        started_here=config.address is None,
    )
    log.info(
        "Ray cluster %s: %g CPUs, %g GPUs%s", info.address, info.cpus, info.gpus,
        f"; dashboard {info.dashboard_url}" if info.dashboard_url else "",
    )
    return info


def disconnect() -> None:
    if ray.is_initialized():
        ray.shutdown()
