"""The nbgrader route, run for real: generate_assignment, then autograde a correct and a
wrong submission of one lesson, and read the points from nbgrader's gradebook."""
import os
import shutil
import subprocess
import sys

import pytest

from minigrad_lessons import exercises as X

pytestmark = pytest.mark.notebook_tools
pytest.importorskip("nbgrader")
pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")

RIGHT, WRONG = "dz = dh * (1 - h * h)", "dz = dh * (1 - h)"


def _nbgrader(course, *args):
    env = dict(os.environ, MINIGRAD_QUICK="1", MPLBACKEND="Agg", MINIGRAD_LESSONS_OUT=str(course / "figures"),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_nbgrader_generates_and_autogrades_a_lesson(tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    lesson = X.find_lesson("03")
    assert X.main([str(course), "--format", "nbgrader", "03"]) == 0
    source = course / "source" / "lessons"
    assert (source / (lesson.stem + ".ipynb")).exists()
    assert not (source / "common.py").exists(), "the notebooks import minigrad_lessons.common, installed"

    _nbgrader(course, "generate_assignment", "lessons", "--force")
    released = (course / "release" / "lessons" / (lesson.stem + ".ipynb")).read_text(encoding="utf-8")
    assert RIGHT not in released and "raise NotImplementedError()" in released
    assert "# HINT: dh = dlogits V^T + dh_next" in released, "the hints stay in the student's notebook"

    for student, answer in (("right", RIGHT), ("wrong", WRONG)):
        folder = course / "submitted" / student / "lessons"
        shutil.copytree(source, folder)
        notebook = folder / (lesson.stem + ".ipynb")
        text = notebook.read_text(encoding="utf-8")
        assert RIGHT in text
        notebook.write_text(text.replace(RIGHT, answer), encoding="utf-8")

    _nbgrader(course, "autograde", "lessons", "--create", "--force")
    max_points = sum(ex.points for ex in X.parse_lesson(lesson.read_text(encoding="utf-8"), lesson.name))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_assignment("lessons").max_score == max_points
        assert gb.find_submission("lessons", "right").score == max_points
        assert gb.find_submission("lessons", "wrong").score == 0
    assert "common.keep_going = True" in released and "from minigrad_lessons import common" in released, "a failed check does not stop the later exercises"
