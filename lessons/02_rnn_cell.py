# %% [markdown]
# # Lesson 02 — The RNN cell (循环神经网络单元)
#
# **Learning goals**
# 1. Write one step of a recurrent neural network (循环神经网络 RNN) in the notation of notes 003「RNN」,
#    $h_t = \tanh(x_t U + h_{t-1} W + b_h)$, with row vectors.
# 2. Write the same step in the notation of notes 004「前向传播」, $a^{<t>} = \tanh(W_a[a^{<t-1>}, x^{<t>}] + b_a)$,
#    with column vectors and one stacked matrix, and prove the two equal.
# 3. Find both inside the library's `nn.RNNCell` and `nn.RNN`: the same numbers.
# 4. See parameter sharing (参数共享): one cell, applied at every time step.
# 5. Know the kinds of RNN (notes 004「不同类型的循环神经网络」) by their shapes: one-to-one, one-to-many,
#    many-to-one, many-to-many of equal and of different lengths.
#
# **Notes followed**
# - notes 003「RNN」(1):
#   $h_t = f(x_t U + h_{t-1} W + b_h)$, $\hat y_t = \mathrm{softmax}(h_t V + b_y)$, $f = \tanh$;
#   $x_t$ is $1 \times n_x$, $h_t$ is $1 \times n_h$, $U$ is $n_x \times n_h$, $W$ is $n_h \times n_h$.
# - notes 004「1.2 循环神经网络」「前向传播」:
#   $a^{<t>} = g_1(W_{aa} a^{<t-1>} + W_{ax} x^{<t>} + b_a) = g_1(W_a[a^{<t-1>}, x^{<t>}] + b_a)$,
#   $\hat y^{<t>} = g_2(W_{ya} a^{<t>} + b_y)$; $x^{<t>}$ is $(n_x, m)$, $a^{<t>}$ is $(n_a, m)$;
#   and notes 004「不同类型的循环神经网络」 (the kinds of RNN).
# - notes 000「1、rnn 的基本原理」: join $x_t$ and $h_{t-1}$ into one vector, then one fully
#   connected layer gives $h_t$.
#
# **Symbols: the notes, this lesson, PyTorch.**
#
# | notes 003 (rows) | notes 004 (columns) | this lesson | PyTorch (`nn.RNNCell`) |
# |---|---|---|---|
# | $x_t$, $1 \times n_x$ | $x^{<t>}$, $(n_x, m)$ | `x_t` (N, n_x) | input (N, n_x) |
# | $h_t$, $1 \times n_h$ | $a^{<t>}$, $(n_a, m)$ | `h_t` (N, n_h), $a^{<t>} = h_t^T$ | `h` (N, n_h) |
# | $U$, $n_x \times n_h$ | $W_{ax}$, $(n_a, n_x)$ | $U = W_{ax}^T$ | `weight_ih` $= U^T$ |
# | $W$, $n_h \times n_h$ | $W_{aa}$, $(n_a, n_a)$ | $W = W_{aa}^T$ | `weight_hh` $= W^T$ |
# | — | $W_a = [W_{aa} \mid W_{ax}]$ | section 2 | — |
# | $b_h$ | $b_a$ | $b_a = b_h^T$ | `bias_ih + bias_hh` |
#
# Run: `python lessons/02_rnn_cell.py [--quick] [--device cuda]` (a few seconds).

# %%
import numpy as np

from minigrad_lessons import common
import minigrad as mg
from minigrad import nn

run = common.setup("Lesson 02: the RNN cell")

# %% [markdown]
# ## 1. One step in the notation of notes 003: row vectors
# A batch of $N$ examples stacks $N$ row vectors: $x_t$ is $(N, n_x)$, $h_{t-1}$ is $(N, n_h)$.
# We take the weights from a library cell, so that we can compare with it below:
# `nn.RNNCell` stores `weight_ih` $(n_h, n_x)$ and `weight_hh` $(n_h, n_h)$, torch's layout,
# which are the notes' $U^T$ and $W^T$; it has two biases whose sum is $b_h$.

# %%
n_x, n_h, N = 3, 4, 2
cell = nn.RNNCell(n_x, n_h)
with mg.no_grad():
    U = cell.weight_ih.T                                  # U: (n_x, n_h)
    W = cell.weight_hh.T                                  # W: (n_h, n_h)
    b_h = (cell.bias_ih + cell.bias_hh).reshape(1, n_h)   # b_h: (1, n_h)

x_t = mg.randn(N, n_x)                                    # x_t: (N, n_x)
h_prev = mg.randn(N, n_h)                                 # h_{t-1}: (N, n_h)


def step_003(x_t, h_prev):
    """Notes 003 (1): x_t (N, n_x), h_{t-1} (N, n_h) -> h_t (N, n_h)."""
    # BEGIN SOLUTION
    # TITLE: one RNN step in notes 003's notation
    # OFF LIMITS: nn.RNNCell, nn.RNN
    # HINT: h_t = tanh(x_t U + h_{t-1} W + b_h)  -- notes 003 formula (1); `@` is the matrix product
    return (x_t @ U + h_prev @ W + b_h).tanh()            # h_t = tanh(x_t U + h_{t-1} W + b_h)
    # END SOLUTION


h_t = step_003(x_t, h_prev)
print("U", U.shape, " W", W.shape, " b_h", b_h.shape)
print("x_t", x_t.shape, "+ h_{t-1}", h_prev.shape, "-> h_t", h_t.shape)
print(h_t.cpu().numpy().round(4))
common.check(h_t.shape == (N, n_h), "h_t has shape (N, n_h)", exercise=1)

# %% [markdown]
# ## 2. The same step in the notation of notes 004: columns and one stacked matrix
# Notes 004 writes an example as a column, so a batch of $m$ examples is $(n_x, m)$, and puts
# the weights on the left: $W_{aa}$ is $(n_a, n_a)$, $W_{ax}$ is $(n_a, n_x)$. Then it glues them
# side by side, $W_a = [W_{aa} \mid W_{ax}]$ of shape $(n_a, n_a + n_x)$, and stacks
# $a^{<t-1>}$ on top of $x^{<t>}$ into one $(n_a + n_x, m)$ matrix, so that one product does both:
# $$W_a \begin{bmatrix} a^{<t-1>} \\ x^{<t>} \end{bmatrix} = W_{aa} a^{<t-1>} + W_{ax} x^{<t>}.$$
# **Note on the notes.** Notes 004 print the shape of $W_a$ as $(n_x + n_a, m)$; it is
# $(n_a, n_a + n_x)$ (and the stacked input $[a^{<t-1>}, x^{<t>}]$ is $(n_a + n_x, m)$).
# Transposing a product swaps its factors, $(x_t U)^T = U^T x_t^T$, so $W_{ax} = U^T$,
# $W_{aa} = W^T$, $b_a = b_h^T$ and $a^{<t>} = h_t^T$: the same numbers, laid out the other way.

# %%
W_aa, W_ax, b_a = W.T, U.T, b_h.T                          # (n_a, n_a), (n_a, n_x), (n_a, 1)
W_a = mg.cat([W_aa, W_ax], axis=1)                         # W_a = [W_aa | W_ax]: (n_a, n_a + n_x)
a_prev, x_col = h_prev.T, x_t.T                            # columns: (n_a, m), (n_x, m)


def step_004(x_col, a_prev):
    """Notes 004: x^{<t>} (n_x, m), a^{<t-1>} (n_a, m) -> a^{<t>} (n_a, m)."""
    # BEGIN SOLUTION
    # TITLE: one RNN step in notes 004's notation
    # OFF LIMITS: nn.RNNCell, nn.RNN
    # HINT: stack a^{<t-1>} on top of x^{<t>} with mg.cat([...], axis=0): (n_a + n_x, m)
    # HINT: a^{<t>} = tanh(W_a [a^{<t-1>}, x^{<t>}] + b_a)
    stacked = mg.cat([a_prev, x_col], axis=0)              # [a^{<t-1>}, x^{<t>}]: (n_a + n_x, m)
    return (W_a @ stacked + b_a).tanh()                    # a^{<t>} = tanh(W_a[a^{<t-1>}, x^{<t>}] + b_a)
    # END SOLUTION


a_t = step_004(x_col, a_prev)
print("W_a", W_a.shape, " [a, x]", (n_h + n_x, N), "-> a^<t>", a_t.shape)
# compared with the library's cell (the same U, W, b_h), not with your step_003: each exercise
# is judged on its own
common.compare("a^<t>^T", a_t.T, cell(x_t, h_prev), exercise=2, against="nn.RNNCell (notes 003's x U + h W step)",
               cause="the order of [a^<t-1>, x^<t>] must match W_a = [W^T | U^T]; or a missing b_a or tanh")

# %% [markdown]
# ## 3. The library's cell computes the same
# `nn.RNNCell` computes $h' = \tanh(x W_{ih}^T + b_{ih} + h W_{hh}^T + b_{hh})$ (torch's form).

# %%
h_lib = cell(x_t, h_prev)
err = float(np.abs(h_lib.detach().cpu().numpy() - h_t.cpu().numpy()).max())
print(f"largest |nn.RNNCell - step_003| = {err:.1e}")
common.check(err < 1e-6, "our step equals nn.RNNCell", exercise=1)

# %% [markdown]
# ## 4. Unrolling in time: one cell, shared by every step
# A sequence $x_1 \dots x_T$ is read by applying the *same* cell at each step (参数共享,
# parameter sharing), starting from $h_0 = 0$ (notes 004 lets $a^{<0>}$ be the zero vector).
# The parameters do not grow with $T$. `nn.RNN` runs this loop for a whole batch of sequences
# (time-major: $(T, N, n_x)$, or $(N, T, n_x)$ with `batch_first=True`).

# %%
T = 6
xs = mg.randn(T, N, n_x)                                   # x_1..x_T: (T, N, n_x)
h = mg.zeros(N, n_h)                                       # h_0 = 0
hs = []
for t in range(T):
    # BEGIN SOLUTION
    # TITLE: the loop over the time steps
    # OFF LIMITS: nn.RNNCell, nn.RNN
    # HINT: h = step_003(...) at every t: the same step, fed its own previous output h
    h = step_003(xs[t], h)                                 # h_t = tanh(x_t U + h_{t-1} W + b_h)
    # END SOLUTION
    hs.append(h)
hs = mg.stack(hs, axis=0)                                  # (T, N, n_h)

layer = nn.RNN(n_x, n_h)
layer.load_state_dict({"weight_ih_l0": cell.weight_ih, "weight_hh_l0": cell.weight_hh,
                       "bias_ih_l0": cell.bias_ih, "bias_hh_l0": cell.bias_hh})
out, h_n = layer(xs)
print("nn.RNN: output", out.shape, "(every h_t), h_n", h_n.shape, "(the last h_T, per layer)")
print("parameters:", {k: v.shape for k, v in layer.state_dict().items()}, "whatever T is")
err = float(np.abs(out.detach().cpu().numpy() - hs.cpu().numpy()).max())
common.check(err < 1e-5, f"our loop over {T} steps equals nn.RNN (largest difference {err:.1e})", exercise=3)
common.check(np.allclose(h_n.detach().cpu().numpy()[0], hs.cpu().numpy()[-1], atol=1e-6), "h_n is the last step's h_T", exercise=3)

# %% [markdown]
# ## 5. The kinds of RNN, by their shapes
# From notes 004「不同类型的循环神经网络」. The cell is always the same; what changes is where
# inputs go in and where outputs $\hat y^{<t>}$ come out. Below each is built from an
# `nn.RNN` and an output layer $\hat y_t = h_t V + b_y$ (`nn.Linear`), with $n_y$ classes.
#
# | kind | example (notes) | input | output |
# |---|---|---|---|
# | one-to-one 一对一 | an ordinary network | $(N, n_x)$ | $(N, n_y)$ |
# | one-to-many 一对多 | music / text generation | $(N, n_x)$ once | $(N, T_y, n_y)$ |
# | many-to-one 多对一 | text classification | $(N, T_x, n_x)$ | $(N, n_y)$ |
# | many-to-many, $T_x = T_y$ 多对多 | named-entity recognition | $(N, T, n_x)$ | $(N, T, n_y)$ |
# | many-to-many, $T_x \ne T_y$ | machine translation | $(N, T_x, n_x)$ | $(N, T_y, n_y)$ |

# %%
n_y, T_x, T_y = 5, 7, 4
rnn = nn.RNN(n_x, n_h, batch_first=True)
V = nn.Linear(n_h, n_y)                                    # ŷ_t = h_t V + b_y (scores; softmax for probabilities)
to_input = nn.Linear(n_y, n_x)                             # feeds an output back in (one-to-many)
x_seq = mg.randn(N, T_x, n_x)

# one-to-one: a single step from h_0 = 0
y_11 = V(rnn(x_seq[:, :1])[0][:, 0])

# one-to-many: the input once, then each output becomes the next input (notes 004「一种应用:文本生成」)
x, state, outs = x_seq[:, :1], None, []
for t in range(T_y):
    h_seq, state = rnn(x, state)                           # one step: (N, 1, n_h)
    outs.append(V(h_seq[:, 0]))
    x = to_input(outs[-1]).reshape(N, 1, n_x)              # ŷ^{<t>} -> x^{<t+1>}
y_1m = mg.stack(outs, axis=1)

# many-to-one: read everything, predict from the last state h_T
_, h_n = rnn(x_seq)
# BEGIN SOLUTION
# TITLE: the many-to-one output
# HINT: y_m1 = the output layer V applied to the last state; h_n is (num_layers, N, n_h): take h_n[-1]
y_m1 = V(h_n[-1])                                          # ŷ = h_T V + b_y: (N, n_y)
# END SOLUTION

# many-to-many, equal lengths: an output at every step
y_mm = V(rnn(x_seq)[0])                                    # (N, T_x, n_y)

# many-to-many, different lengths: an encoder reads T_x steps, a decoder writes T_y (lesson 13)
decoder = nn.RNN(n_x, n_h, batch_first=True)
dec_in = mg.zeros(N, T_y, n_x)                             # the decoder's inputs (<START>, ... in lesson 13)
y_enc_dec = V(decoder(dec_in, h_n)[0])                     # starts from the encoder's h_T

shapes = {"one-to-one": (y_11.shape, (N, n_y)), "one-to-many": (y_1m.shape, (N, T_y, n_y)),
          "many-to-one": (y_m1.shape, (N, n_y)), "many-to-many (T_x = T_y)": (y_mm.shape, (N, T_x, n_y)),
          "many-to-many (T_x != T_y)": (y_enc_dec.shape, (N, T_y, n_y))}
for kind, (got, want) in shapes.items():
    print(f"{kind:27s} output {str(got):12s} expected {want}")
common.check(all(got == want for got, want in shapes.values()), "every kind of RNN gives its shape", exercise=4)
common.check(np.allclose(y_m1.detach().cpu().numpy(), y_mm.detach().cpu().numpy()[:, -1], atol=1e-6),
             "many-to-one is many-to-many's last output", exercise=4)

# %% [markdown]
# ## 6. What the hidden state looks like
# Left: $h_t$ of one sequence, one column per step, each unit bounded by $\tanh$ in $(-1, 1)$.
# Right: $\tanh$ and its slope $1 - \tanh^2$, which is at most 1 and nearly 0 once $|z| > 3$ —
# the factor that lesson 03 multiplies once per step in BPTT.

# %%
T_show = run.pick(40, 20)
long_layer = nn.RNN(n_x, 16)
with mg.no_grad():
    seq = mg.tensor(np.sin(np.linspace(0, 4 * np.pi, T_show))[:, None, None]
                    * np.array([1.0, -0.5, 2.0])[None, None, :])       # a smooth input: (T, 1, n_x)
    states = long_layer(seq.float())[0][:, 0].cpu().numpy()            # (T, 16)

fig, (ax1, ax2) = common.figure(2)
im = ax1.imshow(states.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
ax1.set_xlabel("time step t")
ax1.set_ylabel("hidden unit")
ax1.set_title(common.label("hidden states h_t", "隐藏状态"))
fig.colorbar(im, ax=ax1)
z = np.linspace(-4, 4, 200)
ax2.plot(z, np.tanh(z), label="tanh(z)")
ax2.plot(z, 1 - np.tanh(z) ** 2, label="tanh'(z) = 1 - tanh(z)^2")
ax2.axhline(0, color="grey", lw=0.5)
ax2.set_xlabel("z")
ax2.set_title(common.label("the activation f = tanh", "激活函数"))
ax2.legend(fontsize=8)
common.savefig(fig, "02_hidden_states_and_tanh")
common.check(np.abs(states).max() < 1, "every hidden unit stays inside (-1, 1)", exercise=None)

common.finish()
