"""``minigrad.functional``: the functions layers are made of.

softmax, log_softmax and cross_entropy are single ops with their own backward: it is both
faster and more stable than composing exp/sum/log, and the gradients are the textbook ones
(softmax - one_hot for cross-entropy).
"""
import math

import numpy as np

from . import backend
from .ops import gelu, one_hot, relu, reshape, sigmoid, sum as _sum, tanh, where
from .ops.dims import accepts_dim
from .tensor import Function, Tensor, as_tensor


# ----------------------------------------------------------------------------- softmax

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


# ----------------------------------------------------------------------------- cross-entropy

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
        # log p_c = shifted_c - log s with shifted = z - max z (no overflow), s = sum exp(shifted).
        # Only p is kept for backward; the loss needs log p at the targets alone.
        shifted = z - z.max(axis=1, keepdims=True)
        at_target = shifted[xp.arange(z.shape[0]), self.t]
        mean_shifted = shifted.mean(axis=1) if self.eps else None
        p = xp.exp(shifted, out=shifted)       # in place: one (M, C) array for the whole op
        s = p.sum(axis=1, keepdims=True)
        p /= s
        self.p = p
        log_s = xp.log(s[:, 0])
        per = (1 - self.eps) * (log_s - at_target)
        if self.eps:
            per = per - self.eps * (mean_shifted - log_s)
        per = per * self.valid
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
        # ignored): one pass over the (M, C) array, plus the M target entries.
        if self.reduction == "none":
            w = gy.reshape(-1, 1) * self.valid[:, None]
        elif self.reduction == "sum":
            w = gy * self.valid[:, None]
        else:
            w = (gy / self.count) * self.valid[:, None]
        w = w.astype(self.p.dtype, copy=False)
        g = self.p * w
        rows = xp.arange(g.shape[0])
        g[rows, self.t] -= (1 - self.eps) * w[:, 0]
        if self.eps:
            g -= (self.eps / C) * w
        return g.reshape(logits.shape).astype(logits.dtype, copy=False)


def _check_target(op, logits, target, ignore_index):
    if isinstance(target, Tensor) and target.device != logits.device:
        raise RuntimeError(f"{op}: logits are on {logits.device} but target is on "
                           f"{target.device}; move one with .to(device)")
    t = target.array if isinstance(target, Tensor) else target
    xp = backend.get_array_module(logits.array)
    t = backend.to_device(t, logits.device) if hasattr(t, "dtype") else xp.asarray(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {t.dtype} "
                        "(minigrad takes no class-probability targets; label_smoothing= "
                        "gives soft ones)")
    if tuple(t.shape) != logits.shape[:-1] and logits.ndim > 2 and \
            tuple(t.shape) == logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f"{op}: minigrad takes the classes on the last axis, torch on dim 1: "
                         f"logits {logits.shape} look like torch's (N, C, ...); pass "
                         "logits.movedim(1, -1)")
    if tuple(t.shape) != logits.shape[:-1]:
        raise ValueError(f"{op}: target has shape {tuple(t.shape)} but logits {logits.shape} "
                         f"need the leading shape {logits.shape[:-1]} (classes on the last axis)")
    C = logits.shape[-1]
    bad = ((t < 0) | (t >= C)) & (t != ignore_index)
    if t.size and bool(bad.any()):
        value = int(t[bad].reshape(-1)[0])
        raise IndexError(f"{op}: target {value} is out of range for {C} classes "
                         f"(expected 0 <= target < {C}, or ignore_index={ignore_index})")
    return t


def cross_entropy(logits, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy with the classes on the last axis.

    logits: (..., C); target: integer class indices of shape (...).
    reduction: 'mean' (over targets that are not ``ignore_index``), 'sum' or 'none'.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logits = as_tensor(logits)
    if logits.ndim == 0:
        raise ValueError("cross_entropy: logits need a class axis, got a scalar")
    t = _check_target("cross_entropy", logits, target, ignore_index)
    return CrossEntropy(t, ignore_index, reduction, label_smoothing)(logits)


def nll_loss(log_probs, target, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of already-normalised log-probabilities (..., C)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"nll_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    t = _check_target("nll_loss", log_probs, target, ignore_index)
    xp = backend.get_array_module(log_probs.array)
    valid = t != ignore_index
    C = log_probs.shape[-1]
    flat = reshape(log_probs, (t.size, C))
    picked = flat[xp.arange(flat.shape[0]), xp.where(valid, t, 0).reshape(-1)]
    per = -picked * Tensor._wrap(valid.reshape(-1).astype(log_probs.dtype))
    if reduction == "none":
        return reshape(per, t.shape)
    total = _sum(per)
    return total if reduction == "sum" else total / int(valid.sum())


def mse_loss(input, target, reduction="mean"):   # noqa: A002 - torch's argument name
    diff = input - target
    sq = diff * diff
    if reduction == "none":
        return sq
    return sq.sum() if reduction == "sum" else sq.mean()


def l1_loss(input, target, reduction="mean"):   # noqa: A002 - torch's argument name
    err = (input - target).abs()
    if reduction == "none":
        return err
    return err.sum() if reduction == "sum" else err.mean()


# ----------------------------------------------------------------------------- dropout

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


def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` while training, scaling the rest by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    return Dropout(p)(x)


# ----------------------------------------------------------------------------- embedding, linear

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


def embedding(input, weight, padding_idx=None):   # noqa: A002 - torch's argument name
    """input: integer indices of any shape (...); weight: (V, D) -> (..., D)."""
    idx = input.array if isinstance(input, Tensor) else input
    xp = backend.get_array_module(weight.array)
    idx = xp.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    V = weight.shape[0]
    if idx.size and (bool((idx < 0).any()) or bool((idx >= V).any())):
        bad = idx[(idx < 0) | (idx >= V)].reshape(-1)[0]
        raise IndexError(f"embedding: index {int(bad)} is out of range for {V} rows "
                         f"(expected 0 <= index < {V})")
    return Embedding(idx, padding_idx)(weight)


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


def linear(x, weight, bias=None):
    x = as_tensor(x)
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weight {weight.shape}: "
                         f"expected (..., {weight.shape[1]})")
    return Linear()(x, weight) if bias is None else Linear()(x, weight, bias)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) over the last len(normalized_shape) axes (biased variance,
    as torch), then * weight + bias. Composed of autograd ops."""
    axes = tuple(range(-len(normalized_shape), 0))
    mu = x.mean(axis=axes, keepdims=True)
    centered = x - mu
    var = (centered * centered).mean(axis=axes, keepdims=True)
    y = centered / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


__all__ = ["softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "dropout",
           "embedding", "linear", "layer_norm", "tanh", "relu", "sigmoid", "gelu", "l1_loss", "one_hot"]


# ----------------------------------------------------------------------------- attention

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


def _mask_array(op, name, mask, like):
    """``mask`` (Tensor, NumPy/CuPy array or list) as a backend array on ``like``'s device."""
    data = mask.array if isinstance(mask, Tensor) else mask
    if hasattr(data, "dtype"):
        return backend.to_device(data, like.device)
    return backend.get_array_module(like.array).asarray(data)


def _check_broadcast(op, name, shape, target):
    try:
        ok = tuple(np.broadcast_shapes(tuple(shape), tuple(target))) == tuple(target)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: {name} of shape {tuple(shape)} does not broadcast to the "
                         f"attention scores' shape {tuple(target)}")


def masked_softmax(x, mask, axis=-1):
    """softmax(x) over ``axis``, restricted to the positions where ``mask`` is True.

    mask: bool, broadcastable to x's shape. Masked positions get exactly 0; a row with every
    position masked gets all zeros.
    """
    x = as_tensor(x)
    m = _mask_array("masked_softmax", "mask", mask, x)
    if m.dtype != bool:
        raise TypeError(f"masked_softmax: mask must be bool (True = keep), got dtype {m.dtype}")
    _check_broadcast("masked_softmax", "mask", m.shape, x.shape)
    return MaskedSoftmax(m, axis)(x)


def _mask_parts(op, name, mask, like, true_means="attend"):
    """An attention mask split into (attend, bias): ``attend`` a bool array, True where a query
    may look at a key (or None), and ``bias`` a float tensor added to the scores (or None).

    bool masks: True means "attend" (torch's scaled_dot_product_attention) or, with
    ``true_means="ignore"``, "masked out" (torch's MultiheadAttention masks).
    float masks: added to the scores; -inf forbids a position. The -inf entries become
    ``attend = False`` and a 0 bias, so no inf ever enters an op (detect_anomaly stays quiet).
    """
    if mask is None:
        return None, None
    data = _mask_array(op, name, mask, like)
    if data.dtype == bool:
        return (data if true_means == "attend" else ~data), None
    if data.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a bool or float mask, got dtype {data.dtype}")
    xp = backend.get_array_module(data)
    attend = data > -xp.inf
    source = mask if isinstance(mask, Tensor) else Tensor._wrap(data)   # a Tensor keeps its grad
    return attend, where(attend, source, 0.0).astype(like.dtype)


def _merge_mask_parts(*parts):
    """(attend, bias) pairs combined: a position is attended if every mask allows it, and the
    biases add up."""
    attend = bias = None
    for a, b in parts:
        if a is not None:
            attend = a if attend is None else attend & a
        if b is not None:
            bias = b if bias is None else bias + b
    return attend, bias


def _causal_mask(L, S, like):
    """(L, S) bool, True where key j <= query i: each position sees itself and the past."""
    xp = backend.get_array_module(like.array)
    return xp.tril(xp.ones((L, S), dtype=bool))


def _attention(q, k, v, attend, bias, scale, dropout_p):
    """softmax(q k^T * scale + bias, restricted to ``attend``) v, with q (..., L, E),
    k (..., S, E), v (..., S, Ev) -> (output (..., L, Ev), weights (..., L, S))."""
    scores = (q * scale) @ k.transpose(-2, -1)                      # (..., L, S)
    if bias is not None:
        scores = scores + bias
    weights = softmax(scores) if attend is None else MaskedSoftmax(attend, -1)(scores)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return weights @ v, weights


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, return_weights=False,
                                 dropout_p=0.0, scale=None):
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V   (Vaswani et al., notes 002).

    q (..., L, E), k (..., S, E), v (..., S, Ev) -> output (..., L, Ev); leading axes broadcast
    (e.g. (N, heads, L, E)).
    attn_mask: broadcastable to (..., L, S). bool: True = may attend (torch's convention);
        float: added to the scores, -inf forbids.
    is_causal: query i sees keys j <= i; combined with ``attn_mask`` when both are given.
    Dividing by sqrt(d_k) keeps the scores' variance near 1 however wide the vectors are, so
    softmax does not saturate into one-hot weights with vanishing gradients.
    A query that may attend to nothing gets zero weights and a zero output, as in torch.
    dropout_p: dropout on the weights (applied whenever > 0: pass 0 when evaluating).
    scale: replaces 1/sqrt(d_k).
    Returns the output, or (output, weights (..., L, S)) with ``return_weights=True``.
    """
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    op = "scaled_dot_product_attention"
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"{op}: q, k and v need shape (..., length, features), got "
                         f"{q.shape}, {k.shape} and {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{op}: expected q (..., L, E), k (..., S, E), v (..., S, Ev), got "
                         f"q {q.shape}, k {k.shape}, v {v.shape}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    L, S = q.shape[-2], k.shape[-2]
    batch = tuple(np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))
    if attn_mask is not None:
        shape = attn_mask.shape if hasattr(attn_mask, "shape") else np.shape(attn_mask)
        _check_broadcast(op, "attn_mask", shape, batch + (L, S))
    parts = [_mask_parts(op, "attn_mask", attn_mask, q)]
    if is_causal:
        parts.append((_causal_mask(L, S, q), None))
    attend, bias = _merge_mask_parts(*parts)
    scale = 1.0 / (q.shape[-1] ** 0.5) if scale is None else scale
    out, weights = _attention(q, k, v, attend, bias, scale, dropout_p)
    return (out, weights) if return_weights else out


__all__ += ["masked_softmax", "scaled_dot_product_attention"]
