"""Attention: F.masked_softmax, F.scaled_dot_product_attention, nn.Attention and
nn.MultiheadAttention.

Values are checked against NumPy re-implementations of the formulas (torch's, for
MultiheadAttention, written here from its documented algorithm: torch is not a test
dependency), gradients against finite differences in float64, and masks for exact zeros."""
import math

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from tests.helpers import leaf, seeds, values

F64 = mg.float64


def t64(a):
    return mg.tensor(np.asarray(a, dtype=np.float64), dtype=F64)


def np_softmax(x, allowed=None):
    """Reference softmax; ``allowed`` False positions get exactly 0 (a row of none: zeros)."""
    if allowed is None:
        allowed = np.ones(x.shape, dtype=bool)
    if x.size == 0:
        return np.zeros(x.shape)
    x = np.where(allowed, x, -np.inf)
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(m), m, 0))
    s = e.sum(axis=-1, keepdims=True)
    return e / np.where(s > 0, s, 1)


def randomize(module, seed, scale=0.5):
    """Every parameter to fresh N(0, scale^2) values (so that zero-initialised biases are
    tested too); returns the state as NumPy arrays."""
    rng = np.random.default_rng(seed)
    sd = {k: rng.normal(0, scale, v.shape) for k, v in module.state_dict().items()}
    module.load_state_dict(sd)
    return {k: v.numpy(force=True) for k, v in module.state_dict().items()}


# ----------------------------------------------------------------------------- masked softmax

@given(st.integers(0, 3), st.integers(0, 4), seeds)
def test_masked_softmax_gradcheck_and_exact_zeros(rows, cols, seed):
    rng = np.random.default_rng(seed)
    x = leaf(values((rows, cols), seed, -3, 3))
    mask = rng.random((rows, cols)) < 0.6
    y = F.masked_softmax(x, mask)
    yn = y.numpy(force=True)
    assert np.all(yn[~mask] == 0.0)
    live = mask.any(axis=-1)
    np.testing.assert_allclose(yn.sum(axis=-1)[live], 1.0)
    assert np.all(yn[~live] == 0.0)                       # a fully masked row: zeros, not NaN
    np.testing.assert_allclose(yn, np_softmax(x.numpy(force=True), mask), atol=1e-15)
    assert mg.gradcheck(lambda x: F.masked_softmax(x, mask), [x])


def test_masked_softmax_no_nan_for_huge_scores_or_empty_rows():
    x = mg.tensor(np.array([[1e4, -1e4, 3e4], [5.0, 6.0, 7.0]]), requires_grad=True)
    mask = np.array([[True, True, False], [False, False, False]])
    with mg.detect_anomaly():
        y = F.masked_softmax(x, mask)
        (y * mg.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    np.testing.assert_array_equal(y.numpy(force=True), [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    g = mg.backend.to_numpy(x.grad)
    assert np.all(np.isfinite(g)) and np.all(g[:, 2] == 0) and np.all(g[1] == 0)


def test_masked_softmax_broadcast_mask_and_errors():
    x = mg.randn(2, 3, 4)
    mask = np.array([True, False, True, True])
    y = F.masked_softmax(x, mask).numpy(force=True)
    assert np.all(y[..., 1] == 0)
    with pytest.raises(TypeError, match="masked_softmax: mask must be bool"):
        F.masked_softmax(x, np.ones(4))
    with pytest.raises(ValueError, match=r"masked_softmax: mask of shape \(5,\) does not broadcast"):
        F.masked_softmax(x, np.ones(5, dtype=bool))


# ----------------------------------------------------------------------------- sdpa

def np_sdpa(q, k, v, allowed=None, bias=None, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if bias is not None:
        s = s + bias
    w = np_softmax(s, None if allowed is None else np.broadcast_to(allowed, s.shape))
    return w @ v, w


def test_sdpa_scales_by_one_over_sqrt_dk():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 3, 16)), rng.normal(size=(2, 5, 16)), rng.normal(size=(2, 5, 4))
    out, w = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), return_weights=True)
    scores = q @ k.transpose(0, 2, 1) / 4.0                       # sqrt(16) = 4
    np.testing.assert_allclose(w.numpy(force=True), np_softmax(scores), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.numpy(force=True), np_softmax(scores) @ v, rtol=1e-12, atol=1e-12)
    out2 = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), scale=0.25)
    np.testing.assert_allclose(out2.numpy(force=True), out.numpy(force=True), rtol=1e-12, atol=1e-12)
    out3 = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), scale=1.0)
    assert not np.allclose(out3.numpy(force=True), out.numpy(force=True))


def test_sdpa_masks_bool_float_and_causal():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(2, 2, 4, 3)), rng.normal(size=(2, 2, 4, 3)), rng.normal(size=(2, 2, 4, 5))
    allowed = rng.random((4, 4)) < 0.6
    allowed[:, 0] = True
    out, w = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=allowed,
                                            return_weights=True)
    ref_out, ref_w = np_sdpa(q, k, v, allowed)
    np.testing.assert_allclose(out.numpy(force=True), ref_out, rtol=1e-12, atol=1e-12)
    assert np.all(w.numpy(force=True)[..., ~allowed] == 0.0)
    # float mask: added to the scores; -inf forbids
    fm = rng.normal(size=(2, 1, 4, 4))
    fm[..., 2] = -np.inf
    out, w = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=t64(fm),
                                            return_weights=True)
    ref_out, _ = np_sdpa(q, k, v, np.isfinite(fm), np.where(np.isfinite(fm), fm, 0))
    np.testing.assert_allclose(out.numpy(force=True), ref_out, rtol=1e-12, atol=1e-12)
    assert np.all(w.numpy(force=True)[..., 2] == 0.0)
    # causal: the lower triangle, and combined with a bool mask
    out, w = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), is_causal=True,
                                            return_weights=True)
    tril = np.tril(np.ones((4, 4), dtype=bool))
    np.testing.assert_allclose(out.numpy(force=True), np_sdpa(q, k, v, tril)[0], rtol=1e-12, atol=1e-12)
    assert np.all(w.numpy(force=True)[..., ~tril] == 0.0)
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=allowed, is_causal=True)
    np.testing.assert_allclose(out.numpy(force=True), np_sdpa(q, k, v, allowed & tril)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("wide", ["q", "k", "v"])
def test_sdpa_batch_axes_broadcast_from_any_of_q_k_v(wide):
    """The mask is checked against the batch shape of all three: each of q, k, v in turn has
    a batch axis the other two broadcast along, and a mask of the full scores' shape fits."""
    rng = np.random.default_rng(2)
    shapes = {"q": (3, 4, 5), "k": (3, 6, 5), "v": (3, 6, 2)}
    shapes[wide] = (2,) + shapes[wide]
    q, k, v = (rng.normal(size=shapes[n]) for n in "qkv")
    allowed = rng.random((2, 3, 4, 6)) < 0.7
    allowed[..., 0] = True
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=allowed)
    assert out.shape == (2, 3, 4, 2)
    full = [np.broadcast_to(a, (2,) + a.shape[-3:]) for a in (q, k, v)]
    np.testing.assert_allclose(out.numpy(force=True), np_sdpa(*full, allowed)[0], rtol=1e-12, atol=1e-12)


def test_sdpa_query_that_sees_nothing_gets_zero_output():
    q, k, v = mg.randn(1, 2, 3), mg.randn(1, 4, 3), mg.randn(1, 4, 3)
    mask = np.ones((2, 4), dtype=bool)
    mask[1] = False
    out, w = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, return_weights=True)
    assert np.all(out.numpy(force=True)[0, 1] == 0) and np.all(w.numpy(force=True)[0, 1] == 0)
    assert np.all(np.isfinite(out.numpy(force=True)))


@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from(["none", "bool", "float", "causal"]),
       seeds)
def test_sdpa_gradcheck(L, S, mask_kind, seed):
    rng = np.random.default_rng(seed)
    q, k, v = (leaf(values(s, seed + i)) for i, s in enumerate([(2, L, 3), (2, S, 3), (2, S, 2)]))
    inputs = [q, k, v]
    kw = {}
    if mask_kind == "bool":
        kw["attn_mask"] = rng.random((L, S)) < 0.7
    elif mask_kind == "causal":
        kw["is_causal"] = True
    elif mask_kind == "float":
        fm = rng.normal(size=(2, L, S))
        fm[rng.random((2, L, S)) < 0.3] = -np.inf
        inputs.append(leaf(fm))                                   # a float mask is differentiable

    def fn(q, k, v, *mask):
        extra = {"attn_mask": mask[0]} if mask else kw
        return F.scaled_dot_product_attention(q, k, v, return_weights=True, **extra)
    assert mg.gradcheck(fn, inputs)


def test_sdpa_dropout_on_weights():
    q, k, v = mg.randn(2, 3, 4), mg.randn(2, 5, 4), mg.randn(2, 5, 4)
    _, w = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    _, w0 = F.scaled_dot_product_attention(q, k, v, return_weights=True)
    wn, w0n = w.numpy(force=True), w0.numpy(force=True)
    kept = wn != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(wn[kept], 2 * w0n[kept], rtol=1e-6, atol=1e-6)   # inverted dropout
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    assert np.all(out.numpy(force=True) == 0)


def test_sdpa_errors():
    q, k, v = mg.randn(2, 3, 4), mg.randn(2, 5, 4), mg.randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: expected q \(\.\.\., L, E\)"):
        F.scaled_dot_product_attention(q, mg.randn(2, 5, 3), v)
    with pytest.raises(ValueError, match="scaled_dot_product_attention: q, k and v need shape"):
        F.scaled_dot_product_attention(mg.randn(4), k, v)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(3, 4\) does not broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 4), dtype=bool))
    with pytest.raises(TypeError, match="attn_mask must be a bool or float mask"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="dropout_p must be in"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)


# ----------------------------------------------------------------------------- nn.Attention

def np_scores(att, q, keys, p):
    """The notes' score(h_t, h_s) in NumPy: q (N, Dq), keys (N, S, Dk) -> (N, S)."""
    if att.score == "dot":
        return np.einsum("nd,nsd->ns", q, keys)
    if att.score == "general":
        return np.einsum("nd,de,nse->ns", q, p["W"], keys)
    hidden = np.tanh((q @ p["W1"].T)[:, None, :] + keys @ p["W2"].T)     # (N, S, A)
    return hidden @ p["v"]


def make_attention(score, Dq, Dk, seed):
    att = nn.Attention(Dq, Dk, score=score, hidden_size=5 if score == "additive" else None)
    att.double()
    return att, randomize(att, seed)


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
@given(st.integers(1, 3), st.integers(1, 5), seeds)
@example(N=3, S=4, seed=1173)      # a context entry of -2.9e-06 off by 2.8e-17: needs the atol
def test_attention_values_weights_and_context(score, N, S, seed):
    Dq, Dk, Dv = 4, (4 if score == "dot" else 3), 2
    att, p = make_attention(score, Dq, Dk, seed)
    rng = np.random.default_rng(seed)
    q, keys, vals = rng.normal(size=(N, Dq)), rng.normal(size=(N, S, Dk)), rng.normal(size=(N, S, Dv))
    mask = rng.random((N, S)) < 0.6
    mask[np.arange(N), rng.integers(0, S, N)] = True              # every row keeps one
    context, weights = att(t64(q), t64(keys), t64(vals), mask=mask)
    w = weights.numpy(force=True)
    assert weights.shape == (N, S) and context.shape == (N, Dv)
    assert np.all(w[~mask] == 0.0)                                # exactly 0 where masked
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-12, atol=1e-12)    # 1 over the unmasked
    np.testing.assert_allclose(w, np_softmax(np_scores(att, q, keys, p), mask), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(context.numpy(force=True), np.einsum("ns,nsd->nd", w, vals), rtol=1e-12, atol=1e-12)
    # values default to the keys; no mask = softmax over every position
    ctx, w_all = att(t64(q), t64(keys))
    np.testing.assert_allclose(ctx.numpy(force=True), np.einsum("ns,nsd->nd", w_all.numpy(force=True), keys), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w_all.numpy(force=True), np_softmax(np_scores(att, q, keys, p)), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
def test_attention_over_many_steps_equals_one_step_at_a_time(score):
    att, _ = make_attention(score, 4, 4, 3)
    N, T, S = 2, 3, 5
    q, keys = mg.randn(N, T, 4, dtype=F64), mg.randn(N, S, 4, dtype=F64)
    mask = np.ones((N, T, S), dtype=bool)
    mask[0, 1, 3:] = False
    ctx, w = att(q, keys, mask=mask)
    assert ctx.shape == (N, T, 4) and w.shape == (N, T, S)
    for t in range(T):
        c_t, w_t = att(q[:, t], keys, mask=mask[:, t])
        np.testing.assert_allclose(ctx.numpy(force=True)[:, t], c_t.numpy(force=True), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(w.numpy(force=True)[:, t], w_t.numpy(force=True), rtol=1e-12, atol=1e-12)
    ctx2, _ = att(q, keys, mask=mask[:, 0])                       # an (N, S) mask for every step
    c0, _ = att(q[:, 2], keys, mask=mask[:, 0])
    np.testing.assert_allclose(ctx2.numpy(force=True)[:, 2], c0.numpy(force=True), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
@pytest.mark.parametrize("S", [1, 3])
def test_attention_gradcheck_with_mask(score, S):
    att, _ = make_attention(score, 3, 3, 7)
    q = leaf(values((2, 3), 1))
    keys = leaf(values((2, S, 3), 2))
    vals = leaf(values((2, S, 2), 3))
    mask = np.ones((2, S), dtype=bool)
    mask[1, 0] = S == 1          # keep one position per row
    params = list(att.parameters())
    assert mg.gradcheck(lambda q, k, v, *ps: att(q, k, v, mask=mask), [q, keys, vals] + params)
    q3 = leaf(values((2, 2, 3), 4))
    assert mg.gradcheck(lambda q, k, *ps: att(q, k), [q3, keys] + params)


def test_attention_parameters_and_repr():
    assert list(nn.Attention(4, 4).state_dict()) == []
    assert {k: v.shape for k, v in nn.Attention(4, 6, "general").state_dict().items()} == {"W": (4, 6)}
    add = nn.Attention(4, 6, "additive", hidden_size=5)
    assert {k: v.shape for k, v in add.state_dict().items()} == {
        "W1": (5, 4), "W2": (5, 6), "v": (5,)}
    assert nn.Attention(4, 6, "additive").hidden_size == 6
    assert "score='additive'" in repr(add)


def test_attention_errors_name_the_layer():
    att = nn.Attention(3, 3)
    q, keys = mg.randn(2, 3), mg.randn(2, 4, 3)
    mask = np.ones((2, 4), dtype=bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"Attention\(.*\): mask row 1 attends to no position"):
        att(q, keys, mask=mask)
    mask3 = np.ones((2, 5, 4), dtype=bool)
    mask3[0, 3] = False
    with pytest.raises(ValueError, match=r"mask row \(0, 3\) attends to no position"):
        att(mg.randn(2, 5, 3), keys, mask=mask3)
    with pytest.raises(ValueError, match="Attention: score must be one of"):
        nn.Attention(3, 3, score="cosine")
    with pytest.raises(ValueError, match="score='dot' needs query_size == key_size"):
        nn.Attention(3, 4)
    with pytest.raises(ValueError, match="hidden_size is used only by score='additive'"):
        nn.Attention(3, 3, "general", hidden_size=4)
    with pytest.raises(ValueError, match=r"query must be \(N, 3\) or \(N, T, 3\), got \(2, 4\)"):
        att(mg.randn(2, 4), keys)
    with pytest.raises(ValueError, match=r"keys must be \(N, S, 3\) with N = 2"):
        att(q, mg.randn(3, 4, 3))
    with pytest.raises(ValueError, match="no source positions"):
        att(q, mg.randn(2, 0, 3))
    with pytest.raises(ValueError, match="values must be"):
        att(q, keys, mg.randn(2, 5, 3))
    with pytest.raises(TypeError, match="mask must be bool"):
        att(q, keys, mask=np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"mask must be \(N, S\) = \(2, 4\), got \(2, 3\)"):
        att(q, keys, mask=np.ones((2, 3), dtype=bool))


# ----------------------------------------------------------------------------- MultiheadAttention

def np_mha(query, key, value, p, H, attn_mask=None, key_padding_mask=None):
    """torch's multi_head_attention_forward, in NumPy, on sequence-first inputs:
    query (L, N, E), key (S, N, kdim), value (S, N, vdim) -> (out (L, N, E), weights (N, H, L, S)).
    Masks: bool True = masked out, or float added."""
    L, N, E = query.shape
    hd = E // H
    if "in_proj_weight" in p:
        Wq, Wk, Wv = np.split(p["in_proj_weight"], 3)
    else:
        Wq, Wk, Wv = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    bq, bk, bv = np.split(p.get("in_proj_bias", np.zeros(3 * E)), 3)
    q, k, v = query @ Wq.T + bq, key @ Wk.T + bk, value @ Wv.T + bv

    def as_float(m):
        return np.where(m, -np.inf, 0.0) if m.dtype == bool else m
    masks = []
    if attn_mask is not None:
        masks.append(as_float(attn_mask))
    if key_padding_mask is not None:
        masks.append(as_float(key_padding_mask))
    if "bias_k" in p:
        k = np.concatenate([k, np.repeat(p["bias_k"], N, axis=1)])
        v = np.concatenate([v, np.repeat(p["bias_v"], N, axis=1)])
        masks = [np.pad(m, [(0, 0)] * (m.ndim - 1) + [(0, 1)]) for m in masks]
    # (length, N, E) -> (N*H, length, hd), as torch's view/transpose
    q = q.reshape(L, N * H, hd).transpose(1, 0, 2)
    k = k.reshape(k.shape[0], N * H, hd).transpose(1, 0, 2)
    v = v.reshape(v.shape[0], N * H, hd).transpose(1, 0, 2)
    if p.get("zero_attn"):
        k = np.concatenate([k, np.zeros((N * H, 1, hd))], axis=1)
        v = np.concatenate([v, np.zeros((N * H, 1, hd))], axis=1)
        masks = [np.pad(m, [(0, 0)] * (m.ndim - 1) + [(0, 1)]) for m in masks]
    S = k.shape[1]
    total = np.zeros((N * H, L, S))
    if attn_mask is not None:
        total = total + masks[0]
    if key_padding_mask is not None:
        kpm = masks[-1].reshape(N, 1, 1, S) * np.ones((1, H, 1, 1))
        total = total + kpm.reshape(N * H, 1, S)
    scores = q / math.sqrt(hd) @ k.transpose(0, 2, 1) + total
    w = np_softmax(scores, np.isfinite(scores))
    out = (w @ v).transpose(1, 0, 2).reshape(L, N, E)
    out = out @ p["out_proj.weight"].T + p.get("out_proj.bias", 0)
    return out, w.reshape(N, H, L, S)


MHA_KEYS = {
    "default": ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"],
    "kdim": ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
             "out_proj.weight", "out_proj.bias"],
    "bias_kv": ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                "out_proj.bias"],
    "no_bias": ["in_proj_weight", "out_proj.weight"],
}


def test_multihead_state_dict_matches_torch():
    def keys(**kw):
        return {k: v.shape for k, v in nn.MultiheadAttention(8, 2, **kw).state_dict().items()}
    assert list(keys()) == MHA_KEYS["default"]
    assert keys() == {"in_proj_weight": (24, 8), "in_proj_bias": (24,),
                      "out_proj.weight": (8, 8), "out_proj.bias": (8,)}
    k = keys(kdim=3, vdim=5)
    assert list(k) == MHA_KEYS["kdim"]
    assert (k["q_proj_weight"], k["k_proj_weight"], k["v_proj_weight"]) == ((8, 8), (8, 3), (8, 5))
    assert list(keys(add_bias_kv=True)) == MHA_KEYS["bias_kv"]
    assert keys(add_bias_kv=True)["bias_k"] == (1, 1, 8)
    assert list(keys(bias=False)) == MHA_KEYS["no_bias"]
    m = nn.MultiheadAttention(8, 2)
    assert np.all(m.in_proj_bias.numpy(force=True) == 0) and np.all(m.out_proj.bias.numpy(force=True) == 0)
    bound = math.sqrt(6 / (8 + 24))                               # Xavier-uniform (3E, E)
    assert np.abs(m.in_proj_weight.numpy(force=True)).max() <= bound


MHA_CASES = [dict(), dict(kdim=3, vdim=5), dict(add_bias_kv=True), dict(add_zero_attn=True),
             dict(bias=False), dict(add_bias_kv=True, add_zero_attn=True, kdim=2, vdim=3)]
MASK_CASES = ["none", "bool_attn", "float_attn", "padding", "float_padding", "both", "per_head"]


def make_masks(kind, N, H, L, S, rng):
    bool_attn = rng.random((L, S)) < 0.4
    bool_attn[:, 0] = False
    float_attn = rng.normal(size=(L, S))
    float_attn[rng.random((L, S)) < 0.3] = -np.inf
    float_attn[:, 0] = 0.0
    padding = rng.random((N, S)) < 0.4
    padding[:, 0] = False
    per_head = rng.random((N * H, L, S)) < 0.4
    per_head[..., 0] = False
    return {"none": {}, "bool_attn": {"attn_mask": bool_attn},
            "float_attn": {"attn_mask": float_attn}, "padding": {"key_padding_mask": padding},
            "float_padding": {"key_padding_mask": np.where(padding, -2.5, 0.0)},
            "both": {"attn_mask": float_attn, "key_padding_mask": padding},
            "per_head": {"attn_mask": per_head}}[kind]


@pytest.mark.parametrize("config", MHA_CASES, ids=str)
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_equals_numpy_reimplementation_of_torch(config, batch_first):
    N, H, L, S, E = 2, 2, 3, 4, 4
    m = nn.MultiheadAttention(E, H, batch_first=batch_first, **config).double().eval()
    p = randomize(m, 0)
    p["zero_attn"] = config.get("add_zero_attn", False)
    rng = np.random.default_rng(1)
    query = rng.normal(size=(L, N, E))
    key = rng.normal(size=(S, N, config.get("kdim", E)))
    value = rng.normal(size=(S, N, config.get("vdim", E)))
    for kind in MASK_CASES:
        masks = make_masks(kind, N, H, L, S, rng)
        ref_out, ref_w = np_mha(query, key, value, p, H, **masks)
        args = [t64(a.transpose(1, 0, 2) if batch_first else a) for a in (query, key, value)]
        fed = {k: (v if v.dtype == bool else t64(v)) for k, v in masks.items()}
        out, w = m(*args, average_attn_weights=False, **fed)
        out = out.numpy(force=True).transpose(1, 0, 2) if batch_first else out.numpy(force=True)
        np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12, err_msg=kind)
        np.testing.assert_allclose(w.numpy(force=True), ref_w, rtol=1e-10, atol=1e-12, err_msg=kind)
        _, w_avg = m(*args, **fed)
        np.testing.assert_allclose(w_avg.numpy(force=True), ref_w.mean(axis=1), rtol=1e-10, atol=1e-12)
        out2, none = m(*args, need_weights=False, **fed)
        assert none is None
        np.testing.assert_allclose(out2.numpy(force=True), out if not batch_first else out.transpose(1, 0, 2),
                                   rtol=1e-12, atol=1e-12)


def test_multihead_self_attention_unbatched_and_causal():
    N, H, L, E = 2, 2, 5, 6
    m = nn.MultiheadAttention(E, H).double()
    p = randomize(m, 4)
    x = np.random.default_rng(5).normal(size=(L, N, E))
    X = t64(x)
    causal = nn.generate_square_subsequent_mask(L, dtype=F64)
    ref_out, ref_w = np_mha(x, x, x, p, H, attn_mask=causal.numpy(force=True))
    out, w = m(X, X, X, attn_mask=causal)                          # self-attention: one product
    np.testing.assert_allclose(out.numpy(force=True), ref_out, rtol=1e-10, atol=1e-10)
    out2, w2 = m(X, X, X, is_causal=True)                          # the mask built for us
    np.testing.assert_allclose(out2.numpy(force=True), ref_out, rtol=1e-10, atol=1e-10)
    assert np.all(w2.numpy(force=True)[:, np.triu(np.ones((L, L), dtype=bool), 1)] == 0)
    # unbatched (L, E) inputs: the first batch element, without the batch axis
    out_u, w_u = m(X[:, 0], X[:, 0], X[:, 0], average_attn_weights=False)
    ref_u, ref_wu = np_mha(x[:, :1], x[:, :1], x[:, :1], p, H)
    np.testing.assert_allclose(out_u.numpy(force=True), ref_u[:, 0], rtol=1e-10, atol=1e-10)
    assert w_u.shape == (H, L, L)
    np.testing.assert_allclose(w_u.numpy(force=True), ref_wu[0], rtol=1e-10, atol=1e-10)


def test_multihead_fully_padded_query_gets_zero_weights_not_nan():
    m = nn.MultiheadAttention(4, 2)
    x = mg.randn(3, 2, 4)
    padding = np.zeros((2, 3), dtype=bool)
    padding[1] = True
    out, w = m(x, x, x, key_padding_mask=padding)
    assert np.all(np.isfinite(out.numpy(force=True)))
    assert np.all(w.numpy(force=True)[1] == 0)


@pytest.mark.parametrize("config", [dict(), dict(kdim=3, vdim=2, add_bias_kv=True, add_zero_attn=True)],
                         ids=["default", "kdim_bias_kv_zero_attn"])
def test_multihead_gradcheck(config):
    N, H, L, S, E = 2, 2, 2, 3, 4
    m = nn.MultiheadAttention(E, H, **config).double()
    randomize(m, 2)
    q = leaf(values((L, N, E), 1))
    k = leaf(values((S, N, config.get("kdim", E)), 2))
    v = leaf(values((S, N, config.get("vdim", E)), 3))
    padding = np.array([[False, False, True], [False, True, False]])
    attn = np.array([[False, True, False], [False, False, False]])

    def fn(q, k, v, *params):
        return m(q, k, v, key_padding_mask=padding, attn_mask=attn, average_attn_weights=False)
    assert mg.gradcheck(fn, [q, k, v] + list(m.parameters()))


def test_multihead_dropout_only_while_training():
    m = nn.MultiheadAttention(4, 2, dropout=0.5)
    x = mg.randn(3, 2, 4)
    _, w_train = m(x, x, x, average_attn_weights=False)
    assert (w_train.numpy(force=True) == 0).any()
    m.eval()
    out1, w1 = m(x, x, x)
    out2, _ = m(x, x, x)
    np.testing.assert_array_equal(out1.numpy(force=True), out2.numpy(force=True))
    np.testing.assert_allclose(w1.numpy(force=True).sum(-1), 1.0, rtol=1e-6, atol=1e-6)


def test_multihead_errors():
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim \(6\) must be a positive "
                                         r"multiple of num_heads \(4\)"):
        nn.MultiheadAttention(6, 4)
    m = nn.MultiheadAttention(4, 2)
    x = mg.randn(3, 2, 4)
    with pytest.raises(ValueError, match="query must have 4 features"):
        m(mg.randn(3, 2, 5), x, x)
    with pytest.raises(ValueError, match="all be 3-D"):
        m(x, x[:, 0], x)
    with pytest.raises(ValueError, match="different batch sizes"):
        m(x, mg.randn(3, 5, 4), mg.randn(3, 5, 4))
    with pytest.raises(ValueError, match=r"attn_mask must be \(L, S\) or \(N\*num_heads, L, S\)"):
        m(x, x, x, attn_mask=np.zeros((2, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(N, S\) = \(2, 3\)"):
        m(x, x, x, key_padding_mask=np.zeros((3, 2), dtype=bool))
    with pytest.raises(TypeError, match="MultiheadAttention: key_padding_mask must be a bool or float"):
        m(x, x, x, key_padding_mask=np.zeros((2, 3), dtype=np.int64))


def test_float_masks_add_up_and_a_fully_masked_query_gets_zero():
    # two additive masks (attn_mask and key_padding_mask) act as their sum
    mg.manual_seed(0)
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    x = mg.randn(1, 3, 4)
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(3, 3)).astype(np.float32), rng.normal(size=(1, 3)).astype(np.float32)
    both, _ = mha(x, x, x, attn_mask=mg.tensor(A), key_padding_mask=mg.tensor(B))
    summed, _ = mha(x, x, x, attn_mask=mg.tensor(A + B))
    np.testing.assert_allclose(both.numpy(force=True), summed.numpy(force=True), rtol=1e-5, atol=1e-6)
    # a float mask of -inf on a whole row: that query attends to nothing, output 0
    q = mg.randn(2, 3, 4)
    mask = np.zeros((2, 3, 3), dtype=np.float32)
    mask[0, 1] = -np.inf
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=mg.tensor(mask))
    np.testing.assert_array_equal(out.numpy(force=True)[0, 1], 0.0)
    assert np.isfinite(out.numpy(force=True)).all()
    # the -inf entries become "not attended" and a 0 bias: no inf enters an op, forward or back
    mask[1, :, 2] = -np.inf
    leaf_q = mg.randn(2, 3, 4, requires_grad=True)
    with mg.detect_anomaly():
        F.scaled_dot_product_attention(leaf_q, q, q, attn_mask=mg.tensor(mask)).sum().backward()


def test_masked_softmax_defaults_to_the_last_axis():
    x = mg.randn(2, 3, 4)
    mask = np.random.default_rng(1).random((2, 3, 4)) > 0.3
    np.testing.assert_array_equal(F.masked_softmax(x, mask).numpy(force=True),
                                  F.masked_softmax(x, mask, axis=-1).numpy(force=True))
