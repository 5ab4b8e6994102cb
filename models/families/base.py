"""What every model family does the same way: build scratch models, load tokenizer and
weights (optionally 4/8-bit), wrap in LoRA, and hand the pieces to the training loop.

A family subclass says only what differs: how rows become features, how a trained model
predicts, and how predictions are scored. What the rest of the project needs to know about a
family (its name, tasks, Auto class, whether it is decoder-only) is its row in `contract.families`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BitsAndBytesConfig,
    DataCollatorForSeq2Seq,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from contract.families import Family, family
from contract.job import TrainingJob
from contract.sources import Preset
from models.precision import PrecisionPlan, decide_precision, detect_hardware
from models.registry import auto_model_class
from models.sources import ResolvedSource
from models.tokenization import ensure_pad_token, train_bpe_tokenizer

log = logging.getLogger(__name__)

Row = dict[str, Any]


class CheckpointMismatch(ValueError):
    """An adapter checkpoint's manifest names a base other than the candidate's configured source."""

    def __init__(self, checkpoint: Path, recorded: str, configured: str):
        super().__init__(
            f"the adapters in {checkpoint} name {recorded!r} as their base, but the candidate's source is "
            f"{configured!r}; retrain it (run with --fresh, or delete that checkpoint) rather than load "
            "adapters onto a base they were not trained on"
        )


class ModelFamily(ABC):
    """Base class: one instance serves one candidate inside its actor, as the family its job names."""

    peft_task_type: ClassVar[str]
    cuts_special_tokens: ClassVar[bool] = True  # max_source_length counts the tokenizer's special tokens

    def __init__(self, job: TrainingJob):
        self.job = job
        self.settings = job.settings
        self.task = job.task
        self.spec: Family = family(job.family)
        self.name = self.spec.name
        self.auto_class = auto_model_class(self.name)
        self.predicts_next_token = self.spec.decoder_only  # logits at t score the token at t+1

    # ----------------------------------------------------------------- scratch models

    def scratch_config_values(self, tokenizer: PreTrainedTokenizerBase, preset: Preset) -> dict[str, Any]:
        """Config values that tie a freshly built model to its tokenizer."""
        return {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        }

    def materialize(self, preset: Preset, texts: list[str], directory: Path) -> Path:
        """Build a preset's model and a tokenizer trained on `texts`, saved with save_pretrained,
        so a scratch model is then loaded exactly like a real local checkpoint."""
        tokenizer = train_bpe_tokenizer(texts, preset.vocab_size, self.name)
        values = {**preset.config, **self.scratch_config_values(tokenizer, preset)}
        config = AutoConfig.for_model(preset.model_type, **values)
        torch.manual_seed(self.settings.seed)
        model = self.auto_class.from_config(config)
        directory.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)
        return directory

    # ----------------------------------------------------------------- loading

    def load_tokenizer(self, source: ResolvedSource) -> tuple[PreTrainedTokenizerBase, bool]:
        """The model's tokenizer, with a pad token guaranteed; True when one had to be added."""
        tokenizer = AutoTokenizer.from_pretrained(
            source.location,
            local_files_only=source.local_files_only,
            trust_remote_code=self.job.candidate.trust_remote_code,
        )
        added = ensure_pad_token(tokenizer)
        tokenizer.padding_side = "right"
        return tokenizer, added

    def input_lengths(self, tokenizer: PreTrainedTokenizerBase, rows: list[Row]) -> list[int]:
        """Each row's input in this tokenizer's tokens, as `encode` counts them against
        `max_source_length` before cutting (with special tokens where the family cuts them too)."""
        column = self.task.resolved_input_column()
        texts = [str(r[column]) for r in rows]
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=self.cuts_special_tokens)["input_ids"]]

    def truncated_inputs(self, tokenizer: PreTrainedTokenizerBase, rows: dict[str, list[Row]]) -> dict[str, int]:
        """Per split, how many inputs are longer than `max_source_length` tokens and so are cut:
        the exact count for this candidate's tokenizer (the data check before the run can only
        count words, a floor)."""
        limit = self.settings.max_source_length
        return {split: sum(n > limit for n in self.input_lengths(tokenizer, split_rows))
                for split, split_rows in rows.items()}

    def model_kwargs(self) -> dict[str, Any]:
        """Extra `from_pretrained` arguments (the classifier's label maps)."""
        return {}

    def load_model(
        self, source: ResolvedSource, tokenizer: PreTrainedTokenizerBase, plan: PrecisionPlan, pad_added: bool
    ) -> PreTrainedModel:
        """The model to train: weights (4/8-bit when asked), pad token wired, LoRA wrapped."""
        candidate = self.job.candidate
        model = self._from_pretrained(source.location, source.local_files_only, plan, candidate.quantization)
        if pad_added:
            model.resize_token_embeddings(len(tokenizer))
        model.config.pad_token_id = tokenizer.pad_token_id
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
        if candidate.lora is not None:
            model = self.wrap_lora(model)
        return model

    def load_finished(self) -> tuple[Any, PreTrainedTokenizerBase]:
        """The job's finished checkpoint, with the precision its settings decide on this hardware."""
        adapters_only = self.job.candidate.lora is not None
        plan = decide_precision(self.job.settings.precision, detect_hardware(), adapters_only=adapters_only)
        return self.load_trained(self.job.output_dir / "checkpoint", plan)

    def load_trained(self, checkpoint: Path, plan: PrecisionPlan) -> tuple[Any, PreTrainedTokenizerBase]:
        """A checkpoint this project wrote, ready to predict: full weights, or a quantized base
        plus the trained adapters (see `models.training._save`)."""
        from models.checkpoint import read_manifest

        manifest = read_manifest(checkpoint) or {}
        tokenizer = AutoTokenizer.from_pretrained(
            checkpoint, local_files_only=True, trust_remote_code=self.job.candidate.trust_remote_code
        )
        if manifest.get("kind") == "adapter":
            from peft import PeftModel

            base = self._from_pretrained(self.adapter_base(manifest), True, plan, manifest.get("quantization"))
            if base.get_input_embeddings().num_embeddings < len(tokenizer):
                base.resize_token_embeddings(len(tokenizer))
            model = PeftModel.from_pretrained(base, checkpoint)
        else:
            model = self._from_pretrained(str(checkpoint), True, plan, None)
        model.config.pad_token_id = tokenizer.pad_token_id
        return model.eval(), tokenizer

    def adapter_base(self, manifest: dict[str, Any]) -> str:
        """The base an adapter checkpoint is loaded onto: the one the caller's config names (a
        scratch preset's lives in the candidate's folder, so a moved run directory still works),
        never a path the checkpoint's manifest points to; a manifest that names another base
        (edited, or a teammate's from another config) is refused with the reason."""
        from contract.sources import parse_source
        from models.sources import resolve_source

        if parse_source(self.job.candidate.source).kind == "scratch":
            base = self.job.output_dir / "base"
            recorded = Path(str(manifest.get("base", "")))
            if recorded.name != base.name or recorded.parent.name != self.job.output_dir.name:
                raise CheckpointMismatch(self.job.output_dir / "checkpoint", str(recorded), str(base))
            return str(base)
        location = resolve_source(self.job.candidate.source).location
        if str(manifest.get("base")) != location:
            raise CheckpointMismatch(self.job.output_dir / "checkpoint", str(manifest.get("base")), location)
        return location

    def _from_pretrained(
        self, location: str, local_files_only: bool, plan: PrecisionPlan, quantization: str | None
    ) -> PreTrainedModel:
        kwargs: dict[str, Any] = {
            "local_files_only": local_files_only,
            "trust_remote_code": self.job.candidate.trust_remote_code,
            "dtype": plan.weights_dtype,
            **self.model_kwargs(),
        }
        if quantization:
            kwargs["quantization_config"] = quantization_config(quantization, plan)
            if plan.device == "cpu":
                kwargs["device_map"] = {"": "cpu"}
        return self.auto_class.from_pretrained(location, **kwargs)

    def wrap_lora(self, model: PreTrainedModel) -> Any:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        lora = self.job.candidate.lora
        if self.job.candidate.quantization:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        config = LoraConfig(
            task_type=self.peft_task_type,
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=None if lora.target_modules == "auto" else lora.target_modules,
        )
        model = get_peft_model(model, config)
        trainable, total = model.get_nb_trainable_parameters()
        log.info("LoRA: %d of %d parameters trainable (%.2f%%)", trainable, total, 100 * trainable / total)
        return model

    # ----------------------------------------------------------------- training

    @abstractmethod
    def encode(self, rows: list[Row], tokenizer: PreTrainedTokenizerBase) -> list[dict[str, list[int]]]:
        """Rows to training features with `labels`."""

    def collator(self, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> Any:
        return DataCollatorForSeq2Seq(tokenizer, model=None, label_pad_token_id=-100, padding=True)

    # ----------------------------------------------------------------- prediction

    @abstractmethod
    def predict(
        self, model: Any, tokenizer: PreTrainedTokenizerBase, rows: list[Row], progress: Progress | None = None
    ) -> list[Row]:
        """One record per row: id, prediction (and for classifiers, probabilities)."""

    @staticmethod
    def records(batch: list[Row], texts: list[str], candidates: int) -> list[Row]:
        """Generated texts (`candidates` per row, best first) as prediction records."""
        out = []
        for i, row in enumerate(batch):
            group = [t.strip() for t in texts[i * candidates : (i + 1) * candidates]]
            record: Row = {"id": row.get("id", ""), "prediction": group[0]}
            if candidates > 1:
                record["candidates"] = group
            out.append(record)
        return out

    @torch.inference_mode()
    def log_likelihoods(
        self, model: Any, tokenizer: PreTrainedTokenizerBase, pairs: list[tuple[str, str]],
        progress: Progress | None = None,
    ) -> list[float]:
        """Length-normalised log-likelihood of each (source, summary) pair under this model: the
        mean log-probability of the summary's tokens, built exactly as in training."""
        model.eval()
        source_col, target_col = self.task.resolved_input_column(), self.task.resolved_target_column()
        features = self.encode([{source_col: s, target_col: t} for s, t in pairs], tokenizer)
        collate = self.collator(tokenizer, model)
        out: list[float] = []
        for batch in batches(features, self.settings.eval_batch_size, progress):
            inputs = collate(batch).to(model.device)
            labels = inputs["labels"]
            logits = model(**inputs).logits.float()
            if self.predicts_next_token:
                logits, labels = logits[:, :-1], labels[:, 1:]
            nll = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), labels, ignore_index=-100, reduction="none"
            ).sum(1) / (labels != -100).sum(1).clamp(min=1)
            out += (-nll).tolist()
        return out

    @abstractmethod
    def score(self, predictions: list[Row], rows: list[Row]) -> dict[str, float]:
        """Task metrics (0-100) of `predictions` against the references in `rows`."""


def quantization_config(kind: str, plan: PrecisionPlan) -> BitsAndBytesConfig:
    """QLoRA base weights: NF4 with double quantisation, or LLM.int8."""
    if kind == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=plan.compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


Progress = Callable[[int, int], None]


def batches(rows: list[Row], size: int, progress: Progress | None = None) -> Iterator[list[Row]]:
    """Consecutive slices of `rows`; `progress(done, total)` after each, so long predictions
    keep heartbeating and are not mistaken for a stall."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
        if progress is not None:
            progress(min(start + size, len(rows)), len(rows))
