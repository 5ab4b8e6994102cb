"""Keeps Ray out of the unit tests, in the test process and in every child `python` it starts.

tests/conftest.py puts this folder on the children's PYTHONPATH, so Python imports this module at
start-up, and sets ORCHESTRATOR_TESTS_REFUSE_RAY to the running test's id while a test that is not
marked `integration` runs. Then `ray.init` raises instead of starting a cluster: a unit test that
starts Ray fails at once with the fix, and `pytest -m "not integration"` stays a session without Ray.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

REFUSE_RAY = "ORCHESTRATOR_TESTS_REFUSE_RAY"


def refusing(init: Callable[..., Any]) -> Callable[..., Any]:
    """`init` (ray.init), refused while a unit test runs."""

    def guarded_init(*args: Any, **kwargs: Any) -> Any:
        test = os.environ.get(REFUSE_RAY)
        if test:
            raise RuntimeError(f"{test} starts Ray but is not marked integration: add @pytest.mark.integration "
                               "(or keep Ray out of the test)")
        return init(*args, **kwargs)

    guarded_init.refuses_in_unit_tests = True  # type: ignore[attr-defined]
    return guarded_init


class _GuardRayOnImport(importlib.abc.MetaPathFinder):
    """Wraps `ray.init` as soon as `ray` is imported, whoever imports it first."""

    def find_spec(self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if name != "ray":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            module.init = refusing(module.init)  # type: ignore[attr-defined]

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if os.environ.get(REFUSE_RAY) and "ray" not in sys.modules:
    sys.meta_path.insert(0, _GuardRayOnImport())
