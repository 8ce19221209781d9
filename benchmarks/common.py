"""Shared timing helpers for the benchmark scripts (one script per question, each printing
medians and ratios).

Import this module, and call ``parse_args``, before importing numpy, minigrad or torch: the
BLAS thread count is read from the environment when numpy loads.

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
- ``print_header(title, args)``: the title, the thread count and the library versions.
- ``print_table(columns, rows)``: a plain aligned table (rows are lists of strings).
"""
import argparse
import os
import platform
import statistics
import sys
import time

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
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
