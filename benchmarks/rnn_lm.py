"""One training step of a recurrent language model, minigrad against PyTorch on the CPU.

    Embedding(V, E) -> {RNN, LSTM, GRU}(E, H) -> Linear(H, V) -> cross-entropy -> backward -> SGD

float32, time-major tokens (T, N):
    c1: N=32, T=35, E=H=128, V=1000
    c2: N=32, T=35, E=H=256, V=10000
    c3: N=64, T=100, E=H=512, V=1000
For each cell and configuration it prints the median milliseconds per step after warm-up,
tokens per second, the same step with torch.nn.{RNN, LSTM, GRU} (when torch is importable)
timed in the same run, interleaved with minigrad's steps (benchmarks/common.py), the ratio
minigrad / torch, the GEMM floor (the same step's matrix products alone, in NumPy on
preallocated arrays: what no NumPy implementation of this step can go below) and
minigrad / floor, and a second row with the composed cells (``fused=False``, autograd through
the cells) to show what the fused BPTT buys; its ratio is against the same torch median. With
c3 (or --memory) it also prints the peak memory one minigrad step allocates (tracemalloc sees
NumPy's allocations).

    --threads sets the BLAS and torch threads before NumPy loads; --clock cpu measures this
    process's CPU time, which other jobs on a shared machine do not inflate. --layer-only
    times the recurrent layer alone (forward, and backward of a fixed output gradient) against
    torch's layer and the layer's own GEMM floor.
    python benchmarks/rnn_lm.py --threads 1 --clock cpu --configs c1 c2 c3 --cells rnn lstm gru
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common  # noqa: E402  (sets the BLAS threads before numpy loads)

CONFIGS = {   # N, T, E = H, V
    "c1": (32, 35, 128, 1000),
    "c2": (32, 35, 256, 10000),
    "c3": (64, 100, 512, 1000),
}
CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def add_arguments(p):
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    p.add_argument("--composed-repeats", type=int, default=2,
                   help="timed steps of the composed-cell row (0: skip the row)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--memory", action="store_true", help="peak memory of a step in every config")
    p.add_argument("--layer-only", action="store_true",
                   help="time the recurrent layer alone: forward, and backward of a fixed output "
                        "gradient, against torch's layer and the layer's own GEMM floor")
    p.set_defaults(repeats=7, warmup=2)


args = common.parse_args(__doc__.split("\n")[0], add_arguments)

import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402
from minigrad import nn, optim  # noqa: E402

torch = None if args.no_torch else common.import_torch(args.threads)


class MgLM(nn.Module):
    def __init__(self, cell, V, E, H, fused=True):
        super().__init__()
        self.emb = nn.Embedding(V, E)
        self.rnn = getattr(nn, cell)(E, H, fused=fused)
        self.out = nn.Linear(H, V)

    def forward(self, tokens):                    # (T, N) -> logits (T, N, V)
        y, _ = self.rnn(self.emb(tokens))
        return self.out(y)


def mg_stepper(cell, V, E, H, fused=True):
    model = MgLM(cell, V, E, H, fused)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def torch_stepper(cell, V, E, H):
    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, E)
            self.rnn = getattr(torch.nn, cell)(E, H)
            self.out = torch.nn.Linear(H, V)

        def forward(self, tokens):
            y, _ = self.rnn(self.emb(tokens))
            return self.out(y)
    model = LM()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()
    return step


def gemm_floor(cell, N, T, E, H, V, output=True):
    """The matrix products of one training step and nothing else (``common.GemmFloor``):
    forward X W_ih^T, T recurrent products h W_hh^T, the output layer; backward the output
    layer's two, T recurrent dh W_hh, and dX, dW_ih, dW_hh. Same shapes as the step.
    ``output=False``: the recurrent layer's products alone."""
    G = GATES[cell]
    floor = common.GemmFloor().linear(T * N, E, G * H).recurrent(N, H, G, T)
    if output:
        floor.linear(T * N, H, V)
    return floor.step


def layer_steppers(cell, N, T, E, rng):
    """Forward and backward of the recurrent layer alone, given x (T, N, E) and dL/dout."""
    x, g = (rng.standard_normal((T, N, E)).astype(np.float32) for _ in range(2))
    layer = getattr(nn, cell)(E, E)
    mx, mg_ = mg.tensor(x, requires_grad=True), mg.tensor(g)

    def mstep():
        layer.zero_grad()
        mx.grad = None
        layer(mx)[0].backward(mg_)
    fns = {"minigrad": mstep}
    if torch is not None:
        tlayer = getattr(torch.nn, cell)(E, E)
        tx, tg = torch.tensor(x, requires_grad=True), torch.from_numpy(g)

        def tstep():
            tlayer.zero_grad()
            tx.grad = None
            tlayer(tx)[0].backward(tg)
        fns["torch"] = tstep
    return fns


def layer_only():
    rng = np.random.default_rng(0)
    common.print_header("rnn_lm --layer-only: forward and backward of the recurrent layer alone "
                        "(float32)", args)
    columns = ["cell", "config", "ms", "torch ms", "ratio", "floor ms", "mg/floor"]
    rows = []
    for cname in args.configs:
        N, T, E, V = CONFIGS[cname]
        for c in args.cells:
            cell = CELLS[c]
            times = common.time_interleaved(layer_steppers(cell, N, T, E, rng), args.repeats,
                                            args.warmup, clock=args.clock)
            f_s = common.time_interleaved({"floor": gemm_floor(cell, N, T, E, E, V, False)},
                                          args.repeats, args.warmup, clock=args.clock)["floor"]
            m_s, t_s = times["minigrad"], times.get("torch")
            rows.append([cell, cname, f"{1e3 * m_s:.2f}",
                         "-" if t_s is None else f"{1e3 * t_s:.2f}",
                         "-" if t_s is None else f"{m_s / t_s:.2f}", f"{1e3 * f_s:.2f}",
                         f"{m_s / f_s:.2f}"])
            print(*rows[-1], sep="\t", flush=True)
    print()
    common.print_table(columns, rows)


def peak_bytes(step, x, y):
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    step(x, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def main():
    rng = np.random.default_rng(0)
    mg.manual_seed(0)
    if torch is not None:
        torch.manual_seed(0)
    common.print_header("rnn_lm: one training step, Embedding -> RNN/LSTM/GRU -> Linear -> "
                        "cross-entropy -> SGD (float32)", args)
    columns = ["cell", "config", "impl", "ms/step", "tokens/s", "torch ms", "ratio", "floor ms",
               "mg/floor"]
    rows, notes = [], []
    for cname in args.configs:
        N, T, E, V = CONFIGS[cname]
        x = rng.integers(0, V, size=(T, N))
        y = rng.integers(0, V, size=(T, N))
        for c in args.cells:
            cell = CELLS[c]
            mstep = mg_stepper(cell, V, E, E)
            fns = {"minigrad": lambda: mstep(x, y)}
            if torch is not None:
                tstep = torch_stepper(cell, V, E, E)
                tx, ty = torch.from_numpy(x), torch.from_numpy(y)
                fns["torch"] = lambda: tstep(tx, ty)
            times = common.time_interleaved(fns, args.repeats, args.warmup, clock=args.clock)
            # timed apart: its ~100 MB of arrays, interleaved, slow minigrad's next step (NumPy
            # gives large blocks back to the system; torch keeps its own cache)
            f_s = common.time_interleaved({"floor": gemm_floor(cell, N, T, E, E, V)},
                                          args.repeats, args.warmup, clock=args.clock)["floor"]
            m_s, t_s = times["minigrad"], times.get("torch")
            rows.append(_row(cell, cname, "fused", m_s, t_s, N * T, f_s))
            print(*rows[-1], sep="\t", flush=True)
            if args.composed_repeats:
                cstep = mg_stepper(cell, V, E, E, fused=False)
                c_s = common.time_interleaved({"composed": lambda: cstep(x, y)},
                                              args.composed_repeats, 1, clock=args.clock)
                rows.append(_row(cell, cname, "composed", c_s["composed"], t_s, N * T, f_s))
                print(*rows[-1], sep="\t", flush=True)
            if cname == "c3" or args.memory:
                notes.append(f"{cname} {cell}: peak memory of one minigrad step "
                             f"{peak_bytes(mstep, x, y) / 2**20:.0f} MiB (tracemalloc)")
    print()
    common.print_table(columns, rows)
    for line in notes:
        print(line)


def _row(cell, cname, impl, m_s, t_s, tokens, f_s):
    return [cell, cname, impl, f"{1e3 * m_s:.1f}", f"{tokens / m_s:.0f}",
            "-" if t_s is None else f"{1e3 * t_s:.1f}",
            "-" if t_s is None else f"{m_s / t_s:.2f}", f"{1e3 * f_s:.1f}", f"{m_s / f_s:.2f}"]


if __name__ == "__main__":
    layer_only() if args.layer_only else main()
