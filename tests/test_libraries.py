"""A candidate's process imports only the libraries its settings use: a full fine-tune trains
without peft or bitsandbytes ever imported, and transformers' import of the training code
leaves out the integrations no training uses; a LoRA candidate's process keeps peft visible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO, child_env, tiny_experiment

OPTIONAL = ("peft", "bitsandbytes", "optimum", "onnxruntime", "sklearn", "scipy")

# A worker's order of events: declare the candidate's needs, import the training code, train.
CHILD = """
import json, sys
from pathlib import Path
import yaml
from contract.job import DataFiles, TrainingJob
from models import libraries
from models.data.builtin import write_builtin_splits
from orchestrator.config import validate_raw

def job(raw, data_dir):
    config = validate_raw(raw)
    c = config.models[0]
    return TrainingJob(name=c.name, candidate=c, settings=config.settings_for(c), task=config.task,
                       data=DataFiles(data_dir / "train.jsonl", data_dir / "validation.jsonl", None),
                       output_dir=data_dir.parent / "models" / c.name, fingerprint=config.fingerprint(c))

plain, lora = (yaml.safe_load(Path(p).read_text()) for p in sys.argv[1:3])
data_dir = Path(sys.argv[3])
write_builtin_splits(data_dir, task="summarization", language="ko", sizes={{"train": 32, "validation": 8}})
libraries.declare(job({first}, data_dir))
from models.reporting import RecordingReporter
from models.training import train_candidate
out = {{"after_import": [m for m in {optional!r} if m in sys.modules]}}
if {train}:
    result = train_candidate(job(plain, data_dir), RecordingReporter())
    out["trained"] = result.checkpoint is not None
    try:
        libraries.check(job(lora, data_dir))
    except RuntimeError as exc:
        out["lora_refused"] = str(exc)
out["after_training"] = [m for m in {optional!r} if m in sys.modules]
print(json.dumps(out))
"""


def child(tmp_path: Path, first: str, train: bool) -> dict[str, Any]:
    paths = []
    for name, extra in (("plain", {}), ("lora", {"lora": {"r": 4}})):
        raw = tiny_experiment(tmp_path, [{"name": name, "source": "scratch:bart-tiny", "family": "seq2seq", **extra}])
        raw["defaults"]["max_steps"] = 2
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(json.dumps(raw), encoding="utf-8")  # JSON is YAML
    env = child_env()
    script = CHILD.format(first=first, train=train, optional=OPTIONAL)
    run = subprocess.run([sys.executable, "-c", script, *map(str, paths), str(tmp_path / "data")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_full_fine_tune_never_imports_peft_or_bitsandbytes(tmp_path: Path) -> None:
    out = child(tmp_path, "plain", train=True)
    assert out["trained"]
    assert out["after_import"] == []  # the training code's import, a candidate's cold start
    assert set(out["after_training"]) <= {"sklearn", "scipy"}  # what our own evaluation imports where it uses it
    assert "kept peft away" in out["lora_refused"]  # the same process would not train LoRA silently wrong


def test_a_lora_candidate_keeps_peft_visible_to_transformers(tmp_path: Path) -> None:
    out = child(tmp_path, "lora", train=False)
    assert {"peft", "bitsandbytes"} <= set(out["after_import"])
    assert "sklearn" not in out["after_import"]  # what no training uses stays hidden either way
