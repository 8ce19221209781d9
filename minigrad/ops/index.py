"""Indexing ``x[idx]`` (basic slicing and integer arrays) and ``where``."""
import numpy as np

from .. import backend
from ..tensor import Function, Tensor, as_tensor
from .broadcast import unbroadcast


def _plain_index(idx):
    """Tensors and lists inside an index become backend arrays."""
    def one(i):
        if isinstance(i, Tensor):
            return i.data
        if isinstance(i, list):
            return np.asarray(i)
        return i
    return tuple(one(i) for i in idx) if isinstance(idx, tuple) else one(idx)


def _is_basic(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    """``y = x[idx]``. Backward puts ``gy`` back where it came from; with integer arrays an
    element picked twice receives both gradients (a scatter-add, not an assignment)."""

    def __init__(self, idx):
        self.idx = idx

    def forward(self, x):
        return x[self.idx]

    def backward(self, gy):
        x = self.inputs[0]
        xp = backend.get_array_module(gy)
        gx = xp.zeros(x.shape, dtype=gy.dtype)
        if _is_basic(self.idx):
            gx[self.idx] = gy          # basic slicing never repeats an element
        else:
            backend.scatter_add(gx, self.idx, gy)
        return gx


class Where(Function):
    """``where(cond, a, b)``: a where cond is true, else b. ``cond`` gets no gradient."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return backend.get_array_module(a, b).where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        zero = gy.dtype.type(0)
        xp = backend.get_array_module(gy)
        return (unbroadcast(xp.where(self.cond, gy, zero), a.shape),
                unbroadcast(xp.where(self.cond, zero, gy), b.shape))


def getitem(x, idx):
    idx = _plain_index(idx)
    if not isinstance(idx, tuple) and hasattr(idx, "dtype") and idx.dtype == bool:
        idx = idx.nonzero()      # a boolean mask as the integer arrays it selects
    if isinstance(idx, tuple):
        idx = tuple(backend.array_on(i, x.device) if hasattr(i, "dtype") else i for i in idx)
    elif hasattr(idx, "dtype"):
        idx = backend.array_on(idx, x.device)
    return GetItem(idx)(x)


def where(cond, a, b):
    cond = cond.data if isinstance(cond, Tensor) else cond
    if isinstance(a, Tensor) or not isinstance(b, Tensor):
        a = as_tensor(a)
        b = as_tensor(b, like=a)
    else:
        a = as_tensor(a, like=b)
    xp = backend.get_array_module(a.data, b.data)
    return Where(xp.asarray(cond, dtype=bool))(a, b)
