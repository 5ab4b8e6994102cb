"""What `serve` deploys for a finished run, read from the run's own files and nothing else.

- `--model NAME`: that candidate, in the variant `--variant` names (`auto`: the optimize
  stage's recommendation), batched at the batch size the optimize stage measured best for that
  variant within its latency SLO and memory budget;
- `--ensemble`: the method the ensemble stage chose on validation, over its fp32 members and
  saved meta-learner, exactly as `predict` applies it;
- `--best` (the default): the ensemble when the ensemble stage chose one, else the single model
  it chose (as `--model`).

Everything a user can get wrong (no such model, a variant the run never made or the quality
check rejected, a run without summary.json) is a ConfigError naming the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.atomic import read_json_or_warn
from contract.ensemble import ChosenEnsemble
from contract.names import suggestion_text
from contract.optimize import out_of_bounds
from contract.serving import ServedVariant
from orchestrator.config import ConfigError, ConfigIssue, ExperimentConfig, load_run_config
from orchestrator.data import label_order, run_data_files
from orchestrator.export_plan import best_on_validation
from orchestrator.placement import placed_config
from orchestrator.predict import chosen_ensemble, load_run
from orchestrator.stages.train import member_job

DEFAULT_BATCH_WAIT_S = 0.01  # Ray Serve's own default, when the run measured no latency to keep within
MAX_BATCH_WAIT_S = 0.05  # waiting longer fills batches little more and costs every lone request


@dataclass(frozen=True)
class Limits:
    """What one request may carry (each over-limit request is refused with 413)."""

    max_inputs: int = 64
    max_input_chars: int = 20_000
    max_body_bytes: int = 2**21
    timeout_s: float = 120.0


@dataclass(frozen=True)
class ServePlan:
    run_dir: Path
    experiment: str
    task: str  # summarization | classification
    input_column: str
    language: str
    served: list[ServedVariant]  # one deployment each
    resources: dict[str, dict[str, float]]  # per served model: Ray actor options num_cpus / num_gpus
    ensemble: ChosenEnsemble | None  # None: one model, batched by Serve
    num_candidates: int = 0
    num_beams: int = 1
    test_metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def route(self) -> str:
        return "/v1/classify" if self.task == "classification" else "/v1/summarize"

    @property
    def what(self) -> str:
        if self.ensemble is None:
            only = self.served[0]
            return f"{only.job.name} ({only.variant}, batches of up to {only.max_batch_size})"
        return f"the ensemble ({self.ensemble.method} over {', '.join(self.ensemble.members)}, fp32)"

    def info(self) -> dict[str, Any]:
        """`GET /v1/info`: what is served, from which run, and its scores on the run's test split."""
        return {
            "run_dir": str(self.run_dir), "experiment": self.experiment, "task": self.task, "route": self.route,
            "served": "ensemble" if self.ensemble else self.served[0].job.name,
            "method": self.ensemble.method if self.ensemble else "single",
            "models": [{"model": s.job.name, "variant": s.variant, "max_batch_size": s.max_batch_size,
                        "batch_wait_ms": round(s.batch_wait_s * 1000, 2), **self.resources[s.job.name]}
                       for s in self.served],
            "test_metrics": self.test_metrics, "notes": self.notes,
        }


def plan_serving(run_dir: Path, *, model: str | None = None, ensemble: bool = False, variant: str = "auto",
                 cluster_gpus: float = 0.0) -> ServePlan:
    """The plan for `serve RUN_DIR`: `model` or `ensemble` or, with neither, the best."""
    config = load_run_config(run_dir)
    summary = _summary(run_dir)
    config = placed_config(config, cluster_gpus)
    chosen: ChosenEnsemble | None = None
    if model is None:
        has_ensemble = (run_dir / "ensemble" / "ensemble.json").is_file()
        if ensemble or has_ensemble:
            _, section = load_run(run_dir)
            chosen = chosen_ensemble(run_dir, section)
            if not ensemble and chosen.method == "best_single":  # --best: the single model, as served best
                model, chosen = chosen.members[0], None
        else:
            model = _best_by_validation(config, summary)
    if chosen is not None:
        if variant != "auto":
            raise ConfigError([ConfigIssue("--variant", "the ensemble serves its members in fp32, as the ensemble "
                                                        "stage fitted them; drop --variant, or serve one --model")])
        return _plan(config, run_dir, summary, [_fp32_member(config, run_dir, chosen.labels, m) for m in chosen.members],
                     chosen)
    assert model is not None
    name = _survivor(config, summary, model)
    return _plan(config, run_dir, summary, [_variant(config, run_dir, name, variant)], None)


def _plan(config: ExperimentConfig, run_dir: Path, summary: dict[str, Any], served: list[tuple[ServedVariant, str]],
          chosen: ChosenEnsemble | None) -> ServePlan:
    resources = {}
    for variant, _ in served:
        res = variant.job.settings.resources
        resources[variant.job.name] = {"num_cpus": res.cpus, "num_gpus": res.gpus_per_process or 0.0}
    if chosen is None:
        metrics = summary["models"][served[0][0].job.name].get("metrics", {}).get("test", {})
    else:
        metrics = summary.get("ensemble", {}).get("scores", {}).get(chosen.method, {}).get("test", {})
    return ServePlan(
        run_dir=run_dir.resolve(), experiment=config.experiment, task=config.task.type,
        input_column=config.task.resolved_input_column(), language=config.task.language,
        served=[v for v, _ in served], resources=resources, ensemble=chosen,
        num_candidates=config.ensemble.num_candidates, num_beams=config.ensemble.num_beams,
        test_metrics=metrics, notes=[note for _, note in served if note],
    )


def _summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    summary = read_json_or_warn(path, "serve needs it") if path.is_file() else None
    if not isinstance(summary, dict) or not isinstance(summary.get("models"), dict):
        raise ConfigError([ConfigIssue("RUN_DIR", f"{path} is missing or unreadable; run (or resume) the run first")])
    return summary


def _survivors(summary: dict[str, Any]) -> list[str]:
    return [name for name, m in summary["models"].items() if m.get("status") == "succeeded"]


def _survivor(config: ExperimentConfig, summary: dict[str, Any], wanted: str) -> str:
    survivors = _survivors(summary)
    try:
        name = config.candidate(wanted).name  # names match as everywhere: case and _/- do not matter
    except KeyError:
        known = [c.name for c in config.models]
        why = f"the run has no candidate of that name{suggestion_text(wanted, known)}"
    else:
        if name in survivors:
            return name
        why = "it did not finish training (see summary.json)"
    raise ConfigError([ConfigIssue("--model", f"cannot serve {wanted!r}: {why}; trained: {', '.join(survivors) or 'none'}")])


def _best_by_validation(config: ExperimentConfig, summary: dict[str, Any]) -> str:
    """The survivor `export --best` would pick (`orchestrator.export_plan.best_on_validation`); one
    with a validation score is needed."""
    metric = config.task.resolved_metric()
    survivors = _survivors(summary)
    if not any(isinstance(summary["models"][n].get("metrics", {}).get("validation", {}).get(metric), int | float)
               for n in survivors):
        raise ConfigError([ConfigIssue("RUN_DIR", "the run has no ensemble and no trained candidate with a validation "
                                                  f"{metric}; serve one with --model NAME")])
    return best_on_validation(summary, survivors)


def _fp32_member(config: ExperimentConfig, run_dir: Path, labels: tuple[str, ...],
                 name: str) -> tuple[ServedVariant, str]:
    job = member_job(config, run_dir, name, labels)
    return ServedVariant(job, "fp32", str(job.output_dir / "checkpoint"), job.settings.eval_batch_size, 0.0), ""


def _variant(config: ExperimentConfig, run_dir: Path, name: str, wanted: str) -> tuple[ServedVariant, str]:
    """One model's variant and batching, from the optimize stage's optimize.json."""
    job = member_job(config, run_dir, name, label_order(config, run_data_files(run_dir)))
    measured = read_json_or_warn(run_dir / "optimize" / name / "optimize.json", "serve batches at eval_batch_size") \
        if (run_dir / "optimize" / name / "optimize.json").is_file() else None
    fp32 = ServedVariant(job, "fp32", str(job.output_dir / "checkpoint"), job.settings.eval_batch_size,
                         DEFAULT_BATCH_WAIT_S)
    if not isinstance(measured, dict):
        if wanted not in ("auto", "fp32"):
            raise ConfigError([ConfigIssue("--variant", f"{name} has no optimize results, so no {wanted} variant; "
                                                        f"run `python -m orchestrator optimize {run_dir}` first")])
        return fp32, (f"{name}: no optimize results; serving fp32 at eval_batch_size {fp32.max_batch_size} "
                      f"(`optimize RUN_DIR` measures the best variant and batch size)")
    variants: dict[str, Any] = measured.get("variants", {})
    slo = config.optimize.latency_slo_ms
    if wanted == "auto":
        recommended = measured.get("recommendation") or {}
        if recommended.get("variant") is None:
            return fp32, f"{name}: the optimize stage recommended nothing ({recommended.get('reason')}); serving fp32"
        wanted = recommended["variant"]
    entry = variants.get(wanted)
    if not isinstance(entry, dict) or entry.get("status") != "ok":
        made = [v for v, e in variants.items() if isinstance(e, dict) and e.get("status") == "ok"]
        raise ConfigError([ConfigIssue("--variant", f"{name} has no usable {wanted} variant "
                                                    f"({(entry or {}).get('reason', 'the run did not make it')}); "
                                                    f"choose one of: auto, {', '.join(made)}")])
    if not entry.get("accepted", wanted == "fp32"):
        raise ConfigError([ConfigIssue("--variant", f"{name}'s {wanted} variant failed the quality check: "
                                                    f"{entry.get('reason')}; serve auto or fp32")])
    point = _best_point(entry.get("points", []), config.optimize.memory_budget_mb, slo)
    if point is None:
        batch, wait = job.settings.eval_batch_size, DEFAULT_BATCH_WAIT_S
        note = f"{name}: no measured {wanted} batch size within the bounds; batching at eval_batch_size {batch}"
    else:
        batch, wait, note = point["batch_size"], batch_wait_s(slo, point.get("p95_ms")), ""
    return ServedVariant(job, wanted, str(entry["path"]), int(batch), wait), note


def _best_point(points: list[dict[str, Any]], memory_mb: float | None, slo_ms: float | None) -> dict[str, Any] | None:
    """The highest-throughput measured point within the memory budget and latency SLO (the
    optimize stage's own rule, `out_of_bounds`, applied to one variant)."""
    usable = [p for p in points
              if out_of_bounds(p.get("status", "failed"), p.get("peak_memory_mb", 0), p.get("p95_ms"), memory_mb,
                               slo_ms) is None]
    return max(usable, key=lambda p: p.get("samples_per_s") or 0.0, default=None)


def batch_wait_s(slo_ms: float | None, batch_p95_ms: float | None) -> float:
    """How long Serve holds a request for others to batch with: what the SLO leaves after a full
    batch's p95 latency, at most MAX_BATCH_WAIT_S (a lone request waits it all)."""
    if slo_ms is None or batch_p95_ms is None:
        return DEFAULT_BATCH_WAIT_S
    return round(min(MAX_BATCH_WAIT_S, max(0.0, (slo_ms - batch_p95_ms) / 1000)), 4)
