"""Optimizers: the first steps of each equal torch's update rule, worked by hand in NumPy
here (float64, fixed gradients), and state_dict round-trips."""
import copy
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from tests.helpers import on_device, optimizer_steps

STEPS = 4


run = optimizer_steps


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal(5), [rng.standard_normal(5) for _ in range(STEPS)]


def check(got, expected):
    for t, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {t + 1}")


# ----------------------------------------------------------------------------- SGD

@pytest.mark.parametrize("momentum, dampening, nesterov, wd", [
    (0.0, 0.0, False, 0.0), (0.9, 0.0, False, 0.0), (0.9, 0.1, False, 0.01),
    (0.8, 0.0, True, 0.05)])
def test_sgd_matches_the_update_worked_by_hand(problem, momentum, dampening, nesterov, wd):
    p0, grads = problem
    lr = 0.1
    p, buf, expected = p0.copy(), None, []
    for g in grads:
        g = g + wd * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        expected.append(p)
    check(run(lambda ps: optim.SGD(ps, lr=lr, momentum=momentum, dampening=dampening,
                                   weight_decay=wd, nesterov=nesterov), p0, grads), expected)


def test_sgd_rejects_bad_settings():
    p = [nn.Parameter(np.zeros(2))]
    with pytest.raises(ValueError,
                       match="SGD: lr, momentum and weight_decay must be >= 0, got -1"):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="SGD: nesterov needs momentum > 0 and dampening = 0"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([], lr=0.1)


# ----------------------------------------------------------------------------- Adam

@pytest.mark.parametrize("amsgrad, wd", [(False, 0.0), (True, 0.0), (False, 0.1), (True, 0.1)])
def test_adam_matches_the_update_worked_by_hand(problem, amsgrad, wd):
    p0, grads = problem
    lr, b1, b2, eps = 0.01, 0.8, 0.9, 1e-6
    p, m, v, vmax, expected = p0.copy(), 0 * p0, 0 * p0, 0 * p0, []
    for t, g in enumerate(grads, start=1):
        g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - b1 ** t)
        v_hat = (vmax if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        expected.append(p)
    check(run(lambda ps: optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                                    amsgrad=amsgrad), p0, grads), expected)


def test_amsgrad_uses_the_largest_second_moment_so_far():
    # A big gradient then small ones: with amsgrad the step stays small afterwards.
    grads = [np.array([10.0]), np.array([0.1]), np.array([0.1]), np.array([0.1])]
    plain = run(lambda ps: optim.Adam(ps, lr=0.1, amsgrad=False), np.zeros(1), grads)
    ams = run(lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True), np.zeros(1), grads)
    assert abs(ams[3] - ams[2]) < abs(plain[3] - plain[2])


# ----------------------------------------------------------------------------- Adagrad

@pytest.mark.parametrize("lr_decay, init, wd", [(0.0, 0.0, 0.0), (0.1, 0.5, 0.02)])
def test_adagrad_matches_the_update_worked_by_hand(problem, lr_decay, init, wd):
    p0, grads = problem
    lr, eps = 0.1, 1e-10
    p, total, expected = p0.copy(), np.full(5, init), []
    for t, g in enumerate(grads, start=1):
        g = g + wd * p
        clr = lr / (1 + (t - 1) * lr_decay)
        total = total + g * g
        p = p - clr * g / (np.sqrt(total) + eps)
        expected.append(p)
    check(run(lambda ps: optim.Adagrad(ps, lr=lr, lr_decay=lr_decay, weight_decay=wd,
                                       initial_accumulator_value=init), p0, grads), expected)


# ----------------------------------------------------------------------------- RMSprop

@pytest.mark.parametrize("centered, momentum, wd", [
    (False, 0.0, 0.0), (True, 0.0, 0.0), (False, 0.9, 0.0), (True, 0.9, 0.05)])
def test_rmsprop_matches_the_update_worked_by_hand(problem, centered, momentum, wd):
    p0, grads = problem
    lr, alpha, eps = 0.01, 0.9, 1e-8
    p, sq, avg, buf, expected = p0.copy(), 0 * p0, 0 * p0, 0 * p0, []
    for g in grads:
        g = g + wd * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            avg = alpha * avg + (1 - alpha) * g
            denom = np.sqrt(sq - avg * avg) + eps
        else:
            denom = np.sqrt(sq) + eps
        if momentum:
            buf = momentum * buf + g / denom
            p = p - lr * buf
        else:
            p = p - lr * g / denom
        expected.append(p)
    check(run(lambda ps: optim.RMSprop(ps, lr=lr, alpha=alpha, eps=eps, weight_decay=wd,
                                       momentum=momentum, centered=centered), p0, grads),
          expected)


# ----------------------------------------------------------------------------- shared behaviour

def test_parameters_without_gradients_are_skipped_and_gradients_left_alone():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    g = np.array([1.0, -1.0])
    a.grad = on_device(g)
    opt.step()
    np.testing.assert_array_equal(b.numpy(force=True), 1.0)
    assert not np.array_equal(a.numpy(force=True), 1.0)
    np.testing.assert_array_equal(g, [1.0, -1.0])            # the gradient array untouched
    opt.zero_grad()
    assert a.grad is None


def test_sgd_momentum_buffer_does_not_alias_the_gradient():
    # the first step copies the gradient into the buffer; later steps update the buffer in
    # place, which must not write into the gradient array handed in
    p = nn.Parameter(np.zeros(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    g = on_device(np.array([1.0, -2.0]))
    for _ in range(2):
        p.grad = g
        opt.step()
    np.testing.assert_array_equal(mg.backend.to_numpy(g), [1.0, -2.0])


def test_defaults_and_state_dict_hyperparameters():
    p = nn.Parameter(np.zeros(2))
    # torch's defaults
    assert optim.SGD([p]).defaults == dict(lr=1e-3, momentum=0.0, dampening=0.0,
                                           weight_decay=0.0, nesterov=False)
    adam = optim.Adam([p]).defaults
    assert (adam["lr"], adam["betas"], adam["eps"], adam["weight_decay"], adam["amsgrad"]) == \
        (1e-3, (0.9, 0.999), 1e-8, 0.0, False)
    adagrad = optim.Adagrad([p]).defaults
    assert (adagrad["lr"], adagrad["lr_decay"], adagrad["weight_decay"],
            adagrad["initial_accumulator_value"], adagrad["eps"]) == (1e-2, 0.0, 0.0, 0.0, 1e-10)
    rms = optim.RMSprop([p]).defaults
    assert (rms["lr"], rms["alpha"], rms["eps"], rms["weight_decay"], rms["momentum"],
            rms["centered"]) == (1e-2, 0.99, 1e-8, 0.0, 0.0, False)
    group = optim.SGD([p], lr=0.1, momentum=0.9).state_dict()["param_groups"][0]
    assert (group["lr"], group["momentum"], group["params"]) == (0.1, 0.9, [0])


def test_rmsprop_state_holds_what_torchs_holds():
    # torch's keys: step and square_avg, momentum_buffer only with momentum > 0, grad_avg
    # only when centered; step counts the steps taken
    for momentum, centered, extra in [(0.0, False, set()), (0.5, True, {"momentum_buffer", "grad_avg"})]:
        p = nn.Parameter(np.zeros(2))
        opt = optim.RMSprop([p], lr=0.1, momentum=momentum, centered=centered)
        for _ in range(3):
            p.grad = on_device(np.ones(2))
            opt.step()
        state = opt.state_dict()["state"][0]
        assert set(state) == {"step", "square_avg"} | extra
        assert state["step"] == 3


def test_parameter_groups_take_their_own_settings():
    a, b = nn.Parameter(np.ones(1)), nn.Parameter(np.ones(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = on_device(np.ones(1)), on_device(np.ones(1))
    opt.step()
    np.testing.assert_allclose([a.item(), b.item()], [0.9, 0.0])


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True),
    lambda ps: optim.Adagrad(ps, lr=0.1),
    lambda ps: optim.RMSprop(ps, lr=0.1, momentum=0.5, centered=True)])
def test_state_dict_round_trip_continues_exactly(make):
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(3) for _ in range(4)]

    def fresh():
        p = nn.Parameter(np.arange(3.0))
        return p, make([p])

    p, opt = fresh()
    for g in grads[:2]:
        p.grad = on_device(g)
        opt.step()
    # state_dict() holds references to the live buffers, as torch's: snapshot it.
    saved_p, saved = p.numpy(force=True).copy(), copy.deepcopy(opt.state_dict())
    for g in grads[2:]:
        p.grad = on_device(g)
        opt.step()
    q, opt2 = fresh()
    q.array = on_device(saved_p.copy())
    opt2.load_state_dict(saved)
    for g in grads[2:]:
        q.grad = on_device(g)
        opt2.step()
    np.testing.assert_array_equal(q.numpy(force=True), p.numpy(force=True))


def test_loaded_state_is_a_copy_not_shared_with_the_source():
    p, q = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    a, b = optim.SGD([p], lr=0.1, momentum=0.9), optim.SGD([q], lr=0.1, momentum=0.9)
    p.grad = on_device(np.ones(2))
    a.step()
    b.load_state_dict(a.state_dict())
    q.grad = on_device(np.full(2, 5.0))
    b.step()
    np.testing.assert_array_equal(
        mg.backend.to_numpy(a.state_dict()["state"][0]["momentum_buffer"]), [1.0, 1.0])


def test_load_state_dict_rejects_a_different_parameter_layout():
    opt = optim.SGD([nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))], lr=0.1)
    other = optim.SGD([nn.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: the saved optimizer has groups "
                                         r"of sizes \[1\], this one \[2\]"):
        opt.load_state_dict(other.state_dict())


def test_a_model_trains_with_each_optimizer():
    for make in (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                 lambda ps: optim.Adam(ps, lr=0.05), lambda ps: optim.Adagrad(ps, lr=0.3),
                 lambda ps: optim.RMSprop(ps, lr=0.03)):
        mg.manual_seed(0)
        x = mg.randn(32, 3)
        y = mg.tensor(x.numpy(force=True) @ np.array([1.0, -2.0, 0.5], dtype=np.float32))
        lin = nn.Linear(3, 1)
        opt = make(lin.parameters())
        for _ in range(100):
            opt.zero_grad()
            loss = mg.functional.mse_loss(lin(x).reshape(-1), y)
            loss.backward()
            opt.step()
        assert loss.item() < 0.05 and math.isfinite(loss.item())
