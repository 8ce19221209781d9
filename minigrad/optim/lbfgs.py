"""L-BFGS (torch's ``optim.LBFGS``): a quasi-Newton method that needs the loss again at each
inner iteration, so ``step`` takes a closure, as in torch:

    def closure():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        return loss
    optimizer.step(closure)

Each step runs up to ``max_iter`` iterations. An iteration builds the direction
d = -H g from the last ``history_size`` pairs (s = step taken, y = change of gradient) with
the two-loop recursion (H's scale: s.y / y.y of the newest pair), moves the parameters by
t d (t = lr; on the very first iteration t = min(1, 1 / |g|_1) lr) and re-evaluates the
closure. With ``line_search_fn='strong_wolfe'`` the step t is instead chosen by a strong-Wolfe
line search starting from that t (``line_search.py``), and its evaluations count towards
``max_eval``. It stops early when the largest gradient entry is below ``tolerance_grad``, when
the step or the loss change falls below ``tolerance_change``, or after ``max_eval``
evaluations.
The curvature pairs and the last direction carry over from one ``step`` to the next.
"""
import numpy as np

from .. import backend, versions
from ..tensor import enable_grad
from .line_search import strong_wolfe
from .optimizers import Optimizer


class LBFGS(Optimizer):
    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if lr <= 0 or max_iter < 1 or history_size < 1:
            raise ValueError(f"LBFGS: invalid lr={lr}, max_iter={max_iter} or "
                             f"history_size={history_size}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: only 'strong_wolfe' is supported as line_search_fn, got "
                             f"{line_search_fn!r} (None: a fixed step of lr, torch's default)")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._lbfgs = {"func_evals": 0, "n_iter": 0}

    def _flat_grad(self):
        """All gradients as one float64 host vector (zeros for a parameter without one)."""
        parts = [np.zeros(p.array.size) if p.grad is None
                 else backend.to_numpy(p.grad.array).reshape(-1).astype(np.float64)
                 for p in self._params()]
        return np.concatenate(parts)

    def _move(self, t, d):
        """p <- p + t * d, d split back into the parameters' shapes."""
        offset = 0
        for p in self._params():
            n = p.array.size
            piece = (t * d[offset:offset + n]).reshape(p.shape).astype(p.dtype)
            p.array += backend.to_device(piece, p.device)
            versions.bump(p)
            offset += n

    def _params_copy(self):
        return [p.array.copy() for p in self._params()]

    def _restore(self, saved):
        for p, a in zip(self._params(), saved):
            p.array[...] = a
            versions.bump(p)

    def _evaluate(self, closure):
        with enable_grad():
            return closure()

    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that recomputes the loss "
                               "(zero_grad, forward, backward, return loss)")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        state = self._lbfgs

        orig_loss = self._evaluate(closure)
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if np.abs(g).max() <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        dirs, steps, ro = state.get("dirs", []), state.get("steps", []), state.get("ro", [])
        h_diag = state.get("h_diag", 1.0)
        prev_g, prev_loss = state.get("prev_g"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, dirs, steps, ro, h_diag = -g, [], [], [], 1.0
            else:
                y, s = g - prev_g, d * t
                ys = float(y @ s)
                if ys > 1e-10:                  # keep only pairs with positive curvature
                    if len(dirs) == group["history_size"]:
                        dirs.pop(0), steps.pop(0), ro.pop(0)
                    dirs.append(y), steps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                q = -g
                alpha = [0.0] * len(dirs)
                for i in range(len(dirs) - 1, -1, -1):
                    alpha[i] = float(steps[i] @ q) * ro[i]
                    q = q - alpha[i] * dirs[i]
                d = r = q * h_diag
                for i in range(len(dirs)):
                    beta = float(dirs[i] @ r) * ro[i]
                    r = r + (alpha[i] - beta) * steps[i]
                d = r
            prev_g, prev_loss = g.copy(), loss
            t = min(1.0, 1.0 / np.abs(g).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = float(g @ d)
            if gtd > -tol_change:               # not a descent direction any more
                break
            done = False
            if group["line_search_fn"] == "strong_wolfe":
                start = self._params_copy()

                def along(step):                # loss and gradient at start + step d
                    self._move(step, d)
                    value = float(self._evaluate(closure))
                    grad = self._flat_grad()
                    self._restore(start)
                    return value, grad

                loss, g, t, ls_evals = strong_wolfe(along, d, t, loss, g,
                                                    tolerance_change=tol_change)
                self._move(t, d)
                done = np.abs(g).max() <= tol_grad
                evals += ls_evals
                state["func_evals"] += ls_evals
            else:
                self._move(t, d)
                if n_iter != max_iter:
                    loss = float(self._evaluate(closure))
                    g = self._flat_grad()
                    done = np.abs(g).max() <= tol_grad
                    evals += 1
                    state["func_evals"] += 1
            if n_iter == max_iter or evals >= max_eval or done:
                break
            if np.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        state.update(d=d, t=t, dirs=dirs, steps=steps, ro=ro, h_diag=h_diag, prev_g=prev_g,
                     prev_loss=prev_loss)
        return orig_loss
