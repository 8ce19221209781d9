"""``torch.autograd`` as older tutorials import it: ``Variable`` (merged into Tensor by torch
0.4, still accepted) and the engine's names (``Function``, ``no_grad``, ``backward``)."""
from .tensor import (Function, Tensor, detect_anomaly, enable_grad, no_grad,
                     set_grad_enabled)


def Variable(data, requires_grad=False, volatile=False):
    """torch's legacy wrapper: the tensor itself, as a leaf sharing ``data``'s memory, with
    ``requires_grad`` set (torch has returned a plain Tensor since 0.4)."""
    if not isinstance(data, Tensor):
        raise TypeError(f"Variable: expected a tensor (Variable(mg.tensor(...))), got "
                        f"{type(data).__name__}")
    if volatile:
        raise ValueError("Variable: volatile=True was removed in torch 0.4; evaluate inside "
                         "`with mg.no_grad():` instead")
    out = data.detach()
    return out.requires_grad_(requires_grad) if requires_grad else out


def backward(tensors, grad_tensors=None):
    """``tensors.backward(grad_tensors)`` for one tensor or each of a list."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grads = [grad_tensors] if grad_tensors is None or isinstance(grad_tensors, Tensor) \
        else list(grad_tensors)
    grads = grads * len(tensors) if len(grads) == 1 else grads
    for t, g in zip(tensors, grads):
        t.backward(g)


__all__ = ["Variable", "Function", "backward", "no_grad", "enable_grad", "set_grad_enabled",
           "detect_anomaly"]
