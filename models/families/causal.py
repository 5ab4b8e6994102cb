"""Decoder-only summarisers (GPT-2, Llama, Qwen, Solar): prompt + summary, loss on the summary.

Training sequences are `prompt tokens + target tokens + EOS` with the prompt masked out of the
loss, so the model learns to write the summary and to stop. Generation feeds left-padded prompts
and keeps only the new tokens.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from models.families.base import ModelFamily, Progress, Row, batches
from models.metrics import summary_scores
from models.tokenization import padding_side_for


class CausalFamily(ModelFamily):
    peft_task_type = "CAUSAL_LM"
    cuts_special_tokens = False  # only the input's own tokens are cut (see `_prompt_ids`)

    def _prompt_ids(self, tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
        """Special prefix (BOS where the model has one) + template head + truncated input + tail,
        so truncation never cuts off the cue that asks for the summary."""
        template = self.task.resolved_prompt()
        head, _, tail = template.partition("{input}")
        prefix = tokenizer("", add_special_tokens=True)["input_ids"]

        def encode(s: str) -> list[int]:
            return tokenizer(s, add_special_tokens=False)["input_ids"] if s else []

        body = encode(text)[: self.settings.max_source_length]
        return prefix + encode(head) + body + encode(tail)

    def encode(self, rows: list[Row], tokenizer: PreTrainedTokenizerBase) -> list[dict[str, list[int]]]:
        source_col, target_col = self.task.resolved_input_column(), self.task.resolved_target_column()
        features = []
        for row in rows:
            prompt = self._prompt_ids(tokenizer, row[source_col])
            target = tokenizer(" " + row[target_col], add_special_tokens=False)["input_ids"]
            target = target[: self.settings.max_target_length - 1] + [tokenizer.eos_token_id]
            ids = prompt + target
            features.append({
                "input_ids": ids,
                "attention_mask": [1] * len(ids),
                "labels": [-100] * len(prompt) + target,
            })
        return features

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
        tokenizer.padding_side = padding_side_for(self.name, "generate")
        out: list[Row] = []
        try:
            for batch in batches(rows, self.settings.eval_batch_size, progress):
                prompts = [{"input_ids": self._prompt_ids(tokenizer, r[source_col])} for r in batch]
                enc = tokenizer.pad(prompts, padding=True, return_tensors="pt").to(model.device)
                generated = model.generate(
                    **enc,
                    max_new_tokens=generation.max_new_tokens,
                    num_beams=beams,
                    num_return_sequences=candidates,
                    eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id,
                )
                new_tokens = generated[:, enc["input_ids"].shape[1] :]  # prompts repeat per candidate
                texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
                out += self.records(batch, texts, candidates)
        finally:
            tokenizer.padding_side = padding_side_for(self.name, "train")
        return out

    def score(self, predictions: list[Row], rows: list[Row]) -> dict[str, float]:
        return summary_scores([p["prediction"] for p in predictions], rows, self.task)
