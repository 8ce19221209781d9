"""In-place ops, as in torch: ``t += v``, ``t[idx] = v``, ``t.add_(v, alpha=)``, ``t.zero_()``...

Each changes the tensor itself (its storage), so every name bound to it sees the change.
The rules, torch's:

- A leaf that requires grad refuses an in-place op while grad is enabled (under ``no_grad``,
  as in a hand-written SGD step, it is allowed).
- On a tensor in the graph, the op is recorded: the tensor's creator becomes an ``InPlace``
  call, whose input 0 is the tensor as it was (a copy when the op's backward needs the old
  values) and whose input 1 is the new value, computed by ordinary differentiable ops. So
  ``out[t] = h`` on a preallocated ``out`` passes gradients to ``h`` and to the rest of ``out``.
- On a view in the graph (``y[0]``, ``y.view(...)``, ``y.T``), the viewed tensor changes too
  and is recorded as changed in place, as in torch; so ``y[0] += 1`` works.
- Every in-place op bumps the tensor's version counter; a backward that needs a value that was
  changed since raises, naming the op (see ``minigrad/versions.py``).
"""
import numpy as np

from .. import backend, versions
from ..grad_mode import grad_enabled as _grad_enabled, no_grad
from ..tensor import Function, Tensor, as_tensor
from .broadcast import unbroadcast
from .elementwise import where
from .index import GetItem, _is_basic, prepare_index
from .shape import Reshape, Transpose

_LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation."


class InPlace(Function):
    """The value an in-place op gave a tensor. Input 0 is the tensor before the op (only to
    keep its place in the graph), input 1 the new value, which the tensor's storage now holds;
    the gradient goes to the new value, whose own graph leads back to the old one."""
    inplace = True
    saves_inputs = ()
    saves_output = False

    def forward(self, before, value):
        return value

    def backward(self, gy):
        return None, gy


class SetItem(Function):
    """``x[idx] = v``. Forward writes into ``x``'s own storage (it only ever runs on the tensor
    being changed). Backward: the untouched part of ``x`` gets ``gy`` with zeros at ``idx``,
    ``v`` gets ``gy[idx]`` summed back over what broadcasting ``v`` repeated. (An integer-array
    index that repeats an element keeps one of the writes, unspecified which, as in torch.)"""
    saves_inputs = ()
    saves_output = False

    def __init__(self, idx):
        self.idx = idx

    def forward(self, x, v):
        x[self.idx] = v
        return x

    def backward(self, gy):
        gx = gy.copy()
        gx[self.idx] = 0
        v = self.inputs[1]
        gv = _sum_to(gy[self.idx], v.shape).astype(v.dtype, copy=False)
        return gx, gv


def _sum_to(g, shape):
    """``g`` summed to ``shape``, which NumPy may have broadcast up or, in an assignment, had
    leading 1s stripped from (v (1, D) written into x[0] (D,)): sum to the shape without those
    1s, then put them back."""
    shape = tuple(shape)
    return unbroadcast(g, shape[max(len(shape) - g.ndim, 0):]).reshape(shape)


# ----------------------------------------------------------------------------- machinery

def _view_of(t):
    """The view op (indexing, reshape, transpose) whose output ``t`` is, or None. Such a
    ``t`` shares its storage with the op's input: changing one changes the other."""
    fn = t.creator
    while fn is not None and fn.inplace and fn.inputs is not None:
        fn = fn.inputs[1].creator        # t was changed in place before: look at its value
    if fn is None or fn.inputs is None or getattr(t.array, "base", None) is None:
        return None
    if isinstance(fn, (Reshape, Transpose)) or (isinstance(fn, GetItem) and _is_basic(fn.idx)):
        return fn
    return None


# How an in-place op on a view reaches the viewed tensor x: x's viewed part gets the new
# value v, and the view is taken again from the new x.
_PUT = {GetItem: lambda view, x, v: SetItem(view.idx)(x, v),
        Reshape: lambda view, x, v: v.reshape(x.shape),
        Transpose: lambda view, x, v: v.permute([int(i) for i in np.argsort(view.axes)])}
_VIEW_AGAIN = {GetItem: lambda view, x: GetItem(view.idx)(x),
               Reshape: lambda view, x: Reshape(view.shape)(x),
               Transpose: lambda view, x: Transpose(view.axes)(x)}


def _apply(t, op, compute, others=(), reads_self=True, replace=False):
    """Give ``t`` the value ``compute(t, *others)``, in place.

    ``reads_self``: compute's backward reads ``t``'s old values, so a recorded op keeps a copy
    of them. ``replace``: the result becomes ``t``'s storage (shape ops) instead of being
    written into it.
    """
    grad_on = _grad_enabled[0]
    if grad_on and t.requires_grad and t.creator is None:
        raise RuntimeError(_LEAF_ERROR)
    if not (grad_on and (t.requires_grad or any(o.requires_grad for o in others))):
        with no_grad():
            value = compute(t, *others)
        _write(t, value.array, op, replace)
        versions.bump(t)
        return t
    view = None if replace else _view_of(t)
    if view is not None and view.inputs[0].requires_grad and view.inputs[0].creator is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")
    before = versions.stand_in(t, t.array.copy() if reads_self else t.array)
    if not reads_self:
        before._version_counter = versions.counter(t)      # one storage, one counter
    value = compute(before, *others)
    if not replace:
        _check_fits(t, value.array, op)
    if view is not None:
        # As torch does: the viewed tensor x changes too (an in-place op on x, so a view of a
        # view goes back step by step), and t becomes the same view of the new x.
        x = view.inputs[0]
        _apply(x, op, lambda xb, v: _PUT[type(view)](view, xb, v), (value,), reads_self=False)
        value = _VIEW_AGAIN[type(view)](view, x)
    elif not value.requires_grad:     # e.g. a value that needs no gradient written into t
        _write(t, value.array, op, replace)
        versions.bump(t)
        return t
    fn = InPlace()
    fn(before, value)
    if view is None:                  # (a view's storage was written through x already)
        _write(t, value.array, op, replace)
    fn._epoch = versions.bump(t)
    t.creator, t.output_nr, t.requires_grad = fn, 0, True
    return t


def _check_fits(t, value, op):
    if value.shape != t.array.shape:
        raise RuntimeError(f"{op}: output with shape {t.shape} doesn't match the broadcast "
                           f"shape {tuple(value.shape)}")
    if value.dtype.kind == "f" and t.array.dtype.kind in "biu" or (
            value.dtype.kind in "iu" and t.array.dtype.kind == "b"):
        raise RuntimeError(f"{op}: result type {value.dtype} can't be cast to the desired "
                           f"output type {t.dtype}")


def _write(t, value, op, replace):
    if replace:
        t.array = value
    elif value is not t.array:
        _check_fits(t, value, op)
        t.array[...] = value


def _other(t, v):
    return as_tensor(v, like=t)


def _no_mask(t):
    return backend.get_array_module(t.array).zeros(t.shape, dtype=bool)


# ----------------------------------------------------------------------------- the methods

def setitem(t, idx, v):
    """``t[idx] = v``: differentiable with respect to ``v`` and to the untouched part of ``t``."""
    idx = prepare_index(t, idx)
    return _apply(t, "setitem", lambda a, b: SetItem(idx)(a, b), (_other(t, v),),
                  reads_self=False)


def add_(t, other, alpha=1):
    """t <- t + alpha * other"""
    return _apply(t, "add_", lambda a, b: a + (b if alpha == 1 else b * alpha),
                  (_other(t, other),), reads_self=False)


def sub_(t, other, alpha=1):
    """t <- t - alpha * other"""
    return _apply(t, "sub_", lambda a, b: a - (b if alpha == 1 else b * alpha),
                  (_other(t, other),), reads_self=False)


def mul_(t, other):
    return _apply(t, "mul_", lambda a, b: a * b, (_other(t, other),))


def div_(t, other):
    return _apply(t, "div_", lambda a, b: a / b, (_other(t, other),))


def pow_(t, exponent):
    return _apply(t, "pow_", lambda a, b: a ** b, (_other(t, exponent),))


def _unary(name, reads_self):
    def method(t):
        return _apply(t, f"{name}_", lambda a: getattr(a, name)(), reads_self=reads_self)
    method.__name__ = f"{name}_"
    method.__doc__ = f"t <- t.{name}(), in place."
    return method


neg_ = _unary("__neg__", reads_self=False)
neg_.__name__, neg_.__doc__ = "neg_", "t <- -t, in place."
exp_ = _unary("exp", reads_self=False)           # Exp's backward reads its own output
tanh_ = _unary("tanh", reads_self=False)
sigmoid_ = _unary("sigmoid", reads_self=False)
sqrt_ = _unary("sqrt", reads_self=False)
relu_ = _unary("relu", reads_self=False)
log_ = _unary("log", reads_self=True)
abs_ = _unary("abs", reads_self=True)


def clamp_(t, min=None, max=None):      # noqa: A002 - torch's names
    """t <- min(max(t, min), max); the gradient passes where t was inside the range."""
    if min is None and max is None:
        raise ValueError("clamp_: give min, max or both")

    def compute(a):
        if min is not None:
            a = where(a.array < min, min, a)
        if max is not None:
            a = where(a.array > max, max, a)
        return a
    return _apply(t, "clamp_", compute, reads_self=False)


def fill_(t, value):
    """Every element <- value (a number or a one-element tensor, which gets the gradient)."""
    return _apply(t, "fill_", lambda a, v: where(_no_mask(a), a, v), (_other(t, value),),
                  reads_self=False)


def zero_(t):
    return fill_(t, 0)


def copy_(t, src):
    """t <- src (broadcast to t's shape, cast to t's dtype); src gets the gradient."""
    src = _other(t, src).to(t.device, t.dtype)
    return _apply(t, "copy_", lambda a, s: where(_no_mask(a), a, s), (src,), reads_self=False)


def masked_fill_(t, mask, value):
    """t <- value where mask is true (mask broadcasts to t's shape)."""
    mask = mask.array if isinstance(mask, Tensor) else mask
    xp = backend.get_array_module(t.array)
    mask = xp.broadcast_to(xp.asarray(mask, dtype=bool), t.shape)
    return _apply(t, "masked_fill_", lambda a, v: where(mask, v, a), (_other(t, value),),
                  reads_self=False)


def _random_fill(t, op, draw):
    with no_grad():
        xp = backend.get_array_module(t.array)
        dtype = t.dtype if t.dtype.kind == "f" else backend.get_default_dtype()
        values = Tensor._wrap(draw(backend.rng_for(xp), dtype))
    return _apply(t, op, lambda a, v: where(_no_mask(a), a, v), (values,), reads_self=False)


def normal_(t, mean=0.0, std=1.0):
    return _random_fill(t, "normal_", lambda rng, dtype: (
        rng.standard_normal(t.shape, dtype=dtype) * dtype.type(std) + dtype.type(mean)))


def uniform_(t, a=0.0, b=1.0):
    return _random_fill(t, "uniform_", lambda rng, dtype: (
        rng.random(t.shape, dtype=dtype) * dtype.type(b - a) + dtype.type(a)))


def unsqueeze_(t, dim):
    return _apply(t, "unsqueeze_", lambda a: a.unsqueeze(dim), reads_self=False, replace=True)


def squeeze_(t, dim=None):
    return _apply(t, "squeeze_", lambda a: a.squeeze(dim), reads_self=False, replace=True)


def transpose_(t, dim0, dim1):
    return _apply(t, "transpose_", lambda a: a.transpose(dim0, dim1), reads_self=False,
                  replace=True)


def t_(t):
    """Transpose a tensor of at most 2 dimensions in place."""
    if t.ndim > 2:
        raise ValueError(f"t_: expects a tensor of at most 2 dimensions, got shape {t.shape}")
    return t if t.ndim < 2 else transpose_(t, 0, 1)


def detach_(t):
    """Cut ``t`` from the graph: it becomes a leaf that requires no grad."""
    t.creator = None
    t.requires_grad = False
    return t


METHODS = ("add_", "sub_", "mul_", "div_", "pow_", "neg_", "exp_", "tanh_", "sigmoid_",
           "sqrt_", "relu_", "log_", "abs_", "clamp_", "fill_", "zero_", "copy_",
           "masked_fill_", "normal_", "uniform_", "unsqueeze_", "squeeze_", "transpose_", "t_",
           "detach_")


def install(T):
    for name in METHODS:
        setattr(T, name, globals()[name])
    T.__setitem__ = setitem
    T.__iadd__ = add_
    T.__isub__ = sub_
    T.__imul__ = mul_
    T.__itruediv__ = div_
    T.__ipow__ = pow_
