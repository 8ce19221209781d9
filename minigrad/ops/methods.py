"""torch's Tensor methods that are made of other ops: views and splits (``narrow``, ``chunk``,
``split``, ``view_as``, ...), factories on a tensor (``new_zeros``, ...), dtype conversions
(``type``, ``int``, ``bool``, ...) and comparisons by name (``eq``, ``lt``, ...).

``METHODS`` is the one table of every Tensor method and operator that ``minigrad.ops`` installs
(the ones above, the plain ops, and the in-place methods); ``install(Tensor)`` puts them on the
class, and ``minigrad.ops`` calls it once.
"""
import math

import numpy as np

from .. import backend, dtypes, versions
from ..creation import full, multinomial
from ..tensor import Tensor, as_tensor
from . import elementwise as E, index as I, inplace, reduce as R, shape as S, softmax as softmax_ops
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
        x = self if dtype is None else astype(self, dtype)
        return getattr(softmax_ops, name)(x, dim)      # the fused op, with its own backward
    method.__name__ = name
    return method


def _elementwise_compare(op):
    """``t < u`` and the other operators: boolean tensors, no gradient."""
    def method(self, other):
        other = other.array if isinstance(other, Tensor) else other
        return Tensor._wrap(getattr(self.array, op)(other))
    method.__name__ = op
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


def _matmul(a, b):
    return matmul(as_tensor(a), as_tensor(b))


def _reversed(op):
    """``other <op> self``: ``2 - t`` calls ``t.__rsub__(2)``."""
    return lambda self, other: op(other, self)


def _same_as(op, attribute):
    """``t.view_as(u)`` and friends: ``op`` with ``u``'s shape or dtype."""
    return lambda self, other: op(self, getattr(other, attribute))


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


# torch's deprecated call forms that its tutorials still write (benchmarks/torch_census.py
# found them): numbers before tensors in add_/sub_/addcmul/addcdiv.

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


# ---------------------------------------------------- Tensor's small conversions and flags

def _bool(self):
    if self.array.size != 1:
        raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous "
                           "(use .any() or .all() on .array)")
    return bool(self.array)


def detach(self):
    """The same values, cut from the graph (for truncated BPTT: carry ``h.detach()``).
    As in torch it shares the storage and its version counter: an in-place change of the
    detached tensor is caught by a backward that needs the old values."""
    t = Tensor._wrap(self.array)
    t._version_counter = versions.counter(self)
    return t


def requires_grad_(self, flag=True):
    self.requires_grad = bool(flag)
    return self


def zero_grad(self):
    self._grad = None


# -- to the host: NumPy's protocol and torch's conversions ---------------------------------
def _array(self, dtype=None, copy=None):
    """``np.asarray(t)``: the values of a CPU tensor (a GPU tensor must be copied to the
    host first, with ``.cpu()`` or ``.numpy(force=True)``)."""
    if backend.is_cupy_array(self.array):
        raise TypeError("can't convert a cuda tensor to a NumPy array implicitly: call "
                        ".cpu() or .numpy(force=True) first")
    a = self.array if dtype is None else self.array.astype(dtype, copy=False)
    return a.copy() if copy else a


def numpy(self, *, force=False):
    """The tensor's data as a NumPy array, as torch: it SHARES memory with a CPU tensor
    (writing into it changes the tensor); a tensor that requires grad is refused (use
    ``t.detach().numpy()``), and so is one on a device (use ``t.cpu().numpy()``).
    ``force=True`` is ``t.detach().cpu().numpy()``: a device tensor is copied to the host."""
    if backend.is_cupy_array(self.array):
        if force:
            return backend.to_numpy(self.array)
        raise TypeError(f"numpy(): can't convert a {self.device} device tensor to NumPy; "
                        "copy it to host memory first with .cpu() (t.cpu().numpy(), or "
                        "the array's .get()), or pass force=True")
    if self.requires_grad and not force:
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                           "tensor.detach().numpy() instead.")
    return np.asarray(self.array)


def item(self):
    if self.array.size != 1:
        raise ValueError(f"item(): only one-element tensors, got shape {self.shape}")
    return self.array.item()


def tolist(self):
    return backend.to_numpy(self.array).tolist()


# Every method that minigrad.ops puts on Tensor, in one table (the class itself defines only
# the engine's own: backward, retain_grad, data, grad, ...).
_COMPARISONS = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__",
                "gt": "__gt__", "ge": "__ge__"}
_CASTS = {"float": np.float32, "double": np.float64, "half": np.float16, "long": np.int64,
          "int": np.int32, "short": np.int16, "char": np.int8, "byte": np.uint8,
          "bool": np.bool_}
METHODS = {
    # operators
    "__add__": E.add, "__radd__": _reversed(E.add), "__sub__": E.sub,
    "__rsub__": _reversed(E.sub), "__mul__": E.mul, "__rmul__": _reversed(E.mul),
    "__truediv__": E.div, "__rtruediv__": _reversed(E.div), "__pow__": E.pow,
    "__rpow__": _reversed(E.pow), "__neg__": E.neg, "__matmul__": _matmul,
    "__rmatmul__": _reversed(_matmul), "__getitem__": getitem,
    **{op: _elementwise_compare(op) for op in _COMPARISONS.values()},
    **{name: _elementwise_compare(op) for name, op in _COMPARISONS.items()},
    # elementwise and reductions
    "exp": E.exp, "log": E.log, "sqrt": E.sqrt, "tanh": E.tanh, "sigmoid": E.sigmoid,
    "relu": E.relu, "abs": E.abs, "sin": E.sin, "cos": E.cos, "clamp": E.clamp,
    "clip": E.clamp, "pow": E.pow, "mul": E.mul, "div": E.div, "neg": E.neg,
    "add": _number_first(lambda self, other, alpha=1: E.add(self, _scaled(other, alpha))),
    "sub": _number_first(lambda self, other, alpha=1: E.sub(self, _scaled(other, alpha))),
    "addcmul": _value_first("addcmul", lambda a, b: a * b),
    "addcdiv": _value_first("addcdiv", lambda a, b: a / b),
    "sum": R.sum, "mean": R.mean, "max": R.max, "min": R.min, "norm": R.norm,
    "argmax": R.argmax, "argmin": R.argmin, "all": R.all, "any": R.any, "cumsum": R.cumsum,
    "matmul": matmul, "mm": _mm,
    "softmax": _softmax("softmax"), "log_softmax": _softmax("log_softmax"),
    # indexing
    "gather": I.gather, "index_select": I.index_select, "masked_fill": I.masked_fill,
    "topk": I.topk, "sort": I.sort, "argsort": I.argsort, "tril": I.tril, "triu": I.triu,
    # shape
    "reshape": reshape, "view": _view, "permute": S.permute, "transpose": S.transpose,
    "unsqueeze": S.unsqueeze, "squeeze": S.squeeze, "flatten": S.flatten,
    "broadcast_to": broadcast_to, "expand": S.expand, "repeat": S.repeat, "movedim": S.movedim,
    "t": S.t, "narrow": narrow, "split": split, "chunk": chunk,
    "view_as": _same_as(reshape, "shape"), "reshape_as": _same_as(reshape, "shape"),
    "expand_as": _same_as(broadcast_to, "shape"), "type_as": _same_as(astype, "dtype"),
    "contiguous": lambda self: self,        # minigrad's arrays need no re-layout
    "dim": lambda self: self.ndim, "ndimension": lambda self: self.ndim,
    "nelement": lambda self: self.numel(), "size": _size,
    # dtype, device, copies
    "astype": astype, "to": _to_torch_style(S.to), "clone": clone, "type": tensor_type,
    **{name: _cast(dtype) for name, dtype in _CASTS.items()},
    "is_cuda": property(lambda self: self.device == "cuda"),
    "new_zeros": _new(0), "new_ones": _new(1), "new_empty": _new(0), "new_full": new_full,
    "new_tensor": new_tensor, "multinomial": lambda self, num_samples, replacement=False:
        multinomial(self, num_samples, replacement),
    "equal": _equal, "__format__": _format, "__index__": _index,
    "grad_fn": property(_grad_fn),
    # small conversions and flags
    "T": property(lambda self: self.transpose()), "numel": lambda self: int(self.array.size),
    "__len__": lambda self: len(self.array), "__bool__": _bool,
    "__float__": lambda self: float(self.item()), "__int__": lambda self: int(self.item()),
    "detach": detach, "cpu": lambda self: self.to("cpu"), "cuda": lambda self: self.to("cuda"),
    "requires_grad_": requires_grad_, "zero_grad": zero_grad,
    "__array__": _array, "numpy": numpy, "item": item, "tolist": tolist,
    # in place (minigrad.ops.inplace)
    **{name: getattr(inplace, name) for name in inplace.METHODS},
    "add_": _number_first(inplace.add_), "sub_": _number_first(inplace.sub_),
    "addcmul_": _value_first("addcmul_", lambda a, b: a * b),
    "addcdiv_": _value_first("addcdiv_", lambda a, b: a / b),
    "__setitem__": inplace.setitem, "__iadd__": inplace.add_, "__isub__": inplace.sub_,
    "__imul__": inplace.mul_, "__itruediv__": inplace.div_, "__ipow__": inplace.pow_,
}


def install(T):
    for name, method in METHODS.items():
        setattr(T, name, method)


__all__ = ["narrow", "split", "chunk", "install"]
