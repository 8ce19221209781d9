# %% [markdown]
# # Lesson 03 — Backpropagation through time, by hand (随时间反向传播 BPTT)
#
# **Learning goals**
# 1. Write the forward pass of the tanh RNN language model in the notes' notation.
# 2. Write its backward pass **by hand**: the gradient of every step's loss flows back
#    through every earlier hidden state — formulas (4) and (5) of the notes.
# 3. Prove it right: equal to autograd, and to finite differences (有限差分).
# 4. See from formula (5) why the gradient reaching distant steps vanishes (梯度消失) when
#    $W$ is small and explodes (梯度爆炸) when it is large.
#
# **Notes followed** — notes 003「RNN」(1)-(5):
# - (1) $h_t = f(x_t U + h_{t-1} W + b_h)$, $\hat y_t = \mathrm{softmax}(h_t V + b_y)$, $f = \tanh$;
#   row vectors: $x_t$ is $1 \times n_x$, $h_t$ is $1 \times n_h$, $U$ is $n_x \times n_h$,
#   $W$ is $n_h \times n_h$, $V$ is $n_h \times \text{vocab\_size}$ (a batch stacks $N$ rows).
# - (2) $\text{loss}_t = -y_t \log \hat y_t$ (cross-entropy 交叉熵), (3) $\text{Loss} = \sum_t \text{loss}_t$.
# - (4) $\dfrac{\partial \text{loss}_t}{\partial W} = \sum_{k} \dfrac{\partial \text{loss}_t}{\partial \hat y_t}
#   \dfrac{\partial \hat y_t}{\partial h_t} \Big(\prod_{j=k+1}^{t} \dfrac{\partial h_j}{\partial h_{j-1}}\Big)
#   \dfrac{\partial h_k}{\partial W_k}$,
#   (5) $\dfrac{\partial h_j}{\partial h_{j-1}} = f'_j\, W$.
#
# **Note on the notes.** With the notes' own row vectors, the Jacobian $\partial h_j / \partial h_{j-1}$
# (entry $(a, b)$ is $\partial h_{j,a} / \partial h_{j-1,b}$) is $\mathrm{diag}(f'_j)\, W^T$; (5)'s
# $f'_j W$ is that factor written for column vectors, where $h_j = f(W h_{j-1} + \dots)$. A
# backward pass multiplies the row gradient on the right: $\delta h_{j-1} = (\delta h_j \odot f'_j)\, W^T$,
# section 2's last step (lesson 06 uses the same convention).
#
# Run: `python lessons/03_bptt_by_hand.py [--quick] [--device cuda]` (a few seconds).

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import numpy as np

import minigrad as mg
import minigrad.functional as F

run = common.setup("Lesson 03: BPTT by hand")

# %% [markdown]
# ## 1. The RNN language model, forward
# Parameters in the notes' names and shapes, in float64 so that finite differences are exact
# enough to compare with. Inputs are one-hot words (独热编码), targets the next word.

# %%
n_x = vocab = 6            # one-hot input over the vocabulary, and the softmax over it
n_h, T, N = 5, 7, 3


def param(*shape, scale):
    return (mg.randn(*shape, dtype=mg.float64) * scale).requires_grad_()


U = param(n_x, n_h, scale=0.5)        # input weights   (n_x, n_h)
W = param(n_h, n_h, scale=0.5)        # memory weights  (n_h, n_h)
b_h = param(1, n_h, scale=0.1)
V = param(n_h, vocab, scale=0.5)      # output weights  (n_h, vocab)
b_y = param(1, vocab, scale=0.1)
params = {"U": U, "W": W, "b_h": b_h, "V": V, "b_y": b_y}

tokens = run.rng.integers(0, vocab, size=(N, T + 1))          # a random corpus: (N, T+1) word ids
eye = np.eye(vocab)
xs = [mg.tensor(eye[tokens[:, t]]) for t in range(T)]         # x_t: one-hot (N, n_x), float64
ys = [tokens[:, t + 1] for t in range(T)]                       # y_t: next word ids (N,)


def forward(h0=None):
    """Formula (1) at every step and the total loss (2)-(3). Returns (Loss, hs, probs):
    hs[t] = h_t (N, n_h) with hs[0] = h_0, probs[t] = ŷ_{t+1} (N, vocab)."""
    h = h0 if h0 is not None else mg.zeros(N, n_h, dtype=mg.float64)
    hs, probs, loss = [h], [], 0.0
    for t in range(T):
        h = (xs[t] @ U + h @ W + b_h).tanh()                   # h_t = tanh(x_t U + h_{t-1} W + b_h)
        logits = h @ V + b_y                                   # h_t V + b_y
        probs.append(F.softmax(logits))                        # ŷ_t = softmax(h_t V + b_y)
        loss = loss + F.cross_entropy(logits, ys[t], reduction="sum")   # loss_t = -y_t log ŷ_t, summed (3)
        hs.append(h)
    return loss, hs, probs


Loss, hs, probs = forward()
print(f"Loss = sum_t loss_t = {Loss.item():.4f} over {T} steps and {N} sequences "
      f"(a uniform guess gives {T * N * np.log(vocab):.4f})")

# %% [markdown]
# ## 2. The backward pass by hand
# Walk the steps backwards. At step $t$ the gradient reaching $h_t$ has two parts: from this
# step's own loss through $V$, and from all later steps through $h_{t+1}$ — that second part is
# the product $\prod_j \partial h_j / \partial h_{j-1}$ of (4), built one factor (5) at a time.
# With $z_t = x_t U + h_{t-1} W + b_h$ (the input of $f$) and row vectors:
# - softmax with cross-entropy: $\partial \text{loss}_t / \partial (h_t V + b_y) = \hat y_t - y_t$
# - $\partial \text{Loss}/\partial h_t = (\hat y_t - y_t) V^T + \partial \text{Loss}/\partial h_t\big|_{\text{from } t+1}$
# - $\partial \text{Loss}/\partial z_t = \partial \text{Loss}/\partial h_t \odot f'(z_t)$, with $\tanh' = 1 - h_t^2$
# - (5): what reaches $h_{t-1}$ is $\partial \text{Loss}/\partial z_t \; W^T$
# - each step adds its share to the shared parameters: $\partial/\partial W \mathrel{+}= h_{t-1}^T\, \partial \text{Loss}/\partial z_t$, ...

# %%
def bptt(hs, probs):
    """Gradients of Loss with respect to U, W, b_h, V, b_y by backpropagation through time."""
    with mg.no_grad():
        grads = {name: mg.zeros(*p.shape, dtype=mg.float64) for name, p in params.items()}
        dh_next = mg.zeros(N, n_h, dtype=mg.float64)      # gradient from step t+1 into h_t
        for t in reversed(range(T)):
            h, h_prev = hs[t + 1], hs[t]
            dlogits = probs[t] - mg.tensor(eye[ys[t]])     # ŷ_t - y_t: (N, vocab)
            grads["V"] += h.T @ dlogits
            grads["b_y"] += dlogits.sum(axis=0, keepdims=True)
            # BEGIN SOLUTION
            # TITLE: backpropagation through time by hand
            # POINTS: 2
            # OFF LIMITS: backward, mg.gradcheck
            # HINT: dh = dlogits V^T + dh_next;  dz = dh ⊙ (1 - h²)   (tanh' written with h_t)
            # HINT: grads U += x_t^T dz, W += h_{t-1}^T dz, b_h += dz summed over N;  dh_next = dz W^T  (formula (5))
            dh = dlogits @ V.T + dh_next                    # ∂Loss/∂h_t: this step's loss + later steps
            dz = dh * (1 - h * h)                           # ⊙ f'(z_t), tanh' = 1 - h_t²
            grads["U"] += xs[t].T @ dz
            grads["W"] += h_prev.T @ dz
            grads["b_h"] += dz.sum(axis=0, keepdims=True)
            dh_next = dz @ W.T                              # (5): ∂h_t/∂h_{t-1} = f'_t W
            # END SOLUTION
    return grads


hand = bptt(hs, probs)

# %% [markdown]
# ## 3. Check: hand-written BPTT = autograd

# %%
Loss.backward()
causes = {"U": "dz = dh ⊙ (1 - h_t²), and += at every step", "W": "h_{t-1}^T dz (the previous state), += at every step",
          "b_h": "dz summed over the batch (axis 0)", "V": "", "b_y": ""}
for name, p in params.items():
    common.compare(f"d{name}", hand[name], p.grad, exercise=1, atol=1e-10, rtol=0.0,
                   against="autograd", cause=causes[name] or None)

# %% [markdown]
# ## 4. Check: hand-written BPTT = finite differences
# Nudge single parameter entries by $\pm\epsilon$ and compare
# $(\text{Loss}(\theta+\epsilon) - \text{Loss}(\theta-\epsilon)) / 2\epsilon$ with the hand gradient.

# %%
def loss_value():
    with mg.no_grad():
        return forward()[0].item()


eps, worst = 1e-6, 0.0
for name, p in params.items():
    flat = p.array.reshape(-1)                            # a view: nudging it nudges the parameter
    hand_flat = hand[name].cpu().numpy().reshape(-1)
    for i in run.rng.choice(flat.size, size=min(flat.size, run.pick(6, 3)), replace=False):
        old = flat[i].item()
        flat[i] = old + eps
        up = loss_value()
        flat[i] = old - eps
        down = loss_value()
        flat[i] = old
        numeric = (up - down) / (2 * eps)
        worst = max(worst, abs(numeric - hand_flat[i]) / max(1.0, abs(numeric)))
print(f"largest relative difference, hand BPTT vs finite differences: {worst:.2e}")
common.check(worst < 1e-6, "hand BPTT gradients equal finite differences", exercise=1)

# %% [markdown]
# ## 5. How much gradient reaches each earlier step
# Put a loss only at the last step $T$ of a long sequence and measure
# $\|\partial \text{loss}_T / \partial h_k\|$ for every earlier $k$. By (4)-(5) it is a product of
# $T - k$ factors $f'_j W$: if they shrink vectors the gradient vanishes exponentially with
# the distance, if they stretch them it explodes. We scale an orthogonal $W$ (all its singular
# values equal) by $\gamma$, keep the inputs small so $f' \approx 1$, and let autograd keep each
# $h_k$'s gradient (`retain_grad`).

# %%
T_long, n_big = 60, 32            # cheap enough for --quick too
rng = np.random.default_rng(run.seed)
q, _ = np.linalg.qr(rng.standard_normal((n_big, n_big)))        # a random orthogonal matrix Q
x_small = mg.tensor(0.01 * rng.standard_normal((T_long, 1, n_big)))


def grad_norms(gamma):
    """||d loss_T / d h_k|| for k = 1..T, with W = gamma * Q and loss_T = sum(h_T)."""
    W_g = mg.tensor(gamma * q, requires_grad=True)
    h, hs_long = mg.zeros(1, n_big, dtype=mg.float64), []
    for t in range(T_long):
        h = (x_small[t] + h @ W_g).tanh()                 # h_t = tanh(x_t + h_{t-1} W)
        h.retain_grad()
        hs_long.append(h)
    h.sum().backward()
    return [float(np.linalg.norm(hk.grad.cpu().numpy())) for hk in hs_long]


gammas = [0.5, 0.9, 1.0, 1.1, 1.5]
curves = {g: grad_norms(g) for g in gammas}
fig, ax = common.figure(width=6)
for g, norms in curves.items():
    ax.semilogy(range(T_long, 0, -1), norms, label=f"gamma = {g}")
ax.set_xlabel("distance T - k + 1 from the loss")
ax.set_ylabel("||d loss_T / d h_k||")
ax.set_title(common.label("gradient reaching earlier steps", "梯度消失 / 梯度爆炸"))
ax.legend()
common.savefig(fig, "03_gradient_norm_by_step")
for g, norms in curves.items():
    print(f"gamma {g}: gradient at the last step {norms[-1]:.3g}, at the first step {norms[0]:.3g}")

# %% [markdown]
# With $\gamma = 1.5$ the curve is flat near the loss and steep far from it: the hidden states
# of the last steps have grown into tanh's flat region, where $f' \approx 0$ damps formula (5);
# the early states are still small, $f' \approx 1$, and each factor stretches by 1.5.
# Lesson 04 tames the explosion with gradient clipping; lesson 06 (LSTM) the vanishing.

# %%

common.check(curves[0.5][0] < 1e-6 * curves[0.5][-1], "small W: the gradient vanishes with distance", exercise=None)
common.check(curves[1.5][0] > 100 * curves[1.5][-1], "large W: the gradient explodes with distance", exercise=None)

common.finish()
