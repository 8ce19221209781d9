"""What does mg.load do with a hostile checkpoint file?

For each file of tests/hostile_files.py (a huge declared shape, zip bombs, forged safetensors
headers, truncated files, garbage, module files naming os.system or a class never imported),
builds it in a temporary folder and prints its size, the error mg.load raises, the time that
took (one call, wall clock, tracing off) and the peak memory Python allocated meanwhile
(tracemalloc, a second call).

    python benchmarks/hostile_checkpoints.py
"""
import os
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minigrad as mg  # noqa: E402
from tests.hostile_files import HOSTILE  # noqa: E402


def size(n):
    return f"{n / 2 ** 20:.1f} MiB" if n >= 2 ** 20 else f"{n / 2 ** 10:.1f} KiB"


def main():
    print(f"mg.load on hostile files (minigrad {mg.__version__}, default max_bytes = "
          f"{mg.io.DEFAULT_MAX_BYTES / 2 ** 30:.0f} GiB)\n")
    with tempfile.TemporaryDirectory() as folder:
        for name, build, kwargs, _ in HOSTILE:
            path = build(folder)
            start = time.perf_counter()
            try:
                mg.load(path, **kwargs)
                error = "(loaded without an error)"
            except Exception as e:  # noqa: BLE001  (the point is to show whatever it raises)
                error = f"{type(e).__name__}: {e}".replace(path, os.path.basename(path))
            seconds = time.perf_counter() - start
            tracemalloc.start()
            try:
                mg.load(path, **kwargs)
            except Exception:  # noqa: BLE001
                pass
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            extra = f", load({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs \
                else ""
            print(f"- {name} ({size(os.path.getsize(path))} file{extra}): "
                  f"{seconds * 1e3:.1f} ms, peak {size(peak)}\n    {error}")


if __name__ == "__main__":
    main()
