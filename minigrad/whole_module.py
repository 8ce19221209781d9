"""Whole modules in a checkpoint: ``mg.save(model, f)`` and ``mg.load(f, weights_only=False)``.

A module is stored as what it holds, the way torch's pickle stores it, but as JSON and named
arrays, never pickled: its class's qualified name, its parameters and buffers (every one,
non-persistent buffers included), its sub-modules, its ``training`` flag, and its other
attributes. Loading makes the object without calling any constructor (``object.__new__``)
and puts those back. So:

- no code a file names ever runs: the class must be an ``nn.Module`` subclass already
  imported, found by plain dictionary look-ups, and only its instance dictionary is filled;
- a file cannot make loading allocate anything but its own arrays, which ``mg.load`` has
  already read within ``max_bytes``: a number in a file (``max_len=10**9``) stays a number;
- a tensor held twice is stored once and comes back once, so tied weights stay tied, and a
  module held twice comes back as one module.

An attribute may be a number, string, None, dtype, array or tensor, a module, a function of
``minigrad.functional`` (a Transformer layer's activation), a recurrent cell
(``minigrad.nn.cells``: plain numbers and strings, no weights), or a list, tuple, str-keyed
dict or ``argparse.Namespace`` (a program's parsed arguments kept as the model's config) of
these. Anything else is refused by ``mg.save``, which says to save the ``state_dict`` instead.

``minigrad.io`` calls ``Saver`` when it meets a module, and ``Loader`` only when the caller
passed ``weights_only=False`` (or listed the classes with ``mg.serialization.safe_globals``).
"""
import argparse
import inspect
import sys
import types
from collections import OrderedDict

import numpy as np

from . import functional
from .checkpoint_format import DTYPE_NAMES, CheckpointError
from .nn.cells import Cell
from .nn.module import Module, Parameter
from .tensor import Tensor

# What a Module's own __init__ sets; a file gives them in fields of their own.
_MODULE_FIELDS = ("_parameters", "_modules", "_buffers", "training")


# ================================================================================ saving

class Saver:
    """Turns modules into tree nodes. ``array(value, path)`` stores an array and gives its
    node. One Saver serves one file, so what it meets twice it stores once."""

    def __init__(self, array):
        self.array = array
        self.tensors = {}       # id(tensor) -> its node: a tied weight is stored once
        self.modules = {}       # id(module) -> its number in the file
        self.keep = []          # what the ids belong to, alive until the file is written

    def module(self, m, path, prefix=""):
        """Module ``m``'s node; ``path``: where mg.save met the outermost module, ``prefix``:
        the dotted name of ``m`` in it ("" for that module itself, "encoder." for a child), so
        that arrays go under their state_dict names ("model/encoder.weight")."""
        if id(m) in self.modules:
            return {"__same_module__": self.modules[id(m)]}
        self.modules[id(m)] = len(self.modules)
        self.keep.append(m)
        cls = type(m)
        if "<locals>" in cls.__qualname__:
            raise _unstorable(m, path + [prefix[:-1]] if prefix else path,
                              "its class is defined inside a function, so no file can name it")

        def node(k, v):
            return self.value(v, path, prefix + k, m)
        return {"__module__": [cls.__module__, cls.__qualname__],
                "training": bool(m.training),
                "parameters": [[k, node(k, p)] for k, p in m._parameters.items()],
                "buffers": [[k, node(k, getattr(m, k)), persistent]
                            for k, persistent in m._buffers.items()],
                "modules": [[k, node(k, c)] for k, c in m._modules.items()],
                "attributes": [[k, node(k, v)] for k, v in vars(m).items()
                               if k not in _MODULE_FIELDS and k not in m._parameters
                               and k not in m._modules and k not in m._buffers]}

    def value(self, v, path, name, owner):
        """The node of ``v``, held by module ``owner`` under the dotted ``name``."""
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, Tensor):
            return self.tensor(v, path + [name])
        if isinstance(v, Module):
            return self.module(v, path, name + ".")
        if isinstance(v, (list, tuple)):
            return {"__list__": [self.value(a, path, f"{name}.{i}", owner)
                                 for i, a in enumerate(v)],
                    "tuple": isinstance(v, tuple)}
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"__dict__": [[k, self.value(a, path, f"{name}.{k}", owner)]
                                 for k, a in v.items()]}
        if type(v) is argparse.Namespace:           # a program's parsed args as its config
            return {"__namespace__": [[k, self.value(a, path, f"{name}.{k}", owner)]
                                      for k, a in vars(v).items()]}
        if isinstance(v, (np.dtype, type)) and _dtype_name(v) in DTYPE_NAMES:
            return {"__dtype__": _dtype_name(v)}
        if hasattr(v, "shape") and hasattr(v, "dtype"):            # a NumPy or CuPy array
            return self.array(v, path + [name])
        if isinstance(v, types.FunctionType) and _FUNCTIONS.get(v.__name__) is v:
            return {"__function__": v.__name__}
        if isinstance(v, Cell) and "<locals>" not in type(v).__qualname__:
            self.keep.append(v)
            return {"__cell__": [type(v).__module__, type(v).__qualname__],
                    "attributes": [[k, self.value(a, path, f"{name}.{k}", owner)]
                                   for k, a in vars(v).items()]}
        kind = f"the function {v.__name__}" if callable(v) and hasattr(v, "__name__") \
            else f"a {type(v).__name__}"
        raise _unstorable(owner, path + [name], f"it holds {kind}, which a checkpoint cannot "
                                                "hold without pickle")

    def tensor(self, t, path):
        if id(t) not in self.tensors:
            self.keep.append(t)
            self.tensors[id(t)] = {"__tensor__": self.array(t.array, path),
                                   "parameter": isinstance(t, Parameter),
                                   "requires_grad": bool(t.requires_grad)}
        return self.tensors[id(t)]


def _unstorable(m, path, why):
    at = f" (at {'/'.join(path)})" if path else ""
    return TypeError(f"mg.save: cannot store the {type(m).__name__} as a whole module: {why}"
                     f"{at}; save its state_dict() instead (mg.save(model.state_dict(), f)) and "
                     "rebuild the model in code before load_state_dict")


def _dtype_name(d):
    try:
        return np.dtype(d).name
    except TypeError:
        return None


# The functions an attribute may hold, by name: minigrad.functional's own (pure maths).
_FUNCTIONS = {name: getattr(functional, name) for name in functional.__all__}


# ================================================================================ loading

class Loader:
    """Rebuilds the modules of one file from their nodes, calling no constructor.

    ``arrays``: the file's arrays by name, already read within max_bytes; ``reader``: for
    ``reader.refuse(why)``, the error naming the file; ``allowed``: where given (a
    weights-only load), the only module classes that may be made, by identity."""

    def __init__(self, arrays, reader, allowed=None):
        self.arrays, self.reader, self.allowed = arrays, reader, allowed
        self.tensors = {}       # array name -> its tensor: a tied weight comes back once
        self.modules = []       # in the order the file numbers them
        self.building = []      # the modules whose contents are being read: a path from the root

    def module(self, node):
        if "__same_module__" in node:
            k = node["__same_module__"]
            if not (type(k) is int and 0 <= k < len(self.modules)):
                raise self.reader.refuse(f"it refers to module {k!r} before it is stored")
            if any(self.modules[k] is m for m in self.building):
                # a module inside itself: every walk over its children would never end
                raise self.reader.refuse(f"it puts module {k!r} inside itself")
            return self.modules[k]
        modname, qualname = node["__module__"]
        if "args" in node:
            raise self.reader.refuse(
                f"it stores {qualname} as constructor arguments (checkpoint format 2), and "
                "mg.load no longer calls constructors: build the model in code and load its "
                "weights, which numpy.load(f) reads under their state_dict names")
        cls = self._class(modname, qualname, Module, "an nn.Module")
        if self.allowed is not None and not any(cls is c for c in self.allowed):
            raise CheckpointError(
                f"mg.load: {self.reader.name} holds a whole nn.Module ({modname}.{qualname}); "
                "pass weights_only=False to rebuild it (only an already-imported nn.Module "
                "subclass is ever made, and no constructor runs), list its classes with "
                "mg.serialization.safe_globals, or save model.state_dict() instead")
        m = object.__new__(cls)                   # no constructor, no __new__ of the class
        self.modules.append(m)                    # before its children: they may share it
        self.building.append(m)
        params, buffers, children = OrderedDict(), OrderedDict(), OrderedDict()
        state = {"_parameters": params, "_modules": children, "_buffers": buffers,
                 "training": node["training"]}
        if type(state["training"]) is not bool:
            raise self.reader.refuse(f"it gives {qualname} a training flag "
                                     f"{state['training']!r}")
        for name, v in node["parameters"]:
            params[name] = self._put(state, cls, name, v, (Parameter, type(None)), "a parameter")
        for name, v, persistent in node["buffers"]:
            self._put(state, cls, name, v, (Tensor, type(None)), "a buffer")
            buffers[name] = bool(persistent)
        for name, v in node["modules"]:
            children[name] = self._put(state, cls, name, v, (Module, type(None)), "a sub-module")
        for name, v in node["attributes"]:
            self._put(state, cls, name, v, object, "an attribute")
        vars(m).update(state)
        self.building.pop()
        return m

    def _put(self, state, cls, name, node, kinds, what):
        """Decode ``node`` into ``state[name]``, refusing a name that could hide the class's
        own (a method, a property) or the Module's fields, and a value of the wrong kind."""
        if not isinstance(name, str) or not name or "." in name or name.startswith("__") \
                or name in state:
            raise self.reader.refuse(f"it gives {cls.__qualname__} {what} named {name!r}")
        own = inspect.getattr_static(cls, name, None)
        if callable(own) or isinstance(own, (property, staticmethod, classmethod)):
            raise self.reader.refuse(f"it gives {cls.__qualname__} {what} {name!r}, which "
                                     f"would hide the class's own {name}")
        value = self.value(node)
        if not isinstance(value, kinds):
            raise self.reader.refuse(f"it gives {cls.__qualname__} {what} {name!r} that is "
                                     f"a {type(value).__name__}")
        state[name] = value
        return value

    def value(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict):
            raise self.reader.refuse(f"its header has a bare {type(node).__name__}")
        if "__tensor__" in node:
            return self.tensor(node)
        if "__module__" in node or "__same_module__" in node:
            return self.module(node)
        if "__list__" in node:
            items = [self.value(v) for v in node["__list__"]]
            return tuple(items) if node.get("tuple") else items
        if "__dict__" in node:
            return {k: self.value(v) for k, v in node["__dict__"]}
        if "__namespace__" in node:
            config = argparse.Namespace()
            for k, v in node["__namespace__"]:
                if not (isinstance(k, str) and k.isidentifier() and not k.startswith("__")):
                    raise self.reader.refuse(f"it holds an argparse.Namespace with a name {k!r}")
                vars(config)[k] = self.value(v)     # not setattr: no name reaches a hook
            return config
        if "__array__" in node:
            return self.arrays[node["__array__"]]
        if "__dtype__" in node:
            if node["__dtype__"] not in DTYPE_NAMES:
                raise self.reader.refuse(f"it names a dtype {node['__dtype__']!r}")
            return np.dtype(node["__dtype__"])
        if "__function__" in node:
            if node["__function__"] not in _FUNCTIONS:
                raise self.reader.refuse(f"it names a function {node['__function__']!r}, "
                                         "which is not one of minigrad.functional's")
            return _FUNCTIONS[node["__function__"]]
        if "__cell__" in node:
            cls = self._class(*node["__cell__"], Cell, "a recurrent cell (nn.cells.Cell)")
            cell, state = object.__new__(cls), {}
            for name, v in node["attributes"]:
                self._put(state, cls, name, v, (type(None), bool, int, float, str, tuple),
                          "an attribute")
            vars(cell).update(state)
            return cell
        raise self.reader.refuse(f"its header has an entry with keys {sorted(node)[:4]}")

    def tensor(self, node):
        name = node["__tensor__"]["__array__"]
        if name not in self.tensors:
            kind = Parameter if node.get("parameter") else Tensor
            self.tensors[name] = kind(self.arrays[name],
                                      requires_grad=bool(node.get("requires_grad")))
        return self.tensors[name]

    def _class(self, modname, qualname, base, what):
        """The class a file names, found among modules already imported, by plain
        dictionary look-ups (no import, no attribute hook of a module or class runs)."""
        if not isinstance(modname, str) or not isinstance(qualname, str):
            raise self.reader.refuse(f"it names a class {modname!r}.{qualname!r}")
        full = f"{modname}.{qualname}"
        obj = sys.modules.get(modname)
        if not isinstance(obj, types.ModuleType):
            raise self.reader.refuse(
                f"it holds {full}, but module {modname!r} is not imported; mg.load never "
                "imports what a file names: import the module that defines the model first, "
                "if you trust the file")
        for part in qualname.split("."):
            space = (object.__getattribute__(obj, "__dict__")
                     if isinstance(obj, types.ModuleType)
                     else type.__dict__["__dict__"].__get__(obj) if isinstance(obj, type)
                     else {})
            obj = space.get(part)
            if obj is None:
                raise self.reader.refuse(f"it holds {full}, which is not defined in the "
                                         f"imported module {modname!r}")
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise self.reader.refuse(f"it names {full}, which is not {what} subclass; "
                                     "mg.load makes nothing else")
        return obj


__all__ = ["Saver", "Loader"]
