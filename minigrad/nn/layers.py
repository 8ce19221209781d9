"""The basic layers: Linear, Embedding, Dropout, LayerNorm, and simple activations.

Parameter names, shapes and initialisation follow torch, so weights move between the two.
"""
import numpy as np

from .. import functional as F
from ..creation import ones, zeros
from ..tensor import tensor
from ..ops import tanh, relu, sigmoid
from . import init
from .init import empty
from .module import Module


class Linear(Module):
    """y = x W^T + b. x: (..., in_features) -> (..., out_features).

    weight (out_features, in_features), bias (out_features,), both U(-1/sqrt(in), 1/sqrt(in))
    as torch's default.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty(out_features, in_features, device=device, dtype=dtype)
        self.register_parameter("bias", empty(out_features, device=device, dtype=dtype) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        init.fan_in_uniform_(self.weight, self.in_features)
        if self.bias is not None:
            init.fan_in_uniform_(self.bias, self.in_features)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (..., {self.in_features}), "
                             f"got {x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """Row lookup: indices (...) -> vectors (..., embedding_dim). weight ~ N(0, 1) as torch;
    the ``padding_idx`` row starts at zero and never gets a gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, device=None, dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.weight = empty(num_embeddings, embedding_dim, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    def forward(self, idx):
        return F.embedding(idx, self.weight, self.padding_idx)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Channel dropout (torch's Dropout2d): each (n, c) slice of x (N, C, *) is kept or
    zeroed as a whole while training."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)


class BatchNorm1d(Module):
    """Batch normalisation of x (N, C) or (N, C, L) per channel C, as torch: batch statistics
    while training (and running ones updated with ``momentum``; None: a plain average of all
    batches so far), the running ones in eval. weight starts at ones, bias at zeros."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = empty(num_features, device=device, dtype=dtype)
            self.bias = empty(num_features, device=device, dtype=dtype)
            init.ones_(self.weight)
            init.zeros_(self.bias)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, device=device,
                                                       dtype=dtype))
            self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected input (N, {self.num_features}) or "
                             f"(N, {self.num_features}, L), got {x.shape}")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array += 1
            if momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch, momentum or 0.0, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class LayerNorm(Module):
    """Normalise over the last axes: (x - mean) / sqrt(var + eps) * weight + bias.
    weight starts at ones and bias at zeros, as torch."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = empty(*self.normalized_shape, device=device, dtype=dtype)
            init.ones_(self.weight)
            self.register_parameter(
                "bias", empty(*self.normalized_shape, device=device, dtype=dtype) if bias else None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        n = len(self.normalized_shape)
        if x.shape[x.ndim - n:] != self.normalized_shape:
            raise ValueError(f"{self!r}: expected input of shape (..., "
                             f"{', '.join(map(str, self.normalized_shape))}), got {x.shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Tanh(Module):
    def forward(self, x):
        return tanh(x)


class ReLU(Module):
    def forward(self, x):
        return relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return sigmoid(x)


__all__ = ["Linear", "Embedding", "Dropout", "LayerNorm", "Tanh", "ReLU", "Sigmoid"]
