"""The learning-rate sweep: search space, scheduler, best-rate rule, `learning_rate: tuned`, the
report; and one real sweep with Ray Tune whose tuned rates a `run` then trains with."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from contract.schedule import training_schedule
from models.reporting import RecordingReporter
from orchestrator.cli import main
from orchestrator.config import ConfigError, TuneConfig, load_config, validate_raw
from orchestrator.data import run_data_files
from orchestrator.pipeline import save_resolved_config
from orchestrator.report.summary import render_markdown
from orchestrator.report.tune import tune_markdown
from orchestrator.stages.tune_results import best_trial
from orchestrator.stages.tune_search import make_scheduler, num_samples, search_space, trial_settings
from orchestrator.stages.tuned import resolve_learning_rates, sweep_fingerprint, write_tune
from tests.conftest import read_json, tiny_experiment, write_yaml

MODELS = [
    {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"},
    {"name": "llama", "source": "scratch:llama-tiny", "family": "causal", "learning_rate": 3e-3},
]


def models() -> list[dict[str, Any]]:
    return copy.deepcopy(MODELS)


def experiment(tmp_path: Path, **sections: Any) -> Path:
    return write_yaml(tmp_path / "exp.yaml", tiny_experiment(tmp_path, models(), **sections))


def write_sweep(config: Any, rates: dict[str, float | None]) -> None:
    """tune/tune.json as a sweep of `config` that found `rates` would leave it."""
    path = config.run_dir / "tune" / "tune.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    models = {
        name: {"learning_rate": rate, "reason": None if rate else "no trial finished: all were stopped early",
               "fingerprint": sweep_fingerprint(config, config.candidate(name))}
        for name, rate in rates.items()
    }
    path.write_text(json.dumps({"models": models}), encoding="utf-8")


# --------------------------------------------------------------------------- what is searched


def test_search_space_from_a_range_is_sampled_log_uniformly() -> None:
    settings = TuneConfig(learning_rate={"min": 1e-5, "max": 1e-2}, samples=6)
    space = search_space(settings)
    assert list(space) == ["learning_rate"]
    domain = space["learning_rate"]
    assert (domain.lower, domain.upper) == (1e-5, 1e-2)
    assert type(domain.get_sampler()).__name__ == "_LogUniform"
    assert num_samples(space, settings.samples) == 6


def test_search_space_from_a_list_tries_every_value_once_in_order() -> None:
    settings = TuneConfig(learning_rate={"values": [1e-3, 1e-4, 3e-3]}, samples=6)
    space = search_space(settings)
    assert space == {"learning_rate": {"grid_search": [1e-3, 1e-4, 3e-3]}}
    assert num_samples(space, settings.samples) == 1


def test_a_trial_overrides_the_settings_it_searches_and_is_validated(tmp_path: Path) -> None:
    config = load_config(experiment(tmp_path))
    settings = config.settings_for(config.models[0])
    assert trial_settings(settings, {"learning_rate": 7e-4}).learning_rate == 7e-4
    assert trial_settings(settings, {"learning_rate": 7e-4}).batch_size == settings.batch_size
    with pytest.raises(ValidationError):
        trial_settings(settings, {"learning_rate": -1.0})


def test_asha_rungs_end_before_the_last_evaluation() -> None:
    settings = TuneConfig(grace_period=1, reduction_factor=2)
    scheduler, text = make_scheduler(settings, evaluations=4)
    assert scheduler is not None and scheduler._max_t == 3 and "4 evaluations" in text
    assert [milestone for milestone, _ in scheduler._brackets[0]._rungs] == [2, 1]
    scheduler, text = make_scheduler(settings, evaluations=1)
    assert scheduler is None and "nothing to stop" in text
    assert make_scheduler(TuneConfig(scheduler="none"), evaluations=4)[0] is None


def test_evaluations_are_one_per_epoch() -> None:
    config = validate_raw(tiny_experiment(Path("/tmp"), models()[:1]))
    settings = config.defaults.model_copy(update={"max_steps": None, "epochs": 4, "batch_size": 8})
    schedule = training_schedule(settings, 64)
    assert (schedule.total_steps, schedule.eval_every, schedule.evaluations) == (32, 8, 4)
    assert training_schedule(config.defaults, 96).evaluations == 1  # max_steps 12: one epoch


def test_best_rate_is_the_finished_trial_with_the_highest_task_metric() -> None:
    trials = [
        {"trial": "a", "learning_rate": 1e-3, "status": "completed", "validation_metric": 30.0, "final_eval_loss": 4.0},
        {"trial": "b", "learning_rate": 3e-3, "status": "completed", "validation_metric": 32.0, "final_eval_loss": 4.5},
        {"trial": "c", "learning_rate": 1e-4, "status": "stopped_early", "last_eval_loss": 3.0},
        {"trial": "d", "learning_rate": 1e30, "status": "failed", "error": "NonFiniteLossError: ..."},
        {"trial": "e", "learning_rate": 2e-3, "status": "completed", "validation_metric": 32.0, "final_eval_loss": 4.2},
    ]
    assert best_trial(trials)["trial"] == "e"  # the tie on the metric goes to the lower loss
    assert best_trial(trials[2:4]) is None


def test_eval_heartbeats_number_the_evaluations_during_training_only() -> None:
    from models.trainer_callbacks import HeartbeatCallback

    reporter = RecordingReporter()
    callback = HeartbeatCallback(reporter, examples_per_step=8)
    state = SimpleNamespace(global_step=8, max_steps=32, epoch=1.0, log_history=[{"loss": 5.0}])

    def evaluate(callback: HeartbeatCallback, loss: float) -> None:  # the Trainer logs, then calls back
        state.log_history.append({"eval_loss": loss})
        callback.on_evaluate(None, state, None, metrics={"eval_loss": loss})

    callback.on_train_begin(None, state, None)
    evaluate(callback, 4.25)
    evaluate(callback, 3.5)
    callback.on_train_end(None, state, None)
    evaluate(callback, 3.5)  # the final one, after training
    beats = [e for kind, e in reporter.events if kind == "heartbeat"]
    assert [(b["evaluation"], b["eval_loss"]) for b in beats] == [(1, 4.25), (2, 3.5)]

    state.log_history.pop()
    resumed = HeartbeatCallback(reporter, examples_per_step=8)  # a new process, the history restored
    resumed.on_train_begin(None, state, None)
    evaluate(resumed, 3.0)
    assert reporter.events[-1][1]["evaluation"] == 3  # the sweep's clock goes on, not back to 1


# --------------------------------------------------------------------------- learning_rate: tuned


def test_tuned_is_accepted_anywhere_a_rate_is_and_typos_are_caught(tmp_path: Path) -> None:
    raw = tiny_experiment(tmp_path, models())
    raw["defaults"]["learning_rate"] = "Tuned"
    raw["models"][1]["learning_rate"] = "tunned"
    with pytest.raises(ConfigError) as info:
        validate_raw(raw)
    issues = {i.path: i.message for i in info.value.issues}
    assert list(issues) == ["models[1].learning_rate"]
    assert "did you mean 'tuned'" in issues["models[1].learning_rate"]
    raw["models"][1]["learning_rate"] = "1e-3"  # YAML reads this as a string
    config = validate_raw(raw)
    assert config.settings_for(config.models[0]).learning_rate == "tuned"
    assert config.settings_for(config.models[1]).learning_rate == 1e-3


def test_tuned_rate_is_what_trains_what_config_yaml_records_and_in_the_fingerprint(tmp_path: Path) -> None:
    path = experiment(tmp_path, defaults={"learning_rate": "tuned"})
    config = load_config(path)
    write_sweep(config, {"bart": 4e-3, "llama": 1e-3})
    resolved = resolve_learning_rates(config)
    bart = resolved.candidate("bart")
    assert resolved.settings_for(bart).learning_rate == 4e-3
    assert resolved.settings_for(resolved.candidate("llama")).learning_rate == 3e-3  # its own rate stays

    saved = yaml.safe_load(save_resolved_config(resolved, config.run_dir).read_text(encoding="utf-8"))
    assert saved["resolved_settings"]["bart"]["learning_rate"] == 4e-3
    assert load_config(config.run_dir / "config.yaml").settings_for(bart).learning_rate == 4e-3  # optimize, predict

    untuned = load_config(path, ["defaults.learning_rate=2e-3"])
    same_rate = load_config(path, ["defaults.learning_rate=4e-3"])
    assert resolved.fingerprint(bart) != untuned.fingerprint(untuned.candidate("bart"))
    assert resolved.fingerprint(bart) == same_rate.fingerprint(same_rate.candidate("bart"))


def test_use_tuned_replaces_every_chosen_candidates_rate(tmp_path: Path) -> None:
    config = load_config(experiment(tmp_path))
    write_sweep(config, {"bart": 4e-3, "llama": 5e-4})
    assert resolve_learning_rates(config) is config  # nothing asks for tuned rates
    resolved = resolve_learning_rates(config, use_tuned=True)
    assert [resolved.settings_for(c).learning_rate for c in resolved.models] == [4e-3, 5e-4]


def test_a_candidate_without_a_tuned_rate_is_a_config_error_with_the_sweep_to_run(tmp_path: Path) -> None:
    path = experiment(tmp_path, defaults={"learning_rate": "tuned"})
    config = load_config(path)
    with pytest.raises(ConfigError) as info:
        resolve_learning_rates(config)
    issues = {i.path: i.message for i in info.value.issues}
    assert set(issues) == {"models[0].learning_rate"}  # llama sets its own rate
    assert "no tuned learning rate for 'bart'" in issues["models[0].learning_rate"]
    assert f"python -m orchestrator tune {path} --only bart" in issues["models[0].learning_rate"]

    write_sweep(config, {"bart": None, "llama": 1e-3})
    with pytest.raises(ConfigError) as info:
        resolve_learning_rates(config, use_tuned=True)
    assert [i.path for i in info.value.issues] == ["--use-tuned"]
    assert "its sweep found none (no trial finished" in info.value.issues[0].message


def test_run_exits_2_before_starting_anything_when_a_tuned_rate_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = experiment(tmp_path)
    assert main(["run", str(path), "--use-tuned", "--only", "llama"]) == 2
    err = capsys.readouterr().err
    assert "no tuned learning rate for 'llama'" in err and "--only llama" in err
    assert not (load_config(path).run_dir / "data").exists()


# --------------------------------------------------------------------------- outputs


def swept(rate: float, status: str, **extra: Any) -> dict[str, Any]:
    return {"trial": f"t{rate:g}", "learning_rate": rate, "status": status, "evaluations": 4 if status == "completed"
            else 1, "wall_s": 20.0, "error": None, **extra}


def test_tune_outputs_and_report_section(tmp_path: Path) -> None:
    config = load_config(experiment(tmp_path))
    run_dir = config.run_dir
    earlier = {"llama": {"status": "ok", "learning_rate": 1e-3, "best": {"trial": "x", "learning_rate": 1e-3,
                                                                          "validation_metric": 20.0}, "trials": []}}
    (run_dir / "tune").mkdir(parents=True)
    (run_dir / "tune" / "tune.json").write_text(json.dumps({"models": earlier}), encoding="utf-8")
    trials = [
        swept(1e-3, "completed", validation_metric=31.5, last_eval_loss=4.1, final_eval_loss=4.1),
        swept(1e-5, "stopped_early", last_eval_loss=8.2),
        swept(1e30, "failed", error="NonFiniteLossError: loss was NaN/inf on 6 steps"),
    ]
    bart = {"status": "ok", "learning_rate": 1e-3, "best": {"trial": "t0.001", "learning_rate": 1e-3,
                                                            "validation_metric": 31.5},
            "reason": None, "evaluations": 4, "scheduler": "ASHA compared trials.", "concurrency": 2,
            "trials": trials, "wall_s": 60.0}
    section = write_tune(config, {"bart": bart}, run_dir)

    assert set(section["models"]) == {"llama", "bart"}  # a sweep of one model keeps the others'
    assert read_json(run_dir / "tune" / "tune.json")["models"]["bart"]["learning_rate"] == 1e-3
    assert (run_dir / "tune" / "learning_rate.png").read_bytes()[:4] == b"\x89PNG"
    rows = (run_dir / "tune" / "trials.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("model,trial,learning_rate,status,evaluations,last_eval_loss")
    assert "validation_rougeL" in rows[0] and len(rows) == 4
    assert any(",failed," in r and "NonFiniteLossError" in r for r in rows)

    text = "\n".join(tune_markdown(section))
    assert "## Learning-rate sweep" in text and "best learning rate **0.001**" in text
    assert "stopped by ASHA after 1 of 4 evaluations" in text and "NonFiniteLossError" in text
    assert "![validation rougeL and eval loss against learning rate](tune/learning_rate.png)" in text

    summary = {"experiment": "tiny", "status": "ok", "metric": "rougeL", "wall_s": 1.0, "run_dir": str(run_dir),
               "cluster": {"cpus": 2, "gpus": 0}, "models": {}, "tune": section}
    report = render_markdown(summary)
    assert report.index("## Candidates") < report.index("## Learning-rate sweep")


# --------------------------------------------------------------------------- the real thing


@pytest.mark.integration
def test_sweep_stops_and_records_trials_then_run_trains_with_the_tuned_rates(tmp_path: Path) -> None:
    """Two tiny candidates, four rates each, two trials at a time on two cores: ASHA stops the
    hopeless small rates after their first epoch, 1e30 fails on its non-finite loss without
    ending the sweep, and `run --use-tuned` trains each candidate at its best rate. Both hand
    their files over through `storage` (a path here): trials and actors work in a scratch copy."""
    from tests.conftest import run_cli

    shared, scratch = tmp_path / "shared", tmp_path / "scratch"
    raw = tiny_experiment(tmp_path, models(), ensemble={"strategy": "none"},
                          tune={"learning_rate": {"values": [1e-3, 1e30, 1e-5, 3e-5]}},
                          storage={"uri": str(shared), "scratch_dir": str(scratch)}, tracking=["mlflow"])
    raw["data"]["builtin"].update(train_size=64)
    del raw["defaults"]["max_steps"]
    raw["defaults"]["epochs"] = 4
    path = write_yaml(tmp_path / "exp.yaml", raw)
    run_dir = load_config(path).run_dir

    proc = run_cli("tune", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "evaluation 1/4" in proc.stdout and "best learning rate" in proc.stdout
    section = read_json(run_dir / "tune" / "tune.json")
    stopped = 0
    for name in ("bart", "llama"):
        model = section["models"][name]
        trials = {t["learning_rate"]: t for t in model["trials"]}
        assert sorted(trials) == [1e-5, 3e-5, 1e-3, 1e30] and model["evaluations"] == 4
        assert trials[1e30]["status"] == "failed" and trials[1e30]["failure_kind"] == "non_finite_loss"
        assert "NonFiniteLossError" in trials[1e30]["error"] and Path(trials[1e30]["log"]).is_file()
        assert trials[1e-3]["status"] == "completed" and trials[1e-3]["evaluations"] == 4
        assert trials[1e-3]["validation_metric"] is not None
        assert model["best"]["learning_rate"] == model["learning_rate"]
        assert trials[model["learning_rate"]]["status"] == "completed"
        stopped += model["counts"]["stopped_early"]
        for t in model["trials"]:
            assert Path(t["dir"]).is_relative_to(run_dir / "tune" / "trials" / name)
            assert not (Path(t["dir"]) / "checkpoint").exists()
            stored = shared / "tiny" / Path(t["dir"]).relative_to(run_dir)
            assert (stored / "train.log").is_file() and (Path(t["dir"]) / "train.log").is_file()
            # resumable checkpoints went to storage while the trial trained; a finished sweep removes them
            assert not (stored / "trainer").exists() and not (Path(t["dir"]) / "trainer").exists()
        (node,) = scratch.iterdir()  # one node: every trial worked in its copy, removed when the sweep ended
        assert not any(node.iterdir()), list(node.rglob("*"))[:5]
    assert stopped >= 1, section
    trials_are_tracked_runs(run_dir, section)
    assert not (run_dir / "models").exists()  # trials never touch run's checkpoints
    assert (run_dir / "tune" / "learning_rate.png").is_file() and (run_dir / "tune" / "trials.csv").is_file()

    proc = run_cli("run", str(path), "--use-tuned", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = resolve_learning_rates(load_config(path), use_tuned=True)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    for name in ("bart", "llama"):
        tuned = section["models"][name]["learning_rate"]
        assert saved["resolved_settings"][name]["learning_rate"] == tuned
        manifest = read_json(run_dir / "models" / name / "checkpoint" / "manifest.json")
        assert manifest["fingerprint"] == config.fingerprint(config.candidate(name), run_data_files(run_dir))
        assert read_json(shared / "tiny" / "models" / name / "checkpoint" / "manifest.json") == manifest
    summary = read_json(run_dir / "summary.json")
    assert summary["status"] == "ok" and set(summary["tune"]["models"]) == {"bart", "llama"}
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "## Learning-rate sweep" in report and "(tune/learning_rate.png)" in report
    client, parent, runs = mlflow_runs(run_dir)
    assert {"bart", "llama"} <= set(runs)  # `run` joined the sweep's experiment run (one parent, not two)
    assert runs["bart"].data.tags["mlflow.parentRunId"] == parent.info.run_id


def mlflow_runs(run_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'tracking' / 'mlflow.db'}")
    found = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    (parent,) = [r for r in found if r.info.run_name == "tiny"]
    return client, parent, {r.info.run_name: r for r in found if r is not parent}


def trials_are_tracked_runs(run_dir: Path, section: dict[str, Any]) -> None:
    """Each trial is one MLflow run under the experiment's, written from its own trial actor:
    its learning rate, its curve, and how it ended (failed, stopped by ASHA, or completed)."""
    client, parent, runs = mlflow_runs(run_dir)
    for name in ("bart", "llama"):
        tracked = {float(r.data.params["learning_rate"]): r for n, r in runs.items() if n.startswith(f"{name}/")}
        assert sorted(tracked) == [1e-5, 3e-5, 1e-3, 1e30]
        for trial in section["models"][name]["trials"]:
            run = tracked[trial["learning_rate"]]
            assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
            expected = {"failed": ("FAILED", "failed"), "completed": ("FINISHED", "succeeded"),
                        "stopped_early": ("FINISHED", "stopped_early")}[trial["status"]]
            assert (run.info.status, run.data.tags["status"]) == expected, trial
        assert tracked[1e30].data.tags["failure.kind"] == "non_finite_loss"
        assert len(client.get_metric_history(tracked[1e-3].info.run_id, "eval/loss")) >= 4


@pytest.mark.integration
def test_a_trial_that_hangs_while_loading_ends_at_the_load_limit(tmp_path: Path) -> None:
    """A trial's training runs under `run`'s supervisor, so all four limits hold: a model that
    hangs in `__init__` ends at `load` (20 s here), not at `total` (600 s)."""
    from tests.conftest import run_cli
    from tests.faults import faulty_bart

    hangs = {"name": "hangs", "source": str(faulty_bart(tmp_path / "h", "hang_init")), "family": "seq2seq",
             "trust_remote_code": True}
    raw = tiny_experiment(tmp_path, [hangs], ensemble={"strategy": "none"},
                          tune={"learning_rate": {"values": [1e-3]}, "scheduler": "none"})
    raw["defaults"]["timeouts"] = {"load": 20, "first_step": 240, "stall": 240, "total": 600}
    path = write_yaml(tmp_path / "exp.yaml", raw)

    proc = run_cli("tune", str(path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    model = read_json(load_config(path).run_dir / "tune" / "tune.json")["models"]["hangs"]
    [trial] = model["trials"]
    assert trial["status"] == "failed" and trial["failure_kind"] == "timeout"
    assert "timed out in phase loading: the load limit of 20 s passed" in trial["error"]
    assert trial["wall_s"] < 120 and Path(trial["log"]).is_file()


@pytest.mark.integration
def test_a_stopped_then_killed_sweep_resumes_with_its_finished_trial_kept_and_the_running_one_continued(
    tmp_path: Path,
) -> None:
    """Ctrl-C (SIGINT) of `tune` while its second trial trains: the trial saves a checkpoint where
    it is, the sweep ends `interrupted` with exit 130 and the command that resumes. The rerun
    restores the sweep (Ray Tune's restore) and the trial continues from that step; SIGKILL of
    that rerun and its node's scratch copy lost, then a third `tune`: the trial continues from
    the checkpoints it pushed to `storage` as it trained, and the first trial never ran again."""
    import contextlib
    import shutil
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from contract.atomic import read_json as read_note
    from tests.conftest import child_env, wait_for_all_but_agents

    scratch = tmp_path / "scratch"
    raw = tiny_experiment(tmp_path, [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}],
                          ensemble={"strategy": "none"},
                          tune={"learning_rate": {"values": [1e-3, 2e-3]}, "scheduler": "none", "max_concurrent": 1},
                          storage={"uri": str(tmp_path / "shared"), "scratch_dir": str(scratch)})
    raw["defaults"].update(max_steps=150, checkpoint_every=25)
    path = write_yaml(tmp_path / "exp.yaml", raw)
    run_dir = load_config(path).run_dir
    trials_dir = run_dir / "tune" / "trials" / "bart"
    command = [sys.executable, "-m", "orchestrator", "tune", str(path)]
    env = child_env()

    def running() -> tuple[Path | None, int]:  # the trial training in the node's copy, and its step
        for progress in sorted(scratch.glob("*/*/tune/trials/bart/*/trainer/progress.json")):
            trial, note = trials_dir / progress.parents[1].name, read_note(progress)
            if not (trial / "metrics.json").exists() and isinstance(note, dict):
                return trial, int(note.get("step", 0))
        return None, 0

    def signal_when(driver: subprocess.Popen[str], ready: Callable[[Path, int, float], bool], signum: int) -> tuple[Path, int]:
        deadline, seen = time.monotonic() + 600, {}
        while True:
            assert driver.poll() is None and time.monotonic() < deadline, "the sweep ended before the signal"
            trial, step = running()
            if trial is not None and list(trials_dir.glob("*/metrics.json")):
                if ready(trial, step, time.monotonic() - seen.setdefault(trial, time.monotonic())):
                    driver.send_signal(signum)
                    return trial, step
            time.sleep(0.2)

    # 1. Ctrl-C in mid-training of the second trial, away from a periodic checkpoint
    driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        trial, stopped_at = signal_when(driver, lambda _t, step, _s: step >= 40 and step % 25 not in (0, 24),
                                        signal.SIGINT)
        output, _ = driver.communicate(timeout=300)
    finally:
        driver.kill()
    assert driver.returncode == 130, output[-3000:]
    assert f"resume the sweep with: python -m orchestrator tune {path}" in output, output[-3000:]
    (first,) = [p.parent for p in trials_dir.glob("*/metrics.json")]
    first_log = (first / "train.log").stat().st_mtime_ns
    model = read_json(run_dir / "tune" / "tune.json")["models"]["bart"]
    assert model["status"] == "interrupted" and model["learning_rate"] is None, model
    row = next(t for t in model["trials"] if t["trial"] == trial.name)
    assert row["status"] == "interrupted" and row["resumes_from_step"] >= stopped_at, (row, stopped_at)
    saved_at = row["resumes_from_step"]

    # 2. the rerun continues the trial from the step it saved at; SIGKILL past its next periodic
    # checkpoint (Tune's saved state still has the trial unfinished, from the stop)
    driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              text=True)
    try:
        signal_when(driver, lambda _t, step, _s: step >= saved_at + 30, signal.SIGKILL)
        processes = psutil.Process(driver.pid).children(recursive=True)
    finally:
        driver.kill()
        driver.wait()
    # the machine is lost: its processes go (they outlive the driver for a while) and its disk with them
    alive, agents = wait_for_all_but_agents(processes, timeout=60)
    for process in alive + agents:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    shutil.rmtree(scratch)

    # 3. the sweep finishes: both trials completed, the first one as it first ran
    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    model = read_json(run_dir / "tune" / "tune.json")["models"]["bart"]
    assert model["resumed"] and model["counts"]["completed"] == 2, model
    assert (first / "train.log").stat().st_mtime_ns == first_log  # the finished trial did not run again
    continued = read_json(trial / "metrics.json")
    assert continued["resumed_from_step"] >= saved_at + 25 and continued["steps"] == 150, continued
    row = next(t for t in model["trials"] if t["trial"] == trial.name)
    assert row["status"] == "completed" and row["resumed_from_step"] == continued["resumed_from_step"], row
    assert not list(trials_dir.glob("*/trainer")), "a finished sweep keeps no resumable checkpoints"


def test_a_data_parallel_candidate_sweeps_in_one_process_at_the_same_effective_batch() -> None:
    from contract.settings import Resources, TrainingSettings
    from orchestrator.stages.tune_search import one_process

    settings = TrainingSettings(batch_size=16, gradient_accumulation=2, resources=Resources(cpus=1, workers=4))
    trial = one_process(settings)
    assert (trial.batch_size, trial.gradient_accumulation, trial.resources.workers) == (4, 8, 1)
    assert trial.batch_size * trial.gradient_accumulation == settings.batch_size * settings.gradient_accumulation
    assert one_process(trial) is trial
