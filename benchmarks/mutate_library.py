"""Mutation testing of minigrad's numeric code: do the tests catch a wrong formula?

Each mutant is one small change a tired programmer makes, applied to one line of a library
file: an arithmetic operator swapped (+ -, * /), a sign dropped, a comparison swapped
(< <=, > >=, == !=), a constant changed (0 -> 1, n -> n + 1, x -> 2x, True -> False, which
also moves an ``axis=``), or a slice bound moved by one. For each mutant the runner copies
the package and the tests to a scratch folder, writes the mutant there and runs the test
files that cover that module (``TESTS`` below) with ``-x -q``. A mutant is *caught* when a
test fails (or the run times out); *survived* otherwise. A survivor that no test could ever
tell from the original (an equivalent mutant) is listed in ``EQUIVALENT`` with the reason.

Beside these one-token mutants, ``WRITTEN`` lists mistakes that no one-token change makes,
written by hand against the code: a fused backward that drops one of its normalisations, an
inverse permutation replaced by the permutation itself (the same for a transposition, wrong
for any other), and a version check that looks at the first change of a tensor instead of the
last. Each is applied as an exact text replacement, and always run (never sampled).

Not mutated: error handling (``raise`` statements and the tests guarding them), messages,
docstrings and ``__repr__``; they are not numeric code. The -1 of a ``reshape``/``view`` size
is not turned into -2: NumPy reads any negative size as "infer", so that mutant is always
equivalent (its sign is still dropped: -1 -> 1).

    python benchmarks/mutate_library.py                       # every target, 2 jobs
    python benchmarks/mutate_library.py minigrad/metrics.py --per-function 4 --jobs 2
    python benchmarks/mutate_library.py --list                # the mutants, without running
    python benchmarks/mutate_library.py --written-only --jobs 1   # only the WRITTEN mistakes

The cap per function (``--per-function``, a fixed-seed sample) keeps the whole run well
under an hour on 2 cores. Exit status 1 when a mutant survived that is not justified.
"""
import argparse
import ast
import copy
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The files mutated and the test files that cover each. Update this table when code moves.
# (test_inplace.py checks each op's saves_* flags, which the version check trusts)
OPS_TESTS = ["tests/test_ops.py", "tests/test_tensor.py", "tests/test_inplace.py",
             "tests/test_torch_api.py"]
TESTS = {
    "minigrad/metrics.py": ["tests/test_metrics.py"],
    "minigrad/backend.py": ["tests/test_backend.py", "tests/test_nn.py", "tests/test_recurrent.py"],
    "minigrad/nn/utils.py": ["tests/test_nn.py", "tests/test_training.py"],
    "minigrad/decoding.py": ["tests/test_decoding.py"],
    "minigrad/optim/optimizers.py": ["tests/test_optim.py", "tests/test_nn.py", "tests/test_training.py"],
    "minigrad/functional.py": ["tests/test_functional.py", "tests/test_attention.py",
                               "tests/test_nn.py", "tests/test_torch_api.py"],
    "minigrad/masks.py": ["tests/test_attention.py", "tests/test_functional.py",
                          "tests/test_transformer.py"],
    "minigrad/nn/cells.py": ["tests/test_recurrent.py", "tests/test_torch_api.py"],
    "minigrad/nn/recurrence.py": ["tests/test_recurrent.py", "tests/test_training.py"],
    "minigrad/nn/recurrent.py": ["tests/test_recurrent.py", "tests/test_nn.py",
                                 "tests/test_torch_api.py", "tests/test_io.py"],
    "minigrad/ops/elementwise.py": OPS_TESTS,
    "minigrad/ops/reduce.py": OPS_TESTS,
    "minigrad/ops/shape.py": OPS_TESTS,
    "minigrad/ops/index.py": OPS_TESTS,
    "minigrad/ops/linalg.py": OPS_TESTS,
    "minigrad/ops/broadcast.py": OPS_TESTS,
    "minigrad/ops/softmax.py": ["tests/test_functional.py", "tests/test_attention.py",
                                "tests/test_nn.py", "tests/test_torch_api.py"],
    "minigrad/ops/nn.py": ["tests/test_functional.py", "tests/test_nn.py", "tests/test_torch_api.py"],
    "minigrad/ops/inplace.py": ["tests/test_inplace.py", "tests/test_nn.py", "tests/test_tensor.py",
                                "tests/test_torch_api.py"],
    "minigrad/tensor.py": OPS_TESTS,
    "minigrad/versions.py": OPS_TESTS,
    "minigrad/whole_module.py": ["tests/test_io.py", "tests/test_io_hostile.py"],
}

# Files that are mostly something else (devices, seeds, malloc): only these functions of them
# are numeric code, mutated like the rest. backend.scatter_add is the embedding's backward.
ONLY = {
    "minigrad/backend.py": ("scatter_add", "contiguous_transpose"),
}

# Survivors that are not bugs, keyed "file::function::mutation" (the mutation as the report
# prints it), with the reason no test can tell them from the original.
EQUIVALENT = {
    "minigrad/masks.py::mask_parts::`where(attend, source, 0.0)` -> `where(attend, source, 1.0)`":
        "the value sits where attend is False, and every caller's softmax drops those positions "
        "(weight 0, no gradient to the mask there): a bias of 0 or 1 cannot show",
    "minigrad/decoding.py::sample.pick::`top_k < z.shape[1]` -> `top_k <= z.shape[1]`":
        "top_k == V: the k-th largest score is the smallest, so nothing would be removed anyway",
    "minigrad/decoding.py::sample.pick::`keepdims=True` -> `keepdims=False`":
        "sample decodes one sequence (K = 1 row): z.max(axis=1) of shape (1,) broadcasts "
        "against (1, V) exactly as (1, 1) does",
    "minigrad/decoding.py::beam_search::`width <= 0` -> `width < 0`":
        "a step keeps at most width candidates, so finished + live never exceeds beam_size: "
        "width reaches 0 only when no prefix is live, and `not prefixes` stops the loop at the "
        "same step (no extra step_fn call)",
    "minigrad/decoding.py::beam_search::`max_len + 1` -> `max_len + 2`":
        "every prefix is finished at t == max_len, so the extra step finds no live prefix "
        "and stops",
    "minigrad/metrics.py::brevity_penalty::`c > r` -> `c >= r`":
        "at c == r both branches give 1: exp(1 - r / c) = exp(0)",
    "minigrad/metrics.py::bleu::`1.0 / max_n` -> `1.0 * max_n`":
        "the weights are rescaled to sum to 1 over the orders used (log_p / used): any "
        "uniform default weight gives the same score",
    "minigrad/metrics.py::bleu::`1.0 / max_n` -> `2.0 / max_n`":
        "the same: a uniform default weight of 2 / max_n is rescaled to 1 / max_n",
    "minigrad/metrics.py::perplexity::`-1` -> `1`":
        "the value has exactly one element (checked above), so reshape(1) equals reshape(-1)",
    "minigrad/nn/utils.py::clip_grad_norm_::`coef < 1` -> `coef <= 1`":
        "at coef == 1 the gradients are multiplied by 1: the same values",
    "minigrad/ops/broadcast.py::unbroadcast::`keepdims=True` -> `keepdims=False`":
        "the summed axes all have size 1 in the target shape, so the final reshape puts them "
        "back: the same array whether the sum kept them or not",
    "minigrad/ops/elementwise.py::Clamp.forward::`copy=False` -> `copy=True`":
        "xp.clip has already made a new array; astype copying it once more gives the same "
        "values (only memory differs), and nothing else holds that array",
    "minigrad/ops/index.py::topk::`True` -> `False` [2]":
        "sorted= is torch's argument, accepted and never read: the values come back sorted "
        "either way, as the docstring says",
    "minigrad/ops/index.py::sort::`False` -> `True` [2]":
        "stable= is torch's argument, accepted and never read: the sort is always stable, as "
        "the docstring says",
    "minigrad/ops/index.py::argsort::`False` -> `True` [2]":
        "the same: argsort's stable= is never read, the sort is always stable",
    "minigrad/ops/index.py::one_hot::`-1` -> `-2`":
        "the default only has to be negative: any num_classes < 0 means 'the largest index + 1'",
    "minigrad/ops/softmax.py::MaskedSoftmax.forward::`xp.where(xp.isfinite(m), m, 0)` -> `xp.where(xp.isfinite(m), m, 1)`":
        "the value replaces the max of a row with nothing kept, whose entries are all -inf: "
        "exp(-inf - 0) and exp(-inf - 1) are both 0, so the row gets zero weights either way",
    "minigrad/ops/softmax.py::MaskedSoftmax.forward::`total > 0` -> `total > 1`":
        "a row's total is 0 when nothing is kept and at least 1 otherwise (its max adds exp(0) "
        "= 1); where it is exactly 1, dividing by total or by 1 is the same",
    "minigrad/ops/softmax.py::MaskedSoftmax.forward::`xp.where(total > 0, total, 1)` -> `xp.where(total > 0, total, 2)`":
        "the stand-in divisor of a row with nothing kept, whose e is all 0: 0 / 1 and 0 / 2 "
        "are the same zero weights",
    "minigrad/ops/inplace.py::SetItem.backward::`copy=False` -> `copy=True`":
        "astype copying the value's gradient gives the same values; the engine never writes "
        "into a gradient it was handed (it adds into new arrays and copies a leaf's first one), "
        "so sharing gy's memory cannot show",
    "minigrad/ops/reduce.py::mean::`total * float(\"nan\")` -> `total / float('nan')`":
        "the mean over no elements: total * NaN and total / NaN are the same NaNs, and the "
        "empty input has no gradient entry that could differ",
    "minigrad/ops/reduce.py::Norm2.backward::`xp.where(self.y == 0, 1, self.y)` -> `xp.where(self.y == 0, 2, self.y)`":
        "the divisor put where the norm is 0 only keeps that division finite; the next line "
        "replaces those entries by 0, so 1 or 2 gives the same gradient (and neither warns)",
    "minigrad/ops/reduce.py::_extreme::`1 if op == \"max\" else -1` -> `2 if op == 'max' else -1`":
        "sign is only ever compared with 0 (sign > 0): 2 and 1 take the same branches",
    "minigrad/ops/reduce.py::_extreme::`-1` -> `-2`":
        "the same: -2 and -1 are both below 0",
    "minigrad/ops/reduce.py::_arg::`_axes(axis, data.ndim)[0] if data.ndim else 0` -> `_axes(axis, data.ndim)[0] if data.ndim else 1`":
        "for a 0-d tensor the axis is never read again (the index is 0 and there is no axis "
        "to expand): any value gives the same result",
    "minigrad/optim/optimizers.py::Optimizer.step::`group.get(\"weight_decay\", 0)` -> `group.get('weight_decay', 1)`":
        "every optimizer's defaults hold weight_decay, so a group always has the key and the "
        "fallback is never read",
    "minigrad/tensor.py::Function.__call__::`len(arrays) > 1` -> `len(arrays) >= 1`":
        "with one input the loop compares its array's type with itself: nothing to check",
    "minigrad/tensor.py::Function.__call__::`arrays[0]` -> `arrays[1]`":
        "an input whose type differs from arrays[0]'s and one that differs from arrays[1]'s "
        "exist together: the same calls reach the device check",
    "minigrad/tensor.py::_as_array::`device == \"cpu\"` -> `device != 'cpu'`":
        "only a CuPy array reaches this branch: without a GPU nothing can tell (tests/test_gpu.py "
        "and tests/test_tensor.py's device tests run it where CuPy has a device)",
    "minigrad/tensor.py::Tensor::`1000` -> `1001`":
        "any priority above ndarray's makes ndarray + Tensor defer to Tensor.__radd__",
    "minigrad/tensor.py::Tensor.__init__::`0` -> `1`":
        "output_nr is read only on a tensor with a creator, and whatever sets a creator sets "
        "output_nr with it (the recording rule, the in-place op, the stand-in)",
    "minigrad/tensor.py::Tensor._wrap::`0` -> `1`":
        "the same: a wrapped tensor has no creator until something sets both",
    "minigrad/tensor.py::_check_one_device::`len(devices) > 1` -> `len(devices) >= 1`":
        "called only when the inputs' array types differ, which needs a GPU: the mixed-device "
        "tests of tests/test_tensor.py run it where CuPy has a device",
    "minigrad/tensor.py::_check_one_device::`len(devices) > 1` -> `len(devices) > 2`":
        "the same: reached only with a GPU",
    "minigrad/versions.py::bump::`-16` -> `-17`":
        "how many recent stamps a counter keeps: 16 or 17 answer alike for any call recorded "
        "before the last 16 in-place ops on one tensor, far more than any test or program makes",
    "minigrad/versions.py::_kept_arrays.arrays::`depth - 1` -> `depth + 1`":
        "no op keeps an array more than one object deep (Recurrence's ctx is one level): "
        "searching deeper finds nothing more",
    "minigrad/versions.py::_kept_arrays.arrays::`depth - 1` -> `depth - 2`":
        "the same: a deeper search finds nothing more",
    "minigrad/versions.py::_kept_arrays::`arrays(v, 1)` -> `arrays(v, 2)`":
        "the same: a deeper search finds nothing more",
}

# Mistakes written by hand: (file, function, what it breaks, the exact original text, the
# mistake). The original text must occur exactly once in the file.
WRITTEN_MISTAKES = [
    ("minigrad/ops/softmax.py", "CrossEntropy.backward", "drops the mean's 1/count",
     "w = (gy / self.count) * self.valid[:, None]", "w = gy * self.valid[:, None]"),
    ("minigrad/ops/softmax.py", "CrossEntropy.backward", "drops label smoothing's 1/C",
     "g -= (self.eps / C) * w", "g -= self.eps * w"),
    ("minigrad/ops/reduce.py", "Max.backward", "drops the ties' 1/count",
     "return gy * self.mask / count", "return gy * self.mask"),
    ("minigrad/ops/inplace.py", "_PUT", "the permutation for its inverse",
     "v.permute([int(i) for i in np.argsort(view.axes)])", "v.permute([int(i) for i in view.axes])"),
    ("minigrad/versions.py", "checked_inputs", "the first change for the last",
     "if vc is not None and vc.stamps and vc.stamps[-1] > epoch:",
     "if vc is not None and vc.stamps and vc.stamps[0] > epoch:"),
    ("minigrad/versions.py", "_VersionCounter.version_at", "a change at the epoch counted",
     "later = sum(1 for s in self.stamps if s > epoch)",
     "later = sum(1 for s in self.stamps if s >= epoch)"),
]


SWAP_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
            ast.FloorDiv: ast.Mult, ast.Pow: ast.Mult}
SWAP_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
            ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


class Mutant:
    def __init__(self, path, func, line, node_id, kind, before, after):
        self.path, self.func, self.line, self.node_id = path, func, line, node_id
        self.kind, self.before, self.after = kind, before, after

    occurrence = 1      # the n-th mutant of its function with the same text (``-1`` twice)

    @property
    def key(self):
        nth = f" [{self.occurrence}]" if self.occurrence > 1 else ""
        return f"{self.path}::{self.func}::`{self.before}` -> `{self.after}`{nth}"


def _const_mutation(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return 1.0 if value == 0 else value * 2
    return None


def _infer_sizes(tree):
    """The 1s of the ``-1`` sizes given to ``reshape``/``view`` (as arguments or in a tuple)."""
    ones = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (
                getattr(node.func, "attr", None) in ("reshape", "view")
                or getattr(node.func, "id", None) == "reshape"):
            for arg in node.args:
                for a in arg.elts if isinstance(arg, (ast.Tuple, ast.List)) else [arg]:
                    if (isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub)
                            and isinstance(a.operand, ast.Constant) and a.operand.value == 1):
                        ones.add(id(a.operand))
    return ones


def _skipped_nodes(tree):
    """Nodes whose subtrees are not numeric code: raises, the ifs guarding them, messages,
    docstrings, __repr__, asserts."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Raise, ast.Assert, ast.JoinedStr)):
            skip.add(id(node))
        elif isinstance(node, ast.If) and node.body and all(isinstance(s, ast.Raise) for s in node.body):
            skip.add(id(node))
        elif isinstance(node, ast.FunctionDef) and node.name in ("__repr__", "extra_repr", "__str__"):
            skip.add(id(node))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node))         # docstrings
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                "isinstance", "print", "hasattr", "getattr", "warn"):
            skip.add(id(node))
    return skip


def find_mutants(path):
    """Every mutant of one file, in source order."""
    source = (ROOT / path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    infer = _infer_sizes(tree)
    mutants = []

    def seg(node):
        return ast.get_source_segment(source, node) or ast.unparse(node)

    def visit(node, func, skipping, parent=None):
        skipping = skipping or id(node) in skip
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name if func in (None, "<module>") else f"{func}.{node.name}"
        elif isinstance(node, ast.ClassDef):
            func = node.name
        if not skipping and func not in (None, "<module>"):
            nid = len(all_nodes)
            all_nodes.append(node)
            if isinstance(node, ast.BinOp) and type(node.op) in SWAP_BIN:
                new = ast.BinOp(node.left, SWAP_BIN[type(node.op)](), node.right)
                mutants.append(Mutant(path, func, node.lineno, nid, "binop", seg(node), ast.unparse(new)))
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
                mutants.append(Mutant(path, func, node.lineno, nid, "sign", seg(node), ast.unparse(node.operand)))
            elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in SWAP_CMP:
                new = ast.Compare(node.left, [SWAP_CMP[type(node.ops[0])]()], node.comparators)
                mutants.append(Mutant(path, func, node.lineno, nid, "compare", seg(node), ast.unparse(new)))
            elif (isinstance(node, ast.Constant) and _const_mutation(node.value) is not None
                  and id(node) not in infer):
                # shown with the expression around it, so that two equal constants on one line
                # (``range(1, n + 1)``) give two different mutations
                around = parent if isinstance(parent, (ast.expr, ast.keyword)) else node
                changed = copy.deepcopy(around)
                for sub in ast.walk(changed):
                    if (isinstance(sub, ast.Constant) and sub.value == node.value
                            and (sub.lineno, sub.col_offset) == (node.lineno, node.col_offset)):
                        sub.value = _const_mutation(node.value)
                mutants.append(Mutant(path, func, node.lineno, nid, "constant", seg(around), ast.unparse(changed)))
            elif isinstance(node, ast.Slice):
                for side in ("lower", "upper"):
                    bound = getattr(node, side)
                    if bound is not None and not isinstance(bound, ast.Constant):
                        new = ast.BinOp(bound, ast.Add(), ast.Constant(1))
                        mutants.append(Mutant(path, func, node.lineno, nid, f"slice-{side}",
                                              seg(bound), ast.unparse(new)))
        for child in ast.iter_child_nodes(node):
            visit(child, func, skipping, node)

    all_nodes = []
    visit(tree, "<module>", False)
    seen = {}
    for m in mutants:       # so that one EQUIVALENT entry never covers two different mutants
        m.occurrence = seen[m.func, m.before, m.after] = seen.get((m.func, m.before, m.after), 0) + 1
    return mutants


def written_mutants(files):
    """The WRITTEN_MISTAKES in ``files``, as mutants (kind 'written')."""
    found = []
    for path, func, what, before, after in WRITTEN_MISTAKES:
        if path not in files:
            continue
        source = (ROOT / path).read_text(encoding="utf-8")
        if source.count(before) != 1:
            raise SystemExit(f"WRITTEN_MISTAKES: {path} holds {source.count(before)} copies of "
                             f"{before!r} (one expected): update the list")
        line = source[:source.index(before)].count("\n") + 1
        m = Mutant(path, func, line, -1, "written", before, after)
        m.what = what
        found.append(m)
    return found


def mutated_source(mutant, source=None):
    """The file's text (``source``, or the file as it is now) with the one mutation applied
    (re-printed by ast.unparse; a written mistake is replaced as text)."""
    if source is None:
        source = (ROOT / mutant.path).read_text(encoding="utf-8")
    if mutant.kind == "written":
        return source.replace(mutant.before, mutant.after, 1)
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    nodes = []

    def visit(node, func, skipping):
        skipping = skipping or id(node) in skip
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name if func in (None, "<module>") else f"{func}.{node.name}"
        elif isinstance(node, ast.ClassDef):
            func = node.name
        if not skipping and func not in (None, "<module>"):
            nodes.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child, func, skipping)

    visit(tree, "<module>", False)
    node = nodes[mutant.node_id]
    if mutant.kind == "binop":
        node.op = SWAP_BIN[type(node.op)]()
    elif mutant.kind == "sign":
        node.op = ast.UAdd()
    elif mutant.kind == "compare":
        node.ops = [SWAP_CMP[type(node.ops[0])]()]
    elif mutant.kind == "constant":
        node.value = _const_mutation(node.value)
    else:
        side = mutant.kind.split("-")[1]
        setattr(node, side, ast.BinOp(getattr(node, side), ast.Add(), ast.Constant(1)))
    return ast.unparse(ast.fix_missing_locations(tree))


def sample(mutants, per_function, seed=0):
    """At most ``per_function`` mutants of each function (a fixed-seed sample), in order."""
    by_func = {}
    for m in mutants:
        by_func.setdefault((m.path, m.func), []).append(m)
    rng = random.Random(seed)
    kept = []
    for group in by_func.values():
        kept.extend(group if len(group) <= per_function else rng.sample(group, per_function))
    return sorted(kept, key=lambda m: (m.path, m.line, m.node_id, m.kind))


def _scratch_copy():
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="minigrad-mutant-"))
    shutil.copytree(ROOT / "minigrad", scratch / "minigrad",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", scratch / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, scratch / name)
    return scratch


def _pytest(test_files, scratch, timeout):
    """The pytest run of ``test_files`` in ``scratch`` (CompletedProcess)."""
    env = dict(os.environ, CI="true", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", *test_files],
                          cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)


def run_mutant(mutant, scratch, timeout):
    """'caught', 'timeout' or 'survived' (and the seconds taken)."""
    target = scratch / mutant.path
    original = target.read_text(encoding="utf-8")
    # the scratch copy's text, the one the mutants were found in: edits made to the working
    # tree while a run goes on do not shift them
    target.write_text(mutated_source(mutant, original), encoding="utf-8")
    start = time.time()
    try:
        proc = _pytest(TESTS[mutant.path], scratch, timeout)
        verdict = "survived" if proc.returncode == 0 else "caught"
    except subprocess.TimeoutExpired:
        verdict = "timeout"
    finally:
        target.write_text(original, encoding="utf-8")
    return verdict, time.time() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", help="files to mutate (default: all of TESTS)")
    parser.add_argument("--per-function", type=int, default=4,
                        help="at most this many mutants per function (a fixed-seed sample)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--match", default="",
                        help="run only the mutants whose key (file::function::`a` -> `b`) or "
                             "'line N' contains this text")
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--written-only", action="store_true",
                        help="run only the hand-written mistakes (WRITTEN_MISTAKES)")
    args = parser.parse_args(argv)
    files = args.files or list(TESTS)
    for f in files:
        if f not in TESTS:
            parser.error(f"{f} has no entry in TESTS (the test files that cover it)")
    found = [m for f in files for m in find_mutants(f)
             if f not in ONLY or m.func.split(".")[0] in ONLY[f]]
    keys = {m.key for m in found}
    for key in EQUIVALENT:
        if key.split("::")[0] in files and key not in keys:
            print(f"stale EQUIVALENT entry (no such mutant now): {key}")
    mutants = [] if args.written_only else sample(found, args.per_function, args.seed)
    mutants += written_mutants(files)
    if args.match:
        mutants = [m for m in mutants if args.match in f"{m.key} line {m.line}"]
    if args.list:
        for m in mutants:
            print(f"line {m.line:<4d} {m.key}")
        print(f"{len(mutants)} mutants")
        return 0

    scratches = [_scratch_copy() for _ in range(args.jobs)]
    # A test that fails without any mutant would count every mutant as caught.
    for group in sorted({tuple(TESTS[f]) for f in files}):
        proc = _pytest(group, scratches[0], args.timeout)
        if proc.returncode != 0:
            print(f"the unmutated code fails {' '.join(group)} in the scratch copy:\n"
                  f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
            for s in scratches:
                shutil.rmtree(s, ignore_errors=True)
            return 2
    free = list(scratches)
    results = []
    start = time.time()

    def work(m):
        scratch = free.pop()
        try:
            verdict, secs = run_mutant(m, scratch, args.timeout)
        finally:
            free.append(scratch)
        status = verdict if verdict != "survived" or m.key not in EQUIVALENT else "justified"
        print(f"{status:9s} {secs:5.1f}s line {m.line:<4d} {m.key}", flush=True)
        return m, status

    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(work, mutants))
    finally:
        for s in scratches:
            shutil.rmtree(s, ignore_errors=True)

    print(f"\n{'file':32s} {'mutants':>7s} {'caught':>7s} {'justified':>9s} {'survived':>8s}")
    survivors = []
    for f in files:
        rows = [s for m, s in results if m.path == f]
        caught = sum(s in ("caught", "timeout") for s in rows)
        just = rows.count("justified")
        surv = rows.count("survived")
        print(f"{f:32s} {len(rows):7d} {caught:7d} {just:9d} {surv:8d}")
        survivors += [m for m, s in results if m.path == f and s == "survived"]
    total = len(results)
    ok = sum(s != "survived" for _, s in results)
    print(f"{'all':32s} {total:7d}   caught or justified {ok}/{total}  ({time.time() - start:.0f} s)")
    for m in survivors:
        print(f"SURVIVED line {m.line:<4d} {m.key}")
    for m, s in results:
        if s == "justified":
            print(f"justified {m.key}: {EQUIVALENT[m.key]}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
