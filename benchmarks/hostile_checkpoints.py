"""What does mg.load do with a hostile checkpoint file?

For each file of tests/hostile_files.py (a huge declared shape, zip bombs, forged safetensors
headers, truncated files, garbage, module files naming os.system, a class never imported, or
numbers far larger than their weights), builds it in a temporary folder and
prints its size, the error mg.load raises, the time that took (one call, wall clock, tracing
off), the peak memory Python allocated meanwhile (tracemalloc, a second call) and, on Linux,
how much the peak resident memory grew (a third call, in a forked child whose high-water mark
starts afresh). tracemalloc counts memory asked for even if never touched; no constructor runs, so
the modules whose numbers would size 10 GB load with next to nothing.

    python benchmarks/hostile_checkpoints.py
"""
import os
import sys
import tempfile
import time
import tracemalloc

import common  # noqa: E402 - first: removes a forced BLAS kernel before NumPy loads

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minigrad as mg  # noqa: E402
from tests.hostile_files import HOSTILE, HOSTILE_RSS, peak_rss_growth_in_a_child  # noqa: E402


def size(n):
    if n >= 2 ** 30:
        return f"{n / 2 ** 30:.1f} GiB"
    return f"{n / 2 ** 20:.1f} MiB" if n >= 2 ** 20 else f"{n / 2 ** 10:.1f} KiB"


def attempt(path, kwargs):
    try:
        mg.load(path, **kwargs)
    except Exception as e:  # noqa: BLE001  (the point is to show whatever it raises)
        return f"{type(e).__name__}: {e}".replace(path, os.path.basename(path))
    return "(loaded without an error)"


def peak_rss_growth(path, kwargs):
    """Peak resident memory growth of one load, in a forked child; None where unsupported."""
    if not (hasattr(os, "fork") and os.path.exists("/proc/self/status")):
        return None
    return peak_rss_growth_in_a_child(lambda: attempt(path, kwargs))[0]


def main():
    print(f"mg.load on hostile files (minigrad {mg.__version__}, default max_bytes = "
          f"{mg.io.DEFAULT_MAX_BYTES / 2 ** 30:.0f} GiB)\n{common.blas_line()}\n")
    with tempfile.TemporaryDirectory() as folder:
        for name, build, kwargs, _ in HOSTILE + HOSTILE_RSS:
            path = build(folder)
            start = time.perf_counter()
            error = attempt(path, kwargs)
            seconds = time.perf_counter() - start
            tracemalloc.start()
            attempt(path, kwargs)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rss = peak_rss_growth(path, kwargs)
            extra = f", load({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs \
                else ""
            rss = "" if rss is None else f", resident memory +{size(rss)}"
            print(f"- {name} ({size(os.path.getsize(path))} file{extra}): "
                  f"{seconds * 1e3:.1f} ms, tracemalloc peak {size(peak)}{rss}\n    {error}")


if __name__ == "__main__":
    main()
