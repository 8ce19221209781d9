# %% [markdown]
# # Lesson 17 — Exposure bias (曝光偏差) and scheduled sampling (计划采样)
#
# **Learning goals**
# 1. Say what exposure bias is: a decoder trained by teacher forcing (教师强制) only ever saw
#    true previous words, but at test time it eats its own — and one mistake leads it where
#    training never went.
# 2. Write the notes' remedy ③: mix the decoder's inputs, $(1 - x) \cdot$ generated label
#    $+ \; x \cdot$ target label, with $x$ decaying by epoch (a variant of scheduled sampling,
#    Bengio et al. 2015), and find it equal to `Seq2Seq.loss(..., teacher_forcing_ratio=x)`.
# 3. Train a teacher-forced and a scheduled-sampling model side by side and measure both on
#    held-out data with greedy and beam decoding, epoch by epoch.
# 4. Measure exposure bias itself: after a model's first mistake, how often is the next
#    character right when it reads its own output, and when it reads the true one?
#
# **Notes followed**
# - notes 000「四、训练过程中的 Exposure Bias」: teacher forcing feeds the
#   target_label as the next input (fast, stable convergence) but causes exposure bias — good
#   in training, poor at prediction; the joint probability multiplies the small errors of each
#   step; remedies ① adversarial noise, ② beam_search at prediction, ③ a coefficient $x$ decaying
#   by epoch: decoder input $= (1 - x) \cdot \text{generated} + x \cdot \text{target}$.
# - notes 001「Seq2Seq训练」「Teacher Forcing」 and「Exposure Bias」:
#   $P(y|x) = P(y_1|x) P(y_2|x, y_1) \cdots P(y_n|x, y_1, \dots, y_{n-1})$; i. Scheduled Sampling.
#
# **Claims checked** (default run: about 30 s on a 2-core CPU): the hand-written mixed-input
# loss equals the library's; the teacher-forced model reverses at least 90% of the held-out
# strings; exposure bias is real: after its first mistake, reading its own output, the
# teacher-forced model gets at least 10 points fewer characters right than when it reads the
# true previous characters at the same positions; and on this task scheduled sampling buys
# nothing: it ends no more than 1 point above teacher forcing, and its own exposure gap stays
# within 5 points of teacher forcing's.

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad.data import reversal
from minigrad.decoding import beam_search
from minigrad.models import Seq2Seq
from minigrad.training import TeacherForcingSchedule

from minigrad_lessons import _seq2seq_tasks as tasks

run = common.setup("Lesson 17: exposure bias")

# %% [markdown]
# ## 1. The task: reverse a string
# "hbeja" -> "ajebh": strings of 1 to 10 letters from a-j, 11,000 to train on and 1,000 held
# out. A seq2seq without attention must carry the whole string in its state and count where
# it is — every output character depends on the ones before it, so a slip can derail the rest.

# %%
task = tasks.Task(reversal(run.pick(12_000, 700), seed=0, max_len=10, alphabet="abcdefghij"),
                  run.pick(1_000, 100))
vocab = task.vocab
PAD, START, END = vocab.pad_id, vocab.bos_id, vocab.eos_id
print("e.g.", task.pairs[task.held_out:task.held_out + 4])


def new_model():
    mg.manual_seed(run.seed)                 # both models start from the same weights
    return Seq2Seq(len(vocab), 16, 128, cell="lstm", pad_id=PAD)


# %% [markdown]
# ## 2. Mixing the decoder's inputs
# With teacher forcing the input at step $t$ is the target $y_{t-1}$. The notes' mix
# "decode input $= (1 - x) \cdot$ generated label $+ \; x \cdot$ target label" can be read two ways:
# - literally, as a soft mix of the two words' embeddings, $(1 - x)\, e(\hat y_{t-1}) + x\, e(y_{t-1})$
#   (a mixed input is a vector like any other; soft and differentiable variants of scheduled
#   sampling feed such mixtures);
# - token by token, as Bengio et al. 2015 do: each row's input is the target with probability
#   $x$ and the model's own word otherwise, so on average a share $x$ of the inputs are
#   targets. The model then meets exactly the inputs it will meet at test time.
#
# We take the second. $x = 1$ is teacher forcing, $x = 0$ is test-time decoding. Because each
# input depends on the previous step's output, the steps run one at a time.
#
# Two choices differ from Bengio et al. 2015, who *sample* the model's word from its softmax
# and decay $x$ after every mini-batch: here the model's word is its most probable one (the
# word greedy decoding will feed it), and $x$ decays once per epoch, as the notes say.

# %%
def mixed_input_loss(model, src, tgt, x):
    """Cross-entropy of tgt[:, 1:] when the decoder reads the mix of targets and its own
    guesses: src (N, S), tgt (N, T+1) = <START> y <END> <pad>..., x the target share."""
    state = model.initial_state(src)
    xp = mg.backend.get_array_module(model.decoder.output.weight.array)
    tgt_dev = xp.asarray(tgt)
    N, T = tgt.shape[0], tgt.shape[1] - 1
    tokens, steps = tgt_dev[:, 0], []                            # every row starts at <START>
    for t in range(T):
        logits, state, _ = model.decoder(tokens[:, None], state)  # (N, 1, V)
        steps.append(logits)
        if t + 1 == T:
            break
        # BEGIN SOLUTION
        # TITLE: mixing the model's own words into its input
        # HINT: guess = the argmax over the vocabulary of logits.array[:, 0] (.array: the backend array under the tensor; the model's own word, no gradient)
        # HINT: coin = mg.backend.rng_for(xp).random(N) < x
        # HINT: tokens = xp.where(coin, the target tgt_dev[:, t + 1], guess)
        guess = logits.array[:, 0].argmax(axis=-1)                 # 生成 label
        coin = mg.backend.rng_for(xp).random(N) < x               # target with probability x
        tokens = xp.where(coin, tgt_dev[:, t + 1], guess)         # (1 - x)·generated + x·target
        # END SOLUTION
    return F.cross_entropy(mg.cat(steps, axis=1), mg.tensor(tgt[:, 1:]), ignore_index=PAD)


model = new_model()
batch_src, batch_tgt = task.src[:64], task.tgt[:64]
for x in (1.0, 0.5, 0.0):
    mg.manual_seed(123)
    mine = mixed_input_loss(model, batch_src, batch_tgt, x).item()
    mg.manual_seed(123)
    library = model.loss(batch_src, batch_tgt, teacher_forcing_ratio=x).item()
    print(f"x = {x}: mixed-input loss by hand {mine:.6f}, Seq2Seq.loss {library:.6f}")
    common.check(abs(mine - library) < 1e-5,
                 f"x = {x}: the hand-written mix equals Seq2Seq.loss(teacher_forcing_ratio={x})", exercise=1)

# %% [markdown]
# ## 3. The schedule
# $x$ starts at 1 (pure teacher forcing: learn fast and stably while the model's own guesses
# are still nonsense) and decays by epoch, so that later epochs practise recovering from the
# model's own mistakes. `TeacherForcingSchedule` offers the usual decays; we use the linear
# one, $x_e = \max(0.6,\; 1 - 0.1 e)$ for epochs $e = 0, 1, \dots$

# %%
epochs = run.pick(5, 2)
schedule = TeacherForcingSchedule("linear", rate=0.1, floor=0.6)
others = {"linear, rate 0.1, floor 0.6 (used)": schedule,
          "exponential, rate 0.8": TeacherForcingSchedule("exponential", rate=0.8),
          "inverse sigmoid, rate 3": TeacherForcingSchedule("inverse_sigmoid", rate=3)}
for name, s in others.items():
    print(f"{name:36s}", "  ".join(f"{s(e):.2f}" for e in range(8)))

# %% [markdown]
# ## 4. Teacher forcing vs scheduled sampling, epoch by epoch
# The same start, the same batches, the same optimiser (Adam, $10^{-2}$ decayed to $10^{-3}$,
# clipping at 5); only the decoder's inputs differ. After every epoch both decode the held-out
# strings: greedily and with a beam of 3 and length normalization $\alpha = 0.7$ (lesson 15),
# both on the same first 200 held-out strings, so that they can be compared. Section 5 decodes
# all 1,000 greedily.

# %%
n_eval = run.pick(200, 20)


def beam_accuracy(model, n):
    right = 0
    for i in range(n):
        with mg.no_grad():
            state = model.initial_state(task.src[i:i + 1])
        out = beam_search(model.step_fn, state, START, END, 3, task.tgt.shape[1] - 1, alpha=0.7)[0][0]
        right += out == [t for t in task.tgt[i, 1:].tolist() if t != PAD]
    return right / n


runs = {"teacher forcing": None, "scheduled sampling": schedule}
history, models = {}, {}
for name, sched in runs.items():
    history[name] = {"greedy": [], "beam 3": []}

    def measure(epoch, m, h=history[name]):
        h["greedy"].append(tasks.exact_match(m, task, task.src[:n_eval], task.tgt[:n_eval])[0])
        h["beam 3"].append(beam_accuracy(m, n_eval))

    models[name] = new_model()
    tasks.fit(models[name], task, epochs, lr=1e-2, desc=name, teacher_forcing=sched,
              after_epoch=measure, seed=run.seed)
    print(f"{name:18s} greedy " + " ".join(f"{a:6.1%}" for a in history[name]["greedy"])
          + "   beam 3 " + " ".join(f"{a:6.1%}" for a in history[name]["beam 3"]))

# %%
fig, axes = common.figure(2)
e = np.arange(epochs)
axes[0].step(e, [1.0] * epochs, where="mid", label="teacher forcing")
axes[0].step(e, [schedule(k) for k in e], where="mid", label="scheduled sampling")
axes[0].set_ylim(0, 1.05)
axes[0].set_xlabel("epoch e")
axes[0].set_ylabel("x: share of target words fed to the decoder")
axes[0].set_title(common.label("the schedule", "衰减系数 x"))
axes[0].legend()
for name, style in zip(runs, ("tab:blue", "tab:orange")):
    axes[1].plot(e + 1, [100 * a for a in history[name]["greedy"]], "o-", c=style, label=f"{name}, greedy")
    axes[1].plot(e + 1, [100 * a for a in history[name]["beam 3"]], "s--", c=style, label=f"{name}, beam 3")
axes[1].set_xlabel("after epoch")
axes[1].set_ylabel(f"exact match on {n_eval} held-out strings (%)")
axes[1].set_title(common.label("held-out accuracy", "留出集准确率"))
axes[1].legend(fontsize=8)
common.savefig(fig, "17_schedule_and_accuracy")

# %% [markdown]
# ## 5. Exposure bias, measured
# Take the held-out strings (all 1,000) a model gets wrong (greedy). After its first wrong character, at
# every later position compare two predictions of the same model:
# - **own prefix** — what it wrote there while reading its own (already wrong) output;
# - **true prefix** — what it predicts there when fed the true previous characters (teacher
#   forcing, the situation of training).
#
# The difference is exposure bias: the same model, the same position, only the history differs.

# %%
def exposure(model):
    """(greedy exact match, accuracy after the first mistake with the own prefix, with the
    true prefix, number of such positions)."""
    accuracy, outputs = tasks.exact_match(model, task)
    refs = [[t for t in row if t != PAD] for row in task.test_tgt[:, 1:].tolist()]
    with mg.no_grad():
        forced = model(task.test_src, task.test_tgt[:, :-1]).cpu().numpy().argmax(axis=-1)  # (N, T)
    own = true = n = 0
    for i, (out, ref) in enumerate(zip(outputs, refs)):
        first = next((j for j in range(len(ref)) if j >= len(out) or out[j] != ref[j]), None)
        if first is None:
            continue
        for j in range(first + 1, len(ref)):
            # BEGIN SOLUTION
            # TITLE: counting exposure bias
            # HINT: count the position (n), whether the free-running output is right there
            # HINT: (own: j < len(out) and out[j] == ref[j]) and whether the teacher-forced
            # HINT: prediction is (true: forced[i, j] == ref[j])
            n += 1
            own += j < len(out) and out[j] == ref[j]
            true += forced[i, j] == ref[j]
            # END SOLUTION
    return accuracy, own / max(n, 1), true / max(n, 1), n


measured = {name: exposure(m) for name, m in models.items()}
for name, (acc, own, true, n) in measured.items():
    print(f"{name:18s} greedy exact match {acc:6.1%}; after the first mistake ({n} positions): "
          f"right {own:6.1%} reading its own output, {true:6.1%} reading the true one")

fig, ax = common.figure(width=5.5)
x_pos = np.arange(len(measured))
ax.bar(x_pos - 0.2, [100 * m[1] for m in measured.values()], width=0.4, label="own prefix (test time)")
ax.bar(x_pos + 0.2, [100 * m[2] for m in measured.values()], width=0.4, label="true prefix (teacher forced)")
ax.set_xticks(x_pos)
ax.set_xticklabels(list(measured))
ax.set_ylabel("characters right after the first mistake (%)")
ax.set_title(common.label("exposure bias", "曝光偏差"))
ax.legend(fontsize=8)
common.savefig(fig, "17_exposure_bias")

# %%
tf_acc, tf_own, tf_true, _ = measured["teacher forcing"]
ss_acc, ss_own, ss_true, _ = measured["scheduled sampling"]
print(f"exposure gap (true prefix - own prefix): teacher forcing {100 * (tf_true - tf_own):.1f} points, "
      f"scheduled sampling {100 * (ss_true - ss_own):.1f} points")


def exposure_reference(model):
    """exposure(model)'s counts again, a second way: whole arrays of positions per string."""
    _, outputs = tasks.exact_match(model, task)
    refs = [[t for t in row if t != PAD] for row in task.test_tgt[:, 1:].tolist()]
    with mg.no_grad():
        forced = model(task.test_src, task.test_tgt[:, :-1]).cpu().numpy().argmax(axis=-1)
    own = true = n = 0
    for i, (out, ref) in enumerate(zip(outputs, refs)):
        ref = np.array(ref)
        mine = np.full(len(ref), -1)                  # -1: the output stopped before this position
        mine[:min(len(out), len(ref))] = out[:len(ref)]
        wrong = np.flatnonzero(mine != ref)
        if wrong.size:
            after = np.arange(wrong[0] + 1, len(ref))
            n += after.size
            own += int((mine[after] == ref[after]).sum())
            true += int((forced[i, after] == ref[after]).sum())
    return own / max(n, 1), true / max(n, 1), n


common.compare("teacher forcing: (own-prefix accuracy, true-prefix accuracy, positions)",
               measured["teacher forcing"][1:], exposure_reference(models["teacher forcing"]),
               exercise=2, atol=1e-12, against="counted position by position",
               cause="count every position after the first mistake once; an output that stopped "
                     "early is wrong there; the true prefix's prediction is forced[i, j]")
if run.quick:           # a few steps of training: the accuracies mean nothing yet
    common.not_checked("the teacher-forced model reverses >= 90% of the held-out strings; after "
                       "its first mistake it gets >= 10 points more characters right from the true "
                       "prefix than from its own; scheduled sampling ends <= 1 point above teacher "
                       "forcing and its exposure gap stays within 5 points of teacher forcing's")
else:
    common.check(tf_acc >= 0.90,
                 f"the teacher-forced model reverses {tf_acc:.1%} of the held-out strings (>= 90%)", exercise=2)
    common.check(tf_true - tf_own >= 0.10,
                 f"exposure bias: after its first mistake the teacher-forced model gets {tf_own:.1%} "
                 f"of the characters right from its own prefix, {tf_true:.1%} from the true one", exercise=2)
    common.check(ss_acc <= tf_acc + 0.01,
                 f"no gain from scheduled sampling here: {ss_acc:.1%} of the held-out strings against "
                 f"{tf_acc:.1%} for teacher forcing (at most 1 point above)", exercise=None)
    common.check((ss_true - ss_own) >= (tf_true - tf_own) - 0.05,
                 f"scheduled sampling does not close its own exposure gap: {100 * (ss_true - ss_own):.1f} points "
                 f"against teacher forcing's {100 * (tf_true - tf_own):.1f} (within 5 points)", exercise=2)

# %% [markdown]
# ## What the numbers say
# - The lines "teacher forcing greedy ..." and "scheduled sampling greedy ..." of section 4
#   give both models after every epoch on the first 200 held-out strings, and section 5's
#   lines the greedy exact match on all 1,000. The two end level (checked: scheduled sampling
#   at most 1 point above): on this task it buys nothing, and it costs a step-by-step decoder
#   in training. Bengio et al. found gains on long outputs (captions, parsing); Transformers
#   and large models mostly train with plain teacher forcing — measure before believing.
# - Exposure bias is real all the same: after its first mistake the teacher-forced model gets
#   far fewer of the following characters right while reading its own output than when fed
#   the true previous characters at the very same positions (the line "exposure gap", checked
#   at 10 points or more). Scheduled sampling was meant to narrow that gap; here its own gap
#   stays about as wide (checked: within 5 points of teacher forcing's). A beam (the notes'
#   remedy ②) keeps other prefixes alive, but cannot help once the model's own prefix has gone
#   wrong.

# %%
common.finish()
