"""The autograd engine: Function, the recording rule, the backward walk, and Tensor.

Read it in this order; the core is the first three parts, and every extra is one named call.

1. ``Function.__call__``: a ``Function`` is one op, ``forward`` and ``backward`` on raw arrays.
   Calling it on tensors runs ``forward`` and, when a gradient is wanted, records the call:
   the call keeps its ``inputs``, and each output its ``creator`` (the call) and
   ``output_nr`` (its place among the call's outputs). One op may return several outputs;
   inside the engine every op's outputs, and their gradients, are a sequence.
2. ``_consumers``: the recorded calls reachable from the root, each with the number of calls
   that consume its output (this count gives the topological order).
3. ``_run_backward``: the walk. A call runs its ``backward`` once every consumer of its outputs
   has handed over its gradient; it then hands each input's gradient on, to the input's
   creator or, for a leaf, into ``leaf.grad``. Iterative, so a 10,000-step unroll is fine.

The extras, each behind one call: ``_seed`` (backward's argument), ``grad_mode.check_finite``
(anomaly mode), ``versions.inputs_as_recorded`` and ``versions.checked_inputs`` (in-place
safety, called only when an in-place op ran since a call was recorded), ``_keep_retained``
(``retain_grad``), and ``_fill_missing`` (an output no one used). The operators (``+``, ``@``, ``t.sum()``, ...) and
the in-place methods are installed on ``Tensor`` by ``minigrad.ops.methods``, from one table.
"""
import weakref

import numpy as np

from . import backend, versions
from .grad_mode import (anomaly as _anomaly, check_finite, detect_anomaly, enable_grad,
                        grad_enabled as _grad_enabled, is_grad_enabled, no_grad,
                        set_grad_enabled)

_clock = versions.clock
_ndarray = np.ndarray
_new_tensor = object.__new__


# ============================================================================ 1. Function

class Function:
    """One op. Subclasses write ``forward(*arrays)`` and ``backward(*grads)`` on raw arrays.

    ``forward`` returns an array, or a tuple of arrays for several outputs, and may keep
    what backward needs on ``self``. ``backward`` gets one gradient per output and returns one
    per input (None where an input needs none), each of its input's shape.

    ``retain_graph``: the walk sets it before calling ``backward``. Only when it is True may a
    second backward come, so only then must ``backward`` leave what ``forward`` saved intact;
    otherwise it may overwrite it and save a copy (the recurrence writes dL/dA over its gate
    activations, cross-entropy its gradient over the saved exponentials).

    Two class attributes tell the version check (``minigrad.versions``) what ``backward``
    reads: ``saves_inputs``, the indices of the inputs whose values it reads (None: all of
    them), and ``saves_output``, whether it reads its own output (None: whether anything
    ``forward`` kept on ``self``, or on an object kept there, shares memory with the output,
    as ``self.y = ...; return self.y`` does).
    """
    saves_inputs = None
    saves_output = None
    inplace = False      # an in-place call: its input 0 is the tensor as it was before
    n_outputs = 1        # set by the recording rule when forward returns a tuple
    retained = None      # weak references to outputs that retain_grad()
    retain_graph = True  # until the walk says otherwise, keep what forward saved

    @property
    def name(self):
        return type(self).__name__

    def __call__(self, *inputs):
        try:
            arrays = [x.array for x in inputs]
        except AttributeError:
            inputs = tuple(x if isinstance(x, Tensor) else Tensor(x) for x in inputs)
            arrays = [x.array for x in inputs]
        if len(arrays) > 1:
            # Arrays of one type are on one device; only a mix needs the device check.
            kind = type(arrays[0])
            for a in arrays:
                if type(a) is not kind:
                    _check_one_device(self, inputs)
                    break
        ys = self.forward(*arrays)
        many = type(ys) is tuple
        if _anomaly[0]:
            check_finite(self, ys if many else (ys,), "forward")
        # The recording rule: when a gradient is wanted, the call keeps its inputs and becomes
        # the creator of its floating outputs (an integer output, like argmax's, carries none).
        fn = None
        if _grad_enabled[0]:
            for x in inputs:
                if x.requires_grad:
                    fn, self.inputs, self._epoch = self, inputs, _clock[0]
                    break
        if many:
            return _outputs(fn, ys)
        return _output(ys, fn, 0)

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError


def _outputs(fn, ys):
    """The outputs of a call whose forward returned several; a recorded call also keeps
    their number and shapes (for ``_fill_missing``)."""
    if fn is not None:
        fn.n_outputs, fn._shapes = len(ys), [(y.shape, y.dtype) for y in ys]
    return tuple([_output(y, fn, k) for k, y in enumerate(ys)])


def _output(y, fn, k):
    """Output ``k`` of the call ``fn`` (None: not recorded) as a tensor; it requires grad,
    with ``fn`` as its creator, when it is a floating array of a recorded call."""
    if type(y) is not _ndarray and isinstance(y, np.generic):
        y = np.asarray(y)       # NumPy gives a scalar for 0-d arithmetic; keep arrays
    t = _new_tensor(Tensor)
    t.array, t._grad, t.output_nr = y, None, k
    if fn is not None and y.dtype.kind == "f":
        t.creator, t.requires_grad = fn, True
    else:
        t.creator, t.requires_grad = None, False
    return t


# ============================================================= 2. the order of the walk

def _consumers(root_fn, recorded):
    """{call: how many recorded calls consume its outputs}, for every call reachable from
    ``root_fn``. Iterative depth-first search: no recursion limit. (``recorded`` collects the
    inputs of the calls that an in-place op has overtaken, as they were when recorded.)"""
    count = {root_fn: 0}
    stack = [root_fn]
    clock = _clock[0]
    while stack:
        fn = stack.pop()
        inputs = fn.inputs
        if inputs is None:
            raise RuntimeError(f"backward through {fn.name} a second time: the graph was freed "
                               "by the first backward (pass retain_graph=True to keep it)")
        if fn._epoch != clock:              # an in-place op ran since fn was recorded
            inputs = recorded[fn] = versions.inputs_as_recorded(fn)
        for x in inputs:
            c = x.creator
            if c is not None:
                if c not in count:
                    count[c] = 0
                    stack.append(c)
                count[c] += 1
    return count


# ====================================================================== 3. the backward walk

def _run_backward(root, grad, retain_graph):
    root_fn = root.creator
    if root_fn is None:
        _accumulate(root, grad)
        return
    recorded = {}
    pending = _consumers(root_fn, recorded)
    grads = {root_fn: [None] * root_fn.n_outputs}   # call -> [dL/d each of its outputs]
    grads[root_fn][root.output_nr] = grad
    ready = [root_fn]           # calls whose consumers have all handed over their gradient
    clock = _clock[0]
    while ready:
        fn = ready.pop()
        inputs = fn.inputs
        if fn._epoch != clock:              # an in-place op ran since fn was recorded
            inputs = versions.checked_inputs(fn, recorded[fn])
        gys = grads.pop(fn, None)
        if gys is not None:
            if len(gys) > 1:
                gys = _fill_missing(fn, gys)
            if fn.retained is not None:
                _keep_retained(fn, gys)
            fn.retain_graph = retain_graph
            # (most ops have one output; calling with it directly costs less than *gys)
            gxs = fn.backward(gys[0]) if len(gys) == 1 else fn.backward(*gys)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            if len(gxs) != len(inputs):
                _wrong_count(fn, gxs, inputs)
            if _anomaly[0]:
                check_finite(fn, gxs, "backward")
        else:
            gxs = (None,) * len(inputs)     # no gradient reached fn: it passes none on
        for x, gx in zip(inputs, gxs):
            c = x.creator
            if gx is not None and x.requires_grad:
                if gx.shape != x.array.shape:
                    _wrong_shape(fn, inputs, gx, x)
                if c is None:
                    _accumulate(x, gx)
                else:                   # summed over the consumers of x, in c's list
                    if type(gx) is not _ndarray and isinstance(gx, np.generic):
                        gx = np.asarray(gx)     # a 0-d product gives a NumPy scalar
                    gys = grads.get(c)
                    if gys is None:
                        gys = grads[c] = [None] * c.n_outputs
                    k = x.output_nr
                    gys[k] = gx if gys[k] is None else gys[k] + gx
            if c is not None:
                pending[c] -= 1
                if not pending[c]:
                    ready.append(c)
        if not retain_graph:            # free the graph as it is walked: drop the inputs and
            fn.__dict__.clear()         # what forward saved; a second backward through fn
            fn.inputs = None            # then says what happened (see _consumers)


def _accumulate(leaf, g):
    # A copy the first time: backward may hand one array to several inputs (Add gives gy to
    # both), and a gradient changed in place (p.grad.mul_(s)) must not change another's.
    if type(g) is not _ndarray and isinstance(g, np.generic):
        g = np.asarray(g)
    old = leaf._grad
    if old is None:
        leaf._grad = Tensor._wrap(g.copy())
    else:
        old.array = old.array + g


# ============================================================================ Tensor

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
    """An n-dimensional array that remembers how it was made. As in torch:

    ``array``: the backend array itself (numpy.ndarray on 'cpu', cupy.ndarray on 'cuda');
        the engine and the ops work on it. Writing into it is invisible to autograd.
    ``data``: a tensor sharing ``array``, cut from the graph; ``p.data = x`` replaces the
        storage (its shape and dtype may change).
    ``grad``: a tensor of this tensor's shape, or None; backward adds into it until cleared.
    ``creator``: the Function call that produced it (None for leaves); ``output_nr``: which
        of its outputs this is (set with ``creator``).
    ``_version``: how many in-place ops changed its storage; a backward that needs values
        changed since they were saved raises (see ``minigrad.versions``).

    The operators (``+``, ``@``, ``t[idx] = v``, ...), the ops' methods (``t.sum()``,
    ``t.add_()``, ...) and the small conversions (``bool(t)``, ``t.detach()``, ``t.cpu()``,
    ...) are installed from one table, ``minigrad.ops.methods.METHODS``.
    """
    __slots__ = ("array", "_grad", "creator", "output_nr", "requires_grad",
                 "_version_counter", "__weakref__")
    __array_priority__ = 1000      # so that ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.array = _as_array(data, dtype, device)
        self._grad = None
        self.creator = None
        self.output_nr = 0
        self.requires_grad = bool(requires_grad)
        if self.requires_grad and self.array.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require grad, got dtype {self.array.dtype}")

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        """A tensor around a backend array as it is: same object, same device."""
        t = _new_tensor(Tensor)
        t.array, t._grad, t.creator, t.requires_grad = array, None, None, requires_grad
        t.output_nr = 0
        return t

    # -- properties -------------------------------------------------------------------
    shape = property(lambda self: self.array.shape)         # a tuple for NumPy and CuPy
    ndim = property(lambda self: self.array.ndim)
    dtype = property(lambda self: self.array.dtype)
    device = property(lambda self: backend.device_of(self.array))
    is_leaf = property(lambda self: self.creator is None)

    @property
    def data(self):
        """A tensor sharing this one's storage, detached from the graph, as in torch:
        ``p.data.add_(p.grad, alpha=-lr)`` updates ``p`` without recording anything. Also as
        in torch, changes made through ``.data`` do not count in the version check (that is
        what ``detach()`` is for)."""
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
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                value = Tensor._wrap(value if hasattr(value, "shape") else np.asarray(value))
            if value.shape != self.shape:
                raise ValueError(f"assigned grad has shape {value.shape}, expected the "
                                 f"tensor's shape {self.shape}")
        self._grad = value

    def __repr__(self):
        body = np.array2string(backend.to_numpy(self.array), separator=", ", prefix="tensor(")
        extra = f", device='{self.device}'" if self.device != "cpu" else ""
        if self.creator is not None:
            extra += f", grad_fn={self.creator.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}, dtype={self.dtype}{extra})"

    __hash__ = object.__hash__      # == is elementwise, so hash by identity

    # -- autograd ---------------------------------------------------------------------
    def retain_grad(self):
        """Keep ``grad`` on this non-leaf tensor after backward (e.g. each h_t, to plot how
        much gradient reaches every time step)."""
        fn = self.creator
        if fn is not None:
            fn.retained = (fn.retained or ()) + (weakref.ref(self),)
        return self

    @property
    def _version(self):
        """How many in-place ops have changed this tensor's storage (torch's ``_version``)."""
        return versions.version(self)

    def backward(self, grad=None, retain_graph=False):
        """Reverse-mode differentiation from this tensor through the recorded graph.

        ``grad``: dL/dself; may be omitted only for a one-element tensor (then 1).
        The graph is freed as it is walked (``retain_graph=True`` keeps it).
        """
        _run_backward(self, _seed(self, grad), retain_graph)


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


# ============================================================================ extras
# Everything below is off the common path: each part runs only when its feature is used.

def _seed(root, grad):
    """dL/droot for ``backward(grad)``: 1 for a one-element root when ``grad`` is None."""
    if not root.requires_grad:
        raise RuntimeError("backward(): this tensor does not require grad and has no graph "
                           "(was it made under no_grad, or from tensors that need no grad?)")
    if grad is None:
        if root.array.size != 1:
            raise RuntimeError(f"backward(): grad can be implied only for a one-element "
                               f"tensor; this one has shape {root.shape}, pass grad=")
        return backend.get_array_module(root.array).ones_like(root.array)
    grad = _as_array(grad, root.dtype, root.device)
    if grad.shape != root.array.shape:
        raise ValueError(f"backward(): grad has shape {tuple(grad.shape)}, "
                         f"expected the tensor's shape {root.shape}")
    return grad


def _keep_retained(fn, gys):
    """``retain_grad()``: the outputs of ``fn`` that asked keep their gradient."""
    for ref in fn.retained:
        t = ref()
        if t is not None and t.creator is fn:      # (not changed in place since)
            _accumulate(t, gys[t.output_nr])


def _fill_missing(fn, gys):
    # An output nobody used gets a zero gradient, so backward can always do arithmetic.
    xp = backend.get_array_module(*[x.array for x in fn.inputs])
    return [xp.zeros(s, dtype=d) if g is None else g for g, (s, d) in zip(gys, fn._shapes)]


def _check_one_device(fn, inputs):
    devices = {x.device for x in inputs}
    if len(devices) > 1:
        got = ", ".join(f"{x.device} {x.shape}" for x in inputs)
        raise RuntimeError(f"{fn.name}: expected all tensors on one device, got {got}; "
                           "move them with .to(device)")


def _wrong_shape(fn, inputs, gx, x):
    i = next(i for i, y in enumerate(inputs) if y is x)
    raise RuntimeError(f"{fn.name}.backward returned a gradient of shape {tuple(gx.shape)} "
                       f"for input {i} of shape {tuple(x.shape)}: each gradient must have its "
                       "input's shape")


def _wrong_count(fn, gxs, inputs):
    raise RuntimeError(f"{fn.name}.backward returned {len(gxs)} gradient(s) for "
                       f"{len(inputs)} input(s): return one per input (None where an input "
                       "needs none)")


__all__ = ["Function", "Tensor", "as_tensor", "tensor", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "detect_anomaly"]
