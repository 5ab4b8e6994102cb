"""How long a candidate trains and when it is evaluated, decided from its settings alone.

Shared by both planes (no torch): the driver needs the same numbers as the Trainer, e.g. a
learning-rate sweep sets its early-stopping rungs by the number of evaluations a trial will make.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from contract.settings import TrainingSettings


@dataclass(frozen=True)
class Schedule:
    total_steps: int
    eval_every: int  # optimizer steps between evaluations on the validation split

    @property
    def evaluations(self) -> int:
        """Evaluations during training (the Trainer evaluates every `eval_every` steps)."""
        return self.total_steps // self.eval_every


def training_schedule(settings: TrainingSettings, train_examples: int) -> Schedule:
    """`max_steps`, or `epochs` over the training split; one evaluation per epoch, or a single
    one at the end when training is shorter than an epoch."""
    examples_per_step = settings.batch_size * settings.gradient_accumulation
    steps_per_epoch = max(1, math.ceil(train_examples / examples_per_step))
    total_steps = settings.max_steps or max(1, math.ceil(settings.epochs * steps_per_epoch))
    return Schedule(total_steps, min(steps_per_epoch, total_steps))
