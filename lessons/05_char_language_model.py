# %% [markdown]
# # Lesson 05 — A character language model (字符级语言模型)
#
# **Learning goals**
# 1. Write the softmax cross-entropy loss (交叉熵) of the RNN language model by hand, formulas
#    (2) and (3) of notes 003「RNN」, and its gradient $\hat y - y$; find both equal to the library's.
# 2. Measure a language model by its perplexity (困惑度), $\mathrm{PPL} = \exp(\text{Loss} / \#\text{tokens})$,
#    and know its landmarks: the vocabulary size for a uniform guess, less for letter frequencies.
# 3. Train the tanh RNN language model of formula (1) on generated English, with truncated BPTT
#    and gradient clipping, to a held-out perplexity below 1.4.
# 4. Generate text (文本生成) one character at a time, feeding each sample back in, and control it
#    with the sampling temperature (温度).
#
# **Notes followed**
# - notes 003「RNN」(1)-(3), the RNN language model: (1) $h_t = \tanh(x_t U + h_{t-1} W + b_h)$,
#   $\hat y_t = \mathrm{softmax}(h_t V + b_y)$; (2) $\text{loss}_t = -y_t \log \hat y_t$ (one-hot $y_t$);
#   (3) $\text{Loss} = \sum_t^T \text{loss}_t$; trained by BPTT (lesson 03) with clipping (6) (lesson 04).
# - notes 004「一种应用:文本生成」: text generation is one-to-many; each
#   step's output $\hat y^{<t>}$ is drawn from and fed in as the next input.
#
# **Claim checked at the end** (default run, well under a minute on a 2-core laptop CPU):
# held-out perplexity below 1.4 (uniform guessing: 30; letter frequencies: about 18), and at
# temperature 0.5 at least 95% of the generated words are real words of the corpus.
#
# Run: `python lessons/05_char_language_model.py [--quick] [--device cuda]`.

# %%
import numpy as np

from minigrad_lessons import common
import minigrad as mg
import minigrad.functional as F
from minigrad import decoding, nn, optim
from minigrad.data import Vocab, char_corpus, lm_batches
from minigrad.metrics import perplexity
from minigrad.models import RNNLanguageModel, detach_state

run = common.setup("Lesson 05: a character language model")

# %% [markdown]
# ## 1. The text
# `minigrad.data.char_corpus` writes English sentences from a small grammar: spelling,
# agreement ("the cat sleeps", "the cats sleep"), a capital after a full stop, paragraphs ended
# by a newline. Each character is a token; the vocabulary (词汇表) holds the characters seen.

# %%
text = char_corpus(run.pick(200_000, 20_000), seed=run.seed)
held_out = char_corpus(run.pick(20_000, 5_000), seed=run.seed + 1)     # another draw: unseen text
vocab = Vocab.build([text], pad=None, bos=None, eos=None, unk=None)    # characters only
V = len(vocab)
train_ids, val_ids = np.array(vocab.encode(text)), np.array(vocab.encode(held_out))
print(f"{len(text)} training characters, {len(held_out)} held out, V = {V} characters: {''.join(vocab.get_itos())!r}")
print(text[:300])

# %% [markdown]
# ## 2. Softmax and cross-entropy, by hand
# The model gives a score (logit) $z_t = h_t V + b_y$ for every character. Softmax turns the
# scores into probabilities, $\hat y_t = e^{z_t} / \sum_j e^{z_{t,j}}$ (subtracting $\max z_t$ first
# changes nothing and keeps $e^z$ from overflowing). With one-hot $y_t$, formula (2)
# $-y_t \log \hat y_t$ picks the log-probability of the right character. We average (3) over
# all $N \times T$ characters of a batch, as `F.cross_entropy` does.

# %%
mg.manual_seed(run.seed)
model = RNNLanguageModel(V, embed_size=32, hidden_size=128, cell="rnn")    # formula (1): the tanh RNN
x, y = next(lm_batches(train_ids, batch_size=8, seq_len=20))               # (N, T) ids, y = x shifted by one
logits = model(x)[0].detach().requires_grad_()                             # z_t: (N, T, V)


def cross_entropy_by_hand(z, y):
    """Mean over N*T of -log softmax(z)[y]. z (N, T, V) tensor, y (N, T) host ints."""
    # BEGIN SOLUTION
    # TITLE: softmax cross-entropy by hand
    # OFF LIMITS: F.cross_entropy, F.nll_loss, F.log_softmax, F.softmax
    # HINT: y_hat = exp(z - max z) / sum exp(z - max z) over the last axis (keepdims=True)
    # HINT: loss_t = -log y_hat_t[y_t]: multiply by the one-hot y, mg.tensor(np.eye(V, dtype=np.float32)[y]), and sum over V
    # HINT: stay with tensor ops (.exp(), .log(), .sum(), .max()) so that backward works; return the mean over N*T
    e = (z - z.max(axis=-1, keepdims=True)).exp()
    y_hat = e / e.sum(axis=-1, keepdims=True)                  # ŷ_t = softmax(h_t V + b_y)
    one_hot = mg.tensor(np.eye(V, dtype=np.float32)[y])         # y_t one-hot: (N, T, V)
    loss_t = -(one_hot * y_hat.log()).sum(axis=-1)              # (2) loss_t = -y_t log ŷ_t: (N, T)
    return loss_t.sum() / loss_t.numel()                        # (3) Loss = Σ_t loss_t, per token
    # END SOLUTION


mine = cross_entropy_by_hand(logits, y)
lib = F.cross_entropy(logits, y)
print(f"by hand {mine.item():.6f}   F.cross_entropy {lib.item():.6f}   log V = {np.log(V):.6f}")
common.check(abs(mine.item() - lib.item()) < 1e-5, "softmax cross-entropy by hand equals F.cross_entropy", exercise=1)
# scores near 100 overflow exp in float32 (e^89 > 3.4e38) unless the row maximum is
# subtracted first, which changes nothing else
big = mg.tensor(run.rng.uniform(95, 105, size=(2, 3, V)).astype(np.float32))
y_big = run.rng.integers(0, V, size=(2, 3))
common.compare("cross-entropy of scores in [95, 105]", cross_entropy_by_hand(big, y_big).item(),
               F.cross_entropy(big, y_big).item(), exercise=1, atol=1e-3, against="F.cross_entropy",
               cause="exp(z) overflows: subtract z.max(axis=-1, keepdims=True) before exp")

# %% [markdown]
# Its gradient with respect to the scores is the famous $\partial\, \text{loss}_t / \partial z_t = \hat y_t - y_t$
# (divided by $N T$ for the mean): push up the right character's score, push down the others in
# proportion to their probability.

# %%
mine.backward()
with mg.no_grad():
    y_hat = F.softmax(logits)
    by_formula = (y_hat.cpu().numpy() - np.eye(V)[y]) / y.size      # (ŷ - y) / (N T)
err = float(np.abs(by_formula - logits.grad.cpu().numpy()).max())
print(f"largest |(ŷ - y)/(NT) - autograd| = {err:.1e}")
common.check(err < 1e-7, "d loss / d z = ŷ - y", exercise=1)

# %% [markdown]
# ## 3. Perplexity
# $\mathrm{PPL} = \exp(\text{Loss} / \#\text{tokens})$ is "how many characters the model is choosing
# between, on average". A model that spreads its probability evenly over all $V$ characters has
# $\mathrm{PPL} = V$ exactly; the untrained model is close to that. Knowing only how frequent each
# letter is (a unigram model) gives $\exp$ of the letters' entropy.

# %%
def held_out_perplexity(model, ids):
    """exp(mean cross-entropy) over a whole id stream, run in 20 lanes with the state carried."""
    model.eval()
    total, count, state = 0.0, 0, None
    with mg.no_grad():
        for xb, yb in lm_batches(ids, batch_size=20, seq_len=100):
            loss, state = model.loss(xb, yb, state)
            total, count = total + loss.item() * yb.size, count + yb.size
    model.train()
    return perplexity(total / count)          # the library's: exp(mean NLL per token)


freq = np.bincount(train_ids, minlength=V) / len(train_ids)
unigram_ppl = float(np.exp(-np.mean(np.log(freq[val_ids]))))
untrained_ppl = held_out_perplexity(model, val_ids)
print(f"uniform guess: PPL = V = {V};  letter frequencies: PPL = {unigram_ppl:.2f};  untrained RNN: {untrained_ppl:.2f}")
common.check(abs(untrained_ppl - V) / V < 0.15, "the untrained model is close to a uniform guess (PPL ≈ V)", exercise=None)

# %% [markdown]
# ## 4. Training: truncated BPTT
# The text is cut into 32 lanes read side by side (`lm_batches`), 50 characters at a time. The
# hidden state is handed from one chunk to the next, so the model sees the text as one stream,
# but it is *detached* (`detach_state`): BPTT stops at the chunk's start (truncated BPTT, 截断的
# BPTT), which keeps each backward pass 50 steps long. Adam, and clipping by norm (lesson 04).

# %%
epochs = run.pick(2, 1)
opt = optim.Adam(model.parameters(), lr=0.005)
losses, val_ppl = [], [untrained_ppl]
steps_per_epoch = (len(train_ids) - 1) // 32 // 50
for epoch in range(epochs):
    state = None
    bar = common.progress(lm_batches(train_ids, batch_size=32, seq_len=50), total=steps_per_epoch,
                          desc=f"epoch {epoch + 1}/{epochs}")
    for xb, yb in bar:
        loss, state = model.loss(xb, yb, state)
        state = detach_state(state)                     # truncated BPTT: no gradient into the last chunk
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        common.set_postfix(bar, loss=losses[-1])
    val_ppl.append(held_out_perplexity(model, val_ids))
    print(f"epoch {epoch + 1}: training loss {np.mean(losses[-20:]):.3f}, held-out perplexity {val_ppl[-1]:.3f}")

# %% [markdown]
# ## 5. Generating text, and the temperature
# Generation is one-to-many (lesson 02): start from a newline, draw a character from
# $\hat y_t$, feed it back in, repeat. Dividing the scores by a temperature $\tau$ before the
# softmax, $p_i \propto \exp(z_i / \tau)$, reshapes the distribution: $\tau < 1$ sharpens it toward the
# most likely character (safe, repetitive), $\tau > 1$ flattens it toward uniform (varied, more
# mistakes); $\tau = 1$ is the model itself. `minigrad.decoding.sample` does exactly this.

# %%
def tempered(log_probs, tau):
    """softmax(z / τ) from the model's log-probabilities (N, V), as a host array."""
    z = mg.backend.to_numpy(log_probs) if not isinstance(log_probs, mg.Tensor) else log_probs.cpu().numpy()
    # BEGIN SOLUTION
    # TITLE: sampling temperature
    # OFF LIMITS: F.softmax, F.log_softmax
    # HINT: divide by tau, subtract the row maximum, exponentiate, normalise each row to sum 1
    z = z / tau                                          # z_i / τ
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)             # p_i = exp(z_i/τ) / Σ_j exp(z_j/τ)
    # END SOLUTION


def entropy(p):
    return float(-(p * np.log(np.clip(p, 1e-30, None))).sum())


context = "The cat"
state = model.initial_state(1)
for ch in "\n" + context:                                # read the context, keep the last distribution
    log_probs, state = model.step_fn(np.array([vocab[ch]]), state)
taus = [0.25, 0.5, 1.0, 1.5, 2.0, 4.0]
dists = {tau: tempered(log_probs, tau)[0] for tau in taus}
for tau in taus:
    top = np.argsort(-dists[tau])[:3]
    print(f"τ = {tau:4}: entropy {entropy(dists[tau]):.2f} nats; next after {context!r}: "
          + ", ".join(f"{vocab.lookup_token(i)!r} {dists[tau][i]:.2f}" for i in top))
common.check(np.allclose(dists[1.0], np.exp(log_probs.cpu().numpy()[0]), atol=1e-5), "τ = 1 is the model's own distribution", exercise=2)
common.compare("tempered([[2000, 1999, 0]], τ = 2)", tempered(np.array([[2000.0, 1999.0, 0.0]]), 2.0),
               np.array([[1.0, np.exp(-0.5), 0.0]]) / (1 + np.exp(-0.5)),
               exercise=2, cause="exp(z / τ) overflows: subtract the row maximum before exp")
common.check(all(entropy(dists[a]) < entropy(dists[b]) for a, b in zip(taus, taus[1:])),
             "a higher temperature gives a flatter distribution (higher entropy)", exercise=2)

# %%
train_words = set(text.replace(".", " ").split())


def real_word_share(sample):
    words = sample.replace(".", " ").split()
    return sum(w in train_words for w in words) / max(len(words), 1), len(words)


newline = vocab["\n"]
# The model was trained on a stream with the state carried along, so it rarely saw h = 0: warm
# the state up on a held-out paragraph first, then generate from its closing newline.
primer = held_out[:held_out.index("\n") + 1]
with mg.no_grad():
    primed = model(mg.tensor([vocab.encode(primer[:-1])]))[1]
shares = {}
for tau in (0.5, 1.0, 1.5):
    mg.manual_seed(run.seed)
    pieces = []
    for _ in range(run.pick(6, 1)):                      # a few paragraphs, each ended by its newline
        tokens, _ = decoding.sample(model.step_fn, primed, bos_id=newline, eos_id=newline,
                                    max_len=run.pick(400, 120), temperature=tau)
        pieces.append("".join(vocab.decode(tokens)))
    sample = "".join(pieces)
    shares[tau] = real_word_share(sample)
    print(f"--- τ = {tau}: {shares[tau][0]:.1%} of {shares[tau][1]} words are real words")
    print(pieces[0].strip()[:300])

# %%
fig, (ax1, ax2, ax3) = common.figure(3, width=4.6)
ax1.plot(losses, lw=0.6)
ax1.set_xlabel("step")
ax1.set_ylabel("cross-entropy (nats per character)")
ax1.set_title(common.label("training loss", "损失"))
ax2.semilogy(range(len(val_ppl)), val_ppl, "o-", label="RNN language model")
ax2.axhline(V, color="grey", ls=":", label=f"uniform guess (V = {V})")
ax2.axhline(unigram_ppl, color="grey", ls="--", label="letter frequencies")
ax2.set_xlabel("epoch")
ax2.set_ylabel("held-out perplexity")
ax2.set_title(common.label("perplexity", "困惑度"))
ax2.legend(fontsize=7)
top = np.argsort(-dists[1.0])[:8]
for k, tau in enumerate((0.5, 1.0, 2.0)):
    ax3.bar(np.arange(len(top)) + (k - 1) * 0.27, dists[tau][top], 0.27, label=f"τ = {tau}")
ax3.set_xticks(range(len(top)), [repr(vocab.lookup_token(i))[1:-1] or "?" for i in top])
ax3.set_xlabel(f"next character after {context!r}")
ax3.set_ylabel("probability")
ax3.set_title(common.label("temperature", "温度"))
ax3.legend(fontsize=7)
common.savefig(fig, "05_char_lm_loss_perplexity_temperature")

# %%
want_ppl = run.pick(1.4, unigram_ppl)
common.check(val_ppl[-1] < want_ppl, f"held-out perplexity {val_ppl[-1]:.3f} (< {want_ppl:.2f}; "
                                     f"uniform {V}, letter frequencies {unigram_ppl:.1f})", exercise=None)
if run.quick:           # a few steps of training: the words are not words yet
    common.not_checked("at τ = 0.5, >= 95% of the generated words are real words")
else:
    common.check(shares[0.5][0] >= 0.95, f"at τ = 0.5, {shares[0.5][0]:.1%} of the generated words "
                                         "are real words (>= 95%)", exercise=None)

common.finish()
