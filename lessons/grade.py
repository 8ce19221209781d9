"""Grade a class: ``python -m minigrad_lessons.grade SUBMISSIONS --out DIR``.

``SUBMISSIONS/<student>/`` holds a student's filled-in copies (``python -m minigrad_lessons.exercises``),
as ``NN_name.py`` or as a notebook ``NN_name.ipynb``. For every student, lesson and exercise
this writes one row of ``DIR/gradebook.csv``

    student,lesson,exercise,points,max_points,status

with ``status`` one of ``passed``, ``failed``, ``error``, ``timeout``, ``not_attempted``,
``missing`` or ``disqualified``; ``DIR/feedback/<student>.md`` says why, exercise by exercise,
and a table of points (students x lessons) is printed. ``DIR/totals.csv``, ``DIR/summary.md``
and ``DIR/report.html`` show the class at a glance (``minigrad_lessons.report``).

    python -m minigrad_lessons.grade SUBMISSIONS --out DIR [--lessons 03,06] [--timeout S] [--jobs N] [--full]
                                     [--lms canvas|moodle]

How a lesson is graded:
- Only the student's blocks count: the code between their ``# BEGIN EXERCISE k`` /
  ``# END EXERCISE k`` markers is spliced into the teacher's lesson (``lessons/NN_name.py``),
  so every check and every other line comes from the teacher. Edits elsewhere are ignored
  (and listed in the feedback).
- Exercise k passes when every check that names it (``common.check(..., exercise=k)``) held,
  and at least one ran. Points are all or nothing.
- Exercises are graded independently: the reference solution stands in for any exercise that
  fails, so one mistake costs that exercise only. One run when everything passes; a run more
  for each exercise whose verdict another failing block may have changed.
- A pass is reported by the checks, through a recorder the harness (a file this module writes
  into the run's folder) installs in ``common`` before the lesson starts; it writes each
  result with a secret the parent sends on stdin. The exit status means nothing.
- A block that ends the process (``sys.exit``, ``os._exit``, ``exit()``, ``raise SystemExit``)
  or rebinds or patches ``common.check`` and friends or the library is ``disqualified``: its
  syntax tree is inspected before the run, and during the run the harness checks that
  ``common``'s and minigrad's functions are still the originals each time a block starts
  and a check reports. The student's code runs in the same process as the checks: this
  detects the tampering listed, it is not a sandbox.
- A block that calls what its exercise declares ``OFF LIMITS`` (``nn.LSTMCell`` in "the
  gates by hand") fails, found in its syntax tree.
- Each run is a subprocess in a fresh temporary folder that holds the spliced lesson, a
  ``minigrad_lessons`` package with only ``common.py`` and the helper modules (never the
  installed one, which holds the solutions), a link to the minigrad package, nothing else, with a
  time limit (``--timeout``, default 60 s in quick mode, 600 s with ``--full``).

For other autograders: ``grade_file(lesson, path) -> {k: (points, max_points, status, message)}``.
"""
import argparse
import ast
import concurrent.futures
import csv
import dataclasses
import difflib
import json
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

from minigrad_lessons import exercises as _exercises
from minigrad_lessons import report as _report

HERE = pathlib.Path(__file__).resolve().parent
STATUSES = ("passed", "failed", "error", "timeout", "not_attempted", "missing", "disqualified")
COLUMNS = ("student", "lesson", "exercise", "points", "max_points", "status")
QUICK_TIMEOUT, FULL_TIMEOUT = 60.0, 600.0

# Names a block may not touch, whatever it does with them: they end the process or reach
# around the checks.
EXIT_NAMES = {"exit", "quit", "SystemExit", "KeyboardInterrupt", "GeneratorExit"}
EXIT_ATTRIBUTES = {"exit", "_exit", "abort", "kill", "killpg"}
FORBIDDEN_CALLS = {"setattr", "delattr", "globals", "vars", "exec", "eval", "compile", "__import__",
                   "breakpoint"}
FORBIDDEN_MODULES = {"builtins", "importlib", "unittest", "ctypes", "gc", "inspect", "faulthandler",
                     "signal", "atexit", "subprocess", "threading", "multiprocessing"}
FORBIDDEN_ATTRIBUTES = {"__dict__", "__code__", "__globals__", "__closure__", "__builtins__",
                        "__setattr__", "__delattr__", "__class__", "__func__", "__defaults__",
                        "__kwdefaults__", "f_globals", "f_locals", "f_back", "_recorder", "results"}
CHECKING = {"common.check", "common.passed", "common.finish", "common.results", "common.keep_going",
            "common.CheckFailed"}
# Names every lesson may lean on; a lesson adds the names its own imports bind.
PROTECTED = frozenset({"common", "mg", "minigrad", "F", "nn", "np", "numpy", "sys", "os", "builtins"})


@dataclasses.dataclass
class Verdict:
    status: str
    message: str = ""
    certain: bool = True        # False: another failing block may have caused it


# ----------------------------------------------------------------------------- reading

def read_submission(path):
    """A submission's text: a .py file as it is, a notebook as its code cells."""
    path = pathlib.Path(path)
    if path.suffix == ".ipynb":
        import nbformat
        nb = nbformat.read(str(path), as_version=4)
        return "\n".join(cell.source.rstrip("\n") + "\n" for cell in nb.cells if cell.cell_type == "code")
    return path.read_text(encoding="utf-8")


def find_submission(folder, lesson_path):
    """The student's file for a lesson: NN_name.py, else NN_name.ipynb, else any NN_*.py/ipynb."""
    folder = pathlib.Path(folder)
    for candidate in (folder / lesson_path.name, folder / (lesson_path.stem + ".ipynb")):
        if candidate.exists():
            return candidate
    others = sorted(folder.glob(lesson_path.name[:3] + "*.py")) + sorted(folder.glob(lesson_path.name[:3] + "*.ipynb"))
    return others[0] if others else None


def _submission_blocks(text, name):
    """{k: (code, line of its BEGIN marker)} of a filled-in copy."""
    blocks = _exercises.parse_submission(text, name)
    starts = {int(m["k"]): i + 1 for i, line in enumerate(text.splitlines())
              if (m := _exercises.STUDENT_BEGIN.match(line))}
    return {k: (code, starts[k]) for k, code in blocks.items()}


def _outside_edits(teacher_text, submission_text, name, limit=8):
    """Code lines the student changed outside the exercise blocks (ignored by the grader).
    Comments are left out, so a check commented out shows as removed."""
    copy, _ = _exercises.student_copy(teacher_text, name)

    def outside(text):
        keep, inside = [], False
        for line in text.splitlines():
            if _exercises.STUDENT_BEGIN.match(line):
                inside = True
            elif _exercises.STUDENT_END.match(line):
                inside = False
            elif not inside and line.strip() and not line.lstrip().startswith("#"):
                keep.append(line.rstrip())      # code only: a notebook has no markdown comments
        return keep

    a, b = outside(copy), outside(submission_text)
    if a == b:
        return []
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            edits += [f"changed or removed: `{line.strip()}`" for line in a[i1:i2]]
        if tag in ("replace", "insert"):
            edits += [f"added: `{line.strip()}`" for line in b[j1:j2]]
    more = len(edits) - limit
    return edits[:limit] + ([f"... and {more} more"] if more > 0 else [])


# ----------------------------------------------------------------------------- static checks

# CPython 3.11 can corrupt its parser's state when two threads build syntax trees at once
# ("AST constructor recursion depth mismatch"); --jobs grades in threads, so one at a time.
_AST_LOCK = threading.Lock()


def _parse(source, name="<lesson>", check=False):
    """ast.parse, one thread at a time; ``check`` also compiles (a SyntaxError the parser
    lets through, such as 'return' outside a function)."""
    with _AST_LOCK:
        tree = ast.parse(source, name)
        if check:
            compile(tree, name, "exec")
        return tree


def _dotted(node):
    """'a.b.c' for a Name/Attribute chain; '?' stands for any other base (a call, ...)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.append(node.id if isinstance(node, ast.Name) else "?")
    return ".".join(reversed(parts))


def _matches(dotted, name):
    """True when ``name`` ('nn.LSTMCell', 'backward') names ``dotted`` or a part of it:
    'mg.nn.LSTMCell', 'nn.LSTMCell.forward', 'loss.backward'; a bare 'LSTMCell' too."""
    have, want = dotted.split("."), name.split(".")
    if len(have) == 1 and have[0] == want[-1]:
        return True
    return any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))


def protected_names(teacher_text):
    """The names a block must not rebind: ``common``, the library's usual aliases and every
    name the lesson's top-level imports bind (``beam_search``, ``LibrarySeq2Seq``, ...)."""
    names = set(PROTECTED)
    for node in _parse(teacher_text).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return frozenset(names)


def block_nodes(tree, first, last):
    """The syntax-tree nodes of a spliced lesson that start on lines first..last (a block)."""
    return [n for n in ast.walk(tree) if first <= getattr(n, "lineno", 0) <= last]


def tampering(nodes, protected=PROTECTED):
    """Why a block (its syntax-tree ``nodes``) is disqualified, as a phrase, or None: it ends
    the process, or rebinds or patches the checking machinery or the library."""
    for node in nodes:
        if isinstance(node, ast.Name) and node.id in EXIT_NAMES:
            return f"uses {node.id}: a block must not end the process"
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if node.attr in EXIT_ATTRIBUTES:
                return f"uses {dotted}: a block must not end the process"
            if dotted in CHECKING and isinstance(node.ctx, ast.Load):
                return f"uses {dotted}: only the teacher's code calls the lesson's checks"
            if node.attr in FORBIDDEN_ATTRIBUTES or dotted.endswith("sys.modules"):
                return f"reaches into {dotted}: a block must not reach around the lesson's checks"
        if isinstance(node, ast.Name) and node.id in ("__builtins__", "_grade_enter"):
            return f"uses {node.id}: a block must not reach around the lesson's checks"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            return f"calls {node.func.id}(): a block must not rebind names it does not own"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in FORBIDDEN_MODULES:
                    return f"imports {module}: a block must not reach around the lesson's checks"
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            hit = [n for n in node.names if n in protected]
            if hit:
                return f"declares {hit[0]} global: a block must not rebind the lesson's modules"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in protected:
            return f"defines {node.name}: a block must not rebind the lesson's modules"
        if isinstance(node, ast.Name) and node.id in protected and isinstance(node.ctx, (ast.Store, ast.Del)):
            return f"rebinds {node.id}: a block must not rebind the lesson's modules and library names"
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if _dotted(node).split(".")[0] in protected:
                return f"assigns to {_dotted(node)}: a block must not patch the lesson's checks or the library"
    return None


def off_limits_used(nodes, names):
    """The first OFF LIMITS name a block (its syntax-tree ``nodes``) uses, as a call, a
    reference or a getattr string; None when it uses none."""
    for node in nodes:
        if isinstance(node, (ast.Name, ast.Attribute)):
            dotted = _dotted(node)
            for name in names:
                if _matches(dotted, name):
                    return name
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for name in names:
                if node.value == name.split(".")[-1]:
                    return name
    return None


def _placeholder_left(code, name, k):
    return re.search(rf'raise NotImplementedError\(\s*["\']{re.escape(name)}, exercise {k}:', code) is not None


def _only_comments(code):
    return all(not line.strip() or line.strip().startswith("#") for line in code.splitlines())


# ----------------------------------------------------------------------------- splicing

def splice(teacher_text, exercises, student_code):
    """The teacher's lesson with ``student_code[k]`` in place of block k (the reference for
    the others). Each BEGIN marker becomes a probe that tells the harness the block started.
    Returns (source, {k: (first, last) line of block k's code in source})."""
    lines = teacher_text.splitlines(keepends=True)
    out, ranges, last = [], {}, 0
    for ex in exercises:
        out += lines[last:ex.begin]
        out.append(f"{ex.indent}_grade_enter({ex.number})  # BEGIN EXERCISE {ex.number}\n")
        code = student_code.get(ex.number)
        body = ex.solution if code is None else textwrap.indent(textwrap.dedent(code), ex.indent)
        body = body.splitlines(keepends=True)
        if body and not body[-1].endswith("\n"):
            body[-1] += "\n"
        ranges[ex.number] = (len(out) + 1, len(out) + len(body))
        out += body
        out.append(f"{ex.indent}# END EXERCISE {ex.number}\n")
        last = ex.end + 1
    out += lines[last:]
    return "".join(out), ranges


def check_statements(tree, exercises):
    """k -> the indexes of the top-level statements of ``tree`` that hold exercise k's checks."""
    where = {ex.number: set() for ex in exercises}
    for index, statement in enumerate(tree.body):
        for node in ast.walk(statement):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "check"):
                continue
            for kw in node.keywords:
                if kw.arg != "exercise":
                    continue
                if isinstance(kw.value, ast.Constant) and kw.value.value in where:
                    where[kw.value.value].add(index)
                elif isinstance(kw.value, ast.Subscript) and isinstance(kw.value.value, ast.Dict):
                    for v in kw.value.value.values:
                        if isinstance(v, ast.Constant) and v.value in where:
                            where[v.value].add(index)
    return where


# ----------------------------------------------------------------------------- one run

HARNESS = r'''
"""Runs one spliced lesson for lessons/grade.py and reports, with a secret, what happened."""
import builtins, collections, faulthandler, json, os, sys, types
_secret = sys.stdin.readline().strip()
_lesson, _results, _dump, _limit, _quick = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5] == "1"
sys.argv = [_lesson] + (["--quick"] if _quick else [])
sys.stdin = open(os.devnull)
_out = open(_results, "w", encoding="utf-8")
_dump_file = open(_dump, "w", encoding="utf-8")
faulthandler.dump_traceback_later(_limit, exit=True, file=_dump_file)


def _make():
    secret, out, write, dumps = _secret, _out, _out.write, json.dumps
    tail = collections.deque(maxlen=6)
    real_stdout = sys.stdout

    class Tee:
        def write(self, s):
            for line in s.splitlines():
                if line.strip():
                    tail.append(line[:300])
            return real_stdout.write(s)

        def flush(self):
            real_stdout.flush()

        def __getattr__(self, name):
            return getattr(real_stdout, name)

    def emit(kind, **data):
        write(secret + "\t" + dumps(dict(data, kind=kind)) + "\n")
        out.flush()

    from minigrad_lessons import common
    originals, entered = {}, set()

    def snapshot():
        mods = [common, sys.modules["numpy"]] + [
            m for n, m in list(sys.modules.items())
            if isinstance(m, types.ModuleType) and (n == "minigrad" or n.startswith("minigrad."))]
        for mod in mods:
            for name, value in list(vars(mod).items()):
                if name.startswith("__"):
                    continue
                if callable(value):
                    originals[(mod.__name__, name)] = (mod, name, value)
                if isinstance(value, type) and str(getattr(value, "__module__", "")).startswith(("minigrad", "common")):
                    for attr, member in list(vars(value).items()):
                        if not attr.startswith("__") or attr in ("__call__", "__init__", "__getattr__"):
                            originals[(value.__module__ + "." + value.__qualname__, attr)] = (value, attr, member)

    def intact():
        for (owner_name, name), (owner, attr, value) in originals.items():
            now = (vars(owner).get(attr, None) if isinstance(owner, type) else getattr(owner, attr, None))
            if now is not value:
                return f"{owner_name}.{name} was replaced"
        if common._recorder is not record or sys.stdout is not tee:
            return "the harness's recorder or output was replaced"
        return None

    def record(exercise, passed, message):
        problem = intact()
        if problem:
            emit("tampered", what=problem)
            os._exit(3)
        emit("check", exercise=exercise, passed=bool(passed), message=str(message)[:2000],
             printed=list(tail))

    def enter(k):
        if k in entered:
            return
        if not originals:
            snapshot()
        problem = intact()
        if problem:
            emit("tampered", what=problem)
            os._exit(3)
        entered.add(k)
        emit("enter", exercise=k)

    tee = Tee()
    sys.stdout = tee
    common._recorder = record
    return emit, enter, intact


_emit, _enter, _intact = _make()
del _make, _secret, _out


def _frames(tb):
    lines = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _lesson:
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    return lines


_globals = {"__name__": "__main__", "__file__": _lesson, "__builtins__": builtins, "_grade_enter": _enter}
try:
    with open(_lesson, encoding="utf-8") as f:
        _code = compile(f.read(), _lesson, "exec")
    exec(_code, _globals)
except SystemExit as e:
    _emit("exit", lines=_frames(e.__traceback__), message=f"SystemExit({e.code!r})")
except BaseException as e:
    _emit("exception", lines=_frames(e.__traceback__), message=f"{type(e).__name__}: {str(e)[:1500]}")
else:
    problem = _intact()
    if problem:
        _emit("tampered", what=problem)
    else:
        _emit("completed")
sys.stdout.flush()
os._exit(0)
'''


@dataclasses.dataclass
class RunResult:
    events: list
    outcome: str                # completed, exception, exit, tampered, timeout, vanished
    message: str = ""
    lines: list = dataclasses.field(default_factory=list)     # lesson lines, outermost first
    seconds: float = 0.0


def _support_files(folder):
    # the helpers the lessons import, as a package of their own: never the installed
    # minigrad_lessons folder, which holds the reference solutions
    helpers = folder / "minigrad_lessons"
    helpers.mkdir()
    (helpers / "__init__.py").write_text("", encoding="utf-8")
    shutil.copy(HERE / "common.py", helpers / "common.py")
    for helper in HERE.glob("_[a-z]*.py"):
        shutil.copy(helper, helpers / helper.name)
    import minigrad
    package = pathlib.Path(minigrad.__file__).resolve().parent
    os.symlink(package, folder / "minigrad", target_is_directory=True)


def run_spliced(source, lesson_name, timeout, quick=True):
    """Run one spliced lesson in a fresh temporary folder; returns a RunResult."""
    secret = secrets.token_hex(16)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="minigrad-grade-") as tmp:
        folder = pathlib.Path(tmp)
        _support_files(folder)
        lesson = folder / lesson_name
        lesson.write_text(source, encoding="utf-8")
        (folder / "_grade_harness.py").write_text(HARNESS, encoding="utf-8")
        results, dump = folder / "results.txt", folder / "timeout.txt"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MINIGRAD_", "PYTHON"))}
        env.update(PYTHONPATH=str(folder), MPLBACKEND="Agg", MINIGRAD_LESSONS_OUT=str(folder / "out"),
                   OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1", MINIGRAD_QUICK="1" if quick else "0")
        log = folder / "output.txt"         # a file, not a pipe: a block may print without end
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.Popen([sys.executable, "-X", "faulthandler", str(folder / "_grade_harness.py"),
                                     str(lesson), str(results), str(dump), str(timeout), "1" if quick else "0"],
                                    cwd=folder, env=env, stdin=subprocess.PIPE, stdout=out,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
            try:
                proc.communicate(secret + "\n", timeout=timeout + 15)
                killed = False
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, 9)
                except ProcessLookupError:      # it ended on its own meanwhile
                    pass
                proc.communicate()
                killed = True
        events = []
        if results.exists():
            for line in results.read_text(encoding="utf-8", errors="replace").splitlines():
                tag, _, payload = line.partition("\t")
                if tag == secret:
                    try:
                        events.append(json.loads(payload))
                    except ValueError:
                        pass
        last = events[-1] if events else {}
        seconds = time.perf_counter() - start
        if last.get("kind") in ("completed", "exception", "exit", "tampered"):
            return RunResult(events, last["kind"], last.get("message", last.get("what", "")),
                             last.get("lines", []), seconds)
        dumped = dump.read_text(encoding="utf-8", errors="replace") if dump.exists() else ""
        if killed or "Timeout" in dumped:
            # faulthandler lists the innermost frame first: turn it round, outermost first
            lines = [int(n) for n in re.findall(rf'File "{re.escape(str(lesson))}", line (\d+)', dumped)][::-1]
            return RunResult(events, "timeout", f"still running after {timeout:g} s", lines, seconds)
        with open(log, "rb") as f:
            f.seek(max(0, log.stat().st_size - 2000))
            tail = "\n".join(f.read().decode("utf-8", errors="replace").strip().splitlines()[-3:])
        return RunResult(events, "vanished", f"the process ended without finishing (exit status "
                         f"{proc.returncode}); its last output:\n{tail}", [], seconds)


# ----------------------------------------------------------------------------- verdicts

def _block_of(line, ranges):
    for k, (first, last) in ranges.items():
        if first - 1 <= line <= last:       # first - 1: the probe on the BEGIN marker's line
            return k
    return None


def _top_statement(tree, line):
    """Index of the top-level statement of ``tree`` that holds ``line``."""
    for index, statement in enumerate(tree.body):
        if statement.lineno <= line <= statement.end_lineno:
            return index
    return None


def judge(run, dirty, exercises, spliced_source, ranges, student_lines):
    """Verdicts from one run for each exercise in ``dirty`` (the blocks with the student's
    code that have not passed yet); None where this run cannot tell."""
    tree = _parse(spliced_source)
    checks_at = check_statements(tree, exercises)
    verdicts, entered = {}, []
    checks = {k: [] for k in dirty}
    for event in run.events:
        if event["kind"] == "enter":
            entered.append(event["exercise"])
        elif event["kind"] == "check" and event["exercise"] in checks:
            checks[event["exercise"]].append((event, list(entered)))

    def where(line, k):
        first = ranges[k][0]
        student = student_lines.get(k)
        return f"line {student + line - first + 1} of your file" if student else f"line {line}"

    blamed, blamed_line = None, None
    for line in reversed(run.lines):            # innermost first: the block whose code ran last
        blamed = _block_of(line, ranges)
        if blamed is not None:
            blamed_line = line
            break
    if run.outcome in ("tampered", "vanished"):
        blamed = entered[-1] if entered else None
    stopped_at = _top_statement(tree, run.lines[0]) if run.lines else None

    def complete(k):        # every check of k had its turn before the run stopped
        return run.outcome == "completed" or (
            stopped_at is not None and checks_at[k] and max(checks_at[k]) < stopped_at)

    passes = {k for k in dirty if checks[k] and all(e["passed"] for e, _ in checks[k]) and complete(k)}
    suspects = set(dirty) - passes      # blocks that may have misled the others' checks

    def alone(k, before):   # no other suspect block ran before this verdict
        return not (set(before) & suspects) - {k}

    for k in dirty:
        mine = checks[k]
        failed = [(e, before) for e, before in mine if not e["passed"]]
        if failed:
            event, before = failed[0]
            printed = "\n".join(event.get("printed", [])[-4:])
            message = f"check failed: {event['message']}" + (f"\nthe lesson printed just before:\n{printed}" if printed else "")
            verdicts[k] = Verdict("failed", message, certain=alone(k, before))
            continue
        if blamed == k and run.outcome == "exit":
            verdicts[k] = Verdict("disqualified", f"your block ended the process ({run.message}, "
                                                  f"{where(blamed_line, k)})")
            continue
        if blamed == k and run.outcome == "tampered":
            verdicts[k] = Verdict("disqualified", f"tampering detected while your block ran: {run.message}")
            continue
        if blamed == k and run.outcome == "timeout":
            verdicts[k] = Verdict("timeout", f"{run.message}, in your block ({where(blamed_line, k)} "
                                  f"or code it called)")
            continue
        if blamed == k and run.outcome == "exception":
            verdicts[k] = Verdict("error", f"your block raised {run.message} ({where(blamed_line, k)})",
                                  certain=alone(k, entered))
            continue
        if k in passes:
            verdicts[k] = Verdict("passed", f"all {len(mine)} checks passed")
        elif run.outcome == "completed" and not mine:
            verdicts[k] = Verdict("error", "none of this exercise's checks ran, so it cannot pass",
                                  certain=alone(k, entered))
        else:
            verdicts[k] = None
    ran = [e for e in dict.fromkeys(entered) if e in dirty]
    if run.outcome != "completed" and blamed is None and len(ran) == 1 and verdicts[ran[0]] is None:
        # the lesson stopped in the teacher's code, and only one failing block had run
        verdicts[ran[0]] = _crash_verdict(run, ran[0])
    return verdicts


def _crash_verdict(run, k):
    """Exercise k is the only block with the student's code and the run did not finish."""
    if run.outcome == "timeout":
        return Verdict("timeout", f"{run.message} (the lesson did not finish with your block in it)")
    if run.outcome == "tampered":
        return Verdict("disqualified", f"tampering detected with your block in the lesson: {run.message}")
    if run.outcome == "vanished" and "exit status 0)" in run.message:
        return Verdict("disqualified", "the lesson ended early with exit status 0 with your block in "
                                       "it (os._exit?)")
    if run.outcome == "completed":
        return Verdict("error", "none of this exercise's checks ran, so it cannot pass")
    return Verdict("error", f"the lesson crashed after your block ran, in the teacher's code: {run.message}")


# ----------------------------------------------------------------------------- one file

def grade_file(lesson, submission_path, *, timeout=None, quick=True, _details=None):
    """Grade one student's copy of one lesson.

    ``lesson``: a number ('06'), a file name or a path of a teacher's lesson.
    ``submission_path``: the student's ``.py`` or ``.ipynb`` (it may not exist: ``missing``).
    Returns {k: (points, max_points, status, message)} for every exercise k of the lesson."""
    lesson_path = _exercises.find_lesson(str(lesson))
    teacher_text = lesson_path.read_text(encoding="utf-8")
    exercises = _exercises.parse_lesson(teacher_text, lesson_path.name)
    timeout = timeout or (QUICK_TIMEOUT if quick else FULL_TIMEOUT)
    details = _details if _details is not None else {}
    details.update(runs=0, seconds=0.0, outside=[])
    verdicts = {}
    path = pathlib.Path(submission_path) if submission_path else None
    if path is None or not path.exists():
        for ex in exercises:
            verdicts[ex.number] = Verdict("missing", f"no {lesson_path.name} or {lesson_path.stem}.ipynb was handed in")
        return _table(exercises, verdicts)
    try:
        text = read_submission(path)
        blocks = _submission_blocks(text, path.name)
    except (_exercises.ExerciseError, ValueError, OSError) as e:
        for ex in exercises:
            verdicts[ex.number] = Verdict("error", f"the file could not be read: {e}")
        return _table(exercises, verdicts)
    details["outside"] = _outside_edits(teacher_text, text, lesson_path.name)

    student_code, student_lines = {}, {}
    protected = protected_names(teacher_text)
    for ex in exercises:
        k = ex.number
        if k not in blocks:
            verdicts[k] = Verdict("error", f"no '# BEGIN EXERCISE {k}' / '# END EXERCISE {k}' markers: "
                                           "the grader cannot find your code")
            continue
        code, line = blocks[k]
        if _placeholder_left(code, lesson_path.name, k) or _only_comments(code):
            verdicts[k] = Verdict("not_attempted", "the placeholder is still there: nothing was written")
            continue
        source, ranges = splice(teacher_text, exercises, {k: code})
        first, last = ranges[k]
        try:
            tree = _parse(source, lesson_path.name, check=True)
        except SyntaxError as e:
            inside = e.lineno is not None and first <= e.lineno <= last
            at = f" (line {line + e.lineno - first + 1} of your file)" if inside else " (after your block: is it complete?)"
            verdicts[k] = Verdict("error", f"syntax error: {e.msg}{at}")
            continue
        nodes = block_nodes(tree, first, last)
        problem = tampering(nodes, protected)
        if problem:
            verdicts[k] = Verdict("disqualified", f"your block {problem}")
            continue
        used = off_limits_used(nodes, ex.off_limits)
        if used:
            verdicts[k] = Verdict("failed", f"your block uses {used}, which this exercise asks you to "
                                            f"write by hand (off limits here: {', '.join(ex.off_limits)})")
            continue
        student_code[k], student_lines[k] = code, line

    passed_code = {}
    pending = set(student_code)
    while pending:
        code = {**passed_code, **{k: student_code[k] for k in pending}}
        run, source, ranges = _run(teacher_text, exercises, code, lesson_path.name, timeout, quick, details)
        found = judge(run, pending, exercises, source, ranges, student_lines)
        for k in list(pending):
            if found[k] is not None and found[k].status == "passed":
                verdicts[k] = found[k]
                passed_code[k] = student_code[k]
                pending.discard(k)
        if len(pending) == 1:
            (k,) = pending
            verdicts[k] = found[k] or _crash_verdict(run, k)
            break
        certain = {k for k in pending if found[k] is not None and found[k].certain}
        if certain:
            for k in certain:
                verdicts[k] = found[k]
            pending -= certain
            continue
        # Several blocks failed and none is clearly at fault alone: judge each on its own,
        # with the reference standing in for the others.
        for k in sorted(pending):
            alone = {**passed_code, k: student_code[k]}
            run, source, ranges = _run(teacher_text, exercises, alone, lesson_path.name, timeout, quick, details)
            verdicts[k] = judge(run, {k}, exercises, source, ranges, student_lines)[k] or _crash_verdict(run, k)
        break
    return _table(exercises, verdicts)


def _run(teacher_text, exercises, code, lesson_name, timeout, quick, details):
    source, ranges = splice(teacher_text, exercises, code)
    run = run_spliced(source, lesson_name, timeout, quick)
    details["runs"] += 1
    details["seconds"] += run.seconds
    return run, source, ranges


def _table(exercises, verdicts):
    """{k: (points, max_points, status, message)}; a message that is not a pass names the
    exercise and ends with its hints."""
    table = {}
    for ex in exercises:
        v = verdicts[ex.number]
        message = v.message
        if v.status != "passed":
            message = f"exercise {ex.number} ({ex.title}): {message}"
            if v.status in ("failed", "error", "timeout", "not_attempted"):
                message += "\nhints:\n" + "".join(f"- {h}\n" for h in ex.hints)
        table[ex.number] = (ex.points if v.status == "passed" else 0, ex.points, v.status, message.rstrip("\n"))
    return table


# ----------------------------------------------------------------------------- a class

def grade_folder(submissions, out_dir, lessons=None, timeout=None, jobs=1, quick=True, echo=print, lms=None):
    """Grade every student folder of ``submissions``; write the gradebook and feedback into
    ``out_dir``. Returns the gradebook rows (dicts with COLUMNS)."""
    submissions, out_dir = pathlib.Path(submissions), pathlib.Path(out_dir)
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if lessons:
        lesson_paths = [_exercises.find_lesson(str(n)) for n in lessons]
    else:
        handed_in = {p.name[:2] for s in students for p in (submissions / s).glob("[0-9][0-9]_*")}
        lesson_paths = [p for p in _exercises.lesson_files() if p.name[:2] in handed_in]
    jobs_list = [(s, p) for s in students for p in lesson_paths]

    def one(job):
        student, lesson_path = job
        details = {}
        table = grade_file(lesson_path, find_submission(submissions / student, lesson_path),
                           timeout=timeout, quick=quick, _details=details)
        return student, lesson_path, table, details

    results = {}
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for student, lesson_path, table, details in pool.map(one, jobs_list):
            results[student, lesson_path.name] = (table, details)
    elapsed = time.perf_counter() - start

    rows = []
    for student in students:
        for lesson_path in lesson_paths:
            table, _ = results[student, lesson_path.name]
            for k, (points, max_points, status, _) in table.items():
                rows.append({"student": student, "lesson": lesson_path.name[:2], "exercise": k,
                             "points": points, "max_points": max_points, "status": status})
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "gradebook.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "feedback").mkdir(exist_ok=True)
    for student in students:
        (out_dir / "feedback" / f"{student}.md").write_text(
            _feedback(student, [(p, *results[student, p.name]) for p in lesson_paths]), encoding="utf-8")
    runs = sum(d["runs"] for _, d in results.values())
    echo(_summary(students, lesson_paths, rows))
    _report.write_reports(      # the class at a glance: totals.csv, summary.md, report.html
        out_dir, rows, {(s, name[:2], k): v[3] for (s, name), (table, _) in results.items() for k, v in table.items()},
        dict(quick=quick, timeout=timeout or (QUICK_TIMEOUT if quick else FULL_TIMEOUT), sandbox=False,
             jobs=jobs, seconds=elapsed, date=time.strftime("%Y-%m-%d %H:%M")), lms=lms, echo=echo)
    echo(f"\n{len(students)} students x {len(lesson_paths)} lessons graded in {elapsed:.1f} s "
         f"({runs} runs, --jobs {jobs}); gradebook: {out_dir / 'gradebook.csv'}, feedback: {out_dir / 'feedback'}/")
    return rows


def _feedback(student, graded):
    out = [f"# Feedback for {student}\n"]
    for lesson_path, table, details in graded:
        exercises = {ex.number: ex for ex in _exercises.parse_lesson(lesson_path.read_text(encoding="utf-8"),
                                                                     lesson_path.name)}
        got, total = sum(v[0] for v in table.values()), sum(v[1] for v in table.values())
        out.append(f"## {lesson_path.name}: {got} / {total} points\n")
        for k, (points, max_points, status, message) in table.items():
            ex = exercises[k]
            out.append(f"### Exercise {k}: {ex.title} — {status}, {points} / {max_points}\n")
            if status != "passed":
                out.append(textwrap.indent(message.strip(), "    ") + "\n")
        if details.get("outside"):
            out.append("Edits outside the exercise blocks are ignored (the teacher's lesson runs "
                       "instead):\n" + "".join(f"- {e}\n" for e in details["outside"]))
    return "\n".join(out)


def _summary(students, lesson_paths, rows):
    points = {}
    for r in rows:
        key = r["student"], r["lesson"]
        got, total = points.get(key, (0, 0))
        points[key] = (got + r["points"], total + r["max_points"])
    lessons = [p.name[:2] for p in lesson_paths]
    width = max([len("student")] + [len(s) for s in students])
    lines = [f"{'student':{width}s}  " + "  ".join(f"{n:>6s}" for n in lessons) + "   total"]
    for s in students:
        cells = [points[s, n] for n in lessons]
        lines.append(f"{s:{width}s}  " + "  ".join(f"{f'{g}/{t}':>6s}" for g, t in cells)
                     + f"  {sum(g for g, _ in cells):3d}/{sum(t for _, t in cells)}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minigrad_lessons.grade", description=__doc__.split("\n")[0])
    parser.add_argument("submissions", help="a folder with one sub-folder per student")
    parser.add_argument("--out", required=True, help="where gradebook.csv and feedback/ go")
    parser.add_argument("--lessons", help="comma-separated lesson numbers (default: every lesson handed in)")
    parser.add_argument("--timeout", type=float, help="seconds per run (default 60 in quick mode, 600 with --full)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    parser.add_argument("--full", action="store_true", help="the lessons' full runs, not --quick")
    parser.add_argument("--lms", choices=_report.LMS_SHAPES,
                        help="also write DIR/canvas.csv or DIR/moodle.csv, the shape that LMS imports")
    args = parser.parse_args(argv)
    if not pathlib.Path(args.submissions).is_dir():
        print(f"grade: {args.submissions} is not a folder", file=sys.stderr)
        return 2
    lessons = [n.strip() for n in args.lessons.split(",") if n.strip()] if args.lessons else None
    try:
        grade_folder(args.submissions, args.out, lessons, args.timeout, args.jobs, quick=not args.full, lms=args.lms)
    except (FileNotFoundError, _exercises.ExerciseError) as e:
        print(f"grade: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
