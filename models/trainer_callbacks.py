"""What a candidate's training tells the run while the Trainer trains, as Trainer callbacks:
phases and throttled heartbeats, each evaluation's loss and number (`HeartbeatCallback`: the live
table, the trackers and a sweep's early stopping read them), resumable checkpoints on the
`checkpoint_every` clock and a stop request honoured at the same step on every rank
(`CheckpointCallback`), and the task's metric on validation at each evaluation when early
stopping watches it (`ValidationMetricCallback`).

Imported through `models.training`, which keeps what the process declared unused away from
transformers (`models.libraries`) before transformers is imported.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from contract.phases import Phase
from contract.reporting import Reporter
from models.distributed import agree
from models.families.base import ModelFamily
from models.resume import CheckpointClock, record_progress

log = logging.getLogger(__name__)


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
