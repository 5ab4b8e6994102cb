"""Each family loads, trains, saves and predicts on tiny models, outside Ray (plain Python)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from contract.job import DataFiles, TrainingJob
from contract.work import result_dict
from models.checkpoint import read_manifest, verify_checkpoint
from models.data.builtin import write_builtin_splits
from models.families.base import CheckpointMismatch
from models.registry import load_family
from models.reporting import TRAINING_PHASES, RecordingReporter
from models.sources import SourceError
from models.training import train_candidate
from orchestrator.config import validate_raw
from orchestrator.failures import FailureKind, classify
from orchestrator.stages.train import candidate_job
from tests.conftest import read_json, tiny_experiment


def make_job(
    tmp_path: Path, candidate: dict[str, Any], task: str = "summarization", language: str = "ko", **defaults: Any
) -> TrainingJob:
    raw = tiny_experiment(tmp_path, [candidate])
    raw["task"] = {"type": task, "language": language}
    raw["defaults"].update(defaults)
    config = validate_raw(raw)
    data_dir = tmp_path / f"data-{task}-{language}"
    if not data_dir.exists():
        sizes = {"train": 64, "validation": 12, "test": 12}
        write_builtin_splits(data_dir, task=task, language=language, sizes=sizes)
    labels: tuple[str, ...] = ()
    if task == "classification":
        labels = tuple(sorted({json.loads(line)["label"] for line in (data_dir / "train.jsonl").open()}))
    data = DataFiles(data_dir / "train.jsonl", data_dir / "validation.jsonl", data_dir / "test.jsonl")
    return candidate_job(config, config.models[0], data, labels, tmp_path)


def run(job: TrainingJob) -> tuple[dict[str, Any], RecordingReporter]:
    reporter = RecordingReporter()
    return result_dict(train_candidate(job, reporter)), reporter


def assert_complete_run(job: TrainingJob, result: dict[str, Any], reporter: RecordingReporter) -> None:
    assert reporter.phases == [p for p in TRAINING_PHASES if p != "queued"]
    checkpoint = Path(result["checkpoint"])
    assert verify_checkpoint(checkpoint, job.fingerprint, hashes=True) is None
    assert not checkpoint.with_name("checkpoint.partial").exists()
    for split in ("validation", "test"):
        lines = (job.output_dir / "predictions" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 12
        assert split in result["metrics"]
    assert read_json(job.output_dir / "metrics.json")["name"] == job.name
    assert any(kind == "heartbeat" for kind, _ in reporter.events)


@pytest.mark.parametrize(
    "preset,family",
    [("bart-tiny", "seq2seq"), ("t5-tiny", "seq2seq"), ("gpt2-tiny", "causal"), ("llama-tiny", "causal")],
)
def test_summarization_families_train_save_and_predict(tmp_path: Path, preset: str, family: str) -> None:
    job = make_job(tmp_path, {"name": preset, "source": f"scratch:{preset}", "family": family})
    result, reporter = run(job)
    assert_complete_run(job, result, reporter)
    assert set(result["metrics"]["test"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum", "rouge_mean"}
    assert read_manifest(Path(result["checkpoint"]))["kind"] == "full"


@pytest.mark.parametrize("preset,family", [("bart-tiny", "seq2seq"), ("llama-tiny", "causal")])
def test_inputs_cut_at_max_source_length_are_counted_with_the_candidates_tokenizer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, preset: str, family: str
) -> None:
    from transformers import AutoTokenizer

    job = make_job(tmp_path, {"name": preset, "source": f"scratch:{preset}", "family": family},
                   max_source_length=48, max_steps=2)
    result, _ = run(job)
    tokenizer = AutoTokenizer.from_pretrained(result["checkpoint"])
    special = family == "seq2seq"  # a causal prompt cuts only the input's own tokens
    expected = {}
    for split, path in vars(job.data).items():
        texts = [json.loads(line)["dialogue"] for line in path.read_text(encoding="utf-8").splitlines()]
        expected[split] = sum(len(ids) > 48 for ids in tokenizer(texts, add_special_tokens=special)["input_ids"])
    assert result["truncated_inputs"] == expected and expected["train"] > 0, expected
    roomy = dataclasses.replace(job, settings=job.settings.model_copy(update={"max_source_length": 100_000}))
    rows = {split: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            for split, path in vars(job.data).items()}
    assert load_family(job.family)(roomy).truncated_inputs(tokenizer, rows) == {split: 0 for split in rows}
    assert "are longer than max_source_length 48 tokens and are cut" in caplog.text


def test_english_data_trains_and_scores(tmp_path: Path) -> None:
    job = make_job(tmp_path, {"name": "en", "source": "scratch:bart-tiny", "family": "seq2seq"}, language="en")
    result, reporter = run(job)
    assert_complete_run(job, result, reporter)
    rows = (job.output_dir.parent.parent / "data-summarization-en" / "train.jsonl").read_text(encoding="utf-8")
    assert "#Person1#" in rows and not any("\uac00" <= ch <= "\ud7a3" for ch in rows)


def test_classifier_trains_and_returns_probabilities(tmp_path: Path) -> None:
    job = make_job(tmp_path, {"name": "bert", "source": "scratch:bert-tiny", "family": "classifier"}, task="classification")
    result, reporter = run(job)
    assert_complete_run(job, result, reporter)
    assert set(result["metrics"]["test"]) == {"accuracy", "macro_f1"}
    first = json.loads((job.output_dir / "predictions" / "test.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert len(first["probabilities"]) == len(job.labels)
    assert abs(sum(first["probabilities"]) - 1) < 1e-3
    assert first["prediction"] in job.labels


def test_locally_saved_model_is_loaded_by_path(tmp_path: Path) -> None:
    """The path a GPU user takes with a downloaded checkpoint: save_pretrained dir -> source."""
    first = make_job(tmp_path / "a", {"name": "base", "source": "scratch:bart-tiny", "family": "seq2seq"})
    checkpoint = run(first)[0]["checkpoint"]
    job = make_job(tmp_path / "b", {"name": "from-path", "source": checkpoint, "family": "seq2seq"})
    result, reporter = run(job)
    assert_complete_run(job, result, reporter)
    assert not (job.output_dir / "base").exists()  # nothing was built from scratch


def test_causal_model_without_pad_token_gets_its_own(tmp_path: Path) -> None:
    """GPT-2 style checkpoints ship no pad token: one is added (embeddings resized), never EOS."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first = make_job(tmp_path / "a", {"name": "base", "source": "scratch:gpt2-tiny", "family": "causal"})
    checkpoint = Path(run(first)[0]["checkpoint"])
    stripped = tmp_path / "no-pad"
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    tokenizer.pad_token = None
    model.config.pad_token_id = None
    tokenizer.save_pretrained(stripped)
    model.save_pretrained(stripped)
    assert AutoTokenizer.from_pretrained(stripped).pad_token is None

    job = make_job(tmp_path / "b", {"name": "nopad", "source": str(stripped), "family": "causal"})
    result, _ = run(job)
    saved = AutoTokenizer.from_pretrained(result["checkpoint"])
    assert saved.pad_token is not None and saved.pad_token_id != saved.eos_token_id
    assert AutoModelForCausalLM.from_pretrained(result["checkpoint"]).get_input_embeddings().num_embeddings >= len(saved)


def test_causal_features_mask_the_prompt_and_end_with_eos(tmp_path: Path) -> None:
    from models.families.causal import CausalFamily
    from models.tokenization import train_bpe_tokenizer

    job = make_job(tmp_path, {"name": "c", "source": "scratch:llama-tiny", "family": "causal"})
    tokenizer = train_bpe_tokenizer(["안녕하세요 요약 테스트 문장입니다"] * 20, 300, "causal")
    row = {"dialogue": "#Person1#: 안녕하세요", "summary": "요약 문장"}
    feature = CausalFamily(job).encode([row], tokenizer)[0]
    prompt_len = feature["labels"].count(-100)
    assert prompt_len > 0 and feature["labels"][prompt_len:] == feature["input_ids"][prompt_len:]
    assert feature["input_ids"][-1] == tokenizer.eos_token_id
    assert feature["input_ids"][0] == tokenizer.bos_token_id


def test_lora_is_merged_into_a_full_checkpoint(tmp_path: Path) -> None:
    job = make_job(tmp_path, {"name": "lora", "source": "scratch:llama-tiny", "family": "causal", "lora": {"r": 4}})
    result, _ = run(job)
    assert result["parameters"]["trainable"] < result["parameters"]["total"] / 5
    manifest = read_manifest(Path(result["checkpoint"]))
    assert manifest["kind"] == "full" and "model.safetensors" in manifest["files"]


def test_qlora_4bit_trains_adapters_on_cpu(tmp_path: Path) -> None:
    job = make_job(
        tmp_path, {"name": "qlora", "source": "scratch:llama-tiny", "family": "causal",
                   "lora": {"r": 4}, "quantization": "4bit"}, max_steps=16,
    )
    result, reporter = run(job)
    assert_complete_run(job, result, reporter)
    manifest = read_manifest(Path(result["checkpoint"]))
    assert manifest["kind"] == "adapter" and manifest["quantization"] == "4bit"
    assert "adapter_model.safetensors" in manifest["files"]
    assert Path(manifest["base"]).is_dir()
    family = load_family(job.family)(job)
    model, _ = family.load_finished()  # onto the base the config names
    assert model.peft_config

    # a manifest pointing the adapters at another base (a teammate's edit, another config) is refused
    elsewhere = tmp_path / "elsewhere" / "base"
    shutil.copytree(manifest["base"], elsewhere)
    path = Path(result["checkpoint"]) / "manifest.json"
    path.write_text(json.dumps({**manifest, "base": str(elsewhere)}), encoding="utf-8")
    with pytest.raises(CheckpointMismatch, match="name .*elsewhere.* as their base"):
        family.load_finished()
    assert classify(CheckpointMismatch(path, "a", "b")).kind == FailureKind.CONFIG


def test_uncached_hub_id_fails_at_once_with_the_fix(tmp_path: Path) -> None:
    job = make_job(tmp_path, {"name": "hub", "source": "no-such-org/no-such-model", "family": "seq2seq"})
    with pytest.raises(SourceError, match="huggingface-cli download no-such-org/no-such-model"):
        run(job)


@pytest.mark.parametrize("preset,family", [("bart-tiny", "seq2seq"), ("llama-tiny", "causal")])
def test_beam_candidates_and_padding_independent_log_likelihoods(tmp_path: Path, preset: str, family: str) -> None:
    """What the summarization ensemble builds on: several candidates per input, and a score per
    (source, summary) that does not depend on what else shares its padded batch."""
    from models.families.base import ModelFamily
    from models.registry import load_family

    job = make_job(tmp_path, {"name": preset, "source": f"scratch:{preset}", "family": family})
    result, _ = run(job)
    fam: ModelFamily = load_family(family)(job)
    from models.precision import cpu_hardware, decide_precision

    model, tokenizer = fam.load_trained(Path(result["checkpoint"]), decide_precision("fp32", cpu_hardware()))
    rows = [json.loads(line) for line in (job.data.test).read_text(encoding="utf-8").splitlines()[:3]]
    records = fam.predict(model, tokenizer, rows, candidates=3)
    assert all(len(r["candidates"]) == 3 and r["prediction"] == r["candidates"][0] for r in records)
    pairs = [(r["dialogue"], r["summary"]) for r in rows] + [(rows[0]["dialogue"], "짧은 요약")]
    together = fam.log_likelihoods(model, tokenizer, pairs)
    alone = [fam.log_likelihoods(model, tokenizer, [pair])[0] for pair in pairs]
    assert all(v <= 0 for v in together)
    assert together == pytest.approx(alone, abs=1e-4)
