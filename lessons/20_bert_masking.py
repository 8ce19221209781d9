# %% [markdown]
# # Lesson 20 — BERT-style masking: a tiny masked language model (掩码语言模型)
#
# **Learning goals**
# 1. Write BERT's masking (掩码) rule: choose 15% of the tokens; of those, 80% become
#    `[MASK]`, 10% a random word, 10% stay as they are — and measure that the rule does that.
# 2. See why: the model must rebuild the chosen words from **both** sides (完形填空, a cloze
#    test), and since a fine-tuned model never sees `[MASK]`, it must also work on real words.
# 3. Train a tiny transformer encoder as a masked language model on a generated corpus and
#    measure its masked-token accuracy against baselines that see less: the most frequent
#    word, and the best guess from the word on the left (a one-directional model's view).
# 4. Build the inputs of BERT's second pre-training task, next-sentence prediction (下一句预测,
#    NSP): `[CLS] A [SEP] B [SEP]` with segment ids, half the B's the true next sentence, and
#    the pair cut to BERT's length limit.
#
# **Notes followed** — notes 002「bert效果好的原因」 and「mask也会带来问题」:
# - 15% of the words are chosen at random and predicted, as in a cloze test; only they are
#   scored. Too few, and pre-training gets little supervision and takes longer; too many, and
#   too little text is left to rebuild them from.
# - of the chosen words, 80% are replaced by `[MASK]`, 10% by a random word and 10% kept: the
#   80/10/10 rule, against the mismatch between pre-training (with `[MASK]`) and fine-tuning
#   (without).
# - the encoder is the transformer encoder of lesson 19: self-attention over the whole
#   sentence, so every position sees its left and its right (bidirectional, 双向).
# - notes 002「bert存在的问题」: only 15% of the words give a training signal, and BERT reads
#   at most 512 tokens (section 6).
#
# † marks a number quoted from a paper (Devlin et al. 2019), not measured by this run.
#
# **Claim checked at the end** (default run, about 15 s on a laptop CPU): on held-out
# sentences the model recovers at least 60% of the chosen words, at least 10 points more than
# the left-neighbour baseline.

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import math
from collections import Counter, defaultdict

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import Vocab, char_corpus, minibatches, pad_batch

run = common.setup("Lesson 20: BERT-style masking, a tiny masked language model")

# %% [markdown]
# ## 1. A generated corpus
# `minigrad.data.char_corpus` writes simple English from a small grammar: subjects, verbs that
# agree with them ("the cat sleeps", "the cats sleep"), objects only after verbs that take one,
# places and times. We cut it into sentences of words. The vocabulary starts with two special
# tokens: `[PAD]` (id 0) and `[MASK]` (id 1).

# %%
text = char_corpus(run.pick(400_000, 40_000), seed=run.seed)
sentences = [s.strip().lower().split() for s in text.replace("\n", " ").split(".")]
sentences = [s for s in sentences if len(s) >= 3]
words = Vocab.build(sentences, pad=None, bos=None, eos=None, unk=None)
vocab = Vocab(["[MASK]"] + words.get_itos(), pad="[PAD]", bos=None, eos=None, unk=None)
PAD_ID, MASK_ID, FIRST_WORD, V = vocab.pad_id, vocab["[MASK]"], 2, len(vocab)
itos = vocab.get_itos()
n_test = run.pick(2000, 300)
ids, _, _ = pad_batch([vocab.encode(s) for s in sentences], PAD_ID)
test_ids, train_ids = ids[:n_test], ids[n_test:]
print(f"{len(sentences)} sentences ({len(train_ids)} to train on, {n_test} held out), "
      f"V = {V} (2 special tokens + {V - 2} words), longest {ids.shape[1]} words")
for s in sentences[:3]:
    print("  ", " ".join(s))

# %% [markdown]
# ## 2. The masking rule: 15%, then 80 / 10 / 10
# For a batch of ids $(N, T)$: each real token (not padding) is chosen with probability 0.15.
# A chosen token becomes `[MASK]` with probability 0.8, a random word with probability 0.1,
# and stays itself with probability 0.1. The targets are the original ids at the chosen
# positions and `-100` (the loss's `ignore_index`) everywhere else, so only the chosen 15%
# are scored — whatever the model sees there.

# %%
IGNORE = -100


def mask_tokens(ids, rng, p=0.15):
    """BERT's masking of ids (N, T) (PAD_ID = padding). Returns (inputs, targets), both (N, T):
    inputs with the chosen tokens replaced by the 80/10/10 rule, targets the original id at
    the chosen positions and IGNORE elsewhere."""
    real = ids != PAD_ID
    # BEGIN SOLUTION
    # TITLE: BERT's 80/10/10 masking
    # HINT: chosen = (rng.random(ids.shape) < p) & real; one more draw u = rng.random(ids.shape)
    # HINT: chosen & (u < 0.8) -> MASK_ID; chosen & (0.8 <= u < 0.9) -> rng.integers(FIRST_WORD, V);
    # HINT: the rest keep their word; targets = np.where(chosen, ids, IGNORE)
    chosen = (rng.random(ids.shape) < p) & real                  # 15% of the real tokens
    u = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (u < 0.8)] = MASK_ID                         # 80%: [MASK]
    swap = chosen & (u >= 0.8) & (u < 0.9)                       # 10%: a random word
    inputs[swap] = rng.integers(FIRST_WORD, V, size=int(swap.sum()))
    targets = np.where(chosen, ids, IGNORE)                      # the other 10% keep theirs
    # END SOLUTION
    return inputs, targets


inputs, targets = mask_tokens(ids[:4], np.random.default_rng(1))
for row in range(2):
    print("original:", " ".join(itos[i] for i in ids[row] if i != PAD_ID))
    print("input:   ", " ".join(itos[i] for i in inputs[row] if i != PAD_ID))
    print("targets: ", " ".join(itos[t] if t != IGNORE else "." for t, i in
                                zip(targets[row], ids[row]) if i != PAD_ID))

# %% [markdown]
# Measured on the whole training set: the share of real tokens chosen, and what became of
# them. A random word can by chance be the word itself (1 time in $V - 2$), so "a random word"
# shows up slightly under 10% and "kept" slightly over.

# %%
inputs, targets = mask_tokens(train_ids, np.random.default_rng(2))
real = train_ids != PAD_ID
chosen = targets != IGNORE
seen, original = inputs[chosen], train_ids[chosen]
share = {"[MASK]": np.mean(seen == MASK_ID),
         "random word": np.mean((seen != MASK_ID) & (seen != original)),
         "kept": np.mean(seen == original)}
print(f"chosen: {chosen.sum() / real.sum():.2%} of {real.sum()} real tokens; of them "
      + ", ".join(f"{k} {v:.1%}" for k, v in share.items()))
untouched = np.array_equal(inputs[~chosen], train_ids[~chosen])
common.check(abs(chosen.sum() / real.sum() - 0.15) < 0.01 and not chosen[~real].any()
             and abs(share["[MASK]"] - 0.8) < 0.02 and abs(share["random word"] - 0.1) < 0.02
             and abs(share["kept"] - 0.1) < 0.02 and untouched,
             "15% of the real tokens are chosen, 80/10/10 of them masked/replaced/kept, "
             "nothing else changes", exercise=1)
replaced = seen[(seen != MASK_ID) & (seen != original)]
common.check(replaced.size and replaced.min() >= FIRST_WORD and replaced.max() < V,
             f"a random word is a word: ids {FIRST_WORD}..{V - 1}, never [PAD], [MASK] or another "
             f"special id (yours: {replaced.min() if replaced.size else None}..{replaced.max() if replaced.size else None})",
             exercise=1)
common.compare("the targets of the chosen tokens", targets[chosen], train_ids[chosen], exercise=1,
               against="the original words", cause="targets hold the original ids, not the corrupted inputs")

fig, ax = common.figure()
ax.bar(list(share), [100 * v for v in share.values()],
       color=["tab:blue", "tab:orange", "tab:green"])
for k, (name, v) in enumerate(share.items()):
    ax.text(k, 100 * v + 1, f"{v:.1%}", ha="center")
ax.set_ylabel("% of the chosen tokens")
ax.set_title(common.label(f"what the chosen {chosen.sum() / real.sum():.1%} of the tokens "
                          "became", "掩码"))
common.savefig(fig, "20_masking_split")

# %% [markdown]
# ## 3. The masked language model
# Embedding $\times \sqrt{d}$ + positional encoding (位置编码), two transformer encoder layers
# (self-attention over the whole sentence: both sides), and a linear layer to $|V|$ scores at
# every position. Padding is hidden from attention with `src_key_padding_mask`. The loss is the
# cross-entropy at the chosen positions only:
# $L = -\frac{1}{|M|} \sum_{i \in M} \log p(x_i \mid \tilde{x})$, $M$ the chosen positions and
# $\tilde{x}$ the masked sentence.

# %%
class MaskedLM(nn.Module):
    """Embedding -> positional encoding -> transformer encoder -> Linear.
    forward(ids (N, T)) -> logits (N, T, V)."""

    def __init__(self, vocab_size, d_model=64, nhead=4, num_layers=2, dim_feedforward=128,
                 max_len=64):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=PAD_ID)
        nn.init.normal_(self.embedding.weight, std=d_model ** -0.5)
        self.positional = nn.PositionalEncoding(d_model, dropout=0.0, max_len=max_len,
                                                batch_first=True)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers)
        self.output = nn.Linear(d_model, vocab_size)

    def forward(self, ids):
        padding = mg.tensor(ids == PAD_ID)                     # (N, T) True = padding
        x = self.positional(self.embedding(mg.tensor(ids)) * math.sqrt(self.d_model))
        return self.output(self.encoder(x, src_key_padding_mask=padding))


mg.manual_seed(run.seed)
model = MaskedLM(V)
print(f"{sum(p.numel() for p in model.parameters())} parameters")

# %% [markdown]
# Training: a fresh mask for every batch (the same sentence is masked differently each
# epoch, as RoBERTa's "dynamic masking"), Adam with a short warm-up and a linear decay.

# %%
epochs, batch_size = run.pick(5, 4), run.pick(128, 64)
steps = epochs * math.ceil(len(train_ids) / batch_size)
warmup = min(100, steps // 10 + 1)
opt = optim.Adam(model.parameters(), lr=2e-3)
rng = np.random.default_rng(run.seed)
losses, step = [], 0
bar = common.progress(total=steps, desc="masked LM")
for epoch in range(epochs):
    for (batch,) in minibatches([train_ids], batch_size, shuffle=True, seed=run.seed + epoch):
        batch = batch[:, :int((batch != PAD_ID).sum(axis=1).max())]      # trim the padding
        x, y = mask_tokens(batch, rng)
        for group in opt.param_groups:                                    # warm-up, decay
            group["lr"] = 2e-3 * min(1.0, (step + 1) / warmup) * (1.0 - 0.9 * step / steps)
        loss = F.cross_entropy(model(x), mg.tensor(y), ignore_index=IGNORE)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        bar.update(1)
        common.set_postfix(bar, loss=losses[-1])
bar.close()
print(f"loss {np.mean(losses[:10]):.3f} (first 10 steps) -> {np.mean(losses[-10:]):.3f} "
      f"(last 10); a uniform guess is log V = {math.log(V):.3f}")

# %% [markdown]
# ## 4. Masked-token accuracy on held-out sentences, against two baselines
# The held-out sentences get one mask each (a fixed seed). Accuracy counts the chosen tokens
# whose most probable word is the original one, split by what the model was shown there.
# - **most frequent word**: always guess the commonest word of the training text;
# - **left neighbour**: guess the word most often seen after the word on the left in the
#   training text (the view of a left-to-right language model, notes 002「bert效果好的原因」).
#   When the left word is itself masked or missing, fall back to the most frequent word.

# %%
x_test, y_test = mask_tokens(test_ids, np.random.default_rng(123))
model.eval()
with mg.no_grad():
    predicted = np.concatenate([model(x_test[i:i + 500]).cpu().numpy().argmax(axis=-1)
                                for i in range(0, len(x_test), 500)])
chosen = y_test != IGNORE
shown = np.where(x_test == MASK_ID, "[MASK]",
                 np.where(x_test == test_ids, "kept", "random word"))
right = predicted == test_ids
accuracy = right[chosen].mean()
by_kind = {k: right[chosen & (shown == k)].mean() for k in ("[MASK]", "random word", "kept")}

train_words = train_ids[train_ids != PAD_ID]
most_frequent = Counter(train_words.tolist()).most_common(1)[0][0]
after = defaultdict(Counter)
for row in train_ids:
    for left, word in zip(row[:-1], row[1:]):
        if word != PAD_ID:
            after[left][word] += 1
guess_left = np.full(test_ids.shape, most_frequent)
for n, t in zip(*np.nonzero(chosen)):
    left = x_test[n, t - 1] if t > 0 else None
    if left is not None and left != MASK_ID and after[left]:
        guess_left[n, t] = after[left].most_common(1)[0][0]
baselines = {"most frequent word": np.mean(test_ids[chosen] == most_frequent),
             "left neighbour": np.mean(guess_left[chosen] == test_ids[chosen])}

print(f"{chosen.sum()} chosen tokens in {n_test} held-out sentences")
for name, acc in baselines.items():
    print(f"  baseline, {name:18s} {acc:6.1%}")
print(f"  masked LM, all chosen         {accuracy:6.1%}")
for k, acc in by_kind.items():
    print(f"  masked LM, shown {k:12s} {acc:6.1%}   ({(chosen & (shown == k)).sum()} tokens)")

# %%
for n in range(4):
    real_t = test_ids[n] != PAD_ID
    print("input:     ", " ".join(itos[i] for i in x_test[n][real_t]))
    row = zip(test_ids[n][real_t], predicted[n][real_t], chosen[n][real_t])
    print("prediction:", " ".join(f"[{itos[p]}]" if c else itos[i] for i, p, c in row))

fig, axes = common.figure(2)
axes[0].plot(losses, lw=0.6)
axes[0].set_xlabel("step")
axes[0].set_ylabel("cross-entropy at the chosen tokens")
axes[0].set_title(common.label("masked language model", "掩码语言模型"))
bars = {**{"baseline:\n" + k.replace(" ", "\n", 1): v for k, v in baselines.items()},
        "masked LM:\nall chosen": accuracy, **{f"shown\n{k}": v for k, v in by_kind.items()}}
axes[1].bar(range(len(bars)), [100 * v for v in bars.values()],
            color=["tab:gray"] * 2 + ["tab:blue"] + ["tab:cyan"] * 3)
axes[1].set_xticks(range(len(bars)), list(bars), fontsize=7)
axes[1].set_ylabel("% of the chosen tokens recovered")
axes[1].set_title("held-out masked-token accuracy")
common.savefig(fig, "20_masked_lm")

# %% [markdown]
# ## 5. What the numbers say
# The model beats the left-neighbour baseline because it reads the right side too: after
# "the", the left neighbour can only guess the commonest noun, while the verb on the right
# ("... sleeps" or "... sleep") tells singular from plural. Where it was shown a random word,
# the word in front of it is a lie it must see through, which is what the 10% teaches it;
# where the word was kept, it is right almost always. Trusting a real word is what the model
# needs after pre-training, when no `[MASK]` appears any more (notes 002「mask也会带来问题」).
# Only the chosen 15% are scored: the other 85%† of the positions give no training signal,
# one of the costs the notes list (notes 002「bert存在的问题」).

# %%
if run.quick:           # a few steps of training: the accuracy means nothing yet
    common.not_checked("the masked LM recovers >= 60% of the chosen words, >= 10 points over the "
                       "left-neighbour baseline")
else:
    common.check(accuracy >= 0.60 and accuracy >= baselines["left neighbour"] + 0.10,
                 f"the masked LM recovers {accuracy:.1%} of the chosen words (>= 60%), "
                 f"{accuracy - baselines['left neighbour']:+.1%} over the left-neighbour baseline "
                 "(>= +10%)", exercise=1)

# %% [markdown]
# ## 6. The second task: next-sentence prediction, and the length limit
# Devlin et al. 2019 pre-train BERT on two tasks at once. Beside the masked words, it learns
# whether a segment B follows a segment A: a pair is packed as `[CLS] A [SEP] B [SEP]`, the
# *segment ids* say which side each token is on (0 for `[CLS] A [SEP]`, 1 for `B [SEP]`: they
# select one of two learned segment embeddings added to the input), and a classifier on the
# output at `[CLS]` says *IsNext* or *NotNext*. Half the pairs take the true next sentence,
# half a random one from the corpus. A pair holds at most 512† tokens — the size of BERT's
# position table — so longer pairs are cut, the longer segment first (Devlin et al.'s code cuts
# one token at a time from the longer one until the pair fits).
#
# Our sentences come from a grammar that draws each one independently, so there is nothing for
# a classifier to learn here: we build the pairs and check them. (Liu et al. 2019, RoBERTa,
# report that leaving NSP out does not hurt, and later models mostly drop it.)

# %%
def nsp_pair(sentences, i, rng, max_len):
    """A next-sentence pair for sentence i (lists of words; sentence i + 1 must exist):
    returns (tokens, segment ids, is_next). B is sentences[i + 1] with probability 1/2, else a
    random other sentence; the pair is cut to max_len tokens, the longer segment first."""
    # BEGIN SOLUTION
    # TITLE: a next-sentence-prediction pair
    # HINT: is_next = rng.random() < 0.5; if not, draw j = rng.integers(len(sentences)) until j != i + 1
    # HINT: a, b = copies of the two sentences; while len(a) + len(b) + 3 > max_len: pop the last word of the longer
    # HINT: tokens = ["[CLS]"] + a + ["[SEP]"] + b + ["[SEP]"]; segments: 0 for the first len(a) + 2 tokens, then 1
    is_next = bool(rng.random() < 0.5)
    j = i + 1
    while not is_next and j == i + 1:
        j = int(rng.integers(len(sentences)))
    a, b = list(sentences[i]), list(sentences[j])
    while len(a) + len(b) + 3 > max_len:                     # room for [CLS], [SEP], [SEP]
        (a if len(a) > len(b) else b).pop()
    tokens = ["[CLS]"] + a + ["[SEP]"] + b + ["[SEP]"]
    segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    # END SOLUTION
    return tokens, segments, is_next


def well_formed(tokens, segments):
    """[CLS] first, exactly two [SEP] (the second one last), segment ids 0 up to the first."""
    seps = [k for k, t in enumerate(tokens) if t == "[SEP]"]
    return (tokens[0] == "[CLS]" and len(seps) == 2 and seps[1] == len(tokens) - 1
            and segments == [0] * (seps[0] + 1) + [1] * (len(tokens) - seps[0] - 1))


def segment_b(tokens):
    return tokens[tokens.index("[SEP]") + 1:-1]


nsp_rng = np.random.default_rng(run.seed + 20)
n_pairs = run.pick(4000, 1000)
pairs = [nsp_pair(sentences, i, nsp_rng, max_len=512) for i in range(n_pairs)]
for tokens, segments, is_next in pairs[:2]:
    print("IsNext " if is_next else "NotNext", " ".join(tokens))
    print("        segments", "".join(map(str, segments)))
share_next = np.mean([nxt for _, _, nxt in pairs])
false_next = np.mean([segment_b(t) == sentences[i + 1] for i, (t, _, nxt) in enumerate(pairs) if not nxt])
print(f"{n_pairs} pairs: {share_next:.1%} IsNext; NotNext pairs whose B reads like the next "
      f"sentence anyway (a repeated sentence): {false_next:.1%}")
common.check(all(well_formed(t, sg) for t, sg, _ in pairs) and abs(share_next - 0.5) < 0.05,
             "[CLS] A [SEP] B [SEP] with segment ids 0 then 1; half the pairs IsNext (within 5 points)",
             exercise=2)
common.check(all(segment_b(t) == sentences[i + 1] for i, (t, _, nxt) in enumerate(pairs) if nxt)
             and false_next < 0.1, "IsNext pairs hold the next sentence, NotNext pairs another one", exercise=2)
short = [nsp_pair(sentences, i, nsp_rng, max_len=12) for i in range(200)]
# A of 10 words and B of 3 (or A again, if the draw says NotNext): either way 3 words each remain
ten, three = [f"a{k}" for k in range(10)], [f"b{k}" for k in range(3)]
cut, cut_segments, _ = nsp_pair([ten, three], 0, np.random.default_rng(2), max_len=9)
print("a pair of 10 + 3 words cut to 9 tokens:", " ".join(cut))
common.check(all(len(t) <= 12 and well_formed(t, sg) for t, sg, _ in short)
             and cut[:5] == ["[CLS]", "a0", "a1", "a2", "[SEP]"] and len(cut) == 9 and well_formed(cut, cut_segments),
             "pairs are cut to max_len tokens, the longer segment first, from its end", exercise=2)
# three sentences: a NotNext pair for sentence 0 must take sentence 0 or 2, never 1
tiny = [["x"], ["y"], ["z"]]
tiny_rng = np.random.default_rng(3)
drawn = [nsp_pair(tiny, 0, tiny_rng, max_len=512) for _ in range(200)]
common.check(all(segment_b(t) == ["y"] for t, _, nxt in drawn if nxt)
             and not any(segment_b(t) == ["y"] for t, _, nxt in drawn if not nxt),
             "a NotNext pair never takes the true next sentence (three sentences, 200 draws)", exercise=2)

common.finish()
