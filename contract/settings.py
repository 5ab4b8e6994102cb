"""The per-candidate settings both planes read: the driver validates them from the experiment file,
and a training actor receives them inside a `TrainingJob`. Only pydantic is imported here, so an
actor can hold these types without the driver's code, and the driver without torch.

The fields' value types and the name tables they check against are `contract.fields`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from contract.families import described
from contract.fields import (
    DEFAULT_PROMPTS,
    CheckpointEvery,
    FamilyName,
    GpuRequest,
    Language,
    LearningRate,
    OptionalCheckpointEvery,
    OptionalLearningRate,
    OptionalPrecision,
    Precision,
    Quantization,
    Strategy,
    Strict,
    TaskType,
    one_of,
)

# --------------------------------------------------------------------------- sections


class TaskConfig(Strict):
    type: TaskType = Field("summarization", description="Decides the families, metrics and default columns allowed.")
    language: Language = Field("ko", description="Decides how ROUGE tokenises text.")
    input_column: str | None = Field(None, description="Default: dialogue (summarization), text.")
    target_column: str | None = Field(None, description="Default: summary (summarization), label.")
    metric: str | None = Field(None, description="Default: rougeL, or accuracy. rouge_mean: the mean of ROUGE-1, "
                                                 "ROUGE-2 and ROUGE-L F1 (the Korean contest's score).")
    multi_reference: one_of("mean", "max") = Field(
        "mean", description="Rows with several references (a list in the target column, or columns <target>1, "
                            "<target>2, ...): ROUGE against each, combined by their mean (as the Korean contest) or max."
    )
    prompt: str | None = Field(
        None, description="Causal models: template with {input}; default per language."
    )

    def resolved_input_column(self) -> str:
        return self.input_column or ("dialogue" if self.type == "summarization" else "text")

    def resolved_target_column(self) -> str:
        return self.target_column or ("summary" if self.type == "summarization" else "label")

    def resolved_metric(self) -> str:
        return self.metric or ("rougeL" if self.type == "summarization" else "accuracy")

    def resolved_prompt(self) -> str:
        """A causal model's template around the input (`{input}`); the summary follows it."""
        return self.prompt or DEFAULT_PROMPTS[self.language]


class Resources(Strict):
    """What the candidate asks for. One training process by default; several train it
    data-parallel through Ray Train: `gpus: 4` (four processes, a GPU each), `workers: N` (N
    processes, each with `cpus`, `gpus` and `memory_gb`), or `gpus: share` (the cluster's GPUs
    split among the candidates that share them, decided when the run starts)."""

    cpus: float = Field(1.0, gt=0, description="CPUs per training process.")
    gpus: GpuRequest = Field(
        None, description="auto: 1 where the cluster has GPUs, else 0; a fraction (0.5): that share of one GPU; a "
                          "whole number above 1: that many processes, a GPU each; share: the cluster's free GPUs "
                          "split among the candidates asking for a share. With workers > 1: GPUs per worker.",
    )
    memory_gb: float | None = Field(
        None, gt=0, description="Host memory the actor may allocate; enforced, and used for scheduling."
    )
    workers: int = Field(1, ge=1, description="Training processes: > 1 trains data-parallel through Ray Train "
                                              "(gloo on CPU, NCCL on GPUs); the later stages use one.")
    strategy: Strategy = Field(
        "ddp", description="How several processes split the work: ddp (each holds the whole model; adapters and "
                           "QLoRA too) or fsdp (parameters, gradients and optimizer state sharded over the "
                           "processes: full fine-tuning of a model too large for one device).",
    )

    @model_validator(mode="after")
    def _one_gpu_per_process(self) -> Resources:
        if isinstance(self.gpus, float) and self.gpus > 1:
            if self.workers > 1:
                raise ValueError(f"gpus {self.gpus:g} with workers {self.workers}: with workers, gpus is per worker "
                                 "and a training process uses at most one GPU (set gpus: 1, or leave workers out "
                                 f"and set gpus: {self.workers * self.gpus:g})")
            if not self.gpus.is_integer():
                raise ValueError(f"gpus {self.gpus:g}: above 1, gpus is a whole number of processes, a GPU each")
        return self

    @property
    def processes(self) -> int:
        """Training processes: `workers`, or one per GPU for `gpus` above 1 (`share`: 1 until placed)."""
        if self.workers > 1:
            return self.workers
        return int(self.gpus) if isinstance(self.gpus, float) and self.gpus > 1 else 1

    @property
    def gpus_per_process(self) -> float | None:
        """GPUs each training process asks for; None: decided by the cluster (auto, or share not yet placed)."""
        if self.gpus == "share":
            return None
        if isinstance(self.gpus, float) and self.gpus > 1:
            return 1.0
        return self.gpus


class Timeouts(Strict):
    """Seconds; each limit names itself when it fires."""

    load: float = Field(600, gt=0, description="From the actor's launch until the model is loaded.")
    first_step: float = Field(600, gt=0, description="From the model being loaded until the first step ends.")
    total: float = Field(4 * 3600, gt=0, description="From the actor's launch, whatever the phase.")
    stall: float = Field(300, gt=0, description="From the last report (phase or heartbeat) of work under way.")
    stop_grace: float = Field(
        120, gt=0, description="On Ctrl-C or SIGTERM: how long a training may take to save a checkpoint and stop."
    )


class LoraConfig(Strict):
    r: int = Field(8, gt=0, description="The adapters' rank.")
    alpha: int = Field(16, gt=0, description="LoRA's scaling (lora_alpha).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the adapters' input.")
    target_modules: list[str] | Literal["auto"] = Field(
        "auto", description="Module names that get adapters; auto: peft's default for the architecture. Preflight "
                            "checks they exist."
    )


class GenerationConfig(Strict):
    max_new_tokens: int = Field(64, gt=0, description="The most tokens generated per prediction.")
    num_beams: int = Field(1, gt=0, description="Beam search width when predicting; 1: greedy.")


class EarlyStopping(Strict):
    """Stop a candidate whose validation metric has not improved for `patience` evaluations (one
    per epoch); the best checkpoint is the one kept."""

    patience: int = Field(ge=0, description="Evaluations without improvement before training stops; 0: off.")
    metric: str = Field(
        "eval_loss", description="eval_loss, or the task's metric (rougeL, rouge_mean, accuracy, ...), for which "
                                 "every evaluation also predicts the validation split."
    )
    min_delta: float = Field(0.0, ge=0, description="The least change that counts as an improvement.")


class TrainingSettings(Strict):
    """What every candidate inherits from `defaults` and may override in its own entry."""

    epochs: float = Field(3.0, gt=0, description="Passes over the training split; a fraction is allowed.")
    max_steps: int | None = Field(None, gt=0, description="Overrides epochs when set.")
    learning_rate: LearningRate = Field(
        5e-4, description="A number, or tuned: the best rate of the last `tune` sweep (<run dir>/tune/tune.json)."
    )
    batch_size: int = Field(
        16, gt=0, description="Examples per training batch, split evenly over the candidate's training processes."
    )
    eval_batch_size: int = Field(32, gt=0, description="Examples per batch when evaluating and predicting.")
    gradient_accumulation: int = Field(
        1, gt=0, description="Batches whose gradients are added up per optimizer update."
    )
    max_source_length: int = Field(256, gt=0, description="Input tokens kept; longer inputs are truncated and counted.")
    max_target_length: int = Field(64, gt=0, description="Target (summary) tokens kept in training.")
    weight_decay: float = Field(0.0, ge=0, description="The optimizer's weight decay.")
    warmup_ratio: float = Field(
        0.0, ge=0, lt=1, description="Share of the training steps spent warming up the learning rate."
    )
    precision: Precision = Field(
        "auto", description="Decided once per device: auto is fp32 on CPU, and on a GPU bf16 where supported, "
                            "else fp16."
    )
    seed: int = Field(42, description="Seeds training and data order (in defaults: the ensemble's bootstrap too).")
    logging_steps: int = Field(10, gt=0, description="Steps between log lines (loss, learning rate) for the trackers.")
    generation: GenerationConfig = Field(GenerationConfig(), description="How predictions are generated.")
    resources: Resources = Field(Resources(), description="What each candidate asks Ray for.")
    timeouts: Timeouts = Field(Timeouts(), description="The limits a candidate's actor is held to.")
    max_retries: int = Field(1, ge=0, description="Retries after a crash (out of memory has its own rule).")
    max_nonfinite_steps: int = Field(
        5, ge=0, description="Steps with a NaN/inf loss skipped before the candidate fails."
    )
    checkpoint_every: CheckpointEvery = Field(
        "15m", description="A resumable checkpoint every N steps (500) or every duration (15m), besides "
                           "every evaluation; an interruption costs at most this much training.",
    )
    early_stopping: EarlyStopping | None = Field(
        None, description="Stop once the validation metric stops improving; null: train every epoch."
    )

    def batch_splits_over(self, processes: int) -> bool:
        """Whether `batch_size`, the whole candidate's batch, splits evenly over `processes`
        training processes: what a config must allow for its own processes, and what `gpus: share`
        looks for when it offers a candidate more GPUs."""
        return self.batch_size % processes == 0

    def per_process_batch_size(self, processes: int | None = None) -> int:
        """One training process's share of `batch_size`: the batch is the whole candidate's, so
        the effective batch (and the training identity) does not depend on how many processes
        share it. `processes` defaults to the candidate's own (`resources.processes`); a process
        that knows how many it trains with (its Ray Train world size) passes that."""
        return self.batch_size // (self.resources.processes if processes is None else processes)

    def per_process_eval_batch_size(self, processes: int | None = None) -> int:
        """One process's share of `eval_batch_size`, at least one example (see `per_process_batch_size`)."""
        return max(1, self.eval_batch_size // (self.resources.processes if processes is None else processes))

    @model_validator(mode="after")
    def _batch_splits_over_workers(self) -> TrainingSettings:
        processes = self.resources.processes
        if not self.batch_splits_over(processes):
            what = "workers" if self.resources.workers > 1 else "gpus"
            raise ValueError(f"batch_size {self.batch_size} is split evenly over the {processes} training processes "
                             f"(resources.{what}): make it a multiple of {processes}")
        return self


class CandidateBase(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80,
                      description="Names the candidate's actor, directory and rows; unique, ignoring case, - and _.")
    source: str = Field(description="scratch:<preset>, a local save_pretrained directory, or a hub id.")
    family: FamilyName = Field(description=described())
    lora: LoraConfig | None = Field(None, description="Train LoRA adapters instead of every weight.")
    quantization: Quantization | None = Field(None, description="QLoRA: needs lora.")
    trust_remote_code: bool = Field(False, description="Allow the source's custom model code to run.")


class CandidateConfig(CandidateBase):
    """One `models` entry: every training setting may be overridden, with the same bounds and
    validators as in `TrainingSettings`; None (unset) means the value from `defaults`.

    The override fields must stay exactly `TrainingSettings`' fields: `ExperimentConfig.settings_for`
    merges them by name, and a unit test asserts that the two lists match."""

    epochs: float | None = Field(None, gt=0)
    max_steps: int | None = Field(None, gt=0)
    learning_rate: OptionalLearningRate = None
    batch_size: int | None = Field(None, gt=0)
    eval_batch_size: int | None = Field(None, gt=0)
    gradient_accumulation: int | None = Field(None, gt=0)
    max_source_length: int | None = Field(None, gt=0)
    max_target_length: int | None = Field(None, gt=0)
    weight_decay: float | None = Field(None, ge=0)
    warmup_ratio: float | None = Field(None, ge=0, lt=1)
    precision: OptionalPrecision = None
    seed: int | None = None
    logging_steps: int | None = Field(None, gt=0)
    generation: GenerationConfig | None = None
    resources: Resources | None = None
    timeouts: Timeouts | None = None
    max_retries: int | None = Field(None, ge=0)
    max_nonfinite_steps: int | None = Field(None, ge=0)
    checkpoint_every: OptionalCheckpointEvery = None
    early_stopping: EarlyStopping | None = None


__all__ = [
    "CandidateBase",
    "CandidateConfig",
    "EarlyStopping",
    "GenerationConfig",
    "LoraConfig",
    "Resources",
    "TaskConfig",
    "Timeouts",
    "TrainingSettings",
]
