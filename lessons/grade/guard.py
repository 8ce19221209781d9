"""The runtime half of the policy: a student's block, checked while it runs.

The harness rewrites the block's lines of the spliced lesson (``transform``) so that each
attribute the block reads goes through ``Guard.attr``, each attribute it assigns through
``Guard.target``, each call through ``Guard.call``, and ``getattr``/``hasattr`` through guarded
versions. So a name built from strings (``getattr(loss, 'back' + 'ward')``), an alias
(``b = loss.backward``) or a module reached as an attribute (``mg.tensor.os``,
``np.ctypeslib``) meets the same rules as a literal one. A breach is reported at once and the
process ends on the spot (``os._exit``): a ``try`` in the block cannot swallow it.

Standard library only: this module runs inside the sandbox, beside the harness.
"""
import ast
import builtins
import string
import types

# Modules a block may import or reach (and their submodules, less REFUSED_MODULES).
ALLOWED_MODULES = ("numpy", "minigrad", "math", "cmath", "collections", "itertools", "functools",
                   "heapq", "bisect", "copy", "time", "re", "string", "random", "dataclasses",
                   "typing", "statistics", "fractions", "decimal")
REFUSED_MODULES = ("numpy.ctypeslib", "numpy.distutils", "numpy.f2py", "numpy.testing",
                   "minigrad_lessons")
# Builtins that reach around Python's scoping, open files, read input or end the process.
FORBIDDEN_BUILTINS = frozenset({"exec", "eval", "compile", "open", "globals", "locals", "vars",
                                "setattr", "delattr", "__import__", "breakpoint", "input", "exit",
                                "quit", "help", "memoryview", "copyright", "credits", "license"})
# A frame's, a generator's, a coroutine's, a traceback's and a code object's insides.
FRAME_ATTRIBUTES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace",
                              "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await",
                              "ag_frame", "ag_code", "tb_frame", "tb_next", "co_code", "co_consts",
                              "ctypes", "ctypeslib"})
# Library functions that run what a file holds (a pickle) or reach raw memory.
FORBIDDEN_FUNCTIONS = ("numpy.load", "numpy.lib.format.read_array", "numpy.lib.stride_tricks.as_strided",
                       "numpy.frombuffer", "numpy.lib.npyio.load")
# Methods a block's own classes may define, although they begin with _.
DUNDER_DEFINITIONS = frozenset({"__init__", "__call__", "__repr__", "__str__", "__len__",
                                "__getitem__", "__iter__", "__next__", "__eq__", "__lt__", "__hash__",
                                "__contains__", "__bool__"})
_DANGEROUS_TYPES = (types.FrameType, types.CodeType, types.TracebackType, types.CellType)
_FORBIDDEN_IDS = frozenset(id(getattr(builtins, n)) for n in FORBIDDEN_BUILTINS if hasattr(builtins, n))


def module_allowed(name):
    """True for a module a block may import or reach: 'numpy.linalg', 'math'; not 'os',
    'numpy.ctypeslib', '.common' (a relative import)."""
    if name.startswith(".") or any(part.startswith("_") for part in name.split(".")[1:]):
        return False
    if any(name == r or name.startswith(r + ".") for r in REFUSED_MODULES):
        return False
    return any(name == a or name.startswith(a + ".") for a in ALLOWED_MODULES)


class Breach(Exception):
    """Raised by a guard only where no reporter is installed (the tests call guards bare)."""


class Guard:
    """The checks a block's rewritten code calls. ``report(kind, line, what)`` is the
    harness's: it records the breach and ends the process; ``blocks`` maps each block's
    (first, last) lines to its OFF LIMITS names."""

    def __init__(self, report, blocks=()):
        self.report = report
        self.blocks = [(first, last, tuple(names)) for first, last, names in blocks]
        self.off = {}           # block index -> (ids of off-limits objects, off-limits module names)
        self.forbidden = set(_FORBIDDEN_IDS)

    def refuse_functions(self, modules):
        """Add FORBIDDEN_FUNCTIONS, found in the loaded ``modules`` ({name: module})."""
        for qualified in FORBIDDEN_FUNCTIONS:
            module_name, _, name = qualified.rpartition(".")
            function = getattr(modules.get(module_name), name, None)
            if function is not None:
                self.forbidden.add(id(function))

    # -------------------------------------------------------------- off limits
    def resolve(self, namespace, modules):
        """Find the objects each block's OFF LIMITS names stand for, in the lesson's globals
        ``namespace`` and the loaded minigrad modules ``modules`` ({name: module}). A bare
        name ('backward') stands for every function or class of that name in minigrad."""
        for index, (_, _, names) in enumerate(self.blocks):
            ids, mods = set(), []
            for name in names:
                for found in self._lookup(name, namespace, modules):
                    if isinstance(found, types.ModuleType):
                        # a library module (mg.optim) is off limits however it is reached; an
                        # array module (np in lesson 21) only by its name, which the policy
                        # reads: the same module comes back from get_array_module on the CPU
                        if found.__name__.split(".")[0] != "minigrad":
                            continue
                        mods.append(found.__name__)
                    ids.add(id(found))
            self.off[index] = (frozenset(ids), tuple(mods), names)

    @staticmethod
    def _lookup(name, namespace, modules):
        parts = name.split(".")
        found = []
        roots = [namespace.get(parts[0])]
        if parts[0] in ("mg", "minigrad"):
            roots.append(modules.get("minigrad"))
        for root in roots:
            value = root
            for part in parts[1:]:
                value = getattr(value, part, None) if value is not None else None
            if value is not None:
                found.append(value)
        if len(parts) == 1 or not found:
            for module_name, module in sorted(modules.items()):
                if not (module_name == "minigrad" or module_name.startswith("minigrad.")):
                    continue
                if len(parts) > 1 and parts[0] not in ("mg", "minigrad") and module_name.rsplit(".", 1)[-1] != parts[0]:
                    continue
                last = parts[-1]
                value = vars(module).get(last)
                if value is not None and not isinstance(value, (int, float, str)):
                    found.append(value)
                if len(parts) == 1:
                    for member in list(vars(module).values()):
                        if isinstance(member, type) and last in vars(member):
                            found.append(vars(member)[last])
        return found

    def _block(self, line):
        for index, (first, last, _) in enumerate(self.blocks):
            if first <= line <= last:
                return index
        return None

    def _off_limits(self, value, line):
        index = self._block(line)
        if index is None or index not in self.off:
            return
        ids, mods, names = self.off[index]
        hit = id(value) in ids
        if not hit and isinstance(value, types.MethodType):
            hit = id(value.__func__) in ids
        if not hit and isinstance(value, types.ModuleType) and mods:
            hit = any(value.__name__ == m or value.__name__.startswith(m + ".") for m in mods)
        if hit:
            self._breach("offlimits", line, f"reaches {', '.join(names)} (off limits here) through "
                                            f"{getattr(value, '__qualname__', getattr(value, '__name__', type(value).__name__))}")

    def _breach(self, kind, line, what):
        self.report(kind, line, what)
        raise Breach(f"{kind} at line {line}: {what}")

    # -------------------------------------------------------------- the guards
    def _module(self, module, line):
        if not module_allowed(module.__name__):
            self._breach("policy", line, f"reaches the module {module.__name__}, which a block may not use")

    def _value(self, value, line, how):
        if isinstance(value, types.ModuleType):
            self._module(value, line)
        elif isinstance(value, _DANGEROUS_TYPES):
            self._breach("policy", line, f"{how} reaches a {type(value).__name__}: the interpreter's insides")
        elif id(value) in self.forbidden:
            self._breach("policy", line, f"{how} reaches {getattr(value, '__name__', '?')}(), which a block may not use")
        self._off_limits(value, line)
        return value

    def attr(self, obj, name, line):
        """``obj.name`` read by the block at ``line``."""
        if not isinstance(name, str):
            raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
        if (name.startswith("_") and name != "_") or name in FRAME_ATTRIBUTES:
            self._breach("policy", line, f"reaches .{name}: names beginning with _ and a frame's "
                                         "insides belong to Python and the grader")
        if isinstance(obj, types.ModuleType):
            self._module(obj, line)
            self._off_limits(obj, line)
        return self._value(getattr(obj, name), line, f".{name}")

    def getattr(self, line):
        """The ``getattr`` a block sees: every name it is given goes through ``attr``."""
        def guarded_getattr(obj, name, *default):
            if default:
                try:
                    return self.attr(obj, name, line)
                except AttributeError:
                    return default[0]
            return self.attr(obj, name, line)
        return guarded_getattr

    def hasattr(self, line):
        def guarded_hasattr(obj, name):
            try:
                self.attr(obj, name, line)
            except AttributeError:
                return False
            return True
        return guarded_hasattr

    def target(self, obj, name, line):
        """The object of ``obj.name = ...`` (or ``del obj.name``) at ``line``: an instance of
        the block's or the lesson's classes, never a module, a class or a function."""
        if name.startswith("_") and name not in DUNDER_DEFINITIONS:
            self._breach("policy", line, f"assigns .{name}: names beginning with _ belong to Python and the grader")
        if isinstance(obj, (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
                            types.MethodType)):
            self._breach("policy", line, f"assigns .{name} of {getattr(obj, '__name__', obj)!s}: a block "
                                         "must not patch modules, classes or functions")
        return obj

    def call(self, line, function, /, *args, **kwargs):
        """``function(*args, **kwargs)`` called by the block at ``line``."""
        if function is builtins.getattr:
            function = self.getattr(line)
        elif function is builtins.hasattr:
            function = self.hasattr(line)
        elif id(function) in self.forbidden or kwargs.get("allow_pickle"):
            self._breach("policy", line, f"calls {getattr(function, '__name__', '?')}(), which a block may not use")
        elif isinstance(function, types.BuiltinMethodType) and isinstance(getattr(function, "__self__", None), str) \
                and function.__name__ in ("format", "format_map"):
            self._format(function.__self__, line)
        self._value(function, line, "the call")
        if self.off:
            for value in args:
                self._off_limits(value, line)
            for value in kwargs.values():
                self._off_limits(value, line)
        return function(*args, **kwargs)

    def _format(self, text, line):
        """``'{0.__class__}'.format(x)`` reads attributes too: only plain fields."""
        for _, field, _, _ in string.Formatter().parse(text):
            if field and any(part.startswith("_") or part in FRAME_ATTRIBUTES
                             for part in field.replace("[", ".").split(".")[1:]):
                self._breach("policy", line, f"formats {{{field}}}: names beginning with _ belong to "
                                             "Python and the grader")

    def names(self):
        """The hooks the rewritten code calls, as the lesson's globals hold them."""
        return {"_g_attr": self.attr, "_g_target": self.target, "_g_call": self.call,
                "_g_getattr": self.getattr, "_g_hasattr": self.hasattr}


class _Rewrite(ast.NodeTransformer):
    """Routes a block's attribute reads, attribute targets, calls and getattr/hasattr through
    the guards; nodes outside the blocks' lines are left as the teacher wrote them."""

    def __init__(self, ranges):
        self.ranges = ranges

    def _inside(self, node):
        line = getattr(node, "lineno", 0)
        return any(first <= line <= last for first, last in self.ranges)

    @staticmethod
    def _hook(name, node, *args, keywords=()):
        call = ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=list(keywords))
        return ast.copy_location(call, node)

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if not self._inside(node):
            return node
        line = ast.Constant(node.lineno)
        if isinstance(node.ctx, ast.Load):
            if (node.attr == "__init__" and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Name) and node.value.func.id == "super"):
                return node                     # super().__init__: the policy let this one through
            return self._hook("_g_attr", node, node.value, ast.Constant(node.attr), line)
        node.value = self._hook("_g_target", node, node.value, ast.Constant(node.attr), line)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if not self._inside(node) or (isinstance(node.func, ast.Name) and node.func.id == "super"):
            return node                         # super() needs its own frame's __class__ cell
        return self._hook("_g_call", node, ast.Constant(node.lineno), node.func, *node.args,
                          keywords=node.keywords)

    def visit_Name(self, node):
        if self._inside(node) and isinstance(node.ctx, ast.Load) and node.id in ("getattr", "hasattr"):
            hook = self._hook(f"_g_{node.id}", node, ast.Constant(node.lineno))
            return hook
        return node


def transform(tree, ranges):
    """``tree`` (a spliced lesson's module) with the lines of ``ranges`` [(first, last), ...]
    rewritten to call the guards; line numbers stay those of the source."""
    tree = _Rewrite(ranges).visit(tree)
    return ast.fix_missing_locations(tree)
