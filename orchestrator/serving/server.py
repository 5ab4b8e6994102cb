"""`serve RUN_DIR`: deploy the plan on Ray Serve, answer until Ctrl-C, then take it all down.

The models are deployed by dotted path (`models.serving:ServedModel`), so the driver never
imports the model libraries; the gateway (`orchestrator.serving.gateway`) is the only ingress.
On the run's own cluster (`ray.address`) only this application is deleted at the end, and Serve
itself only when nothing else is deployed; on a private cluster everything goes with it.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.work import resolve
from orchestrator.cluster import connect, disconnect
from orchestrator.config import ConfigError, ConfigIssue, load_run_config
from orchestrator.interrupts import arm, catch_interrupts
from orchestrator.serving.gateway import Gateway
from orchestrator.serving.plan import Limits, ServePlan, plan_serving

log = logging.getLogger(__name__)

APP = "orchestrator"
SERVED_MODEL = "models.serving:ServedModel"
STOPPING = "stopping: deleting the application and its replicas"
HEALTH_CHECK_S = 2.0  # how often Serve checks each replica; a dead one is replaced after this
# Requests one model replica accepts at once: the rest wait in Serve's router, which retries them with
# backoff (with 64 clients on one replica that accepted 8, batching off fell from 17 to 5 samples/s
# here). Accepted requests wait cheaply in the replica's batch queue.
REPLICA_QUEUE = 128


@dataclass(frozen=True)
class ServeOptions:
    model: str | None = None
    ensemble: bool = False
    variant: str = "auto"
    host: str = "127.0.0.1"
    port: int = 8000
    replicas: int = 1
    batching: bool = True
    limits: Limits = Limits()


class ServeFailed(Exception):
    """The application could not be deployed; the message says which deployment and why."""


def serve_run(run_dir: Path, options: ServeOptions, *, on_ready: Any = print) -> int:
    """Deploy, call `on_ready(message)` once answering, and block until SIGINT or SIGTERM."""
    config = load_run_config(run_dir)
    # Every mistake in what to serve is found before a cluster starts; the plan is made again once
    # the cluster says how many GPUs there are to place replicas on.
    plan_serving(run_dir, model=options.model, ensemble=options.ensemble, variant=options.variant)
    _check_port(options.host, options.port)
    with catch_interrupts(STOPPING) as stop:
        cluster = connect(config.ray)
        arm(stop, STOPPING)  # ray.init installed its own SIGTERM handler
        try:
            plan = plan_serving(run_dir, model=options.model, ensemble=options.ensemble, variant=options.variant,
                                cluster_gpus=cluster.gpus)
            if not options.batching:
                plan = _without_batching(plan)
            started_serve = _deploy(plan, options)
            url = f"http://{options.host}:{options.port}"
            for note in plan.notes:
                log.warning("%s", note)
            on_ready(f"serving {plan.what} from {plan.run_dir}\n"
                     f"  POST {url}{plan.route}   GET {url}/v1/info   GET {url}/healthz\n"
                     f"  curl -s {url}{plan.route} -H 'Content-Type: application/json' -d '{{\"input\": \"...\"}}'\n"
                     f"Ctrl-C stops it")
            while not stop.requested:
                time.sleep(0.2)
            _take_down(started_serve)
        finally:
            disconnect()
    return 0


def _deploy(plan: ServePlan, options: ServeOptions) -> bool:
    """Start Serve (when it is not running) and the application; whether Serve was started here."""
    from ray import serve

    running = _serve_running()
    if not running:
        serve.start(http_options={"host": options.host, "port": options.port})
    served_model = resolve(SERVED_MODEL)
    models = {}
    for served in plan.served:
        name = served.job.name
        models[name] = serve.deployment(
            name=f"model-{name}", num_replicas=options.replicas, ray_actor_options=plan.resources[name],
            max_ongoing_requests=max(REPLICA_QUEUE, 2 * served.max_batch_size), health_check_period_s=HEALTH_CHECK_S,
            graceful_shutdown_timeout_s=5,
        )(served_model).bind(served)
    gateway = serve.deployment(name="gateway", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=1000)(
        Gateway).bind(plan, options.limits, models)
    try:
        serve.run(gateway, name=APP, route_prefix="/", blocking=False)
    except RuntimeError as exc:
        _take_down(not running)
        raise ServeFailed(f"the application did not start: {str(exc).strip().splitlines()[-1]}") from None
    return not running


def _take_down(started_serve: bool) -> None:
    from ray import serve

    try:
        serve.delete(APP)
        if started_serve or not serve.status().applications:
            serve.shutdown()  # type: ignore[no-untyped-call]
    except Exception as exc:  # noqa: BLE001 - the cluster went first; nothing is left to remove
        log.debug("taking Serve down: %s", exc)


def _serve_running() -> bool:
    import ray

    try:
        ray.get_actor("SERVE_CONTROLLER_ACTOR", namespace="serve")
    except ValueError:
        return False
    return True


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError([ConfigIssue("--port", f"{host}:{port} cannot be listened on ({exc.strerror}); "
                                                     "choose another --port (or --host)")]) from None


def _without_batching(plan: ServePlan) -> ServePlan:
    """The same plan with every model answering one input at a time (for comparison)."""
    served = [dataclasses.replace(s, max_batch_size=1, batch_wait_s=0.0) for s in plan.served]
    return dataclasses.replace(plan, served=served, notes=[*plan.notes, "batching off: one input per model call"])
