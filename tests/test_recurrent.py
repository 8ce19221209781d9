"""Recurrent cells and layers: fused BPTT == composed cells == finite differences, torch's
names and shapes, the notes' GRU, gradient flow through time, variable lengths, errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.backend import to_numpy
from minigrad.nn import cells
from minigrad.nn.recurrence import Recurrence, recurrence

F64 = mg.float64
LAYERS = {   # id -> (class, extra constructor arguments)
    "rnn_tanh": (nn.RNN, {}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, {}),
    "gru": (nn.GRU, {}),
    "gru_notes": (nn.GRU, {"reset_after": False}),
}
CELLS = {   # id -> the cell object of that layer, for hidden size H
    "rnn_tanh": lambda H: cells.RNN(H),
    "rnn_relu": lambda H: cells.RNN(H, "relu"),
    "lstm": cells.LSTM,
    "gru": cells.GRU,
    "gru_notes": cells.NotesGRU,
}
CONFIGS = [   # (num_layers, bidirectional, batch_first, with h0/c0, with lengths)
    (1, False, False, False, False),
    (1, False, True, True, False),
    (1, True, False, True, True),
    (2, True, True, True, False),
    (2, False, False, False, True),
    (3, True, False, True, True),
    (3, True, True, False, True),
]


def _rand(rng, *shape, grad=True):
    return mg.tensor(rng.standard_normal(shape), dtype=F64, requires_grad=grad)


def _make(key, D, H, L, bi, bf, **kw):
    cls, extra = LAYERS[key]
    return cls(D, H, num_layers=L, bidirectional=bi, batch_first=bf, **extra, **kw).double()


def _inputs(rng, m, N, T, with_h, with_lengths):
    L, dirs, D, H = m.num_layers, 2 if m.bidirectional else 1, m.input_size, m.hidden_size
    x = _rand(rng, *((N, T, D) if m.batch_first else (T, N, D)))
    h0 = _rand(rng, L * dirs, N, H) if with_h else None
    c0 = _rand(rng, L * dirs, N, H) if with_h and isinstance(m, nn.LSTM) else None
    lengths = rng.integers(0, T + 1, size=N) if with_lengths else None
    if with_lengths:
        lengths[0] = T          # one full-length sequence
    return x, h0, c0, lengths


def _call(m, x, h0, c0, lengths):
    hx = (h0, c0) if isinstance(m, nn.LSTM) and h0 is not None else h0
    out, hn = m(x, hx, lengths=lengths)
    return (out,) + (hn if isinstance(hn, tuple) else (hn,))


def _values_and_grads(m, x, h0, c0, lengths, fused):
    """Outputs, then the gradients of a fixed random projection of them w.r.t. every
    parameter and every input."""
    m.fused = fused
    m.zero_grad()
    leaves = [t for t in (x, h0, c0) if t is not None]
    for t in leaves:
        t.grad = None
    outs = _call(m, x, h0, c0, lengths)
    rng = np.random.default_rng(7)
    loss = None
    for o in outs:
        term = (o * mg.tensor(rng.standard_normal(o.shape), dtype=F64)).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return ([o.numpy(force=True) for o in outs] + [to_numpy(p.grad) for p in m.parameters()]
            + [to_numpy(t.grad) for t in leaves])


def _assert_fused_equals_composed(m, x, h0, c0, lengths):
    fused = _values_and_grads(m, x, h0, c0, lengths, True)
    composed = _values_and_grads(m, x, h0, c0, lengths, False)
    assert len(fused) == len(composed)
    for a, b in zip(fused, composed):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- fused == composed

@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "L{}-{}-{}-{}-{}".format(
    c[0], "bi" if c[1] else "uni", "bf" if c[2] else "tm", "h0" if c[3] else "noh0",
    "len" if c[4] else "full"))
@pytest.mark.parametrize("key", list(LAYERS))
def test_fused_equals_composed(key, config):
    L, bi, bf, with_h, with_len = config
    rng = np.random.default_rng(0)
    m = _make(key, 3, 4, L, bi, bf)
    _assert_fused_equals_composed(m, *_inputs(rng, m, N=3, T=5, with_h=with_h,
                                               with_lengths=with_len))


@pytest.mark.parametrize("limit", [0, 10**6], ids=["one-product", "gate-by-gate"])
@pytest.mark.parametrize("key", ["lstm", "gru"])
def test_fused_equals_composed_with_either_recurrent_product(key, limit, monkeypatch):
    """cells.hidden_product runs the recurrent product gate by gate up to GATE_BY_GATE
    multiply-adds per gate and as one product above it: both give the composed step's values
    and gradients (the tests' sizes are all small: the first case forces the other path)."""
    monkeypatch.setattr(cells, "GATE_BY_GATE", limit)
    rng = np.random.default_rng(3)
    m = _make(key, 3, 4, 1, True, False)
    _assert_fused_equals_composed(m, *_inputs(rng, m, N=3, T=5, with_h=True, with_lengths=True))


@pytest.mark.parametrize("limit", [0, 10**9], ids=["step-by-step", "one-product"])
@pytest.mark.parametrize("key", ["lstm", "gru"])
def test_fused_equals_composed_with_either_input_projection(key, limit, monkeypatch):
    """gate_layout.GateMajor.project makes A step by step from STEP_BY_STEP rows per step up,
    else as one product and a pass: both give the composed step's values and gradients."""
    from minigrad.nn import gate_layout
    monkeypatch.setattr(gate_layout, "STEP_BY_STEP", limit)
    rng = np.random.default_rng(4)
    m = _make(key, 3, 4, 1, True, False)
    _assert_fused_equals_composed(m, *_inputs(rng, m, N=3, T=5, with_h=True, with_lengths=True))
    leaves = [_rand(rng, *s) for s in [(4, 2, 3)] + [(2, 4)] * len(m.cell.state)
              + [(m.cell.G * 4, 3), (m.cell.G * 4, 4), (m.cell.G * 4,), (m.cell.G * 4,)]]
    assert mg.gradcheck(lambda *a: Recurrence(m.cell)(*a), leaves)


@given(key=st.sampled_from(list(LAYERS)), N=st.integers(1, 3), T=st.integers(1, 4),
       D=st.integers(1, 3), H=st.integers(1, 3), bi=st.booleans(), with_len=st.booleans(),
       seed=st.integers(0, 2**16))
def test_fused_equals_composed_any_size(key, N, T, D, H, bi, with_len, seed):
    rng = np.random.default_rng(seed)
    m = _make(key, D, H, 1, bi, False)
    _assert_fused_equals_composed(m, *_inputs(rng, m, N, T, True, with_len))


# ----------------------------------------------------------------------------- gradient checks

def _run_op(cell, x, state0, *w, **kw):
    out, state = recurrence(cell, x, state0, *w, **kw)
    return (out,) + state


@pytest.mark.parametrize("key", ["lstm", "gru"])
def test_the_op_runs_forward_in_time_unless_told_to_reverse(key):
    """recurrence() and Recurrence without ``reverse`` run t = 0 .. T-1: the cell's step in a
    plain loop gives the same outputs and final state."""
    cell = CELLS[key](3)
    rng = np.random.default_rng(17)
    x = _rand(rng, 4, 2, 2, grad=False)
    state0 = tuple(_rand(rng, 2, 3, grad=False) for _ in cell.state)
    w = [_rand(rng, cell.G * 3, 2, grad=False), _rand(rng, cell.G * 3, 3, grad=False)]
    state, steps = state0, []
    for t in range(4):
        state = cell.step(x[t], state, *w, None, None)
        steps.append(state[0].numpy(force=True))
    out, final = recurrence(cell, x, state0, *w)
    out_op, *final_op = Recurrence(cell)(x, *state0, *w)
    for o, f in ((out, final), (out_op, final_op)):
        np.testing.assert_allclose(o.numpy(force=True), np.stack(steps), rtol=1e-12, atol=1e-12)
        for a, b in zip(f, state):
            np.testing.assert_allclose(a.numpy(force=True), b.numpy(force=True), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reverse,with_mask", [(False, False), (True, False), (False, True),
                                               (True, True)])
@pytest.mark.parametrize("key", list(LAYERS))
def test_fused_op_gradcheck(key, reverse, with_mask):
    """The op itself against finite differences: inputs, states, weights and biases."""
    T, N, D, H = 3, 2, 2, 3
    cell = CELLS[key](H)
    G, S = cell.G, len(cell.state)
    rng = np.random.default_rng(1)
    x, state0 = _rand(rng, T, N, D), [_rand(rng, N, H) for _ in range(S)]
    weights = [_rand(rng, G * H, D), _rand(rng, G * H, H), _rand(rng, G * H), _rand(rng, G * H)]
    mask = None
    if with_mask:
        mask = mg.backend.to_device((np.arange(T)[:, None] < np.array([3, 1]))[:, :, None],
                                    x.device)

    def fn(x, *rest):
        return _run_op(cell, x, rest[:S], *rest[S:], reverse=reverse, mask=mask)

    assert mg.gradcheck(fn, [x] + state0 + weights)


@pytest.mark.parametrize("T,N", [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("key", list(LAYERS))
def test_fused_op_gradcheck_size_one_and_no_bias(key, T, N):
    rng = np.random.default_rng(2)
    cell = CELLS[key](1)
    S = len(cell.state)
    inputs = [_rand(rng, T, N, 1)] + [_rand(rng, N, 1) for _ in range(S)] + [
        _rand(rng, cell.G, 1), _rand(rng, cell.G, 1)]
    assert mg.gradcheck(lambda x, *r: _run_op(cell, x, r[:S], *r[S:]), inputs)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("key,config", [("lstm", (2, True, False, True, True)),
                                        ("gru", (2, True, True, True, False)),
                                        ("gru_notes", (1, True, False, True, True)),
                                        ("rnn_tanh", (2, False, True, True, True))])
def test_layer_gradcheck(key, config, fused):
    """Whole layers, both paths: gradients w.r.t. the input, h0, c0 and every parameter."""
    L, bi, bf, _, with_len = config
    rng = np.random.default_rng(3)
    m = _make(key, 2, 2, L, bi, bf, fused=fused)
    x, h0, c0, lengths = _inputs(rng, m, N=2, T=3, with_h=True, with_lengths=with_len)
    leaves = [t for t in (x, h0, c0) if t is not None]
    params = list(m.parameters())

    def fn(*_):
        return _call(m, x, h0, c0, lengths)

    assert mg.gradcheck(fn, leaves + params)


@pytest.mark.parametrize("cell_cls,extra", [
    (nn.RNNCell, {}), (nn.RNNCell, {"nonlinearity": "relu"}), (nn.LSTMCell, {}),
    (nn.GRUCell, {}), (nn.GRUCell, {"reset_after": False})])
def test_cell_gradcheck(cell_cls, extra):
    rng = np.random.default_rng(4)
    cell = cell_cls(3, 2, **extra).double()
    x, h, c = _rand(rng, 2, 3), _rand(rng, 2, 2), _rand(rng, 2, 2)
    hx = (h, c) if cell_cls is nn.LSTMCell else h
    assert mg.gradcheck(lambda *_: cell(x, hx), [x, h, c] + list(cell.parameters())
                        if cell_cls is nn.LSTMCell else [x, h] + list(cell.parameters()))


# ----------------------------------------------------------------------------- cells

@pytest.mark.parametrize("key", list(LAYERS))
def test_cell_is_one_step_of_the_layer(key):
    """A cell with the layer's l0 weights gives the layer's output after one step; missing
    state means zeros; an unbatched input gives the batched result without the batch axis."""
    cls, extra = LAYERS[key]
    cell_cls = {nn.RNN: nn.RNNCell, nn.LSTM: nn.LSTMCell, nn.GRU: nn.GRUCell}[cls]
    layer = cls(3, 4, **extra).double()
    cell = cell_cls(3, 4, **extra).double()
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    rng = np.random.default_rng(5)
    x = _rand(rng, 2, 3, grad=False)
    out, _ = layer(x.reshape(1, 2, 3))
    got = cell(x)
    h = got[0] if isinstance(got, tuple) else got
    np.testing.assert_allclose(h.numpy(force=True), out.numpy(force=True)[0], rtol=1e-12, atol=1e-12)
    zeros = mg.zeros(2, 4, dtype=F64)
    explicit = cell(x, (zeros, zeros) if cell_cls is nn.LSTMCell else zeros)
    h2 = explicit[0] if isinstance(explicit, tuple) else explicit
    np.testing.assert_allclose(h2.numpy(force=True), h.numpy(force=True), rtol=0, atol=0)
    one = cell(x[0])
    h1 = one[0] if isinstance(one, tuple) else one
    assert h1.shape == (4,)
    np.testing.assert_allclose(h1.numpy(force=True), h.numpy(force=True)[0], rtol=1e-12, atol=1e-12)


def test_unbatched_layer_input():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    rng = np.random.default_rng(6)
    x = _rand(rng, 5, 3, grad=False)
    out, (h, c) = m(x)
    assert out.shape == (5, 8) and h.shape == (4, 4) and c.shape == (4, 4)
    out_b, (h_b, _) = m(x.reshape(5, 1, 3))
    np.testing.assert_allclose(out.numpy(force=True), out_b.numpy(force=True)[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.numpy(force=True), h_b.numpy(force=True)[:, 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key", ["lstm", "gru"])
def test_unbatched_input_with_a_given_state(key):
    """An unbatched input takes its state without the batch axis, (L*dirs, H) for a layer and
    (H,) for a cell, and gives the batched result of one sequence (L*dirs != H here, so a
    state reshaped on the wrong axis cannot pass)."""
    cls, extra = LAYERS[key]
    rng = np.random.default_rng(16)
    m = cls(3, 5, bidirectional=True, **extra).double()
    x = _rand(rng, 4, 3, grad=False)
    h0, c0 = _rand(rng, 2, 5, grad=False), _rand(rng, 2, 5, grad=False)
    lstm = cls is nn.LSTM
    out, hn = m(x, (h0, c0) if lstm else h0)
    out_b, hn_b = m(x.reshape(4, 1, 3),
                    (h0.reshape(2, 1, 5), c0.reshape(2, 1, 5)) if lstm else h0.reshape(2, 1, 5))
    np.testing.assert_allclose(out.numpy(force=True), out_b.numpy(force=True)[:, 0], rtol=1e-12, atol=1e-12)
    for a, b in zip(hn if lstm else (hn,), hn_b if lstm else (hn_b,)):
        assert a.shape == (2, 5)
        np.testing.assert_allclose(a.numpy(force=True), b.numpy(force=True)[:, 0], rtol=1e-12, atol=1e-12)
    cell_cls = nn.LSTMCell if lstm else nn.GRUCell
    cell = cell_cls(3, 5, **extra).double()
    one = cell(x[0], (h0[0], c0[0]) if lstm else h0[0])
    batch = cell(x[:1], (h0[:1], c0[:1]) if lstm else h0[:1])
    for a, b in zip(one if lstm else (one,), batch if lstm else (batch,)):
        assert a.shape == (5,)
        np.testing.assert_allclose(a.numpy(force=True), b.numpy(force=True)[0], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- torch's surface

TORCH_KEYS = {
    # torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True).state_dict()
    "lstm": ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
             "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
             "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
             "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse",
             "bias_hh_l1_reverse"],
    # torch.nn.GRU(10, 20, num_layers=2, bias=False)
    "gru": ["weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"],
    # torch.nn.RNN(10, 20)
    "rnn": ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"],
}


def test_defaults_are_torchs():
    """The arguments a torch program leaves out mean what they mean in torch."""
    for m in (nn.RNN(3, 4), nn.LSTM(3, 4), nn.GRU(3, 4)):
        assert (m.num_layers, m.bias, m.batch_first, m.dropout, m.bidirectional) == \
            (1, True, False, 0.0, False), type(m).__name__
        assert m.fused and m.bias_ih_l0 is not None and not hasattr(m, "weight_ih_l1")
    for c in (nn.RNNCell(3, 4), nn.LSTMCell(3, 4), nn.GRUCell(3, 4)):
        assert c.bias and c.bias_ih is not None and c.bias_hh is not None, type(c).__name__
    assert nn.RNN(3, 4).nonlinearity == nn.RNNCell(3, 4).nonlinearity == "tanh"
    assert nn.GRU(3, 4).reset_after and nn.GRUCell(3, 4).reset_after


def test_state_dict_keys_and_shapes_are_torchs():
    lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    sd = lstm.state_dict()
    assert list(sd) == TORCH_KEYS["lstm"]
    assert sd["weight_ih_l0"].shape == (80, 10)
    assert sd["weight_ih_l0_reverse"].shape == (80, 10)
    assert sd["weight_ih_l1"].shape == (80, 40)          # layer 1 reads both directions
    assert sd["weight_hh_l1_reverse"].shape == (80, 20)
    assert sd["bias_hh_l1"].shape == (80,)
    gru = nn.GRU(10, 20, num_layers=2, bias=False).state_dict()
    assert list(gru) == TORCH_KEYS["gru"]
    assert gru["weight_ih_l1"].shape == (60, 20) and gru["weight_hh_l0"].shape == (60, 20)
    rnn = nn.RNN(10, 20).state_dict()
    assert list(rnn) == TORCH_KEYS["rnn"]
    assert rnn["weight_ih_l0"].shape == (20, 10) and rnn["bias_ih_l0"].shape == (20,)
    assert list(nn.LSTMCell(10, 20).state_dict()) == ["weight_ih", "weight_hh", "bias_ih",
                                                      "bias_hh"]
    assert nn.GRUCell(10, 20).weight_hh.shape == (60, 20)


def test_initialisation_is_uniform_in_one_over_sqrt_h():
    m = nn.LSTM(30, 16, num_layers=2)
    for name, p in m.named_parameters():
        v = p.numpy(force=True)
        assert np.abs(v).max() <= 0.25, name
        assert np.abs(v).max() > 0.2, name      # spread over the range, not a constant


def test_output_shapes_as_torch():
    m = nn.GRU(3, 5, num_layers=3, bidirectional=True, batch_first=True)
    out, h = m(mg.randn(4, 7, 3))
    assert out.shape == (4, 7, 10) and h.shape == (6, 4, 5)
    out, (h, c) = nn.LSTM(3, 5)(mg.randn(7, 4, 3))
    assert out.shape == (7, 4, 5) and h.shape == c.shape == (1, 4, 5)
    assert out.dtype == mg.float32


# ----------------------------------------------------------------------------- the notes' GRU

def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("fused", [True, False])
def test_gru_reset_before_is_the_notes_formula(fused):
    """notes 004, 1.3: Gamma_r = sigma(W_r[c, x] + b_r), c~ = tanh(W_c[Gamma_r * c, x] + b_c),
    Gamma_u = sigma(W_u[c, x] + b_u), c' = Gamma_u c~ + (1 - Gamma_u) c; torch's z = 1 - Gamma_u."""
    D, H, T, N = 3, 4, 5, 2
    m = nn.GRU(D, H, reset_after=False, fused=fused).double()
    rng = np.random.default_rng(8)
    x = rng.standard_normal((T, N, D))
    out, h_n = m(mg.tensor(x, dtype=F64))
    W_ih, W_hh = m.weight_ih_l0.numpy(force=True), m.weight_hh_l0.numpy(force=True)
    b_ih, b_hh = m.bias_ih_l0.numpy(force=True), m.bias_hh_l0.numpy(force=True)
    # The notes write W[c, x]: one matrix over the concatenation; torch's rows split it in two.
    W = [np.concatenate([W_hh[k * H:(k + 1) * H], W_ih[k * H:(k + 1) * H]], axis=1)
         for k in range(3)]
    b = [b_ih[k * H:(k + 1) * H] + b_hh[k * H:(k + 1) * H] for k in range(3)]
    W_r, W_u_torch, W_c = W
    b_r, b_u_torch, b_c = b
    c = np.zeros((N, H))
    for t in range(T):
        cx = np.concatenate([c, x[t]], axis=1)
        gamma_r = _sigmoid(cx @ W_r.T + b_r)
        gamma_u = 1 - _sigmoid(cx @ W_u_torch.T + b_u_torch)
        c_tilde = np.tanh(np.concatenate([gamma_r * c, x[t]], axis=1) @ W_c.T + b_c)
        c = gamma_u * c_tilde + (1 - gamma_u) * c
        np.testing.assert_allclose(out.numpy(force=True)[t], c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n.numpy(force=True)[0], c, rtol=1e-12, atol=1e-12)
    # and it really differs from torch's reset-after form with the same weights
    m2 = nn.GRU(D, H, reset_after=True).double()
    m2.load_state_dict(m.state_dict())
    assert np.abs(m2(mg.tensor(x, dtype=F64))[0].numpy(force=True) - out.numpy(force=True)).max() > 1e-6


# ----------------------------------------------------------------------------- lengths, tBPTT

@pytest.mark.parametrize("key", ["lstm", "gru", "rnn_tanh"])
def test_lengths_match_sequences_run_alone(key):
    """h_n is each sequence's state at its last real step (both directions), padded outputs
    are 0 and padded inputs get no gradient."""
    rng = np.random.default_rng(9)
    m = _make(key, 3, 4, 2, True, True)
    lengths = np.array([5, 2, 3])
    x = _rand(rng, 3, 5, 3)
    out, hn = m(x, lengths=lengths)
    h_n = hn[0] if isinstance(hn, tuple) else hn
    (out.sum() + h_n.sum()).backward()
    o, h = out.numpy(force=True), h_n.numpy(force=True)
    for n, Ln in enumerate(lengths):
        alone, hn_alone = m(mg.tensor(x.numpy(force=True)[n:n + 1, :Ln], dtype=F64))
        h_alone = hn_alone[0] if isinstance(hn_alone, tuple) else hn_alone
        np.testing.assert_allclose(o[n, :Ln], alone.numpy(force=True)[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h[:, n], h_alone.numpy(force=True)[:, 0], rtol=1e-12, atol=1e-12)
        assert not o[n, Ln:].any()
        assert not to_numpy(x.grad)[n, Ln:].any()
        assert to_numpy(x.grad)[n, :Ln].any()


@pytest.mark.parametrize("fused", [True, False])
def test_truncated_bptt_with_detach(fused):
    """Carrying (h, c).detach() across chunks: the second chunk's backward stops at the
    chunk boundary and gives the gradients of that chunk run alone from the carried state."""
    rng = np.random.default_rng(10)
    m = nn.LSTM(3, 4, fused=fused).double()
    x1, x2 = _rand(rng, 6, 2, 3), _rand(rng, 6, 2, 3)
    _, (h, c) = m(x1)
    h, c = h.detach(), c.detach()
    assert not h.requires_grad and h.creator is None
    out2, _ = m(x2, (h, c))
    out2.sum().backward()
    assert x1.grad is None and x2.grad is not None
    grads = [to_numpy(p.grad).copy() for p in m.parameters()]
    m.zero_grad()
    alone, _ = m(mg.tensor(x2.numpy(force=True), dtype=F64), (mg.tensor(h.numpy(force=True), dtype=F64),
                                                     mg.tensor(c.numpy(force=True), dtype=F64)))
    alone.sum().backward()
    for g, p in zip(grads, m.parameters()):
        np.testing.assert_allclose(g, to_numpy(p.grad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key", list(LAYERS))
def test_a_retained_graph_gives_the_same_gradients_twice(key):
    """The fused backward writes dL/dA over its saved activations; with retain_graph=True it
    must leave them intact, so the second backward gives the first one's gradients again."""
    rng = np.random.default_rng(11)
    m = _make(key, 3, 4, 2, True, False)
    x = _rand(rng, 5, 2, 3)
    out = _call(m, x, None, None, None)[0]
    loss = (out * out).sum()
    loss.backward(retain_graph=True)
    first = [to_numpy(p.grad).copy() for p in m.parameters()] + [to_numpy(x.grad).copy()]
    m.zero_grad()
    x.grad = None
    loss.backward()
    second = [to_numpy(p.grad) for p in m.parameters()] + [to_numpy(x.grad)]
    for a, b in zip(first, second):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_a_backward_nested_in_a_retained_one_keeps_the_graph_retained():
    """An op whose backward runs a backward of its own (a hook, a custom Function) must not
    end the outer walk's retain_graph: the recurrence behind it still keeps its activations."""
    class BackwardInside(mg.Function):
        def forward(self, y):
            return y

        def backward(self, gy):
            w = mg.tensor([2.0], dtype=F64, requires_grad=True)
            (w * w).sum().backward()                 # another graph, not retained
            return gy

    rng = np.random.default_rng(12)
    m = _make("lstm", 3, 4, 1, False, False)
    out = _call(m, _rand(rng, 5, 2, 3), None, None, None)[0]
    loss = (BackwardInside()(out) ** 2).sum()
    loss.backward(retain_graph=True)
    first = [to_numpy(p.grad).copy() for p in m.parameters()]
    m.zero_grad()
    loss.backward()
    for a, b in zip(first, (to_numpy(p.grad) for p in m.parameters())):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_inter_layer_dropout_only_while_training():
    mg.manual_seed(0)
    m = nn.GRU(3, 8, num_layers=2, dropout=0.5).double()
    x = mg.tensor(np.random.default_rng(11).standard_normal((4, 2, 3)), dtype=F64)
    m.eval()
    a, b = m(x)[0].numpy(force=True), m(x)[0].numpy(force=True)
    np.testing.assert_array_equal(a, b)
    plain = nn.GRU(3, 8, num_layers=2).double()
    plain.load_state_dict(m.state_dict())
    np.testing.assert_allclose(plain(x)[0].numpy(force=True), a, rtol=1e-12, atol=1e-12)
    m.train()
    assert np.abs(m(x)[0].numpy(force=True) - a).max() > 1e-6
    # only between layers: the last layer's output is never dropped (one layer: no dropout)
    one = nn.GRU(3, 8, dropout=0.5).double()
    np.testing.assert_array_equal(one(x)[0].numpy(force=True), one.eval()(x)[0].numpy(force=True))


# ----------------------------------------------------------------------------- gradient flow

def _grad_reaching_each_step(m, T, N=4, D=8, seed=12):
    """||dL/dx_t|| for every t when the loss reads only the last output (notes 003 (4)-(5))."""
    x = _rand(np.random.default_rng(seed), T, N, D)
    out, _ = m(x)
    out[T - 1].sum().backward()
    return np.linalg.norm(to_numpy(x.grad).reshape(T, -1), axis=1)


def test_gradient_vanishes_in_rnn_and_survives_in_lstm_with_forget_bias():
    T, H = 60, 8
    mg.manual_seed(0)
    rnn = nn.RNN(8, H).double()
    lstm = nn.LSTM(8, H).double()
    with mg.no_grad():
        for m in (rnn, lstm):
            for p in m.parameters():
                p.array = p.array * 0.3          # small weights: |dh_j/dh_{j-1}| < 1
        lstm.bias_ih_l0.array[H:2 * H] = 4.0     # forget gate ~ 1: the cell keeps its memory
    g_rnn = _grad_reaching_each_step(rnn, T)
    g_lstm = _grad_reaching_each_step(lstm, T)
    assert g_rnn[0] < 1e-8 * g_rnn[-1]                            # vanished
    assert np.all(np.diff(g_rnn[-20:]) > 0)                       # decays going back in time
    assert g_lstm[0] > 1e-3 * g_lstm[-1]                          # still there
    assert g_lstm[0] / g_lstm[-1] > 1e4 * g_rnn[0] / g_rnn[-1]


def test_clipping_bounds_an_exploding_rnns_update():
    mg.manual_seed(0)
    rnn = nn.RNN(4, 16, nonlinearity="relu").double()
    with mg.no_grad():
        rnn.weight_hh_l0.array = mg.backend.to_device(2.0 * np.eye(16), rnn.weight_hh_l0.device)
    x = _rand(np.random.default_rng(13), 30, 2, 4, grad=False)
    out, _ = rnn(x)
    out[-1].sum().backward()
    params = list(rnn.parameters())
    before = [p.numpy(force=True) for p in params]
    norm = nn.utils.clip_grad_norm_(params, max_norm=1.0)
    assert norm > 1e6                                             # exploded: ~2^30
    clipped = np.sqrt(sum(float((to_numpy(p.grad) ** 2).sum()) for p in params))
    assert clipped <= 1.0 + 1e-6
    mg.optim.SGD(params, lr=0.1).step()
    step = np.sqrt(sum(((p.numpy(force=True) - b) ** 2).sum() for p, b in zip(params, before)))
    assert step <= 0.1 + 1e-6


# ----------------------------------------------------------------------------- errors

def test_wrong_input_size_names_the_layer_and_shapes():
    with pytest.raises(ValueError,
                       match=r"LSTM: expected input of shape \(T, N, D\).*D=3.*\(5, 2, 4\)"):
        nn.LSTM(3, 4)(mg.randn(5, 2, 4))
    with pytest.raises(ValueError, match=r"GRU: expected input of shape \(N, T, D\).*got \(5,\)"):
        nn.GRU(3, 4, batch_first=True)(mg.randn(5))
    with pytest.raises(ValueError, match=r"GRUCell: expected input of shape \(N, 3\).*\(2, 5\)"):
        nn.GRUCell(3, 4)(mg.randn(2, 5))


def test_wrong_state_shape_names_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"RNN: expected h0 of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        nn.RNN(3, 4, bidirectional=True)(mg.randn(5, 2, 3), mg.zeros(1, 2, 4))
    with pytest.raises(ValueError,
                       match=r"LSTM: expected c0 of shape \(1, 2, 4\), got \(1, 3, 4\)"):
        nn.LSTM(3, 4)(mg.randn(5, 2, 3), (mg.zeros(1, 2, 4), mg.zeros(1, 3, 4)))
    with pytest.raises(ValueError,
                       match=r"LSTMCell: expected hidden state of shape \(2, 4\), got \(2, 5\)"):
        nn.LSTMCell(3, 4)(mg.randn(2, 3), (mg.zeros(2, 5), mg.zeros(2, 4)))
    # unbatched: the shapes are shown without the batch axis
    with pytest.raises(ValueError, match=r"RNN: expected h0 of shape \(2, 4\), got \(1, 4\)"):
        nn.RNN(3, 4, bidirectional=True)(mg.randn(5, 3), mg.zeros(1, 4))


def test_bad_lengths_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"GRU: lengths must lie in \[0, T=5\].*max 7"):
        nn.GRU(3, 4)(mg.randn(5, 2, 3), lengths=[7, 2])
    with pytest.raises(ValueError, match=r"LSTM: lengths must be N=2 integers, got shape \(3,\)"):
        nn.LSTM(3, 4)(mg.randn(5, 2, 3), lengths=[1, 2, 3])
    with pytest.raises(ValueError, match=r"RNN: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")


def test_float32_fused_matches_float64():
    rng = np.random.default_rng(14)
    m64 = nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    m32 = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    m32.load_state_dict(m64.state_dict())
    x = rng.standard_normal((6, 2, 3))
    out32, _ = m32(mg.tensor(x, dtype=mg.float32))
    out64, _ = m64(mg.tensor(x, dtype=F64))
    assert out32.dtype == mg.float32
    np.testing.assert_allclose(out32.numpy(force=True), out64.numpy(force=True), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("key", ["rnn_tanh", "lstm", "gru"])
def test_empty_batch(key, fused):
    """N = 0: shapes as torch, zero gradients; T = 0 is refused with a clear error."""
    m = _make(key, 3, 4, 2, True, False, fused=fused)
    x = mg.tensor(np.zeros((5, 0, 3)), dtype=F64, requires_grad=True)
    out, *states = _call(m, x, None, None, None)
    assert out.shape == (5, 0, 8) and all(s.shape == (4, 0, 4) for s in states)
    (out.sum() + states[0].sum()).backward()
    assert x.grad.shape == (5, 0, 3)
    assert all(not to_numpy(p.grad).any() for p in m.parameters())
    with pytest.raises(ValueError, match=r"expected at least one time step, got input \(0, 2, 3\)"):
        m(mg.zeros(0, 2, 3, dtype=F64))


def test_initial_state_keyword_is_h0_as_the_api_says_and_hx_as_torch():
    x = mg.randn(5, 2, 3)
    lstm, gru = nn.LSTM(3, 4), nn.GRU(3, 4)
    h = mg.randn(1, 2, 4)
    by_h0 = lstm(x, h0=(h, h))[0].numpy(force=True)
    np.testing.assert_array_equal(lstm(x, hx=(h, h))[0].numpy(force=True), by_h0)
    np.testing.assert_array_equal(lstm(x, (h, h))[0].numpy(force=True), by_h0)
    assert not np.allclose(lstm(x)[0].numpy(force=True), by_h0)         # the state was really used
    np.testing.assert_array_equal(gru(x, h0=h)[1].numpy(force=True), gru(x, hx=h)[1].numpy(force=True))
    with pytest.raises(TypeError, match="GRU: pass the initial state as h0 or as hx, not both"):
        gru(x, h0=h, hx=h)


def test_lstm_state_must_be_a_pair():
    x = mg.randn(5, 2, 3)
    with pytest.raises(TypeError, match=r"LSTM: expected the initial state as a pair \(h0, c0\), "
                                        r"got a tensor of shape \(1, 2, 4\)"):
        nn.LSTM(3, 4)(x, mg.zeros(1, 2, 4))
    with pytest.raises(TypeError, match=r"LSTM: expected both parts of the state"):
        nn.LSTM(3, 4)(x, (mg.zeros(1, 2, 4), None))
    with pytest.raises(TypeError, match=r"LSTMCell: expected the initial state as a pair"):
        nn.LSTMCell(3, 4)(mg.randn(2, 3), mg.zeros(2, 4))


@pytest.mark.parametrize("layer", [nn.RNN(3, 4), nn.GRU(3, 4), nn.LSTM(3, 4), nn.GRUCell(3, 4)])
def test_integer_input_is_a_clear_error(layer):
    x = mg.tensor(np.zeros((5, 2, 3) if layer.__class__.__name__[-4:] != "Cell" else (2, 3),
                           dtype=np.int64))
    with pytest.raises(TypeError, match=type(layer).__name__ + r": expected a floating-point "
                                        r"input, got dtype int64; .*nn.Embedding"):
        layer(x)


def test_float64_input_to_float32_weights_says_what_to_call():
    x = mg.tensor(np.zeros((5, 2, 3)))                      # float64, as torch.from_numpy
    with pytest.raises(RuntimeError, match=r"GRU: input is float64 but the weights are float32; "
                                           r"call .float\(\) on the input or .double\(\)"):
        nn.GRU(3, 4)(x)
    with pytest.raises(RuntimeError, match=r"LSTM: c0 is float64 but the weights are float32"):
        nn.LSTM(3, 4)(mg.zeros(5, 2, 3), (mg.zeros(1, 2, 4), mg.tensor(np.zeros((1, 2, 4)))))
    with pytest.raises(RuntimeError, match=r"RNNCell: input is float64"):
        nn.RNNCell(3, 4)(mg.tensor(np.zeros((2, 3))))
    out, _ = nn.GRU(3, 4).double()(x)                       # the fix the message names
    assert out.dtype == mg.float64


@pytest.mark.parametrize("key", list(CELLS))
def test_a_cell_declares_its_layout_and_state(key):
    """The shared loop reads only these: the gate count and the names of the state tuple."""
    cell = CELLS[key](4)
    assert cell.G == {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3, "gru_notes": 3}[key]
    assert cell.state == (("h", "c") if key == "lstm" else ("h",))


@pytest.mark.parametrize("cell", [cells.RNN(3), cells.RNN(3, "relu"), cells.LSTM(3), cells.GRU(3),
                                  cells.NotesGRU(3)], ids=lambda c: type(c).__name__)
def test_a_fused_step_hands_out_its_own_arrays_never_scratch(cell):
    # The loop may keep a step's results as they are: they must share no memory with what the
    # cell keeps in ctx (scratch that the next step overwrites), and the next step must not
    # change them.
    from types import SimpleNamespace
    rng = np.random.default_rng(0)
    T, N, H = 2, 2, cell.H
    W_hh = rng.standard_normal((cell.G * H, H))
    W_hhT = np.ascontiguousarray(W_hh.T)
    ctx = SimpleNamespace(xp=np, W_hh=W_hh, W_hhT=W_hhT, b_hh=np.zeros(cell.G * H),
                          W_hh_gates=W_hh.reshape(cell.G, H, H),
                          W_hhT_gates=W_hhT.reshape(H, cell.G, H).transpose(1, 0, 2),
                          **{k: np.empty(s) for k, s in cell.saved(T, N).items()})
    A = rng.standard_normal(cell.layout.shape(T, cell.G, N, H))
    state = tuple(rng.standard_normal((N, H)) for _ in cell.state)
    first = cell.forward_step(ctx, 0, A[0], state)
    kept = [s.copy() for s in first]
    for s in first:
        for name, v in vars(ctx).items():
            if isinstance(v, np.ndarray) and name not in ("W_hh", "W_hhT", "W_hh_gates",
                                                          "W_hhT_gates", "b_hh"):
                assert not np.shares_memory(s, v), f"a result shares memory with ctx.{name}"
    cell.forward_step(ctx, 1, A[1], first)
    for s, k in zip(first, kept):
        np.testing.assert_array_equal(s, k)


def test_the_gru_cell_follows_reset_after_in_both_modules():
    for reset_after, kind in [(True, cells.GRU), (False, cells.NotesGRU)]:
        assert type(nn.GRU(2, 3, reset_after=reset_after).cell) is kind
        assert type(nn.GRUCell(2, 3, reset_after=reset_after).cell) is kind
