# %% [markdown]
# # Lesson 15 — Beam search (集束搜索)
#
# **Learning goals**
# 1. See decoding as a search for $\arg\max_y P(y|x)$ and compare three searches on one
#    small model: greedy (贪心), beam search with beam width $B$, and exhaustive search (穷举).
# 2. Write beam search by hand and find it equal to `minigrad.decoding.beam_search`
#    ($B = 1$ is greedy; a beam as wide as every prefix is exhaustive).
# 3. Use length normalization (长度标准化) $\frac{1}{T_y^{\alpha}} \sum_t \log P(\hat y^{<t>}|x, \dots)$
#    and watch $\alpha$ change the output length and the accuracy.
# 4. Do the notes' error analysis (误差分析): for each wrong answer compare $P(y^*|x)$ with
#    $P(\hat y|x)$ and say whether the search or the model is to blame.
# 5. Write Viterbi (维特比), the exact search for a model whose next token depends on the
#    previous token only, and see why a seq2seq decoder needs beam search instead.
#
# **Notes followed**
# - notes 004「3.2 集束搜索」「集束搜索」: greedy takes $P(y^{<1>}|x)$, then
#   $P(y^{<2>}|x, y^{<1>})$, ...; beam search keeps the $B$ most probable choices at each step
#   (greedy is $B = 1$); notes 004「长度标准化」: $\arg\max \prod_{t=1}^{T_y} P(\hat y^{<t>}|x, \hat y^{<1>}, \dots,
#   \hat y^{<t-1>})$ underflows, so sum logs, and divide by $T_y^{\alpha}$ so short outputs are not
#   favoured; notes 004「误差分析」: $P(y^*|x) > P(\hat y|x)$ — the search failed (widen the beam);
#   $P(y^*|x) \le P(\hat y|x)$ — the RNN is at fault (improve the model).
# - notes 003「Beam-search」: exhaustive search, Viterbi, beam search and greedy search compared.
#
# **Note on the notes.** Notes 004 say the $1/T_y^{\alpha}$ of length normalization "penalises
# short outputs"; what it does is take back part of the penalty the plain sum puts on *long*
# ones (every extra $\log P < 0$ lowers the sum), so that short outputs are no longer favoured.
# - notes 001「Exposure Bias」: $P(y|x) = P(y_1|x) P(y_2|x, y_1) \cdots
#   P(y_n|x, y_1, \dots, y_{n-1})$.
#
# **Claims checked** (default run: about 15 s on a 2-core CPU): beam search equals the library's,
# is greedy at $B = 1$ and exhaustive when as wide as every output; no search finds an output
# more probable than exhaustive search's; a larger $\alpha$ never makes exhaustive search's or
# beam search's outputs shorter; every error the analysis blames on the model is also made by
# exhaustive search, and for every error it blames on the search, exhaustive search found an
# output at least as probable as $y^*$; Viterbi finds the most probable sequence of a
# first-order model, as exhaustive search does. The full run also checks what section 9 reads
# off its printed lines.

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import copy
import time

import numpy as np

import minigrad as mg
from minigrad.data import addition
from minigrad.decoding import beam_search, greedy_decode
from minigrad.models import Seq2Seq

from minigrad_lessons import _seq2seq_tasks as tasks

run = common.setup("Lesson 15: beam search")

# %% [markdown]
# ## 1. A small model that still makes mistakes
# Two-digit addition read as written (lesson 13's plain model: it must guess whether the sum
# reaches 100 from the first characters it writes), a one-directional LSTM of 128 units,
# trained for 5 epochs only: far from perfect — a search has something to find. A second copy,
# trained for 25 steps only, joins the length-normalization study.

# %%
task = tasks.Task(addition(run.pick(10_000, 700), seed=0, digits=2), run.pick(1_000, 100))
vocab = task.vocab
START, END = vocab.bos_id, vocab.eos_id


def new_model():
    return Seq2Seq(len(vocab), 16, 128, cell="lstm", pad_id=vocab.pad_id)


mg.manual_seed(run.seed)
model = new_model()
tasks.fit(model, task, run.pick(5, 2), lr=1e-2, desc="addition model", seed=run.seed)
early_model, first_batches = new_model(), copy.copy(task)      # the same problems, 25 batches
keep = task.held_out + 128 * 25
first_batches.src, first_batches.tgt = task.src[:keep], task.tgt[:keep]
first_batches.src_len, first_batches.tgt_len = task.src_len[:keep], task.tgt_len[:keep]
tasks.fit(early_model, first_batches, 1, lr=1e-2, desc="barely trained copy", seed=run.seed)
greedy_acc, _ = tasks.exact_match(model, task)
early_acc, _ = tasks.exact_match(early_model, task)
print(f"greedy exact match on {task.held_out} held-out problems: {greedy_acc:.1%} "
      f"(the model after 25 steps: {early_acc:.1%})")

# %% [markdown]
# ## 2. The search space
# An answer is a few digits then `<END>` (at most 3 digits: $99 + 99 = 198$), so $T_y \le 4$.
# All three searches look at the same outputs: up to 3 digits, then `<END>`. Every other
# token (`+`, `<pad>`, ...) gets $\log P = -\infty$, and so does every digit at step 4 (the
# state carries the step number $t$). The model's score of an output is
# $\log P(y|x) = \sum_t \log P(y_t | x, y_{<t})$: a sum, no underflow.
#
# One decoder step is `model.step_fn(prev_tokens (K,), state) -> (log_probs (K, V), state)`:
# K prefixes at once, which is all a search needs.

# %%
MAX_LEN = 4
DIGITS = np.array([vocab[str(d)] for d in range(10)])
allowed = np.full(len(vocab), -np.inf)
allowed[np.append(DIGITS, END)] = 0.0
only_end = np.full(len(vocab), -np.inf)
only_end[END] = 0.0


def make_step_fn(net):
    """``net``'s decoder step with every token but the ten digits and <END> forbidden, and
    <END> forced at step MAX_LEN. state = {"model": the model's state, "t": steps done (K,)}."""
    def step_fn(prev, state):
        log_probs, inner = net.step_fn(prev, state["model"])
        t = state["t"] + 1
        mask = np.where((t == MAX_LEN)[:, None], only_end, allowed)         # (K, V)
        return mg.backend.to_numpy(log_probs.array) + mask, {"model": inner, "t": t}
    return step_fn


def make_start_state(net):
    def start_state(i):
        """The starting state for held-out problem i (leading dimension 1)."""
        with mg.no_grad():
            return {"model": net.initial_state(task.src[i:i + 1]), "t": np.zeros(1, dtype=np.int64)}
    return start_state


step_fn, start_state = make_step_fn(model), make_start_state(model)


def text(tokens):
    """An output as text: "" for <END> alone, a trailing … when cut at the length limit."""
    return '"' + task.decode(tokens) + ("" if END in tokens else "…") + '"'


i = 0
log_probs, _ = step_fn(np.array([START]), start_state(i))
top = np.argsort(-log_probs[0])[:4]
print(f"{task.pairs[i][0]} = ?  first step, the 4 most probable tokens:",
      ", ".join(f"{vocab.lookup_token(t)} ({np.exp(log_probs[0, t]):.2f})" for t in top))

# %% [markdown]
# ## 3. Beam search by hand
# Keep the $B$ best prefixes. At each step extend every live prefix by every token (one call
# of `step_fn` on all of them), add the log-probabilities, keep the best $B - (\text{finished})$
# extensions; an extension that ends in `<END>` (or reaches the length limit) is finished.
# Rank the finished ones by $\frac{1}{T_y^{\alpha}} \sum_t \log P$.

# %%
def take_rows(state, rows):
    """Row rows[k] of every array in the (nested) state becomes row k."""
    if state is None:
        return None
    if isinstance(state, dict):
        return {key: take_rows(value, rows) for key, value in state.items()}
    if isinstance(state, tuple):
        return tuple(take_rows(value, rows) for value in state)
    if isinstance(state, mg.Tensor):
        return state[mg.tensor(rows)]
    return state[mg.backend.get_array_module(state).asarray(rows)]     # a raw (mask) array


def my_beam_search(state, B, alpha=0.0, max_len=MAX_LEN):
    """Returns the finished hypotheses [(tokens, normalized score)], best first."""
    prefixes, sums, finished = [[]], np.zeros(1), []
    for t in range(1, max_len + 1):
        width = B - len(finished)
        if width <= 0 or not prefixes:
            break
        prev = np.array([p[-1] if p else START for p in prefixes])
        log_probs, state = step_fn(prev, state)                        # (K, V)
        V = log_probs.shape[1]
        # BEGIN SOLUTION
        # TITLE: one step of beam search
        # OFF LIMITS: beam_search, mg.decoding
        # HINT: total = sums[:, None] + log_probs, flattened to (K*V,); keep the `width` largest finite ones
        # HINT: (np.argsort(-total, kind="stable")); candidate c extends prefix c // V with token c % V
        total = (sums[:, None] + log_probs).reshape(-1)               # log P(prefix) + log P(y_t | ...)
        best = np.argsort(-total, kind="stable")[:width]
        best = best[np.isfinite(total[best])]
        beams, tokens = best // V, best % V
        # END SOLUTION
        live = []
        for b, tok, s in zip(beams, tokens, total[best]):
            hyp = prefixes[b] + [int(tok)]
            if tok == END or t == max_len:
                finished.append((hyp, float(s)))
            else:
                live.append((b, hyp, s))
        prefixes, sums = [h for _, h, _ in live], np.array([s for _, _, s in live])
        if live:
            state = take_rows(state, np.array([b for b, _, _ in live]))
    ranked = [(hyp, s / len(hyp) ** alpha) for hyp, s in finished]      # (1 / T_y^α) Σ_t log P(ŷ_t | x, ŷ_<t)
    return sorted(ranked, key=lambda h: -h[1])


# A made-up model with known log-probabilities, built to reach every rule of the search: at
# the first step only 0, 1 and <END> are possible, at the second only 0 and <END> (so a beam
# of 8 meets impossible, -inf, extensions), and hypotheses end at different steps. Its numbers
# are fixed by the prefix.
TOY_LEN = 3


def toy_log_probs(prefix):
    """log P(next token | prefix) over the vocabulary: -inf but for the ten digits and <END>."""
    z = np.random.default_rng([7, *prefix]).normal(0.0, 2.0, 11)          # digits 0-9, <END>
    if not prefix:
        z[2:10] = -np.inf                          # step 1: only 0, 1 or <END>
    if len(prefix) == 1:
        z[1:10] = -np.inf                          # step 2: only 0 or <END>
    if len(prefix) == TOY_LEN - 1:
        z[:10] = -np.inf                           # the last step: only <END>
    z = z - np.log(np.exp(z - z.max()).sum()) - z.max()
    out = np.full(len(vocab), -np.inf)
    out[np.append(DIGITS, END)] = z
    return out


def toy_step_fn(prev, state):
    """state = {"hist": tokens so far (K, TOY_LEN), "t": steps done (K,)}."""
    t, hist = state["t"], state["hist"].copy()
    for k in range(len(prev)):
        if t[k] > 0:
            hist[k, t[k] - 1] = prev[k]
    log_probs = np.stack([toy_log_probs(list(hist[k, :t[k]])) for k in range(len(prev))])
    return log_probs, {"hist": hist, "t": t + 1}


def toy_start():
    return {"hist": np.zeros((1, TOY_LEN), dtype=np.int64), "t": np.zeros(1, dtype=np.int64)}


def searched_with(fn, search, *args):
    """``search(*args)`` with the lesson's step_fn replaced by ``fn`` for the call."""
    global step_fn
    saved, step_fn = step_fn, fn
    try:
        return search(*args)
    finally:
        step_fn = saved


for B, alpha in [(1, 0.0), (2, 0.0), (3, 0.0), (8, 0.0), (8, 0.7)]:
    mine = searched_with(toy_step_fn, my_beam_search, toy_start(), B, alpha, TOY_LEN)
    library = beam_search(toy_step_fn, toy_start(), START, END, B, TOY_LEN, alpha)
    ends = sorted({len(h) for h, _ in library})
    common.compare(f"hand-made model, B = {B}, alpha = {alpha}: the hypotheses (ending after {ends} tokens)",
                   np.array([str(h) for h, _ in mine], dtype=object),
                   np.array([str(h) for h, _ in library], dtype=object), exercise=1,
                   against="minigrad.decoding.beam_search",
                   cause="keep the `width` best finite extensions; prefix c // V, token c % V")
    common.compare(f"hand-made model, B = {B}, alpha = {alpha}: the scores", [s for _, s in mine],
                   [s for _, s in library], exercise=1, against="minigrad.decoding.beam_search")

for i in range(3):
    for B, alpha in [(1, 0.0), (3, 0.0), (3, 0.7)]:
        mine = my_beam_search(start_state(i), B, alpha)
        library = beam_search(step_fn, start_state(i), START, END, B, MAX_LEN, alpha)
        same = [h for h, _ in mine] == [h for h, _ in library] and np.allclose(
            [s for _, s in mine], [s for _, s in library])
        common.check(same, f"problem {i}, B = {B}, alpha = {alpha}: our beam search equals "
                           "minigrad.decoding.beam_search", exercise=1)
    greedy = greedy_decode(step_fn, start_state(i), START, END, MAX_LEN)
    common.check(my_beam_search(start_state(i), 1)[0][0] == greedy[0],
                 f"problem {i}: beam width 1 is greedy search", exercise=1)
    print(f"{task.pairs[i][0]:>6s} = {task.pairs[i][1]:>3s}   beam (B = 3):",
          ", ".join(f"{text(h)} ({s:.3f})" for h, s in my_beam_search(start_state(i), 3)))

# %% [markdown]
# ## 4. Exhaustive search
# With at most 3 digits before `<END>` there are $1 + 10 + 100 + 1000 = 1111$ outputs: few
# enough to score them all. Expanding every prefix, level by level, is beam search that never
# prunes; we keep every output's summed log-probability and length, so that any $\alpha$ can
# be applied afterwards.

# %%
def all_outputs(state, step_fn=step_fn, max_len=MAX_LEN):
    """Every output (up to max_len - 1 digits, then <END>): (list of token lists, summed
    log-probs (M,), lengths (M,))."""
    prefixes, sums = [[]], np.zeros(1)
    outputs, scores = [], []
    for t in range(1, max_len + 1):
        prev = np.array([p[-1] if p else START for p in prefixes])
        log_probs, state = step_fn(prev, state)                        # (K, V)
        # BEGIN SOLUTION
        # TITLE: exhaustive search
        # OFF LIMITS: beam_search
        # HINT: every prefix can finish here: outputs += [p + [END] ...], scores gets sums + log_probs[:, END]
        # HINT: and grows by every digit (not at the last step): sums[:, None] + log_probs[:, DIGITS], flattened
        outputs += [p + [END] for p in prefixes]                       # finish every prefix here
        scores.append(sums + log_probs[:, END])
        if t == max_len:
            break
        sums = (sums[:, None] + log_probs[:, DIGITS]).reshape(-1)      # (K * 10,): every digit next
        prefixes = [p + [int(d)] for p in prefixes for d in DIGITS]
        # END SOLUTION
        state = take_rows(state, np.repeat(np.arange(len(prev)), len(DIGITS)))
    return outputs, np.concatenate(scores), np.array([len(o) for o in outputs])


outputs, sums, lengths = all_outputs(start_state(0))
print(f"{len(outputs)} outputs scored for {task.pairs[0][0]}; the best three:",
      ", ".join(f"{text(outputs[k])} ({sums[k]:.3f})" for k in np.argsort(-sums)[:3]))
toy_outputs, toy_sums, toy_lengths = all_outputs(toy_start(), toy_step_fn, TOY_LEN)
exact = [sum(toy_log_probs(out[:k])[tok] for k, tok in enumerate(out)) for out in toy_outputs]
common.compare(f"hand-made model: log P of each of the {len(exact)} outputs, in the order listed",
               toy_sums, exact, exercise=2, against="the sum along each output",
               cause="outputs, sums and lengths must list the outputs in the same order")
common.compare("hand-made model: the outputs' lengths", toy_lengths, [len(o) for o in toy_outputs],
               exercise=2)
for i in range(2):
    outputs, sums, lengths = all_outputs(start_state(i))
    wide = beam_search(step_fn, start_state(i), START, END, len(outputs), MAX_LEN)
    common.check(wide[0][0] == outputs[int(sums.argmax())] and len(wide) == len(outputs) == 1111,
                 f"problem {i}: a beam as wide as every output (1111) is exhaustive search", exercise=2)

# %% [markdown]
# ## 5. Greedy vs beam vs exhaustive on held-out problems
# For each search: exact match, the mean $\log P(\hat y|x)$ of what it chose, and the time per
# problem. Exhaustive search finds the most probable output *under the model* — which is not
# always the right one.

# %%
n_eval = run.pick(300, 30)
references = [[t for t in row if t != vocab.pad_id] for row in task.test_tgt[:n_eval, 1:].tolist()]
t0 = time.perf_counter()
exhaustive = [all_outputs(start_state(i)) for i in common.progress(range(n_eval), desc="exhaustive")]
exhaustive_seconds = (time.perf_counter() - t0) / n_eval
searches = {"greedy": 1, "beam 2": 2, "beam 3": 3, "beam 5": 5, "beam 10": 10}
results = {}
for name, B in searches.items():
    t0 = time.perf_counter()
    found = [beam_search(step_fn, start_state(i), START, END, B, MAX_LEN)[0] for i in range(n_eval)]
    seconds = (time.perf_counter() - t0) / n_eval
    results[name] = ([h for h, _ in found], np.array([s for _, s in found]), seconds)
best = [int(s.argmax()) for _, s, _ in exhaustive]
results["exhaustive"] = ([out[k] for (out, _, _), k in zip(exhaustive, best)],
                         np.array([s[k] for (_, s, _), k in zip(exhaustive, best)]), exhaustive_seconds)
print(f"{'search':11s} {'exact match':>11s} {'mean log P(ŷ|x)':>16s} {'ms / problem':>13s}")
accuracy = {}
for name, (hyps, scores, seconds) in results.items():
    accuracy[name] = np.mean([h == r for h, r in zip(hyps, references)])
    print(f"{name:11s} {accuracy[name]:11.1%} {scores.mean():16.4f} {1000 * seconds:13.1f}")
top = results["exhaustive"][1]
# 1e-5: float32 sums of the same log-probs computed in batches of different sizes
common.check(all(np.all(scores <= top + 1e-5) for _, scores, _ in results.values()),
             "no search finds an output more probable than exhaustive search's", exercise=2)

fig, axes = common.figure(2)
names = list(results)
axes[0].bar(names, [100 * accuracy[n] for n in names])
axes[0].set_ylabel("held-out exact match (%)")
axes[0].set_ylim(min(100 * min(accuracy.values()) - 5, 90), 100)
axes[1].bar(names, [1000 * results[n][2] for n in names])
axes[1].set_ylabel("ms per problem")
axes[1].set_yscale("log")
for ax in axes:
    ax.tick_params(axis="x", rotation=30)
axes[0].set_title(common.label("greedy vs beam vs exhaustive", "贪心搜索 / 集束搜索 / 穷举搜索"))
common.savefig(fig, "15_search_comparison")

# %% [markdown]
# ## 6. Length normalization
# Every $\log P$ is negative, so each extra token lowers the sum: with $\alpha = 0$ the search
# prefers short outputs. Dividing by $T_y^{\alpha}$ pays that back: $\alpha = 1$ is the mean
# log-probability per token; the notes' $\alpha$ tunes between (0.7 is common). Exhaustive
# search shows the effect of $\alpha$ alone (no pruning), on the trained model and on the copy
# trained for 25 steps, which is much less sure where an answer ends; beam 3 shows it in
# practice.
#
# Why a larger $\alpha$ can only lengthen the pick: for a longer output $B$ and a shorter $A$
# (both sums negative), $B$ wins when $|s_B| / |s_A| < (T_B / T_A)^{\alpha}$, and the right side
# grows with $\alpha$: once the longer one wins, it keeps winning. That holds for any fixed set
# of candidates: exhaustive search's, and beam search's too, because `beam_search` prunes by the
# plain sum and applies $\alpha$ only to rank the finished hypotheses (a search that pruned by
# the normalized score would change its candidates with $\alpha$, and lose the guarantee).

# %%
alphas = [0.0, 0.25, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0]
early_step_fn, early_start = make_step_fn(early_model), make_start_state(early_model)
early_exhaustive = [all_outputs(early_start(i), early_step_fn)
                    for i in common.progress(range(n_eval), desc="exhaustive, 25-step model")]
ref_len = np.mean([len(r) for r in references])
study = {}
for name, table in [("trained", exhaustive), ("after 25 steps", early_exhaustive)]:
    lengths_, accs_ = [], []
    for alpha in alphas:
        # BEGIN SOLUTION
        # TITLE: length normalisation
        # HINT: for each problem (outputs, sums, lengths) pick the output with the largest sums / lengths ** alpha
        picks = [out[int((s / n ** alpha).argmax())] for out, s, n in table]
        # END SOLUTION
        lengths_.append(np.mean([len(p) for p in picks]))
        accs_.append(np.mean([p == r for p, r in zip(picks, references)]))
    study[name] = (lengths_, accs_)
beam_acc, beam_len = [], []
for alpha in alphas:
    beams = [beam_search(step_fn, start_state(i), START, END, 3, MAX_LEN, alpha)[0][0]
             for i in range(n_eval)]
    beam_acc.append(np.mean([p == r for p, r in zip(beams, references)]))
    beam_len.append(np.mean([len(p) for p in beams]))
print(f"mean reference length {ref_len:.3f} tokens (<END> included)")
print("alpha  | trained: length  exhaustive  beam 3 length  beam 3 | after 25 steps: length  exhaustive")
for k, alpha in enumerate(alphas):
    print(f"{alpha:5.2f}  |          {study['trained'][0][k]:5.3f}  {study['trained'][1][k]:9.1%}  "
          f"{beam_len[k]:13.3f}  {beam_acc[k]:6.1%} |                 {study['after 25 steps'][0][k]:5.3f}  "
          f"{study['after 25 steps'][1][k]:9.1%}")
for name, (lengths_, _) in study.items():
    common.check(all(b >= a - 1e-12 for a, b in zip(lengths_, lengths_[1:])),
                 f"{name} model: a larger alpha never makes exhaustive search's outputs shorter", exercise=3)
common.check(all(b >= a - 1e-12 for a, b in zip(beam_len, beam_len[1:])),
             "trained model: a larger alpha never makes beam 3's outputs shorter either", exercise=None)
# and exactly the lengths of the outputs that maximise sum / T_y^alpha
for name, table in [("trained", exhaustive), ("after 25 steps", early_exhaustive)]:
    want = [np.mean([len(out[int(np.argmax(s / n.astype(np.float64) ** alpha))]) for out, s, n in table])
            for alpha in alphas]
    common.compare(f"{name} model: mean length of the picks, alpha = {alphas}", study[name][0], want,
                   exercise=3, atol=1e-12, against="argmax of sum / T_y^alpha",
                   cause="divide the summed log-probability by the length to the power alpha")

fig, axes = common.figure(2)
for name, (lengths_, accs_) in study.items():
    axes[0].plot(alphas, lengths_, "o-", label=f"{name} (exhaustive)")
    axes[1].plot(alphas, [100 * a for a in accs_], "o-", label=f"{name} (exhaustive)")
axes[1].plot(alphas, [100 * a for a in beam_acc], "s--", label="trained (beam 3)")
axes[0].axhline(ref_len, ls="--", c="gray", label="references")
axes[0].set_ylabel("mean output length (tokens, <END> included)")
axes[1].set_ylabel("held-out exact match (%)")
for ax in axes:
    ax.set_xlabel("alpha")
    ax.legend(fontsize=8)
axes[0].set_title(common.label("length normalization", "长度标准化"))
common.savefig(fig, "15_length_normalization")

# %% [markdown]
# ## 7. Error analysis: the search or the model?
# For every problem a search gets wrong, score the right answer $y^*$ with the model (teacher
# forcing, `model.score`) and compare with the search's $\hat y$ ($\alpha = 0$):
# - $\log P(y^*|x) > \log P(\hat y|x)$: a more probable output existed and the search missed
#   it: **the search's fault** — a wider beam would help;
# - $\log P(y^*|x) \le \log P(\hat y|x)$: the model itself prefers the wrong answer: **the
#   model's fault** — no search can fix it.

# %%
def error_analysis(name):
    """Split the wrong answers of search ``name`` into (search's fault, model's fault)."""
    hyps, scores, _ = results[name]
    wrong = [i for i in range(n_eval) if hyps[i] != references[i]]
    with mg.no_grad():
        ref_scores = model.score(task.test_src[wrong], task.test_tgt[wrong]).cpu().numpy() if wrong else []
    search_fault, model_fault = [], []
    for i, ref_score in zip(wrong, ref_scores):
        # BEGIN SOLUTION
        # TITLE: error analysis: search or model
        # HINT: compare the right answer's log P(y*|x) (ref_score) with the search's log P(ŷ|x) (scores[i])
        # HINT: greater: append (i, ref_score) to search_fault, otherwise to model_fault
        (search_fault if ref_score > scores[i] else model_fault).append((i, ref_score))
        # END SOLUTION
    for i, ref_score in (search_fault[:3] + model_fault[:3]):
        print(f"  {task.pairs[i][0]:>6s}: y* = {task.pairs[i][1]:>3s}  log P(y*|x) = {ref_score:7.3f}   "
              f"ŷ = {text(hyps[i]):>5s}  log P(ŷ|x) = {scores[i]:7.3f}   -> "
              f"{'search' if (i, ref_score) in search_fault else 'model'}")
    print(f"{name} gets {len(wrong)} of {n_eval} wrong: {len(search_fault)} the search's fault, "
          f"{len(model_fault)} the model's")
    return search_fault, model_fault


faults = {name: error_analysis(name) for name in ("greedy", "beam 3")}
exhaustive_right = {i for i in range(n_eval) if results["exhaustive"][0][i] == references[i]}
for name, (search_fault, model_fault) in faults.items():
    common.check(not exhaustive_right & {i for i, _ in model_fault},
                 f"{name}: every error blamed on the model is made by exhaustive search too", exercise=4)
    common.check(all(top[i] >= ref_score - 1e-5 for i, ref_score in search_fault),
                 f"{name}: for every error blamed on the search, exhaustive search found an output "
                 "at least as probable as y* (so more probable than the search's)", exercise=4)

# A made-up search that answers <END> alone (always wrong), with scores set around log P(y*|x):
# below it (the search's fault), above it (the model's), and equal (the model's: a search
# cannot beat an output the model ranks as high as y*).
with mg.no_grad():
    y_star = model.score(task.test_src[:n_eval], task.test_tgt[:n_eval]).cpu().numpy()
offsets = np.array([-1.0, 1.0, 0.0])[np.arange(n_eval) % 3]
results["hand-made"] = ([[END]] * n_eval, y_star.astype(np.float64) + offsets, 0.0)
search_fault, model_fault = error_analysis("hand-made")
common.compare("hand-made search: the errors blamed on the search",
               [i for i, _ in search_fault], [i for i in range(n_eval) if offsets[i] < 0], exercise=4,
               against="those with log P(y*|x) > log P(ŷ|x)",
               cause="the search is at fault only when y* is strictly more probable than ŷ")
common.compare("hand-made search: the errors blamed on the model",
               [i for i, _ in model_fault], [i for i in range(n_eval) if offsets[i] >= 0], exercise=4,
               against="those with log P(y*|x) <= log P(ŷ|x)")
del results["hand-made"]

fig, ax = common.figure(width=5.0)
names = list(faults)
ax.bar(names, [len(faults[n][1]) for n in names], label="model's fault", color="tab:blue")
ax.bar(names, [len(faults[n][0]) for n in names], bottom=[len(faults[n][1]) for n in names],
       label="search's fault", color="tab:orange")
ax.set_ylabel(f"wrong answers (of {n_eval} held-out problems)")
ax.set_title(common.label("error analysis", "误差分析"))
ax.legend()
common.savefig(fig, "15_error_analysis")

# %% [markdown]
# ## 8. Viterbi: the exact search when the past is one token
# Notes 003 name a fourth search beside exhaustive, beam and greedy: Viterbi (维特比). It is
# exact and cheap for a model whose next token depends on the *previous token only* (a
# first-order Markov model: an HMM, a CRF tagger), where
# $\log P(y) = \log P(y_1) + \sum_{t \ge 2} \log P(y_t | y_{t-1})$. The best sequence that ends in
# token $v$ at step $t$ extends the best one ending in some $u$ at step $t - 1$:
# $$\delta_1(v) = \log P(y_1 = v), \qquad \delta_t(v) = \max_u \big[\delta_{t-1}(u) + \log P(v | u)\big],
# \qquad \psi_t(v) = \arg\max_u \big[\dots\big],$$
# and following $\psi$ back from $\arg\max_v \delta_T(v)$ gives the most probable sequence:
# $T V^2$ additions instead of the $V^T$ sequences of exhaustive search.
#
# A seq2seq decoder is not such a model: its state carries the whole prefix, so "the previous
# token" is the whole prefix, and Viterbi's table would need one row per prefix — $V^{t-1}$ at
# step $t$, exhaustive search again. Beam search keeps only the $B$ best rows of that table.

# %%
def viterbi(log_first, log_trans):
    """The most probable sequence of a first-order model: log_first (V,) = log P(y_1),
    log_trans (T - 1, V, V), log_trans[t, u, v] = log P(y_{t+2} = v | y_{t+1} = u).
    Returns (tokens, log P(tokens))."""
    delta, back = log_first, []                                         # δ_1: (V,)
    # BEGIN SOLUTION
    # TITLE: Viterbi
    # HINT: each step: cand = delta[:, None] + trans  ((V, V): u on the rows, v on the columns);
    # HINT: back.append(cand.argmax(axis=0)) (ψ_t) and delta = cand.max(axis=0) (δ_t)
    # HINT: then best = [int(delta.argmax())]; walk the ψ back (reversed(back)): best.append(int(psi[best[-1]]))
    for trans in log_trans:
        cand = delta[:, None] + trans                                   # δ_{t-1}(u) + log P(v | u)
        back.append(cand.argmax(axis=0))                                # ψ_t(v)
        delta = cand.max(axis=0)                                        # δ_t(v)
    best = [int(delta.argmax())]
    for psi in reversed(back):
        best.append(int(psi[best[-1]]))                                 # the u that led to it
    # END SOLUTION
    return best[::-1], float(delta.max())


def log_softmax_rows(z):
    return z - np.log(np.exp(z - z.max(axis=-1, keepdims=True)).sum(axis=-1, keepdims=True)) \
        - z.max(axis=-1, keepdims=True)


V_m, T_m = 10, 4
grid = np.stack(np.meshgrid(*[np.arange(V_m)] * T_m, indexing="ij"), axis=-1).reshape(-1, T_m)  # all V^T sequences
greedy_misses, viterbi_misses = 0, 0
rng_m = np.random.default_rng(run.seed + 15)
n_markov = run.pick(200, 50)
for k in range(n_markov):
    log_first = log_softmax_rows(rng_m.normal(0, 2, V_m))
    log_trans = log_softmax_rows(rng_m.normal(0, 2, (T_m - 1, V_m, V_m)))
    every = log_first[grid[:, 0]] + sum(log_trans[t, grid[:, t], grid[:, t + 1]] for t in range(T_m - 1))
    tokens, score = viterbi(log_first, log_trans)
    g = [int(log_first.argmax())]                                        # greedy: the best next token each time
    for t in range(T_m - 1):
        g.append(int(log_trans[t, g[-1]].argmax()))
    g_score = log_first[g[0]] + sum(log_trans[t, g[t], g[t + 1]] for t in range(T_m - 1))
    viterbi_misses += not (list(grid[every.argmax()]) == tokens and abs(score - every.max()) < 1e-9)
    greedy_misses += g_score < every.max() - 1e-9
print(f"{n_markov} random first-order models, {V_m} tokens, {T_m} steps ({V_m ** T_m} sequences each): "
      f"Viterbi misses the most probable sequence {viterbi_misses} times, greedy {greedy_misses} times")
common.check(viterbi_misses == 0, f"Viterbi finds exhaustive search's sequence and its log P on all "
                                  f"{n_markov} models", exercise=5)
common.check(greedy_misses > 0, "greedy search does not: one best step at a time is not the best sequence",
             exercise=None)

# %% [markdown]
# ## 9. What the numbers say
# - The table of section 5: greedy is at least as often right as the wider searches, though
#   they find *more probable* outputs (the column "mean log P(ŷ|x)"): the most probable answer
#   under this model is sometimes wrong (checked in the full run).
# - Error analysis (the lines "gets ... wrong" of section 7): almost every error is the model's
#   fault (checked in the full run: at most a twentieth are the search's). The remedy is a
#   better model — lesson 13's reversed input and peeky decoder, lesson 14's attention — not a
#   wider beam. On short outputs with a small vocabulary this is typical; beam search earns its
#   cost on long outputs (translation, summaries), where one early greedy choice decides many
#   later words.
# - Length normalization barely moves the trained model (its mean length stays within 0.05
#   tokens of the references'), but the model trained for 25 steps, unsure where an answer
#   ends, writes at least half a token more at $\alpha = 3$ than at $\alpha = 0$ (the table of
#   section 6; both checked in the full run): with $\alpha = 0$ the search favours short
#   outputs, exactly as the notes warn.

# %%
if run.quick:           # a few steps of training: the accuracies mean nothing yet
    common.not_checked("greedy is at least as often right as exhaustive search; at most 5% of the "
                       "errors are the search's fault; alpha moves the trained model's length by < 0.05 "
                       "tokens and the 25-step model's by >= 0.5")
else:
    common.check(accuracy["greedy"] >= accuracy["exhaustive"],
                 f"greedy is right as often as exhaustive search or more ({accuracy['greedy']:.1%} vs "
                 f"{accuracy['exhaustive']:.1%}), though less probable", exercise=None)
    common.check(all(len(sf) <= 0.05 * (len(sf) + len(mf)) for sf, mf in faults.values()),
                 "at most 5% of greedy's and beam 3's errors are the search's fault", exercise=4)
    common.check(max(abs(length - ref_len) for length in study["trained"][0]) < 0.05,
                 "alpha barely moves the trained model: every mean length within 0.05 tokens of the references'",
                 exercise=3)
    early_lengths = study["after 25 steps"][0]
    common.check(early_lengths[-1] - early_lengths[0] >= 0.5,
                 f"the 25-step model writes {early_lengths[-1] - early_lengths[0]:.2f} tokens more at "
                 f"alpha = {alphas[-1]} than at alpha = 0 (>= 0.5)", exercise=3)

common.finish()
