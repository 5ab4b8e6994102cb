"""ROUGE through `evaluate`, offline, with Hangul kept; classification metrics."""

from __future__ import annotations

from rouge_score import rouge_scorer

from models.metrics import classification_scores, rouge_per_example, rouge_scores

REFERENCE = "#Person1#은 금요일 저녁 7시에 4명 식당 예약을 부탁한다."


def test_korean_is_scored_where_the_default_tokenizer_sees_nothing() -> None:
    prediction = "#Person1#은 금요일 7시에 식당을 예약한다."
    default = rouge_scorer.RougeScorer(["rouge1"]).score(REFERENCE, "금요일 저녁 식당")["rouge1"].fmeasure
    assert default == 0.0  # rouge_score keeps only [a-z0-9]: the reason this module exists
    scores = rouge_scores([prediction], [REFERENCE], "ko")
    assert set(scores) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    assert 30 < scores["rouge1"] < 100
    assert rouge_scores([REFERENCE], [REFERENCE], "ko")["rougeL"] == 100.0
    assert rouge_scores(["전혀 다른 문장"], [REFERENCE], "ko")["rouge1"] == 0.0


def test_english_uses_stemming_and_scores_are_deterministic() -> None:
    scores = rouge_scores(["Person1 books tables"], ["#Person1# booked a table"], "en")
    assert scores["rouge1"] > 50  # book/booked and table/tables match after stemming
    assert scores == rouge_scores(["Person1 books tables"], ["#Person1# booked a table"], "en")
    per = rouge_per_example(["a b c", "x y"], ["a b c", "a b"], "en", "rouge1")
    assert per == [100.0, 0.0]


def test_classification_scores() -> None:
    scores = classification_scores(["a", "b", "a", "c"], ["a", "b", "b", "c"])
    assert scores["accuracy"] == 75.0
    assert 0 < scores["macro_f1"] < 100
