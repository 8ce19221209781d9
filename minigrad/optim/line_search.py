"""The strong-Wolfe line search that ``LBFGS(line_search_fn='strong_wolfe')`` runs along its
direction d (Nocedal & Wright, *Numerical Optimization*, 2nd ed., algorithms 3.5 and 3.6, with
the cubic interpolation of their equation 3.59), with torch's constants: c1 = 1e-4,
c2 = 0.9, at most 25 evaluations.

A step t is accepted when it satisfies both strong Wolfe conditions on phi(t) = f(x + t d):

    sufficient decrease   phi(t) <= phi(0) + c1 t phi'(0)
    curvature             |phi'(t)| <= c2 |phi'(0)|

The search first moves t forward (extrapolating by cubic interpolation, at most 10x) until
the interval [t_prev, t] must hold such a step, then shrinks that interval ("zoom"), each
trial point the minimiser of the cubic through both ends' values and slopes, kept away from
the ends when progress stalls. Everything here is host float64 (the flat vectors LBFGS keeps).
"""
import numpy as np


def cubic_minimum(t1, f1, g1, t2, f2, g2, lo=None, hi=None):
    """The minimiser of the cubic with values f1, f2 and slopes g1, g2 at t1, t2, clipped to
    [lo, hi] (default: between t1 and t2); the middle of [lo, hi] when the cubic has none."""
    lo, hi = (min(t1, t2), max(t1, t2)) if lo is None else (lo, hi)
    d1 = g1 + g2 - 3 * (f1 - f2) / (t1 - t2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2
    d2 = np.sqrt(disc)
    if t1 <= t2:
        t = t2 - (t2 - t1) * (g2 + d2 - d1) / (g2 - g1 + 2 * d2)
    else:
        t = t1 - (t1 - t2) * (g1 + d2 - d1) / (g1 - g2 + 2 * d2)
    return float(min(max(t, lo), hi))


class _Point:
    """A trial step: t, phi(t), the full gradient there and phi'(t) = gradient . d."""
    __slots__ = ("t", "f", "g", "slope")

    def __init__(self, t, f, g, d):
        self.t, self.f, self.g, self.slope = t, f, g, float(g @ d)


def strong_wolfe(evaluate, d, t, f0, g0, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                 max_ls=25):
    """Search along ``d`` from the current point (loss ``f0``, gradient ``g0``), first trying
    step ``t``. ``evaluate(t)`` gives (loss, gradient) at x + t d. Returns (loss, gradient, t,
    number of evaluations) at the step chosen."""
    slope0 = float(g0 @ d)
    d_scale = float(np.abs(d).max())
    zero = _Point(0.0, f0, g0, d)

    def at(step):
        f, g = evaluate(step)
        return _Point(step, f, g, d)

    def armijo_fails(p):
        return p.f > f0 + c1 * p.t * slope0

    def curvature_holds(p):
        return abs(p.slope) <= -c2 * slope0

    # ---- bracketing (N&W 3.5): step forward until [prev, new] must hold an acceptable t
    prev, new = zero, at(t)
    evals, tries = 1, 0
    bracket = None
    while tries < max_ls:
        if armijo_fails(new) or (tries > 1 and new.f >= prev.f):
            bracket = [prev, new]
            break
        if curvature_holds(new):
            return new.f, new.g, new.t, evals
        if new.slope >= 0:                      # past a minimum along d
            bracket = [prev, new]
            break
        step = cubic_minimum(prev.t, prev.f, prev.slope, new.t, new.f, new.slope,
                             lo=new.t + 0.01 * (new.t - prev.t), hi=new.t * 10)
        prev, new = new, at(step)
        evals += 1
        tries += 1
    if bracket is None:                         # out of evaluations while still descending
        bracket = [zero, new]

    # ---- zoom (N&W 3.6): shrink the bracket; lo is its end with the lower loss
    stalled = False
    lo, hi = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
    while tries < max_ls:
        a, b = bracket[0].t, bracket[1].t
        if abs(b - a) * d_scale < tolerance_change:
            break
        step = cubic_minimum(a, bracket[0].f, bracket[0].slope, b, bracket[1].f,
                             bracket[1].slope)
        left, right = min(a, b), max(a, b)
        margin = 0.1 * (right - left)
        if min(right - step, step - left) < margin:
            # Too near an end: one such step is allowed; after it, or outside the bracket,
            # step a tenth of the width in from the nearer end so that the bracket shrinks.
            if stalled or step >= right or step <= left:
                step = right - margin if abs(step - right) < abs(step - left) else left + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        p = at(step)
        evals += 1
        tries += 1
        if armijo_fails(p) or p.f >= bracket[lo].f:
            bracket[hi] = p                     # the minimum lies between lo and p
        else:
            if curvature_holds(p):
                bracket[lo] = p
                break
            if p.slope * (bracket[hi].t - bracket[lo].t) >= 0:
                bracket[hi] = bracket[lo]       # the slope at p points back past lo
            bracket[lo] = p
        lo, hi = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
    best = bracket[lo]
    return best.f, best.g, best.t, evals


__all__ = ["strong_wolfe", "cubic_minimum"]
