"""Bad data files: each gets a line naming the file, the line and the column, with the fix, and
exit 2 from `validate` (and `run`, before Ray starts); never a traceback. Shared rows between
splits are a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main
from orchestrator.config import ConfigError, load_config
from orchestrator.data import prepare_data
from tests.conftest import write_yaml

GOOD = [{"dialogue": f"#Person1#: hello number {i}", "summary": f"a greeting {i}"} for i in range(8)]
MODELS = {"summarization": {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"},
          "classification": {"name": "bert", "source": "scratch:bert-tiny", "family": "classifier"}}
GOOD_LABELS = [{"text": f"example {i}", "label": ["pos", "neg"][i % 2]} for i in range(8)]


def jsonl(rows: list[Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def experiment(tmp_path: Path, files: dict[str, tuple[str, str | bytes]], *, task: str = "summarization",
               **sections: Any) -> Path:
    """A config over data files written from (suffix, content) per split; unnamed splits get good rows."""
    rows = GOOD if task == "summarization" else GOOD_LABELS
    data: dict[str, Any] = {}
    for split in ("train", "validation", "test"):
        suffix, content = files.get(split, (".jsonl", jsonl(rows)))
        path = tmp_path / f"{split}{suffix}"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        data[split] = str(path)
    raw = {"experiment": "bad-data", "output_dir": str(tmp_path / "runs"), "task": {"type": task},
           "data": data, "ensemble": {"strategy": "none"},
           "models": [MODELS[task]], **sections}
    return write_yaml(tmp_path / "exp.yaml", raw)


# (what, task, split, suffix, content, words the problem line must hold); the line number is in the words
CASES: list[tuple[str, str, str, str, str | bytes, list[str]]] = [
    ("latin-1 bytes", "summarization", "train", ".jsonl",
     jsonl(GOOD[:2]).encode() + '{"dialogue": "caf\xe9", "summary": "x"}\n'.encode("latin-1"),
     ["line 3", "not UTF-8", "byte 1", "save the file as UTF-8"]),
    ("a lone continuation byte", "summarization", "validation", ".csv", b"dialogue,summary\n\x80a,b\n",
     ["line 2", "byte 17", "not UTF-8"]),
    ("broken JSON line", "summarization", "train", ".jsonl", jsonl(GOOD[:3]) + '{"dialogue": "x", \n',
     ["line 4", "not valid JSON", "one JSON object per line"]),
    ("a JSONL line that is a list", "summarization", "train", ".jsonl", jsonl(GOOD[:2]) + '["a", "b"]\n',
     ["line 3", "a JSON list where an object is expected"]),
    ("a JSONL line that is a string", "summarization", "test", ".jsonl", jsonl(GOOD[:1]) + '"just text"\n',
     ["line 2", "a JSON string where an object is expected"]),
    ("a JSONL line that is a number", "summarization", "validation", ".jsonl", "3\n" + jsonl(GOOD[:2]),
     ["line 1", "a JSON number"]),
    ("a JSON array item that is not an object", "summarization", "train", ".json",
     json.dumps([*GOOD[:2], 5, 6]), ["items 3, 4", "a JSON number where an object is expected"]),
    ("a JSON file holding one object", "summarization", "train", ".json", json.dumps({"rows": GOOD}, indent=2),
     ["holds one JSON object", "a JSON array of objects"]),
    ("invalid JSON array", "summarization", "train", ".json", "[" + json.dumps(GOOD[0]) + ",",
     ["line 1", "not valid JSON"]),
    ("a CSV row too short", "summarization", "train", ".csv", "dialogue,summary\na,b\nonly one\nc,d\n",
     ["line 3", "1 field(s) where the header has 2"]),
    ("a CSV row too long", "summarization", "test", ".csv", "dialogue,summary\na,b,c\n",
     ["line 2", "3 field(s) where the header has 2", "quote fields"]),
    ("a CSV field over the csv limit", "summarization", "train", ".csv",
     "dialogue,summary\n" + "x" * 140_000 + ",y\n", ["line 2", "longer than the csv module's limit", "JSONL"]),
    ("a CSV quote never closed", "summarization", "train", ".csv", 'dialogue,summary\na,b\n"c,d\n',
     ["line 3", "not readable as CSV (unexpected end of data)"]),
    ("a CSV quote followed by text", "summarization", "validation", ".csv", 'dialogue,summary\n"a"x,b\n',
     ["line 2", "not readable as CSV", "expected after"]),
    ("a CSV header with a repeated name", "summarization", "train", ".csv", "dialogue,dialogue\na,b\n",
     ["line 1", "repeated column names", "'dialogue'"]),
    ("an empty file", "summarization", "validation", ".jsonl", "", ["holds no rows"]),
    ("a file of blank lines", "summarization", "test", ".jsonl", "\n\n  \n", ["holds no rows"]),
    ("a CSV with only a header", "summarization", "train", ".csv", "dialogue,summary\n", ["holds no rows"]),
    ("the target column missing in a later row", "summarization", "train", ".jsonl",
     jsonl([*GOOD[:4], {"dialogue": "no summary here"}]),
     ["line 5", "column 'summary'", "the column is missing", "task.target_column", "columns seen: dialogue, summary"]),
    ("the input column missing everywhere", "summarization", "validation", ".jsonl",
     jsonl([{"text": "a", "summary": "b"}] * 5),
     ["lines 1, 2, 3 and 2 more", "column 'dialogue'", "task.input_column", "columns seen: summary, text"]),
    ("a null summary", "summarization", "train", ".jsonl", jsonl([*GOOD[:2], {"dialogue": "a", "summary": None}]),
     ["line 3", "column 'summary'", "the value is null"]),
    ("an empty summary", "summarization", "test", ".jsonl", jsonl([{"dialogue": "a", "summary": ""}, *GOOD[:1]]),
     ["line 1", "column 'summary'", "the value is empty"]),
    ("a whitespace-only dialogue", "summarization", "train", ".jsonl",
     jsonl([*GOOD[:1], {"dialogue": " \t\n ", "summary": "x"}]), ["line 2", "column 'dialogue'", "the value is empty"]),
    ("a number where text is expected", "summarization", "train", ".jsonl",
     jsonl([*GOOD[:2], {"dialogue": 12, "summary": "x"}]), ["line 3", "a number, not a string"]),
    ("a list where text is expected", "summarization", "validation", ".jsonl",
     jsonl([{"dialogue": ["a", "b"], "summary": "x"}]), ["line 1", "a list, not a string"]),
    ("a mapping summary", "summarization", "train", ".jsonl", jsonl([{"dialogue": "a", "summary": {"t": 1}}]),
     ["line 1", "a mapping, not a string"]),
    ("an empty CSV cell", "summarization", "train", ".csv", "dialogue,summary\na,b\nc,\n",
     ["line 3", "column 'summary'", "the value is empty"]),
    ("a boolean label", "classification", "train", ".jsonl",
     jsonl([*GOOD_LABELS, {"text": "x", "label": True}]), ["line 9", "a boolean, not a string or an integer"]),
    ("a float label", "classification", "train", ".jsonl",
     jsonl([*GOOD_LABELS, {"text": "x", "label": 0.5}]), ["line 9", "a number, not a string or an integer"]),
    ("a null label", "classification", "validation", ".jsonl", jsonl([{"text": "x", "label": None}]),
     ["line 1", "column 'label'", "the value is null"]),
    ("a label training never saw", "classification", "validation", ".jsonl",
     jsonl([*GOOD_LABELS[:2], {"text": "x", "label": "[red]surprise"}]),
     ["line 3", "'[red]surprise'", "never occur in training"]),
    ("unseen labels in test, counted", "classification", "test", ".jsonl",
     jsonl([{"text": "x", "label": f"new{i}"} for i in range(7)]), ["and 2 more", "never occur in training"]),
    ("a single class", "classification", "train", ".jsonl", jsonl([{"text": f"x{i}", "label": "pos"} for i in range(6)]),
     ["every row has the same label ('pos')", "at least two classes"]),
    ("a missing file", "summarization", "train", ".jsonl", "", ["holds no rows"]),  # replaced below
]


@pytest.mark.parametrize(("what", "task", "split", "suffix", "content", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_data_file_gets_one_line_with_file_line_column_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str, task: str, split: str, suffix: str,
    content: str | bytes, words: list[str],
) -> None:
    path = experiment(tmp_path, {split: (suffix, content)}, task=task)
    if what == "a missing file":
        (tmp_path / f"train{suffix}").unlink()
        words = ["train.jsonl", "does not exist", "check the path"]
    assert main(["validate", str(path), "--no-preflight"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if f"data.{split}:" in line]
    assert str(tmp_path / f"{split}{suffix}") in line and "fix:" in line, err
    for word in words:
        assert word in line, (word, line)


def test_every_problem_of_every_file_comes_in_one_list_with_the_config_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = experiment(tmp_path, {"train": (".jsonl", jsonl([{"dialogue": "a", "summary": None}, "x"])),
                                 "test": (".csv", "dialogue,summary\na\n")}, defaults={"epochs": -1})
    assert main(["validate", str(path), "--no-preflight"]) == 2
    err = capsys.readouterr().err
    assert "4 problem(s)" in err, err
    assert "defaults.epochs" in err and err.count("data.train:") == 2 and "data.test:" in err


def test_integer_labels_are_classes_and_written_as_strings(tmp_path: Path) -> None:
    rows = [{"text": f"example {i}", "label": i % 3} for i in range(9)]
    path = experiment(tmp_path, {s: (".jsonl", jsonl(rows)) for s in ("train", "validation", "test")},
                      task="classification")
    config = load_config(path)
    files, labels = prepare_data(config, config.run_dir)
    assert labels == ("0", "1", "2")
    assert {json.loads(line)["label"] for line in files.test.read_text().splitlines()} == {"0", "1", "2"}


def test_a_validation_split_smaller_than_the_stacking_folds_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = experiment(tmp_path, {"validation": (".jsonl", jsonl(GOOD[:3]))}, ensemble={"strategy": "stacking"})
    assert main(["validate", str(path), "--no-preflight"]) == 2
    err = capsys.readouterr().err
    assert "holds 3 row(s), fewer than the stacking ensemble's 5 folds" in err and "ensemble.folds" in err


def test_builtin_sizes_are_checked_too(tmp_path: Path) -> None:
    raw = {"experiment": "tiny", "output_dir": str(tmp_path), "ensemble": {"strategy": "stacking"},
           "data": {"builtin": {"train_size": 20, "validation_size": 3, "test_size": 3}},
           "models": [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}]}
    config = load_config(write_yaml(tmp_path / "exp.yaml", raw))
    with pytest.raises(ConfigError, match="fewer than the stacking ensemble's 5 folds"):
        prepare_data(config, config.run_dir)


def test_rows_shared_between_splits_are_a_warning_with_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = experiment(tmp_path, {"test": (".jsonl", jsonl([*GOOD[:3], {"dialogue": "new", "summary": "x"}]))})
    config = load_config(path)
    prepare_data(config, config.run_dir)  # no error
    assert "3 of 4 test input(s) also appear in training" in caplog.text


def test_a_json_array_of_objects_is_read(tmp_path: Path) -> None:
    path = experiment(tmp_path, {"train": (".json", json.dumps(GOOD))})
    config = load_config(path)
    files, _ = prepare_data(config, config.run_dir)
    assert len(files.train.read_text().splitlines()) == len(GOOD)


def test_inputs_longer_than_max_source_length_are_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    long = [{"dialogue": " ".join(["word"] * 40), "summary": "long"} for _ in range(3)]
    path = experiment(tmp_path, {"train": (".jsonl", jsonl([*GOOD, *long]))}, defaults={"max_source_length": 32})
    config = load_config(path)
    prepare_data(config, config.run_dir)
    assert "at least 3 of 11 train inputs have more than 32 words" in caplog.text and "truncated for bart" in caplog.text


def test_validate_prints_the_data_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long = [{"dialogue": " ".join(["word"] * 40), "summary": "long"} for _ in range(3)]
    path = experiment(tmp_path, {"train": (".jsonl", jsonl([*GOOD, *long])),
                                 "test": (".jsonl", jsonl([*GOOD[:3], {"dialogue": "new", "summary": "x"}]))},
                      defaults={"max_source_length": 32})
    assert main(["validate", str(path), "--no-preflight"]) == 0
    out = capsys.readouterr().out
    assert "warning:" in out and "3 of 4 test input(s) also appear in training" in out
    assert "at least 3 of 11 train inputs have more than 32 words" in out


def test_several_references_as_a_list_or_numbered_columns_are_kept_whole(tmp_path: Path) -> None:
    listed = [{"dialogue": f"#Person1#: hi {i}", "summary": [f"a greeting {i}", f"they greet {i}"]} for i in range(8)]
    numbered = [{"dialogue": f"#Person1#: bye {i}", "summary1": f"a farewell {i}", "summary2": f"they part {i}",
                 "summary3": f"goodbye {i}"} for i in range(8)]
    path = experiment(tmp_path, {"validation": (".jsonl", jsonl(listed)), "test": (".jsonl", jsonl(numbered))})
    config = load_config(path)
    files, _ = prepare_data(config, config.run_dir)
    validation, test = (json.loads(files_.read_text().splitlines()[0]) for files_ in (files.validation, files.test))
    assert validation["summary"] == "a greeting 0" and validation["_references"] == ["a greeting 0", "they greet 0"]
    assert test["summary"] == "a farewell 0" and test["_references"] == ["a farewell 0", "they part 0", "goodbye 0"]
    train = json.loads(files.train.read_text().splitlines()[0])
    assert train["summary"] == "a greeting 0" and "_references" not in train  # one reference: as it was


@pytest.mark.parametrize(("rows", "words"), [
    ([{"dialogue": "a", "summary": []}], ["line 1", "summary", "the list of references is empty"]),
    ([{"dialogue": "a", "summary": ["fine", " "]}], ["line 1", "summary[1]", "the value is empty"]),
    ([{"dialogue": "a", "summary1": "fine", "summary2": 3}], ["line 1", "summary2", "not a string"]),
    ([{"dialogue": "a", "note": "x"}], ["line 1", "summary", "the column is missing", "or summary1, summary2"]),
])
def test_a_bad_reference_is_named_by_its_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[dict[str, Any]], words: list[str],
) -> None:
    path = experiment(tmp_path, {"test": (".jsonl", jsonl(rows))})
    assert main(["validate", str(path), "--no-preflight"]) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "data.test:" in line]
    for word in words:
        assert word in line, (word, line)
