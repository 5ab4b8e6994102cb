"""ROUGE as an `evaluate` metric module that loads from this directory, with no hub access.

The hub's `rouge` module cannot be fetched offline, and rouge_score's default tokenizer keeps only
[a-z0-9], so it scores Korean as 0. This module tokenises by language: Korean keeps Hangul
syllables and jamo next to Latin letters and digits (word level, as in the competition scoring);
English uses rouge_score's own tokenizer with Porter stemming, the usual setting for English ROUGE.
An example with several references is scored against each, and the F-measures are combined per
ROUGE type by their mean (as the Korean contest scores) or their maximum (rouge_score's
`score_multi`).
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
            inputs_description="predictions: strings; references: one string or a list of strings per prediction; "
                               "language: 'ko' or 'en'; combine: 'mean' or 'max' over an example's references.",
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references, language="ko", rouge_types=None, use_aggregator=True,
                 combine="mean"):
        rouge_types = rouge_types or ["rouge1", "rouge2", "rougeL", "rougeLsum"]
        if language == "en":
            scorer = rouge_scorer.RougeScorer(rouge_types, use_stemmer=True)
        else:
            scorer = rouge_scorer.RougeScorer(rouge_types, tokenizer=HangulAwareTokenizer())
        pick = {"mean": lambda values: sum(values) / len(values), "max": max}[combine]
        columns = {t: [] for t in rouge_types}
        for refs, pred in zip(references, predictions, strict=True):
            # each reference scored on its own, then combined per ROUGE type (the F-measures)
            scores = [scorer.score(ref, pred) for ref in ([refs] if isinstance(refs, str) else refs)]
            for t in rouge_types:
                columns[t].append(float(pick([s[t].fmeasure for s in scores])))
        if not use_aggregator:
            return columns
        # The plain mean: rouge_score's bootstrap aggregate resamples and is not reproducible.
        return {t: sum(values) / len(values) for t, values in columns.items()}
