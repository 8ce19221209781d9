"""The same seeded models on the CPU (NumPy) and on the GPU (CuPy) give the same numbers.

Skipped cleanly where no GPU is usable (``mg.cuda.is_available()`` is False), except under
``MINIGRAD_DEVICE=strict``: then the strict stand-in device (NumPy kept to CuPy's rules) takes
the GPU's place, so every line here runs in CI. Parameters are
drawn on the host from minigrad's seeded generator, so two models built after the same
``manual_seed`` start equal; one is then moved with ``.to('cuda')``. Dropout is off so no
random draw differs between the devices. Float64 keeps the comparison tight: what differs is
only the order of floating-point sums inside the libraries.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import models, nn

pytestmark = [pytest.mark.gpu, pytest.mark.strict]

# the device compared with the CPU
GPU = "strict" if mg.backend.default_device() == "strict" else "cuda"

RTOL, ATOL = 1e-7, 1e-9


def _pair(build):
    """Two copies of one seeded model, float64: (on the CPU, on the GPU)."""
    mg.manual_seed(0)
    cpu = build().to("cpu", dtype=np.float64)
    mg.manual_seed(0)
    gpu = build().to(GPU, dtype=np.float64)
    return cpu, gpu


def _loss_and_grads(model, loss_fn):
    model.zero_grad()
    loss = loss_fn(model)
    loss.backward()
    return loss.item(), {k: mg.backend.to_numpy(p.grad) for k, p in model.named_parameters()}


def _same_training_step(build, loss_fn):
    cpu, gpu = _pair(build)
    assert all(p.device == GPU for p in gpu.parameters())
    loss_c, grads_c = _loss_and_grads(cpu, loss_fn)
    loss_g, grads_g = _loss_and_grads(gpu, loss_fn)
    assert loss_g == pytest.approx(loss_c, rel=RTOL)
    assert grads_c.keys() == grads_g.keys()
    for k in grads_c:
        np.testing.assert_allclose(grads_g[k], grads_c[k], rtol=1e-6, atol=ATOL, err_msg=k)


def _tokens(shape, vocab, seed):
    return np.random.default_rng(seed).integers(3, vocab, size=shape)


def test_lstm_language_model_same_loss_and_gradients():
    x, y = _tokens((4, 12), 30, 1), _tokens((4, 12), 30, 2)
    _same_training_step(lambda: models.RNNLanguageModel(30, 16, 24, cell="lstm", num_layers=2),
                        lambda m: m.loss(x, y)[0])


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_other_cells_same_loss_and_gradients(cell):
    x, y = _tokens((3, 9), 20, 3), _tokens((3, 9), 20, 4)
    _same_training_step(lambda: models.RNNLanguageModel(20, 8, 12, cell=cell),
                        lambda m: m.loss(x, y)[0])


def test_attention_seq2seq_same_loss_and_gradients():
    src, tgt = _tokens((4, 7), 25, 5), _tokens((4, 6), 25, 6)
    _same_training_step(
        lambda: models.Seq2Seq(25, 12, 16, cell="lstm", bidirectional=True, attention="general"),
        lambda m: m.loss(src, tgt))


def test_transformer_layer_same_output_and_gradients():
    x = np.random.default_rng(7).standard_normal((5, 3, 16))

    def loss(layer):
        return (layer(mg.tensor(x, dtype=np.float64, device=layer.linear1.weight.device)) ** 2).mean()

    _same_training_step(lambda: nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0),
                        loss)


@pytest.mark.parametrize("source, target", [(GPU, "cpu"), ("cpu", GPU)])
def test_checkpoint_saved_on_one_device_loads_on_the_other(tmp_path, source, target):
    x = _tokens((2, 5), 30, 8)
    mg.manual_seed(0)
    saved = models.RNNLanguageModel(30, 8, 12).to(source)
    mg.save(saved.state_dict(), tmp_path / "lm.npz")
    mg.manual_seed(1)                      # different weights until the checkpoint loads
    loaded = models.RNNLanguageModel(30, 8, 12).to(target)
    loaded.load_state_dict(mg.load(tmp_path / "lm.npz"))
    assert all(p.device == target for p in loaded.parameters())
    with mg.no_grad():
        a = saved(x)[0].numpy(force=True)
        b = loaded(x)[0].numpy(force=True)
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_training_on_the_gpu_lowers_the_loss():
    mg.manual_seed(0)
    model = models.RNNLanguageModel(12, 8, 16).to(GPU)
    opt = mg.optim.Adam(model.parameters(), lr=0.05)
    x = np.tile(np.arange(12), (4, 2))[:, :20]
    first = None
    for _ in range(30):
        loss, _ = model.loss(x[:, :-1], x[:, 1:])
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
