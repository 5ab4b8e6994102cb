"""The schema: every shipped YAML validates; bad input lists every problem with path and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contract.names import canonical_name, did_you_mean
from orchestrator.cli import main
from orchestrator.config import ConfigError, load_config, resolve_config_path, validate_raw
from tests.conftest import REPO, tiny_experiment, write_yaml

SHIPPED = sorted((REPO / "configs").glob("*.yaml"))


def _issues(raw: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        validate_raw(raw)
    return {issue.path: issue.message for issue in info.value.issues}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_config_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A shipped config for the user's own data files validates once they are there: until then
    its only problems are those files, named."""
    config = load_config(path)
    assert config.models
    absent = [f for f in (config.data.train, config.data.validation, config.data.test) if f and not Path(f).is_file()]
    status = main(["validate", str(path)])
    if not absent:
        assert status == 0
        return
    problems = [line for line in capsys.readouterr().err.splitlines() if line.startswith("  - ")]
    assert status == 2 and len(problems) == len(absent), problems
    assert all("the file does not exist" in line for line in problems)


def test_shipped_configs_exist() -> None:
    assert any(p.name == "full.yaml" for p in SHIPPED)


def test_gpu_config_gives_each_real_model_a_gpu_qlora_to_the_large_ones_and_shards_qwen() -> None:
    config = load_config("configs/korean_summarization_gpu.yaml")  # found by spelling, like solar_10.7b
    resources = {c.name: config.settings_for(c).resources for c in config.models}
    assert {name: (r.processes, r.strategy) for name, r in resources.items()} == {
        "kobart-base": (1, "ddp"), "llama-3.2-korean-3b": (1, "ddp"), "qwen3-4b": (2, "fsdp"), "solar-10.7b": (1, "ddp")}
    assert all(r.gpus_per_process == 1 for r in resources.values())
    qlora = {c.name for c in config.models if c.lora is not None and c.quantization == "4bit"}
    assert qlora == {"llama-3.2-korean-3b", "solar-10.7b"}
    assert all(not c.source.startswith("scratch:") for c in config.models)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, [
        {"name": "a", "source": "scratch:bart-tny", "family": "seq2seq", "learnig_rate": 1e-3},
        {"name": "A", "source": "scratch:bert-tiny", "family": "seq2seq", "precision": "bf18"},
        {"name": "c", "source": "scratch:gpt2-tiny", "family": "causal", "quantization": "4bit"},
    ])
    raw["defaults"]["batch_size"] = 0
    raw["task"]["metric"] = "acuracy"
    issues = _issues(raw)
    assert "did you mean 'learning_rate'" in issues["models[0].learnig_rate"]
    assert "did you mean 'bart-tiny'" in issues["models[0].source"]
    assert "'bf18'" in issues["models[1].precision"] and "did you mean 'bf16'" in issues["models[1].precision"]
    assert "auto, fp32, fp16, bf16" in issues["models[1].precision"]
    assert "clashes with models[0]" in issues["models[1].name"]
    assert "set family: classifier" in issues["models[1].family"]
    assert "add lora" in issues["models[2].quantization"]
    assert "greater than 0" in issues["defaults.batch_size"]
    assert "rouge1" in issues["task.metric"]
    assert len(issues) == 8


def test_unknown_section_is_an_error_with_suggestion(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, [{"name": "a", "source": "scratch:bart-tiny", "family": "seq2seq"}])
    raw["ensamble"] = {"strategy": "mbr"}
    assert "did you mean 'ensemble'" in _issues(raw)["ensamble"]


def test_choices_match_case_hyphen_and_underscore_insensitively(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, [{"name": "a", "source": "scratch:BART_Tiny", "family": "Seq2Seq", "precision": "FP32"}])
    raw["ensemble"] = {"meta_learner": "Gradient-Boosting"}
    config = validate_raw(raw)
    assert config.models[0].family == "seq2seq"
    assert config.settings_for(config.models[0]).precision == "fp32"
    assert config.ensemble.meta_learner == "gradient_boosting"


def test_per_model_overrides_merge_deeply_over_defaults(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, [
        {"name": "a", "source": "scratch:bart-tiny", "family": "seq2seq",
         "learning_rate": 0.01, "timeouts": {"total": 5}},
        {"name": "b", "source": "scratch:t5-tiny", "family": "seq2seq"},
    ])
    config = validate_raw(raw)
    a, b = (config.settings_for(c) for c in config.models)
    assert a.learning_rate == 0.01 and b.learning_rate == 2e-3
    assert a.timeouts.total == 5 and a.timeouts.stall == 240  # the rest still inherited
    assert config.fingerprint(config.models[0]) != config.fingerprint(config.models[1])


def test_set_only_and_output_dir_from_the_command_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "exp.yaml", tiny_experiment(tmp_path, [
        {"name": "kobart", "source": "scratch:bart-tiny", "family": "seq2seq"},
        {"name": "llama", "source": "scratch:llama-tiny", "family": "causal"},
    ]))
    config = load_config(
        path,
        ["defaults.epochs=2", "models.KoBART.learning_rate=0.5", "models.1.seed=7", "task.language=en"],
        output_dir=str(tmp_path / "elsewhere"),
        only=["kobart", "LLAMA"],
    )
    assert config.defaults.epochs == 2
    assert config.settings_for(config.candidate("kobart")).learning_rate == 0.5
    assert config.settings_for(config.candidate("llama")).seed == 7
    assert config.task.language == "en" and config.output_dir == str(tmp_path / "elsewhere")
    assert [c.name for c in load_config(path, only=["llama"]).models] == ["llama"]
    with pytest.raises(ConfigError, match="did you mean 'kobart'"):
        load_config(path, only=["kobart-x"])
    with pytest.raises(ConfigError, match="did you mean 'kobart'"):
        load_config(path, ["models.kobrt.seed=1"])


def test_config_file_is_found_despite_spelling(tmp_path: Path) -> None:
    target = write_yaml(tmp_path / "solar-10.7b.yaml", {"experiment": "x"})
    assert resolve_config_path(tmp_path / "solar_10.7b.yaml") == target
    assert resolve_config_path(tmp_path / "SOLAR_10.7B") == target
    with pytest.raises(ConfigError, match="did you mean"):
        resolve_config_path(tmp_path / "solar-10.8b.yaml")


def test_cli_exits_2_listing_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tiny_experiment(tmp_path, [{"name": "a", "source": "scratch:bart-tiny", "family": "sequence"}])
    raw["defaults"]["precision"] = "bf18"
    path = write_yaml(tmp_path / "bad.yaml", raw)
    assert main(["validate", str(path)]) == 2
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "models[0].family" in err and "defaults.precision" in err
    assert "Traceback" not in err


def test_cli_reports_yaml_syntax_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("experiment: x\nmodels: [\n", encoding="utf-8")
    assert main(["validate", str(broken)]) == 2
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML at line" in err and "not found" in err


def test_names_helpers() -> None:
    assert canonical_name("Solar_10.7B") == canonical_name("solar-10.7b")
    assert did_you_mean("bart_tny", ["bart-tiny", "t5-tiny"]) == ["bart-tiny"]


def test_the_saved_resolved_config_loads_back_as_the_same_config(tmp_path: Path) -> None:
    import yaml

    from orchestrator.config import ExperimentConfig
    from orchestrator.pipeline import save_resolved_config

    raw = tiny_experiment(tmp_path, [
        {"name": "a", "source": "scratch:bart-tiny", "family": "seq2seq", "learning_rate": 0.01},
        {"name": "b", "source": "scratch:llama-tiny", "family": "causal", "lora": {"r": 4}},
    ])
    config = validate_raw(raw)
    saved = yaml.safe_load(save_resolved_config(config, tmp_path).read_text(encoding="utf-8"))
    assert saved.pop("resolved_settings")["a"]["learning_rate"] == 0.01
    again = ExperimentConfig.model_validate(saved)
    for c in config.models:
        assert config.fingerprint(c) == again.fingerprint(again.candidate(c.name))


def _checks(field: Any) -> list[Any]:
    """A field's bounds and validators, comparable across models (validators by function name)."""
    return [m.func.__qualname__ if hasattr(m, "func") else m for m in field.metadata]


def test_candidate_overrides_are_exactly_the_training_settings_optional() -> None:
    from contract.settings import CandidateBase, CandidateConfig, TrainingSettings

    overrides = set(CandidateConfig.model_fields) - set(CandidateBase.model_fields)
    assert overrides == set(TrainingSettings.model_fields)
    for name, setting in TrainingSettings.model_fields.items():
        override = CandidateConfig.model_fields[name]
        assert override.default is None and not override.is_required(), name
        assert override.annotation == (setting.annotation | None), name
        assert _checks(override) == _checks(setting), name


def test_candidate_overrides_reject_what_the_defaults_reject(tmp_path: Path) -> None:
    bad = {"epochs": 0, "learning_rate": "fast", "precision": "fp8", "warmup_ratio": 1, "batch_size": 0}
    raw = tiny_experiment(tmp_path, [{"name": "a", "source": "scratch:bart-tiny", "family": "seq2seq", **bad}])
    raw["defaults"] = dict(bad)
    with pytest.raises(ConfigError) as caught:
        validate_raw(raw)
    by_path = {issue.path: issue.message for issue in caught.value.issues}
    for key in bad:
        assert by_path[f"models[0].{key}"] == by_path[f"defaults.{key}"], key


def test_contract_settings_import_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import contract.settings, contract.job, sys; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'ray', 'rich', "
        "'orchestrator', 'models', 'pyarrow'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_the_contest_metric_and_the_reference_combination_are_settings(tmp_path: Path) -> None:
    models = [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}]
    config = validate_raw(tiny_experiment(tmp_path, models, task={"metric": "rouge_mean", "multi_reference": "max"}))
    assert (config.task.resolved_metric(), config.task.multi_reference) == ("rouge_mean", "max")
    assert validate_raw(tiny_experiment(tmp_path, models)).task.multi_reference == "mean"
    with pytest.raises(ConfigError, match="task.multi_reference") as caught:
        validate_raw(tiny_experiment(tmp_path, models, task={"multi_reference": "median"}))
    assert "mean" in str(caught.value) and "max" in str(caught.value)
