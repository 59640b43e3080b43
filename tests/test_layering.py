"""The package's structure: imports flow one way through the layers, with no cycles, and each
third-party library stays in the one place allowed to use it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "relu_ce_diag"
# Lowest first. A module may import its own layer and the ones before it, never a later one
# (also not inside a function or under TYPE_CHECKING).
LAYERS = (
    ("_version", "errors"),
    ("model",),
    ("numeric",),
    ("settings",),
    ("check",),
    ("diagnostics",),
    ("results",),
    ("run",),
    ("report",),
    ("cli", "__main__", "__init__", "testing"),
)
# Third-party imports and the only places that may make them.
ALLOWED = {
    "yaml": ("settings.yaml_file",),
    "click": ("cli",),
    "rich": ("report", "cli"),
    "matplotlib": ("report.plot",),
}
NUMERIC_ONLY = ("numpy",)  # the numeric core needs nothing else from outside


def _name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" and len(rel.parts) > 1 else rel.parts
    return ".".join(parts)


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
           if "grids" not in p.relative_to(PACKAGE).parts}  # grids/ is configs/ (data)


def _layer(module: str) -> int:
    """Return the layer of a module name relative to the package ('' is the package root)."""
    head = module.split(".")[0] if module else "__init__"
    for k, names in enumerate(LAYERS):
        if head in names:
            return k
    raise AssertionError(f"relu_ce_diag.{module} is in no layer; add it to LAYERS")


def _imports(module: str) -> list[tuple[str, int]]:
    """Return every (imported module, line) of a module, wherever the import statement is."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - node.level + 1]
                target = ".".join(["relu_ce_diag", *base] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            inner = target == "relu_ce_diag" or target.startswith("relu_ce_diag.")
            subs = [f"{target}.{a.name}" for a in node.names
                    if inner and f"{target}.{a.name}"[len("relu_ce_diag."):] in MODULES]
            # ``from relu_ce_diag.check import builtin`` imports the submodule builtin; any
            # other name comes from the package itself
            found += [(t, node.lineno) for t in subs]
            if len(subs) < len(node.names):
                found.append((target, node.lineno))
    return found


def _internal(target: str) -> str | None:
    """Return the package-relative module of an import inside relu_ce_diag, else None."""
    if target == "relu_ce_diag":
        return ""
    if target.startswith("relu_ce_diag."):
        name = target[len("relu_ce_diag."):]
        while name and name not in MODULES:  # ``from pkg.mod import name`` -> pkg.mod
            name = name.rpartition(".")[0]
        return name
    return None


def _graph() -> dict[str, set[str]]:
    return {m: {t for t in (_internal(i) for i, _ in _imports(m)) if t is not None and t != m}
            for m in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_down_the_layers(module: str) -> None:
    """No module imports a later layer (the CLI may import everything, nothing imports it)."""
    for target, line in _imports(module):
        inner = _internal(target)
        if inner is None:
            continue
        assert _layer(inner) <= _layer(module), (
            f"relu_ce_diag/{MODULES[module].relative_to(PACKAGE)}:{line} imports "
            f"{target} from a later layer")


def test_no_import_cycles() -> None:
    """The module graph is acyclic (imports inside functions and TYPE_CHECKING count too)."""
    graph = _graph()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = path[path.index(n):] + [n] if n in path else [m, n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("library, places", sorted(ALLOWED.items()))
def test_third_party_libraries_stay_in_their_place(library: str, places: tuple[str, ...]) -> None:
    """yaml only in the YAML reader, click only in the CLI, rich only in report and CLI."""
    for module in MODULES:
        for target, line in _imports(module):
            if target.split(".")[0] == library:
                assert any(module == p or module.startswith(p + ".") for p in places), (
                    f"relu_ce_diag.{module}:{line} imports {library}")


def test_numeric_core_imports_only_numpy_and_the_model() -> None:
    """The numerical oracle and its fast route depend on NumPy and the model alone."""
    for module in (m for m in MODULES if m.split(".")[0] == "numeric"):
        for target, line in _imports(module):
            inner = _internal(target)
            top = target.split(".")[0]
            if inner is not None:
                assert _layer(inner) <= _layer("numeric"), (module, target, line)
            else:
                assert top in NUMERIC_ONLY or top in ("__future__", "collections", "dataclasses",
                                                      "math", "typing", "functools"), (
                    f"relu_ce_diag.{module}:{line} imports {target}")


def test_modules_are_small() -> None:
    """No module is over 300 lines, no function over 60 without a reason in its docstring."""
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") <= 300, f"{module}: {text.count(chr(10))} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                doc = ast.get_docstring(node) or ""
                assert length <= 60 or "(One function" in doc, (
                    f"{module}.{node.name}: {length} lines and no reason in its docstring")


def test_the_architecture_page_lists_every_layer() -> None:
    """docs/architecture.md names each layer's folder in the order of LAYERS."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    positions = [page.find(f"`{names[0]}") for names in LAYERS[1:-1]]
    missing = [n for n, p in zip(LAYERS[1:-1], positions, strict=True) if p < 0]
    assert not missing, missing
    assert positions == sorted(positions), "docs/architecture.md lists the layers out of order"
