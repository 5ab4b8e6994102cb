"""`export`: a finished run's candidate as a from_pretrained directory with its model card, loaded in
a fresh process by plain transformers and giving the run's own predictions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import (
    FINISHED_RUN_DEFAULTS,
    FinishedRun,
    child_env,
    read_json,
    run_cli,
    tiny_experiment,
    write_yaml,
)

pytestmark = pytest.mark.integration

PLAIN_LOAD = """
import json, sys
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
export, rows, batch, max_length = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tokenizer = AutoTokenizer.from_pretrained(export)
model = AutoModelForSeq2SeqLM.from_pretrained(export).eval()
out = []
for start in range(0, len(rows), batch):
    inputs = tokenizer(rows[start:start + batch], truncation=True, max_length=max_length, padding=True,
                       return_tensors="pt")
    out += tokenizer.batch_decode(model.generate(**inputs), skip_special_tokens=True)
print(json.dumps(out))
"""


def test_an_export_loads_with_plain_transformers_and_predicts_as_the_run_did(
        tmp_path: Path, finished_run: FinishedRun) -> None:
    run_dir = shutil.copytree(finished_run.run_dir, tmp_path / "runs" / "tiny")  # the export goes into the run directory
    summary = read_json(run_dir / "summary.json")
    best = max(("bart", "t5"), key=lambda n: summary["models"][n]["metrics"]["validation"]["rougeL"])

    exported = run_cli("export", str(run_dir), "--best", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    out = run_dir / "export" / best
    assert f"exported {best} (fp32) to {out}" in exported.stdout
    files = sorted(p.name for p in out.iterdir())
    assert "model.safetensors" in files and "README.md" in files and "generation_config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl")) or f == "manifest.json"]

    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md")
    assert card.data.language == ["ko"] and card.data.pipeline_tag == "summarization"
    test_rouge = summary["models"][best]["metrics"]["test"]["rougeL"]
    assert "| test | " in card.text and f"{test_rouge:.2f}" in card.text and "lead baseline" in card.text
    assert "## Training" in card.text and "## Limitations" in card.text and "AutoModelForSeq2SeqLM" in card.text

    rows = [json.loads(line) for line in (run_dir / "data" / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    fresh = subprocess.run(
        [sys.executable, "-c", PLAIN_LOAD, str(out), json.dumps([r["dialogue"] for r in rows]),
         str(FINISHED_RUN_DEFAULTS["eval_batch_size"]), str(FINISHED_RUN_DEFAULTS["max_source_length"])],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=tmp_path,
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    predicted = json.loads(fresh.stdout.strip().splitlines()[-1])
    run_predictions = [json.loads(line)["prediction"] for line in
                       (run_dir / "models" / best / "predictions" / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert predicted == run_predictions

    named = run_cli("export", str(run_dir), "--model", "nobody", cwd=tmp_path)
    assert named.returncode == 2 and "Traceback" not in named.stderr
    assert "its candidates: bart, t5, llama, missing, broken" in named.stderr
    variant = run_cli("export", str(run_dir), "--model", "t5", "--variant", "onnxruntime", cwd=tmp_path)
    assert variant.returncode == 2 and "it has: fp32" in variant.stderr
    offline = subprocess.run(
        [sys.executable, "-m", "orchestrator", "export", str(run_dir), "--model", "t5", "--push-to-hub", "me/tiny"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env=child_env(),
    )
    assert offline.returncode == 1 and "Traceback" not in offline.stderr
    assert "could not push to the Hugging Face Hub" in offline.stderr and str(run_dir / "export" / "t5") in offline.stderr


def test_a_qlora_candidate_is_exported_merged_into_full_weights(tmp_path: Path) -> None:
    """Adapters trained on a 4-bit base travel merged into the fp32 base (the merge runs in a child
    process): plain from_pretrained loads full weights, with no adapter files and no PEFT needed."""
    raw = tiny_experiment(tmp_path, [{"name": "qlora", "source": "scratch:llama-tiny", "family": "causal",
                                      "lora": {}, "quantization": "4bit"}], ensemble={"strategy": "none"})
    done = run_cli("run", "--quiet", str(write_yaml(tmp_path / "exp.yaml", raw)), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run_dir = tmp_path / "runs" / "tiny"
    assert (run_dir / "models" / "qlora" / "checkpoint" / "adapter_config.json").is_file()
    exported = run_cli("export", str(run_dir), "--out", str(tmp_path / "merged"), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    files = sorted(p.name for p in (tmp_path / "merged").iterdir())
    assert "model.safetensors" in files and not [f for f in files if f.startswith("adapter")], files
    assert "merged into its fp32 weights" in (tmp_path / "merged" / "README.md").read_text(encoding="utf-8")
    load = ("import sys; from transformers import AutoModelForCausalLM, AutoTokenizer; "
            "m = AutoModelForCausalLM.from_pretrained(sys.argv[1]); t = AutoTokenizer.from_pretrained(sys.argv[1]); "
            "out = m.generate(**t(['#Person1#: 안녕'], return_tensors='pt')); print(type(m).__name__, out.shape[1])")
    fresh = subprocess.run([sys.executable, "-c", load, str(tmp_path / "merged")], capture_output=True, text=True,
                           timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    assert fresh.returncode == 0 and fresh.stdout.startswith("LlamaForCausalLM"), fresh.stderr[-3000:]
