"""Checkpoints that a hostile file or a crash cannot hurt: every hostile file of
tests/hostile_files.py raises the clear error with little memory, and a save killed in the
middle, again and again, leaves a readable checkpoint and no litter once the next save ends."""
import os
import re
import signal
import time
import tracemalloc

import numpy as np
import pytest

import minigrad as mg
import minigrad.atomic_write

from .hostile_files import HOSTILE, HOSTILE_RSS, peak_rss_growth_in_a_child

PEAK_LIMIT = 50 * 2 ** 20


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each hostile file built once for the module (the zip bombs take a moment to deflate)."""
    folder, paths = str(tmp_path_factory.mktemp("hostile")), {}

    def get(build):
        if build not in paths:
            paths[build] = build(folder)
        return paths[build]
    return get


@pytest.mark.parametrize("as_file", [False, True], ids=["path", "open file"])
@pytest.mark.parametrize("build, kwargs, match", [h[1:] for h in HOSTILE],
                         ids=[h[0] for h in HOSTILE])
def test_a_hostile_file_raises_the_clear_error_with_little_memory(built, capfd, build, kwargs,
                                                                  match, as_file):
    path = built(build)
    with open(path, "rb") as f:
        tracemalloc.start()
        try:
            with pytest.raises(mg.io.CheckpointError, match=match) as err:
                mg.load(f if as_file else path, **kwargs)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert str(err.value).startswith(f"mg.load: {path} ")
    assert peak < PEAK_LIMIT, f"peak {peak / 2 ** 20:.1f} MiB"
    assert "pwned" not in capfd.readouterr().out


def test_a_hostile_module_file_never_reaches_the_constructor(tmp_path, monkeypatch):
    from .hostile_files import module_huge_state
    calls = []
    monkeypatch.setattr(mg.nn.Linear, "__init__", lambda self, *a, **k: calls.append(a))
    with pytest.raises(mg.io.CheckpointError, match="passes max_bytes"):
        mg.load(module_huge_state(str(tmp_path)), weights_only=False)
    assert calls == []


def test_max_bytes_counts_every_array(tmp_path):
    mg.save({"a": np.ones(100), "b": np.ones(100)}, tmp_path / "m.npz")
    assert len(mg.load(tmp_path / "m.npz", max_bytes=1600)) == 2
    with pytest.raises(mg.io.CheckpointError, match=r"array 'b' declares shape \(100,\) float64 "
                                                    r"= 800 bytes, which, after 800 bytes of "
                                                    r"other arrays, passes max_bytes=1599"):
        mg.load(tmp_path / "m.npz", max_bytes=1599)
    mg.save({"a": np.ones(100)}, tmp_path / "m.safetensors")
    with pytest.raises(mg.io.CheckpointError, match="passes max_bytes=799"):
        mg.load(tmp_path / "m.safetensors", max_bytes=799)


def test_a_compressed_member_within_its_declared_size_loads(tmp_path):
    # Compressed members come from elsewhere (mg.save never compresses); honest ones load.
    path = tmp_path / "c.npz"
    np.savez_compressed(path, __minigrad__=np.array(
        '{"format": "minigrad-checkpoint", "version": 1, "tree": {"__array__": "w"}}'),
        w=np.arange(1000.0).reshape(10, 100).T)             # Fortran order, too
    np.testing.assert_array_equal(mg.load(path), np.arange(1000.0).reshape(10, 100).T)


@pytest.mark.skipif(not hasattr(os, "fork") or minigrad.atomic_write.fcntl is None,
                    reason="needs fork and fcntl")
def test_saves_killed_mid_write_leave_a_readable_checkpoint_and_no_litter(tmp_path):
    path = tmp_path / "m.npz"
    states = [{f"w{i}": np.full((128, 256), k, np.float32) for i in range(16)} for k in (1, 2)]
    mg.save(states[0], path)
    rng = np.random.default_rng(0)
    litter_seen = 0
    for kill in range(15):
        pid = os.fork()
        if pid == 0:                                     # the child saves until it is killed
            try:
                while True:
                    for state in states:
                        mg.save(state, path)
            finally:
                os._exit(1)
        # Kill it at a random moment after it has begun a save (a new temporary file shows).
        before = set(os.listdir(tmp_path))
        deadline = time.monotonic() + 10
        while not any(".tmp-" in n and n not in before for n in os.listdir(tmp_path)) \
                and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.02))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        ckpt = mg.load(path)                             # old or new, never half of one
        assert set(ckpt) == set(states[0])
        k = ckpt["w0"][0, 0]
        assert k in (1, 2) and all((a == k).all() for a in ckpt.values())
        litter_seen += sum(".tmp-" in n for n in os.listdir(tmp_path))
    assert litter_seen > 0                               # the kills did land mid-write
    mg.save(states[1], path)
    assert os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.skipif(not hasattr(os, "fork") or minigrad.atomic_write.fcntl is None,
                    reason="needs fork and fcntl")
def test_two_processes_saving_the_same_target_never_delete_each_others_file(tmp_path):
    # Each save's cleanup runs while the other save writes: the writer's lock must protect it.
    path = tmp_path / "m.npz"
    state = {f"w{i}": np.ones((64, 64), np.float32) for i in range(8)}
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for _ in range(25):
                    mg.save(state, path)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    assert [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids] == [0, 0]
    assert os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.exists("/proc/self/status"),
                    reason="needs fork and /proc")
@pytest.mark.parametrize("build, kwargs, match", [h[1:] for h in HOSTILE_RSS],
                         ids=[h[0] for h in HOSTILE_RSS])
def test_numbers_in_a_whole_module_file_cannot_make_a_rebuild_allocate(tmp_path, build, kwargs,
                                                                       match):
    path = build(str(tmp_path))

    def attempt():
        try:
            m = mg.load(path, **kwargs)
        except mg.io.CheckpointError as e:
            return str(e)
        numbers = [f"{k}={v}" for k, v in vars(m).items() if type(v) is int]
        return f"loaded {type(m).__name__} " + " ".join(numbers)

    growth, error = peak_rss_growth_in_a_child(attempt)
    assert re.search(match, error), error
    assert growth < PEAK_LIMIT, f"peak resident memory grew by {growth / 2 ** 20:.0f} MiB"
