"""Small helpers the test files share: seeded float64 leaves and hypothesis shape strategies.

Values are drawn from a NumPy generator seeded by hypothesis (cheaper than drawing every
element through hypothesis), and tensors are built with ``mg.tensor`` so that the same tests
run on the GPU under MINIGRAD_DEVICE=cuda.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

seeds = st.integers(0, 2 ** 32 - 1)

# The device the GPU tests use: CuPy's, or under MINIGRAD_DEVICE=strict the strict stand-in
# (tests marked ``strict`` run there without a GPU).
GPU = "strict" if mg.backend.default_device() == "strict" else "cuda"


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=3):
    """Small shapes, size-0 and size-1 dimensions included by default."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def values(shape, seed, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def away_from_zero(shape, seed, low=0.2, high=2.0):
    """Values with |v| in [low, high]: kinks (relu, abs) stay far from the finite-difference
    step."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def distinct(shape, seed):
    """Values 0.1 apart in a random order: a max never ties, so it is differentiable."""
    n = int(np.prod(shape, dtype=np.int64))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - 0.05 * n


def leaf(array):
    """A float64 tensor that requires grad, on the default device."""
    return mg.tensor(np.asarray(array, dtype=np.float64), dtype=mg.float64, requires_grad=True)


def rss_bytes():
    """Resident set size of this process (Linux), from /proc/self/statm."""
    import os
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def grad_of(t):
    """``t.grad`` as a NumPy array (None stays None), wherever ``t`` lives."""
    return None if t.grad is None else mg.backend.to_numpy(t.grad)


def on_device(array):
    """A NumPy array as a backend array on the default device (to set ``.grad`` or ``.array``)."""
    return mg.tensor(np.asarray(array)).array


def optimizer_steps(make_opt, p0, grads):
    """A float64 parameter's values after each step of ``make_opt([p])`` fed ``grads``."""
    p = mg.nn.Parameter(mg.tensor(p0, dtype=mg.float64))
    opt = make_opt([p])
    out = []
    for g in grads:
        opt.zero_grad()
        p.grad = mg.tensor(g, dtype=mg.float64).array
        opt.step()
        out.append(p.numpy(force=True).copy())     # numpy() shares memory with p
    return out
