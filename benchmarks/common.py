"""Shared timing helpers for the benchmark scripts (one script per question, each printing
medians and ratios).

Import this module, and call ``parse_args``, before importing numpy, minigrad or torch: the
BLAS thread count is read from the environment when numpy loads, and so are the two variables
importing this module removes. ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (some machines
set them, a guard for old OpenBLAS builds) make OpenBLAS run another CPU's kernels, e.g.
Haswell's on an AVX-512 machine, at half the GEMM speed; a user's machine has neither, so a
benchmark measures without them (both together: the L2 size belongs to the forced core type).
Tests and CI keep the environment as it is. The header names the kernel OpenBLAS picked.

    import common                                   # scripts run as: python benchmarks/x.py
    args = common.parse_args("what this script measures")       # --threads, --repeats, ...
    import minigrad as mg
    torch = common.import_torch(args.threads)       # None when PyTorch is not installed
    times = common.time_interleaved({"minigrad": f, "torch": g}, args.repeats, args.warmup)
    common.print_header("title", args)
    common.print_table(["case", "minigrad", "torch", "ratio"], rows)

API
- ``parse_args(description, add_arguments=None, argv=None)``: argparse with ``--threads N``
  (default 1), ``--repeats R`` (default 20), ``--warmup W`` (default 3) and ``--clock``
  (``wall``, the default, or ``cpu``: this process's CPU time, which a busy shared machine
  does not inflate; it adds up all threads, so use it single-threaded and never for GPU work)
  and ``--keep-freed-memory`` (``minigrad.backend.keep_freed_memory()`` for the whole run, so
  for torch too); ``add_arguments(parser)`` adds a script's own flags. Sets
  OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS to N.
- ``import_torch(threads)``: ``torch`` with ``torch.set_num_threads(threads)``, or None.
- ``time_interleaved(fns, repeats, warmup=3, sync=None, clock="wall")``: ``fns`` maps a
  name to a callable taking no argument. Each is called ``warmup`` times, then the callables
  take turns, one call each per round, for ``repeats`` rounds (so a slow spell of the machine
  hits them all alike). Returns name -> median seconds per call. ``sync`` (e.g.
  ``mg.cuda.synchronize``) is called before each clock read, for GPU work.
- ``ratio(a, b)``: ``a / b`` as text ("3.1x"), "-" when either is missing.
- ``fmt_time(seconds)``: "12.3 us", "4.56 ms", "1.23 s".
- ``blas_line()``: the BLAS NumPy loaded, its version, kernel and threads (threadpoolctl).
- ``print_header(title, args)``: the title, the thread count, the BLAS kernel and the library
  versions.
- ``GemmFloor()``: the matrix products of one training step and nothing else, on preallocated
  float32 arrays (``linear``, ``recurrent``, ``batched`` add them; ``step`` runs them): the
  time no NumPy implementation of that step can go below.
- ``print_table(columns, rows)``: a plain aligned table (rows are lists of strings).
"""
import argparse
import os
import platform
import statistics
import sys
import time

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_KERNEL_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if "numpy" in sys.modules:
    print("warning: numpy was imported before benchmarks/common.py; its BLAS may run a forced "
          "kernel (OPENBLAS_CORETYPE)", file=sys.stderr)
REMOVED = {var: os.environ.pop(var) for var in _KERNEL_VARS if var in os.environ}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def parse_args(description, add_arguments=None, argv=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS / torch threads (default 1, single-threaded)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed rounds; the median is reported (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time (default) or this process's CPU time")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="call minigrad.backend.keep_freed_memory() first (it changes "
                             "malloc for the whole process, torch included)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if "numpy" in sys.modules:
        print("warning: numpy was imported before common.parse_args; --threads may not apply "
              "to its BLAS", file=sys.stderr)
    for var in _THREAD_VARS:
        os.environ[var] = str(args.threads)
    if args.keep_freed_memory:
        from minigrad import backend       # after the thread variables: numpy loads here
        args.keep_freed_memory = backend.keep_freed_memory()
    return args


def import_torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def time_interleaved(fns, repeats, warmup=3, sync=None, clock="wall"):
    sync = sync or (lambda: None)
    now = CLOCKS[clock]
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = now()
            fn()
            sync()
            samples[name].append(now() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.1f}x"


def fmt_time(seconds):
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def print_header(title, args):
    import numpy
    versions = [f"python {platform.python_version()}", f"numpy {numpy.__version__}"]
    torch = sys.modules.get("torch")
    if torch is not None:
        versions.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    else:
        versions.append("torch not installed")
    print(title)
    blas = os.environ.get("OPENBLAS_NUM_THREADS")
    print(f"threads: {args.threads} (OPENBLAS_NUM_THREADS={blas})"
          f"; median of {args.repeats} interleaved runs after {args.warmup} warm-up; "
          f"{args.clock} clock")
    print(blas_line())
    malloc = "keeps freed memory (--keep-freed-memory)" if args.keep_freed_memory else "defaults"
    print("; ".join(versions) + f"; malloc: {malloc}")
    print()


def print_table(columns, rows):
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]
    line = "  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in
                     enumerate(zip(columns, widths)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(f"{v:<{w}}" if i == 0 else f"{v:>{w}}" for i, (v, w) in
                        enumerate(zip(map(str, r), widths))))


def blas_line():
    """'BLAS: openblas 0.3.31 kernel SkylakeX, 1 thread(s); unset OPENBLAS_CORETYPE=...'"""
    removed = (f"; unset for this benchmark: {', '.join(f'{k}={v}' for k, v in REMOVED.items())}"
               if REMOVED else "")
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"BLAS: unknown (threadpoolctl not installed){removed}"
    import numpy  # noqa: F401 - loads the BLAS that threadpoolctl then finds
    libs = [f"{i['internal_api']} {i.get('version') or '?'} kernel {i.get('architecture') or '?'}, "
            f"{i['num_threads']} thread(s)" for i in threadpool_info() if i["user_api"] == "blas"]
    return f"BLAS: {'; '.join(libs) or 'none found'}{removed}"


class GemmFloor:
    """The matrix products of one training step alone, float32, on preallocated arrays, in
    the layouts a layer uses (weights stored (out, in), forward ``x @ W.T``). Each ``add`` of a
    forward product brings its backward's: dX = dY W and dW = dY^T X."""

    def __init__(self, seed=0):
        import numpy as np
        self._np, self._rng, self._calls = np, np.random.default_rng(seed), []

    def _rand(self, *shape):
        return self._rng.standard_normal(shape).astype(self._np.float32)

    def linear(self, m, k, n, input_grad=True):
        """Y (m, n) = X (m, k) W^T, W (n, k): forward, dX (unless ``input_grad=False``), dW."""
        mm = self._np.matmul
        X, W, Y, dX, dW = (self._rand(m, k), self._rand(n, k), self._rand(m, n),
                           self._rand(m, k), self._rand(n, k))
        self._calls += [lambda: mm(X, W.T, out=Y), lambda: mm(Y.T, X, out=dW)]
        if input_grad:
            self._calls.append(lambda: mm(Y, W, out=dX))
        return self

    def recurrent(self, N, H, G, T):
        """T steps of h (N, H) W_hh^T, W_hh (G H, H): forward, the T backward dh = dA W_hh,
        and dW_hh once over all steps (T N rows)."""
        mm = self._np.matmul
        W, h, a, da, dh = (self._rand(G * H, H), self._rand(N, H), self._rand(N, G * H),
                           self._rand(N, G * H), self._rand(N, H))
        A, Hs, dW = self._rand(T * N, G * H), self._rand(T * N, H), self._rand(G * H, H)
        self._calls += [lambda: [mm(h, W.T, out=a) for _ in range(T)],
                        lambda: [mm(da, W, out=dh) for _ in range(T)],
                        lambda: mm(A.T, Hs, out=dW)]
        return self

    def batched(self, B, m, k, n):
        """C (B, m, n) = A (B, m, k) @ X (B, k, n): forward, dA = dC X^T, dX = A^T dC."""
        mm = self._np.matmul
        A, X, C, dA, dX = (self._rand(B, m, k), self._rand(B, k, n), self._rand(B, m, n),
                           self._rand(B, m, k), self._rand(B, k, n))
        self._calls += [lambda: mm(A, X, out=C), lambda: mm(C, X.transpose(0, 2, 1), out=dA),
                        lambda: mm(A.transpose(0, 2, 1), C, out=dX)]
        return self

    def step(self):
        for call in self._calls:
            call()
