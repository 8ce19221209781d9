# %% [markdown]
# # Lesson 09 — Word embeddings (词嵌入)
#
# **Learning goals**
# 1. See why one-hot vectors (独热表示) cannot say that two words are alike.
# 2. Measure similarity with the cosine (余弦相似度) and solve an analogy (类比推理) with a
#    featurized representation (特征化表示): $e_{king} - e_{man} + e_{woman} \approx e_{queen}$.
# 3. Know the embedding matrix (词嵌入矩阵) $E$: $E \cdot o_j = e_j$ is a column lookup, which
#    is what `nn.Embedding` does — with the same gradient.
# 4. Learn $E$ as a by-product of a small neural language model (语言模型).
#
# **Notes followed** — notes 004:
# - notes 004「2.1 词汇表示与词嵌入」: one-hot vectors are long and all orthogonal; an embedding gives each
#   word a value per semantic feature (gender, royal, age, food, ...).
# - notes 004「2.2 词向量的类比推理」: $sim(u, v) = \dfrac{u^T v}{\|u\|_2 \|v\|_2}$; for man : woman = king : ?,
#   find $w$ maximising $sim(e_w, e_{king} - e_{man} + e_{woman})$.
# - notes 004「2.3 词嵌入矩阵」: $E$ is $m \times n$ ($m$ features, $n$ words) and $e_j = E \cdot o_j$.
# - notes 004「2.4 学习词嵌入」: $E$ is learned by training a language model to predict the next word.
#
# **Claim checked at the end** (default run, a few seconds on a laptop CPU): the language model
# reaches a perplexity (困惑度) below 3.5 on the generated corpus, and its embeddings put
# the two words of a planted pair (king/queen, paris/france, walk/walked, ...) closer together
# than two random words of the same family (mean cosine higher by at least 0.2).

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import metrics, nn, optim
from minigrad.data import Vocab, words

run = common.setup("Lesson 09: word embeddings")

# %% [markdown]
# ## 1. One-hot vectors
# Word $j$ of an $n$-word vocabulary is $o_j$: all zeros but a 1 at position $j$. Any two
# different one-hot vectors are orthogonal, so every pair of words is equally unrelated.

# %%
vocab = ["man", "woman", "king", "queen", "apple", "orange"]
n = len(vocab)
O = mg.tensor(np.eye(n, dtype=np.float32))              # column j is o_j: (n, n)


def cosine_similarity(u, v):
    """sim(u, v) = u^T v / (||u||_2 ||v||_2) for two vectors (tensors of shape (m,))."""
    # BEGIN SOLUTION
    # TITLE: cosine similarity
    # OFF LIMITS: words.cosine_matrix, words.unit_rows
    # HINT: (u * v).sum() divided by the product of the two lengths, each ((x * x).sum()).sqrt()
    return (u * v).sum() / ((u * u).sum().sqrt() * (v * v).sum().sqrt())
    # END SOLUTION


def similarity_table(vectors):
    """sim of every pair of columns of ``vectors`` (m, n), via cosine_similarity: (n, n) NumPy."""
    return np.array([[cosine_similarity(vectors[:, a], vectors[:, b]).item() for b in range(n)]
                     for a in range(n)])


S_onehot = similarity_table(O)
print("cosine similarity of one-hot vectors:\n", np.round(S_onehot, 2))
common.check(np.allclose(S_onehot, np.eye(n)), "one-hot vectors: every word is orthogonal to every other", exercise=1)

# %% [markdown]
# ## 2. A featurized representation
# The notes' table: four features per word. Column $j$ of $E$ is the embedding $e_j$ of word $j$.
#
# **Note on the notes.** Notes 004's copy of the table was garbled in conversion: Man's gender
# and food entries and Woman's gender are unreadable, and "Gerder" is "Gender". The values
# below are those of the deeplearning.ai lecture the notes copy.

# %%
features = ["gender", "royal", "age", "food"]
E = mg.tensor([[-1.00, 1.00, -0.95, 0.97, 0.00, 0.01],        # gender
               [0.01, 0.02, 0.93, 0.95, -0.01, 0.00],         # royal
               [0.03, 0.02, 0.70, 0.69, 0.03, -0.02],         # age
               [0.09, 0.01, 0.02, 0.01, 0.95, 0.97]])         # food: E is (m, n) = (4, 6)
S_feat = similarity_table(E)
print("cosine similarity of the featurized vectors:\n", np.round(S_feat, 2))
common.check(abs(S_feat[vocab.index("apple"), vocab.index("orange")] - 1) < 0.01
             and abs(S_feat[vocab.index("king"), vocab.index("apple")]) < 0.1,
             "apple ~ orange, king and apple unrelated", exercise=1)
reference = words.cosine_matrix(E.T).cpu().numpy()             # the library helper, rows = words
common.check(np.allclose(S_feat, reference, atol=1e-6), "cosine_similarity agrees with words.cosine_matrix", exercise=1)

fig, axes = common.figure(2, width=4.2)
for ax, S, title in [(axes[0], S_onehot, common.label("one-hot", "独热")),
                     (axes[1], S_feat, common.label("featurized", "特征化"))]:
    im = ax.imshow(S, vmin=-1, vmax=1, cmap="coolwarm")
    ax.set_xticks(range(n), vocab, rotation=45, fontsize=8)
    ax.set_yticks(range(n), vocab, fontsize=8)
    ax.set_title(title)
fig.colorbar(im, ax=axes, shrink=0.8)
common.savefig(fig, "09_cosine_onehot_vs_features")

# %% [markdown]
# ## 3. Analogies: man is to woman as king is to ?
# $e_{man} - e_{woman} \approx e_{king} - e_w$, so look for the word $w$ (not one of the
# three question words) whose embedding is most similar to $e_{king} - e_{man} + e_{woman}$.

# %%
def solve(a, b, c):
    """The word w maximising sim(e_w, e_a - e_b + e_c), w not in {a, b, c}."""
    # BEGIN SOLUTION
    # TITLE: solving an analogy
    # OFF LIMITS: words.solve_analogies, words.nearest
    # HINT: target = column of a - column of b + column of c (E[:, vocab.index(word)])
    # HINT: score every other word with cosine_similarity(E[:, j], target); return the best word
    target = E[:, vocab.index(a)] - E[:, vocab.index(b)] + E[:, vocab.index(c)]
    scores = {w: cosine_similarity(E[:, j], target).item()
              for j, w in enumerate(vocab) if w not in (a, b, c)}
    return max(scores, key=scores.get)
    # END SOLUTION


answer = solve("king", "man", "woman")
print("king - man + woman =", answer)
common.check(answer == "queen", "e_king - e_man + e_woman is closest to e_queen", exercise=2)
# e_man - e_king + e_orange lies nearest to e_orange: a question word, never an answer
trick = solve("man", "king", "orange")
common.check(trick == "apple", f"man - king + orange, question words left out, is apple (yours: {trick!r}"
             + ("" if trick == "apple" else "; are a, b and c excluded from the answers?") + ")", exercise=2)
library_answers, _ = words.solve_analogies(E.T, vocab, [("king", "man", "woman", "queen"),
                                                          ("queen", "woman", "man", "king")])
common.check(library_answers == ["queen", "king"], "words.solve_analogies finds the same answers", exercise=None)

# %% [markdown]
# ## 4. The embedding matrix: $e_j = E \cdot o_j$
# Multiplying $E$ by a one-hot vector picks out one column. A layer does the same with a
# lookup (no $n$-long product). `nn.Embedding` stores one row per word, `weight` $= E^T$
# ($n \times m$, torch's layout), and its backward adds the gradient into the rows it picked.

# %%
j = vocab.index("king")
o_j = O[:, j:j + 1]                                     # (n, 1)
# BEGIN SOLUTION
# TITLE: an embedding as a matrix product
# OFF LIMITS: nn.Embedding, F.embedding
# HINT: a matrix product of E (m, n) and o_j (n, 1)
e_j = E @ o_j                                           # e_j = E · o_j: (m, 1)
# END SOLUTION
print("E · o_king =", e_j.cpu().numpy().ravel().round(2).tolist())
common.check(np.allclose(e_j.cpu().numpy().ravel(), E[:, j].cpu().numpy()), "E · o_j is column j of E", exercise=3)

layer = nn.Embedding(n, 4)
layer.load_state_dict({"weight": E.T.cpu().numpy()})      # weight = E^T: (n, m)
common.check(np.allclose(layer(mg.tensor([j])).detach().cpu().numpy().ravel(), e_j.cpu().numpy().ravel()),
             "nn.Embedding looks up the same vector", exercise=3)

# Same gradient: d/dE of r · (E o_j) for a random r, by the product and by the lookup.
r = mg.randn(4)
E_leaf = E.detach().requires_grad_()
((E_leaf @ o_j).reshape(4) * r).sum().backward()
layer.weight.grad = None
(layer(mg.tensor([j, j])) * r).sum().backward()          # the word twice: its gradients add up
grad_product = E_leaf.grad.cpu().numpy().T        # (n, m), as the layer's weight
grad_lookup = layer.weight.grad.cpu().numpy()
common.check(np.allclose(2 * grad_product, grad_lookup, atol=1e-6),
             "the lookup's gradient equals the product's (and adds up for a repeated word)", exercise=None)

# %% [markdown]
# ## 5. Learning $E$ with a language model
# Nobody writes the table by hand for a real vocabulary. The notes' recipe: train a network
# to predict the next word from the previous four, with an embedding layer in front; the
# embedding layer's weight is then a learned $E$. The corpus is `minigrad.data.words`:
# sentences in which, e.g., "king" and "queen" are followed by the same royal words.

# %%
sentences = words.analogy_corpus(run.pick(3000, 800), seed=run.seed)
print("e.g.:", " | ".join(" ".join(s) for s in sentences[:3]))
vocab = Vocab.build(sentences, pad=None, bos="<s>", eos=None, unk=None)   # <s> = 0: before the first word
itos, stoi = vocab.get_itos(), vocab.get_stoi()
V, context, D, H = len(itos), 4, 16, 64
xs, ys = [], []
for s in sentences:
    padded = [vocab.bos_id] * context + vocab.encode(s)
    for t in range(context, len(padded)):
        xs.append(padded[t - context:t])                      # the previous four words
        ys.append(padded[t])                                  # the word to predict
xs, ys = np.array(xs), np.array(ys)
print(f"V = {V} words, {len(xs)} (context, next word) examples")

embed = nn.Embedding(V, D)                                   # learned E^T: (V, D)
hidden = nn.Linear(context * D, H)
output = nn.Linear(H, V)
params = [*embed.parameters(), *hidden.parameters(), *output.parameters()]
opt = optim.Adam(params, lr=run.pick(0.005, 0.02))
epochs, batch_size = run.pick(4, 3), 256
losses = []
for epoch in range(epochs):
    order = run.rng.permutation(len(xs))
    bar = common.progress(range(0, len(xs), batch_size), desc=f"epoch {epoch + 1}/{epochs}")
    for start in bar:
        idx = order[start:start + batch_size]
        e = embed(mg.tensor(xs[idx])).reshape(len(idx), context * D)   # 4 embeddings side by side
        loss = F.cross_entropy(output(hidden(e).tanh()), ys[idx])      # softmax over the next word
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        common.set_postfix(bar, loss=losses[-1])
perplexity = metrics.perplexity(np.mean(losses[-20:]))     # exp(mean cross-entropy)
print(f"training perplexity over the last 20 batches: {perplexity:.2f} (uniform guessing: {V})")

# %%
with mg.no_grad():
    learned = embed.weight
    for w in ["king", "paris", "walked", "apple"]:
        print(f"{w:7s} ->", ", ".join(f"{nb} {s:.2f}" for nb, s in words.nearest(learned, itos, w, 4)))
    S = words.cosine_matrix(learned).cpu().numpy()
pair_sims, family_sims = [], []
for family in words.family_names():
    grid = list(words.family_words(family).values())
    ids = [[stoi[w] for w in row] for row in grid]
    pair_sims += [S[row[0], row[1]] for row in ids]           # the two words of one row
    flat = [i for row in ids for i in row]
    family_sims += [S[a, b] for a in flat for b in flat if a != b]
print(f"mean cosine: the two words of a planted pair {np.mean(pair_sims):.2f}, "
      f"two words of the same family {np.mean(family_sims):.2f}")

fig, axes = common.figure(2)
axes[0].plot(losses, lw=0.7)
axes[0].set_xlabel("batch")
axes[0].set_ylabel("cross-entropy")
axes[0].set_title(common.label("language model", "语言模型"))
with mg.no_grad():
    common.scatter_words(axes[1], learned, itos, ["king", "queen", "man", "woman", "boy", "girl",
                                                  "paris", "france", "apple", "orange"],
                         "learned embeddings")
common.savefig(fig, "09_language_model_embeddings")

# %% [markdown]
# The language model learns words that are *used alike* (king and queen are followed by the
# same royal words), but its vectors are only a by-product and solve few analogies.
# Lessons 10 (word2vec) and 11 (GloVe) train vectors for that purpose and solve almost all.

# %%
target = run.pick(3.5, 6.0)
common.check(perplexity < target, f"the language model's perplexity {perplexity:.2f} < {target}", exercise=None)
common.check(np.mean(pair_sims) > np.mean(family_sims) + run.pick(0.2, 0.05),
             "learned embeddings: planted pairs are closer than random words of their family", exercise=None)

common.finish()
