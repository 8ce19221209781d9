"""Seq2seq models trained on the course's toy tasks, on the CPU: held-out exact-match accuracy
and wall time per epoch.

    addition  "16+75" -> "91", 50,000 distinct problems (a, b < 1000), 1,000 held out:
        plain             Seq2Seq(V, 16, 128), LSTM
        reversed          the same, source read backwards ("57+61")
        reversed-peeky    reversed, and the encoder's summary fed to every decoder step
        attention         Seq2Seq(V, 16, 128, attention='dot'), source read backwards
      25 epochs, Adam lr 3e-3. Reference: the DLS2 book's NumPy code, 25 epochs:
      12% / 54% / 98.4% (the first three)
    date      "march 7, 1994" / "07/03/94" / ... -> "1994-03-07", 50,000 distinct, 1,000 held out:
        attention         Seq2Seq(V, 16, 128, attention='dot'), 2 epochs, Adam lr 3e-3
      reference: 99.9% after 3 epochs in the book's code, about 70 s an epoch

Exact match: the greedy decoding of the held-out source equals the target, <END> included.
Training: Adam with its learning rate decayed linearly to a tenth by the last step (the late
epochs then settle instead of jittering), gradient norm clipped at 5, batch 128, teacher
forcing, batches shuffled by a fixed seed. The held-out examples are the generator's first
1,000 (distinct sources, so none of them is trained on). Times are training only (the
held-out evaluations, --evals per epoch, are not counted).

    OPENBLAS_NUM_THREADS is set from --threads before NumPy is imported; on a machine whose
    cores are busy, more threads than free cores make OpenBLAS spin and run far slower.
    python benchmarks/seq2seq_tasks.py --threads 1 --evals 4           # everything (~35 min)
    python benchmarks/seq2seq_tasks.py --runs date-attention --evals 4
    python benchmarks/seq2seq_tasks.py --quick                          # a smoke test
"""
import argparse
import os
import sys
import time

import common  # noqa: F401 - first: removes a forced BLAS kernel before NumPy loads

# name: task, model options, reverse the source, default epochs, learning rate, hidden size
RUNS = {
    "addition-plain": ("addition", {}, False, 25, 3e-3, 128),
    "addition-reversed": ("addition", {}, True, 25, 3e-3, 128),
    "addition-reversed-peeky": ("addition", {"peeky": True}, True, 25, 3e-3, 128),
    "addition-attention": ("addition", {"attention": "dot"}, True, 25, 3e-3, 128),
    "date-attention": ("date", {"attention": "dot"}, False, 2, 3e-3, 128),
}
BOOK = {"addition-plain": "12%", "addition-reversed": "54%",
        "addition-reversed-peeky": "98.4%", "date-attention": "99.9% (3 epochs)"}


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (more than the free cores makes OpenBLAS spin: slower)")
    p.add_argument("--epochs", type=int, help="epochs for every run (default: per run)")
    p.add_argument("--examples", type=int, default=50_000, help="examples per task, held-out included")
    p.add_argument("--held-out", type=int, default=1_000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden", type=int, help="hidden size for every run (default: per run)")
    p.add_argument("--lr", type=float, help="learning rate for every run (default: per run)")
    p.add_argument("--evals", type=int, default=1, help="held-out evaluations per epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="3,000 examples, 300 held out, 1 epoch: checks the script runs")
    args = p.parse_args()
    if args.quick:
        args.examples, args.held_out, args.epochs = 3_000, 300, args.epochs or 1
    return args


args = parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minigrad as mg  # noqa: E402
from minigrad import nn, optim  # noqa: E402
from minigrad.data import Vocab, addition, date_formats, minibatches, pad_batch  # noqa: E402
from minigrad.models import Seq2Seq  # noqa: E402

GENERATORS = {"addition": addition, "date": date_formats}


def encode(pairs, vocab, reverse):
    """Character ids: src (N, S) right-padded, tgt (N, T+1) = <START> y <END>, padded; and
    the source lengths, to trim each batch to its longest source."""
    srcs = [vocab.encode(list(s[::-1] if reverse else s)) for s, _ in pairs]
    tgts = [vocab.encode(list(t), add_bos=True, add_eos=True) for _, t in pairs]
    src, _, lengths = pad_batch(srcs, vocab.pad_id)
    tgt, _, tgt_lengths = pad_batch(tgts, vocab.pad_id)
    return src, tgt, lengths, tgt_lengths


def exact_match(model, src, tgt, vocab):
    """Share of rows whose greedy decoding equals the target (<END> included)."""
    model.eval()
    hits = 0
    for rows in range(0, len(src), 500):
        s, t = src[rows:rows + 500], tgt[rows:rows + 500]
        outputs = model.generate(s, vocab.bos_id, vocab.eos_id, max_len=t.shape[1] - 1)
        for out, ref in zip(outputs, t[:, 1:].tolist()):
            hits += out == [i for i in ref if i != vocab.pad_id]
    model.train()
    return hits / len(src)


def run(name):
    task, options, reverse, epochs, lr, hidden = RUNS[name]
    epochs = args.epochs or epochs
    lr, hidden = args.lr or lr, args.hidden or hidden
    pairs = GENERATORS[task](args.examples, seed=args.seed)
    vocab = Vocab.build([s + t for s, t in pairs])
    src, tgt, src_len, tgt_len = encode(pairs, vocab, reverse)
    H = args.held_out
    test_src, test_tgt = src[:H], tgt[:H]
    train = (src[H:], tgt[H:], src_len[H:], tgt_len[H:])

    mg.manual_seed(args.seed)
    model = Seq2Seq(len(vocab), 16, hidden, cell="lstm", pad_id=vocab.pad_id, **options)
    opt = optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(train[0]) // args.batch_size)
    eval_at = {round(steps_per_epoch * (k + 1) / args.evals) for k in range(args.evals)}
    print(f"\n{name}: {len(train[0])} training / {H} held-out examples, V={len(vocab)}, "
          f"H={hidden}, lr={lr}, {epochs} epochs", flush=True)
    train_time, history, total_steps = 0.0, [], epochs * steps_per_epoch
    for epoch in range(epochs):
        batches = minibatches(train, args.batch_size, shuffle=True, seed=args.seed + epoch)
        for step, (s, t, sl, tl) in enumerate(batches, 1):
            t0 = time.perf_counter()
            progress = (epoch * steps_per_epoch + step - 1) / total_steps
            for group in opt.param_groups:
                group["lr"] = lr * (1.0 - 0.9 * progress)
            opt.zero_grad()
            loss = model.loss(s[:, :sl.max()], t[:, :tl.max()])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            train_time += time.perf_counter() - t0
            if step in eval_at:
                acc = exact_match(model, test_src, test_tgt, vocab)
                done = epoch + step / steps_per_epoch
                history.append((done, train_time, acc))
                print(f"  epoch {done:5.2f}  loss {loss.item():.4f}  held-out exact match "
                      f"{100 * acc:6.2f}%  training time {train_time:6.1f} s", flush=True)
    first_best = next((h for h in history if h[2] == max(a for *_, a in history)), None)
    return name, epochs, train_time / epochs, history[-1][2], first_best


def main():
    print(f"seq2seq tasks, float32, {args.threads} BLAS thread(s), minigrad on the CPU")
    print(common.blas_line())
    rows = [run(name) for name in args.runs]
    print("\n| run | epochs | s / epoch | held-out exact match | best first reached | book |")
    print("|---|---|---|---|---|---|")
    for name, epochs, per_epoch, acc, (when, at_time, best) in rows:
        print(f"| {name} | {epochs} | {per_epoch:.1f} | {100 * acc:.1f}% | "
              f"{100 * best:.1f}% at epoch {when:.2f} ({at_time:.0f} s) | {BOOK.get(name, '-')} |")


if __name__ == "__main__":
    main()
