"""The import contract between the planes, read from the source (every `import` statement,
inside functions too, as import-linter counts them):

- `models/` (the data plane) never imports `orchestrator/`;
- `contract/` imports only the standard library, pydantic, yaml and psutil;
- `orchestrator/` (the control plane) imports no ML library, directly or through a `models`
  module it imports: it names what runs in actors by dotted path (`contract.work.Step`).
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

from tests.conftest import REPO

HEAVY = {"torch", "transformers", "peft", "bitsandbytes", "optimum", "onnxruntime", "accelerate", "datasets"}
PACKAGES = ("contract", "models", "orchestrator")


def modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((REPO / package).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


ALL = {name: path for package in PACKAGES for name, path in modules(package).items()}


@cache
def imports(module: str) -> frozenset[str]:
    """Every module `module` imports, absolute, resolved to the longest name that exists here."""
    tree = ast.parse(ALL[module].read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(names)


def first_party(name: str) -> str | None:
    while name and name not in ALL:
        name = name.rpartition(".")[0]
    return name or None


@cache
def reaches(module: str) -> frozenset[str]:
    """The third-party top-level packages `module` imports, directly or through first-party modules."""
    seen: set[str] = set()
    todo, heavy = [module], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in imports(current):
            top = name.split(".")[0]
            if top in PACKAGES:
                if (target := first_party(name)) is not None:
                    todo.append(target)
                    if "." in target:  # importing a submodule runs its parents' __init__ too
                        todo.extend(".".join(target.split(".")[:i]) for i in range(1, target.count(".") + 1))
            else:
                heavy.add(top)
    return frozenset(heavy)


def test_the_data_plane_never_imports_the_control_plane() -> None:
    offending = {m: sorted(n for n in imports(m) if n.split(".")[0] == "orchestrator") for m in modules("models")}
    assert {m: n for m, n in offending.items() if n} == {}


def test_the_contract_imports_only_the_standard_library_pydantic_yaml_and_psutil() -> None:
    allowed = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core", "yaml", "psutil", "contract", "__future__"}
    offending = {m: sorted(n for n in imports(m) if n.split(".")[0] not in allowed) for m in modules("contract")}
    assert {m: n for m, n in offending.items() if n} == {}


def test_the_control_plane_reaches_no_ml_library() -> None:
    offending = {m: sorted(reaches(m) & HEAVY) for m in modules("orchestrator")}
    assert {m: n for m, n in offending.items() if n} == {}


def test_the_checker_sees_what_it_should() -> None:
    """The rule above can fail: the training code does reach torch through this analysis."""
    assert {"torch", "transformers"} <= reaches("models.training")
    assert "orchestrator.supervisor" in {first_party(n) for n in imports("orchestrator.stages.context")}
