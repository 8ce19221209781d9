"""The README's notebook commands, as written: jupytext converts a lesson into a notebook that
names a Python kernel, and ``jupyter nbconvert --to notebook --execute`` runs it with its
figures embedded and no cell in error. Two small lessons, in quick mode."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSONS = ["01_tensors_autograd.py", "02_rnn_cell.py"]


def _command(name, module):
    """The README's command: the executable installed beside this Python (a virtual
    environment's bin/); else this Python running the tool's module, whose kernel is this
    Python too (a tool found on PATH would start another Python's kernel, one without this
    checkout installed)."""
    pytest.importorskip(module)
    local = pathlib.Path(sys.executable).parent / name
    return [str(local)] if local.exists() else [sys.executable, "-m", module]


@pytest.fixture(scope="module")
def lessons_copy(tmp_path_factory):
    # a copy, so that the converted and executed notebooks are not left in lessons/
    where = tmp_path_factory.mktemp("notebooks") / "lessons"
    where.mkdir()
    for name in LESSONS + ["common.py"]:
        shutil.copy(ROOT / "lessons" / name, where / name)
    return where


@pytest.mark.parametrize("lesson", LESSONS)
@pytest.mark.notebook_tools
def test_lesson_converts_and_executes_as_the_readme_says(lesson, lessons_copy):
    pytest.importorskip("nbconvert")
    pytest.importorskip("ipykernel")
    script = lessons_copy / lesson
    env = dict(os.environ, MINIGRAD_QUICK="1", MINIGRAD_LESSONS_OUT=str(lessons_copy / "out"),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               # the kernel imports minigrad from this checkout, installed or not
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

    subprocess.run([*_command("jupytext", "jupytext"), "--to", "notebook", "--set-kernel", "python3",
                    str(script)], check=True, capture_output=True, env=env, timeout=120)
    notebook = script.with_suffix(".ipynb")
    spec = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["kernelspec"]
    assert spec["name"] == "python3" and spec["language"] == "python"

    proc = subprocess.run([*_command("jupyter-nbconvert", "nbconvert"), "--to", "notebook", "--execute",
                           str(notebook)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    executed = json.loads(notebook.with_suffix(".nbconvert.ipynb").read_text(encoding="utf-8"))
    outputs = [o for c in executed["cells"] if c["cell_type"] == "code"
               for o in c.get("outputs", [])]
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, f"a cell failed: {errors[0]['ename']}: {errors[0]['evalue']}"
    assert any("image/png" in o.get("data", {}) for o in outputs), "figures are embedded"
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "check passed" in text and "CHECK FAILED" not in text
    # no progress-bar redraws on stderr: a bar is a widget, or one line of text
    noise = [o for o in outputs if o.get("name") == "stderr" and "\r" in "".join(o["text"])]
    assert not noise, "".join(noise[0]["text"])[:300]
