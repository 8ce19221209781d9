"""The recurrent cells: one class per cell, each the whole of what the cell is.

"Cell" means three things in minigrad, as in torch; this file holds the first:

* a *cell* (``cells.LSTM`` here): the maths of one time step, a plain object that owns no
  weights (they are passed in) and is no Module;
* a *cell module* (``nn.LSTMCell``): a Module that owns one step's weights and runs the
  cell's composed ``step`` once per call, for one time step;
* a *recurrent layer* (``nn.LSTM``): a Module that owns the weights of every layer and
  direction and runs the cell over whole sequences, through the shared time loop.

A cell carries, side by side and in the notes' notation:

* ``gates``: its gate blocks, in the order of the weights' rows (weight_ih (G*H, D),
  weight_hh (G*H, H), biases (G*H,); G = len(gates));
* ``state``: the names of its state, a tuple: ``("h",)`` or ``("h", "c")``; h comes first and
  is also the step's output. ``state_tuple`` and ``state_result`` convert between torch's
  state argument and result (``h``, or the pair ``(h, c)``) and this tuple, so that the
  modules never ask which cell they run;
* ``step``: the teaching path, composed from autograd ops, on tensors;
* ``forward_step`` / ``backward_step``: the fused path, on arrays, for the shared time loop
  of ``recurrence.py``. ``backward_step`` is the step's local chain rule written out: it turns
  the gradients reaching the new state into the gradient of the gate pre-activations (written
  over ``a``) and into the gradients of the previous state.

The time loop never asks which cell it runs, so a new cell is one new class. Layers
(``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` and the ``*Cell`` modules) pick a cell and validate their
own options. The states a fused step returns are its own arrays, never scratch that the next
step overwrites.

Arguments of the fused steps: ``ctx`` holds what one call shares across steps: ``xp``,
``W_hh`` (G*H, H), ``W_hhT`` (H, G*H) contiguous, the same gate by gate ``W_hh_gates`` and
``W_hhT_gates`` (G, H, H) (views: block k is gate k's W_hk and its transpose; see
``hidden_product``), ``b_hh`` (G*H,) (zeros without bias), and the arrays the cell declares in
``saved``; ``a`` is step t's block of A = X W_ih^T + b, laid out as the cell's ``layout`` says
(``gate_layout.py``): (N, G*H) for ``Flat``, (G, N, H) for ``GateMajor`` (the LSTM and the GRU:
each gate one contiguous (N, H) array), contiguous either way. Forward adds the recurrent
product and turns it into the gate activations in place (backward reads them there); backward
overwrites it with dL/dA_t, as rows (N, G*H) in both layouts (``GateMajor.grad_view``).
"""
from .. import backend, functional as F
from ..tensor import Tensor
from .gate_layout import Flat, GateMajor


def sigmoid_(a):
    """a <- sigmoid(a) in place, computed as (1 + tanh(a/2)) / 2, which never overflows."""
    a *= 0.5
    backend.get_array_module(a).tanh(a, out=a)
    a *= 0.5
    a += 0.5


# Up to this many multiply-adds per gate (N*H*H), the recurrent products run gate by gate: G
# products (N, H) x (H, H) in one stacked matmul take 15-25% less time than one (N, H) x
# (H, G*H) at N = 32, H = 128 (c1 of benchmarks/rnn_lm.py; OpenBLAS's kernels for small
# matrices), and 2-14% more from N*H*H = 2**20 on (N = 64, H = 128; H = 256; one thread).
GATE_BY_GATE = 10**6


def hidden_product(ctx, h, out):
    """h W_hh^T as (G, N, H), block k gate k's h W_hk^T: h (N, H), ``out`` (G, N, H) scratch.
    Gate by gate at small sizes (``GATE_BY_GATE``), else one product viewed gate-major."""
    G, N, H = out.shape
    if N * H * H <= GATE_BY_GATE:
        return ctx.xp.matmul(h, ctx.W_hhT_gates, out=out)
    flat = ctx.xp.matmul(h, ctx.W_hhT, out=out.reshape(N, G * H))
    return flat.reshape(N, G, H).transpose(1, 0, 2)


def times_W_hh(ctx, dA, scratch):
    """dA W_hh (N, H), a new array: dA (G, N, H) gate-major, ``scratch`` (G, N, H). Gate by
    gate (and summed) where ``hidden_product`` is."""
    G, N, H = scratch.shape
    if N * H * H <= GATE_BY_GATE:
        return ctx.xp.matmul(dA, ctx.W_hh_gates, out=scratch).sum(axis=0)
    return dA.transpose(1, 0, 2).reshape(N, G * H) @ ctx.W_hh


def _gate(a, k, H):
    """Gate block k of the stacked pre-activations a (..., G*H)."""
    return a[..., k * H:(k + 1) * H]


class Cell:
    """Base of the cells: the parts most cells share."""
    gates = ()
    state = ("h",)
    layout = Flat           # how A lies in memory: gate_layout.py

    def __init__(self, hidden_size):
        self.H = hidden_size

    @property
    def G(self):
        return len(self.gates)

    def state_tuple(self, who, hx, suffix=""):
        """torch's state argument -> this cell's state tuple, None for zeros. One state array
        comes alone: ``h`` (``suffix``: how the caller names it, "0" for ``h0``)."""
        return (hx,)

    def state_result(self, state):
        """This cell's state tuple -> what torch returns for it: ``h`` alone."""
        return state[0]

    def fold_bias(self, b_ih, b_hh):
        """The bias added to the input projection of every step at once."""
        return b_ih + b_hh

    def saved(self, T, N):
        """name -> shape of the arrays one fused call keeps from forward for backward (in ctx),
        beside the states and the activations in A."""
        return {}

    def weight_grads_hh(self, ctx, dA, H_prev, db_ih):
        """dL/dW_hh and dL/db_hh from all steps at once: dA (T*N, G*H), H_prev (T*N, H)."""
        return dA.T @ H_prev, db_ih

class RNN(Cell):
    """Elman's cell, notes 003 (1): h_t = f(x_t U + h_{t-1} W + b_h), with U = W_ih^T,
    W = W_hh^T, b_h = b_ih + b_hh and f = tanh (or relu)."""
    gates = ("h",)

    def __init__(self, hidden_size, nonlinearity="tanh"):
        super().__init__(hidden_size)
        self.relu = nonlinearity == "relu"

    def step(self, x, state, w_ih, w_hh, b_ih=None, b_hh=None):
        (h,) = state
        a = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
        return (a.relu() if self.relu else a.tanh(),)

    def saved(self, T, N):
        return {"rec": (N, self.H)}             # scratch for h_{t-1} W, reused by every step

    def forward_step(self, ctx, t, a, state):
        (h_prev,) = state
        a += ctx.xp.matmul(h_prev, ctx.W_hhT, out=ctx.rec)
        if self.relu:
            ctx.xp.maximum(a, 0, out=a)
        else:
            ctx.xp.tanh(a, out=a)
        return (a,)

    def backward_step(self, ctx, t, a, state, d):
        (dh,) = d
        xp, h = ctx.xp, a
        if self.relu:
            xp.multiply(dh, h > 0, out=a)       # relu' = 1 where the output is positive
        else:
            xp.multiply(h, h, out=a)            # tanh' = 1 - h^2, written over h
            xp.subtract(1, a, out=a)
            a *= dh
        return (a @ ctx.W_hh,)                  # (5): dh_{t-1} = (f' * dh_t) W


class LSTM(Cell):
    """Notes 003 (7), torch's gate order i, f, g, o (g is the notes' C~_t):
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)."""
    gates = ("i", "f", "g", "o")
    state = ("h", "c")
    layout = GateMajor      # a step's a is (4, N, H): each gate one contiguous (N, H) array

    def state_tuple(self, who, hx, suffix=""):
        """None, or the pair (h, c): torch's LSTM state."""
        what = f"(h{suffix}, c{suffix})"
        if hx is None:
            return None, None
        if isinstance(hx, Tensor) or not isinstance(hx, (tuple, list)) or len(hx) != 2:
            got = f"a tensor of shape {hx.shape}" if isinstance(hx, Tensor) else repr(type(hx))
            raise TypeError(f"{who}: expected the initial state as a pair {what}, got {got}; "
                            f"pass both (zeros are what None gives) or None")
        if (hx[0] is None) != (hx[1] is None):
            raise TypeError(f"{who}: expected both parts of the state {what}, got one of them "
                            f"and None; pass both or None")
        return tuple(hx)

    def state_result(self, state):
        return state

    def step(self, x, state, w_ih, w_hh, b_ih=None, b_hh=None):
        # The notes' W_f [h_{t-1}, x_t] is x_t W_if^T + h_{t-1} W_hf^T: both products at once
        # for the four gates, then sliced.
        h, c = state
        H = self.H
        a = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
        i = _gate(a, 0, H).sigmoid()        # input gate i_t
        f = _gate(a, 1, H).sigmoid()        # forget gate f_t
        g = _gate(a, 2, H).tanh()           # new memory C~_t
        o = _gate(a, 3, H).sigmoid()        # output gate o_t
        c = f * c + i * g                   # C_t = f_t * C_{t-1} + i_t * C~_t
        return o * c.tanh(), c              # h_t = o_t * tanh(C_t)

    def saved(self, T, N):
        H = self.H
        # tanh(C_t) is kept for backward; the rest is scratch that every step reuses (fresh
        # temporaries of these sizes cost about 4% of a layer: benchmarks/attention_step.py)
        return {"tanh_c": (T, N, H), "rec": (4, N, H), "g_act": (N, H),
                "slope": (4, N, H), "d_gates": (4, N, H), "dc": (N, H)}

    def forward_step(self, ctx, t, a, state):
        h_prev, c_prev = state
        xp = ctx.xp
        a += hidden_product(ctx, h_prev, ctx.rec)      # + h_{t-1} W_hh^T, a (4, N, H)
        i, f, g, o = a
        # One pass over the whole block is faster than three over its gates: sigmoid on
        # every gate, C~'s put back from tanh, taken first.
        g_act = xp.tanh(g, out=ctx.g_act)           # C~_t
        sigmoid_(a)                                 # i_t, f_t, o_t
        g[...] = g_act
        # h_t and C_t are the step's results: new arrays, not scratch the next step reuses
        c = xp.multiply(f, c_prev)                  # C_t = f_t * C_{t-1} + i_t * C~_t
        c += xp.multiply(i, g, out=g_act)
        tanh_c = xp.tanh(c, out=ctx.tanh_c[t])
        return xp.multiply(o, tanh_c), c            # h_t = o_t * tanh(C_t)

    def backward_step(self, ctx, t, a, state, d):
        h_prev, c_prev = state
        dh, dc = d                          # dL/dh_t, and dL/dC_t from step t+1
        xp = ctx.xp
        i, f, g, o = a
        tanh_c = ctx.tanh_c[t]
        # the gradients of the four gates' outputs, one (4, N, H) block
        d_gates = ctx.d_gates
        d_i, d_f, d_g, d_o = d_gates
        xp.multiply(dh, tanh_c, out=d_o)            # do = dh tanh(C_t)
        dc_t = xp.multiply(tanh_c, tanh_c, out=ctx.dc)
        xp.subtract(1, dc_t, out=dc_t)
        dc_t *= o
        dc_t *= dh
        dc_t += dc                                  # dC = dC_t + dh o (1 - tanh^2 C_t)
        xp.multiply(dc_t, g, out=d_i)               # through C_t = f C_{t-1} + i C~:  di = dC C~,
        xp.multiply(dc_t, c_prev, out=d_f)          # df = dC C_{t-1},
        xp.multiply(dc_t, i, out=d_g)               # dC~ = dC i
        dc_prev = dc_t * f                          # the "+" passes dC on, times f only
        # through the activations: sigmoid' = s (1 - s) for i, f, o; tanh' = 1 - y^2 for C~
        slope = xp.subtract(1, a, out=ctx.slope)
        slope *= a                                  # s (1 - s)
        slope_g = xp.multiply(g, g, out=slope[2])
        xp.subtract(1, slope_g, out=slope_g)
        # dA over a (read for the last time above), as rows: gate_layout.GateMajor.grad_view
        dA = xp.multiply(d_gates, slope, out=self.layout.grad_view(a))
        return times_W_hh(ctx, dA, ctx.rec), dc_prev     # dh_{t-1} = dA W_hh


class GRU(Cell):
    """Torch's GRU, gate order r, z, n; notes 004 1.3 with Gamma_r = r, Gamma_u = 1 - z,
    c~ = n and c = h:
        n = tanh(x W_in^T + b_in + r * (h_{t-1} W_hn^T + b_hn)),   h_t = (1 - z) n + z h_{t-1}.
    The reset gate acts after the product ("reset after"); ``NotesGRU`` is the notes' form."""
    gates = ("r", "z", "n")
    layout = GateMajor      # a step's a is (3, N, H): each gate one contiguous (N, H) array

    def step(self, x, state, w_ih, w_hh, b_ih=None, b_hh=None):
        (h,) = state
        H = self.H
        ax, ah = F.linear(x, w_ih, b_ih), F.linear(h, w_hh, b_hh)
        r = (_gate(ax, 0, H) + _gate(ah, 0, H)).sigmoid()     # reset gate Gamma_r
        z = (_gate(ax, 1, H) + _gate(ah, 1, H)).sigmoid()     # z = 1 - Gamma_u
        n = (_gate(ax, 2, H) + r * _gate(ah, 2, H)).tanh()    # c~_t
        return ((1 - z) * n + z * h,)       # c_t = Gamma_u c~_t + (1 - Gamma_u) c_{t-1}

    def fold_bias(self, b_ih, b_hh):
        # b_hr and b_hz fold like the RNN's; b_hn sits inside r * (...) and joins the
        # recurrent product at every step
        b = b_ih.copy()
        b[:2 * self.H] += b_hh[:2 * self.H]
        return b

    def saved(self, T, N):
        H = self.H
        return {"hn": (T, N, H),                # h_{t-1} W_hn^T + b_hn, for dL/dr
                # dL/d(h_{t-1} W_hh^T + b_hh), for dW_hh
                "dGh": self.layout.shape(T, 3, N, H),
                # scratch that every step reuses
                "gh": (3, N, H), "tmp": (N, H), "dh_z": (N, H), "dn": (N, H),
                "d_rz": (2, N, H), "slope": (2, N, H)}

    def forward_step(self, ctx, t, a, state):
        (h_prev,) = state
        H, xp = self.H, ctx.xp
        r, z, n = a
        gh = hidden_product(ctx, h_prev, ctx.gh)                   # h_{t-1} W_hh^T, (3, N, H)
        a[:2] += gh[:2]
        sigmoid_(a[:2])                                             # r_t, z_t
        hn = xp.add(gh[2], ctx.b_hh[2 * H:], out=ctx.hn[t])         # h W_hn^T + b_hn
        n += xp.multiply(r, hn, out=ctx.tmp)
        xp.tanh(n, out=n)
        h = xp.subtract(h_prev, n)              # h_t = (1 - z) n + z h_{t-1}, a new array
        h *= z                                  #     = n + z (h_{t-1} - n)
        h += n
        return (h,)

    def backward_step(self, ctx, t, a, state, d):
        (h_prev,) = state
        (dh,) = d
        xp = ctx.xp
        r, z, n = a
        # dL/d(h_{t-1} W_hh^T + b_hh), written as rows like dA (gate_layout.GateMajor)
        hn, dgh = ctx.hn[t], self.layout.grad_view(ctx.dGh[t])
        d_rz = ctx.d_rz                         # r's and z's, one block: one pass through sigmoid'
        dr, dz = d_rz
        xp.subtract(h_prev, n, out=dz)
        dz *= dh                                # through h_t = n + z (h_{t-1} - n)
        dh_direct = xp.multiply(dh, z, out=ctx.dh_z)    # h_{t-1} reaches h_t directly, times z
        tanh_slope = xp.multiply(n, n, out=ctx.tmp)
        xp.subtract(1, tanh_slope, out=tanh_slope)      # tanh' = 1 - n^2
        dn = xp.subtract(dh, dh_direct, out=ctx.dn)     # dh (1 - z)
        dn *= tanh_slope                        # dL/dA_n
        xp.multiply(dn, hn, out=dr)
        xp.multiply(dn, r, out=dgh[2])          # n sees h W_hn^T + b_hn through r *
        # through the activations: sigmoid' = s (1 - s), r and z at once
        slope = xp.subtract(1, a[:2], out=ctx.slope)
        slope *= a[:2]                          # a read for the last time: dA goes over it
        xp.multiply(d_rz, slope, out=dgh[:2])
        dA = self.layout.grad_view(a)
        dA[:2] = dgh[:2]                        # r and z see h W_hh^T as they see x W_ih^T
        dA[2] = dn
        dh_prev = times_W_hh(ctx, dgh, ctx.gh)
        dh_prev += dh_direct
        return (dh_prev,)

    def weight_grads_hh(self, ctx, dA, H_prev, db_ih):
        dGh = self.layout.rows(ctx.dGh)
        return dGh.T @ H_prev, dGh.sum(axis=0)


def gru(hidden_size, reset_after=True):
    """The GRU cell for ``reset_after``: torch's (True) or the notes' (False). The one place
    that chooses; ``nn.GRU`` and ``nn.GRUCell`` both call it."""
    return (GRU if reset_after else NotesGRU)(hidden_size)


class NotesGRU(GRU):
    """The notes' GRU (004 1.3): the reset gate acts on h before the product,
        c~_t = tanh(W_c [Gamma_r * c_{t-1}, x_t] + b_c),
    i.e. n = tanh(x W_in^T + b_in + (r * h_{t-1}) W_hn^T + b_hn). Same gates and parameters as
    torch's GRU; ``nn.GRU(reset_after=False)``."""
    layout = Flat           # its products need r's and z's blocks side by side: (N, 2H)

    def step(self, x, state, w_ih, w_hh, b_ih=None, b_hh=None):
        (h,) = state
        H = self.H
        ax = F.linear(x, w_ih, b_ih)
        ah = F.linear(h, w_hh[:2 * H], None if b_hh is None else b_hh[:2 * H])
        r = (_gate(ax, 0, H) + _gate(ah, 0, H)).sigmoid()     # reset gate Gamma_r
        z = (_gate(ax, 1, H) + _gate(ah, 1, H)).sigmoid()     # z = 1 - Gamma_u
        b_hn = None if b_hh is None else b_hh[2 * H:]
        n = (_gate(ax, 2, H) + F.linear(r * h, w_hh[2 * H:], b_hn)).tanh()   # c~_t
        return ((1 - z) * n + z * h,)       # c_t = Gamma_u c~_t + (1 - Gamma_u) c_{t-1}

    def fold_bias(self, b_ih, b_hh):
        return b_ih + b_hh                  # b_hn is outside the reset: it folds like the rest

    def saved(self, T, N):
        H = self.H
        return {"rh": (T, N, H),            # r * h_{t-1}, the input of W_hn
                # scratch that every step reuses
                "rec": (N, 2 * H), "rec_n": (N, H), "tmp": (N, H),
                "dh_z": (N, H), "d_rz": (N, 2 * H), "slope": (N, 2 * H)}

    def forward_step(self, ctx, t, a, state):
        (h_prev,) = state
        H, xp = self.H, ctx.xp
        r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        a[:, :2 * H] += xp.matmul(h_prev, ctx.W_hhT[:, :2 * H], out=ctx.rec)
        sigmoid_(a[:, :2 * H])                  # r_t, z_t
        rh = xp.multiply(r, h_prev, out=ctx.rh[t])      # Gamma_r * c_{t-1}
        n += xp.matmul(rh, ctx.W_hhT[:, 2 * H:], out=ctx.rec_n)
        xp.tanh(n, out=n)
        h = xp.subtract(h_prev, n)              # h_t = (1 - z) n + z h_{t-1}, a new array
        h *= z                                  #     = n + z (h_{t-1} - n)
        h += n
        return (h,)

    def backward_step(self, ctx, t, a, state, d):
        (h_prev,) = state
        (dh,) = d
        H, xp = self.H, ctx.xp
        r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        dr, dz = ctx.d_rz[:, :H], ctx.d_rz[:, H:]   # side by side: one pass through sigmoid'
        xp.subtract(h_prev, n, out=dz)
        dz *= dh                                # through h_t = n + z (h_{t-1} - n)
        dh_direct = xp.multiply(dh, z, out=ctx.dh_z)
        tanh_slope = xp.multiply(n, n, out=ctx.tmp)
        xp.subtract(1, tanh_slope, out=tanh_slope)      # tanh' = 1 - n^2
        dn = xp.subtract(dh, dh_direct, out=n)  # dh (1 - z), written over n: dL/dA_n
        dn *= tanh_slope
        drh = xp.matmul(dn, ctx.W_hh[2 * H:], out=ctx.rec_n)    # dL/d(r * h_{t-1})
        xp.multiply(drh, h_prev, out=dr)
        dh_direct += xp.multiply(drh, r, out=ctx.tmp)   # h_{t-1} reaches h_t through z and r *
        # through the activations: sigmoid' = s (1 - s), r and z at once
        slope = xp.subtract(1, a[:, :2 * H], out=ctx.slope)
        slope *= a[:, :2 * H]
        xp.multiply(ctx.d_rz, slope, out=a[:, :2 * H])
        dh_prev = a[:, :2 * H] @ ctx.W_hh[:2 * H]
        dh_prev += dh_direct
        return (dh_prev,)

    def weight_grads_hh(self, ctx, dA, H_prev, db_ih):
        H = self.H
        rh = ctx.rh.reshape(H_prev.shape)
        dW = ctx.xp.concatenate([dA[:, :2 * H].T @ H_prev, dA[:, 2 * H:].T @ rh], axis=0)
        return dW, db_ih
