"""Attention masks, in one place for ``F.scaled_dot_product_attention`` and
``nn.MultiheadAttention`` alike.

A mask becomes a pair ``(attend, bias)``: ``attend`` a bool array, True where a query may look
at a key (or None), and ``bias`` a float tensor added to the scores (or None). Pairs from
several masks merge into one. Shapes: L queries, S keys.
"""
import numpy as np

from . import backend
from .ops import where
from .tensor import Tensor


def mask_array(mask, like):
    """``mask`` (Tensor, NumPy/CuPy array or list) as a backend array on ``like``'s device."""
    return backend.array_on(mask.array if isinstance(mask, Tensor) else mask, like.device)


def check_broadcast(who, name, shape, target):
    """Raise unless a mask of ``shape`` broadcasts to the scores' shape ``target``."""
    try:
        ok = tuple(np.broadcast_shapes(tuple(shape), tuple(target))) == tuple(target)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{who}: {name} of shape {tuple(shape)} does not broadcast to the "
                         f"attention scores' shape {tuple(target)}")


def mask_parts(who, name, mask, like, true_means="attend"):
    """``mask`` as an (attend, bias) pair; (None, None) for no mask.

    bool masks: True means "attend" (torch's scaled_dot_product_attention) or, with
    ``true_means="ignore"``, "masked out" (torch's MultiheadAttention masks).
    float masks: added to the scores; -inf forbids a position. The -inf entries become
    ``attend = False`` and a 0 bias, so no inf ever enters an op (detect_anomaly stays quiet).
    """
    if mask is None:
        return None, None
    data = mask_array(mask, like)
    if data.dtype == bool:
        return (data if true_means == "attend" else ~data), None
    if data.dtype.kind != "f":
        raise TypeError(f"{who}: {name} must be a bool or float mask, got dtype {data.dtype}")
    xp = backend.get_array_module(data)
    attend = data > -xp.inf
    source = mask if isinstance(mask, Tensor) else Tensor._wrap(data)   # a Tensor keeps its grad
    return attend, where(attend, source, 0.0).astype(like.dtype)


def merge_mask_parts(*parts):
    """(attend, bias) pairs combined: a position is attended if every mask allows it, and the
    biases add up."""
    attend = bias = None
    for a, b in parts:
        if a is not None:
            attend = a if attend is None else attend & a
        if b is not None:
            bias = b if bias is None else bias + b
    return attend, bias


def causal_mask(L, S, like):
    """(L, S) bool on ``like``'s device, True where key j <= query i: each position sees
    itself and the past."""
    xp = backend.get_array_module(like.array)
    return xp.tril(xp.ones((L, S), dtype=bool))
