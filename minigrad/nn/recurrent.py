"""Recurrent cells and layers: RNN, LSTM and GRU with torch's names, shapes and equations.

Two implementations of one set of equations:

* the cells (``rnn_cell``, ``lstm_cell``, ``gru_cell`` and the ``nn.*Cell`` modules) are
  composed from autograd ops and read like the notes; autograd does BPTT through them;
* ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` run each layer and direction as one fused op with a
  hand-written BPTT (``bptt.py``). ``fused=False`` (argument or attribute) makes them loop the
  composed cells instead: same results, to show and to test what fusing buys.

Shapes: N batch, T time, D input size, H hidden size, L layers; a bidirectional layer has two
directions and outputs 2H features. Weights of G gates stack the gates' rows:
weight_ih (G*H, D), weight_hh (G*H, H), bias_ih and bias_hh (G*H,).
"""
import math

import numpy as np

from .. import backend, functional as F
from ..ops import cat, stack, where
from ..tensor import Tensor
from . import init
from .bptt import fused_recurrence, make_kind
from .module import Module, Parameter

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


# ----------------------------------------------------------------------------- the cells' math

def _affine(x, w, b):
    return F.linear(x, w, b)


def _gate(a, k, H):
    """Gate k of the stacked pre-activations a (..., G*H)."""
    return a[..., k * H:(k + 1) * H]


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """Notes 003 (1): h_t = f(x_t U + h_{t-1} W + b_h), here U = W_ih^T, W = W_hh^T and
    b_h = b_ih + b_hh. x (N, D), h (N, H) -> h_t (N, H)."""
    a = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    return a.relu() if nonlinearity == "relu" else a.tanh()


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """Notes 003 (7), torch's gate order i, f, g, o. x (N, D), h, c (N, H) -> (h_t, c_t).

    The notes' W_f [h_{t-1}, x_t] is x_t W_if^T + h_{t-1} W_hf^T: both products at once for the
    four gates, then sliced."""
    H = h.shape[-1]
    a = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    i = _gate(a, 0, H).sigmoid()        # input gate i_t
    f = _gate(a, 1, H).sigmoid()        # forget gate f_t
    g = _gate(a, 2, H).tanh()           # new memory C~_t
    o = _gate(a, 3, H).sigmoid()        # output gate o_t
    c_t = f * c + i * g                 # C_t = f_t * C_{t-1} + i_t * C~_t
    h_t = o * c_t.tanh()                # h_t = o_t * tanh(C_t)
    return h_t, c_t


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, reset_after=True):
    """Torch's GRU, gate order r, z, n; notes 004 1.3 with Gamma_r = r, Gamma_u = 1 - z,
    c~ = n and c = h. x (N, D), h (N, H) -> h_t (N, H).

    reset_after=True (torch):  n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
    reset_after=False (notes): n = tanh(x W_in^T + b_in + (r * h) W_hn^T + b_hn)"""
    H = h.shape[-1]
    ax = _affine(x, w_ih, b_ih)
    ah = _affine(h, w_hh[:2 * H], None if b_hh is None else b_hh[:2 * H])
    r = (_gate(ax, 0, H) + _gate(ah, 0, H)).sigmoid()     # reset gate Gamma_r
    z = (_gate(ax, 1, H) + _gate(ah, 1, H)).sigmoid()     # z = 1 - Gamma_u
    w_hn = w_hh[2 * H:]
    b_hn = None if b_hh is None else b_hh[2 * H:]
    if reset_after:
        n = (_gate(ax, 2, H) + r * _affine(h, w_hn, b_hn)).tanh()
    else:
        # c~ = tanh(W_c [Gamma_r * c, x] + b_c)
        n = (_gate(ax, 2, H) + _affine(r * h, w_hn, b_hn)).tanh()
    return (1 - z) * n + z * h          # c_t = Gamma_u * c~_t + (1 - Gamma_u) * c_{t-1}


# ----------------------------------------------------------------------------- shared parts

def _uniform_parameters(module, hidden_size):
    # torch: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))
    bound = 1 / math.sqrt(hidden_size) if hidden_size else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _new_param(device, dtype, *shape):
    xp = backend.xp_for(device)
    return Parameter(xp.zeros(shape, dtype=dtype or backend.get_default_dtype()))


def _zeros_like_state(x, shape):
    xp = backend.get_array_module(x.array)
    return Tensor._wrap(xp.zeros(shape, dtype=x.dtype))


class _CellBase(Module):
    mode = None

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        G = _GATES[self.mode]
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = _new_param(device, dtype, G * hidden_size, input_size)
        self.weight_hh = _new_param(device, dtype, G * hidden_size, hidden_size)
        if bias:
            self.bias_ih = _new_param(device, dtype, G * hidden_size)
            self.bias_hh = _new_param(device, dtype, G * hidden_size)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_parameters(self, self.hidden_size)

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _check(self, x, states):
        """x (N, D) or unbatched (D,); states (N, H) / (H,) or None (zeros).
        Returns batched x, batched states, and whether the input was unbatched."""
        name = type(self).__name__
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (N, {self.input_size}) or "
                             f"({self.input_size},), got {x.shape}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape(1, -1)
        want = (x.shape[0], self.hidden_size)
        out = []
        for s in states:
            if s is None:
                out.append(_zeros_like_state(x, want))
                continue
            if unbatched and s.ndim == 1:
                s = s.reshape(1, -1)
            if s.shape != want:
                raise ValueError(f"{name}: expected hidden state of shape {want}, got "
                                 f"{s.shape if not unbatched else s.shape[1:]}")
            out.append(s)
        return x, out, unbatched

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu). forward(x (N, D), h (N, H) or
    None) -> h' (N, H); unbatched x (D,) gives (H,)."""
    mode = "RNN"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, hx=None):
        x, (h,), unbatched = self._check(x, [hx])
        h = rnn_cell(x, h, *self._weights(), nonlinearity=self.nonlinearity)
        return h.reshape(-1) if unbatched else h


class LSTMCell(_CellBase):
    """forward(x (N, D), (h, c) each (N, H), or None) -> (h', c') (N, H)."""
    mode = "LSTM"

    def forward(self, x, hx=None):
        h, c = (None, None) if hx is None else hx
        x, (h, c), unbatched = self._check(x, [h, c])
        h, c = lstm_cell(x, h, c, *self._weights())
        return (h.reshape(-1), c.reshape(-1)) if unbatched else (h, c)


class GRUCell(_CellBase):
    """forward(x (N, D), h (N, H) or None) -> h' (N, H). ``reset_after=False``: the notes'
    GRU, reset gate applied to h before the product (same parameters)."""
    mode = "GRU"

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.reset_after = reset_after

    def forward(self, x, hx=None):
        x, (h,), unbatched = self._check(x, [hx])
        h = gru_cell(x, h, *self._weights(), reset_after=self.reset_after)
        return h.reshape(-1) if unbatched else h


# ----------------------------------------------------------------------------- the layers

def _lengths_mask(lengths, T, N, x, name):
    """lengths (N,) ints -> mask (T, N, 1) bool on x's device: True at real steps."""
    if isinstance(lengths, Tensor):
        lengths = lengths.array
    # lengths are a few host integers: checked and turned into a mask on the host, then moved
    lengths = np.asarray(backend.to_numpy(lengths) if hasattr(lengths, "dtype") else lengths)
    if lengths.shape != (N,) or lengths.dtype.kind not in "iu":
        raise ValueError(f"{name}: lengths must be N={N} integers, got shape "
                         f"{lengths.shape} and dtype {lengths.dtype}")
    if N and (lengths.max() > T or lengths.min() < 0):
        raise ValueError(f"{name}: lengths must lie in [0, T={T}] for an input of {T} steps, "
                         f"got min {lengths.min()} and max {lengths.max()}")
    mask = np.arange(T)[:, None] < lengths[None, :]
    return backend.to_device(mask[:, :, None], x.device)


class _RNNBase(Module):
    """num_layers stacked recurrent layers, each optionally bidirectional.

    forward(x, hx=None, lengths=None):
      x (T, N, D), or (N, T, D) when batch_first, or unbatched (T, D);
      hx: h0 (L*dirs, N, H) (LSTM: a pair (h0, c0)), zeros when None;
      lengths: optional (N,) real lengths of a right-padded batch.
    Returns output (T, N, dirs*H) (batch_first: (N, T, dirs*H)) and h_n (L*dirs, N, H)
    (LSTM: (h_n, c_n)); with lengths, padded outputs are 0 and h_n holds each sequence's
    state at its last real step, as torch's packed sequences.
    """
    mode = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, fused=True,
                 nonlinearity="tanh", reset_after=True):
        super().__init__()
        name = type(self).__name__
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        if num_layers < 1:
            raise ValueError(f"{name}: num_layers must be at least 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.fused = bidirectional, fused
        self.nonlinearity, self.reset_after = nonlinearity, reset_after
        G, H = _GATES[self.mode], hidden_size
        dirs = 2 if bidirectional else 1
        for layer in range(num_layers):
            d_in = input_size if layer == 0 else H * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                setattr(self, "weight_ih" + sfx, _new_param(device, dtype, G * H, d_in))
                setattr(self, "weight_hh" + sfx, _new_param(device, dtype, G * H, H))
                if bias:
                    setattr(self, "bias_ih" + sfx, _new_param(device, dtype, G * H))
                    setattr(self, "bias_hh" + sfx, _new_param(device, dtype, G * H))
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_parameters(self, self.hidden_size)

    def flatten_parameters(self):
        """A no-op kept for torch programs: torch packs the weights into one block for cuDNN;
        minigrad's weights need no packing."""

    def _layer_weights(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return [getattr(self, n + sfx, None) for n in names]

    def _check_state(self, s, want, unbatched, what):
        name = type(self).__name__
        if unbatched and s is not None and s.ndim == 2:
            s = s.reshape(s.shape[0], 1, s.shape[1])
        if s is not None and s.shape != want:
            shown = (want[0], want[2]) if unbatched else want
            got = s.shape[::2] if unbatched else s.shape
            raise ValueError(f"{name}: expected {what} of shape {shown}, got {got}")
        return s

    def forward(self, x, h0=None, lengths=None, *, hx=None):
        """x (T, N, D), or (N, T, D) with batch_first, or unbatched (T, D);
        h0 (L*dirs, N, H) or None (zeros), for the LSTM a pair (h0, c0); ``hx`` is torch's
        name for it. lengths (N,): each sequence's real length (padding after it)."""
        name = type(self).__name__
        if hx is not None:
            if h0 is not None:
                raise TypeError(f"{name}: pass the initial state as h0 or as hx, not both")
            h0 = hx
        D, H = self.input_size, self.hidden_size
        dirs = 2 if self.bidirectional else 1
        if x.ndim not in (2, 3) or x.shape[-1] != D:
            layout = "(N, T, D)" if self.batch_first else "(T, N, D)"
            raise ValueError(f"{name}: expected input of shape {layout} or (T, D) with D={D}, "
                             f"got {x.shape}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, D)
        elif self.batch_first:
            x = x.transpose(0, 1)                  # the layers run time-major: (T, N, D)
        T, N = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError(f"{name}: expected at least one time step, got input {x.shape}")
        want = (self.num_layers * dirs, N, H)
        state = h0
        h0, c0 = (state if state is not None else (None, None)) if self.mode == "LSTM" else (state, None)
        h0 = self._check_state(h0, want, unbatched, "h0")
        c0 = self._check_state(c0, want, unbatched, "c0")
        mask = None if lengths is None else _lengths_mask(lengths, T, N, x, name)
        run = self._run_fused if self.fused else self._run_composed
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                h = h0[k] if h0 is not None else _zeros_like_state(x, (N, H))
                c = None
                if self.mode == "LSTM":
                    c = c0[k] if c0 is not None else _zeros_like_state(x, (N, H))
                out, h, c = run(x, h, c, self._layer_weights(layer, d), bool(d), mask)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if dirs == 1 else cat(outs, axis=2)
            if layer < self.num_layers - 1 and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
        h_n = stack(h_n, axis=0)
        if unbatched:
            x, h_n = x.reshape(T, dirs * H), h_n.reshape(h_n.shape[0], H)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if self.mode != "LSTM":
            return x, h_n
        c_n = stack(c_n, axis=0)
        return x, (h_n, c_n.reshape(c_n.shape[0], H) if unbatched else c_n)

    def _kind(self):
        return make_kind(self.mode, self.hidden_size, self.nonlinearity, self.reset_after)

    def _run_fused(self, x, h, c, weights, reverse, mask):
        outs = fused_recurrence(self._kind(), x, h, c, *weights, reverse=reverse, mask=mask)
        return outs if self.mode == "LSTM" else (*outs, None)

    def _step(self, x_t, h, c, weights):
        if self.mode == "RNN":
            return rnn_cell(x_t, h, *weights, nonlinearity=self.nonlinearity), None
        if self.mode == "LSTM":
            return lstm_cell(x_t, h, c, *weights)
        return gru_cell(x_t, h, *weights, reset_after=self.reset_after), None

    def _run_composed(self, x, h, c, weights, reverse, mask):
        """The cells in a Python loop; autograd does BPTT."""
        T = x.shape[0]
        outs = [None] * T
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            h_t, c_t = self._step(x[t], h, c, weights)
            if mask is None:
                h, c, outs[t] = h_t, c_t, h_t
            else:   # a padded step carries the state through and outputs 0
                m = mask[t]
                outs[t] = where(m, h_t, 0.0)
                h = where(m, h_t, h)
                c = where(m, c_t, c) if c is not None else None
        return stack(outs, axis=0), h, c

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu). See
    ``_RNNBase`` for the arguments, shapes and ``forward``."""
    mode = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None,
                 fused=True):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, fused, nonlinearity=nonlinearity)


class LSTM(_RNNBase):
    """LSTM layers (gate order i, f, g, o). forward(x, (h0, c0)=None, lengths=None) ->
    (output, (h_n, c_n)). See ``_RNNBase``."""
    mode = "LSTM"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, fused=True):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, fused)


class GRU(_RNNBase):
    """GRU layers (gate order r, z, n). ``reset_after=False``: the notes' GRU. See
    ``_RNNBase``."""
    mode = "GRU"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, fused=True,
                 reset_after=True):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, fused, reset_after=reset_after)


__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "rnn_cell", "lstm_cell",
           "gru_cell"]
