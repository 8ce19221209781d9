"""The torch API that real sequence-model programs use, measured with a parser, and whether
minigrad has each name.

    python benchmarks/torch_census.py --src DIR [--out docs/torch_census.md]

DIR holds local copies of the programs listed in PROGRAMS, at DIR/<owner>+<name>/<path> (the
programs' sources are never committed: get them from the repositories at the commits given).
Every program is parsed with ``ast``; the script lists

- every ``import torch.X`` / ``from torch.X import Y`` (the module must import as minigrad.X);
- every dotted name reached from a torch alias (``torch.zeros``, ``nn.LSTM``, ``F.relu``,
  ``torch.nn.utils.clip_grad_norm_``, ``torch.optim.lr_scheduler.StepLR``) and the keyword
  arguments it is called with;
- every method called on a value that is not a module (``x.view(...)``, ``p.data.add_(...)``,
  ``model.parameters()``, ``optimizer.step(closure)``) and every attribute read from one
  (``p.grad``, ``z.grad_fn``), with their keywords. Such a name is counted as a method of
  torch.Tensor, nn.Module, optim.Optimizer or an LR scheduler when that torch class has it
  (torch is imported for this when it is installed; without it the minigrad classes decide),
  and once for each class that has it;

then checks each against minigrad (``import minigrad as torch``): the module imports, the
attribute exists, ``inspect.signature`` accepts the keyword. A name that minigrad leaves out on
purpose raises an error naming the minigrad way when it is reached: the table says
"deliberate difference" and quotes it. The table (``docs/torch_census.md``) maps each name to
the programs that use it and to has / deliberate difference / missing.
"""
import argparse
import ast
import importlib
import inspect
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

TUTORIALS, EXAMPLES = "pytorch/tutorials", "pytorch/examples"
EXAMPLES_COMMIT = "77f55b912142e11fcfdf5b530231fb9c52f181e8"
# (repository, commit, path): the official sequence-model programs. The tutorials' commits are
# those of the stored versions read (pytorch/tutorials is read file by file, not cloned).
PROGRAMS = [
    (TUTORIALS, "10098032865151e891c6074522207880f0e68fd3",
     "intermediate_source/char_rnn_classification_tutorial.py"),
    (TUTORIALS, "4ce8b871ef249dfacc1b389108842a0c2c0805b7",
     "intermediate_source/char_rnn_generation_tutorial.py"),
    (TUTORIALS, "803c1b1273a47bc53bb6cd5f63eecfb897bbc856",
     "intermediate_source/seq2seq_translation_tutorial.py"),
    (TUTORIALS, "e5f60c64367b2ff3c19e5b73a2c7eac4bf1269f1",
     "beginner_source/transformer_tutorial.py"),
    (TUTORIALS, "cb7cc08cd2e436ace74fa66ae823382abd39fc6d",
     "beginner_source/nlp/pytorch_tutorial.py"),
    (TUTORIALS, "016d0cc077f60c82b8497d4c7f92051ce40cafee",
     "beginner_source/nlp/deep_learning_tutorial.py"),
    (TUTORIALS, "537d2173d209f790135701fa4dcdea2f73e718b7",
     "beginner_source/nlp/word_embeddings_tutorial.py"),
    (TUTORIALS, "f77e1c2c11be5d612ed9adbc73a8b82904162c23",
     "beginner_source/nlp/sequence_models_tutorial.py"),
] + [(EXAMPLES, EXAMPLES_COMMIT, p) for p in [
    "word_language_model/main.py", "word_language_model/model.py",
    "word_language_model/data.py", "word_language_model/generate.py",
    "time_sequence_prediction/train.py", "time_sequence_prediction/generate_sine_wave.py",
    "legacy/snli/model.py", "legacy/snli/train.py", "legacy/snli/util.py",
    "mnist_rnn/main.py",
    "language_translation/main.py", "language_translation/src/model.py",
    "language_translation/src/data.py",
]]


def _number_first(args):
    """A call whose first argument is written as a number (``-lr``, ``0.5``, ``value``) before
    a tensor: torch's deprecated ``add_(scalar, tensor)`` order. A bare name counts when a
    second positional argument follows, as ``add_(-learning_rate, p.grad.data)``."""
    if len(args) < 2:
        return False
    a = args[0]
    if isinstance(a, ast.UnaryOp) and isinstance(a.op, (ast.USub, ast.UAdd)):
        a = a.operand
    return isinstance(a, (ast.Constant, ast.Name)) and not isinstance(args[1], ast.Constant)


def _value_in_middle(args):
    """``addcmul_(t1, value, t2)``: torch's deprecated order, the number in the middle."""
    return len(args) == 3 and isinstance(args[1], (ast.Constant, ast.Name, ast.UnaryOp))


# Deprecated call forms torch still accepts: how to spot one in a program, and a check that
# minigrad gives torch's result for it (on x = ones(2, 2)).
OVERLOADS = {
    "add_": (_number_first, lambda mg, x: x.clone().add_(-2.0, x), -1.0),
    "add": (_number_first, lambda mg, x: x.add(-2.0, x), -1.0),
    "sub_": (_number_first, lambda mg, x: x.clone().sub_(2.0, x), -1.0),
    "addcmul_": (_value_in_middle, lambda mg, x: x.clone().addcmul_(x, 3.0, x), 4.0),
    "addcdiv_": (_value_in_middle, lambda mg, x: x.clone().addcdiv_(x, 3.0, x), 4.0),
}


def check_overload(name):
    _, call, expected = OVERLOADS[name]
    import numpy as np
    import minigrad as mg
    try:
        out = call(mg, mg.tensor(np.ones((2, 2))))
        ok = np.allclose(out.array, expected)
    except Exception as e:              # noqa: BLE001 (any failure means: not accepted)
        return "missing", f"{type(e).__name__}: {e}"
    return ("has", "") if ok else ("missing", f"gives {out.array.ravel()[0]}, torch {expected}")


# torch's module names and where minigrad keeps each (everything else: torch.X -> minigrad.X).
MODULE_MAP = {"torch": "minigrad", "torch.nn.functional": "minigrad.functional"}
CLASSES = ("Tensor", "Module", "Optimizer", "LRScheduler")
# Names torch.Tensor has that these programs call on Python objects instead (checked by
# reading each use): a row for them says so rather than asking minigrad for the name.
AMBIGUOUS = {"index": "the programs call list.index (all_categories.index(category))",
             "name": "the programs read Lang.name, their own attribute"}


def local_path(src, repo, path):
    return os.path.join(src, repo.replace("/", "+"), path)


def dotted(node):
    """'a.b.c' for an Attribute/Name chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class Census(ast.NodeVisitor):
    """What one program uses. ``aliases`` maps a local name to the torch path it stands for."""

    def __init__(self):
        self.aliases = {}
        self.imports = set()            # torch module paths imported
        self.others = set()             # non-torch top-level packages imported
        self.names = defaultdict(set)   # torch dotted name -> keywords
        self.methods = defaultdict(set)  # method name -> keywords (calls on non-modules)
        self.attributes = set()         # attribute reads on non-modules
        self.modules = set()            # local names bound to non-torch modules (math, np)
        self.overloads = set()          # deprecated call forms seen (see OVERLOADS)

    def visit_Import(self, node):
        for a in node.names:
            root = a.name.split(".")[0]
            if root != "torch":
                self.others.add(root)
                self.modules.add(a.asname or root)
                continue
            self.imports.add(a.name)
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                self.aliases["torch"] = "torch"

    def visit_ImportFrom(self, node):
        mod = node.module or ""
        if mod.split(".")[0] != "torch":
            if node.level == 0 and mod:
                self.others.add(mod.split(".")[0])
            self.modules.update(a.asname or a.name for a in node.names)   # may be modules
            return
        self.imports.add(mod)
        for a in node.names:
            self.aliases[a.asname or a.name] = f"{mod}.{a.name}"
            self.names[f"{mod}.{a.name}"]

    def _resolve(self, node):
        name = dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head not in self.aliases:
            return None
        return self.aliases[head] + ("." + rest if rest else "")

    def visit_Call(self, node):
        keywords = {k.arg for k in node.keywords if k.arg}
        full = self._resolve(node.func)
        if full is not None:
            self.names[full] |= keywords
            for a in node.args:
                self.visit(a)
            for k in node.keywords:
                self.visit(k.value)
            return
        if isinstance(node.func, ast.Attribute):
            base = node.func.value
            if not (isinstance(base, ast.Name) and base.id in self.modules):
                self.methods[node.func.attr] |= keywords
                form = OVERLOADS.get(node.func.attr)
                if form and form[0](node.args):
                    self.overloads.add(node.func.attr)
            self.visit(node.func.value)
        else:
            self.visit(node.func)
        for a in node.args:
            self.visit(a)
        for k in node.keywords:
            self.visit(k.value)

    def visit_Attribute(self, node):
        full = self._resolve(node)
        if full is not None:
            self.names[full]
            return
        if not (isinstance(node.value, ast.Name) and node.value.id in self.modules):
            self.attributes.add(node.attr)
        self.visit(node.value)

    def visit_Name(self, node):
        if node.id in self.aliases and self.aliases[node.id] != "torch":
            self.names[self.aliases[node.id]]


def torch_classes():
    """Attribute names of torch's Tensor, nn.Module, Optimizer and LR scheduler (None without
    torch)."""
    try:
        import torch
    except ImportError:
        return None
    sched = getattr(torch.optim.lr_scheduler, "LRScheduler", None) or \
        torch.optim.lr_scheduler._LRScheduler
    return {"Tensor": set(dir(torch.Tensor)), "Module": set(dir(torch.nn.Module)),
            "Optimizer": set(dir(torch.optim.Optimizer)), "LRScheduler": set(dir(sched))}


def minigrad_classes():
    import minigrad
    from minigrad import nn, optim
    return {"Tensor": minigrad.Tensor, "Module": nn.Module, "Optimizer": optim.Optimizer,
            "LRScheduler": getattr(optim, "lr_scheduler", None) and
            getattr(optim.lr_scheduler, "LRScheduler", None)}


def minigrad_module(path):
    """The minigrad module for torch module ``path``, or raises ImportError."""
    for prefix in sorted(MODULE_MAP, key=len, reverse=True):
        if path == prefix or path.startswith(prefix + "."):
            return importlib.import_module(MODULE_MAP[prefix] + path[len(prefix):])
    return importlib.import_module("minigrad" + path[len("torch"):])


def deliberate(err):
    """An error minigrad raises on purpose names the minigrad way; Python's own does not."""
    text = str(err)
    generic = ("has no attribute", "No module named", "object has no attribute")
    return not any(g in text for g in generic) or "minigrad has no" in text


def left_out(obj):
    """The message of a stub minigrad keeps on purpose (it raises that message when used)."""
    try:
        return getattr(obj, "__minigrad_left_out__", None)
    except Exception:                   # noqa: BLE001
        return None


def check_keywords(obj, keywords):
    """Keywords the callable's signature refuses."""
    if not keywords:
        return []
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target, follow_wrapped=False)
    except (TypeError, ValueError):
        return []
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        inner = getattr(target, "__wrapped__", None)     # accepts_dim: dim/keepdim, then fn's
        if inner is None:
            return []
        names = set(inspect.signature(inner).parameters) | {"dim", "keepdim"}
        if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(inner).parameters.values()):
            return []
        return sorted(k for k in keywords if k not in names)
    names = {p.name for p in params}
    return sorted(k for k in keywords if k not in names)


def check_name(full, keywords):
    """('has' | 'deliberate difference' | 'missing', note) for torch dotted name ``full``."""
    parts = full.split(".")
    obj, err = None, None
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        try:
            obj = minigrad_module(prefix)
        except ImportError as e:
            err = e
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except Exception as e:          # noqa: BLE001 (a deliberate error may be of any type)
            return ("deliberate difference", str(e)) if deliberate(e) else ("missing", str(e))
        break
    else:
        return ("deliberate difference", str(err)) if deliberate(err) else ("missing", str(err))
    return judge(obj, keywords)


def judge(obj, keywords):
    """What minigrad's ``obj`` is for a census row: left out on purpose, missing a keyword the
    programs pass, or there."""
    if left_out(obj):
        return "deliberate difference", left_out(obj)
    bad = check_keywords(obj, keywords) if callable(obj) else []
    if bad:
        return "missing", f"keyword(s) {', '.join(bad)} not accepted"
    return "has", ""


def check_member(cls, name, keywords):
    if cls is None:
        return "missing", "no such class in minigrad"
    try:
        obj = getattr(cls, name)
    except Exception as e:              # noqa: BLE001
        return ("deliberate difference", str(e)) if deliberate(e) else ("missing", str(e))
    return judge(obj, keywords)


def run(src):
    """rows: (kind, name, keywords, status, note, [program labels]); others: package -> labels."""
    torch_dirs = torch_classes()
    mg = minigrad_classes()
    if torch_dirs is None:              # the heuristic: what minigrad's classes have
        torch_dirs = {k: set(dir(v)) if v else set() for k, v in mg.items()}
    found = defaultdict(lambda: defaultdict(set))      # (kind, name) -> keyword -> programs
    others = defaultdict(set)
    skipped, read = [], []
    for repo, commit, path in PROGRAMS:
        file = local_path(src, repo, path)
        if not os.path.exists(file):
            skipped.append((repo, path))
            continue
        label = f"{repo}@{commit[:7]}:{path}"
        read.append(label)
        c = Census()
        c.visit(ast.parse(open(file, encoding="utf-8").read(), filename=file))
        for m in c.imports:
            found[("import", m)][None].add(label)
        for n, kws in c.names.items():
            found[("name", n)][None].add(label)
            for k in kws:
                found[("name", n)][k].add(label)
        for cls in CLASSES:
            attrs = torch_dirs[cls] - set(dir(object))
            for n, kws in c.methods.items():
                if n in attrs:
                    found[(cls, n)][None].add(label)
                    for k in kws:
                        found[(cls, n)][k].add(label)
            for n in c.attributes:
                if n in attrs and n not in c.methods:
                    found[(cls, n)][None].add(label)
        for n in c.overloads:
            found[("overload", n)][None].add(label)
        for o in c.others:
            others[o].add(label)
    rows = []
    for (kind, name), by_kw in sorted(found.items()):
        keywords = {k for k in by_kw if k}
        if kind == "import":
            try:
                minigrad_module(name)
                status, note = "has", ""
            except ImportError as e:
                status, note = ("deliberate difference", str(e)) if deliberate(e) else \
                    ("missing", str(e))
        elif kind == "name":
            status, note = check_name(name, keywords)
        elif kind == "overload":
            status, note = check_overload(name)
        elif name in AMBIGUOUS and not hasattr(mg[kind], name):
            status, note = "not counted", AMBIGUOUS[name]
        else:
            status, note = check_member(mg[kind], name, keywords)
        rows.append((kind, name, sorted(keywords), status, note, sorted(by_kw[None])))
    return rows, others, skipped, read


def write_table(rows, others, skipped, out, read=()):
    kinds = {"import": "import", "name": "name", "Tensor": "Tensor method/attribute",
             "Module": "nn.Module method/attribute", "Optimizer": "Optimizer method",
             "LRScheduler": "LR scheduler method",
             "overload": "deprecated call form (Tensor)"}
    programs = sorted({p for r in rows for p in r[5]} | set(read))
    number = {p: i + 1 for i, p in enumerate(programs)}
    counts = defaultdict(int)
    for r in rows:
        counts[r[3]] += 1
    lines = ["# The torch API the official sequence-model programs use",
             "",
             "Generated by `python benchmarks/torch_census.py --src DIR` (a parser, not by "
             "hand): every `import torch.X`, every torch / `nn` / `F` name, every method and "
             "attribute the programs reach on tensors, modules and optimizers, and the keywords "
             "they pass, checked against minigrad under `import minigrad as torch`. The "
             "programs' sources are not in this repository: fetch them at the commits below.",
             "",
             f"Rows: {len(rows)}; " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())),
             "",
             "## Programs", ""]
    for p in programs:
        lines.append(f"{number[p]}. `{p}`")
    if skipped:
        lines += ["", "Not found locally (not counted): " +
                  ", ".join(f"`{r}:{p}`" for r, p in skipped)]
    lines += ["", "## Names", "",
              "| kind | name | keywords | minigrad | programs | note |",
              "|---|---|---|---|---|---|"]
    for kind, name, kws, status, note, progs in rows:
        note = note.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {kinds[kind]} | `{name}` | {', '.join(kws)} | {status} | "
                     f"{', '.join(str(number[p]) for p in progs)} | {note} |")
    lines += ["", "## Packages outside torch", "",
              "Imported by the programs, not part of the import swap (a program that needs "
              "one runs only where it is installed):", ""]
    for o, progs in sorted(others.items()):
        lines.append(f"- `{o}`: {', '.join(str(number[p]) for p in sorted(progs) if p in number)}")
    text = "\n".join(lines) + "\n"
    if out:
        marker = "\n## Trains like torch"
        if os.path.exists(out):             # keep the training results census_train.py wrote
            old = open(out, encoding="utf-8").read()
            if marker in old:
                text += old[old.index(marker):]
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True, help="folder with <owner>+<name>/<path> copies")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs",
                                                      "torch_census.md"))
    parser.add_argument("--missing", action="store_true", help="print the missing rows only")
    args = parser.parse_args(argv)
    rows, others, skipped, read = run(args.src)
    write_table(rows, others, skipped, args.out, read)
    for kind, name, kws, status, note, progs in rows:
        if status != "has" and (status == "missing" or not args.missing):
            print(f"{status:22s} {kind:11s} {name} {kws} {note[:100]}")
    print(f"{len(rows)} rows, {sum(r[3] == 'missing' for r in rows)} missing")


if __name__ == "__main__":
    main()
