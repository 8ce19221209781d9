"""Fused CuPy kernels for the gate maths of the LSTM and the GRU, forward and backward.

On the GPU, ``cells.LSTM``'s step is about a dozen small element-wise launches (sigmoid,
tanh, the products, each over an (N, H) or (N, 4H) block); here each direction of a step is
one ``cupy.ElementwiseKernel``: one launch, every gate value read once and written once. The
matrix products stay as they are (cuBLAS). ``on(cell, xp)`` hands the time loop the fused twin
of a cell when its array module compiles kernels (CuPy); on NumPy and on the strict stand-in
the cell runs its own composed step.

Each kernel is its C body below, run once per element (n, j) of the (N, H) state; ``base`` is
that element's offset in gate block 0 of a raw (N, G*H) array, so ``a[base + k * H]`` is gate
k. The bodies use only declarations (``const T x = ...;``), assignments and the functions
``tanh``, ``exp`` and ``sigmoid``, so that tests/test_cuda_kernels.py can also run them through
NumPy and compare them with the composed step without a GPU.

Shapes: N batch, H hidden, G gates (4 LSTM, 3 GRU); T is the kernels' float type.
"""
import functools

from . import cells

_PREAMBLE = r"""
template <typename F> __device__ F sigmoid(F x) { return (tanh(x * F(0.5)) + F(1)) * F(0.5); }
"""

# name -> (input parameters, output parameters, G, body). Names as in cells.py: a holds the
# gate pre-activations on the way in and the activations after forward (backward reads them
# there and writes dL/dA over them).
KERNELS = {
    # LSTM, notes 003 (7): after a += h_{t-1} W_hh^T, with gate order i, f, g (C~), o.
    "lstm_forward": ("T c_prev, int32 H", "raw T a, T c, T tanh_c, T h", 4, r"""
        const T gi = sigmoid(a[base]);
        const T gf = sigmoid(a[base + H]);
        const T gg = tanh(a[base + 2 * H]);
        const T go = sigmoid(a[base + 3 * H]);
        a[base] = gi;
        a[base + H] = gf;
        a[base + 2 * H] = gg;
        a[base + 3 * H] = go;
        c = gf * c_prev + gi * gg;
        tanh_c = tanh(c);
        h = go * tanh_c;
    """),
    # dC = dC_t + dh o (1 - tanh^2 C_t); each gate's gradient times its activation's slope
    "lstm_backward": ("T c_prev, T tanh_c, T dh, T dc, int32 H", "raw T a, T dc_prev", 4, r"""
        const T gi = a[base];
        const T gf = a[base + H];
        const T gg = a[base + 2 * H];
        const T go = a[base + 3 * H];
        const T dct = dc + dh * go * (T(1) - tanh_c * tanh_c);
        a[base] = dct * gg * gi * (T(1) - gi);
        a[base + H] = dct * c_prev * gf * (T(1) - gf);
        a[base + 2 * H] = dct * gi * (T(1) - gg * gg);
        a[base + 3 * H] = dh * tanh_c * go * (T(1) - go);
        dc_prev = dct * gf;
    """),
    # GRU, reset after the product: gh = h_{t-1} W_hh^T + b_hh (N, 3H), gate order r, z, n
    "gru_forward": ("T h_prev, int32 H, raw T gh", "raw T a, T hn, T h", 3, r"""
        const T r = sigmoid(a[base] + gh[base]);
        const T z = sigmoid(a[base + H] + gh[base + H]);
        const T ghn = gh[base + 2 * H];
        const T n = tanh(a[base + 2 * H] + r * ghn);
        a[base] = r;
        a[base + H] = z;
        a[base + 2 * H] = n;
        hn = ghn;
        h = n + z * (h_prev - n);
    """),
    # dgh: dL/d(h_{t-1} W_hh^T + b_hh), for dW_hh and for dh_{t-1} = dgh W_hh + dh z
    "gru_backward": ("T h_prev, T hn, T dh, int32 H", "raw T a, raw T dgh, T dh_direct", 3, r"""
        const T r = a[base];
        const T z = a[base + H];
        const T n = a[base + 2 * H];
        const T dn = dh * (T(1) - z) * (T(1) - n * n);
        const T dr = dn * hn * r * (T(1) - r);
        const T dz = dh * (h_prev - n) * z * (T(1) - z);
        a[base] = dr;
        a[base + H] = dz;
        a[base + 2 * H] = dn;
        dgh[base] = dr;
        dgh[base + H] = dz;
        dgh[base + 2 * H] = dn * r;
        dh_direct = dh * z;
    """),
}


@functools.lru_cache(maxsize=None)
def cupy_kernel(name):
    """The CuPy kernel ``name`` of KERNELS (compiled by CuPy on its first call)."""
    import cupy
    inputs, outputs, G, body = KERNELS[name]
    index = f"const ptrdiff_t base = (i / H) * {G} * H + i % H;\n"
    return cupy.ElementwiseKernel(inputs, outputs, index + body, f"minigrad_{name}",
                                  preamble=_PREAMBLE)


class FusedLSTM(cells.LSTM):
    """``cells.LSTM`` with each step's gate maths in one kernel. ``kernel(name)`` gives the
    kernels (``cupy_kernel``; the tests pass a NumPy evaluation of the same source)."""
    layout = cells.Flat     # the kernels index the gates side by side: a[base + k * H]

    def __init__(self, hidden_size, kernel=cupy_kernel):
        super().__init__(hidden_size)
        self.kernel = kernel                # looked up at the first step (CuPy compiles then)

    def saved(self, T, N):
        H = self.H
        return {"tanh_c": (T, N, H), "rec": (N, 4 * H)}

    def forward_step(self, ctx, t, a, state):
        h_prev, c_prev = state
        a += ctx.xp.matmul(h_prev, ctx.W_hhT, out=ctx.rec)
        h, c = ctx.xp.empty_like(h_prev), ctx.xp.empty_like(c_prev)    # the step's results: new arrays
        self.kernel("lstm_forward")(c_prev, self.H, a, c, ctx.tanh_c[t], h)
        return h, c

    def backward_step(self, ctx, t, a, state, d):
        h_prev, c_prev = state
        dh, dc = d
        dc_prev = ctx.xp.empty_like(c_prev)
        self.kernel("lstm_backward")(c_prev, ctx.tanh_c[t], dh, dc, self.H, a, dc_prev)
        return a @ ctx.W_hh, dc_prev                # dh_{t-1} = dA W_hh


class FusedGRU(cells.GRU):
    """``cells.GRU`` (reset after the product) with each step's gate maths in one kernel."""
    layout = cells.Flat

    def __init__(self, hidden_size, kernel=cupy_kernel):
        super().__init__(hidden_size)
        self.kernel = kernel                # looked up at the first step (CuPy compiles then)

    def forward_step(self, ctx, t, a, state):
        (h_prev,) = state
        gh = ctx.xp.matmul(h_prev, ctx.W_hhT)
        gh[:, 2 * self.H:] += ctx.b_hh[2 * self.H:]     # b_hr and b_hz are in a already (fold_bias)
        h = ctx.xp.empty_like(h_prev)
        self.kernel("gru_forward")(h_prev, self.H, gh, a, ctx.hn[t], h)
        return (h,)

    def backward_step(self, ctx, t, a, state, d):
        (h_prev,) = state
        (dh,) = d
        dh_direct = ctx.xp.empty_like(h_prev)
        self.kernel("gru_backward")(h_prev, ctx.hn[t], dh, self.H, a, ctx.dGh[t], dh_direct)
        return (ctx.dGh[t] @ ctx.W_hh + dh_direct,)


# exact types: a subclass (NotesGRU) has other maths and keeps its composed step
_FUSED = {cells.LSTM: FusedLSTM, cells.GRU: FusedGRU}


def fused(cell):
    """The fused twin of ``cell`` (the cell itself when it has none)."""
    twin = _FUSED.get(type(cell))
    return cell if twin is None else twin(cell.H)


def on(cell, xp):
    """The cell that runs arrays of ``xp``: ``cell`` itself, or where ``xp`` compiles kernels
    (CuPy) its fused twin. The time loop asks here, so the cells never import their twins."""
    return fused(cell) if hasattr(xp, "ElementwiseKernel") else cell
