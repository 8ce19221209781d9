# %% [markdown]
# # Lesson 07 — GRU, the gated recurrent unit (门控循环单元)
#
# **Learning goals**
# 1. Write the GRU of the notes by hand — reset gate (重置门) $\Gamma_r$, update gate (更新门)
#    $\Gamma_u$, candidate memory $\tilde c$ — and find it equal to `nn.GRUCell(reset_after=False)`.
# 2. Write torch's GRU (`reset_after=True`, the default) by hand, find it equal to
#    `nn.GRUCell`, and see that the two are different functions of the same weights.
# 3. Compare GRU and LSTM: parameters, speed, and accuracy on lesson 06's long-range task.
# 4. Look at the update and reset gates while the GRU remembers.
#
# **Notes followed**
# - notes 004「1.3 门控循环单元GRU」:
#   $$\begin{aligned}
#   \Gamma_r &= \sigma(W_r[c^{<t-1>}, x^{<t>}] + b_r) && \text{相关门 / 重置门 reset gate}\\
#   \tilde c^{<t>} &= \tanh(W_c[\Gamma_r * c^{<t-1>}, x^{<t>}] + b_c) && \text{candidate memory}\\
#   \Gamma_u &= \sigma(W_u[c^{<t-1>}, x^{<t>}] + b_u) && \text{更新门 update gate}\\
#   c^{<t>} &= \Gamma_u * \tilde c^{<t>} + (1 - \Gamma_u) * c^{<t-1>}, \quad a^{<t>} = c^{<t>}
#   \end{aligned}$$
# - notes 000「3、GRU 结构」: two gates, reset and update; the new state is the sum of
#   $(1 - z_t)$ times $h(t-1)$ and $z_t$ times the candidate. Compared with the LSTM, the note
#   says, a GRU has one gate fewer, so fewer parameters and more speed, and works about as well.
# - notes 003「GRU」 (the figure of the cell).
#
# **Symbols: the notes, this lesson, PyTorch.** The update gate is written three ways:
#
# | notes 004 | notes 000 | this lesson | PyTorch (`nn.GRU`) |
# |---|---|---|---|
# | $\Gamma_r$ reset (相关门) gate | reset gate (重置门) | $\Gamma_r$ | $r$ |
# | $\Gamma_u$ update gate: the share of the candidate taken | $z_t$ | $\Gamma_u$ | $1 - z$: torch's $z$ is the share of the old state *kept* |
# | $\tilde c^{<t>}$ candidate | $h(t)$ "pre-output" | $\tilde c$ | $n$ |
# | $c^{<t>} = a^{<t>}$ | $h(t)$ | $c^{<t>}$, $h_t$ | $h'$ |
#
# Lesson 06 uses $\Gamma_u$ for notes 004's LSTM *update* gate, which is the LSTM's input gate
# $i_t$; in a GRU the one gate $\Gamma_u$ does the work of both the LSTM's $i_t$ and $f_t$
# ($f_t \to 1 - \Gamma_u$).
#
# **Claim checked at the end** (default run, about a minute on a 2-core laptop CPU): on
# lesson 06's task with sequences of 80 symbols, the GRU and the LSTM both name the key on at
# least 95% of new sequences, the GRU with 3/4 of the LSTM's parameters.
#
# Run: `python lessons/07_gru.py [--quick] [--device cuda]`.

# %%
import time

import numpy as np

from minigrad_lessons import common
import minigrad as mg
from minigrad import nn
from minigrad.data import memory_batches, remember_batch
from minigrad.models import memory_model
from minigrad.training import train_classifier

run = common.setup("Lesson 07: GRU")

# %% [markdown]
# ## 1. The notes' GRU, by hand
# A library GRU stores torch's layout: `weight_ih` $(3H, D)$ and `weight_hh` $(3H, H)$, the
# rows of the gates in the order $r, z, n$. Torch's $r$ is the notes' $\Gamma_r$ and $n$ is
# $\tilde c$. Torch's update gate $z$ is the *other* way round: it is the share of the old state
# kept, $h' = (1 - z) * n + z * h$, so the notes' $\Gamma_u = 1 - z$. Since
# $1 - \sigma(a) = \sigma(-a)$, the notes' $W_u$ and $b_u$ are torch's with the sign flipped.

# %%
D, H, N = 3, 4, 2
cell_notes = nn.GRUCell(D, H, reset_after=False).double()     # the notes' GRU


def rows(k, *tensors):
    """Gate k's rows (r = 0, z = 1, n = 2) of each stacked torch weight or bias (3H, ...)."""
    return [t[k * (len(t) // 3):(k + 1) * (len(t) // 3)] for t in tensors]


def notes_weights(cell):
    """{gate: (W (H, H + D) acting on [c, x], b (H,))} for the notes' r, u and c."""
    w_ih, w_hh, b_ih, b_hh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    out = {}
    for gate, k, sign in (("r", 0, 1), ("u", 1, -1), ("c", 2, 1)):
        wi, wh, bi, bh = rows(k, w_ih, w_hh, b_ih, b_hh)
        out[gate] = (mg.cat([wh, wi], axis=1) * sign, (bi + bh) * sign)   # Γ_u: sign flipped, σ(-a) = 1 - σ(a)
    return out


def gru_notes(x, c_prev, Wn):
    """Notes 004 1.3. x (N, D), c^{<t-1>} (N, H) -> c^{<t>} and the gates."""
    cx = mg.cat([c_prev, x], axis=1)                               # [c^{<t-1>}, x^{<t>}]: (N, H + D)
    # BEGIN SOLUTION
    # TITLE: the notes' GRU step by hand
    # OFF LIMITS: nn.GRUCell, nn.GRU
    # HINT: Γ_r and Γ_u: sigmoid of (cx @ W.T + b); the candidate uses [Γ_r * c^{<t-1>}, x^{<t>}]
    # HINT: c^{<t>} = Γ_u * c~ + (1 - Γ_u) * c^{<t-1>}
    # HINT: name them G_r, G_u, c_new (the candidate) and c: the return line below uses these names
    G_r = (cx @ Wn["r"][0].T + Wn["r"][1]).sigmoid()               # Γ_r = σ(W_r[c^{<t-1>}, x^{<t>}] + b_r)
    G_u = (cx @ Wn["u"][0].T + Wn["u"][1]).sigmoid()               # Γ_u = σ(W_u[c^{<t-1>}, x^{<t>}] + b_u)
    rcx = mg.cat([G_r * c_prev, x], axis=1)                        # [Γ_r * c^{<t-1>}, x^{<t>}]
    c_new = (rcx @ Wn["c"][0].T + Wn["c"][1]).tanh()               # c~ = tanh(W_c[Γ_r * c^{<t-1>}, x^{<t>}] + b_c)
    c = G_u * c_new + (1 - G_u) * c_prev                           # c^{<t>} = Γ_u * c~ + (1 - Γ_u) * c^{<t-1>}
    # END SOLUTION
    return c, {"reset Γr": G_r, "update Γu": G_u, "candidate c~": c_new}


x_t = mg.randn(N, D, dtype=mg.float64)
c_prev = mg.randn(N, H, dtype=mg.float64)
c_t, gates = gru_notes(x_t, c_prev, notes_weights(cell_notes))
for name, g in gates.items():
    print(f"{name:13s} {g.detach().cpu().numpy()[0].round(3)}")
common.compare("c_t (the notes' GRU)", c_t, cell_notes(x_t, c_prev), exercise=1, atol=1e-12, rtol=0.0,
               against="nn.GRUCell(reset_after=False)",
               cause="c_t = Γu ⊙ c~ + (1 - Γu) ⊙ c_{t-1}, with c~ = tanh(W_c [Γr ⊙ c_{t-1}, x_t] + b_c)")

# %% [markdown]
# ## 2. Torch's GRU: the reset gate after the product
# The notes' GRU, with the reset gate on the state *before* the product, is the one of Cho et
# al. 2014, who introduced the cell. Torch (and cuDNN) apply the reset gate to the *result* of
# the recurrent product, bias included:
# $$n = \tanh(x W_{in}^T + b_{in} + r * (h W_{hn}^T + b_{hn})), \qquad h' = (1 - z) * n + z * h.$$
# Then $h W_{hn}^T$ no longer depends on $r$, so all three of $h$'s products can be done as one,
# before any gate is known — faster, and the reason it is the default. But $r * (h W^T)$ scales
# the product's *outputs*, while the notes' $(r * h) W^T$ scales its *inputs*: a different
# function of the same weights.

# %%
cell_torch = nn.GRUCell(D, H).double()                             # reset_after=True
cell_torch.load_state_dict(cell_notes.state_dict())                # the very same weights


def gru_torch(x, h, cell):
    """Torch's GRU (reset_after=True). x (N, D), h (N, H) -> h' (N, H) and the gates."""
    (wi_r, wh_r, bi_r, bh_r), (wi_z, wh_z, bi_z, bh_z), (wi_n, wh_n, bi_n, bh_n) = (
        rows(k, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh) for k in range(3))
    r = (x @ wi_r.T + bi_r + h @ wh_r.T + bh_r).sigmoid()          # r = Γ_r
    z = (x @ wi_z.T + bi_z + h @ wh_z.T + bh_z).sigmoid()          # z = 1 - Γ_u
    # BEGIN SOLUTION
    # TITLE: torch's GRU step by hand
    # OFF LIMITS: nn.GRUCell, nn.GRU
    # HINT: n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn));  h_new = (1 - z) * n + z * h
    n = (x @ wi_n.T + bi_n + r * (h @ wh_n.T + bh_n)).tanh()       # n = c~, reset applied after the product
    h_new = (1 - z) * n + z * h                                    # h' = Γ_u * c~ + (1 - Γ_u) * h
    # END SOLUTION
    return h_new, {"reset Γr": r, "update Γu": 1 - z, "candidate c~": n}


h_torch, _ = gru_torch(x_t, c_prev, cell_torch)
gap = float(np.abs(h_torch.detach().cpu().numpy() - c_t.detach().cpu().numpy()).max())
print(f"largest difference from the notes' GRU with the same weights: {gap:.3f}")
common.compare("h' (torch's GRU)", h_torch, cell_torch(x_t, c_prev), exercise=2, atol=1e-12, rtol=0.0,
               against="nn.GRUCell (reset_after=True)",
               cause="n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn)): the reset gate multiplies the "
                     "product and its bias; h' = (1 - z) ⊙ n + z ⊙ h")
common.check(gap > 1e-3, "reset before and after the product are different functions of the same weights", exercise=2)

# %% [markdown]
# ## 3. Parameters and speed
# A GRU has three blocks of weights (r, z, n), an LSTM four (i, f, C~, o), a plain RNN one;
# each block is $H \times D$ + $H \times H$ + two biases of $H$.

# %%
Din, Hid, Tt, Nb = 8, 32, run.pick(80, 12), 64
layers = {"RNN": nn.RNN(Din, Hid), "GRU": nn.GRU(Din, Hid), "LSTM": nn.LSTM(Din, Hid)}
counts = {k: sum(p.numel() for p in m.parameters()) for k, m in layers.items()}
for (k, count), gates in zip(counts.items(), (1, 3, 4)):
    print(f"{k:5s} {count:6d} parameters = {gates} x H(D + H + 2) = {gates} x {Hid}({Din} + {Hid} + 2)")
common.check(all(counts[k] == g * Hid * (Din + Hid + 2) for k, g in (("RNN", 1), ("GRU", 3), ("LSTM", 4))),
             "parameter counts are G * H(D + H + 2)", exercise=None)
common.check(counts["GRU"] * 4 == counts["LSTM"] * 3, "a GRU has 3/4 of an LSTM's parameters", exercise=None)


def one_pass(layer, x):
    """Wall time of one forward + backward pass over x (T, N, D)."""
    start = time.perf_counter()
    out = layer(x)[0]
    out.sum().backward()
    float(out.sum().item())                                        # waits for the GPU, if any
    return time.perf_counter() - start


# Round robin (RNN, GRU, LSTM, RNN, ...) so that a busy moment of the machine hits all three;
# the first round only warms up; the median of the others.
x_speed = mg.randn(Tt, Nb, Din)
rounds = [{k: one_pass(m, x_speed) for k, m in layers.items()} for _ in range(run.pick(9, 2) + 1)]
speed = {k: float(np.median([r[k] for r in rounds[1:]])) for k in layers}
for k, s in speed.items():
    print(f"{k:5s} forward + backward of T={Tt}, N={Nb}: {1000 * s:6.1f} ms ({s / speed['LSTM']:.2f} x LSTM)")

# %% [markdown]
# "Faster" (notes 000「3、GRU 结构」) is about the arithmetic: a GRU does 3/4 of an LSTM's matrix products. At
# this small size, though, the time goes less into the products than into the many small
# elementwise operations of each step, and a GRU step (with its reset gate inside the
# candidate) has about as many as an LSTM step; so here the two take about the same time per
# pass (timings on a shared machine are noisy: compare the ratios, run it twice). With large
# $H$ the products dominate and the GRU's 3/4 shows.

# %% [markdown]
# ## 4. GRU against LSTM on the long-range task
# Lesson 06's task: name the key that stood up to $T$ steps back among distractors (there the
# tanh RNN failed). The LSTM starts with $b_f = 3$ as in lesson 06; the GRU likewise starts
# keeping its memory: torch's $z$ bias is set to 2, i.e. the notes' $\Gamma_u = \sigma(-2) \approx 0.12$,
# so each step takes in about 12% of the candidate and keeps 88% of the old state (printed and
# checked below).

# %%
T = run.pick(80, 12)
steps = run.pick(400, 25)
K, hidden, batch = 4, 32, 64
gate_u = 1 / (1 + np.exp(2.0))                             # Γu = σ(-2) at the start
print(f"Γu = σ(-2) = {gate_u:.3f}: {gate_u:.0%} of the candidate, {1 - gate_u:.0%} of the old state")
common.check(abs(gate_u - 0.12) < 0.005 and abs((1 - gate_u) - 0.88) < 0.005,
             "σ(-2) ≈ 0.12: the GRU starts keeping 88% of its state", exercise=None)


test_x, test_key, test_dist = remember_batch(np.random.default_rng(run.seed + 1), run.pick(2000, 300), T, K)
# nn.<kind> -> Linear on h_T; each starts remembering: GRU z bias +2, LSTM f bias +3
models = {"GRU": memory_model("GRU", K, hidden, run.seed, keep_bias=2.0),
          "LSTM": memory_model("LSTM", K, hidden, run.seed, keep_bias=3.0)}
curves, results = {}, {}
for name, model in models.items():
    start = time.perf_counter()
    make_batch = memory_batches(run.seed, batch, T, K)
    curves[name] = train_classifier(model, make_batch, common.progress(range(steps), desc=name), lr=0.01)
    seconds = time.perf_counter() - start
    with mg.no_grad():
        right = model(mg.tensor(test_x)).cpu().numpy().argmax(axis=1) == test_key
    learned = next((f"step {10 * i}" for i, loss in enumerate(curves[name]) if loss < 0.1), "never")
    results[name] = (float(right.mean()), float(right[test_dist > T // 2].mean()), seconds, learned)
    print(f"{name:4s} {counts[name]:5d} parameters: accuracy {results[name][0]:.1%} "
          f"({results[name][1]:.1%} with the key more than {T // 2} steps back), {seconds:.1f} s of "
          f"training, loss first below 0.1 at {learned}")

# %% [markdown]
# ## 5. The gates at work
# Run the trained GRU step by step with `gru_torch` on a test sequence whose key stands in the
# middle, keeping the notes' $\Gamma_u$ (= 1 - z) and $\Gamma_r$; and, as in lesson 06, run a twin
# sequence that differs only in the key: the difference of the two memories, $\Delta c_t$, is
# what the key wrote.

# %%
gru = models["GRU"]
trained = nn.GRUCell(2 * K, hidden)
trained.load_state_dict({"weight_ih": gru.rnn.weight_ih_l0, "weight_hh": gru.rnn.weight_hh_l0,
                         "bias_ih": gru.rnn.bias_ih_l0, "bias_hh": gru.rnn.bias_hh_l0})
pick = int(np.argmin(np.abs(test_dist - T // 2)))          # a key half-way back
key_at = T - int(test_dist[pick])
twin = test_x[pick:pick + 1].copy()
twin[0, key_at] = np.eye(2 * K, dtype=np.float32)[(test_key[pick] + 1) % K]   # another key, same place


def run_gates(x):
    """Γu, Γr and the memory c of every step: {name: (hidden, T)}."""
    h = mg.zeros(1, hidden)
    trace = {"update Γu": [], "reset Γr": [], "c": []}
    with mg.no_grad():
        for t in range(T):
            h, g = gru_torch(mg.tensor(x[:, t]), h, trained)
            trace["update Γu"].append(g["update Γu"].cpu().numpy()[0])
            trace["reset Γr"].append(g["reset Γr"].cpu().numpy()[0])
            trace["c"].append(h.cpu().numpy()[0])
    return {k: np.array(v).T for k, v in trace.items()}


trace = run_gates(test_x[pick:pick + 1])
trace["Δc"] = trace["c"] - run_gates(twin)["c"]            # 0 before the key
G_u = trace["update Γu"]
print(f"key at step {key_at}: mean Γu at the key {G_u[:, key_at].mean():.2f}, at the other steps "
      f"{np.delete(G_u, key_at, axis=1).mean():.2f}; |Δc| summed over units: "
      f"{np.abs(trace['Δc'][:, key_at]).sum():.2f} at the key, {np.abs(trace['Δc'][:, -1]).sum():.2f} at the last step")
carry = np.abs(trace["Δc"][:, -1]) > 0.5                   # units that still hold the key at the end
gu_after = G_u[:, key_at + 1:].mean(axis=1)                # each unit's mean Γu after the key
shut, open_ = carry & (gu_after < 0.1), carry & (gu_after > 0.9)
print(f"{carry.sum()} of {hidden} units carry the key to the last step (|Δc_T| > 0.5): {shut.sum()} with "
      f"the update gate shut after the key (mean Γu < 0.1), {open_.sum()} with it open (mean Γu > 0.9)")
common.check(np.all(trace["Δc"][:, :key_at] == 0), "before the key the twins' memories are identical", exercise=2)

fig, axes = common.figure(2, 2, width=5.2, height=2.9)
for name in models:
    axes[0, 0].plot(np.arange(len(curves[name])) * 10, curves[name], label=f"{name} ({counts[name]} parameters)")
axes[0, 0].set_xlabel("step")
axes[0, 0].set_ylabel("cross-entropy")
axes[0, 0].set_title(common.label("training loss on the memory task", "损失"))
axes[0, 0].legend(fontsize=8)
titles = {"update Γu": ("update gate Gamma_u = 1 - z", "更新门"), "reset Γr": ("reset gate Gamma_r", "重置门"),
          "Δc": ("what the key wrote: c_t - c_t(twin)", "记忆细胞")}
for ax, (name, (en, zh)) in zip([axes[0, 1], axes[1, 0], axes[1, 1]], titles.items()):
    lim = (0, 1) if name != "Δc" else (-1, 1)
    im = ax.imshow(trace[name], aspect="auto", cmap="viridis" if name != "Δc" else "RdBu_r",
                   vmin=lim[0], vmax=lim[1])
    ax.axvline(key_at, color="red", lw=1)
    ax.set_title(common.label(en, zh) + " (red: the key)", fontsize=9)
    ax.set_xlabel("time step t")
    ax.set_ylabel("unit")
    fig.colorbar(im, ax=ax)
common.savefig(fig, "07_gru_vs_lstm_and_gates")

# %% [markdown]
# The key's mark $\Delta c_t$ appears at the key and is carried to the end (the line "units carry
# the key to the last step" above) in two ways, both visible in the figure and counted there:
# - on units whose update gate shuts after the key ($\Gamma_u \approx 0$: $c^{<t>} \approx
#   c^{<t-1>}$) — the GRU's "+", $\Gamma_u * \tilde c + (1 - \Gamma_u) * c^{<t-1>}$, playing the
#   role of the LSTM's;
# - on units whose update gate stays open ($\Gamma_u \approx 1$: $c^{<t>} \approx \tilde c^{<t>}$),
#   rewritten at every step from the previous state: the key switched the network into a state
#   that reproduces itself through $W_c$, a memory held by the recurrence, not by the gate.
#
# Before the key $\Gamma_u$ is high on many units: the GRU follows the distractors there. As
# the notes say: one gate fewer, a quarter fewer parameters, and about as good.

# %%
for name in models:
    acc, acc_far = results[name][:2]
    if run.quick:       # a few steps of training: the accuracies mean nothing yet
        common.not_checked(f"the {name} names the key on >= 95% of new sequences (also with the key "
                           f"more than {T // 2} steps back)")
        continue
    common.check(acc >= 0.95 and acc_far >= 0.95,
                 f"the {name} names the key on {acc:.1%} of new sequences ({acc_far:.1%} with the key "
                 f"more than {T // 2} steps back; >= 95%)", exercise=None)
if run.quick:
    common.not_checked("the trained GRU carries the key to the end both on units with the update "
                       "gate shut and on units with it open")
else:
    common.check(shut.sum() >= 1 and open_.sum() >= 1,
                 f"the trained GRU carries the key on units with the update gate shut ({shut.sum()}) and "
                 f"on units with it open ({open_.sum()})", exercise=2)

common.finish()
