"""Softmax, its masked form, and softmax cross-entropy: each one op with its own backward.

One op each is both faster and more stable than composing exp/sum/log, and the gradients are
the textbook ones (softmax - one_hot for cross-entropy). The public functions that check
their arguments and call these are in ``minigrad.functional``.
"""
import math

import numpy as np

from .. import backend
from ..tensor import Function
from .dims import accepts_dim


def _log_softmax(x, axis):
    if x.shape[axis] == 0:
        return x                    # an empty axis: nothing to normalise, and no max to take
    # Subtracting the max first keeps exp() from overflowing: logits of 1e4 stay finite.
    xp = backend.get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.y = xp.exp(_log_softmax(x, self.axis))
        return self.y

    def backward(self, gy):
        # dy_i/dx_j = y_i (delta_ij - y_j)  =>  gx = y * (gy - sum(gy * y))
        y = self.y
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.y = _log_softmax(x, self.axis)
        return self.y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)


@accepts_dim
def softmax(x, axis=-1):
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j) along ``axis``."""
    return Softmax(axis)(x)


@accepts_dim
def log_softmax(x, axis=-1):
    return LogSoftmax(axis)(x)


class MaskedSoftmax(Function):
    """softmax over ``axis`` of the positions where ``mask`` is True; the others get weight 0.

    The masked scores never enter exp(), so no inf or NaN appears in forward or backward, and
    a row with no position left gets all-zero weights (as torch's scaled_dot_product_attention)
    rather than 0/0. Backward is softmax's, y * (gy - sum(gy * y)): where y = 0 no gradient
    reaches the score.
    """

    def __init__(self, mask, axis):
        self.mask, self.axis = mask, axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        if x.size == 0:
            self.y = xp.zeros_like(x)
            return self.y
        kept = xp.where(self.mask, x, -xp.inf)
        m = kept.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)                 # a fully masked row's max is -inf
        e = xp.exp(kept - m)                               # exp(-inf) = 0 exactly
        total = e.sum(axis=self.axis, keepdims=True)
        self.y = e / xp.where(total > 0, total, 1)
        return self.y

    def backward(self, gy):
        y = self.y
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


# Rows whose largest logit lies within +-64 skip subtracting it: exp(64) and exp(-64) stay
# far inside float32's normal numbers (1e-38 .. 3e38), so exp(z) keeps its full precision
# (C exp(64) overflows only past C = 5e10 classes).
_NO_SHIFT = 64.0


class CrossEntropy(Function):
    """Softmax cross-entropy over the last axis, one op.

    For one position with logits z (C,) and target t:
        loss = (1 - eps) * (-log p_t) + eps * (-(1/C) sum_c log p_c),   p = softmax(z)
        dloss/dz = p - (1 - eps) * onehot(t) - eps / C
    Positions whose target is ``ignore_index`` give 0 loss and 0 gradient.
    """

    def __init__(self, target, ignore_index, reduction, label_smoothing):
        self.target, self.ignore_index = target, ignore_index
        self.reduction, self.eps = reduction, label_smoothing

    def forward(self, logits):
        xp = backend.get_array_module(logits)
        C = logits.shape[-1]
        z = logits.reshape(self.target.size, C)              # (M, C)
        t = self.target.reshape(-1)                          # (M,)
        self.valid = t != self.ignore_index
        self.t = xp.where(self.valid, t, 0)
        # log p_c = z_c - log sum_c' exp(z_c'). Directly when exp(z) neither overflows nor
        # loses precision: when each row's max m lies within +-64. The sums tell without a
        # pass for m: exp(m) <= s <= C exp(m), so C e^-64 <= s <= e^64 puts m in [-64, 64].
        # Else (or on a device, where deciding reads the sums on the host: a wait every step)
        # m is subtracted first, and the sum is at least 1, so its log is exact to a rounding.
        # The loss needs log p at the targets alone, so p itself is never formed here:
        # backward keeps e = exp(z - m') and scales it by 1/s, s = sum e, in the pass that
        # makes the gradient. Row sums as a product with ones: 3x faster than sum(axis=1).
        rows = xp.arange(z.shape[0])
        C = z.shape[1]
        e = None
        if xp is np and C and z.dtype.itemsize >= 4:      # float16 overflows at 11
            with np.errstate(over="ignore", invalid="ignore"):     # inf: the fallback below
                e = xp.exp(z)
                s = xp.matmul(e, xp.ones(C, dtype=e.dtype))[:, None]
            if not bool(((s >= C * math.exp(-_NO_SHIFT)) & (s <= math.exp(_NO_SHIFT))).all()):
                e = None                            # a row too large or too small: shift it
            else:       # log s - z_t cancels to a small loss: the (M,) terms in float64
                at_target = z[rows, self.t].astype(np.float64)
                mean_shifted = z.mean(axis=1, dtype=np.float64) if self.eps else None
                log_s = xp.log(s[:, 0].astype(np.float64))
        if e is None:
            m = z.max(axis=1, keepdims=True) if C else xp.zeros((z.shape[0], 1), z.dtype)
            at_target = z[rows, self.t] - m[:, 0]
            mean_shifted = z.mean(axis=1) - m[:, 0] if self.eps else None
            e = xp.subtract(z, m)
            s = xp.exp(e, out=e).sum(axis=1, keepdims=True)    # in place: one (M, C) array
            log_s = xp.log(s[:, 0])
        self.e, self.s = e, s
        per = (1 - self.eps) * (log_s - at_target)
        if self.eps:
            per = per - self.eps * (mean_shifted - log_s)
        per = per.astype(z.dtype, copy=False) * self.valid
        if self.reduction == "none":
            return per.reshape(self.target.shape)
        if self.reduction == "sum":
            return per.sum()
        self.count = self.valid.sum().astype(z.dtype)      # a float32 count keeps float32
        return per.sum() / self.count          # 0/0 = NaN when every target is ignored, as torch

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        logits = self.inputs[0]
        C = logits.shape[-1]
        # g = w * (p - (1 - eps) onehot(t) - eps / C), w = the row's weight in the loss (0 where
        # ignored), p = e / s: one pass over the (M, C) array, plus the M target entries.
        if self.reduction == "none":
            w = gy.reshape(-1, 1) * self.valid[:, None]
        elif self.reduction == "sum":
            w = gy * self.valid[:, None]
        else:
            w = (gy / self.count) * self.valid[:, None]
        w = w.astype(self.e.dtype, copy=False)
        # e is needed again only by a second backward, so without one g takes its place
        g = xp.multiply(self.e, w / self.s, out=None if self.retain_graph else self.e)
        rows = xp.arange(g.shape[0])
        g[rows, self.t] -= (1 - self.eps) * w[:, 0]
        if self.eps:
            g -= (self.eps / C) * w
        return g.reshape(logits.shape).astype(logits.dtype, copy=False)
