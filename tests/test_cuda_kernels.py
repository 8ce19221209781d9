"""The fused CuPy kernels of the LSTM and the GRU (minigrad/nn/cuda_kernels.py) compute the
same maths as the cells' composed steps.

Without a GPU the kernels' C bodies are run through NumPy by a small translator (the bodies
keep to a subset of C written for it: declarations, assignments, ``tanh``, ``exp``,
``sigmoid``, gate k of a raw array as ``a[base + k * H]``), inside the fused cells and the
shared time loop, and compared with the composed cells, values and gradients. That checks the
maths, not that nvcc compiles them: the test marked gpu does that, and it skips without a GPU.
"""
import functools
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import cells, cuda_kernels
from minigrad.nn.recurrence import Recurrence

GATE = re.compile(r"(\w+)\[base(?:\s*\+\s*(?:(\d+)\s*\*\s*)?H)?\]")


def _gates(text):
    """``a[base]``, ``a[base + H]``, ``a[base + k * H]`` -> gate k of a."""
    return GATE.sub(lambda m: f"_gate({m[1]}, {m[2] or (1 if '+' in m[0] else 0)}, H)", text)


def _translate(body, outputs):
    """The C body as Python on NumPy arrays: (N, H) blocks for the element-wise parameters
    and gate slices of the raw (N, G*H) ones; a declared local is a copy, as in C."""
    lines = []
    for statement in filter(None, (s.strip() for s in body.split(";"))):
        target, expr = (side.strip() for side in statement.split("=", 1))
        expr = _gates(re.sub(r"\bT\(", "(", expr))
        if target.startswith("const T "):
            lines.append(f"{target[8:]} = np.array({expr})")
        elif GATE.fullmatch(target):
            lines.append(f"{_gates(target)}[...] = {expr}")
        else:
            assert target in outputs, f"assignment to {target!r}, not an output"
            lines.append(f"{target}[...] = {expr}")
    return compile("\n".join(lines), "<kernel>", "exec")


@functools.lru_cache(maxsize=None)
def numpy_kernel(name):
    """A kernel of cuda_kernels.KERNELS that runs its C body through NumPy; called with the
    CuPy kernel's arguments, in its order."""
    inputs, outputs, _, body = cuda_kernels.KERNELS[name]
    names = [p.split()[-1] for p in (inputs + ", " + outputs).split(",")]
    code = _translate(body, {p.split()[-1] for p in outputs.split(",") if "raw" not in p})

    def run(*args):
        assert len(args) == len(names), name
        env = dict(zip(names, args), np=np, tanh=np.tanh, exp=np.exp,
                   sigmoid=lambda x: (np.tanh(x * 0.5) + 1) * 0.5,
                   _gate=lambda a, k, H: a[:, k * H:(k + 1) * H])
        exec(code, env)                                          # noqa: S102 - our own source
    return run


def _run(cell, x, state0, weights, seed, device="cpu"):
    """The time loop with ``cell``: outputs, and the gradients of a random projection of them."""
    leaves = [mg.tensor(v, dtype=mg.float64, device=device, requires_grad=True)
              for v in (x, *state0, *weights)]
    outs = Recurrence(cell)(*leaves)
    rng = np.random.default_rng(seed)
    loss = sum((o * mg.tensor(rng.standard_normal(o.shape), device=device)).sum() for o in outs)
    loss.backward()
    return [o.numpy(force=True) for o in outs], [leaf.grad.numpy(force=True) for leaf in leaves]


def _case(G, S, T=5, N=3, D=4, H=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, D))
    state0 = [rng.standard_normal((N, H)) for _ in range(S)]
    weights = [rng.standard_normal(s) * 0.5 for s in ((G * H, D), (G * H, H), (G * H,), (G * H,))]
    return x, state0, weights


@pytest.mark.parametrize("composed, fused, G, S", [
    (cells.LSTM, cuda_kernels.FusedLSTM, 4, 2), (cells.GRU, cuda_kernels.FusedGRU, 3, 1)])
@pytest.mark.parametrize("seed", [0, 1])
def test_the_kernels_compute_the_composed_step(composed, fused, G, S, seed):
    x, state0, weights = _case(G, S, seed=seed)
    want, want_grads = _run(composed(6), x, state0, weights, seed)
    got, got_grads = _run(fused(6, kernel=numpy_kernel), x, state0, weights, seed)
    for a, b in zip(got + got_grads, want + want_grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fused, G, S", [(cuda_kernels.FusedLSTM, 4, 2),
                                         (cuda_kernels.FusedGRU, 3, 1)])
def test_the_fused_cells_pass_gradcheck(fused, G, S):
    x, state0, weights = _case(G, S, T=3, N=2, D=2, H=3)
    leaves = [mg.tensor(v, dtype=mg.float64, device="cpu", requires_grad=True)
              for v in (x, *state0, *weights)]
    assert mg.gradcheck(lambda *a: Recurrence(fused(3, kernel=numpy_kernel))(*a), leaves)


def test_only_an_array_module_that_compiles_kernels_gets_the_fused_twin():
    from minigrad import strict
    for cell in (cells.LSTM(4), cells.GRU(4), cells.NotesGRU(4), cells.RNN(4)):
        assert cuda_kernels.on(cell, np) is cell and cuda_kernels.on(cell, strict.xp) is cell
    assert type(cuda_kernels.fused(cells.LSTM(4))) is cuda_kernels.FusedLSTM
    assert type(cuda_kernels.fused(cells.GRU(4))) is cuda_kernels.FusedGRU
    notes = cells.NotesGRU(4)                   # other maths: keeps its own step
    assert cuda_kernels.fused(notes) is notes


@pytest.mark.gpu
@pytest.mark.parametrize("composed, G, S", [(cells.LSTM, 4, 2), (cells.GRU, 3, 1)])
def test_the_compiled_kernels_on_the_gpu_equal_the_composed_step_on_the_cpu(composed, G, S):
    """Runs only with a usable GPU (skipped here otherwise, saying so): CuPy compiles the
    kernels' source, and the fused cell on the GPU gives the composed cell's numbers."""
    import cupy
    assert cuda_kernels.on(composed(6), cupy).__class__ is not composed          # the twin is what runs
    x, state0, weights = _case(G, S)
    want, want_grads = _run(composed(6), x, state0, weights, 0)
    got, got_grads = _run(composed(6), x, state0, weights, 0, device="cuda")
    for a, b in zip(got + got_grads, want + want_grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
