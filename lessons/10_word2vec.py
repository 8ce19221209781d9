# %% [markdown]
# # Lesson 10 — word2vec: skip-gram with negative sampling (负采样)
#
# **Learning goals**
# 1. Turn a running text into skip-gram (跳字模型) pairs: a context word $c$ and a target word
#    $t$ within a few words of it.
# 2. See why the full softmax $p(t \mid c)$ is costly and replace it by negative sampling:
#    $k+1$ binary classifications instead of one $V$-way one.
# 3. Write the negative-sampling loss, train word vectors with it, and solve the analogies
#    planted in a generated corpus ($e_{king} - e_{man} + e_{woman} \approx e_{queen}$).
# 4. Write the other cure for the softmax's cost, the hierarchical softmax (分级 softmax): a
#    product of $\log_2 V$ binary choices along a tree, still a distribution over all $V$ words.
#
# **Notes followed** — notes 004「2.4 学习词嵌入」「Word2Vec」 and「负采样」:
# - skip-gram: $p(t \mid c) = \dfrac{\exp(\theta_t^T e_c)}{\sum_{j=1}^{V} \exp(\theta_j^T e_c)}$, loss
#   $L(\hat y, y) = -\sum_i y_i \log \hat y_i$ — every step touches all $V$ output vectors $\theta_j$;
#   the notes name two cures, a hierarchical (分级) softmax and negative sampling;
# - negative sampling: one true pair (label 1) and $k$ random words (label 0), each scored by
#   $P(y = 1 \mid c, t) = \sigma(\theta_t^T e_c)$; the loss of one pair is
#   $-\log \sigma(\theta_t^T e_c) - \sum_{i=1}^{k} \log \sigma(-\theta_{n_i}^T e_c)$.
# - analogies by cosine similarity (余弦相似度), notes 004「2.2 词向量的类比推理」: the answer $w$ maximises
#   $sim(e_w, e_{king} - e_{man} + e_{woman})$.
#
# **Claim checked at the end** (default run, about 5 s on a laptop CPU): the vectors solve at
# least 95% of the 308 planted analogies.

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import collections

import numpy as np

import minigrad as mg
from minigrad import optim
from minigrad.data import Vocab, words

run = common.setup("Lesson 10: word2vec, skip-gram with negative sampling")

# %% [markdown]
# ## 1. The corpus and the skip-gram pairs
# `minigrad.data.words.analogy_corpus` writes sentences in which every word of an analogy
# grid is seen with the context words of its row and of its column (see lesson 09).
# The corpus (语料) is kept as one array of word ids plus, for each word, the number of its
# sentence: a window never crosses a sentence end (as in gensim's word2vec).

# %%
sentences = words.analogy_corpus(run.pick(6000, 1000), seed=run.seed)
stream = [w for s in sentences for w in s]
counts = collections.Counter(stream)
vocab = Vocab.build(sentences, pad=None, bos=None, eos=None, unk=None)   # no special tokens
itos, stoi = vocab.get_itos(), vocab.get_stoi()        # index -> word, word -> index
ids = np.array([stoi[w] for w in stream])               # the corpus as word ids
sentence_of = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
V, window = len(itos), 5
print(f"{len(sentences)} sentences, {len(stream)} words, vocabulary V = {V}")
print("e.g.:", " | ".join(" ".join(s) for s in sentences[:3]))


def skipgram_pairs(ids, sentence_of, window):
    """All (context c, target t) of one sentence with t at most ``window`` words from c:
    (P, 2) word ids."""
    pairs = []
    for d in range(1, window + 1):
        same = sentence_of[:-d] == sentence_of[d:]
        pairs.append(np.stack([ids[:-d], ids[d:]], axis=1)[same])     # t is d words after c
        pairs.append(np.stack([ids[d:], ids[:-d]], axis=1)[same])     # t is d words before c
    return np.concatenate(pairs)


pairs = skipgram_pairs(ids, sentence_of, window)
print(f"{len(pairs)} skip-gram pairs, e.g.", [(itos[c], itos[t]) for c, t in pairs[:4]])

# %% [markdown]
# Frequent words ("the", "a", "we") make most pairs and say little. word2vec keeps a word
# $w$ with probability $\min(1, \sqrt{s / f(w)})$ ($f$: its share of the text, $s$ a small
# threshold); here each pair is kept when both its words are — a fresh draw every epoch.
# The $k$ negative words are drawn from the unigram distribution raised to the power $3/4$
# (Mikolov et al.), which gives rare words a little more chance than their frequency.

# %%
freq = np.array([counts[w] for w in itos], dtype=np.float64) / len(stream)
keep_prob = np.minimum(1.0, np.sqrt(1e-2 / freq))
noise = freq ** 0.75 / (freq ** 0.75).sum()
for w in ["the", "we", "king", "paris"]:
    print(f"{w:6s} share {freq[stoi[w]]:.4f}   kept with probability {keep_prob[stoi[w]]:.2f}"
          f"   drawn as a negative with probability {noise[stoi[w]]:.4f}")

# %% [markdown]
# ## 2. Full softmax versus negative sampling
# Two tables of vectors: $e_c$ (rows of `E`, the word as context, the vectors we keep) and
# $\theta_t$ (rows of `Theta`, the word as target). The full softmax needs the scores of all
# $V$ words for every pair; negative sampling only $k + 1$.

# %%
D, k = 32, 5
E = (mg.randn(V, D) * 0.1).requires_grad_()          # e_c: (V, D)
Theta = mg.zeros(V, D, requires_grad=True)            # θ_t: (V, D)

c_demo = mg.tensor(pairs[:4, 0])
scores_all = E[c_demo] @ Theta.T                       # θ_j^T e_c for all j: (4, V)
print(f"full softmax: {scores_all.shape[1]} scores per pair; negative sampling: {k + 1}")


def sgns_loss(c, targets):
    """Negative-sampling loss, averaged over the batch.
    c: (B,) context ids; targets: (B, 1 + k) ids, the true target first, then k negatives."""
    B = targets.shape[0]
    e_c = E[c]                                                   # (B, D)
    theta = Theta[targets]                                       # (B, 1 + k, D)
    scores = (theta * e_c.reshape(B, 1, D)).sum(axis=2)          # θ^T e_c: (B, 1 + k)
    # BEGIN SOLUTION
    # TITLE: the negative-sampling loss
    # HINT: true target: -log σ(θ_t^T e_c) = -(scores[:, 0].sigmoid().log())
    # HINT: each negative: -log σ(-θ_n^T e_c); sum them over axis 1, add, then .mean() over the batch
    positive = scores[:, 0].sigmoid().log()                      # log σ(θ_t^T e_c)
    negative = (-scores[:, 1:]).sigmoid().log().sum(axis=1)      # Σ_i log σ(-θ_{n_i}^T e_c)
    loss = -(positive + negative).mean()
    # END SOLUTION
    return loss, scores


def draw_batch(pairs, rng):
    c, t = pairs[:, 0], pairs[:, 1]
    negatives = rng.choice(V, size=(len(c), k), p=noise)          # n_1..n_k ~ P(w)^{3/4}
    return mg.tensor(c), mg.tensor(np.concatenate([t[:, None], negatives], axis=1))


# %% [markdown]
# Check the loss against the same formula computed independently in NumPy, with
# $-\log \sigma(x) = \log(1 + e^{-x})$: the vectors are random for this check.

# %%
with mg.no_grad():
    saved = Theta.array
    Theta.array = (mg.randn(V, D) * 0.3).array
    c_b, t_b = draw_batch(pairs[:64], np.random.default_rng(0))
    loss_b, s_b = sgns_loss(c_b, t_b)
    s = s_b.cpu().numpy().astype(np.float64)
    reference = np.mean(np.log1p(np.exp(-s[:, 0])) + np.log1p(np.exp(s[:, 1:])).sum(axis=1))
    Theta.array = saved
print(f"sgns_loss {loss_b.item():.6f}, reference {reference:.6f}")
common.check(abs(loss_b.item() - reference) < 1e-4 * max(1.0, reference),
             "the negative-sampling loss matches -log σ(θ_t·e_c) - Σ log σ(-θ_n·e_c)", exercise=1)

# %% [markdown]
# ### The other way out: hierarchical softmax (分级 softmax)
# The full softmax has two cures in notes 004「Word2Vec」: negative sampling, above,
# and a hierarchical softmax (Morin & Bengio 2005; word2vec, Mikolov et al. 2013). Put the $V$
# words at the leaves of a binary tree with $V - 1$ inner nodes, each with a vector $\theta_n$.
# The way from the root to word $w$ turns left ($d_n = +1$) or right ($d_n = -1$) at each inner
# node $n$ on it, with probability $\sigma(d_n\, \theta_n^T e_c)$:
# $$p(w \mid c) = \prod_{n \in \text{path}(w)} \sigma(d_n\, \theta_n^T e_c), \qquad
# \log p(w \mid c) = \sum_{n \in \text{path}(w)} \log \sigma(d_n\, \theta_n^T e_c).$$
# Since $\sigma(x) + \sigma(-x) = 1$ at every node, the leaves' probabilities add up to 1: a true
# softmax over $V$ words, at the cost of one path, about $\log_2 V$ dot products instead of
# $V$. word2vec builds the tree by Huffman coding, so frequent words get short paths; here a
# balanced tree, halving the word ids at every node.

# %%
def tree_paths(n_words):
    """A balanced binary tree over word ids 0..n_words-1 (n_words - 1 inner nodes): for each
    word the list of (inner node, direction) on its path, +1 to the left half, -1 to the right."""
    paths, counter = [None] * n_words, iter(range(n_words - 1))

    def split(lo, hi, path):
        if hi - lo == 1:
            paths[lo] = path
            return
        node, mid = next(counter), (lo + hi) // 2
        split(lo, mid, path + [(node, +1)])
        split(mid, hi, path + [(node, -1)])

    split(0, n_words, [])
    return paths


def hs_log_prob(e_c, node_vectors, path):
    """log p(w | c) for the word whose path is ``path``: e_c (D,), node_vectors (V - 1, D)."""
    # BEGIN SOLUTION
    # TITLE: hierarchical softmax
    # HINT: for each (n, d) on the path: x = d * (node_vectors[n] @ e_c); log σ(x) = -log(1 + exp(-x)) = -np.logaddexp(0, -x)
    # HINT: return the sum over the path, as a float
    nodes = np.array([n for n, _ in path])
    x = np.array([d for _, d in path]) * (node_vectors[nodes] @ e_c)      # d_n θ_n^T e_c
    return float(-np.logaddexp(0.0, -x).sum())                            # Σ log σ(d_n θ_n^T e_c)
    # END SOLUTION


paths = tree_paths(V)
hs_rng = np.random.default_rng(run.seed + 10)
node_vectors = hs_rng.normal(0, 0.5, (V - 1, D))                        # θ_n: (V - 1, D)
totals = []
for _ in range(3):
    e_c = hs_rng.normal(0, 0.5, D)
    totals.append(sum(np.exp(hs_log_prob(e_c, node_vectors, p)) for p in paths))
depth = max(len(p) for p in paths)
print(f"V = {V}: every word's path has {min(len(p) for p in paths)} or {depth} nodes (log2 V = {np.log2(V):.2f}) "
      f"against {V} scores for the full softmax; Σ_w p(w|c) for three random e_c: "
      + ", ".join(f"{t:.12f}" for t in totals))
common.check(np.allclose(totals, 1.0, atol=1e-9), "hierarchical softmax: the V leaves' probabilities add up to 1",
             exercise=2)
# three words by hand: the root splits {0} from {1, 2}, node 1 splits {1} from {2}
small, th = tree_paths(3), hs_rng.normal(0, 1, (2, D))
e_c = hs_rng.normal(0, 1, D)
sig = lambda z: 1 / (1 + np.exp(-z))                                      # noqa: E731
by_hand = [sig(th[0] @ e_c), sig(-th[0] @ e_c) * sig(th[1] @ e_c), sig(-th[0] @ e_c) * sig(-th[1] @ e_c)]
common.compare("p(w | c) on a tree of 3 words", [np.exp(hs_log_prob(e_c, th, p)) for p in small], by_hand,
               exercise=2, atol=1e-12, against="the product along each path",
               cause="σ(d_n θ_n·e_c): the direction d_n multiplies the score, and the path's terms are summed in log")
common.check(depth == int(np.ceil(np.log2(V))), "a path is at most ceil(log2 V) nodes long", exercise=None)

# %% [markdown]
# ## 3. Training
# Adam on mini-batches of pairs; each epoch subsamples the text again.

# %%
epochs, batch_size = run.pick(6, 3), 1024
opt = optim.Adam([E, Theta], lr=run.pick(0.01, 0.02))
rng = np.random.default_rng(run.seed)
losses = []
for epoch in range(epochs):
    kept = rng.random(len(pairs)) < keep_prob[pairs[:, 0]] * keep_prob[pairs[:, 1]]
    epoch_pairs = pairs[kept][rng.permutation(int(kept.sum()))]     # subsampled, shuffled
    bar = common.progress(range(0, len(epoch_pairs), batch_size), desc=f"epoch {epoch + 1}/{epochs}")
    for start in bar:
        c_b, t_b = draw_batch(epoch_pairs[start:start + batch_size], rng)
        loss, _ = sgns_loss(c_b, t_b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        common.set_postfix(bar, loss=losses[-1])
    print(f"epoch {epoch + 1}: mean loss {np.mean(losses[-len(bar):]):.3f}")

common.plot_curve("10_sgns_loss", losses, "batch", "negative-sampling loss",
                  common.label("skip-gram with negative sampling", "负采样"))

# %% [markdown]
# ## 4. What the vectors learned
# Nearest neighbours by cosine, then every planted analogy: the answer is the word $w$
# (other than the three question words) whose $e_w$ has the largest cosine with
# $e_a - e_b + e_c$.

# %%
with mg.no_grad():
    for w in ["king", "paris", "walked", "apple"]:
        print(f"{w:7s} ->", ", ".join(f"{n} {s:.2f}" for n, s in words.nearest(E, itos, w, 4)))
    accuracy = words.analogy_report(E, itos)

# %%
fig, axes = common.figure(2)
grids = {"gender": ["man", "woman", "king", "queen", "prince", "princess", "boy", "girl"],
         "capital": ["france", "paris", "japan", "tokyo", "italy", "rome", "egypt", "cairo"]}
for ax, (family, ws) in zip(axes, grids.items()):
    with mg.no_grad():
        common.scatter_words(ax, E, itos, ws, f"{family}: one offset for every pair", pairs=True)
common.savefig(fig, "10_sgns_analogy_offsets")

# %%
target = run.pick(0.95, 0.5)
common.check(accuracy >= target, f"skip-gram vectors solve {accuracy:.1%} of the planted analogies "
                                 f"(>= {target:.0%})", exercise=1)

common.finish()
