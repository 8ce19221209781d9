"""Elementwise ops: arithmetic with broadcasting, the activation functions, and ``where``.

Each backward is the derivative of its forward times the incoming gradient ``gy``, summed
back to each input's shape where NumPy broadcast it.
"""
import math

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..tensor import Function, Tensor, as_tensor
from .broadcast import unbroadcast


class Add(Function):
    saves_inputs = ()
    saves_output = False

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy, a.shape), unbroadcast(gy, b.shape)


class Sub(Function):
    saves_inputs = ()
    saves_output = False

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy, a.shape), unbroadcast(-gy, b.shape)


class Mul(Function):
    saves_output = False

    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy * b.array, a.shape), unbroadcast(gy * a.array, b.shape)


class Div(Function):
    saves_output = False

    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b.array
        return unbroadcast(ga, a.shape), unbroadcast(-ga * a.array / b.array, b.shape)


class Neg(Function):
    saves_inputs = ()
    saves_output = False

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """x ** p, for a tensor exponent too: d/dx = p x^(p-1), d/dp = x^p log x."""
    saves_output = True

    def forward(self, x, p):
        self.y = x ** p
        return self.y

    def backward(self, gy):
        x, p = self.inputs
        xp = get_array_module(gy)
        gx = gy * p.array * x.array ** (p.array - 1)
        gp = None
        if p.requires_grad:
            # d/dp x^p = x^p log x, taken as 0 where x <= 0 (x^p is not differentiable in p there)
            logx = xp.log(xp.where(x.array > 0, x.array, 1))
            gp = unbroadcast(gy * self.y * logx, p.shape)
        return unbroadcast(gx, x.shape), gp


class Exp(Function):
    saves_inputs = ()
    saves_output = True

    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class Log(Function):
    saves_output = False

    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0].array


class Sqrt(Function):
    saves_inputs = ()
    saves_output = True

    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)


class Tanh(Function):
    saves_inputs = ()
    saves_output = True

    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)          # tanh' = 1 - tanh^2


class Sigmoid(Function):
    saves_inputs = ()
    saves_output = True

    def forward(self, x):
        # 0.5 (1 + tanh(x/2)) equals 1 / (1 + e^-x) and never overflows.
        xp = get_array_module(x)
        self.y = 0.5 * (xp.tanh(0.5 * x) + 1)
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)          # sigma' = sigma (1 - sigma)


class Relu(Function):
    saves_inputs = ()
    saves_output = False

    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, gy):
        return gy * self.mask


class Abs(Function):
    saves_output = False

    def forward(self, x):
        return get_array_module(x).abs(x)

    def backward(self, gy):
        return gy * get_array_module(gy).sign(self.inputs[0].array)


class Sin(Function):
    def forward(self, x):
        return get_array_module(x).sin(x)

    def backward(self, gy):
        return gy * get_array_module(gy).cos(self.inputs[0].array)


class Cos(Function):
    def forward(self, x):
        return get_array_module(x).cos(x)

    def backward(self, gy):
        return -gy * get_array_module(gy).sin(self.inputs[0].array)


class Clamp(Function):
    """min(max(x, lo), hi); the gradient passes where x is inside [lo, hi] (at a bound too,
    as torch) and is 0 where x was clipped."""
    saves_inputs = ()            # backward needs only the mask forward keeps

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = get_array_module(x)
        self.inside = xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            self.inside &= x >= self.lo
        if self.hi is not None:
            self.inside &= x <= self.hi
        return xp.clip(x, self.lo, self.hi).astype(x.dtype, copy=False)

    def backward(self, gy):
        return gy * self.inside


def _erf(x):
    """The error function elementwise: CuPy's kernel on the GPU; on the CPU ``math.erf`` per
    element (NumPy has no erf), exact but slow on big arrays."""
    xp = get_array_module(x)
    if xp is not np:
        return backend.cupyx_for(xp).scipy.special.erf(x)
    return np.asarray(_np_erf(x), dtype=x.dtype)


class Gelu(Function):
    """x * Phi(x), Phi the standard normal CDF (Hendrycks and Gimpel), as torch's default;
    ``approximate='tanh'``: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    d/dx x Phi(x) = Phi(x) + x phi(x)."""

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        xp = get_array_module(x)
        if self.approximate == "tanh":
            self.u = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))
            return 0.5 * x * (1 + self.u)
        self.cdf = 0.5 * (1 + _erf(x / math.sqrt(2.0)))
        return x * self.cdf

    def backward(self, gy):
        x = self.inputs[0].array
        if self.approximate == "tanh":
            du = (1 - self.u ** 2) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x ** 2)
            return gy * (0.5 * (1 + self.u) + 0.5 * x * du)
        pdf = get_array_module(x).exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return gy * (self.cdf + x * pdf)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_np_erf = np.frompyfunc(math.erf, 1, 1)


def _pair(a, b):
    """Both operands as tensors; a Python number takes the other's dtype and device."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def add(a, b):
    return Add()(*_pair(a, b))


def sub(a, b):
    return Sub()(*_pair(a, b))


def mul(a, b):
    return Mul()(*_pair(a, b))


def div(a, b):
    return Div()(*_pair(a, b))


def neg(x):
    return Neg()(x)


def pow(x, p):                  # noqa: A001 - the op's name
    return Pow()(*_pair(x, p))


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def sqrt(x):
    return Sqrt()(x)


def tanh(x):
    return Tanh()(x)


def sigmoid(x):
    return Sigmoid()(x)


def relu(x):
    return Relu()(x)


def abs(x):                     # noqa: A001 - the op's name
    return Abs()(x)


def sin(x):
    return Sin()(x)


def cos(x):
    return Cos()(x)


def clamp(x, min=None, max=None):          # noqa: A002 - torch's argument names
    """Values clipped into [min, max] (either bound may be None, as in torch)."""
    if min is None and max is None:
        raise ValueError("clamp: give min=, max= or both")
    return Clamp(min, max)(x)


def gelu(x, approximate="none"):
    """GELU(x) = x Phi(x) (``approximate='none'``, torch's default) or its tanh form."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu(approximate)(x)


# ----------------------------------------------------------------------------- selection

class Where(Function):
    """``where(cond, a, b)``: a where cond is true, else b. ``cond`` gets no gradient."""
    saves_inputs = ()
    saves_output = False

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return get_array_module(a, b).where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        zero = gy.dtype.type(0)
        xp = get_array_module(gy)
        return (unbroadcast(xp.where(self.cond, gy, zero), a.shape),
                unbroadcast(xp.where(self.cond, zero, gy), b.shape))


def where(cond, a, b):
    cond = cond.array if isinstance(cond, Tensor) else cond
    if isinstance(a, Tensor) or not isinstance(b, Tensor):
        a = as_tensor(a)
        b = as_tensor(b, like=a)
    else:
        a = as_tensor(a, like=b)
    xp = get_array_module(a.array, b.array)
    return Where(xp.asarray(cond, dtype=bool))(a, b)
