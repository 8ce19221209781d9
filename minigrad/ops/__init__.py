"""The differentiable ops, one file per family, and the Tensor methods that call them."""
from ..tensor import Tensor, as_tensor
from .elementwise import (abs, add, clamp, cos, div, exp, gelu, log, mul, neg, pow, relu,
                          sigmoid, sin, sqrt, sub, tanh)
from .index import (argsort, gather, getitem, index_select, masked_fill, one_hot, sort, topk, tril,
                    triu, where)
from .linalg import matmul
from .methods import chunk, narrow, split
from .methods import install as _install_torch_methods
from .reduce import all, any, argmax, argmin, cumsum, max, mean, min, norm, sum
from .shape import (astype, broadcast_to, cat, clone, expand, flatten, movedim, permute, repeat,
                    reshape, squeeze, stack, t, to, transpose, unsqueeze)
from . import inplace

__all__ = ["abs", "add", "div", "exp", "log", "mul", "neg", "pow", "relu", "sigmoid", "sqrt",
           "sub", "tanh", "sin", "cos", "clamp", "gelu", "getitem", "where", "gather",
           "index_select", "masked_fill", "one_hot", "topk", "sort", "argsort", "cumsum", "tril",
           "triu", "matmul", "max", "min", "mean", "sum", "argmax", "argmin", "all", "any",
           "astype", "broadcast_to", "expand", "repeat", "t", "clone", "movedim", "cat",
           "flatten", "permute", "reshape", "squeeze", "stack", "transpose", "unsqueeze",
           "narrow", "split", "chunk", "norm"]


def _compare(op):
    """Comparisons give boolean tensors and no gradient."""
    def method(self, other):
        other = other.array if isinstance(other, Tensor) else other
        return Tensor._wrap(getattr(self.array, op)(other))
    return method


def _matmul(a, b):
    a, b = as_tensor(a), as_tensor(b)
    return matmul(a, b)


def _install():
    T = Tensor
    T.__add__ = add
    T.__radd__ = lambda self, other: add(other, self)
    T.__sub__ = sub
    T.__rsub__ = lambda self, other: sub(other, self)
    T.__mul__ = mul
    T.__rmul__ = lambda self, other: mul(other, self)
    T.__truediv__ = div
    T.__rtruediv__ = lambda self, other: div(other, self)
    T.__pow__ = pow
    T.__rpow__ = lambda self, other: pow(other, self)
    T.__neg__ = neg
    T.__matmul__ = _matmul
    T.__rmatmul__ = lambda self, other: _matmul(other, self)
    T.__getitem__ = getitem
    for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        setattr(T, op, _compare(op))
    for name in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sum", "mean", "max",
                 "reshape", "permute", "transpose", "unsqueeze", "squeeze", "flatten",
                 "broadcast_to", "matmul", "astype", "to", "clone", "norm"):
        setattr(T, name, globals()[name])
    T.view = reshape
    inplace.install(T)
    _install_torch_methods(T)


_install()
