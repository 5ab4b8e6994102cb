"""Which optional libraries transformers may import in this process.

Whenever peft is installed, importing transformers' Trainer imports peft, and peft imports
bitsandbytes: about a fifth of a candidate's start spent on libraries a plain full fine-tune
never touches. A candidate's worker says what its candidate needs (`declare`) before it imports
the training code, and `models.training` applies that (`apply`) before it imports transformers.
A worker serves one candidate, so this is decided once per process. A process that declared
nothing (tests and benchmarks calling `train_candidate` directly) hides nothing.

transformers decides `is_peft_available()` once, from a module-level flag; clearing that flag
before its Trainer is imported is the only switch it offers, so it is done here and nowhere else.
"""

from __future__ import annotations

import sys

from contract.job import TrainingJob

_hidden: frozenset[str] | None = None  # what this process keeps from transformers; None: nothing declared


def needs_peft(job: TrainingJob) -> bool:
    """LoRA and QLoRA train and load adapters through peft; a full fine-tune never does."""
    return job.candidate.lora is not None


def declare(job: TrainingJob) -> None:
    """Called by the worker for each item, before the item's step is imported; the first call decides."""
    global _hidden
    if _hidden is None:
        _hidden = frozenset() if needs_peft(job) else frozenset({"peft"})


def apply() -> None:
    """Keep what was declared unneeded away from transformers. Only before transformers' Trainer
    is imported: once it is, what transformers saw stays as it was."""
    if not _hidden or "transformers.trainer" in sys.modules or "peft" in sys.modules:
        return
    from transformers.utils import import_utils

    import_utils._peft_available = False


def check(job: TrainingJob) -> None:
    """A job this process cannot serve correctly (it needs peft, which was hidden) fails loudly."""
    if needs_peft(job) and _hidden and "peft" in _hidden and "peft" not in sys.modules:
        raise RuntimeError(
            f"candidate {job.name!r} trains LoRA adapters, but this process was started for a full "
            "fine-tune and kept peft away from transformers; a worker serves one candidate"
        )
