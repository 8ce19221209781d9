"""The course installs with the package: a wheel of this checkout, installed into a fresh
virtual environment, gives the student-copy tool, the grader and ``grade_file`` from an empty
folder, and a copy saved anywhere finds its helpers in the installed ``minigrad_lessons``.

Not vacuous under CI, where the project is already installed in editable mode: every command
runs with PYTHONPATH unset, outside the repository, with the new environment's interpreter,
and asserts that ``minigrad_lessons`` and ``minigrad`` were imported from that environment.
No network: the wheel is built with ``--no-build-isolation --no-deps`` from a copy of the
sources, and NumPy (and matplotlib) come from this interpreter's site-packages through a
``.pth`` file in the new environment.
"""
import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from minigrad_lessons import exercises as X

ROOT = pathlib.Path(X.__file__).resolve().parent.parent
LESSON = X.find_lesson("02")            # the quickest lesson with several exercises
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "minigrad", "lessons")


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "MINIGRAD_", "VIRTUAL_ENV", "PIP_"))}
    env.update(MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1", PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra)
    return env


def _run(args, cwd, timeout=120):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, bin folder, site-packages, an empty working folder) of a fresh environment
    with this checkout's wheel installed."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools (the dev extra)")
    pytest.importorskip("wheel", reason="building the wheel needs wheel (the dev extra)")
    tmp = tmp_path_factory.mktemp("install")
    # a copy of the sources, so that no build/ or egg-info folder from an earlier build (or
    # from this one) mixes into the repository
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "out", "*.ipynb", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            (src).mkdir(exist_ok=True)
            shutil.copy(path, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "wheels",
          src], cwd=tmp, timeout=300)
    (wheel,) = (tmp / "wheels").glob("minigrad-*.whl")

    from importlib.metadata import version
    # pip >= 22.3 installs into another interpreter (--python): the venv needs no pip of its own
    outer_pip = tuple(int(x) for x in version("pip").split(".")[:2]) >= (22, 3)
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", *(["--without-pip"] if outer_pip else []), venv], cwd=tmp)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    site = pathlib.Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             cwd=tmp).stdout.strip())
    # NumPy and matplotlib from this interpreter: a path line, not a site folder, so nothing
    # else installed beside them (an editable minigrad's finder) takes effect
    import numpy
    found = [pathlib.Path(numpy.__file__).resolve().parent.parent]
    try:
        import matplotlib
        found.append(pathlib.Path(matplotlib.__file__).resolve().parent.parent)
    except ImportError:
        pass
    (site / "zz_test_dependencies.pth").write_text("\n".join(dict.fromkeys(map(str, found))) + "\n")
    pip_command = [sys.executable, "-m", "pip", "--python", python] if outer_pip else [python, "-m", "pip"]
    _run([*pip_command, "install", "--no-deps", "--no-index", wheel], cwd=tmp, timeout=300)
    empty = tmp / "empty"
    empty.mkdir()
    return python, bindir, site, empty


def test_the_course_is_imported_from_the_new_environment(installed):
    python, _, site, empty = installed
    where = json.loads(_run([python, "-c", "import json, minigrad, minigrad_lessons, minigrad_lessons.grade; "
                             "print(json.dumps([minigrad.__file__, minigrad_lessons.__file__, "
                             "minigrad_lessons.grade.__file__]))"], cwd=empty).stdout)
    for path in map(pathlib.Path, where):
        assert path.resolve().is_relative_to(site.resolve()), f"{path} is not from the new environment {site}"
        assert not path.resolve().is_relative_to(ROOT), f"{path} came from the repository"
    package = pathlib.Path(where[1]).parent
    assert (package / LESSON.name).exists() and (package / "common.py").exists(), "the lessons are installed"


def test_exercises_grader_and_grade_file_from_an_empty_folder(installed):
    python, bindir, _, empty = installed
    _run([bindir / "minigrad-exercises", "copies", "02"], cwd=empty)
    _run([python, "-m", "minigrad_lessons.exercises", "copies-m", LESSON.name], cwd=empty)
    handed_out = (empty / "copies" / LESSON.name).read_text(encoding="utf-8")
    assert handed_out == (empty / "copies-m" / LESSON.name).read_text(encoding="utf-8")
    assert handed_out == X.student_copy(LESSON.read_text(encoding="utf-8"), LESSON.name)[0]
    assert not (empty / "copies" / "common.py").exists()

    exercises = X.parse_lesson(LESSON.read_text(encoding="utf-8"), LESSON.name)
    solved = X.solved_copy(LESSON.read_text(encoding="utf-8"), LESSON.name)
    wrong = X.solved_copy(LESSON.read_text(encoding="utf-8"), LESSON.name, {1: "h = None\n"})
    for student, text in (("alice", solved), ("bob", handed_out), ("carol", wrong)):
        (empty / "class" / student).mkdir(parents=True)
        (empty / "class" / student / LESSON.name).write_text(text, encoding="utf-8")

    _run([bindir / "minigrad-grade", "class", "--out", "grades", "--timeout", "60", "--jobs", "2"],
         cwd=empty, timeout=300)
    with open(empty / "grades" / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    status = {(r["student"], int(r["exercise"])): r["status"] for r in rows}
    n = len(exercises)
    assert {k for s, k in status if s == "alice"} == set(range(1, n + 1))
    assert [status["alice", k] for k in range(1, n + 1)] == ["passed"] * n
    assert [status["bob", k] for k in range(1, n + 1)] == ["not_attempted"] * n
    assert status["carol", 1] in ("failed", "error") and status["carol", n] == "passed"
    assert (empty / "grades" / "feedback" / "carol.md").exists()
    assert "usage" in _run([python, "-m", "minigrad_lessons.grade", "--help"], cwd=empty).stdout

    script = ("import json, sys\nfrom minigrad_lessons.grade import grade_file\n"
              "print(json.dumps(grade_file('02', sys.argv[1])))\n")
    result = json.loads(_run([python, "-c", script, "class/carol/" + LESSON.name], cwd=empty).stdout.splitlines()[-1])
    assert result["1"][:3] == [0, exercises[0].points, status["carol", 1]]
    assert result[str(n)][2] == "passed"


def test_a_copy_runs_where_the_teacher_collected_it(installed):
    """``python class/alice/02_rnn_cell.py --quick``: no common.py beside it, the helpers come
    from the installed package, the figures go beside the copy."""
    python, _, _, empty = installed
    folder = empty / "collected" / "alice"
    folder.mkdir(parents=True)
    copy = folder / LESSON.name
    copy.write_text(X.solved_copy(LESSON.read_text(encoding="utf-8"), LESSON.name), encoding="utf-8")
    proc = _run([python, copy.relative_to(empty), "--quick"], cwd=empty)
    assert "check passed" in proc.stdout and "CHECK FAILED" not in proc.stdout
    assert list((folder / "out" / "quick").glob(LESSON.name[:2] + "_*.png")), "the figures go beside the copy"
    assert sorted(p.name for p in folder.iterdir()) == [LESSON.name, "out"]


def test_a_copy_moved_into_the_class_folder_runs_there(tmp_path):
    """The same with this interpreter's installed minigrad_lessons (CI: editable), outside the
    repository, PYTHONPATH unset: a handed-out copy stops at exercise 1, a solved one passes."""
    folder = tmp_path / "class" / "bob"
    written = X.write_student_copies(tmp_path / "handed-out", [LESSON])
    folder.mkdir(parents=True)
    moved = folder / LESSON.name
    shutil.move(written[0], moved)
    proc = subprocess.run([sys.executable, str(moved), "--quick"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "NotImplementedError" in proc.stderr and "exercise 1" in proc.stderr, proc.stderr
    assert "No module named" not in proc.stderr
    moved.write_text(X.solved_copy(LESSON.read_text(encoding="utf-8"), LESSON.name), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(moved), "--quick"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "What this run showed:" in proc.stdout
    assert list((folder / "out" / "quick").glob(LESSON.name[:2] + "_*.png"))
