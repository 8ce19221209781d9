"""Ops that move values around without changing them: reshape, transpose, cat, stack,
dtype casts and device moves. Their backward moves the gradient back."""
import math

import numpy as np

from .. import backend
from ..tensor import Function, as_tensor
from .dims import accepts_dim


class Reshape(Function):
    saves_inputs = ()
    saves_output = False

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.inputs[0].shape)


class Transpose(Function):
    """Permute the axes; backward applies the inverse permutation."""
    saves_inputs = ()
    saves_output = False

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        return gy.transpose(tuple(np.argsort(self.axes).tolist()))     # axes: host ints


class BroadcastTo(Function):
    saves_inputs = ()
    saves_output = False

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return backend.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        from .broadcast import unbroadcast
        return unbroadcast(gy, self.inputs[0].shape)


class Cast(Function):
    saves_inputs = ()
    saves_output = False

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.inputs[0].dtype)


class ToDevice(Function):
    """Copy to another device; the gradient is copied back to where the input was."""
    saves_inputs = ()
    saves_output = False

    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return backend.to_device(gy, self.source)


class Clone(Function):
    """A copy with its own storage, still in the graph (torch's ``clone``)."""
    saves_inputs = ()
    saves_output = False

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


class Cat(Function):
    saves_inputs = ()
    saves_output = False

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.get_array_module(*xs)
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        bounds = np.cumsum([x.shape[self.axis] for x in self.inputs])[:-1]
        return tuple(xp.split(gy, bounds.tolist(), axis=self.axis))


class Stack(Function):
    saves_inputs = ()
    saves_output = False

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.get_array_module(*xs)
        return xp.stack(xs, axis=self.axis)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return tuple(xp.moveaxis(gy, self.axis, 0))


def _shape_arg(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def reshape(x, *shape):
    return Reshape(_shape_arg(shape))(x)


def permute(x, *axes):
    axes = _shape_arg(axes)
    if sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of {x.shape}")
    return Transpose(tuple(a % x.ndim for a in axes))(x)


def transpose(x, dim0=None, dim1=None):
    """As in torch: swap two axes; with no arguments, reverse all of them (``x.T``)."""
    if dim0 is None and dim1 is None:
        return Transpose(tuple(reversed(range(x.ndim))))(x)
    dim0, dim1 = _axis("transpose", dim0, x.ndim), _axis("transpose", dim1, x.ndim)
    axes = list(range(x.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Transpose(tuple(axes))(x)


def broadcast_to(x, *shape):
    return BroadcastTo(_shape_arg(shape))(x)


def expand(x, *sizes):
    """torch's ``expand``: broadcast to ``sizes``, where -1 keeps that axis's size."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {sizes} has fewer dimensions than the tensor {x.shape}")
    sizes = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    return broadcast_to(x, sizes)


def repeat(x, *repeats):
    """torch's ``repeat``: tile the tensor ``repeats[i]`` times along axis i (NumPy's ``tile``);
    extra leading repeats add axes. Made of reshape and broadcast, so differentiable."""
    repeats = _shape_arg(repeats)
    if len(repeats) < x.ndim:
        raise ValueError(f"repeat: {len(repeats)} repeats for a tensor of {x.ndim} dimensions "
                         f"{x.shape}; give at least one per dimension")
    shape = (1,) * (len(repeats) - x.ndim) + tuple(x.shape)
    pairs = [n for r, s in zip(repeats, shape) for n in (1, s)]
    wide = [n for r, s in zip(repeats, shape) for n in (r, s)]
    out = broadcast_to(reshape(x, tuple(pairs)), tuple(wide))
    return reshape(out, tuple(r * s for r, s in zip(repeats, shape)))


def movedim(x, source, destination):
    """Move axis ``source`` to position ``destination``, the others keeping their order."""
    src, dst = _axis("movedim", source, x.ndim), _axis("movedim", destination, x.ndim)
    axes = [a for a in range(x.ndim) if a != src]
    axes.insert(dst, src)
    return Transpose(tuple(axes))(x)


def t(x):
    """The transpose of a matrix (a tensor of at most 2 dimensions, as torch's ``t()``)."""
    if x.ndim > 2:
        raise ValueError(f"t(): expects a tensor with <= 2 dimensions, got {x.shape}; "
                         "use transpose(dim0, dim1)")
    return transpose(x) if x.ndim == 2 else x


def _axis(op, axis, ndim):
    """``axis`` as a non-negative int, after checking -ndim <= axis < ndim."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range (expected {-ndim} <= axis < {ndim})")
    return axis % ndim


@accepts_dim
def unsqueeze(x, axis):
    axis = _axis("unsqueeze", axis, x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


@accepts_dim
def squeeze(x, axis=None):
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    if x.ndim == 0:
        return x
    axis = _axis("squeeze", axis, x.ndim)
    if x.shape[axis] != 1:
        return x
    return reshape(x, x.shape[:axis] + x.shape[axis + 1:])


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, (1,))              # as torch: a 0-d tensor flattens to one element
    start, end = _axis("flatten", start_dim, x.ndim), _axis("flatten", end_dim, x.ndim)
    n = math.prod(x.shape[start:end + 1])
    return reshape(x, x.shape[:start] + (n,) + x.shape[end + 1:])


def astype(x, dtype):
    return Cast(dtype)(x) if np.dtype(dtype) != x.dtype else x


def to_device(x, device):
    return ToDevice(backend.check_device(device))(x)


def to(x, device=None, dtype=None):
    """A copy on ``device`` and/or with ``dtype``; differentiable (gradients flow back)."""
    out = x
    if device is not None and backend.check_device(device) != x.device:
        out = to_device(out, device)
    if dtype is not None and np.dtype(dtype) != x.dtype:
        out = out.astype(dtype)
    return out


def clone(x):
    return Clone()(x)


def _as_tensors(ts, op):
    ts = [as_tensor(t) for t in ts]
    if not ts:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    return ts


@accepts_dim
def cat(ts, axis=0):
    """Join tensors along an existing axis."""
    ts = _as_tensors(ts, "cat")
    ref = ts[0].shape
    if not ref:
        raise ValueError("cat: zero-dimensional tensors have no axis to join along; use stack")
    ax = _axis("cat", axis, len(ref))
    for t in ts:
        if len(t.shape) != len(ref) or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref)) if i != ax):
            raise ValueError(f"cat: shapes {[t.shape for t in ts]} differ outside axis {axis}")
    return Cat(ax)(*ts)


@accepts_dim
def stack(ts, axis=0):
    """Join tensors of one shape along a new axis."""
    ts = _as_tensors(ts, "stack")
    if len({t.shape for t in ts}) > 1:
        raise ValueError(f"stack: all tensors need one shape, got {[t.shape for t in ts]}")
    return Stack(_axis("stack", axis, ts[0].ndim + 1))(*ts)
