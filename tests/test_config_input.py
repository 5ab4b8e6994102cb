"""Configs and command lines a review found ending in a traceback or doing the wrong thing: each
now gives the "N problem(s)" list and exit 2, and what is printed is printed whole and as typed."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from contract.preflight import CandidatePreflight, Check
from orchestrator.cli import main
from orchestrator.config import load_config
from orchestrator.progress import print_preflight
from tests.conftest import write_yaml

BASE = {"experiment": "t", "ensemble": {"strategy": "none"},
        "models": [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}]}


def config_file(tmp_path: Path, text: str | None = None) -> Path:
    if text is not None:
        path = tmp_path / "exp.yaml"
        path.write_text(text, encoding="utf-8")
        return path
    return write_yaml(tmp_path / "exp.yaml", {**BASE, "output_dir": str(tmp_path / "runs")})


@pytest.mark.parametrize(("what", "overrides", "text", "words"), [
    ("an integer YAML key", [], "experiment: t\n1: x\nmodels:\n  - {name: b, source: 'scratch:bart-tiny', "
     "family: seq2seq}\n", ["1 problem(s)", "keys should be strings"]),
    ("a digit-like key that is no number", [], "experiment: t\n\u00b2: x\nmodels:\n  - {name: b, source: "
     "'scratch:bart-tiny', family: seq2seq}\n", ["1 problem(s)", "\u00b2: unknown key"]),
    ("an unknown key with a bracket", [], "experiment: t\n'[x': 1\nmodels:\n  - {name: b, source: "
     "'scratch:bart-tiny', family: seq2seq}\n", ["1 problem(s)", "[x: unknown key"]),
    ("a digit-like --set index", ["models.\u00b2.name=x"], None, ["no list entry '\u00b2'"]),
    ("two bad --set paths at once", ["a.b=1", "models.zzz.q=2"], None,
     ["2 problem(s)", "no list entry 'zzz'", "--set a.b: unknown key"]),
    ("a --set key no section has", ["defaults.epochz=2"], None,
     ["--set defaults.epochz: unknown key (did you mean 'epochs'?)"]),
    ("an unknown user's home", ["output_dir=~nouser-xyz/runs"], None,
     ["output_dir", "'~nouser-xyz' is no user's home directory here"]),
    ("a hub id with two slashes", ["models.bart.source=a/b/c"], None,
     ["models[0].source", "'a/b/c' is not a hub model id", "namespace/name"]),
    ("a hub id with a space", ["models.bart.source=my model"], None, ["is not a hub model id"]),
    ("a hub id with a double dash", ["models.bart.source=org/a--b"], None, ["is not a hub model id"]),
    ("epochs: .inf", ["defaults.epochs=.inf"], None, ["defaults.epochs", "finite number"]),
    ("NaN in a float", ["defaults.weight_decay=.nan"], None, ["defaults.weight_decay", "finite number"]),
    ("NaN in a stage's number", ["tune.learning_rate.min=.nan"], None, ["tune.learning_rate.min"]),
    ("markup in a name", ["models.bart.name=[red]x"], None, ["models[0].name", "'[red]x'"]),
])
def test_a_bad_config_is_a_problem_list_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str, overrides: list[str], text: str | None,
    words: list[str],
) -> None:
    path = config_file(tmp_path, text)
    args = ["validate", str(path), "--no-preflight"]
    for pair in overrides:
        args += ["--set", pair]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


def test_a_home_relative_output_dir_is_expanded_never_a_folder_named_tilde(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    config = load_config(path, ["output_dir=~/orchestrator-runs"])
    assert config.run_dir == Path(os.path.expanduser("~")) / "orchestrator-runs" / "t"


def test_markup_characters_in_a_path_are_printed_as_typed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "[bold]runs"
    assert main(["validate", str(config_file(tmp_path)), "--no-preflight", "--output-dir", str(out_dir)]) == 0
    assert str(out_dir / "t") in capsys.readouterr().out


def test_preflight_prints_every_fix_whole_in_an_80_column_pipe() -> None:
    fix = "huggingface-cli download upstage/SOLAR-10.7B-Instruct-v1.0 --local-dir /models/solar-10.7b-instruct"
    verdict = CandidatePreflight("solar-10.7b-instruct", [
        Check("source", "fail", "upstage/SOLAR-10.7B-Instruct-v1.0 is not in the local hub cache [offline]", fix),
        Check("precision", "ok", "bf16 (the GPU supports it)"),
    ])
    out = io.StringIO()
    print_preflight({"solar-10.7b-instruct": verdict}, Console(file=out, width=80, highlight=False))
    text = out.getvalue()
    assert f"fix: {fix}" in text.replace("\n", "")  # whole, though wider than the terminal
    assert "[offline]" in text  # markup characters printed as written


def test_credentials_in_a_storage_uri_are_masked_in_messages_and_left_out_of_config_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from orchestrator.pipeline import save_resolved_config

    uri = "s3://KEYID123:SECRET456@bucket/runs?region=eu-west-1&session_token=TOKEN789"
    path = config_file(tmp_path)
    assert main(["validate", str(path), "--no-preflight", "--set", f"storage.uri={uri}",
                 "--set", "defaults.epochs=-1"]) == 2
    assert main(["validate", str(path), "--no-preflight", "--set", f"storage.uri={uri}"]) == 0
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "bucket/runs" in shown and "***" in shown
    assert not any(secret in shown for secret in ("KEYID123", "SECRET456", "TOKEN789")), shown
    config = load_config(path, [f"storage.uri={uri}"])
    saved = save_resolved_config(config, tmp_path / "run").read_text(encoding="utf-8")
    assert "s3://bucket/runs?region=eu-west-1" in saved
    assert not any(secret in saved for secret in ("KEYID123", "SECRET456", "TOKEN789")), saved
