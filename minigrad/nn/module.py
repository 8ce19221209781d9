"""``nn.Module`` and ``nn.Parameter``: a tree of layers with named parameters.

Assigning a Parameter or a Module to an attribute registers it under that name, so
``named_parameters()`` and ``state_dict()`` give torch's dotted names ("encoder.weight_ih_l0").
"""
import argparse
from collections import OrderedDict

import numpy as np

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module owns and an optimizer updates (requires grad by default)."""

    def __init__(self, data, requires_grad=True, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.array
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def _as_host_array(value, name):
    """A state_dict value (Tensor, NumPy/CuPy array, torch tensor, list) as an array."""
    if isinstance(value, Tensor):
        return value.array
    if hasattr(value, "detach") and hasattr(value, "cpu"):        # a torch tensor
        return value.detach().cpu().numpy()
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    try:
        return np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise TypeError(f"load_state_dict: value for {name!r} is not an array ({e})") from None


def clear_grads(params, set_to_none=True):
    """What ``zero_grad`` does, for a module's parameters and an optimizer's alike: each
    gradient to None (torch's default), or to zeros in place with ``set_to_none=False``."""
    for p in params:
        if set_to_none or p.grad is None:
            p.grad = None
        else:
            p.grad.zero_()


class Module:
    """Base class of every layer. Subclasses set parameters and sub-modules as attributes in
    ``__init__`` and write ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 "before assigning attributes")
        if isinstance(value, Parameter) or (value is None and name in params):
            self._modules.pop(name, None)
            params[name] = value                 # None: an optional parameter left out
        elif isinstance(value, Module):
            params.pop(name, None)
            self._modules[name] = value
        else:
            params.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def register_parameter(self, name, param):
        """Register ``param``, or None for an optional one such as a missing bias (it then
        shows in neither ``parameters()`` nor ``state_dict()``, as in torch)."""
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name, value, persistent=True):
        """A tensor that belongs to the module but is not trained: moved by ``to``, and saved
        in ``state_dict`` when persistent."""
        self._buffers[name] = persistent
        setattr(self, name, value if isinstance(value, Tensor) or value is None else Tensor(value))

    # -- traversal --------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """This module and every sub-module, in torch's order and with torch's signature: a
        module held in two places is yielded once, where it is first met, unless
        ``remove_duplicate=False`` (what state_dict walks: a shared weight under both names)."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                           remove_duplicate)

    def modules(self):
        return (m for _, m in self.named_modules())

    def children(self):
        return (m for m in self._modules.values() if m is not None)

    def named_children(self):
        return ((name, m) for name, m in self._modules.items() if m is not None)

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module, children first, then on this one (torch's
        order; e.g. ``model.apply(init_weights)``). Returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def named_parameters(self, prefix=""):
        seen = set()
        for mprefix, m in self.named_modules(prefix=prefix):
            for name, p in m._parameters.items():
                if p is not None and id(p) not in seen:     # a shared weight counts once
                    seen.add(id(p))
                    yield (f"{mprefix}.{name}" if mprefix else name), p

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        for mprefix, m in self.named_modules():
            for name, persistent in m._buffers.items():
                t = getattr(m, name)
                if t is not None:
                    yield (f"{mprefix}.{name}" if mprefix else name), t, persistent

    # -- state ------------------------------------------------------------------------
    def state_dict(self, keep_vars=False):
        """name -> Tensor for every parameter and persistent buffer, in torch's order: a
        module's own parameters, then its buffers, then its children's. A weight shared by two
        modules appears under both names, as in torch, so torch checkpoints load either way.
        As torch, parameters come detached (sharing their memory: ``sd[k].numpy()`` works and
        sees later updates); ``keep_vars=True`` gives the Parameters themselves."""
        sd = OrderedDict()
        for mprefix, m in self.named_modules(remove_duplicate=False):
            dot = f"{mprefix}." if mprefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    sd[dot + name] = p if keep_vars else p.detach()
            for name, persistent in m._buffers.items():
                t = getattr(m, name)
                if persistent and t is not None:
                    sd[dot + name] = t
        return sd

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into this module's parameters (and buffers), in place.

        strict: every name must match and every shape agree; otherwise nothing is loaded and
        one error lists all the missing, unexpected and mis-shaped names. With strict=False,
        the names that match and fit are loaded and the rest are returned.
        Returns (missing_keys, unexpected_keys).
        """
        own = self.state_dict(keep_vars=True)      # their arrays are rebound below
        incoming = {k: _as_host_array(v, k) for k, v in state_dict.items()}
        missing = [k for k in own if k not in incoming]
        unexpected = [k for k in incoming if k not in own]
        mismatched = [f"{k}: checkpoint {tuple(incoming[k].shape)}, model {own[k].shape}"
                      for k in own if k in incoming and tuple(incoming[k].shape) != own[k].shape]
        if strict and (missing or unexpected or mismatched):
            lines = [f"{type(self).__name__}.load_state_dict: the state_dict does not match"]
            if missing:
                lines.append("  missing keys: " + ", ".join(missing))
            if unexpected:
                lines.append("  unexpected keys: " + ", ".join(unexpected))
            if mismatched:
                lines.append("  shape mismatches: " + "; ".join(mismatched))
            raise RuntimeError("\n".join(lines))
        for k, t in own.items():
            if k in incoming and tuple(incoming[k].shape) == t.shape:
                value = backend.to_device(incoming[k], t.device)
                t.array = backend.get_array_module(t.array).array(value, dtype=t.dtype, copy=True)
        return missing, unexpected

    # -- modes and devices ------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's gradient: to None (torch's default), or to zeros in place
        with ``set_to_none=False``."""
        clear_grads(self.parameters(), set_to_none)

    def to(self, *args, device=None, dtype=None):
        """Move (and/or cast) every parameter and buffer in place, gradients with them; the
        Parameter objects stay the same, so an optimizer made earlier still updates them.
        As torch: ``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or keywords."""
        for a in args:
            if isinstance(a, np.dtype) or (isinstance(a, type) and issubclass(a, np.generic)):
                dtype = a
            else:
                device = a
        device = None if device is None else backend.check_device(device)

        def moved(array):
            if device is not None:
                array = backend.to_device(array, device)
            if dtype is not None and array.dtype.kind == "f":
                array = array.astype(dtype)
            return array

        for t in list(self.parameters()) + [t for _, t, _ in self.named_buffers()]:
            t.array = moved(t.array)
            if t.grad is not None:
                t.grad.array = moved(t.grad.array)
        return self

    def cuda(self):
        return self.to("cuda")

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self.to(dtype=np.float64)

    def float(self):
        return self.to(dtype=np.float32)

    def type(self, dst_type):
        """Cast every floating parameter and buffer to ``dst_type`` (a dtype, or torch's
        'torch.DoubleTensor' / ``mg.DoubleTensor`` spellings), as torch's Module.type."""
        from .. import dtypes
        target = getattr(dst_type, "dtype", None)
        if not isinstance(target, np.dtype):
            target = dtypes.from_type_name(dst_type) if isinstance(dst_type, str) else None
        return self.to(dtype=target if target is not None else np.dtype(dst_type))

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every parameter (freeze a part with False)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # -- calling ----------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules, registered under "0", "1", ... so their parameters are found."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m):
        setattr(self, str(len(self._modules)), m)
        return self

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied one after another; ``state_dict`` names are "0.weight", "1.bias", ..."""

    def __init__(self, *modules):
        super().__init__(modules)

    def forward(self, x):
        for m in self:
            x = m(x)
        return x
