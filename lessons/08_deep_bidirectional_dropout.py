# %% [markdown]
# # Lesson 08 — Deep and bidirectional RNNs, and dropout (双向 / 深层循环神经网络, dropout)
#
# **Learning goals**
# 1. Build a bidirectional RNN (双向循环神经网络 BRNN) from two one-way RNNs by hand, find it
#    equal to `nn.RNN(bidirectional=True)`, and see why its output has $2 \times$ hidden_size
#    features.
# 2. Stack RNN layers (深层循环神经网络 DRNN) by hand: layer $l$ reads layer $l-1$'s outputs;
#    find it equal to `nn.RNN(num_layers=2)`; know the shapes of `output` and `h_n`.
# 3. Write inverted dropout (反向 / inverted dropout) from the notes' pseudo-code and check that it
#    keeps the expected value; see that `nn.RNN(dropout=p)` drops only *between* layers and
#    only in training.
# 4. Train on a tagging task where the answer depends on the next word: a one-way RNN cannot
#    do it, a bidirectional one can.
#
# **Notes followed**
# - notes 000「1、rnn 的基本原理」: a bidirectional RNN reads the sequence both ways, so its
#   output is $2 \times \text{hidden\_size}$ wide; early translation models stacked RNN layers,
#   2 to 4 working best.
# - notes 004「1.4 双向循环神经网络BRNN」:
#   $y^{<t>} = g(W_y[\overleftarrow{a}^{<t>}, \overrightarrow{a}^{<t>}] + b_y)$, which needs the
#   whole sequence before the first output; and notes 004「1.5 深度循环神经网络DRNN」:
#   $a^{[l]<t>} = g(W_a^{[l]}[a^{[l]<t-1>}, a^{[l-1]<t>}] + b_a^{[l]})$, each layer with its own weights.
# - notes 003「RNN中的DropOut」: with $p$ the dropout rate, each value is dropped with
#   probability $p$, and a kept value $x_i$ becomes $x_i / (1 - p)$.
#
# **Claim checked at the end** (default run, well under a minute): tagging "teddy" as part of a
# person's name or not, which only the next word decides, the one-way RNN is right at most 70%
# of the time, the bidirectional RNN at least 95%.
#
# Run: `python lessons/08_deep_bidirectional_dropout.py [--quick] [--device cuda]`.

# %%
import numpy as np

from minigrad_lessons import common
import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.training import train_classifier

run = common.setup("Lesson 08: deep and bidirectional RNNs, dropout")

# %% [markdown]
# ## 1. A bidirectional RNN, by hand
# Two RNNs with their own weights: one reads $x^{<1>} \dots x^{<T>}$ forwards and gives
# $\overrightarrow{a}^{<t>}$, the other reads backwards, $x^{<T>} \dots x^{<1>}$, and gives
# $\overleftarrow{a}^{<t>}$. At each step the output joins both: what came before *and* what
# comes after. (The notes write $[\overleftarrow{a}, \overrightarrow{a}]$; the library, like torch,
# puts the forward direction first: $[\overrightarrow{a}, \overleftarrow{a}]$.)

# %%
D, H, T, N = 3, 4, 5, 2
bi = nn.RNN(D, H, bidirectional=True)
print("parameters:", {k: v.shape for k, v in bi.state_dict().items()})
x = mg.randn(T, N, D)                                    # time-major: (T, N, D)


def direction(x, sfx, reverse):
    """One direction's h_t for t = 1..T (in time order): (T, N, H). Weights of ``bi`` named
    by suffix: '_l0' forwards, '_l0_reverse' backwards."""
    w_ih, w_hh = getattr(bi, "weight_ih" + sfx), getattr(bi, "weight_hh" + sfx)
    b = getattr(bi, "bias_ih" + sfx) + getattr(bi, "bias_hh" + sfx)
    h, out = mg.zeros(x.shape[1], H), [None] * x.shape[0]
    # BEGIN SOLUTION
    # TITLE: one direction of a bidirectional RNN
    # OFF LIMITS: nn.RNN, nn.RNNCell
    # HINT: visit t = T-1, ..., 0 when reverse, else 0, ..., T-1; h = tanh(x_t W_ih^T + h W_hh^T + b) (lesson 02)
    # HINT: store each step's h in out[t] (its place in time, whichever way you walk)
    for t in (reversed(range(x.shape[0])) if reverse else range(x.shape[0])):
        h = (x[t] @ w_ih.T + h @ w_hh.T + b).tanh()      # a^{<t>} = tanh(W_a[a^{<t∓1>}, x^{<t>}] + b_a)
        out[t] = h
    # END SOLUTION
    return mg.stack(out, axis=0)


with mg.no_grad():
    fwd, bwd = direction(x, "_l0", False), direction(x, "_l0_reverse", True)
    mine = mg.cat([fwd, bwd], axis=2)                     # [→a^{<t>}, ←a^{<t>}]: (T, N, 2H)
    out, h_n = bi(x)
print("output", out.shape, "= (T, N, 2 * hidden_size);  h_n", h_n.shape, "= (2 directions, N, H)")
common.check(out.shape == (T, N, 2 * H), "a bidirectional RNN outputs 2 * hidden_size features", exercise=None)
common.check(np.allclose(mine.cpu().numpy(), out.cpu().numpy(), atol=1e-6), "two one-way RNNs, joined, equal nn.RNN(bidirectional=True)", exercise=1)
common.check(np.allclose(h_n.cpu().numpy()[0], fwd.cpu().numpy()[-1], atol=1e-6) and np.allclose(h_n.cpu().numpy()[1], bwd.cpu().numpy()[0], atol=1e-6),
             "h_n holds the forward state at t = T and the backward state at t = 1 (where it ends)", exercise=1)

# %% [markdown]
# ## 2. A deep RNN, by hand
# Layer $l$ is an RNN whose input at step $t$ is layer $l-1$'s output at step $t$:
# $a^{[l]<t>} = g(W_a^{[l]}[a^{[l]<t-1>}, a^{[l-1]<t>}] + b_a^{[l]})$ with $a^{[0]<t>} = x^{<t>}$.
# So layer 1's `weight_ih_l1` reads $H$ features (or $2H$ when bidirectional), not $D$.

# %%
deep = nn.RNN(D, H, num_layers=2)


def layer_forward(inp, l):
    """Layer l of ``deep`` over a whole sequence: inp (T, N, D or H) -> (T, N, H)."""
    w_ih, w_hh = getattr(deep, f"weight_ih_l{l}"), getattr(deep, f"weight_hh_l{l}")
    b = getattr(deep, f"bias_ih_l{l}") + getattr(deep, f"bias_hh_l{l}")
    h, out = mg.zeros(inp.shape[1], H), []
    for t in range(inp.shape[0]):
        h = (inp[t] @ w_ih.T + h @ w_hh.T + b).tanh()    # a^{[l]<t>} = tanh(W_a^{[l]}[a^{[l]<t-1>}, a^{[l-1]<t>}] + b_a^{[l]})
        out.append(h)
    return mg.stack(out, axis=0)


with mg.no_grad():
    # BEGIN SOLUTION
    # TITLE: two stacked layers
    # OFF LIMITS: nn.RNN, nn.RNNCell
    # HINT: a1 = layer 0 over x; a2 = layer 1 over a1, the whole (T, N, H) sequence (use layer_forward)
    a1 = layer_forward(x, 0)                             # a^{[1]<t>}, t = 1..T
    a2 = layer_forward(a1, 1)                            # a^{[2]<t>}: reads a^{[1]<t>}
    # END SOLUTION
    out, h_n = deep(x)
print("weight_ih_l0", deep.weight_ih_l0.shape, " weight_ih_l1", deep.weight_ih_l1.shape)
print("output", out.shape, "(the top layer's a^{[2]<t>});  h_n", h_n.shape, "(each layer's last state)")
common.check(np.allclose(a2.cpu().numpy(), out.cpu().numpy(), atol=1e-6), "two stacked layers by hand equal nn.RNN(num_layers=2)", exercise=2)
common.check(np.allclose(h_n.cpu().numpy()[0], a1.cpu().numpy()[-1], atol=1e-6) and np.allclose(h_n.cpu().numpy()[1], a2.cpu().numpy()[-1], atol=1e-6),
             "h_n[l] is layer l's state at t = T", exercise=2)

# %% [markdown]
# ### The shapes, for every combination
# `output` has $\text{dirs} \times H$ features, where dirs is 2 for a bidirectional RNN;
# `h_n` has one row per layer and direction, $(L \cdot \text{dirs}, N, H)$.

# %%
rows = []
for L in (1, 2, 3):
    for bidir in (False, True):
        m = nn.LSTM(D, H, num_layers=L, bidirectional=bidir)
        out, (h_n, c_n) = m(x)
        dirs = 2 if bidir else 1
        rows.append((L, bidir, out.shape, h_n.shape, sum(p.numel() for p in m.parameters())))
        common.check(out.shape == (T, N, dirs * H) and h_n.shape == c_n.shape == (L * dirs, N, H),
                     f"LSTM num_layers={L} bidirectional={bidir}: output {out.shape}, h_n {h_n.shape}", exercise=None)
print(f"{'layers':>6} {'bidirectional':>13} {'output':>12} {'h_n':>12} {'parameters':>10}")
for L, bidir, o, h, p in rows:
    print(f"{L:6d} {str(bidir):>13} {str(o):>12} {str(h):>12} {p:10d}")

# %% [markdown]
# ## 3. Inverted dropout, from the notes' pseudo-code
# Dropout (随机失活) zeroes each value with probability $p$ during training. The notes' version
# also divides the kept values by $1 - p$ ("inverted" dropout), so that the expected value is
# unchanged, $\mathbb{E}[x_i'] = (1 - p) \cdot x_i / (1 - p) = x_i$, and at test time nothing at
# all has to be done. Random draws come from minigrad's seeded generator, on the device.

# %%
def dropout(x, p, training):
    """Notes 003's pseudo-code for a whole tensor at once."""
    if not training or p == 0:
        return x                                          # at test time: identity
    xp = mg.backend.get_array_module(x.array)
    u = mg.tensor(mg.backend.rng_for(xp).random(x.shape))       # random(0, 1) for every x_i
    # BEGIN SOLUTION
    # TITLE: inverted dropout
    # OFF LIMITS: F.dropout, nn.Dropout
    # HINT: is_drop = u < p; a kept x_i becomes x_i / (1 - p), a dropped one 0 (mg.where(cond, a, b))
    keep = u >= p                                         # not is_drop
    return mg.where(keep, x / (1 - p), 0.0)               # x_i <- x_i / (1 - p), or 0
    # END SOLUTION


p = 0.3
big = mg.ones(run.pick(200_000, 20_000)) * 2.0
dropped = dropout(big, p, training=True).cpu().numpy()
lib = F.dropout(big, p, True).cpu().numpy()
print(f"p = {p}: share zeroed {np.mean(dropped == 0):.3f} (library {np.mean(lib == 0):.3f}); kept values "
      f"{np.unique(dropped[dropped != 0]).round(4)} = 2 / (1 - p) = {2 / (1 - p):.4f}; mean {dropped.mean():.3f} (was 2)")
common.check(abs(np.mean(dropped == 0) - p) < 0.01 and np.allclose(dropped[dropped != 0], 2 / (1 - p)),
             "a share p is zeroed and the rest is scaled by 1 / (1 - p)", exercise=3)
common.check(abs(dropped.mean() - 2.0) < 0.03 and abs(lib.mean() - 2.0) < 0.03,
             "inverted dropout keeps the mean (ours and F.dropout)", exercise=3)
common.check(np.array_equal(dropout(big, p, training=False).cpu().numpy(), big.cpu().numpy()), "at test time dropout does nothing", exercise=3)

# %% [markdown]
# ### Where the recurrent layers drop
# `nn.RNN(..., num_layers=L, dropout=p)` drops the outputs of each layer except the last, on
# their way up to the next layer (between layers, never along time, and never the final output),
# and only in training mode (`model.train()`; `model.eval()` turns it off). So with one layer,
# `dropout` does nothing at all.

# %%
def twin(num_layers, p):
    """The same weights with and without dropout."""
    a = nn.RNN(D, H, num_layers=num_layers, dropout=p)
    b = nn.RNN(D, H, num_layers=num_layers)
    b.load_state_dict(a.state_dict())
    return a, b


with mg.no_grad():
    a, b = twin(2, 0.5)
    a.train()
    first, second = a(x)[0].cpu().numpy(), a(x)[0].cpu().numpy()
    a.eval()
    evaluated = a(x)[0].cpu().numpy()
    one, one_plain = twin(1, 0.5)
    one.train()
    single = one(x)[0].cpu().numpy()
common.check(not np.allclose(first, second), "2 layers, training: two runs drop different values", exercise=None)
common.check(np.allclose(evaluated, b(x)[0].detach().cpu().numpy(), atol=1e-6), "2 layers, eval(): no dropout at all", exercise=None)
common.check(np.allclose(single, one_plain(x)[0].detach().cpu().numpy(), atol=1e-6),
             "1 layer, training: nothing to drop between layers, so the output is unchanged", exercise=None)

# %% [markdown]
# ## 4. When the next word decides: one-way vs bidirectional
# The course's example: in "he said teddy roosevelt was a great president", *teddy* is part of a
# person's name; in "he said teddy bears are on sale" it is not. When it reads *teddy*, a one-way
# RNN has not yet seen the next word, so it can only guess; a bidirectional RNN has. We make
# sentences of filler words with one "teddy roosevelt" or "teddy bears", and tag every word:
# 1 if it is part of a person's name, else 0 — many-to-many (lesson 02). Both models are
# stacked two layers deep, with dropout 0.2 between the layers.

# %%
FILLER = ["he", "said", "was", "a", "great", "the", "on", "sale", "are", "we", "saw", "today", "and"]
vocab = ["<pad>"] + FILLER + ["teddy", "roosevelt", "bears"]
stoi = {w: i for i, w in enumerate(vocab)}
T_words = 8


def sentences(rng, n):
    """ids (n, T_words) and tags (n, T_words): 'teddy roosevelt' tagged 1 1, 'teddy bears' 0 0."""
    ids = rng.integers(1, len(FILLER) + 1, (n, T_words))
    tags = np.zeros((n, T_words), dtype=np.int64)
    at = rng.integers(0, T_words - 1, n)
    person = rng.random(n) < 0.5
    rows = np.arange(n)
    ids[rows, at] = stoi["teddy"]
    ids[rows, at + 1] = np.where(person, stoi["roosevelt"], stoi["bears"])
    tags[rows, at] = tags[rows, at + 1] = person
    return ids, tags


class Tagger(nn.Module):
    """Embedding -> 2-layer RNN (dropout between the layers) -> Linear on every step: (N, T, 2)."""

    def __init__(self, bidirectional):
        super().__init__()
        self.embed = nn.Embedding(len(vocab), 16)
        self.rnn = nn.RNN(16, 32, num_layers=2, dropout=0.2, bidirectional=bidirectional, batch_first=True)
        self.out = nn.Linear(32 * (2 if bidirectional else 1), 2)   # reads [→a, ←a] when bidirectional

    def forward(self, ids):
        return self.out(self.rnn(self.embed(ids))[0])


steps = run.pick(150, 30)
test_ids, test_tags = sentences(np.random.default_rng(run.seed + 1), 2000)
is_teddy = test_ids == stoi["teddy"]
curves, results = {}, {}
for name, bidir in (("one-way RNN", False), ("bidirectional RNN", True)):
    mg.manual_seed(run.seed)
    model = Tagger(bidir)
    rng = np.random.default_rng(run.seed)

    def make(step):
        ids, tags = sentences(rng, 64)
        return (mg.tensor(ids),), tags

    curves[name] = train_classifier(model, make, common.progress(range(steps), desc=name), lr=0.01)
    with mg.no_grad():
        right = model(mg.tensor(test_ids)).cpu().numpy().argmax(axis=2) == test_tags
    results[name] = (float(right[is_teddy].mean()), float(right[~is_teddy].mean()))
    print(f"{name:18s} right on 'teddy' {results[name][0]:.1%}, on the other words {results[name][1]:.1%}")

# %%
fig, (ax1, ax2) = common.figure(2)
for name in curves:
    ax1.plot(np.arange(len(curves[name])) * 10, curves[name], label=name)
ax1.set_xlabel("step")
ax1.set_ylabel("cross-entropy (training, with dropout)")
ax1.set_title(common.label("tagging words of a name", "双向 vs 单向"))
ax1.legend()
width = 0.35
for k, name in enumerate(results):
    ax2.bar(np.arange(2) + (k - 0.5) * width, results[name], width, label=name)
ax2.set_xticks(range(2), ["'teddy' (the next word decides)", "every other word"])
ax2.set_ylabel("accuracy on new sentences")
ax2.set_ylim(0, 1.05)
ax2.axhline(0.5, color="grey", ls=":")
ax2.legend(fontsize=8, loc="lower right")
common.savefig(fig, "08_one_way_vs_bidirectional")

# %% [markdown]
# The one-way RNN gets every other word right (even *roosevelt* and *bears*, which come after
# *teddy*), but on *teddy* itself it can do no better than a coin: the word that decides has not
# arrived yet. The backward direction brings it. The price (notes 004「1.4 双向循环神经网络BRNN」):
# a bidirectional RNN needs the whole sequence before its first output, so it cannot generate
# text word by word.

# %%
one_way, both_ways = results["one-way RNN"][0], results["bidirectional RNN"][0]
if run.quick:           # a few steps of training: the accuracies mean nothing yet
    common.not_checked("the bidirectional RNN tags 'teddy' right >= 95% of the time, the one-way "
                       "RNN <= 70%")
else:
    common.check(both_ways >= 0.95, f"the bidirectional RNN tags 'teddy' right {both_ways:.1%} of the time (>= 95%)", exercise=None)
    common.check(one_way <= 0.7, f"the one-way RNN tags 'teddy' right only {one_way:.1%} of the time (<= 70%)", exercise=None)

common.finish()
