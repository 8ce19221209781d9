"""How much does minigrad's engine cost per op, beside PyTorch?

1. A chain of small elementwise ops (mul, add, tanh on a vector of --width floats), timed
   forward only (graph recorded) and forward + backward, reported per recorded op: at this
   size the arithmetic is nothing and what is measured is the engine (Function.__call__,
   the graph walk) against torch's autograd. The whole call is divided by --ops, so a fixed
   cost per backward (torch starting its engine) weighs less on a longer chain.
2. One training step of a small MLP (zero_grad, forward, cross-entropy, backward, Adam step).

    python benchmarks/engine_overhead.py --threads 1 --repeats 20 [--clock cpu]

On a busy shared machine use --clock cpu: a call longer than a scheduler time slice is
almost always interrupted there, which inflates wall-clock medians.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common  # noqa: E402  (removes a forced BLAS kernel and sets the threads before numpy)

args = common.parse_args(__doc__.splitlines()[0], lambda p: (
    p.add_argument("--ops", type=int, default=300, help="ops in the chain (default 300)"),
    p.add_argument("--width", type=int, default=16, help="chain vector length (default 16)"),
    p.add_argument("--batch", type=int, default=32, help="MLP batch size (default 32)")))

import numpy as np  # noqa: E402  (after parse_args set the thread count)

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402

torch = common.import_torch(args.threads)
SIZES = (64, 128, 128, 10)            # MLP: D -> H -> H -> classes


# ----------------------------------------------------------------------------- chain

def chain(lib, n_ops, width):
    """Callables (forward only, forward + backward) over one chain of n_ops ops."""
    rng = np.random.default_rng(0)
    x0, w0, b0 = (rng.standard_normal(width).astype(np.float32) * 0.5 for _ in range(3))
    if lib == "minigrad":
        x, w, b = (mg.tensor(a, requires_grad=True) for a in (x0, w0, b0))
    else:
        x, w, b = (torch.tensor(a, requires_grad=True) for a in (x0, w0, b0))
    steps = [lambda h: h * w, lambda h: h + b, lambda h: h.tanh()]

    def forward():
        h = x
        for i in range(n_ops - 1):           # the final sum is the last op
            h = steps[i % 3](h)
        return h.sum()

    def forward_backward():
        forward().backward()
        x.grad = w.grad = b.grad = None

    return forward, forward_backward


# ----------------------------------------------------------------------------- MLP step

def mlp_step(lib, batch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    if lib == "minigrad":
        mg.manual_seed(0)
        layers = [mg.nn.Linear(a, b) for a, b in zip(SIZES, SIZES[1:])]
        model = mg.nn.Sequential(layers[0], mg.nn.Tanh(), layers[1], mg.nn.Tanh(), layers[2])
        opt = mg.optim.Adam(model.parameters(), lr=1e-3)
        x, y, loss_fn = mg.tensor(x), mg.tensor(y), F.cross_entropy
    else:
        torch.manual_seed(0)
        nn = torch.nn
        model = nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(),
                              nn.Linear(128, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y, loss_fn = torch.tensor(x), torch.tensor(y), torch.nn.functional.cross_entropy

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return step


# ----------------------------------------------------------------------------- report

def main():
    libs = ["minigrad"] + (["torch"] if torch is not None else [])
    fns = {}
    for lib in libs:
        fwd, fwd_bwd = chain(lib, args.ops, args.width)
        fns[("chain forward", lib)] = fwd
        fns[("chain forward + backward", lib)] = fwd_bwd
        fns[("MLP training step", lib)] = mlp_step(lib, args.batch)
    times = common.time_interleaved(fns, args.repeats, args.warmup, clock=args.clock)

    common.print_header("minigrad engine overhead", args)
    rows = []
    for case, per, unit in [("chain forward", args.ops, "per op"),
                            ("chain forward + backward", args.ops, "per op"),
                            ("MLP training step", 1, "per step")]:
        mine = times[(case, "minigrad")] / per
        theirs = times[(case, "torch")] / per if torch is not None else None
        rows.append([f"{case} ({unit})", common.fmt_time(mine), common.fmt_time(theirs),
                     common.ratio(mine, theirs)])
    common.print_table(["case", "minigrad", "torch", "minigrad/torch"], rows)
    print()
    print(f"chain: {args.ops} ops (mul, add, tanh, ...; sum last) on float32 vectors of "
          f"{args.width}; MLP: {' -> '.join(map(str, SIZES))}, tanh, batch {args.batch}, "
          "cross-entropy, Adam")


if __name__ == "__main__":
    main()
