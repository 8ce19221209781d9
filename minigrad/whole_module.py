"""Whole modules in a checkpoint: ``mg.save(model, f)`` and ``mg.load(f, weights_only=False)``.

A module is stored as its class's qualified name, the constructor arguments it was built with
(``Module.__new__`` keeps them; see ``minigrad.nn.module``) and its ``state_dict``; loading
calls the constructor again with those arguments, so whatever the constructor does (tying
weights, building sub-layers) is done again, then loads the state. Nothing is pickled:

- the class must be an ``nn.Module`` subclass already imported: loading never imports what a
  file names, and finds the class by plain dictionary look-ups;
- the arguments are JSON values, dtypes, an ``argparse.Namespace`` of those (a program's
  parsed arguments handed to the model as its config), and modules given as arguments (stored
  as their own recipe; their weights come from the outer module's state);
- the arguments must fit the stored state before any constructor runs (``_check_sizes``), so
  a file cannot make a constructor allocate more than its weights account for, buffers
  included (``PositionalEncoding(max_len=10**9)`` asks for 7.45 GiB in a buffer that is not
  even stored);
- after construction, the module's own state must match the stored one, name for name and
  shape for shape.

``minigrad.io`` calls ``encode`` when it meets a module, and ``rebuild`` only when the caller
passed ``weights_only=False``.
"""
import argparse
import sys
import types

import numpy as np

from .checkpoint_format import DTYPE_NAMES, CheckpointError, size_text
from .nn.module import Module, ModuleSpec, Unrecorded


# ================================================================================ saving

def encode(m, path, array):
    """The tree node of module ``m`` at ``path``; ``array(value, path)`` stores an array and
    gives its node."""
    node = _recipe(type(m), *m._init_args, path)
    node["state"] = [[k, array(v.array, path + [k])] for k, v in m.state_dict().items()]
    node["training"] = bool(m.training)
    return node


def _recipe(cls, args, kwargs, path):
    """A module's class and the constructor arguments it recorded."""
    what = f"mg.save: cannot store the {cls.__name__} " + (
        f"at {'/'.join(path)} " if path else "") + "as a whole module"
    fix = ("; save its state_dict() instead (mg.save(model.state_dict(), f)) and rebuild "
           "the model in code before load_state_dict")
    if "<locals>" in cls.__qualname__:
        raise TypeError(f"{what}: its class is defined inside a function, so no file can "
                        f"name it{fix}")
    return {"__module__": [cls.__module__, cls.__qualname__],
            "args": [_argument(a, f"argument {i + 1}", what, fix) for i, a in enumerate(args)],
            "kwargs": [[k, _argument(v, f"argument {k!r}", what, fix)]
                       for k, v in kwargs.items()]}


def _argument(a, where, what, fix):
    if a is None or isinstance(a, (bool, int, float, str)):
        return a
    if isinstance(a, np.generic):
        return a.item()
    if isinstance(a, ModuleSpec):
        return _recipe(a.cls, a.args, a.kwargs, [])
    if isinstance(a, (np.dtype, type)) and _dtype_name(a) in DTYPE_NAMES:
        return {"__dtype__": _dtype_name(a)}
    if isinstance(a, (list, tuple)):
        return {"__list__": [_argument(v, where, what, fix) for v in a],
                "tuple": isinstance(a, tuple)}
    if isinstance(a, dict) and all(isinstance(k, str) for k in a):
        return {"__dict__": [[k, _argument(v, where, what, fix)] for k, v in a.items()]}
    if type(a) is argparse.Namespace:   # a program's parsed args as the model's config
        return {"__namespace__": [[k, _argument(v, f"{where}'s .{k}", what, fix)]
                                  for k, v in vars(a).items()]}
    kind = a.type_name if isinstance(a, Unrecorded) else type(a).__name__
    raise TypeError(f"{what}: its constructor's {where} is a {kind}, which a checkpoint "
                    f"cannot hold without pickle{fix}")


def namespace(items, reader):
    """The ``argparse.Namespace`` a stored one's ``[[name, value], ...]`` (values decoded)
    describes."""
    if not all(isinstance(kv, (list, tuple)) and len(kv) == 2 and isinstance(kv[0], str)
               and kv[0].isidentifier() for kv in items):
        raise reader.refuse("it holds an argparse.Namespace whose names are not identifiers")
    return argparse.Namespace(**dict(items))


def _dtype_name(d):
    try:
        return np.dtype(d).name
    except TypeError:
        return None


# ================================================================================ loading

def rebuild(node, decode, reader, state_bytes, allowed=None):
    """The module a tree node describes. ``decode(node)`` turns an argument's node into its
    value (modules given as arguments come back through here); ``state_bytes``: the size of
    every array the file holds, which bounds what the constructors may allocate; ``allowed``:
    where given (a weights-only load), the only classes that may be called, by identity."""
    modname, qualname = node["__module__"]
    cls = _imported_class(modname, qualname, reader)
    if allowed is not None and not any(cls is c for c in allowed):
        raise reader.refuse(f"it names {modname}.{qualname}, which is not the class given to "
                            "mg.serialization.safe_globals")
    _check_sizes(node, qualname, reader, state_bytes)
    state = {k: decode(v) for k, v in node["state"]} if "state" in node else None
    args = [decode(a) for a in node["args"]]          # modules given as arguments
    kwargs = {k: decode(v) for k, v in node["kwargs"]}
    if not all(isinstance(k, str) for k in kwargs):
        raise reader.refuse(f"it gives {qualname} a keyword that is not a string")
    call = _call_text(qualname, args, kwargs)
    try:
        m = cls(*args, **kwargs)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001  (whatever the constructor raises)
        raise reader.refuse(f"rebuilding {call} failed: {type(e).__name__}: {e}") from None
    if state is None:
        return m
    own = m.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise reader.refuse(f"the rebuilt {call} has parameters {missing} that the file "
                            f"lacks and lacks {extra} that it stores")
    for k, t in own.items():
        if tuple(state[k].shape) != tuple(t.shape):
            raise reader.refuse(f"parameter {k!r} is stored with shape "
                                f"{tuple(state[k].shape)}, but the rebuilt {call} has "
                                f"{tuple(t.shape)}")
    floats = {a.dtype for a in state.values() if a.dtype.kind == "f"}
    if len(floats) == 1 and any(t.dtype.kind == "f" and t.dtype not in floats
                                for t in own.values()):
        m.to(dtype=floats.pop())            # e.g. a model saved after .double()
    m.load_state_dict(state)
    m.train(bool(node.get("training", True)))
    return m


def _call_text(qualname, args, kwargs):
    call = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return f"{qualname}({call if len(call) < 80 else call[:76] + ' ...'})"


def _imported_class(modname, qualname, reader):
    """The class a file names, found among modules already imported, by plain dictionary
    look-ups (no import, no attribute hook of a module or class runs)."""
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


# -------------------------------------------------------- the arguments fit the weights

def _check_sizes(node, qualname, reader, state_bytes):
    """Refuse, before any constructor runs, arguments that could size a table (a parameter
    or a buffer) bigger than the file's own arrays account for.

    A layer's tables are sized by its number arguments, at most two of them at a time
    (Linear(D, H): H x D; PositionalEncoding(d_model, max_len=L): L x d_model). So each
    recipe in the node, the outer module's and those of the modules given to it, is charged
    the product of its two largest numbers, at 8 bytes an element (float64, the widest
    float), and the sum must stay within a few times the stored arrays (room for a dtype
    wider than the file's, and for a layer copied, as TransformerEncoder copies its layer).
    """
    budget = 4 * state_bytes + 16 * 2 ** 20
    charges = []
    for name, recipe, numbers in _recipes(node, qualname):
        if numbers:
            numbers = sorted(numbers, key=lambda w: w[1], reverse=True)
            (where, n), other = numbers[0], numbers[1][1] if len(numbers) > 1 else 1
            charges.append((n * other * 8, name, recipe, where, n, other))
    if sum(c[0] for c in charges) > budget:
        nbytes, name, recipe, where, n, other = max(charges, key=lambda c: c[0])
        args = [_shown(a) for a in recipe.get("args", [])]
        kwargs = {k: _shown(v) for k, v in recipe.get("kwargs", []) if isinstance(k, str)}
        what = where if where.startswith("argument") else f"argument {where!r}"
        raise reader.refuse(
            f"rebuilding {_call_text(name, args, kwargs)} was refused before its constructor "
            f"ran: its {what} = {_number(n)}, with {_number(other)}, could size a table of "
            f"{size_text(nbytes)}, more than the state stored in the file accounts for "
            f"({size_text(budget)}); its constructor arguments do not fit its weights")


class _Shown:
    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _shown(a):
    """A stored argument as the call would be written (a module as ``Name(...)``)."""
    if isinstance(a, dict) and "__module__" in a and isinstance(a["__module__"], list):
        return _Shown(f"{a['__module__'][-1]}(...)")
    if isinstance(a, dict):
        return _Shown("[...]")
    return a


def _number(n):
    return str(int(n)) if n == int(n) else repr(n)


def _recipes(node, qualname):
    """(name, node, [(argument, int value), ...]) for the recipe and every recipe inside it."""
    found = [(qualname, node, [])]
    todo = [(f"argument {i + 1}", a, found[0]) for i, a in enumerate(node.get("args", []))]
    todo += [(k, v, found[0]) for k, v in node.get("kwargs", [])
             if isinstance(k, str)]
    while todo:
        where, a, owner = todo.pop()
        if isinstance(a, bool) or a is None:
            continue
        if isinstance(a, (int, float)):           # 1e9 sizes a table as well as 10**9
            if a == a and abs(a) != float("inf"):
                owner[2].append((where, abs(a)))
        elif isinstance(a, dict) and "__module__" in a:
            inner = a["__module__"]
            name = inner[1] if isinstance(inner, list) and len(inner) == 2 else "a module"
            entry = (str(name), a, [])
            found.append(entry)
            todo += [(f"argument {i + 1}", v, entry) for i, v in enumerate(a.get("args", []))]
            todo += [(k, v, entry) for k, v in a.get("kwargs", []) if isinstance(k, str)]
        elif isinstance(a, dict):
            for v in a.get("__list__", []):
                todo.append((where, v, owner))
            for kv in a.get("__dict__", []) + a.get("__namespace__", []):
                todo.append((where, kv[1] if isinstance(kv, list) and len(kv) == 2 else None,
                             owner))
    return found


__all__ = ["encode", "rebuild"]
