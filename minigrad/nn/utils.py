"""Gradient clipping (notes 003, formula (6)): g <- min(theta / ||g||, 1) g."""
import math

from .. import backend
from ..tensor import Tensor


def _with_grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so their joint norm is at most ``max_norm``.

    ||g|| is the norm of every gradient taken as one long vector; when it exceeds theta =
    ``max_norm`` each gradient is multiplied by theta / ||g||, so the direction is kept.
    Returns ||g|| before clipping, as a float.
    """
    params = _with_grads(parameters)
    if not params:
        return 0.0
    norm_type = float(norm_type)
    xp = backend.get_array_module(params[0].grad)
    if math.isinf(norm_type):
        total = max(float(xp.abs(p.grad).max()) if p.grad.size else 0.0 for p in params)
    else:
        total = sum(float((xp.abs(p.grad) ** norm_type).sum()) for p in params) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total gradient norm is {total}")
    coef = max_norm / (total + 1e-6)       # the 1e-6 keeps a zero gradient from dividing by 0
    if coef < 1:
        for p in params:
            # A new array, not in place: one gradient array may be shared by two tensors.
            p.grad = p.grad * p.grad.dtype.type(coef)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for p in _with_grads(parameters):
        xp = backend.get_array_module(p.grad)
        p.grad = xp.clip(p.grad, -clip_value, clip_value)


from . import packing as rnn  # noqa: E402,F401  (torch's nn.utils.rnn)
