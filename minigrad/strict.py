"""The strict device: NumPy underneath, CuPy's rules on top, so the GPU path is tested without
a GPU (``mg.device('strict')``, ``MINIGRAD_DEVICE=strict``).

What it keeps of CuPy:

* its arrays are their own type (``strict.ndarray``, not a NumPy array): ``np.asarray``,
  ``__array__`` and every NumPy function or ufunc given one raise ``TypeError``, and a NumPy
  array meeting one in an operator raises too. Stricter than CuPy, which forwards a NumPy
  function to its own namesake where it has one: minigrad's rule is that a device array never
  meets a NumPy function;
* ``.get()`` (or ``backend.to_numpy``) is the only way back to the host;
* reductions and scalar indexing give 0-d arrays, not Python or NumPy scalars;
* its array module, ``strict.xp``, holds only the names CuPy has: the lists in
  ``cupy_names.txt`` beside this file, written from an installed CuPy by
  ``python -m minigrad.strict --write-names`` (CuPy imports without a GPU);
* it counts what costs on a GPU: host->device copies (``xp.asarray`` of host data, a NumPy
  index or value), device->host copies (``.get()``, ``.tolist()``) and synchronisations (a
  Python value pulled from the device: ``float(x)``, ``int(x)``, ``bool(x)``, ``.item()``, a
  boolean mask whose count sets a shape). ``with strict.watch() as w: ...`` reads them.

Not kept: CuPy's numbers (its random generator draws other values) and its speed.
"""
import functools
import math
import os
import types

import numpy as np

_NAMES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_names.txt")
_SECTIONS = ("cupy", "cupy.ndarray", "cupy.ufunc", "cupy.random", "cupy.random.Generator",
             "cupy.linalg")


# ----------------------------------------------------------------------------- the names

@functools.lru_cache(maxsize=None)
def names(section):
    """The names CuPy has in ``section`` ('cupy', 'cupy.ndarray', ...), from cupy_names.txt."""
    return _read_names()[section]


def _read_names():
    names, section = {s: set() for s in _SECTIONS}, None
    with open(_NAMES_FILE, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
            else:
                names[section].add(line)
    return names


def write_names(path=_NAMES_FILE):
    """Write the names CuPy has (from the CuPy installed here) to ``path``."""
    import cupy
    objects = {"cupy": cupy, "cupy.ndarray": cupy.ndarray, "cupy.ufunc": cupy.add,
               "cupy.random": cupy.random, "cupy.random.Generator": cupy.random.Generator,
               "cupy.linalg": cupy.linalg}
    with open(path, "w", encoding="utf-8") as f:
        names.cache_clear()
        f.write(f"# The names CuPy {cupy.__version__} has, for minigrad's strict device.\n"
                "# Written by: python -m minigrad.strict --write-names (do not edit).\n")
        for section in _SECTIONS:
            f.write(f"[{section}]\n")
            public = (n for n in dir(objects[section]) if not n.startswith("_") or
                      section == "cupy.ndarray" and n.startswith("__") and n.endswith("__"))
            f.write("".join(n + "\n" for n in sorted(public)))



# ----------------------------------------------------------------------------- the counts

_counts = {"h2d": 0, "d2h": 0, "sync": 0}


def counts():
    """{'h2d': host->device copies, 'd2h': device->host copies, 'sync': Python values pulled
    from the device}, since the process started."""
    return dict(_counts)


class watch:
    """``with strict.watch() as w:`` ... then ``w.h2d``, ``w.d2h``, ``w.sync``: what ran inside
    the block (read them inside the block too: they count up to that moment)."""

    def __enter__(self):
        self._start = counts()
        return self

    def __exit__(self, *exc):
        self._end = counts()

    def __getattr__(self, kind):
        if kind not in _counts:
            raise AttributeError(kind)
        end = self.__dict__.get("_end") or _counts
        return end[kind] - self._start[kind]


def _count(kind):
    _counts[kind] += 1


# ----------------------------------------------------------------------------- wrapping

class StrictError(TypeError):
    """A NumPy array or function met a strict device array (CuPy raises TypeError there)."""


def _refuse(what):
    raise StrictError(
        f"{what}: implicit conversion between the strict device and NumPy is not allowed "
        "(as on CuPy): take the array module from the arrays (backend.get_array_module), "
        "and copy to the host explicitly with .get() or backend.to_numpy")


def _wrap(x, keep=None):
    """NumPy results as device arrays: arrays wrapped, NumPy scalars as 0-d arrays (as CuPy
    gives them); ``keep`` maps the id of an unwrapped argument back to its wrapper, so that
    ``out=`` hands back the very array that was passed."""
    t = type(x)
    if t is np.ndarray:
        if keep is not None and id(x) in keep:
            return keep[id(x)]
        a = object.__new__(ndarray)
        a._a = x
        return a
    if isinstance(x, np.generic):
        return _wrap(np.asarray(x))
    if t is tuple or t is list:
        return t(_wrap(v, keep) for v in x)
    return x


def _unwrap(x, where, keep=None):
    """Arguments for NumPy: device arrays unwrapped (into ``keep``); a NumPy array refused."""
    t = type(x)
    if t is ndarray:
        if keep is not None:
            keep[id(x._a)] = x
        return x._a
    if t is np.ndarray:
        _refuse(f"{where} was given a NumPy array")
    if t is tuple or t is list:
        return t(_unwrap(v, where, keep) for v in x)
    return x


def _call(fn, where, args, kwargs):
    keep = {}
    args = _unwrap(args, where, keep)
    kwargs = {k: _unwrap(v, where, keep) for k, v in kwargs.items()}
    return _wrap(fn(*args, **kwargs), keep)


def _index(key, where):
    """An index for NumPy. A NumPy or list index is copied to the device first (CuPy does so:
    a host->device copy); a boolean device mask syncs, since its count sets the shape."""
    t = type(key)
    if t is tuple:
        return tuple(_index(k, where) for k in key)
    if t is ndarray:
        return key._a
    if t is np.ndarray or t is list:
        _count("h2d")
        return np.asarray(key)
    return key


def _operand(x):
    t = type(x)
    if t is ndarray:
        return x._a
    if t is np.ndarray:
        _refuse(f"an operator between a strict device array and a NumPy array {x.shape}")
    if t in (int, float, bool, complex) or isinstance(x, np.generic):
        return x
    return NotImplemented


# ----------------------------------------------------------------------------- the array

def _binary(ufunc):
    def op(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _wrap(ufunc(self._a, o))

    def rop(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _wrap(ufunc(o, self._a))

    def iop(self, other):
        o = _operand(other)
        if o is NotImplemented:
            return NotImplemented
        ufunc(self._a, o, out=self._a)
        return self
    return op, rop, iop


class ndarray:
    """An array on the strict device (wraps a NumPy array it never hands out). Methods and
    attributes: those of ``cupy.ndarray`` that NumPy also has."""
    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100            # below Tensor's: array + tensor calls Tensor's operator
    _minigrad_device = "strict"         # what backend.device_of reads
    __hash__ = None

    def __init__(self, shape, dtype=float):
        self._a = np.empty(shape, dtype=dtype)

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    T = property(lambda self: _wrap(self._a.T))

    # -- the host side: every crossing is counted --------------------------------------
    def get(self, stream=None, out=None):
        """A NumPy copy on the host (a device->host copy)."""
        _count("d2h")
        return self._a.copy()

    def set(self, arr, stream=None):
        if type(arr) is not np.ndarray:
            raise TypeError(f"set: expected a NumPy array, got {type(arr).__name__}")
        _count("h2d")
        self._a[...] = arr

    def item(self):
        _count("sync")
        return self._a.item()

    def tolist(self):
        _count("d2h")
        return self._a.tolist()

    def _scalar(self, kind):
        _count("sync")
        return kind(self._a)

    __bool__ = lambda self: self._scalar(bool)          # noqa: E731
    __float__ = lambda self: self._scalar(float)        # noqa: E731
    __int__ = lambda self: self._scalar(int)            # noqa: E731
    __complex__ = lambda self: self._scalar(complex)    # noqa: E731

    def __index__(self):
        _count("sync")
        return self._a.__index__()

    def __repr__(self):
        _count("d2h")
        return "strict." + repr(self._a)

    def __str__(self):
        _count("d2h")
        return str(self._a)

    def __format__(self, spec):
        _count("sync")
        return format(self._a, spec)

    # -- what NumPy must never do with it ------------------------------------------------
    def __array__(self, *args, **kwargs):
        _refuse("np.asarray / __array__ of a strict device array")

    def __array_function__(self, func, types, args, kwargs):
        _refuse(f"numpy.{func.__name__} was given a strict device array")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        _refuse(f"numpy.{name} was given a strict device array")

    # -- containers and copies ---------------------------------------------------------
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __getitem__(self, key):
        key = _index(key, "__getitem__")
        if type(key) is np.ndarray and key.dtype == bool or (
                type(key) is tuple and any(type(k) is np.ndarray and k.dtype == bool for k in key)):
            _count("sync")
        return _wrap(self._a[key])

    def __setitem__(self, key, value):
        key = _index(key, "__setitem__")
        if type(value) is np.ndarray or type(value) is list:
            _count("h2d")
            value = np.asarray(value)
        else:
            value = _unwrap(value, "__setitem__")
        self._a[key] = value

    def __copy__(self):
        return _wrap(self._a.copy())

    def __deepcopy__(self, memo):
        return _wrap(self._a.copy())

    def __reduce__(self):
        _refuse("pickling a strict device array")

    # -- the rest of cupy.ndarray, looked up once and kept on the class ------------------
    def __getattr__(self, name):
        if name.startswith("__") or name not in names("cupy.ndarray") or not hasattr(np.ndarray, name):
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}"
                                 if name not in names("cupy.ndarray") else
                                 f"the strict device does not provide ndarray.{name}")
        member = getattr(np.ndarray, name)
        if callable(member):
            def method(self, *args, **kwargs):
                return _call(getattr(self._a, name), f"ndarray.{name}", args, kwargs)
            method.__name__ = name
            setattr(ndarray, name, method)
        else:
            setattr(ndarray, name, property(lambda self: _wrap(getattr(self._a, name))))
        return getattr(self, name)


for _name, _ufunc in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                      ("mod", np.remainder), ("pow", np.power), ("matmul", np.matmul),
                      ("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor),
                      ("lshift", np.left_shift), ("rshift", np.right_shift)):
    _op, _rop, _iop = _binary(_ufunc)
    setattr(ndarray, f"__{_name}__", _op)
    setattr(ndarray, f"__r{_name}__", _rop)
    setattr(ndarray, f"__i{_name}__", _iop)
for _name, _ufunc in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                      ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)):
    setattr(ndarray, f"__{_name}__", _binary(_ufunc)[0])
for _name, _ufunc in (("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                      ("invert", np.invert)):
    setattr(ndarray, f"__{_name}__", functools.partialmethod(
        lambda self, f: _wrap(f(self._a)), _ufunc))


# ----------------------------------------------------------------------------- the module

class ufunc:
    """A CuPy ufunc: called, or through the methods CuPy's ufuncs have (``at``, ``reduce``,
    ...)."""

    def __init__(self, np_ufunc):
        self._f = np_ufunc
        self.__name__ = np_ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _call(self._f, f"xp.{self.__name__}", args, kwargs)

    def at(self, a, indices, b=None):
        if type(a) is not ndarray:
            raise TypeError(f"xp.{self.__name__}.at: expected a device array, got "
                            f"{type(a).__name__}")
        args = () if b is None else (_unwrap(b, f"xp.{self.__name__}.at"),)
        self._f.at(a._a, _index(indices, f"xp.{self.__name__}.at"), *args)

    def __getattr__(self, name):
        if name not in names("cupy.ufunc") or not hasattr(self._f, name):
            raise AttributeError(f"'cupy.ufunc' object has no attribute {name!r}")
        member = getattr(self._f, name)
        if not callable(member):
            return member
        return lambda *args, **kwargs: _call(member, f"xp.{self.__name__}.{name}", args, kwargs)


def _from_host(np_fn, name):
    """``xp.asarray`` and kin: host data becomes device data, a counted copy."""
    def convert(obj, *args, **kwargs):
        if type(obj) is ndarray:
            return _wrap(np_fn(obj._a, *args, **kwargs))
        if type(obj) in (list, tuple) and any(type(v) is ndarray for v in obj):
            return _wrap(np_fn(_unwrap(obj, f"xp.{name}"), *args, **kwargs))
        _count("h2d")
        return _wrap(np.array(np_fn(obj, *args, **kwargs)))
    convert.__name__ = name
    return convert


def asnumpy(a, stream=None, order="C", out=None):
    """``cupy.asnumpy``: a host copy (NumPy input is returned as NumPy, as CuPy does)."""
    return a.get() if type(a) is ndarray else np.asarray(a)


def get_array_module(*args):
    return xp if any(type(a) is ndarray for a in args) else np


class Generator:
    """``xp.random.default_rng(seed)``: draws on the device, with CuPy's methods only."""

    def __init__(self, seed=None):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        if name not in names("cupy.random.Generator") or not hasattr(self._g, name):
            raise AttributeError(f"'cupy.random.Generator' object has no attribute {name!r}")
        member = getattr(self._g, name)
        return lambda *args, **kwargs: _call(member, f"Generator.{name}", args, kwargs)


class _Namespace:
    """A module of CuPy (``xp``, ``xp.random``, ``xp.linalg``): the NumPy object of each name
    CuPy has, wrapped, and an AttributeError for the names CuPy lacks."""

    def __init__(self, name, np_module, own=None):
        self.__name__ = name
        self._np, self._own = np_module, own or {}

    def __getattr__(self, name):
        if name.startswith("__") or name not in names(self.__name__):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        if name in self._own:
            value = self._own[name]
        else:
            value = getattr(self._np, name, None)
            if value is None:
                raise AttributeError(f"the strict device does not provide {self.__name__}.{name}"
                                     " (CuPy has it; NumPy does not)")
            if isinstance(value, np.ufunc):
                value = ufunc(value)
            elif callable(value) and not isinstance(value, type):
                value = functools.wraps(value)(functools.partial(
                    lambda f, where, *a, **k: _call(f, where, a, k), value,
                    f"{self.__name__}.{name}"))
        setattr(self, name, value)
        return value

    def __repr__(self):
        return f"<the strict device's {self.__name__}>"


xp = _Namespace("cupy", np, {
    "ndarray": ndarray, "ufunc": ufunc, "asnumpy": asnumpy,
    "get_array_module": get_array_module,
    **{n: _from_host(getattr(np, n), n)
       for n in ("asarray", "array", "asanyarray", "ascontiguousarray", "asfortranarray")},
    "random": _Namespace("cupy.random", np.random, {"default_rng": Generator,
                                                   "Generator": Generator}),
    "linalg": _Namespace("cupy.linalg", np.linalg),
})


def _erf(x):
    a = _unwrap(x, "cupyx.scipy.special.erf")
    return _wrap(np.asarray(np.frompyfunc(math.erf, 1, 1)(a), dtype=a.dtype))


# ``cupyx.scipy.special.erf`` (NumPy has no erf): the one cupyx name minigrad uses
cupyx = types.SimpleNamespace(scipy=types.SimpleNamespace(special=types.SimpleNamespace(erf=_erf)))


if __name__ == "__main__":
    import sys
    if sys.argv[1:] != ["--write-names"]:
        sys.exit("usage: python -m minigrad.strict --write-names   (needs CuPy installed)")
    write_names()
    print(f"wrote {_NAMES_FILE}")
