"""The lessons: every ``lessons/NN_name.py`` runs in quick mode as a script and as a notebook,
writes its figures, and its student copy fails until the exercises are written.

New lessons are picked up by the glob; nothing here names a lesson.
"""
import os
import pathlib
import subprocess
import sys

import pytest

from lessons import common
from lessons.exercises import ExerciseError, lesson_files, student_copy, write_student_copies

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


@pytest.mark.parametrize("path", LESSONS, ids=ids)
def test_lesson_runs_in_quick_mode(path, tmp_path):
    proc = _run(path, tmp_path)
    assert proc.returncode == 0, _tail(proc)
    assert "check passed" in proc.stdout, "a lesson proves its steps with common.check"
    assert "CHECK FAILED" not in proc.stdout + proc.stderr
    assert _figures(tmp_path, path), f"{path.name} wrote no figure named {path.name[:2]}_*.png"


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
    assert text.count("common.check(") == original.count("common.check("), "every check is kept"
    assert text.count("# HINT:") == original.count("# HINT:"), "every hint is kept"
    assert (tmp_path / "student" / "common.py").exists()
    compile(text, str(copy), "exec")
    proc = _run(copy, tmp_path / "out")
    assert proc.returncode != 0, "the student copy must fail before its exercises are written"
    assert "NotImplementedError" in proc.stderr and "exercise 1" in proc.stderr, _tail(proc)


@pytest.mark.gpu
@pytest.mark.parametrize("path", LESSONS, ids=ids)
def test_lesson_runs_on_the_gpu(path, tmp_path):
    proc = _run(path, tmp_path, "--device", "cuda")
    assert proc.returncode == 0, _tail(proc)


# ----------------------------------------------------------------------------- the tools

LESSON = """x = 1
def f():
    # BEGIN SOLUTION
    # HINT: return twice x
    return 2 * x
    # END SOLUTION
common.check(f() == 2, "f doubles x")
"""


def test_student_copy_keeps_hints_and_checks():
    text, count = student_copy(LESSON, "99_demo.py")
    assert count == 1
    assert "return 2 * x" not in text
    assert "    # HINT: return twice x\n" in text
    assert '    raise NotImplementedError("99_demo.py, exercise 1: not written yet' in text
    assert text.endswith('common.check(f() == 2, "f doubles x")\n')
    namespace = {}
    exec(compile(text.rsplit("common.check", 1)[0], "copy", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="exercise 1"):
        namespace["f"]()


@pytest.mark.parametrize("bad, message", [
    ("# BEGIN SOLUTION\n# HINT: h\nx = 1\n", "99_demo.py:1: BEGIN SOLUTION is never closed"),
    ("x = 1\n# END SOLUTION\n", "99_demo.py:2: END SOLUTION without a BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "99_demo.py:1: the solution block has no '# HINT:'"),
    ("# BEGIN SOLUTION\n# HINT: h\n# BEGIN SOLUTION\n", "99_demo.py:3: BEGIN SOLUTION inside the block"),
    ("# BEGIN SOLUTION\n# HINT: h\ncommon.check(x, 'm')\n# END SOLUTION\n",
     "99_demo.py:3: a check inside a solution block"),
])
def test_malformed_solution_blocks_are_named(bad, message):
    with pytest.raises(ExerciseError, match=message.replace("(", r"\(")):
        student_copy(bad, "99_demo.py")


def test_exercises_command_line(tmp_path, capsys):
    from lessons import exercises
    assert exercises.main([str(tmp_path), str(LESSONS[0])]) == 0
    assert (tmp_path / LESSONS[0].name).exists()
    assert exercises.main([]) == 2


def test_check_passes_quietly_and_fails_loudly(capsys):
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
