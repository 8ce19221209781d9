"""``mg.save`` / ``mg.load``: checkpoints that are never pickled, written atomically, and read
within a memory bound that a hostile file cannot break.

Two containers, told apart on load by the file's first bytes:

- ``.npz`` (the default): a zip of ``.npy`` files. Each array is stored under its own name
  (``numpy.load("m.npz")["weight_ih_l0"]`` works; nested names are joined with ``/``, as in
  ``"model/encoder.weight"``), beside one member ``__minigrad__``: a JSON text of the saved
  structure (dicts, lists, tuples, numbers, strings, modules) with each array replaced by its
  name.
- ``.safetensors``, through the ``safetensors`` package (``pip install -e '.[safetensors]'``):
  the same arrays and names, the JSON text in the file's metadata. A file from PyTorch or
  Hugging Face tools, without that metadata, loads as a flat dict of arrays.

A whole ``nn.Module`` is stored as its class's qualified name, the constructor arguments it
recorded (see ``Module.__new__``) and its ``state_dict``. ``load(..., weights_only=False)``
rebuilds it only if that class is already imported and is an ``nn.Module`` subclass: loading
never imports anything and never calls anything else a file names.

Reading is bounded before anything is allocated: every array's declared size counts against
``max_bytes``, a stored member must hold the bytes it declares, and a compressed member is
inflated in small chunks that stop as soon as it passes its declared size.
"""
import contextlib
import errno
import io
import json
import math
import os
import sys
import types
import uuid
import zipfile

import numpy as np

from . import backend
from ._version import __version__
from .tensor import Tensor

try:                                     # POSIX: the writer's lock on its temporary file
    import fcntl
except ImportError:                      # Windows: no cleanup of stale temporary files
    fcntl = None

FORMAT = "minigrad-checkpoint"
# 1: arrays under "a0", "a1", ... ; 2: arrays under their own names, whole modules, the
# minigrad version in the header. Version-1 files load unchanged (the tree names its arrays).
VERSION = 2
HEADER = "__minigrad__"
DEFAULT_MAX_BYTES = 4 * 2 ** 30
_CHUNK = 1 << 20                         # bytes read or inflated at a time
_SAFETENSORS_MAX_HEADER = 100 * 2 ** 20  # the package's own limit on its JSON header
# The __minigrad__ JSON text (4 bytes a character in .npy): parsed into Python objects many
# times its size, so it gets a cap of its own, far above any real checkpoint's.
_HEADER_MAX_BYTES = 256 * 2 ** 20
# Where a non-seekable stream is read into memory first: the arrays plus this much of headers.
_STREAM_SLACK = 64 * 2 ** 20

# safetensors dtype names -> bytes per element (to bound a file before the package reads it)
_ST_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2,
                "F16": 2, "BF16": 2, "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}
_DTYPE_NAMES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "complex64", "complex128"}


class CheckpointError(ValueError):
    """A file ``mg.load`` refuses: not a checkpoint, damaged, forged, over ``max_bytes``, or
    written by a newer minigrad."""


def _size(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


# ================================================================================ saving

def _safe_name(name):
    """A member name that is also a sensible file path inside a zip: parts of letters, digits,
    ``_ . -``, none of them ``.`` or ``..``, joined by ``/``."""
    if not name or len(name) > 200 or name == HEADER:
        return False
    for part in name.split("/"):
        if not part or part[0] in ".-" or not all(c.isascii() and (c.isalnum() or c in "_.-")
                                                  for c in part):
            return False
    return True


class _Encoder:
    """Turns a saved object into a JSON tree, collecting its arrays by name."""

    def __init__(self):
        self.arrays = {}

    def array(self, value, path):
        name = "/".join(path)
        if not _safe_name(name) or name in self.arrays:
            name = f"__array{len(self.arrays)}"
            while name in self.arrays:
                name += "_"
        # C order for safetensors; not np.ascontiguousarray, which turns a 0-d array into 1-d.
        self.arrays[name] = np.require(backend.to_numpy(value), requirements="C")
        return {"__array__": name}

    def value(self, obj, path):
        from .nn.module import Module
        if isinstance(obj, Tensor):
            return self.array(obj.array, path)
        if isinstance(obj, Module):
            return self.module(obj, path, with_state=True)
        if hasattr(obj, "shape") and hasattr(obj, "dtype") and not isinstance(obj, np.generic):
            return self.array(obj, path)                  # a NumPy or CuPy array
        if isinstance(obj, dict):
            bad = [k for k in obj if not isinstance(k, (str, int))]
            if bad:
                raise TypeError(f"mg.save: dict keys must be str or int, got {bad[0]!r}")
            return {"__dict__": [[k, self.value(v, path + [str(k)])] for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            return {"__list__": [self.value(v, path + [str(i)]) for i, v in enumerate(obj)],
                    "tuple": isinstance(obj, tuple)}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, np.generic):
            return obj.item()
        at = f" (at {'/'.join(path)})" if path else ""
        hint = " Save its state_dict() instead." if hasattr(obj, "state_dict") else ""
        raise TypeError(f"mg.save: cannot store a {type(obj).__name__}{at}; only arrays, "
                        "tensors, numbers, strings, nn.Modules, and dicts/lists of them."
                        + hint)

    def module(self, m, path, with_state):
        node = self.recipe(type(m), *m._init_args, path)
        if with_state:
            node["state"] = [[k, self.array(v.array, path + [k])]
                             for k, v in m.state_dict().items()]
            node["training"] = bool(m.training)
        return node

    def recipe(self, cls, args, kwargs, path):
        """A module's class and the constructor arguments it recorded (see Module.__new__)."""
        what = f"mg.save: cannot store the {cls.__name__} " + (
            f"at {'/'.join(path)} " if path else "") + "as a whole module"
        fix = ("; save its state_dict() instead (mg.save(model.state_dict(), f)) and rebuild "
               "the model in code before load_state_dict")
        if "<locals>" in cls.__qualname__:
            raise TypeError(f"{what}: its class is defined inside a function, so no file can "
                            f"name it{fix}")
        return {"__module__": [cls.__module__, cls.__qualname__],
                "args": [self.argument(a, f"argument {i + 1}", what, fix)
                         for i, a in enumerate(args)],
                "kwargs": [[k, self.argument(v, f"argument {k!r}", what, fix)]
                           for k, v in kwargs.items()]}

    def argument(self, a, where, what, fix):
        """A recorded constructor argument: JSON values, dtypes, and modules given as
        arguments (rebuilt from their own arguments; their weights come from the outer
        module's state_dict)."""
        from .nn.module import ModuleSpec, Unrecorded
        if a is None or isinstance(a, (bool, int, float, str)):
            return a
        if isinstance(a, np.generic):
            return a.item()
        if isinstance(a, ModuleSpec):
            return self.recipe(a.cls, a.args, a.kwargs, [])
        if isinstance(a, (np.dtype, type)) and _dtype_name(a) in _DTYPE_NAMES:
            return {"__dtype__": _dtype_name(a)}
        if isinstance(a, (list, tuple)):
            return {"__list__": [self.argument(v, where, what, fix) for v in a],
                    "tuple": isinstance(a, tuple)}
        if isinstance(a, dict) and all(isinstance(k, str) for k in a):
            return {"__dict__": [[k, self.argument(v, where, what, fix)] for k, v in a.items()]}
        kind = a.type_name if isinstance(a, Unrecorded) else type(a).__name__
        raise TypeError(f"{what}: its constructor's {where} is a {kind}, which a checkpoint "
                        f"cannot hold without pickle{fix}")


def _dtype_name(d):
    try:
        return np.dtype(d).name
    except TypeError:
        return None


def _write_npz(fp, arrays, header):
    # Stored, not compressed (a state_dict barely compresses), in 64-bit zip entries so any
    # size fits. Written member by member instead of np.savez(**arrays), whose own keyword
    # arguments ("file", "allow_pickle") would clash with array names.
    with zipfile.ZipFile(fp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for key, a in [(HEADER, np.array(header))] + list(arrays.items()):
            with z.open(key + ".npy", "w", force_zip64=True) as m:
                np.lib.format.write_array(m, a, allow_pickle=False)


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("mg.save / mg.load: .safetensors files need the safetensors package: "
                          "pip install -e '.[safetensors]' (or pip install safetensors)") from None
    return safetensors


def _safetensors_bytes(arrays, header):
    st = _safetensors()
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise TypeError(f"mg.save: safetensors cannot hold array {k!r} of dtype {a.dtype}; "
                            "save to a .npz instead")
    try:
        return st.numpy.save(arrays, metadata={HEADER: header})
    except Exception as e:  # noqa: BLE001  (the package raises several kinds)
        raise TypeError(f"mg.save: the safetensors package refused the data: {e}") from None


def _format_for(format, path):
    if format is None:
        return "safetensors" if path is not None and path.endswith(".safetensors") else "npz"
    if format not in ("npz", "safetensors"):
        raise ValueError(f"mg.save: format must be 'npz' or 'safetensors', got {format!r}")
    return format


def _lock(fp):
    """Take the writer's lock on its temporary file (blocking: a cleaner holds it only for the
    moment it takes to delete a stale file)."""
    if fcntl is not None:
        fcntl.flock(fp.fileno(), fcntl.LOCK_EX)


def _temporary_prefix(base):
    # Named after the target (cut to stay within the 255 bytes a file name may have).
    return f".{base[:200]}.tmp-"


def _new_temporary(folder, base):
    """Create and lock a temporary file named after the target: ``.m.npz.tmp-<random>``."""
    while True:
        tmp = os.path.join(folder, _temporary_prefix(base) + uuid.uuid4().hex[:16])
        # A fresh name opened exclusively: unlike mkstemp's (always 0600), the file gets the
        # usual permissions, so a checkpoint is as readable as any other file the user writes.
        fp = open(tmp, "xb")
        _lock(fp)
        try:
            # Between open and lock, another save's cleanup may have taken the lock and
            # deleted the file as stale; then start again under a new name.
            if os.stat(tmp).st_ino == os.fstat(fp.fileno()).st_ino:
                return tmp, fp
        except FileNotFoundError:
            pass
        fp.close()


def _remove_stale_temporaries(folder, base):
    """Delete the temporary files of earlier saves of this target that were killed mid-write.

    A running save holds an OS lock on its temporary file until it has renamed it, so a
    temporary file whose lock can be taken belongs to no one. (Age cannot tell: a file left a
    moment ago by ``kill -9`` looks like a running save.) Without fcntl (Windows) nothing is
    removed.
    """
    if fcntl is None:
        return
    prefix = _temporary_prefix(base)
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(entry.path).st_ino == os.fstat(fd).st_ino:
                os.unlink(entry.path)
        except OSError:          # locked by a save still running, or already gone
            pass
        finally:
            os.close(fd)


def _atomic_write(path, write):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"mg.save: cannot write {path}: folder {folder} "
                                "does not exist", folder)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"mg.save: {path} is a folder; give a file name "
                                "such as model.npz", path)
    tmp, fp = _new_temporary(folder, os.path.basename(path))
    try:
        with fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
            if fcntl is not None:
                os.replace(tmp, path)    # still locked: no cleanup can take it for stale
        if fcntl is None:
            os.replace(tmp, path)        # Windows renames only a closed file
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _remove_stale_temporaries(folder, os.path.basename(path))


def save(obj, f, format=None):
    """Write ``obj`` to ``f``: a path, or a file opened for binary writing.

    obj: a state_dict, an optimizer's state_dict, any dict/list/tuple of arrays, tensors,
    numbers and strings, or a whole ``nn.Module`` (its class, constructor arguments and
    state_dict; gradients are not saved).
    format: ``'npz'`` or ``'safetensors'``. By default, a path ending in ``.safetensors`` gets
    safetensors and anything else (``.npz``, ``.pt``, ...) gets npz; an open file gets npz.

    A path is written through a temporary file in the same folder, which then replaces it in
    one step: a crash mid-write never leaves a half-written checkpoint, and the next save of
    the same path removes what a killed one left. An open file is the caller's: it is written
    at its position and neither flushed to disk nor closed.
    """
    enc = _Encoder()
    tree = enc.value(obj, [])            # everything that cannot be stored fails before writing
    header = json.dumps({"format": FORMAT, "version": VERSION, "minigrad": __version__,
                         "tree": tree})
    path = os.fspath(f) if isinstance(f, (str, os.PathLike)) else None
    fmt = _format_for(format, path)
    if fmt == "safetensors":
        data = _safetensors_bytes(enc.arrays, header)

        def write(fp):
            fp.write(data)
    else:
        def write(fp):
            _write_npz(fp, enc.arrays, header)
    if path is not None:
        _atomic_write(path, write)
        return
    if isinstance(f, io.TextIOBase) or not hasattr(f, "write"):
        raise TypeError(f"mg.save: expected a path or a file opened for binary writing ('wb'), "
                        f"got {type(f).__name__}" + (" in text mode" if isinstance(
                            f, io.TextIOBase) else ""))
    write(f)


# ================================================================================ loading

class _Reader:
    """What a load knows about its file: a name for messages, the cap and what is spent."""

    def __init__(self, name, max_bytes):
        self.name = name
        self.max_bytes = max_bytes
        self.used = 0

    def refuse(self, reason):
        return CheckpointError(f"mg.load: {self.name} is not a readable minigrad checkpoint "
                               f"({reason})")

    def take(self, key, shape, dtype_name, nbytes):
        if self.used + nbytes > self.max_bytes:
            before = f", after {_size(self.used)} of other arrays," if self.used else ""
            raise self.refuse(
                f"array {key!r} declares shape {tuple(shape)} {dtype_name} = {_size(nbytes)}, "
                f"which{before} passes max_bytes={self.max_bytes} ({_size(self.max_bytes)}); "
                "pass a larger max_bytes= to mg.load if you trust this file")
        self.used += nbytes


def _read_npy_member(z, info, reader, file_size):
    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    with z.open(info) as m:
        try:
            version = np.lib.format.read_magic(m)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(m)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(m)
            else:
                raise ValueError(f".npy version {version}")
        except (ValueError, SyntaxError, EOFError) as e:
            raise reader.refuse(f"array {key!r} has no valid .npy header: {e}") from None
        if dtype.hasobject:
            raise reader.refuse(f"array {key!r} holds Python objects ({dtype}), which mg.load "
                                "never reads")
        if any(not isinstance(n, int) or n < 0 for n in shape) or dtype.itemsize == 0:
            raise reader.refuse(f"array {key!r} declares shape {shape} of {dtype}")
        nbytes = math.prod(shape) * dtype.itemsize
        reader.take(key, shape, dtype, nbytes)
        start = m.tell()
        if info.compress_type == zipfile.ZIP_STORED:
            # The zip's own record of the member must cover the data before anything is
            # allocated for it.
            holds = min(info.file_size, info.compress_size,
                        max(0, file_size - info.header_offset)) - start
            if holds < nbytes:
                raise reader.refuse(f"array {key!r} declares shape {tuple(shape)} {dtype} = "
                                    f"{nbytes} bytes, but the file holds {max(holds, 0)} bytes "
                                    "for it (truncated or forged)")
            buf = np.empty(nbytes, np.uint8)
            view, pos = memoryview(buf), 0
            while pos < nbytes:
                got = m.readinto(view[pos:pos + _CHUNK])
                if not got:
                    raise reader.refuse(f"array {key!r} declares {nbytes} bytes, but the file "
                                        f"ends after {pos} (truncated)")
                pos += got
        else:
            # Inflated chunk by chunk and stopped as soon as it passes the declared size, so a
            # small compressed file cannot grow into a large allocation (a zip bomb).
            data = bytearray()
            while True:
                chunk = m.read(_CHUNK)
                if not chunk:
                    break
                data += chunk
                if len(data) > nbytes:
                    raise reader.refuse(f"array {key!r} declares {nbytes} bytes, but its "
                                        f"compressed data inflates past {len(data)} bytes")
            if len(data) < nbytes:
                raise reader.refuse(f"array {key!r} declares {nbytes} bytes, but its "
                                    f"compressed data inflates to only {len(data)}")
            buf = np.frombuffer(data, np.uint8)
    array = buf.view(dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def _tree_arrays(node, out):
    """The names of the arrays a tree refers to."""
    if isinstance(node, dict):
        if "__array__" in node:
            out.add(node["__array__"])
        for v in node.values():
            _tree_arrays(v, out)
    elif isinstance(node, list):
        for v in node:
            _tree_arrays(v, out)
    return out


def _check_header(header, reader):
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else header
        raise reader.refuse(f"its header names format {found!r}")
    version = header.get("version", 0)
    if not isinstance(version, int):
        raise reader.refuse(f"its header names version {version!r}")
    if version > VERSION:
        by = header.get("minigrad")
        by = f"minigrad {by}" if isinstance(by, str) else "a newer minigrad"
        raise reader.refuse(f"it was written by {by} in checkpoint format version {version}; "
                            f"this minigrad {__version__} reads versions up to {VERSION}:"
                            " upgrade minigrad to read it")
    if "tree" not in header:
        raise reader.refuse("its header has no tree")


def _read_npz(fp, reader, file_size):
    try:
        z = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise reader.refuse(f"it starts like a zip file but is damaged or cut short: {e}") \
            from None
    with z:
        members = {i.filename: i for i in z.infolist()}
        if HEADER + ".npy" not in members:
            if any(n.endswith("data.pkl") for n in members):
                raise reader.refuse("it is a PyTorch torch.save file, which mg.load does not "
                                    "read; in PyTorch, save the state_dict with "
                                    "safetensors.torch.save_file and load that")
            raise reader.refuse(f"it has no {HEADER} header; a plain numpy.savez file is read "
                                "with numpy.load")
        # The header is counted apart from the arrays, which max_bytes bounds.
        header_array = _read_npy_member(
            z, members[HEADER + ".npy"],
            _Reader(reader.name, min(reader.max_bytes, _HEADER_MAX_BYTES)), file_size)
        try:
            header = json.loads(str(header_array[()]))
        except (ValueError, IndexError, RecursionError) as e:
            raise reader.refuse(f"its header is not valid JSON: {e}") from None
        _check_header(header, reader)
        arrays = {}
        for key in sorted(_tree_arrays(header["tree"], set()), key=str):
            info = members.get(f"{key}.npy") if isinstance(key, str) else None
            if info is None:
                raise reader.refuse(f"its header names an array {key!r} that is not in the file")
            arrays[key] = _read_npy_member(z, info, reader, file_size)
    return header["tree"], arrays


def _read_safetensors(fp, reader, file_size, path):
    length = int.from_bytes(fp.read(8), "little")
    if length > file_size - 8 or length > _SAFETENSORS_MAX_HEADER:
        raise reader.refuse(f"its safetensors header claims {length} bytes, but the file has "
                            f"{max(file_size - 8, 0)} after the length field")
    try:
        header = json.loads(fp.read(length))
        specs = {k: v for k, v in header.items() if k != "__metadata__"}
        for key, spec in specs.items():
            shape, dtype = spec["shape"], spec["dtype"]
            if dtype not in _ST_ITEMSIZE or not all(isinstance(n, int) and n >= 0
                                                    for n in shape):
                raise ValueError(f"tensor {key!r} has dtype {dtype!r} and shape {shape!r}")
            reader.take(key, shape, dtype, math.prod(shape) * _ST_ITEMSIZE[dtype])
        metadata = header.get("__metadata__") or {}
    except CheckpointError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        raise reader.refuse(f"its safetensors header is damaged: {e}") from None
    if file_size - 8 - length > reader.used:
        # The package wants the data to be the tensors exactly; refused before it is read.
        raise reader.refuse(f"it holds {file_size - 8 - length} bytes of data where its "
                            f"tensors declare {reader.used}")
    # Within the cap: now the package itself checks the offsets and reads the data.
    st = _safetensors()
    try:
        if path is not None:
            with st.safe_open(path, framework="numpy") as s:
                arrays = {k: s.get_tensor(k) for k in specs}
        else:
            fp.seek(-(8 + length), io.SEEK_CUR)
            arrays = st.numpy.load(fp.read(file_size))
    except st.SafetensorError as e:
        raise reader.refuse(f"the safetensors package refused it: {e}") from None
    except (ValueError, TypeError, OSError) as e:
        raise reader.refuse(f"the safetensors package could not read it: {e}") from None
    if HEADER not in metadata:
        return {"__dict__": [[k, {"__array__": k}] for k in specs]}, arrays
    try:
        mg_header = json.loads(metadata[HEADER])
    except (ValueError, TypeError, RecursionError) as e:
        raise reader.refuse(f"its minigrad metadata is not valid JSON: {e}") from None
    _check_header(mg_header, reader)
    missing = [k for k in _tree_arrays(mg_header["tree"], set()) if k not in arrays]
    if missing:
        raise reader.refuse(f"its header names an array {missing[0]!r} that is not in the file")
    return mg_header["tree"], arrays


def _describe(head):
    if not head:
        return "it is empty"
    if head[:1] == b"\x80":
        return ("it looks like a Python pickle (what torch.save writes), which mg.load never "
                "reads; in PyTorch, save the state_dict with safetensors.torch.save_file")
    if head.startswith(b"\x93NUMPY"):
        return "it is a single .npy array, to be read with numpy.load"
    return (f"it starts with {head[:8]!r}, where a minigrad .npz (a zip) or .safetensors file "
            "starts differently")


# --------------------------------------------------------------------- rebuilding modules

def _imported_class(modname, qualname, reader):
    """The class a file names, found among modules already imported, by plain dictionary
    look-ups (no import, no attribute hook of a module or class runs)."""
    from .nn.module import Module
    if not isinstance(modname, str) or not isinstance(qualname, str):
        raise reader.refuse(f"it names a class {modname!r}.{qualname!r}")
    full = f"{modname}.{qualname}"
    obj = sys.modules.get(modname)
    if not isinstance(obj, types.ModuleType):
        raise reader.refuse(f"it holds {full}, but module {modname!r} is not imported; "
                            "mg.load never imports what a file names: import the module that "
                            "defines the model first, if you trust the file")
    for part in qualname.split("."):
        space = (object.__getattribute__(obj, "__dict__") if isinstance(obj, types.ModuleType)
                 else type.__dict__["__dict__"].__get__(obj) if isinstance(obj, type) else {})
        obj = space.get(part)
        if obj is None:
            raise reader.refuse(f"it holds {full}, which is not defined in the imported "
                                f"module {modname!r}")
    if not (isinstance(obj, type) and issubclass(obj, Module)):
        raise reader.refuse(f"it names {full}, which is not an nn.Module subclass; mg.load "
                            "rebuilds nothing else")
    return obj


class _ParameterBudget:
    """What the constructors of a module being rebuilt may give to parameters: a few times the
    stored state (room for a dtype wider than the file's, and for a layer passed as an argument
    and copied, as TransformerEncoder does), and no more."""

    def __init__(self, state_bytes, reader, call):
        self.left = 4 * state_bytes + 16 * 2 ** 20
        self.reader, self.call = reader, call

    def charge(self, name, param):
        nbytes = param.array.nbytes
        if nbytes > self.left:
            raise self.reader.refuse(
                f"rebuilding {self.call} asked for a parameter {name!r} of shape "
                f"{tuple(param.shape)} {param.dtype} = {_size(nbytes)}, more than the state "
                f"stored in the file accounts for ({_size(self.left)} left); its constructor "
                "arguments do not fit its weights")
        self.left -= nbytes


class _Decoder:
    def __init__(self, arrays, reader, weights_only):
        self.arrays, self.reader, self.weights_only = arrays, reader, weights_only

    def value(self, node):
        if isinstance(node, dict):
            if "__array__" in node:
                return self.arrays[node["__array__"]]
            if "__dict__" in node:
                return {k: self.value(v) for k, v in node["__dict__"]}
            if "__list__" in node:
                items = [self.value(v) for v in node["__list__"]]
                return tuple(items) if node.get("tuple") else items
            if "__dtype__" in node:
                if node["__dtype__"] not in _DTYPE_NAMES:
                    raise self.reader.refuse(f"it names a dtype {node['__dtype__']!r}")
                return np.dtype(node["__dtype__"])
            if "__module__" in node:
                return self.module(node, with_state="state" in node)
            raise self.reader.refuse(f"its header has an entry with keys {sorted(node)[:4]}")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        raise self.reader.refuse(f"its header has a bare {type(node).__name__}")

    def module(self, node, with_state):
        modname, qualname = node["__module__"]
        if self.weights_only:
            raise CheckpointError(
                f"mg.load: {self.reader.name} holds a whole nn.Module ({modname}.{qualname}); "
                "pass weights_only=False to rebuild it (only an already-imported nn.Module "
                "subclass is ever called), or save model.state_dict() instead")
        from .nn.module import parameter_budget
        cls = _imported_class(modname, qualname, self.reader)
        # The stored state was read (within max_bytes, each array checked against the file)
        # before any constructor runs, and bounds what the constructors may allocate.
        state = {k: self.value(v) for k, v in node["state"]} if with_state else None
        budget = parameter_budget.get()
        token = None
        if budget is None:
            budget = _ParameterBudget(sum(a.nbytes for a in self.arrays.values()), self.reader,
                                      qualname)
            token = parameter_budget.set(budget)
        try:
            args = [self.value(a) for a in node["args"]]     # modules given as arguments
            kwargs = {k: self.value(v) for k, v in node["kwargs"]}
            if not all(isinstance(k, str) for k in kwargs):
                raise self.reader.refuse(f"it gives {qualname} a keyword that is not a string")
            call = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
            call = f"{qualname}({call if len(call) < 80 else call[:76] + ' ...'})"
            budget.call = call
            try:
                m = cls(*args, **kwargs)
            except CheckpointError:
                raise
            except Exception as e:  # noqa: BLE001  (whatever the constructor raises)
                raise self.reader.refuse(f"rebuilding {call} failed: {type(e).__name__}: {e}") \
                    from None
        finally:
            if token is not None:
                parameter_budget.reset(token)
        if state is None:
            return m
        own = m.state_dict()
        missing = [k for k in own if k not in state]
        extra = [k for k in state if k not in own]
        if missing or extra:
            raise self.reader.refuse(f"the rebuilt {call} has parameters {missing} that the file "
                                     f"lacks and lacks {extra} that it stores")
        for k, t in own.items():
            if tuple(state[k].shape) != tuple(t.shape):
                raise self.reader.refuse(f"parameter {k!r} is stored with shape "
                                         f"{tuple(state[k].shape)}, but the rebuilt {call} has "
                                         f"{tuple(t.shape)}")
        floats = {a.dtype for a in state.values() if a.dtype.kind == "f"}
        if len(floats) == 1 and any(t.dtype.kind == "f" and t.dtype not in floats
                                    for t in own.values()):
            m.to(dtype=floats.pop())            # e.g. a model saved after .double()
        m.load_state_dict(state)
        m.train(bool(node.get("training", True)))
        return m


# ------------------------------------------------------------------------------- load

def _check_map_location(map_location):
    if map_location is None:
        return None
    device = getattr(map_location, "type", map_location)     # a device object, or a string
    if isinstance(device, str):
        try:
            return backend.check_device(device)
        except ValueError:
            pass
    raise ValueError(f"mg.load: map_location takes 'cpu', 'cuda' or a device, "
                     f"got {map_location!r}")


def _moved(obj, device):
    if isinstance(obj, dict):
        return {k: _moved(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_moved(v, device) for v in obj)
    if isinstance(obj, np.ndarray):
        return backend.to_device(obj, device)
    if hasattr(obj, "state_dict") and hasattr(obj, "to"):
        return obj.to(device)
    return obj


def load(f, weights_only=True, map_location=None, max_bytes=DEFAULT_MAX_BYTES):
    """Read a checkpoint from ``f`` (a path, or a file opened for binary reading), whatever
    ``mg.save`` wrote it as; the format is told by the first bytes. Never unpickles.

    weights_only: as in torch, True (the default) reads arrays, numbers, strings and their
    containers only; a whole module needs ``weights_only=False``, and then only an
    nn.Module subclass that is already imported is called, with the stored arguments.
    map_location: None or ``'cpu'`` gives NumPy arrays (``load_state_dict`` moves them to the
    module's device); ``'cuda'`` (or a device) puts arrays and modules on the GPU.
    max_bytes: the most the arrays may take in memory, checked against what the file declares
    before anything is allocated (default 4 GiB). Lower it for files from others.

    Raises ``mg.io.CheckpointError`` (a ValueError) for a file that is not a checkpoint, is
    damaged or forged, passes max_bytes, or comes from a newer minigrad.
    """
    device = _check_map_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(errno.ENOENT, f"mg.load: no file {path}: folder {folder} "
                                    "does not exist", path)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, f"mg.load: no file {path}", path)
        with open(path, "rb") as fp:
            return _load(fp, path, path, weights_only, device, max_bytes)
    if isinstance(f, io.TextIOBase) or not hasattr(f, "read"):
        raise TypeError(f"mg.load: expected a path or a file opened for binary reading ('rb'), "
                        f"got {type(f).__name__}" + (" in text mode" if isinstance(
                            f, io.TextIOBase) else ""))
    name = getattr(f, "name", None)
    name = name if isinstance(name, str) else f"the open {type(f).__name__}"
    if not (hasattr(f, "seekable") and f.seekable()):
        # A pipe or socket: read into memory, within the cap.
        data = f.read(max_bytes + _STREAM_SLACK + 1)
        if len(data) > max_bytes + _STREAM_SLACK:
            raise _Reader(name, max_bytes).refuse(f"the stream is longer than max_bytes="
                                                  f"{max_bytes} plus headers")
        f = io.BytesIO(data)
    return _load(f, name, None, weights_only, device, max_bytes)


def _load(fp, name, path, weights_only, device, max_bytes):
    reader = _Reader(name, max_bytes)
    start = fp.tell()
    file_size = fp.seek(0, io.SEEK_END) - start
    fp.seek(start)
    head = fp.read(16)
    fp.seek(start)
    try:
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            tree, arrays = _read_npz(fp, reader, file_size)
        elif len(head) >= 9 and head[8:9] == b"{":
            tree, arrays = _read_safetensors(fp, reader, file_size, path)
        else:
            raise reader.refuse(_describe(head))
        obj = _Decoder(arrays, reader, weights_only).value(tree)
    except CheckpointError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, KeyError, TypeError, EOFError, IndexError,
            RuntimeError) as e:
        # Whatever else a damaged file trips (a bad CRC, a malformed tree entry, an encrypted
        # member, an unknown compression method) is a corrupt checkpoint too.
        raise reader.refuse(f"{type(e).__name__}: {e}") from None
    return obj if device is None else _moved(obj, device)
