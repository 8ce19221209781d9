"""The lessons: every ``lessons/NN_name.py`` runs in quick mode as a script and as a notebook,
writes its figures, and its student copy fails until the exercises are written.

New lessons are picked up by the glob; nothing here names a lesson.
"""
import ast
import os
import pathlib
import re
import subprocess
import sys

import pytest

from minigrad_lessons import common
from minigrad_lessons.exercises import (ExerciseError, lesson_files, parse_lesson, parse_submission, student_copy,
                               write_student_copies)

LESSONS_DIR = pathlib.Path(common.__file__).resolve().parent
LESSONS = lesson_files(LESSONS_DIR)
ids = [p.stem for p in LESSONS]


def _env(out_dir, **extra):
    # one BLAS thread: small matrices on a shared 2-core runner are several times faster so
    env = dict(os.environ, MINIGRAD_QUICK="1", MINIGRAD_LESSONS_OUT=str(out_dir),
               MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env.update(extra)
    return env


def _run(path, out_dir, *args, **env):
    return subprocess.run([sys.executable, str(path), "--quick", *args], cwd=path.parent,
                          env=_env(out_dir, **env), capture_output=True, text=True, timeout=300)


def _tail(proc):
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


def _figures(out_dir, path):
    return sorted(p.name for p in pathlib.Path(out_dir).glob(f"{path.name[:2]}_*.png"))


def test_lessons_are_found():
    assert len(LESSONS) >= 6
    assert all(p.name[:2].isdigit() and p.name[2] == "_" for p in LESSONS)


def _checks_by_exercise(stdout):
    """{exercise number: checks passed} from common.finish()'s last line."""
    line = next(ln for ln in reversed(stdout.splitlines()) if ln.startswith("checks passed:"))
    return {int(k): int(n) for k, n in re.findall(r"exercise (\d+) (\d+)", line)}


@pytest.mark.parametrize("path", LESSONS, ids=ids)
def test_lesson_runs_in_quick_mode(path, tmp_path):
    proc = _run(path, tmp_path)
    assert proc.returncode == 0, _tail(proc)
    assert "check passed" in proc.stdout, "a lesson proves its steps with common.check"
    assert "CHECK FAILED" not in proc.stdout + proc.stderr
    assert _figures(tmp_path, path), f"{path.name} wrote no figure named {path.name[:2]}_*.png"
    title, goals = common.lesson_header(path)
    assert proc.stdout.startswith(common.plain(title) + "\nLearning goals:\n  1. "), "the run opens with title and goals"
    header = proc.stdout.split("\n\n", 1)[0]
    assert header.count("\n") == len(goals) + 1, header
    for mark in ("**", "$", "`", "\\"):
        assert mark not in header, f"the terminal shows {mark!r}: Markdown or LaTeX in {header!r}"
    assert "What this run showed:" in proc.stdout
    exercises = parse_lesson(path.read_text(encoding="utf-8"), path.name)
    ran = _checks_by_exercise(proc.stdout)
    missing = [ex.number for ex in exercises if not ran.get(ex.number)]
    assert not missing, f"exercises {missing} have no check that runs in quick mode: they could not be graded"


@pytest.mark.notebook_tools
@pytest.mark.parametrize("path", LESSONS, ids=ids)
def test_lesson_runs_as_notebook(path, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for key, value in _env(tmp_path).items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)              # the kernel inherits this environment
    nb = jupytext.read(path)
    assert any(c.cell_type == "markdown" for c in nb.cells) and any(c.cell_type == "code" for c in nb.cells)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()       # raises CellExecutionError naming the failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "figures are shown inline"
    assert any("check passed" in o.get("text", "") for o in outputs)
    assert _figures(tmp_path, path)


@pytest.mark.parametrize("path", LESSONS, ids=ids)
def test_student_copy_fails_until_the_exercises_are_written(path, tmp_path):
    original = path.read_text(encoding="utf-8")
    (copy,) = write_student_copies(tmp_path / "student", [path])
    text = copy.read_text(encoding="utf-8")
    assert "# BEGIN SOLUTION" not in text and "# END SOLUTION" not in text
    count = original.count("# BEGIN SOLUTION")
    assert [text.count(f"# BEGIN EXERCISE {k}\n") for k in range(1, count + 1)] == [1] * count
    assert text.count("# END EXERCISE ") == count
    assert text.count("# TITLE:") == original.count("# TITLE:") == count
    assert text.count("common.check(") == original.count("common.check("), "every check is kept"
    assert text.count("# HINT:") == original.count("# HINT:"), "every hint is kept"
    assert not (tmp_path / "student" / "common.py").exists(), "a copy finds its helpers in the installed package"
    compile(text, str(copy), "exec")
    proc = _run(copy, tmp_path / "out")
    assert proc.returncode != 0, "the student copy must fail before its exercises are written"
    assert "NotImplementedError" in proc.stderr and "exercise 1" in proc.stderr, _tail(proc)


@pytest.mark.gpu
@pytest.mark.parametrize("path", LESSONS, ids=ids)
def test_lesson_runs_on_the_gpu(path, tmp_path):
    proc = _run(path, tmp_path, "--device", "cuda")
    assert proc.returncode == 0, _tail(proc)


def _top_level_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


@pytest.mark.parametrize("path", LESSONS, ids=ids)
def test_every_check_names_its_exercise(path):
    """Grading counts a check for the exercise it names, so each one says it: exercise=k
    (an existing exercise) or exercise=None (the lesson's own demonstration)."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    exercises = parse_lesson(text, path.name)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr in ("check", "compare") and isinstance(n.func.value, ast.Name) and n.func.value.id == "common"]
    named = set()
    for call in calls:
        keyword = [kw for kw in call.keywords if kw.arg == "exercise"]
        assert keyword, f"{path.name}:{call.lineno}: common.check(...) without exercise=k or exercise=None"
        value = keyword[0].value
        if isinstance(value, ast.Constant):
            values = [value.value]
        elif isinstance(value, ast.Subscript) and isinstance(value.value, ast.Dict):
            values = [v.value for v in value.value.values]      # {case: k, ...}[case] in a loop
        else:
            values = None
        assert values is not None, f"{path.name}:{call.lineno}: exercise= must be a number, None or a literal dict lookup"
        for v in values:
            assert v is None or 1 <= v <= len(exercises), f"{path.name}:{call.lineno}: no exercise {v}"
            named.add(v)
    assert {ex.number for ex in exercises} <= named, f"{path.name}: an exercise has no check"
    defined = _top_level_names(tree)
    for ex in exercises:
        for name in ex.off_limits:
            assert "." not in name or name.split(".")[0] in defined, \
                f"{path.name} exercise {ex.number}: OFF LIMITS names {name}, but the lesson has no {name.split('.')[0]}"


# ----------------------------------------------------------------------------- the tools

LESSON = """x = 1
def f():
    # BEGIN SOLUTION
    # TITLE: double x
    # HINT: return twice x
    return 2 * x
    # END SOLUTION
common.check(f() == 2, "f doubles x", exercise=1)
"""


def test_student_copy_keeps_hints_and_checks():
    text, count = student_copy(LESSON, "99_demo.py")
    assert count == 1
    assert "return 2 * x" not in text
    assert ("    # BEGIN EXERCISE 1\n    # TITLE: double x\n    # HINT: return twice x\n"
            '    raise NotImplementedError("99_demo.py, exercise 1: double x -- not written yet') in text
    assert "    # END EXERCISE 1\n" in text
    assert text.endswith('common.check(f() == 2, "f doubles x", exercise=1)\n')
    assert parse_submission(text, "99_demo.py")[1].strip().startswith("# TITLE: double x")
    namespace = {}
    exec(compile(text.rsplit("common.check", 1)[0], "copy", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="exercise 1"):
        namespace["f"]()


@pytest.mark.parametrize("bad, message", [
    ("# BEGIN SOLUTION\n# HINT: h\nx = 1\n", "99_demo.py:1: BEGIN SOLUTION is never closed"),
    ("x = 1\n# END SOLUTION\n", "99_demo.py:2: END SOLUTION without a BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\n# TITLE: t\nx = 1\n# END SOLUTION\n", "99_demo.py:1: the solution block has no '# HINT:'"),
    ("# BEGIN SOLUTION\n# HINT: h\nx = 1\n# END SOLUTION\n", "99_demo.py:1: the solution block has no '# TITLE:'"),
    ("# BEGIN SOLUTION\n# TITLE: t\n# POINTS: two\n# HINT: h\n# END SOLUTION\n", "99_demo.py:3: POINTS must be"),
    ("# BEGIN SOLUTION\n# TITLE: t\n# OFF LIMITS: nn.LSTM()\n# HINT: h\n# END SOLUTION\n", "99_demo.py:3: OFF LIMITS takes"),
    ("# BEGIN SOLUTION\n# HINT: h\n# BEGIN SOLUTION\n", "99_demo.py:3: BEGIN SOLUTION inside the block"),
    ("# BEGIN SOLUTION\n# HINT: h\ncommon.check(x, 'm')\n# END SOLUTION\n",
     "99_demo.py:3: a check inside a solution block"),
])
def test_malformed_solution_blocks_are_named(bad, message):
    with pytest.raises(ExerciseError, match=message.replace("(", r"\(")):
        student_copy(bad, "99_demo.py")


def test_exercises_command_line(tmp_path, capsys):
    from minigrad_lessons import exercises
    assert exercises.main([str(tmp_path), str(LESSONS[0])]) == 0
    assert (tmp_path / LESSONS[0].name).exists()
    assert exercises.main([str(tmp_path / "b"), LESSONS[1].name[:2]]) == 0      # by number
    assert (tmp_path / "b" / LESSONS[1].name).exists()
    assert exercises.main([]) == 2
    assert exercises.main([str(tmp_path), "99"]) == 1


@pytest.mark.parametrize("bad, message", [
    ("# BEGIN EXERCISE 1\nx\n", "never closed"),
    ("# BEGIN EXERCISE 1\n# END EXERCISE 2\n", "END EXERCISE 2 without its BEGIN"),
    ("# BEGIN EXERCISE 1\n# BEGIN EXERCISE 2\n", "inside exercise 1"),
    ("# BEGIN EXERCISE 1\n# END EXERCISE 1\n# BEGIN EXERCISE 1\n", "appears twice"),
])
def test_malformed_submissions_are_named(bad, message):
    with pytest.raises(ExerciseError, match=message):
        parse_submission(bad, "99_demo.py")


def test_check_names_its_exercise_and_finish_reports(capsys, monkeypatch):
    monkeypatch.setattr(common, "results", [])
    common.check(True, "one", exercise=1)
    common.check(True, "two", exercise=None)
    with pytest.raises(common.CheckFailed, match=r"CHECK FAILED \(exercise 2\): three"):
        common.check(False, "three", exercise=2)
    assert common.passed(1) and not common.passed(2) and not common.passed(3)
    common.finish()
    out = capsys.readouterr().out
    assert "What this run showed:\n  exercise 1:\n    - one\n  the lesson:\n    - two\n" in out
    assert out.rstrip().endswith("checks passed: exercise 1 1, lesson 1")
    monkeypatch.setattr(common, "keep_going", True)          # as in an nbgrader notebook
    common.check(False, "four", exercise=3)
    assert "CHECK FAILED (exercise 3): four" in capsys.readouterr().out and not common.passed(3)


def test_lesson_header_reads_title_and_goals(tmp_path):
    path = tmp_path / "99_demo.py"
    path.write_text("# %% [markdown]\n# # Lesson 99 — A demo\n#\n# **Learning goals**\n"
                    "# 1. First goal,\n#    on two lines.\n# 2. Second.\n#\n# More.\n\n# %%\nx = 1\n")
    assert common.lesson_header(path) == ("Lesson 99 — A demo", ["First goal, on two lines.", "Second."])


@pytest.mark.parametrize("markdown, terminal", [
    ("Write its backward pass **by hand**", "Write its backward pass by hand"),
    ("the new memory $\\tilde C_t$, the cell update", "the new memory C\u0303_t, the cell update"),
    ("its gradient $\\hat y - y$; find both", "its gradient \u0177 - y; find both"),
    ("its output has $2 \\times$ hidden_size features", "its output has 2 \u00d7 hidden_size features"),
    ("$h_t = \\tanh(x_t U + h_{t-1} W + b_h)$", "h_t = tanh(x_t U + h_(t-1) W + b_h)"),
    ("$a^{<t>} = \\tanh(W_a[a^{<t-1>}, x^{<t>}])$", "a^<t> = tanh(W_a[a^<t-1>, x^<t>])"),
    ("$\\mathrm{PPL} = \\exp(\\text{Loss} / \\#\\text{tokens})$", "PPL = exp(Loss / #tokens)"),
    ("$BLEU = BP \\cdot \\exp(\\frac{1}{N} \\sum_{n=1}^{N} \\log P_n)$", "BLEU = BP \u00b7 exp(1/N \u03a3_(n=1)^N log P_n)"),
    ("*between* layers, `nn.RNN(dropout=p)`, [the notes](docs/x.md)", "between layers, nn.RNN(dropout=p), the notes"),
    ("2 * 3 * 4 stays, $5 costs", "2 * 3 * 4 stays, $5 costs"),
])
def test_plain_text_for_the_terminal(markdown, terminal):
    assert common.plain(markdown) == terminal


@pytest.mark.parametrize("path", LESSONS, ids=ids)
def test_the_terminal_header_is_plain_text(path, capsys):
    """setup() prints the title and goals without Markdown or LaTeX; the notebook keeps them
    (its first cell is the file's own Markdown)."""
    common._print_header(path)
    out = capsys.readouterr().out
    title, goals = common.lesson_header(path)
    assert out.startswith(common.plain(title) + "\nLearning goals:\n") and len(goals) >= 1
    for mark in ("**", "$", "`", "\\", "{", "}"):
        assert mark not in out, f"{path.name}: the terminal shows {mark!r}:\n{out}"
    raw = path.read_text(encoding="utf-8")
    assert "**" in raw or "$" in raw or "`" in raw, "the lesson's own header keeps its Markdown"


def test_check_passes_quietly_and_fails_loudly(capsys, monkeypatch):
    monkeypatch.setattr(common, "results", [])
    common.check(1 + 1 == 2, "arithmetic")
    assert "check passed: arithmetic" in capsys.readouterr().out
    with pytest.raises(common.CheckFailed, match="CHECK FAILED: the loss went down"):
        common.check(False, "the loss went down")


def test_options_from_arguments_and_environment(monkeypatch):
    monkeypatch.delenv("MINIGRAD_QUICK", raising=False)
    monkeypatch.setenv("MINIGRAD_DEVICE", "cpu")
    assert common.parse_args(argv=[]).quick is False
    args = common.parse_args(argv=["--quick", "--seed", "3"])
    assert args.quick and args.seed == 3 and args.device == "cpu"
    monkeypatch.setenv("MINIGRAD_QUICK", "1")
    assert common.parse_args(argv=[]).quick is True
    run = common.Run(quick=True, device="cpu", seed=0)
    assert run.pick(100, 5) == 5 and common.Run(False, "cpu", 0).pick(100, 5) == 100


def test_label_falls_back_to_ascii_without_a_cjk_font():
    text = common.label("forget gate", "遗忘门")
    assert text == ("forget gate (遗忘门)" if common._cjk_font() else "forget gate")
