"""Switches read by the engine: whether ops record (``no_grad``) and whether they check for
NaN/Inf (``detect_anomaly``). Each flag is a one-element list, so that the engine reads it
with one index and a ``with`` block can put the previous value back."""
import contextlib

from . import backend

grad_enabled = [True]
anomaly = [False]


class _Switch(contextlib.ContextDecorator):
    """Sets ``flag[0]`` to ``value`` for a ``with`` block (or a decorated function) and puts
    the previous value back after it."""

    def __init__(self, flag, value):
        self.flag, self.value = flag, value

    def _recreate_cm(self):             # a decorated function that recurses gets its own
        return _Switch(self.flag, self.value)

    def __enter__(self):
        self.previous = self.flag[0]
        self.flag[0] = self.value
        return self

    def __exit__(self, *exc):
        self.flag[0] = self.previous


def no_grad():
    """Inside this block, ops record nothing (evaluation, parameter updates)."""
    return _Switch(grad_enabled, False)


def enable_grad():
    return _Switch(grad_enabled, True)


class set_grad_enabled(_Switch):
    """Turn recording on or off: as a call (``mg.set_grad_enabled(False)``), which switches at
    once, or as a ``with`` block, which also restores the previous mode when it ends."""

    def __init__(self, mode):
        super().__init__(grad_enabled, bool(mode))
        self.previous = grad_enabled[0]
        grad_enabled[0] = self.value

    def __enter__(self):
        return self


def is_grad_enabled():
    return grad_enabled[0]


def detect_anomaly():
    """Inside this block the first op that makes a NaN or Inf, in forward or in backward,
    raises ``FloatingPointError`` naming that op."""
    return _Switch(anomaly, True)


def check_finite(fn, arrays, where):
    """Under ``detect_anomaly``: raise if one of ``arrays``, made by ``fn``, holds NaN/Inf."""
    for i, a in enumerate(arrays):
        if a is None or a.dtype.kind not in "fc":
            continue
        xp = backend.get_array_module(a)
        if not bool(xp.isfinite(a).all()):
            raise FloatingPointError(
                f"detect_anomaly: {fn.name} produced NaN/Inf in its {where} "
                f"(output {i}, shape {tuple(a.shape)})")
