"""Devices, array modules, default dtype/device and random numbers.

Every op takes its array module (``xp``) from the arrays it is given: NumPy for ``'cpu'``,
CuPy for ``'cuda'``, and for ``'strict'`` the stand-in of ``strict.py``, NumPy kept to CuPy's
rules so that the GPU path is tested without a GPU. Nothing here picks a module at import
time, and CuPy is imported only when a GPU is asked for, so the core runs with NumPy alone.
"""
import os

import numpy as np

DEVICES = ("cpu", "cuda", "strict")

_state = {
    "dtype": np.dtype(np.float32),
    "device": None,      # None: read MINIGRAD_DEVICE at each call
    "np_rng": np.random.default_rng(),
    "device_rngs": {},  # array module -> its generator, made on first use
    "seed": None,
}


# ----------------------------------------------------------------------------- modules

def _cupy():
    """Import CuPy on demand; a clear error when it is not there."""
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            f"device 'cuda'{_cuda_origin()} needs CuPy and an NVIDIA GPU: pip install -e '.[gpu]' "
            f"(CuPy could not be imported: {e})") from None
    return cupy


def _cuda_origin():
    """Who asked for 'cuda', for the error above: the environment variable when it set the
    default device, else the code (a device= argument, .to('cuda'), set_default_device)."""
    env = os.environ.get("MINIGRAD_DEVICE", "").strip()
    if _state["device"] is None and env.lower().startswith("cuda"):
        return f" (MINIGRAD_DEVICE={env} in the environment; unset it to use the CPU)"
    return ""


def is_cupy_array(a):
    """Whether ``a`` (an array, or a minigrad Tensor) lives on a device: the GPU, or the strict
    stand-in, whose arrays keep CuPy's rules and so take CuPy's paths."""
    # Checked by the type's module name so that CuPy is never imported just to ask
    # (NumPy arrays, by far the commonest question, are answered first).
    if type(a) is np.ndarray:
        return False
    if type(a).__module__.split(".")[0] == "cupy" or hasattr(type(a), "_minigrad_device"):
        return True
    inner = _array_of(a)
    return inner is not a and is_cupy_array(inner)


def _array_of(a):
    """The backend array of a minigrad Tensor (found by its ``array`` attribute, so that this
    module, below ``tensor``, need not import it); anything else as it is."""
    inner = getattr(a, "array", None)
    return a if inner is None or isinstance(a, np.ndarray) else inner


def get_array_module(*arrays):
    """NumPy, or CuPy if any of ``arrays`` lives on the GPU (the stand-in's module if on
    'strict')."""
    for a in arrays:
        if is_cupy_array(a):
            return xp_for(device_of(a))
    return np


class device(str):
    """A device as torch writes it: ``mg.device('cpu')``, ``mg.device('cuda:0')``,
    ``mg.device('cuda', 0)``. It *is* the string 'cpu' or 'cuda' (so code comparing
    ``t.device == 'cpu'`` works, and it goes wherever a device string goes), and it also
    equals torch's spellings of itself ('cuda:0'). minigrad uses the current GPU, so the
    index is recorded, not acted on."""

    def __new__(cls, type, index=None):            # noqa: A002 - torch's argument name
        if isinstance(type, device) and index is None:
            return type
        spec = str(type)
        if index is None and spec.startswith("cuda:"):
            spec, index = "cuda", int(spec[5:])
        if spec not in DEVICES:
            raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda', 'cuda:N' or "
                             "'strict'")
        self = super().__new__(cls, spec)
        self.index = None if index is None else int(index)
        return self

    type = property(lambda self: str.__str__(self))

    def __eq__(self, other):
        if isinstance(other, str) and other.startswith("cuda:"):
            other = "cuda"
        return str.__eq__(self, other)

    def __ne__(self, other):
        return not self == other

    __hash__ = str.__hash__

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __reduce__(self):
        return device, (self.type, self.index)


CPU, CUDA, STRICT = device("cpu"), device("cuda"), device("strict")


def xp_for(device):
    device = check_device(device)
    if device == "cuda":
        return _cupy()
    if device == "strict":
        from . import strict
        return strict.xp
    return np


def cupyx_for(xp):
    """CuPy's extras (``cupyx``) beside the array module ``xp``, for the GPU or the stand-in."""
    from . import strict
    if xp is strict.xp:
        return strict.cupyx
    import cupyx
    return cupyx


def device_of(array):
    if not is_cupy_array(array):
        return CPU
    return STRICT if hasattr(type(_array_of(array)), "_minigrad_device") else CUDA


def check_device(device):
    if device is None:
        return default_device()
    device = str.__str__(device) if isinstance(device, str) else str(device)
    if device.startswith("cuda:"):      # 'cuda:0' as in torch; minigrad uses the current GPU
        device = "cuda"
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'strict'")
    return device


def to_device(array, device):
    """Move a backend array to ``device`` (a no-op when it is already there)."""
    array = _array_of(array)
    device = check_device(device)
    if device == device_of(array):
        return array
    if is_cupy_array(array):
        array = array.get()
    return array if device == "cpu" else xp_for(device).asarray(array)


def array_on(data, device):
    """``data`` (a NumPy/CuPy array, or a list or number) as a backend array on ``device``:
    arrays are moved (not copied when already there), anything else is converted there."""
    if hasattr(data, "dtype"):
        return to_device(data, device)
    return xp_for(device).asarray(data)


def to_numpy(array):
    """A NumPy array of ``array``'s values (an array or a Tensor, wherever it lives)."""
    array = _array_of(array)
    return array.get() if is_cupy_array(array) else np.asarray(array)


def scatter_add(target, index, values):
    """``target[index] += values`` where repeated indices all add up (NumPy's ``add.at``)."""
    if is_cupy_array(target):
        get_array_module(target).add.at(target, index, values)       # CuPy >= 13
    elif _sorted_rows_fit(target, index, values):
        # Rows picked by a 1-D index (an embedding's backward). Sorted, equal indices form runs;
        # the runs of one length L are summed together, as one (runs, L, D) gather and a sum
        # over L. A few such lengths cover every run, and each is one pass over its rows: about
        # 10x faster than np.add.reduceat over the runs, whose inner loop strides.
        order = np.argsort(index, kind="stable")
        rows = index[order]
        starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
        lengths = np.diff(np.append(starts, rows.size))
        for L in np.unique(lengths).tolist():
            first = starts[lengths == L]                       # the runs of length L
            picks = order[first[:, None] + np.arange(L)]        # (runs, L) positions in values
            target[rows[first]] += values[picks].sum(axis=1)
    else:
        np.add.at(target, index, values)


def _sorted_rows_fit(target, index, values):
    return (isinstance(index, np.ndarray) and index.ndim == 1 and index.dtype.kind in "iu"
            and index.size > 1 and getattr(values, "ndim", 0) == target.ndim
            and values.shape[0] == index.size and values.shape[1:] == target.shape[1:]
            and bool(index.min() >= 0))


def contiguous_transpose(a):
    """``a.T`` of a 2-D array, as a C-contiguous copy. NumPy's own copy reads one array a whole
    row apart at every element; copied in 64 x 64 tiles both stay in cache: 8x faster for a
    (2048, 512) LSTM weight, and never slower."""
    if is_cupy_array(a):
        return get_array_module(a).ascontiguousarray(a.T)
    out = np.empty(a.shape[::-1], dtype=a.dtype)
    for i in range(0, a.shape[0], 64):
        for j in range(0, a.shape[1], 64):
            out[j:j + 64, i:i + 64] = a[i:i + 64, j:j + 64].T
    return out


# ----------------------------------------------------------------------------- defaults

def default_device():
    if _state["device"] is not None:
        return _state["device"]
    env = os.environ.get("MINIGRAD_DEVICE", "cpu").strip().lower() or "cpu"
    if env.startswith("cuda:"):
        env = "cuda"
    if env not in DEVICES:
        raise ValueError(f"MINIGRAD_DEVICE={env!r}: expected 'cpu', 'cuda' or 'strict'")
    return env


def set_default_device(device):
    """Make ``device`` the default for new tensors and modules (None: back to MINIGRAD_DEVICE)."""
    _state["device"] = None if device is None else check_device(device)


def get_default_dtype():
    return _state["dtype"]


def set_default_dtype(dtype):
    """The floating dtype of new tensors made from Python floats and of new parameters."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _state["dtype"] = dtype


# ----------------------------------------------------------------------------- randomness

def manual_seed(seed):
    """Seed every random draw minigrad makes (initialisation, dropout, sampling)."""
    seed = int(seed)
    _state["seed"] = seed
    _state["np_rng"] = np.random.default_rng(seed)
    _state["device_rngs"] = {}   # re-seeded lazily from the same seed


def host_rng():
    """The NumPy generator. Parameters are drawn here and then moved, so a seeded model is
    the same on the CPU and on the GPU."""
    return _state["np_rng"]


def rng_for(xp):
    """A generator that draws directly on the device of ``xp`` (dropout masks, sampling)."""
    if xp is np:
        return _state["np_rng"]
    rng = _state["device_rngs"].get(xp)
    if rng is None:
        seed = _state["seed"]
        if seed is None:
            seed = int(_state["np_rng"].integers(2 ** 63))
        rng = _state["device_rngs"][xp] = xp.random.default_rng(seed)
    return rng


# ----------------------------------------------------------------------------- host memory

def keep_freed_memory(limit=512 * 2**20):
    """Ask glibc's malloc to keep freed memory, up to ``limit`` bytes, for the next arrays
    instead of handing it back to the system at once. Returns whether malloc took it.

    A training step frees and allocates the same large arrays every step (activations,
    logits, gradients). By default glibc maps arrays over 32 MiB afresh each time and gives a
    free heap top back, so every step faults its memory in again, page by page: about 14% of
    a small LSTM language model's step and 2-6% of a large one (c1 and c3 of
    ``benchmarks/rnn_lm.py --no-torch``, with and without ``--keep-freed-memory``). torch's
    GPU allocator caches for the same reason.

    It changes malloc for the whole process, every library in it included, so minigrad never
    calls it by itself: a training script calls it once, at its start. Linux with glibc only;
    elsewhere it does nothing and returns False."""
    try:
        import ctypes
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False                                    # not glibc: nothing to set
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3         # from glibc's malloc.h
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, limit))
