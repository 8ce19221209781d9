"""mg.save / mg.load: round trips of model and optimizer state, atomic writes, and clear
errors for files that are not minigrad checkpoints (never unpickled)."""
import copy
import io
import os
import pickle
import sys
import zipfile

import numpy as np
import pytest

import minigrad as mg
import minigrad.atomic_write
import minigrad.checkpoint_format
from minigrad import nn, optim
from minigrad.models.language_model import RNNLanguageModel
from tests.helpers import GPU


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
        np.testing.assert_array_equal(ckpt["model"][k], v.numpy(force=True))
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
        np.testing.assert_array_equal(p.numpy(force=True), q.numpy(force=True), err_msg=n)


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

    def disk_full(f, arrays, header):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(minigrad.checkpoint_format, "write_npz", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        mg.save({"w": np.zeros(3)}, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_save_rejects_what_it_cannot_store_without_writing(tmp_path):
    with pytest.raises(TypeError, match=r"mg.save: cannot store a object \(at x\); only "
                                        r"arrays, tensors"):
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
                                         r"checkpoint \(it has no __minigrad__ header; a "
                                         r"plain numpy.savez file is read with numpy.load\)"):
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


def test_a_newer_version_is_rejected_naming_the_version(tmp_path):
    path = tmp_path / "new.npz"
    np.savez(path, __minigrad__=np.array('{"format": "minigrad-checkpoint", "version": 99, '
                                         '"minigrad": "7.1.0", "tree": null}'))
    with pytest.raises(ValueError, match=r"it was written by minigrad 7\.1\.0 in checkpoint "
                                         r"format version 99; this minigrad .* reads versions "
                                         r"up to 3: upgrade minigrad"):
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
        assert sorted(z.namelist()) == ["__minigrad__.npy", "w.npy"]


@pytest.mark.gpu
@pytest.mark.strict
def test_gpu_state_saves_to_the_host_and_loads_back_onto_the_gpu(tmp_path):
    model = small_model().to(GPU)
    mg.save(model.state_dict(), tmp_path / "g.npz")
    sd = mg.load(tmp_path / "g.npz")
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    other = small_model().to(GPU)
    other.load_state_dict(sd)
    assert all(p.device == GPU for p in other.parameters())
    np.testing.assert_array_equal(other[2].weight.numpy(force=True), model[2].weight.numpy(force=True))


# ---------------------------------------------------------------- names, old files, open files

def test_a_state_dict_is_stored_under_its_own_names(tmp_path):
    lstm = nn.LSTM(3, 4, num_layers=2)
    mg.save(lstm.state_dict(), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:           # plain NumPy, no minigrad needed
        assert set(z.files) == set(lstm.state_dict()) | {"__minigrad__"}
        np.testing.assert_array_equal(z["weight_ih_l0"], lstm.weight_ih_l0.numpy(force=True))
    # Nested structures join the names with "/"; names unfit for a file path are numbered.
    mg.save({"model": lstm.state_dict(), "optim": {"state": {0: np.ones(2)}},
             "odd": {"a b/../c": np.zeros(1)}}, tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz") as z:
        np.testing.assert_array_equal(z["model/bias_hh_l1"], lstm.bias_hh_l1.numpy(force=True))
        np.testing.assert_array_equal(z["optim/state/0"], np.ones(2))
        assert not any(".." in k for k in z.files)
    back = mg.load(tmp_path / "n.npz")
    assert set(back["odd"]) == {"a b/../c"} and back["optim"]["state"][0].tolist() == [1, 1]


def test_a_checkpoint_in_the_version_1_format_still_loads():
    # Written by the mg.save of minigrad 0.1.0 (arrays under "a0", "a1", ...).
    path = os.path.join(os.path.dirname(__file__), "data", "checkpoint_v1.npz")
    ckpt = mg.load(path)
    assert ckpt["epoch"] == 7 and ckpt["note"] == "v1" and ckpt["shape"] == (2, 3)
    np.testing.assert_array_equal(ckpt["ids"], np.arange(4))
    np.testing.assert_allclose(ckpt["model"]["bias"], [-0.27686763, -0.1350002], rtol=1e-6, atol=1e-6)
    assert ckpt["model"]["weight"].shape == (2, 3) and ckpt["model"]["weight"].dtype == np.float32
    assert ckpt["optim"]["param_groups"][0]["momentum"] == 0.9
    np.testing.assert_allclose(ckpt["optim"]["state"][1]["momentum_buffer"], [4, 4])
    model = nn.Linear(3, 2)
    model.load_state_dict(ckpt["model"])
    np.testing.assert_array_equal(model.bias.numpy(force=True), ckpt["model"]["bias"])


@pytest.mark.parametrize("format", ["npz", "safetensors"])
def test_an_open_file_round_trips_and_stays_the_callers(tmp_path, format):
    sd = small_model().state_dict()
    with open(tmp_path / "f.bin", "wb") as f:
        f.write(b"")
        mg.save(sd, f, format=format)
        assert not f.closed
    with open(tmp_path / "f.bin", "rb") as f:
        back = mg.load(f)                                 # the format is told by its bytes
        assert not f.closed
    assert list(back) == list(sd) or format == "safetensors"
    for k, v in sd.items():
        np.testing.assert_array_equal(back[k], v.numpy(force=True))
    buf = io.BytesIO()
    mg.save({"x": np.arange(3), "n": 1}, buf, format=format)
    buf.seek(0)
    assert mg.load(buf)["n"] == 1


def test_a_non_seekable_stream_loads():
    buf = io.BytesIO()
    mg.save({"x": np.arange(3)}, buf)

    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self.src = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.src.readinto(b)

    np.testing.assert_array_equal(mg.load(Pipe(buf.getvalue()))["x"], np.arange(3))


def test_text_mode_files_and_unknown_formats_are_refused(tmp_path):
    with open(tmp_path / "t.txt", "w") as f:
        with pytest.raises(TypeError, match=r"mg.save: expected a path or a file opened for "
                                            r"binary writing \('wb'\), got TextIOWrapper in text"):
            mg.save({"x": 1}, f)
    with open(tmp_path / "t.txt") as f:
        with pytest.raises(TypeError, match=r"mg.load: .*binary reading \('rb'\)"):
            mg.load(f)
    with pytest.raises(ValueError, match="format must be 'npz' or 'safetensors', got 'pt'"):
        mg.save({"x": 1}, io.BytesIO(), format="pt")


def test_a_path_is_saved_by_its_suffix(tmp_path):
    mg.save({"w": np.ones(2)}, tmp_path / "m.pt")            # a torch-style name: npz inside
    assert (tmp_path / "m.pt").read_bytes()[:4] == b"PK\x03\x04"
    mg.save({"w": np.ones(2)}, tmp_path / "m.safetensors")
    assert (tmp_path / "m.safetensors").read_bytes()[8:9] == b"{"
    assert mg.load(tmp_path / "m.pt")["w"].tolist() == mg.load(tmp_path / "m.safetensors")["w"]\
        .tolist() == [1, 1]


# ---------------------------------------------------------------------------- safetensors

def test_safetensors_files_are_read_by_the_safetensors_package(tmp_path):
    import safetensors.numpy
    model = small_model()
    mg.save(model.state_dict(), tmp_path / "m.safetensors")
    read = safetensors.numpy.load_file(tmp_path / "m.safetensors")
    assert set(read) == set(model.state_dict())
    for k, v in model.state_dict().items():
        assert read[k].dtype == v.dtype
        np.testing.assert_array_equal(read[k], v.numpy(force=True))
    # And a file the package wrote (as from PyTorch or Hugging Face) loads as a flat dict.
    safetensors.numpy.save_file({"emb.weight": np.eye(3, dtype=np.float32)},
                                tmp_path / "hf.safetensors")
    back = mg.load(tmp_path / "hf.safetensors")
    assert list(back) == ["emb.weight"] and back["emb.weight"].dtype == np.float32
    np.testing.assert_array_equal(back["emb.weight"], np.eye(3))


def test_safetensors_keeps_minigrad_structure(tmp_path):
    mg.manual_seed(0)
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    train_steps(model, opt, 1)
    mg.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 1},
            tmp_path / "c.safetensors")
    back = mg.load(tmp_path / "c.safetensors")
    assert back["epoch"] == 1 and back["optim"]["param_groups"][0]["lr"] == 0.01
    opt2 = optim.Adam(small_model().parameters())
    opt2.load_state_dict(back["optim"])
    np.testing.assert_array_equal(back["model"]["2.bias"], model[2].bias.numpy(force=True))


def test_safetensors_errors_are_ours(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="safetensors cannot hold array 'names' of dtype <U3"):
        mg.save({"names": np.array(["abc"])}, tmp_path / "s.safetensors")
    assert os.listdir(tmp_path) == []
    monkeypatch.setitem(sys.modules, "safetensors", None)      # as if it were not installed
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"need the safetensors package: pip install -e "
                                          r"'\.\[safetensors\]'"):
        mg.save({"w": np.ones(1)}, tmp_path / "s.safetensors")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------- whole modules

class TiedLM(nn.Module):
    """A user's model, defined at module level so a file can name it."""

    def __init__(self, vocab, hidden, *, tie=True, dtype=None):
        super().__init__()
        self.emb = nn.Embedding(vocab, hidden, dtype=dtype)
        self.out = nn.Linear(hidden, vocab, dtype=dtype)
        if tie:
            self.out.weight = self.emb.weight

    def forward(self, x):
        return self.out(self.emb(x))


def test_a_module_keeps_nothing_for_checkpoints():
    # Whole-module files are whole_module.py's business alone: a Module records no
    # constructor arguments and has no __new__ of its own.
    assert nn.Module.__new__ is object.__new__
    lin = nn.Linear(3, 4, bias=False, dtype=mg.float64)
    assert set(vars(lin)) == {"_parameters", "_modules", "_buffers", "training", "weight",
                              "bias", "in_features", "out_features"}
    clone = copy.deepcopy(nn.ModuleList(nn.Linear(2, 2) for _ in range(2)))
    assert len(clone) == 2


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_a_whole_module_saves_and_rebuilds_without_pickle(tmp_path, suffix):
    mg.manual_seed(0)
    model = TiedLM(7, 4, tie=True)
    opt = optim.SGD(model.parameters(), lr=0.5)
    x = mg.tensor([[1, 2, 3]])
    opt.zero_grad()
    mg.functional.cross_entropy(model(x), [[2, 3, 4]]).backward()
    opt.step()
    model.eval()
    path = tmp_path / f"whole.{suffix}"
    mg.save(model, path)
    with pytest.raises(ValueError, match=r"holds a whole nn.Module \(tests.test_io.TiedLM\); "
                                         r"pass weights_only=False"):
        mg.load(path)
    back = mg.load(path, weights_only=False, map_location="cpu")
    assert type(back) is TiedLM and back.training is False
    assert back.out.weight is back.emb.weight                  # stored once, tied again
    np.testing.assert_array_equal(back(x).numpy(force=True), model(x).numpy(force=True))
    assert all(p.grad is None for p in back.parameters())      # gradients are not saved
    # It trains on: its weights are its own, writable arrays.
    mg.functional.cross_entropy(back(x), [[2, 3, 4]]).backward()
    optim.SGD(back.parameters(), lr=0.5).step()
    assert not np.array_equal(back.emb.weight.numpy(force=True), model.emb.weight.numpy(force=True))
    # The state_dict is there under its own names.
    if suffix == "npz":
        with np.load(path) as z:
            np.testing.assert_array_equal(z["emb.weight"], model.emb.weight.numpy(force=True))


def test_nested_modules_dtypes_and_module_arguments_rebuild(tmp_path):
    mg.manual_seed(1)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
    models = [nn.Sequential(nn.Embedding(5, 3), nn.GRU(3, 4, num_layers=2)).double(),
              TiedLM(6, 3, tie=False, dtype=mg.float64),
              nn.TransformerEncoder(layer, 2),
              RNNLanguageModel(9, 4, 4, cell="gru", tie_weights=True, pad_id=0)]
    for i, model in enumerate(models):
        mg.save({"model": model, "step": i}, tmp_path / "m.npz")
        back = mg.load(tmp_path / "m.npz", weights_only=False)
        assert back["step"] == i and type(back["model"]) is type(model)
        for (k, p), (k2, q) in zip(model.state_dict().items(), back["model"].state_dict().items()):
            assert k == k2 and p.dtype == q.dtype
            np.testing.assert_array_equal(p.numpy(force=True), q.numpy(force=True))


class ConfiguredClassifier(nn.Module):
    """A model built from a program's parsed arguments, as pytorch/examples' SNLI is."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.n_embed, config.d_embed)
        self.out = nn.Linear(config.d_embed, config.d_out)

    def forward(self, x):
        return self.out(self.embed(x).mean(0))


def test_a_module_built_from_an_argparse_namespace_rebuilds(tmp_path):
    import argparse
    mg.manual_seed(2)
    config = argparse.Namespace(n_embed=11, d_embed=3, d_out=4, birnn=True, lr=1e-3,
                                save_path="results", word_vectors=None, sizes=[1, 2])
    model = ConfiguredClassifier(config)
    mg.save(model, tmp_path / "m.npz")
    back = mg.load(tmp_path / "m.npz", weights_only=False)
    assert type(back.config) is argparse.Namespace and vars(back.config) == vars(config)
    x = mg.tensor([[1, 2], [3, 4]])
    np.testing.assert_array_equal(back(x).numpy(force=True), model(x).numpy(force=True))


def test_a_positional_encoding_keeps_its_table(tmp_path):
    # Its 5000 x 16 buffer is not in the state_dict (not persistent), but a whole module
    # holds it, as torch's pickle does: no constructor runs to make it again.
    pe = nn.PositionalEncoding(16, dropout=0.0)
    mg.save(pe, tmp_path / "pe.npz")
    back = mg.load(tmp_path / "pe.npz", weights_only=False)
    assert back.pe.shape == (5000, 16) and back.max_len == 5000
    assert back._buffers == {"pe": False} and "pe" not in back.state_dict()
    np.testing.assert_array_equal(back.pe.numpy(force=True), pe.pe.numpy(force=True))


class RecordsItsCalls(nn.Module):
    calls = []

    def __init__(self, rows, cols=1):
        super().__init__()
        RecordsItsCalls.calls.append((rows, cols))
        self.rows, self.cols = rows, cols
        self.lin = nn.Linear(2, 2)


def test_loading_calls_no_constructor_and_keeps_what_was_set_after_it(tmp_path):
    RecordsItsCalls.calls.clear()
    m = RecordsItsCalls(10 ** 6, cols=10 ** 3)
    m.note, m.table = "set later", np.arange(3.0)
    m.lin.bias.requires_grad_(False)                     # frozen after construction
    m.lin.again = m.lin.weight                           # one weight under two names
    m.scale = mg.tensor([2.0])                           # a tensor that is no parameter
    m.layers = [m.lin, nn.Tanh()]                        # the same module, held twice
    m.eval()
    m.lin.train()                                        # one child in another mode
    mg.save(m, tmp_path / "m.npz")
    back = mg.load(tmp_path / "m.npz", weights_only=False)
    assert RecordsItsCalls.calls == [(10 ** 6, 10 ** 3)]      # only the save's own
    assert (back.rows, back.cols, back.note) == (10 ** 6, 10 ** 3, "set later")
    np.testing.assert_array_equal(back.table, np.arange(3.0))
    assert back.lin.bias.requires_grad is False and back.lin.weight.requires_grad is True
    assert isinstance(back.lin.weight, nn.Parameter) and back.lin.again is back.lin.weight
    assert back.layers[0] is back.lin and isinstance(back.layers[1], nn.Tanh)
    assert back.training is False and back.lin.training is True
    assert type(back.scale) is mg.Tensor and back.scale.tolist() == [2.0]
    assert list(back.state_dict()) == ["lin.weight", "lin.bias", "lin.again"]


def test_weights_tied_after_construction_stay_tied(tmp_path):
    model = TiedLM(6, 3, tie=False)
    model.out.weight = model.emb.weight                  # tied by the user, not the constructor
    mg.save(model, tmp_path / "m.npz")
    back = mg.load(tmp_path / "m.npz", weights_only=False)
    assert back.out.weight is back.emb.weight
    assert len(list(back.parameters())) == 2             # the shared weight and out.bias


def test_recurrent_and_transformer_layers_keep_their_cells_and_activation(tmp_path):
    models = [nn.GRU(3, 4, num_layers=2), nn.LSTMCell(3, 4), nn.RNN(3, 4, nonlinearity="relu"),
              nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation="gelu")]
    for model in models:
        mg.save(model, tmp_path / "m.npz")
        back = mg.load(tmp_path / "m.npz", weights_only=False)
        for name, v in vars(model).items():
            if name not in ("_parameters", "_modules", "_buffers") and \
                    not isinstance(v, (mg.Tensor, nn.Module)):
                w = vars(back)[name]
                assert type(w) is type(v), name
                assert vars(w) == vars(v) if hasattr(v, "__dict__") and not callable(v) \
                    else w is v or w == v, name


def local_class():
    class Local(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
    return Local()


class ConfiguredModel(nn.Module):
    """A model that keeps a program's parsed arguments, as pytorch/examples' SNLI does."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.n_embed, config.d_embed)


def test_a_model_keeping_an_argparse_namespace_rebuilds(tmp_path):
    import argparse
    config = argparse.Namespace(n_embed=11, d_embed=3, lr=1e-3, path="results", vectors=None,
                                sizes=[1, 2])
    mg.save(ConfiguredModel(config), tmp_path / "m.npz")
    back = mg.load(tmp_path / "m.npz", weights_only=False)
    assert type(back.config) is argparse.Namespace and vars(back.config) == vars(config)
    assert back.embed.weight.shape == (11, 3)
    # A file's names for it are plain identifiers, never a dunder that reaches a hook.
    with zipfile.ZipFile(tmp_path / "m.npz") as z, \
            zipfile.ZipFile(tmp_path / "bad.npz", "w") as out:
        for name in z.namelist():
            data = z.read(name)
            if name == "__minigrad__.npy":
                header = str(np.load(io.BytesIO(data)))
                assert header.count('["path", "results"]') == 1
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.array(header.replace(
                    '["path", "results"]', '["__class__", "results"]')))
                data = buf.getvalue()
            out.writestr(name, data)
    with pytest.raises(mg.io.CheckpointError, match=r"it holds an argparse.Namespace with a "
                                                    r"name '__class__'"):
        mg.load(tmp_path / "bad.npz", weights_only=False)


class HoldsAGenerator(nn.Module):
    def __init__(self, activation=None):
        super().__init__()
        self.rng = np.random.default_rng(0)
        self.activation = activation


@pytest.mark.parametrize("obj, match", [
    (local_class(), r"the Local as a whole module: its class is defined inside a function"),
    (HoldsAGenerator(), r"the HoldsAGenerator as a whole module: it holds a Generator, which "
                        r"a checkpoint cannot hold without pickle \(at rng\)"),
    ({"m": nn.Sequential(nn.Sequential(HoldsAGenerator()))},
     r"the HoldsAGenerator as a whole module: .* \(at m/0.0.rng\)"),
    (nn.TransformerEncoderLayer(8, 2, activation=lambda x: x),
     r"the TransformerEncoderLayer as a whole module: it holds the function <lambda>"),
])
def test_what_cannot_be_stored_says_to_save_the_state_dict(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match + r".*save its state_dict\(\) instead"):
        mg.save(obj, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"cannot store a SGD; .* Save its state_dict\(\)"):
        mg.save(optim.SGD(small_model().parameters(), lr=1), tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_map_location(tmp_path):
    mg.save({"w": np.ones(2)}, tmp_path / "m.npz")
    assert isinstance(mg.load(tmp_path / "m.npz", map_location="cpu")["w"], np.ndarray)

    class Device:                                  # torch.device-like: has .type
        type = "cpu"

    assert mg.load(tmp_path / "m.npz", map_location=Device())["w"].tolist() == [1, 1]
    with pytest.raises(ValueError, match=r"map_location takes 'cpu', 'cuda' or a device, got "
                                         r"'tpu'"):
        mg.load(tmp_path / "m.npz", map_location="tpu")


# ----------------------------------------------------------- errors name what the user gave

def test_a_missing_folder_is_named(tmp_path):
    folder = tmp_path / "runs" / "exp1"
    with pytest.raises(FileNotFoundError, match=f"mg.save: cannot write .*: folder "
                                                f"{folder} does not exist"):
        mg.save({"w": np.ones(1)}, folder / "m.npz")
    with pytest.raises(FileNotFoundError, match=f"folder {folder} does not exist"):
        mg.load(folder / "m.npz")
    assert not any(".tmp-" in n for n in os.listdir(tmp_path))


def test_a_file_that_is_not_a_checkpoint_says_so_without_talk_of_pickles(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_bytes(b"garbage bytes, not a zip file")
    with pytest.raises(ValueError) as err:
        mg.load(path)
    assert "is not a readable minigrad checkpoint (it starts with b'garbage " in str(err.value)
    assert "pickle" not in str(err.value)


# ------------------------------------------------------------------ stale temporary files

def test_save_removes_stale_temporaries_of_its_target_only(tmp_path):
    mg.save({"w": np.ones(1)}, tmp_path / "m.npz")
    (tmp_path / ".m.npz.tmp-killed1").write_bytes(b"PK half")       # left by kill -9
    (tmp_path / ".other.npz.tmp-killed2").write_bytes(b"PK half")   # another target's
    mg.save({"w": np.ones(1)}, tmp_path / "m.npz")
    assert sorted(os.listdir(tmp_path)) == [".other.npz.tmp-killed2", "m.npz"]


@pytest.mark.skipif(minigrad.atomic_write.fcntl is None, reason="no fcntl: stale files are not removed")
def test_save_never_removes_the_temporary_of_a_save_still_running(tmp_path):
    running = open(tmp_path / ".m.npz.tmp-running", "xb")
    minigrad.atomic_write.fcntl.flock(running.fileno(), minigrad.atomic_write.fcntl.LOCK_EX)
    try:
        mg.save({"w": np.ones(1)}, tmp_path / "m.npz")
        assert (tmp_path / ".m.npz.tmp-running").exists()
    finally:
        running.close()                                       # the running save dies
    mg.save({"w": np.ones(1)}, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == ["m.npz"]


# --------------------------------------------------------------------- any array round-trips

from hypothesis import example, given, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

DTYPES = st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.int32, np.int8,
                          np.uint8, np.bool_])


@given(arrays=st.dictionaries(
           st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                   max_size=8),
           DTYPES.flatmap(lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3,
                                                                    min_side=0, max_side=3))),
           max_size=4),
       format=st.sampled_from(["npz", "safetensors"]), fortran=st.booleans())
@example(arrays={"0": np.array(0, np.float32)}, format="npz", fortran=False)   # 0-d stays 0-d
def test_any_flat_dict_of_arrays_round_trips(arrays, format, fortran):
    if fortran:
        arrays = {k: np.asfortranarray(v) for k, v in arrays.items()}
    buf = io.BytesIO()
    mg.save(arrays, buf, format=format)
    buf.seek(0)
    back = mg.load(buf)
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


@pytest.mark.gpu
@pytest.mark.strict
def test_map_location_cuda_puts_arrays_and_modules_on_the_gpu(tmp_path):
    model = small_model()
    mg.save({"sd": model.state_dict(), "model": model}, tmp_path / "m.npz")
    back = mg.load(tmp_path / "m.npz", weights_only=False, map_location=GPU)
    assert all(mg.backend.is_cupy_array(v) for v in back["sd"].values())
    assert all(p.device == GPU for p in back["model"].parameters())
    mg.save(back["model"], tmp_path / "g.npz")                     # saved from the GPU
    again = mg.load(tmp_path / "g.npz", weights_only=False)
    np.testing.assert_array_equal(again[2].weight.numpy(force=True), model[2].weight.numpy(force=True))


@pytest.mark.parametrize("patch", ["encrypted", "unknown compression"])
def test_zip_members_it_cannot_read_are_refused_clearly(tmp_path, patch):
    path = tmp_path / "m.npz"
    mg.save({"w": np.ones(3)}, path)
    data = bytearray(path.read_bytes())
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):      # local and central headers
        pos = data.find(sig)
        while pos >= 0:
            if patch == "encrypted":
                data[pos + at] |= 1
            else:
                data[pos + at + 2:pos + at + 4] = (99).to_bytes(2, "little")
            pos = data.find(sig, pos + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"is not a readable minigrad checkpoint \(.*(encrypt|"
                                         r"compression)"):
        mg.load(path)
