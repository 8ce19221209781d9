"""The autograd engine: the graph walk, accumulation, freeing, no_grad, retain_grad,
detect_anomaly, dtypes of new tensors, and the errors of backward()."""
import re

import numpy as np
import pytest

import minigrad as mg
from tests.helpers import GPU, grad_of


def test_new_tensors_follow_torchs_dtype_rules():
    assert mg.tensor(1.5).dtype == np.float32
    assert mg.tensor([1, 2]).dtype == np.int64
    assert mg.tensor([True, False]).dtype == np.bool_
    assert mg.tensor(np.zeros(2, dtype=np.float64)).dtype == np.float64      # arrays keep theirs
    assert mg.tensor([1, 2], dtype=mg.float64).dtype == np.float64
    assert mg.zeros(2).dtype == np.float32 and mg.arange(3).dtype == np.int64
    assert mg.arange(0, 1, 0.5).dtype == np.float32
    assert mg.full((2,), 3).dtype == np.int64


def test_zero_dimensional_results_and_gradients_are_arrays_not_scalars():
    array_type = type(mg.zeros(1).array)
    x = mg.tensor(2.0, requires_grad=True)
    y = x * 3 + 1
    assert type(y.array) is array_type and y.shape == ()
    y.backward()
    assert type(x.grad.array) is array_type and x.grad.shape == ()


def test_default_dtype_can_be_changed_and_rejects_integers():
    try:
        mg.set_default_dtype(mg.float64)
        assert mg.tensor(1.5).dtype == np.float64 and mg.randn(2).dtype == np.float64
    finally:
        mg.set_default_dtype(mg.float32)
    with pytest.raises(TypeError, match="set_default_dtype: expected a floating dtype, got int64"):
        mg.set_default_dtype(np.int64)


def test_only_floating_tensors_require_grad():
    with pytest.raises(TypeError, match="only floating tensors can require grad, got dtype int64"):
        mg.tensor([1, 2], requires_grad=True)


def test_chain_rule_through_a_small_expression():
    x = mg.tensor(2.0, requires_grad=True)
    y = mg.tensor(-3.0, requires_grad=True)
    z = (x * y + x.tanh()) ** 2           # dz/dx = 2(xy + tanh x)(y + 1 - tanh^2 x)
    z.backward()
    inner = 2 * -3 + np.tanh(2)
    np.testing.assert_allclose(grad_of(x), 2 * inner * (-3 + 1 - np.tanh(2) ** 2), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad_of(y), 2 * inner * 2, rtol=1e-6, atol=1e-6)


def test_a_tensor_used_twice_gets_both_gradients():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    (h * h + h).sum().backward()          # d/dx (9x^2 + 3x) = 18x + 3
    np.testing.assert_allclose(grad_of(x), [21.0, 39.0])


def test_each_leaf_owns_its_gradient_array():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    seed = mg.tensor([1.0, 1.0]).array
    (a + b).backward(seed)                # Add hands the same array to both inputs
    a.grad *= 0                           # in place, as a user might (a.grad is a tensor)
    np.testing.assert_array_equal(grad_of(b), [1.0, 1.0])
    np.testing.assert_array_equal(mg.backend.to_numpy(seed), [1.0, 1.0])


def test_gradients_accumulate_across_backward_calls_until_cleared():
    x = mg.tensor([1.0, -1.0], requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(grad_of(x), 2 * x.numpy(force=True) + 3)
    x.zero_grad()
    assert x.grad is None


def test_graph_is_freed_after_backward_unless_retained():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    loss = (x.exp() * 2).sum()
    loss.backward(retain_graph=True)
    loss.backward()                       # the retained graph runs again
    np.testing.assert_allclose(grad_of(x), 4 * np.exp(x.numpy(force=True)), rtol=1e-6, atol=1e-6)
    with pytest.raises(RuntimeError, match=r"backward through Sum a second time: the graph was "
                                           r"freed by the first backward \(pass "
                                           r"retain_graph=True to keep it\)"):
        loss.backward()


def test_backward_needs_a_graph_and_a_gradient_of_the_right_shape():
    with pytest.raises(RuntimeError, match="backward\\(\\): this tensor does not require grad"):
        mg.tensor([1.0]).backward()
    y = mg.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"grad can be implied only for a one-element tensor; "
                                           r"this one has shape \(2,\), pass grad="):
        y.backward()
    with pytest.raises(ValueError, match=r"backward\(\): grad has shape \(3,\), expected the "
                                         r"tensor's shape \(2,\)"):
        y.backward(np.ones(3))


def test_backward_with_an_explicit_gradient():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(grad_of(x), [2.0, 0.0, -6.0])


def test_backward_of_a_leaf_sets_its_own_gradient():
    x = mg.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad == 1.0


def test_ten_thousand_step_chain_backward_is_iterative():
    x = mg.tensor(1.0, dtype=mg.float64, requires_grad=True)
    h = x
    for _ in range(10_000):
        h = h * 1.0001 + 0.0
    h.backward()
    np.testing.assert_allclose(grad_of(x), 1.0001 ** 10_000, rtol=1e-9, atol=1e-9)


def test_dropping_a_long_unused_graph_frees_it_at_once():
    # The graph holds no reference cycle (a call keeps its inputs, never its outputs), so
    # dropping the last tensor frees a 20,000-step chain by reference counting alone, without
    # the cycle collector, and without overflowing the stack.
    import gc
    import weakref
    x = mg.tensor(1.0, requires_grad=True)
    h = x.tanh()
    first_call = weakref.ref(h.creator)
    for _ in range(20_000):
        h = h.tanh()
    gc.disable()
    try:
        del h
        assert first_call() is None, "the graph outlived its last tensor (a reference cycle?)"
    finally:
        gc.enable()


def test_unused_outputs_and_branches_get_no_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tensor([5.0, 6.0], requires_grad=True)
    a = x * 2
    _ = y * 3                             # never reaches the loss
    a.sum().backward()
    np.testing.assert_allclose(grad_of(x), [2.0, 2.0])
    assert y.grad is None


def test_no_grad_records_nothing_and_enable_grad_restores():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        y = x * 2
        assert not mg.is_grad_enabled()
        with mg.enable_grad():
            z = x * 2
    assert mg.is_grad_enabled()
    assert y.creator is None and not y.requires_grad
    assert z.creator is not None and z.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with mg.no_grad():
            1 / 0
    assert mg.is_grad_enabled()


def test_detach_cuts_the_graph_and_shares_values():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    d = h.detach()
    assert d.creator is None and not d.requires_grad
    np.testing.assert_array_equal(d.numpy(force=True), h.numpy(force=True))
    (d * x).sum().backward()
    np.testing.assert_allclose(grad_of(x), d.numpy(force=True))      # nothing flowed through d


def test_retain_grad_keeps_an_intermediate_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    other = x * 5
    (h * h + h + other).sum().backward()
    np.testing.assert_allclose(grad_of(h), 2 * h.numpy(force=True) + 1)
    np.testing.assert_allclose(grad_of(x), 3 * (2 * h.numpy(force=True) + 1) + 5)
    assert other.grad is None             # not retained


def test_retain_grad_on_the_root():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).retain_grad()
    y.backward(np.array([1.0, 1.0]))
    np.testing.assert_allclose(grad_of(y), [1.0, 1.0])


def test_detect_anomaly_names_the_op_that_made_a_nan_in_forward():
    x = mg.tensor([1.0, -1.0], requires_grad=True)
    with np.errstate(invalid="ignore"), mg.detect_anomaly():
        with pytest.raises(FloatingPointError,
                           match=r"detect_anomaly: Log produced NaN/Inf in its forward "
                                 r"\(output 0, shape \(2,\)\)"):
            x.log()
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().numpy(force=True)[1])            # outside the block: no check


def test_detect_anomaly_names_the_op_that_made_an_inf_in_backward():
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore"), mg.detect_anomaly():
        y = (x.sqrt() * 2).sum()           # forward is finite; d sqrt/dx at 0 is not
        with pytest.raises(FloatingPointError,
                           match="detect_anomaly: Sqrt produced NaN/Inf in its backward"):
            y.backward()


def test_manual_seed_repeats_every_draw():
    def draws():
        return [mg.randn(3).numpy(force=True), mg.rand(2, 2).numpy(force=True), mg.randint(0, 10, (4,)).numpy(force=True),
                mg.nn.Linear(3, 2).weight.numpy(force=True),
                mg.functional.dropout(mg.ones(8), 0.5).numpy(force=True)]
    mg.manual_seed(123)
    first = draws()
    mg.manual_seed(123)
    for a, b in zip(first, draws()):
        np.testing.assert_array_equal(a, b)
    mg.manual_seed(124)
    assert not np.array_equal(first[0], mg.randn(3).numpy(force=True))


def test_factories():
    np.testing.assert_array_equal(mg.zeros(2, 3).numpy(force=True), np.zeros((2, 3)))
    np.testing.assert_array_equal(mg.ones((2,)).numpy(force=True), np.ones(2))
    np.testing.assert_array_equal(mg.full((2,), 1.5).numpy(force=True), [1.5, 1.5])
    np.testing.assert_array_equal(mg.arange(1, 7, 2).numpy(force=True), [1, 3, 5])
    assert mg.zeros_like(mg.zeros(2, dtype=mg.float64)).dtype == np.float64
    assert mg.randn(2, 3, requires_grad=True).requires_grad
    assert mg.rand(1000).numpy(force=True).min() >= 0 and mg.rand(1000).numpy(force=True).max() < 1


def test_conversions_and_repr():
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    assert x.shape == (1, 2) and x.ndim == 2 and len(x) == 1 and x.numel() == 2
    assert x.size() == (1, 2) and x.size(-1) == 2
    assert x.numpy(force=True).tolist() == [[1.0, 2.0]]
    assert x.sum().item() == 3.0 and x.tolist() == [[1.0, 2.0]]
    assert x.double().dtype == np.float64 and x.long().dtype == np.int64
    assert "requires_grad=True" in repr(x) and "grad_fn=Mul" in repr(x * 2)
    with pytest.raises(ValueError,
                       match=r"item\(\): only one-element tensors, got shape \(1, 2\)"):
        x.item()


def test_double_is_differentiable():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x.double() * 3).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(grad_of(x), [3.0, 3.0])


def test_numpy_array_on_the_left_calls_the_tensor_operator():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, mg.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), [3.0, 4.0])


@pytest.mark.gpu
@pytest.mark.strict
def test_ops_on_two_devices_raise_a_clear_error():
    a = mg.tensor([1.0, 2.0], device="cpu")
    b = mg.tensor([1.0, 2.0], device=GPU)
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on one device, got "
                                           rf"cpu \(2,\), {GPU} \(2,\); move them with "
                                           r"\.to\(device\)"):
        a + b
    with pytest.raises(RuntimeError, match="MatMul: expected all tensors on one device"):
        a @ b


@pytest.mark.gpu
@pytest.mark.strict
def test_a_graph_on_the_gpu_backpropagates_to_gpu_gradients():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], device=GPU, requires_grad=True)
    loss = mg.functional.cross_entropy(x @ x.T, mg.tensor([0, 1], device=GPU))
    loss.backward()
    assert mg.backend.device_of(x.grad) == GPU
    assert np.isfinite(mg.backend.to_numpy(x.grad)).all()


# ----------------------------------------------------------------------------- ops defined here

class _Halves(mg.Function):
    """Two outputs: the first and second half of a vector (a multi-output op for the tests)."""

    def forward(self, x):
        n = x.shape[0] // 2
        return x[:n] * 1, x[n:] * 2

    def backward(self, g1, g2):
        xp = mg.backend.get_array_module(g1)
        return xp.concatenate([g1, 2 * g2])


class _WrongSquare(mg.Function):
    """x^2 with a wrong derivative (3x instead of 2x): gradcheck must catch it."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        return gy * 3 * self.inputs[0].array


def test_an_unused_output_gets_a_zero_gradient():
    x = mg.tensor(np.arange(4.0), requires_grad=True)
    first, _ = _Halves()(x)
    del _
    (first * 5).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [5, 5, 0, 0])
    y = mg.tensor(np.arange(4.0), dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda y: _Halves()(y), [y])


def test_gradcheck_names_the_input_index_and_both_values():
    x = mg.tensor([1.0, -2.0, 3.0], dtype=mg.float64, requires_grad=True)
    with pytest.raises(AssertionError) as err:
        mg.gradcheck(lambda x: _WrongSquare()(x), [x])
    # The output is weighted randomly before the check, so only the ratio 3x / 2x is known.
    m = re.fullmatch(r"gradcheck: input 0 \(shape \(3,\)\) at index \(\d,\): backward gives "
                     r"(\S+), finite differences give (\S+)", str(err.value))
    assert m, str(err.value)
    np.testing.assert_allclose(float(m[1]) / float(m[2]), 1.5, rtol=1e-6, atol=1e-6)


def test_gradcheck_checks_its_inputs():
    with pytest.raises(TypeError, match="gradcheck: input 0 is float32; finite differences need "
                                        "float64"):
        mg.gradcheck(lambda x: x * 2, [mg.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="gradcheck: no input requires grad"):
        mg.gradcheck(lambda x: x * 2, [mg.tensor([1.0], dtype=mg.float64)])


def test_gradcheck_leaves_the_inputs_values_unchanged():
    values = np.array([[0.5, -1.5], [2.0, 0.25]])
    x = mg.tensor(values.T, dtype=mg.float64, requires_grad=True)     # not C-contiguous
    assert mg.gradcheck(lambda x: (x * x).sum(axis=0), [x])
    np.testing.assert_array_equal(x.numpy(force=True), values.T)


def test_the_defaults_of_a_new_tensor():
    t = mg.Tensor([1.0, 2.0])
    assert not t.requires_grad and t.is_leaf and t._version == 0
    assert t.requires_grad_() is t and t.requires_grad
    host = mg.tensor([1.0, 2.0], device="cpu")
    assert np.shares_memory(np.asarray(host), host.array)    # np.asarray(t) copies nothing
    assert np.shares_memory(np.asarray(host, dtype=host.dtype), host.array)


def test_a_backward_called_by_hand_keeps_what_forward_saved():
    # Outside the walk nobody says the graph is dropped, so an op must not overwrite its
    # saved buffers: calling it twice gives the same gradient.
    z = mg.tensor(np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]]), requires_grad=True)
    loss = mg.functional.cross_entropy(z, mg.tensor([2, 0]))
    xp = mg.backend.get_array_module(z.array)
    first = mg.backend.to_numpy(loss.creator.backward(xp.ones(())))
    second = mg.backend.to_numpy(loss.creator.backward(xp.ones(())))
    np.testing.assert_array_equal(first, second)


def test_the_walk_tells_each_backward_whether_the_graph_is_kept():
    seen = []

    class Records(mg.Function):
        def forward(self, x):
            return x * 1.0

        def backward(self, gy):
            seen.append(self.retain_graph)
            return gy

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    loss = Records()(x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert seen == [True, False]


def test_backward_frees_what_forward_saved():
    import weakref
    x = mg.tensor(np.linspace(-1, 1, 5), requires_grad=True)
    loss = x.tanh().sum()
    tanh = loss.creator.inputs[0].creator
    saved = weakref.ref(tanh.y)                    # the output tanh keeps for its backward
    loss.backward()
    assert saved() is None and tanh.inputs is None
    assert loss.creator.inputs is None


def test_a_zero_d_gradient_reaches_an_in_place_write_as_an_array():
    # 0-d arithmetic gives NumPy scalars; the walk hands them on as arrays, which
    # SetItem's backward writes into.
    x = mg.tensor(1.5, dtype=mg.float64, requires_grad=True)
    w = mg.tensor(3.0, dtype=mg.float64, requires_grad=True)
    z = x * 2
    z[()] = w * 1.0
    (z * w).backward()                             # (z * w) = w^2 once x is overwritten
    assert x.grad.item() == 0.0 and w.grad.item() == 6.0


def test_numpy_shares_memory_and_refuses_what_torch_refuses():
    old = mg.backend.default_device()            # the host's semantics, whatever the suite's
    mg.set_default_device("cpu")                 # device (MINIGRAD_DEVICE=strict)
    try:
        _numpy_on_the_host()
    finally:
        mg.set_default_device(old)


def _numpy_on_the_host():
    t = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    n = t.numpy()
    n[0, 0] = 9                                  # torch: numpy() shares the tensor's memory
    assert t.tolist() == [[9.0, 2.0], [3.0, 4.0]]
    t.add_(1)
    assert n.tolist() == [[10.0, 3.0], [4.0, 5.0]]
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"^Can't call numpy\(\) on Tensor that requires "
                                           r"grad. Use tensor.detach\(\).numpy\(\) instead.$"):
        w.numpy()
    with pytest.raises(RuntimeError, match=r"requires grad"):
        (w * 2).numpy()                          # a result in the graph too
    d = w.detach().numpy()
    d[0] = 5                                     # detach shares memory as well
    assert w.tolist() == [5.0, 2.0]
    assert w.numpy(force=True).tolist() == [5.0, 2.0]
    with mg.no_grad():
        assert (w * 2).numpy().tolist() == [10.0, 4.0]
    lin = mg.nn.Linear(2, 3)
    sd = lin.state_dict()                        # detached, as torch: numpy() works, and
    assert not sd["weight"].requires_grad and sd["weight"].numpy().shape == (3, 2)
    sd["bias"].fill_(2.0)                        # writes reach the layer (shared memory)
    sd["weight"].numpy()[0, 0] = 7.0
    assert lin.bias.tolist() == [2.0, 2.0, 2.0] and lin.weight[0, 0].item() == 7.0
    assert lin.state_dict(keep_vars=True)["weight"] is lin.weight


def test_numpy_of_a_device_tensor_names_cpu():
    t = mg.tensor([1.0, 2.0], device="strict")
    with pytest.raises(TypeError, match=r"numpy\(\): can't convert a strict device tensor to "
                                        r"NumPy; copy it to host memory first with \.cpu\(\)"
                                        r".*\.get\(\)"):
        t.numpy()
    assert t.cpu().numpy().tolist() == [1.0, 2.0]
    host = t.numpy(force=True)
    assert isinstance(host, np.ndarray) and host.tolist() == [1.0, 2.0]
    host[0] = 7                                  # a host copy: the device tensor keeps its values
    assert t.tolist() == [1.0, 2.0]
