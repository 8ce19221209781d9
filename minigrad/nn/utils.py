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
    grads = [p.grad.array for p in params]
    xp = backend.get_array_module(grads[0])
    # Summed on the device and read once: a float per gradient would wait for the GPU
    # once per parameter.
    if math.isinf(norm_type):
        peaks = [xp.abs(g).max() for g in grads if g.size]
        total = float(xp.stack(peaks).max()) if peaks else 0.0
    else:
        sums = [(xp.abs(g) ** norm_type).sum().astype(xp.float64) for g in grads]
        total = float(sum(sums) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total gradient norm is {total}")
    coef = max_norm / (total + 1e-6)       # the 1e-6 keeps a zero gradient from dividing by 0
    if coef < 1:
        for p in params:
            # The gradient tensor keeps its identity; its array is replaced, not written
            # into, so an array the caller took from it earlier keeps its values.
            g = p.grad
            g.array = g.array * g.dtype.type(coef)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for p in _with_grads(parameters):
        g = p.grad
        g.array = backend.get_array_module(g.array).clip(g.array, -clip_value, clip_value)


from . import packing as rnn  # noqa: E402,F401  (torch's nn.utils.rnn)
