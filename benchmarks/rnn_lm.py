"""One training step of a recurrent language model, minigrad against PyTorch on the CPU.

    Embedding(V, E) -> {RNN, LSTM, GRU}(E, H) -> Linear(H, V) -> cross-entropy -> backward -> SGD

float32, time-major tokens (T, N). For each cell and configuration it prints the median
milliseconds per step (after warm-up), tokens per second, the same step with
torch.nn.{RNN, LSTM, GRU} timed in the same run and interleaved with minigrad's steps (when
torch is importable), the ratio minigrad / torch, and a second row with the composed cells
(``fused=False``) to show what the fused BPTT buys. With c3 it also prints the peak memory
that one minigrad step allocates (tracemalloc sees NumPy's allocations).

    OPENBLAS_NUM_THREADS is set from --threads before NumPy is imported.
    python benchmarks/rnn_lm.py --threads 1 --configs c1 c2 c3 --cells rnn lstm gru
"""
import argparse
import os
import statistics
import sys
import time

CONFIGS = {   # N, T, E = H, V
    "c1": (32, 35, 128, 1000),
    "c2": (32, 35, 256, 10000),
    "c3": (64, 100, 512, 1000),
}
CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    p.add_argument("--steps", type=int, default=7, help="timed steps per implementation")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--composed-steps", type=int, default=2,
                   help="timed steps of the composed-cell row (0: skip the row)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--memory", action="store_true", help="peak memory of a step in every config")
    return p.parse_args()


args = parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402
from minigrad import nn, optim  # noqa: E402

try:
    if args.no_torch:
        raise ImportError
    import torch
    torch.set_num_threads(args.threads)
except ImportError:
    torch = None


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


def timed(step, x, y):
    t0 = time.perf_counter()
    step(x, y)
    return time.perf_counter() - t0


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
    print(f"threads={args.threads}  numpy {np.__version__}  "
          f"torch {torch.__version__ if torch is not None else '(not importable)'}  "
          f"steps={args.steps} (median) warmup={args.warmup}")
    head = f"{'cell':5s} {'cfg':3s} {'impl':9s} {'ms/step':>9s} {'tok/s':>9s} {'torch ms':>9s} {'ratio':>6s}"
    print(head)
    print("-" * len(head))
    for cname in args.configs:
        N, T, E, V = CONFIGS[cname]
        H = E
        x = rng.integers(0, V, size=(T, N))
        y = rng.integers(0, V, size=(T, N))
        for c in args.cells:
            cell = CELLS[c]
            mstep = mg_stepper(cell, V, E, H)
            tstep = tx = ty = None
            if torch is not None:
                tstep = torch_stepper(cell, V, E, H)
                tx, ty = torch.from_numpy(x), torch.from_numpy(y)
            for _ in range(args.warmup):
                mstep(x, y)
                if tstep:
                    tstep(tx, ty)
            mt, tt = [], []
            for _ in range(args.steps):          # interleaved, so both see the same noise
                mt.append(timed(mstep, x, y))
                if tstep:
                    tt.append(timed(tstep, tx, ty))
            m_ms = 1e3 * statistics.median(mt)
            t_ms = 1e3 * statistics.median(tt) if tt else float("nan")
            ratio = f"{m_ms / t_ms:6.2f}" if tt else "   n/a"
            print(f"{cell:5s} {cname:3s} {'fused':9s} {m_ms:9.1f} {N * T / m_ms * 1e3:9.0f} "
                  f"{t_ms:9.1f} {ratio}", flush=True)
            if args.composed_steps:
                cstep = mg_stepper(cell, V, E, H, fused=False)
                cstep(x, y)
                ct = [timed(cstep, x, y) for _ in range(args.composed_steps)]
                c_ms = 1e3 * statistics.median(ct)
                cratio = f"{c_ms / t_ms:6.2f}" if tt else "   n/a"
                print(f"{cell:5s} {cname:3s} {'composed':9s} {c_ms:9.1f} {N * T / c_ms * 1e3:9.0f} "
                      f"{t_ms:9.1f} {cratio}", flush=True)
            if cname == "c3" or args.memory:
                print(f"      {cname} peak memory of one minigrad {cell} step: "
                      f"{peak_bytes(mstep, x, y) / 2**20:.0f} MiB (tracemalloc)", flush=True)


if __name__ == "__main__":
    main()
