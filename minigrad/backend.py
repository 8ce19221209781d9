"""Devices, array modules, default dtype/device and random numbers.

Every op takes its array module (``xp``) from the arrays it is given: NumPy for ``'cpu'``,
CuPy for ``'cuda'``. Nothing here picks a module at import time, and CuPy is imported only
when a GPU is asked for, so the core runs with NumPy alone.
"""
import os

import numpy as np

DEVICES = ("cpu", "cuda")

_state = {
    "dtype": np.dtype(np.float32),
    "device": None,      # None: read MINIGRAD_DEVICE at each call
    "np_rng": np.random.default_rng(),
    "cp_rng": None,
    "seed": None,
}


# ----------------------------------------------------------------------------- modules

def _cupy():
    """Import CuPy on demand; a clear error when it is not there."""
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "device 'cuda' needs CuPy and an NVIDIA GPU: pip install -e '.[gpu]' "
            f"(CuPy could not be imported: {e})") from None
    return cupy


def is_cupy_array(a):
    # Checked by the type's module name so that CuPy is never imported just to ask
    # (NumPy arrays, by far the commonest question, are answered first).
    return type(a) is not np.ndarray and type(a).__module__.split(".")[0] == "cupy"


def get_array_module(*arrays):
    """NumPy, or CuPy if any of ``arrays`` lives on the GPU."""
    for a in arrays:
        if is_cupy_array(a):
            return _cupy()
    return np


def xp_for(device):
    device = check_device(device)
    return _cupy() if device == "cuda" else np


def device_of(array):
    return "cuda" if is_cupy_array(array) else "cpu"


def check_device(device):
    if device is None:
        return default_device()
    device = str(device)
    if device.startswith("cuda:"):      # 'cuda:0' as in torch; minigrad uses the current GPU
        device = "cuda"
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    return device


def to_device(array, device):
    """Move a backend array to ``device`` (a no-op when it is already there)."""
    device = check_device(device)
    if device == device_of(array):
        return array
    if device == "cuda":
        return _cupy().asarray(array)
    return array.get()


def array_on(data, device):
    """``data`` (a NumPy/CuPy array, or a list or number) as a backend array on ``device``:
    arrays are moved (not copied when already there), anything else is converted there."""
    if hasattr(data, "dtype"):
        return to_device(data, device)
    return xp_for(device).asarray(data)


def to_numpy(array):
    return array.get() if is_cupy_array(array) else np.asarray(array)


def scatter_add(target, index, values):
    """``target[index] += values`` where repeated indices all add up (NumPy's ``add.at``)."""
    if is_cupy_array(target):
        import cupyx
        cupyx.scatter_add(target, index, values)
    elif _sorted_rows_fit(target, index, values):
        # Rows picked by a 1-D index (an embedding's backward): sort once and add each run of
        # equal indices as one sum. Several times faster than np.add.at on (M, D) rows.
        order = np.argsort(index, kind="stable")
        rows = index[order]
        starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
        target[rows[starts]] += np.add.reduceat(values[order], starts, axis=0)
    else:
        np.add.at(target, index, values)


def _sorted_rows_fit(target, index, values):
    return (isinstance(index, np.ndarray) and index.ndim == 1 and index.dtype.kind in "iu"
            and index.size > 1 and getattr(values, "ndim", 0) == target.ndim
            and values.shape[0] == index.size and values.shape[1:] == target.shape[1:]
            and bool(index.min() >= 0))


# ----------------------------------------------------------------------------- defaults

def default_device():
    if _state["device"] is not None:
        return _state["device"]
    env = os.environ.get("MINIGRAD_DEVICE", "cpu").strip().lower() or "cpu"
    if env.startswith("cuda:"):
        env = "cuda"
    if env not in DEVICES:
        raise ValueError(f"MINIGRAD_DEVICE={env!r}: expected 'cpu' or 'cuda'")
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
    _state["cp_rng"] = None      # re-seeded lazily from the same seed


def host_rng():
    """The NumPy generator. Parameters are drawn here and then moved, so a seeded model is
    the same on the CPU and on the GPU."""
    return _state["np_rng"]


def rng_for(xp):
    """A generator that draws directly on the device of ``xp`` (dropout masks, sampling)."""
    if xp is np:
        return _state["np_rng"]
    if _state["cp_rng"] is None:
        seed = _state["seed"]
        if seed is None:
            seed = int(_state["np_rng"].integers(2 ** 63))
        _state["cp_rng"] = xp.random.default_rng(seed)
    return _state["cp_rng"]
