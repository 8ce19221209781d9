"""How the cost of a recurrent layer grows: step time against T and H, peak memory against T.

One step is the recurrent layer alone, forward and backward of a fixed output gradient, float32
(``nn.LSTM`` by default, ``--cell``), minigrad beside torch.nn when torch is importable (its
curves are skipped otherwise), timed interleaved (benchmarks/common.py):

    time against T   N=32, D=H=256, T in --T (default 35 100 300 1000)
    time against H   N=32, T=35, D=H in --H (default 64 128 256 512 1024)
    memory against T N=32, D=H=256: the peak resident memory one step adds (VmHWM over VmRSS,
                     the mark reset first; it counts torch's memory as well as NumPy's), each in
                     a fresh process whose malloc returns freed blocks at once (so that reused
                     pages do not hide the peak), after a warm-up step of T=2, for full BPTT over
                     all T steps and for truncated BPTT (chunks of --chunk steps, the state
                     detached between chunks)

Full BPTT keeps every step's activations until backward: memory grows linearly in T. Truncated
BPTT keeps one chunk's: flat in T. Time grows linearly in T (one matrix product per step that
cannot be batched) and about as H^2 (the products are (N, H) x (H, G H)).

    python benchmarks/scaling.py --threads 1 --clock cpu            # about a minute, quiet
    python benchmarks/scaling.py --out benchmarks/scaling.png --T 35 100 --H 64 128   # shorter
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common  # noqa: E402  (removes a forced BLAS kernel and sets the threads before numpy)

N = 32


def add_arguments(p):
    p.add_argument("--cell", choices=["RNN", "LSTM", "GRU"], default="LSTM")
    p.add_argument("--T", type=int, nargs="+", default=[35, 100, 300, 1000])
    p.add_argument("--H", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    p.add_argument("--hidden", type=int, default=256, help="H of the curves against T")
    p.add_argument("--chunk", type=int, default=35, help="truncated BPTT: steps per chunk")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--note", default="", help="added to the figure's title (e.g. 'under load')")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "scaling.png"), help="the figure (PNG)")
    p.add_argument("--memory-of", nargs=3, metavar=("NAME", "T", "CHUNK"),
                   help=argparse.SUPPRESS)      # the child process of peak_memory
    p.set_defaults(repeats=3, warmup=1)


args = common.parse_args(__doc__.split("\n")[0], add_arguments)


def return_freed_memory():
    """glibc hands every block over 64 KiB back to the system when it is freed, so the
    resident size follows the memory in use (else freed pages, reused, hide a step's peak).
    For the memory child alone, before NumPy or torch allocate anything."""
    import ctypes
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3         # from glibc's malloc.h
    mallopt(M_MMAP_THRESHOLD, 64 * 1024)
    mallopt(M_TRIM_THRESHOLD, 64 * 1024)


if args.memory_of:
    return_freed_memory()

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402

skip_torch = args.no_torch or (args.memory_of and args.memory_of[0] != "torch")
torch = None if skip_torch else common.import_torch(args.threads)


def steppers(T, H, chunk=None):
    """name -> one forward + backward of the layer over x (T, N, H); with ``chunk``, truncated
    BPTT: forward and backward chunk by chunk, the state carried on but detached."""
    rng = np.random.default_rng(0)
    x, g = (rng.standard_normal((T, N, H)).astype(np.float32) for _ in range(2))
    bounds = [(s, min(s + (chunk or T), T)) for s in range(0, T, chunk or T)]
    mg.manual_seed(0)
    fns = {"minigrad": _step(mg, args.cell, H, mg.tensor(x), mg.tensor(g), bounds)}
    if torch is not None:
        fns["torch"] = _step(torch, args.cell, H, torch.from_numpy(x), torch.from_numpy(g), bounds)
    return fns


def _step(lib, cell, H, x, g, bounds):
    """One training step of ``lib``'s layer (minigrad or torch: the same code serves both),
    chunk by chunk over ``bounds``, the state carried on but detached."""
    layer = getattr(lib.nn, cell)(H, H)

    def step():
        layer.zero_grad()
        state = None
        for s, e in bounds:
            out, state = layer(x[s:e], state)
            out.backward(g[s:e])
            state = tuple(t.detach() for t in state) if isinstance(state, tuple) else state.detach()
    return step


def timed(T, H):
    return common.time_interleaved(steppers(T, H), args.repeats, args.warmup, clock=args.clock)


def status(field):
    """A /proc/self/status memory field (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def peak_memory(T, H, chunk, names):
    """name -> bytes of resident memory one step adds at its peak, each in a fresh process: in
    this one, memory freed by earlier steps stays mapped and hides the growth."""
    out = {}
    for name in names:
        argv = [sys.executable, os.path.abspath(__file__), "--threads", str(args.threads),
                "--hidden", str(H), "--cell", args.cell, "--memory-of", name, str(T),
                str(chunk or 0)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if proc.returncode:
            raise SystemExit(f"scaling: the memory run {argv[2:]} failed:\n{proc.stderr[-2000:]}")
        out[name] = int(proc.stdout.split()[-1])
    return out


def measure_memory_here(name, T, chunk):
    steppers(2, args.hidden)[name]()            # first-call allocations are not the step's
    step = steppers(T, args.hidden, chunk or None)[name]
    # the high-water mark restarts at the resident size now (Linux >= 4.0): building the
    # inputs above reached more than a truncated step does
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    step()
    print(status("VmHWM") - before)


def main():
    common.print_header(f"scaling: nn.{args.cell} forward + backward, N={N}, float32", args)
    by_T = {T: timed(T, args.hidden) for T in args.T}
    by_H = {H: timed(35, H) for H in args.H}
    names = ["minigrad"] + (["torch"] if torch is not None else [])
    memory = {(T, chunk): peak_memory(T, args.hidden, chunk, names)
              for T in args.T for chunk in (None, args.chunk)}

    def ms(d, name):
        return f"{1e3 * d[name]:.1f}" if name in d else "-"

    rows = [[f"T={T} H={args.hidden}", *(ms(by_T[T], n) for n in names)] for T in args.T]
    rows += [[f"T=35 H={H}", *(ms(by_H[H], n) for n in names)] for H in args.H]
    common.print_table(["size", *(f"{n} ms" for n in names)], rows)
    print()
    rows = [[f"T={T}", *(f"{memory[(T, c)][n] / 2**20:.1f}" for c in (None, args.chunk)
                         for n in names)] for T in args.T]
    common.print_table(["H=%d" % args.hidden, *(f"{n} {'full' if c is None else f'tbptt {c}'} MiB"
                                                for c in (None, args.chunk) for n in names)], rows)
    plot(by_T, by_H, memory, names)


def plot(by_T, by_H, memory, names):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    style = {"minigrad": "C0", "torch": "C1"}
    for n in names:
        axes[0].plot(args.T, [1e3 * by_T[T][n] for T in args.T], "o-", color=style[n], label=n)
        axes[1].plot(args.H, [1e3 * by_H[H][n] for H in args.H], "o-", color=style[n], label=n)
        for chunk, ls in ((None, "-"), (args.chunk, "--")):
            axes[2].plot(args.T, [memory[(T, chunk)][n] / 2**20 for T in args.T], "o" + ls,
                         color=style[n], label=f"{n}, {'full BPTT' if chunk is None else f'truncated, {chunk} steps'}")
    axes[0].set(xscale="log", yscale="log", xlabel="T (steps)", ylabel="ms per step",
                title=f"time against T (H={args.hidden}, N={N})")
    axes[1].set(xscale="log", yscale="log", xlabel="H (= D)", ylabel="ms per step",
                title=f"time against H (T=35, N={N})")
    axes[2].set(xscale="log", yscale="log", xlabel="T (steps)", ylabel="MiB",
                title=f"peak memory of a step (H={args.hidden}, N={N})")
    for ax, ticks in zip(axes, (args.T, args.H, args.T)):
        ax.set_xticks(ticks, [str(v) for v in ticks])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    clock = "CPU time" if args.clock == "cpu" else "wall time"
    fig.suptitle(f"nn.{args.cell} forward + backward, float32, {args.threads} thread(s), median "
                 f"{clock}; {common.blas_line()}{'; ' + args.note if args.note else ''}",
                 fontsize=9)
    fig.savefig(args.out, dpi=90)
    print(f"\nfigure written: {args.out}")


if __name__ == "__main__":
    if args.memory_of:
        measure_memory_here(args.memory_of[0], int(args.memory_of[1]), int(args.memory_of[2]))
    else:
        main()
