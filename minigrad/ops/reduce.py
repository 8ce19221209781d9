"""Reductions: sum, mean and max over an axis (or all), with keepdims.

Backward spreads the incoming gradient back over the reduced axes: evenly for sum, to the
arg-max positions for max.
"""
import collections

from ..backend import get_array_module
from ..tensor import Function, Tensor
from .dims import accepts_dim
from .elementwise import where


def _axes(axis, ndim):
    """``axis`` as a sorted tuple of non-negative ints (None: every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
    return tuple(sorted({a % ndim for a in axes}))


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _spread(gy, shape, axes):
    """``gy`` (reduced shape) broadcast back over the reduced axes to ``shape``, as a copy."""
    gy = gy.reshape(_keepdims_shape(shape, axes))
    return get_array_module(gy).broadcast_to(gy, shape).copy()


class Sum(Function):
    saves_inputs = ()
    saves_output = False

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return _spread(gy, self.inputs[0].shape, self.axes)


class Max(Function):
    """Max over ``axis``; where several elements tie for the max they share its gradient."""
    saves_inputs = ()
    saves_output = False

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes(self.axis, x.ndim)
        if 0 in [x.shape[a] for a in self.axes]:
            raise ValueError(f"max: cannot reduce over an empty axis of shape {tuple(x.shape)}")
        y = x.max(axis=self.axes, keepdims=True)
        self.mask = x == y
        return y if self.keepdims else y.reshape(
            [n for i, n in enumerate(y.shape) if i not in self.axes])

    def backward(self, gy):
        gy = gy.reshape(_keepdims_shape(self.inputs[0].shape, self.axes))
        count = self.mask.sum(axis=self.axes, keepdims=True)
        return gy * self.mask / count


class Norm2(Function):
    """The Euclidean norm over ``axis``: y = sqrt(sum x^2), dy/dx = x / y (0 where y = 0,
    torch's choice of subgradient)."""
    saves_output = True

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _axes(self.axis, x.ndim)
        xp = get_array_module(x)
        self.y = xp.sqrt((x * x).sum(axis=self.axes, keepdims=True))
        return self.y if self.keepdims else self.y.reshape(
            [n for i, n in enumerate(self.y.shape) if i not in self.axes])

    def backward(self, gy):
        x = self.inputs[0].array
        gy = gy.reshape(self.y.shape)
        xp = get_array_module(x)
        safe = xp.where(self.y == 0, 1, self.y)
        return xp.where(self.y == 0, 0, gy / safe) * x


def norm(x, p=2, dim=None, keepdim=False):
    """As torch's ``t.norm(p, dim, keepdim)``: the p-norm over ``dim`` (None: all elements).
    p = 2 (or 'fro') is its own op; another p is (sum |x|^p)^(1/p), p = inf the max of |x|."""
    if p in (2, "fro"):
        return Norm2(dim, keepdim)(x)
    if p == float("inf"):
        return max(x.abs(), axis=dim, keepdims=keepdim)
    if not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"norm: p must be a positive number, 'fro' or inf, got {p!r}")
    return sum(x.abs() ** p, dim, keepdim) ** (1.0 / p)


@accepts_dim
def sum(x, axis=None, keepdims=False):      # noqa: A001 - the op's name
    return Sum(axis, keepdims)(x)


class Cumsum(Function):
    """Running sums along ``axis``; each input element feeds every later output, so its
    gradient is the sum of gy from its position to the end (a reversed running sum)."""
    saves_inputs = ()

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return get_array_module(x).cumsum(x, axis=self.axis)

    def backward(self, gy):
        xp = get_array_module(gy)
        return xp.flip(xp.cumsum(xp.flip(gy, self.axis), axis=self.axis), self.axis)


@accepts_dim
def cumsum(x, axis):
    """Running sums along ``axis`` (torch.cumsum(x, dim))."""
    if x.ndim == 0:
        return x
    return Cumsum(_axes(axis, x.ndim)[0])(x)


@accepts_dim
def mean(x, axis=None, keepdims=False):
    """sum / count: its gradient is the sum's, divided by count. (Empty: NaN, as in NumPy.)"""
    axes = _axes(axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    total = sum(x, axes, keepdims)
    return total / count if count else total * float("nan")


# torch.return_types.max/min/topk: a tuple that also has .values and .indices
ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def _extreme(op, x, dim, keepdim, axis, keepdims):
    """max/min in all three forms torch and NumPy give them (see ``max``)."""
    if dim is not None and axis is not None:
        raise TypeError(f"{op}() got both axis= and dim= (they are the same argument): pass one")
    sign = 1 if op == "max" else -1
    if isinstance(dim, Tensor):                        # torch.max(a, b): elementwise
        return where((x >= dim) if sign > 0 else (x <= dim), x, dim)
    if dim is not None and not isinstance(dim, int):
        raise TypeError(f"{op}(dim=...) takes one int axis and returns (values, indices); "
                        f"for several axes use {op}(axis={dim!r})")
    over, keep = (axis, keepdims or keepdim) if dim is None else (dim, keepdim)
    if x.dtype.kind == "f":
        # min is -max(-x): Max's backward (ties share the gradient) serves both.
        y = Max(over, keep)(x if sign > 0 else -x)
        y = y if sign > 0 else -y
    else:                                              # integers and bools: no gradient
        if 0 in [x.shape[a] for a in _axes(over, x.ndim)]:
            raise ValueError(f"{op}: cannot reduce over an empty axis of shape {x.shape}")
        y = Tensor._wrap(get_array_module(x.array).asarray(
            getattr(x.array, op)(axis=_axes(over, x.ndim), keepdims=keep)))
    return y if dim is None else ValuesIndices(y, _arg(op, x, dim, keepdim))


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=False):     # noqa: A001
    """The largest element, as NumPy and as torch have it:
    ``max(axis=None, keepdims=False)`` -> a tensor (over several axes if ``axis`` is a tuple);
    ``max(dim, keepdim=False)`` -> ``(values, indices)`` along one axis, as torch;
    ``max(other_tensor)`` -> the elementwise maximum.
    Where elements tie for the max they share its gradient."""
    return _extreme("max", x, dim, keepdim, axis, keepdims)


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=False):     # noqa: A001
    """The smallest element, in ``max``'s three forms."""
    return _extreme("min", x, dim, keepdim, axis, keepdims)


def _arg(op, x, axis, keepdims):
    data = x.array if isinstance(x, Tensor) else x
    xp = get_array_module(data)
    if axis is None:
        if data.size == 0:
            raise ValueError(f"arg{op}: the tensor is empty")
        i = getattr(xp, "arg" + op)(data.reshape(-1))
        shape = (1,) * data.ndim if keepdims else ()
        return Tensor._wrap(xp.asarray(i, dtype=xp.int64).reshape(shape))
    axis = _axes(axis, data.ndim)[0] if data.ndim else 0
    if data.ndim and data.shape[axis] == 0:
        raise ValueError(f"arg{op}: cannot reduce over an empty axis of shape {tuple(data.shape)}")
    i = getattr(xp, "arg" + op)(data, axis=axis) if data.ndim else xp.asarray(0)
    if keepdims and data.ndim:
        i = xp.expand_dims(i, axis)
    return Tensor._wrap(i.astype(xp.int64))


@accepts_dim
def argmax(x, axis=None, keepdims=False):
    """Index of the largest element along ``axis`` (of the flattened tensor if None), int64;
    the first one where several tie. No gradient."""
    return _arg("max", x, axis, keepdims)


@accepts_dim
def argmin(x, axis=None, keepdims=False):
    return _arg("min", x, axis, keepdims)


@accepts_dim
def all(x, axis=None, keepdims=False):       # noqa: A001 - the op's name
    """True where every element (along ``axis``) is nonzero. A bool tensor, no gradient."""
    a = x.array
    return Tensor._wrap(get_array_module(a).asarray(a.all(axis=axis, keepdims=keepdims)))


@accepts_dim
def any(x, axis=None, keepdims=False):       # noqa: A001 - the op's name
    a = x.array
    return Tensor._wrap(get_array_module(a).asarray(a.any(axis=axis, keepdims=keepdims)))
