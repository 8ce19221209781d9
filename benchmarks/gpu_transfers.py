"""Host<->device copies and waits for the device: how many a training step and a decoder make.

Counted on the strict stand-in device (minigrad/strict.py), which runs minigrad's device code
paths on the CPU and counts each host->device copy (h2d), device->host copy (d2h) and
synchronisation (sync: a Python value read from the device). The counts are those of the code,
so they hold on a GPU too. A count that grows with T is a copy or a wait inside the time loop.

With --device cuda it also runs each recurrent layer's forward and backward on the GPU under
``cupyx.allow_synchronize(False)``, which raises at any synchronisation CuPy can see.

    python benchmarks/gpu_transfers.py [--device cuda]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import decoding, models, nn, strict  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--device", default="strict", choices=["strict", "cuda"])
args = parser.parse_args()


def training_step(make, T):
    mg.manual_seed(0)
    model = make().to("strict")
    opt = mg.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    x, y = (mg.tensor(rng.integers(3, 30, (4, T)), device="strict") for _ in range(2))
    with strict.watch() as w:
        loss = model.loss(x, y)
        loss = loss[0] if isinstance(loss, tuple) else loss        # the LM also gives its state
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return w


print("host<->device copies (h2d, d2h) and waits (sync), counted on the strict device")
print(f"{'what':<44}{'T':>4}{'h2d':>6}{'d2h':>6}{'sync':>6}")
cases = {
    "LSTM language model, 2 layers: a step": lambda: models.RNNLanguageModel(
        30, 16, 24, cell="lstm", num_layers=2),
    "GRU language model, 2 layers: a step": lambda: models.RNNLanguageModel(
        30, 16, 24, cell="gru", num_layers=2),
    "seq2seq, LSTM + attention: a step": lambda: models.Seq2Seq(
        30, 16, 24, cell="lstm", bidirectional=True, attention="general"),
}
for name, make in cases.items():
    for T in (8, 32):
        w = training_step(make, T)
        print(f"{name:<44}{T:>4}{w.h2d:>6}{w.d2h:>6}{w.sync:>6}")

# decoders: eos_id 0 is never drawn here (ids 3..29 dominate an untrained model rarely
# enough), so each runs max_len steps
for name in ("greedy_decode", "beam_search, 4 beams"):
    for max_len in (5, 10):
        mg.manual_seed(0)
        model = models.Seq2Seq(30, 8, 16, cell="lstm", attention="general").to("strict")
        with mg.no_grad():
            state = model.initial_state(np.random.default_rng(1).integers(3, 30, (1, 6)))
        with strict.watch() as w:
            if name == "greedy_decode":
                decoding.greedy_decode(model.step_fn, state, 1, 0, max_len)
            else:
                decoding.beam_search(model.step_fn, state, 1, 0, 4, max_len)
        print(f"{name + ', max_len = T':<44}{max_len:>4}{w.h2d:>6}{w.d2h:>6}{w.sync:>6}")

if args.device == "cuda":
    import cupyx
    print("\non the GPU, recurrent layers under cupyx.allow_synchronize(False):")
    for kind in ("LSTM", "GRU", "RNN"):
        mg.manual_seed(0)
        layer = getattr(nn, kind)(32, 64, num_layers=2).to("cuda")
        x = mg.randn(40, 8, 32, device="cuda", requires_grad=True)
        try:
            with cupyx.allow_synchronize(False):
                out, _ = layer(x)
                out.sum().backward()
            print(f"  {kind}: forward and backward, T=40: no synchronisation")
        except Exception as e:  # noqa: BLE001 - report whatever CuPy raised
            print(f"  {kind}: {type(e).__name__}: {e}")
