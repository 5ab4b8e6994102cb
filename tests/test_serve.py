"""`serve`: a finished run behind HTTP on Ray Serve, driven with real requests.

The shared finished run (three members, a stacking ensemble, bart optimized) serves as the
ensemble and as one batched model. The HTTP checks use a real client on loopback against `python -m
orchestrator serve` in its own process, stopped with SIGINT as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from benchmarks.serve import Server as ServeProcess
from orchestrator.config import ConfigError
from orchestrator.serving.gateway import RequestProblem, parse_inputs
from orchestrator.serving.plan import MAX_BATCH_WAIT_S, Limits, batch_wait_s, plan_serving
from tests.conftest import FinishedRun, process_name, read_json, wait_for_all_but_agents


@pytest.fixture
def run_dir(finished_run: FinishedRun) -> Path:
    """The shared finished run (tests/conftest.py): three members, a stacking ensemble, bart optimized."""
    return finished_run.run_dir


def test_requests_are_parsed_and_limited_before_any_model_sees_them() -> None:
    limits = Limits(max_inputs=3, max_input_chars=10, max_body_bytes=200)
    assert parse_inputs(b'{"input": "a dialogue"}', limits) == (["a dialogue"], False)
    assert parse_inputs(json.dumps({"input": ["one", "two"]}).encode(), limits) == (["one", "two"], True)
    refused = {
        b"{not json": (400, "not JSON"), b'["input"]': (400, "missing field 'input'"),
        b'{"text": "x"}': (400, "missing field 'input'"), b'{"input": []}': (400, "empty list"),
        b'{"input": "  "}': (400, "input is empty"), b'{"input": ["ok", 5]}': (400, "input[1] is int"),
        b'{"input": "eleven char"}': (413, "11 characters; the limit is 10"),
        b'{"input": ["a", "b", "c", "d"]}': (413, "4 texts; the limit is 3"),
        b'{"input": "' + b"x" * 300 + b'"}': (413, "the limit is 200"),
        b'\xff\xfe': (400, "not JSON"),
    }
    for body, (status, words) in refused.items():
        with pytest.raises(RequestProblem) as problem:
            parse_inputs(body, limits)
        assert problem.value.status == status and words in str(problem.value), (body, problem.value)


def test_a_lone_request_waits_for_a_batch_only_as_long_as_the_slo_allows() -> None:
    assert batch_wait_s(2000, 120) == MAX_BATCH_WAIT_S  # plenty of headroom: the cap
    assert batch_wait_s(100, 80) == 0.02  # the SLO leaves 20 ms after a full batch
    assert batch_wait_s(100, 150) == 0.0  # none left: no waiting at all
    assert batch_wait_s(None, 80) == batch_wait_s(100, None) == 0.01  # nothing measured: Serve's default


def test_a_classifier_answers_with_its_label_and_each_class_probability() -> None:
    from types import SimpleNamespace

    from orchestrator.serving.gateway import Gateway
    from orchestrator.serving.plan import ServePlan

    job = SimpleNamespace(name="intents", labels=("greeting", "refund"))
    served = SimpleNamespace(job=job, variant="fp32", max_batch_size=8)
    plan = ServePlan(Path("run"), "x", "classification", "text", "ko", [served], {}, None)  # type: ignore[list-item]
    assert plan.route == "/v1/classify"
    output = Gateway(plan, Limits(), {})._output({"prediction": "refund", "probabilities": [0.25, 0.75]})
    assert output == {"label": "refund", "probabilities": {"greeting": 0.25, "refund": 0.75}}


@pytest.mark.integration
def test_what_is_served_comes_from_the_runs_own_files(run_dir: Path) -> None:
    best = plan_serving(run_dir)  # the run chose stacking on validation: --best serves the ensemble
    ensemble = read_json(run_dir / "ensemble" / "ensemble.json")
    assert best.ensemble is not None and best.ensemble.method == ensemble["chosen"]
    assert [s.job.name for s in best.served] == ensemble["members"] and {s.variant for s in best.served} == {"fp32"}
    assert best.test_metrics == read_json(run_dir / "summary.json")["ensemble"]["scores"][ensemble["chosen"]]["test"]

    bart = plan_serving(run_dir, model="BART")  # names match as everywhere: case and _/- do not matter
    recommended = read_json(run_dir / "optimize" / "bart" / "optimize.json")["recommendation"]
    (served,) = bart.served
    assert (served.variant, served.max_batch_size) == (recommended["variant"], recommended["batch_size"])
    assert bart.route == "/v1/summarize" and bart.ensemble is None
    dynamic = plan_serving(run_dir, model="bart", variant="torch_dynamic").served[0]
    assert dynamic.variant == "torch_dynamic" and Path(dynamic.path).is_relative_to(run_dir / "models" / "bart")
    t5 = plan_serving(run_dir, model="t5").served[0]  # not optimized: fp32 at its eval batch size, and a note why
    assert (t5.variant, t5.max_batch_size) == ("fp32", 16)

    for kwargs, words in [({"model": "bert"}, "no candidate of that name"),
                          ({"model": "bart", "variant": "bitsandbytes"}, "choose one of: auto, fp32, torch_dynamic, onnxruntime"),
                          ({"model": "t5", "variant": "torch_dynamic"}, "has no optimize results"),
                          ({"ensemble": True, "variant": "fp32"}, "serves its members in fp32")]:
        with pytest.raises(ConfigError) as error:
            plan_serving(run_dir, **kwargs)  # type: ignore[arg-type]
        assert words in str(error.value), (kwargs, error.value)
    assert main_exit(["serve", str(run_dir.parent)]) == 2  # not a run directory


def main_exit(argv: list[str]) -> int:
    from orchestrator.cli import main

    return main(argv)


class Server(ServeProcess):
    """`serve` in its own process (benchmarks/serve.py), called with a real HTTP client."""

    def __init__(self, run_dir: Path, *args: str):
        super().__init__(run_dir, *args, ready_within_s=300)

    def stop(self) -> int:
        """SIGINT, as a user stops it; then the processes of its Ray cluster must go too (they
        outlive the command by a moment, and a replica Serve was restarting can still start), so
        the next test begins with none."""
        processes = psutil.Process(self.proc.pid).children(recursive=True)
        code = super().stop()
        alive, _ = wait_for_all_but_agents(processes, timeout=60)
        assert not alive, f"left behind by serve: {[process_name(p) for p in alive]}"
        return code

    def call(self, path: str, body: Any = None, *, raw: bytes | None = None, timeout: float = 120) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def serve_processes() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in ps if "ServeReplica" in line or "ServeController" in line or "ProxyActor" in line]


@pytest.fixture
def stopped_cleanly() -> Iterator[None]:
    # What an earlier Serve test started may still be going away (three CI-like runs found the
    # one-model test's controller, proxy and replicas here after its own end check had passed):
    # they get 120 s, and then this test starts clean or fails.
    deadline = time.time() + 120
    while serve_processes() and time.time() < deadline:
        time.sleep(1)
    assert not serve_processes(), "Serve processes from before this test"
    yield
    # Gone for good: three looks in a row find none (a replica Serve was restarting can show up
    # again after a moment without a name of its own).
    deadline, quiet = time.time() + 60, 0
    while quiet < 3 and time.time() < deadline:
        quiet = 0 if serve_processes() else quiet + 1
        time.sleep(0.5)
    assert not serve_processes()


@pytest.mark.integration
@pytest.mark.xdist_group("serve")  # stopped_cleanly looks at every Serve process on the machine
def test_the_ensemble_answers_as_predict_does_and_bad_requests_get_clear_errors(
        run_dir: Path, stopped_cleanly: None) -> None:
    server = Server(run_dir)
    try:
        assert server.call("/healthz") == (200, {"status": "ok"})
        status, info = server.call("/v1/info")
        assert status == 200 and info["method"].startswith("stacking") and info["run_dir"] == str(run_dir.resolve())

        rows = [json.loads(line) for line in (run_dir / "data" / "test.jsonl").read_text(encoding="utf-8").splitlines()]
        status, answer = server.call("/v1/summarize", {"input": [r["dialogue"] for r in rows]})
        assert status == 200, answer
        # The ensemble stage's own test predictions, which `predict` reproduces (tests/test_pipeline.py).
        expected = [json.loads(line)["prediction"] for line in
                    (run_dir / "ensemble" / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines()]
        assert answer["outputs"] == expected and answer["method"] == info["method"]

        for path, body, raw, status, words in [
            ("/v1/summarize", None, b"{oops", 400, "not JSON"),
            ("/v1/summarize", {"text": "x"}, None, 400, "missing field 'input'"),
            ("/v1/summarize", {"input": "x" * 20_001}, None, 413, "the limit is 20000"),
            ("/v1/summarize", {"input": ["x"] * 65}, None, 413, "the limit is 64"),
            ("/v1/classify", {"input": "x"}, None, 404, "use POST /v1/summarize"),
            ("/etc/passwd", None, None, 404, "no route"),
        ]:
            code, error = server.call(path, body, raw=raw)
            assert code == status and words in error["error"], (path, code, error)
        code, error = server.call("/healthz", raw=b"{}")
        assert code == 405 and "takes GET" in error["error"]

        with ThreadPoolExecutor(8) as pool:  # concurrent requests each get their own answer
            answers = list(pool.map(lambda r: server.call("/v1/summarize", {"input": r["dialogue"]}), rows[:8]))
        assert all(code == 200 and isinstance(a["output"], str) for code, a in answers), answers
    finally:
        code = server.stop()
    assert code == 0 and "stopped" in server.lines[-1], "".join(server.lines)


@pytest.mark.integration
@pytest.mark.xdist_group("serve")
def test_one_model_is_batched_and_a_killed_replica_fails_its_requests_then_recovers(
        run_dir: Path, stopped_cleanly: None) -> None:
    server = Server(run_dir, "--model", "bart", "--max-inputs", "2000")
    try:
        _, info = server.call("/v1/info")
        (model,) = info["models"]
        assert model["max_batch_size"] == read_json(run_dir / "optimize" / "bart" / "optimize.json")[
            "recommendation"]["batch_size"]
        status, answer = server.call("/v1/summarize", {"input": ["첫 번째 대화", "두 번째 대화", "세 번째 대화"]})
        assert status == 200 and len(answer["outputs"]) == 3 and answer["batch_size"] >= 3, answer
        with ThreadPoolExecutor(8) as pool:  # one text each, at once: Serve predicts several in one call
            answers = list(pool.map(lambda i: server.call("/v1/summarize", {"input": f"대화 {i}"}), range(16)))
        batches = [a["batch_size"] for code, a in answers if code == 200]
        assert len(batches) == 16 and max(batches) > 1 and max(batches) <= model["max_batch_size"], answers

        replica = replica_pid("model-bart")
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(server.call, "/v1/summarize", {"input": ["긴 대화 " * 40] * 1500})  # ~10 s
            time.sleep(1.5)
            os.kill(replica, signal.SIGKILL)
            code, error = in_flight.result(timeout=120)
        assert code == 503 and "retry" in error["error"], (code, error)

        deadline = time.time() + 120
        while (answer := server.call("/v1/summarize", {"input": "다시 대화"}))[0] != 200 and time.time() < deadline:
            time.sleep(1)
        assert answer[0] == 200 and replica_pid("model-bart") != replica, answer
    finally:
        code = server.stop()
    assert code == 0, "".join(server.lines)


def replica_pid(deployment: str) -> int:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
    pids = [int(line.split()[0]) for line in ps if f"ServeReplica:orchestrator:{deployment}" in line]
    assert len(pids) == 1, ps
    return pids[0]
