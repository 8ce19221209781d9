"""Recurrent cell modules and layers: RNN, LSTM and GRU with torch's names, shapes and
equations.

Three senses of "cell", kept apart by name: a *cell* is the maths object of ``cells.py``
(``cells.LSTM``: its gate layout, its state tuple and how torch's state argument maps onto it,
its composed step and its fused steps, side by side; it owns no weights). The modules here own
the weights and each runs one cell:

* the *cell modules* ``nn.RNNCell``, ``nn.LSTMCell``, ``nn.GRUCell``: one time step, the cell's
  composed ``step``: autograd ops that read like the notes; autograd does BPTT through them;
* the *recurrent layers* ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``: whole sequences, each layer and
  direction as one op of the shared
  time loop (``recurrence.py``) with the cell's hand-written BPTT. ``fused=False`` (argument or
  attribute) makes them loop the composed step instead: same results, to show and to test
  what fusing buys.

Shapes: N batch, T time, D input size, H hidden size, L layers; a bidirectional layer has two
directions and outputs 2H features. Weights of G gates stack the gates' rows:
weight_ih (G*H, D), weight_hh (G*H, H), bias_ih and bias_hh (G*H,).
"""
import numpy as np

from .. import backend, functional as F
from ..creation import zeros
from ..ops import cat, stack, where
from ..tensor import Tensor
from . import cells, init
from .module import Module
from .recurrence import recurrence


# ----------------------------------------------------------------------------- shared parts

def _check_dtypes(who, x, weight, states):
    """Inputs must be floats of the weights' dtype: torch raises rather than compute in the
    wider type, and an integer input (token ids) needs an embedding first."""
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: expected a floating-point input, got dtype {x.dtype}; "
                        f"token ids go through nn.Embedding first (or convert with .float())")
    for what, t in [("input", x)] + [(n, s) for n, s in states if s is not None]:
        if t.dtype != weight.dtype:
            fix = ".double()" if t.dtype == np.float64 else f".to({weight.dtype})"
            raise RuntimeError(f"{who}: {what} is {t.dtype} but the weights are {weight.dtype}; "
                               f"call .float() on the {what} or {fix} on the layer so they match")


def _uniform_parameters(module, hidden_size):
    # torch: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))
    for p in module.parameters():
        init.fan_in_uniform_(p, hidden_size)


class _CellBase(Module):
    """A cell module: one time step of a cell (a ``cells.Cell``), with its weights. A subclass
    only picks its cell; the cell converts torch's state argument and result."""

    def __init__(self, cell, input_size, hidden_size, bias, device, dtype):
        super().__init__()
        G = cell.G
        self.cell = cell
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = init.empty(G * hidden_size, input_size, device=device, dtype=dtype)
        self.weight_hh = init.empty(G * hidden_size, hidden_size, device=device, dtype=dtype)
        for bias_name in ("bias_ih", "bias_hh"):
            self.register_parameter(
                bias_name, init.empty(G * hidden_size, device=device, dtype=dtype) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_parameters(self, self.hidden_size)

    def forward(self, x, hx=None):
        """x (N, D) or unbatched (D,); hx: h, or (h, c) for the LSTM, each (N, H) / (H,)."""
        who = type(self).__name__
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{who}: expected input of shape (N, {self.input_size}) or "
                             f"({self.input_size},), got {x.shape}")
        state = self.cell.state_tuple(who, hx)
        _check_dtypes(who, x, self.weight_ih, zip(self.cell.state, state))
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape(1, -1)
        want = (x.shape[0], self.hidden_size)
        checked = []
        for s in state:
            if s is None:
                s = zeros(*want, dtype=x.dtype, device=x.device)
            elif unbatched and s.ndim == 1:
                s = s.reshape(1, -1)
            if s.shape != want:
                raise ValueError(f"{who}: expected hidden state of shape {want}, got "
                                 f"{s.shape if not unbatched else s.shape[1:]}")
            checked.append(s)
        state = self.cell.step(x, tuple(checked), self.weight_ih, self.weight_hh, self.bias_ih,
                               self.bias_hh)
        if unbatched:
            state = tuple(s.reshape(-1) for s in state)
        return self.cell.state_result(state)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


def _check_nonlinearity(who, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{who}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu). forward(x (N, D), h (N, H) or
    None) -> h' (N, H); unbatched x (D,) gives (H,)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(cells.RNN(hidden_size, nonlinearity), input_size, hidden_size, bias,
                         device, dtype)
        self.nonlinearity = nonlinearity


class LSTMCell(_CellBase):
    """forward(x (N, D), (h, c) each (N, H), or None) -> (h', c') (N, H)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(cells.LSTM(hidden_size), input_size, hidden_size, bias, device, dtype)


class GRUCell(_CellBase):
    """forward(x (N, D), h (N, H) or None) -> h' (N, H). ``reset_after=False``: the notes'
    GRU, reset gate applied to h before the product (same parameters)."""

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True, device=None,
                 dtype=None):
        super().__init__(cells.gru(hidden_size, reset_after), input_size, hidden_size, bias,
                         device, dtype)
        self.reset_after = reset_after


# ----------------------------------------------------------------------------- the layers

def _lengths_mask(lengths, T, N, x, who):
    """lengths (N,) ints -> mask (T, N, 1) bool on x's device: True at real steps."""
    if isinstance(lengths, Tensor):
        lengths = lengths.array
    # lengths are a few host integers: checked and turned into a mask on the host, then moved
    lengths = np.asarray(backend.to_numpy(lengths) if hasattr(lengths, "dtype") else lengths)
    if lengths.shape != (N,) or lengths.dtype.kind not in "iu":
        raise ValueError(f"{who}: lengths must be N={N} integers, got shape "
                         f"{lengths.shape} and dtype {lengths.dtype}")
    if N and (lengths.max() > T or lengths.min() < 0):
        raise ValueError(f"{who}: lengths must lie in [0, T={T}] for an input of {T} steps, "
                         f"got min {lengths.min()} and max {lengths.max()}")
    mask = np.arange(T)[:, None] < lengths[None, :]
    return backend.to_device(mask[:, :, None], x.device)


class _RNNBase(Module):
    """num_layers stacked recurrent layers of one cell, each optionally bidirectional.

    forward(x, hx=None, lengths=None):
      x (T, N, D), or (N, T, D) when batch_first, or unbatched (T, D);
      hx: h0 (L*dirs, N, H) (LSTM: a pair (h0, c0)), zeros when None;
      lengths: optional (N,) real lengths of a right-padded batch.
    Returns output (T, N, dirs*H) (batch_first: (N, T, dirs*H)) and h_n (L*dirs, N, H)
    (LSTM: (h_n, c_n)); with lengths, padded outputs are 0 and h_n holds each sequence's
    state at its last real step, as torch's packed sequences.

    The loop below treats the cell's state as a tuple ((h,) or (h, c)) and never asks which
    cell it runs; a subclass only brings the cell, which converts torch's state argument.
    """

    def __init__(self, cell, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, device, dtype, fused):
        super().__init__()
        who = type(self).__name__
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{who}: dropout must be in [0, 1], got {dropout}")
        if num_layers < 1:
            raise ValueError(f"{who}: num_layers must be at least 1, got {num_layers}")
        self.cell = cell
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.fused = bidirectional, fused
        G, H = cell.G, hidden_size
        dirs = 2 if bidirectional else 1
        for layer in range(num_layers):
            d_in = input_size if layer == 0 else H * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                setattr(self, "weight_ih" + sfx, init.empty(G * H, d_in, device=device, dtype=dtype))
                setattr(self, "weight_hh" + sfx, init.empty(G * H, H, device=device, dtype=dtype))
                if bias:
                    setattr(self, "bias_ih" + sfx, init.empty(G * H, device=device, dtype=dtype))
                    setattr(self, "bias_hh" + sfx, init.empty(G * H, device=device, dtype=dtype))
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
        who = type(self).__name__
        if unbatched and s is not None and s.ndim == 2:
            s = s.reshape(s.shape[0], 1, s.shape[1])
        if s is not None and s.shape != want:
            shown = (want[0], want[2]) if unbatched else want
            got = s.shape[::2] if unbatched else s.shape
            raise ValueError(f"{who}: expected {what} of shape {shown}, got {got}")
        return s

    def forward(self, x, h0=None, lengths=None, *, hx=None):
        """x (T, N, D), or (N, T, D) with batch_first, or unbatched (T, D);
        h0 (L*dirs, N, H) or None (zeros), for the LSTM a pair (h0, c0); ``hx`` is torch's
        name for it. lengths (N,): each sequence's real length (padding after it)."""
        who = type(self).__name__
        if hx is not None:
            if h0 is not None:
                raise TypeError(f"{who}: pass the initial state as h0 or as hx, not both")
            h0 = hx
        D, H = self.input_size, self.hidden_size
        dirs = 2 if self.bidirectional else 1
        if x.ndim not in (2, 3) or x.shape[-1] != D:
            layout = "(N, T, D)" if self.batch_first else "(T, N, D)"
            raise ValueError(f"{who}: expected input of shape {layout} or (T, D) with D={D}, "
                             f"got {x.shape}")
        names = [s + "0" for s in self.cell.state]             # "h0", "c0"
        state0 = self.cell.state_tuple(who, h0, "0")
        _check_dtypes(who, x, self.weight_ih_l0, zip(names, state0))
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, D)
        elif self.batch_first:
            x = x.transpose(0, 1)                  # the layers run time-major: (T, N, D)
        T, N = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError(f"{who}: expected at least one time step, got input {x.shape}")
        want = (self.num_layers * dirs, N, H)
        state0 = [self._check_state(s, want, unbatched, n) for s, n in zip(state0, names)]
        mask = None if lengths is None else _lengths_mask(lengths, T, N, x, who)
        run = self._run_fused if self.fused else self._run_composed
        finals = []                                # one state tuple per layer and direction
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                state = tuple(s[k] if s is not None else zeros(N, H, dtype=x.dtype, device=x.device)
                              for s in state0)
                out, state = run(x, state, self._layer_weights(layer, d), bool(d), mask)
                outs.append(out)
                finals.append(state)
            x = outs[0] if dirs == 1 else cat(outs, axis=2)
            if layer < self.num_layers - 1 and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
        state_n = tuple(stack(list(s), axis=0) for s in zip(*finals))    # (L*dirs, N, H) each
        if unbatched:
            x = x.reshape(T, dirs * H)
            state_n = tuple(s.reshape(s.shape[0], H) for s in state_n)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, self.cell.state_result(state_n)

    def _run_fused(self, x, state, weights, reverse, mask):
        return recurrence(self.cell, x, state, *weights, reverse=reverse, mask=mask)

    def _run_composed(self, x, state, weights, reverse, mask):
        """The cell's composed step in a Python loop; autograd does BPTT."""
        T = x.shape[0]
        outs = [None] * T
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            new = self.cell.step(x[t], state, *weights)
            if mask is None:
                state, outs[t] = new, new[0]
            else:   # a padded step carries the state through and outputs 0
                m = mask[t]
                outs[t] = where(m, new[0], 0.0)
                state = tuple(where(m, a, b) for a, b in zip(new, state))
        return stack(outs, axis=0), state

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

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None,
                 fused=True):
        _check_nonlinearity("RNN", nonlinearity)
        super().__init__(cells.RNN(hidden_size, nonlinearity), input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, device, dtype,
                         fused)
        self.nonlinearity = nonlinearity


class LSTM(_RNNBase):
    """LSTM layers (gate order i, f, g, o). forward(x, (h0, c0)=None, lengths=None) ->
    (output, (h_n, c_n)). See ``_RNNBase``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, fused=True):
        super().__init__(cells.LSTM(hidden_size), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device, dtype, fused)


class GRU(_RNNBase):
    """GRU layers (gate order r, z, n). ``reset_after=False``: the notes' GRU. See
    ``_RNNBase``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, fused=True,
                 reset_after=True):
        super().__init__(cells.gru(hidden_size, reset_after), input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, device, dtype,
                         fused)
        self.reset_after = reset_after


__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]
