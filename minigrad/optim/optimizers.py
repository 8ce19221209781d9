"""Optimizers, each following torch's update rule to the letter (the docstrings give it).

Parameters are updated in place (on ``p.array``, the backend array, as torch's optimizers
work under no_grad), so the Parameter objects a Module holds stay the same. Gradients are
never modified in place.
"""
import math

from .. import backend, versions
from ..nn.module import clear_grads
from ..tensor import Tensor, enable_grad


class Optimizer:
    def __init__(self, params, defaults):
        params = list(params) if not isinstance(params, Tensor) else [params]
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups = []
        for g in groups:
            group = dict(defaults)
            group.update(g)
            group["params"] = list(group["params"])
            self.param_groups.append(group)
        self.state = {}          # id(param) -> dict of arrays

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def zero_grad(self, set_to_none=True):
        """Clear the gradients: to None (torch's default), or to zeros in place with
        ``set_to_none=False``."""
        clear_grads(self._params(), set_to_none)

    _coupled_weight_decay = True        # weight_decay joins the gradient (not AdamW's)

    def step(self, closure=None):
        """One update. ``closure`` (torch's form), if given, recomputes the loss with its
        gradients first (``zero_grad``, forward, ``backward``, return the loss); the step
        returns what it returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(id(p), {})
                xp = backend.get_array_module(p.array)
                g = p.grad.array
                if self._coupled_weight_decay and group.get("weight_decay", 0):
                    g = g + group["weight_decay"] * p.array
                self._update(p, g, state, group, xp)
                versions.bump(p)     # as torch: a graph that saved p's old values now refuses backward
        return loss

    def _update(self, p, g, state, group, xp):
        raise NotImplementedError

    def state_dict(self):
        """{'state': {index: {name: array}}, 'param_groups': [hyperparameters with 'params'
        as indices]}, as torch: parameters are named by their position."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[k]: dict(v) for k, v in self.state.items() if k in index}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        params = self._params()
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved optimizer has "
                             f"groups of sizes {[len(g['params']) for g in groups]}, this one "
                             f"{[len(g['params']) for g in self.param_groups]}")
        for saved, group in zip(groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            # Copies, as torch: buffers updated in place must not be shared with the source.
            xp = backend.xp_for(p.device)
            self.state[id(p)] = {
                k: (xp.array(backend.to_device(v, p.device), copy=True)
                    if hasattr(v, "shape") and getattr(v, "ndim", 0)
                    else (v.item() if hasattr(v, "item") else v))
                for k, v in s.items()}


class SGD(Optimizer):
    """g <- g + weight_decay * p
    momentum: b <- g on the first step, then b <- momentum * b + (1 - dampening) * g;
              g <- g + momentum * b (nesterov) or g <- b
    p <- p - lr * g"""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got "
                             f"{lr}, {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, p, g, state, group, xp):
        m = group["momentum"]
        if m:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = xp.array(g, copy=True)
            else:
                b = state["momentum_buffer"]
                b *= m
                b += (1 - group["dampening"]) * g
            b = state["momentum_buffer"]
            g = g + m * b if group["nesterov"] else b
        p.array -= group["lr"] * g


class Adam(Optimizer):
    """m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    (amsgrad: v replaced by the running max of v in the denominator)"""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _update(self, p, g, state, group, xp):
        b1, b2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.array)
            state["exp_avg_sq"] = xp.zeros_like(p.array)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.array)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # in place, through two scratch arrays: the formula's eight temporaries, each a fresh
        # array the size of the parameter, cost more than its arithmetic on a large one
        tmp, denom = xp.empty_like(m), xp.empty_like(m)
        m *= b1
        m += xp.multiply(g, 1 - b1, out=tmp)
        v *= b2
        tmp = xp.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v += tmp
        if group["amsgrad"]:
            xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        step_size = group["lr"] / (1 - b1 ** t)
        xp.sqrt(v, out=denom)
        denom /= math.sqrt(1 - b2 ** t)
        denom += group["eps"]
        update = xp.multiply(m, step_size, out=tmp)
        update /= denom
        p.array -= update


class Adagrad(Optimizer):
    """clr = lr / (1 + (t - 1) lr_decay);  G <- G + g^2;  p <- p - clr * g / (sqrt(G) + eps)"""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        if lr < 0 or lr_decay < 0 or eps < 0:
            raise ValueError(f"Adagrad: invalid lr={lr}, lr_decay={lr_decay} or eps={eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _update(self, p, g, state, group, xp):
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(p.array, group["initial_accumulator_value"])
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        p.array -= clr * g / (xp.sqrt(state["sum"]) + group["eps"])


class RMSprop(Optimizer):
    """s <- alpha s + (1 - alpha) g^2;  centered: a <- alpha a + (1 - alpha) g, s~ = s - a^2
    d = sqrt(s or s~) + eps;  momentum: b <- momentum b + g / d, p <- p - lr b;
    else p <- p - lr g / d"""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        if lr < 0 or eps < 0 or momentum < 0 or not 0 <= alpha:
            raise ValueError(f"RMSprop: invalid lr={lr}, alpha={alpha}, eps={eps} or "
                             f"momentum={momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _update(self, p, g, state, group, xp):
        alpha = group["alpha"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.array)
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(p.array)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.array)
        state["step"] += 1
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * (g * g)
        if group["centered"]:
            a = state["grad_avg"]
            a *= alpha
            a += (1 - alpha) * g
            avg = xp.sqrt(s - a * a) + group["eps"]
        else:
            avg = xp.sqrt(s) + group["eps"]
        if group["momentum"] > 0:
            b = state["momentum_buffer"]
            b *= group["momentum"]
            b += g / avg
            p.array -= group["lr"] * b
        else:
            p.array -= group["lr"] * g / avg


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p - lr * weight_decay * p, then Adam's step
    (weight_decay does not enter m and v). torch's default weight_decay is 0.01."""
    _coupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)

    def _update(self, p, g, state, group, xp):
        p.array *= 1 - group["lr"] * group["weight_decay"]
        super()._update(p, g, state, group, xp)


class Adadelta(Optimizer):
    """s <- rho s + (1 - rho) g^2;  delta = sqrt(u + eps) / sqrt(s + eps) * g;
    u <- rho u + (1 - rho) delta^2;  p <- p - lr delta"""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        if lr < 0 or eps < 0 or not 0 <= rho <= 1:
            raise ValueError(f"Adadelta: invalid lr={lr}, rho={rho} or eps={eps}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def _update(self, p, g, state, group, xp):
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.array)
            state["acc_delta"] = xp.zeros_like(p.array)
        state["step"] += 1
        s, u = state["square_avg"], state["acc_delta"]
        s *= rho
        s += (1 - rho) * (g * g)
        delta = xp.sqrt(u + eps) / xp.sqrt(s + eps) * g
        u *= rho
        u += (1 - rho) * (delta * delta)
        p.array -= group["lr"] * delta
