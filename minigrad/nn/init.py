"""Initialisers, drawn on the host from minigrad's seeded generator and then moved, so a
seeded model starts the same on every device. All work in place on a Parameter."""
import math

from .. import backend
from .module import Parameter


def empty(*shape, device=None, dtype=None):
    """A new Parameter of ``shape``: zeros until an initialiser fills it."""
    xp = backend.xp_for(device)
    return Parameter(xp.zeros(shape, dtype=dtype or backend.get_default_dtype()))


def _fill(param, values):
    param.array = backend.to_device(values.astype(param.dtype), param.device)
    return param


def uniform_(param, a=0.0, b=1.0):
    return _fill(param, backend.host_rng().uniform(a, b, size=param.shape))


def fan_in_uniform_(param, fan_in):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's default for Linear and recurrent weights."""
    bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
    return uniform_(param, -bound, bound)


def normal_(param, mean=0.0, std=1.0):
    return _fill(param, mean + std * backend.host_rng().standard_normal(param.shape))


def zeros_(param):
    param.array = param.array * 0
    return param


def ones_(param):
    param.array = param.array * 0 + 1
    return param


def xavier_uniform_(param, gain=1.0):
    fan_out, fan_in = param.shape[0], param.shape[1]
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(param, -a, a)
