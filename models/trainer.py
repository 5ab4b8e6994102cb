"""The Hugging Face Trainer as a candidate trains with it: `GuardedTrainer` (non-finite losses
skipped up to a bound, every checkpoint sealed before older ones rotate away), its arguments and
callbacks from the candidate's settings (`build_trainer`), and FSDP's sharding and the trained
model gathered whole again (`strategy: fsdp`).

Imported through `models.training`, which keeps what the process declared unused away from
transformers (`models.libraries`) before transformers is imported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from contract.checkpoints import TRAINER_DIR
from contract.job import TrainingJob
from contract.reporting import Reporter
from contract.schedule import training_schedule
from contract.settings import TrainingSettings
from models.checkpoint import seal_checkpoint
from models.distributed import rank, world_size
from models.errors import NonFiniteLossError
from models.families.base import ModelFamily
from models.precision import PrecisionPlan
from models.sources import ResolvedSource
from models.trainer_callbacks import CheckpointCallback, HeartbeatCallback, ValidationMetricCallback

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


def build_trainer(
    job: TrainingJob,
    family: ModelFamily,
    model: Any,
    tokenizer: Any,
    plan: PrecisionPlan,
    train_features: list[dict[str, Any]],
    eval_features: list[dict[str, Any]] | None,
    reporter: Reporter,
    validation_rows: list[dict[str, Any]] | None = None,
) -> GuardedTrainer:
    """The candidate's Trainer: arguments from its settings (schedule, per-process batches,
    precision, FSDP), and the callbacks that report, checkpoint, stop and stop early."""
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


def gathered_model(trainer: Any, family: ModelFamily, source: ResolvedSource, tokenizer: Any, plan: PrecisionPlan,
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
