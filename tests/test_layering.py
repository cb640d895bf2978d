"""The floors of the house: which package may import which, and no import circle.

``common`` is the ground floor (imports nothing else of ours), ``mesh`` stands on it alone,
``generators`` on ``common`` and ``mesh``, ``reid`` on all three, reaching ``generators`` only
through its view-source door (:mod:`reid.views.video`). ``benchmarks`` may use everything and
nothing uses it. Every import statement counts, also the ones inside functions. Run
``python tests/test_layering.py`` to print the import graph's circles and floor breaches.
"""
from __future__ import annotations

import ast
import os
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("common", "mesh", "generators", "reid", "benchmarks")
#: What each package may import, besides itself and third-party packages.
ALLOWED = {
    "common": set(),
    "mesh": {"common"},
    "generators": {"common", "mesh"},
    "reid": {"common", "mesh", "generators"},
    "benchmarks": {"common", "mesh", "generators", "reid"},
}
#: The one reid module that may import generators: the video view.
GENERATORS_DOOR = ("reid.views.video",)


def module_files() -> dict[str, str]:
    """Module name -> file path of every module of the packages."""
    modules = {}
    for package in PACKAGES:
        top = os.path.join(ROOT, package)
        for folder, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3]
                parts = rel.split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                modules[".".join(parts)] = os.path.join(folder, name)
    return modules


def _imported_names(path: str, module: str) -> list[str]:
    """Dotted names imported anywhere in the file (``from a import b`` gives ``a.b``)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    is_package = os.path.basename(path) == "__init__.py"
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            names += [f"{prefix}.{alias.name}" for alias in node.names]
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (the deepest existing module of each name;
    a module's own enclosing packages are left out: importing them is how a submodule reaches
    its siblings' public names, and Python resolves it without a circle)."""
    modules = module_files()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        graph[module]
        for name in _imported_names(path, module):
            parts = name.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            target = ".".join(parts)
            if not target or target == module or module.startswith(target + "."):
                continue
            graph[module].add(target)
    return graph


def floor_breaches(graph: dict[str, set[str]]) -> list[str]:
    breaches = []
    for module, targets in sorted(graph.items()):
        package = module.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other == package:
                continue
            if other not in ALLOWED[package]:
                breaches.append(f"{module} imports {target}: {package} may import "
                                f"{sorted(ALLOWED[package]) or 'nothing of ours'}")
            elif package == "reid" and other == "generators" and module not in GENERATORS_DOOR:
                breaches.append(f"{module} imports {target}: reid reaches generators only "
                                f"through {', '.join(GENERATORS_DOOR)}")
    return breaches


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
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
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_is_read():
    graph = import_graph()
    for package in PACKAGES:
        assert package in graph, f"package {package} not found below {ROOT}"
    # The reader follows relative and function-level imports: two known arrows.
    assert "common.serialization" in graph["common.io"]
    assert "generators.config" in graph["reid.views.video"]


def test_packages_import_only_the_floors_below():
    assert floor_breaches(import_graph()) == []


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_circle_and_breach_detection_on_a_made_up_graph():
    graph = {"mesh.a": {"mesh.b"}, "mesh.b": {"mesh.a", "reid.x"}, "reid.x": {"common.y"},
             "common.y": set(), "reid.z": {"generators.g"}, "generators.g": set()}
    assert circles(graph) == [["mesh.a", "mesh.b"]]
    assert floor_breaches(graph) == [
        "mesh.b imports reid.x: mesh may import ['common']",
        "reid.z imports generators.g: reid reaches generators only through reid.views.video"]


if __name__ == "__main__":
    graph = import_graph()
    print(f"{len(graph)} modules, {sum(len(t) for t in graph.values())} arrows")
    for circle in circles(graph):
        print("circle:", " -> ".join(circle))
    for breach in floor_breaches(graph):
        print("breach:", breach)
