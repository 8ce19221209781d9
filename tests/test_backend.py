"""minigrad.backend and minigrad.cuda: array modules, devices, the default device from
MINIGRAD_DEVICE, scatter-add and random generators. The GPU tests skip without a GPU."""
import platform
import sys

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import minigrad as mg
from minigrad import backend
from tests.helpers import GPU


def test_numpy_arrays_get_numpy():
    assert backend.get_array_module(np.zeros(2)) is np
    assert backend.get_array_module() is np
    assert backend.device_of(np.zeros(2)) == "cpu"
    assert not backend.is_cupy_array(np.zeros(2))


def test_devices_are_checked_by_name():
    assert backend.check_device("cpu") == "cpu"
    assert backend.check_device("cuda:0") == "cuda"
    with pytest.raises(ValueError, match="unknown device 'tpu': expected 'cpu', 'cuda'"):
        backend.check_device("tpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.tensor([1.0]).to("tpu")


def test_minigrad_device_sets_the_default(monkeypatch):
    monkeypatch.setattr(backend, "_state", dict(backend._state, device=None))
    monkeypatch.setenv("MINIGRAD_DEVICE", "cpu")
    assert backend.default_device() == "cpu"
    monkeypatch.setenv("MINIGRAD_DEVICE", " CUDA:0 ")
    assert backend.default_device() == "cuda"
    monkeypatch.setenv("MINIGRAD_DEVICE", "gpu")
    with pytest.raises(ValueError, match="MINIGRAD_DEVICE='gpu': expected 'cpu', 'cuda' or 'strict'"):
        backend.default_device()
    monkeypatch.delenv("MINIGRAD_DEVICE")
    assert backend.default_device() == "cpu"


def test_set_default_device_overrides_the_environment(monkeypatch):
    monkeypatch.setattr(backend, "_state", dict(backend._state, device=None))
    monkeypatch.setenv("MINIGRAD_DEVICE", "cuda")
    mg.set_default_device("cpu")
    assert mg.tensor([1.0]).device == "cpu" and mg.zeros(2).device == "cpu"
    mg.set_default_device(None)
    assert backend.default_device() == "cuda"


def test_the_core_imports_without_cupy():
    # A fresh interpreter where "import cupy" fails: minigrad still imports and runs on NumPy.
    import subprocess
    code = ("import sys; sys.modules['cupy'] = None\n"
            "import minigrad as mg\n"
            "x = mg.tensor([1.0, 2.0], requires_grad=True); (x * x).sum().backward()\n"
            "assert mg.cuda.is_available() is False\n"
            "try:\n    mg.tensor([1.0], device='cuda')\n"
            "except RuntimeError as e:\n    assert 'needs CuPy' in str(e), e\n"
            "else:\n    raise AssertionError('no error')\n"
            "print(x.grad.tolist())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"MINIGRAD_DEVICE": "cpu", "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[2.0, 4.0]"


def test_cuda_is_available_is_a_cached_bool():
    first = mg.cuda.is_available()
    assert isinstance(first, bool) and mg.cuda.is_available() is first
    assert mg.cuda.device_count() >= (1 if first else 0)
    mg.cuda.synchronize()                 # a no-op without a GPU


def test_scatter_add_adds_repeated_indices():
    target = np.zeros(4)
    backend.scatter_add(target, np.array([0, 2, 0, 0]), np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(target, [8.0, 0.0, 2.0, 0.0])


@given(st.integers(1, 6), st.integers(0, 3), st.integers(0, 12), st.booleans(),
       st.integers(0, 2 ** 32 - 1))
@example(V=4, D=2, M=12, negative=False, seed=3)    # runs of lengths 6, 2, 1 and 3 at once
def test_scatter_add_of_rows_matches_a_loop(V, D, M, negative, seed):
    rng = np.random.default_rng(seed)
    index = rng.integers(-V if negative else 0, V, size=M)
    values = rng.standard_normal((M, D))
    expected = rng.standard_normal((V, D))
    target = expected.copy()
    for i, v in zip(index, values):
        expected[i] += v
    backend.scatter_add(target, index, values)
    np.testing.assert_allclose(target, expected, rtol=1e-12, atol=1e-12)


def test_to_device_and_to_numpy_on_the_cpu():
    a = np.arange(3.0)
    assert backend.to_device(a, "cpu") is a
    assert isinstance(backend.to_numpy(a), np.ndarray)


def test_manual_seed_reseeds_the_generators():
    mg.manual_seed(5)
    a = backend.rng_for(np).random(3)
    mg.manual_seed(5)
    np.testing.assert_array_equal(backend.rng_for(np).random(3), a)
    assert backend.host_rng() is backend.rng_for(np)


@pytest.mark.gpu
@pytest.mark.strict
def test_tensors_move_between_devices():
    x = mg.tensor([[1.0, 2.0]], device="cpu")
    y = x.to(GPU)
    assert y.device == GPU and backend.is_cupy_array(y.array)
    assert backend.get_array_module(y.array).__name__ == "cupy"
    np.testing.assert_array_equal(y.numpy(force=True), x.numpy(force=True))
    assert y.to("cpu").device == "cpu"


@pytest.mark.gpu
@pytest.mark.strict
def test_scatter_add_on_the_gpu_adds_repeated_indices():
    xp = backend.xp_for(GPU)
    target = xp.zeros(3)
    backend.scatter_add(target, xp.asarray([1, 1, 2]), xp.asarray([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(target.get(), [0.0, 3.0, 3.0])


@pytest.mark.gpu
@pytest.mark.strict
def test_seeded_draws_repeat_on_the_gpu():
    xp = backend.xp_for(GPU)
    mg.manual_seed(9)
    a = backend.rng_for(xp).random(4).get()
    mg.manual_seed(9)
    np.testing.assert_array_equal(backend.rng_for(xp).random(4).get(), a)
    # Parameters are drawn on the host, so a seeded model starts the same on both devices.
    mg.manual_seed(3)
    cpu = mg.nn.Linear(3, 2, device="cpu").weight.numpy(force=True)
    mg.manual_seed(3)
    np.testing.assert_array_equal(mg.nn.Linear(3, 2, device=GPU).weight.numpy(force=True), cpu)


@given(st.integers(0, 150), st.integers(0, 150), st.booleans())
@example(R=64, C=64, strided=False)        # exactly one tile
@example(R=129, C=65, strided=True)        # partial tiles on both edges
def test_contiguous_transpose_is_the_transpose(R, C, strided):
    step = 2 if strided else 1
    a = np.arange(R * C * step, dtype=np.float32).reshape(R, C * step)[:, ::step]
    t = backend.contiguous_transpose(a)
    np.testing.assert_array_equal(t, a.T)
    assert t.flags.c_contiguous and t.dtype == a.dtype


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_keep_freed_memory_is_taken_by_glibc():
    assert backend.keep_freed_memory() is True
