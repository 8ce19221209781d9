"""The ops layers are made of: linear, embedding lookup, dropout. Forward and backward on
arrays; ``minigrad.functional`` holds the public functions that check arguments and call them."""
import math

from .. import backend
from ..tensor import Function


class Linear(Function):
    """y = x W^T + b over the last axis of x, as one matrix product however many leading axes
    x has: x (..., I), W (O, I), b (O,) -> (..., O)."""

    def forward(self, x, W, *b):
        # Flattened to one 2-D product: NumPy's stacked matmul ((N, T, I) @ (I, O)) runs one
        # small product per leading index and is about twice slower.
        M = math.prod(x.shape[:-1])
        y = x.reshape(M, x.shape[-1]) @ W.T
        if b:
            y += b[0]                      # in place: no second (M, O) array
        return y.reshape(x.shape[:-1] + (W.shape[0],))

    def backward(self, gy):
        x, W = self.inputs[0].array, self.inputs[1].array
        M = math.prod(x.shape[:-1])
        g2 = gy.reshape(M, gy.shape[-1])                     # (M, O); -1 is ambiguous for size 0
        gx = (g2 @ W).reshape(x.shape)                       # (..., I)
        gW = g2.T @ x.reshape(M, x.shape[-1])                # (O, I)
        if len(self.inputs) == 3:
            return gx, gW, g2.sum(axis=0)
        return gx, gW


class Embedding(Function):
    """Row lookup ``weight[idx]``; backward scatter-adds into the rows that were picked
    (a word seen twice in the batch gets both gradients)."""

    def __init__(self, idx, padding_idx):
        self.idx, self.padding_idx = idx, padding_idx

    def forward(self, weight):
        return weight[self.idx]

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        weight = self.inputs[0]
        gw = xp.zeros(weight.shape, dtype=gy.dtype)
        backend.scatter_add(gw, self.idx.reshape(-1), gy.reshape(self.idx.size, weight.shape[1]))
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0        # the padding row never learns
        return gw


class Dropout(Function):
    def __init__(self, p):
        self.p = p

    def forward(self, x):
        # Inverted dropout: keep with probability 1-p and scale by 1/(1-p) now, so that
        # evaluation needs no rescaling.
        xp = backend.get_array_module(x)
        keep = backend.rng_for(xp).random(x.shape) >= self.p
        scale = 0.0 if self.p >= 1 else 1.0 / (1.0 - self.p)
        self.mask = keep.astype(x.dtype) * x.dtype.type(scale)
        return x * self.mask

    def backward(self, gy):
        return gy * self.mask
