"""A class of thirty students for ``python -m minigrad_lessons.grade``, and its expected gradebook.

    python benchmarks/grade_class.py class/                 # writes class/<student>/06_lstm.py ...
    time python -m minigrad_lessons.grade class/ --out grades/ --lessons 06 --jobs 2
    python benchmarks/grade_class.py class/ --check grades/gradebook.csv   # row by row

The mix (lesson 06, LSTM; ``--lesson`` picks another, with the reference and the first
exercise's wrong answer derived the same way): 21 students right, one of them handing in a
notebook; 7 wrong somewhere (about one in four: 3 in exercise 1, 2 in exercise 2, 1 in
both, 1 left exercise 2 as handed out); one infinite loop (timeout) and one ``sys.exit(0)``
(disqualified). ``class/expected_gradebook.csv`` holds the rows the grader must write.

``--all-lessons`` instead writes one student with every lesson right (one student on all 21
lessons): ``python -m minigrad_lessons.grade class/ --out grades/ --jobs 2``.

``--overhead N`` measures what the sandbox adds to one run: a trivial lesson (``import
common``, one check) run N times in the sandbox and N times without, interleaved; it prints
the medians of wall time and their difference.
"""
import argparse
import csv
import os
import pathlib
import re
import statistics
import sys

for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):     # before NumPy loads: the benchmark alone
    os.environ.pop(_var, None)
from minigrad_lessons import exercises as X  # noqa: E402 - the installed course (pip install -e .)

COLUMNS = ("student", "lesson", "exercise", "points", "max_points", "status")


def _wrong(code):
    """A tired student's version of ``code``: the first sigmoid or tanh swapped, else the first
    '+' turned into '-', else the first '*' into '+' (in the code, not in its comments)."""
    lines = code.splitlines(keepends=True)
    for pattern, repl in ((r"\.sigmoid\(\)", ".tanh()"), (r"\.tanh\(\)", ".sigmoid()"),
                          (r" \+ ", " - "), (r" \* ", " + ")):
        for i, line in enumerate(lines):
            head, sharp, comment = line.partition("#")
            if re.search(pattern, head):
                lines[i] = re.sub(pattern, repl, head, count=1) + sharp + comment
                return "".join(lines)
    raise ValueError("no way to break this block: write its wrong answer by hand")


def build_class(folder, lesson="06"):
    """Write the thirty students' copies of ``lesson`` and the expected gradebook."""
    path = X.find_lesson(lesson)
    text = path.read_text(encoding="utf-8")
    exercises = X.parse_lesson(text, path.name)
    last = exercises[-1].number
    wrong = {ex.number: _wrong(X.reference_code(ex)) for ex in exercises}
    plan = {}                                   # student -> ({k: code}, {k: status}, notebook?)
    for i in range(20):
        plan[f"s{i + 1:02d}_right"] = ({}, {}, False)
    plan["s21_notebook"] = ({}, {}, True)
    for i in range(3):
        plan[f"s{22 + i}_wrong1"] = ({1: wrong[1]}, {1: "failed"}, False)
    for i in range(2):
        plan[f"s{25 + i}_wrong{last}"] = ({last: wrong[last]}, {last: "failed"}, False)
    plan["s27_wrong_both"] = ({1: wrong[1], last: wrong[last]}, {1: "failed", last: "failed"}, False)
    plan["s28_unfinished"] = ({last: None}, {last: "not_attempted"}, False)
    plan["s29_loops"] = ({last: "while True:\n    pass\n"}, {last: "timeout"}, False)
    plan["s30_exits"] = ({1: "import sys\nsys.exit(0)\n" + X.reference_code(exercises[0])},
                         {1: "disqualified"}, False)
    folder = pathlib.Path(folder)
    rows = []
    for student, (code, status, notebook) in plan.items():
        target = folder / student
        target.mkdir(parents=True, exist_ok=True)
        copy = X.solved_copy(text, path.name, code)
        if notebook:
            import jupytext
            jupytext.write(jupytext.reads(copy, fmt="py:percent"), target / (path.stem + ".ipynb"))
        else:
            (target / path.name).write_text(copy, encoding="utf-8")
        for ex in exercises:
            s = status.get(ex.number, "passed")
            rows.append([student, path.name[:2], str(ex.number), str(ex.points if s == "passed" else 0),
                         str(ex.points), s])
    with open(folder / "expected_gradebook.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([COLUMNS] + rows)
    print(f"{folder}: {len(plan)} students, lesson {path.name}; expected rows in {folder / 'expected_gradebook.csv'}")


def build_all_lessons(folder):
    target = pathlib.Path(folder) / "all_lessons"
    target.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in X.lesson_files():
        text = path.read_text(encoding="utf-8")
        (target / path.name).write_text(X.solved_copy(text, path.name), encoding="utf-8")
        rows += [["all_lessons", path.name[:2], str(ex.number), str(ex.points), str(ex.points), "passed"]
                 for ex in X.parse_lesson(text, path.name)]
    with open(pathlib.Path(folder) / "expected_gradebook.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([COLUMNS] + rows)
    print(f"{target}: every lesson, right")


def check(folder, gradebook):
    with open(pathlib.Path(folder) / "expected_gradebook.csv", newline="", encoding="utf-8") as f:
        want = list(csv.reader(f))
    with open(gradebook, newline="", encoding="utf-8") as f:
        got = list(csv.reader(f))
    wrong = [(w, g) for w, g in zip(want, got) if w != g]
    for w, g in wrong:
        print(f"expected {','.join(w)}\n     got {','.join(g)}")
    ok = not wrong and len(want) == len(got)
    print(f"{len(got) - 1} rows: {'all as expected' if ok else f'{len(wrong)} differ, {len(want)} vs {len(got)} rows'}")
    return 0 if ok else 1


def overhead(n):
    """Median wall time of a trivial run with and without the sandbox, interleaved."""
    from threadpoolctl import threadpool_info
    from minigrad_lessons.grade import runner
    source = "import common\nrun = common.setup()\ncommon.check(True, 'ran', exercise=None)\ncommon.finish()\n"
    boxed, bare = runner.Runner(True).prepare(), runner.Runner(False).prepare()
    times = {"sandbox": [], "none": []}
    try:
        for _ in range(n):
            for name, r in (("sandbox", boxed), ("none", bare)):
                result = r.run(source, "97_trivial.py", 60, True)
                assert result.outcome == "completed", result
                times[name].append(result.seconds)
    finally:
        boxed.close()
        bare.close()
    print("BLAS:", [(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()])
    a, b = statistics.median(times["sandbox"]), statistics.median(times["none"])
    print(f"trivial run, median of {n}: sandbox {a:.3f} s, none {b:.3f} s, the sandbox adds {a - b:.3f} s "
          f"(kernel {os.uname().release}, {os.cpu_count()} CPUs)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default="class")
    parser.add_argument("--lesson", default="06")
    parser.add_argument("--all-lessons", action="store_true", help="one student, every lesson right")
    parser.add_argument("--check", metavar="GRADEBOOK", help="compare a gradebook with the expected rows")
    parser.add_argument("--overhead", type=int, metavar="N", help="time N trivial runs with and without the sandbox")
    args = parser.parse_args(argv)
    if args.overhead:
        return overhead(args.overhead)
    if args.check:
        return check(args.folder, args.check)
    if args.all_lessons:
        build_all_lessons(args.folder)
    else:
        build_class(args.folder, args.lesson)
    return 0


if __name__ == "__main__":
    sys.exit(main())
