# %% [markdown]
# # Lesson 21 — On the GPU (图形处理器): the same model on NumPy and CuPy
#
# **Learning goals**
# 1. Know where a tensor's numbers live: `t.array` is a `numpy.ndarray` on `'cpu'` and a
#    `cupy.ndarray` on `'cuda'` (`t.data`, as in PyTorch, is a tensor again: the same
#    storage, detached from the graph); code that takes its array module from its input
#    (`xp = mg.backend.get_array_module(a)`) runs on both unchanged.
# 2. Run the same model, with the same weights, on both: the loss and every gradient agree
#    within float32 rounding (浮点误差), not bit for bit, because the GPU adds in another order.
# 3. Time one training step on each, side by side, and see which layer gains: attention
#    computes every position at once, a recurrent layer walks the steps one after another.
#
# **Notes followed** — all of them (the models of lessons 13-20); the one line about hardware
# is in notes 002「3.transformer」「attention 机制」:
# - an RNN computes one step after the other and cannot run in parallel: with
#   $h_t = f(x_t U + h_{t-1} W + b_h)$ (notes 003「RNN」(1)), step $t$ must wait for step $t-1$;
# - queries and keys are computed independently, in parallel, which suits a GPU: attention
#   computes $\mathrm{softmax}(QK^T / \sqrt{d_k})\,V$ for all positions in a few large matrix products.
#
# **Without a GPU** (`mg.cuda.is_available()` is False, as on the machine these lessons are
# written on) the lesson says so, runs the NumPy half of every step, and its checks compare
# float32 with float64 on the CPU instead — the same tolerance a GPU run must meet.
#
# Run: `python lessons/21_on_the_gpu.py [--quick] [--device cuda]` (about 30 s on a CPU).

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import copy
import time

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import Vocab, date_formats, pad_batch
from minigrad.models import TransformerSeq2Seq

run = common.setup("Lesson 21: the same model on NumPy and CuPy")

# %% [markdown]
# ## 1. Is there a GPU?
# `mg.cuda.is_available()` is True only when CuPy imports, sees a device and runs a kernel on
# it: CuPy installed without a driver is not enough.

# %%
GPU = mg.cuda.is_available()
devices = ["cpu", "cuda"] if GPU else ["cpu"]
if GPU:
    import cupy
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    print(f"GPU found: {name.decode() if isinstance(name, bytes) else name}; "
          "every step below runs on NumPy ('cpu') and on CuPy ('cuda')")
else:
    print("No usable GPU on this machine (mg.cuda.is_available() is False).\n"
          "This run does the NumPy half of every step; the CuPy column stays empty. With an\n"
          "NVIDIA GPU: pip install -e '.[gpu]' and run the lesson again.")

x = mg.tensor([[1.0, 2.0, 3.0]], device="cpu")
print(f"on 'cpu': x.array is a {type(x.array).__module__}.{type(x.array).__name__}")
if GPU:
    xg = x.to("cuda")
    print(f"on 'cuda': x.to('cuda').array is a {type(xg.array).__module__}.{type(xg.array).__name__}")

# %% [markdown]
# ## 2. Code that runs on both: take the array module from the input
# Every op of minigrad starts with `xp = mg.backend.get_array_module(a)`: NumPy for a NumPy
# array, CuPy for a CuPy array, with the same functions (`xp.exp`, `xp.zeros`, ...). Write the
# softmax of the notes, $P_i = e^{y_i} / \sum_j e^{y_j}$ (notes 001「其他训练技巧-先验知识」), that
# way, on raw arrays.
# Subtracting the row's maximum first changes nothing mathematically and keeps $e^{y}$ finite.

# %%
def softmax_rows(a):
    """P_i = exp(y_i) / sum_j exp(y_j) over the last axis of a NumPy or CuPy array a (N, V);
    the result is an array of the same kind, on the same device."""
    # BEGIN SOLUTION
    # TITLE: a softmax that stays on its device
    # OFF LIMITS: F.softmax, F.log_softmax, np, numpy
    # HINT: xp = mg.backend.get_array_module(a); e = xp.exp(a - a.max(axis=-1, keepdims=True))
    # HINT: then divide e by its sum over the last axis (keepdims=True)
    xp = mg.backend.get_array_module(a)
    e = xp.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
    # END SOLUTION


for device in devices:
    # large scores, whose rows lie far apart: exp overflows without the shift, and a row far
    # below the largest score of the whole array underflows to 0 / 0 unless each row is
    # shifted by its own maximum
    rows_apart = mg.tensor(np.array([[200.0], [-200.0], [0.0], [60.0]], dtype=np.float32), device=device)
    logits = mg.randn(4, 7, device=device) * 30 + rows_apart
    mine = softmax_rows(logits.array)
    same_kind = type(mine) is type(logits.array)
    err = np.abs(mg.backend.to_numpy(mine) - F.softmax(logits).cpu().numpy()).max()
    print(f"{device}: softmax_rows returns a {type(mine).__module__}.{type(mine).__name__}, "
          f"max |difference from F.softmax| = {err:.2e}")
    common.check(same_kind and err < 1e-6,
                 f"softmax_rows on '{device}' stays on the device and equals F.softmax", exercise=1)

# %% [markdown]
# ## 3. The same model, the same weights, on each device
# The transformer of lesson 19 on a batch of the date task (`'march 7, 1994'` ->
# `'1994-03-07'`), dropout off so that both runs compute the same function. The CPU copy is
# the original; `copy.deepcopy(model).to('cuda')` is its twin on the GPU, and
# `copy.deepcopy(model).double()` a float64 twin on the CPU: the "exact" answer both float32
# runs are measured against.
#
# float32 keeps about 7 significant digits; sums of thousands of terms in a different order
# (the GPU splits a matrix product over thousands of threads) differ in the last ones. So the
# test is a relative difference $\lVert g_a - g_b \rVert / \lVert g_b \rVert$ of about
# $10^{-6}$-$10^{-5}$, never equality.

# %%
pairs = date_formats(run.pick(128, 32), seed=run.seed)
vocab = Vocab.build([list(s) + list(t) for s, t in pairs], bos="<START>", eos="<END>")
src, _, _ = pad_batch([vocab.encode(list(s)) for s, _ in pairs], vocab.pad_id)
tgt, _, _ = pad_batch([vocab.encode(list(t), add_bos=True, add_eos=True) for _, t in pairs],
                      vocab.pad_id)
print(f"{len(pairs)} dates, e.g. {pairs[0]}; src {src.shape}, tgt {tgt.shape}, V = {len(vocab)}")

mg.manual_seed(run.seed)
model = TransformerSeq2Seq(len(vocab), d_model=64, nhead=4, num_encoder_layers=2,
                           num_decoder_layers=2, dim_feedforward=128, dropout=0.0, max_len=64,
                           pad_id=vocab.pad_id).to("cpu")
twins = {"cpu": model}
if GPU:
    twins["cuda"] = copy.deepcopy(model).to("cuda")
twins["cpu float64"] = copy.deepcopy(model).double()


def loss_and_grads(m):
    """The loss of the batch and every parameter's gradient, as float64 NumPy arrays."""
    m.zero_grad()
    loss = m.loss(src, tgt)              # token ids move to the model's device by themselves
    loss.backward()
    return loss.item(), {n: p.grad.cpu().numpy().astype(np.float64)
                         for n, p in m.named_parameters()}


def relative_difference(a, b):
    """The largest ||a_p - b_p|| / ||b_p|| over the parameters p."""
    return max(np.linalg.norm(a[n] - b[n]) / (np.linalg.norm(b[n]) + 1e-30) for n in b)


results = {name: loss_and_grads(m) for name, m in twins.items()}
exact_loss, exact_grads = results["cpu float64"]
for name, (loss, grads) in results.items():
    print(f"{name:12s} loss {loss:.9f}   |loss - float64| {abs(loss - exact_loss):.1e}   "
          f"largest relative gradient difference {relative_difference(grads, exact_grads):.1e}")

# %%
for name in devices:
    loss, grads = results[name]
    common.check(abs(loss - exact_loss) < 1e-5 * abs(exact_loss)
                 and relative_difference(grads, exact_grads) < 1e-4,
                 f"the float32 model on '{name}' matches float64 (loss within 1e-5, gradients "
                 "within 1e-4, relative)", exercise=None)
if GPU:
    common.check(relative_difference(results["cuda"][1], results["cpu"][1]) < 1e-4,
                 "NumPy and CuPy gradients agree within 1e-4", exercise=None)

# %% [markdown]
# ## 4. Training side by side
# The same Adam steps on each twin. Rounding differences grow a little with every step (each
# step starts from slightly different weights), but over a short run they stay far below
# anything that matters: the loss curves lie on top of each other, within 1% of the first
# loss (checked below; the check's line gives the largest difference, float32 against float64).

# %%
steps = run.pick(40, 8)
curves = {}
for name, m in twins.items():
    opt = optim.Adam(m.parameters(), lr=3e-3)
    curve = []
    for _ in common.progress(range(steps), desc=f"train on {name}"):
        opt.zero_grad()
        loss = m.loss(src, tgt)
        loss.backward()
        opt.step()
        curve.append(loss.item())
    curves[name] = np.array(curve)
    print(f"{name:12s} loss {curve[0]:.4f} -> {curve[-1]:.4f}")

fig, ax = common.figure()
for name, curve in curves.items():
    ax.plot(curve, label=name, lw=2 if name == "cpu float64" else 1,
            ls="--" if name == "cpu float64" else "-")
ax.set_xlabel("Adam step")
ax.set_ylabel("training loss")
ax.set_title("the same model trained on each device")
ax.legend()
common.savefig(fig, "21_training_side_by_side")

# %%
for name in devices:
    drift = np.abs(curves[name] - curves["cpu float64"]).max() / curves["cpu float64"][0]
    common.check(drift < 1e-2, f"'{name}' training follows the float64 run within 1% "
                               f"(largest loss difference {drift:.1e} of the first loss)", exercise=None)

# %% [markdown]
# ## 5. Timings side by side
# One training step (forward and backward) of a recurrent layer and of a transformer encoder
# layer, batch $N = 32$, width 128, for growing sequence lengths $T$. The GPU runs
# asynchronously: the clock is read only after `mg.cuda.synchronize()`. Each time is the
# median of a few repetitions after one warm-up (the first CuPy call compiles its kernels).

# %%
N, D = 32, 128
lengths = run.pick([16, 64, 256], [8, 16])
repeats = run.pick(3, 1)


def time_step(layer, x, device):
    """Median seconds of forward + backward of ``layer`` on ``x`` (N, T, D)."""
    def once():
        out = layer(x)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
    once()                                           # warm-up
    times = []
    for _ in range(repeats):
        mg.cuda.synchronize()
        t0 = time.perf_counter()
        once()
        mg.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def make_layers(device):
    mg.manual_seed(run.seed)
    return {"LSTM": nn.LSTM(D, D, batch_first=True).to(device),
            "transformer layer": nn.TransformerEncoderLayer(D, 4, 2 * D, dropout=0.0,
                                                            batch_first=True).to(device)}


timings = {}                                         # (layer, device) -> [seconds per T]
for device in devices:
    layers = make_layers(device)
    for name, layer in layers.items():
        row = []
        for T in common.progress(lengths, desc=f"{name} on {device}"):
            x = mg.randn(N, T, D, device=device, requires_grad=True)
            row.append(time_step(layer, x, device))
        timings[name, device] = row

print(f"\none forward + backward, N = {N}, width {D} (ms)")
print(f"| layer | T | cpu (NumPy) | cuda (CuPy) | speed-up |\n|---|---|---|---|---|")
for name in ("LSTM", "transformer layer"):
    for i, T in enumerate(lengths):
        cpu_ms = 1e3 * timings[name, "cpu"][i]
        if GPU:
            gpu_ms = 1e3 * timings[name, "cuda"][i]
            print(f"| {name} | {T} | {cpu_ms:.1f} | {gpu_ms:.1f} | {cpu_ms / gpu_ms:.1f}x |")
        else:
            print(f"| {name} | {T} | {cpu_ms:.1f} | (no GPU) | - |")

fig, ax = common.figure()
for (name, device), row in timings.items():
    ax.plot(lengths, 1e3 * np.array(row), marker="o", label=f"{name}, {device}",
            ls="-" if device == "cpu" else "--")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("sequence length T")
ax.set_ylabel("ms per forward + backward")
ax.set_title("one training step" + ("" if GPU else " (CPU only: no GPU here)"))
ax.legend()
common.savefig(fig, "21_timings")

# %% [markdown]
# What to read from the table. On the CPU both layers cost more as $T$ grows. The LSTM's
# $T$ small matrix products run one after another whatever the hardware, so a GPU gains
# little on it (each step is too small to fill the device, and launching a kernel costs
# microseconds); the transformer layer's few large products over all positions are what a GPU
# is built for. That is the notes' argument for the transformer (notes 002「3.transformer」): not better
# accuracy first, but computation that can run in parallel.

# %%
common.check(all(np.isfinite(v) and v > 0 for row in timings.values() for v in row),
             f"every step was timed on {', '.join(devices)}"
             + ("" if GPU else " (the CuPy half needs a GPU: none here)"), exercise=None)

common.finish()
