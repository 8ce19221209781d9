"""The policy a student's block is held to before it runs, read from its syntax tree.

An allow-list in the spirit of RestrictedPython: a block may import only the modules in
``guard.ALLOWED_MODULES``; it may not name anything that begins with ``_`` (the interpreter's
and the grader's machinery: ``__class__``, ``__globals__``, ``_exit``, the harness's hooks),
the builtins that reach around Python's scoping or end the process (``exec``, ``globals``,
``setattr``, ``open``, ``exit``, ...), a frame's or a generator's insides (``f_back``,
``gi_frame``, ...), or the lesson's checks; and it may not rebind the names the teacher's
lesson binds outside the block, except those the block's own reference solution binds.
What the syntax tree cannot see (a name built from strings, an alias, a module reached as
an attribute) is checked while the block runs, by ``guard``.
"""
import ast

from ..markers import reference_code
from . import guard
from .splice import parse

EXIT_NAMES = {"exit", "quit", "SystemExit", "KeyboardInterrupt", "GeneratorExit"}
EXIT_ATTRIBUTES = {"exit", "_exit", "abort", "kill", "killpg"}
CHECKING = {"common.check", "common.compare", "common.passed", "common.finish", "common.results",
            "common.keep_going", "common.CheckFailed"}
# Names every lesson may lean on; a lesson adds the names it binds outside the blocks.
PROTECTED = frozenset({"common", "mg", "minigrad", "F", "nn", "np", "numpy", "sys", "os", "builtins"})


def dotted(node):
    """'a.b.c' for a Name/Attribute chain; '?' stands for any other base (a call, ...)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.append(node.id if isinstance(node, ast.Name) else "?")
    return ".".join(reversed(parts))


def matches(name_dotted, name):
    """True when ``name`` ('nn.LSTMCell', 'backward') names ``name_dotted`` or a part of it:
    'mg.nn.LSTMCell', 'nn.LSTMCell.forward', 'loss.backward'; a bare 'LSTMCell' too."""
    have, want = name_dotted.split("."), name.split(".")
    if len(have) == 1 and have[0] == want[-1]:
        return True
    return any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))


def module_names(statements):
    """Names a module's statements bind at its top level (not inside functions or classes)."""
    names = set()
    stack = list(statements)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        stack.extend(ast.iter_child_nodes(node))
    return names


def protected_names(teacher_text):
    """The names no block may rebind: ``common``, the library's usual aliases and every name
    the lesson's top-level imports bind (``beam_search``, ``LibrarySeq2Seq``, ...)."""
    names = set(PROTECTED)
    for node in parse(teacher_text).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return frozenset(names)


def block_protection(teacher_text, exercise):
    """(names the block must not bind, names it must not declare ``global``). A block at the
    lesson's top level, and any ``global`` declaration, must also leave alone the functions and
    classes the teacher's lesson defines at its top level, less those the block's reference
    solution defines: what the block is there to write."""
    names = protected_names(teacher_text)
    try:
        own = module_names(parse(reference_code(exercise)).body)
    except SyntaxError:
        own = set()
    defined = {n.name for n in parse(teacher_text).body
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    top = frozenset((defined - own) | names)
    return (names if exercise.indent else top), top


def _underscore(name):
    return name.startswith("_") and name != "_" and name not in guard.DUNDER_DEFINITIONS


def violation(nodes, protected=PROTECTED, globals_protected=None):
    """Why a block (its syntax-tree ``nodes``) is disqualified, as (phrase, line), or None.
    ``protected``: names it must not bind; ``globals_protected``: names it must not declare
    ``global`` (default: ``protected``)."""
    globals_protected = protected if globals_protected is None else globals_protected
    for node in nodes:
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Name):
            if node.id in EXIT_NAMES:
                return f"uses {node.id}: a block must not end the process", line
            if node.id in guard.FORBIDDEN_BUILTINS:
                return (f"uses {node.id}: a block must not reach around Python's scoping, the files "
                        f"or the process"), line
            if _underscore(node.id):
                return f"uses {node.id}: names beginning with _ belong to Python and the grader", line
            if node.id in protected and isinstance(node.ctx, (ast.Store, ast.Del)):
                return f"rebinds {node.id}: a block must not rebind the lesson's modules and names", line
        elif isinstance(node, ast.Attribute):
            name = dotted(node)
            if node.attr in EXIT_ATTRIBUTES:
                return f"uses {name}: a block must not end the process", line
            if name in CHECKING or name.startswith("common."):
                if isinstance(node.ctx, ast.Load):
                    return f"uses {name}: only the teacher's code calls the lesson's checks", line
                return f"assigns to {name}: a block must not patch the lesson's checks or the library", line
            if isinstance(node.ctx, (ast.Store, ast.Del)) and name.split(".")[0] in protected:
                return f"assigns to {name}: a block must not patch the lesson's checks or the library", line
            if node.attr.startswith("_") and node.attr != "_" and not _super_init(node):
                return f"reaches into {name}: names beginning with _ belong to Python and the grader", line
            if node.attr in guard.FRAME_ATTRIBUTES or name.endswith("sys.modules"):
                return f"reaches into {name}: a block must not reach around the lesson's checks", line
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or "."]
            if isinstance(node, ast.ImportFrom) and node.level:
                modules = ["." * node.level + (node.module or "")]
            for module in modules:
                if not guard.module_allowed(module):
                    return (f"imports {module}: a block may import only "
                            f"{', '.join(guard.ALLOWED_MODULES)}"), line
            for alias in node.names:
                if _underscore(alias.name.split(".")[-1]) or (alias.asname and _underscore(alias.asname)):
                    return f"imports {alias.name}: names beginning with _ belong to Python and the grader", line
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            hit = [n for n in node.names if n in globals_protected or _underscore(n)]
            if hit:
                return f"declares {hit[0]} global: a block must not rebind the lesson's names", line
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in protected:
                return f"defines {node.name}: a block must not rebind the lesson's modules and names", line
            if node.name.startswith("_") and node.name not in guard.DUNDER_DEFINITIONS:
                return f"defines {node.name}: names beginning with _ belong to Python and the grader", line
        elif isinstance(node, ast.arg) and _underscore(node.arg):
            return f"takes an argument {node.arg}: names beginning with _ belong to Python and the grader", line
        elif isinstance(node, ast.keyword) and node.arg and _underscore(node.arg):
            return f"passes {node.arg}=: names beginning with _ belong to Python and the grader", line
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str) \
                    and _underscore(node.args[1].value):
                return f"reaches into .{node.args[1].value}: names beginning with _ belong to Python and the grader", line
    return None


def _super_init(node):
    """``super().__init__``: the one dunder attribute a block's own class may reach."""
    return (node.attr == "__init__" and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "super")


def tampering(nodes, protected=PROTECTED, globals_protected=None):
    """The phrase of ``violation``, or None (the form the tests and the README quote)."""
    found = violation(nodes, protected, globals_protected)
    return found[0] if found else None


def off_limits_used(nodes, names):
    """(name, line) of the first OFF LIMITS name a block (its syntax-tree ``nodes``) uses, as
    a call, a reference or a getattr string; None when it uses none."""
    for node in nodes:
        if isinstance(node, (ast.Name, ast.Attribute)):
            name_dotted = dotted(node)
            for name in names:
                if matches(name_dotted, name):
                    return name, node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for name in names:
                if node.value == name.split(".")[-1]:
                    return name, node.lineno
    return None
