"""A lesson runs on one BLAS thread whatever its import order, unless the user chose a count.

lessons/common.py limits the BLAS NumPy has loaded through threadpoolctl, at run time: a
lesson that imports NumPy before common (02, 05, 06, 07, 08, 12 do) gets one thread too, and
prints the same numbers on every machine.
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(MINIGRAD_LESSONS_OUT=str(tmp_path), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.update(extra)
    return env


def _run(args, env, cwd=LESSONS):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def _numbers(stdout):
    """The numbers a lesson prints, without the progress bars' rates and the timings."""
    lines = [line for line in stdout.splitlines()
             if "it/s" not in line and "s/it" not in line and not re.search(r"\d\s*(ms|s)\b", line)]
    return re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", "\n".join(lines))


@pytest.mark.slow
def test_lesson_06_prints_the_same_numbers_with_the_thread_variables_unset(tmp_path):
    # Lesson 06 imports NumPy before common. Its quick run prints the same numbers on one
    # thread or two, but its default run does not: the tanh RNN reached 50.2% with two threads
    # and 22.7% with one. The Haswell kernels are where the thread count changes the sums
    # (OpenBLAS splits the work otherwise there), so the test picks them, and the default run.
    haswell = dict(OPENBLAS_CORETYPE="Haswell", OPENBLAS_L2_SIZE="512")
    unset = _run(["06_lstm.py"], _env(tmp_path / "unset", **haswell))
    one = _run(["06_lstm.py"], _env(tmp_path / "one", OPENBLAS_NUM_THREADS="1", **haswell))
    assert unset.returncode == one.returncode, (unset.stderr[-2000:], one.stderr[-2000:])
    assert "accuracy" in one.stdout, one.stdout[-2000:]
    assert _numbers(unset.stdout) == _numbers(one.stdout), \
        f"--- unset ---\n{unset.stdout[-3000:]}\n--- OPENBLAS_NUM_THREADS=1 ---\n{one.stdout[-3000:]}"


SHOW_THREADS = """\
import numpy as np          # before common, as several lessons do
import common
import threadpoolctl
print("blas threads", sorted({i["num_threads"] for i in threadpoolctl.threadpool_info()
                              if i["user_api"] == "blas"}))
print("child OPENBLAS_NUM_THREADS", __import__("os").environ.get("OPENBLAS_NUM_THREADS"))
"""


def _show_threads(tmp_path, **extra):
    pytest.importorskip("threadpoolctl")
    script = tmp_path / "show_threads.py"
    script.write_text(SHOW_THREADS)
    env = _env(tmp_path, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(LESSONS), env["PYTHONPATH"]])
    proc = _run([str(script)], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_one_blas_thread_when_numpy_loads_before_common(tmp_path):
    out = _show_threads(tmp_path)
    assert "blas threads [1]\n" in out, out
    assert "child OPENBLAS_NUM_THREADS 1\n" in out, out


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a second BLAS thread needs a second core")
def test_the_users_thread_count_is_kept(tmp_path):
    out = _show_threads(tmp_path, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2")
    assert "blas threads [2]\n" in out, out
    assert "child OPENBLAS_NUM_THREADS 2\n" in out, out


def test_without_threadpoolctl_the_environment_route_and_a_note(tmp_path):
    # a threadpoolctl that cannot be imported stands in front of the installed one
    (tmp_path / "no_tpc").mkdir()
    (tmp_path / "no_tpc" / "threadpoolctl.py").write_text("raise ImportError('not installed')\n")
    script = tmp_path / "lesson.py"
    script.write_text("import common\nimport os\nprint('child', os.environ['OPENBLAS_NUM_THREADS'])\n")
    env = _env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "no_tpc"), str(LESSONS), env["PYTHONPATH"]])
    proc = _run([str(script)], env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    notes = [line for line in proc.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "threadpoolctl" in notes[0], proc.stdout
    assert "child 1\n" in proc.stdout, proc.stdout
