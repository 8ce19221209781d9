"""minigrad.functional: softmax, log_softmax, cross_entropy, dropout, embedding, linear,
layer_norm and the losses built from ops. Values against NumPy formulas, gradients against
finite differences, and the errors bad targets and shapes raise."""
import numpy as np
import pytest
from hypothesis import assume, example, given, strategies as st

import minigrad as mg
import minigrad.functional as F
from tests.helpers import GPU, grad_of, leaf, seeds, shapes, values


def np_log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@st.composite
def shape_and_class_axis(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, min_side=1))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


# ----------------------------------------------------------------------------- softmax

@given(shape_and_class_axis(), seeds)
def test_softmax_and_log_softmax_gradcheck(sa, seed):
    shape, axis = sa
    x = leaf(values(shape, seed, -3, 3))
    np.testing.assert_allclose(F.log_softmax(x, axis).numpy(force=True), np_log_softmax(x.numpy(force=True), axis),
                               atol=1e-12)
    assert mg.gradcheck(lambda x: F.softmax(x, axis=axis), [x])
    assert mg.gradcheck(lambda x: F.log_softmax(x, axis=axis), [x])


def test_softmax_of_size_zero_batches_gradchecks():
    x = leaf(np.zeros((0, 3)))
    assert F.softmax(x).shape == (0, 3)
    assert F.softmax(mg.zeros(2, 0)).shape == (2, 0)          # an empty class axis, as torch
    assert mg.gradcheck(lambda x: F.log_softmax(x), [leaf(np.zeros((2, 0)))])
    assert mg.gradcheck(lambda x: F.softmax(x), [x])
    assert mg.gradcheck(lambda x: F.log_softmax(x, axis=0), [leaf(np.ones((2, 0)))])


@given(shape_and_class_axis(), seeds, st.sampled_from([1.0, 100.0, 1e4]))
def test_softmax_rows_sum_to_one_at_any_scale(sa, seed, scale):
    shape, axis = sa
    x = mg.tensor(values(shape, seed) * scale)
    y = F.softmax(x, axis=axis).numpy(force=True)
    assert np.all(y >= 0) and np.all(y <= 1)
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-5, atol=1e-5)


def test_huge_logits_stay_finite_forward_and_backward():
    x = mg.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]], requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = F.softmax(x)
        logp = F.log_softmax(x)
        loss = F.cross_entropy(x, [0, 2])
        loss.backward()
    for t in (y, logp, loss):
        assert np.isfinite(t.numpy(force=True)).all()
    assert np.isfinite(grad_of(x)).all()
    np.testing.assert_allclose(y.numpy(force=True), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6)
    np.testing.assert_allclose(logp.numpy(force=True)[0], [0, -1e4, -2e4])
    np.testing.assert_allclose(loss.item(), np.log(3) / 2, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- cross-entropy

@st.composite
def ce_case(draw):
    lead = draw(shapes(min_dims=0, max_dims=2, min_side=0))
    C = draw(st.integers(1, 4))
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    target = rng.integers(0, C, size=lead)
    ignored = rng.random(lead) < 0.3
    return lead, C, seed, np.where(ignored, -100, target)


def np_cross_entropy(z, t, ignore_index=-100, reduction="mean", eps=0.0):
    """The per-position loss (1 - eps)(-log p_t) + eps * mean_c(-log p_c), worked in NumPy."""
    C = z.shape[-1]
    logp = np_log_softmax(z.reshape(-1, C))
    t = t.reshape(-1)
    valid = t != ignore_index
    nll = -logp[np.arange(len(t)), np.where(valid, t, 0)]
    per = ((1 - eps) * nll + eps * (-logp.mean(axis=1))) * valid
    if reduction == "none":
        return per.reshape(z.shape[:-1])
    return per.sum() if reduction == "sum" else per.sum() / valid.sum()


@given(ce_case(), st.sampled_from(["mean", "sum", "none"]), st.sampled_from([0.0, 0.25]))
def test_cross_entropy_matches_numpy_and_gradchecks(case, reduction, smoothing):
    lead, C, seed, target = case
    assume(reduction != "mean" or (target != -100).any())    # a mean of nothing is NaN
    z = leaf(values(lead + (C,), seed, -3, 3))
    t = mg.tensor(target)

    def f(z):
        return F.cross_entropy(z, t, reduction=reduction, label_smoothing=smoothing)

    np.testing.assert_allclose(f(z).numpy(force=True),
                               np_cross_entropy(z.numpy(force=True), target, reduction=reduction,
                                                eps=smoothing), atol=1e-12)
    assert mg.gradcheck(f, [z])


def test_cross_entropy_ignores_positions_and_averages_over_the_rest():
    z = mg.tensor(values((2, 3, 5), 7), requires_grad=True)
    target = np.array([[1, -100, 4], [-100, -100, 0]])
    loss = F.cross_entropy(z, target)
    per = F.cross_entropy(z, target, reduction="none").numpy(force=True)
    valid = target != -100
    np.testing.assert_allclose(per[~valid], 0.0)
    np.testing.assert_allclose(loss.item(), per[valid].mean(), rtol=1e-6, atol=1e-6)
    loss.backward()
    np.testing.assert_array_equal(grad_of(z)[~valid], 0.0)
    # The kept positions get exactly the gradient of a mean over them alone.
    kept = mg.tensor(z.numpy(force=True)[valid], requires_grad=True)
    F.cross_entropy(kept, target[valid]).backward()
    np.testing.assert_allclose(grad_of(z)[valid], grad_of(kept), rtol=1e-6, atol=1e-6)


def test_cross_entropy_with_a_custom_ignore_index_and_all_ignored():
    z = mg.tensor(np.zeros((3, 4)), requires_grad=True)
    loss = F.cross_entropy(z, [0, 3, 3], ignore_index=3)
    np.testing.assert_allclose(loss.item(), np.log(4), rtol=1e-6, atol=1e-6)
    with np.errstate(invalid="ignore"):
        assert np.isnan(F.cross_entropy(z, [3, 3, 3], ignore_index=3).item())   # as torch
    assert F.cross_entropy(z, [3, 3, 3], ignore_index=3, reduction="sum").item() == 0.0


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_cross_entropy_gradient_is_zero_on_ignored_rows(reduction):
    # d loss / d z = softmax(z) - onehot(t) on the kept rows, exactly 0 on the ignored one
    z = mg.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    F.cross_entropy(z, [0, 3, 1], ignore_index=3, reduction=reduction).sum().backward()
    p = np.exp(z.numpy(force=True)) / np.exp(z.numpy(force=True)).sum(axis=1, keepdims=True)
    want = p - np.eye(4)[[0, 3, 1]]
    want[1] = 0.0
    np.testing.assert_allclose(grad_of(z), want, rtol=1e-6, atol=1e-12)


def test_label_smoothing_matches_the_smoothed_target_distribution():
    z = values((4, 6), 3)
    t = np.array([0, 5, 2, 2])
    eps = 0.1
    # cross-entropy against q = (1 - eps) onehot + eps / C
    q = np.full((4, 6), eps / 6)
    q[np.arange(4), t] += 1 - eps
    expected = -(q * np_log_softmax(z)).sum(axis=1).mean()
    got = F.cross_entropy(mg.tensor(z, dtype=mg.float64), t, label_smoothing=eps).item()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rows", [
    [[63.0, 40.0, 30.0], [-50.0, -63.5, -70.0], [0.5, 30.0, 29.0]],    # every row's max in +-64
    [[63.0, 40.0, 30.0], [-80.0, -80.5, -90.0], [0.5, 30.0, 29.0]],    # one row beyond
    [[90.0, 70.0, 0.0], [-90.0, -91.0, -95.0], [0.0, 0.0, 1e-3]],      # every row beyond
])
def test_cross_entropy_in_float32_keeps_its_precision_either_side_of_the_shift(rows):
    """Rows whose max logit lies within +-64 skip the shift by their max (one pass fewer);
    the loss and its gradient stay float32-exact on both sides: a confident row's loss near
    0 to within float32's rounding of 1, not of its logits (63 * 1.2e-7)."""
    z64 = np.array(rows)
    t = [0, 0, 2]
    want = np_cross_entropy(z64, np.array(t), reduction="none")
    p = np.exp(np_log_softmax(z64))
    p[np.arange(3), t] -= 1
    z = mg.tensor(z64, dtype=mg.float32, requires_grad=True)
    loss = F.cross_entropy(z, t, reduction="none")
    loss.sum().backward()
    np.testing.assert_allclose(loss.numpy(force=True), want, rtol=2e-7, atol=2e-7)
    np.testing.assert_allclose(grad_of(z), p, rtol=1e-5, atol=1e-7)


def test_cross_entropy_in_float16_shifts_the_logits_that_would_overflow():
    """exp overflows float16 past 11: such logits are shifted by their row's max, as in
    float32 past 64 (an unshifted exp(20) gave inf, and the loss NaN)."""
    z64 = np.array([[20.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
    t = np.array([1, 2])
    z = mg.tensor(z64, dtype=mg.float16, requires_grad=True)
    loss = F.cross_entropy(z, t)
    loss.backward()
    p = np.exp(np_log_softmax(z64))
    p[np.arange(2), t] -= 1
    np.testing.assert_allclose(float(loss.item()), np_cross_entropy(z64, t), rtol=2e-3)
    np.testing.assert_allclose(grad_of(z).astype(np.float64), p / 2, rtol=1e-2, atol=1e-3)


def test_cross_entropy_keeps_float32():
    z = mg.tensor(values((3, 4), 0), dtype=mg.float32, requires_grad=True)
    loss = F.cross_entropy(z, [0, 1, 2])
    loss.backward()
    assert loss.dtype == np.float32 and z.grad.dtype == np.float32


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_twice_through_a_retained_graph(reduction):
    """Backward writes the gradient over the saved exponentials unless the graph is retained:
    the second backward must give the first one's gradient."""
    z = mg.tensor(values((4, 5), 3), dtype=mg.float64, requires_grad=True)
    loss = F.cross_entropy(z, [0, 4, -100, 2], reduction=reduction, label_smoothing=0.1)
    loss = loss.sum() if reduction == "none" else loss
    loss.backward(retain_graph=True)
    first = z.grad.numpy(force=True).copy()
    z.grad = None
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(force=True), first, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("target, message", [
    ([0, 4], r"cross_entropy: target 4 is out of range for 4 classes "
             r"\(expected 0 <= target < 4, or ignore_index=-100\)"),
    ([-1, 0], r"cross_entropy: target -1 is out of range for 4 classes"),
    ([5, 7], r"cross_entropy: target 5 is out of range"),     # several bad: the first is named
])
def test_cross_entropy_rejects_targets_out_of_range(target, message):
    with pytest.raises(IndexError, match=message):
        F.cross_entropy(mg.zeros(2, 4), target)


def test_cross_entropy_rejects_bad_targets_and_arguments():
    z = mg.zeros(2, 3, 4)
    with pytest.raises(TypeError, match="cross_entropy: target must hold integer class "
                                        "indices, got dtype float"):
        F.cross_entropy(z, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"cross_entropy: target has shape \(6,\) but logits "
                                         r"\(2, 3, 4\) need the leading shape \(2, 3\) "
                                         r"\(classes on the last axis\)"):
        F.cross_entropy(z, np.zeros(6, dtype=np.int64))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(z, np.zeros((2, 3), dtype=np.int64), reduction="avg")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        F.cross_entropy(z, np.zeros((2, 3), dtype=np.int64), label_smoothing=1.5)
    with pytest.raises(ValueError, match="cross_entropy: logits need a class axis, got a scalar"):
        F.cross_entropy(mg.tensor(1.0), 0)


@pytest.mark.gpu
@pytest.mark.strict
def test_cross_entropy_rejects_a_target_on_another_device():
    z = mg.zeros(2, 3, device=GPU)
    with pytest.raises(RuntimeError,
                       match=f"cross_entropy: logits are on {GPU} but target is on cpu"):
        F.cross_entropy(z, mg.tensor([0, 1], device="cpu"))


@given(ce_case())
@example(((3,), 1, 0, np.array([0, -100, 0])))     # one class, a row ignored
def test_nll_of_log_softmax_equals_cross_entropy(case):
    lead, C, seed, target = case
    assume((target != -100).any())
    z = leaf(values(lead + (C,), seed))
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(z), target).item(),
                               F.cross_entropy(z, target).item(), rtol=1e-10, atol=1e-10)
    assert mg.gradcheck(lambda z: F.nll_loss(F.log_softmax(z), target), [z])


@given(shapes(), seeds)
def test_mse_loss_gradchecks(shape, seed):
    a, b = leaf(values(shape, seed)), leaf(values(shape, seed + 1))
    if a.numel():
        np.testing.assert_allclose(F.mse_loss(a, b).item(), ((a.numpy(force=True) - b.numpy(force=True)) ** 2).mean())
        assert mg.gradcheck(lambda a, b: F.mse_loss(a, b), [a, b])
    assert mg.gradcheck(lambda a, b: F.mse_loss(a, b, reduction="sum"), [a, b])


# ----------------------------------------------------------------------------- dropout

@given(shapes(), seeds, st.sampled_from([0.2, 0.5, 0.9]))
def test_dropout_gradchecks_with_a_fixed_mask(shape, seed, p):
    x = leaf(values(shape, seed))

    def f(x):
        mg.manual_seed(seed)          # the same mask at every evaluation
        return F.dropout(x, p)

    out = f(x).numpy(force=True)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x.numpy(force=True)[kept] / (1 - p))
    assert mg.gradcheck(f, [x])


def test_dropout_keeps_the_expected_value_and_repeats_under_a_seed():
    x = mg.ones(200, 100)
    mg.manual_seed(1)
    a = F.dropout(x, 0.3).numpy(force=True)
    assert abs((a != 0).mean() - 0.7) < 0.015           # 4.6 standard deviations
    assert abs(a.mean() - 1.0) < 0.02
    mg.manual_seed(1)
    np.testing.assert_array_equal(F.dropout(x, 0.3).numpy(force=True), a)
    d = F.dropout(x).numpy(force=True)                             # torch's default p = 0.5
    assert set(np.unique(d)) == {0.0, 2.0} and abs((d != 0).mean() - 0.5) < 0.015


def test_dropout_is_the_identity_when_not_training_or_p_is_zero():
    x = mg.tensor([1.0, 2.0])
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(force=True), [0.0, 0.0])
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\], got 1.5"):
        F.dropout(x, 1.5)


# ----------------------------------------------------------------------------- embedding

@given(st.integers(1, 5), st.integers(0, 3), shapes(max_dims=2), seeds, st.booleans())
def test_embedding_gradchecks_with_repeated_indices(V, D, idx_shape, seed, pad):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, V, size=idx_shape)
    w = leaf(values((V, D), seed))
    padding_idx = int(idx.reshape(-1)[0]) if pad and idx.size else None
    out = F.embedding(idx, w, padding_idx)
    np.testing.assert_array_equal(out.numpy(force=True), w.numpy(force=True)[idx])
    if padding_idx is None:
        assert mg.gradcheck(lambda w: F.embedding(mg.tensor(idx), w), [w])
    else:
        out.backward(np.ones(out.shape))
        np.testing.assert_array_equal(grad_of(w)[padding_idx], 0.0)
        counts = np.bincount(idx.reshape(-1), minlength=V).astype(float)
        counts[padding_idx] = 0
        np.testing.assert_array_equal(grad_of(w), np.repeat(counts[:, None], D, axis=1))


def test_embedding_rejects_bad_indices():
    w = mg.zeros(4, 2)
    with pytest.raises(IndexError, match=r"embedding: index 4 is out of range for 4 rows "
                                         r"\(expected 0 <= index < 4\)"):
        F.embedding([[0, 4]], w)
    with pytest.raises(IndexError, match="embedding: index -1 is out of range"):
        F.embedding([-1], w)
    with pytest.raises(IndexError, match="embedding: index 7 is out of range"):
        F.embedding([[1, 7], [5, 0]], w)                     # several bad: the first is named
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float"):
        F.embedding(np.array([0.0]), w)


# ----------------------------------------------------------------------------- linear

@given(shapes(max_dims=2), st.integers(0, 3), st.integers(0, 3), seeds, st.booleans())
def test_linear_gradchecks_over_any_leading_shape(lead, I, O, seed, bias):
    x = leaf(values(lead + (I,), seed))
    W = leaf(values((O, I), seed + 1))
    b = leaf(values((O,), seed + 2)) if bias else None
    expected = x.numpy(force=True) @ W.numpy(force=True).T + (b.numpy(force=True) if bias else 0)
    np.testing.assert_allclose(F.linear(x, W, b).numpy(force=True), expected, atol=1e-12)
    if bias:
        assert mg.gradcheck(lambda x, W, b: F.linear(x, W, b), [x, W, b])
    else:
        assert mg.gradcheck(lambda x, W: F.linear(x, W), [x, W])


def test_linear_rejects_an_input_that_does_not_fit():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 5\) does not fit weight "
                                         r"\(3, 4\): expected \(\.\.\., 4\)"):
        F.linear(mg.zeros(2, 5), mg.zeros(3, 4))


# ----------------------------------------------------------------------------- layer_norm

def np_layer_norm(x, n, w, b, eps=1e-5):
    axes = tuple(range(-n, 0))
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


@given(shapes(min_dims=1, max_dims=2, min_side=0), st.integers(1, 2), st.integers(1, 3), seeds)
def test_layer_norm_matches_numpy_and_gradchecks(lead, n, side, seed):
    norm_shape = (side,) * n
    x = leaf(values(lead + norm_shape, seed))
    w, b = leaf(values(norm_shape, seed + 1)), leaf(values(norm_shape, seed + 2))
    np.testing.assert_allclose(F.layer_norm(x, norm_shape, w, b).numpy(force=True),
                               np_layer_norm(x.numpy(force=True), n, w.numpy(force=True), b.numpy(force=True)), atol=1e-10)
    assert mg.gradcheck(lambda x, w, b: F.layer_norm(x, norm_shape, w, b), [x, w, b])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_gradient_keeps_both_normalisations(reduction):
    # The fused backward divides twice: by the number of counted rows (mean) and, for label
    # smoothing's uniform part, by the number of classes. A fixed case where neither is 1
    # (2 counted rows, 4 classes), against the gradient written out in NumPy.
    z = leaf(np.array([[0.5, -1.0, 2.0, 0.0], [1.5, 0.3, -0.7, 0.2], [0.0, 0.0, 1.0, -2.0]]))
    target = np.array([2, -100, 0])
    F.cross_entropy(z, mg.tensor(target), reduction=reduction, label_smoothing=0.2).backward()
    p = np.exp(z.numpy(force=True)) / np.exp(z.numpy(force=True)).sum(axis=1, keepdims=True)
    onehot = np.eye(4)[np.where(target >= 0, target, 0)]
    expected = (p - 0.8 * onehot - 0.2 / 4) * (target >= 0)[:, None]
    expected /= 2 if reduction == "mean" else 1
    np.testing.assert_allclose(grad_of(z), expected, rtol=1e-12, atol=1e-12)
