"""Every op in minigrad.ops: values against NumPy, gradients against finite differences
(float64, hypothesis-drawn shapes with broadcasting, size-0 and size-1 dimensions and negative
axes), and the errors bad shapes raise."""
import numpy as np
import pytest
from hypothesis import assume, example, given, strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.ops import elementwise as E, index as I, reduce as R, shape as S
from tests.helpers import GPU, away_from_zero, distinct, grad_of, leaf, seeds, shapes, values

pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0,
                                          max_side=3)


def axis_for(ndim):
    """None, one axis (possibly negative) or a tuple of distinct axes."""
    if ndim == 0:
        return st.sampled_from([None, ()])
    return st.one_of(st.none(), st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim))


# ----------------------------------------------------------------------------- elementwise

@given(pairs, seeds)
def test_binary_arithmetic_broadcasts_and_gradchecks(shapes2, seed):
    sa, sb = shapes2.input_shapes
    a = leaf(values(sa, seed))
    b = leaf(away_from_zero(sb, seed + 1, low=0.5))     # a divisor away from 0
    for f, ref in [(lambda a, b: a + b, np.add), (lambda a, b: a - b, np.subtract),
                   (lambda a, b: a * b, np.multiply), (lambda a, b: a / b, np.divide)]:
        out = f(a, b)
        assert out.shape == shapes2.result_shape
        np.testing.assert_allclose(out.numpy(force=True), ref(a.numpy(force=True), b.numpy(force=True)))
        assert mg.gradcheck(f, [a, b])


def test_python_numbers_on_either_side_keep_the_tensor_dtype():
    x = mg.tensor([1.0, 2.0, 4.0], requires_grad=True)
    for y in (2 * x, x * 2, 1 - x, x - 1, 1 / x, x / 2, 3 + x, x + 3.5):
        assert y.dtype == np.float32
    y = (2 - x) * (1 / x) + x / 4
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), -2 / x.numpy(force=True) ** 2 + 0.25, rtol=1e-6, atol=1e-6)


@given(shapes(), seeds)
def test_smooth_unary_ops_gradcheck(shape, seed):
    x = leaf(values(shape, seed))
    for f, ref in [(lambda x: -x, np.negative), (mg.Tensor.exp, np.exp),
                   (mg.Tensor.tanh, np.tanh),
                   (mg.Tensor.sigmoid, lambda v: 1 / (1 + np.exp(-v)))]:
        np.testing.assert_allclose(f(x).numpy(force=True), ref(x.numpy(force=True)), rtol=1e-12, atol=1e-15)
        assert mg.gradcheck(f, [x])


@given(shapes(), seeds)
def test_log_and_sqrt_gradcheck_on_positive_inputs(shape, seed):
    x = leaf(values(shape, seed, low=0.3, high=3.0))
    np.testing.assert_allclose(x.log().numpy(force=True), np.log(x.numpy(force=True)))
    np.testing.assert_allclose(x.sqrt().numpy(force=True), np.sqrt(x.numpy(force=True)))
    assert mg.gradcheck(lambda x: x.log(), [x])
    assert mg.gradcheck(lambda x: x.sqrt(), [x])


@given(shapes(), seeds)
def test_kinked_ops_gradcheck_away_from_the_kink(shape, seed):
    x = leaf(away_from_zero(shape, seed))
    np.testing.assert_array_equal(x.relu().numpy(force=True), np.maximum(x.numpy(force=True), 0))
    np.testing.assert_array_equal(x.abs().numpy(force=True), np.abs(x.numpy(force=True)))
    assert mg.gradcheck(lambda x: x.relu(), [x])
    assert mg.gradcheck(lambda x: x.abs(), [x])


def test_kinked_ops_take_torchs_gradient_at_the_kink():
    """At exactly 0, relu' = 0 and abs' = sign(0) = 0, as torch."""
    x = leaf([-1.0, 0.0, 2.0])
    x.relu().sum().backward()
    assert grad_of(x).tolist() == [0.0, 0.0, 1.0]
    x.grad = None
    x.abs().sum().backward()
    assert grad_of(x).tolist() == [-1.0, 0.0, 1.0]


def test_sigmoid_saturates_without_overflow():
    x = mg.tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    with np.errstate(all="raise"):
        y = x.sigmoid()
        y.sum().backward()
    np.testing.assert_allclose(y.numpy(force=True), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(grad_of(x), [0.0, 0.25, 0.0])


@given(pairs, seeds, st.sampled_from([2, 3, 0.5, -1.5]))
def test_pow_gradchecks_in_base_and_exponent(shapes2, seed, p):
    sa, sb = shapes2.input_shapes
    x = leaf(values(sa, seed, low=0.5, high=2.0))        # x^p with a tensor p needs x > 0
    e = leaf(values(sb, seed + 1, low=-2.0, high=2.0))
    np.testing.assert_allclose((x ** e).numpy(force=True), x.numpy(force=True) ** e.numpy(force=True))
    assert mg.gradcheck(lambda x, e: x ** e, [x, e])
    assert mg.gradcheck(lambda x: x ** p, [x])
    assert mg.gradcheck(lambda e: 2.0 ** e, [e])


def test_integer_power_of_negative_base_has_a_gradient():
    x = leaf([-2.0, -0.5, 1.5])
    assert mg.gradcheck(lambda x: x ** 3, [x])
    x.grad = None
    (x ** 2).sum().backward()
    np.testing.assert_allclose(grad_of(x), 2 * x.numpy(force=True))
    # d/dp x^p = x^p log x, taken as 0 where x <= 0 (not differentiable in p there)
    e = leaf([2.0, 2.0, 2.0])
    (mg.tensor([-2.0, 0.0, 3.0], dtype=mg.float64) ** e).sum().backward()
    np.testing.assert_allclose(grad_of(e), [0.0, 0.0, 9 * np.log(3.0)], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- reductions

@st.composite
def shape_and_axis(draw, min_side=0):
    shape = draw(shapes(min_side=min_side))
    return shape, draw(axis_for(len(shape)))


@given(shape_and_axis(), st.booleans(), seeds)
def test_sum_over_axes_gradchecks(sa, keepdims, seed):
    shape, axis = sa
    x = leaf(values(shape, seed))
    out = x.sum(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.numpy(force=True), x.numpy(force=True).sum(axis=axis, keepdims=keepdims))
    assert mg.gradcheck(lambda x: x.sum(axis=axis, keepdims=keepdims), [x])


@pytest.mark.filterwarnings("ignore:Mean of empty slice")    # NumPy's, for the reference
@given(shape_and_axis(), st.booleans(), seeds)
def test_mean_over_axes_gradchecks(sa, keepdims, seed):
    shape, axis = sa
    x = leaf(values(shape, seed))
    reduced = np.zeros(shape).sum(axis=axis, keepdims=keepdims)
    assume(reduced.size == 0 or x.numel() > 0)          # the mean of nothing is NaN
    np.testing.assert_allclose(x.mean(axis=axis, keepdims=keepdims).numpy(force=True),
                               x.numpy(force=True).mean(axis=axis, keepdims=keepdims))
    assert mg.gradcheck(lambda x: x.mean(axis=axis, keepdims=keepdims), [x])


@given(shape_and_axis(min_side=1), st.booleans(), seeds)
def test_max_over_axes_gradchecks_without_ties(sa, keepdims, seed):
    shape, axis = sa
    x = leaf(distinct(shape, seed))
    np.testing.assert_allclose(x.max(axis=axis, keepdims=keepdims).numpy(force=True),
                               x.numpy(force=True).max(axis=axis, keepdims=keepdims))
    assert mg.gradcheck(lambda x: x.max(axis=axis, keepdims=keepdims), [x])


@given(shape_and_axis(min_side=1), st.booleans(), st.sampled_from([2, "fro", 1, 3, float("inf")]),
       seeds)
@example(((2, 3), 1), False, 3, 0)          # a p whose root 1/p differs from p
def test_norm_over_axes_gradchecks(sa, keepdim, p, seed):
    shape, axis = sa
    x = leaf(distinct(shape, seed) + 0.01)         # no ties for inf, no zeros for |x|
    order = {"fro": 2}.get(p, p)
    ref = x.numpy(force=True)
    axes = axis if axis is None or isinstance(axis, tuple) else (axis,)
    expected = ((np.abs(ref) ** order).sum(axis=axes, keepdims=keepdim) ** (1 / order)
                if order != float("inf") else np.abs(ref).max(axis=axes, keepdims=keepdim))
    np.testing.assert_allclose(x.norm(p, dim=axis, keepdim=keepdim).numpy(force=True), expected)
    assert mg.gradcheck(lambda x: x.norm(p, dim=axis, keepdim=keepdim), [x])


def test_norm_of_zero_has_a_zero_gradient_and_rejects_a_bad_p():
    x = mg.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    with np.errstate(all="raise"):             # no 0/0 on the way
        x.norm(dim=1).sum().backward()
    np.testing.assert_allclose(grad_of(x), [[0.0, 0.0], [0.6, 0.8]])
    with pytest.raises(ValueError, match="norm: p must be a positive number"):
        x.norm(-1)


def test_max_splits_the_gradient_between_ties():
    x = mg.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    x.max(axis=-1).sum().backward()
    np.testing.assert_allclose(grad_of(x), [[0, 0.5, 0.5], [1, 0, 0]])


def test_elementwise_max_and_min_give_a_tie_to_the_first_argument():
    a, b = leaf([1.0, 2.0, 3.0]), leaf([1.0, 0.0, 5.0])
    for op in (mg.max, mg.min):
        a.grad = b.grad = None
        op(a, b).sum().backward()
        big = op is mg.max
        assert grad_of(a).tolist() == [1.0, 1.0 if big else 0.0, 0.0 if big else 1.0]
        assert grad_of(b).tolist() == [0.0, 0.0 if big else 1.0, 1.0 if big else 0.0]


def test_reductions_default_to_every_axis_without_keeping_dims():
    """torch's and NumPy's defaults: no axis reduces everything to a scalar; dim= drops it."""
    x = mg.tensor([[1.0, -5.0, 2.0], [4.0, 0.0, -3.0]])
    for y, value in [(x.norm(), np.sqrt(55.0)), (x.min(), -5.0), (x.max(), 4.0),
                     (x.argmax(), 3), (x.argmin(), 1), (x.all(), False), (x.any(), True),
                     (R.Sum()(x), -1.0), (R.Max()(x), 4.0), (R.Norm2()(x), np.sqrt(55.0))]:
        assert y.shape == () and np.isclose(y.item(), value)
    assert x.norm(dim=1).shape == (2,) and x.min(1).values.shape == (2,)
    assert x.argmax(1).tolist() == [2, 0] and x.argmin(1).tolist() == [1, 2]
    assert x.all(1).tolist() == [True, False] and x.any(0).shape == (3,)
    assert mg.tensor(5.0).argmax(0).item() == 0 and mg.tensor(5.0).argmin(0).item() == 0


def test_expand_keeps_the_axes_given_as_minus_one_after_new_leading_ones():
    x = mg.tensor([[1.0], [2.0], [3.0]])
    y = x.expand(2, -1, 4)                     # -1 is x's axis 0 (size 3), behind a new axis
    np.testing.assert_array_equal(y.numpy(force=True), np.broadcast_to(x.numpy(force=True), (2, 3, 4)))


def test_cat_and_stack_default_to_the_first_axis():
    a, b = mg.zeros(2, 3), mg.ones(2, 3)
    assert mg.cat([a, b]).shape == (4, 3) and mg.stack([a, b]).shape == (2, 2, 3)
    assert mg.cat([a, b]).numpy(force=True)[2:].tolist() == [[1.0] * 3] * 2


def test_index_ops_defaults_are_torchs():
    """argsort/sort: the last axis, ascending; tril/triu: the main diagonal; one_hot with
    num_classes=0 means zero classes (only -1 asks for the largest index + 1)."""
    x = mg.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    assert mg.argsort(x).tolist() == [[1, 2, 0], [0, 2, 1]]
    x3 = mg.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)))
    np.testing.assert_array_equal(mg.argsort(x3).numpy(force=True), np.argsort(x3.numpy(force=True), axis=-1))
    assert I.one_hot(mg.tensor(np.zeros(0, dtype=np.int64))).shape == (0, 0)
    assert x.sort().values.tolist() == [[1.0, 2.0, 3.0], [0.0, 4.0, 5.0]]
    sq = np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_array_equal(mg.triu(mg.tensor(sq)).numpy(force=True), np.triu(sq))
    np.testing.assert_array_equal(mg.tril(mg.tensor(sq)).numpy(force=True), np.tril(sq))
    with pytest.raises(IndexError, match=r"one_hot: class values must be in \[0, 0\)"):
        I.one_hot(mg.tensor([0, 1]), 0)


def test_reductions_reject_bad_axes():
    x = mg.zeros(2, 3)
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor of 2 dimensions"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="axis -3 is out of range"):
        x.mean(axis=-3)
    with pytest.raises(ValueError,
                       match=r"max: cannot reduce over an empty axis of shape \(2, 0\)"):
        mg.zeros(2, 0).max(axis=1)


# ----------------------------------------------------------------------------- matmul

matmul_shapes = hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2,
                                                  min_side=0, max_side=3)


@given(matmul_shapes, seeds)
def test_matmul_follows_numpy_and_gradchecks(ms, seed):
    sa, sb = ms.input_shapes
    a, b = leaf(values(sa, seed)), leaf(values(sb, seed + 1))
    out = a @ b
    assert out.shape == ms.result_shape
    np.testing.assert_allclose(out.numpy(force=True), a.numpy(force=True) @ b.numpy(force=True), atol=1e-12)
    assert mg.gradcheck(lambda a, b: a @ b, [a, b])


@given(st.integers(0, 3), st.integers(1, 3), st.integers(0, 3), st.integers(0, 3), seeds)
def test_matmul_of_a_batch_by_one_matrix_gradchecks(N, T, k, m, seed):
    # (N, T, k) @ (k, m) takes the single-product path for the weight's gradient.
    a, b = leaf(values((N, T, k), seed)), leaf(values((k, m), seed + 1))
    assert mg.gradcheck(lambda a, b: a @ b, [a, b])
    assert mg.gradcheck(lambda a, b: b.T @ a.transpose(-1, -2), [a, b])


def test_matmul_rejects_shapes_that_do_not_fit():
    a, b = mg.zeros(2, 3), mg.zeros(4, 5)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not fit "
                                         r"\(inner dimensions 3 and 4 differ\)"):
        a @ b
    with pytest.raises(ValueError, match=r"matmul: both operands need at least 1 dimension"):
        mg.tensor(2.0) @ a


# ----------------------------------------------------------------------------- shape ops

@given(shapes(), seeds)
def test_reshape_flatten_squeeze_unsqueeze_gradcheck(shape, seed):
    x = leaf(values(shape, seed))
    target = tuple(reversed(shape))
    assert x.reshape(target).shape == target
    assert x.reshape(*target).shape == target
    assert mg.gradcheck(lambda x: x.reshape(target), [x])
    assert mg.gradcheck(lambda x: x.unsqueeze(-1).flatten(), [x])
    assert mg.gradcheck(lambda x: x.unsqueeze(0).squeeze(), [x])
    np.testing.assert_array_equal(x.squeeze().numpy(force=True), x.numpy(force=True).squeeze())


def test_squeeze_of_an_axis_that_is_not_one_is_a_no_op():
    x = mg.zeros(2, 1, 3)
    assert x.squeeze(0) is x
    assert x.squeeze(-2).shape == (2, 3)


def test_zero_dimensional_tensors_flatten_and_squeeze_as_in_torch():
    x = mg.tensor(2.0)
    assert x.flatten().shape == (1,) and x.squeeze(0) is x
    assert mg.zeros(2, 3, 4).flatten(-2).shape == (2, 12)
    assert mg.zeros(2, 3, 4).flatten(0, 1).shape == (6, 4)


@pytest.mark.parametrize("call, message", [
    (lambda x: x.unsqueeze(4), r"unsqueeze: axis 4 is out of range \(expected -4 <= axis < 4\)"),
    (lambda x: x.squeeze(3), r"squeeze: axis 3 is out of range \(expected -3 <= axis < 3\)"),
    (lambda x: x.transpose(0, -4), r"transpose: axis -4 is out of range"),
    (lambda x: x.flatten(0, 3), r"flatten: axis 3 is out of range"),
    (lambda x: mg.cat([x, x], axis=3), r"cat: axis 3 is out of range \(expected -3 <= axis < 3\)"),
    (lambda x: mg.stack([x, x], axis=-5),
     r"stack: axis -5 is out of range \(expected -4 <= axis < 4\)"),
    (lambda x: mg.cat([x[0, 0, 0], x[0, 0, 1]]), r"cat: zero-dimensional tensors have no axis"),
])
def test_shape_ops_reject_axes_out_of_range(call, message):
    with pytest.raises(ValueError, match=message):
        call(mg.zeros(2, 1, 3))


@st.composite
def shape_and_permutation(draw):
    shape = draw(shapes())
    perm = draw(st.permutations(range(len(shape))))
    negate = draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    return shape, tuple(p - len(shape) if n else p for p, n in zip(perm, negate))


@given(shape_and_permutation(), seeds)
def test_permute_and_transpose_gradcheck(sp, seed):
    shape, perm = sp
    x = leaf(values(shape, seed))
    np.testing.assert_array_equal(x.permute(perm).numpy(force=True), x.numpy(force=True).transpose(perm))
    np.testing.assert_array_equal(x.T.numpy(force=True), x.numpy(force=True).T)
    assert mg.gradcheck(lambda x: x.permute(*perm), [x])
    if len(shape) >= 2:
        np.testing.assert_array_equal(x.transpose(-1, 0).numpy(force=True), np.swapaxes(x.numpy(force=True), -1, 0))
        assert mg.gradcheck(lambda x: x.transpose(-1, 0), [x])


def test_permute_rejects_a_non_permutation():
    with pytest.raises(ValueError, match=r"permute: \(0, 0\) is not a permutation of the 2 axes"):
        mg.zeros(2, 3).permute(0, 0)


@st.composite
def broadcast_source(draw):
    """A target shape and a shape that broadcasts to it (leading dims dropped, sides set to 1)."""
    target = draw(shapes(max_dims=3))
    drop = draw(st.integers(0, len(target)))
    src = tuple(1 if draw(st.booleans()) else n for n in target[drop:])
    return src, target


@given(broadcast_source(), seeds)
def test_broadcast_to_gradchecks(st_, seed):
    src, target = st_
    x = leaf(values(src, seed))
    np.testing.assert_array_equal(x.broadcast_to(target).numpy(force=True),
                                  np.broadcast_to(x.numpy(force=True), target))
    assert mg.gradcheck(lambda x: x.broadcast_to(target), [x])
    assert mg.gradcheck(lambda x: x.expand(*target), [x])


@given(shapes(), seeds)
def test_cast_passes_the_gradient_back_in_the_input_dtype(shape, seed):
    x = leaf(values(shape, seed))
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    # Cast is linear, so a large step is exact and float32 rounding stays below atol.
    assert mg.gradcheck(lambda x: x.astype(np.float32) * 3, [x], eps=0.05, atol=1e-3)
    assert mg.gradcheck(lambda x: x.astype(np.float32).astype(np.float64), [x], eps=0.05,
                        atol=1e-3)
    (x.float() * 2).sum().backward()
    assert x.grad.dtype == np.float64
    assert x.astype(np.float64) is x


@given(shapes(), seeds)
def test_to_device_gradchecks_on_the_same_device(shape, seed):
    x = leaf(values(shape, seed))
    assert mg.gradcheck(lambda x: S.to_device(x, x.device) * 2, [x])
    assert x.to(x.device) is x


@pytest.mark.gpu
@pytest.mark.strict
def test_to_device_moves_the_gradient_back_across_devices():
    x = mg.tensor(np.arange(6.0).reshape(2, 3), dtype=mg.float64, device="cpu",
                  requires_grad=True)
    assert mg.gradcheck(lambda x: (x.to(GPU) * 2).to("cpu"), [x])
    x.grad = None                       # gradcheck leaves its own backward's gradient
    y = x.to(GPU)
    assert y.device == GPU
    (y * y).sum().backward()
    assert x.grad is not None and mg.backend.device_of(x.grad) == "cpu"
    np.testing.assert_allclose(grad_of(x), 2 * x.numpy(force=True))
    # d/dp x^p = x^p log x, taken as 0 where x <= 0 (not differentiable in p there)
    e = leaf([2.0, 2.0, 2.0])
    (mg.tensor([-2.0, 0.0, 3.0], dtype=mg.float64) ** e).sum().backward()
    np.testing.assert_allclose(grad_of(e), [0.0, 0.0, 9 * np.log(3.0)], rtol=1e-12, atol=1e-12)


@st.composite
def cat_inputs(draw):
    base = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(base), len(base) - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    out = []
    for n in sizes:
        s = list(base)
        s[axis] = n
        out.append(tuple(s))
    return out, axis


@given(cat_inputs(), seeds)
def test_cat_gradchecks(ca, seed):
    shape_list, axis = ca
    ts = [leaf(values(s, seed + i)) for i, s in enumerate(shape_list)]
    out = mg.cat(ts, axis)
    np.testing.assert_array_equal(out.numpy(force=True), np.concatenate([t.numpy(force=True) for t in ts], axis))
    assert mg.gradcheck(lambda *ts: mg.cat(ts, axis=axis), ts)


@given(shapes(), st.integers(1, 3), st.data(), seeds)
def test_stack_gradchecks(shape, n, data, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    ts = [leaf(values(shape, seed + i)) for i in range(n)]
    out = mg.stack(ts, axis)
    np.testing.assert_array_equal(out.numpy(force=True), np.stack([t.numpy(force=True) for t in ts], axis))
    assert mg.gradcheck(lambda *ts: mg.stack(ts, axis=axis), ts)


def test_cat_and_stack_reject_mismatched_shapes():
    with pytest.raises(ValueError,
                       match=r"cat: shapes \[\(2, 3\), \(2, 4\)\] differ outside axis 0"):
        mg.cat([mg.zeros(2, 3), mg.zeros(2, 4)], axis=0)
    with pytest.raises(ValueError,
                       match=r"cat: shapes \[\(2, 3\), \(3,\)\] differ outside axis 1"):
        mg.cat([mg.zeros(2, 3), mg.zeros(3)], axis=1)
    with pytest.raises(ValueError, match="cat: expected a non-empty sequence of tensors"):
        mg.cat([])
    with pytest.raises(ValueError,
                       match=r"stack: all tensors need one shape, got \[\(2,\), \(3,\)\]"):
        mg.stack([mg.zeros(2), mg.zeros(3)])


# ----------------------------------------------------------------------------- indexing

@st.composite
def shape_and_basic_index(draw):
    shape = draw(shapes(min_dims=1))
    return shape, draw(hnp.basic_indices(shape, allow_newaxis=True))


@given(shape_and_basic_index(), seeds)
def test_basic_slicing_gradchecks(si, seed):
    shape, idx = si
    x = leaf(values(shape, seed))
    np.testing.assert_array_equal(x[idx].numpy(force=True), x.numpy(force=True)[idx])
    assert mg.gradcheck(lambda x: x[idx], [x])


@st.composite
def shape_and_integer_index(draw):
    shape = draw(shapes(min_dims=1, min_side=1))
    return shape, draw(hnp.integer_array_indices(shape, result_shape=shapes(max_dims=2)))


@given(shape_and_integer_index(), seeds)
def test_integer_array_indexing_gradchecks_with_repeats(si, seed):
    shape, idx = si
    x = leaf(values(shape, seed))
    on_device = tuple(mg.tensor(i) for i in idx)      # index tensors live with x
    np.testing.assert_array_equal(x[on_device].numpy(force=True), x.numpy(force=True)[idx])
    assert mg.gradcheck(lambda x: x[on_device], [x])


def test_repeated_indices_add_their_gradients():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(grad_of(x), [3, 0, 1])
    w = leaf(np.arange(6.0).reshape(3, 2))
    assert mg.gradcheck(lambda w: w[[1, 1, -1]] * w[:, ::-1][[0, 2, 2]], [w])


def test_boolean_mask_selects_and_gradchecks():
    x = leaf([[1.0, -2.0], [3.0, -4.0]])
    mask = x > 0
    np.testing.assert_array_equal(x[mask].numpy(force=True), [1.0, 3.0])
    assert mg.gradcheck(lambda x: x[mask], [x])


@given(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, min_side=0, max_side=3),
       seeds)
def test_where_broadcasts_and_gradchecks(ms, seed):
    sc, sa, sb = ms.input_shapes
    cond = mg.tensor(np.random.default_rng(seed).random(sc) < 0.5)
    a, b = leaf(values(sa, seed + 1)), leaf(values(sb, seed + 2))
    out = mg.where(cond, a, b)
    np.testing.assert_array_equal(out.numpy(force=True), np.where(cond.numpy(force=True), a.numpy(force=True), b.numpy(force=True)))
    assert mg.gradcheck(lambda a, b: mg.where(cond, a, b), [a, b])
    assert mg.gradcheck(lambda a: mg.where(cond, a, 0.0), [a])
    assert mg.gradcheck(lambda b: mg.where(cond, 1.0, b), [b])


# ----------------------------------------------------------------------------- comparisons

def test_comparisons_give_booleans_and_no_graph():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r, ref in [(x > 2, [False, False, True]), (x <= 2, [True, True, False]),
                   (x == 2, [False, True, False]), (x != x, [False] * 3)]:
        assert r.dtype == np.bool_ and not r.requires_grad and r.creator is None
        np.testing.assert_array_equal(r.numpy(force=True), ref)


# ----------------------------------------------------------------------------- torch's ops

@given(shapes(), seeds)
def test_sin_and_cos_gradcheck(shape, seed):
    x = leaf(values(shape, seed, low=-4.0, high=4.0))
    np.testing.assert_allclose(mg.sin(x).numpy(force=True), np.sin(x.numpy(force=True)))
    np.testing.assert_allclose(x.cos().numpy(force=True), np.cos(x.numpy(force=True)))
    assert mg.gradcheck(mg.sin, [x])
    assert mg.gradcheck(lambda x: x.cos(), [x])


@given(shapes(), seeds, st.sampled_from([(-0.5, 0.7), (None, 0.3), (-0.2, None)]))
def test_clamp_gradchecks_away_from_its_bounds(shape, seed, bounds):
    lo, hi = bounds
    v = values(shape, seed)
    for b in (lo, hi):          # keep the finite-difference step off the kinks
        if b is not None:
            v = np.where(np.abs(v - b) < 0.05, v + 0.1, v)
    x = leaf(v)
    np.testing.assert_array_equal(mg.clamp(x, lo, hi).numpy(force=True), np.clip(v, lo, hi))
    assert mg.gradcheck(lambda x: x.clamp(min=lo, max=hi), [x])


def test_clamp_passes_the_gradient_at_its_bounds_and_keeps_the_dtype():
    x = mg.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    y = x.clamp(-1, 1)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [0, 1, 1, 1, 0])      # torch: 1 at a bound
    assert mg.clamp(mg.tensor([1, 5, 9]), max=6).tolist() == [1, 5, 6]
    with pytest.raises(ValueError, match="clamp: give min=, max= or both"):
        mg.clamp(x)


@st.composite
def shape_axis_index(draw):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    ishape = [draw(st.integers(0, n)) for n in shape]       # no larger than x off the axis
    ishape[axis] = draw(st.integers(0, 4))
    if shape[axis] == 0:
        ishape = [0 if i == axis % len(shape) else n for i, n in enumerate(ishape)]
    return shape, axis, tuple(ishape)


@given(shape_axis_index(), seeds)
def test_gather_picks_like_take_along_axis_and_gradchecks_with_repeats(sai, seed):
    shape, axis, ishape = sai
    x = leaf(values(shape, seed))
    n = shape[axis]
    idx = np.random.default_rng(seed).integers(0, max(n, 1), size=ishape) if n else \
        np.zeros(ishape, dtype=np.int64)
    corner = tuple(slice(0, k) if a != axis % len(shape) else slice(None)
                   for a, k in enumerate(ishape))
    out = mg.gather(x, axis, mg.tensor(idx))
    np.testing.assert_array_equal(out.numpy(force=True), np.take_along_axis(x.numpy(force=True)[corner], idx, axis))
    assert mg.gradcheck(lambda x: x.gather(dim=axis, index=idx), [x])


@given(shapes(min_dims=1, min_side=1), st.data(), st.booleans(), seeds)
def test_topk_values_gradcheck_and_match_a_sort(shape, data, largest, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    k = data.draw(st.integers(0, shape[axis]))
    x = leaf(distinct(shape, seed))
    values_, indices = x.topk(k, dim=axis, largest=largest)
    ref = np.sort(x.numpy(force=True), axis=axis)
    ref = np.flip(ref, axis) if largest else ref
    np.testing.assert_array_equal(values_.numpy(force=True), np.take(ref, np.arange(k), axis=axis))
    np.testing.assert_array_equal(np.take_along_axis(x.numpy(force=True), indices.numpy(force=True), axis),
                                  values_.numpy(force=True))
    assert mg.gradcheck(lambda x: mg.topk(x, k, axis, largest)[0], [x])


@given(shapes(min_dims=2), st.integers(-2, 2), seeds)
def test_tril_and_triu_gradcheck(shape, k, seed):
    x = leaf(values(shape, seed))
    np.testing.assert_array_equal(mg.tril(x, k).numpy(force=True), np.tril(x.numpy(force=True), k))
    np.testing.assert_array_equal(x.triu(diagonal=k).numpy(force=True), np.triu(x.numpy(force=True), k))
    assert mg.gradcheck(lambda x: mg.tril(x, k), [x])
    assert mg.gradcheck(lambda x: mg.triu(x, k), [x])


@given(shapes(), seeds)
def test_clone_copies_and_gradchecks(shape, seed):
    x = leaf(values(shape, seed))
    y = x.clone()
    xp = mg.backend.get_array_module(x.array)
    assert y.array is not x.array and not xp.shares_memory(y.array, x.array)
    np.testing.assert_array_equal(y.numpy(force=True), x.numpy(force=True))
    assert mg.gradcheck(lambda x: mg.clone(x) * 2, [x])


@given(shapes(min_dims=1, min_side=1), st.data(), seeds)
def test_composed_torch_forms_gradcheck(shape, data, seed):
    """min, max(dim) with indices, repeat, narrow/split/chunk, index_select, masked_fill,
    movedim: made of checked ops, checked once more as torch programs call them."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(distinct(shape, seed))
    v, i = x.min(dim=axis)
    np.testing.assert_array_equal(v.numpy(force=True), x.numpy(force=True).min(axis))
    np.testing.assert_array_equal(i.numpy(force=True), x.numpy(force=True).argmin(axis))
    assert mg.gradcheck(lambda x: x.min(axis), [x])
    assert mg.gradcheck(lambda x: x.max(dim=axis, keepdim=True).values, [x])
    reps = data.draw(st.lists(st.integers(0, 2), min_size=len(shape), max_size=len(shape) + 1))
    np.testing.assert_array_equal(x.repeat(*reps).numpy(force=True), np.tile(x.numpy(force=True), reps))
    assert mg.gradcheck(lambda x: x.repeat(reps), [x])
    n = shape[axis]
    pieces = x.chunk(2, dim=axis)
    assert len(pieces) == min(2, n)
    np.testing.assert_array_equal(mg.cat(pieces, dim=axis).numpy(force=True), x.numpy(force=True))
    assert mg.gradcheck(lambda x: x.narrow(axis, n // 2, n - n // 2) * 3, [x])
    assert mg.gradcheck(lambda x: x.split(1, dim=axis)[-1], [x])
    sel = np.array([n - 1, 0, n - 1])
    np.testing.assert_array_equal(x.index_select(axis, sel).numpy(force=True), np.take(x.numpy(force=True), sel, axis))
    assert mg.gradcheck(lambda x: mg.index_select(x, axis, sel), [x])
    mask = x.numpy(force=True) > 0
    np.testing.assert_array_equal(x.masked_fill(mask, -1.0).numpy(force=True), np.where(mask, -1, x.numpy(force=True)))
    assert mg.gradcheck(lambda x: x.masked_fill(mg.tensor(mask), 0.5), [x])
    assert mg.gradcheck(lambda x: x.movedim(axis, 0), [x])


@given(shapes(), seeds, st.sampled_from(["none", "tanh"]))
def test_gelu_gradchecks_in_both_forms(shape, seed, approximate):
    x = leaf(values(shape, seed, low=-4.0, high=4.0))
    v = x.numpy(force=True)
    from math import erf
    exact = v * 0.5 * (1 + np.vectorize(erf)(v / np.sqrt(2))) if v.size else v
    tanh_form = 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3)))
    np.testing.assert_allclose(E.gelu(x, approximate).numpy(force=True),
                               exact if approximate == "none" else tanh_form, atol=1e-15)
    assert mg.gradcheck(lambda x: E.gelu(x, approximate=approximate), [x])


@given(shapes(min_dims=1), st.data(), seeds)
def test_cumsum_gradchecks(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(values(shape, seed))
    np.testing.assert_allclose(mg.cumsum(x, dim=axis).numpy(force=True), np.cumsum(x.numpy(force=True), axis))
    assert mg.gradcheck(lambda x: x.cumsum(axis), [x])


@given(shapes(min_dims=1), st.data(), st.booleans(), seeds)
def test_sort_values_gradcheck_and_indices_sort(shape, data, descending, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(distinct(shape, seed))
    v, i = x.sort(dim=axis, descending=descending)
    ref = np.sort(x.numpy(force=True), axis)
    np.testing.assert_array_equal(v.numpy(force=True), np.flip(ref, axis) if descending else ref)
    np.testing.assert_array_equal(mg.argsort(x, axis, descending).numpy(force=True), i.numpy(force=True))
    assert mg.gradcheck(lambda x: mg.sort(x, axis, descending)[0], [x])


def test_reductions_default_to_one_value_without_kept_axes():
    # like NumPy's: axis=None, keepdims=False, for the op functions and the Functions alike
    x = mg.tensor(np.arange(6.0).reshape(2, 3))
    for reduce_all in (R.sum, R.max, R.mean, lambda t: R.Sum()(t), lambda t: R.Max()(t)):
        assert reduce_all(x).shape == ()
    assert R.sum(x).item() == 15.0 and R.max(x).item() == 5.0 and R.mean(x).item() == 2.5


def test_stack_defaults_to_a_new_first_axis():
    a, b = mg.tensor(np.zeros((2, 3))), mg.tensor(np.ones((2, 3)))
    out = S.stack([a, b])
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(force=True)[1], np.ones((2, 3)))
