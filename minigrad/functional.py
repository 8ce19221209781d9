"""``minigrad.functional``: the functions layers are made of, with torch's names.

Each checks its arguments and calls an op; the ops (forward and backward on arrays) live in
``minigrad.ops`` (``ops.softmax``: softmax, log_softmax, masked softmax, cross-entropy;
``ops.nn``: linear, embedding, dropout). Attention masks are built by ``minigrad.masks``.
"""
import numpy as np

from . import backend, masks
from .ops import gelu, one_hot, relu, reshape, sigmoid, sum as _sum, tanh
from .ops.nn import Dropout, Embedding, Linear
from .ops.softmax import CrossEntropy, MaskedSoftmax, log_softmax, softmax
from .tensor import Tensor, as_tensor

__all__ = ["softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "l1_loss",
           "dropout", "embedding", "linear", "layer_norm", "masked_softmax", "masked_attention",
           "scaled_dot_product_attention", "tanh", "relu", "sigmoid", "gelu", "one_hot",
           "batch_norm", "dropout2d"]


# ----------------------------------------------------------------------------- cross-entropy

def _check_target(who, logits, target, ignore_index):
    if isinstance(target, Tensor) and target.device != logits.device:
        raise RuntimeError(f"{who}: logits are on {logits.device} but target is on "
                           f"{target.device}; move one with .to(device)")
    t = backend.array_on(target.array if isinstance(target, Tensor) else target, logits.device)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{who}: target must hold integer class indices, got dtype {t.dtype} "
                        "(minigrad takes no class-probability targets; label_smoothing= "
                        "gives soft ones)")
    if tuple(t.shape) != logits.shape[:-1] and logits.ndim > 2 and \
            tuple(t.shape) == logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f"{who}: minigrad takes the classes on the last axis, torch on dim 1: "
                         f"logits {logits.shape} look like torch's (N, C, ...); pass "
                         "logits.movedim(1, -1)")
    if tuple(t.shape) != logits.shape[:-1]:
        raise ValueError(f"{who}: target has shape {tuple(t.shape)} but logits {logits.shape} "
                         f"need the leading shape {logits.shape[:-1]} (classes on the last axis)")
    C = logits.shape[-1]
    bad = ((t < 0) | (t >= C)) & (t != ignore_index)
    if t.size and bool(bad.any()):
        value = int(t[bad].reshape(-1)[0])
        raise IndexError(f"{who}: target {value} is out of range for {C} classes "
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

def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` while training, scaling the rest by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    return Dropout(p)(x)


# ----------------------------------------------------------------------------- embedding, linear

def embedding(input, weight, padding_idx=None):   # noqa: A002 - torch's argument name
    """input: integer indices of any shape (...); weight: (V, D) -> (..., D)."""
    idx = backend.array_on(input.array if isinstance(input, Tensor) else input, weight.device)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    V = weight.shape[0]
    if idx.size and bool(((idx < 0) | (idx >= V)).any()):       # one wait for the device
        bad = idx[(idx < 0) | (idx >= V)].reshape(-1)[0]
        raise IndexError(f"embedding: index {int(bad)} is out of range for {V} rows "
                         f"(expected 0 <= index < {V})")
    return Embedding(idx, padding_idx)(weight)


def linear(x, weight, bias=None):
    x = as_tensor(x)
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weight {weight.shape}: "
                         f"expected (..., {weight.shape[1]})")
    return Linear()(x, weight) if bias is None else Linear()(x, weight, bias)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel over the batch: x (N, C) or (N, C, L), statistics over N (and
    L), as torch. Training uses the batch's mean and biased variance and moves the running
    statistics (arrays updated in place, unbiased variance, weight ``momentum``); evaluation
    uses the running ones. Then * weight + bias, both (C,). Composed of autograd ops."""
    if x.ndim not in (2, 3):
        raise ValueError(f"batch_norm: expected input (N, C) or (N, C, L), got {x.shape}")
    axes = (0,) if x.ndim == 2 else (0, 2)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        n = x.array.size // x.shape[1]
        if n < 2:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {x.shape}")
        mu = x.mean(axis=axes, keepdims=True)
        centered = x - mu
        var = (centered * centered).mean(axis=axes, keepdims=True)
        if running_mean is not None:
            running_mean.array *= 1 - momentum
            running_mean.array += momentum * mu.array.reshape(-1)
            running_var.array *= 1 - momentum
            running_var.array += momentum * var.array.reshape(-1) * n / (n - 1)
    else:
        mu = reshape(running_mean, *shape)
        centered = x - mu
        var = reshape(running_var, *shape)
    y = centered / (var + eps).sqrt()
    if weight is not None:
        y = y * reshape(weight, *shape)
    if bias is not None:
        y = y + reshape(bias, *shape)
    return y


def dropout2d(x, p=0.5, training=True):
    """Zero whole channels: x (N, C, *) keeps or zeros each (n, c) slice together, scaling
    kept ones by 1/(1-p), as torch's Dropout2d. A 2-D input is dropped element by element,
    as torch does (with a warning there)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if x.ndim < 3:
        return dropout(x, p, training)
    shape = tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
    keep = backend.host_rng().random(shape) >= p
    mask = (keep / (1.0 - p) if p < 1.0 else keep * 0.0).astype(x.dtype)
    return x * Tensor._wrap(backend.to_device(mask, x.device))


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


# ----------------------------------------------------------------------------- attention

def masked_softmax(x, mask, axis=-1):
    """softmax(x) over ``axis``, restricted to the positions where ``mask`` is True.

    mask: bool, broadcastable to x's shape. Masked positions get exactly 0; a row with every
    position masked gets all zeros.
    """
    x = as_tensor(x)
    m = masks.mask_array(mask, x)
    if m.dtype != bool:
        raise TypeError(f"masked_softmax: mask must be bool (True = keep), got dtype {m.dtype}")
    masks.check_broadcast("masked_softmax", "mask", m.shape, x.shape)
    return MaskedSoftmax(m, axis)(x)


def masked_attention(q, k, v, attend=None, bias=None, scale=1.0, dropout_p=0.0):
    """softmax(q k^T * scale + bias, restricted to ``attend``) v, with q (..., L, E),
    k (..., S, E), v (..., S, Ev) -> (output (..., L, Ev), weights (..., L, S)).
    ``attend`` (bool, True = may attend) and ``bias`` come from ``minigrad.masks``; the core
    of ``scaled_dot_product_attention`` and ``nn.MultiheadAttention``."""
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
    who = "scaled_dot_product_attention"
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"{who}: q, k and v need shape (..., length, features), got "
                         f"{q.shape}, {k.shape} and {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{who}: expected q (..., L, E), k (..., S, E), v (..., S, Ev), got "
                         f"q {q.shape}, k {k.shape}, v {v.shape}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{who}: dropout_p must be in [0, 1], got {dropout_p}")
    L, S = q.shape[-2], k.shape[-2]
    batch = tuple(np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))
    if attn_mask is not None:
        shape = attn_mask.shape if hasattr(attn_mask, "shape") else np.shape(attn_mask)
        masks.check_broadcast(who, "attn_mask", shape, batch + (L, S))
    parts = [masks.mask_parts(who, "attn_mask", attn_mask, q)]
    if is_causal:
        parts.append((masks.causal_mask(L, S, q), None))
    attend, bias = masks.merge_mask_parts(*parts)
    scale = 1.0 / (q.shape[-1] ** 0.5) if scale is None else scale
    out, weights = masked_attention(q, k, v, attend, bias, scale, dropout_p)
    return (out, weights) if return_weights else out

