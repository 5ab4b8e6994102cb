"""The model card of an export: huggingface_hub's `ModelCard`, its metadata in the YAML header the
Hub reads, and sections a reader needs before using the model: what it does and was trained on,
how it scored against the trivial baseline, how it was trained, what the ensemble and optimize
stages found for it, how to load it, and its limitations. Every figure comes from the run's files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contract.atomic import read_json
from contract.families import family
from contract.sources import parse_source

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from orchestrator.export_plan import ExportPlan


def model_card(plan: ExportPlan, directory: Any) -> ModelCard:
    from huggingface_hub import ModelCard, ModelCardData

    config, model = plan.config, plan.model
    candidate = config.candidate(plan.name)
    source = parse_source(candidate.source)
    data = ModelCardData(
        language=[config.task.language], library_name="transformers",
        pipeline_tag=family(candidate.family).pipeline_tag,
        tags=["orchestrator", config.task.type, candidate.family] + ([f"int8-{plan.variant}"]
                                                                       if plan.variant != "fp32" else []),
        base_model=source.value if source.kind == "hub" else None,
    )
    trained = read_json(plan.run_dir / "models" / plan.name / "metrics.json") or {}
    body = [f"# {plan.name}", "", _summary_line(plan, candidate), ""]
    body += _metrics(plan, model)
    body += _training(plan, candidate, trained)
    body += _ensemble(plan)
    body += _optimize(plan)
    body += _usage(plan, candidate)
    body += _limitations(plan, candidate)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body) + "\n")


def _summary_line(plan: ExportPlan, candidate: Any) -> str:
    task, data = plan.config.task, plan.config.data
    where = ("the built-in generated data" if data.builtin is not None else
             "the run's own data files (" + ", ".join(f"{s}: `{getattr(data, s)}`" for s in ("train", "validation", "test")
                                                      if getattr(data, s)) + ")")
    variant = "" if plan.variant == "fp32" else f", as its INT8 `{plan.variant}` variant"
    return (f"A {candidate.family} {task.type} model ({task.language}) fine-tuned from `{candidate.source}` on {where} "
            f"by the orchestrator run `{plan.config.experiment}`{variant}. Input column `{task.resolved_input_column()}`"
            f", target `{task.resolved_target_column()}`.")


def _metrics(plan: ExportPlan, model: dict[str, Any]) -> list[str]:
    metrics = model.get("metrics") or {}
    names = sorted({k for split in ("validation", "test") for k in metrics.get(split, {})})
    if not names:
        return []
    rows = ["## Results", "", "| split | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for split in ("validation", "test"):
        if split in metrics:
            rows.append(f"| {split} | " + " | ".join(f"{metrics[split].get(n, float('nan')):.2f}" for n in names) + " |")
    for name, baseline in (plan.summary.get("baselines") or {}).items():
        for split in ("validation", "test"):
            if split in baseline:
                rows.append(f"| {split}, {name} baseline ({baseline.get('description', '')}) | "
                            + " | ".join(_number(baseline[split].get(n)) for n in names) + " |")
    rows += ["", f"Scores are 0-100. The run's metric is `{plan.summary.get('metric')}`; validation chose the "
             "checkpoint and (where it applies) this model, test was used for nothing else. A trivial baseline row is "
             "what a model that learned nothing gets.", ""]
    return rows


def _training(plan: ExportPlan, candidate: Any, trained: dict[str, Any]) -> list[str]:
    settings = plan.config.settings_for(candidate)
    parameters = trained.get("parameters") or {}
    items = [
        ("precision", trained.get("precision")),
        ("steps", trained.get("steps")),
        ("epochs / max_steps", f"{settings.epochs} / {settings.max_steps}"),
        ("learning rate", settings.learning_rate),
        ("batch size x accumulation", f"{settings.batch_size} x {settings.gradient_accumulation}"),
        ("max source / target length", f"{settings.max_source_length} / {settings.max_target_length}"),
        ("seed", settings.seed),
        ("LoRA", candidate.lora.model_dump() if candidate.lora else None),
        ("quantized base (QLoRA)", candidate.quantization),
        ("parameters (trainable)", f"{parameters.get('total')} ({parameters.get('trainable')})" if parameters else None),
        ("training time", f"{trained.get('train_wall_s')} s of training, {trained.get('wall_s')} s in all"),
        ("train / eval loss", f"{_number((trained.get('metrics') or {}).get('train_loss'), 4)} / "
                              f"{_number((trained.get('metrics') or {}).get('eval_loss'), 4)}"),
    ]
    lines = ["## Training", ""] + [f"- {k}: {v}" for k, v in items if v is not None]
    if candidate.lora and candidate.quantization:
        lines.append("- The adapters were trained on a 4/8-bit base and merged into its fp32 weights for this export; "
                     "the merged model differs slightly from the quantized one, as every QLoRA merge does.")
    return [*lines, ""]


def _ensemble(plan: ExportPlan) -> list[str]:
    ensemble = plan.summary.get("ensemble") or {}
    if ensemble.get("status") != "ok":
        return []
    role = ("the best single member on validation" if ensemble.get("best_member") == plan.name else
            f"a member; the best single one on validation was {ensemble.get('best_member')}")
    chosen = ensemble.get("chosen", "")
    uses = ("The run's ensemble uses this model alone." if chosen == "best_single" and
            ensemble.get("best_member") == plan.name else
            f"The run's ensemble uses `{chosen}` over its members (`python -m orchestrator predict` applies it; "
            "this export is one model).")
    return ["## In the run's ensemble", "", f"This model was {role}. {uses}", "", f"Verdict: {ensemble.get('verdict')}",
            ""]


def _optimize(plan: ExportPlan) -> list[str]:
    found = ((plan.summary.get("optimize") or {}).get("models") or {}).get(plan.name)
    if not isinstance(found, dict) or found.get("status") != "ok":
        return []
    lines = ["## INT8 variants and batch size (optimize stage)", ""]
    for variant, entry in (found.get("variants") or {}).items():
        if entry.get("status") == "ok":
            change = entry.get("metric_change")
            lines.append(f"- `{variant}`: {_number(entry.get('size_bytes', 0) / 2**20, 1)} MiB"
                         + (f", {plan.summary.get('metric')} {change:+.2f} against fp32 on validation"
                            if isinstance(change, int | float) and variant != "fp32" else "")
                         + ("" if entry.get("accepted") else f" (not accepted: {entry.get('reason')})"))
        else:
            lines.append(f"- `{variant}`: {entry.get('status')} ({entry.get('reason')})")
    recommendation = found.get("recommendation") or {}
    if recommendation.get("variant"):
        lines.append(f"- recommended: `{recommendation.get('variant')}` at batch size {recommendation.get('batch_size')}")
    return [*lines, ""]


def _usage(plan: ExportPlan, candidate: Any) -> list[str]:
    settings = plan.config.settings_for(candidate)
    auto = family(candidate.family).auto_class_name
    if plan.variant != "fp32":
        return ["## How to use", "", f"This directory is the `{plan.variant}` INT8 artefact; `quantization.json` says "
                "how it loads (its backend and files).", ""]
    code = ["```python", f"from transformers import AutoTokenizer, {auto}", "",
            'tokenizer = AutoTokenizer.from_pretrained("PATH")', f'model = {auto}.from_pretrained("PATH")']
    if plan.config.task.type == "classification":
        code += [f'inputs = tokenizer(["..."], truncation=True, max_length={settings.max_source_length}, '
                 'return_tensors="pt")', "label = model.config.id2label[model(**inputs).logits.argmax(-1).item()]"]
    elif family(candidate.family).decoder_only:
        template = plan.config.task.resolved_prompt()
        code += [f"prompt = {template!r}.format(input=dialogue)  # the run cuts the dialogue to "
                 f"{settings.max_source_length} tokens, never the cue",
                 'inputs = tokenizer([prompt], return_tensors="pt")',
                 "output = model.generate(**inputs)  # generation_config.json: the run's max_new_tokens, num_beams",
                 'summary = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)']
    else:
        code += [f'inputs = tokenizer([dialogue], truncation=True, max_length={settings.max_source_length}, '
                 'return_tensors="pt")',
                 "output = model.generate(**inputs)  # generation_config.json: the run's max_new_tokens, num_beams",
                 "summary = tokenizer.decode(output[0], skip_special_tokens=True)"]
    code.append("```")
    return ["## How to use", "", *code, ""]


def _limitations(plan: ExportPlan, candidate: Any) -> list[str]:
    lines = ["## Limitations", "",
             "- The scores hold for this run's data and splits; other data, domains or languages may score differently.",
             f"- Inputs longer than {plan.config.settings_for(candidate).max_source_length} tokens are cut."]
    if plan.config.task.type == "summarization":
        lines.append("- ROUGE counts shared words with the references, not faithfulness: a fluent summary can still "
                     "state what the dialogue does not.")
    if parse_source(candidate.source).kind == "scratch":
        lines.append("- Built from a tiny architecture preset with a tokenizer trained on the run's own text: a "
                     "demonstration model, not one for production use.")
    return [*lines, ""]


def _number(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"
