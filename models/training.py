"""One candidate, start to finish, inside its actor: load, train, evaluate, save, predict.

`train_candidate` is plain Python (no Ray), so tests and benchmarks can call it directly; the
actor in `orchestrator.workers` only wraps it. Results travel back as paths and small metrics.
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
from transformers import (
    AutoConfig,
    EarlyStoppingCallback,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from contract.atomic import read_json, write_json
from contract.errors import TrainingStopped
from contract.job import TrainingJob
from contract.phases import Phase
from contract.settings import TrainingSettings
from contract.work import WEIGHT_DIRS, TrainRequest, TrainResult
from models.checkpoint import seal_checkpoint, write_checkpoint
from models.data.files import read_rows, write_jsonl
from models.distributed import agree, barrier, rank, world_size
from models.errors import NonFiniteLossError
from models.families.base import ModelFamily
from models.precision import PrecisionPlan, decide_precision, detect_hardware, saved_dtype
from models.registry import PRESETS, load_family, parse_source
from models.reporting import Reporter, prediction_progress
from models.resume import TRAINER_DIR, CheckpointClock, find_resume_point, record_progress
from models.schedule import training_schedule
from models.sources import ResolvedSource, hub_commit, resolve_source

log = logging.getLogger(__name__)


class GuardedTrainer(Trainer):
    """A Trainer whose non-finite losses skip their optimizer step instead of poisoning the
    weights, up to a bound; past it the candidate fails with the step numbers in the message."""

    def __init__(self, *args: Any, max_nonfinite_steps: int, fingerprint: str, identity: dict[str, Any],
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.max_nonfinite_steps = max_nonfinite_steps
        self.nonfinite_steps: list[int] = []
        self.fingerprint = fingerprint
        self.identity = identity  # recorded in each checkpoint, so a rerun can say what changed

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """The Trainer's save, sealed (`models.resume`) before older checkpoints are rotated away:
        at every moment the newest sealed checkpoint is complete."""
        limit, self.args.save_total_limit = self.args.save_total_limit, None
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        if not self.args.should_save:  # data-parallel: rank 0 writes, seals and rotates
            return
        run_dir = Path(self._get_output_dir(trial=trial))
        seal_checkpoint(run_dir / f"checkpoint-{self.state.global_step}", self.fingerprint,
                        step=self.state.global_step, identity=self.identity)
        self._rotate_checkpoints(use_mtime=True, output_dir=str(run_dir))

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> torch.Tensor:
        loss = super().training_step(model, inputs, num_items_in_batch)
        if torch.isfinite(loss).all():
            return loss
        step = self.state.global_step + 1
        if not self.nonfinite_steps or self.nonfinite_steps[-1] != step:
            self.nonfinite_steps.append(step)
        log.warning("non-finite loss at step %d; its update is skipped", step)
        if len(self.nonfinite_steps) > self.max_nonfinite_steps:
            raise NonFiniteLossError(
                f"loss was NaN/inf on {len(self.nonfinite_steps)} steps (first at step "
                f"{self.nonfinite_steps[0]}), more than max_nonfinite_steps={self.max_nonfinite_steps}"
            )
        model.zero_grad(set_to_none=True)  # the optimizer then skips every parameter this step
        return torch.zeros_like(loss)


class HeartbeatCallback(TrainerCallback):
    """Turns Trainer events into phase changes and (throttled) heartbeats."""

    def __init__(self, reporter: Reporter, examples_per_step: int, interval_s: float = 0.5):
        self.reporter = reporter
        self.examples_per_step = examples_per_step
        self.interval_s = interval_s
        self.loss: float | None = None
        self.evaluations = 0
        self._training = False
        self._started = 0.0
        self._last_sent = 0.0
        self._last_logged: tuple[int, float] | None = None  # (step, time) of the last training log line

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.monotonic()
        self._training = True
        self._last_logged = (state.global_step, self._started)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._training = False

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if not logs:
            return
        log.info("step %d: %s", state.global_step, ", ".join(f"{k}={v:.4g}" for k, v in logs.items()))
        values = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if "loss" in logs:
            self.loss = float(logs["loss"])
            now = time.monotonic()
            if self._last_logged is not None and state.global_step > self._last_logged[0]:
                steps, seconds = state.global_step - self._last_logged[0], now - self._last_logged[1]
                values["examples_per_s"] = round(steps * self.examples_per_step / max(seconds, 1e-9), 2)
            self._last_logged = (state.global_step, now)
        self.reporter.logged(state.global_step, values)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None,
                    **kwargs: Any) -> None:
        """Each evaluation during training, with its loss and number (the final evaluation after
        training is not one of them): a learning-rate sweep's early stopping decides on these."""
        if not self._training or not metrics or "eval_loss" not in metrics:
            return
        # counted from the Trainer's history, which a resumed training restores: numbering continues
        self.evaluations = sum("eval_loss" in entry for entry in state.log_history) or self.evaluations + 1
        self.reporter.heartbeat(
            step=state.global_step, total_steps=state.max_steps, epoch=round(state.epoch or 0.0, 3),
            eval_loss=round(float(metrics["eval_loss"]), 5), evaluation=self.evaluations,
        )

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Evaluation batches count as signs of life too (a long eval is not a stall)."""
        now = time.monotonic()
        if now - self._last_sent >= self.interval_s:
            self._last_sent = now
            self.reporter.heartbeat(step=state.global_step, total_steps=state.max_steps, evaluating=True)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 1:
            self.reporter.phase(Phase.TRAINING)
        now = time.monotonic()
        if now - self._last_sent < self.interval_s and state.global_step < state.max_steps:
            return
        self._last_sent = now
        elapsed = max(now - self._started, 1e-9)
        self.reporter.heartbeat(
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=round(state.epoch or 0.0, 3),
            loss=self.loss,
            examples_per_s=round(state.global_step * self.examples_per_step / elapsed, 2),
        )


class CheckpointCallback(TrainerCallback):
    """Saves between evaluations on the `checkpoint_every` clock, and notes the furthest step."""

    def __init__(self, trainer_dir: Path, every: int | str, reporter: Reporter, progress_interval_s: float = 2.0):
        self.trainer_dir = trainer_dir
        self.clock = CheckpointClock(every)
        self.reporter = reporter
        self.progress_interval_s = progress_interval_s
        self.stopped_at: int | None = None  # the step at which a stop request was honoured
        self._last_note = 0.0

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        due, stop = agree(self.clock.due(state.global_step), self.reporter.stop_requested())  # rank 0 decides
        if due and state.global_step < state.max_steps:
            control.should_save = True
        if stop and state.global_step < state.max_steps:
            control.should_save = control.should_training_stop = True
            self.stopped_at = state.global_step
        now = time.monotonic()
        if state.is_world_process_zero and (now - self._last_note >= self.progress_interval_s or control.should_save):
            self._last_note = now
            record_progress(self.trainer_dir, state.global_step)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.saved()  # called once the checkpoint is sealed and older ones rotated away
        self.reporter.checkpoint_saved(str(self.trainer_dir / f"checkpoint-{state.global_step}"))


class ValidationMetricCallback(TrainerCallback):
    """At every evaluation, the task's metric on the validation split, predicted as the run
    predicts (`eval_<metric>` beside eval_loss): what early stopping on a task metric watches and
    what then picks the best checkpoint. It costs a prediction of validation per evaluation."""

    def __init__(self, family: ModelFamily, tokenizer: Any, rows: list[dict[str, Any]], metric: str,
                 reporter: Reporter):
        self.family, self.tokenizer, self.rows, self.metric, self.reporter = family, tokenizer, rows, metric, reporter

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None,
                    model: Any = None, **kwargs: Any) -> None:
        if metrics is None or model is None or not self.rows:
            return
        predictions = self.family.predict(model, self.tokenizer, self.rows)
        metrics[f"eval_{self.metric}"] = self.family.score(predictions, self.rows)[self.metric]
        log.info("step %d: validation %s %.3f", state.global_step, self.metric, metrics[f"eval_{self.metric}"])
        model.train()


def _stopped_early(job: TrainingJob, trainer: Any, train_output: Any, resumed_at: int) -> dict[str, Any] | None:
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
        from models.distributed import train_data_parallel

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
    trainer = _build_trainer(job, family, model, tokenizer, plan, train_features, eval_features, reporter,
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
        model = _gathered(trainer, family, source, tokenizer, plan, pad_added)

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


def _build_trainer(
    job: TrainingJob,
    family: ModelFamily,
    model: Any,
    tokenizer: Any,
    plan: PrecisionPlan,
    train_features: list[dict[str, Any]],
    eval_features: list[dict[str, Any]] | None,
    reporter: Reporter,
    validation_rows: list[dict[str, Any]] | None = None,
) -> Any:
    s = job.settings
    examples_per_step = s.batch_size * s.gradient_accumulation
    schedule = training_schedule(s, len(train_features))
    total_steps, eval_every = schedule.total_steps, schedule.eval_every
    has_eval = bool(eval_features)
    stopping = s.early_stopping if has_eval and s.early_stopping and s.early_stopping.patience > 0 else None
    watched = stopping.metric if stopping else "eval_loss"  # what picks the best checkpoint, and what stops
    callbacks: list[TrainerCallback] = [HeartbeatCallback(reporter, examples_per_step),
                                        CheckpointCallback(job.output_dir / TRAINER_DIR, s.checkpoint_every, reporter)]
    if stopping is not None:
        if watched != "eval_loss":
            callbacks.append(ValidationMetricCallback(family, tokenizer, validation_rows or [], watched, reporter))
        callbacks.append(EarlyStoppingCallback(stopping.patience, stopping.min_delta))
    args = TrainingArguments(
        output_dir=str(job.output_dir / TRAINER_DIR),
        max_steps=total_steps,
        per_device_train_batch_size=s.per_process_batch_size(world_size()),
        per_device_eval_batch_size=s.per_process_eval_batch_size(world_size()),
        gradient_accumulation_steps=s.gradient_accumulation,
        learning_rate=s.learning_rate,
        weight_decay=s.weight_decay,
        warmup_ratio=s.warmup_ratio,
        logging_steps=s.logging_steps,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_every,
        save_strategy="steps",  # at every evaluation; CheckpointCallback adds the saves in between
        save_steps=eval_every,
        save_total_limit=2,  # the best and the latest (with 1, the Trainer deletes the latest when training ends)
        load_best_model_at_end=has_eval,
        metric_for_best_model=watched if watched == "eval_loss" else f"eval_{watched}",
        greater_is_better=watched != "eval_loss",
        seed=s.seed,
        data_seed=s.seed,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        save_safetensors=True,
        **({"ddp_backend": "gloo"} if world_size() > 1 and plan.device == "cpu" else {}),
        **(sharding_arguments(model) if shards_model(s, plan) else {}),
        **plan.trainer_arguments(),
    )
    trainer = GuardedTrainer(
        max_nonfinite_steps=s.max_nonfinite_steps,
        fingerprint=job.fingerprint,
        identity=job.identity.get("training", {}),
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=eval_features,
        data_collator=family.collator(tokenizer, model),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # the heartbeat callback logs instead
    return trainer


def shards_model(settings: TrainingSettings, plan: PrecisionPlan) -> bool:
    """Whether this data-parallel worker shards the model (`strategy: fsdp`): on GPUs only, as
    accelerate's FSDP shards over accelerator devices; on CPUs the workers train with ddp (said
    once, by rank 0, and by preflight)."""
    if world_size() == 1 or settings.resources.strategy != "fsdp":
        return False
    return plan.device != "cpu"


def sharding_arguments(model: Any) -> dict[str, Any]:
    """TrainingArguments for FSDP (`resources.strategy: fsdp`): parameters, gradients and optimizer
    state fully sharded over the workers, wrapped per transformer layer (the model's own
    `_no_split_modules`); checkpoints hold the full state dict, written by rank 0, so they resume
    and load like any other."""
    layers = getattr(model, "_no_split_modules", None) or []
    return {"fsdp": "full_shard auto_wrap", "fsdp_config": {
        "transformer_layer_cls_to_wrap": list(layers), "use_orig_params": True, "state_dict_type": "FULL_STATE_DICT",
        "sync_module_states": False,  # every rank loads the same weights from disk (rank 0 builds a scratch preset)
    }}


def _gathered(trainer: Any, family: ModelFamily, source: ResolvedSource, tokenizer: Any, plan: PrecisionPlan,
              pad_added: bool) -> Any:
    """The trained model whole, on rank 0 (None elsewhere): its full state dict gathered from the
    shards (every rank takes part) into a fresh copy of the architecture, so saving, merging and
    predicting work on it as on any one-process model."""
    state = trainer.accelerator.get_state_dict(trainer.model)
    if rank() != 0:
        return None
    model = family.load_model(source, tokenizer, plan, pad_added)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith(TIED_SUFFIXES)]:
        raise RuntimeError(f"the gathered state does not fit the model: missing {missing[:5]}, unexpected "
                           f"{unexpected[:5]}")
    return model


TIED_SUFFIXES = ("lm_head.weight", "embed_tokens.weight", "shared.weight")  # tied to another weight, saved once


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
