"""The module map holds (docs/architecture.md, ../shared/STYLE.md): imports between remoteimport's own modules,
read from the code (at module level and inside functions alike: a local import is still a call-time edge), form no
circle, except the one kept on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "remoteimport"

# config <-> registry: the recording wrapper's qualified name (remoteimport.config._record...) is inside persisted
# hashes, so it cannot move, and registry's persist needs it (STYLE.md: "kept on purpose").
ALLOWED_CIRCLES = [{"remoteimport.config", "remoteimport.registry"}]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The remoteimport modules ``path`` imports (``from remoteimport import x`` names a module when x is one)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (imports for type hints only, never run)."""
    found, pending = [], [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    paths = [path for path in PACKAGE.rglob("*.py") if "_legacy" not in path.parts]
    modules = {_module_name(path) for path in paths}
    return {_module_name(path): _imports(path, modules) for path in paths}


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_is_read_from_the_code() -> None:
    graph = import_graph()
    assert "remoteimport.loader" in graph["remoteimport.hook"]
    assert "remoteimport.graphs" in graph["remoteimport.hashing.encoder"]
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_import_circles_but_the_one_kept_on_purpose() -> None:
    circles = _circles(import_graph())
    unexpected = [sorted(circle) for circle in circles if circle not in ALLOWED_CIRCLES]
    assert unexpected == [], f"import circles (move the shared piece down a floor): {unexpected}"


def test_the_pure_modules_import_no_io_module() -> None:
    graph = import_graph()
    io_modules = {"remoteimport.store", "remoteimport.cache", "remoteimport.loader", "remoteimport.registry"}
    for pure in ("remoteimport.names", "remoteimport.graphs", "remoteimport.blob", "remoteimport._env"):
        assert not graph[pure] & io_modules, pure
