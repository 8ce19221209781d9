# %% [markdown]
# # Lesson 04 — Gradient clipping (梯度裁剪 / 梯度截断)
#
# **Learning goals**
# 1. Write gradient clipping by norm, formula (6) of the notes, and clipping by value.
# 2. Prove them equal to `nn.utils.clip_grad_norm_` / `clip_grad_value_`, and see that
#    clipping by norm keeps the gradient's direction while clipping by value bends it.
# 3. Watch a tanh RNN whose gradients explode (梯度爆炸) diverge with plain gradient descent,
#    and the same run train once the gradients are clipped.
# 4. For gradients that vanish (梯度消失), measure the notes' other cures — ReLU, batch norm
#    (written by hand), residual connections — on a deep stack of layers.
#
# **Notes followed**
# - notes 003「RNN」(6): exploding gradients are kept in check by clipping them,
#   $$\boldsymbol g \leftarrow \min\Big(\frac{\theta}{\|\boldsymbol g\|}, 1\Big)\, \boldsymbol g \qquad (6)$$
#   and the RNN of formula (1), $h_t = \tanh(x_t U + h_{t-1} W + b_h)$, trained by BPTT (lesson 03).
# - notes 000「2、LSTM 的基本原理」「④为何能解决梯度消失？」: the note names clipping
#   (梯度截断) as the remedy for exploding gradients, and ReLU, batch norm and residual
#   connections as cures for vanishing ones (section 3).
#
# **Claim checked at the end** (default run, about 5 s on a laptop CPU): without clipping the
# run diverges (its loss ends above where it started); clipped by norm it adds 12-bit binary
# numbers exactly on at least 99% of 1000 new pairs.

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn

run = common.setup("Lesson 04: gradient clipping")

# %% [markdown]
# ## 1. Clipping, by hand
# $\|\boldsymbol g\|$ is the norm of *all* gradients taken as one long vector, so every
# parameter is scaled by the same factor and the update keeps its direction. Clipping by
# value instead clamps every element into $[-c, c]$ on its own.
# A gradient `p.grad` is a tensor of `p`'s shape, as in PyTorch, so the clipping is written
# with tensor ops and runs unchanged on the GPU. Both functions change the gradients in place
# (`g.mul_(s)`, `g.clamp_(lo, hi)`), as `clip_grad_norm_` does: the trailing `_` says so.

# %%
def clip_by_norm(params, theta):
    """Formula (6) on the joint gradient of ``params``, in place; returns ||g|| before."""
    grads = [p.grad for p in params if p.grad is not None]
    # BEGIN SOLUTION
    # TITLE: clipping by the global norm
    # OFF LIMITS: clip_grad_norm_
    # HINT: ||g|| = sqrt(sum over parameters of (g * g).sum().item()); scale = min(theta / ||g||, 1)
    # HINT: then scale every gradient in place: g.mul_(scale)
    norm = sum((g * g).sum().item() for g in grads) ** 0.5
    scale = min(theta / (norm + 1e-12), 1.0)              # min(θ/||g||, 1); 1e-12: no 0/0
    for g in grads:
        g.mul_(scale)                                      # g ← min(θ/||g||, 1) g
    # END SOLUTION
    return norm


def clip_by_value(params, c):
    """Clamp every gradient element into [-c, c], in place."""
    for p in params:
        if p.grad is not None:
            # BEGIN SOLUTION
            # TITLE: clipping by value
            # OFF LIMITS: clip_grad_value_
            # HINT: p.grad.clamp_(low, high)
            p.grad.clamp_(-c, c)
            # END SOLUTION


# %% [markdown]
# Check both against the library on the same random gradients, and compare directions:
# the cosine between the clipped and the original joint gradient.

# %%
def random_grads(seed):
    params = [mg.zeros(4, 3, requires_grad=True), mg.zeros(5, requires_grad=True)]
    rng = np.random.default_rng(seed)
    for p in params:
        p.grad = mg.tensor(rng.standard_normal(p.shape) * 3)
    return params


def flat(params):
    return np.concatenate([p.grad.cpu().numpy().ravel() for p in params])


def cosine(u, v):
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


theta, c = 1.0, 0.5
original = flat(random_grads(0))
mine, lib = random_grads(0), random_grads(0)
norm_mine = clip_by_norm(mine, theta)
norm_lib = nn.utils.clip_grad_norm_(lib, theta)
print(f"||g|| before: {norm_mine:.4f} (library {norm_lib:.4f}); after: {np.linalg.norm(flat(mine)):.4f}")
common.compare("the norm clip_by_norm returns", norm_mine, norm_lib, exercise=1, atol=1e-4,
               against="nn.utils.clip_grad_norm_'s", cause="||g|| = sqrt of the sum of every squared entry")
common.compare("the gradients after clip_by_norm (all parameters, flattened)", flat(mine), flat(lib),
               exercise=1, atol=1e-5, against="nn.utils.clip_grad_norm_",
               cause="g <- min(θ / ||g||, 1) g, the same factor for every parameter")
common.check(abs(np.linalg.norm(flat(mine)) - theta) < 1e-4, "after clipping by norm, ||g|| = theta", exercise=1)

# A gradient already shorter than θ must come back as it was: that is what the min(., 1) is for.
short_mine, short_lib = random_grads(1), random_grads(1)
for p in short_mine + short_lib:
    p.grad.mul_(0.01)                                     # ||g|| = 0.073 < θ = 1
clip_by_norm(short_mine, theta)
nn.utils.clip_grad_norm_(short_lib, theta)
common.compare("a gradient shorter than θ after clip_by_norm", flat(short_mine), flat(short_lib),
               exercise=1, atol=1e-7, against="nn.utils.clip_grad_norm_",
               cause="the factor is min(θ / ||g||, 1): a short gradient is left as it is, not stretched")

mine_v, lib_v = random_grads(0), random_grads(0)
clip_by_value(mine_v, c)
nn.utils.clip_grad_value_(lib_v, c)
common.compare("the gradients after clip_by_value (flattened)", flat(mine_v), flat(lib_v), exercise=2,
               against="nn.utils.clip_grad_value_", cause="every entry clamped into [-c, c]")

cos_norm, cos_value = cosine(original, flat(mine)), cosine(original, flat(mine_v))
print(f"cosine with the original gradient: by norm {cos_norm:.4f}, by value {cos_value:.4f}")
common.check(cos_norm > 1 - 1e-6 and cos_value < 0.99,
             "clipping by norm keeps the direction, clipping by value bends it", exercise=2)

# %% [markdown]
# ## 2. An RNN whose gradients explode
# The task: add two $T$-bit binary numbers, read least significant bit first; at step $t$ the
# RNN sees bit $t$ of both numbers and must output bit $t$ of the sum, so it has to carry
# through its hidden state. We start $W$ as $\gamma Q$ ($Q$ orthogonal, $\gamma = 1.5$), so
# that by formula (5) of lesson 03 gradients grow with the distance, and train with plain
# gradient descent at a learning rate that ordinary gradients tolerate.

# %%
T, N, n_h = 12, 64, 32
gamma, lr = 1.5, 2.5
steps = run.pick(600, 150)


def batch(rng, n):
    """x: (n, T, 2) bits of a and b, least significant first; y: (n, T) bits of a + b."""
    a, b = rng.integers(0, 2 ** (T - 1), size=(2, n))
    bits = lambda v: (v[:, None] >> np.arange(T)) & 1                  # noqa: E731
    return np.stack([bits(a), bits(b)], axis=-1).astype(np.float32), bits(a + b)


def new_rnn(seed):
    """U (2, n_h), W (n_h, n_h), b_h (1, n_h), V (n_h, 2), b_y (1, 2), the notes' names."""
    mg.manual_seed(seed)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n_h, n_h)))
    return {"U": (mg.randn(2, n_h) * 0.5).requires_grad_(),
            "W": mg.tensor((gamma * q).astype(np.float32), requires_grad=True),
            "b_h": mg.zeros(1, n_h, requires_grad=True),
            "V": (mg.randn(n_h, 2) * 0.2).requires_grad_(),
            "b_y": mg.zeros(1, 2, requires_grad=True)}


def logits_per_step(p, x):
    h = mg.zeros(x.shape[0], n_h)
    for t in range(T):
        h = (mg.tensor(x[:, t]) @ p["U"] + h @ p["W"] + p["b_h"]).tanh()   # h_t = tanh(x_t U + h_{t-1} W + b_h)
        yield h @ p["V"] + p["b_y"]                                         # scores of the sum's bit t


def train(clip, label):
    """Gradient descent with ``clip(params)`` applied to each gradient (None: no clipping).
    Returns the loss and the gradient norm (before clipping) of every step, and the accuracy."""
    p = new_rnn(run.seed)
    params = list(p.values())
    rng = np.random.default_rng(run.seed)
    losses, norms = [], []
    bar = common.progress(range(steps), desc=label)
    for step in bar:
        x, y = batch(rng, N)
        loss = sum(F.cross_entropy(z, y[:, t]) for t, z in enumerate(logits_per_step(p, x))) / T
        for q_ in params:
            q_.grad = None
        loss.backward()
        norms.append(float(np.sqrt(sum((q_.grad ** 2).sum().item() for q_ in params))))
        if clip is not None:
            clip(params)
        with mg.no_grad():
            for q_ in params:
                q_ -= lr * q_.grad                            # θ ← θ - η g, in place
        losses.append(loss.item())
        if step % 25 == 0:
            common.set_postfix(bar, loss=losses[-1], grad_norm=norms[-1])
    x, y = batch(np.random.default_rng(run.seed + 1), 1000)
    with mg.no_grad():
        right = np.ones(1000, dtype=bool)
        for t, z in enumerate(logits_per_step(p, x)):
            right &= z.cpu().numpy().argmax(axis=1) == y[:, t]
    return losses, norms, float(right.mean())


runs = {"no clipping": train(None, "no clipping"),
        "clip by norm (theta = 0.4)": train(lambda ps: clip_by_norm(ps, 0.4), "clip by norm"),
        "clip by value (c = 0.02)": train(lambda ps: clip_by_value(ps, 0.02), "clip by value")}
for name, (losses, norms, acc) in runs.items():
    print(f"{name:28s} loss {losses[0]:.3f} -> {np.mean(losses[-20:]):.3f}   "
          f"largest ||g|| {max(norms):8.1f}   exact sums {acc:.1%}")

# %%
def smooth(v, k=10):
    v = np.asarray(v, dtype=float)
    return np.convolve(v, np.ones(k) / k, mode="valid") if len(v) > k else v


fig, (ax1, ax2) = common.figure(2)
for name, (losses, norms, _) in runs.items():
    ax1.semilogy(smooth(losses), label=name)
    ax2.semilogy(norms, label=name, alpha=0.8)
ax1.set_xlabel("step")
ax1.set_ylabel("loss (moving average)")
ax1.set_title(common.label("training loss", "损失"))
ax1.legend(fontsize=8)
ax2.set_xlabel("step")
ax2.set_ylabel("||g|| before clipping")
ax2.set_title(common.label("gradient norm", "梯度范数"))
common.savefig(fig, "04_clipping_loss_and_grad_norm")

# %% [markdown]
# Without clipping, the first large gradients throw the weights so far that the tanh units
# saturate and the loss climbs far above its starting value; it never comes back. Clipping
# by norm caps the step at $\eta\theta$ without turning it, and the same learning rate trains.
# Clipping by value also tames this run, but it changes the direction of the step, which
# is why formula (6) — by norm — is the usual choice.

# %%
none_losses, _, _ = runs["no clipping"]
norm_losses, _, norm_acc = runs["clip by norm (theta = 0.4)"]
start, end_none, end_norm = none_losses[0], np.mean(none_losses[-20:]), np.mean(norm_losses[-20:])
common.check(not np.isfinite(end_none) or end_none > 2 * start,
             f"without clipping the run diverges (loss {start:.2f} -> {end_none:.2f})", exercise=None)
common.check(end_norm < start / 2, f"clipped by norm the run trains (loss {start:.2f} -> {end_norm:.3f})", exercise=1)
target = run.pick(0.99, 0.9)
common.check(norm_acc >= target, f"clipped by norm: exact 12-bit sums on {norm_acc:.1%} of new pairs "
                                 f"(>= {target:.0%})", exercise=1)

# %% [markdown]
# ## 3. The other side: cures for vanishing gradients (notes 000「④为何能解决梯度消失？」)
# Clipping answers gradients that explode. For gradients that vanish the notes list three
# other cures beside the LSTM's "+": ReLU in place of sigmoid / tanh, batch normalization
# (bn), and residual connections. Why each helps, in one stack of $L$ layers
# $h \leftarrow g(h W)$, whose backward multiplies by $\mathrm{diag}(g'(z))\, W^T$ per layer:
# - **sigmoid**: $\sigma' \le 1/4$, and far less where $z$ is large: the product shrinks fast;
# - **ReLU**: $g' = 1$ wherever the unit is on; with $W$ drawn with variance $2/n$ (He et al.
#   2015) the gradient keeps its size on average;
# - **batch norm** (Ioffe & Szegedy 2015): normalize each feature over the batch,
#   $\hat z = (z - \mu_B) / \sqrt{\sigma_B^2 + \epsilon}$, before the sigmoid: $z$ stays near 0,
#   where $\sigma'$ is largest, and the normalization divides out any shrinking of $W$;
# - **residual** (He et al. 2016): $h \leftarrow h + g(h W)$, whose Jacobian is
#   $I + \dots$: the gradient always has a path that no layer multiplies.
#
# Lesson 19 meets the same cures in the transformer (residual + layer norm). Below, batch norm
# by hand (the trained scale and shift of a real layer are left out), then the gradient that
# reaches the input of a stack of random layers, $\lVert \partial (h_L \cdot r) / \partial x \rVert$
# for a fixed random $r$, at every depth.

# %%
def batch_norm(z, eps=1e-5):
    """Normalize each feature (column) of z (N, n) over the batch: mean 0, variance 1."""
    # BEGIN SOLUTION
    # TITLE: batch normalization
    # HINT: mu = z.mean(axis=0, keepdims=True); var = ((z - mu) * (z - mu)).mean(axis=0, keepdims=True)
    # HINT: return (z - mu) / (var + eps).sqrt()   -- the batch axis is 0; eps inside the root
    mu = z.mean(axis=0, keepdims=True)                           # μ_B: (1, n)
    var = ((z - mu) * (z - mu)).mean(axis=0, keepdims=True)     # σ_B²: (1, n), biased
    return (z - mu) / (var + eps).sqrt()
    # END SOLUTION


z_demo = mg.tensor(run.rng.normal(3.0, 0.5, size=(64, 8)).astype(np.float32) * np.arange(1, 9, dtype=np.float32))
zn = batch_norm(z_demo).cpu().numpy()
print(f"batch norm: per-feature mean {np.abs(zn.mean(axis=0)).max():.1e} (max |.|), variance "
      f"{zn.var(axis=0).min():.4f} .. {zn.var(axis=0).max():.4f}")
tiny_z = mg.tensor(run.rng.normal(0.0, 1e-3, size=(64, 8)).astype(np.float32))      # variance 1e-6, near eps
tz = tiny_z.cpu().numpy()
tiny_want = (tz - tz.mean(0)) / np.sqrt(tz.var(0) + 1e-5)
common.check(np.abs(zn.mean(axis=0)).max() < 1e-4 and np.abs(zn.var(axis=0) - 1).max() < 1e-3
             and np.allclose(batch_norm(tiny_z).cpu().numpy(), tiny_want, atol=1e-4),
             "batch norm by hand: every feature at mean 0 and variance 1 over the batch, eps inside the root",
             exercise=3)


def grad_at_input(depth, kind, n=64, N=64):
    """||d(h_L · r)/dx|| for a stack of ``depth`` random layers of width n wired as ``kind``."""
    rng = np.random.default_rng(run.seed)
    x = mg.tensor(rng.normal(size=(N, n)).astype(np.float32), requires_grad=True)
    h = x
    for _ in range(depth):
        gain = np.sqrt(2.0) if kind == "ReLU" else 1.0                  # He: variance 2/n for ReLU
        z = h @ mg.tensor((rng.normal(size=(n, n)) * gain / np.sqrt(n)).astype(np.float32))
        h = {"sigmoid": lambda: z.sigmoid(), "ReLU": lambda: z.relu(),
             "sigmoid + batch norm": lambda: batch_norm(z).sigmoid(),
             "sigmoid + residual": lambda: h + z.sigmoid()}[kind]()
    (h * mg.tensor(rng.normal(size=h.shape).astype(np.float32))).sum().backward()
    return float(np.linalg.norm(x.grad.cpu().numpy()))


cure_depths = [1, 2, 4, 8, 16, 32]
cures = {kind: [grad_at_input(d, kind) for d in cure_depths]
         for kind in ("sigmoid", "ReLU", "sigmoid + batch norm", "sigmoid + residual")}
for kind, g in cures.items():
    print(f"{kind:21s}", "  ".join(f"L={d}: {v:.1e}" for d, v in zip(cure_depths, g)))

common.check(cures["sigmoid"][-1] < 1e-10 * cures["sigmoid"][0],
             f"through {cure_depths[-1]} sigmoid layers the gradient vanishes", exercise=None)
common.check(all(g[0] / 5 < g[-1] < 5 * g[0] for k, g in cures.items() if k != "sigmoid"),
             f"ReLU, batch norm and the residual each keep it within a factor of 5 through "
             f"{cure_depths[-1]} layers", exercise=3)

common.finish()
