"""One training step of an attention seq2seq, minigrad against PyTorch on the CPU.

    src (N, S) -> Embedding(V, D) -> LSTM(D, H)          encoder, memory (N, S, H)
    tgt (N, T) -> Embedding(V, D) -> LSTM(D, H)          decoder, started from the encoder
    a_t = softmax_s(h_t . h_s), c_t = sum_s a_t[s] h_s    dot attention, all T steps at once
    logits = Linear(H, V)(tanh(W_c [c_t; h_t]))  -> cross-entropy -> backward -> Adam

This is ``minigrad.models.Seq2Seq(V, D, H, attention='dot')``; the PyTorch model is the same
network written with torch.nn, given minigrad's initial weights (the first losses are checked
equal). float32. Steps are interleaved (one minigrad, one torch, ...) so that both see the
same machine load; the script prints the median milliseconds per step of each, the ratio
minigrad / torch, the GEMM floor (the step's own matrix products alone, in NumPy on
preallocated arrays, timed apart: ``common.GemmFloor``) and minigrad / floor.

    a1: V=59, D=16, H=256, N=128, S=29, T=10   (the DLS2 book's date-format model)
    a2: V=1000, D=H=256, N=64, S=30, T=30

    --threads sets the BLAS and torch threads (benchmarks/common.py) before NumPy loads;
    --clock cpu measures this process's CPU time (use it on a shared machine).
    python benchmarks/attention_step.py --threads 1 --clock cpu --repeats 20 --configs a1 a2
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common  # noqa: E402  (sets the BLAS threads before numpy loads)

CONFIGS = {   # V, D, H, N, S, T
    "a1": (59, 16, 256, 128, 29, 10),
    "a2": (1000, 256, 256, 64, 30, 30),
}


def add_arguments(p):
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--no-torch", action="store_true")


args = common.parse_args(__doc__.split("\n")[0], add_arguments)

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import optim  # noqa: E402
from minigrad.models import Seq2Seq  # noqa: E402

torch = None if args.no_torch else common.import_torch(args.threads)


def batch(V, N, S, T, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, size=(N, S)), rng.integers(0, V, size=(N, T + 1))


def stepper(model, opt, src, tgt):
    """One Adam training step as a callable; minigrad and torch share this API."""
    def step():
        opt.zero_grad()
        loss = model.loss(src, tgt)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def torch_model(V, D, H):
    """The same network in torch.nn, attribute names matching minigrad's state_dict."""
    nn = torch.nn

    class Part(nn.Module):
        def __init__(self, with_output):
            super().__init__()
            self.embedding = nn.Embedding(V, D)
            self.rnn = nn.LSTM(D, H, batch_first=True)
            if with_output:
                self.combine = nn.Linear(2 * H, H, bias=False)
                self.output = nn.Linear(H, V)

    class TorchSeq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = Part(False), Part(True)

        def loss(self, src, tgt):
            memory, state = self.encoder.rnn(self.encoder.embedding(src))
            h, _ = self.decoder.rnn(self.decoder.embedding(tgt[:, :-1]), state)
            weights = torch.softmax(h @ memory.transpose(1, 2), dim=-1)        # (N, T, S)
            context = weights @ memory
            h_att = torch.tanh(self.decoder.combine(torch.cat([context, h], dim=-1)))
            logits = self.decoder.output(h_att)
            return nn.functional.cross_entropy(logits.reshape(-1, V), tgt[:, 1:].reshape(-1))

    return TorchSeq2Seq()


def gemm_floor(V, D, H, N, S, T):
    """The step's matrix products: each LSTM's input projection and recurrence, the scores
    h_t . h_s and the context (batched over N), W_c [c_t; h_t] and the output layer, forward
    and backward (the encoder's and decoder's dX feed their embeddings)."""
    return (common.GemmFloor()
            .linear(N * S, D, 4 * H).recurrent(N, H, 4, S)          # encoder
            .linear(N * T, D, 4 * H).recurrent(N, H, 4, T)          # decoder
            .batched(N, T, H, S).batched(N, T, S, H)                # scores, context
            .linear(N * T, 2 * H, H).linear(N * T, H, V)).step      # combine, output


def run(name):
    V, D, H, N, S, T = CONFIGS[name]
    mg.manual_seed(0)
    model = Seq2Seq(V, D, H, cell="lstm", attention="dot")
    src, tgt = batch(V, N, S, T)
    steppers = {"minigrad": stepper(model, optim.Adam(model.parameters(), lr=1e-3), src, tgt)}
    if torch is not None:
        tm = torch_model(V, D, H)
        tm.load_state_dict({k: torch.from_numpy(v.numpy(force=True)) for k, v in model.state_dict().items()})
        steppers["torch"] = stepper(tm, torch.optim.Adam(tm.parameters(), lr=1e-3),
                                    torch.from_numpy(src), torch.from_numpy(tgt))
        losses = {k: s() for k, s in steppers.items()}      # the first step: the same loss
        if abs(losses["minigrad"] - losses["torch"]) > 1e-4 * abs(losses["torch"]):
            raise SystemExit(f"{name}: the two models differ: first losses {losses}")
    med = common.time_interleaved(steppers, args.repeats, args.warmup, clock=args.clock)
    floor = common.time_interleaved({"floor": gemm_floor(V, D, H, N, S, T)}, args.repeats,
                                    args.warmup, clock=args.clock)["floor"]
    row = [name, f"V={V} D={D} H={H} N={N} S={S} T={T}", common.fmt_time(med["minigrad"])]
    row += [common.fmt_time(med.get("torch")), f"{med['minigrad'] / med['torch']:.2f}"
            if "torch" in med else "-", common.fmt_time(floor), f"{med['minigrad'] / floor:.2f}"]
    print(*row, sep="\t", flush=True)
    return row


if __name__ == "__main__":
    common.print_header("attention seq2seq: one training step (forward, backward, Adam), "
                        "float32, CPU", args)
    rows = [run(name) for name in args.configs]
    print()
    common.print_table(["config", "sizes", "minigrad", "torch", "minigrad / torch", "floor",
                        "minigrad / floor"], rows)
