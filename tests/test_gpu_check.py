"""benchmarks/gpu_check.py: its configs are valid here (every check it would run is a real
`orchestrator run`), it refuses cleanly without a GPU, and on a GPU machine every check passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, requires_gpu

SCRIPT = str(REPO / "benchmarks" / "gpu_check.py")


def test_its_configs_are_valid_and_without_a_gpu_it_says_so() -> None:
    plan = subprocess.run([sys.executable, SCRIPT, "--plan"], capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert [line.split(":")[0] for line in plan.stdout.splitlines()] == ["plan precision", "plan share", "plan oom"]
    if not torch.cuda.is_available():
        refused = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and "no CUDA device here" in refused.stdout


@pytest.mark.gpu
@requires_gpu()
def test_every_gpu_check_passes(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, SCRIPT, "--out", str(tmp_path / "gpu.json")], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
