"""The integration's shape: one job per module (issue 10's limits).

- no module over 500 lines (the config flow up to 900, the API client up to 700);
- no class over 300 lines but the API client;
- `api/` imports nothing from the rest of the integration, nor Home Assistant;
- no import cycle between the integration's modules at run time (imports under
  `if TYPE_CHECKING:` do not run, so they do not count).

The source is parsed with `ast`; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

PACKAGE: Final = "custom_components.flexmeasures"
ROOT: Final = Path(__file__).parent.parent / "custom_components" / "flexmeasures"

MODULE_LIMIT: Final = 500
MODULE_LIMITS: Final = {"config_flow.py": 900, "api/client.py": 700}
CLASS_LIMIT: Final = 300
CLASS_EXEMPT: Final = {("api/client.py", "FlexMeasuresClient")}


def _modules() -> dict[str, Path]:
    """Each module of the integration by its dotted name."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([PACKAGE, *parts])] = path
    return found


MODULES: Final = _modules()


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run (not those under `if TYPE_CHECKING:`)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _runtime_imports(node)


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The absolute names an import statement of `module` asks for."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if node.level == 0:
        base = node.module or ""
    else:
        package = module.split(".")
        if path.name != "__init__.py":
            package.pop()  # a module's package
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    # `from . import x` imports the module `x` when there is one, else a name
    # the package defines
    return {
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
        for alias in node.names
    }


def _internal(name: str) -> str | None:
    """The integration's module a name is, or is in (None: outside)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _graph() -> dict[str, set[str]]:
    """Which of the integration's modules each one imports at run time."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text())):
            for name in _imported(module, path, node):
                if (target := _internal(name)) is not None and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("path", MODULES.values(), ids=_rel)
def test_module_is_within_its_size_limit(path: Path) -> None:
    """A module over its limit does more than one job."""
    limit = MODULE_LIMITS.get(_rel(path), MODULE_LIMIT)
    lines = len(path.read_text().splitlines())
    assert lines <= limit, f"{_rel(path)} has {lines} lines (limit {limit})"


def test_no_class_over_its_size_limit() -> None:
    """A class over 300 lines (but the API client) does more than one job."""
    too_big = [
        f"{_rel(path)}:{node.name} has {node.end_lineno - node.lineno + 1} lines"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > CLASS_LIMIT
        and (_rel(path), node.name) not in CLASS_EXEMPT
    ]
    assert not too_big, "; ".join(too_big)


def test_api_imports_nothing_of_the_integration_nor_home_assistant() -> None:
    """`api/` could be published on its own (TYPE_CHECKING imports included)."""
    wrong = []
    for module, path in MODULES.items():
        if not module.startswith(f"{PACKAGE}.api"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(module, path, node):
                target = _internal(name)
                outside_api = target is not None and not target.startswith(
                    f"{PACKAGE}.api"
                )
                if outside_api or name.split(".")[0] == "homeassistant":
                    wrong.append(f"{_rel(path)}:{node.lineno} imports {name}")
    assert not wrong, "; ".join(sorted(set(wrong)))


def test_no_import_cycle_at_run_time() -> None:
    """Modules import each other one way only (TYPE_CHECKING imports aside)."""
    assert _cycles(_graph()) == []


# -- the checks themselves can fail ---------------------------------------------


def test_a_cycle_is_found() -> None:
    """Two modules importing each other, and a longer loop, are cycles."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(graph) == [["a", "b"], ["c", "d", "e"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_type_checking_imports_do_not_count() -> None:
    """An import under `if TYPE_CHECKING:` does not run; its else branch does."""
    tree = ast.parse(
        "import x\n"
        "if TYPE_CHECKING:\n    import y\nelse:\n    import z\n"
        "def f():\n    from . import w\n"
    )
    names = {alias.name for node in _runtime_imports(tree) for alias in node.names}
    assert names == {"x", "z", "w"}


def test_relative_imports_resolve_to_the_integration_modules() -> None:
    """`from .api import X` in a module is the api package; `..` leaves api."""
    path = ROOT / "api" / "client.py"
    node = ast.parse("from ..const import DOMAIN").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _imported(f"{PACKAGE}.api.client", path, node) == {f"{PACKAGE}.const"}
    node = ast.parse("from .errors import E").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _imported(f"{PACKAGE}.api.client", path, node) == {f"{PACKAGE}.api.errors"}
    node = ast.parse("from . import const").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _imported(f"{PACKAGE}.requests", ROOT / "requests.py", node) == {
        f"{PACKAGE}.const"
    }
    assert f"{PACKAGE}.coordinator" in _graph()[f"{PACKAGE}.entity"]
