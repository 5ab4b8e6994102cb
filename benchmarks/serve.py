"""`serve` under load, as a user would measure it: a real run served over HTTP on loopback.

A run (or `--run-dir`, any finished run) is served with `python -m orchestrator serve --model
NAME` twice: with Serve's dynamic batching at the batch size the optimize stage recommended, and
with batching off (`--no-batching`). A real HTTP client (httpx, asyncio) keeps `concurrency`
requests of one validation dialogue each in flight, for a bounded number of requests or a time
limit, after a warm-up; each level is measured `repeats` times, the two servers alternating.
Side by side: samples/s (median [min-max]) and p50/p95/p99 latency per level, the optimize
stage's own samples/s for that variant and batch size, and the goals:
- with batching, throughput at concurrency >= the batch size is >= 70 % of the offline figure;
- batching beats batching-off by >= 2x at concurrency 16;
- p95 latency within `optimize.latency_slo_ms` at concurrency 1.
The run's summary.json gets a `serving` section, so its report shows these figures.

    python benchmarks/serve.py [--run-dir RUN_DIR --model NAME] [--levels 1 4 16 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import RESULTS_DIR, progress, write_json  # noqa: E402
from benchmarks.report import serve_section  # noqa: E402

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
LATENCY_SLO_MS = 500  # the run's optimize.latency_slo_ms: bounds the batch size and Serve's batch wait


def build_run(workdir: Path, steps: int) -> tuple[Path, str]:
    """A real run to serve: one tiny BART trained on the built-in data and optimized (fp32 and
    torch_dynamic INT8, batch sizes 1 to 32, a 500 ms latency SLO)."""
    import yaml

    raw = {
        "experiment": "serve-bench", "output_dir": str(workdir / "runs"),
        "task": {"type": "summarization", "language": "ko"},
        "data": {"builtin": {"train_size": 400, "validation_size": 64, "test_size": 32}},
        "ray": {"dashboard": False},
        "defaults": {"max_steps": steps, "batch_size": 16, "eval_batch_size": 16, "learning_rate": 2e-3,
                     "max_source_length": 192, "max_target_length": 48, "generation": {"max_new_tokens": 24},
                     "resources": {"cpus": 1}},
        "models": [{"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"}],
        "optimize": {"enabled": True, "backends": ["torch_dynamic"], "batch_sizes": [1, 2, 4, 8, 16, 32],
                     "warmup": 1, "repeats": 3, "latency_slo_ms": LATENCY_SLO_MS},
    }
    config = workdir / "serve-bench.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(config)], cwd=workdir, env=ENV,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"the run to serve failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return workdir / "runs" / "serve-bench", "bart"


class Server:
    """`python -m orchestrator serve RUN_DIR ARGS` in its own process, on a free loopback port,
    ready once it prints how to call it (RuntimeError, with its output, if it does not within
    `ready_within_s`); `stop` sends SIGINT, as a user's Ctrl-C, and returns its exit status."""

    def __init__(self, run_dir: Path, *args: str, ready_within_s: float = 600):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "serve", str(run_dir), "--port",
                                      str(self.port), *args], env=ENV, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                if "Ctrl-C stops it" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(ready_within_s):
            self.proc.kill()
            raise RuntimeError("serve did not become ready:\n" + "".join(self.lines))
        self.ready_s = time.perf_counter() - started

    def info(self) -> dict[str, Any]:
        import httpx

        return dict(httpx.get(self.url + "/v1/info", timeout=30).json())

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


async def drive(url: str, texts: list[str], concurrency: int, requests: int, time_limit_s: float) -> dict[str, Any]:
    """`concurrency` clients, each sending one text per request until `requests` were sent or
    the time limit passed: samples/s over the level, latency percentiles, errors."""
    import httpx

    latencies: list[float] = []
    batches: list[int] = []  # how many inputs the model call that answered each request predicted
    errors: list[str] = []
    sent = 0
    deadline = time.perf_counter() + time_limit_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def one(text: str) -> None:
            began = time.perf_counter()
            response = await client.post("/v1/summarize", json={"input": text})
            if response.status_code == 200:
                latencies.append(time.perf_counter() - began)
                batches.append(int(response.json().get("batch_size", 1)))
            else:
                errors.append(f"{response.status_code}: {response.text[:200]}")

        async def client_loop() -> None:
            nonlocal sent
            while sent < requests and time.perf_counter() < deadline:
                text = texts[sent % len(texts)]
                sent += 1
                await one(text)

        await asyncio.gather(*(one(texts[i % len(texts)]) for i in range(concurrency)))  # warm-up, not counted
        latencies.clear()
        batches.clear()
        began = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    ordered = sorted(latencies)

    def pct(q: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else None

    return {"concurrency": concurrency, "completed": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "wall_s": round(wall, 3), "samples_per_s": round(len(latencies) / wall, 3) if wall else None,
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "mean_ms": round(statistics.mean(ordered) * 1000, 2) if ordered else None,
            "mean_batch": round(statistics.mean(batches), 2) if batches else None}


def run(run_dir: str | None = None, model: str | None = None, levels: tuple[int, ...] = (1, 4, 16, 64),
        repeats: int = 3, steps: int = 200, requests_per_client: int = 16, min_requests: int = 64,
        time_limit_s: float = 60.0) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        return _run(workdir, run_dir, model, levels, repeats, steps, requests_per_client, min_requests, time_limit_s)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(workdir: Path, run_dir: str | None, model: str | None, levels: tuple[int, ...], repeats: int, steps: int,
         requests_per_client: int, min_requests: int, time_limit_s: float) -> dict[str, Any]:
    if run_dir is None:
        progress("  serve: training and optimizing a tiny BART to serve")
        started = time.perf_counter()
        path, model = build_run(workdir, steps)
        progress(f"  serve: run ready in {time.perf_counter() - started:.0f} s")
    else:
        path = Path(run_dir).resolve()
        if model is None:
            raise ValueError("--model names the model to serve from --run-dir")
    assert model is not None
    optimize = json.loads((path / "optimize" / model / "optimize.json").read_text(encoding="utf-8"))
    config = _run_config(path)
    texts = [json.loads(line)[config["input_column"]]
             for line in (path / "data" / "validation.jsonl").read_text(encoding="utf-8").splitlines()]
    result: dict[str, Any] = {"run_dir": str(path), "model": model, "levels": list(levels), "repeats": repeats,
                              "cpus": os.cpu_count(), "recommendation": optimize["recommendation"],
                              "latency_slo_ms": config["latency_slo_ms"], "servers": {}, "runs": {}}
    servers = {"batched": (), "unbatched": ("--no-batching",)}
    for repeat in range(repeats):
        order = list(servers) if repeat % 2 == 0 else list(reversed(servers))
        for name in order:
            server = Server(path, "--model", model, *servers[name])
            try:
                result["servers"].setdefault(name, {"info": server.info(), "ready_s": []})["ready_s"].append(
                    round(server.ready_s, 2))
                for concurrency in levels:
                    requests = max(min_requests, requests_per_client * concurrency)
                    level = asyncio.run(drive(server.url, texts, concurrency, requests, time_limit_s))
                    result["runs"].setdefault(name, {}).setdefault(str(concurrency), []).append(level)
                    progress(f"  serve: repeat {repeat + 1}/{repeats} {name} concurrency {concurrency}: "
                             f"{level['samples_per_s']} samples/s, p95 {level['p95_ms']} ms, {level['errors']} errors")
            finally:
                server.stop()
    _record_in_run(path, result)
    return result


def _run_config(run_dir: Path) -> dict[str, Any]:
    from orchestrator.config import load_run_config

    config = load_run_config(run_dir)
    return {"input_column": config.task.resolved_input_column(), "latency_slo_ms": config.optimize.latency_slo_ms}


def _record_in_run(run_dir: Path, result: dict[str, Any]) -> None:
    """The run's summary.json gets the `serving` section (and its report the Serving section)."""
    from benchmarks.report import serve_figures
    from contract.atomic import read_json
    from orchestrator.report.summary import write_summary
    from orchestrator.runlock import RunLock

    with RunLock(run_dir, "serve benchmark"):
        summary = read_json(run_dir / "summary.json")
        summary["serving"] = {"model": result["model"], "levels": result["levels"], "repeats": result["repeats"],
                              "recommendation": result["recommendation"],
                              "latency_slo_ms": result["latency_slo_ms"], "figures": serve_figures(result)}
        write_summary(summary, run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", help="a finished run with optimize results (default: train a tiny one)")
    parser.add_argument("--model", help="the model of --run-dir to serve")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per level at most")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "serve.json")
    args = parser.parse_args()
    result = run(args.run_dir, args.model, tuple(args.levels), args.repeats, time_limit_s=args.time_limit)
    write_json(args.out, result)
    print("\n".join(serve_section(result)))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
