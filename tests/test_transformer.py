"""Transformer layers and positional encoding: torch's parameter names, values against a NumPy
re-implementation of torch's formulas given the same weights, gradient checks, causality and
padding, and the sinusoidal table."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from tests.test_attention import np_mha, randomize, t64
from tests.helpers import leaf, values

F64 = mg.float64

ENCODER_KEYS = ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
DECODER_KEYS = ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                "self_attn.out_proj.bias", "multihead_attn.in_proj_weight",
                "multihead_attn.in_proj_bias", "multihead_attn.out_proj.weight",
                "multihead_attn.out_proj.bias", "linear1.weight", "linear1.bias",
                "linear2.weight", "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight",
                "norm2.bias", "norm3.weight", "norm3.bias"]
ENCODER_KEYS_NO_BIAS = ["self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight",
                        "linear2.weight", "norm1.weight", "norm2.weight"]


def test_state_dict_keys_and_shapes_match_torch():
    enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    sd = enc.state_dict()
    assert list(sd) == ENCODER_KEYS
    assert sd["linear1.weight"].shape == (16, 8) and sd["linear2.weight"].shape == (8, 16)
    assert list(nn.TransformerDecoderLayer(8, 2, 16).state_dict()) == DECODER_KEYS
    assert list(nn.TransformerEncoderLayer(8, 2, 16, bias=False).state_dict()) == ENCODER_KEYS_NO_BIAS
    stack = nn.TransformerEncoder(enc, num_layers=2, norm=nn.LayerNorm(8))
    assert list(stack.state_dict()) == ([f"layers.0.{k}" for k in ENCODER_KEYS]
                                        + [f"layers.1.{k}" for k in ENCODER_KEYS]
                                        + ["norm.weight", "norm.bias"])
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), num_layers=2)
    assert list(dec.state_dict())[-1] == "layers.1.norm3.bias"
    assert enc.dropout.p == 0.1 and enc.norm1.eps == 1e-5      # torch's defaults


# ----------------------------------------------------------------------------- NumPy reference

def np_layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def sub(p, prefix):
    return {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}


def np_feed_forward(x, p):
    return np.maximum(x @ p["linear1.weight"].T + p["linear1.bias"], 0) @ p["linear2.weight"].T \
        + p["linear2.bias"]


def np_encoder_layer(x, p, H, norm_first, src_mask=None, padding=None):
    """torch's TransformerEncoderLayer.forward (eval), sequence first: x (T, N, D)."""
    def sa(y):
        return np_mha(y, y, y, sub(p, "self_attn."), H, src_mask, padding)[0]

    def ln(y, i):
        return np_layer_norm(y, p[f"norm{i}.weight"], p[f"norm{i}.bias"])
    if norm_first:
        x = x + sa(ln(x, 1))
        return x + np_feed_forward(ln(x, 2), p)
    x = ln(x + sa(x), 1)
    return ln(x + np_feed_forward(x, p), 2)


def np_decoder_layer(x, mem, p, H, norm_first, tgt_mask=None, tgt_padding=None,
                     mem_padding=None):
    def sa(y):
        return np_mha(y, y, y, sub(p, "self_attn."), H, tgt_mask, tgt_padding)[0]

    def ca(y):
        return np_mha(y, mem, mem, sub(p, "multihead_attn."), H, None, mem_padding)[0]

    def ln(y, i):
        return np_layer_norm(y, p[f"norm{i}.weight"], p[f"norm{i}.bias"])
    if norm_first:
        x = x + sa(ln(x, 1))
        x = x + ca(ln(x, 2))
        return x + np_feed_forward(ln(x, 3), p)
    x = ln(x + sa(x), 1)
    x = ln(x + ca(x), 2)
    return ln(x + np_feed_forward(x, p), 3)


def fed(x, batch_first):
    """A sequence-first NumPy array as the layer's input tensor."""
    return t64(x.transpose(1, 0, 2) if batch_first else x)


def back(out, batch_first):
    out = out.numpy(force=True)
    return out.transpose(1, 0, 2) if batch_first else out


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_equals_numpy_reimplementation_of_torch(norm_first, batch_first):
    T, N, D, H = 4, 2, 6, 2
    layer = nn.TransformerEncoderLayer(D, H, 10, batch_first=batch_first,
                                       norm_first=norm_first).double().eval()
    p = randomize(layer, 0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(T, N, D))
    padding = np.array([[False, False, False, True], [False, True, False, False]])
    causal = nn.generate_square_subsequent_mask(T, dtype=F64)
    cases = [({}, {}), ({"src_key_padding_mask": padding}, {"padding": padding}),
             ({"src_mask": causal}, {"src_mask": causal.numpy(force=True)}),
             ({"is_causal": True}, {"src_mask": causal.numpy(force=True)})]
    for kw, ref_kw in cases:
        out = layer(fed(x, batch_first), **kw)
        ref = np_encoder_layer(x, p, H, norm_first, **ref_kw)
        np.testing.assert_allclose(back(out, batch_first), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer_equals_numpy_reimplementation_of_torch(norm_first, batch_first):
    T, S, N, D, H = 3, 5, 2, 4, 2
    layer = nn.TransformerDecoderLayer(D, H, 8, batch_first=batch_first,
                                       norm_first=norm_first).double().eval()
    p = randomize(layer, 2)
    rng = np.random.default_rng(3)
    tgt, mem = rng.normal(size=(T, N, D)), rng.normal(size=(S, N, D))
    tgt_padding = np.array([[False, False, True], [False, False, False]])
    mem_padding = np.array([[False, True, False, False, True], [False, False, False, False, False]])
    causal = nn.generate_square_subsequent_mask(T, dtype=F64)
    out = layer(fed(tgt, batch_first), fed(mem, batch_first), tgt_mask=causal,
                tgt_key_padding_mask=tgt_padding, memory_key_padding_mask=mem_padding)
    ref = np_decoder_layer(tgt, mem, p, H, norm_first, causal.numpy(force=True), tgt_padding, mem_padding)
    np.testing.assert_allclose(back(out, batch_first), ref, rtol=1e-10, atol=1e-12)
    out2 = layer(fed(tgt, batch_first), fed(mem, batch_first), tgt_is_causal=True,
                 tgt_key_padding_mask=tgt_padding, memory_key_padding_mask=mem_padding)
    np.testing.assert_allclose(back(out2, batch_first), ref, rtol=1e-10, atol=1e-12)


def test_stacks_apply_independent_copies_in_order():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0).double()
    stack = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(4).double())
    randomize(stack, 5)
    a, b = stack.layers
    assert a.linear1.weight is not b.linear1.weight
    x = mg.randn(3, 2, 4, dtype=F64)
    np.testing.assert_allclose(stack(x, is_causal=True).numpy(force=True),
                               stack.norm(b(a(x, is_causal=True), is_causal=True)).numpy(force=True),
                               rtol=1e-12, atol=1e-12)
    dlayer = nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0).double()
    dstack = nn.TransformerDecoder(dlayer, num_layers=2)
    randomize(dstack, 6)
    mem = mg.randn(5, 2, 4, dtype=F64)
    d0, d1 = dstack.layers
    np.testing.assert_allclose(dstack(x, mem, tgt_is_causal=True).numpy(force=True),
                               d1(d0(x, mem, tgt_is_causal=True), mem, tgt_is_causal=True).numpy(force=True),
                               rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_gradcheck(norm_first):
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=norm_first).double()
    randomize(layer, 7)
    x = leaf(values((3, 2, 4), 1))
    padding = np.array([[False, False, True], [False, False, False]])
    assert mg.gradcheck(lambda x, *ps: layer(x, src_key_padding_mask=padding, is_causal=True),
                        [x] + list(layer.parameters()))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_gradcheck(norm_first):
    layer = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, norm_first=norm_first,
                                       batch_first=True).double()
    randomize(layer, 8)
    tgt, mem = leaf(values((2, 3, 4), 2)), leaf(values((2, 2, 4), 3))
    mem_padding = np.array([[False, True], [False, False]])
    assert mg.gradcheck(lambda t, m, *ps: layer(t, m, tgt_is_causal=True,
                                                memory_key_padding_mask=mem_padding),
                        [tgt, mem] + list(layer.parameters()))


# ----------------------------------------------------------------------------- masks at work

def test_causal_encoder_output_never_depends_on_the_future():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True).double()
    x = np.random.default_rng(0).normal(size=(2, 5, 4))
    changed = x.copy()
    changed[:, 3:] += 10.0                                   # rewrite positions 3 and 4
    out = layer(t64(x), is_causal=True).numpy(force=True)
    out2 = layer(t64(changed), is_causal=True).numpy(force=True)
    np.testing.assert_allclose(out[:, :3], out2[:, :3], rtol=1e-12, atol=1e-12)
    assert not np.allclose(out[:, 3:], out2[:, 3:])


def test_padded_source_positions_do_not_change_the_others():
    layer = nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0).double()
    tgt = mg.randn(3, 2, 4, dtype=F64)
    mem = np.random.default_rng(1).normal(size=(5, 2, 4))
    padding = np.zeros((2, 5), dtype=bool)
    padding[0, 3:] = True                                    # sentence 0 has 3 real tokens
    changed = mem.copy()
    changed[3:, 0] = 99.0                                    # garbage in its padding
    out = layer(tgt, t64(mem), memory_key_padding_mask=padding).numpy(force=True)
    out2 = layer(tgt, t64(changed), memory_key_padding_mask=padding).numpy(force=True)
    np.testing.assert_allclose(out, out2, rtol=1e-12, atol=1e-12)


def test_dropout_is_active_only_in_training():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.5)
    x = mg.randn(3, 2, 4)
    assert not np.allclose(layer(x).numpy(force=True), layer(x).numpy(force=True))
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(force=True), layer(x).numpy(force=True))


def test_activation_callable_and_errors():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, activation=lambda h: h.tanh()).double()
    p = randomize(layer, 9)
    x = np.random.default_rng(2).normal(size=(3, 1, 4))
    sa = np_mha(x, x, x, sub(p, "self_attn."), 2)[0]
    y = np_layer_norm(x + sa, p["norm1.weight"], p["norm1.bias"])
    h = np.tanh(y @ p["linear1.weight"].T + p["linear1.bias"]) @ p["linear2.weight"].T
    ref = np_layer_norm(y + h + p["linear2.bias"], p["norm2.weight"], p["norm2.bias"])
    np.testing.assert_allclose(layer(t64(x)).numpy(force=True), ref, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="activation must be 'relu', 'gelu' or a callable, got 'swish'"):
        nn.TransformerEncoderLayer(4, 2, activation="swish")
    with pytest.raises(ValueError, match="embed_dim \\(4\\) must be a positive multiple of num_heads \\(3\\)"):
        nn.TransformerDecoderLayer(4, 3)


def test_generate_square_subsequent_mask():
    m = nn.generate_square_subsequent_mask(3).numpy(force=True)
    np.testing.assert_array_equal(m, [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert m.dtype == np.float32


# ----------------------------------------------------------------------------- positional encoding

@pytest.mark.parametrize("d_model", [1, 4, 5])
def test_sinusoidal_table_is_the_formula(d_model):
    pe = nn.sinusoidal_positional_encoding(7, d_model, dtype=F64).numpy(force=True)
    assert pe.shape == (7, d_model)
    for pos in range(7):
        for j in range(d_model):
            angle = pos / 10000 ** ((j - j % 2) / d_model)
            want = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert pe[pos, j] == pytest.approx(want, abs=1e-12)


def test_positions_are_a_rotation_of_each_other():
    """PE[pos + k] is a fixed linear map of PE[pos]: each (sin, cos) pair turns by k * rate."""
    d, k = 8, 3
    pe = nn.sinusoidal_positional_encoding(20, d, dtype=F64).numpy(force=True)
    rates = 10000.0 ** (-np.arange(0, d, 2) / d)
    for pos in (0, 5, 11):
        s, c = pe[pos, 0::2], pe[pos, 1::2]
        a = k * rates
        np.testing.assert_allclose(pe[pos + k, 0::2], s * np.cos(a) + c * np.sin(a), atol=1e-12)
        np.testing.assert_allclose(pe[pos + k, 1::2], c * np.cos(a) - s * np.sin(a), atol=1e-12)


def test_positional_encoding_module_adds_the_buffer():
    enc = nn.PositionalEncoding(6, dropout=0.0, max_len=10)
    assert list(enc.parameters()) == [] and list(enc.state_dict()) == []
    assert [name for name, _, _ in enc.named_buffers()] == ["pe"]
    table = nn.sinusoidal_positional_encoding(10, 6).numpy(force=True)
    x = mg.randn(4, 2, 6)
    np.testing.assert_allclose(enc(x).numpy(force=True), x.numpy(force=True) + table[:4, None, :], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(enc(x, offset=3).numpy(force=True), x.numpy(force=True) + table[3:7, None, :], rtol=1e-6, atol=1e-6)
    first = nn.PositionalEncoding(6, dropout=0.0, max_len=10, batch_first=True)
    xb = mg.randn(2, 4, 6)
    np.testing.assert_allclose(first(xb).numpy(force=True), xb.numpy(force=True) + table[None, :4], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(enc(x[:, 0]).numpy(force=True), x.numpy(force=True)[:, 0] + table[:4], rtol=1e-6, atol=1e-6)
    enc.double()
    assert enc.pe.dtype == np.float64
    xg = leaf(values((3, 1, 6), 0))
    assert mg.gradcheck(lambda x: enc(x), [xg])
    with pytest.raises(ValueError, match=r"positions 8\.\.11 do not fit max_len=10"):
        enc(x, offset=8)
    with pytest.raises(ValueError, match=r"expected \(T, N, 6\)"):
        enc(mg.randn(4, 2, 5))
