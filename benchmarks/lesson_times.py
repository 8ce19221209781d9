"""How long each lesson takes: CPU time beside wall time, and the machine they were taken on.

    python benchmarks/lesson_times.py                 # every lesson, default run
    python benchmarks/lesson_times.py --quick 01 02   # lessons 01 and 02, quick run

Each lesson runs as its own process, ``python lessons/NN_name.py``, with one BLAS thread
(OPENBLAS_NUM_THREADS=1, as the lessons set by default), one after the other, on the BLAS
kernel a user's machine picks (benchmarks/common.py removes OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE from the environment the lessons inherit). Its CPU time is
the user + system time of that process and its children, read from the operating system when
it ends (``os.wait4``); its wall time is the clock from start to end. Load from other programs
stretches wall time but changes CPU time little, so the two side by side tell a busy machine
from a slow lesson: on a quiet machine with one thread, wall is about CPU. The table is
markdown, headed by the CPU model, the core count and the load average before and after.

A lesson's output goes to a log file (``--logs``); a lesson that fails is marked in the table,
and the script's exit status is 1. The default run writes the lessons' real figures to
lessons/out/, as running them by hand does.
"""
import argparse
import datetime
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import common  # noqa: F401 - removes a forced BLAS kernel, for the lessons it starts too

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"


def lesson_paths(selected):
    """The numbered lessons, or those whose number or name starts with one of ``selected``."""
    paths = sorted(p for p in LESSONS.glob("[0-9][0-9]_*.py"))
    if selected:
        paths = [p for p in paths if any(p.name.startswith(s) for s in selected)]
    return paths


def cpu_model():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores():
    total = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    return f"{usable} usable of {total}" if usable != total else str(total)


def load_average():
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


def child_env():
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env.pop("MINIGRAD_QUICK", None)          # --quick decides, not a leftover variable
    # the lessons import minigrad from this checkout, installed or not
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_lesson(path, quick, log_path, timeout):
    """(exit status, CPU seconds, wall seconds) of one lesson run as its own process."""
    args = [sys.executable, str(path)] + (["--quick"] if quick else [])
    with open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, env=child_env(), stdout=log,
                                stderr=subprocess.STDOUT)
        deadline = start + timeout
        while True:
            # os.wait4 returns the resource use of exactly this child (and what it waited for)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or names (default: all)")
    parser.add_argument("--quick", action="store_true", help="time the quick runs instead")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per lesson")
    parser.add_argument("--logs", default=None,
                        help="folder for each lesson's output (default: a temporary folder)")
    args = parser.parse_args(argv)

    paths = lesson_paths(args.lessons)
    if not paths:
        parser.error(f"no lesson matches {args.lessons}")
    logs = pathlib.Path(args.logs or tempfile.mkdtemp(prefix="lesson_times_"))
    logs.mkdir(parents=True, exist_ok=True)

    load_start = load_average()
    rows, failed, total_cpu, total_wall = [], 0, 0.0, 0.0
    for path in paths:
        status, cpu, wall = run_lesson(path, args.quick, logs / f"{path.stem}.log", args.timeout)
        failed += status != 0
        total_cpu, total_wall = total_cpu + cpu, total_wall + wall
        note = "" if status == 0 else f" failed (exit {status}): see {logs / path.stem}.log"
        rows.append(f"| {path.name[:2]} | {path.stem[3:]} | {cpu:.1f} s | {wall:.1f} s |{note}")
        print(f"{path.name}: CPU {cpu:.1f} s, wall {wall:.1f} s{note}", file=sys.stderr)
    load_end = load_average()

    import numpy as np
    print(f"Lesson times, {'quick' if args.quick else 'default'} run, one BLAS thread, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    print(f"- CPU: {cpu_model()}, {cores()} cores")
    print(f"- load average at start: {load_start}; at end: {load_end}")
    print(f"- Python {platform.python_version()}, NumPy {np.__version__}; logs in {logs}")
    print(f"- {common.blas_line()} (in this process; each lesson sets one)\n")
    print("| # | lesson | CPU time (user + sys) | wall time |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print(f"| | all | {total_cpu:.1f} s | {total_wall:.1f} s |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
