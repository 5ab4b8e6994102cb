"""The value types of the settings' fields, and the name tables they check against: choices
matched however they are spelled (with "did you mean"), `auto` numbers, GPU requests, learning
rates that may be `tuned`, checkpoint intervals, home paths, and `Strict`, the base of every
section. Only pydantic is imported here, as in `contract.settings`.

Every name table (task types, metrics) lives here once; the schema, the model registry and the
cross-field checks all read it from here. The families are rows of `contract.families`, read
when a value is validated.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from contract.families import family_names
from contract.names import canonical_name, suggestion_text

# --------------------------------------------------------------------------- name tables

TaskName = Literal["summarization", "classification"]
TASK_TYPES: tuple[str, ...] = typing.get_args(TaskName)
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
SUMMARIZATION_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "rouge_mean")
CLASSIFICATION_METRICS = ("accuracy", "macro_f1")
DEFAULT_PROMPTS = {"ko": "{input}\n요약:", "en": "{input}\nSummary:"}  # per task.language, for causal models

# --------------------------------------------------------------------------- value types


def _matched(value: Any, allowed: tuple[str, ...]) -> Any:
    """`value` as the option of `allowed` it spells (case-, hyphen- and underscore-insensitively);
    a choice error with "did you mean" when it spells none."""
    if value is None:
        return None  # optional fields; a required one still fails on its type
    if isinstance(value, str):
        for option in allowed:
            if canonical_name(option) == canonical_name(value):
                return option
    raise PydanticCustomError(
        "choice",
        "{value} is not allowed; use one of: {allowed}{hint}",
        {
            "value": repr(value),
            "allowed": ", ".join(allowed),
            "hint": suggestion_text(str(value), allowed),
        },
    )


def _choice_validator(allowed: tuple[str, ...]) -> BeforeValidator:
    """Matches a string case-, hyphen- and underscore-insensitively against `allowed`."""

    def match(value: Any) -> Any:
        return _matched(value, allowed)

    return BeforeValidator(match)


class TableChoice:
    """A required string matched like `one_of` against the names of a table, read at each
    validation: a row a plugin or a test adds (`contract.families`) is allowed from then on. The
    configuration reference lists `allowed()`. None is refused in the words of pydantic's Literal
    check, as for a field typed by a fixed Literal."""

    def __init__(self, allowed: Callable[[], tuple[str, ...]]):
        self.allowed = allowed

    def __call__(self, value: Any) -> Any:
        allowed = self.allowed()
        if value is None:
            quoted = [repr(option) for option in allowed]
            expected = ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return _matched(value, allowed)


def one_of(*allowed: str, optional: bool = False) -> Any:
    """A string field that must be one of `allowed` (spelled loosely). `optional` admits None inside
    the same validator: a `T | None` union would report a bad value once per branch."""
    options = Literal[allowed]  # type: ignore[valid-type]
    return Annotated[options | None if optional else options, _choice_validator(allowed)]


def _auto_or_number(value: Any) -> Any:
    """'auto' becomes None (decided at run time); anything else must be a number."""
    if isinstance(value, str) and canonical_name(value) == "auto":
        return None
    return value


AutoFloat = Annotated[float | None, BeforeValidator(_auto_or_number)]


def _gpu_request(value: Any) -> Any:
    """'auto' becomes None and 'share' stays (both decided when the cluster is known); anything else
    must be a number of GPUs."""
    if value is None:
        return None
    if isinstance(value, str):
        if canonical_name(value) == "share":
            return "share"
        if canonical_name(value) == "auto":
            return None
        raise PydanticCustomError("gpus", "{value} is not a number of GPUs; use a number, auto or share{hint}",
                                  {"value": repr(value), "hint": suggestion_text(value, ("auto", "share"))})
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("gpus", "{value} is not a number of GPUs; use a number, auto or share",
                                  {"value": repr(value)})
    if value < 0:
        raise PydanticCustomError("gpus", "gpus must be 0 or more, not {value}", {"value": value})
    return float(value)


GpuRequest = Annotated[float | Literal["share"] | None, BeforeValidator(_gpu_request)]


def _rate_or_tuned(value: Any) -> Any:
    """A learning rate: a number > 0, or 'tuned' (the best rate of the last `tune` sweep, put in
    its place before anything trains)."""
    if value is None:
        return None  # per-candidate overrides are optional
    if isinstance(value, str):
        if canonical_name(value) == "tuned":
            return "tuned"
        try:
            value = float(value)  # YAML reads 1e-3 (no dot) as a string
        except ValueError:
            raise PydanticCustomError(
                "choice",
                "{value} is not a learning rate; use a number greater than 0, or tuned (the best rate of the "
                "last `tune` sweep){hint}",
                {"value": repr(value), "hint": suggestion_text(value, ["tuned"])},
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise PydanticCustomError(
            "choice", "{value} is invalid: use a number greater than 0, or tuned", {"value": repr(value)}
        )
    return float(value)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def _interval(value: Any) -> Any:
    """A checkpoint interval: a number of optimizer steps (500) or a duration (90s, 15m, 2h)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and (match := _DURATION.match(value.lower())) and float(match.group(1)) > 0:
        return f"{match.group(1)}{match.group(2)}"
    raise PydanticCustomError(
        "interval", "{value} is not a checkpoint interval; use a number of steps (500) or a duration (90s, 15m, 2h)",
        {"value": repr(value)},
    )


def interval_seconds(every: int | str) -> float | None:
    """A duration's seconds; None for an interval in steps."""
    if isinstance(every, int):
        return None
    match = _DURATION.match(every)
    assert match, f"{every!r} was not validated as an interval"
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


CheckpointEvery = Annotated[int | str, BeforeValidator(_interval)]
OptionalCheckpointEvery = Annotated[int | str | None, BeforeValidator(_interval)]

LearningRate = Annotated[float | Literal["tuned"], BeforeValidator(_rate_or_tuned)]
OptionalLearningRate = Annotated[float | Literal["tuned"] | None, BeforeValidator(_rate_or_tuned)]

Precision = one_of(*PRECISIONS)
OptionalPrecision = one_of(*PRECISIONS, optional=True)
FamilyName = Annotated[str, BeforeValidator(TableChoice(family_names))]
TaskType = Annotated[TaskName, _choice_validator(TASK_TYPES)]
Language = one_of("ko", "en")
Quantization = one_of("4bit", "8bit")
Strategy = one_of("ddp", "fsdp")


def expand_home(value: str) -> str:
    """`~` and `~user` as the shell expands them; a user with no home here is an error, never a
    folder named `~user` in the current directory."""
    if not value.startswith("~"):
        return value
    expanded = os.path.expanduser(value)
    if expanded.startswith("~"):
        raise PydanticCustomError("choice", "{value}: {user} is no user's home directory here; give the full path",
                                  {"value": repr(value), "user": repr(value.split("/", 1)[0])})
    return expanded


HomePath = Annotated[str, AfterValidator(expand_home)]  # a path from a config: `~` expanded once, here


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default; so is an
    infinite or NaN number anywhere."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)
