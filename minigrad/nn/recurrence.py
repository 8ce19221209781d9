"""The shared time loop: one layer, one direction, a whole sequence as one op, with BPTT.

``Recurrence`` runs any cell of ``cells.py``. The loop forward and the walk back through time
are written once, here; the cell brings its local step: forward the gate math, backward the
product of its local Jacobian with the incoming gradient, i.e. one factor dh_j/dh_{j-1} of
the chain in notes 003, formulas (4)-(5):

    dL/dW = sum_k dL/dh_t (prod_{j=k+1..t} dh_j/dh_{j-1}) dh_k/dW_k

The state is a tuple (``(h,)`` or ``(h, c)``) that the loop passes along without looking
inside. Backward carries dL/d(state_t) from the last step to the first; at each step the cell
turns it into the gradient of its gate pre-activations, dA_t (N, G*H), and into
dL/d(state_{t-1}). Everything that is not recurrent is done for all steps at once:

    forward   A = X W_ih^T + b         one (T*N, D) x (D, G*H) product
    backward  dX = dA W_ih,  dW_ih = dA^T X,  dW_hh = dA^T H_prev    each one product

The cell's ``layout`` says how A lies in memory (``gate_layout.py``).

Gate activations overwrite the pre-activations in A, and backward overwrites them again with
dA (on a copy when the graph is retained for a second backward), so the op keeps about one
(T, N, G*H) array alive between forward and backward.

Shapes: T time, N batch, D input, H hidden, G gates, S state arrays (1, or 2 for the LSTM).
"""
from types import SimpleNamespace

from .. import backend
from . import cuda_kernels
from ..tensor import Function


class Recurrence(Function):
    """inputs: x (T, N, D), the S initial states (N, H) each, W_ih (G*H, D), W_hh (G*H, H),
            [b_ih (G*H,), b_hh (G*H,)]
    outputs: out (T, N, H), then the S final states (N, H) each.
    ``reverse`` runs t = T-1 .. 0. ``mask`` (T, N, 1) bool or None: at a padded step (False)
    the state is carried through unchanged and the output is 0, so the final state is each
    sequence's state at its last real step and padded steps pass no gradient.
    """

    def __init__(self, cell, reverse=False, mask=None):
        self.cell, self.reverse, self.mask = cell, reverse, mask

    def _unpack(self, arrays):
        S = len(self.cell.state)
        x, state0, (W_ih, W_hh, *bias) = arrays[0], arrays[1:1 + S], arrays[1 + S:]
        return x, state0, W_ih, W_hh, bias

    def _steps(self, T):
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def _slots(self, t):
        # State arrays hold T+1 states; step t reads slot `prev` and writes slot `new`.
        # Forward: the initial state in slot 0, state_t in slot t+1. Reverse: in slot T and t.
        return (t + 1, t) if self.reverse else (t, t + 1)

    def forward(self, *arrays):
        x, state0, W_ih, W_hh, bias = self._unpack(arrays)
        xp = backend.get_array_module(x)
        self.cell = cell = cuda_kernels.on(self.cell, xp)         # the fused twin on the GPU (backward too)
        mask = self.mask
        T, N, D = x.shape
        H = W_hh.shape[1]
        ctx = SimpleNamespace(
            xp=xp, W_hh=W_hh,
            # h_{t-1} W_hh^T runs T times: a contiguous W_hh^T makes it up to ~25% faster.
            W_hhT=backend.contiguous_transpose(W_hh),
            b_hh=bias[1] if bias else xp.zeros(W_hh.shape[0], dtype=x.dtype),
            **{name: xp.empty(shape, dtype=x.dtype)
               for name, shape in cell.saved(T, N).items()})
        # the same weights gate by gate, (G, H, H) views (cells.hidden_product)
        G = W_hh.shape[0] // H
        ctx.W_hh_gates = W_hh.reshape(G, H, H)
        ctx.W_hhT_gates = ctx.W_hhT.reshape(H, G, H).transpose(1, 0, 2)
        # The input projection of every step at once, laid out as the cell asks (gate_layout)
        A = cell.layout.project(xp, x, W_ih, cell.fold_bias(*bias) if bias else None, G)
        states = [xp.empty((T + 1, N, H), dtype=x.dtype) for _ in state0]
        for s, s0 in zip(states, state0):
            s[T if self.reverse else 0] = s0
        for t in self._steps(T):
            p, q = self._slots(t)
            new = cell.forward_step(ctx, t, A[t], tuple([s[p] for s in states]))
            for s, value in zip(states, new):
                if mask is None:
                    s[q] = value
                else:                       # a padded step keeps the previous state
                    s[q] = xp.where(mask[t], value, s[p])
        out = states[0][:T] if self.reverse else states[0][1:]
        if mask is not None:
            out = out * mask
        self.ctx, self.A, self.states = ctx, A, states
        last = 0 if self.reverse else T
        return (out, *(s[last] for s in states))

    def backward(self, gout, *gstate):
        x, _, W_ih, W_hh, bias = self._unpack([t.array for t in self.inputs])
        cell, ctx, A, states, mask = self.cell, self.ctx, self.A, self.states, self.mask
        xp = ctx.xp
        if self.retain_graph:
            A = A.copy()        # backward writes dA over A; a second backward needs A again
        T, N, D = x.shape
        H = W_hh.shape[1]
        if mask is not None:
            gout = gout * mask                  # a padded step's output is a constant 0
        d = gstate                              # dL/d(state_t), carried back from step t+1
        for t in reversed(self._steps(T)):
            p, _ = self._slots(t)
            d = (d[0] + gout[t], *d[1:])            # h_t is the output too
            prev = tuple([s[p] for s in states])
            if mask is None:
                d = cell.backward_step(ctx, t, A[t], prev, d)
            else:
                # the state passes a padded step unchanged: its gradient skips the cell
                m = mask[t]
                d_cell = cell.backward_step(ctx, t, A[t], prev, tuple(g * m for g in d))
                d = tuple(xp.where(m, dc, g) for dc, g in zip(d_cell, d))
        # A now holds dA for every step: the rest is one matrix product each.
        dA = cell.layout.rows(A)                # (T*N, G*H)
        # dx only when someone needs it (a first layer fed raw features does not)
        dx = (dA @ W_ih).reshape(T, N, D) if self.inputs[0].requires_grad else None
        dW_ih = dA.T @ x.reshape(T * N, D)
        H_prev = (states[0][1:] if self.reverse else states[0][:T]).reshape(T * N, H)
        db_ih = dA.sum(axis=0) if bias else None
        dW_hh, db_hh = cell.weight_grads_hh(ctx, dA, H_prev, db_ih)
        return (dx, *d, dW_ih, dW_hh) + ((db_ih, db_hh) if bias else ())


def recurrence(cell, x, state0, W_ih, W_hh, b_ih=None, b_hh=None, reverse=False, mask=None):
    """Run ``Recurrence`` on tensors: x (T, N, D), state0 a tuple of (N, H) tensors.
    Returns (out (T, N, H), final state tuple)."""
    biases = () if b_ih is None else (b_ih, b_hh)
    out, *state = Recurrence(cell, reverse, mask)(x, *state0, W_ih, W_hh, *biases)
    return out, tuple(state)
