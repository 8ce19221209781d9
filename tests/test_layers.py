"""The layers point one way: backend -> tensor -> ops -> functional -> nn ->
optim/decoding/metrics/models, with no import running back up, even from inside a function.

import-linter checks the contract written in setup.cfg (``[importlinter:contract:layers]``);
it reads every import statement, a function's lazy ones included. The test beside it checks
the same for lazy imports with nothing but ``ast``, so that the rule holds, and says which
line breaks it, even where import-linter is not installed; and a third finds import circles of
any kind between minigrad's modules.
"""
import ast
import configparser
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "minigrad"


def _layers():
    """[{module, ...}, ...] from setup.cfg, highest layer first."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["importlinter:contract:layers"]["layers"].split("\n")
    return [{m.strip() for m in line.split("|")} for line in lines if line.strip()]


def _modules():
    """{dotted name: (path, is_package)} for every module of minigrad."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imports(name, is_package, tree, modules):
    """(target module, line, lazy) for each import of a minigrad module in ``tree``."""
    lazy_lines = {n.lineno for f in ast.walk(tree)
                  if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = name.split(".") if is_package else name.split(".")[:-1]
            if node.level:
                base = base[:len(base) - node.level + 1] + ([node.module] if node.module else [])
                prefix = ".".join(base)
            else:
                prefix = node.module or ""
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix
                       for a in node.names]
        for t in targets:
            if t in modules and t != name:
                yield t, node.lineno, node.lineno in lazy_lines


def _layer_of(module, layers):
    for i, layer in enumerate(layers):
        for top in layer:
            if module == top or module.startswith(top + "."):
                return i
    return None


def _upward_lazy_imports(sources, layers):
    """'module:line imports target' for each function-level import of a higher layer."""
    modules = _modules()
    found = []
    for name, (source, is_package) in sources.items():
        here = _layer_of(name, layers)
        for target, line, lazy in _imports(name, is_package, ast.parse(source), modules):
            there = _layer_of(target, layers)
            if lazy and here is not None and there is not None and there < here:
                found.append(f"{name}:{line} imports {target}")
    return found


def _sources():
    return {name: (path.read_text(), is_package) for name, (path, is_package) in _modules().items()}


def test_the_layer_contract_holds():
    pytest.importorskip("importlinter")
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='setup.cfg', no_cache=True, no_logo=True))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 kept, 0 broken" in run.stdout


def test_every_module_has_a_layer():
    layers = _layers()
    homeless = [m for m in _modules() if m != "minigrad" and _layer_of(m, layers) is None]
    assert not homeless, f"put these in a layer of setup.cfg's contract: {homeless}"


def test_no_lazy_import_points_up_a_layer():
    assert _upward_lazy_imports(_sources(), _layers()) == []


def test_the_lazy_import_check_catches_an_upward_import():
    # The mistake it exists for: an op reaching up into nn from inside a function.
    sources = _sources()
    source, is_package = sources["minigrad.ops.elementwise"]
    sources["minigrad.ops.elementwise"] = (
        source + "\n\ndef _late():\n    from ..nn import module\n    return module\n", is_package)
    found = _upward_lazy_imports(sources, _layers())
    assert len(found) == 1 and found[0].endswith("imports minigrad.nn.module"), found


def test_no_module_imports_one_that_imports_it_back():
    modules = _modules()
    graph = {name: {t for t, _, _ in _imports(name, is_pkg, ast.parse(path.read_text()), modules)}
             for name, (path, is_pkg) in modules.items()}
    # A package's __init__ re-exports its modules; a module reaching the package itself
    # (from . import x resolves to the module x, so this is rare) would show up here.
    circles = []
    for start in graph:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start and len(path) > 1:
                    circles.append(" -> ".join(path + (start,)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + (nxt,)))
    assert not circles, circles[:3]
