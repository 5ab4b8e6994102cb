"""Preflight: broken candidates are caught in seconds, before any actor starts, each alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contract.hardware import Hardware, cpu_hardware
from contract.preflight import GiB
from orchestrator.config import validate_raw
from orchestrator.preflight import InspectionChild, local_probe, run_preflight
from tests.conftest import tiny_experiment
from tests.faults import corrupt_weights, drop_tokenizer, faulty_bart, tiny_bart


@pytest.fixture(scope="module")
def child() -> Iterator[InspectionChild]:
    """One inspection process for the module's preflights, as a run keeps one for all its
    candidates: each new one spends seconds importing torch and transformers."""
    with InspectionChild() as inspection:
        yield inspection


def verdicts(tmp_path: Path, child: InspectionChild | None, models: list[dict[str, Any]],
             **defaults: Any) -> dict[str, Any]:
    raw = tiny_experiment(tmp_path, models)
    raw["defaults"].update(defaults)
    config = validate_raw(raw)
    return run_preflight(config, config.run_dir, local_probe, 0.0, child)


def failed_check(verdict: Any) -> tuple[str, str, str]:
    check = next(c for c in verdict.checks if c.status == "fail")
    return check.name, check.detail, check.fix or ""


def test_healthy_candidates_pass(tmp_path: Path, child: InspectionChild) -> None:
    result = verdicts(tmp_path, child, [
        {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"},
        {"name": "local", "source": str(tiny_bart(tmp_path / "local")), "family": "seq2seq"},
        {"name": "qlora", "source": "scratch:llama-tiny", "family": "causal", "lora": {}, "quantization": "4bit"},
    ])
    assert all(v.ok for v in result.values()), {n: v.reason for n, v in result.items()}
    assert result["bart"].estimate_bytes and result["bart"].estimate_bytes > 0


def test_each_broken_candidate_is_failed_alone_with_its_fix(tmp_path: Path, child: InspectionChild) -> None:
    result = verdicts(tmp_path, child, [
        {"name": "ok", "source": "scratch:bart-tiny", "family": "seq2seq"},
        {"name": "gone", "source": str(tmp_path / "does-not-exist"), "family": "seq2seq"},
        {"name": "no-tokenizer", "source": str(drop_tokenizer(tiny_bart(tmp_path / "nt"))), "family": "seq2seq"},
        {"name": "corrupt", "source": str(corrupt_weights(tiny_bart(tmp_path / "cw"))), "family": "seq2seq"},
        {"name": "custom-code", "source": str(faulty_bart(tmp_path / "cc")), "family": "seq2seq"},
        {"name": "bad-lora", "source": "scratch:llama-tiny", "family": "causal",
         "lora": {"target_modules": ["q_proj", "query_key_value"]}},
        {"name": "fp16-on-cpu", "source": "scratch:t5-tiny", "family": "seq2seq", "precision": "fp16"},
        {"name": "hub", "source": "no-org/not-cached", "family": "seq2seq"},
    ])
    assert result["ok"].ok
    expectations = {
        "gone": ("source", "does not exist", "source"),
        "no-tokenizer": ("source", "no tokenizer", "tokenizer.save_pretrained"),
        "corrupt": ("source", "model.safetensors is damaged", "save it again"),
        "custom-code": ("remote_code", "custom", "trust_remote_code: true"),
        "bad-lora": ("lora", "'query_key_value' not in this architecture", "q_proj"),
        "fp16-on-cpu": ("precision", "needs a CUDA GPU", "precision: fp32"),
        "hub": ("source", "not in the local cache", "source"),
    }
    for name, (check, detail, fix) in expectations.items():
        got = failed_check(result[name])
        assert got[0] == check and detail in got[1] and fix in got[2], (name, got)


def test_memory_estimate_against_the_actors_memory(tmp_path: Path, child: InspectionChild) -> None:
    result = verdicts(
        tmp_path, child,
        [{"name": "big", "source": "scratch:bart-small", "family": "seq2seq"}],
        resources={"cpus": 1, "memory_gb": 0.01},
    )
    name, detail, fix = failed_check(result["big"])
    assert name == "memory" and "0.0 GiB of host memory" in detail and "lora" in fix


def test_a_fraction_of_a_gpu_is_checked_against_that_fraction_of_its_memory(tmp_path: Path, child: InspectionChild) -> None:
    """`resources.gpus: 0.5` shares a GPU: the memory check counts half the device. A stand-in
    80 GiB-class probe answers as a GPU machine would; the checks run on the meta device."""
    model = [{"name": "small", "source": "scratch:bart-small", "family": "seq2seq"}]

    def gpu(memory: int) -> Callable[[bool], Hardware]:
        return lambda wants_gpu: Hardware("cuda", True, "stand-in GPU", memory) if wants_gpu else cpu_hardware()

    config = validate_raw(tiny_experiment(tmp_path, model))
    estimate = run_preflight(config, config.run_dir, gpu(80 * GiB), 1.0, child)["small"].estimate_bytes
    assert estimate
    device = int(estimate * 1.5)  # a whole GPU holds it, half of one does not
    for share, fits in ((1, True), (0.5, False)):
        raw = tiny_experiment(tmp_path, model)
        raw["defaults"]["resources"] = {"cpus": 1, "gpus": share}
        config = validate_raw(raw)
        verdict = run_preflight(config, config.run_dir, gpu(device), 1.0, child)["small"]
        assert verdict.ok is fits, verdict.reason
    name, detail, fix = failed_check(verdict)
    assert name == "memory" and f"gets {device * 0.5 / GiB:.1f} GiB of GPU memory (resources.gpus 0.5 of a" in detail
    assert "raise resources.gpus" in fix


def test_each_worker_is_checked_for_what_it_holds_whole_with_ddp_a_share_with_fsdp(
        tmp_path: Path, child: InspectionChild) -> None:
    """Four workers of one GPU each: with ddp every worker holds the model, its gradients and its
    optimizer state, with fsdp a quarter of them. On a stand-in GPU sized between the two, ddp
    fails (with fsdp as the fix) and fsdp fits; on CPUs, fsdp is said to train as ddp."""
    model = [{"name": "small", "source": "scratch:bart-small", "family": "seq2seq"}]

    def gpu(memory: int) -> Callable[[bool], Hardware]:
        return lambda wants_gpu: Hardware("cuda", True, "stand-in GPU", memory) if wants_gpu else cpu_hardware()

    def preflight(strategy: str, probe: Callable[[bool], Hardware], cluster_gpus: float) -> Any:
        raw = tiny_experiment(tmp_path, model)
        raw["defaults"].update(batch_size=8, resources={"cpus": 1, "gpus": 4, "strategy": strategy})
        config = validate_raw(raw)
        return run_preflight(config, config.run_dir, probe, cluster_gpus, child)["small"]

    whole = preflight("ddp", gpu(80 * GiB), 4.0).estimate_bytes
    quarter = preflight("fsdp", gpu(80 * GiB), 4.0).estimate_bytes
    assert whole and quarter and quarter < whole / 2
    device = (whole + quarter) // 2
    ddp, fsdp = preflight("ddp", gpu(device), 4.0), preflight("fsdp", gpu(device), 4.0)
    assert fsdp.ok and not ddp.ok
    name, detail, fix = failed_check(ddp)
    assert name == "memory" and "per worker (4 workers, ddp: each holds the whole model)" in detail
    assert fix.startswith("resources.strategy: fsdp")
    on_cpus = preflight("fsdp", local_probe, 0.0)
    strategy = next(c for c in on_cpus.checks if c.name == "strategy")
    assert strategy.status == "warn" and "on CPUs the workers train with ddp" in strategy.detail


def test_granted_remote_code_is_not_built_in_the_driver(tmp_path: Path) -> None:
    """A checkpoint whose code hangs in __init__ must not hang preflight."""
    result = verdicts(tmp_path, None, [{  # its own inspection process: this code hangs if it is ever built
        "name": "hangs", "source": str(faulty_bart(tmp_path / "h", "hang_init")),
        "family": "seq2seq", "trust_remote_code": True,
    }])
    assert result["hangs"].ok
    memory = next(c for c in result["hangs"].checks if c.name == "memory")
    assert memory.status == "warn" and "inside its actor" in memory.detail


@pytest.mark.parametrize("command", [["validate"]])
def test_validate_prints_the_preflight_table(tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.cli import main
    from tests.conftest import write_yaml

    raw = tiny_experiment(tmp_path, [
        {"name": "ok", "source": "scratch:bart-tiny", "family": "seq2seq"},
        {"name": "gone", "source": str(tmp_path / "nothing-here"), "family": "seq2seq"},
    ])
    assert main([*command, str(write_yaml(tmp_path / "e.yaml", raw))]) == 0
    out = capsys.readouterr().out
    assert "preflight" in out and "does not exist" in out and "1 ready" in out


def test_the_disk_check_adds_up_the_candidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import collections

    from orchestrator import preflight

    models = [{"name": n, "source": "scratch:bart-tiny", "family": "seq2seq"} for n in ("one", "two", "three")]
    config = validate_raw(tiny_experiment(tmp_path, models))
    params = 10_000_000  # 40 MB of fp32 weights: 8 x 40 MB with two resumable checkpoints, the final one and the base
    need = preflight.disk_need(params, config.models[0])
    assert need == 8 * params * 4
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda _path: usage(0, 0, int(2.5 * need)))
    checks = preflight._disk_checks({c.name: (c, params) for c in config.models}, tmp_path)
    assert [checks[n].status for n in ("one", "two", "three")] == ["ok", "ok", "fail"]
    assert "together with one, two" in checks["three"].detail and "--only" in checks["three"].fix
