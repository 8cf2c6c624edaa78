"""No import cycles in assistant/: each stage can be read, and imported, without the ones above it.

Imports inside functions count too: they only delay a cycle to the first call, and a newcomer
reading the conversation would still have to read the microphone loop to follow it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "assistant"


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (a package is its __init__)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's own modules that this module imports anywhere in its text."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from assistant import closed_set` imports the module closed_set; the package itself
            # is only imported for the names that are not modules of their own.
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            names.update(submodules)
            if len(submodules) < len(node.names):
                names.add(base)
    return {name for name in names if name in known and name != module}


def import_graph(package: Path) -> dict[str, set[str]]:
    found = modules(package)
    return {module: imported(module, path, set(found)) for module, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    found = cycles(graph)
    assert not found, "import cycles in assistant/: " + "; ".join(" <-> ".join(group) for group in found)


def test_a_cycle_made_on_purpose_is_found(tmp_path):
    # The walk must see function-level and relative imports, or the test above proves nothing.
    package = tmp_path / "assistant"
    (package / "stage").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "stage" / "__init__.py").write_text("")
    (package / "low.py").write_text("def late():\n    from assistant.stage import high\n")
    (package / "stage" / "high.py").write_text("from .. import low\n")
    (package / "alone.py").write_text("import assistant.low\n")
    assert cycles(import_graph(package)) == [["assistant.low", "assistant.stage.high"]]


def test_the_dialogue_is_below_the_loops_that_use_it():
    graph = import_graph(PACKAGE)

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for other in graph[todo.pop()] - seen:
                seen.add(other)
                todo.append(other)
        return seen

    assert not reaches("assistant.dialogue") & {"assistant.chat", "assistant.live", "assistant.closed_set"}
    assert not reaches("assistant.matching") & {"assistant.dialogue", "assistant.closed_set", "assistant.live"}
    assert not reaches("assistant.live") & {"assistant.chat", "assistant.serve"}
