"""torch's storage semantics: ``t.array`` is the backend array, ``t.data`` a detached tensor
sharing it, ``t.grad`` a tensor; in-place ops modify the tensor itself, safely."""
import re

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.inplace import InPlace, SetItem
from tests.helpers import GPU, leaf, on_device, seeds, shapes, values


def test_data_is_a_detached_tensor_sharing_the_storage():
    p = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = p.data
    assert isinstance(d, mg.Tensor) and not d.requires_grad and d.creator is None
    assert d.array is p.array
    d.array[0] = 10.0                        # a write through .data is a write to p
    assert p.numpy(force=True).tolist() == [10.0, 2.0, 3.0]


def test_assigning_data_replaces_the_storage_and_keeps_the_identity():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    new = mg.tensor([[5.0, 6.0, 7.0]], dtype=mg.float64)
    p.data = new                             # shape and dtype may change, as in torch
    assert p.shape == (1, 3) and p.dtype == np.float64 and p.array is new.array
    p.data = on_device(np.zeros(2, np.float32))   # a backend array is accepted too
    assert p.shape == (2,) and p.requires_grad


def test_detach_shares_the_storage_and_the_version_counter():
    x = mg.tensor([1.0, 2.0])
    d = x.detach()
    d.add_(1)
    assert x.numpy(force=True).tolist() == [2.0, 3.0] and x._version == d._version == 1


# ----------------------------------------------------------------------------- .grad, np.asarray

def test_grad_is_a_tensor_with_torchs_methods():
    p = mg.tensor([1.0, -2.0], requires_grad=True)
    (p * p).sum().backward()
    assert isinstance(p.grad, mg.Tensor) and not p.grad.requires_grad
    assert p.grad.numpy(force=True).tolist() == [2.0, -4.0]
    g = p.grad
    (p * p).sum().backward()                 # accumulates into the same tensor
    assert p.grad is g and g.numpy(force=True).tolist() == [4.0, -8.0]
    assert p.grad.norm().item() == pytest.approx(np.hypot(4.0, 8.0))
    p.data.add_(p.grad, alpha=-0.25)         # the manual SGD step of many tutorials
    assert p.numpy(force=True).tolist() == [0.0, 0.0]
    p.grad.zero_()
    assert p.grad.numpy(force=True).tolist() == [0.0, 0.0]


def test_assigning_grad_checks_the_shape():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    p.grad = on_device(np.ones(2, np.float32))          # an array is wrapped
    assert isinstance(p.grad, mg.Tensor)
    with pytest.raises(ValueError, match=r"assigned grad has shape \(3,\), expected .*\(2,\)"):
        p.grad = mg.zeros(3)


def test_np_asarray_gives_the_values_and_backend_helpers_take_tensors():
    t = mg.tensor([[1.0, 2.0]], device="cpu")
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.tolist() == [[1.0, 2.0]]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert mg.backend.get_array_module(t) is np
    assert mg.backend.to_numpy(t).tolist() == [[1.0, 2.0]]
    assert mg.backend.device_of(t) == "cpu"


# ----------------------------------------------------------------------------- the rules

def test_a_leaf_that_requires_grad_refuses_an_in_place_op():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    msg = "a leaf Variable that requires grad is being used in an in-place operation."
    for change in (lambda: p.add_(1), lambda: p.__iadd__(1), lambda: p.__setitem__(0, 5.0),
                   lambda: p.zero_()):
        with pytest.raises(RuntimeError, match=re.escape(msg)):
            change()
    assert p.numpy(force=True).tolist() == [1.0, 2.0]


def test_plus_equals_under_no_grad_updates_the_parameter_itself():
    model = mg.nn.Linear(3, 2)
    w = model.weight
    before = w.numpy(force=True).copy()           # numpy() shares memory with w
    x = mg.tensor(np.ones((4, 3), np.float32))
    model(x).sum().backward()
    lr = 0.1
    with mg.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    assert model.weight is w and w.requires_grad and w.creator is None
    np.testing.assert_allclose(w.numpy(force=True), before - lr * w.grad.numpy(force=True), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op, expected", [
    ("__iadd__", [3.0, 4.0]), ("__isub__", [-1.0, 0.0]), ("__imul__", [2.0, 4.0]),
    ("__itruediv__", [0.5, 1.0])])
def test_augmented_assignment_is_in_place(op, expected):
    t = mg.tensor([1.0, 2.0])
    alias = t
    array = t.array
    result = getattr(t, op)(2.0)
    assert result is alias and t.array is array
    assert t.numpy(force=True).tolist() == expected and t._version == 1


def test_in_place_results_must_fit_the_tensor():
    t = mg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"add_: output with shape \(2,\) doesn't match"):
        t.add_(mg.ones(3, 2))
    i = mg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.mul_(0.5)


def test_a_value_saved_for_backward_and_changed_in_place_raises_naming_the_op():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = mg.tensor([0.5, 0.5, 0.5], requires_grad=True)
    a = x * 2
    b = a * w                                # Mul keeps a for w's gradient
    a.mul_(3)
    with pytest.raises(RuntimeError, match=(
            r"modified by an inplace operation: the input 0 of Mul \(shape \(3,\)\) is at "
            r"version 1; Mul saved it at version 0")):
        b.sum().backward()


def test_an_output_saved_for_backward_and_changed_in_place_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()                              # Exp keeps its output
    y += 1
    with pytest.raises(RuntimeError, match=r"the output of Exp \(shape \(2,\)\) is at version 1; "
                                           r"Exp saved it at version 0"):
        y.sum().backward()
    x2 = mg.tensor([1.0, 2.0], requires_grad=True)
    y2 = x2.exp()
    with mg.no_grad():                       # not recorded, but still a change
        y2.detach().mul_(2)
    with pytest.raises(RuntimeError, match="output of Exp"):
        y2.sum().backward()


def test_a_custom_function_that_keeps_its_output_is_checked_too():
    class Square(mg.Function):
        def forward(self, x):
            self.y = x * x
            return self.y

        def backward(self, gy):
            return gy * 2 * np.sqrt(self.y)

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = Square()(x)
    y.add_(1)
    with pytest.raises(RuntimeError, match="output of Square"):
        y.sum().backward()


def test_an_output_kept_as_a_view_of_a_buffer_is_checked_too():
    class Buffers:
        pass

    class Cumulative(mg.Function):
        """Two outputs, both views of a buffer that backward reads (as the fused RNN does)."""

        def forward(self, x):
            self.b = Buffers()
            self.b.h = mg.backend.get_array_module(x).stack([x, x * x])
            return self.b.h[0], self.b.h[1]

        def backward(self, g0, g1):
            return g0 + g1 * 2 * self.b.h[0]

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    first, second = Cumulative()(x)
    second.mul_(3)
    with pytest.raises(RuntimeError, match="output 1 of Cumulative"):
        second.sum().backward()


def test_a_change_the_backward_does_not_need_is_allowed_and_routed_right():
    # torch's semantics: z used y before the change, so z's gradient goes to y's old place.
    x = mg.tensor([1.0, 2.0], requires_grad=True, dtype=mg.float64)
    y = x * 1
    z = y + 1                                # Add keeps nothing
    y.mul_(3)
    (z + y).sum().backward()
    assert x.grad.numpy(force=True).tolist() == [4.0, 4.0]      # 1 through z, 3 through y


def test_an_in_place_op_on_a_tensor_in_the_graph_is_recorded():
    x = mg.tensor([1.0, 2.0], requires_grad=True, dtype=mg.float64)
    y = x * 2
    y.tanh_()
    assert y.creator.name == "InPlace"
    assert mg.gradcheck(lambda x: (x * 2).tanh_(), [x])
    assert mg.gradcheck(lambda x: (x * 1).mul_(x), [x])
    assert mg.gradcheck(lambda x: (x * 1).clamp_(-1.5, 1.5), [leaf([-2.0, 0.3, 1.9])])


IN_GRAPH = {   # method call on a tensor in the graph -> the same value written out of place
    "add_": (lambda y, v: y.add_(v), lambda y, v: y + v),
    "add_ alpha": (lambda y, v: y.add_(v, alpha=2), lambda y, v: y + 2 * v),
    "sub_ alpha": (lambda y, v: y.sub_(v, alpha=2), lambda y, v: y - 2 * v),
    "mul_": (lambda y, v: y.mul_(v), lambda y, v: y * v),
    "div_": (lambda y, v: y.div_(v), lambda y, v: y / v),
    "pow_": (lambda y, v: y.pow_(v), lambda y, v: y ** v),
    "neg_": (lambda y, v: y.neg_() * v, lambda y, v: -y * v),
    "exp_": (lambda y, v: y.exp_() * v, lambda y, v: y.exp() * v),
    "sqrt_": (lambda y, v: y.sqrt_() * v, lambda y, v: y.sqrt() * v),
    "log_": (lambda y, v: y.log_() * v, lambda y, v: y.log() * v),
    "abs_": (lambda y, v: (y - 1.5).abs_() * v, lambda y, v: (y - 1.5).abs() * v),
    "sigmoid_": (lambda y, v: y.sigmoid_() * v, lambda y, v: y.sigmoid() * v),
    "relu_": (lambda y, v: (y - 1).relu_() * v, lambda y, v: (y - 1).relu() * v),
    "tanh_": (lambda y, v: y.tanh_() * v, lambda y, v: y.tanh() * v),
    "copy_": (lambda y, v: y.copy_(v) * y, lambda y, v: v * v),
    "fill_": (lambda y, v: y.fill_(v[1]) * v, lambda y, v: v[1] * v),
    "masked_fill_": (lambda y, v: y.masked_fill_(mg.tensor([True, False, True]), v[0]) * v,
                     lambda y, v: mg.stack([v[0], y[1], v[0]]) * v),
}


@pytest.mark.parametrize("name", list(IN_GRAPH))
def test_each_in_place_method_in_the_graph_equals_its_out_of_place_op(name):
    """Values and gradients (float64 finite differences) of ``y.op_(v)`` on y = x * 1, for
    both x and v: a method whose recorded op forgets the old values it needs, or reads values
    the op has overwritten, fails here (abs_ and relu_ see both signs)."""
    in_place, out_of_place = IN_GRAPH[name]
    x, v = leaf([0.7, 1.3, 2.1]), leaf([0.4, -1.2, 0.9])
    got = in_place(x * 1, v)
    np.testing.assert_allclose(got.numpy(force=True), out_of_place(x * 1, v).numpy(force=True), rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(lambda x, v: in_place(x * 1, v), [x, v])


KEEPS_STORAGE = {   # in-place call on y = x * 1 -> whether its backward needs y's old values
    "add_": (lambda y: y.add_(1.0), False), "sub_": (lambda y: y.sub_(1.0), False),
    "mul_": (lambda y: y.mul_(2.0), True), "div_": (lambda y: y.div_(2.0), True),
    "pow_": (lambda y: y.pow_(2.0), True), "log_": (lambda y: y.log_(), True),
    "abs_": (lambda y: y.abs_(), True), "exp_": (lambda y: y.exp_(), False),
    "neg_": (lambda y: y.neg_(), False), "tanh_": (lambda y: y.tanh_(), False),
    "sigmoid_": (lambda y: y.sigmoid_(), False), "sqrt_": (lambda y: y.sqrt_(), False),
    "relu_": (lambda y: y.relu_(), False), "clamp_": (lambda y: y.clamp_(0.0, 1.0), False),
    "fill_": (lambda y: y.fill_(1.0), False), "zero_": (lambda y: y.zero_(), False),
    "copy_": (lambda y: y.copy_(mg.ones(2, 3)), False),
    "masked_fill_": (lambda y: y.masked_fill_(mg.tensor([True, False, True]), 0.0), False),
    "normal_": (lambda y: y.normal_(), False), "uniform_": (lambda y: y.uniform_(), False),
    "setitem": (lambda y: y.__setitem__(0, 5.0), False),
    "view of y": (lambda y: y[0].add_(1.0), False),
}


@pytest.mark.parametrize("name", list(KEEPS_STORAGE))
def test_an_in_place_op_copies_the_old_values_only_when_its_backward_needs_them(name):
    """The recorded op's input 0 is the tensor as it was: its own storage, or a copy of the old
    values when backward reads them (mul_ needs y for the other factor's gradient)."""
    call, copies = KEEPS_STORAGE[name]
    y = leaf(np.full((2, 3), 0.5)) * 1
    storage = y.array
    call(y)
    before = y.creator.inputs[0].array
    assert y.creator.name == "InPlace" and y.array is storage
    assert mg.backend.get_array_module(storage).shares_memory(before, storage) is (not copies)


@pytest.mark.parametrize("name", ["unsqueeze_", "squeeze_", "transpose_", "t_"])
def test_an_in_place_shape_op_keeps_the_storage(name):
    y = leaf(np.ones((1, 3))) * 1
    storage = y.array
    getattr(y, name)(*{"unsqueeze_": (0,), "squeeze_": (), "transpose_": (0, 1), "t_": ()}[name])
    xp = mg.backend.get_array_module(storage)
    assert y.creator.name == "InPlace" and xp.shares_memory(y.array, storage)
    y.array[...] = 7.0                                    # one storage: a view of the old one
    assert bool((storage == 7.0).all())


def test_random_fills_draw_in_the_tensors_own_float_dtype():
    mg.manual_seed(0)
    n = mg.zeros(100, dtype=mg.float64).normal_().numpy(force=True)
    u = mg.zeros(100, dtype=mg.float64).uniform_().numpy(force=True)
    for a in (n, u):    # float64 draws, not float32 ones widened
        assert np.mean(a.astype(np.float32).astype(np.float64) != a) > 0.9


def test_detach_in_place_makes_a_leaf_that_needs_no_gradient():
    x = leaf([1.0, 2.0])
    y = x * 2
    assert y.detach_() is y and y.creator is None and not y.requires_grad
    (y * x).sum().backward()
    assert x.grad.numpy(force=True).tolist() == [2.0, 4.0]          # nothing flowed through y


def test_clamp_passes_the_gradient_at_its_bounds_as_torch():
    """x == min or x == max counts as inside the range (torch: grad * (min <= x <= max))."""
    x = leaf([-1.0, 0.5, 1.0, 2.0, -3.0])
    (x * 1).clamp_(-1.0, 1.0).sum().backward()
    assert x.grad.numpy(force=True).tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    x.grad = None
    (x * 1).clamp_(min=-1.0).sum().backward()
    assert x.grad.numpy(force=True).tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]
    x.grad = None
    (x * 1).clamp_(max=1.0).sum().backward()
    assert x.grad.numpy(force=True).tolist() == [1.0, 1.0, 1.0, 0.0, 1.0]


def test_an_in_place_op_on_a_view_changes_the_viewed_tensor_as_in_torch():
    x = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    v = leaf([10.0, 20.0])

    def through_views(x, v):
        y = x * 1
        y[0] += 1                           # getitem, add_ on the view, setitem
        y[1][1:] *= v                       # a view of a view
        y.view(3, 2).mul_(2)                # reshape
        y.T[0].sub_(v)                      # transpose, then index
        return y

    got = through_views(x, v).numpy(force=True)
    expected = x.numpy(force=True).copy()
    expected[0] += 1
    expected[1, 1:] *= v.numpy(force=True)
    expected *= 2
    expected[:, 0] -= v.numpy(force=True)
    np.testing.assert_allclose(got, expected)
    assert mg.gradcheck(through_views, [x, v])


def test_a_view_in_the_graph_changed_twice_and_read_afterwards():
    x = leaf([1.0, 2.0, 3.0])

    def f(x):
        y = x * 1
        head = y[:2]
        head.mul_(x[:2])                    # y[:2] = x[:2]**2
        head.mul_(3)                        # still a view of y: y[:2] = 3 x[:2]**2
        return y * head.sum()

    assert mg.gradcheck(f, [x])


def test_an_in_place_op_on_a_view_of_a_leaf_that_requires_grad_is_refused():
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[0].add_(1)
    with mg.no_grad():                       # outside the graph a view writes through
        x[0].add_(1)
    assert x.numpy(force=True).tolist() == [[2.0, 3.0]]


def test_the_in_place_methods():
    t = mg.tensor([[-2.0, 0.5], [3.0, -0.25]])
    assert t.clone().clamp_(-1, 1).numpy(force=True).tolist() == [[-1.0, 0.5], [1.0, -0.25]]
    assert t.clone().fill_(7).numpy(force=True).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert t.clone().copy_(mg.tensor([1.0, 2.0])).numpy(force=True).tolist() == [[1.0, 2.0], [1.0, 2.0]]
    mask = mg.tensor([True, False])
    assert t.clone().masked_fill_(mask, 0.0).numpy(force=True).tolist() == [[0.0, 0.5], [0.0, -0.25]]
    assert t.clone().abs_().neg_().numpy(force=True).tolist() == [[-2.0, -0.5], [-3.0, -0.25]]
    assert t.clone().relu_().numpy(force=True).tolist() == [[0.0, 0.5], [3.0, 0.0]]
    assert t.clone().pow_(2).sub_(1, alpha=2).numpy(force=True).tolist() == [[2.0, -1.75], [7.0, -1.9375]]
    u = mg.zeros(3)
    assert u.unsqueeze_(0).shape == (1, 3) and u.t_().shape == (3, 1)
    assert u.squeeze_().shape == (3,) and u._version == 3
    mg.manual_seed(0)
    n = mg.zeros(2000).normal_(1.0, 2.0).numpy(force=True)
    assert abs(n.mean() - 1.0) < 0.2 and abs(n.std() - 2.0) < 0.2
    r = mg.zeros(2000).uniform_(-1.0, 3.0).numpy(force=True)
    assert r.min() >= -1.0 and r.max() < 3.0 and abs(r.mean() - 1.0) < 0.2
    n = mg.zeros(2000).normal_().numpy(force=True)                 # torch's defaults: N(0, 1), U[0, 1)
    assert abs(n.mean()) < 0.1 and abs(n.std() - 1.0) < 0.1
    r = mg.zeros(2000).uniform_().numpy(force=True)
    assert r.min() >= 0.0 and r.max() < 1.0 and abs(r.mean() - 0.5) < 0.05


# ----------------------------------------------------------------------------- setitem

def test_setitem_writes_into_the_tensor():
    t = mg.zeros(2, 3)
    array = t.array
    t[0] = 1.0
    t[1, 1:] = mg.tensor([5.0, 6.0])
    t[t == 0] = -1.0                         # a boolean mask
    assert t.array is array and t.numpy(force=True).tolist() == [[1.0, 1.0, 1.0], [-1.0, 5.0, 6.0]]


@st.composite
def target_index_value(draw):
    """A target shape, a basic or advanced index into it, and a value shape that broadcasts
    into the selection (with its own size-1 dimensions)."""
    shape = draw(shapes(min_dims=1, max_dims=3))
    kind = draw(st.sampled_from(["int", "slice", "array", "mask"]))
    n = shape[0]
    if kind == "int" and n:
        idx = draw(st.integers(-n, n - 1))
    elif kind == "array" and n:
        idx = np.asarray(draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n)),
                         dtype=np.int64)
    elif kind == "mask":
        idx = np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    else:
        start = draw(st.integers(0, n))
        idx = (slice(start, None, draw(st.integers(1, 2))),) + (slice(None),) * (len(shape) - 1)
    sel = np.zeros(shape)[idx].shape
    keep = draw(st.integers(0, len(sel)))            # the value may drop leading dimensions
    v_shape = tuple(1 if draw(st.booleans()) else s for s in sel[len(sel) - keep:])
    return shape, idx, v_shape


@given(target_index_value(), seeds)
@example(((3, 2), (slice(0, None, 1), slice(None)), (1, 2)), 0)      # v broadcast over rows
@example(((1,), 0, ()), 0)                                              # size-1 target
@example(((0, 2), (slice(0, None, 1), slice(None)), (0, 2)), 0)        # size-0 selection
@example(((2, 0), 1, (0,)), 0)                                          # size-0 row
@example(((3,), np.array([True, False, True]), (1,)), 0)             # mask, one value
@example(((3, 2), 0, (1, 2)), 0)                                       # v (1, D) into x[0] (D,)
@example(((3, 2), 1, (1, 1, 2)), 0)                                    # two leading 1s dropped
def test_setitem_gradchecks_against_the_target_and_the_value(tiv, seed):
    shape, idx, v_shape = tiv
    x = leaf(values(shape, seed))
    v = leaf(values(v_shape, seed + 1))

    def assign(x, v):
        y = x.clone()
        y[idx] = v
        return y

    expected = x.numpy(force=True).copy()
    expected[idx] = v.numpy(force=True)
    np.testing.assert_array_equal(assign(x, v).numpy(force=True), expected)
    assert mg.gradcheck(assign, [x, v])


def test_a_sequence_written_into_a_preallocated_tensor_backpropagates_like_stack():
    rng = np.random.default_rng(0)
    W = leaf(rng.standard_normal((3, 3)) * 0.5)
    h0 = leaf(rng.standard_normal((2, 3)))

    def run(preallocate):
        h, hs = h0, []
        out = mg.zeros(4, 2, 3, dtype=mg.float64)
        for t in range(4):
            h = (h @ W).tanh()
            if preallocate:
                out[t] = h
            else:
                hs.append(h)
        return out if preallocate else mg.stack(hs)

    assert mg.gradcheck(lambda W, h0: run(True), [W, h0])
    grads = []
    for flag in (True, False):
        W.grad = h0.grad = None
        (run(flag) ** 2).sum().backward()
        grads.append((W.grad.numpy(force=True), h0.grad.numpy(force=True)))
    np.testing.assert_allclose(grads[0][0], grads[1][0])
    np.testing.assert_allclose(grads[0][1], grads[1][1])


# ----------------------------------------------------------------------------- custom backward

def test_a_custom_backward_with_a_wrong_shape_or_count_raises_naming_the_op():
    class Transposed(mg.Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy.T                      # the student's mistake

    class TooMany(mg.Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy, gy

    W = mg.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape(
            "Transposed.backward returned a gradient of shape (3, 4) for input 0 of shape (4, 3)")):
        Transposed()(W).sum().backward()
    with pytest.raises(RuntimeError, match=re.escape(
            "TooMany.backward returned 2 gradient(s) for 1 input(s)")):
        TooMany()(W).sum().backward()


def test_an_optimizer_step_counts_as_an_in_place_change():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    x = mg.tensor([3.0, 4.0], requires_grad=True)
    loss = (w * x).sum()                     # Mul keeps w for x's gradient
    loss.backward(retain_graph=True)
    mg.optim.SGD([w], lr=0.1).step()
    assert w._version == 1
    with pytest.raises(RuntimeError, match="input 0 of Mul"):
        loss.backward()


@pytest.mark.gpu
@pytest.mark.strict
def test_a_gpu_tensor_refuses_np_asarray_and_changes_in_place_on_the_gpu():
    t = mg.tensor([1.0, 2.0], device=GPU)
    with pytest.raises(TypeError, match=r"call \.cpu\(\) or \.numpy\(force=True\) first"):
        np.asarray(t)
    assert mg.backend.to_numpy(t).tolist() == [1.0, 2.0]
    t[0] = 5.0
    t += 1
    t.clamp_(max=4.0).normal_()
    assert t.device == GPU and mg.backend.is_cupy_array(t.array)
    x = mg.tensor([1.0, 2.0, 3.0], device=GPU, dtype=mg.float64, requires_grad=True)
    v = mg.tensor([7.0], device=GPU, dtype=mg.float64, requires_grad=True)

    def assign(x, v):
        y = x.clone()
        y[1:] = v
        return y

    assert mg.gradcheck(assign, [x, v])


def test_an_in_place_op_on_one_output_of_a_multi_output_op_routes_gradients_right():
    class Split(mg.Function):
        saves_output = False

        def forward(self, x):
            return x[:2] * 1, x[2:] * 1

        def backward(self, g0, g1):
            return backend_cat(g0, g1)

    def backend_cat(a, b):
        return mg.backend.get_array_module(a).concatenate([a, b])

    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=mg.float64)
    a, b = Split()(x)
    b.mul_(mg.tensor([2.0], dtype=mg.float64))
    b.retain_grad()
    (a.sum() + (b * b).sum()).backward()
    # b = 2 x[2:], so d/dx[2:] of b^2 = 2 b * 2 = 8 x[2:]
    assert x.grad.numpy(force=True).tolist() == [1.0, 1.0, 24.0]
    assert b.grad.numpy(force=True).tolist() == [12.0]


# ----------------------------------------------------------------------------- saves_* flags

def _ops_with_declared_flags():
    """(op factory, input arrays) for every op that declares what its backward reads."""
    from minigrad.ops import elementwise as E, index as I, linalg, reduce as R, shape as S
    rng = np.random.default_rng(21)
    a, b = rng.uniform(0.5, 2.0, (3, 4)), rng.uniform(0.5, 2.0, (3, 4))
    signed = a - 1.25
    return {
        "Add": (E.Add, [a, b]), "Sub": (E.Sub, [a, b]), "Mul": (E.Mul, [a, b]),
        "Div": (E.Div, [a, b]), "Neg": (E.Neg, [a]), "Pow": (E.Pow, [a, b]),
        "Exp": (E.Exp, [a]), "Log": (E.Log, [a]), "Sqrt": (E.Sqrt, [a]), "Tanh": (E.Tanh, [a]),
        "Sigmoid": (E.Sigmoid, [a]), "Relu": (E.Relu, [signed]), "Abs": (E.Abs, [signed]),
        "Clamp": (lambda: E.Clamp(-0.5, 0.5), [signed]),
        "Sum": (lambda: R.Sum(1), [a]), "Max": (lambda: R.Max(1), [a]),
        "Norm2": (lambda: R.Norm2(1), [a]), "Cumsum": (lambda: R.Cumsum(1), [a]),
        "Reshape": (lambda: S.Reshape((4, 3)), [a]), "Transpose": (lambda: S.Transpose((1, 0)), [a]),
        "BroadcastTo": (lambda: S.BroadcastTo((2, 3, 4)), [a]),
        "Cast": (lambda: S.Cast(np.dtype(np.float32)), [a]),
        "ToDevice": (lambda: S.ToDevice(mg.backend.default_device()), [a]),
        "Clone": (S.Clone, [a]), "Cat": (lambda: S.Cat(0), [a, b]),
        "Stack": (lambda: S.Stack(1), [a, b]), "GetItem": (lambda: I.GetItem((slice(0, 2),)), [a]),
        "Where": (lambda: E.Where(on_device(a > 1.0)), [a, b]),
        "Gather": (lambda: I.Gather(1, on_device(np.array([[0, 2], [1, 1], [3, 0]]))), [a]),
        "Triangle": (lambda: I.Triangle(0, False), [a]), "MatMul": (linalg.MatMul, [a, b.T]),
        "InPlace": (InPlace, [a, b]), "SetItem": (lambda: SetItem((slice(0, 2),)), [a, b[:2]]),
    }


def _backward_after(make, arrays, spoil):
    """The op's backward, run after ``spoil(inputs, outputs)`` changed raw storage behind the
    version counters' back (so nothing raises: only what backward reads can tell)."""
    xs = [mg.tensor(x.copy(), dtype=mg.float64, requires_grad=True) for x in arrays]
    fn = make()
    out = fn(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    gys = [on_device(np.random.default_rng(22).standard_normal(o.shape).astype(o.dtype))
           for o in outs]
    spoil(xs, outs)
    grads = fn.backward(*gys)
    return [None if g is None else mg.backend.to_numpy(g) for g in
            (grads if isinstance(grads, tuple) else (grads,))]


def _same(g1, g2):
    return all((a is None and b is None) or (a is not None and b is not None and a.shape == b.shape
                                             and np.allclose(a, b, rtol=0, atol=0))
               for a, b in zip(g1, g2))


def _spoil(t):
    if t.array.flags.writeable:     # (BroadcastTo's output is read-only: nothing changes it)
        t.array[...] = t.array * 1.7 + 0.3


@pytest.mark.parametrize("name", list(_ops_with_declared_flags()))
def test_an_ops_saves_flags_say_what_its_backward_reads(name):
    """``saves_output`` and ``saves_inputs`` tell the version check which values backward
    reads: changing a value the op declares unread must leave its gradients alone, and
    changing one it declares read must change them (else the check raises for nothing)."""
    make, arrays = _ops_with_declared_flags()[name]
    cls = type(make())
    base = _backward_after(make, arrays, lambda xs, outs: None)
    if cls.saves_output is not None:
        spoiled = _backward_after(make, arrays, lambda xs, outs: [_spoil(o) for o in outs])
        # an output that is a view of an input (Reshape) spoils that input too: such ops read
        # neither
        assert _same(base, spoiled) is (not cls.saves_output), f"{name}.saves_output"
    if cls.saves_inputs is not None:
        for i in range(len(arrays)):
            spoiled = _backward_after(make, arrays, lambda xs, outs: _spoil(xs[i]))
            assert _same(base, spoiled) is (i not in cls.saves_inputs), f"{name} input {i}"


def test_an_in_place_op_through_a_view_with_its_axes_permuted_in_a_cycle():
    # A transposition is its own inverse; a 3-cycle is not: writing through y = x.permute(1, 2, 0)
    # must put the values back with the inverse permutation.
    x = leaf(np.arange(24.0).reshape(2, 3, 4) / 10)
    v = leaf(np.linspace(-1, 1, 4 * 2).reshape(4, 2))

    def through_a_cycle(x, v):
        y = x * 1
        y.permute(1, 2, 0)[1].add_(v)       # (3, 4, 2)[1] is (4, 2): x[:, 1, :] += v.T
        return y

    expected = x.numpy(force=True).copy()
    expected[:, 1, :] += v.numpy(force=True).T
    np.testing.assert_allclose(through_a_cycle(x, v).numpy(force=True), expected, rtol=0, atol=1e-15)
    assert mg.gradcheck(through_a_cycle, [x, v])


def test_a_saved_value_changed_before_and_after_it_was_saved_raises():
    # The check compares the last change with the moment the call was recorded: a change
    # before recording must neither hide a later one nor count as one.
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    a = x * 1
    a.mul_(2)                                # version 1, before Mul saves a
    b = a * w                                # Mul saves a at version 1
    b.sum().backward(retain_graph=True)      # nothing changed since: fine
    np.testing.assert_allclose(w.grad.numpy(force=True), [2.0, 4.0])
    a.add_(1)                                # version 2
    a.add_(1)                                # version 3
    with pytest.raises(RuntimeError, match=r"the input 0 of Mul \(shape \(2,\)\) is at version 3; "
                                           r"Mul saved it at version 1"):
        b.sum().backward()
