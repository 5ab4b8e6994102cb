"""ROUGE as an `evaluate` metric module that loads from this directory, with no hub access.

The hub's `rouge` module cannot be fetched offline, and rouge_score's default tokenizer keeps only
[a-z0-9], so it scores Korean as 0. This module tokenises by language: Korean keeps Hangul
syllables and jamo next to Latin letters and digits (word level, as in the competition scoring);
English uses rouge_score's own tokenizer with Porter stemming, the usual setting for English ROUGE.
"""

import re

import datasets
import evaluate
from rouge_score import rouge_scorer

_WORD = re.compile(r"[0-9a-z\u1100-\u11ff\u3131-\u318e\uac00-\ud7a3]+")


class HangulAwareTokenizer:
    """Lower-cased words of Latin letters, digits and Hangul; everything else separates words."""

    def tokenize(self, text):
        return _WORD.findall(text.lower())


class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="ROUGE-1/2/L/Lsum F-measure with a tokenizer chosen by language.",
            citation="Lin, ROUGE: A Package for Automatic Evaluation of Summaries, 2004.",
            inputs_description="predictions, references: lists of strings; language: 'ko' or 'en'.",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, language="ko", rouge_types=None, use_aggregator=True):
        rouge_types = rouge_types or ["rouge1", "rouge2", "rougeL", "rougeLsum"]
        if language == "en":
            scorer = rouge_scorer.RougeScorer(rouge_types, use_stemmer=True)
        else:
            scorer = rouge_scorer.RougeScorer(rouge_types, tokenizer=HangulAwareTokenizer())
        per_example = [scorer.score(ref, pred) for ref, pred in zip(references, predictions, strict=True)]
        columns = {t: [float(s[t].fmeasure) for s in per_example] for t in rouge_types}
        if not use_aggregator:
            return columns
        # The plain mean: rouge_score's bootstrap aggregate resamples and is not reproducible.
        return {t: sum(values) / len(values) for t, values in columns.items()}
