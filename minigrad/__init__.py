"""minigrad: a small deep-learning framework, written from scratch on NumPy (and CuPy for a
GPU), for learning and teaching sequence models.

It has a readable autograd engine (``Tensor``, ``Function``, ``backward``); RNN, LSTM and GRU
layers whose backpropagation through time is written by hand; attention, seq2seq, a
transformer; beam search and BLEU. Names and arguments follow PyTorch: ``nn.Module``,
``nn.LSTM``, ``optim.Adam``, ``F.cross_entropy``, ``state_dict``.

Where to start:
    python -m minigrad                          versions, BLAS, GPU, where the lessons are
    python lessons/01_tensors_autograd.py       the first of the numbered lessons
    docs/api.md                                 every public name, with shapes
    mg.gradcheck(fn, inputs)                    prove a backward right (float64)

    import minigrad as mg
    from minigrad import nn, optim
    import minigrad.functional as F

    x = mg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    loss = F.cross_entropy(nn.Linear(3, 2)(x), [1])
    loss.backward()                             # x.grad, and the layer's weight.grad, bias.grad

Shapes are written with N (batch), T (time steps), D (input features), H (hidden size) and
V (vocabulary size). The sub-modules: nn, functional, optim, decoding, metrics, data, models,
cuda, backend.

A program written for PyTorch runs with ``import minigrad as torch``: the function forms
(``mg.exp``, ``mg.cat``, ``mg.topk``, ...), the dtype names (``mg.long``, ``mg.float32``, ...)
and ``mg.device`` are torch's.
"""
import builtins as _builtins
import types as _types

import numpy as _np

from . import backend, cuda
from ._version import __version__
from .backend import device, get_default_dtype, manual_seed, set_default_device, set_default_dtype
from .creation import (Generator, arange, empty, eye, full, full_like, multinomial, ones,
                       ones_like, rand, rand_like, randint, randn, randn_like, randperm, zeros,
                       zeros_like)
from .gradcheck import gradcheck
from .io import load, save
from .ops import (abs, add, all, any, argmax, argmin, argsort, cat, chunk, clamp, clone, cos,
                  cumsum, div, exp, flatten, gather, index_select, log, masked_fill, matmul, max,
                  mean, min, movedim, mul, narrow, neg, norm, permute, pow, relu, repeat,
                  reshape, sigmoid, sin, sort, split, sqrt, squeeze, stack, sub, sum, t, tanh,
                  topk, transpose, tril, triu, unsqueeze, where)
from .tensor import (Function, Tensor, detect_anomaly, enable_grad, is_grad_enabled, no_grad,
                     set_grad_enabled, tensor)
from . import functional, nn, optim  # noqa: E402  (they build on the names above)
from . import decoding, metrics  # noqa: E402
from .functional import log_softmax, softmax  # noqa: E402
from . import dtypes as _dtypes  # noqa: E402
# torch's submodules that the census programs import (benchmarks/torch_census.py).
from . import accelerator, autograd, onnx, serialization, utils  # noqa: E402

# mg.float32, mg.long, mg.bool, ... (numpy dtypes). From here on, float/int/bool in this module
# are dtypes: use _builtins for the Python types.
globals().update(_dtypes.DTYPES)
bool_ = _dtypes.DTYPES["bool"]
clip = clamp


inference_mode = no_grad      # torch's faster no_grad; here the same thing

# torch.backends.cudnn settings that programs set for reproducibility: accepted, and without
# effect (minigrad's GPU kernels come from CuPy, and a seeded run is already repeatable).
backends = _types.SimpleNamespace(cudnn=_types.SimpleNamespace(deterministic=False,
                                                                 benchmark=False, enabled=True),
                                   mps=_types.SimpleNamespace(is_available=lambda: False,
                                                              is_built=lambda: False))


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(t):
    return t.numel()


def from_numpy(array):
    """A CPU tensor sharing ``array``'s memory, as torch.from_numpy."""
    if not isinstance(array, _np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def bmm(a, b):
    """Batched matrix product: (B, n, m) @ (B, m, p) -> (B, n, p)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: expected (B, n, m) and (B, m, p) with one B, got {a.shape} "
                         f"and {b.shape}")
    return matmul(a, b)


def _typed_tensor(dtype_name):
    """torch's legacy constructors: ``mg.LongTensor([1, 2])`` (from data) or
    ``mg.FloatTensor(2, 3)`` (zeros of that shape)."""
    dtype = _dtypes.DTYPES[dtype_name]

    def make(*args, device=None):
        if len(args) == 1 and not isinstance(args[0], (_builtins.int, _np.integer)):
            return tensor(args[0], dtype=dtype, device=device)
        return zeros(*args, dtype=dtype, device=device)
    make.__name__ = make.__qualname__ = _dtypes.TYPE_NAMES[dtype]
    make.dtype = dtype
    return make


FloatTensor, DoubleTensor = _typed_tensor("float32"), _typed_tensor("float64")
HalfTensor = _typed_tensor("float16")
LongTensor, IntTensor, ShortTensor = (_typed_tensor(n) for n in ("int64", "int32", "int16"))
CharTensor, ByteTensor, BoolTensor = (_typed_tensor(n) for n in ("int8", "uint8", "bool"))


# torch's names a program may reach for that minigrad leaves out on purpose, and what to do.
_LEFT_OUT = {
    "jit": "minigrad runs eagerly and has no compiler: call the model directly",
    "compile": "minigrad runs eagerly and has no compiler: call the model directly",
    "sparse_coo_tensor": "minigrad has dense tensors only: use mg.zeros and index assignment",
    "sparse_csr_tensor": "minigrad has dense tensors only: use mg.zeros and index assignment",
    "autocast": "minigrad has no mixed precision: pick one dtype (mg.set_default_dtype)",
}


def __getattr__(name):
    if name in _dtypes.MISSING:
        raise _dtypes.missing(name)
    if name in _LEFT_OUT:
        raise AttributeError(f"minigrad has no {name!r}: {_LEFT_OUT[name]}")
    raise AttributeError(f"module 'minigrad' has no attribute {name!r}")



__all__ = ["Tensor", "Function", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
           "detect_anomaly", "manual_seed", "gradcheck", "cat", "stack", "where", "zeros", "ones",
           "zeros_like", "ones_like", "full_like", "randn_like", "rand_like", "randn", "rand",
           "randint", "arange", "full", "empty", "eye", "multinomial", "save", "load",
           "set_default_dtype", "get_default_dtype", "set_default_device", "device", "cuda", "nn",
           "optim", "functional", "decoding", "metrics", "backend", "exp", "log", "tanh", "sqrt",
           "sigmoid", "relu", "sin", "cos", "abs", "pow", "clamp", "clip", "matmul", "bmm", "tril",
           "triu", "max", "min", "sum", "mean", "argmax", "argmin", "all", "any", "topk", "gather",
           "index_select", "masked_fill", "sort", "argsort", "cumsum", "softmax", "log_softmax",
           "transpose", "permute", "reshape", "flatten", "squeeze", "unsqueeze", "movedim", "t",
           "clone", "repeat", "narrow", "norm", "split", "chunk", "is_tensor", "numel",
           "from_numpy", "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
           "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor", "bool_", "add", "sub", "mul",
           "div", "neg", "set_grad_enabled", "inference_mode", "backends", "Generator",
           "randperm", "accelerator", "autograd", "onnx", "serialization", "utils"] + list(_dtypes.DTYPES)
