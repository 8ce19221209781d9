"""torch's dtype names (``mg.float32``, ``mg.long``, ``mg.bool``, ...) as NumPy dtypes, and the
type strings of ``Tensor.type()``.

A minigrad dtype *is* a ``numpy.dtype``, so ``t.dtype == mg.float32``, ``np.float32`` and
``'float32'`` all compare equal and any of them may be passed where a dtype is taken.
"""
import numpy as np

NAMES = {
    "float32": np.float32, "float": np.float32,
    "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16,
    "int64": np.int64, "long": np.int64,
    "int32": np.int32, "int": np.int32,
    "int16": np.int16, "short": np.int16,
    "int8": np.int8,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "bool": np.bool_,
    "complex64": np.complex64, "cfloat": np.complex64,
    "complex128": np.complex128, "cdouble": np.complex128,
}
DTYPES = {name: np.dtype(t) for name, t in NAMES.items()}

# torch's names for the dtypes NumPy has no type for.
MISSING = {
    "bfloat16": "NumPy has no bfloat16; use mg.float16 or mg.float32",
    "complex32": "NumPy has no complex32; use mg.complex64",
    "chalf": "NumPy has no complex32; use mg.complex64",
    "quint8": "minigrad has no quantized tensors",
    "qint8": "minigrad has no quantized tensors",
    "qint32": "minigrad has no quantized tensors",
}

# Tensor.type() names, as torch prints them (so a program comparing them keeps working).
TYPE_NAMES = {
    np.dtype(np.float32): "FloatTensor", np.dtype(np.float64): "DoubleTensor",
    np.dtype(np.float16): "HalfTensor", np.dtype(np.int64): "LongTensor",
    np.dtype(np.int32): "IntTensor", np.dtype(np.int16): "ShortTensor",
    np.dtype(np.int8): "CharTensor", np.dtype(np.uint8): "ByteTensor",
    np.dtype(np.bool_): "BoolTensor",
}
_BY_TYPE_NAME = {name: dtype for dtype, name in TYPE_NAMES.items()}


def type_name(dtype, device):
    """'torch.FloatTensor', 'torch.cuda.LongTensor', ... (torch's strings)."""
    dtype = np.dtype(dtype)
    name = TYPE_NAMES.get(dtype)
    if name is None:
        return f"minigrad.{dtype.name}"       # torch names no tensor type for this dtype
    return f"torch.{'cuda.' if device == 'cuda' else ''}{name}"


def from_type_name(name):
    """The dtype of 'torch.FloatTensor', 'torch.cuda.LongTensor', 'FloatTensor', ...;
    None if ``name`` is not such a string."""
    if not isinstance(name, str):
        return None
    return _BY_TYPE_NAME.get(name.rsplit(".", 1)[-1])


def missing(name):
    """An AttributeError for one of torch's dtypes that minigrad does not have."""
    return AttributeError(f"minigrad has no dtype {name!r}: {MISSING[name]}")
