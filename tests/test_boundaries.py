"""The import contract between the planes, read from the source (every `import` statement,
inside functions too, as import-linter counts them):

- `models/` (the data plane) never imports `orchestrator/`;
- `contract/` imports only the standard library, pydantic, yaml and psutil;
- `orchestrator/` (the control plane) imports nothing from `models/` and no ML library, directly
  or through what it imports: it names what runs in actors by dotted path (`contract.work.Step`),
  and what both planes read of a run directory lives in `contract/`.

And two rules of shape: no first-party modules import each other in a circle, and no module
passes 400 lines except the data tables named here.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from functools import cache
from pathlib import Path

from tests.conftest import REPO

# numpy is not here: Ray itself imports it in the driver once the first result comes back (`ray.get`),
# and the TensorBoard tracker writes its text summaries with it; the rest compute, and only in actors.
HEAVY = {"torch", "transformers", "peft", "bitsandbytes", "optimum", "onnxruntime", "accelerate", "datasets",
         "sklearn", "scipy", "lightgbm", "joblib"}
PACKAGES = ("contract", "models", "orchestrator")
MAX_LINES = 400
DATA_TABLES = {"models/data/builtin.py"}  # rows of data written as Python, not code to read through


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


def test_the_control_plane_imports_nothing_from_the_data_plane() -> None:
    """Not even a light `models` module: what the driver needs of the data plane's files is in the
    contract, and what runs in an actor is named by dotted path."""
    offending = {m: sorted(n for n in imports(m) if n.split(".")[0] == "models") for m in modules("orchestrator")}
    assert {m: n for m, n in offending.items() if n} == {}


def test_the_control_plane_reaches_no_ml_library() -> None:
    offending = {m: sorted(reaches(m) & HEAVY) for m in modules("orchestrator")}
    assert {m: n for m, n in offending.items() if n} == {}


def test_the_checker_sees_what_it_should() -> None:
    """The rule above can fail: the training code does reach torch through this analysis."""
    assert {"torch", "transformers"} <= reaches("models.training")
    assert {"sklearn", "scipy", "joblib", "lightgbm"} <= reaches("models.ensemble.fit")
    assert "orchestrator.supervisor" in {first_party(n) for n in imports("orchestrator.stages.context")}


def import_graph() -> dict[str, set[str]]:
    """First-party module -> the first-party modules it imports (inside functions and under
    TYPE_CHECKING too). A submodule's parent packages are left out: a package whose `__init__`
    imports its own modules is no circle."""
    return {module: {target for name in imports(module) if name.split(".")[0] in PACKAGES
                     and (target := first_party(name)) is not None and target != module}
            for module in ALL}


def circles(graph: dict[str, set[str]]) -> list[str]:
    """The import circles of `graph`, each as one path back to where it starts ("a -> b -> a");
    a module already shown on one is not started from again."""
    found: list[str] = []
    shown: set[str] = set()
    for start in sorted(graph):
        if start in shown:
            continue
        came_from: dict[str, str] = {}
        todo = deque([start])
        while todo:
            current = todo.popleft()
            if start in graph[current]:
                path = [current]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                path.reverse()
                found.append(" -> ".join([*path, start]))
                shown.update(path)
                break
            for target in sorted(graph[current] - came_from.keys() - {start}):
                came_from[target] = current
                todo.append(target)
    return found


def test_no_first_party_modules_import_each_other_in_a_circle() -> None:
    """A circle hides which of two modules is the lower one, and only a function-level import
    keeps it from failing at import time. Break one with a module both can import, or by naming
    the other side by dotted path (`contract.work.Step`)."""
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a -> b -> c -> a"]  # the checker works
    assert circles(import_graph()) == []


def test_no_module_passes_400_lines_except_the_data_tables() -> None:
    """A module past 400 lines holds more than one job; split it by job. Data tables are the
    exception, and are named here."""
    assert all((REPO / table).is_file() for table in DATA_TABLES), "a data table listed here no longer exists"
    lengths = {path.relative_to(REPO).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
               for path in ALL.values()}
    assert {path: n for path, n in lengths.items() if n > MAX_LINES and path not in DATA_TABLES} == {}
