"""The package's layering holds: no import runs back up the floors, and no
module imports another package of its own floor (each floor may import only
the floors below it, plus modules of its own package); and there are no
import circles. Read with ``ast``, imports inside functions included, so the
picture in the closing notes stays true after the next feature.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "alligator"

#: Floors, bottom first. A name is a module (``alligator.wire``) or a
#: package (``alligator.consume``: every module in it).
FLOORS: list[list[str]] = [
    [
        "alligator.constants",
        "alligator.exceptions",
        "alligator.limits",
        "alligator._text",
        "alligator._version",
        "alligator._signals",
    ],
    ["alligator._env", "alligator._aws"],
    [
        "alligator.dsn",
        "alligator.retries",
        "alligator.wire",
        "alligator.security",
        "alligator._moto",
        "alligator.callables",
    ],
    ["alligator.tasks", "alligator.backends.base", "alligator.status.base"],
    ["alligator.outcome"],
    [
        "alligator.backends",
        "alligator.status",
        "alligator.sqs",
        "alligator.logs",
        "alligator.metrics",
        "alligator.tracing",
    ],
    ["alligator.consume", "alligator.ops", "alligator.produce"],
    ["alligator.gator"],
    [
        "alligator.worker",
        "alligator.sqs.lambda_handler",
        "alligator.schedules",
        "alligator.dashboard",
    ],
    ["alligator.schedules.demo"],
    [
        "alligator",
        "alligator.workers",
        "alligator.demo",
        "alligator.testing",
        "alligator.lambda_zip",
    ],
    ["alligator.cli"],
    ["alligator.__main__"],
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The alligator modules ``name`` imports, resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("alligator")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("alligator"):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
    return {module for module in found if module in known and module != name}


def floor_of(name: str) -> tuple[int, str]:
    """The floor and the most specific entry of the table that holds ``name``."""
    best: tuple[int, str] | None = None
    for floor, entries in enumerate(FLOORS):
        for entry in entries:
            if (name == entry or name.startswith(entry + ".")) and (
                best is None or len(entry) > len(best[1])
            ):
                best = (floor, entry)
    assert best is not None, f"{name} is on no floor: add it to FLOORS"
    return best


def test_every_module_is_on_a_floor():
    for name in modules():
        floor_of(name)


def test_no_import_runs_up_or_sideways():
    known = modules()
    wrong = []
    for name, path in known.items():
        floor, entry = floor_of(name)
        for target in imports_of(name, path, set(known)):
            target_floor, target_entry = floor_of(target)
            same_package = target_entry == entry or target.startswith(entry + ".")
            if target_floor > floor or (target_floor == floor and not same_package):
                wrong.append(f"{name} (floor {floor}) imports {target} (floor {target_floor})")
    assert wrong == []


def test_no_import_circles():
    known = modules()
    graph = {name: imports_of(name, path, set(known)) for name, path in known.items()}
    # A package's __init__ importing its own modules is how packages work;
    # only circles through other modules count.
    for name in graph:
        graph[name] = {
            target
            for target in graph[name]
            if not (known[name].name == "__init__.py" and target.startswith(name + "."))
            and not (known[target].name == "__init__.py" and name.startswith(target + "."))
        }
    circles = [cycle for cycle in _cycles(graph) if len(cycle) > 1]
    assert circles == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), each a list of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("limit", [420])
def test_no_module_is_much_over_400_lines(limit):
    long = {
        name: len(path.read_text().splitlines())
        for name, path in modules().items()
        if len(path.read_text().splitlines()) > limit
    }
    assert long == {}
