"""The nbgrader route, run for real: generate_assignment, then autograde a correct and a
wrong submission of one lesson, and read the points from nbgrader's gradebook."""
import os
import re
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


def test_nbgrader_in_chinese(tmp_path):
    """--lang zh: the zh edition's Markdown cells, titles and hints, the same code cells; the
    checks speak Chinese in the autograded notebook, and the points are the English ones."""
    import json

    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    lesson = X.find_lesson("03")
    assert X.main([str(course), "--format", "nbgrader", "--lang", "zh", "03"]) == 0
    source = course / "source" / "lessons"
    notebook = json.loads((source / (lesson.stem + ".ipynb")).read_text(encoding="utf-8"))
    markdown = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]
    assert markdown and all(re.search(r"[\u4e00-\u9fff]", m) for m in markdown)
    assert X.main([str(tmp_path / "en"), "--format", "nbgrader", "03"]) == 0
    english = json.loads((tmp_path / "en" / "source" / "lessons" / (lesson.stem + ".ipynb")).read_text(encoding="utf-8"))

    def code(nb):      # the code that runs: comments (titles, hints, the graded cells' words) aside
        return [[ln for ln in "".join(c["source"]).splitlines() if not ln.lstrip().startswith("#")]
                for c in nb["cells"] if c["cell_type"] == "code"]
    zh_code, en_code = code(notebook), code(english)
    assert len(zh_code) == len(en_code)
    differ = [(a, b) for a, b in zip(zh_code, en_code) if a != b]
    # the setup cell names the edition; the graded cells' assert messages are Chinese
    assert all("notebook_edition" in "\n".join(a) or "assert common.passed" in "\n".join(a) for a, _ in differ)

    _nbgrader(course, "generate_assignment", "lessons", "--force")
    released = (course / "release" / "lessons" / (lesson.stem + ".ipynb")).read_text(encoding="utf-8")
    assert RIGHT not in released and "# HINT: dh = dlogits V^T + dh_next" in released
    assert "\\u7ec3\\u4e60" in released or "练习" in released
    for student, answer in (("right", RIGHT), ("wrong", WRONG)):
        folder = course / "submitted" / student / "lessons"
        shutil.copytree(source, folder)
        path = folder / (lesson.stem + ".ipynb")
        path.write_text(path.read_text(encoding="utf-8").replace(RIGHT, answer), encoding="utf-8")
    _nbgrader(course, "autograde", "lessons", "--create", "--force")
    max_points = sum(ex.points for ex in X.parse_lesson(lesson.read_text(encoding="utf-8"), lesson.name))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_submission("lessons", "right").score == max_points
        assert gb.find_submission("lessons", "wrong").score == 0
    graded = json.loads((course / "autograded" / "wrong" / "lessons" / (lesson.stem + ".ipynb")).read_text(encoding="utf-8"))
    outputs = json.dumps([c.get("outputs", []) for c in graded["cells"] if c["cell_type"] == "code"], ensure_ascii=False)
    assert "检查未通过" in outputs and "CHECK FAILED" not in outputs
    assert "自动求导" in outputs, "the lesson's own words come from its catalogue: the notebook names its edition"
    assert "的检查没有全部通过" in outputs, "the graded cell's message is Chinese too"
