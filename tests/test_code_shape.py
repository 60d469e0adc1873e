"""The shape of the code, checked on every run: the rules of docs/architecture.md that a reader
cannot see from one file (sizes, layers, import direction, private members, dead code)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnn_gui"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_TOP_LEVEL_MODULES = 10


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def imported(name: str, path: Path) -> set[str]:
    """Every cnn_gui module ``name`` imports at run time, lazy (in-function) imports included."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                continue  # never executed: annotations only
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("cnn_gui"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + ([base] if base else []))
                if base.startswith("cnn_gui"):
                    found.add(base)
                    found.update(f"{base}.{a.name}" for a in child.names)
            visit(child)

    visit(parsed(path))
    known = modules()
    return {m for m in found if m in known and m != name}


def test_no_module_is_over_500_lines_and_no_function_over_80():
    long_modules, long_functions = [], []
    for name, path in modules().items():
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > MAX_MODULE_LINES:
            long_modules.append(f"{name} ({lines})")
        for node in ast.walk(parsed(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name} ({length})")
    assert long_modules == [] and long_functions == []


@pytest.mark.parametrize("layer", ["core", "gui"])
def test_the_layers_show_their_architecture_in_sub_packages(layer):
    top = [p.name for p in (PACKAGE / layer).glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)
    for package in (PACKAGE / layer).iterdir():
        if package.is_dir() and package.name != "__pycache__":
            init = package / "__init__.py"
            assert init.is_file() and ast.get_docstring(parsed(init)), f"{package} says what it is for"


def test_the_core_never_imports_qt_and_shared_widgets_never_import_panels():
    offenders = []
    for name, path in modules().items():
        text_imports = set()
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Import):
                text_imports.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                text_imports.add(node.module)
        if name.startswith("cnn_gui.core") and any(m.split(".")[0] in ("PySide6", "pyqtgraph") for m in text_imports):
            offenders.append(name)
        if name.startswith("cnn_gui.gui.widgets") and any(
                m.startswith(("cnn_gui.gui.panels", "cnn_gui.gui.analysis", "cnn_gui.gui.flows"))
                for m in imported(name, path)):
            offenders.append(name)
    assert offenders == []


def import_loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): each is an import loop."""
    index, low, stack, on_stack, loops, counter = {}, {}, [], set(), [], [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in list(graph):
        if v not in index:
            connect(v)
    return loops


def test_the_loop_finder_finds_a_loop():
    assert import_loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_loops({"a": {"b"}, "b": set()}) == []


def test_no_import_loop_lazy_imports_included():
    graph = {name: imported(name, path) for name, path in modules().items()}
    # A package's __init__ importing its own modules is not a loop of the modules themselves.
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}
    assert import_loops(graph) == []


def test_no_gui_object_reaches_into_another_objects_privates():
    reaches = []
    for name, path in modules().items():
        if not name.startswith("cnn_gui.gui"):
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                    continue
                if isinstance(base, ast.Call) and getattr(base.func, "id", "") == "super":
                    continue
                reaches.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert reaches == []


@pytest.mark.skipif(shutil.which("vulture") is None and not (Path(sys.executable).parent / "vulture").exists(),
                    reason="vulture is in the test extra")
def test_no_dead_code_outside_the_whitelist():
    """Qt's overrides (paintEvent, headerData...) are called by Qt, by name: tests/vulture_whitelist.py."""
    vulture = shutil.which("vulture") or str(Path(sys.executable).parent / "vulture")
    result = subprocess.run([vulture, "cnn_gui", "tests", "benchmarks", "--min-confidence", "60"],
                            cwd=ROOT, capture_output=True, text=True)
    production = [line for line in result.stdout.splitlines() if line.startswith("cnn_gui")]
    assert production == []
