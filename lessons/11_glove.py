# %% [markdown]
# # Lesson 11 — GloVe: word vectors from the co-occurrence matrix (共现矩阵)
#
# **Learning goals**
# 1. Count the co-occurrence matrix $X$ of a corpus: $X_{ij}$ says how often word $j$ appears
#    in the context of word $i$.
# 2. Write GloVe's weighted least squares (加权最小二乘) loss and its weighting function
#    $f(X_{ij})$, and see what $f$ is for.
# 3. Train the vectors, average the two tables, and solve the planted analogies.
#
# **Notes followed** — notes 004「2.4 学习词嵌入」「GloVe」:
# $$J = \sum_{i=1}^{N} \sum_{j=1}^{N} f(X_{ij}) \big(\theta_i^T e_j + b_i + b_j - \log X_{ij}\big)^2$$
# - $\theta_i$, $e_j$: the two vector tables; $b_i$, $b_j$ their biases (two separate bias
#   vectors, written $b$ and $\tilde b$ below).
# - $f$ is a weight (加权项): $f(0) = 0$, so pairs never seen (where $\log X_{ij} = -\infty$) drop
#   out ($0 \cdot \log 0$ counts as 0), and it keeps very frequent pairs (stop words, 停用词) from
#   dominating and rare ones from counting too little. We use the GloVe paper's
#   $f(x) = (x / x_{max})^{\alpha}$ for $x < x_{max}$, else $1$, with $\alpha = 3/4$.
# - $\theta$ and $e$ play symmetric roles, so the final vector of word $w$ is their average.
#
# **Claim checked at the end** (default run, about 5 s on a laptop CPU): the averaged vectors
# solve at least 85% of the 308 planted analogies.

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import numpy as np

import minigrad as mg
from minigrad import optim
from minigrad.data import Vocab, words

run = common.setup("Lesson 11: GloVe")

# %% [markdown]
# ## 1. The co-occurrence matrix
# GloVe reads the corpus as one running text; a word $d$ positions away counts $1/d$ (the
# paper's choice: close words say more). Windows here do cross sentence ends, which gives
# every word a faint background of chance neighbours, as real text does — GloVe only sees
# pairs that occur, so it needs that background to learn which pairs are *rare*.

# %%
sentences = words.analogy_corpus(run.pick(20000, 2000), seed=run.seed)
stream = [w for s in sentences for w in s]
vocab = Vocab.build(sentences, pad=None, bos=None, eos=None, unk=None)   # no special tokens
itos, stoi = vocab.get_itos(), vocab.get_stoi()        # index -> word, word -> index
ids = np.array([stoi[w] for w in stream])
V, window = len(itos), 5

X = np.zeros((V, V))                                   # X_ij: j in the context of i
for d in range(1, window + 1):
    np.add.at(X, (ids[:-d], ids[d:]), 1.0 / d)         # j is d words after i
    np.add.at(X, (ids[d:], ids[:-d]), 1.0 / d)         # j is d words before i
rows, cols = np.nonzero(X)
print(f"{len(stream)} words, V = {V}; X has {len(rows)} non-zero entries of {V * V}")
show = ["king", "queen", "man", "woman"]
ctx = ["crown", "throne", "he", "she", "office", "apple"]
print("X for", ctx)
for w in show:
    print(f"  {w:6s}", "  ".join(f"{X[stoi[w], stoi[c]]:6.1f}" for c in ctx))

# %% [markdown]
# ## 2. The weighting function and the loss

# %%
x_max, alpha = 100.0, 0.75


def f(x):
    """GloVe's weight of a co-occurrence count x (a NumPy array of counts >= 0)."""
    # BEGIN SOLUTION
    # TITLE: GloVe's weighting function f
    # HINT: (x / x_max) ** alpha where x < x_max, and 1 from x_max on (np.minimum helps)
    return np.minimum((x / x_max) ** alpha, 1.0)
    # END SOLUTION


xs = np.array([0.0, 1.0, 10.0, x_max, 10 * x_max])
print("f at", xs.tolist(), "=", np.round(f(xs), 4).tolist())
common.check(f(np.array([0.0]))[0] == 0 and abs(f(np.array([x_max]))[0] - 1) < 1e-12
             and f(np.array([10 * x_max]))[0] == 1 and np.all(np.diff(f(xs)) >= 0),
             "f(0) = 0, f rises to 1 at x_max and stays 1", exercise=1)
common.compare("f(xs)", f(xs), [0.0, 0.01 ** 0.75, 0.1 ** 0.75, 1.0, 1.0], exercise=1, atol=1e-9,
               against="(x / x_max)^α capped at 1", cause="α, or the cap at 1, is missing")

fig, ax = common.figure()
grid = np.linspace(0, 1.5 * x_max, 300)
ax.plot(grid, f(grid))
ax.set_xlabel("X_ij")
ax.set_ylabel("f(X_ij)")
ax.set_title(common.label("GloVe weighting function", "加权函数"))
common.savefig(fig, "11_glove_weighting")

# %% [markdown]
# Only the non-zero entries enter $J$. Gather them once: the row words $i$, the column
# words $j$, $\log X_{ij}$ and $f(X_{ij})$, all as tensors on the device.

# %%
D = 24
theta = (mg.randn(V, D) * 0.1).requires_grad_()        # θ_i: (V, D)
e = (mg.randn(V, D) * 0.1).requires_grad_()            # e_j: (V, D)
b = mg.zeros(V, requires_grad=True)                    # b_i
b_tilde = mg.zeros(V, requires_grad=True)              # b_j (the notes' second b)
i_idx, j_idx = mg.tensor(rows), mg.tensor(cols)
log_x = mg.tensor(np.log(X[rows, cols]).astype(np.float32))
weight = mg.tensor(f(X[rows, cols]).astype(np.float32))


def glove_loss():
    """J over the non-zero entries of X."""
    # BEGIN SOLUTION
    # TITLE: GloVe's loss J
    # HINT: pred = (θ_i · e_j) + b_i + b~_j for every non-zero (i, j): theta[i_idx], e[j_idx], b[i_idx], ...
    # HINT: J = sum of weight * (pred - log_x) ** 2
    pred = (theta[i_idx] * e[j_idx]).sum(axis=1) + b[i_idx] + b_tilde[j_idx]   # θ_i^T e_j + b_i + b_j
    return (weight * (pred - log_x) ** 2).sum()                               # Σ f(X_ij)(... - log X_ij)²
    # END SOLUTION


# %% [markdown]
# Check $J$ against a direct NumPy evaluation of the formula (vectors copied to the host).

# %%
# the biases start at 0; for this check they get values of their own (each b_i differing
# from b~_i), so that a missing or misplaced bias shows
b.array[...] = mg.tensor(run.rng.normal(0, 0.5, V).astype(np.float32)).array
b_tilde.array[...] = mg.tensor(run.rng.normal(0, 0.5, V).astype(np.float32)).array
with mg.no_grad():
    J0 = glove_loss().item()
T_, E_, b_, bt_ = (t.detach().cpu().numpy().astype(np.float64) for t in (theta, e, b, b_tilde))
x_ij = X[rows, cols]
reference = np.sum(f(x_ij) * (np.einsum("nd,nd->n", T_[rows], E_[cols]) + b_[rows] + bt_[cols]
                              - np.log(x_ij)) ** 2)
print(f"J = {J0:.3f}, NumPy reference {reference:.3f}")
common.compare("J (non-zero biases)", J0, reference, exercise=2, atol=0.0, rtol=1e-4,
               against="the notes' formula", cause="a bias missing, or b_i and b~_j indexed by the wrong word")
b.array[...] = 0
b_tilde.array[...] = 0

# %% [markdown]
# ## 3. Training
# Full-batch Adam: every step uses every non-zero $X_{ij}$.

# %%
steps = run.pick(400, 100)
opt = optim.Adam([theta, e, b, b_tilde], lr=0.05)
losses = []
bar = common.progress(range(steps), desc="GloVe")
for step in bar:
    J = glove_loss()
    opt.zero_grad()
    J.backward()
    opt.step()
    losses.append(J.item())
    if step % 10 == 0:
        common.set_postfix(bar, J=losses[-1])
print(f"J: {losses[0]:.1f} -> {losses[-1]:.1f}")

common.plot_curve("11_glove_loss", losses, "step", "J",
                  common.label("GloVe weighted least squares", "加权最小二乘"), logy=True)

# %% [markdown]
# ## 4. The vectors: $(\theta_w + e_w) / 2$

# %%
with mg.no_grad():
    vectors = (theta + e) / 2
    for w in ["king", "paris", "walked"]:
        print(f"{w:7s} ->", ", ".join(f"{n} {s:.2f}" for n, s in words.nearest(vectors, itos, w, 4)))
    accuracy = words.analogy_report(vectors, itos)
    fig, axes = common.figure(2)
    common.scatter_words(axes[0], vectors, itos, ["man", "woman", "king", "queen", "boy", "girl",
                                                  "uncle", "aunt"], "gender pairs", pairs=True)
    common.scatter_words(axes[1], vectors, itos, ["walk", "walked", "jump", "jumped", "cook",
                                                  "cooked", "dance", "danced"], "tense pairs", pairs=True)
    common.savefig(fig, "11_glove_analogy_offsets")

target = run.pick(0.85, 0.3)
common.check(accuracy >= target, f"GloVe vectors solve {accuracy:.1%} of the planted analogies "
                                 f"(>= {target:.0%})", exercise=2)

common.finish()
