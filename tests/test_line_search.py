"""LBFGS(line_search_fn='strong_wolfe'): the line search's conditions and its cubic step, and
the optimizer on a quadratic and on the Rosenbrock function, whose minima are known."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import minigrad as mg
from minigrad import nn, optim
from minigrad.optim.line_search import cubic_minimum, strong_wolfe


def test_the_cubic_step_is_exact_on_a_cubic_and_a_quadratic():
    # f(t) = (t - 2)^2: values and slopes at 0 and 3 give the minimum 2 exactly.
    assert cubic_minimum(0.0, 4.0, -4.0, 3.0, 1.0, 2.0) == pytest.approx(2.0, abs=1e-12)
    # f(t) = t^3 - 3t (local minimum at 1), from t = 0 and t = 2, in either order.
    f, g = (lambda t: t ** 3 - 3 * t), (lambda t: 3 * t ** 2 - 3)
    assert cubic_minimum(0.0, f(0), g(0), 2.0, f(2), g(2)) == pytest.approx(1.0, abs=1e-12)
    assert cubic_minimum(2.0, f(2), g(2), 0.0, f(0), g(0)) == pytest.approx(1.0, abs=1e-12)
    # Clipped to the bounds; no real minimiser: the middle of the bounds.
    assert cubic_minimum(0.0, 4.0, -4.0, 3.0, 1.0, 2.0, lo=2.5, hi=9.0) == 2.5
    assert cubic_minimum(0.0, 0.0, 3.0, 1.0, 2.0, 3.0, lo=0.0, hi=4.0) == 2.0


@settings(max_examples=40, deadline=None)
@given(a=st.floats(0.05, 50.0), c=st.floats(-3.0, 3.0), q=st.floats(0.0, 5.0),
       t0=st.floats(1e-3, 20.0))
@example(a=50.0, c=3.0, q=0.0, t0=20.0)        # the first step overshoots far
@example(a=0.05, c=-3.0, q=0.0, t0=1e-3)       # the first step is far too short
def test_the_step_found_meets_both_strong_wolfe_conditions(a, c, q, t0):
    """phi(t) = f(x + t d) for f(x) = a (x - c)^2 / 2 + q (x - c)^4 from x = c - 1, d = 1."""
    def f_and_g(x):
        return a * (x - c) ** 2 / 2 + q * (x - c) ** 4, a * (x - c) + 4 * q * (x - c) ** 3

    x0, d = c - 1.0, np.array([1.0])
    f0, g0 = f_and_g(x0)
    calls = []

    def evaluate(t):
        calls.append(t)
        f, g = f_and_g(x0 + t)
        return f, np.array([g])

    f, g, t, n = strong_wolfe(evaluate, d, t0, f0, np.array([g0]))
    assert n == len(calls) <= 25
    assert (f, g[0]) == f_and_g(x0 + t)                     # what it returns is at t
    assert f <= f0 + 1e-4 * t * g0 + 1e-12                  # sufficient decrease
    assert abs(g[0]) <= 0.9 * abs(g0) + 1e-12               # curvature (strong)


def _minimise(f, x0, **kwargs):
    x = nn.Parameter(mg.tensor(x0, dtype=mg.float64))
    opt = optim.LBFGS([x], **kwargs)
    evals = []

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        evals.append(loss.item())
        return loss
    return x, opt, closure, evals


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_lbfgs_with_strong_wolfe_finds_rosenbrocks_minimum():
    x, opt, closure, evals = _minimise(rosenbrock, [-1.2, 1.0], lr=1, max_iter=200,
                                       line_search_fn="strong_wolfe", tolerance_grad=1e-10,
                                       tolerance_change=1e-14)
    opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), [1.0, 1.0], atol=1e-6)
    assert len(evals) == 45                      # torch 2.13 also takes 45 evaluations
    # The same trajectory as torch's: after 12 iterations (14 evaluations), torch 2.13 is at
    # (-0.34877876, 0.12519507).
    x, opt, closure, evals = _minimise(rosenbrock, [-1.2, 1.0], lr=1, max_iter=12,
                                       line_search_fn="strong_wolfe")
    opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), [-0.34877876, 0.12519507], atol=1e-8)
    assert len(evals) == 14
    # The fixed step (lr=1, no line search) gets nowhere near in as many evaluations.
    x, opt, closure, evals = _minimise(rosenbrock, [-1.2, 1.0], lr=1, max_iter=45)
    opt.step(closure)
    assert not np.allclose(x.detach().numpy(), [1.0, 1.0], atol=1e-3)


def test_lbfgs_with_strong_wolfe_solves_a_quadratic():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 6))
    A, b = M @ M.T + 0.5 * np.eye(6), rng.standard_normal(6)
    At, bt = mg.tensor(A), mg.tensor(b)

    def quadratic(x):
        return 0.5 * (x * (At @ x)).sum() - (bt * x).sum()

    x, opt, closure, evals = _minimise(quadratic, np.zeros(6), lr=1, max_iter=50,
                                       line_search_fn="strong_wolfe", tolerance_grad=1e-10,
                                       tolerance_change=1e-14)
    opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(A, b), atol=1e-6)
    assert len(evals) <= 50 * 5 // 4             # max_eval counts the line search's calls
    assert all(later <= earlier + 1e-12 for earlier, later in zip(evals, evals[1:]))


def test_lbfgs_refuses_other_line_searches():
    with pytest.raises(ValueError, match=r"LBFGS: only 'strong_wolfe' is supported as "
                                         r"line_search_fn, got 'backtracking'"):
        optim.LBFGS(nn.Linear(2, 2).parameters(), line_search_fn="backtracking")
