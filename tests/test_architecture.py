"""The layering of DEVELOPERS.md, checked on the source (``ast``; nothing is imported).

* ``multimodal_fer/`` is the run-time library: it never imports ``training``, ``scripts``,
  ``flows`` or Prefect — at module level or inside a function.
* The top-level packages (``multimodal_fer``, ``training``, ``scripts``, ``flows``, ``schemas``)
  import each other without a cycle.

* No run-time module over ``MAX_MODULE_LINES`` lines, no run-time function over ``MAX_FUNCTION_LINES``
  lines (``python tests/test_architecture.py`` lists any).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("multimodal_fer", "training", "scripts", "flows", "schemas")
FORBIDDEN_IN_RUNTIME = {"training", "scripts", "flows", "prefect", "prefect_dask"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# No exceptions: the commands that start flows (``mfer run``, ``mfer serve``) live in ``flows/cli.py``
# (``multimodal_fer_flows.cli``, the ``mfer`` console script), which composes ``multimodal_fer.cli``.


def _modules() -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of :data:`PACKAGES`."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imported_modules(module: str, path: Path) -> set[str]:
    """Absolute names of every module ``module`` imports, anywhere in the file (function-level too)."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{a.name}" for a in node.names)  # ``from pkg import module``
    return {n for n in names if n}


#: Import names of the top-level folders (pyproject.toml's package-dir): ``schemas/`` is imported as
#: ``multimodal_fer_schemas``, and so on.
FOLDER_OF = {"multimodal_fer_schemas": "schemas", "multimodal_fer_flows": "flows", "multimodal_fer_warehouse": "warehouse"}


def _top(name: str) -> str:
    """The top-level folder a module name lives in (import names mapped back to folders)."""
    top = name.split(".", 1)[0]
    return FOLDER_OF.get(top, top)


def package_graph() -> dict[str, set[str]]:
    """``{package: packages it imports}`` among :data:`PACKAGES`."""
    graph: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for module, path in _modules().items():
        for name in imported_modules(module, path):
            dst = _top(name)
            if dst in PACKAGES and dst != _top(module):
                graph[_top(module)].add(dst)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_runtime_imports_no_training_scripts_flows_or_prefect():
    bad = {}
    for module, path in _modules().items():
        if _top(module) != "multimodal_fer":
            continue
        hits = {_top(n) for n in imported_modules(module, path)} & FORBIDDEN_IN_RUNTIME
        if hits:
            bad[module] = sorted(hits)
    assert not bad, f"run-time modules importing non-run-time code: {bad}"


def test_cli_is_layered():
    """``mfer``'s library commands never start a flow; the console script is the flows' CLI, which adds them."""
    mods = _modules()
    library = {_top(n) for n in imported_modules("multimodal_fer.cli", mods["multimodal_fer.cli"])}
    assert not library & FORBIDDEN_IN_RUNTIME
    assert "multimodal_fer.cli" in imported_modules("flows.cli", mods["flows.cli"])
    assert 'mfer = "multimodal_fer_flows.cli:main"' in (REPO / "pyproject.toml").read_text()


def test_no_import_cycle_between_packages():
    graph = package_graph()
    assert find_cycle(graph) is None, f"import cycle between packages: {' -> '.join(find_cycle(graph))}"
    assert "multimodal_fer" not in graph["schemas"]  # schemas is below the run-time library


def test_import_parsing_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "multimodal_fer" / "face"
    pkg.mkdir(parents=True)
    f = pkg / "x.py"
    f.write_text("def f():\n    import prefect\n    from training.face import main\n\n"
                 "from . import cnn\nfrom ..labels import EMOTIONS\n")
    names = imported_modules("multimodal_fer.face.x", f)
    assert {"prefect", "training.face", "multimodal_fer.face.cnn", "multimodal_fer.labels"} <= names
    assert _top("multimodal_fer_flows.process_bucket") == "flows" and _top("multimodal_fer.store") == "multimodal_fer"
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def long_code() -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Run-time modules over :data:`MAX_MODULE_LINES` lines and functions over :data:`MAX_FUNCTION_LINES`
    lines (longest first)."""
    modules, functions = [], []
    for module, path in _modules().items():
        if _top(module) != "multimodal_fer":
            continue
        text = path.read_text()
        n = len(text.splitlines())
        if n > MAX_MODULE_LINES:
            modules.append((module, n))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    functions.append((f"{module}.{node.name}", length))
    return sorted(modules, key=lambda m: -m[1]), sorted(functions, key=lambda f: -f[1])


def test_runtime_modules_and_functions_are_short():
    """House rules: no run-time module over 400 lines, no run-time function over 60 lines."""
    modules, functions = long_code()
    assert modules == [] and functions == [], f"too long: {modules + functions}"


if __name__ == "__main__":
    mods, funcs = long_code()
    print(f"run-time modules over {MAX_MODULE_LINES} lines:")
    for name, n in mods:
        print(f"  {n:5d}  {name}")
    print(f"run-time functions over {MAX_FUNCTION_LINES} lines:")
    for name, n in funcs:
        print(f"  {n:5d}  {name}")
