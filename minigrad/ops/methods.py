"""torch's Tensor methods that are made of other ops: views and splits (``narrow``, ``chunk``,
``split``, ``view_as``, ...), factories on a tensor (``new_zeros``, ...), dtype conversions
(``type``, ``int``, ``bool``, ...) and comparisons by name (``eq``, ``lt``, ...).

``install(Tensor)`` puts them on the Tensor class; ``minigrad.ops`` calls it.
"""
import math

import numpy as np

from .. import dtypes
from ..creation import full, multinomial
from ..tensor import Tensor
from . import elementwise as E, index as I, reduce as R, shape as S
from .dims import accepts_dim
from .index import getitem
from .linalg import matmul
from .shape import _axis, astype, broadcast_to, clone, reshape


@accepts_dim
def narrow(x, axis, start, length):
    """The slice ``start:start + length`` along ``axis`` (torch's ``narrow``)."""
    axis = _axis("narrow", axis, x.ndim)
    n = x.shape[axis]
    start = start + n if start < 0 else start
    if not (0 <= start <= n and 0 <= length <= n - start):
        raise ValueError(f"narrow: start {start} and length {length} do not fit axis {axis} "
                         f"of size {n}")
    return getitem(x, (slice(None),) * axis + (slice(start, start + length),))


@accepts_dim
def split(x, split_size_or_sections, axis=0):
    """Pieces along ``axis``: of ``split_size`` each (the last may be smaller), or of the
    listed sizes, which must add up to the axis's size (torch's ``split``)."""
    axis = _axis("split", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} add up to {sum(sizes)}, but axis {axis} "
                             f"has size {n}")
    starts = np.cumsum([0] + sizes[:-1]).tolist()
    return tuple(narrow(x, axis, s, k) for s, k in zip(starts, sizes))


@accepts_dim
def chunk(x, chunks, axis=0):
    """``chunks`` pieces along ``axis`` (fewer if the axis is short), each of size
    ceil(n / chunks) but the last (torch's ``chunk``)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[_axis("chunk", axis, x.ndim)]
    return split(x, max(1, math.ceil(n / chunks)), axis)


def _view(x, *shape):
    """torch's ``view``: a reshape (minigrad arrays are never non-contiguous views of another
    layout that a reshape could not express)."""
    return reshape(x, *shape)


def _new(fill):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        size = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        return full(tuple(size), fill, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)
    return method


def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    return full(tuple(size), fill_value, dtype=dtype or self.dtype,
                device=device or self.device, requires_grad=requires_grad)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    """A new leaf from ``data``, with this tensor's dtype and device unless given."""
    if isinstance(data, Tensor):
        data = data.array
    return Tensor(data, requires_grad=requires_grad, dtype=dtype or self.dtype,
                  device=device or self.device)


def tensor_type(self, dtype=None):
    """Without an argument, torch's type string ('torch.FloatTensor', 'torch.cuda.LongTensor',
    ...). With a dtype (``mg.long``, ``'torch.LongTensor'``, ``mg.LongTensor``, ...), a copy
    converted to it (differentiable, as ``to(dtype=)``)."""
    if dtype is None:
        return dtypes.type_name(self.dtype, self.device)
    target = getattr(dtype, "dtype", None)          # mg.LongTensor and friends carry one
    if not isinstance(target, np.dtype):
        target = dtypes.from_type_name(dtype)
    return astype(self, target if target is not None else np.dtype(dtype))


def _is_dtype(obj):
    return isinstance(obj, np.dtype) or (isinstance(obj, type) and issubclass(obj, np.generic))


def _to_torch_style(original):
    """``to`` in torch's forms too: ``t.to(mg.long)``, ``t.to(device)``, ``t.to(device,
    dtype)``, ``t.to(other_tensor)`` (its device and dtype)."""
    def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False):
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif _is_dtype(a):
                dtype = a
            else:
                device = a
        out = original(self, device=device, dtype=dtype)
        return clone(out) if copy and out is self else out
    to.__doc__ = original.__doc__
    return to


def _softmax(name):
    def method(self, dim=-1, dtype=None):
        from .. import functional      # the fused softmax ops live above this layer
        x = self if dtype is None else astype(self, dtype)
        return getattr(functional, name)(x, dim)
    method.__name__ = name
    return method


def _compare(op):
    def method(self, other):
        return getattr(self, op)(other)
    method.__name__ = op.strip("_")
    return method


def _cast(dtype):
    def method(self):
        return astype(self, dtype)
    return method


def _equal(a, b):
    """torch.equal: same shape and the same values (a Python bool)."""
    a_data = a.array
    b_data = b.array if isinstance(b, Tensor) else np.asarray(b)
    return tuple(a_data.shape) == tuple(b_data.shape) and bool((a_data == b_data).all())


def install(T):
    for name, fn in {"sin": E.sin, "cos": E.cos, "clamp": E.clamp, "clip": E.clamp,
                     "min": R.min, "argmax": R.argmax, "argmin": R.argmin, "all": R.all,
                     "any": R.any, "gather": I.gather, "index_select": I.index_select,
                     "masked_fill": I.masked_fill, "topk": I.topk,
                     "sort": I.sort, "argsort": I.argsort, "cumsum": R.cumsum, "tril": I.tril,
                     "triu": I.triu, "repeat": S.repeat, "movedim": S.movedim,
                     "expand": S.expand, "t": S.t,
                     "clone": S.clone, "narrow": narrow, "split": split, "chunk": chunk,
                     "view": _view, "new_full": new_full, "new_tensor": new_tensor,
                     "type": tensor_type, "equal": _equal}.items():
        setattr(T, name, fn)
    T.pow = E.pow
    T.add = lambda self, other, alpha=1: E.add(self, _scaled(other, alpha))
    T.sub = lambda self, other, alpha=1: E.sub(self, _scaled(other, alpha))
    T.mul, T.div, T.neg, T.mm = E.mul, E.div, E.neg, _mm
    T.view_as = lambda self, other: reshape(self, other.shape)
    T.reshape_as = lambda self, other: reshape(self, other.shape)
    T.expand_as = lambda self, other: broadcast_to(self, other.shape)
    T.type_as = lambda self, other: astype(self, other.dtype)
    T.contiguous = lambda self: self            # minigrad's arrays need no re-layout
    T.dim = lambda self: self.ndim
    T.ndimension = T.dim
    T.nelement = lambda self: self.numel()
    T.is_cuda = property(lambda self: self.device == "cuda")
    T.new_zeros, T.new_ones, T.new_empty = _new(0), _new(1), _new(0)
    for name, op in [("eq", "__eq__"), ("ne", "__ne__"), ("lt", "__lt__"), ("le", "__le__"),
                     ("gt", "__gt__"), ("ge", "__ge__")]:
        setattr(T, name, _compare(op))
    for name, dtype in [("float", np.float32), ("double", np.float64), ("half", np.float16),
                        ("long", np.int64), ("int", np.int32), ("short", np.int16),
                        ("char", np.int8), ("byte", np.uint8), ("bool", np.bool_)]:
        setattr(T, name, _cast(dtype))
    T.size = _size
    T.__format__, T.__index__ = _format, _index
    T.to = _to_torch_style(T.to)
    T.softmax, T.log_softmax = _softmax("softmax"), _softmax("log_softmax")
    T.multinomial = _multinomial


def _multinomial(self, num_samples, replacement=False):
    return multinomial(self, num_samples, replacement)


def _scaled(other, alpha):
    """alpha * other for torch's ``add(other, alpha=)``: a number stays a Python number, so
    the tensor's dtype decides the result's."""
    return other if alpha == 1 else other * alpha


def _mm(a, b):
    """The product of two matrices (torch.mm: 2-D only; ``matmul`` broadcasts)."""
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: expected two matrices, got {a.shape} and {b.shape}; "
                         "use matmul for other shapes")
    return matmul(a, b)


def _format(self, spec):
    """``f"{loss:.3f}"`` works on a one-element tensor, as in torch; otherwise str()."""
    if spec and self.array.size == 1:
        return format(self.item(), spec)
    return format(str(self), spec)


def _index(self):
    """A one-element integer tensor indexes a Python sequence (``names[top_i[0]]``)."""
    if self.array.size != 1 or self.dtype.kind not in "iub":
        raise TypeError(f"only one-element integer tensors can be used as an index, got "
                        f"shape {self.shape} and dtype {self.dtype}")
    return int(self.item())


def _size(self, dim=None):
    """The shape (a tuple), or the size of axis ``dim``."""
    if dim is None:
        return self.shape
    return self.shape[_axis("size", dim, self.ndim)]


__all__ = ["narrow", "split", "chunk", "install"]


# ---------------------------------------------------------------------------------------------
# The torch census's names (benchmarks/torch_census.py): Tensor methods and call forms the
# official sequence-model programs use. One block, installed after everything above.
# ---------------------------------------------------------------------------------------------

def _is_number(v):
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def _number_first(method):
    """torch's deprecated ``add_(alpha, other)`` order (numbers before tensors), which its
    tutorials still write (``p.data.add_(-lr, p.grad.data)``): taken as ``add_(other,
    alpha=alpha)``, torch's result."""
    def wrapped(self, *args, **kwargs):
        if len(args) == 2 and _is_number(args[0]) and not _is_number(args[1]):
            return method(self, args[1], alpha=args[0], **kwargs)
        return method(self, *args, **kwargs)
    wrapped.__name__ = method.__name__
    wrapped.__doc__ = method.__doc__
    wrapped.__wrapped__ = method
    return wrapped


def _value_first(name, combine):
    """``t.addcmul(t1, t2, value=1)`` = t + value * t1 * t2 (``addcdiv``: t1 / t2), and
    torch's deprecated ``addcmul(value, t1, t2)``. The in-place form writes into ``t``."""
    def method(self, *args, value=1):
        if len(args) == 3 and _is_number(args[0]):
            value, args = args[0], args[1:]
        if len(args) != 2 or _is_number(args[0]) or _is_number(args[1]):
            raise TypeError(f"{name}: expected ({name}(tensor1, tensor2, value=1)) or the "
                            f"deprecated ({name}(value, tensor1, tensor2)), got "
                            f"{len(args)} positional arguments")
        term = combine(args[0], args[1])
        if name.endswith("_"):
            return self.add_(term, alpha=value)
        return self + (term if value == 1 else term * value)
    method.__name__ = name
    return method


def _grad_fn(self):
    """The Function call that made this tensor (torch's ``grad_fn``); None for a leaf."""
    return self.creator


def _install_census(T):
    for name in ("add_", "sub_", "add", "sub"):
        setattr(T, name, _number_first(getattr(T, name)))
    T.addcmul = _value_first("addcmul", lambda a, b: a * b)
    T.addcmul_ = _value_first("addcmul_", lambda a, b: a * b)
    T.addcdiv = _value_first("addcdiv", lambda a, b: a / b)
    T.addcdiv_ = _value_first("addcdiv_", lambda a, b: a / b)
    T.grad_fn = property(_grad_fn)


_install_before_census = install


def install(T):  # noqa: F811  (the census's block goes on last, over the methods above)
    _install_before_census(T)
    _install_census(T)
