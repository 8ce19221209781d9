"""``mg.gradcheck``: backward() against central finite differences, in float64.

The function's outputs are reduced to one number with fixed random weights R,
f(x) = sum(R * fn(x)); backward gives df/dx for every input element at once, and each element
is then nudged by +-eps: (f(x + eps) - f(x - eps)) / (2 eps). A random R makes it
practically impossible for a wrong Jacobian to agree by chance.

``CHECKED`` records the ``Function`` types each check's backward walked (the ops whose
backward the check tested); the test suite's coverage test reads it, so that no op goes
without a gradient check.
"""
import numpy as np

from . import backend
from .tensor import Tensor, _consumers, enable_grad, no_grad


CHECKED = set()


def _record_walk(outs):
    """Add to CHECKED the type of every call the backward from ``outs`` (the function's
    outputs, not the ops that reduce them to one number) will walk, found as the engine's walk
    finds them (inputs as recorded, in-place ops included)."""
    for o in outs:
        if o.creator is not None:
            CHECKED.update(type(fn) for fn in _consumers(o.creator, {}))


def _outputs(fn, inputs):
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor)]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Check ``fn(*inputs)``'s backward against finite differences.

    ``inputs``: tensors; those with ``requires_grad`` are checked and must be float64.
    ``fn`` returns a tensor or a tuple of tensors. Returns True, or raises AssertionError
    naming the input, the index and both values of the worst element.
    """
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need "
                            "float64 (make it with dtype=mg.float64 or .double())")
    for i in checked:
        inputs[i].grad = None

    with enable_grad():
        outs = _outputs(fn, inputs)
    rng = np.random.default_rng(0)
    weights = [backend.to_device(rng.standard_normal(o.shape), o.device).astype(o.dtype)
               for o in outs]

    def f():
        with no_grad():
            total = 0.0
            for o, r in zip(_outputs(fn, inputs), weights):
                total += float((o.array * r).sum())
            return total

    with enable_grad():
        loss = None
        for o, r in zip(outs, weights):
            if o.requires_grad:
                term = (o * Tensor._wrap(r)).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            _record_walk(outs)
            loss.backward()

    for i in checked:
        x = inputs[i]
        analytic = x.grad.array if x.grad is not None else backend.xp_for(x.device).zeros(x.shape)
        if tuple(analytic.shape) != x.shape:
            raise AssertionError(f"gradcheck: input {i} has shape {x.shape} but its gradient "
                                 f"has shape {tuple(analytic.shape)}")
        analytic = backend.to_numpy(analytic).astype(np.float64)
        numeric = np.zeros(x.shape)
        # A C-ordered copy (ascontiguousarray would turn a 0-d input into 1-d), so that
        # the flat view below nudges x itself.
        x.array = backend.get_array_module(x.array).array(x.array, order="C")
        flat = x.array.reshape(-1)            # a view: nudging it nudges x
        for k in range(flat.size):
            old = flat[k].item()
            flat[k] = old + eps
            fp = f()
            flat[k] = old - eps
            fm = f()
            flat[k] = old
            numeric.reshape(-1)[k] = (fp - fm) / (2 * eps)
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if excess.size and excess.max() > 0:
            k = np.unravel_index(int(np.argmax(excess)), x.shape)
            raise AssertionError(
                f"gradcheck: input {i} (shape {x.shape}) at index {tuple(int(j) for j in k)}: "
                f"backward gives {analytic[k]:.8g}, finite differences give {numeric[k]:.8g}")
    return True
