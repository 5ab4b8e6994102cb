"""Which optional libraries transformers may import in a candidate's process.

transformers imports every optional integration it finds installed as soon as its Trainer and
model classes are imported: peft (and through it bitsandbytes) for adapters, scikit-learn for
assisted generation's confidence model, scipy for object-detection losses, `datasets` for
Hugging Face dataset inputs. Training here uses none of them except peft for LoRA, and together
they are about 40% of the training code's import, paid by every candidate's process before its
first step. So a candidate's worker says what its candidate needs (`declare`) before it imports
the training code, and `models.training` applies that (`apply`) before it imports transformers.
Our own code imports these libraries where it uses them (the ensemble's scikit-learn, ROUGE's
`datasets`); only transformers' view is changed, and only in a process that declared.

transformers decides each `is_<library>_available()` once, from a module-level flag of
`transformers.utils.import_utils`; clearing those flags before its Trainer is imported is the
only switch it offers, so it is done here and nowhere else. A worker serves one candidate, so
this is decided once per process; a process that declared nothing (tests and benchmarks calling
`train_candidate` directly) hides nothing.
"""

from __future__ import annotations

import sys

from contract.job import Job, TrainingJob

# library -> the flag in transformers.utils.import_utils that says it is installed
NEVER_USED_BY_TRAINING = {"sklearn": "_sklearn_available", "scipy": "_scipy_available",
                          "datasets": "_datasets_available"}
PEFT_FLAG = "_peft_available"

_hidden: frozenset[str] | None = None  # what this process keeps from transformers; None: nothing declared


def needs_peft(job: Job) -> bool:
    """LoRA and QLoRA train and load adapters through peft; a full fine-tune, or work that is no
    candidate's (the ensemble's fit), never does."""
    return isinstance(job, TrainingJob) and job.candidate.lora is not None


def declare(job: Job) -> None:
    """Called by the worker for each item, before the item's step is imported; the first call decides."""
    global _hidden
    if _hidden is None:
        _hidden = frozenset(NEVER_USED_BY_TRAINING) | (frozenset() if needs_peft(job) else {"peft"})


def declare_inspection() -> None:
    """The preflight child builds architectures on the meta device and trains nothing: the
    integrations no training uses are kept from transformers there too (scikit-learn alone was a
    second of its start), peft stays visible (LoRA checks read its target table)."""
    global _hidden
    if _hidden is None:
        _hidden = frozenset(NEVER_USED_BY_TRAINING)


def apply() -> None:
    """Keep what was declared unused away from transformers. Only before transformers' Trainer is
    imported: once it is, what transformers saw stays as it was."""
    if not _hidden or "transformers.trainer" in sys.modules:
        return
    from transformers.utils import import_utils

    for library in _hidden:
        setattr(import_utils, PEFT_FLAG if library == "peft" else NEVER_USED_BY_TRAINING[library], False)


def check(job: TrainingJob) -> None:
    """A job this process cannot serve correctly (it needs peft, which was hidden) fails loudly."""
    if needs_peft(job) and _hidden and "peft" in _hidden:
        raise RuntimeError(
            f"candidate {job.name!r} trains LoRA adapters, but this process was started for a full "
            "fine-tune and kept peft away from transformers; a worker serves one candidate"
        )
