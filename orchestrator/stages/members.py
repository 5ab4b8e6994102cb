"""The ensemble at work: supervised steps over the survivors, the pools they build, and the
ensemble's own steps.

Each member step runs every member (`ensemble-propose/<name>`, `ensemble-score/<name>`) with the
resources it trained with, under the same supervisor as training: queue, the four limits,
heartbeats, retries and error logs. A member's warm worker serves both steps (and its training
before them, where resources allowed), so its checkpoint is loaded once for the stage. A member
that fails a step drops out of the ensemble with its reason; the stage goes on while
`ensemble.min_models` members remain. What computes with the members' answers (folds, the
meta-learner's fit, applying it) runs as the ensemble's own step (`ensemble-fit/ensemble`, ...)
under `ensemble_job`: one CPU, the `defaults`' limits and retries, the log `ensemble/ensemble.log`.
Used by the ensemble stage and by `predict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.ensemble import PoolParts
from contract.job import Job
from contract.settings import Resources
from contract.work import PROPOSE, SCORE, ProposeRequest, ProposeResult, ScoreRequest, ScoreResult, Step
from orchestrator.stages.context import RunContext
from orchestrator.stages.train import member_job
from orchestrator.work import WorkItem

Row = dict[str, Any]
ENSEMBLE = "ensemble"  # the name the ensemble's own steps run under: their actor, log and error logs
ENSEMBLE_RESOURCES = Resources(cpus=1.0, gpus=0.0)  # scikit-learn and ROUGE: CPU work


class TooFewMembers(Exception):
    """Fewer members than `ensemble.min_models` are left after some failed a step."""


class EnsembleStepFailed(Exception):
    """One of the ensemble's own steps failed (after the retries its policy allowed); the message
    says how, and `log` is its error log."""

    def __init__(self, message: str, log: str | None):
        super().__init__(message)
        self.log = log


def ensemble_job(ctx: RunContext) -> Job:
    """The job the ensemble's own steps run under, in the run's ensemble/ directory: not a
    candidate's, so it asks for one CPU and takes its limits and retries from `defaults`."""
    config = ctx.config
    return Job(name=ENSEMBLE, settings=config.defaults.model_copy(update={"resources": ENSEMBLE_RESOURCES}),
               task=config.task, data=ctx.data, output_dir=(ctx.run_dir / "ensemble").resolve())


def run_ensemble_step(ctx: RunContext, step: Step, request: Any) -> Any:
    """`step` run once under the supervisor as the ensemble's own work; its typed result, or
    EnsembleStepFailed saying why and where its error log is."""
    [outcome] = ctx.supervise([WorkItem(step, ensemble_job(ctx), request)])
    if not outcome.ok:
        raise EnsembleStepFailed(f"{step.stage} {outcome.status}: {outcome.error}", outcome.log)
    return outcome.result


@dataclass
class Members:
    """The members still in the ensemble, and who dropped out of which step and why."""

    ctx: RunContext
    names: list[str]
    dropped: dict[str, str] = field(default_factory=dict)

    def run_step(self, step: Step, request: Any) -> dict[str, Any]:
        """Run `step` for every member under the supervisor; the typed results of those that
        succeeded, by member. The others are dropped (TooFewMembers when too few remain)."""
        ctx = self.ctx
        items = [WorkItem(step, member_job(ctx.config, ctx.run_dir, name, ctx.labels), request) for name in self.names]
        results = {}
        for outcome in ctx.supervise(items):
            if outcome.ok:
                results[outcome.name] = outcome.result
            else:
                self.dropped[outcome.name] = f"{step.stage} {outcome.status}: {outcome.error} (log: {outcome.log})"
        self.names = [name for name in self.names if name in results]
        needed = ctx.config.ensemble.min_models
        if len(self.names) < needed:
            lost = "; ".join(f"{name}: {why}" for name, why in self.dropped.items())
            raise TooFewMembers(f"{len(self.names)} member(s) left after {step.stage}, min_models is {needed} ({lost})")
        return results

    def predictions(self, inputs: dict[str, list[Row]]) -> dict[str, dict[str, list[Row]]]:
        """Every member's own prediction records per split: {split: {member: records}}."""
        proposed = self.run_step(PROPOSE, ProposeRequest(inputs, own_predictions=True, candidates=0, beams=1))
        return {split: {m: proposed[m].splits[split].predictions for m in self.names} for split in inputs}

    def pools(
        self, inputs: dict[str, list[Row]], own: dict[str, dict[str, list[str]]] | None, *, stacking: bool
    ) -> dict[str, PoolParts]:
        """Per split, every input's pool of candidate summaries. `own` are the members' greedy
        summaries when known (training wrote them for validation and test); otherwise the
        members make them. For stacking, each member adds its top beams and then scores every
        pooled candidate, which become the pools' log-likelihood features."""
        settings = self.ctx.config.ensemble
        source = self.ctx.config.task.resolved_input_column()
        proposed: dict[str, ProposeResult] = {}
        if stacking or own is None:
            candidates = settings.num_candidates if stacking else 0
            proposed = self.run_step(PROPOSE, ProposeRequest(inputs, own is None, candidates, settings.num_beams))
        if own is None:
            own = {split: {m: [p["prediction"] for p in proposed[m].splits[split].predictions or []]
                           for m in self.names} for split in inputs}
        sources = {split: [str(r[source]) for r in rows] for split, rows in inputs.items()}

        def parts(split: str) -> PoolParts:
            beams = {m: proposed[m].splits[split].candidates or [] for m in self.names} if stacking else None
            return PoolParts(list(self.names), sources[split], {m: own[split][m] for m in self.names}, beams)

        pools = {split: parts(split) for split in inputs}
        if not stacking:
            return pools
        asked = {split: pool.pairs() for split, pool in pools.items()}
        scored: dict[str, ScoreResult] = self.run_step(SCORE, ScoreRequest(asked))
        # without the candidates of who dropped out while scoring
        return {split: pool.of(self.names).scored(asked[split], {m: scored[m].log_likelihoods[split]
                                                                for m in self.names})
                for split, pool in pools.items()}
