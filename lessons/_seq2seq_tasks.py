"""What lessons 13-17 share: a character task as id arrays, one training loop, held-out exact
match, and lesson 14's date model (trained once and kept as a checkpoint under lessons/out/,
so that lesson 16 can score it; retrained when the checkpoint is missing).

    task = Task(addition(10_000, digits=2), held_out=1_000, reverse=True)
    model = Seq2Seq(len(task.vocab), 16, 128, pad_id=task.vocab.pad_id)
    fit(model, task, epochs=4, lr=1e-2)
    accuracy, outputs = exact_match(model, task)

Shapes: N batch, S source length, T target length (with <START> and <END>).
"""
from minigrad_lessons import common
import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.data import Vocab, date_formats, minibatches, pad_batch
from minigrad.models import Seq2Seq


class Task:
    """(source, target) string pairs as character ids; the first ``held_out`` pairs are the
    held-out (test) set, never trained on (the generators give distinct sources).

    ``reverse=True`` feeds every source backwards ("12+34" -> "43+21"): the trick of
    Sutskever et al. that lesson 13 measures. The vocabulary uses the notes' <START> and <END>.
    """

    def __init__(self, pairs, held_out, reverse=False):
        self.pairs, self.held_out, self.reverse = list(pairs), held_out, reverse
        self.vocab = Vocab.build([s + t for s, t in self.pairs], bos="<START>", eos="<END>")
        self.src, self.tgt = self.encode(self.pairs)
        self.src_len = (self.src != self.vocab.pad_id).sum(axis=1)
        self.tgt_len = (self.tgt != self.vocab.pad_id).sum(axis=1)

    def encode(self, pairs):
        """src (N, S) right-padded ids; tgt (N, T) = <START> y <END>, right-padded."""
        v = self.vocab
        src, _, _ = pad_batch([v.encode(s[::-1] if self.reverse else s) for s, _ in pairs],
                              v.pad_id)
        tgt, _, _ = pad_batch([v.encode(t, add_bos=True, add_eos=True) for _, t in pairs],
                              v.pad_id)
        return src, tgt

    def decode(self, ids):
        """Ids -> string, stopping at <END> and skipping <START> and padding."""
        return "".join(self.vocab.decode(ids))

    @property
    def train_arrays(self):
        h = self.held_out
        return self.src[h:], self.tgt[h:], self.src_len[h:], self.tgt_len[h:]

    @property
    def test_src(self):
        return self.src[:self.held_out]

    @property
    def test_tgt(self):
        return self.tgt[:self.held_out]

    @property
    def test_pairs(self):
        return self.pairs[:self.held_out]


def fit(model, task, epochs, lr, batch_size=128, desc="training", teacher_forcing=None,
        after_epoch=None, seed=0):
    """Train ``model`` (a Seq2Seq with ``loss(src, tgt, teacher_forcing_ratio)``) on the
    task's training pairs: Adam with the learning rate decayed linearly to lr/10 by the last
    step, gradient norm clipped at 5 (lesson 04), each batch trimmed to its longest row.

    teacher_forcing(epoch) -> the teacher-forcing ratio of that epoch (default: always 1,
    plain teacher forcing); after_epoch(epoch, model) runs after each epoch, in eval mode
    (held-out accuracy, ...).
    Returns the loss of every step (a list of floats)."""
    train = task.train_arrays
    per_epoch = -(-len(train[0]) // batch_size)
    opt = optim.Adam(model.parameters(), lr=lr)

    def batches():
        for epoch in range(epochs):
            for batch in minibatches(train, batch_size, shuffle=True, seed=seed + epoch):
                yield epoch, batch

    losses = []
    model.train()
    bar = common.progress(batches(), desc=desc, total=epochs * per_epoch)
    for step, (epoch, (src, tgt, src_len, tgt_len)) in enumerate(bar):
        for group in opt.param_groups:
            group["lr"] = lr * (1.0 - 0.9 * step / (epochs * per_epoch))
        src, tgt = src[:, :src_len.max()], tgt[:, :tgt_len.max()]
        if teacher_forcing is None:
            loss = model.loss(src, tgt)
        else:
            loss = model.loss(src, tgt, teacher_forcing_ratio=teacher_forcing(epoch))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
        common.set_postfix(bar, loss=losses[-1])
        if after_epoch is not None and (step + 1) % per_epoch == 0:
            model.eval()
            after_epoch(epoch, model)
            model.train()
    model.eval()
    return losses


def exact_match(model, task, src=None, tgt=None, chunk=500):
    """Greedy-decode ``src`` (default: the held-out sources) with ``model.generate`` and
    compare with ``tgt``, <END> included. Returns (accuracy, list of output id lists)."""
    src = task.test_src if src is None else src
    tgt = task.test_tgt if tgt is None else tgt
    v = task.vocab
    outputs = []
    for start in range(0, len(src), chunk):
        outputs += model.generate(src[start:start + chunk], v.bos_id, v.eos_id,
                                  max_len=tgt.shape[1] - 1)
    refs = [[i for i in row if i != v.pad_id] for row in tgt[:, 1:].tolist()]
    return float(np.mean([out == ref for out, ref in zip(outputs, refs)])), outputs


# ----------------------------------------------------------------------------- lesson 14's model

def date_task(run):
    """Human-written dates -> ISO dates (``minigrad.data.date_formats``): 16,000 training and
    1,000 held-out pairs (--quick: 1,200 and 200)."""
    held_out = run.pick(1000, 200)
    return Task(date_formats(run.pick(16_000, 1_200) + held_out, seed=0), held_out)


def date_model(task, score="additive"):
    """Lesson 14's model: characters embedded in 16 dimensions, a one-layer LSTM encoder and
    decoder of 64 units, Luong attention with the given score, h̃_t = tanh(W_c [c_t; h_t])."""
    return Seq2Seq(len(task.vocab), 16, 64, cell="lstm", attention=score,
                   pad_id=task.vocab.pad_id)


DATE_EPOCHS, DATE_LR = 3, 1e-2


def train_date_model(run, task, score="additive", after_epoch=None):
    """Lesson 14's recipe: ``date_model`` trained DATE_EPOCHS epochs (1 with --quick) at
    learning rate DATE_LR. Returns (model, per-step losses)."""
    mg.manual_seed(run.seed)
    model = date_model(task, score)
    losses = fit(model, task, run.pick(DATE_EPOCHS, 1), DATE_LR, desc=f"dates, {score} score",
                 after_epoch=after_epoch, seed=run.seed)
    return model, losses


def date_checkpoint(run):
    return common.out_dir() / f"14_date_model{'_quick' if run.quick else ''}.npz"


def save_date_model(run, model):
    path = date_checkpoint(run)
    mg.save(model.state_dict(), path)
    print(f"checkpoint written: {path}")
    return path


def load_or_train_date_model(run, task):
    """Lesson 14's additive-attention date model: from its checkpoint when lesson 14 has
    written one (and it fits), otherwise trained here with the same recipe and saved."""
    model, path = date_model(task), date_checkpoint(run)
    if path.exists():
        try:
            model.load_state_dict(mg.load(path))
            model.eval()
            print(f"loaded lesson 14's model from {path}")
            return model
        except (RuntimeError, ValueError, OSError) as e:
            print(f"{path} does not fit this model ({str(e).splitlines()[0]}); retraining")
    print("no checkpoint from lesson 14: training its model with the same recipe")
    model, _ = train_date_model(run, task)
    save_date_model(run, model)
    return model
