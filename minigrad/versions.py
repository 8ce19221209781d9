"""Versions: what makes in-place ops safe.

An in-place op changes a tensor's storage. A call recorded earlier may need the old values in
its backward (Mul reads its inputs, Exp its output), so backward must not run on the new ones.
torch's rule, kept here: each storage has a version counter, bumped by every in-place op;
backward raises when a call's saved tensor has been changed since the call was recorded.

To pay nothing per op for this, the versions are stamps from one global clock, ``clock``, which
ticks once per in-place op. A recorded call keeps the clock's value (``fn._epoch``): a tensor
it saved was changed afterwards exactly when that tensor's last stamp is later. And when the
clock has not moved since a call was recorded, which is almost always, the walk checks nothing
and never calls this module.

A tensor shares its counter with ``detach()`` (as in torch; ``.data`` does not share it, also
as in torch) and with the stand-in that a recorded in-place op leaves in its place in the graph
when the stand-in shares the storage. Views made by ops (``x[0]``, ``x.view(...)``) have
counters of their own: a recorded in-place op on a view also changes, and bumps, the tensor it
views (minigrad.ops.inplace), but one under no_grad bumps only the view. Writes into
``t.array`` count for nothing.

The engine calls two functions here: ``inputs_as_recorded`` while ordering the walk, and
``checked_inputs`` before a call's backward; ``minigrad.ops.inplace`` calls ``bump`` and
``stand_in``.
"""
import numpy as np

from . import backend

clock = [0]        # ticks once per in-place op


class _VersionCounter:
    __slots__ = ("count", "stamps")

    def __init__(self):
        self.count = 0
        self.stamps = []        # the clock at each bump, the last 16 kept

    def version_at(self, epoch):
        later = sum(1 for s in self.stamps if s > epoch)
        return self.count - later


def counter(t):
    """``t``'s version counter, made on first use."""
    vc = getattr(t, "_version_counter", None)
    if vc is None:
        vc = t._version_counter = _VersionCounter()
        fn = t.creator
        if fn is not None:
            # The call that made this storage may have kept it (Exp keeps its output): it
            # watches the counter from now on.
            fn._watched = fn.__dict__.get("_watched", ()) + ((t.output_nr, vc, t.array),)
    return vc


def version(t):
    """How many in-place ops have changed ``t``'s storage (torch's ``_version``)."""
    vc = getattr(t, "_version_counter", None)
    return 0 if vc is None else vc.count


def bump(t):
    """Record that ``t``'s storage was changed in place; returns the new stamp."""
    clock[0] += 1
    vc = counter(t)
    vc.count += 1
    vc.stamps.append(clock[0])
    if len(vc.stamps) > 16:
        del vc.stamps[:-16]
    return clock[0]


def stand_in(t, array):
    """A tensor that takes ``t``'s place in the graph, holding ``array`` (``t``'s storage, or
    a copy of its old values), before an in-place op makes ``t`` the output of a new call."""
    counter(t)          # first, so that the call that made t watches its storage
    before = type(t)._wrap(array, t.requires_grad)
    before.creator, before.output_nr = t.creator, t.output_nr
    return before


def inputs_as_recorded(fn):
    """``fn``'s inputs as they were when ``fn`` was recorded. An in-place op recorded since
    then on an input made that tensor the output of the in-place call, whose input 0 holds the
    tensor's earlier place in the graph; follow those back to ``fn``'s time."""
    epoch = fn._epoch
    inputs = []
    for x in fn.inputs:
        while x.creator is not None and x.creator.inplace and x.creator._epoch > epoch:
            x = x.creator.inputs[0]
        inputs.append(x)
    return tuple(inputs)


def checked_inputs(fn, as_recorded):
    """``as_recorded`` (``inputs_as_recorded(fn)``, found before the walk began to free the
    graph), after checking that nothing ``fn``'s backward reads has been changed in place
    since ``fn`` was recorded (else the error torch gives)."""
    epoch = fn._epoch
    saved = range(len(fn.inputs)) if fn.saves_inputs is None else fn.saves_inputs
    for i in saved:
        x = fn.inputs[i]
        vc = getattr(x, "_version_counter", None)
        if vc is not None and vc.stamps and vc.stamps[-1] > epoch:
            _modified_error(fn, f"input {i}", x.shape, vc, epoch)
    for k, vc, out in fn.__dict__.get("_watched", ()):
        if vc.stamps and vc.stamps[-1] > epoch and _keeps_output(fn, out):
            which = "output" if fn.n_outputs == 1 else f"output {k}"
            _modified_error(fn, which, out.shape, vc, epoch)
    return as_recorded


def _keeps_output(fn, out):
    if fn.saves_output is not None:
        return fn.saves_output
    xp = backend.get_array_module(out)
    return any(xp.may_share_memory(a, out) for a in _kept_arrays(fn))


def _kept_arrays(fn):
    """The arrays ``fn`` kept on itself: its attributes, inside tuples and lists, and one
    level into objects it kept (a buffer bag)."""
    def arrays(v, depth):
        if isinstance(v, np.ndarray) or backend.is_cupy_array(v):
            yield v
        elif isinstance(v, (tuple, list)):
            for w in v:
                yield from arrays(w, depth)
        elif depth and hasattr(v, "__dict__") and not isinstance(v, type) and not hasattr(
                v, "creator"):
            for w in vars(v).values():
                yield from arrays(w, depth - 1)
    for name, v in fn.__dict__.items():
        if name not in ("inputs", "_watched", "retained", "_shapes"):
            yield from arrays(v, 1)


def _modified_error(fn, which, shape, vc, epoch):
    shape = "" if shape is None else f" (shape {tuple(shape)})"
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: the {which} of {fn.name}{shape} is at version {vc.count}; "
        f"{fn.name} saved it at version {vc.version_at(epoch)}. {fn.name}'s backward needs "
        "the values it had then. Make the change out of place (y = y * 2 instead of y *= 2), "
        "or change a .clone() of the tensor.")
