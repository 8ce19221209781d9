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
"""
import numpy as _np

from . import backend, cuda
from .backend import get_default_dtype, manual_seed, set_default_device, set_default_dtype
from .creation import arange, full, ones, ones_like, rand, randint, randn, zeros, zeros_like
from .gradcheck import gradcheck
from .io import load, save
from .ops import cat, stack, where
from .tensor import Function, Tensor, detect_anomaly, enable_grad, is_grad_enabled, no_grad, tensor
from . import functional, nn, optim  # noqa: E402  (they build on the names above)
from . import decoding, metrics  # noqa: E402

float32 = _np.dtype(_np.float32)
float64 = _np.dtype(_np.float64)
int64 = _np.dtype(_np.int64)
bool_ = _np.dtype(_np.bool_)

__version__ = "0.1.0"

__all__ = ["Tensor", "Function", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
           "detect_anomaly", "manual_seed", "gradcheck", "cat", "stack", "where", "zeros", "ones",
           "zeros_like", "ones_like", "randn", "rand", "randint", "arange", "full", "save", "load",
           "set_default_dtype", "get_default_dtype", "set_default_device", "cuda", "nn", "optim",
           "functional", "decoding", "metrics", "backend", "float32", "float64", "int64", "bool_"]
