"""The differentiable ops, one file per family, and the Tensor methods that call them."""
from ..tensor import Tensor
from .elementwise import (abs, add, clamp, cos, div, exp, gelu, log, mul, neg, pow, relu,
                          sigmoid, sin, sqrt, sub, tanh, where)
from .index import (argsort, gather, getitem, index_select, masked_fill, one_hot, sort, topk, tril,
                    triu)
from .linalg import matmul
from .methods import chunk, install, narrow, split
from .reduce import all, any, argmax, argmin, cumsum, max, mean, min, norm, sum
from .shape import (astype, broadcast_to, cat, clone, expand, flatten, movedim, permute, repeat,
                    reshape, squeeze, stack, t, to, transpose, unsqueeze)

__all__ = ["abs", "add", "div", "exp", "log", "mul", "neg", "pow", "relu", "sigmoid", "sqrt",
           "sub", "tanh", "sin", "cos", "clamp", "gelu", "getitem", "where", "gather",
           "index_select", "masked_fill", "one_hot", "topk", "sort", "argsort", "cumsum", "tril",
           "triu", "matmul", "max", "min", "mean", "sum", "argmax", "argmin", "all", "any",
           "astype", "broadcast_to", "expand", "repeat", "t", "clone", "movedim", "cat",
           "flatten", "permute", "reshape", "squeeze", "stack", "transpose", "unsqueeze",
           "narrow", "split", "chunk", "norm"]

install(Tensor)
