"""Every differentiable op minigrad defines has a gradient check somewhere in tests/."""
import importlib
import pathlib

import minigrad as mg
from tests.gradcheck_registry import COVERED


def _import_all_test_modules():
    here = pathlib.Path(__file__).parent
    for path in sorted(here.glob("test_*.py")):
        if path.stem != "test_coverage":
            importlib.import_module(f"tests.{path.stem}")


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


def test_every_function_has_a_gradient_check():
    _import_all_minigrad_modules()
    _import_all_test_modules()
    ops = {f for f in _subclasses(mg.Function)
           if f.__module__.startswith("minigrad")}
    assert ops, "no ops found: the walk over Function's subclasses is broken"
    missing = sorted(f"{f.__module__}.{f.__name__}" for f in ops - COVERED)
    assert not missing, f"ops with no gradient check (decorate a gradcheck test with @covers): {missing}"
