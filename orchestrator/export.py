"""`export`: a finished candidate as a directory any Hugging Face user loads with plain
`from_pretrained`, with a model card that says what it is and how it did.

What goes in: the checkpoint's safetensors weights, config and tokenizer (a QLoRA candidate's
adapters merged into its fp32 base first, since a 4-bit base cannot travel), a
`generation_config.json` holding the run's generation settings (so a plain `generate` gives the
run's predictions), and `README.md`, a huggingface_hub `ModelCard`: data, task, metrics on
validation and test against the trivial baseline, training settings and time, precision, what the
ensemble and optimize stages found for it, how to use it and its limitations. An INT8 variant
(`--variant <backend>`) is the optimize stage's artefact directory, with its `quantization.json`
saying how it loads. Nothing outside the directory is needed, and no pickle is written.

The directory is written beside its final name and renamed into place, so an interrupted export
never leaves half a model where a user would load it. `--push-to-hub` uploads it with
huggingface_hub and the user's token.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from contract.checkpoints import read_manifest
from orchestrator.export_plan import ExportError, ExportPlan, made_variants
from orchestrator.failures import one_line
from orchestrator.model_card import model_card

CARD = "README.md"
PLAIN_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
               "merges.txt", "spiece.model", "sentencepiece.bpe.model", "vocab.txt", "added_tokens.json",
               "chat_template.jinja")
UNSAFE_WEIGHTS = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
MERGE = "models.optimize.quantize:merged_fp32_checkpoint"  # run in a child process: it imports torch


def export(plan: ExportPlan) -> Path:
    """Write the export directory (see the module's doc); its path."""
    staged = plan.out_dir.with_name(plan.out_dir.name + ".partial")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        if plan.variant != "fp32":
            _copy_variant(plan, staged)
        elif (read_manifest(plan.checkpoint) or {}).get("kind") == "adapter":
            _merge_adapters(plan, staged)
        else:
            _copy_checkpoint(plan.checkpoint, staged)
        _write_generation_config(plan, staged)
        model_card(plan, staged).save(staged / CARD)
        if plan.out_dir.exists():
            shutil.rmtree(plan.out_dir)
        staged.replace(plan.out_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return plan.out_dir


def _copy_checkpoint(checkpoint: Path, out: Path) -> None:
    unsafe = sorted(p.name for p in checkpoint.iterdir() if p.suffix in UNSAFE_WEIGHTS)
    if unsafe:
        raise ExportError(f"{checkpoint} holds pickled weights ({', '.join(unsafe)}): exports carry safetensors only")
    for path in sorted(checkpoint.iterdir()):
        if path.suffix == ".safetensors" or path.name.endswith(".safetensors.index.json") or path.name in PLAIN_FILES:
            shutil.copy2(path, out / path.name)


def _merge_adapters(plan: ExportPlan, out: Path) -> None:
    """A QLoRA checkpoint: its adapters merged into the fp32 base (as the optimize stage does before
    quantizing), saved as full safetensors weights; in a child process, where the model libraries
    are loaded (this one never imports them)."""
    from orchestrator.preflight import call_in_child
    from orchestrator.stages.train import member_job

    scratch = out.with_name(out.name + "-merge")
    try:
        merged = call_in_child(MERGE, member_job(plan.config, plan.run_dir, plan.name), scratch)
        _copy_checkpoint(Path(merged), out)
    except RuntimeError as exc:  # the child's one line: e.g. the base cannot be loaded, and why
        raise ExportError(f"could not merge {plan.name}'s adapters into its base: {exc}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_variant(plan: ExportPlan, out: Path) -> None:
    source = Path(made_variants(plan.summary, plan.name)[plan.variant]["path"])
    if not source.is_absolute():
        source = plan.run_dir / source
    if not source.is_dir():
        raise ExportError(f"the {plan.variant} variant's directory {source} is gone; run `python -m orchestrator "
                          f"optimize {plan.run_dir}` to make it again")
    shutil.copytree(source, out, dirs_exist_ok=True)


def _write_generation_config(plan: ExportPlan, out: Path) -> None:
    """The run's generation settings, so `model.generate(**inputs)` decodes as the run did."""
    if plan.config.task.type != "summarization" or not (out / "config.json").is_file():
        return
    settings = plan.config.settings_for(plan.config.candidate(plan.name)).generation
    path = out / "generation_config.json"
    existing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    existing.update({"max_new_tokens": settings.max_new_tokens, "num_beams": settings.num_beams})
    path.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")


def push_to_hub(directory: Path, repo_id: str) -> str:
    """Upload the export with huggingface_hub and the user's token (HF_TOKEN or `hf auth login`);
    the repository's address. ExportError with one line when the Hub cannot be reached."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        commit = api.upload_folder(folder_path=str(directory), repo_id=repo_id, repo_type="model",
                                   commit_message="Upload from orchestrator export")
    except Exception as exc:  # noqa: BLE001 - offline, no token, no rights: one line, the export stays
        raise ExportError(f"could not push to the Hugging Face Hub ({one_line(exc)}); the export is in {directory}: "
                          "check the network, HF_HUB_OFFLINE and your token (hf auth login)") from exc
    return str(getattr(commit, "repo_url", f"https://huggingface.co/{repo_id}"))
