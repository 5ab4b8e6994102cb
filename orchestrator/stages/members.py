"""The ensemble members at work: supervised steps over the survivors, and the pools they build.

Each step runs every member in an actor of its own (`ensemble-propose/<name>`,
`ensemble-score/<name>`) with the resources it trained with, under the same supervisor as
training: queue, load and stall limits, heartbeats, retries and error logs. A member that fails
a step drops out of the ensemble with its reason; the stage goes on while `ensemble.min_models`
members remain. Used by the ensemble stage and by `predict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.ensemble import members as member_steps
from models.ensemble.summarization import Candidates, build_pool
from orchestrator.cluster import ClusterInfo
from orchestrator.config import ExperimentConfig
from orchestrator.stages.train import member_job
from orchestrator.storage import run_storage
from orchestrator.supervisor import EventSink, Supervisor
from orchestrator.work import StageFunction, WorkItem

Row = dict[str, Any]


class TooFewMembers(Exception):
    """Fewer members than `ensemble.min_models` are left after some failed a step."""


@dataclass
class Members:
    """The members still in the ensemble, and who dropped out of which step and why."""

    config: ExperimentConfig
    run_dir: Path
    names: list[str]
    labels: tuple[str, ...]
    cluster: ClusterInfo | None  # needed only when a step runs
    on_event: EventSink
    dropped: dict[str, str] = field(default_factory=dict)

    def run_step(self, stage: str, function: StageFunction, *args: Any) -> dict[str, dict[str, Any]]:
        """Run `function` for every member under the supervisor; the results of those that
        succeeded, by member. The others are dropped (TooFewMembers when too few remain)."""
        if self.cluster is None:
            raise ValueError(f"{stage} runs the members as Ray actors: it needs a cluster")
        items = [
            WorkItem(stage, member_job(self.config, self.run_dir, name, self.labels), function, args)
            for name in self.names
        ]
        results = {}
        for outcome in Supervisor(items, self.cluster, self.run_dir, self.on_event,
                                  storage=run_storage(self.config.storage, self.run_dir)).run():
            if outcome.status == "succeeded":
                results[outcome.name] = outcome.details
            else:
                self.dropped[outcome.name] = f"{stage} {outcome.status}: {outcome.error} (log: {outcome.log})"
        self.names = [name for name in self.names if name in results]
        needed = self.config.ensemble.min_models
        if len(self.names) < needed:
            lost = "; ".join(f"{name}: {why}" for name, why in self.dropped.items())
            raise TooFewMembers(f"{len(self.names)} member(s) left after {stage}, min_models is {needed} ({lost})")
        return results

    def predictions(self, inputs: dict[str, list[Row]]) -> dict[str, dict[str, list[Row]]]:
        """Every member's own prediction records per split: {split: {member: records}}."""
        proposed = self.run_step("ensemble-propose", member_steps.propose, inputs, True, 0, 1)
        return {split: {m: proposed[m][split]["predictions"] for m in self.names} for split in inputs}

    def pools(
        self, inputs: dict[str, list[Row]], own: dict[str, dict[str, list[str]]] | None, *, stacking: bool
    ) -> dict[str, Candidates]:
        """Per split, every input's pool of candidate summaries. `own` are the members' greedy
        summaries when known (training wrote them for validation and test); otherwise the
        members make them. For stacking, each member adds its top beams and then scores every
        pooled candidate, which become the pools' log-likelihood features."""
        settings = self.config.ensemble
        source = self.config.task.resolved_input_column()
        proposed: dict[str, dict[str, Any]] = {}
        if stacking or own is None:
            candidates = settings.num_candidates if stacking else 0
            proposed = self.run_step(
                "ensemble-propose", member_steps.propose, inputs, own is None, candidates, settings.num_beams
            )
        if own is None:
            own = {split: {m: [p["prediction"] for p in proposed[m][split]["predictions"]] for m in self.names}
                   for split in inputs}
        sources = {split: [str(r[source]) for r in rows] for split, rows in inputs.items()}

        def build(split: str) -> Candidates:
            beams = {m: proposed[m][split]["candidates"] for m in self.names} if stacking else None
            return build_pool(self.names, sources[split], {m: own[split][m] for m in self.names}, beams)

        pools = {split: build(split) for split in inputs}
        if not stacking:
            return pools
        asked = {split: pool.pairs() for split, pool in pools.items()}
        scored = self.run_step("ensemble-score", member_steps.score, asked)
        if self.names != pools[next(iter(pools))].members:
            pools = {split: build(split) for split in inputs}  # without the candidates of who dropped out
        for split, pool in pools.items():
            pool.add_log_likelihoods({m: dict(zip(asked[split], scored[m][split], strict=True)) for m in self.names})
        return pools
