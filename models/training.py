"""One candidate, start to finish, inside its actor: load, train, evaluate, save, predict.

`train_candidate` is plain Python (no Ray), so tests and benchmarks can call it directly; the
actor in `orchestrator.workers` only wraps it. Results travel back as paths and small metrics.
The Trainer it trains with is set up in `models.trainer`, and reports through
`models.trainer_callbacks`.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from models import libraries

libraries.apply()  # before transformers is imported: a full fine-tune's process never imports peft

import torch  # noqa: E402
from transformers import AutoConfig, set_seed

from contract.atomic import read_json, write_json
from contract.checkpoints import TRAINER_DIR
from contract.errors import TrainingStopped
from contract.job import TrainingJob
from contract.phases import Phase
from contract.reporting import Reporter
from contract.rows import read_rows, write_jsonl
from contract.sources import PRESETS, parse_source
from contract.work import WEIGHT_DIRS, TrainRequest, TrainResult
from models.checkpoint import write_checkpoint
from models.distributed import barrier, rank, train_data_parallel, world_size
from models.families.base import ModelFamily
from models.precision import PrecisionPlan, decide_precision, detect_hardware, saved_dtype
from models.registry import load_family
from models.reporting import prediction_progress
from models.resume import find_resume_point
from models.sources import ResolvedSource, hub_commit, resolve_source
from models.trainer import GuardedTrainer, build_trainer, gathered_model, shards_model
from models.trainer_callbacks import CheckpointCallback

log = logging.getLogger(__name__)


def _stopped_early(job: TrainingJob, trainer: GuardedTrainer, train_output: Any,
                   resumed_at: int) -> dict[str, Any] | None:
    """Where early stopping ended training before its configured steps, the best step (the
    checkpoint kept) and the training time it saved (the steps not trained, at this run's pace)."""
    state = trainer.state
    if job.settings.early_stopping is None or state.global_step >= state.max_steps:
        return None
    seconds = train_output.metrics.get("train_runtime", 0.0)
    trained = max(state.global_step - resumed_at, 1)  # the steps this attempt's runtime covers
    best = state.best_model_checkpoint
    stopping = job.settings.early_stopping
    saved = round(seconds / trained * (state.max_steps - state.global_step), 1)
    log.info("stopped early at step %d of %d: validation %s did not improve by more than %g for %d evaluation(s); "
             "about %.0f s of training saved", state.global_step, state.max_steps, stopping.metric,
             stopping.min_delta, stopping.patience, saved)
    return {"step": state.global_step, "of_steps": state.max_steps, "epoch": round(float(state.epoch or 0), 2),
            "best_step": int(best.rsplit("-", 1)[-1]) if best else None, "best_metric": None if state.best_metric is None else round(float(state.best_metric), 4),
            "metric": stopping.metric, "saved_s": saved,
            "saved_share": round((state.max_steps - state.global_step) / state.max_steps, 3)}


def train_candidate(job: TrainingJob, reporter: Reporter, request: TrainRequest = TrainRequest()) -> TrainResult:
    """Train one candidate and write checkpoint, metrics and predictions under `job.output_dir`.
    Without `request.keep_weights` (a tune trial), the weights are deleted however it ends.
    With several processes (`resources.workers`, or `gpus` above 1) it trains data-parallel (`models.distributed`); inside one of
    those workers this is the worker's share, and only rank 0 returns a result."""
    if job.settings.resources.processes > 1 and world_size() == 1:
        return train_data_parallel(job, reporter, request)
    if rank() != 0:
        return _train(job, reporter, request.predict)
    if request.keep_weights:
        return _train(job, reporter, request.predict)
    try:
        return dataclasses.replace(_train(job, reporter, request.predict), checkpoint=None)
    finally:
        for weights in WEIGHT_DIRS:
            shutil.rmtree(job.output_dir / weights, ignore_errors=True)


def _train(job: TrainingJob, reporter: Reporter, predict: bool = True) -> TrainResult:
    started = time.monotonic()
    libraries.check(job)
    settings = job.settings
    torch.set_num_threads(max(1, int(settings.resources.cpus)))
    set_seed(settings.seed)
    job.output_dir.mkdir(parents=True, exist_ok=True)
    resume = find_resume_point(job.output_dir / TRAINER_DIR, job.fingerprint)
    if rank() == 0:
        _remove_results(job)  # whatever this attempt ends with, no earlier attempt's metrics stand beside it

    reporter.phase(Phase.LOADING)
    family: ModelFamily = load_family(job.family)(job)
    rows = {split: read_rows(path) for split, path in vars(job.data).items() if path is not None}
    source = _prepare_source(job, family, rows["train"])
    plan = decide_precision(
        settings.precision,
        detect_hardware(),
        weights_dtype=_saved_dtype(source, job.candidate.trust_remote_code),
        adapters_only=job.candidate.lora is not None,
    )
    log.info("precision: %s (%s)", plan.name, plan.reason)
    if settings.resources.strategy == "fsdp" and world_size() > 1 and not shards_model(settings, plan) and rank() == 0:
        log.warning("strategy fsdp shards over GPUs (accelerate's FSDP): on CPUs the %d workers train with ddp, each "
                    "holding the whole model", world_size())
    tokenizer, pad_added = family.load_tokenizer(source)
    model = family.load_model(source, tokenizer, plan, pad_added)
    parameters = _count_parameters(model)
    truncated = _truncated_inputs(family, tokenizer, rows)
    train_features = family.encode(rows["train"], tokenizer)
    eval_features = family.encode(rows["validation"], tokenizer) if "validation" in rows else None

    reporter.phase(Phase.FIRST_STEP, parameters=parameters, resumed_from_step=resume.step,
                   **({"workers": world_size()} if world_size() > 1 else {}))  # the live table shows them
    trainer = build_trainer(job, family, model, tokenizer, plan, train_features, eval_features, reporter,
                             rows.get("validation"))
    if world_size() > 1:
        log.info("rank %d of %d: %d training batches of %d per epoch", rank(), world_size(),
                 len(trainer.get_train_dataloader()), trainer.args.per_device_train_batch_size)
    if resume.checkpoint is not None:
        log.info("resuming from %s (step %d; %d step(s) past it are trained again)",
                 resume.checkpoint, resume.step, resume.redone)
    train_window = [time.time()]
    train_output = trainer.train(resume_from_checkpoint=str(resume.checkpoint) if resume.checkpoint else None)
    train_window.append(time.time())
    stopped = next(c for c in trainer.callback_handler.callbacks if isinstance(c, CheckpointCallback)).stopped_at
    if stopped is not None:
        raise TrainingStopped(stopped)  # its checkpoint is saved; evaluating and predicting wait for the rerun
    stopped_early = _stopped_early(job, trainer, train_output, resume.step or 0)
    model = trainer.model
    if shards_model(settings, plan):  # every rank takes part in the gathering
        held = sum((p.to_local() if hasattr(p, "to_local") else p).numel() for p in model.parameters())  # DTensor shards
        log.info("fsdp: rank %d holds %d of the %d parameters", rank(), held, parameters["total"])
        model = gathered_model(trainer, family, source, tokenizer, plan, pad_added)

    reporter.phase(Phase.EVALUATING)
    metrics: dict[str, Any] = {"train_loss": round(train_output.training_loss, 5)}
    if eval_features:
        metrics["eval_loss"] = round(trainer.evaluate()["eval_loss"], 5)
    if rank() != 0:  # data-parallel: the other ranks' part ends with the evaluation
        return None  # type: ignore[return-value]

    reporter.phase(Phase.SAVING)
    if job.candidate.lora is not None and not job.candidate.quantization:
        model = model.merge_and_unload()
    checkpoint = _save(job, model, tokenizer, source, plan, parameters)

    if predict:
        metrics.update(_predict_and_score(job, family, model, tokenizer, rows, reporter))

    result = TrainResult(
        name=job.name,
        checkpoint=str(checkpoint),
        metrics=metrics,
        precision=plan.name,
        parameters=parameters,
        steps=trainer.state.global_step,
        batch_size=settings.batch_size,
        gradient_accumulation=settings.gradient_accumulation,
        train_wall_s=round(train_output.metrics.get("train_runtime", 0.0), 2),
        train_window=train_window,
        wall_s=round(time.monotonic() - started, 2),
        resumed_from_step=resume.step,
        steps_redone=resume.redone,
        evaluation_fingerprint=job.evaluation_fingerprint,
        evaluated_with=job.identity.get("evaluation"),
        truncated_inputs=truncated,
        stopped_early=stopped_early,
    )
    write_json(job.output_dir / "metrics.json", dataclasses.asdict(result))
    # Only now: an attempt cut short while evaluating or predicting resumes from the last step.
    shutil.rmtree(job.output_dir / TRAINER_DIR, ignore_errors=True)
    reporter.phase(Phase.DONE)
    return result


def evaluate_candidate(job: TrainingJob, reporter: Reporter) -> TrainResult:
    """Score and predict a kept checkpoint again, after only evaluation settings changed (see
    `orchestrator.rerun`): what training measured (its losses, steps, times) stays as it was."""
    started = time.monotonic()
    earlier = TrainResult.from_dict(read_json(job.output_dir / "metrics.json") or {"name": job.name, "checkpoint": None,
                                                                                  "metrics": {}})
    torch.set_num_threads(max(1, int(job.settings.resources.cpus)))
    reporter.phase(Phase.LOADING)
    family: ModelFamily = load_family(job.family)(job)
    model, tokenizer = family.load_finished()
    rows = {split: read_rows(path) for split, path in vars(job.data).items() if path is not None}
    # metrics.json stays until the new one replaces it: cut short, this is still a re-evaluation
    # (its evaluation fingerprint is the old one), never a retraining.
    shutil.rmtree(job.output_dir / "predictions", ignore_errors=True)
    kept = {k: v for k, v in earlier.metrics.items() if k in ("train_loss", "eval_loss")}
    metrics = {**kept, **_predict_and_score(job, family, model, tokenizer, rows, reporter)}
    result = dataclasses.replace(
        earlier, checkpoint=str(job.output_dir / "checkpoint"), metrics=metrics,
        truncated_inputs=_truncated_inputs(family, tokenizer, rows),
        wall_s=round(earlier.wall_s + time.monotonic() - started, 2), reevaluated=True,
        evaluation_fingerprint=job.evaluation_fingerprint, evaluated_with=job.identity.get("evaluation"),
    )
    write_json(job.output_dir / "metrics.json", dataclasses.asdict(result))
    reporter.phase(Phase.DONE)
    return result


def _truncated_inputs(family: ModelFamily, tokenizer: Any, rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """The inputs this candidate's tokenizer makes longer than max_source_length, per split, with
    a warning in its log when there are any: those inputs are cut, so the model never reads their end."""
    truncated = family.truncated_inputs(tokenizer, rows)
    if any(truncated.values()):
        shown = ", ".join(f"{n} of {len(rows[split])} {split}" for split, n in truncated.items() if n)
        log.warning("%s inputs are longer than max_source_length %d tokens and are cut (raise max_source_length "
                    "to keep more of them)", shown, family.settings.max_source_length)
    return truncated


def _predict_and_score(job: TrainingJob, family: ModelFamily, model: Any, tokenizer: Any,
                       rows: dict[str, list[dict[str, Any]]], reporter: Reporter) -> dict[str, Any]:
    """Predictions for validation and test (predictions/<split>.jsonl) and their scores."""
    reporter.phase(Phase.PREDICTING)
    scores: dict[str, Any] = {}
    for split in ("validation", "test"):
        if split in rows:
            predictions = family.predict(model, tokenizer, rows[split], prediction_progress(reporter, split))
            write_jsonl(job.output_dir / "predictions" / f"{split}.jsonl", predictions)
            scores[split] = family.score(predictions, rows[split])
    return scores


def _remove_results(job: TrainingJob) -> None:
    """metrics.json and predictions belong to one checkpoint; an attempt that trains removes them."""
    (job.output_dir / "metrics.json").unlink(missing_ok=True)
    shutil.rmtree(job.output_dir / "predictions", ignore_errors=True)


def _prepare_source(job: TrainingJob, family: ModelFamily, train_rows: list[dict[str, Any]]) -> ResolvedSource:
    """Scratch presets are built and saved into the run directory, then loaded like any local
    checkpoint, so the real loading path is the one that runs."""
    parsed = parse_source(job.candidate.source)
    if parsed.kind != "scratch":
        return resolve_source(job.candidate.source)
    preset = PRESETS.get(parsed.value)
    columns = [job.task.resolved_input_column()]
    if job.task.type == "summarization":
        columns.append(job.task.resolved_target_column())
    texts = [str(row[c]) for row in train_rows for c in columns]
    base = job.output_dir / "base"
    if rank() == 0:
        family.materialize(preset, texts, base)
    barrier()  # data-parallel: the other ranks load what rank 0 built
    return ResolvedSource(str(base), True)


def _saved_dtype(source: ResolvedSource, trust_remote_code: bool) -> torch.dtype | None:
    config = AutoConfig.from_pretrained(
        source.location, local_files_only=source.local_files_only, trust_remote_code=trust_remote_code
    )
    return saved_dtype(config)


def _count_parameters(model: Any) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def _save(
    job: TrainingJob, model: Any, tokenizer: Any, source: ResolvedSource, plan: PrecisionPlan, parameters: dict[str, int]
) -> Path:
    """Full weights where possible (LoRA is merged in by the caller); for a quantized base, the
    adapters plus a pointer to the base, since 4/8-bit weights cannot be merged back losslessly."""
    candidate = job.candidate
    adapter_only = candidate.lora is not None and candidate.quantization is not None

    def save(directory: Path) -> None:
        model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)

    return write_checkpoint(
        job.output_dir / "checkpoint",
        save,
        job.fingerprint,
        name=job.name,
        family=job.family,
        kind="adapter" if adapter_only else "full",
        base=source.location if adapter_only else None,
        identity=job.identity.get("training"),
        source_revision=hub_commit(job.candidate.source),
        quantization=candidate.quantization,
        precision=plan.name,
        parameters=parameters,
    )
