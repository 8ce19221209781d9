"""Reductions: sum, mean and max over an axis (or all), with keepdims.

Backward spreads the incoming gradient back over the reduced axes: evenly for sum, to the
arg-max positions for max.
"""
from ..backend import get_array_module
from ..tensor import Function


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
        if any(x.shape[a] == 0 for a in self.axes):
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
        return max(x.abs(), dim, keepdim)
    if not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"norm: p must be a positive number, 'fro' or inf, got {p!r}")
    return sum(x.abs() ** p, dim, keepdim) ** (1.0 / p)


def sum(x, axis=None, keepdims=False):      # noqa: A001 - the op's name
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """sum / count: its gradient is the sum's, divided by count. (Empty: NaN, as in NumPy.)"""
    axes = _axes(axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    total = sum(x, axes, keepdims)
    return total / count if count else total * float("nan")


def max(x, axis=None, keepdims=False):      # noqa: A001 - the op's name
    return Max(axis, keepdims)(x)
