"""The driver never imports torch or transformers: the CLI, and `validate` with its preflight
(whose model checks run in a child process), leave them out of the driver's sys.modules; a whole
run, ensemble and optimize included, leaves out the libraries that compute with the members'
outputs too (scikit-learn, scipy, lightgbm, joblib): that work runs as supervised steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import preflight
from orchestrator.config import validate_raw
from orchestrator.preflight import local_probe, run_preflight
from tests.conftest import REPO, FinishedRun, child_env, tiny_experiment

HEAVY = ("torch", "transformers", "peft", "bitsandbytes", "optimum", "onnxruntime")

DRIVER = """
import contextlib, io, json, sys
import orchestrator.cli
after_import = [m for m in {heavy!r} if m in sys.modules]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    codes = [orchestrator.cli.main(["validate", "--no-preflight", "configs/full.yaml"]),
             orchestrator.cli.main(["validate", "configs/full.yaml"])]
print(json.dumps({{"codes": codes, "after_import": after_import, "output": out.getvalue(),
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def test_validate_with_preflight_keeps_torch_out_of_the_driver() -> None:
    env = child_env()
    run = subprocess.run(
        [sys.executable, "-c", DRIVER.format(heavy=HEAVY)], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["codes"] == [0, 0]
    assert result["after_import"] == [] and result["heavy"] == [], result
    output = result["output"]
    assert "preflight" in output and "3 ready on this machine" in output, output


def crash(requests: object) -> None:
    """Stands in for the inspection: the child process dies without answering."""
    os._exit(3)


@pytest.mark.parametrize(("target", "detail"), [
    ("models.no_such_module:inspect_candidates", "No module named 'models.no_such_module'"),
    (f"{__name__}:crash", "died before answering"),
])
def test_a_failed_inspection_process_fails_each_candidate_with_a_clear_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, detail: str
) -> None:
    monkeypatch.setattr(preflight, "INSPECT", target)
    config = validate_raw(tiny_experiment(tmp_path, [
        {"name": "a", "source": "scratch:bart-tiny", "family": "seq2seq"},
        {"name": "b", "source": "scratch:t5-tiny", "family": "seq2seq"},
    ]))
    verdicts = run_preflight(config, config.run_dir, local_probe, 0.0)
    assert set(verdicts) == {"a", "b"}
    for verdict in verdicts.values():
        assert not verdict.ok
        assert verdict.reason.startswith("inspection: the model inspection process") and detail in verdict.reason
        assert "--no-preflight" in (verdict.fix or "")


# what computes with the members' outputs: the ensemble's fit and the optimize stage's numbers
COMPUTING = ("evaluate", "sklearn", "scipy", "lightgbm", "joblib")

@pytest.mark.integration
def test_a_whole_run_keeps_the_ml_libraries_out_of_the_driver_and_still_scores_the_lead_baseline(
    finished_run: FinishedRun,
) -> None:
    """The shared run (tests/conftest.py: three candidates trained, one skipped and one failed, their
    stacking ensemble proposed, scored, fitted and chosen, and the optimize stage with both CPU
    backends) leaves the driver without torch, transformers, evaluate, scikit-learn, scipy,
    lightgbm or joblib (but what its MLflow client imports itself); the lead baseline's ROUGE is
    scored in preflight's child."""
    from tests.conftest import read_json

    imported = set(json.loads((finished_run.config.parent / "driver_modules.json").read_text(encoding="utf-8")))
    assert "orchestrator.pipeline" in imported  # the list is the driver's own, written after the run
    # The run tracks with MLflow, whose client package imports scipy when it loads (mlflow.models):
    # that much comes with the tracker, not with work the driver does.
    tracker = subprocess.run([sys.executable, "-c", "import json, sys, mlflow.tracking; print(json.dumps(list(sys.modules)))"],
                             env=child_env(), capture_output=True, text=True, timeout=300)
    with_the_tracker = set(json.loads(tracker.stdout.strip().splitlines()[-1]))
    assert [m for m in HEAVY if m in imported] == []
    assert [m for m in COMPUTING if m in imported and m not in with_the_tracker] == []
    run_dir = finished_run.run_dir
    summary = read_json(run_dir / "summary.json")
    ensemble, optimize = summary["ensemble"], summary["optimize"]
    assert ensemble["status"] == "ok" and ensemble["strategy"] == "stacking", ensemble
    assert ensemble["chosen"].startswith("stacking:") and ensemble["meta_learner_file"] == "meta_learner.joblib"
    assert (run_dir / "ensemble" / "test_predictions.jsonl").is_file()
    assert optimize["status"] == "ok" and "bart" in optimize["models"], optimize
    lead = summary["baselines"]["lead"]
    assert set(lead) == {"description", "validation", "test"} and 0 < lead["test"]["rougeL"] < 100, lead
