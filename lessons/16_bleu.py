# %% [markdown]
# # Lesson 16 — BLEU (Bleu 得分)
#
# **Learning goals**
# 1. Count n-grams (n 元组) of a candidate and clip each count by the references: the modified
#    precision $P_n$ that a "the the the the" candidate cannot cheat.
# 2. Compute the brevity penalty (简短惩罚) BP for a candidate shorter than its reference, and
#    combine everything into $BLEU = BP \cdot \exp(\frac{1}{N} \sum_{n=1}^{N} \log P_n)$ — by hand,
#    then equal to `minigrad.metrics.bleu`.
# 3. Score lesson 14's date model with BLEU, and see what BLEU rewards that exact match does
#    not (partial credit) and what it punishes (short outputs).
#
# **Notes followed** — notes 004「3.3 Bleu得分」:
# - the candidate's n-grams are the denominator; each n-gram counts in the numerator at most as
#   many times as it appears in a reference (its count is clipped):
#   $P_n = \dfrac{\sum_{n\text{-gram} \in \hat y} count_{clip}(n\text{-gram})}
#   {\sum_{n\text{-gram} \in \hat y} count(n\text{-gram})}$;
# - short candidates are penalised: BP = 1 when the machine translation (MT) is at least as long
#   as the reference (BM), otherwise an exponential penalty; $Bleu = BP \cdot \exp(\frac{1}{N}
#   \sum_{n=1}^{N} \log P_n)$.
#
# **Claims checked** (default run: about 5 s with lesson 14's checkpoint, about 20 s without
# it): the hand-computed counts, precisions, BP and BLEU equal
# `minigrad.metrics`; lesson 14's model scores a corpus BLEU of at least 0.99 on the held-out dates.

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import collections
import copy
import math

import numpy as np

import minigrad as mg
from minigrad import metrics

from minigrad_lessons import _seq2seq_tasks as tasks

run = common.setup("Lesson 16: BLEU")

# %% [markdown]
# ## 1. Clipped counts: the notes' kind of example
# The classic pair from the course (Andrew Ng's "Le chat est sur le tapis"): two human
# references, and two machine outputs, one of them the degenerate "the the the ...".

# %%
references = ["the cat is on the mat".split(), "there is a cat on the mat".split()]
candidates = {"the x7": "the the the the the the the".split(),
              "the cat the cat": "the cat the cat on the mat".split()}


def ngrams(tokens, n):
    """Counter of the n-grams (tuples) of a token list."""
    return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def clipped_precision(candidate, references, n):
    """P_n of one candidate: (sum of clipped counts, sum of counts)."""
    counts = ngrams(candidate, n)
    # BEGIN SOLUTION
    # TITLE: clipped n-gram precision
    # OFF LIMITS: metrics.bleu, metrics.sentence_bleu
    # HINT: the clip of an n-gram is the largest number of times it appears in any one reference
    # HINT: clipped = sum over the candidate's n-grams g of min(counts[g], clip[g]); total = sum of counts
    clip = collections.Counter()
    for ref in references:
        for g, k in ngrams(ref, n).items():
            clip[g] = max(clip[g], k)
    clipped = sum(min(k, clip[g]) for g, k in counts.items())
    total = sum(counts.values())
    # END SOLUTION
    return clipped, total


for name, cand in candidates.items():
    for n in (1, 2):
        clipped, total = clipped_precision(cand, references, n)
        print(f"{name:16s} n = {n}: count {dict(ngrams(cand, n))}")
        print(f"{'':16s}        clipped {clipped} / {total} = {clipped / total:.3f}")
        common.check(ngrams(cand, n) == metrics.ngram_counts(cand, n),
                     f"{name}: our {n}-gram counts equal minigrad.metrics.ngram_counts", exercise=None)
common.check(clipped_precision(candidates["the x7"], references, 1) == (2, 7),
             "'the' x 7 gets P_1 = 2/7: 'the' appears at most twice in one reference", exercise=1)
common.check(clipped_precision(candidates["the cat the cat"], references, 2) == (4, 6),
             "'the cat the cat on the mat' gets P_2 = 4/6", exercise=1)

# %% [markdown]
# ## 2. The brevity penalty and the whole score
# Precision alone rewards saying little: "the cat" has $P_1 = P_2 = 1$. So a candidate of total
# length $c$ shorter than the reference length $r$ pays $BP = \exp(1 - r/c)$ (Papineni et al.
# 2002), and 1 when $c > r$. With several references, $r$ is the reference length closest
# to $c$.
#
# **Note on the notes.** Notes 004 write $BP = \exp(1 - MT/BM)$: with MT < BM that would be
# *above* 1, a reward; the paper's $\exp(1 - BM/MT)$ is the penalty meant.
#
# $BLEU = BP \cdot \exp\left(\frac{1}{N} \sum_{n=1}^{N} \log P_n\right)$: the geometric mean of
# $P_1 \dots P_N$ ($N = 4$ usually), zero if any $P_n$ is zero.

# %%
def brevity_penalty(c, r):
    # BEGIN SOLUTION
    # TITLE: the brevity penalty
    # OFF LIMITS: metrics.brevity_penalty
    # HINT: 1 when the candidate is longer than the reference (c > r), else exp(1 - r / c)
    return 1.0 if c > r else math.exp(1 - r / c)
    # END SOLUTION


def bleu_by_hand(candidate, references, N):
    c = len(candidate)
    r = min((len(ref) for ref in references), key=lambda length: (abs(length - c), length))
    log_p = 0.0
    for n in range(1, N + 1):
        clipped, total = clipped_precision(candidate, references, n)
        if clipped == 0:
            return 0.0
        log_p += math.log(clipped / total) / N              # (1/N) Σ log P_n
    return brevity_penalty(c, r) * math.exp(log_p)          # BP · exp(...)


examples = {"the cat": "the cat".split(), "the cat is on the mat": references[0],
            "a cat is on the mat": "a cat is on the mat".split(),
            "the cat the cat on the mat": candidates["the cat the cat"]}
print(f"{'candidate':28s} {'c':>2s} {'r':>2s} {'BP':>6s} {'BLEU-2':>7s} {'library':>7s}")
for name, cand in examples.items():
    c = len(cand)
    r = min((len(ref) for ref in references), key=lambda length: (abs(length - c), length))
    mine, library = bleu_by_hand(cand, references, 2), metrics.sentence_bleu(cand, references, max_n=2)
    print(f"{name:28s} {c:2d} {r:2d} {brevity_penalty(c, r):6.3f} {mine:7.4f} {library:7.4f}")
    common.check(abs(mine - library) < 1e-12, f"BLEU-2 of '{name}' by hand equals minigrad.metrics", exercise=2)
common.check(abs(brevity_penalty(2, 6) - math.exp(1 - 6 / 2)) < 1e-15 and brevity_penalty(7, 6) == 1.0,
             "BP = exp(1 - r/c) for a short candidate, 1 for a long one", exercise=2)

# %% [markdown]
# Note "a cat is on the mat": it equals neither reference, yet every one of its words and word
# pairs appears in one of them, so its BLEU-2 is 1. BLEU counts n-grams, it does not read.

# %% [markdown]
# ## 3. BLEU of lesson 14's date model
# The model is lesson 14's (additive attention; lesson 14 checks its held-out exact match), loaded from the
# checkpoint lesson 14 wrote, or retrained with the same recipe when it is missing. Its tokens
# are characters, so BLEU-4 counts character 1- to 4-grams of "1994-03-07" — one reference per
# date. Corpus BLEU sums the clipped counts over all dates before dividing (it is not the mean
# of the sentence scores).
#
# Beside it, three other "systems" show what BLEU measures:
# - the model's outputs **cut after the month** ("1994-03"): every n-gram is right, only BP
#   punishes them;
# - a **constant** guess, "2000-01-01" for every date: it shares "-", "0", "20" ... with many;
# - the model after **100 training steps** only: few dates exactly right, many characters right.

# %%
task = tasks.date_task(run)
model = tasks.load_or_train_date_model(run, task)
accuracy, outputs = tasks.exact_match(model, task)
hyps = [list(task.decode(o)) for o in outputs]
refs = [[list(t)] for _, t in task.test_pairs]

mg.manual_seed(run.seed + 1)
weak = tasks.date_model(task)
weak_task = copy.copy(task)                 # the same vocabulary, only the first 100 batches
keep = task.held_out + 128 * run.pick(100, 5)
weak_task.src, weak_task.tgt = task.src[:keep], task.tgt[:keep]
weak_task.src_len, weak_task.tgt_len = task.src_len[:keep], task.tgt_len[:keep]
tasks.fit(weak, weak_task, 1, tasks.DATE_LR, desc="a weak model, few steps", seed=run.seed)
weak_acc, weak_out = tasks.exact_match(weak, task)

systems = {
    "lesson 14 model": (hyps, accuracy),
    "cut after the month": ([h[:7] for h in hyps], 0.0),
    "constant 2000-01-01": ([list("2000-01-01")] * len(hyps),
                            np.mean([t == "2000-01-01" for _, t in task.test_pairs])),
    "after 100 steps": ([list(task.decode(o)) for o in weak_out], weak_acc),
}
print(f"{'system':22s} {'exact match':>11s} {'BLEU-4':>7s} {'BP':>6s}  "
      + "  ".join(f"P_{n}" for n in range(1, 5)))
scores = {}
for name, (cands, exact) in systems.items():
    scores[name] = metrics.bleu(cands, refs, max_n=4)
    c, r = sum(len(h) for h in cands), sum(len(x[0]) for x in refs)
    p = [sum(clipped_precision(h, x, n)[0] for h, x in zip(cands, refs))
         / max(1, sum(clipped_precision(h, x, n)[1] for h, x in zip(cands, refs))) for n in range(1, 5)]
    print(f"{name:22s} {exact:11.1%} {scores[name]:7.4f} {metrics.brevity_penalty(c, r):6.3f}  "
          + "  ".join(f"{v:.2f}" for v in p))

for (src, tgt), h in list(zip(task.test_pairs, systems["after 100 steps"][0]))[:4]:
    print(f"  {src:28s} -> {''.join(h):12s} (reference {tgt}): sentence BLEU "
          f"{metrics.sentence_bleu(h, [list(tgt)], smooth='epsilon'):.3f}")

fig, ax = common.figure(width=6.0)
names = list(systems)
x = np.arange(len(names))
ax.bar(x - 0.2, [100 * systems[n][1] for n in names], width=0.4, label="exact match (%)")
ax.bar(x + 0.2, [100 * scores[n] for n in names], width=0.4, label="BLEU-4 x 100")
ax.set_xticks(x)
ax.set_xticklabels(names, fontsize=8, rotation=15)
ax.set_title(common.label("dates: exact match vs BLEU", "完全匹配 vs Bleu"))
ax.legend()
common.savefig(fig, "16_bleu_dates")

# %% [markdown]
# What the table shows: lesson 14's model is right on almost every held-out date, so every
# $P_n$ and BP are close to 1 (checked: BLEU-4 at least 0.99 in the full run). Cutting its
# outputs after the month keeps every $P_n$ where it was — precision cannot see what is
# missing — and only the brevity penalty, $\exp(1 - 10/7) = 0.65$ for 7 characters out of 10,
# brings the score down. The model after 100 steps gets almost no date exactly right, yet BLEU
# gives it partial credit for the years and separators it does get, well above the constant
# guess (checked in the full run: under 5% exact match, and at least 1.5 times the constant
# guess's BLEU): BLEU ranks systems by partial credit where exact match sees only zeros.

# %%
cut = systems["cut after the month"][0]
expected_bp = math.exp(1 - sum(len(x[0]) for x in refs) / sum(len(h) for h in cut))
print(f"cut outputs: BP = exp(1 - r/c) = {expected_bp:.4f}; for 7 characters of 10, exp(1 - 10/7) = {math.exp(1 - 10 / 7):.4f}")
common.check(abs(math.exp(1 - 10 / 7) - 0.65) < 0.005, "exp(1 - 10/7) ≈ 0.65", exercise=None)
common.check(scores["cut after the month"] <= expected_bp + 1e-12,
             "cutting every output after the month costs at least the brevity penalty exp(1 - r/c)", exercise=None)
if run.quick:           # a few steps of training: the score means nothing yet
    common.not_checked("lesson 14's model has corpus BLEU-4 >= 0.99 on the held-out dates; the "
                       "100-step model gets < 5% exact match and >= 1.5 times the constant guess's BLEU")
else:
    common.check(scores["lesson 14 model"] >= 0.99,
                 f"lesson 14's model has corpus BLEU-4 {scores['lesson 14 model']:.4f} (>= 0.99) "
                 f"on {task.held_out} held-out dates", exercise=None)
    common.check(weak_acc < 0.05 and scores["after 100 steps"] >= 1.5 * scores["constant 2000-01-01"],
                 f"the 100-step model: {weak_acc:.1%} exact match (< 5%) but BLEU-4 "
                 f"{scores['after 100 steps']:.2f}, at least 1.5 times the constant guess's "
                 f"{scores['constant 2000-01-01']:.2f}", exercise=None)

common.finish()
