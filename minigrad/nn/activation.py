"""Softmax, LogSoftmax, GELU, Flatten and Identity as modules, with torch's arguments."""
from .. import functional as F
from .module import Module


def _implicit_dim(ndim):
    # torch's legacy choice when no dim is given (it warns): 0 for 0-, 1- and 3-D, else 1.
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """softmax along ``dim`` (torch's legacy choice of axis when None; give it)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, axis=_implicit_dim(x.ndim) if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log softmax along ``dim``: the input NLLLoss expects."""

    def forward(self, x):
        return F.log_softmax(x, axis=_implicit_dim(x.ndim) if self.dim is None else self.dim)


class GELU(Module):
    """x Phi(x), Phi the standard normal CDF; ``approximate='tanh'`` for the tanh form."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Flatten(Module):
    """Axes ``start_dim``..``end_dim`` merged into one (torch's defaults keep the batch axis)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input (a placeholder layer); takes and ignores any arguments, as torch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


__all__ = ["Softmax", "LogSoftmax", "GELU", "Flatten", "Identity"]
