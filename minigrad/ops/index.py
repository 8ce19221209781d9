"""Indexing ``x[idx]`` (basic slicing and integer arrays), and torch's ways of picking
elements: ``gather``, ``index_select``, ``masked_fill``, ``topk``, ``tril``/``triu``."""
import numpy as np

from .. import backend
from ..tensor import Function, Tensor
from .dims import accepts_dim
from .elementwise import where
from .reduce import ValuesIndices
from .shape import _axis


def _plain_index(idx):
    """Tensors and lists inside an index become backend arrays."""
    def one(i):
        if isinstance(i, Tensor):
            return i.array
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
    saves_inputs = ()
    saves_output = False

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


class Gather(Function):
    """``y[i][j][k] = x[i][index[i][j][k]][k]`` for ``axis=1`` (torch.gather). Backward
    scatter-adds ``gy`` into the picked positions (an element picked twice gets both)."""
    saves_inputs = ()            # backward needs x's shape, not its values

    def __init__(self, axis, index):
        self.axis, self.index = axis, index

    def forward(self, x):
        xp = backend.get_array_module(x)
        # torch lets index be smaller than x on the other axes: only that corner is read.
        corner = tuple(slice(0, n) if a != self.axis else slice(None)
                       for a, n in enumerate(self.index.shape))
        return xp.take_along_axis(x[corner], self.index, axis=self.axis)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.inputs[0].shape, dtype=gy.dtype)
        # The open grid of positions (as np.indices(..., sparse=True), which CuPy lacks), with
        # the gathered axis replaced by the index.
        nd = self.index.ndim
        where = [xp.arange(n).reshape((1,) * a + (n,) + (1,) * (nd - a - 1))
                 for a, n in enumerate(self.index.shape)]
        where[self.axis] = self.index
        backend.scatter_add(gx, tuple(where), gy)
        return gx


class Triangle(Function):
    """The lower (tril) or upper (triu) triangle of the last two axes, from diagonal ``k``
    on; the rest is 0, and so is its gradient."""
    saves_inputs = ()

    def __init__(self, k, upper):
        self.k, self.upper = k, upper

    def forward(self, x):
        return self._keep(x)

    def backward(self, gy):
        return self._keep(gy)

    def _keep(self, a):
        xp = backend.get_array_module(a)
        return xp.triu(a, self.k) if self.upper else xp.tril(a, self.k)


def prepare_index(x, idx):
    """``idx`` as backend arrays, slices and ints on ``x``'s device; a boolean mask as the
    integer arrays it selects."""
    idx = _plain_index(idx)
    if not isinstance(idx, tuple) and hasattr(idx, "dtype") and idx.dtype == bool:
        idx = idx.nonzero()      # a boolean mask as the integer arrays it selects
    if isinstance(idx, tuple):
        idx = tuple(backend.array_on(i, x.device) if hasattr(i, "dtype") else i for i in idx)
    elif hasattr(idx, "dtype"):
        idx = backend.array_on(idx, x.device)
    return idx


def getitem(x, idx):
    return GetItem(prepare_index(x, idx))(x)


def _index_array(op, index, like, dtype_kinds="iu"):
    data = index.array if isinstance(index, Tensor) else index
    data = backend.to_device(data, like.device) if hasattr(data, "dtype") else \
        backend.get_array_module(like.array).asarray(data)
    if data.dtype.kind not in dtype_kinds:
        raise TypeError(f"{op}: index must hold integers, got dtype {data.dtype}")
    return data


@accepts_dim
def gather(x, axis, index):
    """Pick along ``axis`` the elements ``index`` names (torch.gather): index has x's number
    of dimensions and is no larger than x on the other axes; the output has index's shape."""
    idx = _index_array("gather", index, x)
    if idx.ndim != x.ndim:
        raise ValueError(f"gather: index has {idx.ndim} dimensions, expected {x.ndim} "
                         f"as the input {x.shape}")
    axis = _axis("gather", axis, x.ndim)
    for a, (n, m) in enumerate(zip(idx.shape, x.shape)):
        if a != axis and n > m:
            raise ValueError(f"gather: index {tuple(idx.shape)} is larger than the input "
                             f"{x.shape} on axis {a}")
    if idx.size and (bool((idx < 0).any()) or bool((idx >= x.shape[axis]).any())):
        raise IndexError(f"gather: index out of range for axis {axis} of size {x.shape[axis]}")
    return Gather(axis, idx)(x)


@accepts_dim
def index_select(x, axis, index):
    """The slices ``index`` (1-D integers) along ``axis``, in that order (torch.index_select)."""
    idx = _index_array("index_select", index, x)
    if idx.ndim != 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {tuple(idx.shape)}")
    axis = _axis("index_select", axis, x.ndim)
    return getitem(x, (slice(None),) * axis + (idx,))


def masked_fill(x, mask, value):
    """``x`` with ``value`` where ``mask`` (bool, broadcastable to x) is True; differentiable
    in x (0 gradient where filled)."""
    m = _index_array("masked_fill", mask, x, dtype_kinds="b")
    try:
        fits = tuple(np.broadcast_shapes(m.shape, x.shape)) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_fill: mask of shape {tuple(m.shape)} does not broadcast to "
                         f"the tensor's shape {x.shape}")
    return where(m, value, x)


def topk(x, k, dim=-1, largest=True, sorted=True):      # noqa: A002 - torch's argument name
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices, as torch:
    returns ``(values, indices)``; values are differentiable. Ties keep the lower index first.
    (``sorted=False`` returns them sorted anyway, which torch allows.)"""
    if x.ndim == 0:
        raise ValueError("topk: expected a tensor with at least one dimension, got a scalar")
    axis = _axis("topk", dim, x.ndim)
    n = x.shape[axis]
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for a dimension of size {n}")
    xp = backend.get_array_module(x.array)
    order = _order(x, axis, descending=largest)
    idx = xp.take(order, xp.arange(k), axis=axis)
    return ValuesIndices(Gather(axis, idx)(x), Tensor._wrap(idx))


def _order(x, axis, descending):
    """argsort along ``axis``, stable (ties keep the lower index first), as int64."""
    xp = backend.get_array_module(x.array)
    key = x.array.astype(xp.int64) if x.dtype.kind in "ub" else x.array     # -key must not wrap
    return xp.argsort(-key if descending else key, axis=axis, kind="stable").astype(xp.int64)


def sort(x, dim=-1, descending=False, stable=False):
    """``(values, indices)`` sorted along ``dim``, as torch.sort; values are differentiable.
    The sort is always stable."""
    if x.ndim == 0:
        return ValuesIndices(x, Tensor._wrap(backend.get_array_module(x.array).zeros((), "int64")))
    axis = _axis("sort", dim, x.ndim)
    idx = _order(x, axis, descending)
    return ValuesIndices(Gather(axis, idx)(x), Tensor._wrap(idx))


def argsort(x, dim=-1, descending=False, stable=False):
    """The indices that sort ``x`` along ``dim`` (stable), int64. No gradient."""
    if x.ndim == 0:
        return Tensor._wrap(backend.get_array_module(x.array).zeros((), "int64"))
    return Tensor._wrap(_order(x, _axis("argsort", dim, x.ndim), descending))


def one_hot(x, num_classes=-1):
    """Integer class indices (...) -> int64 one-hot vectors (..., num_classes), as torch's
    F.one_hot (num_classes=-1: the largest index + 1). No gradient."""
    idx = _index_array("one_hot", x, x if isinstance(x, Tensor) else Tensor(x))
    xp = backend.get_array_module(idx)
    if num_classes < 0:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (bool((idx < 0).any()) or bool((idx >= num_classes).any())):
        raise IndexError(f"one_hot: class values must be in [0, {num_classes})")
    return Tensor._wrap((idx[..., None] == xp.arange(num_classes)).astype(xp.int64))


def tril(x, diagonal=0):
    """The lower triangle of the last two axes (diagonal ``diagonal`` and below)."""
    if x.ndim < 2:
        raise ValueError(f"tril: expected at least 2 dimensions, got shape {x.shape}")
    return Triangle(diagonal, upper=False)(x)


def triu(x, diagonal=0):
    """The upper triangle of the last two axes (diagonal ``diagonal`` and above)."""
    if x.ndim < 2:
        raise ValueError(f"triu: expected at least 2 dimensions, got shape {x.shape}")
    return Triangle(diagonal, upper=True)(x)
