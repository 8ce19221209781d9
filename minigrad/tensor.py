"""The autograd engine: Tensor, Function, and the backward walk.

A ``Function`` is one op: ``forward`` on raw arrays, ``backward`` on raw arrays. Calling it on
tensors runs ``forward`` and, when a gradient is wanted, records the call in the output's
``creator``. ``Tensor.backward`` sorts the recorded calls (iteratively, so a 10,000-step
unroll is fine) and walks them in reverse, handing each its output gradients.

The operators (``+``, ``@``, ``t.sum()``, ...) are installed on ``Tensor`` by ``minigrad.ops``,
where each op lives with its forward and backward.
"""
import contextlib
import weakref

import numpy as np

from . import backend

_grad_enabled = [True]
_anomaly = [False]


@contextlib.contextmanager
def no_grad():
    """Inside this block, ops record nothing (evaluation, parameter updates)."""
    old = _grad_enabled[0]
    _grad_enabled[0] = False
    try:
        yield
    finally:
        _grad_enabled[0] = old


@contextlib.contextmanager
def enable_grad():
    old = _grad_enabled[0]
    _grad_enabled[0] = True
    try:
        yield
    finally:
        _grad_enabled[0] = old


def is_grad_enabled():
    return _grad_enabled[0]


@contextlib.contextmanager
def detect_anomaly():
    """Inside this block the first op that makes a NaN or Inf, in forward or in backward,
    raises ``FloatingPointError`` naming that op."""
    old = _anomaly[0]
    _anomaly[0] = True
    try:
        yield
    finally:
        _anomaly[0] = old


def _check_finite(fn, arrays, where):
    for i, a in enumerate(arrays):
        if a is None or a.dtype.kind not in "fc":
            continue
        xp = backend.get_array_module(a)
        if not bool(xp.isfinite(a).all()):
            raise FloatingPointError(
                f"detect_anomaly: {fn.name} produced NaN/Inf in its {where} "
                f"(output {i}, shape {tuple(a.shape)})")


# ----------------------------------------------------------------------------- Tensor

def _as_array(data, dtype, device):
    """Backend array for ``data``: Python floats take the default dtype, ints stay ints,
    arrays keep their dtype unless one is given."""
    if isinstance(data, Tensor):
        data = data.array
    if device is None:
        device = backend.device_of(data) if backend.is_cupy_array(data) else backend.default_device()
    xp = backend.xp_for(device)
    if dtype is None and not hasattr(data, "dtype"):
        probe = np.asarray(data)
        dtype = backend.get_default_dtype() if probe.dtype.kind == "f" else probe.dtype
        data = probe
    if backend.is_cupy_array(data) and device == "cpu":
        data = data.get()
    return xp.asarray(data, dtype=dtype)


class Tensor:
    """An n-dimensional array that remembers how it was made.

    ``array``: the backend array (numpy.ndarray on 'cpu', cupy.ndarray on 'cuda').
    ``data``: a tensor sharing ``array``, detached from the graph (torch's ``.data``).
    ``grad``: a backend array of ``array``'s shape, or None; gradients add up until cleared.
    ``creator``: the Function call that produced it (None for leaves).
    """
    __array_priority__ = 1000      # so that ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.array = _as_array(data, dtype, device)
        self.grad = None
        self.creator = None
        self.requires_grad = bool(requires_grad)
        self._retain_grad = False
        if self.requires_grad and self.array.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require grad, got dtype {self.array.dtype}")

    # -- properties -------------------------------------------------------------------
    shape = property(lambda self: self.array.shape)         # a tuple for NumPy and CuPy
    ndim = property(lambda self: self.array.ndim)
    dtype = property(lambda self: self.array.dtype)
    device = property(lambda self: backend.device_of(self.array))
    is_leaf = property(lambda self: self.creator is None)

    @property
    def data(self):
        """A tensor sharing this one's storage, detached from the graph (as in torch):
        ``p.data.add_(p.grad, alpha=-lr)`` updates ``p`` without recording anything."""
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value):
        # As in torch, ``p.data = x`` replaces the storage (shape and dtype may change) and
        # keeps the tensor's identity, so modules and optimizers holding ``p`` see the change.
        if isinstance(value, Tensor):
            value = value.array
        elif not (isinstance(value, np.ndarray) or backend.is_cupy_array(value)):
            value = _as_array(value, None, self.device)
        self.array = value

    @property
    def T(self):
        return self.transpose()

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.array.size)

    def __len__(self):
        return len(self.array)

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = f", device='{self.device}'" if self.device != "cpu" else ""
        if self.creator is not None:
            extra += f", grad_fn={self.creator.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}, dtype={self.dtype}{extra})"

    __hash__ = object.__hash__      # == is elementwise, so hash by identity

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        """A tensor around a backend array as it is: same object, same device."""
        t = cls.__new__(cls)
        t.array, t.grad, t.creator, t._retain_grad = array, None, None, False
        t.requires_grad = requires_grad
        return t

    # -- conversions ------------------------------------------------------------------
    def numpy(self):
        """A NumPy copy of the data, wherever the tensor lives."""
        return np.array(backend.to_numpy(self.array), copy=True)

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item(): only one-element tensors, got shape {self.shape}")
        return self.array.item()

    def tolist(self):
        return backend.to_numpy(self.array).tolist()

    def detach(self):
        """The same values, cut from the graph (for truncated BPTT: carry ``h.detach()``)."""
        return Tensor._wrap(self.array)

    def to(self, device=None, dtype=None):
        """A copy on ``device`` and/or with ``dtype``; differentiable (gradients flow back)."""
        from .ops.shape import to_device
        out = self
        if device is not None and backend.check_device(device) != self.device:
            out = to_device(out, device)
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = out.astype(dtype)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def long(self):
        return self.to(dtype=np.int64)

    # -- autograd ---------------------------------------------------------------------
    def requires_grad_(self, flag=True):
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep ``grad`` on this non-leaf tensor after backward (e.g. each h_t, to plot how
        much gradient reaches every time step)."""
        self._retain_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    def backward(self, grad=None, retain_graph=False):
        """Reverse-mode differentiation from this tensor through the recorded graph.

        ``grad``: dL/dself; may be omitted only for a one-element tensor (then 1).
        The graph is freed as it is walked (``retain_graph=True`` keeps it).
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no graph "
                               "(was it made under no_grad, or from tensors that need no grad?)")
        xp = backend.get_array_module(self.array)
        if grad is None:
            if self.array.size != 1:
                raise RuntimeError(f"backward(): grad can be implied only for a one-element "
                                   f"tensor; this one has shape {self.shape}, pass grad=")
            grad = xp.ones_like(self.array)
        else:
            grad = _as_array(grad, self.dtype, self.device)
            if grad.shape != self.array.shape:
                raise ValueError(f"backward(): grad has shape {tuple(grad.shape)}, "
                                 f"expected the tensor's shape {self.shape}")
        _run_backward(self, grad, retain_graph)


def _topological_order(root):
    """Functions reachable from ``root``, each after every function that consumes its output.
    Iterative depth-first search: no recursion limit."""
    order, seen = [], set()
    stack = [(root.creator, False)]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        if fn.inputs is None:
            raise RuntimeError(f"backward through {fn.name} a second time: the graph was freed "
                               "by the first backward (pass retain_graph=True to keep it)")
        stack.append((fn, True))
        for x in fn.inputs:
            if x.creator is not None and id(x.creator) not in seen:
                stack.append((x.creator, False))
    return order      # inputs' creators come before their consumers


def _arrays(values):
    """NumPy gives a scalar, not a 0-d array, for 0-d arithmetic; data and grads stay arrays."""
    return [np.asarray(v) if isinstance(v, np.generic) else v for v in values]


def _accumulate(tensor, g):
    # A copy the first time: backward may hand one array to several inputs (Add gives gy to
    # both), and a gradient changed in place (p.grad *= s) must not change another's.
    tensor.grad = g.copy() if tensor.grad is None else tensor.grad + g


def _run_backward(root, grad, retain_graph):
    # id -> (tensor, gradient) for non-leaf tensors whose consumers have run. Holding the
    # tensor keeps it alive (its creator only has a weak reference to it) until its own
    # creator takes the gradient.
    grads = {id(root): (root, grad)}
    if root.creator is None:
        _accumulate(root, grad)
        return
    if root._retain_grad:
        _accumulate(root, grad)
    for fn in reversed(_topological_order(root)):
        gys = []
        for ref in fn.outputs:
            o = ref()
            entry = grads.pop(id(o), None) if o is not None else None
            gys.append(None if entry is None else entry[1])
        if any(g is None for g in gys):
            if all(g is None for g in gys):
                continue
            gys = fn._fill_missing(gys)
        gxs = fn.backward(*gys)
        gxs = _arrays(gxs if isinstance(gxs, tuple) else (gxs,))
        if _anomaly[0]:
            _check_finite(fn, gxs, "backward")
        for x, gx in zip(fn.inputs, gxs):
            if gx is None or not x.requires_grad:
                continue
            if x.creator is None:
                _accumulate(x, gx)
            else:
                prev = grads.get(id(x))
                grads[id(x)] = (x, gx if prev is None else prev[1] + gx)
                if x._retain_grad:
                    _accumulate(x, gx)
        if not retain_graph:
            fn.release()


# ----------------------------------------------------------------------------- Function

class Function:
    """One op. Subclasses write ``forward(*arrays)`` and ``backward(*grads)`` on raw arrays.

    ``forward`` may keep what backward needs on ``self``. ``backward`` gets one gradient per
    output and returns one per input (None where an input needs none). Every subclass is
    listed in ``Function.registry`` so the tests can prove each is gradient-checked.
    """
    registry = []
    differentiable = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Function.registry.append(cls)

    @property
    def name(self):
        return type(self).__name__

    def __call__(self, *inputs):
        inputs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
        # Arrays of one type are on one device; only a mix needs the (slower) device check.
        if len(inputs) > 1 and len({type(x.array) for x in inputs}) > 1:
            self._check_one_device(inputs)
        ys = self.forward(*[x.array for x in inputs])
        single = not isinstance(ys, tuple)
        if single:
            ys = (ys,)
        ys = _arrays(ys)
        if _anomaly[0]:
            _check_finite(self, ys, "forward")
        needs_grad = _grad_enabled[0] and self.differentiable and any(x.requires_grad for x in inputs)
        outputs = [Tensor._wrap(y) for y in ys]
        if needs_grad:
            self.inputs = inputs
            self.outputs = [weakref.ref(o) for o in outputs]
            if not single:      # only a multi-output op can have an output nobody used
                self._shapes = [(y.shape, y.dtype) for y in ys]
            for o in outputs:
                o.requires_grad = o.array.dtype.kind == "f"
                o.creator = self
        return outputs[0] if single else tuple(outputs)

    def _check_one_device(self, inputs):
        devices = {x.device for x in inputs}
        if len(devices) > 1:
            got = ", ".join(f"{x.device} {x.shape}" for x in inputs)
            raise RuntimeError(f"{self.name}: expected all tensors on one device, got {got}; "
                               "move them with .to(device)")

    def _fill_missing(self, gys):
        # An output nobody used gets a zero gradient, so backward can always do arithmetic.
        xp = backend.get_array_module(*[x.array for x in self.inputs])
        return [xp.zeros(s, dtype=d) if g is None else g for g, (s, d) in zip(gys, self._shapes)]

    def release(self):
        """Drop the inputs and anything forward saved, so the graph's memory is freed."""
        self.__dict__.clear()
        self.inputs = None          # a second backward through here then says what happened

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError


def as_tensor(x, like=None):
    """``x`` as a Tensor; Python numbers take ``like``'s dtype and device (so 2 * x stays
    float32) and arrays are moved nowhere: a device mismatch is reported by the op."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, bool)) and not isinstance(x, np.ndarray):
        xp = backend.get_array_module(like.array)
        dtype = like.dtype if like.dtype.kind == "f" or isinstance(x, int) else None
        return Tensor._wrap(xp.asarray(x, dtype=dtype))
    return Tensor(x)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new leaf tensor. Python floats become the default dtype (float32); ints stay ints;
    NumPy/CuPy arrays keep their dtype unless ``dtype`` is given."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)
