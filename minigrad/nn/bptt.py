"""The fused recurrent layer: one time loop forward, one hand-written BPTT backward.

``FusedRecurrence`` runs a whole sequence of one layer and one direction as a single op, for
all three cells. The loop and the walk back through time are written once, here; each cell
(``_RNN``, ``_LSTM``, ``_GRU``) brings only its local step: the gate math forward, and
backward the product of its local Jacobian with the incoming gradient, i.e. one factor
dh_j/dh_{j-1} of the chain in notes 003, formulas (4)-(5):

    dL/dW = sum_k dL/dh_t (prod_{j=k+1..t} dh_j/dh_{j-1}) dh_k/dW_k

Backward carries dL/dh_t (and dL/dc_t for the LSTM) from the last step to the first; at each
step the cell turns it into the gradient of its gate pre-activations, dA_t (N, G*H), and into
dL/dh_{t-1}. Everything that is not recurrent is done for all steps at once:

    forward   A = X W_ih^T + b         one (T*N, D) x (D, G*H) product
    backward  dX = dA W_ih,  dW_ih = dA^T X,  dW_hh = dA^T H_prev    each one product

Per step there is only the recurrent product h_{t-1} W_hh^T and elementwise gate math, done
in place on buffers allocated once per call. Gate activations overwrite the pre-activations
in A, and backward overwrites them again with dA, so the op keeps about one (T, N, G*H)
array alive between forward and backward.

Shapes: T time, N batch, D input, H hidden, G gates (RNN 1, LSTM 4, GRU 3).
"""
import numpy as np

from .. import backend
from ..tensor import Function


# ----------------------------------------------------------------------------- in-place math

class _Gates:
    """A block of sigmoid and tanh gate columns, activated in one tanh pass.

    sigma(a) = (1 + tanh(a/2)) / 2, so every column is y = s tanh(s a) + m, with s = m = 1/2
    for a sigmoid column and s = 1, m = 0 for a tanh column (this form never overflows).
    Backward, in terms of y: sigma' = y (1 - y) and tanh' = (1 + y)(1 - y), both (1 - y)(y + k)
    with k = 1 - 2m. Four whole-block passes instead of a few per gate.
    """

    def __init__(self, xp, dtype, tanh_columns):
        tanh_columns = np.asarray(tanh_columns, dtype=bool)
        self.s = xp.asarray(np.where(tanh_columns, 1.0, 0.5), dtype=dtype)
        self.m = xp.asarray(np.where(tanh_columns, 0.0, 0.5), dtype=dtype)
        self.k = xp.asarray(np.where(tanh_columns, 1.0, 0.0), dtype=dtype)

    def forward_(self, a):
        """a (N, C) pre-activations -> activations, in place."""
        a *= self.s
        backend.get_array_module(a).tanh(a, out=a)
        a *= self.s
        a += self.m

    def backward_(self, y, g, tmp):
        """y (N, C) activations -> g * dy/da, in place; tmp: scratch of y's shape."""
        backend.get_array_module(y).subtract(1, y, out=tmp)
        y += self.k
        y *= tmp
        y *= g


def _dtanh_(y, g, tmp):
    """y <- g * tanh'(a) where y = tanh(a): tanh' = 1 - y^2."""
    xp = backend.get_array_module(y)
    xp.multiply(y, y, out=tmp)
    xp.subtract(1, tmp, out=tmp)
    xp.multiply(tmp, g, out=y)


class _Buffers:
    """Named scratch arrays of one call."""

    def __init__(self, xp, dtype):
        self.xp, self.dtype = xp, dtype

    def new(self, name, shape):
        setattr(self, name, self.xp.empty(shape, dtype=self.dtype))


# ----------------------------------------------------------------------------- the cells' steps
#
# forward_step(b, a, t, h_prev, c_prev, h_new, c_new): a = A[t] (N, G*H) holds x_t W_ih^T + b;
#   add the recurrent product, apply the gates in place, write the new state.
# backward_step(b, a, t, h_prev, c_prev, dh, dc, dh_prev, dc_prev): dh, dc are dL/dh_t, dL/dc_t;
#   overwrite a with dA_t and write dL/dh_{t-1} (and dL/dc_{t-1}).
# weight_grads_hh(b, dA, H_prev, db_ih): dW_hh and db_hh from all steps at once.

class _RNN:
    """h_t = f(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), notes 003 (1): U = W_ih^T, W = W_hh^T."""
    gates, has_cell = 1, False

    def __init__(self, H, nonlinearity="tanh"):
        self.H, self.relu = H, nonlinearity == "relu"

    def fold_bias(self, b_ih, b_hh):
        return b_ih + b_hh

    def allocate(self, b, T, N):
        b.new("tmp", (N, self.H))

    def forward_step(self, b, a, t, h_prev, c_prev, h_new, c_new):
        xp = b.xp
        xp.matmul(h_prev, b.W_hhT, out=b.tmp)
        a += b.tmp
        if self.relu:
            xp.maximum(a, 0, out=a)
        else:
            xp.tanh(a, out=a)
        h_new[...] = a

    def backward_step(self, b, a, t, h_prev, c_prev, dh, dc, dh_prev, dc_prev):
        xp = b.xp
        if self.relu:
            xp.sign(a, out=a)             # relu' = 1 where the output is positive, else 0
            a *= dh
        else:
            _dtanh_(a, dh, b.tmp)
        xp.matmul(a, b.W_hh, out=dh_prev)     # (5): dh_{t-1} = (f' * dh_t) W

    def weight_grads_hh(self, b, dA, H_prev, db_ih):
        return dA.T @ H_prev, db_ih


class _LSTM:
    """Notes 003 (7), torch's gate order i, f, g, o (g is the notes' C~_t):
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)."""
    gates, has_cell = 4, True

    def __init__(self, H):
        self.H = H

    def fold_bias(self, b_ih, b_hh):
        return b_ih + b_hh

    def allocate(self, b, T, N):
        H = self.H
        b.gates = _Gates(b.xp, b.dtype, [False] * 2 * H + [True] * H + [False] * H)
        b.new("rec", (N, 4 * H))
        b.new("tanh_c", (T, N, H))       # tanh(c_t), needed again by backward
        b.new("up", (N, 4 * H))          # gradients after the gate nonlinearities
        b.new("tmp", (N, H))

    def forward_step(self, b, a, t, h_prev, c_prev, h_new, c_new):
        xp, H = b.xp, self.H
        xp.matmul(h_prev, b.W_hhT, out=b.rec)
        a += b.rec
        b.gates.forward_(a)
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        xp.multiply(f, c_prev, out=c_new)
        xp.multiply(i, g, out=b.tmp)
        c_new += b.tmp
        tc = b.tanh_c[t]
        xp.tanh(c_new, out=tc)
        xp.multiply(o, tc, out=h_new)

    def backward_step(self, b, a, t, h_prev, c_prev, dh, dc, dh_prev, dc_prev):
        xp, H = b.xp, self.H
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        up, tc, tmp = b.up, b.tanh_c[t], b.tmp
        xp.multiply(dh, tc, out=up[:, 3 * H:])        # dL/do = dh * tanh(c)
        # dL/dc_t = dc (from c_{t+1}) + dh * o * (1 - tanh(c_t)^2)
        xp.multiply(tc, tc, out=tmp)
        xp.subtract(1, tmp, out=tmp)
        tmp *= o
        tmp *= dh
        dc += tmp
        xp.multiply(dc, g, out=up[:, :H])             # dL/di
        xp.multiply(dc, c_prev, out=up[:, H:2 * H])   # dL/df
        xp.multiply(dc, i, out=up[:, 2 * H:3 * H])    # dL/dg
        xp.multiply(dc, f, out=dc_prev)               # dL/dc_{t-1} = dc * f
        b.gates.backward_(a, up, b.rec)
        xp.matmul(a, b.W_hh, out=dh_prev)

    def weight_grads_hh(self, b, dA, H_prev, db_ih):
        return dA.T @ H_prev, db_ih


class _GRU:
    """Torch's GRU, gate order r, z, n; notes 004 1.3 with Gamma_r = r, Gamma_u = 1 - z,
    c~ = n:   h_t = (1 - z) * n + z * h_{t-1}.
    reset_after=True:  n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))     (torch)
    reset_after=False: n = tanh(x W_in^T + b_in + (r * h) W_hn^T + b_hn)     (the notes)"""
    gates, has_cell = 3, False

    def __init__(self, H, reset_after=True):
        self.H, self.reset_after = H, reset_after

    def fold_bias(self, b_ih, b_hh):
        # b_hn sits inside r * (...) when reset_after, so it cannot join the input projection.
        folded = b_ih + b_hh
        if self.reset_after:
            folded[2 * self.H:] = b_ih[2 * self.H:]
        return folded

    def allocate(self, b, T, N):
        H = self.H
        b.gates = _Gates(b.xp, b.dtype, [False] * 2 * H)      # r, z
        b.new("rec", (N, 3 * H))
        b.new("tmp", (N, H))
        b.new("tmp2", (N, H))
        b.new("direct", (N, H))
        b.new("tmp_rz", (N, 2 * H))
        if self.reset_after:
            b.new("hn", (T, N, H))          # h W_hn^T + b_hn, for dL/dr
            b.new("dGh", (T, N, 3 * H))     # gradient of the recurrent pre-activation
        else:
            b.new("rh", (T, N, H))          # r * h_{t-1}, the input of W_hn

    def forward_step(self, b, a, t, h_prev, c_prev, h_new, c_new):
        xp, H = b.xp, self.H
        rz, an = a[:, :2 * H], a[:, 2 * H:]
        if self.reset_after:
            xp.matmul(h_prev, b.W_hhT, out=b.rec)
            rz += b.rec[:, :2 * H]
            b.gates.forward_(rz)
            hn = b.hn[t]
            xp.add(b.rec[:, 2 * H:], b.b_hn, out=hn)
            xp.multiply(a[:, :H], hn, out=b.tmp)
        else:
            rec = b.rec[:, :2 * H]
            xp.matmul(h_prev, b.W_hhT[:, :2 * H], out=rec)
            rz += rec
            b.gates.forward_(rz)
            rh = b.rh[t]
            xp.multiply(a[:, :H], h_prev, out=rh)
            xp.matmul(rh, b.W_hhT[:, 2 * H:], out=b.tmp)
        an += b.tmp
        xp.tanh(an, out=an)
        z = a[:, H:2 * H]
        xp.subtract(h_prev, an, out=h_new)      # h = n + z (h_prev - n)
        h_new *= z
        h_new += an

    def backward_step(self, b, a, t, h_prev, c_prev, dh, dc, dh_prev, dc_prev):
        xp, H = b.xp, self.H
        r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        up = b.rec[:, :2 * H]                    # dL/dr, dL/dz
        dr, dz, dn = up[:, :H], up[:, H:], b.tmp2
        xp.subtract(h_prev, n, out=dz)
        dz *= dh                                 # dL/dz = dh (h_prev - n)
        xp.multiply(dh, z, out=b.direct)         # dL/dh_{t-1} through z * h_{t-1}
        xp.subtract(dh, b.direct, out=dn)        # dL/dn = dh (1 - z)
        _dtanh_(n, dn, b.tmp)                    # n now holds dA_n
        if self.reset_after:
            dgh = b.dGh[t]
            xp.multiply(n, b.hn[t], out=dr)      # dL/dr = dA_n * (h W_hn^T + b_hn)
            xp.multiply(n, r, out=dgh[:, 2 * H:])
            b.gates.backward_(a[:, :2 * H], up, b.tmp_rz)
            dgh[:, :2 * H] = a[:, :2 * H]
            xp.matmul(dgh, b.W_hh, out=dh_prev)
        else:
            drh = b.tmp
            xp.matmul(n, b.W_hh[2 * H:], out=drh)    # dL/d(r * h)
            xp.multiply(drh, h_prev, out=dr)
            xp.multiply(drh, r, out=dn)              # dL/dh_{t-1} through r * h_{t-1}
            b.direct += dn
            b.gates.backward_(a[:, :2 * H], up, b.tmp_rz)
            xp.matmul(a[:, :2 * H], b.W_hh[:2 * H], out=dh_prev)
        dh_prev += b.direct

    def weight_grads_hh(self, b, dA, H_prev, db_ih):
        xp, H = b.xp, self.H
        if self.reset_after:
            dGh = b.dGh.reshape(dA.shape)
            return dGh.T @ H_prev, dGh.sum(axis=0)
        rh = b.rh.reshape(H_prev.shape)
        dW = xp.concatenate([dA[:, :2 * H].T @ H_prev, dA[:, 2 * H:].T @ rh], axis=0)
        return dW, db_ih


def make_kind(mode, hidden_size, nonlinearity="tanh", reset_after=True):
    """The step of cell ``mode`` ('RNN', 'LSTM', 'GRU')."""
    if mode == "RNN":
        return _RNN(hidden_size, nonlinearity)
    if mode == "LSTM":
        return _LSTM(hidden_size)
    return _GRU(hidden_size, reset_after)


# ----------------------------------------------------------------------------- the op

class FusedRecurrence(Function):
    """One layer, one direction, a whole sequence.

    inputs: x (T, N, D), h0 (N, H), [c0 (N, H) for the LSTM], W_ih (G*H, D), W_hh (G*H, H),
            [b_ih (G*H,), b_hh (G*H,)]
    outputs: out (T, N, H), h_n (N, H), [c_n (N, H)]
    ``reverse`` runs t = T-1 .. 0. ``mask`` (T, N, 1) bool or None: at a padded step (False)
    the state is carried through unchanged and the output is 0, so h_n is each sequence's
    state at its last real step and padded steps pass no gradient.
    """

    def __init__(self, kind, reverse=False, mask=None):
        self.kind, self.reverse, self.mask = kind, reverse, mask

    def _unpack(self, arrays):
        k = 3 if self.kind.has_cell else 2
        x, h0, c0 = arrays[0], arrays[1], (arrays[2] if self.kind.has_cell else None)
        W_ih, W_hh = arrays[k], arrays[k + 1]
        bias = arrays[k + 2:k + 4] if len(arrays) > k + 2 else None
        return x, h0, c0, W_ih, W_hh, bias

    def _steps(self, T):
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def _slots(self, t):
        # State buffers hold T+1 states; step t reads slot `prev` and writes slot `new`.
        # Forward: h0 in slot 0, h_t in slot t+1. Reverse: h0 in slot T, h_t in slot t.
        return (t + 1, t) if self.reverse else (t, t + 1)

    def forward(self, *arrays):
        x, h0, c0, W_ih, W_hh, bias = self._unpack(arrays)
        kind, xp = self.kind, backend.get_array_module(x)
        T, N, D = x.shape
        H = W_hh.shape[1]
        b = _Buffers(xp, x.dtype)
        b.W_hh = W_hh
        # h_{t-1} W_hh^T runs T times: a contiguous W_hh^T makes that product up to ~25% faster.
        b.W_hhT = xp.ascontiguousarray(W_hh.T)
        # The input projection of every step at once: A (T, N, G*H).
        A = xp.matmul(x.reshape(T * N, D), W_ih.T).reshape(T, N, W_ih.shape[0])
        if bias is not None:
            A += kind.fold_bias(*bias)
            b.b_hn = bias[1][2 * H:]
        else:
            b.b_hn = 0
        b.new("h", (T + 1, N, H))
        b.h[T if self.reverse else 0] = h0
        if kind.has_cell:
            b.new("c", (T + 1, N, H))
            b.c[T if self.reverse else 0] = c0
        kind.allocate(b, T, N)
        mask = self.mask
        for t in self._steps(T):
            p, q = self._slots(t)
            c_prev, c_new = (b.c[p], b.c[q]) if kind.has_cell else (None, None)
            kind.forward_step(b, A[t], t, b.h[p], c_prev, b.h[q], c_new)
            if mask is not None:           # a padded step keeps the previous state
                xp.copyto(b.h[q], b.h[p], where=~mask[t])
                if kind.has_cell:
                    xp.copyto(c_new, c_prev, where=~mask[t])
        out = b.h[:T] if self.reverse else b.h[1:]
        if mask is not None:
            out = out * mask
        self.A, self.b = A, b
        last = 0 if self.reverse else T
        if kind.has_cell:
            return out, b.h[last], b.c[last]
        return out, b.h[last]

    def backward(self, gout, gh_n, *gc_n):
        x, h0, c0, W_ih, W_hh, bias = self._unpack([t.array for t in self.inputs])
        kind, b, A, mask = self.kind, self.b, self.A, self.mask
        xp = b.xp
        T, N, D = x.shape
        H = W_hh.shape[1]
        dh_next = gh_n.copy()                   # dL/dh_t carried back from step t+1
        dh, dh_prev = xp.empty_like(dh_next), xp.empty_like(dh_next)
        dc = dc_prev = None
        if kind.has_cell:
            dc = gc_n[0].copy()
            dc_prev = xp.empty_like(dc)
        if mask is not None:
            keep = xp.empty_like(dh_next)
            gout = gout * mask                  # a padded step's output is a constant 0
        for t in reversed(self._steps(T)):
            p, q = self._slots(t)
            xp.add(gout[t], dh_next, out=dh)
            if mask is not None:
                # the state passes a padded step unchanged: its gradient skips the cell
                m = mask[t]
                xp.multiply(dh_next, ~m, out=keep)
                dh *= m
                if kind.has_cell:
                    c_keep = dc * ~m
                    dc *= m
            c_prev = b.c[p] if kind.has_cell else None
            kind.backward_step(b, A[t], t, b.h[p], c_prev, dh, dc, dh_prev, dc_prev)
            if mask is not None:
                dh_prev += keep
                if kind.has_cell:
                    dc_prev += c_keep
            dh_next, dh_prev = dh_prev, dh_next
            dc, dc_prev = dc_prev, dc
        # A now holds dA for every step: the rest is one matrix product each.
        dA = A.reshape(T * N, A.shape[2])
        # dx only when someone needs it (a first layer fed raw features does not)
        dx = (dA @ W_ih).reshape(T, N, D) if self.inputs[0].requires_grad else None
        dW_ih = dA.T @ x.reshape(T * N, D)
        H_prev = (b.h[1:] if self.reverse else b.h[:T]).reshape(T * N, H)
        db_ih = dA.sum(axis=0) if bias is not None else None
        dW_hh, db_hh = kind.weight_grads_hh(b, dA, H_prev, db_ih)
        grads = [dx, dh_next] + ([dc] if kind.has_cell else []) + [dW_ih, dW_hh]
        if bias is not None:
            grads += [db_ih, db_hh]
        return tuple(grads)


def fused_recurrence(kind, x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, reverse=False,
                     mask=None):
    """Run ``FusedRecurrence`` on tensors; returns (out, h_n) or (out, h_n, c_n)."""
    inputs = [x, h0] + ([c0] if kind.has_cell else []) + [W_ih, W_hh]
    if b_ih is not None:
        inputs += [b_ih, b_hh]
    return FusedRecurrence(kind, reverse, mask)(*inputs)
