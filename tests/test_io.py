"""mg.save / mg.load: round trips of model and optimizer state, atomic writes, and clear
errors for files that are not minigrad checkpoints (never unpickled)."""
import os
import pickle
import zipfile

import numpy as np
import pytest

import minigrad as mg
import minigrad.io
from minigrad import nn, optim


def small_model():
    return nn.Sequential(nn.Embedding(6, 4, padding_idx=0), nn.LayerNorm(4), nn.Linear(4, 3))


def train_steps(model, opt, n):
    for _ in range(n):
        opt.zero_grad()
        logits = model(mg.tensor([[1, 2, 3], [4, 5, 0]]))
        mg.functional.cross_entropy(logits, [[0, 1, 2], [2, 1, 0]]).backward()
        opt.step()


def test_model_and_optimizer_state_round_trip(tmp_path):
    mg.manual_seed(0)
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    train_steps(model, opt, 3)
    path = tmp_path / "ckpt.npz"
    mg.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3,
             "note": "après", "history": [1.5, 0.5], "shape": (2, 3)}, path)
    ckpt = mg.load(path)
    assert ckpt["epoch"] == 3 and ckpt["note"] == "après"
    assert ckpt["history"] == [1.5, 0.5] and ckpt["shape"] == (2, 3)
    assert list(ckpt["model"]) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert isinstance(ckpt["model"][k], np.ndarray) and ckpt["model"][k].dtype == v.dtype
        np.testing.assert_array_equal(ckpt["model"][k], v.numpy())
    assert set(ckpt["optim"]["state"]) == set(range(len(list(model.parameters()))))

    # A fresh model and optimizer loaded from the file continue exactly like the original.
    model2 = small_model()
    opt2 = optim.Adam(model2.parameters(), lr=0.5)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optim"])
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    train_steps(model, opt, 2)
    train_steps(model2, opt2, 2)
    for (n, p), q in zip(model.named_parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)


def test_save_accepts_a_string_path_and_overwrites(tmp_path):
    path = str(tmp_path / "a.npz")
    mg.save({"x": np.arange(3)}, path)
    mg.save({"x": np.arange(4)}, path)
    np.testing.assert_array_equal(mg.load(path)["x"], np.arange(4))
    assert os.listdir(tmp_path) == ["a.npz"]


def test_a_checkpoint_gets_the_same_permissions_as_any_new_file(tmp_path):
    mg.save({"w": np.ones(2)}, tmp_path / "m.npz")
    (tmp_path / "plain.txt").write_text("x")
    mode = lambda name: os.stat(tmp_path / name).st_mode & 0o777      # noqa: E731
    assert mode("m.npz") == mode("plain.txt")


def test_save_leaves_no_temporary_files(tmp_path):
    mg.save(small_model().state_dict(), tmp_path / "m.npz")
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    mg.save({"w": np.ones(3)}, path)
    before = path.read_bytes()

    def disk_full(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(minigrad.io.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        mg.save({"w": np.zeros(3)}, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_save_rejects_what_it_cannot_store_without_writing(tmp_path):
    with pytest.raises(TypeError, match="mg.save: cannot store a object; only arrays, tensors"):
        mg.save({"x": object()}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"mg.save: dict keys must be str or int, got \(1, 2\)"):
        mg.save({(1, 2): 1}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "nope.npz")


def test_a_plain_npz_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.ones(2))
    with pytest.raises(ValueError, match=r"mg.load: .*plain.npz is not a readable minigrad "
                                         r"checkpoint \(it has no __minigrad__ header\)"):
        mg.load(path)


def test_a_foreign_header_is_rejected(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, __minigrad__=np.array('{"format": "something-else"}'))
    with pytest.raises(ValueError, match="its header names format 'something-else'"):
        mg.load(path)
    np.savez(path, __minigrad__=np.array("not json"))
    with pytest.raises(ValueError, match="is not a readable minigrad checkpoint"):
        mg.load(path)


@pytest.mark.parametrize("header", [
    '{"format": "minigrad-checkpoint", "version": 1, "tree": {"__array__": "a9"}}',
    '{"format": "minigrad-checkpoint", "version": 1, "tree": {"__list__": 5}}',
    '{"format": "minigrad-checkpoint", "version": 1}',
    '[1, 2]',
])
def test_a_damaged_header_raises_a_clear_error(tmp_path, header):
    path = tmp_path / "damaged.npz"
    np.savez(path, __minigrad__=np.array(header))
    with pytest.raises(ValueError, match="is not a readable minigrad checkpoint"):
        mg.load(path)


def test_a_newer_version_is_rejected(tmp_path):
    path = tmp_path / "new.npz"
    np.savez(path, __minigrad__=np.array('{"format": "minigrad-checkpoint", "version": 99, '
                                         '"tree": null}'))
    with pytest.raises(ValueError, match="it is version 99, newer than this minigrad"):
        mg.load(path)


@pytest.mark.parametrize("content", [b"", b"garbage bytes, not a zip file", b"PK\x03\x04trunc"])
def test_corrupt_files_raise_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="is not a readable minigrad checkpoint"):
        mg.load(path)


def test_a_truncated_checkpoint_raises_a_clear_error(tmp_path):
    path = tmp_path / "m.npz"
    mg.save(small_model().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="is not a readable minigrad checkpoint"):
        mg.load(path)


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickled_content_is_never_unpickled(tmp_path, capfd):
    # A checkpoint-looking file whose array holds a pickle: loading must refuse, not run it.
    path = tmp_path / "evil.npz"
    header = '{"format": "minigrad-checkpoint", "version": 1, "tree": {"__array__": "a0"}}'
    np.savez(path, __minigrad__=np.array(header), a0=np.array([Boom()], dtype=object))
    with pytest.raises(ValueError, match="is not a readable minigrad checkpoint"):
        mg.load(path)
    # A bare pickle renamed .npz, too.
    path.write_bytes(pickle.dumps({"w": Boom()}))
    with pytest.raises(ValueError, match="is not a readable minigrad checkpoint"):
        mg.load(path)
    assert "pwned" not in capfd.readouterr().out


def test_checkpoint_is_a_zip_of_npy_files(tmp_path):
    path = tmp_path / "m.npz"
    mg.save({"w": np.ones(2)}, path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["__minigrad__.npy", "a0.npy"]


@pytest.mark.gpu
def test_gpu_state_saves_to_the_host_and_loads_back_onto_the_gpu(tmp_path):
    model = small_model().to("cuda")
    mg.save(model.state_dict(), tmp_path / "g.npz")
    sd = mg.load(tmp_path / "g.npz")
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    other = small_model().to("cuda")
    other.load_state_dict(sd)
    assert all(p.device == "cuda" for p in other.parameters())
    np.testing.assert_array_equal(other[2].weight.numpy(), model[2].weight.numpy())
