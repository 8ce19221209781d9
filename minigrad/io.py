"""``mg.save`` / ``mg.load``: checkpoints as ``.npz`` files, never pickled, written atomically.

The file holds each array under a key "a0", "a1", ... and one entry ``__minigrad__``: a JSON
text of the saved structure (dicts, lists, numbers, strings) with the arrays replaced by their
keys. A model's ``state_dict``, an optimizer's, or a dict of both round-trip.
"""
import json
import os
import uuid
import zipfile

import numpy as np

from . import backend
from .tensor import Tensor

FORMAT = "minigrad-checkpoint"
VERSION = 1


def _encode(obj, arrays):
    if isinstance(obj, Tensor):
        obj = obj.array
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):         # numpy or cupy array
        key = f"a{len(arrays)}"
        arrays[key] = backend.to_numpy(obj)
        return {"__array__": key}
    if isinstance(obj, dict):
        bad = [k for k in obj if not isinstance(k, (str, int))]
        if bad:
            raise TypeError(f"mg.save: dict keys must be str or int, got {bad[0]!r}")
        return {"__dict__": [[k, _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_encode(v, arrays) for v in obj], "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"mg.save: cannot store a {type(obj).__name__}; only arrays, tensors, "
                    "numbers, strings, and dicts/lists of them")


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__dict__" in obj:
            return {k: _decode(v, arrays) for k, v in obj["__dict__"]}
        items = [_decode(v, arrays) for v in obj["__list__"]]
        return tuple(items) if obj.get("tuple") else items
    return obj


def save(obj, path):
    """Write ``obj`` (a state_dict, or any dict/list of arrays and numbers) to ``path``.

    The data goes to a temporary file in the same folder, which then replaces ``path`` in one
    step: a crash mid-write never leaves a half-written checkpoint behind.
    """
    path = os.fspath(path)
    arrays = {}
    tree = _encode(obj, arrays)
    header = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    folder = os.path.dirname(os.path.abspath(path))
    # A fresh name opened exclusively: unlike mkstemp's (always 0600), the file gets the usual
    # permissions, so a checkpoint is as readable as any other file the user writes.
    tmp = os.path.join(folder, f".tmp-{uuid.uuid4().hex}.npz")
    f = open(tmp, "xb")
    try:
        with f:
            np.savez(f, __minigrad__=np.array(header), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path):
    """Read a checkpoint written by ``mg.save``. Arrays come back as NumPy arrays
    (``load_state_dict`` moves them to the module's device). Never unpickles."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "__minigrad__" not in z.files:
                raise ValueError("it has no __minigrad__ header")
            header = json.loads(str(z["__minigrad__"]))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                found = header.get("format") if isinstance(header, dict) else header
                raise ValueError(f"its header names format {found!r}")
            if header.get("version", 0) > VERSION:
                raise ValueError(f"it is version {header['version']}, newer than this minigrad")
            arrays = {k: z[k] for k in z.files if k != "__minigrad__"}
        # Inside the try: a damaged structure (a missing array, a malformed entry) is a
        # corrupt checkpoint too.
        return _decode(header["tree"], arrays)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, KeyError, TypeError, EOFError) as e:
        raise ValueError(f"mg.load: {path} is not a readable minigrad checkpoint ({e})") from None
