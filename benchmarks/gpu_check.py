"""What only a GPU can show, in one command and a few minutes: one line per check, and JSON.

    python benchmarks/gpu_check.py [--out benchmarks/results/gpu_check.json] [--plan]

Three real `orchestrator run`s of tiny candidates on the machine's first GPU:

1. precision and quantization, four candidates sharing the GPU (0.2 each) and the optimize
   stage after them:
   - bf16 training where the device supports it;
   - fp16 with the GradScaler over fp32 master weights (the checkpoint's weights are fp32);
   - the seeds' failing case: a checkpoint saved in bf16 with `precision: fp16` asked, which the
     precision policy trains in bf16 where supported (else fp16 over fp32 master weights);
   - QLoRA: NF4 base weights through bitsandbytes on CUDA, adapters saved;
   - INT8 through bitsandbytes on the GPU (the optimize stage), with its quality check;
   - preflight's GPU memory probe, asked of this GPU before training.
2. two half-GPU candidates (`gpus: 0.5`) training at the same time on the same device;
3. a CUDA out-of-memory, provoked by a 2 % memory share and a large batch, retried at half the
   batch until it fits.

Each check is independent: a failed one prints FAIL with its reason and the next one runs. The
exit status is 1 when any check failed. `--plan` only builds and validates the configs (this
is what the CPU test suite runs); without a CUDA device the script says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import RESULTS_DIR, write_json  # noqa: E402
from orchestrator.config import ExperimentConfig, validate_raw  # noqa: E402

STEPS = 30
OOM_SHARE = 0.02  # of the device's memory: about 1.6 GiB of an 80 GiB GPU
OOM_BATCH = 512


def experiment(name: str, workdir: Path, models: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "experiment": name, "output_dir": str(workdir / "runs"),
        "task": {"type": "summarization", "language": "ko"},
        "data": {"builtin": {"train_size": 256, "validation_size": 32, "test_size": 32}},
        "ray": {"dashboard": False},
        "defaults": {"max_steps": STEPS, "batch_size": 8, "eval_batch_size": 16, "learning_rate": 1e-3,
                     "max_source_length": 192, "max_target_length": 48, "generation": {"max_new_tokens": 16},
                     "resources": {"cpus": 1, "gpus": 0.2},
                     "timeouts": {"load": 300, "first_step": 300, "total": 900, "stall": 240}},
        "models": models, "ensemble": {"strategy": "none"}, "optimize": {"enabled": False}, "tracking": "none",
    }
    raw.update(sections)
    return raw


def plans(workdir: Path, bf16_weights: Path) -> dict[str, dict[str, Any]]:
    """The three runs' raw configs (`bf16_weights`: where the bf16 checkpoint is, or will be)."""
    precision = experiment("gpu-precision", workdir, [
        {"name": "bf16", "source": "scratch:llama-tiny", "family": "causal", "precision": "bf16"},
        {"name": "fp16", "source": "scratch:bart-tiny", "family": "seq2seq", "precision": "fp16"},
        {"name": "bf16-weights-fp16", "source": str(bf16_weights), "family": "causal", "precision": "fp16"},
        {"name": "qlora", "source": "scratch:llama-tiny", "family": "causal", "lora": {}, "quantization": "4bit"},
    ], optimize={"enabled": True, "models": ["fp16"], "backends": ["bitsandbytes"], "batch_sizes": [1, 8],
                 "warmup": 1, "repeats": 2, "max_quality_drop": 5.0})
    shared = experiment("gpu-share", workdir, [
        {"name": "half-a", "source": "scratch:bart-tiny", "family": "seq2seq", "resources": {"cpus": 1, "gpus": 0.5}},
        {"name": "half-b", "source": "scratch:bart-tiny", "family": "seq2seq", "resources": {"cpus": 1, "gpus": 0.5}},
    ])
    shared["defaults"]["max_steps"] = 150  # long enough that the two trainings overlap
    oom = experiment("gpu-oom", workdir, [
        {"name": "oom", "source": "scratch:bart-small", "family": "seq2seq",
         "resources": {"cpus": 1, "gpus": OOM_SHARE}},
    ])
    oom["defaults"].update(batch_size=OOM_BATCH, max_source_length=512, max_steps=4, eval_batch_size=8)
    return {"precision": precision, "share": shared, "oom": oom}


def bf16_checkpoint(directory: Path) -> Path:
    """A tiny Llama saved in bf16 with its tokenizer: the seeds' bf16 model."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from models.data.builtin import generate_summarization
    from models.tokenization import train_bpe_tokenizer

    rows = generate_summarization(128, seed=5)
    tokenizer = train_bpe_tokenizer([r["dialogue"] for r in rows] + [r["summary"] for r in rows], 800, "causal")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def run(raw: dict[str, Any]) -> tuple[ExperimentConfig, dict[str, Any]]:
    from orchestrator.pipeline import run_experiment

    config = validate_raw(raw)
    run_experiment(config, quiet=True)
    return config, json.loads((config.run_dir / "summary.json").read_text(encoding="utf-8"))


def metrics_of(config: ExperimentConfig, name: str) -> dict[str, Any]:
    return json.loads((config.run_dir / "models" / name / "metrics.json").read_text(encoding="utf-8"))


def weights_dtypes(checkpoint: Path) -> set[str]:
    from safetensors import safe_open

    found: set[str] = set()
    for path in checkpoint.glob("*.safetensors"):
        with safe_open(str(path), "pt") as handle:
            found |= {str(handle.get_slice(k).get_dtype()) for k in handle.keys()}  # noqa: SIM118
    return found


class Checks:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, name: str, check: Callable[[], str]) -> None:
        started = time.perf_counter()
        try:
            row = {"check": name, "status": "ok", "detail": check()}
        except Exception as exc:  # noqa: BLE001 - one failed check is that check's line
            row = {"check": name, "status": "fail", "detail": f"{type(exc).__name__}: {exc}"}
        row["seconds"] = round(time.perf_counter() - started, 1)
        self.rows.append(row)
        print(f"{row['status'].upper():4}  {name}: {row['detail']} ({row['seconds']} s)", flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "gpu_check.json")
    parser.add_argument("--plan", action="store_true", help="only build and validate the configs")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        configs = plans(workdir, workdir / "bf16-llama")
        if args.plan:
            for name, raw in configs.items():
                validate_raw(raw)
                print(f"plan {name}: {len(raw['models'])} candidate(s) valid")
            return 0
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device here: the GPU checks need one (run with --plan to check the configs)")
            return 2
        return check_all(configs, workdir, args.out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def check_all(configs: dict[str, dict[str, Any]], workdir: Path, out: Path) -> int:
    import torch

    from models.hardware import detect_hardware
    from orchestrator.preflight import local_probe, run_preflight

    hardware = detect_hardware()
    checks = Checks()
    started = time.perf_counter()
    print(f"device: {hardware.name}, {(hardware.memory_bytes or 0) / 2**30:.1f} GiB, bf16 "
          f"{'supported' if hardware.bf16_supported else 'not supported'}", flush=True)
    bf16_checkpoint(workdir / "bf16-llama")
    raw = configs["precision"]
    if not hardware.bf16_supported:
        raw["models"] = [m for m in raw["models"] if m["name"] != "bf16"]

    def preflight_probe() -> str:
        config = validate_raw(raw)
        verdicts = run_preflight(config, config.run_dir, local_probe, None)
        memory = next(c for c in verdicts["fp16"].checks if c.name == "memory")
        expect(memory.status == "ok" and "resources.gpus 0.2 of a" in memory.detail, memory.detail)
        return memory.detail

    checks.record("preflight GPU memory probe", preflight_probe)
    outcome: dict[str, Any] = {}

    def precision_run() -> str:
        outcome["config"], outcome["summary"] = run(raw)
        statuses = {n: m["status"] for n, m in outcome["summary"]["models"].items()}
        expect(all(s == "succeeded" for s in statuses.values()), f"statuses {statuses}")
        return f"{len(statuses)} candidates trained on one GPU in {outcome['summary']['wall_s']:.0f} s"

    checks.record("precision run", precision_run)

    def precision_of(name: str, expected: str) -> str:
        metrics = metrics_of(outcome["config"], name)
        expect(metrics["precision"] == expected, f"trained in {metrics['precision']}, not {expected}")
        return f"trained in {metrics['precision']}, loss {metrics['metrics']['train_loss']}"

    if hardware.bf16_supported:
        checks.record("bf16 training", lambda: precision_of("bf16", "bf16"))

    def fp16_master_weights() -> str:
        text = precision_of("fp16", "fp16")
        dtypes = weights_dtypes(outcome["config"].run_dir / "models" / "fp16" / "checkpoint")
        expect(dtypes == {"torch.float32"}, f"checkpoint weights {dtypes}")
        return text + "; GradScaler over fp32 master weights (checkpoint fp32)"

    checks.record("fp16 with the GradScaler", fp16_master_weights)
    checks.record("bf16 weights, fp16 asked", lambda: precision_of(
        "bf16-weights-fp16", "bf16" if hardware.bf16_supported else "fp16"))

    def qlora() -> str:
        manifest = json.loads((outcome["config"].run_dir / "models" / "qlora" / "checkpoint" / "manifest.json")
                              .read_text(encoding="utf-8"))
        expect(manifest.get("kind") == "adapter" and manifest.get("quantization") == "4bit", str(manifest))
        return f"NF4 base, adapters saved; trained in {metrics_of(outcome['config'], 'qlora')['precision']}"

    checks.record("QLoRA NF4 on CUDA", qlora)

    def int8_on_gpu() -> str:
        variant = outcome["summary"]["optimize"]["models"]["fp16"]["variants"]["bitsandbytes"]
        expect(variant["status"] == "ok", variant.get("error") or str(variant))
        points = [p for p in variant["points"] if p["status"] == "ok"]
        return (f"LLM.int8 quality {variant['quality']}, "
                + ", ".join(f"batch {p['batch_size']}: {p['samples_per_s']:.0f}/s" for p in points))

    checks.record("INT8 through bitsandbytes", int8_on_gpu)

    def half_gpus() -> str:
        config, summary = run(configs["share"])
        expect(all(m["status"] == "succeeded" for m in summary["models"].values()), str(summary["models"]))
        a, b = (metrics_of(config, n)["train_window"] for n in ("half-a", "half-b"))
        expect(a[0] < b[1] and b[0] < a[1], f"train windows {a} and {b} do not overlap")
        return f"both trained at once: windows overlap by {min(a[1], b[1]) - max(a[0], b[0]):.1f} s"

    checks.record("two half-GPU candidates on one GPU", half_gpus)

    def out_of_memory() -> str:
        _, summary = run(configs["oom"])
        model = summary["models"]["oom"]
        expect(model["attempts"] > 1 and any("out of memory" in r.lower() for r in model["retries"]),
               f"no out-of-memory retry: attempts {model['attempts']}, {model.get('error')}")
        expect(model["status"] == "succeeded", f"{model['status']}: {model.get('error')}")
        return f"{model['attempts']} attempts; " + " | ".join(model["retries"])

    checks.record("CUDA out of memory retried at half the batch", out_of_memory)
    failed = [r for r in checks.rows if r["status"] != "ok"]
    write_json(out, {"device": hardware.name, "memory_bytes": hardware.memory_bytes,
                     "bf16_supported": hardware.bf16_supported, "torch": torch.__version__,
                     "cuda": torch.version.cuda, "python": platform.python_version(),
                     "wall_s": round(time.perf_counter() - started, 1), "checks": checks.rows})
    print(f"{len(checks.rows) - len(failed)} of {len(checks.rows)} checks passed in "
          f"{time.perf_counter() - started:.0f} s; written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
