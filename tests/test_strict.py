"""The strict device: NumPy kept to CuPy's rules, so that the GPU path is tested on the CPU.

These tests check the stand-in itself (that it refuses what CuPy refuses, and counts what a
GPU pays for); ``MINIGRAD_DEVICE=strict python -m pytest -m strict`` then runs the library's
own tests on it (see .ci/run).
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, models, nn, strict

xp = strict.xp


def _device_array():
    return xp.asarray(np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("convert", [np.asarray, np.array, lambda a: np.asarray(a, dtype=float),
                                     np.ascontiguousarray])
def test_np_asarray_of_a_device_array_raises_type_error(convert):
    with pytest.raises(TypeError, match="implicit conversion"):
        convert(_device_array())


@pytest.mark.parametrize("call", [
    lambda a: np.sum(a), lambda a: np.tanh(a), lambda a: np.partition(a, 1, axis=1),
    lambda a: np.add.at(a, 0, 1.0), lambda a: np.concatenate([a, a]),
    lambda a: np.where(a > 1, a, 0.0), lambda a: a + np.ones(3), lambda a: np.ones(3) * a,
    lambda a: xp.maximum(a, np.ones(3)),
], ids=["sum", "tanh", "partition", "add.at", "concatenate", "where", "op", "rop", "xp_mix"])
def test_numpy_functions_and_arrays_never_meet_a_device_array(call):
    with pytest.raises(TypeError, match="strict|NumPy"):
        call(_device_array())


def test_its_module_has_only_the_names_cupy_has():
    assert "partition" in strict.names("cupy") and "tanh" in strict.names("cupy")
    xp.partition, xp.tanh, xp.random.default_rng       # noqa: B018 - CuPy has these
    # NumPy has each of these; CuPy, hence the stand-in, does not
    for get, name in [(lambda: xp.insert, "insert"), (lambda: xp.errstate, "errstate"),
                      (lambda: xp.random.default_rng(0).choice, "choice"),
                      (lambda: xp.random.default_rng(0).normal, "normal"),
                      (lambda: _device_array().resize, "resize")]:
        with pytest.raises(AttributeError, match=f"has no attribute '{name}'"):
            get()


def test_results_stay_on_the_device_and_reductions_are_arrays():
    a = _device_array()
    s = a.sum()
    assert type(s) is strict.ndarray and s.shape == ()          # CuPy: a 0-d array, no scalar
    assert type(a[0, 1]) is strict.ndarray
    out = xp.empty((2, 3))
    assert xp.tanh(a, out=out) is out
    np.testing.assert_allclose(out.get(), np.tanh(np.arange(6.0).reshape(2, 3)))
    assert type(a.get()) is np.ndarray


def test_transfers_and_synchronisations_are_counted():
    a = _device_array()
    with strict.watch() as w:
        b = xp.tanh(a) * 2 + a.sum(axis=0)
    assert (w.h2d, w.d2h, w.sync) == (0, 0, 0)
    with strict.watch() as w:
        float(b.sum())
        b.max().item()
        bool((b > 0).all())
    assert (w.h2d, w.d2h, w.sync) == (0, 0, 3)
    with strict.watch() as w:
        xp.asarray([1.0, 2.0])
        b[np.array([0, 1])]
        b.get()
    assert (w.h2d, w.d2h, w.sync) == (2, 1, 0)


def test_a_tensor_on_it_reports_the_strict_device():
    t = mg.tensor([1.0, 2.0], device="strict")
    assert t.device == "strict" and t.device != "cpu" and t.device == mg.device("strict")
    assert backend.get_array_module(t.array) is xp
    assert t.to("cpu").device == "cpu" and type(t.to("cpu").array) is np.ndarray
    np.testing.assert_array_equal(t.numpy(force=True), [1.0, 2.0])
    with pytest.raises(TypeError, match="cuda tensor|implicit conversion"):
        np.asarray(t)


@pytest.mark.parametrize("T", [3, 12])
def test_no_transfer_or_sync_inside_the_lstm_time_loop(T):
    """Forward and backward of a 2-layer LSTM on device data cross to the host a fixed
    number of times whatever T (here: never), so nothing crosses inside the time loop."""
    mg.manual_seed(0)
    lstm = nn.LSTM(4, 5, num_layers=2).to("strict")
    x = mg.tensor(np.random.default_rng(0).standard_normal((T, 3, 4)), dtype=np.float32,
                  device="strict", requires_grad=True)
    with strict.watch() as w:
        out, (h, c) = lstm(x)
        (out.sum() + c.sum()).backward()
    assert (w.h2d, w.d2h, w.sync) == (0, 0, 0)
    assert x.grad.device == "strict"


REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("lesson", ["06_lstm", "13_seq2seq", "21_on_the_gpu"])
def test_lesson_runs_on_the_strict_device_in_quick_mode(lesson, tmp_path):
    path = REPO / "lessons" / f"{lesson}.py"
    env = dict(os.environ, MINIGRAD_QUICK="1", MINIGRAD_LESSONS_OUT=str(tmp_path),
               MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(path), "--quick", "--device", "strict"],
                          cwd=path.parent, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert "device=strict" in proc.stdout and "CHECK FAILED" not in proc.stdout


def _training_step_counts(cell, T, layers):
    mg.manual_seed(0)
    model = models.RNNLanguageModel(20, 8, 12, cell=cell, num_layers=layers).to("strict")
    opt = mg.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(1)
    x, y = (mg.tensor(rng.integers(3, 20, (3, T)), device="strict") for _ in range(2))
    with strict.watch() as w:
        loss, _ = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return w.h2d, w.d2h, w.sync


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_training_step_waits_for_the_device_a_fixed_number_of_times(cell):
    """Neither longer sequences nor more parameters add a copy or a wait: the only waits are
    the input checks (targets and token ids in range) and clipping's one norm."""
    counts = {(T, layers): _training_step_counts(cell, T, layers) for T in (4, 9) for layers in (1, 3)}
    assert set(counts.values()) == {(0, 0, 3)}, counts
