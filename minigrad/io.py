"""``mg.save`` / ``mg.load``: checkpoints that are never pickled, written atomically, and read
within a memory bound that a hostile file cannot break.

This module turns what is saved into a tree of JSON values and named arrays and back: dicts,
lists, tuples, numbers, strings, arrays and tensors, and whole ``nn.Module``s. The three parts
it leans on:

- ``minigrad.checkpoint_format``: the two containers (``.npz``, ``.safetensors``) and their
  reading in bounded memory;
- ``minigrad.atomic_write``: the write through a temporary file, renamed into place;
- ``minigrad.whole_module``: a whole module as its class, constructor arguments and state,
  rebuilt only when ``load`` is given ``weights_only=False``.
"""
import errno
import io
import json
import os
import zipfile

import numpy as np

from . import backend, checkpoint_format as fmt, whole_module
from ._version import __version__
from .atomic_write import atomic_write
from .checkpoint_format import DEFAULT_MAX_BYTES, CheckpointError
from .nn.module import Module
from .tensor import Tensor


# ================================================================================ saving

class _Encoder:
    """Turns a saved object into a JSON tree, collecting its arrays by name."""

    def __init__(self):
        self.arrays = {}

    def array(self, value, path):
        name = "/".join(path)
        if not fmt.safe_name(name) or name in self.arrays:
            name = f"__array{len(self.arrays)}"
            while name in self.arrays:
                name += "_"
        # C order for safetensors; not np.ascontiguousarray, which turns a 0-d array into 1-d.
        self.arrays[name] = np.require(backend.to_numpy(value), requirements="C")
        return {"__array__": name}

    def value(self, obj, path):
        if isinstance(obj, Tensor):
            return self.array(obj.array, path)
        if isinstance(obj, Module):
            return whole_module.encode(obj, path, self.array)
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
    header = json.dumps({"format": fmt.FORMAT, "version": fmt.VERSION, "minigrad": __version__,
                         "tree": tree})
    path = os.fspath(f) if isinstance(f, (str, os.PathLike)) else None
    kind = fmt.format_for(format, path)
    if kind == "safetensors":
        data = fmt.safetensors_bytes(enc.arrays, header)

        def write(fp):
            fp.write(data)
    else:
        def write(fp):
            fmt.write_npz(fp, enc.arrays, header)
    if path is not None:
        atomic_write(path, write)
        return
    if isinstance(f, io.TextIOBase) or not hasattr(f, "write"):
        raise TypeError(f"mg.save: expected a path or a file opened for binary writing ('wb'), "
                        f"got {type(f).__name__}" + (" in text mode" if isinstance(
                            f, io.TextIOBase) else ""))
    write(f)


# ================================================================================ loading

# Module classes that ``load(weights_only=True)`` may rebuild: torch's allowlist, filled by
# ``mg.serialization.safe_globals`` / ``add_safe_globals``. Matched by identity.
SAFE_GLOBALS = []


def _allowed(modname, qualname):
    return any(isinstance(c, type) and (c.__module__, c.__qualname__) == (modname, qualname)
               for c in SAFE_GLOBALS)


class _Decoder:
    def __init__(self, arrays, reader, weights_only):
        self.arrays, self.reader, self.weights_only = arrays, reader, weights_only
        self.state_bytes = sum(a.nbytes for a in arrays.values())

    def value(self, node):
        if isinstance(node, dict):
            if "__array__" in node:
                return self.arrays[node["__array__"]]
            if "__dict__" in node:
                return {k: self.value(v) for k, v in node["__dict__"]}
            if "__list__" in node:
                items = [self.value(v) for v in node["__list__"]]
                return tuple(items) if node.get("tuple") else items
            if "__namespace__" in node:
                return whole_module.namespace(
                    [[kv[0], self.value(kv[1])] if isinstance(kv, list) and len(kv) == 2
                     else kv for kv in node["__namespace__"]], self.reader)
            if "__dtype__" in node:
                if node["__dtype__"] not in fmt.DTYPE_NAMES:
                    raise self.reader.refuse(f"it names a dtype {node['__dtype__']!r}")
                return np.dtype(node["__dtype__"])
            if "__module__" in node:
                return self.module(node)
            raise self.reader.refuse(f"its header has an entry with keys {sorted(node)[:4]}")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        raise self.reader.refuse(f"its header has a bare {type(node).__name__}")

    def module(self, node):
        modname, qualname = node["__module__"]
        if self.weights_only and not _allowed(modname, qualname):
            raise CheckpointError(
                f"mg.load: {self.reader.name} holds a whole nn.Module ({modname}.{qualname}); "
                "pass weights_only=False to rebuild it (only an already-imported nn.Module "
                "subclass is ever called), or save model.state_dict() instead")
        return whole_module.rebuild(node, self.value, self.reader, self.state_bytes,
                                    allowed=SAFE_GLOBALS if self.weights_only else None)


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
        data = f.read(max_bytes + fmt.STREAM_SLACK + 1)
        if len(data) > max_bytes + fmt.STREAM_SLACK:
            raise fmt.Reader(name, max_bytes).refuse(f"the stream is longer than max_bytes="
                                                  f"{max_bytes} plus headers")
        f = io.BytesIO(data)
    return _load(f, name, None, weights_only, device, max_bytes)


def _load(fp, name, path, weights_only, device, max_bytes):
    reader = fmt.Reader(name, max_bytes)
    try:
        tree, arrays = fmt.read(fp, reader, path)
        obj = _Decoder(arrays, reader, weights_only).value(tree)
    except CheckpointError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, KeyError, TypeError, EOFError, IndexError,
            RuntimeError) as e:
        # Whatever else a damaged file trips (a bad CRC, a malformed tree entry, an encrypted
        # member, an unknown compression method) is a corrupt checkpoint too.
        raise reader.refuse(f"{type(e).__name__}: {e}") from None
    return obj if device is None else _moved(obj, device)


__all__ = ["save", "load", "CheckpointError", "DEFAULT_MAX_BYTES"]
