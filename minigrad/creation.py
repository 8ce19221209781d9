"""Factories for new leaf tensors: zeros, ones, full, arange, eye, randn, rand, randint, and
draws from a tensor of probabilities (multinomial).

Random draws come from minigrad's NumPy generator (``mg.manual_seed``) and are then moved to
the device, so a seeded program draws the same numbers on the CPU and on the GPU.
"""
import numpy as np

from . import backend
from .tensor import Tensor


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _dtype(dtype):
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def _leaf(array, device, requires_grad):
    device = backend.check_device(device)
    return Tensor._wrap(backend.to_device(array, device), requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return full(_shape(shape), 0.0, dtype=dtype, device=device, requires_grad=requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return full(_shape(shape), 1.0, dtype=dtype, device=device, requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    """As torch: an int fill gives int64, a bool fill bool, a float the default dtype."""
    if dtype is None:
        if isinstance(fill_value, (bool, np.bool_)):
            dtype = np.bool_
        elif isinstance(fill_value, (int, np.integer)):
            dtype = np.int64
    xp = backend.xp_for(device)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return Tensor._wrap(xp.full(shape, fill_value, dtype=_dtype(dtype)), requires_grad=requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    """torch's ``empty``; minigrad fills it with zeros (NumPy would give arbitrary values)."""
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The (n, m) identity matrix (m = n if not given)."""
    xp = backend.xp_for(device)
    return Tensor._wrap(xp.eye(n, m, dtype=_dtype(dtype)), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=t.device,
                requires_grad=requires_grad)


def randn_like(t, dtype=None, requires_grad=False):
    return randn(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def rand_like(t, dtype=None, requires_grad=False):
    return rand(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None):
    """Integers when every argument is an int (as in torch), else the default float dtype."""
    if stop is None:
        start, stop = 0, start
    if dtype is None and not all(isinstance(v, (int, np.integer)) for v in (start, stop, step)):
        dtype = backend.get_default_dtype()
    xp = backend.xp_for(device)
    return Tensor._wrap(xp.arange(start, stop, step, dtype=dtype or np.int64))


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal samples."""
    a = backend.host_rng().standard_normal(_shape(shape)).astype(_dtype(dtype))
    return _leaf(a, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1)."""
    a = backend.host_rng().random(_shape(shape)).astype(_dtype(dtype))
    return _leaf(a, device, requires_grad)


class Generator:
    """torch.Generator: a source of draws with its own seed, for ``DataLoader(shuffle=True,
    generator=g)`` and ``randperm``/``randint(generator=g)``; ``Generator().manual_seed(s)``
    returns the generator, as torch's does. Without one, draws come from ``mg.manual_seed``'s."""

    def __init__(self, device="cpu"):
        self.device = device
        self._seed = int(np.random.SeedSequence().entropy % 2 ** 63)
        self.rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self):
        return self._seed


def _rng(generator):
    return backend.host_rng() if generator is None else generator.rng


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers drawn uniformly from [low, high), as torch: ``randint(high, size)`` or
    ``randint(low, high, size)``; int64 unless ``dtype`` says otherwise."""
    if size is None and args:
        args, size = args[:-1], args[-1]
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {len(args)} "
                        "positional arguments besides size")
    shape = (size,) if isinstance(size, int) else tuple(size)
    a = _rng(generator).integers(low, high, size=shape)
    return _leaf(a.astype(np.dtype(dtype) if dtype is not None else np.int64), device,
                 requires_grad)


def randperm(n, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0 .. n-1 (int64), as torch.randperm."""
    a = _rng(generator).permutation(int(n))
    return _leaf(a.astype(np.dtype(dtype) if dtype is not None else np.int64), device,
                 requires_grad)


def multinomial(probs, num_samples, replacement=False):
    """Draw ``num_samples`` category indices from each row of ``probs`` ((C,) or (N, C):
    non-negative weights, not necessarily normalised), as torch.multinomial: without
    replacement a category is drawn at most once. Drawn from minigrad's seeded generator
    (``mg.manual_seed``); int64 on ``probs``' device, shape (num_samples,) or (N, num_samples).
    """
    p = backend.to_numpy(probs.array if isinstance(probs, Tensor) else np.asarray(probs))
    if p.ndim not in (1, 2) or p.shape[-1] == 0:
        raise ValueError(f"multinomial: probs must be (C,) or (N, C) with C > 0, got {p.shape}")
    rows = p.reshape(-1, p.shape[-1]).astype(np.float64)
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise ValueError("multinomial: probs must be finite and non-negative")
    totals = rows.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError("multinomial: every row of probs needs a positive sum")
    if not replacement and num_samples > int((rows > 0).sum(axis=1).min()):
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from a row with fewer non-zero probabilities")
    rng = backend.host_rng()
    out = np.stack([rng.choice(rows.shape[1], size=num_samples, replace=replacement, p=r / t)
                    for r, t in zip(rows, totals)]).astype(np.int64)
    out = out.reshape(p.shape[:-1] + (num_samples,))
    device = probs.device if isinstance(probs, Tensor) else "cpu"
    return Tensor._wrap(backend.to_device(out, device))
