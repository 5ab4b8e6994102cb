"""Encoder-decoder summarisers (BART, T5, KoBART): source in, summary out."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoConfig, PreTrainedTokenizerBase

from contract.sources import Preset
from models.families.base import ModelFamily, Progress, Row, batches
from models.metrics import summary_scores


class Seq2SeqFamily(ModelFamily):
    peft_task_type = "SEQ_2_SEQ_LM"

    def scratch_config_values(self, tokenizer: PreTrainedTokenizerBase, preset: Preset) -> dict[str, Any]:
        """Decoding starts from the architecture's usual token where its config names one
        (BART: EOS), else from PAD (T5's convention)."""
        values = super().scratch_config_values(tokenizer, preset)
        if AutoConfig.for_model(preset.model_type).decoder_start_token_id is None:
            values["decoder_start_token_id"] = tokenizer.pad_token_id
        return values

    def encode(self, rows: list[Row], tokenizer: PreTrainedTokenizerBase) -> list[dict[str, list[int]]]:
        source_col, target_col = self.task.resolved_input_column(), self.task.resolved_target_column()
        inputs = tokenizer(
            [r[source_col] for r in rows], max_length=self.settings.max_source_length, truncation=True
        )
        targets = tokenizer(
            text_target=[r[target_col] for r in rows], max_length=self.settings.max_target_length, truncation=True
        )
        return [
            {"input_ids": ids, "attention_mask": mask, "labels": labels}
            for ids, mask, labels in zip(inputs["input_ids"], inputs["attention_mask"], targets["input_ids"], strict=True)
        ]

    @torch.inference_mode()
    def predict(
        self, model: Any, tokenizer: PreTrainedTokenizerBase, rows: list[Row], progress: Progress | None = None,
        candidates: int = 1, num_beams: int | None = None,
    ) -> list[Row]:
        """Greedy (or the configured beams) by default; with `candidates` > 1, the top beams of a
        beam search as `candidates`, the best first (and as `prediction`)."""
        model.eval()
        generation = self.settings.generation
        beams = max(num_beams or generation.num_beams, candidates)
        source_col = self.task.resolved_input_column()
        out: list[Row] = []
        for batch in batches(rows, self.settings.eval_batch_size, progress):
            enc = tokenizer(
                [r[source_col] for r in batch], max_length=self.settings.max_source_length,
                truncation=True, padding=True, return_tensors="pt",
            ).to(model.device)
            generated = model.generate(
                **enc, max_new_tokens=generation.max_new_tokens, num_beams=beams, num_return_sequences=candidates
            )
            texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
            out += self.records(batch, texts, candidates)
        return out

    def score(self, predictions: list[Row], rows: list[Row]) -> dict[str, float]:
        return summary_scores([p["prediction"] for p in predictions], rows, self.task)
