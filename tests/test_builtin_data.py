"""The built-in generator must be deterministic, well-formed, and learnable without being trivial."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from models.data import builtin
from models.data.builtin import (
    CLASSIFICATION_COLUMNS,
    LANGUAGES,
    SUMMARIZATION_COLUMNS,
    classification_labels,
    generate_classification,
    generate_summarization,
    lead_baseline,
    write_builtin_splits,
)

HANGUL = re.compile(r"[가-힣]")
TURN = re.compile(r"^#Person[12]#: \S")


class _HangulTokenizer:
    """rouge_score's default tokenizer drops Hangul, which would score every Korean pair as zero."""

    def tokenize(self, text: str) -> list[str]:
        return re.findall(r"[0-9a-z가-힣#]+", text.lower())


def _rouge1(pairs: list[tuple[str, str]]) -> float:
    scorer = rouge_scorer.RougeScorer(["rouge1"], tokenizer=_HangulTokenizer())
    return sum(scorer.score(ref, pred)["rouge1"].fmeasure for ref, pred in pairs) / len(pairs)


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_arguments_give_identical_rows(language: str) -> None:
    assert generate_summarization(60, seed=3, language=language) == generate_summarization(60, seed=3, language=language)
    assert generate_classification(60, seed=3, language=language) == generate_classification(60, seed=3, language=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_different_seeds_give_different_rows(language: str) -> None:
    a = {r["dialogue"] for r in generate_summarization(50, seed=0, language=language)}
    b = {r["dialogue"] for r in generate_summarization(50, seed=1, language=language)}
    assert len(a & b) < 5
    assert generate_classification(50, seed=0, language=language) != generate_classification(50, seed=1, language=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_columns_and_ids(language: str) -> None:
    summaries = generate_summarization(40, language=language)
    messages = generate_classification(40, language=language)
    assert all(tuple(row) == SUMMARIZATION_COLUMNS for row in summaries)
    assert all(tuple(row) == CLASSIFICATION_COLUMNS for row in messages)
    assert all(isinstance(v, str) and v for row in summaries + messages for v in row.values())
    assert len({r["id"] for r in summaries}) == 40
    assert generate_summarization(0, language=language) == []


def test_unknown_language_task_or_split_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="language"):
        generate_summarization(3, language="fr")
    with pytest.raises(ValueError, match="language"):
        generate_classification(3, language="jp")
    with pytest.raises(ValueError, match="language"):
        classification_labels("de")
    with pytest.raises(ValueError, match="task"):
        write_builtin_splits(tmp_path, task="translation", language="ko", sizes={"train": 3})
    with pytest.raises(ValueError, match="language"):
        write_builtin_splits(tmp_path, task="summarization", language="xx", sizes={"train": 3})
    with pytest.raises(ValueError, match="split"):
        write_builtin_splits(tmp_path, task="summarization", language="ko", sizes={"dev": 3})
    with pytest.raises(ValueError):
        generate_summarization(-1)


@pytest.mark.parametrize("task,key", [("summarization", "dialogue"), ("classification", "text")])
def test_splits_are_disjoint_utf8_jsonl(tmp_path: Path, task: str, key: str) -> None:
    sizes = {"train": 400, "validation": 80, "test": 80}
    paths = write_builtin_splits(tmp_path, task=task, language="ko", sizes=sizes, seed=7)
    assert list(paths) == ["train", "validation", "test"]
    texts: dict[str, set[str]] = {}
    for split, path in paths.items():
        assert path == tmp_path / f"{split}.jsonl"
        raw = path.read_bytes().decode("utf-8")
        assert HANGUL.search(raw), "Korean must be written as UTF-8, not \\u escapes"
        lines = raw.splitlines()
        assert len(lines) == sizes[split]
        rows = [json.loads(line) for line in lines]
        texts[split] = {row[key] for row in rows}
        assert len(texts[split]) == sizes[split]
    assert not texts["train"] & texts["test"]
    assert not texts["train"] & texts["validation"]
    assert not texts["validation"] & texts["test"]
    again = write_builtin_splits(tmp_path / "again", task=task, language="ko", sizes=sizes, seed=7)
    assert all(again[s].read_bytes() == paths[s].read_bytes() for s in paths)


@pytest.mark.parametrize("language", LANGUAGES)
def test_turn_format(language: str) -> None:
    for row in generate_summarization(200, seed=2, language=language):
        turns = row["dialogue"].split("\n")
        assert 4 <= len(turns) <= 10
        assert all(TURN.match(t) for t in turns)
        assert turns[0].startswith("#Person1#:")
        speakers = [t.split(":", 1)[0] for t in turns]
        assert all(a != b for a, b in pairwise(speakers)), "speakers alternate"
        assert "#Person" in row["summary"]
        assert "{" not in row["dialogue"] + row["summary"]


def test_korean_text_is_korean() -> None:
    rows = generate_summarization(50, language="ko")
    assert all(HANGUL.search(r["dialogue"]) and HANGUL.search(r["summary"]) for r in rows)
    assert all(HANGUL.search(r["text"]) for r in generate_classification(50, language="ko"))
    assert not any(HANGUL.search(r["dialogue"]) for r in generate_summarization(50, language="en"))


def test_korean_particles_follow_the_final_consonant() -> None:
    assert builtin._render("{x|은}", {"x": "#Person1#"}) == "#Person1#은"
    assert builtin._render("{x|은}", {"x": "#Person2#"}) == "#Person2#는"
    assert builtin._render("{x|으로}", {"x": "저녁 7시"}) == "저녁 7시로"
    assert builtin._render("{x|으로}", {"x": "강릉"}) == "강릉으로"
    assert builtin._render("{x|으로}", {"x": "1박 2일"}) == "1박 2일로"
    assert builtin._render("{x|을}", {"x": "010-2741-5583"}) == "010-2741-5583을"
    assert builtin._render("{x|이} {y|이}", {"x": "KTX", "y": "10"}) == "KTX가 10이"


def test_lead_baseline_strips_the_speaker_tag() -> None:
    assert lead_baseline("#Person1#: Hello there.\n#Person2#: Hi.") == "Hello there."
    assert lead_baseline("#Person2#: 안녕하세요.") == "안녕하세요."


@pytest.mark.parametrize("language,ceiling", [("ko", 0.2), ("en", 0.3)])
def test_lead_baseline_scores_low(language: str, ceiling: float) -> None:
    rows = generate_summarization(300, seed=11, language=language)
    assert _rouge1([(r["summary"], lead_baseline(r["dialogue"])) for r in rows]) < ceiling


@pytest.mark.parametrize("language", LANGUAGES)
def test_summaries_vary(language: str) -> None:
    rows = generate_summarization(500, seed=5, language=language)
    assert len({r["summary"] for r in rows}) > 450
    tokenizer = _HangulTokenizer()
    skeletons = Counter()
    for row in rows:
        said = set(tokenizer.tokenize(row["dialogue"]))
        skeletons[" ".join(t for t in tokenizer.tokenize(row["summary"]) if t not in said)] += 1
    assert skeletons.most_common(1)[0][1] < 0.1 * len(rows), "no summary template may dominate"
    topics = Counter(r["topic"] for r in rows)
    assert len(topics) == len(builtin._SCENARIOS) >= 8
    assert max(topics.values()) - min(topics.values()) <= 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_change_of_mind_summary_carries_the_corrected_value(language: str) -> None:
    rng = random.Random(0)
    corrected = 0
    for index in range(300):
        scenario = builtin._SCENARIOS[index % len(builtin._SCENARIOS)]
        dialogue = builtin._sample_dialogue(rng, scenario, language)
        if dialogue.correction is None:
            continue
        slot, old, new = dialogue.correction
        text = "\n".join(dialogue.turns)
        assert old in text and new in text
        assert text.index(old) < text.rindex(new)
        assert new in dialogue.summary
        assert old not in dialogue.summary or old in new
        corrected += 1
    assert corrected > 50


def test_changeable_slots_appear_in_every_summary_template() -> None:
    for scenario in builtin._SCENARIOS:
        for script in scenario.scripts.values():
            for slot in scenario.changeable:
                assert all(f"{{{slot}" in template for template in script.summaries), (scenario.key, slot)


@pytest.mark.parametrize("language", LANGUAGES)
def test_classification_is_balanced(language: str) -> None:
    labels = classification_labels(language)
    assert len(labels) == 4 and labels == classification_labels(language)
    rows = generate_classification(1001, seed=9, language=language)
    counts = Counter(r["label"] for r in rows)
    assert set(counts) == set(labels)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert len({r["text"] for r in rows}) == len(rows)


def test_generation_is_fast() -> None:
    import time

    start = time.perf_counter()
    generate_summarization(2000, seed=1, language="ko")
    generate_classification(2000, seed=1, language="en")
    assert time.perf_counter() - start < 2.0
