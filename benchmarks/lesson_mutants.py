"""Do the lessons' checks catch plausible wrong answers? A mutation runner for the exercises.

``benchmarks/lesson_mutants_list.py`` holds, per lesson, wrong answers a student could write:
each a textual replacement inside one exercise's ``# BEGIN SOLUTION`` block (the k-th block
is exercise k). The runner applies each to a copy of the lesson and runs it in quick mode.

A wrong answer is *caught* when the checks charge it to its own exercise:
- with the grader (``minigrad_lessons.grade.grade_file``): that exercise ``failed``, every other
  ``passed``;
- without it: the lesson stops with a ``CHECK FAILED`` message that names that exercise
  (or names none, for a lesson whose checks do not name exercises yet).
Anything else is reported: ``survived`` (every check passed), ``error`` (the run crashed
instead of failing a check), ``misattributed`` (a check of another exercise failed).

    python benchmarks/lesson_mutants.py                  # every lesson, 2 jobs
    python benchmarks/lesson_mutants.py 03 06 --jobs 2   # some lessons
    python benchmarks/lesson_mutants.py --list           # the catalogue, nothing run

Exit status 1 unless every wrong answer is caught.
"""
import argparse
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
BEGIN = re.compile(r"^[ \t]*# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
NAMED = re.compile(r"exercise (\d+)", re.IGNORECASE)


def load_catalogue():
    spec = importlib.util.spec_from_file_location("lesson_mutants_list",
                                                  ROOT / "benchmarks" / "lesson_mutants_list.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MUTANTS, module.LEFT_OUT


def lesson_path(number):
    (path,) = LESSONS.glob(f"{number}_*.py")
    return path


def blocks(text):
    """[(start, end)] character spans of the solution blocks, in order (exercise 1, 2, ...)."""
    spans, start, pos = [], None, 0
    for line in text.splitlines(keepends=True):
        if BEGIN.match(line):
            start = pos + len(line)
        elif END.match(line) and start is not None:
            spans.append((start, pos))
            start = None
        pos += len(line)
    return spans


def apply(text, exercise, old, new, where):
    """``text`` with ``old`` replaced by ``new`` inside exercise ``exercise``'s block;
    ``old`` must occur exactly once there."""
    spans = blocks(text)
    if not 1 <= exercise <= len(spans):
        raise ValueError(f"{where}: exercise {exercise}, but the lesson has {len(spans)} blocks")
    a, b = spans[exercise - 1]
    block = text[a:b]
    # comments (the hints, and the formulas beside the code) are not code: matches there do
    # not count
    found = [m.start() for m in re.finditer(re.escape(old), block)
             if "#" not in block[block.rfind("\n", 0, m.start()) + 1:m.start()]]
    if len(found) != 1:
        raise ValueError(f"{where}: {old!r} occurs {len(found)} times in the code of exercise "
                         f"{exercise}'s block (expected once); update the catalogue")
    at = a + found[0]
    return text[:at] + new + text[at + len(old):]


def _grader():
    try:                                   # the installed course (pip install -e .)
        from minigrad_lessons import grade
        return grade.grade_file
    except (ImportError, AttributeError):
        return None


def as_submission(text):
    """The teacher's lesson as a student's filled-in copy: block k between the markers
    ``# BEGIN EXERCISE k`` / ``# END EXERCISE k``."""
    out, k = [], 0
    for line in text.splitlines(keepends=True):
        if BEGIN.match(line):
            k += 1
            line = line.replace("# BEGIN SOLUTION", f"# BEGIN EXERCISE {k}")
        elif END.match(line):
            line = line.replace("# END SOLUTION", f"# END EXERCISE {k}")
        out.append(line)
    return "".join(out)


def grade(grade_file, number, text, timeout):
    with tempfile.TemporaryDirectory(prefix="lesson-mutant-") as tmp:
        path = pathlib.Path(tmp) / lesson_path(number).name
        path.write_text(as_submission(text), encoding="utf-8")
        return grade_file(number, str(path), timeout=timeout)


def judge_with_grader(grade_file, number, exercise, text, timeout):
    result = grade(grade_file, number, text, timeout)
    mine = result.get(exercise)
    others = {k: v for k, v in result.items() if k != exercise}
    if mine and mine[2] == "failed" and all(v[2] == "passed" for v in others.values()):
        return "caught", mine[3]
    if mine and mine[2] == "passed" and all(v[2] == "passed" for v in others.values()):
        return "survived", ""
    if mine and mine[2] in ("error", "timeout"):
        return "error", f"exercise {exercise}: {mine[2]}: {mine[3]}"
    wrong = {k: v[2] for k, v in result.items() if v[2] != "passed"}
    return "misattributed", f"statuses {wrong}: " + "; ".join(str(v[3]) for v in others.values() if v[2] != "passed")


def judge_by_running(number, exercise, text, timeout):
    with tempfile.TemporaryDirectory(prefix="lesson-mutant-") as tmp:
        tmp = pathlib.Path(tmp)
        # the lesson imports its helpers from the installed minigrad_lessons
        path = tmp / lesson_path(number).name
        path.write_text(text, encoding="utf-8")
        env = dict(os.environ, MINIGRAD_QUICK="1", MINIGRAD_LESSONS_OUT=str(tmp / "out"),
                   MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
        try:
            proc = subprocess.run([sys.executable, path.name, "--quick"], cwd=tmp, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "error", f"timed out after {timeout} s"
    out = proc.stdout + proc.stderr
    failed = [line for line in out.splitlines() if "CHECK FAILED" in line]
    if proc.returncode == 0 and not failed:
        return "survived", ""
    if not failed:
        return "error", (proc.stderr.strip().splitlines() or ["?"])[-1]
    named = NAMED.search(failed[0])
    if named and int(named.group(1)) == exercise:
        return "caught", failed[0]
    if named or "exercise=" in text:        # a check of another exercise, or of none
        return "misattributed", failed[0]
    return "caught", failed[0]


def _baseline(task):
    """(True, "") when the lesson as written passes every check, or no verdict means anything."""
    number, timeout, with_grader = task
    text = lesson_path(number).read_text(encoding="utf-8")
    if with_grader:
        result = grade(_grader(), number, text, timeout)
        bad = {k: v for k, v in result.items() if v[2] != "passed"}
        return not bad, str(bad)
    verdict, why = judge_by_running(number, 0, text, timeout)
    return verdict == "survived", why


def _judge(task):
    """(verdict, why, seconds) of one wrong answer; runs in a worker process."""
    number, exercise, text, timeout, with_grader = task
    t0 = time.time()
    if with_grader:
        verdict, why = judge_with_grader(_grader(), number, exercise, text, timeout)
    else:
        verdict, why = judge_by_running(number, exercise, text, timeout)
    return verdict, why, time.time() - t0


def main(argv=None):
    global LESSONS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120, help="seconds per run")
    parser.add_argument("--list", action="store_true", help="print the catalogue, run nothing")
    parser.add_argument("--lessons-dir", type=pathlib.Path, default=LESSONS,
                        help="judge the lessons of this folder (default: lessons/)")
    parser.add_argument("--no-grader", action="store_true",
                        help="judge by the exit status and CHECK FAILED line even when "
                             "minigrad_lessons.grade exists")
    args = parser.parse_args(argv)
    LESSONS = args.lessons_dir.resolve()
    catalogue, left_out = load_catalogue()
    numbers = [n.zfill(2) for n in args.lessons] or sorted(catalogue)
    grade_file = None if args.no_grader or LESSONS != ROOT / "lessons" else _grader()

    jobs, stale = [], []
    for number in numbers:
        text = lesson_path(number).read_text(encoding="utf-8")
        n_blocks = len(blocks(text))
        covered = {m[0] for m in catalogue.get(number, [])}
        missing = sorted(set(range(1, n_blocks + 1)) - covered)
        if missing:
            print(f"lesson {number}: exercises {missing} have no wrong answers in the catalogue")
        for i, (exercise, kind, old, new) in enumerate(catalogue.get(number, [])):
            where = f"lesson {number} mutant {i} ({kind})"
            try:
                jobs.append((number, exercise, kind, apply(text, exercise, old, new, where), old, new))
            except ValueError as e:
                stale.append(str(e))
    if stale:
        print("\n".join(stale))
        return 2
    if args.list:
        for number, exercise, kind, _, old, new in jobs:
            print(f"{number} ex{exercise} {kind:22s} {old.strip()!r} -> {new.strip()!r}")
        print(f"{len(jobs)} wrong answers in {len(numbers)} lessons; {len(left_out)} left out")
        return 0

    print(f"judging by {'minigrad_lessons.grade.grade_file' if grade_file else 'running each lesson'}; "
          f"{len(jobs)} wrong answers, {args.jobs} jobs")
    start = time.time()

    with ProcessPoolExecutor(args.jobs) as pool:
        checked = pool.map(_baseline, [(n, args.timeout, bool(grade_file)) for n in numbers])
        broken = [(n, why) for n, (ok, why) in zip(numbers, checked) if not ok]
    if broken:
        for number, why in broken:
            print(f"lesson {number} fails without any wrong answer: {why}")
        return 2

    # processes, not threads: CPython 3.11's ast.parse (used by the grader) is not thread-safe
    with ProcessPoolExecutor(args.jobs) as pool:
        verdicts = pool.map(_judge, [(j[0], j[1], j[3], args.timeout, bool(grade_file)) for j in jobs])
        results = []
        for job, (verdict, why, seconds) in zip(jobs, verdicts):
            number, exercise, kind, _, old, new = job
            print(f"{verdict:13s} {seconds:5.1f}s {number} ex{exercise} {kind:22s} "
                  f"{old.strip()[:50]!r} -> {new.strip()[:50]!r}"
                  + (f"\n              {why[:300]}" if verdict != "caught" else ""), flush=True)
            results.append((job, verdict))

    print(f"\n{'lesson':6s} {'wrong answers':>13s} {'caught':>7s}")
    for number in numbers:
        rows = [v for j, v in results if j[0] == number]
        print(f"{number:6s} {len(rows):13d} {rows.count('caught'):7d}")
    caught = sum(v == "caught" for _, v in results)
    print(f"{'all':6s} {len(results):13d} {caught:7d}  ({caught / max(1, len(results)):.0%}, "
          f"{time.time() - start:.0f} s)")
    for number, exercise, kind, old, new, reason in left_out:
        if number in numbers:
            print(f"left out: {number} ex{exercise} {kind}: {old.strip()!r} -> {new.strip()!r}: {reason}")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
