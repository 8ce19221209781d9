"""nn.Module and the basic layers (Linear, Embedding, Dropout, LayerNorm), and nn.utils
gradient clipping: names, modes, devices, state_dict errors, torch's initialisation."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from tests.helpers import GPU, grad_of, on_device, seeds, shapes, values


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.inner = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.drop = nn.Dropout(0.5)
        self.register_buffer("steps", np.zeros((), dtype=np.int64))
        self.register_buffer("cache", np.zeros(2, dtype=np.float32), persistent=False)

    def forward(self, x):
        return self.drop(self.norm(self.inner(x * self.scale)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 3, padding_idx=0)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2, bias=False))

    def forward(self, idx):
        h = self.embed(idx)
        for b in self.blocks:
            h = b(h[..., :3] if h.shape[-1] != 3 else h)
        return self.head(h)


BLOCK_PARAMS = ["scale", "inner.weight", "inner.bias", "norm.weight", "norm.bias"]
NET_PARAMS = (["embed.weight"] + [f"blocks.{i}.{n}" for i in (0, 1) for n in BLOCK_PARAMS]
              + ["head.0.weight", "head.0.bias", "head.2.weight"])


# ----------------------------------------------------------------------------- Module

def test_named_parameters_have_dotted_names_in_registration_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == NET_PARAMS
    assert len(list(net.parameters())) == len(NET_PARAMS)
    # torch's order: each module's parameters, then its buffers, then its children's
    assert list(net.state_dict()) == (NET_PARAMS[:2] + ["blocks.0.steps"] + NET_PARAMS[2:6]
                                      + NET_PARAMS[6:7] + ["blocks.1.steps"] + NET_PARAMS[7:])
    assert "blocks.0.cache" not in net.state_dict()          # not persistent


def test_state_dict_lists_own_parameters_and_buffers_before_children():
    assert list(Block().state_dict()) == ["scale", "steps"] + BLOCK_PARAMS[1:]


def test_a_shared_parameter_is_trained_once_and_saved_under_both_names():
    net = nn.Module()
    net.a = nn.Linear(2, 2)
    net.b = net.a
    assert [n for n, _ in net.named_parameters()] == ["a.weight", "a.bias"]
    assert list(net.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]   # as torch
    net.load_state_dict(net.state_dict())


def test_register_parameter_none_leaves_it_out():
    lin = nn.Linear(3, 2, bias=False)
    assert lin.bias is None
    assert list(lin.state_dict()) == ["weight"]
    lin.bias = nn.Parameter(np.zeros(2, dtype=np.float32))
    assert list(lin.state_dict()) == ["weight", "bias"]


def test_plain_attributes_are_not_registered():
    m = nn.Module()
    m.size = 3
    m.t = mg.tensor([1.0])
    assert list(m.state_dict()) == []


def test_module_needs_super_init():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match=r"Bad.__init__ must call super\(\).__init__\(\)"):
        Bad()


def test_train_and_eval_reach_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_dropout_layer_follows_the_mode():
    drop = nn.Dropout(0.5)
    x = mg.ones(1000)
    assert (drop(x).numpy(force=True) == 0).any()
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\], got -0.1"):
        nn.Dropout(-0.1)


def test_zero_grad_clears_every_parameter():
    net = Net()
    net(mg.tensor([[1, 2, 0]])).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_dtype_casts_in_place_and_keeps_the_parameter_objects():
    net = Net()
    params = list(net.parameters())
    assert net.double() is net
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert net.blocks[0].steps.dtype == np.int64               # integer buffers stay integers
    out = net(mg.tensor([[1, 2]]))
    assert out.dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())


@pytest.mark.gpu
@pytest.mark.strict
def test_module_to_cuda_moves_parameters_and_buffers():
    net = Net().to(GPU)
    assert all(p.device == GPU for p in net.parameters())
    assert net.blocks[0].steps.device == GPU
    out = net(mg.tensor([[1, 2]], device=GPU))
    out.sum().backward()
    assert all(p.grad is not None and mg.backend.device_of(p.grad) == GPU
               for p in net.parameters())
    net.cpu()
    assert all(p.device == "cpu" for p in net.parameters())


def test_load_state_dict_round_trips_and_copies():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.numpy(force=True), q.numpy(force=True), err_msg=n)
    a.head[0].weight.array[...] = 7                         # b holds copies, not views
    assert not (b.head[0].weight.numpy(force=True) == 7).any()
    b.load_state_dict({k: v.numpy(force=True) for k, v in a.state_dict().items()})   # NumPy arrays too
    np.testing.assert_array_equal(b.head[0].weight.numpy(force=True), 7)


def test_load_state_dict_lists_every_bad_key_and_loads_nothing():
    net, before = Net(), Net()
    before.load_state_dict(net.state_dict())
    sd = {k: v.numpy(force=True) for k, v in Net().state_dict().items()}
    del sd["embed.weight"], sd["blocks.1.norm.bias"]
    sd["head.1.weight"] = np.zeros(3)
    sd["extra"] = np.zeros(1)
    sd["head.0.weight"] = np.zeros((5, 4))
    sd["blocks.0.inner.bias"] = np.zeros(3)
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    assert msg.startswith("Net.load_state_dict: the state_dict does not match")
    assert "missing keys: embed.weight, blocks.1.norm.bias" in msg
    assert "unexpected keys: head.1.weight, extra" in msg
    assert "head.0.weight: checkpoint (5, 4), model (4, 4)" in msg
    assert "blocks.0.inner.bias: checkpoint (3,), model (4,)" in msg
    for (n, p), (_, q) in zip(net.named_parameters(), before.named_parameters()):
        np.testing.assert_array_equal(p.numpy(force=True), q.numpy(force=True), err_msg=n)     # nothing loaded


def test_load_state_dict_not_strict_loads_what_fits():
    net = nn.Linear(3, 2)
    missing, unexpected = net.load_state_dict({"weight": np.ones((2, 3)), "other": 1},
                                              strict=False)
    assert missing == ["bias"] and unexpected == ["other"]
    np.testing.assert_array_equal(net.weight.numpy(force=True), 1)
    assert net.weight.dtype == np.float32


def test_repr_shows_the_tree():
    text = repr(Net())
    assert "(embed): Embedding(10, 3, padding_idx=0)" in text
    assert "(0): Linear(in_features=4, out_features=4, bias=True)" in text
    assert "LayerNorm((4,), eps=1e-05)" in text


# ----------------------------------------------------------------------------- layers

def test_linear_initialisation_matches_torchs_default():
    mg.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (lin.weight, lin.bias):
        v = p.numpy(force=True)
        assert v.min() >= -bound and v.max() <= bound
    w = lin.weight.numpy(force=True)
    assert lin.weight.shape == (300, 400) and lin.bias.shape == (300,)
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)     # U(-b, b)
    assert abs(w.mean()) < 0.01 * bound


def test_linear_layer_computes_x_wt_plus_b_and_checks_its_input():
    lin = nn.Linear(3, 2)
    x = mg.tensor(values((4, 5, 3), 1), dtype=mg.float32)
    np.testing.assert_allclose(lin(x).numpy(force=True),
                               x.numpy(force=True) @ lin.weight.numpy(force=True).T + lin.bias.numpy(force=True), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"Linear\(in_features=3, out_features=2, bias=True\): "
                                         r"expected input of shape \(\.\.\., 3\), got \(4, 2\)"):
        lin(mg.zeros(4, 2))


def test_embedding_initialisation_and_padding_row():
    mg.manual_seed(0)
    emb = nn.Embedding(1000, 64, padding_idx=-1)
    assert emb.padding_idx == 999
    w = emb.weight.numpy(force=True)
    np.testing.assert_array_equal(w[999], 0)
    np.testing.assert_allclose(w[:999].std(), 1.0, rtol=0.02)                # N(0, 1)
    assert abs(w[:999].mean()) < 0.02
    with pytest.raises(ValueError, match="Embedding: padding_idx 5 is out of range for 5 "
                                         "embeddings"):
        nn.Embedding(5, 2, padding_idx=5)


def test_embedding_padding_row_gets_no_gradient():
    emb = nn.Embedding(5, 3, padding_idx=1)
    idx = mg.tensor([[1, 2, 1], [4, 1, 2]])
    (emb(idx) * mg.tensor(values((2, 3, 3), 0), dtype=mg.float32)).sum().backward()
    np.testing.assert_array_equal(grad_of(emb.weight)[1], 0)
    np.testing.assert_array_equal(grad_of(emb.weight)[[0, 3]], 0)            # never picked
    assert (grad_of(emb.weight)[[2, 4]] != 0).all()


def test_layer_norm_initialisation_matches_torch():
    ln = nn.LayerNorm((2, 3))
    np.testing.assert_array_equal(ln.weight.numpy(force=True), np.ones((2, 3)))
    np.testing.assert_array_equal(ln.bias.numpy(force=True), np.zeros((2, 3)))
    assert list(ln.state_dict()) == ["weight", "bias"]
    assert list(nn.LayerNorm(3, elementwise_affine=False).state_dict()) == []
    assert list(nn.LayerNorm(3, bias=False).state_dict()) == ["weight"]


@given(shapes(min_dims=1, max_dims=2), st.integers(1, 5), seeds)
def test_layer_norm_layer_matches_numpy(lead, D, seed):
    ln = nn.LayerNorm(D, eps=1e-5)
    ln.weight.array = on_device(values(D, seed + 1).astype(np.float32))
    ln.bias.array = on_device(values(D, seed + 2).astype(np.float32))
    x = values(lead + (D,), seed).astype(np.float32)
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    expected = (x - mu) / np.sqrt(var + 1e-5) * ln.weight.numpy(force=True) + ln.bias.numpy(force=True)
    np.testing.assert_allclose(ln(mg.tensor(x)).numpy(force=True), expected, rtol=1e-4, atol=1e-5)


def test_layer_norm_normalises_and_checks_its_input():
    ln = nn.LayerNorm(8)
    y = ln(mg.tensor(values((4, 8), 3) * 10 + 5, dtype=mg.float32)).numpy(force=True)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=-1), 1, rtol=1e-3)
    with pytest.raises(ValueError, match=r"LayerNorm\(\(8,\), eps=1e-05\): expected input of "
                                         r"shape \(\.\.\., 8\), got \(4, 7\)"):
        ln(mg.zeros(4, 7))


def test_layers_gradcheck_in_float64():
    mg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.LayerNorm(4), nn.Sigmoid(), nn.Linear(4, 2))
    net.double()
    x = mg.tensor(values((2, 3), 0), dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda x: net(x), [x])
    params = list(net.parameters())
    assert mg.gradcheck(lambda *ps: net(x), params)


# ----------------------------------------------------------------------------- clipping

def _params_with_grads(seed, scale):
    ps = [nn.Parameter(np.zeros(s, dtype=np.float32)) for s in [(3, 4), (4,), (2, 2)]]
    for i, p in enumerate(ps):
        p.grad = on_device((values(p.shape, seed + i) * scale).astype(np.float32))
    return ps


def _total_norm(ps, norm_type=2.0):
    flat = np.concatenate([grad_of(p).reshape(-1) for p in ps]).astype(np.float64)
    if math.isinf(norm_type):
        return np.abs(flat).max()
    return (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)


@given(seeds, st.sampled_from([1e-3, 0.3, 10.0]), st.sampled_from([0.5, 1.0, 5.0]),
       st.sampled_from([1.0, 2.0, math.inf]))
def test_clip_grad_norm_bounds_the_norm_and_keeps_the_direction(seed, scale, max_norm, p):
    ps = _params_with_grads(seed, scale)
    before = [grad_of(q).copy() for q in ps]
    norm = _total_norm(ps, p)
    returned = nn.utils.clip_grad_norm_(ps, max_norm, norm_type=p)
    assert isinstance(returned, float)
    np.testing.assert_allclose(returned, norm, rtol=1e-5, atol=1e-5)        # the norm before clipping
    after = _total_norm(ps, p)
    assert after <= max_norm * (1 + 1e-5)
    if norm <= max_norm:
        for q, g in zip(ps, before):
            np.testing.assert_array_equal(grad_of(q), g)            # untouched below the bound
    else:
        np.testing.assert_allclose(after, max_norm, rtol=1e-4, atol=1e-4)
        coef = max_norm / (norm + 1e-6)                          # formula (6): theta / ||g|| * g
        for q, g in zip(ps, before):
            np.testing.assert_allclose(grad_of(q), g * coef, rtol=1e-5, atol=1e-5)


def test_clip_grad_norm_skips_parameters_without_gradients():
    ps = _params_with_grads(0, 1.0)
    ps.append(nn.Parameter(np.zeros(3, dtype=np.float32)))
    assert nn.utils.clip_grad_norm_(ps, 1.0) > 0
    assert ps[-1].grad is None
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0) == 0.0
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total gradient norm is nan"):
        bad = _params_with_grads(0, 1.0)
        bad[0].grad[0, 0] = np.nan
        nn.utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)


def test_clip_grad_norm_defaults_and_edges():
    # the default is the 2-norm, and a non-finite norm does not raise unless asked to
    ps = _params_with_grads(2, 1.0)
    assert nn.utils.clip_grad_norm_(ps, 1e9) == pytest.approx(_total_norm(ps, 2.0), rel=1e-5)
    bad = _params_with_grads(0, 1.0)
    bad[0].grad[0, 0] = np.nan
    assert math.isnan(nn.utils.clip_grad_norm_(bad, 1.0))
    # the inf-norm of a set holding an empty gradient is the largest element elsewhere
    small = nn.Parameter(np.zeros(2, dtype=np.float32))
    small.grad = on_device(np.array([0.25, -0.5], dtype=np.float32))
    empty = nn.Parameter(np.zeros(0, dtype=np.float32))
    empty.grad = on_device(np.zeros(0, dtype=np.float32))
    assert nn.utils.clip_grad_norm_([empty, small], 1.0, norm_type=math.inf) == 0.5
    # a norm exactly at the threshold is left alone (min(theta / ||g||, 1) = 1)
    at = nn.Parameter(np.zeros(2, dtype=np.float32))
    at.grad = on_device(np.array([3.0, 4.0], dtype=np.float32))
    assert nn.utils.clip_grad_norm_([at], 5.0) == 5.0
    np.testing.assert_allclose(grad_of(at), [3.0, 4.0], rtol=1e-6, atol=1e-6)
    # torch's factor, theta / (||g|| + 1e-6), exactly: on a small float64 norm the 1e-6 shows
    tiny = nn.Parameter(np.zeros(2))
    tiny.grad = on_device(np.array([3e-4, 4e-4]))
    nn.utils.clip_grad_norm_([tiny], 1e-4)
    np.testing.assert_allclose(grad_of(tiny), np.array([3e-4, 4e-4]) * 1e-4 / (5e-4 + 1e-6),
                               rtol=1e-12, atol=1e-12)


def test_clip_grad_value_clamps_every_element():
    ps = _params_with_grads(1, 3.0)
    before = [grad_of(q).copy() for q in ps]
    nn.utils.clip_grad_value_(ps, 0.5)
    for q, g in zip(ps, before):
        np.testing.assert_array_equal(grad_of(q), np.clip(g, -0.5, 0.5))
    single = nn.Parameter(np.zeros(2, dtype=np.float32))
    single.grad = on_device(np.array([-2.0, 0.1], dtype=np.float32))
    nn.utils.clip_grad_value_(single, 1)
    np.testing.assert_array_equal(grad_of(single), np.array([-1.0, 0.1], dtype=np.float32))


def test_clipping_does_not_modify_a_gradient_array_shared_by_two_tensors():
    a, b = mg.tensor([3.0, 4.0], requires_grad=True), mg.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()              # Add hands the same gradient array to both
    nn.utils.clip_grad_norm_([a], 0.1)
    np.testing.assert_array_equal(grad_of(b), [1.0, 1.0])


def test_cross_entropy_training_with_the_layers_learns():
    mg.manual_seed(0)
    x = mg.randn(64, 4)
    y = (x.numpy(force=True)[:, 0] > 0).astype(np.int64)
    net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = mg.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.15


def test_module_to_casts_gradients_with_the_parameters():
    layer = nn.Linear(3, 2)
    layer(mg.randn(4, 3)).sum().backward()
    before = layer.weight.grad.numpy(force=True)
    same = layer.weight
    layer.to(dtype=mg.float64)
    assert layer.weight is same                      # an optimizer keeps the same Parameter
    assert layer.weight.dtype == mg.float64 and layer.weight.grad.dtype == mg.float64
    np.testing.assert_allclose(mg.backend.to_numpy(layer.weight.grad), mg.backend.to_numpy(before))


def test_a_module_held_twice_is_walked_once():
    """named_modules yields a shared sub-module once, where it is first met (torch's rule), so
    modules(), apply() counts and named_parameters agree with torch's."""
    shared = nn.Linear(2, 2)

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = shared, nn.Sequential(shared, nn.Tanh())

    names = [name for name, _ in Two().named_modules()]
    assert names == ["", "a", "b", "b.1"]
    assert len(list(Two().modules())) == 4
