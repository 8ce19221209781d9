"""Every differentiable op minigrad defines has a gradient check somewhere in tests/: measured,
not declared. ``mg.gradcheck`` records the Function types it walks (``minigrad.gradcheck.
CHECKED``); this test runs last (tests/conftest.py moves it there) and reads that record, so an
op counts as checked only when a gradient check actually ran through its backward.
"""
import importlib
import os
import pathlib

import pytest

import minigrad as mg
from minigrad.gradcheck import CHECKED

HERE = pathlib.Path(__file__).parent


def _import_all_minigrad_modules():
    root = pathlib.Path(mg.__file__).parent
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        importlib.import_module(".".join(parts))


def _subclasses(cls):
    """Every subclass of ``cls``, however deep."""
    found, todo = set(), [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_function_has_a_gradient_check(request):
    ran = getattr(request.config, "minigrad_test_files", set())
    every = {p.name for p in HERE.glob("test_*.py")}
    if os.environ.get("PYTEST_XDIST_WORKER") or not every <= ran or request.config.option.keyword \
            or request.config.option.markexpr:
        pytest.skip("reads what the gradient checks of the whole suite walked: run the whole "
                    "suite, in one process (python -m pytest -q)")
    _import_all_minigrad_modules()
    ops = {f for f in _subclasses(mg.Function) if f.__module__.startswith("minigrad")}
    assert ops, "no ops found: the walk over Function's subclasses is broken"
    assert CHECKED, "mg.gradcheck recorded nothing: its record is broken"
    missing = sorted(f"{f.__module__}.{f.__name__}" for f in ops - CHECKED)
    assert not missing, f"ops that no mg.gradcheck call walked through: {missing}"
