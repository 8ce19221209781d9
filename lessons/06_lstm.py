# %% [markdown]
# # Lesson 06 — LSTM, long short-term memory (长短期记忆网络)
#
# **Learning goals**
# 1. Write each gate of the LSTM by hand in the notes' notation — forget gate (遗忘门),
#    input gate (输入门), the new memory $\tilde C_t$, the cell update, output gate (输出门) —
#    and find them equal to `nn.LSTMCell`.
# 2. Fuse the four gates into one matrix product and write that step's backward pass by hand;
#    prove it equal to autograd and to finite differences (`mg.gradcheck`). Do the same for the
#    library's fused layer `nn.LSTM`, whose BPTT over the whole sequence is hand-written.
# 3. See why the "+" of the cell update keeps gradients alive (梯度消失 vanishing gradients,
#    notes 000「④为何能解决梯度消失？」): the gradient that reaches each earlier step, RNN
#    against LSTM.
# 4. Train both on a long-range memory task: the LSTM learns it, the tanh RNN falls far behind.
# 5. Look at the gates at work while the LSTM remembers.
#
# **Notes followed**
# - notes 003「LSTM」(7):
#   $$\begin{aligned}
#   f_t &= \sigma(W_f \cdot [h_{t-1}, x_t] + b_f) && \text{忘记门 forget gate}\\
#   i_t &= \sigma(W_i \cdot [h_{t-1}, x_t] + b_i) && \text{input gate}\\
#   \tilde C_t &= \tanh(W_C \cdot [h_{t-1}, x_t] + b_C) && \text{new memory}\\
#   C_t &= f_t \odot C_{t-1} + i_t \odot \tilde C_t && \text{update the memory}\\
#   o_t &= \sigma(W_O [h_{t-1}, x_t] + b_O) && \text{output gate}\\
#   h_t &= o_t \odot \tanh(C_t)
#   \end{aligned} \qquad (7)$$
# - notes 000「2、LSTM 的基本原理」: the forget gate ① scales each entry of $c(t-1)$ by a
#   number in (0, 1); the input gate ② scales the candidate $\tilde c_t$, itself an RNN step;
#   the output gate ③ filters $\tanh(c_t)$; and notes 000「④为何能解决梯度消失？」: because
#   the cell update adds, the gradient flowing back through it shrinks less.
# - notes 004「1.3 长短期记忆网络LSTM」: the same gates as $\Gamma_u$, $\Gamma_f$, $\Gamma_o$, in
#   column vectors — with two errors, corrected in the note below.
#
# **Symbols: the notes, this lesson, PyTorch.**
#
# | notes 003 (7), 000 | notes 004 | this lesson | PyTorch (`nn.LSTM`) |
# |---|---|---|---|
# | $f_t$ forget gate ① | $\Gamma_f$ | $f_t$ | `f`, rows $H..2H$ of `weight_ih` |
# | $i_t$ input gate ② | $\Gamma_u$ "update gate" | $i_t$ | `i`, rows $0..H$ |
# | $\tilde C_t$, 000 $\tilde c_t$ | $\tilde c^{<t>}$ | $\tilde C_t$ | `g`, rows $2H..3H$ |
# | $o_t$ output gate ③ | $\Gamma_o$ | $o_t$ | `o`, rows $3H..4H$ |
# | $C_t$ cell state, 000 $c(t)$ | $c^{<t>}$ | $C_t$ (in lesson 14, $C_t$ is the attention *context*) | `c` |
# | $h_t$ | $a^{<t>}$ | $h_t$ | `h` |
# | $W_f \cdot [h_{t-1}, x_t]$, rows | $W_f [a^{<t-1>}, x^{<t>}]$, columns | `hx @ W_f.T`, a batch of rows | `x @ weight_ih.T + h @ weight_hh.T` |
#
# Lesson 07's $\Gamma_u$ is the GRU's update gate, a different gate with the same name.
#
# **Note on the notes.** Notes 004's LSTM has two errors. (a) The candidate is written
# $\tilde c^{<t>} = \tanh(W_c[c^{<t-1>}, x^{<t>}] + b_c)$; it reads the previous *output*,
# $\tanh(W_c[a^{<t-1>}, x^{<t>}] + b_c)$, like every other gate. (b) The update is written
# $c^{<t>} = \Gamma_u * \tilde c^{<t>} + (1 - \Gamma_u) * c^{<t-1>}$, the GRU's rule; the LSTM
# has its own forget gate there, $c^{<t>} = \Gamma_u * \tilde c^{<t>} + \Gamma_f * c^{<t-1>}$ — the
# notes even say the two gates are independent. Formula (7) of notes 003 is right.
#
# **Claim checked at the end** (default run, about a minute on a 2-core laptop CPU): on
# sequences of 80 symbols, the LSTM names the key on at least 95% of new sequences, also when
# the key lies more than 40 steps back; the tanh RNN, trained the same way, stays at least 40
# points below it there.
#
# Run: `python lessons/06_lstm.py [--quick] [--device cuda]`.

# %%
import numpy as np

from minigrad_lessons import common
import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.data import memory_batches, remember_batch
from minigrad.models import memory_model
from minigrad.training import train_classifier

run = common.setup("Lesson 06: LSTM")

# %% [markdown]
# ## 1. The gates by hand, in the notes' notation
# The notes write one matrix per gate acting on the concatenation $[h_{t-1}, x_t]$ (拼接
# concatenation). A library cell stores torch's layout instead: `weight_ih` $(4H, D)$ and
# `weight_hh` $(4H, H)$ with the gates' rows stacked in the order $i, f, \tilde C, o$, and two
# biases. So the notes' $W_f$ is $[W_{hf} \mid W_{if}]$, of shape $(H, H + D)$, and
# $b_f = b_{if} + b_{hf}$. A batch stacks $N$ rows: $[h_{t-1}, x_t]$ is $(N, H + D)$ and
# $W_f \cdot [h_{t-1}, x_t]$ becomes `hx @ W_f.T`.

# %%
D, H, N = 3, 4, 2
cell = nn.LSTMCell(D, H).double()                       # float64: exact enough for finite differences
GATES = ["i", "f", "C", "o"]                            # torch's row order: i, f, C~ (torch: g), o


def notes_weights(weight_ih, weight_hh, bias_ih, bias_hh):
    """Torch's stacked weights -> the notes' {gate: (W (H, H + D), b (H,))}."""
    H = weight_hh.shape[1]
    out = {}
    for k, gate in enumerate(GATES):
        rows = slice(k * H, (k + 1) * H)
        out[gate] = (mg.cat([weight_hh[rows], weight_ih[rows]], axis=1),   # [W_h | W_x]
                     bias_ih[rows] + bias_hh[rows])
    return out


with mg.no_grad():
    Wn = notes_weights(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)


def lstm_step(x_t, h_prev, c_prev, Wn):
    """Formula (7). x_t (N, D), h_{t-1} and C_{t-1} (N, H) -> h_t, C_t and the gates."""
    hx = mg.cat([h_prev, x_t], axis=1)                  # [h_{t-1}, x_t]: (N, H + D)
    # BEGIN SOLUTION
    # TITLE: the LSTM's gates by hand
    # OFF LIMITS: nn.LSTMCell, nn.LSTM
    # HINT: each gate: (hx @ W.T + b) then .sigmoid() (f, i, o) or .tanh() (C~); W, b = Wn["f"] etc.
    # HINT: C_t = f_t * C_{t-1} + i_t * C~_t  and  h_t = o_t * tanh(C_t)   (formula (7))
    # HINT: name them f, i, C_new, o, c and h: the return line below uses these names
    f = (hx @ Wn["f"][0].T + Wn["f"][1]).sigmoid()      # f_t = σ(W_f·[h_{t-1}, x_t] + b_f)   ① forget gate
    i = (hx @ Wn["i"][0].T + Wn["i"][1]).sigmoid()      # i_t = σ(W_i·[h_{t-1}, x_t] + b_i)   ② input gate
    C_new = (hx @ Wn["C"][0].T + Wn["C"][1]).tanh()     # C~_t = tanh(W_C·[h_{t-1}, x_t] + b_C)
    c = f * c_prev + i * C_new                          # C_t = f_t ⊙ C_{t-1} + i_t ⊙ C~_t
    o = (hx @ Wn["o"][0].T + Wn["o"][1]).sigmoid()      # o_t = σ(W_O[h_{t-1}, x_t] + b_O)    ③ output gate
    h = o * c.tanh()                                    # h_t = o_t ⊙ tanh(C_t)
    # END SOLUTION
    return h, c, {"i": i, "f": f, "o": o, "C~": C_new}


x_t = mg.randn(N, D, dtype=mg.float64)
h_prev, c_prev = mg.randn(N, H, dtype=mg.float64), mg.randn(N, H, dtype=mg.float64)
h_t, c_t, gates = lstm_step(x_t, h_prev, c_prev, Wn)
for name, g in gates.items():
    print(f"{name:3s} {g.shape}: {g.cpu().numpy()[0].round(3)}")
h_lib, c_lib = cell(x_t, (h_prev, c_prev))
common.compare("C_t", c_t, c_lib, exercise=1, atol=1e-12, rtol=0.0, against="nn.LSTMCell",
               cause="C_t = f_t ⊙ C_{t-1} + i_t ⊙ C~_t (C~ with tanh, the gates with σ)")
common.compare("h_t", h_t, h_lib, exercise=1, atol=1e-12, rtol=0.0, against="nn.LSTMCell",
               cause="h_t = o_t ⊙ tanh(C_t)")

# %% [markdown]
# ## 2. One fused step, with its backward written by hand
# Four gates, four products of the same $[h_{t-1}, x_t]$: stack the four matrices into one
# $W$ of shape $(4H, H + D)$ and do one product, $A = [h_{t-1}, x_t] W^T + b$, then slice
# $A$ into the gates. As an `mg.Function`, forward and backward work on raw arrays, and we
# write the backward ourselves. Walking formula (7) backwards, with $\delta h_t$ and
# $\delta C_t$ the gradients arriving at the step's two outputs:
# - $\delta o = \delta h_t \odot \tanh C_t$, and the memory's total gradient
#   $\delta C = \delta C_t + \delta h_t \odot o_t \odot (1 - \tanh^2 C_t)$
# - $\delta f = \delta C \odot C_{t-1}$, $\delta i = \delta C \odot \tilde C_t$,
#   $\delta \tilde C = \delta C \odot i_t$, and $\delta C_{t-1} = \delta C \odot f_t$ — through the "+"
# - through the activations: $\sigma' = \sigma(1 - \sigma)$, $\tanh' = 1 - \tanh^2$, giving $\delta A$
# - $\delta W = \delta A^T [h_{t-1}, x_t]$, $\delta b = \sum_N \delta A$,
#   $\delta [h_{t-1}, x_t] = \delta A\, W$.

# %%
class LSTMStep(mg.Function):
    """One LSTM step, four gates in one product. x (N, D), h, c (N, H), W (4H, H + D) with
    rows i, f, C~, o and columns [h | x], b (4H,) -> (h_t, C_t)."""

    def forward(self, x, h, c, W, b):
        xp = mg.backend.get_array_module(x)
        H = h.shape[1]
        hx = xp.concatenate([h, x], axis=1)              # [h_{t-1}, x_t]
        A = hx @ W.T + b                                 # all four gates' inputs: (N, 4H)
        sig = lambda a: 1 / (1 + xp.exp(-a))             # noqa: E731
        i, f, g, o = sig(A[:, :H]), sig(A[:, H:2 * H]), xp.tanh(A[:, 2 * H:3 * H]), sig(A[:, 3 * H:])
        c_t = f * c + i * g                              # C_t = f_t C_{t-1} + i_t C~_t
        tc = xp.tanh(c_t)
        self.saved = hx, W, c, i, f, g, o, tc
        return o * tc, c_t                               # h_t = o_t tanh(C_t)

    def backward(self, dh, dc_next):
        hx, W, c_prev, i, f, g, o, tc = self.saved
        xp = mg.backend.get_array_module(hx)
        H = c_prev.shape[1]
        # BEGIN SOLUTION
        # TITLE: the fused step's backward by hand
        # POINTS: 2
        # OFF LIMITS: nn.LSTMCell, nn.LSTM, backward, backward_step
        # HINT: do = dh*tanh(C_t); dC = dc_next + dh*o*(1 - tanh(C_t)^2); then df, di, dg from dC, and dc_prev = dC*f
        # HINT: dA = concatenate of [di*i*(1-i), df*f*(1-f), dg*(1-g^2), do*o*(1-o)] on axis 1 (order i, f, C~, o)
        # HINT: dW = dA.T @ hx, db = dA.sum(axis=0), dhx = dA @ W; split dhx into dh_prev = dhx[:, :H], dx = dhx[:, H:]
        do = dh * tc                                     # δo = δh_t ⊙ tanh C_t
        dC = dc_next + dh * o * (1 - tc * tc)            # δC = δC_t + δh_t ⊙ o_t ⊙ tanh'(C_t)
        df, di, dg = dC * c_prev, dC * g, dC * i         # δf = δC ⊙ C_{t-1}, δi = δC ⊙ C~_t, δC~ = δC ⊙ i_t
        dc_prev = dC * f                                 # δC_{t-1} = δC ⊙ f_t: the "+" passes it on, times f_t only
        dA = xp.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1)
        dW = dA.T @ hx                                   # δW = δA^T [h_{t-1}, x_t]
        db = dA.sum(axis=0)                              # δb = Σ_N δA
        dhx = dA @ W                                     # δ[h_{t-1}, x_t] = δA W
        dh_prev, dx = dhx[:, :H], dhx[:, H:]
        # END SOLUTION
        return dx, dh_prev, dc_prev, dW, db


def fused_weights(Wn):
    """The notes' four (W, b) stacked in the order i, f, C~, o: W (4H, H + D), b (4H,)."""
    return mg.cat([Wn[g][0] for g in GATES], axis=0), mg.cat([Wn[g][1] for g in GATES], axis=0)


W_all, b_all = fused_weights(Wn)
inputs = [t.detach().requires_grad_() for t in (x_t, h_prev, c_prev, W_all, b_all)]
h_f, c_f = LSTMStep()(*inputs)
common.check(np.allclose(h_f.detach().cpu().numpy(), h_t.cpu().numpy(), atol=1e-12) and np.allclose(c_f.detach().cpu().numpy(), c_t.cpu().numpy(), atol=1e-12),
             "the fused step's forward equals the gates by hand", exercise=1)

# %% [markdown]
# Compare the hand-written backward with autograd through the gates of section 1 (the same
# weights, cut back into per-gate matrices), then with finite differences.

# %%
r_h, r_c = mg.randn(N, H, dtype=mg.float64), mg.randn(N, H, dtype=mg.float64)   # a loss that uses both outputs
(h_f * r_h + c_f * r_c).sum().backward()
auto = [t.detach().requires_grad_() for t in (x_t, h_prev, c_prev, W_all, b_all)]
per_gate = {g: (auto[3][k * H:(k + 1) * H], auto[4][k * H:(k + 1) * H]) for k, g in enumerate(GATES)}
h_a, c_a, _ = lstm_step(auto[0], auto[1], auto[2], per_gate)
(h_a * r_h + c_a * r_c).sum().backward()
causes = {"dx": "dx = dhx[:, H:]", "dh_prev": "dh_prev = dhx[:, :H]",
          "dC_prev": "dC_prev = dC ⊙ f_t, with dC = dC_t + dh_t ⊙ o_t ⊙ (1 - tanh²C_t)",
          "dW": "the gate order i, f, C~, o in dA, and each gate's derivative (σ' = s(1 - s), tanh' = 1 - t²)",
          "db": "dA summed over the batch"}
for name, a, m in zip(causes, auto, inputs):
    common.compare(f"{name} (hand backward)", m.grad, a.grad, exercise=2, atol=1e-12, rtol=0.0,
                   against="autograd", cause=causes[name])

try:
    passed = mg.gradcheck(lambda *a: LSTMStep()(*a), [t.detach().requires_grad_() for t in inputs])
except AssertionError as e:
    passed = False
    print(e)
common.check(passed, "the hand-written LSTM backward passes mg.gradcheck (finite differences)", exercise=2)

# %% [markdown]
# ### The library's fused layer
# `nn.LSTM` runs a whole sequence as one op whose BPTT — this backward, carried from the last
# step to the first — is written by hand. The step is `LSTM.backward_step` in
# `minigrad/nn/cells.py`: the same maths as the backward you just wrote, line for line
# ($\delta o$, $\delta C$, $\delta f$, $\delta i$, $\delta \tilde C$, $\delta C_{t-1}$, then
# $\sigma' = s(1 - s)$ and $\tanh' = 1 - y^2$), except that $x_t W_{ih}^T$ and its gradients are
# done for all steps at once by the shared time loop in `minigrad/nn/recurrence.py`.
# `fused=False` makes the layer loop the composed cell instead, so autograd does BPTT. Same
# values, same gradients, and finite differences agree with the fused one.

# %%
T_small = 5
xs = mg.randn(T_small, N, D, dtype=mg.float64)
grads = {}
for fused in (True, False):
    layer = nn.LSTM(D, H, fused=fused).double()
    layer.load_state_dict({"weight_ih_l0": cell.weight_ih, "weight_hh_l0": cell.weight_hh,
                           "bias_ih_l0": cell.bias_ih, "bias_hh_l0": cell.bias_hh})
    x_in = xs.detach().requires_grad_()
    out, (h_n, c_n) = layer(x_in)
    (out * mg.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape))).sum().backward()
    grads[fused] = [out.detach().cpu().numpy(), x_in.grad.cpu().numpy()] + \
        [p.grad.cpu().numpy() for p in layer.parameters()]
diff = max(float(np.abs(a - b).max()) for a, b in zip(grads[True], grads[False]))
print(f"fused nn.LSTM vs the cell looped by autograd: largest difference {diff:.1e}")
common.check(diff < 1e-10, "the fused layer's hand-written BPTT equals autograd over the time loop", exercise=None)

fused_layer = nn.LSTM(D, H).double()
h0 = mg.randn(1, N, H, dtype=mg.float64, requires_grad=True)
c0 = mg.randn(1, N, H, dtype=mg.float64, requires_grad=True)
try:
    passed = mg.gradcheck(lambda x, h, c: fused_layer(x, (h, c))[0],
                          [xs.detach().requires_grad_(), h0, c0])
except AssertionError as e:
    passed = False
    print(e)
common.check(passed, "the fused layer passes mg.gradcheck with respect to x, h_0 and C_0", exercise=None)

# %% [markdown]
# ## 3. The long-range memory task
# A sequence of $T$ symbols: one of them is a *key* (one of 4), all others are distractors
# (4 other symbols, at random). After the last symbol the network must name the key. The key
# stands anywhere from 1 to $T$ steps before the end, so the network has to keep it through up
# to $T - 1$ distractors. A classifier reads the last hidden state: $\hat y = \mathrm{softmax}(h_T V + b_y)$.
#
# One detail gives the LSTM its head start: we set the forget gate's bias to $b_f = 3$, so
# that at the start $f_t = \sigma(3) \approx 0.95$ (printed below) and the cell keeps what it
# stores (Jozefowicz et al. 2015, in the notes' references, recommend starting $b_f$ at 1 or
# more).
# The tanh RNN has no gate to open: whatever it keeps it must keep through $W$.

# %%
T = run.pick(80, 12)
steps = run.pick(400, 25)
K, hidden, batch = 4, 32, 64


f_start = 1 / (1 + np.exp(-3.0))
print(f"f_t = σ(3) = {f_start:.3f} at the start")
common.check(abs(f_start - 0.95) < 0.005, "σ(3) ≈ 0.95", exercise=None)

test_x, test_key, test_dist = remember_batch(np.random.default_rng(run.seed + 1), run.pick(2000, 300), T, K)
x, key, dist = remember_batch(run.rng, 4, T, K)
print(f"T = {T}; 4 sequences as symbol ids (keys 0-3, distractors 4-7):")
for row, k, d in zip(x.argmax(axis=2), key, dist):
    print(f"  key {k} at {d:2d} steps from the end: {' '.join(map(str, row[:24]))}{' ...' if T > 24 else ''}")

# %% [markdown]
# ## 4. Why the "+" keeps gradients (notes 000「④为何能解决梯度消失？」)
# In the RNN each step multiplies the gradient by the Jacobian of $h_t = \tanh(x_t U + h_{t-1} W + b_h)$
# (lesson 03, formula (5)). With the row vectors of notes 003, the Jacobian (entry $(j, k)$ is
# $\partial h_{t,j} / \partial h_{t-1,k}$) is $\mathrm{diag}(1 - h_t^2)\, W^T$, and the gradient, a
# row, travels back as $\delta h_{t-1} = \delta h_t\, \mathrm{diag}(1 - h_t^2)\, W^T = \delta z\, W^T$:
# lesson 03's line `dh_next = dz @ W.T`. (Notes 003 (5) write $f' W$, which is the same thing
# for column vectors, where $h_t = \tanh(W h_{t-1} + \dots)$.) A product of many such factors
# shrinks exponentially. In the LSTM the memory has its own path: from
# $C_t = f_t \odot C_{t-1} + i_t \odot \tilde C_t$, the *direct* path gives
# $$\frac{\partial C_t}{\partial C_{t-1}}\Big|_{\text{direct}} = \mathrm{diag}(f_t),$$
# no $W$ and no $\tanh'$ — with $f_t$ near 1 the gradient passes almost unchanged. That is
# not the whole derivative: $f_t$, $i_t$ and $\tilde C_t$ read $h_{t-1} = o_{t-1} \odot
# \tanh(C_{t-1})$, so further paths run through the gates and through $W$ (the backward above
# follows them: the gates' gradient reaches `dh_prev` through `dA @ W`, and the step before
# turns it into a gradient on $C_{t-1}$ through $o_{t-1} \odot \tanh'$). Those paths shrink like
# the RNN's; the direct one is what survives over long spans.
#
# The forget gate is not in the first LSTM (Hochreiter & Schmidhuber 1997), whose cell kept its
# content with a fixed weight of 1, $C_t = C_{t-1} + i_t \odot \tilde C_t$ (the "constant error
# carousel"); Gers et al. 2000 added $f_t$ so that a cell can also forget. We measure
# $\|\partial \text{loss} / \partial x_k\|$, how strongly the loss at the end still feels the
# input of step $k$, for both networks before training.

# %%
def grad_by_step(model, x, key):
    """||d loss / d x_k|| for every step k (averaged over the batch): (T,)."""
    x_in = mg.tensor(x, requires_grad=True)
    F.cross_entropy(model(x_in), key).backward()
    g = x_in.grad.cpu().numpy()            # (N, T, 2K)
    return np.sqrt((g ** 2).sum(axis=2)).mean(axis=0)


probe_x, probe_key, _ = remember_batch(np.random.default_rng(run.seed + 2), run.pick(256, 64), T, K)
# nn.<kind> -> Linear on h_T; for the LSTM, b_f = 3 (keep_bias adds it to the rows of f)
models = {"tanh RNN": memory_model("RNN", K, hidden, run.seed),
          "LSTM": memory_model("LSTM", K, hidden, run.seed, keep_bias=3.0)}
before = {name: grad_by_step(m, probe_x, probe_key) for name, m in models.items()}
for name, g in before.items():
    print(f"{name:8s} ||d loss/d x_k||: last step {g[-1]:.2e}, first step {g[0]:.2e}, ratio {g[0] / g[-1]:.1e}")
ratio_rnn = before["tanh RNN"][0] / before["tanh RNN"][-1]
ratio_lstm = before["LSTM"][0] / before["LSTM"][-1]
common.check(ratio_lstm > 100 * ratio_rnn,
             "through the cell's '+' far more gradient reaches the first step than in the tanh RNN", exercise=None)

# %% [markdown]
# ## 5. Train both
# Adam, gradients clipped by norm (lesson 04), the same batches, learning rate and number of
# steps for both. (Adam rescales even tiny gradients, so with a smaller learning rate and many
# more steps a tanh RNN does learn part of this task — slowly and unstably. Within the same
# budget it stays far below the LSTM: the two "accuracy" lines below.)

# %%
def accuracy_by_distance(model):
    with mg.no_grad():
        right = model(mg.tensor(test_x)).cpu().numpy().argmax(axis=1) == test_key
    far = test_dist > T // 2
    return float(right.mean()), float(right[far].mean()), right


curves, results = {}, {}
for name, model in models.items():
    make_batch = memory_batches(run.seed, batch, T, K)
    curves[name] = train_classifier(model, make_batch, common.progress(range(steps), desc=name), lr=0.01)
    results[name] = accuracy_by_distance(model)
    print(f"{name:8s} accuracy {results[name][0]:.1%} overall, {results[name][1]:.1%} with the key "
          f"more than {T // 2} steps back (chance: 25%)")
after = {name: grad_by_step(m, probe_x, probe_key) for name, m in models.items()}

# %%
fig, axes = common.figure(3, width=4.6)
bins = np.linspace(0, T, 9).astype(int)
for name, color in zip(models, ("C0", "C1")):
    axes[0].plot(np.arange(len(curves[name])) * 10, curves[name], color=color, label=name)
    right = results[name][2]
    acc = [right[(test_dist > a) & (test_dist <= b)].mean() for a, b in zip(bins[:-1], bins[1:])]
    axes[1].plot((bins[:-1] + bins[1:]) / 2, acc, "o-", color=color, label=name)
    distance = np.arange(T, 0, -1)
    axes[2].semilogy(distance, before[name], "--", color=color, label=f"{name}, before training")
    axes[2].semilogy(distance, after[name], color=color, label=f"{name}, trained")
axes[0].set_xlabel("step")
axes[0].set_ylabel("cross-entropy")
axes[0].set_title(common.label("training loss", "损失"))
axes[1].axhline(0.25, color="grey", ls=":", label="chance")
axes[1].set_xlabel("distance from the key to the end")
axes[1].set_ylabel("accuracy")
axes[1].set_ylim(0, 1.05)
axes[1].set_title(common.label("naming the key", "长程记忆"))
axes[2].set_xlabel("distance T - k + 1 from the loss")
axes[2].set_ylabel("||d loss / d x_k||")
axes[2].set_title(common.label("gradient reaching step k", "梯度消失"))
for ax in axes:
    ax.legend(fontsize=7)
common.savefig(fig, "06_rnn_vs_lstm_memory_task")

# %% [markdown]
# ## 6. The gates at work
# Run the trained LSTM step by step with `lstm_step` from section 1 (the trained weights, in
# the notes' layout) on a sequence whose key stands in the middle, keeping every gate. To see
# what the memory holds, run a twin sequence that differs only in the key, and subtract: the
# difference of the two memories, $\Delta C_t$, is what the key wrote into $C$.

# %%
lstm = models["LSTM"]
Wt = notes_weights(lstm.rnn.weight_ih_l0, lstm.rnn.weight_hh_l0, lstm.rnn.bias_ih_l0, lstm.rnn.bias_hh_l0)
pick = int(np.argmin(np.abs(test_dist - T // 2)))          # a key half-way back
key_at = T - int(test_dist[pick])
twin = test_x[pick:pick + 1].copy()
twin[0, key_at] = np.eye(2 * K, dtype=np.float32)[(test_key[pick] + 1) % K]   # another key, same place


def run_gates(x):
    """The gates i, f, o and the memory C of every step: {name: (hidden, T)}."""
    h, c = mg.zeros(1, hidden), mg.zeros(1, hidden)
    trace = {"i": [], "f": [], "o": [], "C": []}
    with mg.no_grad():
        for t in range(T):
            h, c, g = lstm_step(mg.tensor(x[:, t]), h, c, Wt)
            for name in ("i", "f", "o"):
                trace[name].append(g[name].cpu().numpy()[0])
            trace["C"].append(c.cpu().numpy()[0])
    return {k: np.array(v).T for k, v in trace.items()}


trace = run_gates(test_x[pick:pick + 1])
delta = trace["C"] - run_gates(twin)["C"]                  # ΔC_t: (hidden, T), 0 before the key
with mg.no_grad():
    said = [int(lstm(mg.tensor(x)).cpu().numpy().argmax()) for x in (test_x[pick:pick + 1], twin)]
print(f"key at step {key_at}: the LSTM says {said[0]} for the sequence (key {test_key[pick]}) and {said[1]} for its twin")
print(f"|ΔC| summed over units: {np.abs(delta[:, key_at]).sum():.2f} at the key, "
      f"{np.abs(delta[:, -1]).sum():.2f} at the last step; mean forget gate {trace['f'].mean():.2f}")
moved = {g: int((np.abs(trace[g][:, key_at + 1:].mean(axis=1) - trace[g][:, :key_at].mean(axis=1)) > 0.2).sum())
         for g in ("f", "i", "o")}
print("units whose gate changes after the key (mean after - mean before > 0.2):", moved)
common.check(np.all(delta[:, :key_at] == 0), "before the key the twins' memories are identical", exercise=1)

fig, axes = common.figure(2, 2, width=5.2, height=2.8)
titles = {"i": ("input gate i_t", "输入门"), "f": ("forget gate f_t", "遗忘门"),
          "o": ("output gate o_t", "输出门"), "dC": ("what the key wrote: C_t - C_t(twin)", "记忆细胞")}
shown = dict(trace, dC=delta)
for ax, (name, (en, zh)) in zip(axes.ravel(), titles.items()):
    lim = (0, 1) if name != "dC" else (-np.abs(delta).max(), np.abs(delta).max())
    im = ax.imshow(shown[name], aspect="auto", cmap="viridis" if name != "dC" else "RdBu_r",
                   vmin=lim[0], vmax=lim[1])
    ax.axvline(key_at, color="red", lw=1)
    ax.set_title(common.label(en, zh) + " (red: the key)", fontsize=9)
    ax.set_xlabel("time step t")
    ax.set_ylabel("unit")
    fig.colorbar(im, ax=ax)
common.savefig(fig, "06_lstm_gates")

# %% [markdown]
# Before the key the twins are identical, so $\Delta C_t = 0$. The key writes into the memory
# through $i_t \odot \tilde C_t$, and from then on the difference does not fade: it is carried to
# the last step by $C_t = f_t \odot C_{t-1} + \dots$ with the forget gate near 1 on most units —
# the "+" path of section 4 at work — and it even grows (the line "|ΔC| summed over units"),
# because the key also changed $h_t$ and, through $h_t$, the gates of the later steps: the line
# "units whose gate changes after the key" counts the units whose forget, input or output gate
# moves on average by more than 0.2 once the key has passed (checked: at least one). (The LSTM
# found its own way to do this; many units also add up the distractors, which is why $C_t$
# itself drifts; the difference of the twins shows only the key.) The tanh RNN has no such
# path: every distractor passes through $W$ and $\tanh$ and overwrites a little of the key.

# %%
rnn_all, rnn_far, _ = results["tanh RNN"]
lstm_all, lstm_far, _ = results["LSTM"]
if run.quick:           # a few steps of training: the accuracies mean nothing yet
    common.not_checked(f"the LSTM names the key on >= 95% of new sequences (also with the key more "
                       f"than {T // 2} steps back); the tanh RNN stays >= 40 points below it there; "
                       "the key's mark on C grows from the key to the end; the key changes some gates")
else:
    common.check(lstm_all >= 0.95 and lstm_far >= 0.95,
                 f"the LSTM names the key on {lstm_all:.1%} of new sequences ({lstm_far:.1%} with the "
                 f"key more than {T // 2} steps back; >= 95%)", exercise=None)
    common.check(rnn_far <= lstm_far - 0.40,
                 f"the tanh RNN, trained the same way, stays at {rnn_far:.1%} when the key is more than "
                 f"{T // 2} steps back (at least 40 points below the LSTM)", exercise=None)
    common.check(np.abs(delta[:, -1]).sum() > np.abs(delta[:, key_at]).sum(),
                 "the key's mark on the memory grows from the key to the last step", exercise=1)
    common.check(sum(moved.values()) >= 1, f"the key changes gates of later steps: {moved}", exercise=1)

common.finish()
