"""The autograd engine: Function, the backward walk, and Tensor.

Read it in this order; the core is the first three parts, the rest is marked as extras.

1. ``Function.__call__``: a ``Function`` is one op, ``forward`` and ``backward`` on raw arrays.
   Calling it on tensors runs ``forward`` and, when a gradient is wanted, records the call as
   the output's ``creator`` (the call keeps its ``inputs``).
2. ``_consumers``: the recorded calls reachable from the root, each with the number of calls
   that consume its output (this count gives the topological order).
3. ``_run_backward``: the walk. A call runs its ``backward`` once every consumer of its output
   has handed over its gradient; it then hands each input's gradient on, to the input's
   creator or, for a leaf, into ``leaf.grad``. Iterative, so a 10,000-step unroll is fine.

Extras, after the ``Tensor`` class: anomaly detection, ``retain_grad``, ops with several
outputs, the device check, freeing the graph, and the version counters that make in-place ops
safe. The operators (``+``, ``@``, ``t.sum()``, ...) and the in-place methods are installed on
``Tensor`` by ``minigrad.ops``, where each op lives with its forward and backward.
"""
import contextlib
import weakref

import numpy as np

from . import backend

_grad_enabled = [True]
_anomaly = [False]
_clock = [0]        # counts in-place ops; see "versions" at the end of the file
_retaining = [False]    # the running backward keeps the graph; see "freeing the graph"
_ndarray = np.ndarray


# ============================================================================ 1. Function

class Function:
    """One op. Subclasses write ``forward(*arrays)`` and ``backward(*grads)`` on raw arrays.

    ``forward`` may keep what backward needs on ``self``. ``backward`` gets one gradient per
    output and returns one per input (None where an input needs none), each of its input's
    shape.

    Two class attributes tell the version check (see "versions" below) what ``backward``
    reads: ``saves_inputs``, the indices of the inputs whose values it reads (None: all of
    them), and ``saves_output``, whether it reads its own output (None: whether anything
    ``forward`` kept on ``self``, or on an object kept there, shares memory with the output,
    as ``self.y = ...; return self.y`` does).
    """
    differentiable = True
    saves_inputs = None
    saves_output = None
    inplace = False      # an in-place call: its input 0 is the tensor as it was before
    outputs = None       # ops with several outputs only: weak references to them
    retained = None      # weak references to outputs that retain_grad() (see extras)

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
        y = self.forward(*arrays)
        if type(y) is tuple:
            return _call_many(self, inputs, y)
        if type(y) is not _ndarray and isinstance(y, np.generic):
            y = np.asarray(y)       # NumPy gives a scalar for 0-d arithmetic; keep arrays
        if _anomaly[0]:
            _check_finite(self, (y,), "forward")
        out = _new_tensor(Tensor)
        out.array = y
        out._grad = None
        if _grad_enabled[0] and self.differentiable:
            for x in inputs:
                if x.requires_grad:
                    if y.dtype.kind == "f":
                        self.inputs = inputs
                        self._epoch = _clock[0]
                        out.creator = self
                        out.requires_grad = True
                        return out
                    break
        out.creator = None
        out.requires_grad = False
        return out

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError


_new_tensor = object.__new__


# ============================================================= 2. the order of the walk

def _consumers(root_fn, recorded):
    """{call: how many recorded calls consume its output}, for every call reachable from
    ``root_fn``. Iterative depth-first search: no recursion limit. (``recorded`` collects the
    inputs of the calls that an in-place op has overtaken; see "versions".)"""
    count = {root_fn: 0}
    stack = [root_fn]
    clock = _clock[0]
    while stack:
        fn = stack.pop()
        inputs = fn.inputs
        if inputs is None:
            raise RuntimeError(f"backward through {fn.name} a second time: the graph was freed "
                               "by the first backward (pass retain_graph=True to keep it)")
        if fn._epoch != clock:
            inputs = recorded[fn] = _inputs_as_recorded(fn)
        for x in inputs:
            c = x.creator
            if c is not None:
                if c in count:
                    count[c] += 1
                else:
                    count[c] = 1
                    stack.append(c)
    return count


# ====================================================================== 3. the backward walk

def _run_backward(root, grad, retain_graph):
    root_fn = root.creator
    if root_fn is None:
        _accumulate(root, grad)
        return
    recorded = {}
    pending = _consumers(root_fn, recorded)
    grads = {}                  # call -> the gradient of its output, summed over consumers
    _add_grad(grads, root, root_fn, grad)
    ready = [root_fn]           # calls whose consumers have all handed over their gradient
    clock = _clock[0]
    while ready:
        fn = ready.pop()
        inputs = fn.inputs
        if fn._epoch != clock:              # an in-place op ran since fn was recorded
            _check_versions(fn)
            inputs = recorded[fn]
        gy = grads.pop(fn, None)
        if gy is not None:
            if fn.outputs is not None:
                gy = _fill_missing(fn, gy)
            if fn.retained is not None:
                _keep_retained(fn, gy)
            gxs = fn.backward(*gy) if fn.outputs is not None else fn.backward(gy)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            if len(gxs) != len(inputs):
                _wrong_count(fn, gxs, inputs)
            if _anomaly[0]:
                _check_finite(fn, gxs, "backward")
        else:
            gxs = (None,) * len(inputs)     # no gradient reached fn: it passes none on
        for x, gx in zip(inputs, gxs):
            c = x.creator
            if gx is not None and x.requires_grad:
                if gx.shape != x.array.shape:
                    _wrong_shape(fn, inputs, gx, x)
                if c is None:
                    _accumulate(x, gx)
                else:
                    _add_grad(grads, x, c, gx)
            if c is not None:
                pending[c] -= 1
                if not pending[c]:
                    ready.append(c)
        if not retain_graph:
            _release(fn)


def _add_grad(grads, x, c, g):
    """Add ``g``, the gradient of the non-leaf ``x``, to what its creator ``c`` has so far."""
    if type(g) is not _ndarray and isinstance(g, np.generic):
        g = np.asarray(g)
    if c.outputs is not None:
        _add_grad_many(grads, x, c, g)
        return
    prev = grads.get(c)
    grads[c] = g if prev is None else prev + g


def _accumulate(leaf, g):
    # A copy the first time: backward may hand one array to several inputs (Add gives gy to
    # both), and a gradient changed in place (p.grad.mul_(s)) must not change another's.
    if isinstance(g, np.generic):
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
    ``creator``: the Function call that produced it (None for leaves).
    ``_version``: how many in-place ops changed its storage; a backward that needs values
        changed since they were saved raises (see "versions" at the end of this file).

    ``minigrad.ops`` installs the operators ``+ - * / ** @``, unary ``-``, comparisons,
    ``t[idx]`` and ``t[idx] = v``, the in-place operators ``+= -= *= /=``, and the methods
    exp, log, sqrt, tanh, sigmoid, relu, abs, sum, mean, max, norm, reshape, view, permute,
    transpose, unsqueeze, squeeze, flatten, broadcast_to, expand, matmul, astype, to, clone, and
    the in-place methods named with a final ``_`` (add_, mul_, zero_, copy_, ...; see
    ``minigrad.ops.inplace``).
    """
    __slots__ = ("array", "_grad", "creator", "requires_grad", "_version_counter",
                 "__weakref__")
    __array_priority__ = 1000      # so that ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.array = _as_array(data, dtype, device)
        self._grad = None
        self.creator = None
        self.requires_grad = bool(requires_grad)
        if self.requires_grad and self.array.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require grad, got dtype {self.array.dtype}")

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        """A tensor around a backend array as it is: same object, same device."""
        t = _new_tensor(Tensor)
        t.array, t._grad, t.creator, t.requires_grad = array, None, None, requires_grad
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

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous "
                               "(use .any() or .all() on .array)")
        return bool(self.array)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    # -- conversions ------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: the values of a CPU tensor (a GPU tensor must be copied to the
        host first, with ``.cpu()`` or ``.numpy()``)."""
        if backend.is_cupy_array(self.array):
            raise TypeError("can't convert a cuda tensor to a NumPy array implicitly: call "
                            ".cpu() or .numpy() first")
        a = self.array if dtype is None else self.array.astype(dtype, copy=False)
        return a.copy() if copy else a

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
        """The same values, cut from the graph (for truncated BPTT: carry ``h.detach()``).
        As in torch it shares the storage and its version counter: an in-place change of the
        detached tensor is caught by a backward that needs the old values."""
        t = Tensor._wrap(self.array)
        t._version_counter = _counter(self)
        return t

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
        fn = self.creator
        if fn is not None:
            fn.retained = (fn.retained or ()) + (weakref.ref(self),)
        return self

    def zero_grad(self):
        self._grad = None

    @property
    def _version(self):
        """How many in-place ops have changed this tensor's storage (torch's ``_version``)."""
        vc = getattr(self, "_version_counter", None)
        return 0 if vc is None else vc.count

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
        with _Switch(_retaining, retain_graph):      # restored after: a backward may nest
            _run_backward(self, grad, retain_graph)


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

# -- grad mode ------------------------------------------------------------------------

class _Switch(contextlib.ContextDecorator):
    """Sets ``flag[0]`` to ``value`` for a ``with`` block (or a decorated function) and puts
    the previous value back after it."""

    def __init__(self, flag, value):
        self.flag, self.value = flag, value

    def _recreate_cm(self):             # a decorated function that recurses gets its own
        return _Switch(self.flag, self.value)

    def __enter__(self):
        self.previous = self.flag[0]
        self.flag[0] = self.value
        return self

    def __exit__(self, *exc):
        self.flag[0] = self.previous


def no_grad():
    """Inside this block, ops record nothing (evaluation, parameter updates)."""
    return _Switch(_grad_enabled, False)


def enable_grad():
    return _Switch(_grad_enabled, True)


class set_grad_enabled(_Switch):
    """Turn recording on or off: as a call (``mg.set_grad_enabled(False)``), which switches at
    once, or as a ``with`` block, which also restores the previous mode when it ends."""

    def __init__(self, mode):
        super().__init__(_grad_enabled, bool(mode))
        self.previous = _grad_enabled[0]
        _grad_enabled[0] = self.value

    def __enter__(self):
        return self


def is_grad_enabled():
    return _grad_enabled[0]


# -- anomaly detection ----------------------------------------------------------------

def detect_anomaly():
    """Inside this block the first op that makes a NaN or Inf, in forward or in backward,
    raises ``FloatingPointError`` naming that op."""
    return _Switch(_anomaly, True)


def _check_finite(fn, arrays, where):
    for i, a in enumerate(arrays):
        if a is None or a.dtype.kind not in "fc":
            continue
        xp = backend.get_array_module(a)
        if not bool(xp.isfinite(a).all()):
            raise FloatingPointError(
                f"detect_anomaly: {fn.name} produced NaN/Inf in its {where} "
                f"(output {i}, shape {tuple(a.shape)})")


# -- a custom backward that returns the wrong thing ------------------------------------

def _wrong_shape(fn, inputs, gx, x):
    i = next(i for i, y in enumerate(inputs) if y is x)
    raise RuntimeError(f"{fn.name}.backward returned a gradient of shape {tuple(gx.shape)} "
                       f"for input {i} of shape {tuple(x.shape)}: each gradient must have its "
                       "input's shape")


def _wrong_count(fn, gxs, inputs):
    raise RuntimeError(f"{fn.name}.backward returned {len(gxs)} gradient(s) for "
                       f"{len(inputs)} input(s): return one per input (None where an input "
                       "needs none)")


# -- retain_grad ------------------------------------------------------------------------

def _keep_retained(fn, gy):
    for ref in fn.retained:
        t = ref()
        if t is None:
            continue
        if fn.outputs is None:
            _accumulate(t, gy)
        elif any(r() is t for r in fn.outputs):      # still an output (not changed in place)
            _accumulate(t, gy[_output_index(fn, t)])


# -- ops with several outputs ------------------------------------------------------------

def _call_many(fn, inputs, ys):
    ys = [np.asarray(y) if isinstance(y, np.generic) else y for y in ys]
    if _anomaly[0]:
        _check_finite(fn, ys, "forward")
    outputs = tuple(Tensor._wrap(y) for y in ys)
    needs_grad = (_grad_enabled[0] and fn.differentiable
                  and any(x.requires_grad for x in inputs))
    if needs_grad:
        fn.inputs = inputs
        fn._epoch = _clock[0]
        fn.outputs = tuple(weakref.ref(o) for o in outputs)
        fn._shapes = [(y.shape, y.dtype) for y in ys]
        for o in outputs:
            if o.array.dtype.kind == "f":
                o.requires_grad = True
                o.creator = fn
    return outputs


def _output_index(fn, t):
    return next(k for k, r in enumerate(fn.outputs) if r() is t)


def _add_grad_many(grads, x, c, g):
    k = _output_index(c, x)
    gys = grads.get(c)
    if gys is None:
        gys = grads[c] = [None] * len(c.outputs)
    gys[k] = g if gys[k] is None else gys[k] + g


def _fill_missing(fn, gys):
    # An output nobody used gets a zero gradient, so backward can always do arithmetic.
    xp = backend.get_array_module(*[x.array for x in fn.inputs])
    return [xp.zeros(s, dtype=d) if g is None else g for g, (s, d) in zip(gys, fn._shapes)]


# -- the device check --------------------------------------------------------------------

def _check_one_device(fn, inputs):
    devices = {x.device for x in inputs}
    if len(devices) > 1:
        got = ", ".join(f"{x.device} {x.shape}" for x in inputs)
        raise RuntimeError(f"{fn.name}: expected all tensors on one device, got {got}; "
                           "move them with .to(device)")


# -- freeing the graph -------------------------------------------------------------------

def _release(fn):
    """Drop the inputs and anything forward saved, so the graph's memory is freed."""
    fn.__dict__.clear()
    fn.inputs = None          # a second backward through here then says what happened


def graph_retained():
    """Whether the backward now running keeps the graph (``retain_graph=True``). Only then
    may a second backward come, so only then must an op's backward leave what its forward
    saved intact; otherwise it may overwrite it, saving a copy (the recurrence writes dL/dA
    over its gate activations, cross-entropy its gradient over the saved exponentials)."""
    return _retaining[0]


# -- versions: what makes in-place ops safe ------------------------------------------------
# An in-place op changes a tensor's storage. A call recorded earlier may need the old values
# in its backward (Mul reads its inputs, Exp its output), so backward must not run on the new
# ones. torch's rule, kept here: each storage has a version counter, bumped by every in-place
# op; backward raises when a call's saved tensor has been changed since the call was
# recorded.
#
# To pay nothing per op for this, the versions are stamps from one global clock, ``_clock``,
# which ticks once per in-place op. A recorded call keeps the clock's value (``_epoch``): a
# tensor it saved was changed afterwards exactly when that tensor's last stamp is later. And
# when the clock has not moved since a call was recorded, which is almost always, the walk
# checks nothing.
#
# A tensor shares its counter with ``detach()`` (as in torch; ``.data`` does not share it,
# also as in torch) and with the stand-in that a recorded in-place op leaves in its place in
# the graph when the stand-in shares the storage. Views made by ops (``x[0]``,
# ``x.view(...)``) have counters of their own: a recorded in-place op on a view also changes,
# and bumps, the tensor it views (minigrad.ops.inplace), but one under no_grad bumps only the
# view. Writes into ``t.array`` count for nothing.

class _VersionCounter:
    __slots__ = ("count", "stamps")

    def __init__(self):
        self.count = 0
        self.stamps = []        # the clock at each bump, the last 16 kept

    def version_at(self, epoch):
        later = sum(1 for s in self.stamps if s > epoch)
        return self.count - later


def _counter(t):
    vc = getattr(t, "_version_counter", None)
    if vc is None:
        vc = t._version_counter = _VersionCounter()
        fn = t.creator
        if fn is not None:
            # The call that made this storage may have kept it (Exp keeps its output): it
            # watches the counter from now on.
            k = 0 if fn.outputs is None else _output_index(fn, t)
            fn._watched = fn.__dict__.get("_watched", ()) + ((k, vc, t.array),)
    return vc


def _bump(t):
    """Record that ``t``'s storage was changed in place; returns the new stamp."""
    _clock[0] += 1
    vc = _counter(t)
    vc.count += 1
    vc.stamps.append(_clock[0])
    if len(vc.stamps) > 16:
        del vc.stamps[:-16]
    return _clock[0]


def _changed_since(t, epoch):
    vc = getattr(t, "_version_counter", None)
    return vc is not None and bool(vc.stamps) and vc.stamps[-1] > epoch


def _stand_in(t, array):
    """A tensor that takes ``t``'s place in the graph, holding ``array`` (``t``'s storage, or
    a copy of its old values), before an in-place op makes ``t`` the output of a new call."""
    _counter(t)          # first, so that the call that made t watches its storage
    before = Tensor._wrap(array, t.requires_grad)
    fn = before.creator = t.creator
    if fn is not None and fn.outputs is not None:
        fn.outputs = tuple(weakref.ref(before) if r() is t else r for r in fn.outputs)
    return before


def _inputs_as_recorded(fn):
    """``fn``'s inputs as they were when ``fn`` was recorded. An in-place op recorded since
    then on an input made that tensor the output of the in-place call, whose input 0 holds the
    tensor's earlier place in the graph; follow those back to ``fn``'s time."""
    epoch = fn._epoch
    inputs = []
    for x in fn.inputs:
        while x.creator is not None and x.creator.inplace and x.creator._epoch > epoch:
            x = x.creator.inputs[0]
        inputs.append(x)
    return tuple(inputs)


def _check_versions(fn):
    epoch = fn._epoch
    saved = range(len(fn.inputs)) if fn.saves_inputs is None else fn.saves_inputs
    for i in saved:
        x = fn.inputs[i]
        if _changed_since(x, epoch):
            _modified_error(fn, f"input {i}", x.shape, x._version_counter, epoch)
    for k, vc, out in fn.__dict__.get("_watched", ()):
        if vc.stamps and vc.stamps[-1] > epoch and _keeps_output(fn, out):
            which = "output" if fn.outputs is None else f"output {k}"
            _modified_error(fn, which, out.shape, vc, epoch)


def _keeps_output(fn, out):
    if fn.saves_output is not None:
        return fn.saves_output
    xp = backend.get_array_module(out)
    return any(xp.may_share_memory(a, out) for a in _kept_arrays(fn))


def _kept_arrays(fn):
    """The arrays ``fn`` kept on itself: its attributes, inside tuples and lists, and one
    level into objects it kept (a buffer bag)."""
    def arrays(v, depth):
        if isinstance(v, np.ndarray) or backend.is_cupy_array(v) and not isinstance(v, Tensor):
            yield v
        elif isinstance(v, (tuple, list)):
            for w in v:
                yield from arrays(w, depth)
        elif depth and hasattr(v, "__dict__") and not isinstance(v, (Tensor, type)):
            for w in vars(v).values():
                yield from arrays(w, depth - 1)
    for name, v in fn.__dict__.items():
        if name not in ("inputs", "outputs", "_watched", "retained"):
            yield from arrays(v, 1)


def _modified_error(fn, which, shape, vc, epoch):
    shape = "" if shape is None else f" (shape {tuple(shape)})"
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: the {which} of {fn.name}{shape} is at version {vc.count}; "
        f"{fn.name} saved it at version {vc.version_at(epoch)}. {fn.name}'s backward needs "
        "the values it had then. Make the change out of place (y = y * 2 instead of y *= 2), "
        "or change a .clone() of the tensor.")
