"""The optimize stage: INT8 variants of the survivors, their quality, and batch-size benchmarks.

Each chosen survivor runs `models.optimize.stage.optimize_member` in its own supervised actor
(`optimize/<name>`) with the resources it trained with. Timings are only worth something when
nothing else competes for the hardware: models run concurrently when each has a GPU of its own,
and one at a time when they would share CPU cores. The section says which.
"""

from __future__ import annotations

import time
from typing import Any

from contract.names import canonical_name
from contract.rows import read_rows
from contract.work import OPTIMIZE, OptimizeRequest
from orchestrator.placement import actor_resources
from orchestrator.stages import skipped
from orchestrator.stages.context import RunContext
from orchestrator.stages.train import member_job
from orchestrator.work import WorkItem


def run_optimize(ctx: RunContext, survivors: list[str]) -> dict[str, Any]:
    """The `optimize` section of summary.json."""
    started = time.time()
    config, data, run_dir = ctx.config, ctx.data, ctx.run_dir
    settings = config.optimize
    if not settings.enabled:
        return skipped("optimize.enabled is false")
    wanted = [canonical_name(n) for n in settings.models] if settings.models is not None else None
    chosen = [name for name in survivors if wanted is None or canonical_name(name) in wanted]
    missing = [c.name for c in config.models if wanted is not None and canonical_name(c.name) in wanted
               and c.name not in survivors]
    if not chosen:
        return skipped("no surviving candidate to optimize" + (f" (not trained: {', '.join(missing)})" if missing else ""))
    if data.validation is None:
        return skipped("the quality check needs a validation split")
    rows = read_rows(data.validation)
    items = [
        WorkItem(OPTIMIZE, member_job(config, run_dir, name, ctx.labels),
                 OptimizeRequest(settings, rows, str(run_dir / "optimize" / name)))
        for name in chosen
    ]
    cluster = ctx.cluster
    own_gpus = (cluster is not None and cluster.gpus > 0
                and all(actor_resources(item.job, cluster)["GPU"] >= 1 for item in items))
    concurrency = ("concurrently, each model on a GPU of its own" if own_gpus
                   else "one model at a time, as the models would share CPU cores and skew each other's timings")
    outcomes = ctx.supervise(items, max_concurrent=None if own_gpus else 1)
    models: dict[str, Any] = {}
    for outcome in outcomes:
        if outcome.ok:
            models[outcome.name] = {"status": "ok", **outcome.details}
        else:
            models[outcome.name] = {"status": outcome.status, "error": outcome.error, "hint": outcome.hint,
                                    "log": outcome.log}
    section: dict[str, Any] = {
        "status": "ok" if any(m["status"] == "ok" for m in models.values()) else "failed",
        "backends": list(settings.backends),
        "benchmarked": concurrency,
        "models": models,
        "wall_s": round(time.time() - started, 2),
    }
    if missing:
        section["not_optimized"] = {name: "did not survive training" for name in missing}
    return section
