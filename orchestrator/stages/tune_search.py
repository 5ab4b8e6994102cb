"""What a learning-rate sweep searches and how it cuts trials short: the Tune search space from
the `tune:` section, how many samples that makes, a trial's settings (the candidate's with the
trial's values, in one training process), and the ASHA scheduler with the sentence tune.json
records about it.
"""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from orchestrator.config import TrainingSettings, TuneConfig
from orchestrator.stages.tuned import ASHA_METRIC, SEARCHED, TIME_ATTR


def search_space(settings: TuneConfig) -> dict[str, Any]:
    """Setting name -> Tune domain. Each key is a `TrainingSettings` field a trial overrides, so
    another hyperparameter joins the sweep by adding its entry here (its range to TuneConfig, its
    name to `tuned.SEARCHED`)."""
    space = settings.learning_rate
    if space.values is not None:
        domains = {"learning_rate": tune.grid_search(list(space.values))}
    else:
        domains = {"learning_rate": tune.loguniform(space.min, space.max)}
    assert tuple(domains) == SEARCHED, "tuned.SEARCHED names what is searched, for the sweep's fingerprint"
    return domains


def num_samples(space: dict[str, Any], samples: int) -> int:
    """A list of values is tried whole, once each; ranges are sampled `samples` times (times the
    grid, when a range and a list are combined)."""
    grids_only = all(isinstance(domain, dict) and "grid_search" in domain for domain in space.values())
    return 1 if grids_only else samples


def trial_settings(settings: TrainingSettings, params: dict[str, Any]) -> TrainingSettings:
    """The candidate's settings with a trial's values, validated like any config value."""
    return TrainingSettings.model_validate({**settings.model_dump(), **params})


def one_process(settings: TrainingSettings) -> TrainingSettings:
    """A data-parallel candidate's trial settings: one process (in the trial's own bundle) with one
    worker's share of the batch, accumulated over as many steps as there were workers. The
    effective batch, what the learning rate is judged against, stays the candidate's."""
    workers = settings.resources.processes
    if workers == 1:
        return settings
    return settings.model_copy(update={
        "batch_size": settings.per_process_batch_size(), "gradient_accumulation": settings.gradient_accumulation * workers,
        "resources": settings.resources.model_copy(update={"workers": 1, "gpus": settings.resources.gpus_per_process,
                                                           "strategy": "ddp"}),
    })


def make_scheduler(settings: TuneConfig, evaluations: int) -> tuple[ASHAScheduler | None, str]:
    """ASHA on the validation loss, with rungs only before a trial's last evaluation, and trials
    that pass the last rung kept to the end (`stop_last_trials=False`): a trial that trains to
    the end always reaches its final metric. Returns the scheduler (None: every trial runs to the
    end) and a sentence saying which."""
    if settings.scheduler == "none":
        return None, "No early stopping (tune.scheduler: none); every trial trained to the end."
    max_t = evaluations - 1
    if max_t < settings.grace_period:
        return None, (
            f"ASHA had nothing to stop: trials evaluate {evaluations} time(s), and it needs more than "
            f"tune.grace_period ({settings.grace_period}); train for more epochs to let it stop trials early."
        )
    scheduler = ASHAScheduler(
        time_attr=TIME_ATTR, metric=ASHA_METRIC, mode="min", max_t=max_t,
        grace_period=settings.grace_period, reduction_factor=settings.reduction_factor, stop_last_trials=False,
    )
    return scheduler, (
        f"ASHA compared trials by validation loss after each of their {evaluations} evaluations (epochs) and "
        f"stopped those outside the best 1/{settings.reduction_factor}, after at least {settings.grace_period}."
    )
