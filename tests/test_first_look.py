"""What a new user sees first: ``python -m minigrad``, ``help(minigrad)``, the error for a GPU
that is not there, and where a quick lesson run puts its figures."""
import io
import os
import pathlib
import subprocess
import sys

import pytest

import minigrad as mg
from minigrad import __main__ as info

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_python_m_minigrad_says_versions_blas_gpu_and_where_to_start():
    out = io.StringIO()
    assert info.main(out) == 0
    text = out.getvalue()
    import numpy as np
    assert f"minigrad {mg.__version__}" in text and f"NumPy    {np.__version__}" in text
    assert "BLAS: " in text and "GPU      " in text
    assert "lessons/01_tensors_autograd.py" in text


def test_python_m_minigrad_runs_as_a_command():
    proc = subprocess.run([sys.executable, "-m", "minigrad"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "minigrad" in proc.stdout and "BLAS" in proc.stdout


def test_the_package_docstring_says_what_it_is_and_where_to_start():
    doc = mg.__doc__
    assert doc.splitlines()[0].startswith("minigrad: ")
    assert "python -m minigrad" in doc and "lessons/01_tensors_autograd.py" in doc


@pytest.mark.skipif(mg.cuda.is_available(), reason="a GPU is there: no error to see")
@pytest.mark.parametrize("argv, env, named", [
    (["--device", "cuda"], {}, "--device cuda"),
    ([], {"MINIGRAD_DEVICE": "cuda"}, "MINIGRAD_DEVICE=cuda"),
])
def test_no_gpu_error_names_what_asked_for_the_gpu(argv, env, named, monkeypatch):
    from minigrad_lessons import common
    monkeypatch.delenv("MINIGRAD_DEVICE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit, match=named):
        common.setup("a lesson", argv=argv)
    mg.set_default_device(None)


def test_backend_error_names_the_environment_variable(monkeypatch):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed: no import error to see")
    except ImportError:
        pass
    monkeypatch.setenv("MINIGRAD_DEVICE", "cuda")
    mg.set_default_device(None)
    with pytest.raises(RuntimeError, match="MINIGRAD_DEVICE=cuda"):
        mg.zeros(2)
    monkeypatch.delenv("MINIGRAD_DEVICE")
    with pytest.raises(RuntimeError) as err:
        mg.zeros(2, device="cuda")
    assert "MINIGRAD_DEVICE" not in str(err.value)


def test_quick_runs_write_apart_and_say_so_in_the_title(monkeypatch, tmp_path):
    from minigrad_lessons import common
    monkeypatch.delenv("MINIGRAD_LESSONS_OUT", raising=False)
    monkeypatch.setattr(common, "_where", [tmp_path])      # as if the lesson were saved there
    saved = list(common._runs)
    try:
        common._runs[:] = [common.Run(quick=True, device="cpu", seed=0)]
        assert common.out_dir() == tmp_path / "out" / "quick"
        fig, ax = common.figure()
        ax.plot([0, 1])
        fig.suptitle("loss")
        titles = []
        monkeypatch.setattr(type(fig), "savefig",
                            lambda self, path, **kw: titles.append(self.get_suptitle()))
        path = common.savefig(fig, "99_demo")
        assert path == tmp_path / "out" / "quick" / "99_demo.png"
        assert titles == ["loss (quick run)"]
        common._runs[:] = [common.Run(quick=False, device="cpu", seed=0)]
        assert common.out_dir() == tmp_path / "out"
    finally:
        common._runs[:] = saved


def test_progress_is_one_clean_line_when_not_a_terminal(capsys):
    from minigrad_lessons import common
    if not hasattr(sys.stderr, "isatty") or sys.stderr.isatty():
        pytest.skip("stderr is a terminal: the bar redraws in place there")
    for _ in common.progress(range(1000), desc="training"):
        pass
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("training") <= 2 and "1000/1000" in out
