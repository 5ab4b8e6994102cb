"""During a real run, the Ray dashboard (on 127.0.0.1 only) lists our named actors with their
states, and `status` prints the live table from another process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import load_config
from tests.conftest import child_env, tiny_experiment, write_yaml

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def auth_header() -> dict[str, str]:
    """Ray 2.60 protects the dashboard's HTTP API with a token (FACTS.md)."""
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    return {"Authorization": f"Bearer {path.read_text().strip()}"} if path.is_file() else {}


def list_actors(port: int) -> list[dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v0/actors?detail=1&limit=1000",
                                     headers=auth_header())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]["result"]["result"]


def test_dashboard_lists_named_actors_and_status_works_from_another_process(tmp_path: Path) -> None:
    port = free_port()
    raw = tiny_experiment(tmp_path, [
        {"name": "bart", "source": "scratch:bart-tiny", "family": "seq2seq"},
        {"name": "llama", "source": "scratch:llama-tiny", "family": "causal"},
    ], ensemble={"strategy": "none"})
    raw["ray"] = {"dashboard": True, "dashboard_port": port, "num_cpus": 2}
    raw["defaults"].update(max_steps=80, resources={"cpus": 1})
    config_path = write_yaml(tmp_path / "exp.yaml", raw)
    run_dir = load_config(config_path).run_dir
    env = child_env()
    run = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", str(config_path)], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen: dict[str, str] = {}
        status_output = ""
        deadline = time.time() + 240
        while time.time() < deadline and run.poll() is None:
            try:
                actors = list_actors(port)
            except OSError:  # the dashboard is still starting
                time.sleep(1)
                continue
            seen.update({a["name"]: a["state"] for a in actors if a.get("name")})
            if seen.get("train/bart") == "ALIVE" and seen.get("train/llama") == "ALIVE":
                status = subprocess.run([sys.executable, "-m", "orchestrator", "status", str(run_dir)], env=env,
                                        capture_output=True, text=True, timeout=60)
                status_output = status.stdout
                break
            time.sleep(1)
        output, _ = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, output
    assert seen.get("train/bart") == "ALIVE" and seen.get("train/llama") == "ALIVE", seen
    assert any(name.startswith("status/") for name in seen), seen  # the status board actor
    assert f"Ray dashboard: http://127.0.0.1:{port}" in output
    assert "running" in status_output and "bart" in status_output and "llama" in status_output, status_output
    after = subprocess.run([sys.executable, "-m", "orchestrator", "status", str(run_dir)], env=env,
                           capture_output=True, text=True, timeout=60)
    assert after.returncode == 0 and after.stdout.count("succeeded") >= 2, after.stdout


def test_dashboard_listens_on_loopback_only_by_default() -> None:
    from orchestrator.config import RayConfig

    assert RayConfig().dashboard_host == "127.0.0.1"
