# %% [markdown]
# # Lesson 13 — Sequence to sequence (序列到序列, seq2seq)
#
# **Learning goals**
# 1. Build the encoder-decoder (编码器-解码器) structure: the encoder reads a variable-length
#    source into fixed-size states, the decoder writes a variable-length target from them.
# 2. Use a bi-directional (双向) RNN as the encoder and see that its output is
#    $2 \times \text{hidden\_size}$ wide.
# 3. Start the decoder at `<START>`, stop it at `<END>`, and train it by teacher forcing
#    (教师强制): the true previous word, not the model's guess, is the next input.
# 4. Write the encoder and the decoder as layers (Layer) and the seq2seq as a model (Model),
#    and find them equal to `minigrad.models.Seq2Seq`.
# 5. Teach a seq2seq to add ("57+68" -> "125") and measure three tricks on held-out
#    problems: plain, reversed input (输入反转), peeky decoder — and a bi-directional encoder.
#
# **Notes followed**
# - notes 000「1、rnn 的基本原理」: a bidirectional RNN's output is $2 \cdot \text{hidden\_size}$ wide;
#   notes 000「4、Seq2Seq 结构」「4.1 encoder 结构」 (an RNN, possibly bidirectional) and
#   notes 000「4.2 decoder 结构」 (a one-way RNN, started by `<START>`, stopped by `<END>`);
#   notes 000「三、Layer 与 Model 模型搭建」 (encoder and decoder as layers, the whole seq2seq as
#   a model); notes 000「四、训练过程中的 Exposure Bias」 (teacher forcing: the true previous
#   word is the next input).
# - notes 001「Encoder-Decoder结构」「Teacher Forcing」 and「Seq2Seq训练」 (the cross-entropy
#   loss): the model factorises
#   $P(y|x) = P(y_1|x)\,P(y_2|x, y_1) \cdots P(y_n|x, y_1, \dots, y_{n-1})$
#   and is trained on $J = -\frac{1}{N} \sum_{n} \log \hat y_n$, the cross-entropy of each true
#   next word.
# - notes 002「1.seq2seq是什么」: the encoder maps a sequence of any length to a vector of fixed
#   size, the decoder maps that vector to a sequence of any length.
# - notes 004「3.1 seq2seq模型」.
#
# **Claims checked at the end** (default run: about 20 s on a 2-core CPU): after 6 epochs on
# 9,000 two-digit additions, the reversed input with a peeky decoder gets at least 95% of the
# held-out problems right, learns fastest (highest accuracy averaged over the epochs) and
# passes 95% in an earlier epoch than the reversed input alone; reversing the input alone beats
# the plain model by at least 20 points; the bi-directional encoder ends between the plain and
# the reversed model. The run prints every model's accuracy after each epoch.

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.data import addition
from minigrad.models import Seq2Seq as LibrarySeq2Seq

from minigrad_lessons import _seq2seq_tasks as tasks

run = common.setup("Lesson 13: seq2seq")

# %% [markdown]
# ## 1. The task: addition as text
# Every problem "a+b" with $0 \le a, b < 100$ (10,000 of them) is a source string, its sum the
# target. The first 1,000 are held out (保留的测试集) and never trained on. Characters are the
# tokens; the vocabulary holds the notes' `<START>` and `<END>` and a padding token `<pad>`.
# The target the decoder sees is `<START> y <END>`; sources and targets are right-padded to
# the longest in the batch.

# %%
n_problems, held_out = run.pick(10_000, 700), run.pick(1_000, 200)
pairs = addition(n_problems, seed=0, digits=2)
task = tasks.Task(pairs, held_out)
vocab = task.vocab
print(f"{len(pairs)} problems, {held_out} held out; e.g.", pairs[held_out:held_out + 4])
print("vocabulary:", vocab.get_itos())
print("source ids (N, S):\n", task.src[held_out:held_out + 3])
print("target ids (N, T) = <START> y <END> <pad>...:\n", task.tgt[held_out:held_out + 3])
V, PAD, START, END = len(vocab), vocab.pad_id, vocab.bos_id, vocab.eos_id
common.check(all(row[0] == START and END in row for row in task.tgt.tolist()),
             "every target starts with <START> and holds <END>", exercise=None)

# %% [markdown]
# ## 2. The encoder layer: a bi-directional LSTM
# The forward LSTM reads $x_1 \dots x_S$, the backward one $x_S \dots x_1$; each source
# position gets both: $\bar h_s = [\overrightarrow{h}_s ; \overleftarrow{h}_s]$, so the output is
# $2 \times$ hidden_size wide (notes 000「1、rnn 的基本原理」). The encoder's summary of the whole
# source is the forward LSTM's last state beside the backward LSTM's last state (which it
# reached at $s = 1$).
# Padded positions are skipped (`lengths`), so the backward LSTM starts at each row's own
# last character.

# %%
class Encoder(nn.Module):
    """Layer: Embedding -> (bi-directional) LSTM over the source.

    forward(src (N, S), lengths (N,)) -> memory (N, S, 2H), (h, c) each (1, N, 2H)
    (H instead of 2H when bidirectional=False)."""

    def __init__(self, vocab_size, embed_size, hidden_size, bidirectional=True):
        super().__init__()
        self.bidirectional = bidirectional
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=PAD)
        self.rnn = nn.LSTM(embed_size, hidden_size, batch_first=True, bidirectional=bidirectional)

    def forward(self, src, lengths):
        memory, (h, c) = self.rnn(self.embedding(src), lengths=lengths)   # h, c: (dirs, N, H)
        if self.bidirectional:
            # BEGIN SOLUTION
            # TITLE: joining the encoder's two directions
            # OFF LIMITS: LibrarySeq2Seq, mg.models
            # HINT: h[0] is the forward direction's last state, h[1] the backward one's (both (N, H));
            # HINT: put them side by side on the last axis (mg.cat) and keep a layer axis in front: (1, N, 2H)
            h = mg.cat([h[0], h[1]], axis=-1)[None]
            c = mg.cat([c[0], c[1]], axis=-1)[None]
            # END SOLUTION
        return memory, (h, c)


mg.manual_seed(run.seed)
enc = Encoder(V, embed_size=16, hidden_size=32)
src_demo = task.src[:4]
memory, (h_enc, c_enc) = enc(src_demo, lengths=task.src_len[:4])
print(f"source (N, S) = {src_demo.shape} -> memory (N, S, 2H) = {memory.shape}, "
      f"final h (1, N, 2H) = {h_enc.shape}")
common.check(memory.shape == (4, src_demo.shape[1], 64) and h_enc.shape == (1, 4, 64),
             "a bi-directional encoder's output is 2 x hidden_size = 64 wide", exercise=1)
# the backward half of the summary is the backward LSTM's state at s = 1
common.check(np.allclose(h_enc.detach().cpu().numpy()[0, :, 32:], memory.detach().cpu().numpy()[:, 0, 32:], atol=1e-6),
             "the summary's backward half is the backward LSTM's state at the first position", exercise=1)

# %% [markdown]
# ## 3. The decoder layer: one-directional, from `<START>` to `<END>`
# The decoder is an LSTM started from the encoder's summary $(h, c)$. At step $t$ it reads the
# previous word $y_{t-1}$ (`<START>` at $t = 1$) and gives
# $P(y_t | x, y_1 \dots y_{t-1}) = \mathrm{softmax}(W_s h_t + b_s)$.
#
# **Peeky** (DLS2 book, ch. 7): the summary $h_{enc}$ is only the decoder's *starting*
# state, and it fades as the decoder runs. A peeky decoder also feeds it to every step,
# beside the embedding, and to the output layer: $h_t = \mathrm{LSTM}([e(y_{t-1}); h_{enc}],
# h_{t-1})$ and $\mathrm{softmax}(W_s [h_t; h_{enc}] + b_s)$.

# %%
class Decoder(nn.Module):
    """Layer: Embedding -> LSTM -> Linear, one step or T steps at once.

    forward(tokens (N, T), (h, c) each (1, N, H), summary (N, H) or None)
      -> logits (N, T, V), (h, c)."""

    def __init__(self, vocab_size, embed_size, hidden_size, peeky=False):
        super().__init__()
        self.peeky = peeky
        extra = hidden_size if peeky else 0
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=PAD)
        self.rnn = nn.LSTM(embed_size + extra, hidden_size, batch_first=True)
        self.output = nn.Linear(hidden_size + extra, vocab_size)      # W_s, b_s

    def forward(self, tokens, state, summary=None):
        x = self.embedding(tokens)                                     # (N, T, D)
        N, T, _ = x.shape
        if self.peeky:
            peek = summary[:, None].broadcast_to(N, T, summary.shape[1])   # h_enc at every step
        # BEGIN SOLUTION
        # TITLE: the decoder, with and without peeky
        # OFF LIMITS: LibrarySeq2Seq, mg.models
        # HINT: peeky: x = mg.cat([x, peek], axis=-1); then hs, state = self.rnn(x, state)
        # HINT: peeky again: hs = mg.cat([hs, peek], axis=-1); logits = self.output(hs)
        if self.peeky:
            x = mg.cat([x, peek], axis=-1)                             # [e(y_{t-1}); h_enc]
        hs, state = self.rnn(x, state)                                 # h_t: (N, T, H)
        if self.peeky:
            hs = mg.cat([hs, peek], axis=-1)                           # [h_t; h_enc]
        logits = self.output(hs)                                       # W_s h_t + b_s
        # END SOLUTION
        return logits, state


# %% [markdown]
# ## 4. The model: teacher forcing and greedy generation
# The model wires the two layers, owns the loss and generates.
#
# **Teacher forcing (教师强制).** In training the decoder's input at step $t$ is the *true*
# $y_{t-1}$: the target shifted right by one. So all $T$ steps run in one call of the LSTM,
# and the loss is the cross-entropy of each true next word (notes 001「Seq2Seq训练」):
#
# | decoder input  | `<START>` | 1 | 2 | 5 |
# |---|---|---|---|---|
# | decoder target | 1 | 2 | 5 | `<END>` |
#
# **Generation.** At test time there is no true $y_{t-1}$: the decoder starts at `<START>`,
# feeds back its own most probable word (greedy, lesson 15 does better), and stops at `<END>`.

# %%
class Seq2Seq(nn.Module):
    """Model: Encoder + Decoder. loss(src (N, S), tgt (N, T+1)) -> mean cross-entropy;
    generate(src, bos_id, eos_id, max_len) -> N lists of ids (ending with <END>)."""

    def __init__(self, vocab_size, embed_size, hidden_size, bidirectional=True, peeky=False):
        super().__init__()
        self.encoder = Encoder(vocab_size, embed_size, hidden_size, bidirectional)
        self.decoder = Decoder(vocab_size, embed_size, self.encoder.output_size, peeky)

    def encode(self, src):
        """The decoder's starting state and the peeky summary (the top layer's h)."""
        src = np.asarray(mg.backend.to_numpy(src))
        memory, state = self.encoder(src, lengths=(src != PAD).sum(axis=1))
        return state, state[0][-1]

    def loss(self, src, tgt):
        state, summary = self.encode(src)
        # BEGIN SOLUTION
        # TITLE: the teacher-forced loss
        # OFF LIMITS: LibrarySeq2Seq, mg.models
        # HINT: teacher forcing: the decoder reads tgt[:, :-1] (<START> y_1 .. y_{T-1}) and is scored on tgt[:, 1:]
        # HINT: F.cross_entropy(logits, targets, ignore_index=PAD) skips the padding
        logits, _ = self.decoder(tgt[:, :-1], state, summary)
        return F.cross_entropy(logits, mg.tensor(tgt[:, 1:]), ignore_index=PAD)
        # END SOLUTION

    def generate(self, src, bos_id, eos_id, max_len):
        with mg.no_grad():
            state, summary = self.encode(src)
            tokens = np.full((len(src), 1), bos_id)                     # every row starts at <START>
            steps = []
            for _ in range(max_len):
                # BEGIN SOLUTION
                # TITLE: greedy generation
                # OFF LIMITS: LibrarySeq2Seq, mg.models
                # HINT: one decoder step on tokens (N, 1); the next tokens are the argmax of the logits (N, 1, V)
                # HINT: over the last axis, brought to the host with mg.backend.to_numpy
                logits, state = self.decoder(tokens, state, summary)
                tokens = mg.backend.to_numpy(logits.array.argmax(axis=-1))      # (N, 1)
                # END SOLUTION
                steps.append(tokens[:, 0])
        outputs = []
        for row in np.stack(steps, axis=1).tolist():                    # cut each row after <END>
            outputs.append(row[:row.index(eos_id) + 1] if eos_id in row else row)
        return outputs


src_b, tgt_b = task.src[held_out:held_out + 2], task.tgt[held_out:held_out + 2]
print("decoder input :", [vocab.lookup_tokens(r) for r in tgt_b[:, :-1]])
print("decoder target:", [vocab.lookup_tokens(r) for r in tgt_b[:, 1:]])

# %% [markdown]
# Same weights, same numbers: our layers and model against `minigrad.models.Seq2Seq` (whose
# `Encoder` / `Decoder` / `Seq2Seq` follow the same Layer / Model split), with and without peeky.
# Our attributes carry the library's names, so its `state_dict` loads straight into ours.

# %%
for peeky in (False, True):
    mg.manual_seed(run.seed)
    library = LibrarySeq2Seq(V, 16, 32, cell="lstm", bidirectional=True, peeky=peeky, pad_id=PAD)
    ours = Seq2Seq(V, 16, 32, bidirectional=True, peeky=peeky)
    ours.load_state_dict(library.state_dict())
    batch_src, batch_tgt = task.src[:64], task.tgt[:64]
    ours_loss, lib_loss = ours.loss(batch_src, batch_tgt).item(), library.loss(batch_src, batch_tgt).item()
    same_output = ours.generate(batch_src, START, END, 5) == library.generate(batch_src, START, END, 5)
    print(f"peeky={peeky}: loss ours {ours_loss:.6f}, library {lib_loss:.6f}; "
          f"same greedy outputs: {same_output}")
    with mg.no_grad():
        (h_ours, c_ours), _ = ours.encode(batch_src)
        h_lib, c_lib = library.initial_state(batch_src)["hidden"]        # (N, 1, 2H) each
    for name, mine, theirs in (("h", h_ours, h_lib), ("c", c_ours, c_lib)):
        common.compare(f"the encoder's final {name} (1, N, 2H)", mine, theirs.transpose(0, 1),
                       exercise=1, against="minigrad.models.Seq2Seq's", atol=1e-5,
                       cause=f"{name}[0] (forward) then {name}[1] (backward), joined on the last axis")
    ours_logits = ours.decoder(batch_tgt[:, :-1], *ours.encode(batch_src))[0].detach().cpu().numpy()
    lib_logits = library.decoder_logits(batch_src, batch_tgt[:, :-1])[0].detach().cpu().numpy()
    common.check(np.allclose(ours_logits, lib_logits, atol=1e-5),
                 f"our decoder's logits equal minigrad.models.Seq2Seq's (peeky={peeky})", exercise=2)
    common.check(abs(ours_loss - lib_loss) < 1e-5,
                 f"our teacher-forced loss equals minigrad.models.Seq2Seq's (peeky={peeky})", exercise=3)
    common.check(same_output,
                 f"our greedy outputs equal minigrad.models.Seq2Seq's (peeky={peeky})", exercise=4)

# %% [markdown]
# ## 5. Training on addition: plain, reversed, peeky, bi-directional
# Four models, the same budget: Adam (learning rate $10^{-2}$ decayed to $10^{-3}$), gradient
# norm clipped at 5, batches of 128, teacher forcing, 6 epochs; after each epoch the
# held-out problems are decoded greedily and counted right only if the whole answer and its
# `<END>` are right (exact match, 完全匹配).
# - **plain**: a one-directional encoder of 128 units reads "57+68".
# - **reversed**: it reads "86+75". The decoder writes the sum's *leading* digit first, and
#   that digit depends on the leading digits of the two numbers (and a carry). Read forwards,
#   the "5" of "57" is the first character, four steps before the decoder starts; reversed, it
#   is the last one read, right next to the decoder's first step. Reversal brings the start of
#   the source next to the start of the target: the first outputs get short dependencies,
#   which makes the model easier to train (the average distance stays the same: the units
#   digits move away). This is the reason Sutskever et al. 2014 gave for reversing source
#   sentences.
# - **reversed + peeky**: and the summary goes to every decoder step.
# - **bi-directional**: 64 units per direction, $2 \times 64 = 128$ wide, source not reversed.

# %%
variants = {   # name: (reverse the source, bidirectional encoder, hidden size per direction, peeky)
    "plain": (False, False, 128, False),
    "reversed": (True, False, 128, False),
    "reversed + peeky": (True, False, 128, True),
    "bi-directional": (False, True, 64, False),
}
epochs = run.pick(6, 1)
history, losses, models = {}, {}, {}
for name, (reverse, bidirectional, hidden, peeky) in variants.items():
    data = tasks.Task(pairs, held_out, reverse=reverse)
    mg.manual_seed(run.seed)
    model = Seq2Seq(V, 16, hidden, bidirectional=bidirectional, peeky=peeky)
    accs = history[name] = []
    losses[name] = tasks.fit(model, data, epochs, lr=1e-2, desc=name, seed=run.seed,
                             after_epoch=lambda epoch, m: accs.append(tasks.exact_match(m, data)[0]))
    models[name] = (model, data)
    print(f"{name:17s} held-out exact match per epoch: "
          + "  ".join(f"{a:6.1%}" for a in accs))

# %%
fig, axes = common.figure(2)
for name in variants:
    axes[0].plot(np.arange(1, epochs + 1), [100 * a for a in history[name]], "o-", label=name)
    axes[1].plot(np.convolve(losses[name], np.ones(10) / 10, mode="valid"), lw=0.8, label=name)
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("held-out exact match (%)")
axes[0].set_title(common.label("two-digit addition", "两位数加法"))
axes[0].legend()
axes[1].set_xlabel("step")
axes[1].set_ylabel("training loss (cross-entropy, 10-step mean)")
axes[1].set_title(common.label("teacher forcing", "教师强制"))
common.savefig(fig, "13_addition_variants")

# %% [markdown]
# What the curves say (the lines "held-out exact match per epoch" above, and the checks at the
# end of the lesson): reversing the source and letting every decoder step see the encoder's
# summary both shorten the path from the digits that decide an output character to that
# character; with peeky the reversed model passes 95% sooner (the line "first epoch at >= 95%"
# below). The bi-directional encoder, which reads the source both ways, ends between plain and
# reversed. Lesson 14 removes the bottleneck itself: with attention the decoder looks at every
# $\bar h_s$, not one summary vector.

# %% [markdown]
# ## 6. What the models answer
# A few held-out problems, and what each model wrote (its greedy output up to `<END>`).

# %%
for i in range(5):
    source, target = pairs[i]
    answers = []
    for name, (model, data) in models.items():
        out = model.generate(data.src[i:i + 1], START, END, data.tgt.shape[1] - 1)[0]
        answers.append(f"{name}: {data.decode(out):>4s}")
    print(f"{source:>6s} = {target:>4s}   |  " + "   ".join(answers))

# %%
final = {name: accs[-1] for name, accs in history.items()}
print("final held-out exact match:", {k: f"{v:.1%}" for k, v in final.items()})
mean_acc = {name: float(np.mean(accs)) for name, accs in history.items()}
print("accuracy averaged over the epochs:", {k: f"{v:.1%}" for k, v in mean_acc.items()})
first_95 = {name: next((e + 1 for e, a in enumerate(accs) if a >= 0.95), None) for name, accs in history.items()}
print("first epoch at >= 95%:", {k: v if v else "never" for k, v in first_95.items()})
if run.quick:       # a few steps of training: the accuracies mean nothing yet
    common.not_checked("reversed + peeky adds >= 95% of the held-out problems right; it learns "
                       "fastest and passes 95% sooner than reversed alone; reversing the source "
                       "beats the plain model by 20 points; bi-directional ends between the two")
else:
    common.check(final["reversed + peeky"] >= 0.95,
                 f"reversed + peeky adds {final['reversed + peeky']:.1%} of the held-out problems right "
                 "(>= 95%)", exercise=4)
    common.check(max(mean_acc, key=mean_acc.get) == "reversed + peeky",
                 "the peeky decoder learns fastest (highest accuracy averaged over the epochs)", exercise=4)
    common.check(final["reversed"] >= final["plain"] + 0.20,
                 f"reversing the source beats the plain model ({final['reversed']:.1%} vs "
                 f"{final['plain']:.1%})", exercise=4)
    common.check(first_95["reversed + peeky"] is not None and first_95["reversed"] is not None
                 and first_95["reversed + peeky"] < first_95["reversed"],
                 f"with peeky the reversed model passes 95% sooner (epoch {first_95['reversed + peeky']} "
                 f"against {first_95['reversed']})", exercise=4)
    common.check(final["plain"] < final["bi-directional"] < final["reversed"],
                 f"the bi-directional encoder ends between plain and reversed ({final['plain']:.1%} < "
                 f"{final['bi-directional']:.1%} < {final['reversed']:.1%})", exercise=4)

common.finish()
