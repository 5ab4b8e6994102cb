"""Model families, one row each: the name a config writes, the tasks the family does, the classes
that load it, the Hub's pipeline tag, and the class that implements it. Every place that needs a
family fact reads it here: the schema (which `family` values exist and which task takes which),
the model registry (`models.registry`), the tokenizer policy, the ONNX Runtime backend, the
optimize stage and the model card.

Class paths are `module:attribute` strings, as a `contract.work.Step` names its function: only
`models/` imports them, so the driver reads the table without torch or transformers.

A new family is its module under `models/families/` plus one row here.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.names import lookup


@dataclass(frozen=True)
class Family:
    """One model family: what it is, and where each side finds what it needs."""

    name: str
    tasks: tuple[str, ...]  # the task types (`task.type`) it can do
    auto_class: str  # the transformers Auto class that builds and loads its models
    ort_class: str | None  # optimum's ONNX Runtime class; None: the onnxruntime backend skips the family
    pipeline_tag: str  # the Hub's name for what a model of this family does (the model card's header)
    implementation: str  # its `models.families.base.ModelFamily` subclass
    decoder_only: bool = False  # prompt and continuation in one sequence: left-padded to generate, no EOS after the prompt
    generates: bool = True  # predicts text, counted in tokens; False: a label
    examples: str = ""  # architectures it takes, for the schema's description

    @property
    def auto_class_name(self) -> str:
        """The Auto class as users import it from transformers (`AutoModelForSeq2SeqLM`)."""
        return self.auto_class.rpartition(":")[2]


FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("seq2seq", ("summarization",), "transformers:AutoModelForSeq2SeqLM",
           "optimum.onnxruntime:ORTModelForSeq2SeqLM", "summarization",
           "models.families.seq2seq:Seq2SeqFamily", examples="BART, T5"),
    Family("causal", ("summarization",), "transformers:AutoModelForCausalLM",
           "optimum.onnxruntime:ORTModelForCausalLM", "text-generation",
           "models.families.causal:CausalFamily", decoder_only=True, examples="GPT-2, Llama, Qwen"),
    Family("classifier", ("classification",), "transformers:AutoModelForSequenceClassification",
           "optimum.onnxruntime:ORTModelForSequenceClassification", "text-classification",
           "models.families.classifier:ClassifierFamily", generates=False),
)}


def family(name: str) -> Family:
    """The family called `name` (case, `-` and `_` ignored); UnknownNameError with suggestions."""
    return lookup("family", name, FAMILIES)


def family_names() -> tuple[str, ...]:
    """Every family's name, in the table's order (read at each call: a test may add a row)."""
    return tuple(FAMILIES)


def families_for(task: str) -> tuple[str, ...]:
    """The families that can do the task type `task`, in the table's order."""
    return tuple(f.name for f in FAMILIES.values() if task in f.tasks)


def described() -> str:
    """The families as the schema's description names them: `seq2seq (BART, T5), ... or classifier`."""
    names = [f"{f.name} ({f.examples})" if f.examples else f.name for f in FAMILIES.values()]
    return ", ".join(names[:-1]) + f" or {names[-1]}." if len(names) > 1 else f"{names[0]}."
