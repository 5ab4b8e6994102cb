"""Sequence classifiers (BERT-style encoders): text in, a label and class probabilities out.
The label order comes from the driver so every candidate's probabilities line up for stacking."""

from __future__ import annotations

from typing import Any

import torch
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from contract.sources import Preset
from models.families.base import ModelFamily, Progress, Row, batches
from models.metrics import classification_scores


class ClassifierFamily(ModelFamily):
    peft_task_type = "SEQ_CLS"

    @property
    def labels(self) -> tuple[str, ...]:
        return self.job.labels

    def _label_maps(self) -> dict[str, Any]:
        return {
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(self.labels)),
            "label2id": {label: i for i, label in enumerate(self.labels)},
        }

    def scratch_config_values(self, tokenizer: PreTrainedTokenizerBase, preset: Preset) -> dict[str, Any]:
        return {**super().scratch_config_values(tokenizer, preset), **self._label_maps()}

    def model_kwargs(self) -> dict[str, Any]:
        return self._label_maps()

    def encode(self, rows: list[Row], tokenizer: PreTrainedTokenizerBase) -> list[dict[str, Any]]:
        text_col, label_col = self.task.resolved_input_column(), self.task.resolved_target_column()
        index = {label: i for i, label in enumerate(self.labels)}
        enc = tokenizer([r[text_col] for r in rows], max_length=self.settings.max_source_length, truncation=True)
        return [
            {"input_ids": ids, "attention_mask": mask, "labels": index[str(r[label_col])]}
            for ids, mask, r in zip(enc["input_ids"], enc["attention_mask"], rows, strict=True)
        ]

    def collator(self, tokenizer: PreTrainedTokenizerBase, model: Any) -> Any:
        return DataCollatorWithPadding(tokenizer)

    @torch.inference_mode()
    def predict(
        self, model: Any, tokenizer: PreTrainedTokenizerBase, rows: list[Row], progress: Progress | None = None
    ) -> list[Row]:
        model.eval()
        text_col = self.task.resolved_input_column()
        out: list[Row] = []
        for batch in batches(rows, self.settings.eval_batch_size, progress):
            enc = tokenizer(
                [r[text_col] for r in batch], max_length=self.settings.max_source_length,
                truncation=True, padding=True, return_tensors="pt",
            ).to(model.device)
            probs = torch.softmax(model(**enc).logits.float(), dim=-1).cpu()
            for row, p in zip(batch, probs, strict=True):
                out.append({
                    "id": row.get("id", ""),
                    "prediction": self.labels[int(p.argmax())],
                    "probabilities": [round(float(x), 6) for x in p],
                })
        return out

    def score(self, predictions: list[Row], rows: list[Row]) -> dict[str, float]:
        label_col = self.task.resolved_target_column()
        return classification_scores([p["prediction"] for p in predictions], [str(r[label_col]) for r in rows])
